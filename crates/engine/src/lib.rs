//! The engine: workload x allocator x kernel, sampled into metrics.
//!
//! # Brief overview
//! - [`run`] with a [`RunConfig`]: one workload through one allocator on a fresh
//!   simulated kernel, giving a [`RunResult`]: a [`Summary`] (peaks, fragmentation,
//!   syscalls, faults, memory returned, simulated time), a [`Timeline`] of [`Sample`]s,
//!   per-op [`OpRow`]s and heap maps ([`HeapSnapshot`]).
//! - [`registry`]: every allocator by name, with a one-line description.
//! - [`OpRow`]: one op's outcome in the per-op CSV format shared with real replays.
//! - [`experiments`]: every figure of the book as a named, seeded experiment that
//!   returns its data (CSV, a Markdown table, the chart's input) for `sim figures`.
//!
//! The engine is pure and deterministic: no clocks, no threads, no I/O except through
//! writer arguments. The same workload, allocator and configuration always give the
//! same result, bit for bit.

pub mod experiments;
mod oprow;
pub mod registry;
mod run;
mod summary;
mod timeline;

pub use oprow::{OpRow, Region};
pub use run::{HeapSnapshot, RunConfig, RunError, RunResult, Step, run, run_observed};
pub use summary::{Outcome, Summary};
pub use timeline::{Sample, Source, Timeline};
