//! `sim quiz` and `sim step` end to end.
//!
//! The `--ostep` fixtures are malloc.py's own outputs (see data/ostep/README.md): the
//! binary must print them byte for byte.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .expect("sim runs")
}

fn ostep_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ostep")
}

/// The cases of cases.tsv: (name, malloc.py's arguments).
fn cases() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(ostep_dir().join("cases.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut parts = l.split('\t').map(String::from);
            let name = parts.next().unwrap();
            (name, parts.collect())
        })
        .collect()
}

#[test]
fn ostep_output_is_malloc_py_output_byte_for_byte() {
    let cases = cases();
    assert!(cases.len() >= 60, "the fixture set is complete");
    let mut failures = Vec::new();
    for (name, args) in &cases {
        let want = std::fs::read(ostep_dir().join(format!("{name}.out"))).unwrap();
        let fails = ostep_dir().join(format!("{name}.fails")).exists();
        let mut argv = vec!["quiz", "freelist", "--ostep"];
        argv.extend(args.iter().map(String::as_str));
        let o = sim(&argv);
        let err = String::from_utf8_lossy(&o.stderr);
        if o.stdout != want {
            failures.push(format!(
                "{name}: stdout differs from malloc.py's\n--- sim\n{}\n--- malloc.py\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&want)
            ));
        } else if fails {
            if o.status.code() != Some(2)
                || err.lines().count() != 1
                || !err.starts_with("sim: error: --ostep: ")
            {
                failures.push(format!("{name}: expected one error line and exit 2: {err}"));
            }
        } else if !o.status.success() || !err.is_empty() {
            failures.push(format!(
                "{name}: expected success, got {:?}: {err}",
                o.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn answers_is_malloc_py_compute_flag() {
    let with_c = sim(&["quiz", "freelist", "--ostep", "-n", "5", "-s", "3", "-c"]);
    let answers = sim(&[
        "quiz",
        "freelist",
        "--answers",
        "--ostep",
        "-n",
        "5",
        "-s",
        "3",
    ]);
    assert!(with_c.status.success() && answers.status.success());
    assert_eq!(with_c.stdout, answers.stdout);
}

#[test]
fn ostep_misuse_is_a_usage_error() {
    for (args, needle) in [
        (&["quiz", "tlb", "--ostep", "-c"][..], "freelist` only"),
        (
            &["quiz", "freelist", "--format", "json", "--ostep"][..],
            "text only",
        ),
        (&["quiz", "freelist", "--seed", "3", "--ostep"][..], "-s N"),
        (&["quiz", "nope"][..], "unknown quiz `nope`"),
    ] {
        let o = sim(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err} should say {needle}");
        assert!(o.stdout.is_empty());
    }
}

/// Runs `sim step` with `input` on stdin.
fn step(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .arg("step")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sim runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn assert_fits_80_columns(out: &str) {
    for line in out.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line:?}",
            line.len()
        );
    }
}

const CHURN: [&str; 6] = [
    "--workload",
    "churn",
    "--ops",
    "300",
    "--allocator",
    "glibc",
];

#[test]
fn step_is_driven_through_stdin() {
    let o = step(&CHURN, "\n\nn 3\nuntil 100\nq\nn 5\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "no prompt without a terminal");
    let out = text(&o);
    assert_fits_80_columns(&out);
    assert!(out.starts_with("workload churn (seed 1): "), "{out}");
    // Enter, Enter, then three ops one line each, then a long run in one line.
    for line in [
        "op 1/",
        "op 2/",
        "op 3/",
        "op 4/",
        "op 5/",
        "ran ops 6 to 100",
        "op 100/",
    ] {
        assert!(out.contains(line), "{line} missing from:\n{out}");
    }
    assert!(!out.contains("op 50/"), "a long run shows only its last op");
    assert!(!out.contains("op 101/"), "q stops before the last command");
    // After each command: the heap map, glibc's structures, the VMAs, the memory.
    assert!(out.contains("heap |") && out.contains("tcache+fastbins:"));
    assert!(out.contains("VMAs: 1") && out.contains(" rw heap"));
    assert!(out.contains("RSS ") && out.contains("footprint "));
    // The same commands give the same bytes.
    assert_eq!(
        o.stdout,
        step(&CHURN, "\n\nn 3\nuntil 100\nq\nn 5\n").stdout
    );
}

#[test]
fn step_peak_runs_to_the_peak_footprint() {
    let out = text(&step(&CHURN, "peak\n"));
    let intro = out
        .lines()
        .find(|l| l.starts_with("footprint peaks at "))
        .unwrap();
    // "footprint peaks at 292.0 KiB after op 39"
    let (size, op) = intro["footprint peaks at ".len()..]
        .split_once(" after op ")
        .unwrap();
    assert!(
        out.contains(&format!("\nop {op}/")),
        "peak stops at op {op}:\n{out}"
    );
    assert!(!out.contains(&format!("\nop {}/", op.parse::<u64>().unwrap() + 1)));
    let last = out
        .lines()
        .rev()
        .find(|l| l.starts_with("memory: "))
        .unwrap();
    assert!(last.ends_with(&format!("footprint {size}")), "{last}");
    // Once past it, peak says so.
    let out = text(&step(&CHURN, "until 200\npeak\n"));
    assert!(out.contains("already past the peak"), "{out}");
}

#[test]
fn step_shows_a_free_list_and_the_end_of_a_trace() {
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workload/traces/textbook.trace");
    let args = [
        "--trace",
        trace.to_str().unwrap(),
        "--allocator",
        "first-fit",
    ];
    let out = text(&step(&args, "n 9\nuntil 1000\nn\n"));
    assert_fits_80_columns(&out);
    assert!(out.contains("p1 = malloc(32) -> heap+0x10"), "{out}");
    assert!(out.contains("Free List [ Size "), "{out}");
    assert!(out.contains("end of the workload"), "{out}");
}

#[test]
fn step_replays_a_script_like_stdin() {
    let dir = std::env::temp_dir().join(format!("brkmap-step-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("lecture.txt");
    std::fs::write(&script, "# a lecture\n\nn 4   # four more\nuntil 60\n").unwrap();
    let mut args = CHURN.to_vec();
    args.extend(["--script", script.to_str().unwrap()]);
    let scripted = step(&args, "");
    assert!(scripted.status.success());
    assert_eq!(scripted.stdout, step(&CHURN, "\nn 4\nuntil 60\n").stdout);

    std::fs::write(&script, "n 2\njump 5\n").unwrap();
    let bad = step(&args, "");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1);
    assert!(
        err.contains("lecture.txt:2: unknown command `jump`"),
        "{err}"
    );
    assert!(bad.stdout.is_empty(), "a bad script runs nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn step_rejects_bad_input_with_one_line() {
    for (args, input, needle) in [
        (
            &CHURN[..],
            "n 2\nn two\n",
            "`two` is not a positive whole number",
        ),
        (
            &["--workload", "churn", "--allocator", "nope"][..],
            "",
            "unknown allocator",
        ),
        (
            &["--workload", "churn", "--tunable", "order=lifo"][..],
            "",
            "--tunable order",
        ),
    ] {
        let o = step(args, input);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err} should say {needle}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn quiz_kinds_print_questions_then_answers() {
    for kind in ["freelist", "paging", "tlb", "glibc", "kernel"] {
        let q = sim(&["quiz", kind, "--seed", "3"]);
        let a = sim(&["quiz", kind, "--seed", "3", "--answers"]);
        assert!(q.status.success() && a.status.success(), "{kind}");
        let (q, a) = (text(&q), text(&a));
        assert_fits_80_columns(&q);
        assert_fits_80_columns(&a);
        assert!(q.contains('?') && q.contains("--answers"), "{kind}: {q}");
        assert!(a.contains("| "), "{kind}: worked answers");
        assert_eq!(q.lines().next(), a.lines().next());
        let j = sim(&["quiz", kind, "--seed", "3", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
        assert_eq!(v["schema"], "brkmap-quiz/1");
    }
}

#[test]
fn a_long_ostep_run_streams_and_stops_quietly_when_the_reader_goes() {
    use std::io::Read;
    // 20,000 ops of a 100 MB heap print about a gigabyte: the output must stream (not
    // pile up in memory) and a reader that stops early must not make it an error.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "quiz",
            "freelist",
            "--ostep",
            "-n",
            "20000",
            "-S",
            "100000000",
        ])
        .args(["-r", "1000", "-P", "60", "-c"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 4096];
    let mut stdout = child.stdout.take().unwrap();
    stdout.read_exact(&mut head).unwrap();
    assert!(head.starts_with(b"seed 0\nsize 100000000\n"));
    drop(stdout);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{:?}", o.status);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
