//! Allocators over a simulated kernel.
//!
//! # Brief overview
//! - [`Allocator`]: the interface every allocator implements: `malloc`, `free`,
//!   `realloc`, `trim`, and introspection ([`HeapStats`], [`Block`]s for heap maps).
//! - [`glibc`]: a model of glibc 2.36's malloc, exact to the address and the syscall.
//! - [`freelist`]: textbook free lists over brk (first, next, best, worst fit).
//! - [`segregated`]: size classes with slab pages.
//! - [`contract`]: the allocator contract as a checker: [`contract::Contract`] runs an
//!   allocator on its kernel call by call ([`contract::Op`] programs or direct calls)
//!   and returns the first broken rule as a [`contract::Violation`]; every family's
//!   property tests use it.
//! - [`options`]: the one way every family is configured from `name=value` text: a
//!   table of [`options::Spec`]s per configuration struct ([`options::Options`]), typed
//!   values, limits, notes about old spellings ([`options::Note`]), errors that name
//!   the option ([`options::OptionError`]), and the listings `sim list` prints.
//!
//! An allocator gets memory only through syscalls on a [`kernel::Kernel`], and writes
//! its own metadata (headers, footers, list links) through [`kernel::Kernel::touch`], so
//! the kernel sees the faults a real allocator's bookkeeping causes. This crate knows
//! nothing about workloads, metric sampling or files.

mod api;
pub mod contract;
pub mod freelist;
pub mod glibc;
pub mod options;
pub mod segregated;

pub use api::{AllocError, Allocator, Block, BlockKind, HeapStats, Usage};
