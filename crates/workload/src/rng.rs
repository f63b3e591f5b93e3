//! Integer-only random choices on top of ChaCha8.
//!
//! Every generator draws from one `rand_chacha::ChaCha8Rng` seeded with
//! `seed_from_u64(seed)`. The functions here turn its raw `u64` words into choices with
//! integer arithmetic only, so the op stream depends on nothing but the ChaCha8 stream:
//! not on floating-point rounding, and not on how a `rand` release implements its
//! distributions (which has changed between versions). Same seed, same ops, on every
//! machine and with every compiler.

use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator's random source for `seed`.
pub(crate) fn seeded(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A number in `0..n` (`n > 0`; returns 0 for `n == 0`).
///
/// Multiplies a random 64-bit word by `n` and keeps the high 64 bits of the 128-bit
/// product (Lemire's method without the rejection step). The bias this leaves is below
/// `n / 2^64`, invisible for any `n` a workload uses, and every call consumes exactly
/// one word, which keeps streams easy to reason about.
pub(crate) fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// A number in `lo..=hi` (`lo <= hi`).
pub(crate) fn between(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    debug_assert!(lo <= hi);
    match (hi - lo).checked_add(1) {
        Some(span) => lo + below(rng, span),
        // The whole u64 range: any word will do.
        None => rng.next_u64(),
    }
}

/// True with probability `permille / 1000`.
pub(crate) fn chance(rng: &mut ChaCha8Rng, permille: u32) -> bool {
    below(rng, 1000) < u64::from(permille)
}
