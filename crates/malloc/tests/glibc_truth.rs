//! The glibc model against real glibc 2.36: every row of the per-op CSV (returned
//! address, mallinfo2 after the op) must be identical.
//!
//! Two sources of truth: the real-program traces of `../shared/traces/` with their
//! `truth/*.glibc-2.36.csv` (skipped with a message when that folder is absent), and
//! the small fixtures of `tests/data/` carried by the crate (see its README).

mod common;

use common::*;
use malloc::glibc::Glibc;
use std::fs;

fn check_trace(
    name: &str,
    rep: &str,
    truth: &str,
    syscalls: Option<&str>,
    glibc: Glibc,
    block: Option<u64>,
    shift: u64,
) -> usize {
    let ops = parse_rep(rep).unwrap_or_else(|e| panic!("{name}: {e}"));
    let extended = truth
        .lines()
        .next()
        .is_some_and(|h| h.split(',').count() > 12);
    let (mut k, mut g) = setup_shifted(glibc, block, shift);
    g.record_syscalls(true);
    let model = replay(&mut k, &mut g, &ops, extended);
    let rows = compare_csv(name, truth, &model).unwrap_or_else(|e| panic!("{e}"));
    if let Some(expected) = syscalls {
        let got = syscall_lines(&g.take_syscalls(), k.config().heap_start);
        let want: Vec<&str> = expected.lines().collect();
        let at = want
            .iter()
            .zip(&got)
            .position(|(w, g)| *w != g.as_str())
            .unwrap_or(want.len().min(got.len()));
        assert!(
            want.len() == got.len() && at == want.len(),
            "{name}: syscall {at} differs: real {:?}, model {:?}",
            want.get(at),
            got.get(at)
        );
    }
    rows
}

#[test]
fn real_program_traces_match_glibc_exactly() {
    let Some(dir) = shared_traces() else {
        eprintln!("skipped: ../shared/traces is not present beside the repository");
        return;
    };
    for name in ["make-database", "diff-lines", "ls-recursive"] {
        let rep = dir.join(format!("{name}.rep"));
        let truth = dir.join(format!("truth/{name}.glibc-2.36.csv"));
        let (Ok(rep), Ok(truth)) = (fs::read_to_string(&rep), fs::read_to_string(&truth)) else {
            eprintln!("skipped {name}: trace or truth file missing");
            continue;
        };
        let rows = check_trace(name, &rep, &truth, None, Glibc::new(), None, 0);
        eprintln!("{name}: {rows} ops, 0 mismatches");
    }
}

#[test]
fn committed_fixtures_match_glibc_exactly() {
    let dir = data_dir();
    let mut names: Vec<_> = fs::read_dir(&dir)
        .expect("tests/data exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rep"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no fixtures in {}", dir.display());
    for rep_path in names {
        let stem = rep_path.file_stem().unwrap().to_string_lossy().to_string();
        let csv_path = rep_path.with_extension("csv");
        let rep = fs::read_to_string(&rep_path).unwrap();
        let truth = fs::read_to_string(&csv_path)
            .unwrap_or_else(|_| panic!("{} has no {}", rep_path.display(), csv_path.display()));
        let syscalls = fs::read_to_string(rep_path.with_extension("syscalls")).ok();
        let (g, block, shift) = stem_options(&stem);
        let rows = check_trace(&stem, &rep, &truth, syscalls.as_deref(), g, block, shift);
        eprintln!("{stem}: {rows} ops, 0 mismatches");
    }
}
