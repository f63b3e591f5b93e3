//! Seeded workload generators: synthetic programs with a known shape.
//!
//! Each generator imitates one behaviour of real programs that matters for memory
//! (a server in steady state, a program that builds and drops a big structure, a
//! growing buffer, ...) and is named after it. [`GENERATORS`] lists them, [`generate`]
//! runs one by name with its defaults, and each has a params struct (serde, every field
//! defaulted) for finer control: [`ChurnParams`], [`RampParams`], [`SawtoothParams`],
//! [`SwissCheeseParams`], [`LargeParams`], [`ReallocGrowthParams`], [`LifetimesParams`],
//! gathered in [`GeneratorParams`].
//!
//! # What every generator promises
//! - **Seeded.** All randomness comes from `ChaCha8Rng::seed_from_u64(seed)` through
//!   integer arithmetic: the same name, parameters and seed give the same ops on any
//!   machine.
//! - **Exact size.** `ops` is the number of allocator calls (malloc, free, realloc);
//!   the stream has exactly that many. Phase markers, trims and touches come on top.
//! - **Valid.** The stream passes [`crate::validate`]; every block is freed by the end
//!   (a final `drain` phase), except when `ops` is so small that one block must stay.
//! - **Fresh ids.** Ids count up from 0 and are never reused, as in the real traces.
//! - **Phases.** `Op::Phase` markers name the stages of the program (`warm-up`,
//!   `grow`, `free-every-other`, `drain`, ...) so figures can label them.
//! - **Touch everything.** Generated workloads use [`crate::TouchPolicy::WriteAll`]
//!   unless a parameter says otherwise (`large` can touch only part of each block).

mod churn;
mod large;
mod lifetimes;
mod ramp;
mod realloc_growth;
mod sawtooth;
mod swiss_cheese;

pub use churn::ChurnParams;
pub use large::LargeParams;
pub use lifetimes::{LONG, LifetimesParams, REQUEST, SHORT};
pub use ramp::{FreeOrder, RampParams};
pub use realloc_growth::ReallocGrowthParams;
pub use sawtooth::SawtoothParams;
pub use swiss_cheese::SwissCheeseParams;

use crate::op::{BlockId, MAX_SIZE, Op, TouchPolicy, Workload};
use crate::rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The most allocator calls a generator will produce: ten million ops take about
/// 320 MB as a `Vec<Op>` (32 bytes an op), far beyond any experiment in the book, and a mistyped
/// `--ops` should be an error, not an out-of-memory abort.
pub const MAX_OPS: u64 = 10_000_000;

/// One line about a generator, for listings such as `sim list`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct GeneratorInfo {
    /// The name [`generate`] takes.
    pub name: &'static str,
    /// What it imitates, in one line.
    pub summary: &'static str,
    /// Allocator calls it makes when `ops` is not given.
    pub default_ops: u64,
    /// Numbers of the claims in the book's fact-check chapter (CLAIMS.md) it helps decide.
    pub claims: &'static [u32],
}

/// Every generator, in the order listings show them.
pub const GENERATORS: &[GeneratorInfo] = &[
    GeneratorInfo {
        name: "churn",
        summary: "steady state of a long-running program: random small mallocs and frees around a fixed live size",
        default_ops: ChurnParams::DEFAULT_OPS,
        claims: &[4, 6, 7, 12],
    },
    GeneratorInfo {
        name: "ramp",
        summary: "build a big structure, keep one small late block, free the rest: the live block at the top pins the heap",
        default_ops: RampParams::DEFAULT_OPS,
        claims: &[9],
    },
    GeneratorInfo {
        name: "sawtooth",
        summary: "batch cycles: the working set climbs and falls back, leaving a few survivors each time",
        default_ops: SawtoothParams::DEFAULT_OPS,
        claims: &[8, 9, 10],
    },
    GeneratorInfo {
        name: "swiss-cheese",
        summary: "fill the heap, free every other block, then ask for blocks bigger than any hole",
        default_ops: SwissCheeseParams::DEFAULT_OPS,
        claims: &[9],
    },
    GeneratorInfo {
        name: "large",
        summary: "small objects mixed with buffers of 64 KiB to 4 MiB around glibc's mmap threshold",
        default_ops: LargeParams::DEFAULT_OPS,
        claims: &[1, 5, 6, 8],
    },
    GeneratorInfo {
        name: "realloc-growth",
        summary: "growing arrays and strings: buffers realloc'd by a growth factor among small allocations",
        default_ops: ReallocGrowthParams::DEFAULT_OPS,
        claims: &[1, 5],
    },
    GeneratorInfo {
        name: "lifetimes",
        summary: "request handling: short-, request- and program-lifetime objects interleaved, with lifetime hints",
        default_ops: LifetimesParams::DEFAULT_OPS,
        claims: &[11],
    },
];

/// The entry of [`GENERATORS`] named `name`, if any.
pub fn generator_info(name: &str) -> Option<&'static GeneratorInfo> {
    GENERATORS.iter().find(|g| g.name == name)
}

/// Runs generator `name` with its default parameters, `seed`, and `ops` allocator calls
/// (its default when `None`).
///
/// ```
/// let w = workload::generate("ramp", 7, Some(1000)).unwrap();
/// assert_eq!(w.allocator_calls(), 1000);
/// assert_eq!(w, workload::generate("ramp", 7, Some(1000)).unwrap());
/// ```
pub fn generate(name: &str, seed: u64, ops: Option<u64>) -> Result<Workload, GenError> {
    let mut params = GeneratorParams::defaults(name)?;
    if let Some(ops) = ops {
        params.set_ops(ops);
    }
    params.generate(seed)
}

/// The parameters of any generator, tagged by its name: what a JSON experiment file
/// or a `--params` option deserializes, e.g.
/// `{"generator": "churn", "ops": 10000, "live_blocks": 500}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "generator", rename_all = "kebab-case")]
pub enum GeneratorParams {
    /// `churn`.
    Churn(ChurnParams),
    /// `ramp`.
    Ramp(RampParams),
    /// `sawtooth`.
    Sawtooth(SawtoothParams),
    /// `swiss-cheese`.
    SwissCheese(SwissCheeseParams),
    /// `large`.
    Large(LargeParams),
    /// `realloc-growth`.
    ReallocGrowth(ReallocGrowthParams),
    /// `lifetimes`.
    Lifetimes(LifetimesParams),
}

impl GeneratorParams {
    /// The default parameters of generator `name`.
    pub fn defaults(name: &str) -> Result<GeneratorParams, GenError> {
        Ok(match name {
            "churn" => GeneratorParams::Churn(ChurnParams::default()),
            "ramp" => GeneratorParams::Ramp(RampParams::default()),
            "sawtooth" => GeneratorParams::Sawtooth(SawtoothParams::default()),
            "swiss-cheese" => GeneratorParams::SwissCheese(SwissCheeseParams::default()),
            "large" => GeneratorParams::Large(LargeParams::default()),
            "realloc-growth" => GeneratorParams::ReallocGrowth(ReallocGrowthParams::default()),
            "lifetimes" => GeneratorParams::Lifetimes(LifetimesParams::default()),
            _ => {
                return Err(GenError::UnknownGenerator {
                    name: name.to_string(),
                });
            }
        })
    }

    /// The generator's name, as in [`GENERATORS`].
    pub fn name(&self) -> &'static str {
        match self {
            GeneratorParams::Churn(_) => "churn",
            GeneratorParams::Ramp(_) => "ramp",
            GeneratorParams::Sawtooth(_) => "sawtooth",
            GeneratorParams::SwissCheese(_) => "swiss-cheese",
            GeneratorParams::Large(_) => "large",
            GeneratorParams::ReallocGrowth(_) => "realloc-growth",
            GeneratorParams::Lifetimes(_) => "lifetimes",
        }
    }

    /// The number of allocator calls these parameters ask for.
    pub fn ops(&self) -> u64 {
        match self {
            GeneratorParams::Churn(p) => p.ops,
            GeneratorParams::Ramp(p) => p.ops,
            GeneratorParams::Sawtooth(p) => p.ops,
            GeneratorParams::SwissCheese(p) => p.ops,
            GeneratorParams::Large(p) => p.ops,
            GeneratorParams::ReallocGrowth(p) => p.ops,
            GeneratorParams::Lifetimes(p) => p.ops,
        }
    }

    /// Sets the number of allocator calls.
    pub fn set_ops(&mut self, ops: u64) {
        match self {
            GeneratorParams::Churn(p) => p.ops = ops,
            GeneratorParams::Ramp(p) => p.ops = ops,
            GeneratorParams::Sawtooth(p) => p.ops = ops,
            GeneratorParams::SwissCheese(p) => p.ops = ops,
            GeneratorParams::Large(p) => p.ops = ops,
            GeneratorParams::ReallocGrowth(p) => p.ops = ops,
            GeneratorParams::Lifetimes(p) => p.ops = ops,
        }
    }

    /// Runs the generator with these parameters and `seed`.
    pub fn generate(&self, seed: u64) -> Result<Workload, GenError> {
        match self {
            GeneratorParams::Churn(p) => p.generate(seed),
            GeneratorParams::Ramp(p) => p.generate(seed),
            GeneratorParams::Sawtooth(p) => p.generate(seed),
            GeneratorParams::SwissCheese(p) => p.generate(seed),
            GeneratorParams::Large(p) => p.generate(seed),
            GeneratorParams::ReallocGrowth(p) => p.generate(seed),
            GeneratorParams::Lifetimes(p) => p.generate(seed),
        }
    }
}

/// Why a generator could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenError {
    /// No generator has this name.
    UnknownGenerator {
        /// The name asked for.
        name: String,
    },
    /// `ops` is below what the generator's shape needs.
    TooFewOps {
        /// The generator.
        generator: &'static str,
        /// The ops asked for.
        ops: u64,
        /// The smallest accepted value.
        min: u64,
    },
    /// `ops` is above [`MAX_OPS`].
    TooManyOps {
        /// The generator.
        generator: &'static str,
        /// The ops asked for.
        ops: u64,
    },
    /// A parameter is out of range.
    BadParam {
        /// The generator.
        generator: &'static str,
        /// The parameter's name, as in the params struct and its JSON.
        param: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::UnknownGenerator { name } => {
                write!(f, "unknown generator `{name}`; known generators: ")?;
                for (i, g) in GENERATORS.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(g.name)?;
                }
                Ok(())
            }
            GenError::TooFewOps {
                generator,
                ops,
                min,
            } => write!(
                f,
                "{generator}: {ops} ops is too few; it needs at least {min}"
            ),
            GenError::TooManyOps { generator, ops } => write!(
                f,
                "{generator}: {ops} ops is too many; generators stop at {MAX_OPS}"
            ),
            GenError::BadParam {
                generator,
                param,
                message,
            } => write!(f, "{generator}: parameter `{param}`: {message}"),
        }
    }
}

impl std::error::Error for GenError {}

/// Checks `ops` against a generator's minimum and [`MAX_OPS`].
pub(crate) fn check_ops(generator: &'static str, ops: u64, min: u64) -> Result<(), GenError> {
    if ops < min {
        Err(GenError::TooFewOps {
            generator,
            ops,
            min,
        })
    } else if ops > MAX_OPS {
        Err(GenError::TooManyOps { generator, ops })
    } else {
        Ok(())
    }
}

/// A `BadParam` error unless `ok`.
pub(crate) fn require(
    ok: bool,
    generator: &'static str,
    param: &'static str,
    message: impl FnOnce() -> String,
) -> Result<(), GenError> {
    if ok {
        Ok(())
    } else {
        Err(GenError::BadParam {
            generator,
            param,
            message: message(),
        })
    }
}

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

/// Live blocks of one kind, for picking one at random.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pool {
    blocks: Vec<(BlockId, u64)>,
}

impl Pool {
    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub(crate) fn push(&mut self, id: BlockId, size: u64) {
        self.blocks.push((id, size));
    }

    /// Removes and returns a random block (swap-remove: O(1), order deterministic).
    pub(crate) fn take_random(&mut self, rng: &mut ChaCha8Rng) -> Option<(BlockId, u64)> {
        if self.blocks.is_empty() {
            return None;
        }
        let i = rng::below(rng, self.blocks.len() as u64) as usize;
        Some(self.blocks.swap_remove(i))
    }

    /// A random block, left in the pool; the caller may change its size.
    pub(crate) fn pick_random(&mut self, rng: &mut ChaCha8Rng) -> Option<&mut (BlockId, u64)> {
        if self.blocks.is_empty() {
            return None;
        }
        let i = rng::below(rng, self.blocks.len() as u64) as usize;
        self.blocks.get_mut(i)
    }

    /// Removes every block, oldest first.
    pub(crate) fn take_all(&mut self) -> Vec<(BlockId, u64)> {
        std::mem::take(&mut self.blocks)
    }
}

/// Builds an op stream with an exact budget of allocator calls.
///
/// The budget rule: at any time `slack = budget - emitted - live` is the number of
/// calls left over after one `free` per live block. A malloc costs 2 of it (itself and
/// its eventual free), a realloc 1, a free 0. A generator mallocs only while
/// `slack >= 2`, reallocs only while `slack >= 1`, and when slack reaches 0 it drains:
/// the stream then ends with every block freed and exactly `budget` calls.
pub(crate) struct Builder {
    pub(crate) rng: ChaCha8Rng,
    workload: Workload,
    budget: u64,
    emitted: u64,
    live: u64,
    next_id: BlockId,
    /// Percent of each block's bytes written by explicit touches, when below 100.
    touch_percent: u64,
    /// Lifetime hint for a block that [`Builder::settle`] leaves live to the end.
    pub(crate) leftover_lifetime: Option<u8>,
}

impl Builder {
    pub(crate) fn new(name: &str, seed: u64, budget: u64) -> Builder {
        let mut workload = Workload::new(name);
        workload.seed = Some(seed);
        // Reserve for the calls plus a few markers; the budget was checked against
        // MAX_OPS before.
        workload.ops.reserve(budget as usize + 16);
        Builder {
            rng: rng::seeded(seed),
            workload,
            budget,
            emitted: 0,
            live: 0,
            next_id: 0,
            touch_percent: 100,
            leftover_lifetime: None,
        }
    }

    /// Writes only `percent` of each block (from its start) with explicit touches,
    /// instead of every byte; `percent >= 100` keeps [`TouchPolicy::WriteAll`].
    pub(crate) fn touch_only(&mut self, percent: u64) {
        if percent < 100 {
            self.touch_percent = percent;
            self.workload.touch = TouchPolicy::None;
        }
    }

    pub(crate) fn slack(&self) -> u64 {
        self.budget.saturating_sub(self.emitted + self.live)
    }

    pub(crate) fn phase(&mut self, name: &str) {
        self.workload.ops.push(Op::Phase {
            name: name.to_string(),
        });
    }

    pub(crate) fn trim(&mut self, pad: u64) {
        self.workload.ops.push(Op::Trim { pad });
    }

    /// Mallocs a fresh id. Callers keep `slack() >= 2`.
    pub(crate) fn malloc(&mut self, size: u64) -> BlockId {
        debug_assert!(self.slack() >= 2);
        self.live += 1;
        self.malloc_unfreed(size)
    }

    /// Mallocs a fresh id that will never be freed: it costs one call, not two.
    fn malloc_unfreed(&mut self, size: u64) -> BlockId {
        let id = self.next_id;
        self.next_id += 1;
        self.workload.ops.push(Op::Malloc { id, size });
        self.emitted += 1;
        self.touch_range(id, 0, size);
        id
    }

    /// Mallocs a block with a lifetime hint.
    pub(crate) fn malloc_with_lifetime(&mut self, size: u64, class: u8) -> BlockId {
        let id = self.malloc(size);
        self.workload.lifetimes.insert(id, class);
        id
    }

    pub(crate) fn free(&mut self, id: BlockId) {
        debug_assert!(self.live > 0);
        self.workload.ops.push(Op::Free { id });
        self.emitted += 1;
        self.live = self.live.saturating_sub(1);
    }

    /// Reallocs `id` from `old` to `new` bytes. Callers keep `slack() >= 1`.
    pub(crate) fn realloc(&mut self, id: BlockId, old: u64, new: u64) {
        debug_assert!(self.slack() >= 1);
        self.workload.ops.push(Op::Realloc { id, size: new });
        self.emitted += 1;
        if new > old {
            self.touch_range(id, old, new);
        }
    }

    /// With partial touching on, writes the first `touch_percent` of `start..end`.
    fn touch_range(&mut self, id: BlockId, start: u64, end: u64) {
        if self.workload.touch == TouchPolicy::None {
            let len = (end - start) * self.touch_percent / 100;
            if len > 0 {
                self.workload.ops.push(Op::Touch {
                    id,
                    offset: start,
                    len,
                    write: true,
                });
            }
        }
    }

    /// Spends the remaining slack: mallocs into `pool` while it is at least 2, then an
    /// odd last unit on the realloc of a random block of `pool` (to a size from
    /// `sizes`), or, when `pool` is empty, on one malloc that is never freed.
    pub(crate) fn settle(&mut self, pool: &mut Pool, sizes: &SizeDist) {
        while self.slack() > 0 {
            if self.slack() >= 2 {
                let size = sizes.sample(&mut self.rng);
                let id = self.malloc(size);
                pool.push(id, size);
            } else if let Some(block) = pool.pick_random(&mut self.rng) {
                let (id, old) = *block;
                let new = sizes.sample(&mut self.rng);
                block.1 = new;
                self.realloc(id, old, new);
            } else {
                // The pool is empty and one call is left: a malloc the program never
                // frees (real programs leave blocks live at exit). Being never freed,
                // it costs one call, which is exactly what is left.
                let size = sizes.sample(&mut self.rng);
                let id = self.malloc_unfreed(size);
                if let Some(class) = self.leftover_lifetime {
                    self.workload.lifetimes.insert(id, class);
                }
            }
        }
    }

    /// Frees every block of `pool` in a random order.
    pub(crate) fn drain_random(&mut self, pool: &mut Pool) {
        while let Some((id, _)) = pool.take_random(&mut self.rng) {
            self.free(id);
        }
    }

    pub(crate) fn finish(self) -> Workload {
        debug_assert_eq!(self.emitted, self.budget);
        self.workload
    }
}
