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

/// FNV-1a, 64-bit: a tiny, fixed hash for pinning a text.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
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
    assert_eq!(fnv1a(canonical(&w).as_bytes()), 5_740_889_630_638_175_567);
}

#[test]
fn every_generator_for_seed_1_is_unchanged() {
    let hashes: Vec<(&str, u64)> = workload::GENERATORS
        .iter()
        .map(|g| {
            let w = generate(g.name, 1, Some(2_000)).unwrap();
            (g.name, fnv1a(canonical(&w).as_bytes()))
        })
        .collect();
    assert_eq!(
        hashes,
        [
            ("churn", 3_554_741_731_746_744_149),
            ("ramp", 3_918_662_208_080_057_147),
            ("sawtooth", 17_899_499_668_499_500_140),
            ("swiss-cheese", 1_698_976_736_355_647_402),
            ("large", 14_530_508_113_341_446_554),
            ("realloc-growth", 7_124_106_878_598_852_241),
            ("lifetimes", 11_231_740_465_114_654_969),
        ]
    );
}
