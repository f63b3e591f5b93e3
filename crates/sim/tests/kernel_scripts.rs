//! `sim kernel`: a kernel script's rows, as a table or as CSV, and its errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .expect("sim runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brkmap-kernel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Exit code 2 and one line on stderr naming the file and line.
fn assert_script_error(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{err:?} should contain {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty());
}

const EXAMPLE: &str = "map a 1M rw\ntouch a 0 64K w\nunmap a 16K 4K\nmap b 8K r\n\
                       touch b 0 8K r\ntouch a 12K 8K r\ntouch b 0 4K w\n";

/// The example of KERNEL-SCRIPTS.md, whose rows are the real machine's.
const EXAMPLE_ROWS: &str = "line,op,result,vmas,anon_kb,pte_kb,minflt,majflt
1,map,@-0x100000,1,0,0,0,0
2,touch,ok,1,64,12,16,0
3,unmap,ok,2,60,12,16,0
4,map,@-0x102000,3,60,12,16,0
5,touch,ok,3,60,12,18,0
6,touch,segv:maperr+0x4000,3,60,12,18,0
7,touch,segv:accerr+0x0,3,60,12,18,0
";

#[test]
fn emit_rows_writes_the_csv_of_the_spec() {
    let dir = scratch("emit");
    let script = dir.join("example.ks");
    std::fs::write(&script, EXAMPLE).unwrap();
    let out = dir.join("rows.csv");
    let o = sim(&[
        "kernel",
        "--script",
        script.to_str().unwrap(),
        "--emit-rows",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), EXAMPLE_ROWS);
    let listing: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(listing.len(), 2, "no temporary file left behind");
}

#[test]
fn without_emit_rows_a_table_shows_each_line_beside_its_row() {
    let dir = scratch("table");
    let script = dir.join("example.ks");
    std::fs::write(&script, EXAMPLE).unwrap();
    let o = sim(&["kernel", "--script", script.to_str().unwrap()]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("line  op"), "{text}");
    assert!(lines[0].ends_with("script"));
    assert_eq!(lines.len(), 2 + 7);
    assert!(lines[7].contains("segv:maperr+0x4000"), "{}", lines[7]);
    assert!(lines[7].ends_with("touch a 12K 8K r"), "{}", lines[7]);
}

#[test]
fn a_malformed_line_names_the_file_and_line() {
    let dir = scratch("bad");
    let script = dir.join("bad.ks");
    std::fs::write(&script, "# a comment\nmap a 1M rw\ntouch a 0 4K x\n").unwrap();
    let o = sim(&["kernel", "--script", script.to_str().unwrap()]);
    assert_script_error(&o, &format!("{}:3: unknown access `x`", script.display()));
}

#[test]
fn a_name_no_successful_map_bound_is_found_when_the_line_runs() {
    let dir = scratch("unbound");
    let script = dir.join("unbound.ks");
    let out = dir.join("rows.csv");
    std::fs::write(&script, "map a 0 rw\ntouch a 0 4K w\n").unwrap();
    let o = sim(&[
        "kernel",
        "--script",
        script.to_str().unwrap(),
        "--emit-rows",
        out.to_str().unwrap(),
    ]);
    assert_script_error(&o, ":2: `a` is not bound");
    assert!(!out.exists(), "nothing is written for a script that fails");
}

#[test]
fn a_range_that_reaches_the_floor_is_an_error() {
    let dir = scratch("floor");
    let script = dir.join("floor.ks");
    std::fs::write(&script, "map a 64K rw\ntouch a 60K 8K w\n").unwrap();
    let o = sim(&["kernel", "--script", script.to_str().unwrap()]);
    assert_script_error(&o, ":2: the range reaches the floor");
}

#[test]
fn a_missing_script_is_a_usage_error() {
    let o = sim(&["kernel", "--script", "/no/such/script.ks"]);
    assert_script_error(&o, "cannot read /no/such/script.ks");
}

// ------------------------------------------------------------------ --real

/// The real runner works only on x86-64 Linux with glibc; elsewhere the tests below say
/// so and pass.
fn real_available() -> bool {
    match calibrate::kscript::unavailable_reason() {
        None => true,
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// This machine's RAM as the kernel reports it (`MemTotal`), in whole pages: the
/// simulated machine the real rows are compared with gets as much, so that the
/// overcommit heuristic draws its line where the real one does.
fn mem_total() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024 / 4096 * 4096
}

/// `sim kernel --real` of `script` and the simulated rows of the same script on a
/// machine with this one's RAM: byte for byte the same.
fn check_real(script: &std::path::Path) {
    let dir = scratch(&format!(
        "real-{}",
        script.file_stem().unwrap().to_string_lossy()
    ));
    let out = dir.join("real.csv");
    let o = sim(&[
        "kernel",
        "--script",
        script.to_str().unwrap(),
        "--real",
        "--emit-rows",
        out.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let real = std::fs::read_to_string(&out).unwrap();
    let text = std::fs::read_to_string(script).unwrap();
    let parsed = kernel::script::Script::parse(&text).unwrap();
    let ram = parsed.ram.unwrap_or(mem_total());
    let mut machine = kernel::script::SimMachine::new(ram);
    let rows = kernel::script::run(&parsed, &mut machine).unwrap();
    let model = kernel::script::to_csv(&rows);
    assert_eq!(
        model,
        real,
        "{}: the simulated rows (left) differ from the real kernel's (right)",
        script.display()
    );
}

fn ks_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ks"))
        .collect();
    v.sort();
    v
}

/// Every project script on the real kernel gives the simulated kernel's rows.
#[test]
fn real_rows_equal_the_model_for_the_project_scripts() {
    if !real_available() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kernel/scripts");
    for script in ks_files(&dir) {
        check_real(&script);
    }
}

/// So does every shared truth script.
#[test]
#[ignore = "needs ../shared/traces/truth/kernel"]
fn real_rows_equal_the_model_for_the_shared_scripts() {
    if !real_available() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces/truth/kernel");
    for script in ks_files(&dir) {
        check_real(&script);
    }
}

/// A script that fails while it runs on the real kernel is the same one-line error.
#[test]
fn a_real_run_reports_a_failing_line_like_the_simulated_one() {
    if !real_available() {
        return;
    }
    let dir = scratch("real-unbound");
    let script = dir.join("unbound.ks");
    std::fs::write(&script, "map a 0 rw\ntouch a 0 4K w\n").unwrap();
    let o = sim(&["kernel", "--script", script.to_str().unwrap(), "--real"]);
    assert_script_error(&o, ":2: `a` is not bound");
}

// ------------------------------------------------------------------ appendix B

/// The rows of appendix B's kernel-script table: (script, shared, rows, identical).
fn appendix_table() -> Vec<(String, bool, usize, usize)> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../book/src/appendix-model-vs-real.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("The kernel model, line by line"))
        .expect("appendix B has its kernel-script section");
    section
        .lines()
        .filter(|l| l.starts_with("| `") || l.starts_with("| total"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let name = cells[0].split('`').nth(1).unwrap_or("total").to_string();
            let shared = cells[0].contains("(shared)");
            (
                name,
                shared,
                cells[2].parse().unwrap(),
                cells[3].parse().unwrap(),
            )
        })
        .collect()
}

/// (rows, rows the model gets exactly) of `dir/name`.
fn counts(dir: &std::path::Path, name: &str) -> (usize, usize) {
    let text = std::fs::read_to_string(dir.join(format!("{name}.ks"))).unwrap();
    let want = std::fs::read_to_string(dir.join(format!("{name}.linux-6.18.csv"))).unwrap();
    let script = kernel::script::Script::parse(&text).unwrap();
    let got = kernel::script::to_csv(&kernel::script::run_simulated(&script).unwrap());
    let rows = want.lines().count() - 1;
    let same = got
        .lines()
        .zip(want.lines())
        .skip(1)
        .filter(|(g, w)| g == w)
        .count();
    (rows, same)
}

#[test]
fn appendix_b_kernel_table_is_true_for_the_project_scripts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kernel/scripts");
    let table = appendix_table();
    let listed: Vec<&str> = table
        .iter()
        .filter(|r| !r.1 && r.0 != "total")
        .map(|r| r.0.as_str())
        .collect();
    let on_disk: Vec<String> = ks_files(&dir)
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        listed, on_disk,
        "the table lists every project script, in order"
    );
    for (name, _, rows, same) in table.iter().filter(|r| !r.1 && r.0 != "total") {
        assert_eq!(counts(&dir, name), (*rows, *same), "appendix B, {name}");
    }
}

#[test]
#[ignore = "needs ../shared/traces/truth/kernel"]
fn appendix_b_kernel_table_is_true_for_the_shared_scripts_and_in_total() {
    let shared =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces/truth/kernel");
    let own = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kernel/scripts");
    let table = appendix_table();
    let (mut rows, mut same) = (0, 0);
    for (name, is_shared, r, s) in table.iter().filter(|r| r.0 != "total") {
        let dir = if *is_shared { &shared } else { &own };
        let c = counts(dir, name);
        assert_eq!(c, (*r, *s), "appendix B, {name}");
        rows += c.0;
        same += c.1;
    }
    let total = table.iter().find(|r| r.0 == "total").unwrap();
    assert_eq!((total.2, total.3), (rows, same), "appendix B, the total");
    assert_eq!(
        table.iter().filter(|r| r.1).count(),
        ks_files(&shared).len(),
        "every shared script is in the table"
    );
}
