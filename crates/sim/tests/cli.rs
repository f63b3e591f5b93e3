//! The `sim` binary end to end: what a user types, what they get back.

mod common;
use common::*;

use std::path::Path;
use std::process::Output;

#[test]
fn unknown_workload_is_a_usage_error() {
    let o = sim(&["--workload", "no-such-thing", "--no-svg"]);
    assert_usage_error(&o, "no-such-thing");
}

#[test]
fn unknown_allocator_is_a_usage_error() {
    let o = sim(&["--workload", "churn", "--allocator", "first-fit,nope"]);
    assert_usage_error(&o, "unknown allocator `nope`");
}

#[test]
fn zero_ops_is_a_usage_error() {
    let o = sim(&["--workload", "churn", "--ops", "0"]);
    assert_usage_error(&o, "--ops");
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let o = sim(&["--no-such-flag"]);
    assert_usage_error(&o, "--no-such-flag");
}

#[test]
fn clap_errors_keep_every_detail_in_one_line_and_point_at_the_subcommand_help() {
    let o = sim(&["replay", "-w", "churn"]);
    assert_usage_error(&o, "not provided: --emit-ops <FILE>");
    assert_usage_error(&o, "(see `sim replay --help`)");
    let o = sim(&["--worklaod", "churn"]);
    assert_usage_error(&o, "a similar argument exists: `--workload`");
    assert_usage_error(&o, "(see `sim --help`)");
    let o = sim(&["--format=jsn"]);
    assert_usage_error(&o, "possible values: table, json, csv");
    assert_usage_error(&o, "invalid value `jsn`");
    let o = sim(&["figures", "--onyl", "x"]);
    assert_usage_error(&o, "(see `sim figures --help`)");
}

#[test]
fn an_unknown_tunable_is_a_usage_error() {
    let o = sim(&["--allocator", "first-fit", "--tunable", "colour=blue"]);
    assert_usage_error(&o, "colour");
}

#[test]
fn a_nonexistent_trace_is_a_usage_error() {
    let o = sim(&["--trace", "/no/such/file.rep"]);
    assert_usage_error(&o, "/no/such/file.rep");
}

#[test]
fn a_malformed_trace_line_names_the_file_and_line() {
    let dir = scratch("malformed");
    let path = dir.join("bad.rep");
    std::fs::write(&path, "0\n2\n3\n1\na 0 10\na 1 x\nf 0\n").unwrap();
    let out = dir.join("out");
    let o = sim(&[
        "--trace",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_usage_error(&o, "bad.rep:6");
    assert!(!out.exists(), "nothing half-written");
}

#[test]
fn a_free_of_an_unknown_id_names_the_line() {
    let dir = scratch("unknown-id");
    let path = dir.join("bad.rep");
    std::fs::write(&path, "0\n2\n2\n1\na 0 10\nf 1\n").unwrap();
    let out = dir.join("out");
    let o = sim(&[
        "--trace",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_usage_error(&o, "bad.rep:6");
    assert!(stderr(&o).contains("unknown id 1"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn json_output_is_byte_identical_across_runs() {
    let dir = scratch("json");
    let out = dir.to_str().unwrap();
    let args = [
        "--workload",
        "churn",
        "--seed",
        "7",
        "--format",
        "json",
        "--ops",
        "4000",
    ];
    let a = sim(&[&args[..], &["--out", out]].concat());
    let b = sim(&[&args[..], &["--out", out]].concat());
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).expect("stdout is JSON");
    assert_eq!(v["seed"], 7);
    assert_eq!(
        v["runs"].as_array().map(Vec::len),
        Some(3),
        "glibc, best-fit, mmap"
    );
}

#[test]
fn a_run_prints_a_table_and_writes_its_files() {
    let dir = scratch("table");
    let o = sim(&[
        "--workload",
        "churn",
        "--ops",
        "3000",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("peak footprint"), "{text}");
    for f in ["summary.json", "timeline.csv"] {
        assert!(dir.join(f).is_file(), "{f} written");
        assert!(
            text.contains(&dir.join(f).display().to_string()),
            "path of {f} printed"
        );
    }
    let csv = std::fs::read_to_string(dir.join("timeline.csv")).unwrap();
    assert!(csv.starts_with("series,op,time_ns,"));
}

#[test]
fn list_names_every_workload_and_allocator() {
    let o = sim(&["list"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for name in [
        "churn",
        "ramp",
        "lifetimes",
        "first-fit",
        "best-fit",
        "segregated",
    ] {
        assert!(text.contains(name), "{name} listed");
    }
}

#[test]
fn help_shows_examples() {
    let o = sim(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Examples:"));
}

/// A real program's trace from the shared folder, when it is there.
#[test]
fn a_real_programs_trace_replays() {
    // Recorded by `sim record -- ls -R /usr/share/zoneinfo` and shipped with the project.
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workload/traces/ls-zoneinfo.trace");
    let w = workload::read_trace(&trace).unwrap();
    let calls = w.allocator_calls();
    let dir = scratch("trace");
    let o = sim(&[
        "--trace",
        trace.to_str().unwrap(),
        "--allocator",
        "first-fit,mmap",
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("trace ls"), "{text}");
    assert!(
        text.contains(&format!("{calls} allocator calls")),
        "every op of the trace ran: {text}"
    );
}

#[test]
#[ignore = "needs ../shared/traces"]
fn a_shared_real_programs_trace_replays() {
    let trace =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces/make-database.rep");
    let dir = scratch("shared-trace");
    let o = sim(&[
        "--trace",
        trace.to_str().unwrap(),
        "--allocator",
        "first-fit,mmap",
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("3515 allocator calls"),
        "{}",
        stdout(&o)
    );
}

/// The README shows the output of its main command; it must stay what the command
/// prints.
#[test]
fn the_readme_example_is_what_the_default_run_prints() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let start = readme
        .find("<!-- example-output")
        .expect("README marks its example output");
    let block = &readme[start..];
    let body_start = block.find("```text\n").expect("a text block") + "```text\n".len();
    let body_end = block[body_start..].find("```").expect("the block ends") + body_start;
    let shown = &block[body_start..body_end];

    let dir = scratch("readme");
    let o = sim(&[
        "--workload",
        "churn",
        "--no-svg",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let printed = stdout(&o);
    let table = printed.split("\nwrote ").next().unwrap().trim_end();
    assert_eq!(
        shown.trim_end(),
        table,
        "README.md's example output is stale: paste the output of `cargo run -p sim -- --workload churn`"
    );
}

#[test]
fn an_output_location_that_cannot_be_written_is_refused_before_any_work() {
    let dir = scratch("bad-out");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    for (args, needle) in [
        (vec!["-w", "churn", "--out", "/proc/x"], "--out /proc/x"),
        (
            vec!["-w", "churn", "--out", file.to_str().unwrap()],
            "not a directory",
        ),
        (
            vec![
                "replay",
                "-w",
                "churn",
                "-a",
                "glibc",
                "--emit-ops",
                dir.to_str().unwrap(),
            ],
            "not a regular file",
        ),
        (
            vec![
                "replay",
                "-w",
                "churn",
                "-a",
                "glibc",
                "--emit-ops",
                "/dev/null",
            ],
            "--emit-ops /dev/null",
        ),
        (
            vec!["figures", "--check", "--root", "/nonexistent"],
            "--root /nonexistent",
        ),
        (vec!["figures", "--root", "/proc/x"], "--root /proc/x"),
        (
            vec!["validate", "-w", "churn", "--out", "/proc/x"],
            "--out /proc/x",
        ),
    ] {
        // --ops 2000000 would take seconds: the check comes first.
        let mut args = args;
        if !args.contains(&"figures") {
            args.extend(["--ops", "2000000"]);
        }
        let o = sim(&args);
        assert_usage_error(&o, needle);
    }
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "x",
        "the file is untouched"
    );
}

#[test]
fn a_run_replaces_its_directory_as_a_whole_and_never_a_foreign_one() {
    let dir = scratch("run-dir");
    let out = dir.join("run");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "-w",
            "churn",
            "--ops",
            "300",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        sim(&args)
    };
    assert_eq!(run(&[]).status.code(), Some(0));
    assert!(out.join("timeline.svg").is_file());
    // A second run without charts leaves none of the first run's charts behind.
    assert_eq!(run(&["--no-svg"]).status.code(), Some(0));
    assert!(
        !out.join("timeline.svg").exists(),
        "stale chart left behind"
    );
    assert!(out.join("summary.json").is_file());
    // A directory sim did not write is not replaced without --force.
    let foreign = dir.join("mine");
    std::fs::create_dir_all(foreign.join("cost.svg")).unwrap();
    std::fs::write(foreign.join("notes.txt"), "keep").unwrap();
    let o = sim(&[
        "-w",
        "churn",
        "--ops",
        "300",
        "--out",
        foreign.to_str().unwrap(),
    ]);
    assert_usage_error(&o, "--force");
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "keep"
    );
    assert!(
        !foreign.join("summary.json").exists(),
        "nothing half-written"
    );
    let o = sim(&[
        "-w",
        "churn",
        "--ops",
        "300",
        "--force",
        "--out",
        foreign.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        foreign.join("cost.svg").is_file(),
        "the run's own cost chart"
    );
    assert!(
        !foreign.join("notes.txt").exists(),
        "--force replaces the directory"
    );
    // No staging directory is left beside the target.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn limits_refuse_at_once_what_would_exhaust_memory() {
    let o = sim(&["-w", "churn", "--ops", "10000000", "--sample-every", "1"]);
    assert_usage_error(&o, "over the limit of 200000: sample every 51 ops or more");
    let o = sim(&["--ops", "200000001"]);
    assert_usage_error(&o, "raise it with --max-ops");
    let o = sim(&["--max-samples", "9000000"]);
    assert_usage_error(&o, "9000000 is not in 1..=5000000");
    let dir = scratch("limits");
    let trace = dir.join("big.rep");
    std::fs::write(&trace, "0\n1\n1\n1\na 0 10\n").unwrap();
    let o = sim(&["--trace", trace.to_str().unwrap(), "--max-trace-size", "8"]);
    assert_usage_error(&o, "over the limit of 8 B (raise it with --max-trace-size)");
}

#[test]
fn verbose_goes_to_stderr_when_stdout_carries_json() {
    let dir = scratch("verbose-json");
    let o = sim(&[
        "-w",
        "churn",
        "--ops",
        "20",
        "-a",
        "first-fit",
        "-v",
        "--format",
        "json",
        "--no-svg",
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(v["runs"][0]["allocator"], "first-fit");
    assert!(stderr(&o).contains("Free List"), "the log is on stderr");
}

#[test]
fn bench_times_both_sides_on_the_same_ops() {
    let o = sim(&[
        "bench",
        "--workload",
        "churn",
        "--ops",
        "3000",
        "--reps",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = &v["rows"][0];
    assert_eq!(v["writes"], true);
    assert_eq!(row["sim_cpu_ns"].as_array().unwrap().len(), 2);
    assert_eq!(row["real_cpu_ns"].as_array().unwrap().len(), 2);
    let ops = row["ops"].as_f64().unwrap();
    assert!(ops >= 3000.0, "{row}");
    let sim = row["sim_ns_per_op"].as_f64().unwrap();
    let real = row["real_ns_per_op"].as_f64().unwrap();
    assert!(sim > 0.0 && real > 0.0, "{row}");
    let ratio = row["ratio"].as_f64().unwrap();
    assert!((ratio - sim / real).abs() < 0.01 + ratio * 0.01, "{row}");
}

#[test]
fn bench_refuses_what_it_cannot_compare() {
    let o = sim(&["bench", "--allocator", "first-fit", "--ops", "100"]);
    assert_usage_error(&o, "--no-real");
    let o = sim(&["bench", "--tunable", "top_pad=0", "--ops", "100"]);
    assert_usage_error(&o, "--no-real");
    let o = sim(&["bench", "--all", "--trace", "x.rep"]);
    assert_usage_error(&o, "--all");
    let o = sim(&["bench", "--reps", "0"]);
    assert_usage_error(&o, "--reps");
}

/// A streamed .rep trace gives the run it gives when read whole, and an invalid line
/// met on the way is bad input, with its file and line.
#[test]
fn a_streamed_trace_runs_as_when_read_whole() {
    let dir = scratch("stream");
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workload/traces/small.rep");
    let trace = trace.to_str().unwrap();
    let whole = dir.join("whole");
    let streamed = dir.join("streamed");
    for (out, extra) in [(&whole, None), (&streamed, Some("--stream"))] {
        let mut args = vec!["--trace", trace, "--no-svg", "-o", out.to_str().unwrap()];
        args.extend(extra);
        let o = sim(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    for file in ["summary.json", "timeline.csv"] {
        assert_eq!(
            std::fs::read(whole.join(file)).unwrap(),
            std::fs::read(streamed.join(file)).unwrap(),
            "{file}"
        );
    }
    let bad = dir.join("bad.rep");
    std::fs::write(&bad, "0\n2\n3\n1\na 0 8\nf 1\nf 0\n").unwrap();
    let o = sim(&[
        "--trace",
        bad.to_str().unwrap(),
        "--stream",
        "--no-svg",
        "-o",
        dir.join("b").to_str().unwrap(),
    ]);
    assert_usage_error(&o, "bad.rep:6: free of unknown id 1");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small `churn` run in a scratch directory with `extra` arguments (`--tunable`
/// checks: one mechanism for every allocator's options, its messages and its notes
/// about old spellings).
fn run_with(name: &str, extra: &[&str]) -> Output {
    let dir = scratch(name);
    let mut args = vec![
        "--workload",
        "churn",
        "--ops",
        "300",
        "--no-svg",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = sim(&args);
    let _ = std::fs::remove_dir_all(&dir);
    o
}

#[test]
fn an_old_spelling_runs_with_a_note() {
    let o = run_with(
        "note",
        &[
            "--allocator",
            "segregated,first-fit",
            "--tunable",
            "linear-max=64",
            "--tunable",
            "order=size-asc",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).lines().collect::<Vec<_>>(),
        [
            "sim: note: option `linear-max` is now spelled `linear_max`",
            "sim: note: option order: `size-asc` is now spelled `size_asc`"
        ]
    );
}

#[test]
fn the_readme_tunables_run_without_a_note() {
    let o = run_with(
        "readme",
        &[
            "--allocator",
            "glibc,first-fit",
            "--tunable",
            "mmap_threshold=64K",
            "--tunable",
            "order=lifo",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
}

#[test]
fn a_bad_value_names_the_allocator_the_option_and_the_limit() {
    let o = run_with(
        "limit",
        &["--allocator", "regions", "--tunable", "region_size=1T"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "sim: error: allocator regions: option region_size: `1T` is over the limit of 1 GiB\n"
    );
}

#[test]
fn a_misspelt_option_gets_the_nearest_name() {
    let o = run_with(
        "typo",
        &["--allocator", "glibc", "--tunable", "mmap_treshold=1"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("did you mean `mmap_threshold`?"), "{err}");
}

#[test]
fn the_listing_shows_kinds_and_defaults() {
    let o = sim(&["list"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("region_size"))
        .expect("region_size is listed");
    assert!(
        line.contains("size 4 KiB to 1 GiB") && line.contains("1M"),
        "{line}"
    );
}

#[test]
fn verbose_glibc_prints_its_bins_after_each_op() {
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workload/traces/textbook.trace");
    let dir = scratch("verbose-glibc");
    let o = sim(&[
        "--trace",
        trace.to_str().unwrap(),
        "-a",
        "glibc",
        "-v",
        "--no-svg",
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("tcache 0x30      [1]: +0x290"), "{text}");
    assert!(text.contains("  top "), "{text}");
}

/// `sim validate --all` is the whole check in one command: every generator through
/// both allocators with a real counterpart, one row each in the table and in the CSV,
/// the faults equal on both sides and a time ratio for every row.
#[test]
fn validate_all_checks_every_generator_through_both_allocators() {
    if let Some(why) = calibrate::sys::unavailable_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = scratch("validate-all");
    let out = dir.join("v");
    let o = sim(&[
        "validate",
        "--all",
        "--ops",
        "1500",
        "--reps",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("of 14 within 25%"), "{text}");
    assert!(text.contains("the fastest of 1 fresh process "), "{text}");
    let csv = std::fs::read_to_string(out.join("validate-all.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "allocator,workload,ops,sim_ns,real_ns,ratio,real_slowest_ns,real_loop_ns,\
             sim_minor_faults,real_minor_faults"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[0].to_string(), r[1].to_string()))
        .collect();
    seen.sort();
    let mut want: Vec<(String, String)> = ["glibc", "mmap"]
        .iter()
        .flat_map(|a| {
            workload::GENERATORS
                .iter()
                .map(move |g| (a.to_string(), g.name.to_string()))
        })
        .collect();
    want.sort();
    assert_eq!(seen, want, "{csv}");
    for r in &rows {
        // Each row is in the printed table too.
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().take(2).eq([r[0], r[1]])),
            "{text}"
        );
        let ratio: f64 = r[5].parse().unwrap();
        assert!(ratio > 0.0, "{csv}");
        // The real count is process-wide: now and then a fault or two of the child's
        // own outside the replayed memory.
        let (sf, rf): (u64, u64) = (r[8].parse().unwrap(), r[9].parse().unwrap());
        assert!(sf > 0 && rf >= sf && rf <= sf + 2, "{csv}");
    }
}

/// `sim validate` sets the model beside the real run: equal counts, and a real time
/// taken from runs that observe nothing but the clock, less their replay loop's own
/// time, drawn on the same sample points.
#[test]
fn validate_times_the_real_side_from_unobserved_runs() {
    if let Some(why) = calibrate::sys::unavailable_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = scratch("validate");
    let out = dir.join("v");
    let o = sim(&[
        "validate",
        "-w",
        "churn",
        "--ops",
        "3000",
        "--reps",
        "3",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("fastest of 3 fresh processes"), "{text}");
    // The replayer's own loop is timed by a dry pass and left out of the real total.
    let total = |prefix: &str| {
        let line = text.lines().find(|l| l.starts_with(prefix));
        line.and_then(|l| l.split_whitespace().rev().nth(1).map(str::to_string))
            .unwrap_or_default()
    };
    assert!(!total("total time").is_empty(), "{text}");
    assert!(
        ["ns", "µs", "ms"].contains(&total("(replayer's loop, left out)").as_str()),
        "{text}"
    );
    let faults = text
        .lines()
        .find(|l| l.starts_with("minor faults"))
        .expect("a faults row");
    // The real count is process-wide: now and then it includes a fault or two of the
    // child's own outside the replayed memory.
    let n: Vec<u64> = faults
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(n.len() >= 2 && n[1] >= n[0] && n[1] <= n[0] + 2, "{faults}");
    let csv = std::fs::read_to_string(out.join("validate-timelines.csv")).unwrap();
    let real: Vec<(u64, f64)> = csv
        .lines()
        .filter(|l| l.starts_with("real,"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    // 3000 calls and the workload's phase markers.
    assert!(real.last().is_some_and(|r| r.0 > 3000), "{csv}");
    assert!(real.len() >= 3, "{csv}");
    assert!(real.windows(2).all(|w| w[0].1 <= w[1].1), "{csv}");
    assert!(real.last().unwrap().1 > 0.0, "{csv}");
}
