//! Random programs for [`malloc::contract`]: the proptest strategies every family's
//! property tests share. A test crate includes this file as a module (the `mmap` and
//! `engine` crates with `#[path = "../../malloc/tests/strategies/mod.rs"]`), so the
//! public contract module itself needs no proptest.
//!
//! A program is a `Vec<Op>`: mallocs of sizes from a given distribution (with lifetime
//! hints when asked), frees, reallocs and writes of live blocks picked by index, trims,
//! and frees and reallocs of pointers that are not live (a live pointer moved by a few
//! bytes, a pointer freed before, a small raw value).

#![allow(dead_code)]

use malloc::contract::{Bad, Op, Violation};
use proptest::prelude::*;

/// Cases per property: 64, or 2048 with `BRKMAP_LONG=1`.
pub fn cases() -> u32 {
    match std::env::var("BRKMAP_LONG") {
        Ok(v) if !v.is_empty() && v != "0" => 2048,
        _ => 64,
    }
}

/// Sizes of a heap allocator's life: mostly small, a few above glibc's mmap threshold.
pub fn heap_sizes() -> BoxedStrategy<u64> {
    prop_oneof![
        8 => 0u64..256,
        4 => 256u64..4096,
        2 => 4096u64..40_000,
        1 => 40_000u64..300_000,
    ]
    .boxed()
}

/// Sizes for allocators that map blocks: up to a few MiB.
pub fn mapped_sizes() -> BoxedStrategy<u64> {
    prop_oneof![
        6 => 0u64..512,
        3 => 512u64..20_000,
        1 => 20_000u64..(3 << 20),
    ]
    .boxed()
}

/// Sizes that also reach the absurd (2^62, 2^63, `u64::MAX`): nothing may panic.
pub fn any_sizes() -> BoxedStrategy<u64> {
    prop_oneof![
        6 => 0u64..2048,
        3 => 2048u64..300_000,
        1 => 300_000u64..(4 << 20),
        1 => prop_oneof![Just(1u64 << 62), Just(i64::MAX as u64), Just(1u64 << 63), Just(u64::MAX)],
    ]
    .boxed()
}

/// A pointer that is not live.
pub fn bad() -> impl Strategy<Value = Bad> {
    prop_oneof![
        3 => (any::<usize>(), 1u64..5000).prop_map(|(pick, delta)| Bad::After { pick, delta }),
        1 => (any::<usize>(), 1u64..100).prop_map(|(pick, delta)| Bad::Before { pick, delta }),
        2 => any::<usize>().prop_map(|pick| Bad::Freed { pick }),
        1 => (0u64..0x10_0000).prop_map(Bad::Raw),
    ]
}

/// One step: sizes from `sizes`, lifetime hints 0..4 when `hints`.
pub fn op(sizes: BoxedStrategy<u64>, hints: bool) -> impl Strategy<Value = Op> {
    let lifetime = if hints {
        (0u8..4).prop_map(Some).boxed()
    } else {
        Just(None).boxed()
    };
    prop_oneof![
        10 => (sizes.clone(), lifetime).prop_map(|(size, lifetime)| Op::Malloc { size, lifetime }),
        6 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        3 => (any::<usize>(), sizes.clone()).prop_map(|(pick, size)| Op::Realloc { pick, size }),
        2 => any::<usize>().prop_map(|pick| Op::Write { pick }),
        1 => bad().prop_map(Op::FreeBad),
        1 => (bad(), sizes).prop_map(|(b, size)| Op::ReallocBad(b, size)),
        1 => prop_oneof![Just(0u64), 0u64..20_000].prop_map(|pad| Op::Trim { pad }),
    ]
}

/// A program of 1 to `max_len` steps.
pub fn program(
    sizes: BoxedStrategy<u64>,
    hints: bool,
    max_len: usize,
) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(sizes, hints), 1..max_len)
}

/// A violation as a proptest failure (its message is the whole report).
pub fn fail(v: Violation) -> TestCaseError {
    TestCaseError::fail(v.to_string())
}
