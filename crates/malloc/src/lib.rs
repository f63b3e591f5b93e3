//! Allocators over a simulated kernel.
//!
//! # Brief overview
//! - [`Allocator`]: the interface every allocator implements: `malloc`, `free`,
//!   `realloc`, `trim`, and introspection ([`HeapStats`], [`Block`]s for heap maps).
//! - allocator families (glibc model, textbook free lists, size classes): in modules
//!   of this crate.
//!
//! An allocator gets memory only through syscalls on a [`kernel::Kernel`], and writes
//! its own metadata (headers, footers, list links) through [`kernel::Kernel::touch`], so
//! the kernel sees the faults a real allocator's bookkeeping causes. This crate knows
//! nothing about workloads, metric sampling or files.

mod api;

pub use api::{AllocError, Allocator, Block, BlockKind, HeapStats};
