//! `mmap`: the simplest allocator there is on top of the kernel, one anonymous mapping
//! per block.
//!
//! `malloc(n)` is `mmap(NULL, round_up(n, 4096), PROT_READ|PROT_WRITE,
//! MAP_PRIVATE|MAP_ANONYMOUS)`, `free` is `munmap` of the whole mapping, `realloc` is
//! `mremap(..., MREMAP_MAYMOVE)`. Every call enters the kernel, every block costs whole
//! pages (a 100-byte request holds 4096 bytes: the page rounding is the internal
//! fragmentation of claim 6), and a freed block's memory goes back to the OS at once
//! (claim 8). glibc uses exactly this path for requests at or above its mmap threshold.
//!
//! The same strategy is replayed on the real machine by `calibrate`, so the model's RSS
//! and fault counts can be checked against Linux: keep it this simple.

use crate::common::{LiveMappings, charge_call, pages_for, syscall_error};
use kernel::{Addr, Kernel, MapFlags, PAGE_SIZE, Prot};
use malloc::options::{Configurable, Kind, OptionError, Options, Spec, Table};
use malloc::{AllocError, Allocator, Block, HeapStats};
use serde::{Deserialize, Serialize};

/// Options of [`MmapAllocator`]. The defaults are the plain strategy the real replay
/// mirrors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MmapConfig {
    /// Map with `MAP_POPULATE`: the kernel faults every page in during `mmap`, without a
    /// trap per page (cheaper per page than demand faults, but pages the program never
    /// touches become resident too). Default `false`: pages arrive on first touch.
    pub populate: bool,
}

impl Options for MmapConfig {
    const TABLE: Table = Table {
        prefix: "",
        options: &[Spec::new(
            "populate",
            Kind::Bool,
            "map with MAP_POPULATE: every page faulted in by the mmap",
        )],
    };
}

/// One anonymous mapping per block; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct MmapAllocator {
    config: MmapConfig,
    live: LiveMappings,
}

impl MmapAllocator {
    /// The registry name.
    pub const NAME: &'static str = "mmap";

    /// An allocator with these options.
    pub fn new(config: MmapConfig) -> MmapAllocator {
        MmapAllocator {
            config,
            live: LiveMappings::default(),
        }
    }

    /// The options it runs with.
    pub fn config(&self) -> &MmapConfig {
        &self.config
    }

    fn map_flags(&self) -> MapFlags {
        if self.config.populate {
            MapFlags::POPULATE
        } else {
            MapFlags::NONE
        }
    }
}

impl Configurable for MmapAllocator {
    type Config = MmapConfig;

    fn from_config(config: MmapConfig) -> Result<MmapAllocator, OptionError> {
        Ok(MmapAllocator::new(config))
    }
}

impl Allocator for MmapAllocator {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        charge_call(kernel);
        let pages = pages_for(size).ok_or(AllocError::OutOfMemory { size })?;
        let len = pages * PAGE_SIZE;
        // No header: the pointer is the mapping's first byte, page-aligned and so
        // 16-aligned. The length lives in the side table (see `LiveMappings`).
        let addr = kernel
            .mmap(0, len, Prot::RW, self.map_flags())
            .map_err(|e| syscall_error(e, size))?;
        self.live.insert(addr, len);
        Ok(addr)
    }

    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        charge_call(kernel);
        let old_len = self
            .live
            .get(ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        // munmap returns the range and its frames to the OS at once. It can fail only
        // when it must split a VMA (the block sits inside a larger merged VMA) and the
        // process is at `vm.max_map_count`; the block then stays live and mapped.
        // (glibc ignores munmap's result at this point and forgets the chunk.)
        kernel.munmap(ptr, old_len).map_err(AllocError::Syscall)?;
        self.live.remove(ptr);
        Ok(())
    }

    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        charge_call(kernel);
        self.live.resize(kernel, ptr, size)
    }

    /// Every byte the allocator holds is a block handed out, page rounding included:
    /// `allocated` = `footprint` = `hblkhd`, nothing is free.
    fn stats(&self) -> HeapStats {
        let bytes = self.live.bytes();
        HeapStats {
            arena: 0,
            hblks: self.live.count(),
            hblkhd: bytes,
            uordblks: bytes,
            fordblks: 0,
            keepcost: 0,
            allocated: bytes,
            footprint: bytes,
            largest_free: 0,
        }
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        out.extend(self.live.blocks());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Access, KernelConfig, Syscall};

    fn kernel() -> Kernel {
        Kernel::new(KernelConfig::default())
    }

    #[test]
    fn every_block_is_whole_pages_and_page_rounding_shows_in_allocated() {
        let mut k = kernel();
        let mut a = MmapAllocator::default();
        let p0 = a.malloc(&mut k, 0).unwrap();
        let p1 = a.malloc(&mut k, 100).unwrap();
        let p2 = a.malloc(&mut k, 4096).unwrap();
        let p3 = a.malloc(&mut k, 4097).unwrap();
        for p in [p0, p1, p2, p3] {
            assert_eq!(p % PAGE_SIZE, 0, "the pointer is the mapping's start");
        }
        let s = a.stats();
        // 1 + 1 + 1 + 2 pages: a 4096-byte request fits one page because there is no
        // header.
        assert_eq!(s.allocated, 5 * PAGE_SIZE);
        assert_eq!(s.hblks, 4);
        assert_eq!(s.hblkhd, 5 * PAGE_SIZE);
        assert_eq!(s.footprint, k.mem().mapped);
        assert_eq!(k.counters().syscall(Syscall::Mmap), 4);
    }

    #[test]
    fn free_munmaps_the_whole_mapping_and_rss_drops() {
        let mut k = kernel();
        let mut a = MmapAllocator::default();
        let p = a.malloc(&mut k, 3 * PAGE_SIZE).unwrap();
        k.touch(p, 3 * PAGE_SIZE, Access::Write).unwrap();
        assert_eq!(k.mem().rss, 3 * PAGE_SIZE);
        a.free(&mut k, p).unwrap();
        assert_eq!(k.counters().returned.munmap, 3 * PAGE_SIZE);
        assert_eq!(k.counters().syscall(Syscall::Munmap), 1);
        assert_eq!(k.mem().rss, 0);
        assert_eq!(k.mem().mapped, 0);
        assert_eq!(a.stats(), HeapStats::default());
    }

    #[test]
    fn double_and_invalid_free_change_nothing() {
        let mut k = kernel();
        let mut a = MmapAllocator::default();
        let p = a.malloc(&mut k, 10).unwrap();
        assert_eq!(
            a.free(&mut k, p + 16),
            Err(AllocError::InvalidPointer { ptr: p + 16 })
        );
        a.free(&mut k, p).unwrap();
        let before = k.counters().clone();
        assert_eq!(
            a.free(&mut k, p),
            Err(AllocError::InvalidPointer { ptr: p })
        );
        assert_eq!(
            a.realloc(&mut k, p, 10),
            Err(AllocError::InvalidPointer { ptr: p })
        );
        assert_eq!(k.counters(), &before, "no syscall for a bad pointer");
    }

    #[test]
    fn realloc_within_the_same_pages_makes_no_syscall() {
        let mut k = kernel();
        let mut a = MmapAllocator::default();
        let p = a.malloc(&mut k, 100).unwrap();
        let calls = k.counters().total_syscalls();
        assert_eq!(a.realloc(&mut k, p, 4000).unwrap(), p);
        assert_eq!(a.realloc(&mut k, p, 1).unwrap(), p);
        assert_eq!(k.counters().total_syscalls(), calls);
    }

    #[test]
    fn realloc_to_other_page_counts_uses_mremap() {
        let mut k = kernel();
        let mut a = MmapAllocator::default();
        let p = a.malloc(&mut k, 3 * PAGE_SIZE).unwrap();
        let p = a.realloc(&mut k, p, PAGE_SIZE).unwrap();
        assert_eq!(a.stats().allocated, PAGE_SIZE);
        assert_eq!(k.mem().mapped, PAGE_SIZE, "the tail is unmapped");
        assert_eq!(k.counters().returned.munmap, 2 * PAGE_SIZE);
        let q = a.realloc(&mut k, p, 10 * PAGE_SIZE).unwrap();
        assert_eq!(k.counters().syscall(Syscall::Mremap), 2);
        assert_eq!(
            k.counters().syscall(Syscall::Mmap),
            1,
            "mremap, not mmap+copy"
        );
        assert_eq!(a.stats().allocated, 10 * PAGE_SIZE);
        assert_eq!(a.stats().footprint, k.mem().mapped);
        a.free(&mut k, q).unwrap();
        assert_eq!(k.mem().mapped, 0);
    }

    #[test]
    fn an_impossible_request_is_out_of_memory_without_a_syscall() {
        let mut k = kernel();
        let mut a = MmapAllocator::default();
        assert_eq!(
            a.malloc(&mut k, u64::MAX),
            Err(AllocError::OutOfMemory { size: u64::MAX })
        );
        assert_eq!(k.counters().total_syscalls(), 0);
        let p = a.malloc(&mut k, 1).unwrap();
        assert_eq!(
            a.realloc(&mut k, p, u64::MAX),
            Err(AllocError::OutOfMemory { size: u64::MAX })
        );
        assert_eq!(a.stats().allocated, PAGE_SIZE, "the old block stays valid");
    }

    #[test]
    fn an_exhausted_address_space_is_out_of_memory() {
        let mut k = Kernel::new(KernelConfig {
            address_space_limit: Some(4 * PAGE_SIZE),
            mmap_min_addr: 0x7fff_f7ff_f000 - 4 * PAGE_SIZE,
            ..KernelConfig::default()
        });
        let mut a = MmapAllocator::default();
        let _p = a.malloc(&mut k, 3 * PAGE_SIZE).unwrap();
        assert_eq!(
            a.malloc(&mut k, 2 * PAGE_SIZE),
            Err(AllocError::OutOfMemory {
                size: 2 * PAGE_SIZE
            })
        );
        assert_eq!(a.stats().footprint, 3 * PAGE_SIZE);
    }

    #[test]
    fn populate_makes_pages_resident_before_the_first_touch() {
        let mut k = kernel();
        let mut a = MmapAllocator::new(MmapConfig { populate: true });
        let p = a.malloc(&mut k, 2 * PAGE_SIZE).unwrap();
        assert_eq!(k.mem().rss, 2 * PAGE_SIZE);
        // Linux counts the pages MAP_POPULATE faults in as the process's faults ...
        assert_eq!(k.counters().minor_faults, 2);
        k.touch(p, 2 * PAGE_SIZE, Access::Write).unwrap();
        // ... and the program's own writes take none.
        assert_eq!(k.counters().minor_faults, 2);
    }

    #[test]
    fn every_call_charges_user_time() {
        let mut k = kernel();
        let mut a = MmapAllocator::default();
        let p = a.malloc(&mut k, 1).unwrap();
        let p = a.realloc(&mut k, p, 2).unwrap();
        a.free(&mut k, p).unwrap();
        let per_op = k.config().cost.alloc_op_ns;
        let user = k.ledger().get(kernel::CostCategory::User);
        assert!((user - 3.0 * per_op).abs() < 1e-9, "{user}");
    }
}
