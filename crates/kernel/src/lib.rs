//! A simulated Linux-like kernel for teaching memory allocation.
//!
//! # Brief overview
//! - [`Kernel`]: physical memory, processes and their address spaces, the syscalls an
//!   allocator uses (`brk`, `mmap`, `munmap`, `mprotect`, `mremap`, `madvise`) and user
//!   memory accesses ([`Kernel::touch`]) that fault pages in.
//! - [`KernelConfig`] and [`CostModel`]: the machine's shape and what each event costs.
//! - [`MemStats`], [`Counters`], [`Ledger`]: exact memory use, event counts and simulated
//!   time per cost category.
//!
//! The kernel knows nothing about allocators or workloads: it only answers syscalls and
//! memory accesses, and counts.

mod config;
mod cost;
mod simple;
mod stats;
mod types;

pub use config::{KernelConfig, TlbConfig};
pub use cost::CostModel;
pub use simple::{Kernel, VmaInfo};
pub use stats::{CostCategory, Counters, Ledger, MemStats, PhysStats, Returned};
pub use types::{
    Access, Addr, Advice, Errno, Fault, HUGE_PAGE_SIZE, MapFlags, MremapFlags, PAGE_SIZE, Pid,
    Prot, SegvReason, Syscall, page_align_down, page_align_up,
};
