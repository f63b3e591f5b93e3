//! Allocators that get every block (or region) straight from `mmap`.
//!
//! `malloc` implementations usually carve small blocks out of a heap and call the
//! kernel rarely. The allocators here go the other way and ask the kernel directly,
//! which makes the costs and benefits of `mmap` visible one mechanism at a time: whole
//! pages per block, a syscall per call, memory returned at once, one VMA per mapping.
//!
//! # Brief overview
//! - [`MmapAllocator`] (`mmap`): one anonymous mapping per block, `munmap` on free,
//!   `mremap` on realloc. The strategy glibc uses for large blocks, for every block.
//! - [`GuardAllocator`] (`mmap-guard`): the same plus a `PROT_NONE` guard page right
//!   after each block, so that an overflow is a segmentation fault (Electric Fence).
//! - [`MmapCacheAllocator`] (`mmap-cache`): freed mappings are kept, up to a limit, and
//!   reused without a syscall.
//! - [`RegionAllocator`] (`regions`): bump allocation in large regions; a region is
//!   unmapped when all its blocks are freed.
//! - [`LifetimeArenas`] (`lifetime-arenas`): regions kept apart by the program's
//!   lifetime hints, so short-lived blocks never pin regions of long-lived ones.
//!
//! Each allocator has a config struct ([`MmapConfig`], [`GuardConfig`],
//! [`MmapCacheConfig`], [`RegionConfig`], [`LifetimeConfig`]) that implements
//! [`malloc::options::Options`], so the registry of every allocator (the `lab`
//! crate's) sets them from `name=value` text the same way as any other family.
//!
//! # Example
//!
//! ```
//! use kernel::{Kernel, KernelConfig, Syscall};
//! use malloc::Allocator;
//!
//! let mut kernel = Kernel::new(KernelConfig::default());
//! let mut a = mmap::MmapAllocator::default();
//! let p = a.malloc(&mut kernel, 100).unwrap();
//! // A 100-byte request holds a whole page: page rounding is internal fragmentation.
//! assert_eq!(a.stats().allocated, 4096);
//! a.free(&mut kernel, p).unwrap();
//! // The page went back to the OS at once, with one munmap.
//! assert_eq!(kernel.counters().syscall(Syscall::Munmap), 1);
//! assert_eq!(kernel.mem().mapped, 0);
//! ```
//!
//! Each allocator's module ([`per_block`], [`guard`], [`cache`], [`regions`],
//! [`lifetime`]) explains its mechanism and policy; the types are re-exported here.
//!
//! Every allocator implements [`malloc::Allocator`] on a [`kernel::Kernel`]: memory
//! comes only from syscalls, every pointer is 16-aligned, every call charges the cost
//! model's `alloc_op_ns` of user time, and a bad `free` changes nothing. None of them
//! writes metadata into simulated memory (each keeps its tables on the side; the module
//! docs say what a real one would store in-band). This crate knows nothing about
//! workloads, metric sampling or files.

pub mod cache;
mod common;
pub mod guard;
pub mod lifetime;
pub mod per_block;
pub mod regions;

pub use cache::{CacheCounters, CachedPages, MmapCacheAllocator, MmapCacheConfig};
pub use common::{ALIGN, MAX_REQUEST};
pub use guard::{GuardAllocator, GuardConfig, GuardPlacement};
pub use lifetime::{LifetimeArenas, LifetimeConfig};
pub use per_block::{MmapAllocator, MmapConfig};
pub use regions::{
    DEFAULT_REGION_SIZE, MAX_REGION_SIZE, RegionAllocator, RegionConfig, RegionInfo,
};

#[cfg(test)]
mod tests {
    use super::*;
    use malloc::options::{Options, check_table};

    #[test]
    fn every_config_table_describes_its_struct() {
        check_table(&MmapConfig::default()).unwrap();
        check_table(&MmapConfig { populate: true }).unwrap();
        check_table(&GuardConfig::default()).unwrap();
        check_table(&GuardConfig {
            placement: GuardPlacement::Start,
        })
        .unwrap();
        check_table(&MmapCacheConfig::default()).unwrap();
        check_table(&MmapCacheConfig {
            pages: CachedPages::DontNeed,
            max_excess_percent: 25,
            ..MmapCacheConfig::default()
        })
        .unwrap();
        check_table(&RegionConfig::default()).unwrap();
        check_table(&LifetimeConfig::default()).unwrap();
    }

    #[test]
    fn settings_reach_the_configs_with_typed_errors() {
        let (c, _) =
            MmapCacheConfig::from_settings(&[("pages", "dont_need"), ("max_count", "8")]).unwrap();
        assert_eq!((c.pages, c.max_count), (CachedPages::DontNeed, 8));
        let (c, _) = GuardConfig::from_settings(&[("placement", "start")]).unwrap();
        assert_eq!(c.placement, GuardPlacement::Start);
        let (c, _) = LifetimeConfig::from_settings(&[("default_class", "3")]).unwrap();
        assert_eq!(c.default_class, 3);
        let e = MmapCacheConfig::from_settings(&[("max_cont", "8")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown option `max_cont` (did you mean `max_count`? known: max_count, max_bytes, max_excess_percent, pages)"
        );
        let e = RegionConfig::from_settings(&[("region_size", "1T")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "option region_size: `1T` is over the limit of 1 GiB"
        );
        let e = LifetimeConfig::from_settings(&[("default_class", "256")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "option default_class: `256` is over the limit of 255"
        );
    }
}
