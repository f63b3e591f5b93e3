//! `mmap-guard`: one mapping per block with an inaccessible guard page right after
//! it, so that running off the end of a block is a segmentation fault instead of a
//! silent write into whatever lies next (the idea of Electric Fence and of OpenBSD
//! malloc's `G` option; glibc puts the same kind of guard below every thread stack).
//!
//! # Layout
//!
//! ```text
//!   map                                         guard            map + len
//!   |  slack  |   block (size rounded to 16)   |  PROT_NONE page  |
//!             ^ ptr = guard - round_up(size, 16)
//! ```
//!
//! With the default [`GuardPlacement::End`] the block's *end* touches the guard page,
//! so an overflow faults on its first byte past the 16-byte granule. The pointer must
//! stay 16-aligned (the malloc contract: any C type may be stored there), so when the
//! size is not a multiple of 16 up to 15 bytes past the request are still inside the
//! granule and go unnoticed: that is the alignment trade-off (Electric Fence offers
//! `EF_ALIGNMENT=0` to place blocks byte-exactly and give up alignment; this model
//! keeps the contract). The slack *before* the block is not protected, so an
//! underflow goes unnoticed; [`GuardPlacement::Start`] shows the opposite choice (block
//! at the mapping's start: overflows hide in the page rounding, which is what plain
//! `mmap` gives you).
//!
//! # Syscalls
//!
//! `malloc` costs two: `mmap(len + 4096, PROT_READ|PROT_WRITE)` and then
//! `mprotect(guard, 4096, PROT_NONE)`, as OpenBSD's malloc does. (Mapping everything
//! `PROT_NONE` first and `mprotect`ing the usable part, as glibc does for thread stacks,
//! costs the same two.) The `mprotect` splits the mapping into two VMAs with different
//! protection, which can never merge with a neighbour: every block costs two VMAs, so
//! `vm.max_map_count` (65530) caps a process at about 32765 guarded blocks (claim 12).
//! The guard page is never touched, so it costs address space but no frame. `free` is
//! one `munmap` of the whole mapping, guard included: a use after free then faults too.
//! `realloc` always moves the block to a fresh mapping (unless its 16-byte-rounded size
//! is unchanged), as Electric Fence does, so the end stays against a guard page and a
//! stale pointer to the old block faults.

use crate::common::{charge_call, copy_bytes, granules, pages_for, syscall_error};
use kernel::{Addr, Kernel, MapFlags, PAGE_SIZE, Prot};
use malloc::options::{Choice, Configurable, Kind, OptionError, Options, Spec, Table};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a block sits in its data pages.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardPlacement {
    /// The block ends at the guard page (rounded to 16 bytes): an overflow of one
    /// granule faults. The default.
    #[default]
    End,
    /// The block starts at the mapping's start: an overflow is caught only once it
    /// passes the page rounding.
    Start,
}

/// Options of [`GuardAllocator`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Where a block sits in front of its guard page. Default [`GuardPlacement::End`].
    pub placement: GuardPlacement,
}

impl Options for GuardConfig {
    const TABLE: Table = Table {
        prefix: "",
        options: &[Spec::new(
            "placement",
            Kind::Choice(&[Choice::new("end", &[]), Choice::new("start", &[])]),
            "end: the block ends at the guard page; start: it starts the mapping",
        )],
    };
}

/// One guarded block.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Guarded {
    /// Start of the mapping (data pages, then the guard page).
    map: Addr,
    /// Data pages (the guard page excluded).
    data_pages: u64,
    /// The block's bytes rounded to 16: what a realloc must copy.
    granules: u64,
}

impl Guarded {
    fn map_len(&self) -> u64 {
        (self.data_pages + 1) * PAGE_SIZE
    }

    fn guard(&self) -> Addr {
        self.map + self.data_pages * PAGE_SIZE
    }
}

/// One mapping per block plus a `PROT_NONE` guard page; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct GuardAllocator {
    config: GuardConfig,
    /// Pointer handed out -> its mapping.
    live: BTreeMap<Addr, Guarded>,
    /// Sum of the data pages of live blocks, in bytes.
    data_bytes: u64,
}

impl GuardAllocator {
    /// The registry name.
    pub const NAME: &'static str = "mmap-guard";

    /// An allocator with these options.
    pub fn new(config: GuardConfig) -> GuardAllocator {
        GuardAllocator {
            config,
            live: BTreeMap::new(),
            data_bytes: 0,
        }
    }

    /// The options it runs with.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// The guard page's address for the live block at `ptr`.
    pub fn guard_page(&self, ptr: Addr) -> Option<Addr> {
        self.live.get(&ptr).map(Guarded::guard)
    }

    /// Maps a guarded block; the table is not touched.
    fn map_block(&self, kernel: &mut Kernel, size: u64) -> Result<(Addr, Guarded), AllocError> {
        let oom = AllocError::OutOfMemory { size };
        let granules = granules(size).ok_or(oom.clone())?;
        let data_pages = pages_for(granules).ok_or(oom)?;
        let len = (data_pages + 1) * PAGE_SIZE;
        let map = kernel
            .mmap(0, len, Prot::RW, MapFlags::NONE)
            .map_err(|e| syscall_error(e, size))?;
        let g = Guarded {
            map,
            data_pages,
            granules,
        };
        if let Err(e) = kernel.mprotect(g.guard(), PAGE_SIZE, Prot::NONE) {
            // Splitting the mapping needs one more VMA; at `vm.max_map_count` the kernel
            // refuses. Give the mapping back so nothing leaks, and report ENOMEM as
            // malloc's NULL.
            let _ = kernel.munmap(map, len);
            return Err(syscall_error(e, size));
        }
        let ptr = match self.config.placement {
            GuardPlacement::End => g.guard() - granules,
            GuardPlacement::Start => map,
        };
        Ok((ptr, g))
    }

    fn unmap(&mut self, kernel: &mut Kernel, ptr: Addr, g: Guarded) -> Result<(), AllocError> {
        kernel
            .munmap(g.map, g.map_len())
            .map_err(AllocError::Syscall)?;
        self.live.remove(&ptr);
        self.data_bytes -= g.data_pages * PAGE_SIZE;
        Ok(())
    }

    fn insert(&mut self, ptr: Addr, g: Guarded) {
        self.data_bytes += g.data_pages * PAGE_SIZE;
        self.live.insert(ptr, g);
    }
}

impl Configurable for GuardAllocator {
    type Config = GuardConfig;

    fn from_config(config: GuardConfig) -> Result<GuardAllocator, OptionError> {
        Ok(GuardAllocator::new(config))
    }
}

impl Allocator for GuardAllocator {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        charge_call(kernel);
        let (ptr, g) = self.map_block(kernel, size)?;
        self.insert(ptr, g);
        Ok(ptr)
    }

    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        charge_call(kernel);
        let g = *self
            .live
            .get(&ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        self.unmap(kernel, ptr, g)
    }

    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        charge_call(kernel);
        let old = *self
            .live
            .get(&ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        if granules(size) == Some(old.granules) {
            // Same granules: the block already ends at its guard page.
            return Ok(ptr);
        }
        let (new_ptr, new) = self.map_block(kernel, size)?;
        let undo = |kernel: &mut Kernel| {
            let _ = kernel.munmap(new.map, new.map_len());
        };
        if let Err(e) = copy_bytes(kernel, ptr, new_ptr, old.granules.min(new.granules)) {
            undo(kernel);
            return Err(e);
        }
        if let Err(e) = kernel.munmap(old.map, old.map_len()) {
            undo(kernel);
            return Err(AllocError::Syscall(e));
        }
        self.live.remove(&ptr);
        self.data_bytes -= old.data_pages * PAGE_SIZE;
        self.insert(new_ptr, new);
        Ok(new_ptr)
    }

    fn stats(&self) -> HeapStats {
        let count = self.live.len() as u64;
        // Each mapping is its data pages plus one guard page. The guard pages are held
        // from the OS (footprint, hblkhd) but never handed out (not in allocated) and
        // never usable (not in fordblks): footprint - allocated is pure guard overhead.
        let mapped = self.data_bytes + count * PAGE_SIZE;
        HeapStats {
            arena: 0,
            hblks: count,
            hblkhd: mapped,
            uordblks: self.data_bytes,
            fordblks: 0,
            keepcost: 0,
            allocated: self.data_bytes,
            footprint: mapped,
            largest_free: 0,
        }
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        let mut maps: Vec<&Guarded> = self.live.values().collect();
        maps.sort_by_key(|g| g.map);
        for g in maps {
            out.push(Block {
                addr: g.map,
                size: g.data_pages * PAGE_SIZE,
                kind: BlockKind::Used,
                mapped: true,
            });
            // The guard page is the allocator's own: never handed out.
            out.push(Block {
                addr: g.guard(),
                size: PAGE_SIZE,
                kind: BlockKind::Meta,
                mapped: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Access, Fault, KernelConfig, SegvReason, Syscall};

    fn kernel() -> Kernel {
        Kernel::new(KernelConfig::default())
    }

    #[test]
    fn block_end_touches_the_guard_page() {
        let mut k = kernel();
        let mut a = GuardAllocator::default();
        let p = a.malloc(&mut k, 100).unwrap();
        assert_eq!(p % 16, 0);
        assert_eq!(a.guard_page(p), Some(p + 112));
        let q = a.malloc(&mut k, 4096).unwrap();
        assert_eq!(q % PAGE_SIZE, 0, "a whole page needs no slack");
        assert_eq!(a.guard_page(q), Some(q + 4096));
        let s = a.stats();
        assert_eq!(s.allocated, 2 * PAGE_SIZE);
        assert_eq!(
            s.footprint,
            4 * PAGE_SIZE,
            "two data pages, two guard pages"
        );
        assert_eq!(s.footprint, k.mem().mapped);
        assert_eq!(k.counters().syscall(Syscall::Mmap), 2);
        assert_eq!(k.counters().syscall(Syscall::Mprotect), 2);
    }

    #[test]
    fn overflow_past_the_granule_is_a_segfault_and_inside_it_is_not() {
        let mut k = kernel();
        let mut a = GuardAllocator::default();
        let p = a.malloc(&mut k, 100).unwrap();
        k.touch(p, 100, Access::Write).unwrap();
        // Bytes 100..112 are the alignment slack: the overflow goes unnoticed.
        k.touch(p + 100, 12, Access::Write).unwrap();
        // Byte 112 is the guard page.
        assert_eq!(
            k.touch(p + 100, 13, Access::Write),
            Err(Fault::Segv {
                addr: p + 112,
                access: Access::Write,
                reason: SegvReason::Protection
            })
        );
        assert_eq!(
            k.touch(p + 112, 1, Access::Read),
            Err(Fault::Segv {
                addr: p + 112,
                access: Access::Read,
                reason: SegvReason::Protection
            })
        );
    }

    #[test]
    fn start_placement_hides_overflows_in_the_page_rounding() {
        let mut k = kernel();
        let mut a = GuardAllocator::new(GuardConfig {
            placement: GuardPlacement::Start,
        });
        let p = a.malloc(&mut k, 100).unwrap();
        assert_eq!(p % PAGE_SIZE, 0);
        k.touch(p + 100, PAGE_SIZE - 100, Access::Write).unwrap();
        assert!(matches!(
            k.touch(p + PAGE_SIZE, 1, Access::Write),
            Err(Fault::Segv {
                reason: SegvReason::Protection,
                ..
            })
        ));
    }

    #[test]
    fn free_unmaps_block_and_guard_and_a_use_after_free_faults() {
        let mut k = kernel();
        let mut a = GuardAllocator::default();
        let p = a.malloc(&mut k, 5000).unwrap();
        k.touch(p, 5000, Access::Write).unwrap();
        a.free(&mut k, p).unwrap();
        assert_eq!(k.counters().returned.munmap, 3 * PAGE_SIZE);
        assert_eq!(k.mem().mapped, 0);
        assert!(matches!(
            k.touch(p, 1, Access::Read),
            Err(Fault::Segv {
                reason: SegvReason::Unmapped,
                ..
            })
        ));
        assert_eq!(
            a.free(&mut k, p),
            Err(AllocError::InvalidPointer { ptr: p })
        );
    }

    #[test]
    fn realloc_moves_to_a_new_guarded_mapping() {
        let mut k = kernel();
        let mut a = GuardAllocator::default();
        let p = a.malloc(&mut k, 100).unwrap();
        assert_eq!(a.realloc(&mut k, p, 97).unwrap(), p, "same granules");
        let q = a.realloc(&mut k, p, 300).unwrap();
        assert_ne!(q, p);
        assert_eq!(a.guard_page(q), Some(q + 304));
        assert_eq!(a.stats().hblks, 1);
        assert_eq!(a.stats().footprint, k.mem().mapped);
        assert!(
            k.touch(p, 1, Access::Read).is_err(),
            "the old block is gone"
        );
    }
}
