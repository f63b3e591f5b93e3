//! The bad-input catalogue: what a user can get wrong, case by case, through the binary.
//!
//! Every case must end the same way: exit code 2, exactly one line on stderr that names
//! the problem (file:line for files), no panic or backtrace, nothing on stdout, and no
//! file created or changed, neither in the scratch directory the command runs in nor
//! at the paths it was given. The cases cover flags, allocator options, workload
//! parameters, trace contents, cost files, output locations and every subcommand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every file under `dir` with its bytes (directories as empty entries).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.insert(p.clone(), None);
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).ok());
            }
        }
    }
    out
}

/// The scratch directory with the files the cases use.
fn fixtures(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brkmap-bad-input-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("adir")).unwrap();
    std::fs::create_dir_all(dir.join("foreign")).unwrap();
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    w("foreign/notes.txt", b"mine");
    w("a-file", b"x");
    // Traces.
    w("header.rep", b"x\n1\n1\n1\na 0 10\n");
    w("short-header.rep", b"0\n1\n");
    w("huge.rep", b"0\n1\n1\n1\na 0 18446744073709551615\n");
    w("over-max.rep", b"0\n1\n1\n1\na 0 281474976710657\n");
    w("free-unknown.rep", b"0\n2\n2\n1\na 0 10\nf 1\n");
    w("realloc-unknown.rep", b"0\n1\n2\n1\na 0 10\nr 7 20\n");
    w("twice.rep", b"0\n1\n2\n1\na 0 10\na 0 20\n");
    w("truncated.rep", b"0\n1\n1\n1\na 0\n");
    w("bad-op.rep", b"0\n1\n1\n1\nz 0 10\n");
    w("bad-size.rep", b"0\n1\n1\n1\na 0 ten\n");
    w("neg-id.rep", b"0\n1\n1\n1\na -1 10\n");
    let junk: Vec<u8> = (0..=255u8).cycle().take(2000).collect();
    w("junk.rep", &junk);
    w("empty.rep", b"");
    w(
        "bad-keyword.trace",
        b"# brkmap trace v1\nname t\nmalloc 0 10\nfrobnicate 0\n",
    );
    w(
        "bad-life.trace",
        b"# brkmap trace v1\nname t\nmalloc 0 10 life=banana\n",
    );
    w(
        "touch-unknown.trace",
        b"# brkmap trace v1\nname t\nmalloc 0 10\ntouch 3 0 4 w\n",
    );
    w(
        "touch-out.trace",
        b"# brkmap trace v1\nname t\nmalloc 0 10\ntouch 0 8 4096 w\n",
    );
    // Accepted as they are (checked apart below): CRLF line ends and a byte-order mark.
    w("crlf.rep", b"0\r\n1\r\n2\r\n1\r\na 0 10\r\nf 0\r\n");
    w("bom.rep", b"\xEF\xBB\xBF0\n1\n2\n1\na 0 10\nf 0\n");
    // Cost files.
    w("cost-array.json", b"[1, 2, 3]");
    w("cost-empty-array.json", b"[]");
    w("cost-negative.json", br#"{"fault_ns": -5}"#);
    w("cost-huge.json", br#"{"fault_ns": 1e300}"#);
    w("cost-typo.json", br#"{"fault_nss": 5}"#);
    w("cost-string.json", br#"{"fault_ns": "fast"}"#);
    w("cost-broken.json", b"{\"fault_ns\": ");
    // Kernel scripts.
    w("bad-line.ks", b"map a 1M rw\nfly a 0 4K\n");
    w("unbound.ks", b"touch b 0 4K w\n");
    w("bad-size.ks", b"map a lots rw\n");
    w("bad-prot.ks", b"map a 1M rwx\n");
    // A summary.json that is not one.
    w("not-summary.json", b"{\"hello\": 1}");
    // A step script with a command that does not exist.
    w("step.txt", b"n 3\njump\n");
    dir
}

/// One case: the arguments, and a piece of the one line it must print.
struct Case {
    args: Vec<String>,
    says: &'static str,
}

fn case(args: &[&str], says: &'static str, dir: &Path) -> Case {
    let d = dir.display().to_string();
    Case {
        args: args.iter().map(|a| a.replace("$D", &d)).collect(),
        says,
    }
}

fn cases(dir: &Path) -> Vec<Case> {
    let c = |args: &[&str], says: &'static str| case(args, says, dir);
    vec![
        // Flags of a run.
        c(&["--no-such-flag"], "unexpected argument `--no-such-flag`"),
        c(
            &["--worklaod", "churn"],
            "a similar argument exists: `--workload`",
        ),
        c(&["-w", "chrun"], "did you mean `churn`?"),
        c(&["-w", "churn", "-t", "$D/crlf.rep"], "cannot be used with"),
        c(&["--ops", "0"], "--ops must be at least 1"),
        c(&["--ops", "-1"], "--ops"),
        c(&["--ops", "many"], "invalid value `many` for `--ops <N>`"),
        c(&["--ops", "18446744073709551616"], "--ops"),
        c(&["--ops", "200000001"], "raise it with --max-ops"),
        c(&["--seed", "x"], "invalid value `x` for `--seed <SEED>`"),
        c(
            &["--sample-every", "0"],
            "--sample-every must be at least 1",
        ),
        c(
            &["--ops", "10000000", "--sample-every", "1"],
            "over the limit of 200000",
        ),
        c(&["--max-samples", "0"], "is not in 1..=5000000"),
        c(&["--max-ops", "0"], "--max-ops"),
        c(&["--max-trace-size", "12Q"], "`12Q` is not a size"),
        c(&["--format", "jsn"], "possible values: table, json, csv"),
        // Allocators and their options.
        c(&["-a", "nope"], "unknown allocator `nope`"),
        c(&["-a", "firstfit"], "did you mean `first-fit`?"),
        c(&["-a", ""], "an empty entry"),
        c(&["-a", "glibc,,mmap"], "an empty entry"),
        c(&["-a", "glibc,glibc"], "listed twice"),
        c(&["-a", "glibc[mmap_threshold=64K"], "close at the end"),
        c(&["-a", "glibc[order=lifo]"], "takes no option `order`"),
        c(&["-a", "first-fit[order]"], "expected key=value"),
        c(&["-a", "glibc[mmap_threshold=lots]"], "mmap_threshold"),
        c(&["-a", "glibc", "--tunable", "colour=blue"], "colour"),
        c(
            &["-a", "glibc", "--tunable", "mmap_threshold"],
            "expected NAME=VALUE",
        ),
        c(&["-a", "glibc", "--tunable", "=3"], "expected NAME=VALUE"),
        c(
            &["-a", "glibc", "--tunable", "mmap_threshold=64M"],
            "over the limit",
        ),
        c(
            &["-a", "glibc", "--tunable", "tcache_count=-1"],
            "tcache_count",
        ),
        c(
            &["-a", "regions", "--tunable", "region_size=1T"],
            "over the limit of 1 GiB",
        ),
        c(
            &["-a", "first-fit", "--tunable", "fit=sideways"],
            "sideways",
        ),
        c(&["-a", "mmap", "--tunable", "populate=maybe"], "populate"),
        c(
            &["-a", "first-fit", "--tunable", "ordr=lifo"],
            "did you mean `order`?",
        ),
        // Workload parameters.
        c(&["-w", "churn", "--param", "nope=1"], "no parameter `nope`"),
        c(
            &["-w", "churn", "--param", "live_blocks"],
            "expected NAME=VALUE",
        ),
        c(&["-w", "churn", "--param", "live_blocks=lots"], "`lots`"),
        c(
            &["-w", "ramp", "--param", "free_order=sideways"],
            "`sideways`",
        ),
        c(
            &["-w", "swiss-cheese", "--param", "keep_every=1"],
            "keep_every",
        ),
        c(&["-w", "churn", "--param", "sizes=9-3"], "sizes"),
        c(&["-t", "$D/crlf.rep", "--param", "ops=3"], "not of a trace"),
        // Trace contents.
        c(&["-t", "/no/such/file.rep"], "/no/such/file.rep"),
        c(&["-t", "$D/adir"], "adir"),
        c(&["-t", "$D/header.rep"], "header.rep:1"),
        c(&["-t", "$D/short-header.rep"], "short-header.rep"),
        c(&["-t", "$D/huge.rep"], "huge.rep:5"),
        c(&["-t", "$D/over-max.rep"], "over-max.rep:5"),
        c(&["-t", "$D/free-unknown.rep"], "free-unknown.rep:6"),
        c(&["-t", "$D/realloc-unknown.rep"], "realloc-unknown.rep:6"),
        c(&["-t", "$D/twice.rep"], "twice.rep:6"),
        c(&["-t", "$D/truncated.rep"], "truncated.rep:5"),
        c(&["-t", "$D/bad-op.rep"], "bad-op.rep:5"),
        c(&["-t", "$D/bad-size.rep"], "bad-size.rep:5"),
        c(&["-t", "$D/neg-id.rep"], "neg-id.rep:5"),
        c(&["-t", "$D/junk.rep"], "junk.rep"),
        c(&["-t", "$D/empty.rep"], "empty.rep"),
        c(&["-t", "$D/bad-keyword.trace"], "bad-keyword.trace:4"),
        c(&["-t", "$D/bad-life.trace"], "bad-life.trace:3"),
        c(&["-t", "$D/touch-unknown.trace"], "touch-unknown.trace:4"),
        c(&["-t", "$D/touch-out.trace"], "touch-out.trace:4"),
        c(
            &["-t", "$D/crlf.rep", "--max-trace-size", "8"],
            "over the limit of 8 B",
        ),
        // Cost files.
        c(&["--cost", "/no/such/cost.json"], "/no/such/cost.json"),
        c(&["--cost", "$D/adir"], "adir"),
        c(
            &["--cost", "$D/cost-array.json"],
            "a JSON object of named costs",
        ),
        c(
            &["--cost", "$D/cost-empty-array.json"],
            "a JSON object of named costs",
        ),
        c(
            &["--cost", "$D/cost-negative.json"],
            "cost `fault_ns`: -5 is negative",
        ),
        c(
            &["--cost", "$D/cost-huge.json"],
            "cost `fault_ns`: 1e+300 ns is over the limit",
        ),
        c(&["--cost", "$D/cost-typo.json"], "unknown cost `fault_nss`"),
        c(&["--cost", "$D/cost-string.json"], "is not a number of ns"),
        c(&["--cost", "$D/cost-broken.json"], "not JSON"),
        // Output locations.
        c(&["-w", "churn", "--out", "/proc/x"], "--out /proc/x"),
        c(&["-w", "churn", "--out", "$D/a-file"], "not a directory"),
        c(&["-w", "churn", "--out", "$D/foreign"], "--force"),
        // replay.
        c(&["replay", "-w", "churn"], "--emit-ops <FILE>"),
        c(
            &["replay", "-w", "churn", "--emit-ops", "$D/r.csv"],
            "needs --real or --allocator",
        ),
        c(
            &[
                "replay",
                "-w",
                "churn",
                "-a",
                "glibc",
                "--emit-ops",
                "$D/adir",
            ],
            "not a regular file",
        ),
        c(
            &[
                "replay",
                "-w",
                "churn",
                "-a",
                "glibc",
                "--emit-ops",
                "/dev/null",
            ],
            "not a regular file",
        ),
        c(
            &[
                "replay",
                "-w",
                "churn",
                "-a",
                "nope",
                "--emit-ops",
                "$D/r.csv",
            ],
            "unknown allocator `nope`",
        ),
        c(
            &[
                "replay",
                "-w",
                "churn",
                "--real",
                "--strategy",
                "zz",
                "--emit-ops",
                "$D/r.csv",
            ],
            "--strategy",
        ),
        c(
            &[
                "replay",
                "-t",
                "$D/free-unknown.rep",
                "-a",
                "glibc",
                "--emit-ops",
                "$D/r.csv",
            ],
            "free-unknown.rep:6",
        ),
        // validate.
        c(
            &["validate", "-w", "churn", "-a", "first-fit"],
            "only glibc and mmap",
        ),
        c(
            &["validate", "-w", "churn", "--out", "/proc/x"],
            "--out /proc/x",
        ),
        c(
            &["validate", "-w", "churn", "--cost", "$D/cost-array.json"],
            "JSON object",
        ),
        c(&["validate", "--all", "-w", "churn"], "--all"),
        c(&["validate", "--all", "-a", "mmap"], "--all"),
        c(
            &["validate", "--all", "--cost", "$D/cost-array.json"],
            "JSON object",
        ),
        // calibrate.
        c(
            &["calibrate", "--out", "/proc/x/c.json"],
            "--out /proc/x/c.json",
        ),
        c(&["calibrate", "--out", "$D/adir"], "not a regular file"),
        c(
            &["calibrate", "--quik"],
            "a similar argument exists: `--quick`",
        ),
        // figures.
        c(&["figures", "--only", "nope"], "no such experiment"),
        c(
            &["figures", "--check", "--root", "/nonexistent"],
            "--root /nonexistent",
        ),
        c(&["figures", "--root", "/proc/x"], "--root /proc/x"),
        c(&["figures", "--check", "--real"], "cannot be used with"),
        // kernel.
        c(&["kernel", "--script", "/no/such.ks"], "/no/such.ks"),
        c(&["kernel", "--script", "$D/bad-line.ks"], "bad-line.ks:2"),
        c(&["kernel", "--script", "$D/unbound.ks"], "unbound.ks:1"),
        c(&["kernel", "--script", "$D/bad-size.ks"], "bad-size.ks:1"),
        c(&["kernel", "--script", "$D/bad-prot.ks"], "bad-prot.ks:1"),
        c(&["kernel"], "--script <FILE>"),
        // compare.
        c(&["compare", "$D/nope", "$D/nope2"], "nope"),
        c(
            &["compare", "$D/not-summary.json", "$D/not-summary.json"],
            "not-summary.json",
        ),
        c(&["compare", "$D/a-file"], "<B>"),
        // quiz.
        c(&["quiz", "nope"], "unknown quiz `nope`"),
        c(
            &["quiz", "freelist", "--seed", "x"],
            "(see `sim quiz --help`)",
        ),
        c(&["quiz", "freelist", "--format", "xml"], "xml"),
        // step.
        c(
            &["step", "-w", "churn", "-a", "nope"],
            "unknown allocator `nope`",
        ),
        c(
            &["step", "-w", "churn", "--script", "/no/such/script"],
            "/no/such/script",
        ),
        c(&["step", "-w", "churn", "--script", "$D/step.txt"], "jump"),
        // record.
        c(&["record"], "<PROGRAM>"),
        c(&["record", "--", "/no/such/program"], "/no/such/program"),
        c(
            &["record", "--out", "/proc/x/t.trace", "--", "true"],
            "--out /proc/x/t.trace",
        ),
        // grade.
        c(&["grade", "-a", "nope"], "unknown allocator `nope`"),
        c(&["grade"], "--allocator"),
        c(
            &["grade", "-a", "student", "--tunable", "chunk_size=5000"],
            "option chunk_size",
        ),
        c(
            &["grade", "-a", "student", "--traces", "/no/such/dir"],
            "/no/such/dir",
        ),
        c(&["grade", "-a", "student", "--format", "xml"], "xml"),
        c(
            &["grade", "-a", "student", "-o", "/proc/x/results.json"],
            "/proc/x/results.json",
        ),
        // bench.
        c(&["bench", "--reps", "0"], "0 is not in 1..=1000"),
        c(&["bench", "--reps", "x"], "invalid value `x` for `--reps"),
        c(&["bench", "-t", "/no/such.rep"], "/no/such.rep"),
        c(&["bench", "-t", "$D/header.rep"], "header.rep:1"),
        c(
            &["bench", "-t", "$D/free-unknown.rep"],
            "free-unknown.rep:6",
        ),
        c(&["bench", "-w", "chrun"], "did you mean `churn`?"),
        c(&["bench", "-a", "nope"], "unknown allocator `nope`"),
        c(&["bench", "-a", "first-fit"], "add --no-real"),
        c(
            &["bench", "-a", "glibc[mmap_threshold=64K]"],
            "add --no-real",
        ),
        c(
            &["bench", "-a", "glibc[nope=1]", "--no-real"],
            "takes no option `nope`",
        ),
        c(&["bench", "-a", "glibc,mmap"], "one allocator at a time"),
        c(&["bench", "--live", "0"], "0 is not in 1..=100000000"),
        c(&["bench", "--live", "20000000"], "raise it with --max-ops"),
        c(
            &["bench", "--all", "-t", "$D/crlf.rep"],
            "cannot be used with",
        ),
        c(&["bench", "--format", "xml"], "xml"),
        // list.
        c(&["list", "extra"], "unexpected argument `extra`"),
    ]
}

#[test]
fn every_bad_input_exits_2_with_one_line_and_leaves_everything_as_it_was() {
    let dir = fixtures("catalogue");
    let cases = cases(&dir);
    assert!(cases.len() >= 80, "the catalogue has {} cases", cases.len());
    let target_out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/brkmap");
    let mut failures = Vec::new();
    for c in &cases {
        let before = snapshot(&dir);
        let out_before = snapshot(&target_out);
        let o = Command::new(env!("CARGO_BIN_EXE_sim"))
            .args(&c.args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let what = format!("sim {}", c.args.join(" "));
        if o.status.code() != Some(2) {
            failures.push(format!("{what}: exit {:?}: {err}", o.status.code()));
        } else if err.lines().count() != 1 {
            failures.push(format!(
                "{what}: {} lines on stderr: {err}",
                err.lines().count()
            ));
        } else if !err.contains(c.says) {
            failures.push(format!("{what}: {err:?} does not say {:?}", c.says));
        } else if err.contains("panicked") || err.contains("backtrace") {
            failures.push(format!("{what}: {err}"));
        } else if !o.stdout.is_empty() {
            failures.push(format!(
                "{what}: stdout {}",
                String::from_utf8_lossy(&o.stdout)
            ));
        } else if snapshot(&dir) != before || snapshot(&target_out) != out_before {
            failures.push(format!("{what}: files were created or changed"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crlf_line_ends_and_a_byte_order_mark_are_accepted() {
    let dir = fixtures("accepted");
    for f in ["crlf.rep", "bom.rep"] {
        let o = Command::new(env!("CARGO_BIN_EXE_sim"))
            .args(["-t", f, "-a", "glibc", "--no-svg", "--out", "out"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
