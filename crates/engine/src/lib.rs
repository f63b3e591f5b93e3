//! The engine: workload x allocator x kernel, sampled into metrics.
//!
//! # Brief overview
//! - [`OpRow`]: one op's outcome in the per-op CSV format shared with real replays.
//! - [`Timeline`] of [`Sample`]s: the metrics over a run, simulated or real.
//!
//! The engine is pure and deterministic: no clocks, no threads, no I/O except through
//! writer arguments.

mod oprow;
mod timeline;

pub use oprow::{OpRow, Region};
pub use timeline::{Sample, Source, Timeline};
