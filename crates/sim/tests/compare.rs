//! `sim compare A B` end to end: two real runs written by `sim`, compared as a user
//! would compare them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .expect("sim runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brkmap-compare-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Two runs, made once for all tests: churn seed 1 through glibc, best-fit and mmap
/// (A) and churn seed 2 through glibc and first-fit (B).
fn runs() -> &'static (PathBuf, PathBuf) {
    static RUNS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    RUNS.get_or_init(|| {
        let dir = scratch("runs");
        let (a, b) = (dir.join("one"), dir.join("two"));
        let o = sim(&[
            "-w",
            "churn",
            "--ops",
            "3000",
            "--no-svg",
            "-o",
            a.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let o = sim(&[
            "-w",
            "churn",
            "--ops",
            "3000",
            "--seed",
            "2",
            "-a",
            "glibc,first-fit",
            "--no-svg",
            "-o",
            b.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        (a, b)
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn summary(dir: &Path, allocator: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["allocator"] == allocator)
        .unwrap()
        .clone()
}

/// Bad input: exit code 2, one line on stderr that names the problem, nothing on stdout.
fn assert_usage_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line, got: {err}");
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty(), "nothing on stdout: {}", stdout(o));
}

#[test]
fn the_common_allocator_is_compared_metric_by_metric() {
    let (a, b) = runs();
    let o = sim(&["compare", s(a), s(b)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    // Only glibc is in both runs.
    assert!(text.contains("glibc (A) against glibc (B)"), "{text}");
    assert!(!text.contains("best-fit (A)") && !text.contains("first-fit (B)"));
    assert!(
        text.contains("different op streams"),
        "seeds differ: {text}"
    );
    let header = text.lines().find(|l| l.starts_with("metric")).unwrap();
    for col in ["A", "B", "B - A", "B / A"] {
        assert!(header.contains(col), "{header}");
    }
    // The peak footprint row: A's, B's, their difference and ratio, from the files.
    let (fa, fb) = (
        summary(a, "glibc")["peak_footprint"].as_u64().unwrap(),
        summary(b, "glibc")["peak_footprint"].as_u64().unwrap(),
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("peak footprint"))
        .unwrap();
    let delta = fb as i64 - fa as i64;
    let ratio = format!("{:.2}x", fb as f64 / fa as f64);
    for cell in [
        units::bytes(fa),
        units::bytes(fb),
        units::bytes_delta(delta),
        ratio,
    ] {
        assert!(row.contains(&cell), "{cell:?} not in {row:?}");
    }
    assert!(text.contains("frag_max"), "{text}");
}

#[test]
fn a_picked_allocator_can_be_compared_with_another_of_the_same_run() {
    let (a, _) = runs();
    let spec_a = format!("{}:glibc", s(a));
    let spec_b = format!("{}:mmap", a.join("summary.json").display());
    let o = sim(&["compare", &spec_a, &spec_b, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    let c = &v["comparisons"][0];
    assert_eq!(c["a_allocator"], "glibc");
    assert_eq!(c["b_allocator"], "mmap");
    let metric = |key: &str| {
        c["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == key)
            .unwrap_or_else(|| panic!("no {key}"))
            .clone()
    };
    let munmap = metric("syscalls_munmap");
    let expect = summary(a, "mmap")["syscalls"]["munmap"].as_u64().unwrap();
    assert_eq!(munmap["b"].as_u64(), Some(expect));
    assert_eq!(
        munmap["a"].as_u64(),
        Some(0),
        "glibc unmaps nothing on churn"
    );
    assert!(munmap["ratio"].is_null(), "no ratio over zero");
    let fp = metric("peak_footprint");
    let (x, y) = (fp["a"].as_f64().unwrap(), fp["b"].as_f64().unwrap());
    assert_eq!(fp["difference"].as_f64(), Some(y - x));
    assert!((fp["ratio"].as_f64().unwrap() - y / x).abs() < 1e-4);
    assert_eq!(metric("frag_max")["unit"], "ratio");
}

#[test]
fn csv_has_one_row_per_metric_and_the_same_bytes_every_time() {
    let (a, b) = runs();
    let one = sim(&["compare", s(a), s(b), "-f", "csv"]);
    let two = sim(&["compare", s(a), s(b), "-f", "csv"]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(one.stdout, two.stdout);
    let text = stdout(&one);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("a_allocator,b_allocator,metric,unit,a,b,difference,ratio")
    );
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() > 30, "{} rows", rows.len());
    assert!(rows.iter().all(|r| r.starts_with("glibc,glibc,")));
    assert!(
        rows.iter()
            .any(|r| r.starts_with("glibc,glibc,peak_rss,bytes,"))
    );
}

#[test]
fn out_draws_the_overlaid_timelines() {
    let (a, b) = runs();
    let out = scratch("out");
    let o = sim(&[
        "compare",
        &format!("{}:best-fit", s(a)),
        &format!("{}:first-fit", s(b)),
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let path = out.join("compare-best-fit-vs-first-fit.svg");
    assert!(
        stdout(&o).contains(&format!("wrote {}", path.display())),
        "{}",
        stdout(&o)
    );
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"));
    for text in [
        "Two runs compared",
        "A: best-fit (one)",
        "B: first-fit (two)",
    ] {
        assert!(svg.contains(text), "no {text:?} in the chart");
    }
}

#[test]
fn bad_inputs_are_one_line_errors_with_exit_code_2() {
    let (a, b) = runs();
    let out = scratch("bad");
    assert_usage_error(
        &sim(&["compare", "/no/such/run", s(b)]),
        "no such run directory",
    );
    assert_usage_error(
        &sim(&["compare", s(&a.join("timeline.csv")), s(b)]),
        "is not a summary.json",
    );
    assert_usage_error(
        &sim(&["compare", &format!("{}:best-fit", s(a)), s(b)]),
        "has no allocator 'best-fit'",
    );
    // A run of mmap only and a run of first-fit only have nothing in common.
    let only = |name: &str| {
        let dir = out.join(name);
        let o = sim(&[
            "-w",
            "ramp",
            "--ops",
            "500",
            "-a",
            name,
            "--no-svg",
            "-o",
            s(&dir),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        dir
    };
    let (m, f) = (only("mmap"), only("first-fit"));
    assert_usage_error(&sim(&["compare", s(&m), s(&f)]), "no allocator in common");
    // --out needs the timelines; nothing is written when they are missing.
    let lone = out.join("lone");
    std::fs::create_dir_all(&lone).unwrap();
    std::fs::copy(m.join("summary.json"), lone.join("summary.json")).unwrap();
    let charts = out.join("charts");
    assert_usage_error(
        &sim(&["compare", s(&lone), s(&m), "--out", s(&charts)]),
        "timeline.csv",
    );
    assert!(!charts.exists(), "nothing half-written");
}
