//! A simulated Linux-like kernel for teaching memory allocation.
//!
//! # Brief overview
//! - [`Kernel`]: physical memory, processes and their address spaces, the syscalls an
//!   allocator uses (`brk`, `mmap`, `munmap`, `mprotect`, `mremap`, `madvise`) and user
//!   memory accesses ([`Kernel::touch`]) that fault pages in; with the optional
//!   byte-storing mode, memory with contents ([`Kernel::write`], [`Kernel::read`],
//!   [`Kernel::peek`], [`ByteStats`]).
//! - [`KernelConfig`] and [`CostModel`]: the machine's shape and what each event costs;
//!   [`Overcommit`] (`vm.overcommit_memory`) and the resource limits ([`Resource`]).
//! - [`MemStats`], [`Counters`], [`Ledger`]: exact memory use, event counts and simulated
//!   time per cost category; [`PageState`] and [`VmaInfo`] for maps of an address space;
//!   [`OomKill`] for what the OOM killer did.
//! - [`script`]: kernel scripts, one format of syscalls and accesses that runs on this
//!   kernel and on the real one and gives the same rows, so the model can be checked
//!   against Linux line by line.
//!
//! Inside, the crate is organised as an operating-systems textbook is:
//! - `phys`: the pool of physical frames, in 2 MiB blocks so huge pages can be found;
//! - `page_table`: x86-64 4-level page tables (PML4, PDPT, PD, PT), sparse, and when
//!   Linux frees their pages;
//! - `tlb`: a set-associative, LRU translation cache with optional PCIDs;
//! - `vma` (with `gap_tree`): the ordered map of virtual memory areas and when two of
//!   them are one;
//! - `process`: one address space and its accounts;
//! - `kernel`, `syscall`, `fault`: processes, the memory syscalls, demand paging;
//! - `contents`: what memory holds, when a kernel keeps the bytes (off by default);
//! - `limits`, `oom`: what a process may map, and who pays when memory runs out.
//!
//! Where Linux has a rule, the model follows Linux 6.18 (x86-64), and the kernel
//! scripts in `crates/kernel/scripts/` and the shared truth files check it row for row
//! against a real machine. The kernel knows nothing about allocators or workloads: it
//! only answers syscalls and memory accesses, and counts.
//!
//! ```
//! use kernel::{Access, Kernel, KernelConfig, MapFlags, Prot};
//! let mut k = Kernel::new(KernelConfig::default());
//! let a = k.mmap(0, 8192, Prot::RW, MapFlags::NONE).unwrap();
//! assert_eq!(k.mem().rss, 0); // mmap hands out addresses, not memory
//! k.touch(a, 1, Access::Write).unwrap(); // first write: a minor fault
//! assert_eq!(k.mem().rss, 4096);
//! assert_eq!(k.counters().minor_faults, 1);
//! ```

mod config;
mod contents;
mod cost;
mod fault;
mod gap_tree;
mod kernel;
mod limits;
pub mod oom;
mod page_table;
mod phys;
mod process;
pub mod script;
mod stats;
mod syscall;
mod tlb;
mod types;
mod vma;

pub use config::{
    ConfigError, KernelConfig, MAX_PHYS_BYTES, Overcommit, OvercommitPolicy, TlbConfig,
};
pub use contents::{ByteStats, CACHE_LINE};
pub use cost::{CostError, CostModel, cache_miss_share};
pub use kernel::{ConsistencyError, Kernel, PageState};
pub use limits::Resource;
pub use oom::OomKill;
pub use stats::{CostCategory, Counters, Ledger, MemStats, PhysStats, Returned};
pub use tlb::FLUSH_CEILING;
pub use types::{
    Access, Addr, Advice, Errno, Fault, HUGE_PAGE_SIZE, MapFlags, MremapFlags, PAGE_SHIFT,
    PAGE_SIZE, Pid, Prot, SegvReason, Syscall, USER_SPACE_END, checked_page_align_up,
    page_align_down, page_align_up,
};
pub use vma::VmaInfo;
