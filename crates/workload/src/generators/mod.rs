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
//!
//! # Where to read on
//! Each generator has a file of its own (`churn.rs`, `ramp.rs`, ...). What they share:
//! `sizes.rs` (the size distributions, [`SizeDist`]) and `builder.rs` (the stream
//! builder that keeps the exact call budget, and the pools of live blocks). This file
//! lists the generators, runs them by name and says why one could not run
//! ([`GenError`]).

mod builder;
mod churn;
mod large;
mod lifetimes;
mod params;
mod ramp;
mod realloc_growth;
mod sawtooth;
mod sizes;
mod swiss_cheese;

pub(crate) use builder::{Builder, Pool};
pub use churn::ChurnParams;
pub use large::LargeParams;
pub use lifetimes::{LONG, LifetimesParams, REQUEST, SHORT};
pub use ramp::{FreeOrder, RampParams};
pub use realloc_growth::ReallocGrowthParams;
pub use sawtooth::SawtoothParams;
pub use sizes::{SizeBucket, SizeDist};
pub use swiss_cheese::SwissCheeseParams;

use crate::op::Workload;
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
    /// A parameter name the generator does not have.
    UnknownParam {
        /// The generator.
        generator: &'static str,
        /// The name given.
        param: String,
        /// The parameters it has.
        known: Vec<String>,
    },
    /// A parameter value that is not of the parameter's type.
    BadValue {
        /// The generator.
        generator: &'static str,
        /// The parameter.
        param: String,
        /// The text given.
        value: String,
        /// What the parameter takes.
        expected: String,
    },
    /// A parameter value the generator rejects.
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
            GenError::UnknownParam {
                generator,
                param,
                known,
            } => write!(
                f,
                "{generator} has no parameter `{param}` (its parameters: {})",
                known.join(", ")
            ),
            GenError::BadValue {
                generator,
                param,
                value,
                expected,
            } => write!(
                f,
                "{generator}: parameter `{param}`: `{value}` is not {expected}"
            ),
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
