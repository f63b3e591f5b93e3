//! Request sizes: weighted ranges, log-uniform inside each.
//!
//! Programs ask for many small blocks and few big ones, so a generator draws sizes
//! from a [`SizeDist`]: a few weighted ranges ([`SizeBucket`]), each sampled
//! log-uniformly (every octave of a range equally likely per unit of log size), with
//! integer arithmetic only, so the same seed gives the same sizes everywhere.

use super::{GenError, require};
use crate::op::MAX_SIZE;
use crate::rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One range of a [`SizeDist`]: sizes `min..=max`, chosen with relative `weight`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeBucket {
    /// Relative weight of this range among the distribution's ranges.
    pub weight: u32,
    /// Smallest size (at least 1).
    pub min: u64,
    /// Largest size (at most 2^48).
    pub max: u64,
}

/// A distribution of request sizes: weighted ranges, each log-uniform inside.
///
/// Inside a range, sizes are *log-uniform*: a size between 32 and 64 is as likely as
/// one between 64 and 128. That matches how programs ask for memory (many small
/// structs and strings, fewer and fewer big buffers) far better than a flat range,
/// where a 16..4096 range would give mostly kilobyte requests. The log-uniform draw
/// is done without floating point: pick a power-of-two octave with a weight
/// proportional to the share of the range it covers divided by its width, then a
/// uniform size inside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SizeDist {
    /// The ranges.
    pub buckets: Vec<SizeBucket>,
}

impl Default for SizeDist {
    fn default() -> Self {
        SizeDist::small_objects()
    }
}

impl SizeDist {
    /// The mix of a typical C program (strings, list and tree nodes, small arrays),
    /// shaped after the real traces in `../shared/traces` (`ls`, `find`, `make`): 93 %
    /// of requests are 16–512 bytes, 5 % are up to 4 KiB, and a 2 % tail reaches
    /// 64 KiB. Mean about 640 bytes; nothing reaches glibc's 128 KiB mmap threshold.
    ///
    /// | weight | sizes |
    /// | --- | --- |
    /// | 25 | 16–32 |
    /// | 40 | 33–128 |
    /// | 28 | 129–512 |
    /// | 5 | 513–4096 |
    /// | 2 | 4097–65536 |
    pub fn small_objects() -> SizeDist {
        SizeDist {
            buckets: vec![
                SizeBucket {
                    weight: 25,
                    min: 16,
                    max: 32,
                },
                SizeBucket {
                    weight: 40,
                    min: 33,
                    max: 128,
                },
                SizeBucket {
                    weight: 28,
                    min: 129,
                    max: 512,
                },
                SizeBucket {
                    weight: 5,
                    min: 513,
                    max: 4096,
                },
                SizeBucket {
                    weight: 2,
                    min: 4097,
                    max: 65536,
                },
            ],
        }
    }

    /// One log-uniform range `min..=max`.
    pub fn log_uniform(min: u64, max: u64) -> SizeDist {
        SizeDist {
            buckets: vec![SizeBucket {
                weight: 1,
                min,
                max,
            }],
        }
    }

    /// Checks the distribution for generator `generator`'s parameter `param`.
    pub(crate) fn check(
        &self,
        generator: &'static str,
        param: &'static str,
    ) -> Result<(), GenError> {
        require(!self.buckets.is_empty(), generator, param, || {
            "needs at least one size range".to_string()
        })?;
        for b in &self.buckets {
            require(
                1 <= b.min && b.min <= b.max && b.max <= MAX_SIZE,
                generator,
                param,
                || {
                    format!(
                        "range {}..={} must have 1 <= min <= max <= 2^48",
                        b.min, b.max
                    )
                },
            )?;
        }
        require(
            self.buckets.iter().any(|b| b.weight > 0),
            generator,
            param,
            || "at least one range needs a weight above 0".to_string(),
        )
    }

    /// The largest size the distribution can produce.
    pub fn max(&self) -> u64 {
        self.buckets.iter().map(|b| b.max).max().unwrap_or(0)
    }

    /// Draws a size. The distribution must have passed `check`.
    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng) -> u64 {
        let total: u64 = self.buckets.iter().map(|b| u64::from(b.weight)).sum();
        let mut r = rng::below(rng, total);
        let bucket = self.buckets.iter().find(|b| {
            let w = u64::from(b.weight);
            if r < w {
                true
            } else {
                r -= w;
                false
            }
        });
        // `r < total` always finds a bucket; a checked distribution is never empty.
        match bucket {
            Some(b) => log_uniform_in(rng, b.min, b.max),
            None => self.buckets.first().map_or(1, |b| b.min),
        }
    }
}

/// A size in `lo..=hi` (`1 <= lo <= hi <= 2^48`), log-uniform by octave.
///
/// Octave `e` holds sizes `2^e ..= 2^(e+1) - 1`. A log-uniform density `1/x` gives the
/// part of the range inside octave `e` a probability proportional to
/// `(sizes covered) / 2^e`; multiplying every weight by `2^(last - e)` keeps them
/// integers. Each weight is then at most `2^last <= 2^48` and there are at most 49
/// octaves, so the sum fits a `u64` easily. Then a uniform size within the chosen
/// octave's part.
fn log_uniform_in(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    let first = lo.ilog2();
    let last = hi.ilog2();
    let part = |e: u32| {
        let a = lo.max(1u64 << e);
        let b = hi.min((1u64 << e).saturating_mul(2) - 1);
        (a, b)
    };
    let weight = |e: u32| {
        let (a, b) = part(e);
        (b - a + 1) << (last - e)
    };
    let total: u64 = (first..=last).map(weight).sum();
    let mut r = rng::below(rng, total);
    for e in first..=last {
        let w = weight(e);
        if r < w {
            let (a, b) = part(e);
            return rng::between(rng, a, b);
        }
        r -= w;
    }
    hi
}
