//! Every registered allocator runs every workload generator and every real-program
//! trace to the end, without an error and without running out of memory.
//!
//! The default sizes suit CI; `BRKMAP_LONG=1` runs the generators at their default op
//! counts and adds the two largest shared traces (400k and 356k ops).

use engine::{Outcome, RunConfig, registry, run};
use std::path::Path;

fn long() -> bool {
    std::env::var_os("BRKMAP_LONG").is_some()
}

fn check(w: &workload::Workload) {
    for entry in registry::entries() {
        let a = registry::build(entry.name, &[]).unwrap();
        let r = run(w, a, &RunConfig::default())
            .unwrap_or_else(|e| panic!("{} on {}: {e}", entry.name, w.name));
        assert_eq!(
            r.summary.outcome,
            Outcome::Completed,
            "{} on {}",
            entry.name,
            w.name
        );
        assert_eq!(
            r.summary.final_live,
            r.timeline.samples.last().unwrap().live
        );
    }
}

#[test]
fn every_allocator_runs_every_generator() {
    for g in workload::GENERATORS {
        for seed in [1, 2] {
            let ops = if long() {
                None
            } else {
                Some(g.default_ops.min(4000))
            };
            check(&workload::generate(g.name, seed, ops).unwrap());
        }
    }
}

#[test]
fn every_allocator_runs_every_shared_trace() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let mut names = vec!["make-database", "diff-lines", "ls-recursive"];
    if long() {
        names.extend(["find-newer", "awk-fields"]);
    }
    for name in names {
        check(&workload::read_trace(&dir.join(format!("{name}.rep"))).unwrap());
    }
}

#[test]
fn every_allocator_runs_the_project_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workload/traces");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the project ships its own traces");
    for f in files {
        check(&workload::read_trace(&f).unwrap());
    }
}
