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
