//! Real runs on this machine, to calibrate and check the model.
//!
//! # Brief overview
//! - [`replay`]: replays of op streams through the real libc `malloc` (in a fresh child
//!   process whose heap nothing else has touched) and through raw `mmap`.
//! - [`bench`](mod@bench): lmbench-style microbenchmarks of the kernel's costs, producing a
//!   [`kernel::CostModel`].
//! - [`sys`]: small allocation-free wrappers over the libc calls both use.
//!
//! The only crate that calls real libc allocation and memory syscalls; every `unsafe`
//! block says why it is sound. Linux + glibc only: elsewhere it compiles and reports
//! itself unavailable.

pub mod bench;
pub mod replay;
pub mod sys;
