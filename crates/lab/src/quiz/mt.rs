//! The Mersenne Twister (MT19937), seeded the way CPython's `random.seed(int)` seeds it.
//!
//! OSTEP's simulators draw their random operations from Python's `random` module, so
//! reproducing one of them byte for byte means reproducing Python's generator. That
//! generator is MT19937 (Matsumoto and Nishimura, 1998): a state of 624 32-bit words,
//! refilled 624 words at a time by a linear recurrence over GF(2) (the "twist"), and a
//! *tempering* of each word on its way out that spreads its bits.
//!
//! CPython seeds it from an integer in two steps, both part of the reference
//! implementation:
//! 1. `init_genrand(19650218)` fills the state from one constant word;
//! 2. `init_by_array(key)` mixes a key of 32-bit words into it, where the key is the
//!    absolute value of the seed cut into 32-bit words, least significant first (seed 0
//!    is the one-word key `[0]`). So `random.seed(-5)` and `random.seed(5)` agree, and
//!    seeds of any size work.
//!
//! `random.random()` makes a double in [0, 1) from two outputs: the top 27 bits of the
//! first and the top 26 of the second give a 53-bit integer, divided by 2^53, so every
//! result is exact and the same on every machine.
//!
//! The quizzes also use this generator for their own questions, so that a seed means
//! the same thing in every quiz (and a student could replay a seed in Python).

/// Words of state.
const N: usize = 624;
/// The middle word of the recurrence.
const M: usize = 397;
/// The twist matrix's last row.
const MATRIX_A: u32 = 0x9908_b0df;
/// The most significant bit of a word.
const UPPER_MASK: u32 = 0x8000_0000;
/// The other 31 bits.
const LOWER_MASK: u32 = 0x7fff_ffff;

/// A Mersenne Twister generator with CPython's seeding.
#[derive(Clone, Debug)]
pub struct Mt19937 {
    state: [u32; N],
    /// Next word of `state` to hand out; `N` means "twist first".
    index: usize,
}

impl Mt19937 {
    /// The generator `random.seed(seed)` makes in Python, for a seed that fits in 64 bits.
    pub fn from_seed(seed: i128) -> Mt19937 {
        let mut n = seed.unsigned_abs();
        let mut key = Vec::new();
        while n > 0 {
            key.push(n as u32);
            n >>= 32;
        }
        Mt19937::from_key(&key)
    }

    /// The generator `random.seed(n)` makes for a non-negative integer `n` given as its
    /// 32-bit words, least significant first (any length; an empty key means 0).
    pub fn from_key(key: &[u32]) -> Mt19937 {
        let mut mt = Mt19937::from_word(19_650_218);
        let key: &[u32] = if key.is_empty() { &[0] } else { key };
        let s = &mut mt.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = s[i - 1] ^ (s[i - 1] >> 30);
            s[i] = (s[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                s[0] = s[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = s[i - 1] ^ (s[i - 1] >> 30);
            s[i] = (s[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                s[0] = s[N - 1];
                i = 1;
            }
        }
        // The first word only contributes its top bit to the recurrence: make it
        // non-zero so the state can never be all zeros.
        s[0] = 0x8000_0000;
        mt
    }

    /// The reference `init_genrand(s)`: the state from one word by a multiplicative
    /// recurrence (Knuth's multiplier 1812433253).
    fn from_word(seed: u32) -> Mt19937 {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1] ^ (state[i - 1] >> 30);
            state[i] = 1_812_433_253u32.wrapping_mul(prev).wrapping_add(i as u32);
        }
        Mt19937 { state, index: N }
    }

    /// Regenerates all 624 words: each new word combines the top bit of one word, the
    /// low 31 bits of the next, and the word `M` places further on.
    fn twist(&mut self) {
        let s = &mut self.state;
        for k in 0..N {
            let y = (s[k] & UPPER_MASK) | (s[(k + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            s[k] = s[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// The next 32-bit output (`genrand_uint32`, Python's `getrandbits(32)`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        // Tempering: an invertible mix that improves the equidistribution of the bits.
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// Python's `random.random()`: a double in [0, 1) with 53 random bits.
    pub fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64; // 27 bits
        let b = (self.next_u32() >> 6) as f64; // 26 bits
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// A whole number in `0..n` (0 when `n` is 0), as `int(random.random() * n)` gives
    /// it in Python: the quizzes' way of picking one of `n` things.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.random() * n as f64) as u64).min(n.saturating_sub(1))
    }

    /// One element of `items`, chosen with [`Mt19937::below`].
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_outputs_of_init_by_array() {
        // mt19937ar.c's own test vector: init_by_array({0x123, 0x234, 0x345, 0x456}),
        // whose first outputs the reference distribution lists in mt19937ar.out.
        let mut mt = Mt19937::from_key(&[0x123, 0x234, 0x345, 0x456]);
        let first: Vec<u32> = (0..5).map(|_| mt.next_u32()).collect();
        assert_eq!(
            first,
            [1067595299, 955945823, 477289528, 4107218783, 4228976476]
        );
    }

    #[test]
    fn negative_seeds_seed_like_their_absolute_value() {
        let a: Vec<u32> = {
            let mut m = Mt19937::from_seed(-12345);
            (0..4).map(|_| m.next_u32()).collect()
        };
        let mut m = Mt19937::from_seed(12345);
        let b: Vec<u32> = (0..4).map(|_| m.next_u32()).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn random_stays_in_the_unit_interval_and_below_stays_below() {
        let mut m = Mt19937::from_seed(7);
        for n in 1..2000u64 {
            let r = m.random();
            assert!((0.0..1.0).contains(&r));
            assert!(m.below(n) < n);
        }
        assert_eq!(m.below(0), 0);
    }
}
