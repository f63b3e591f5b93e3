//! The simulator's models against the real machine, op by op.
//!
//! The `glibc` model must return the same addresses and the same `mallinfo2` figures as
//! the real glibc 2.36 after every op, and the `mmap` allocator must make the same
//! mappings as a real one-mapping-per-block replay. Checked on every workload generator
//! with several seeds, and on random op streams (a differential property test).
//! `BRKMAP_LONG=1` runs the generators at their full default size and many more random
//! streams; the default is sized for CI.

mod replay_support;

use calibrate::replay::{ReplayOptions, Strategy as Real, replay_real};
use engine::{OpRow, RunConfig};
use malloc::Allocator;
use proptest::prelude::*;
use replay_support::exe;
use std::collections::BTreeMap;
use workload::{AlignedFn, AllocCall, Op, TouchPolicy, Workload};

fn long() -> bool {
    std::env::var_os("BRKMAP_LONG").is_some()
}

/// Exact comparisons apply to glibc 2.36, the version the model follows.
fn skip_reason() -> Option<String> {
    if let Some(why) = calibrate::sys::unavailable_reason() {
        return Some(why.to_string());
    }
    match calibrate::sys::glibc_version() {
        Some("2.36") => None,
        other => Some(format!(
            "exact checks apply to glibc 2.36, this is {other:?}"
        )),
    }
}

fn csv(rows: &[OpRow]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let mut s = String::new();
            r.write_csv(&mut s);
            s.trim_end().to_string()
        })
        .collect()
}

/// Runs `w` through the simulated `allocator` and the real `strategy`; returns the first
/// differing row (as "model | real") or None when every row is equal.
fn first_mismatch(w: &Workload, allocator: &str, strategy: Real) -> Option<String> {
    let a: Box<dyn Allocator> = match allocator {
        "glibc" => Box::new(malloc::glibc::Glibc::new()),
        "mmap" => Box::new(mmap::MmapAllocator::new(mmap::MmapConfig::default())),
        other => panic!("no model for {other}"),
    };
    let cfg = RunConfig {
        rows: true,
        ..RunConfig::default()
    };
    let model = engine::run(w, a, &cfg).unwrap();
    let opts = ReplayOptions {
        strategy,
        sample_interval: 0,
        ..ReplayOptions::default()
    };
    let real = replay_real(exe(), w, &opts).unwrap();
    let (m, r) = (csv(&model.rows), csv(&real.rows));
    for (i, (a, b)) in m.iter().zip(&r).enumerate() {
        if a != b {
            return Some(format!("row {i}: model {a} | real {b}"));
        }
    }
    (m.len() != r.len()).then(|| format!("{} model rows, {} real rows", m.len(), r.len()))
}

#[test]
fn every_generator_matches_real_glibc_and_mmap() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let seeds: &[u64] = if long() { &[1, 2, 3, 4, 5] } else { &[1, 2, 3] };
    let mut compared = 0usize;
    for g in workload::GENERATORS {
        for &seed in seeds {
            let ops = if long() {
                None
            } else {
                Some(g.default_ops.min(3000))
            };
            let w = workload::generate(g.name, seed, ops).unwrap();
            for (alloc, strategy) in [("glibc", Real::Glibc), ("mmap", Real::Mmap)] {
                if let Some(m) = first_mismatch(&w, alloc, strategy) {
                    panic!("{} seed {seed}, {alloc}: {m}", g.name);
                }
                compared += w.ops.len();
            }
        }
    }
    eprintln!("compared {compared} ops, no mismatch");
}

/// A random op stream that visits every path of glibc's malloc: sizes across the
/// tcache, fastbin, smallbin, largebin and mmap ranges, reallocs that grow and shrink,
/// frees in random order, malloc_trim, and blocks from calloc and from the three aligned
/// functions (alignments from 8 bytes to a page: a larger one lands where ASLR put the heap, so
/// not even two real runs agree on it).
fn op_stream() -> impl Strategy<Value = (Vec<Op>, BTreeMap<u64, AllocCall>)> {
    let size = prop_oneof![
        6 => 0u64..=128,
        4 => 129u64..=1100,
        2 => 1101u64..=70_000,
        1 => 100_000u64..=600_000,
    ];
    let size = size.boxed();
    let step = prop_oneof![
        5 => size.clone().prop_map(|s| (0u8, s, 0usize)),
        4 => any::<usize>().prop_map(|i| (1u8, 0, i)),
        2 => (size.clone(), any::<usize>()).prop_map(|(s, i)| (2u8, s.max(1), i)),
        1 => (0u64..=200_000).prop_map(|p| (3u8, p, 0)),
        2 => (size.clone(), 1usize..=16).prop_map(|(s, c)| (4u8, s, c)),
        2 => (size, 0usize..30).prop_map(|(s, a)| (5u8, s, a)),
    ];
    prop::collection::vec(step, 1..400).prop_map(|steps| {
        let mut ops = Vec::new();
        let mut calls = BTreeMap::new();
        let mut live: Vec<u64> = Vec::new();
        let mut next = 0u64;
        for (kind, n, pick) in steps {
            match kind {
                0 => {
                    ops.push(Op::Malloc { id: next, size: n });
                    live.push(next);
                    next += 1;
                }
                1 if !live.is_empty() => {
                    let id = live.swap_remove(pick % live.len());
                    ops.push(Op::Free { id });
                }
                2 if !live.is_empty() => {
                    let id = live[pick % live.len()];
                    ops.push(Op::Realloc { id, size: n });
                }
                3 => ops.push(Op::Trim { pad: n }),
                4 => {
                    // calloc of `pick` elements of about n / pick bytes each.
                    let (count, each) = (pick as u64, n / pick as u64);
                    ops.push(Op::Malloc {
                        id: next,
                        size: count * each,
                    });
                    calls.insert(next, AllocCall::Calloc { count, size: each });
                    live.push(next);
                    next += 1;
                }
                5 => {
                    let funcs = [
                        AlignedFn::PosixMemalign,
                        AlignedFn::AlignedAlloc,
                        AlignedFn::Memalign,
                    ];
                    let align = 8u64 << (pick % 10);
                    ops.push(Op::Malloc { id: next, size: n });
                    calls.insert(
                        next,
                        AllocCall::Aligned {
                            func: funcs[pick / 10 % 3],
                            align,
                        },
                    );
                    live.push(next);
                    next += 1;
                }
                _ => {}
            }
        }
        (ops, calls)
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if long() { 400 } else { 12 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_streams_match_real_glibc((ops, calls) in op_stream()) {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return Ok(());
        }
        let w = Workload {
            name: "random".into(),
            seed: None,
            touch: TouchPolicy::WriteAll,
            ops,
            lifetimes: BTreeMap::new(),
            calls,
        };
        prop_assert_eq!(first_mismatch(&w, "glibc", Real::Glibc), None);
    }
}

/// The real-program traces of the shared folder, model against the real replay (the
/// three with truth files are also checked against those in `replay_truth.rs`). The
/// two largest (400k and 356k ops) run with `BRKMAP_LONG=1` only.
#[test]
#[ignore = "needs ../shared/traces"]
fn shared_traces_match_real_glibc() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let Some(shared) = replay_support::shared() else {
        eprintln!("skipped: the shared traces folder is absent");
        return;
    };
    let mut names = vec!["make-database", "diff-lines", "ls-recursive"];
    if long() {
        names.extend(["find-newer", "awk-fields"]);
    }
    for name in names {
        let path = shared.join("traces").join(format!("{name}.rep"));
        let w = workload::read_trace(&path).unwrap();
        if let Some(m) = first_mismatch(&w, "glibc", Real::Glibc) {
            panic!("{name}: {m}");
        }
        eprintln!("{name}: {} ops, no mismatch", w.ops.len());
    }
}

/// The traces the project recorded with `sim record` from real programs
/// (`crates/workload/traces/*.trace` whose header says so).
fn recorded_traces() -> Vec<(String, Workload)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../workload/traces");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("\n# recorded by `sim record` from: ") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, workload::read_trace(&path).unwrap()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The recorded traces through the glibc model and the real glibc: row for row equal,
/// their `calloc` and aligned blocks (`workload::AllocCall`) included.
#[test]
fn recorded_traces_match_real_glibc_row_for_row() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let traces = recorded_traces();
    assert!(traces.len() >= 5, "the project ships its recorded traces");
    assert!(
        traces.iter().any(|(_, w)| !w.calls.is_empty()),
        "some recorded trace uses calloc or an aligned function"
    );
    for (name, w) in &traces {
        let a: Box<dyn Allocator> = Box::new(malloc::glibc::Glibc::new());
        let cfg = RunConfig {
            rows: true,
            ..RunConfig::default()
        };
        let model = csv(&engine::run(w, a, &cfg).unwrap().rows);
        let opts = ReplayOptions {
            strategy: Real::Glibc,
            sample_interval: 0,
            ..ReplayOptions::default()
        };
        let real = csv(&replay_real(exe(), w, &opts).unwrap().rows);
        assert_eq!(model.len(), real.len(), "{name}");
        if let Some(i) = model.iter().zip(&real).position(|(m, r)| m != r) {
            panic!("{name}: row {i}: model {} | real {}", model[i], real[i]);
        }
    }
}
