//! Real runs on this machine, to calibrate and check the model.
//!
//! # Brief overview
//! - [`replay`]: replays of op streams through the real libc `malloc` (in a fresh child
//!   process whose heap nothing else has touched) and through raw `mmap`.
//! - [`kscript`]: kernel scripts (`kernel::script`) on the real kernel, in a fresh
//!   child laid out as the simulated process is, giving the same CSV rows.
//! - [`bench`](mod@bench): lmbench-style microbenchmarks of the kernel's costs, producing a
//!   [`kernel::CostModel`].
//! - [`sys`]: the one libc layer both use: every libc call of the crate, wrapped once,
//!   with one error type ([`sys::SysError`], the call and its `errno`); the owned
//!   [`Mapping`](sys::Mapping) and [`HeapBlock`](sys::HeapBlock); the C `main`
//!   ([`entry_point!`]) that lets a binary host replay children.
//!
//! The only crate that calls real libc allocation and memory syscalls; every `unsafe`
//! block says why it is sound, and [`sys`] lists the few files that have one and why.
//! Linux + glibc only: elsewhere it compiles and reports itself unavailable.

pub mod bench;
pub mod kscript;
pub mod replay;
pub mod sys;
