//! Every registered allocator runs every workload generator and every real-program
//! trace to the end, without an error and without running out of memory.
//!
//! The default sizes suit CI; `BRKMAP_LONG=1` runs the generators at their default op
//! counts and adds the two largest shared traces (400k and 356k ops).

use engine::{Outcome, RunConfig, run};
use lab::registry;
use std::collections::BTreeMap;
use std::path::Path;

fn long() -> bool {
    std::env::var_os("BRKMAP_LONG").is_some()
}

/// The bytes the program still holds after the last op, computed from the ops alone
/// (without any allocator), and the number of allocator calls.
fn expected_end(w: &workload::Workload) -> (u64, u64) {
    let mut held: BTreeMap<u64, u64> = BTreeMap::new();
    let mut calls = 0;
    for op in &w.ops {
        match *op {
            workload::Op::Malloc { id, size } | workload::Op::Realloc { id, size } => {
                held.insert(id, size);
                calls += 1;
            }
            workload::Op::Free { id } => {
                held.remove(&id);
                calls += 1;
            }
            workload::Op::Trim { .. } => calls += 1,
            workload::Op::Touch { .. } | workload::Op::Phase { .. } => {}
        }
    }
    (held.values().sum(), calls)
}

fn check(w: &workload::Workload) {
    let (final_live, calls) = expected_end(w);
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
            r.summary.final_live, final_live,
            "{} on {}",
            entry.name, w.name
        );
        assert_eq!(r.summary.ops, calls, "{} on {}", entry.name, w.name);
        let end = r.timeline.samples.last().unwrap();
        assert_eq!(end.op, w.ops.len() as u64, "the last sample is at the end");
        assert_eq!(end.live, final_live);
        assert!(
            r.summary.final_footprint >= r.summary.final_allocated
                && r.summary.final_allocated >= final_live,
            "{} on {}: footprint {} >= allocated {} >= live {final_live}",
            entry.name,
            w.name,
            r.summary.final_footprint,
            r.summary.final_allocated
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
#[ignore = "needs ../shared/traces"]
fn every_allocator_runs_every_shared_trace() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces");
    let mut names = vec!["make-database", "diff-lines", "ls-recursive"];
    if long() {
        names.extend(["find-newer", "awk-fields"]);
    }
    for name in names {
        check(&workload::read_trace(dir.join(format!("{name}.rep"))).unwrap());
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

/// `usage()`, what peak tracking reads after every op, says what `stats()` says, for
/// every registered allocator after every op of a churn and a realloc-heavy stream.
#[test]
fn usage_agrees_with_stats_after_every_op() {
    use engine::{Program, Stepped};
    for name in ["churn", "realloc-growth"] {
        let w = workload::generate(name, 2, Some(3_000)).unwrap();
        for entry in registry::entries() {
            let mut a = registry::build(entry.name, &[]).unwrap();
            let mut k = kernel::Kernel::new(kernel::KernelConfig::default());
            let mut p = Program::new(w.clone());
            while let Stepped::Ran { index, .. } = p.step(&mut k, a.as_mut()).unwrap() {
                let (u, s) = (a.usage(), a.stats());
                assert_eq!(
                    (u.allocated, u.footprint),
                    (s.allocated, s.footprint),
                    "{} on {name}, op {index}",
                    entry.name
                );
            }
        }
    }
}
