//! The engine: workload x allocator x kernel, sampled into metrics.
//!
//! # Brief overview
//! - [`execute`]: the one op loop of the workspace. One op of a workload meets an
//!   allocator on a kernel the way a C program's call would: call it, keep the pointer
//!   in the program's [`Blocks`], write the bytes it got. What it did is a [`Stepped`].
//! - [`run`] with a [`RunConfig`]: one workload through one allocator on a fresh
//!   simulated kernel, giving a [`RunResult`]: a [`Summary`] (peaks, fragmentation,
//!   syscalls, faults, memory returned, simulated time), a [`Timeline`] of [`Sample`]s,
//!   per-op [`OpRow`]s and heap maps ([`HeapSnapshot`]).
//! - [`run_stream`]: the same with the ops read one at a time (a trace too large to
//!   hold in memory).
//! - [`Program`]: a workload executed one op at a time by a driver that wants to look
//!   between ops or share a kernel.
//! - [`run_system`]: several [`Program`]s as processes taking turns on one kernel
//!   ([`SystemRun`]), for what happens when many programs run.
//! - [`OpRow`]: one op's outcome in the per-op CSV format shared with real replays.
//!
//! The engine knows no allocator by name (the registry lives in the `lab` crate): it
//! runs whatever implements [`malloc::Allocator`]. It is pure and deterministic: no
//! clocks, no threads, no I/O except through writer arguments. The same workload,
//! allocator and configuration always give the same result, bit for bit.

mod oprow;
mod program;
mod run;
mod summary;
mod system;
mod timeline;

pub use oprow::{OpRow, Region};
pub use program::{Blocks, Held, Program, Stepped, execute};
pub use run::{HeapSnapshot, RunConfig, RunError, RunResult, Step, run, run_observed, run_stream};
pub use summary::{Outcome, Summary};
pub use system::{
    OomChoice, ProcessResult, ProcessSpec, RoundSample, SystemRun, run_system, system_summary,
};
pub use timeline::{Sample, Source, Timeline};
