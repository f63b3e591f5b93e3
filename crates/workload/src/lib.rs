//! Op streams: what a program asks of its allocator.
//!
//! A program's memory behaviour, as an allocator sees it, is a sequence of calls:
//! `malloc`, `free`, `realloc`, and now and then `malloc_trim`. This crate models that
//! sequence, checks it, makes it up (seeded generators imitating real program
//! behaviour) and reads and writes it (trace files).
//!
//! # Brief overview
//! - [`Op`]: one request (`Malloc`, `Free`, `Realloc`, `Touch`, `Trim`, `Phase`), on
//!   blocks named by a [`BlockId`] rather than an address, so one stream can run
//!   against any allocator.
//! - [`Workload`]: a named op stream with its [`TouchPolicy`], optional lifetime
//!   hints, and the [`AllocCall`] behind blocks a program got from `calloc` or an
//!   aligned allocation function.
//! - [`validate`] / [`Validator`]: is this a stream a correct C program could produce
//!   (no double free, no unknown id, no touch past a block's end, ...)? Errors give the
//!   op's index ([`OpError`]) or the trace's line.
//! - [`generate`] and [`GENERATORS`]: the named, seeded generators (`churn`, `ramp`,
//!   `sawtooth`, `swiss-cheese`, `large`, `realloc-growth`, `lifetimes`), each with a
//!   params struct ([`GeneratorParams`]).
//! - [`read_trace`], [`parse_native`], [`parse_rep`], [`write_native`], [`write_rep`]:
//!   trace files in brkmap's native text format and in the CS:APP malloc-lab `.rep`
//!   format. Errors ([`TraceError`]) name the file and the line. [`RepReader`] streams
//!   a `.rep` trace one op at a time, for traces too large to hold in memory.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 1 000 calls of the `churn` generator, seed 1: the same ops on every machine.
//! let w = workload::generate("churn", 1, Some(1_000))?;
//! assert_eq!(w.allocator_calls(), 1_000);
//! let stats = workload::stats(&w)?;
//! assert_eq!(stats.live_at_end, 0);
//!
//! // Written as a native trace and read back, it is the same workload.
//! let text = workload::write_native(&w);
//! assert!(text.starts_with("# brkmap trace v1"));
//! assert_eq!(workload::parse_native(&text, "churn.trace")?, w);
//! # Ok(())
//! # }
//! ```
//!
//! This crate knows nothing about allocators, kernels or metrics, and never prints.

pub mod generators;
mod op;
mod rng;
pub mod trace;
mod validate;

pub use generators::{
    ChurnParams, FreeOrder, GENERATORS, GenError, GeneratorInfo, GeneratorParams, LargeParams,
    LifetimesParams, MAX_OPS, RampParams, ReallocGrowthParams, SawtoothParams, SizeBucket,
    SizeDist, SwissCheeseParams, generate, generator_info,
};
pub use op::{
    AlignedFn, AllocCall, BlockId, LabelProblem, MAX_SIZE, Op, OpKind, TouchPolicy, Workload,
    check_label,
};
pub use trace::{
    LogSummary, NATIVE_HEADER, RepReader, RepWriteError, TraceError, TraceErrorKind, TraceFormat,
    lossy_for_rep, parse_native, parse_rep, parse_trace, parse_tracer_log, read_trace,
    write_native, write_native_annotated, write_rep,
};
pub use validate::{
    OpError, OpProblem, Position, Validator, WorkloadError, WorkloadStats, stats, validate,
};

/// Lifetime classes that the `lifetimes` generator writes into [`Workload::lifetimes`].
pub mod lifetime {
    pub use crate::generators::{LONG, REQUEST, SHORT};
}
