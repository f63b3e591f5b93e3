//! THE acceptance test of real replays: glibc, replayed on the shared real-program
//! traces in a pristine child, reproduces the recorded truth CSVs byte for byte.
//!
//! Ignored by default because it needs the shared folder (`cargo test -p calibrate --
//! --include-ignored` runs it); skips (saying why) when that folder is absent or the
//! machine's glibc is not 2.36, the version the truth files were recorded with.

mod replay_support;

use calibrate::replay::{ReplayOptions, Strategy, replay_real};
use replay_support::{exe, read_rep, shared};
use workload::TouchPolicy;

const TRACES: [&str; 3] = ["make-database", "diff-lines", "ls-recursive"];

fn check(name: &str, touch: TouchPolicy) {
    let Some(shared) = shared() else {
        eprintln!("skipped: the shared folder (../shared from the project root) is absent");
        return;
    };
    if let Some(why) = calibrate::sys::unavailable_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let version = calibrate::sys::glibc_version().unwrap_or("none");
    if version != "2.36" {
        eprintln!("skipped: glibc {version} here; the truth files are glibc 2.36");
        return;
    }
    let traces = shared.join("traces");
    let mut workload = read_rep(&traces.join(format!("{name}.rep")));
    workload.touch = touch;
    let truth_path = traces.join(format!("truth/{name}.glibc-2.36.csv"));
    let truth = std::fs::read_to_string(&truth_path).unwrap();
    let opts = ReplayOptions {
        strategy: Strategy::Glibc,
        ..ReplayOptions::default()
    };
    let run = replay_real(exe(), &workload, &opts).unwrap();
    assert_eq!(run.glibc_version, "2.36");
    if run.csv != truth {
        let diff = run
            .csv
            .lines()
            .zip(truth.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b);
        panic!(
            "{name} ({touch:?}): real replay differs from {}: first difference {diff:?}; \
             {} lines vs {}",
            truth_path.display(),
            run.csv.lines().count(),
            truth.lines().count()
        );
    }
    assert_eq!(run.rows.len(), workload.ops.len());
}

#[test]
#[ignore = "needs ../shared/traces"]
fn make_database_matches_truth() {
    check(TRACES[0], TouchPolicy::WriteAll);
}

#[test]
#[ignore = "needs ../shared/traces"]
fn diff_lines_matches_truth() {
    check(TRACES[1], TouchPolicy::WriteAll);
}

#[test]
#[ignore = "needs ../shared/traces"]
fn ls_recursive_matches_truth() {
    check(TRACES[2], TouchPolicy::WriteAll);
}

/// mallinfo2 and the addresses do not depend on whether the program touches its memory.
#[test]
#[ignore = "needs ../shared/traces"]
fn truth_holds_without_touching_too() {
    for name in TRACES {
        check(name, TouchPolicy::None);
    }
}
