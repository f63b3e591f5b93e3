//! Golden values: they pin the random stream and the default workload.
//!
//! If one of these tests fails, do not just paste the new values. A change in the
//! first test means `rand_chacha` changed its ChaCha8 stream (or `seed_from_u64`); a
//! change in the others means a generator changed. Either way every generated workload,
//! and so every published figure and number in the book, changes with it: regenerate
//! the figures (`cargo run -p sim -- figures`) and say so in the change.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write;
use workload::{Op, Workload, generate};

#[test]
fn chacha8_stream_for_seed_1_is_unchanged() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let words: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
    assert_eq!(
        words,
        [
            0x6709_4cea_8ca4_0db1,
            0x1494_06d8_fc0e_8e6b,
            0x98b8_2b03_3607_0665,
            0x3825_a7dc_6308_0d42,
        ]
    );
}

/// Compares `actual` with the snapshot file `tests/golden/<name>.txt`. On a
/// difference it names the first differing line, shows both versions of it, and says
/// how to accept the change (`BRKMAP_BLESS=1` rewrites the snapshots).
fn snapshot(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("BRKMAP_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return;
    }
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let at = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    panic!(
        "{name} differs from {} at line {}:\n  snapshot: {}\n  now:      {}\n\
         ({} lines in the snapshot, {} now). If the change is intended, run \
         `BRKMAP_BLESS=1 cargo test -p workload --test golden`, regenerate the figures and \
         say so in the commit.",
        path.display(),
        at + 1,
        e.get(at).unwrap_or(&"(end of file)"),
        a.get(at).unwrap_or(&"(end of file)"),
        e.len(),
        a.len()
    );
}

/// The workload in a fixed text form of this test's own (not a trace writer's, whose
/// comments may change): one op a line, then the lifetime hints.
fn canonical(w: &Workload) -> String {
    let mut out = format!("{} {:?} {:?}\n", w.name, w.seed, w.touch);
    for op in &w.ops {
        let _ = match op {
            Op::Malloc { id, size } => writeln!(out, "m {id} {size}"),
            Op::Free { id } => writeln!(out, "f {id}"),
            Op::Realloc { id, size } => writeln!(out, "r {id} {size}"),
            Op::Touch {
                id,
                offset,
                len,
                write,
            } => writeln!(out, "t {id} {offset} {len} {write}"),
            Op::Trim { pad } => writeln!(out, "x {pad}"),
            Op::Phase { name } => writeln!(out, "p {name}"),
        };
    }
    for (id, class) in &w.lifetimes {
        let _ = writeln!(out, "l {id} {class}");
    }
    out
}

#[test]
fn default_churn_for_seed_1_is_unchanged() {
    let w = generate("churn", 1, None).unwrap();
    assert_eq!(
        w.ops[..6],
        [
            Op::Phase {
                name: "warm-up".to_string()
            },
            Op::Malloc { id: 0, size: 51 },
            Op::Malloc { id: 1, size: 27 },
            Op::Malloc { id: 2, size: 60 },
            Op::Malloc { id: 3, size: 202 },
            Op::Malloc { id: 4, size: 23 },
        ]
    );
    assert_eq!(w.ops.len(), 40_003);
    // Every 100th op of the 40,003 (the whole stream would be a 400 KB file), and the
    // totals, so that any change of the stream shows where it starts.
    let canon = canonical(&w);
    let mut pinned: String = canon
        .lines()
        .enumerate()
        .filter(|(i, _)| i % 100 == 0)
        .map(|(i, l)| format!("{i:>6} {l}\n"))
        .collect();
    let bytes: u64 = w
        .ops
        .iter()
        .map(|o| match o {
            Op::Malloc { size, .. } | Op::Realloc { size, .. } => *size,
            _ => 0,
        })
        .sum();
    let _ = writeln!(pinned, "ops {} bytes requested {bytes}", w.ops.len());
    snapshot("churn-default-seed1", &pinned);
}

#[test]
fn every_generator_for_seed_1_is_unchanged() {
    for g in workload::GENERATORS {
        let w = generate(g.name, 1, Some(2_000)).unwrap();
        snapshot(&format!("{}-2000-seed1", g.name), &canonical(&w));
    }
}
