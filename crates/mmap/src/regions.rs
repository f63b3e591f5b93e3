//! `regions`: bump allocation inside large mapped regions, with memory going back to
//! the OS only when a whole region empties.
//!
//! A region allocator (also called an arena or zone allocator: Apache's pools, GCC's
//! obstacks, Rust's `bumpalo`) maps a large region once and hands out its bytes in
//! order: `malloc` is an addition (the *bump pointer* moves up by the block's size,
//! rounded to 16). There are no free lists: a freed block's bytes are *not* reused.
//! Instead each region counts its live blocks, and when the count drops to zero the
//! whole region is unmapped at once. Small blocks thus cost no syscall and no header,
//! and memory is returned in big pieces, but one long-lived block pins its entire
//! region (all the freed bytes around it stay mapped and resident). That pinning is
//! what [`LifetimeArenas`](crate::LifetimeArenas) avoids by giving each lifetime class
//! its own regions (claim 11).
//!
//! # Policy
//!
//! - Blocks are bumped into the **current** region. When a block does not fit in what
//!   is left, a new region is mapped and becomes current; the old one is *retired*: its
//!   unused tail is never used again, and it stays mapped until its last block is
//!   freed.
//! - A request larger than a region (after rounding to 16) gets a mapping of its own,
//!   as in the `mmap` allocator, and is unmapped when freed.
//! - When the last block of a retired region is freed, the region is unmapped. When
//!   the last block of the *current* region is freed and `keep_empty_current` is set
//!   (the default), the region stays mapped and its bump pointer goes back to its start:
//!   a program that allocates and frees one block in a loop would otherwise pay an
//!   `mmap` and an `munmap` of a whole region per iteration. Its pages stay resident.
//! - `realloc` resizes in place when it can without reusing freed bytes: the new size
//!   fits the old granules (shrinking keeps the granules, except that the block at the
//!   bump pointer gives its tail back), or the block is the last one bumped and the
//!   region has room. Otherwise it moves (malloc, copy, free). A block in its own
//!   mapping that stays larger than a region is resized with `mremap`.
//! - `trim` (`malloc_trim`) unmaps the current region if it is empty.
//!
//! # Metadata
//!
//! A real region allocator must find a block's region from the pointer alone, usually
//! by aligning regions to their size and keeping a header (the live count) at the
//! region's start, found by masking the pointer's low bits (jemalloc's chunks did
//! that). This model keeps regions and blocks in tables outside simulated memory
//! instead, so no block shares a page with metadata and region bytes are all usable;
//! it writes nothing in-band.

use crate::common::{LiveMappings, charge_call, copy_bytes, granules, pages_for, syscall_error};
use kernel::{Addr, Kernel, MapFlags, MremapFlags, PAGE_SIZE, Prot};
use malloc::options::{Configurable, Kind, OptionError, Options, Spec, Table};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default region size: 1 MiB, 256 pages.
pub const DEFAULT_REGION_SIZE: u64 = 1 << 20;

/// The largest region: 1 GiB. A region is mapped whole, so a larger one would only
/// make the first small block cost a huge mapping.
pub const MAX_REGION_SIZE: u64 = 1 << 30;

/// Options of [`RegionAllocator`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegionConfig {
    /// Bytes of each region: a whole number of pages, at most [`MAX_REGION_SIZE`].
    /// Default 1 MiB.
    pub region_size: u64,
    /// Keep the current region mapped (and reset it) when its last block is freed,
    /// instead of unmapping it. Default `true`.
    pub keep_empty_current: bool,
}

/// The option `region_size`, shared with [`LifetimeConfig`](crate::LifetimeConfig).
pub(crate) const REGION_SIZE: Spec = Spec::new(
    "region_size",
    Kind::Size {
        min: PAGE_SIZE,
        max: MAX_REGION_SIZE,
        off: &[],
    },
    "bytes per region (whole pages)",
);

/// The option `keep_empty_current`, shared with [`LifetimeConfig`](crate::LifetimeConfig).
pub(crate) const KEEP_EMPTY_CURRENT: Spec = Spec::new(
    "keep_empty_current",
    Kind::Bool,
    "keep the current region mapped when its last block is freed",
);

impl Options for RegionConfig {
    const TABLE: Table = Table {
        prefix: "",
        options: &[REGION_SIZE, KEEP_EMPTY_CURRENT],
    };

    fn check(&self) -> Result<(), OptionError> {
        check_region_size(self.region_size)
    }
}

impl Default for RegionConfig {
    fn default() -> Self {
        RegionConfig {
            region_size: DEFAULT_REGION_SIZE,
            keep_empty_current: true,
        }
    }
}

/// Checks a region size beyond its limits: a whole number of pages.
pub(crate) fn check_region_size(size: u64) -> Result<(), OptionError> {
    if !size.is_multiple_of(PAGE_SIZE) {
        return Err(OptionError::invalid(
            "region_size",
            format!("{size} is not a whole number of {PAGE_SIZE}-byte pages"),
        ));
    }
    Ok(())
}

/// One region as the allocator sees it, for heap maps and tests.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionInfo {
    /// First byte of the region (its mapping's start).
    pub start: Addr,
    /// Bytes of the region.
    pub len: u64,
    /// Bytes from the start up to the bump pointer: everything ever handed out since
    /// the region was mapped (or last reset).
    pub bumped: u64,
    /// Blocks in it not yet freed.
    pub live_blocks: u64,
    /// Bytes (rounded to 16) of those blocks.
    pub live_bytes: u64,
    /// True for the region new blocks go to.
    pub current: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Region {
    len: u64,
    /// Offset of the bump pointer from the region's start.
    bump: u64,
    live_blocks: u64,
    live_bytes: u64,
}

/// A block placed in a region.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Placed {
    /// The region's start.
    region: Addr,
    /// Bytes the block occupies (its size rounded to 16).
    span: u64,
}

/// A set of regions with one current region, and the large blocks that live in
/// mappings of their own. [`RegionAllocator`] is one set; [`LifetimeArenas`] keeps one
/// per lifetime class.
///
/// [`LifetimeArenas`]: crate::LifetimeArenas
#[derive(Clone, Debug)]
pub(crate) struct RegionSet {
    region_size: u64,
    keep_empty_current: bool,
    regions: BTreeMap<Addr, Region>,
    current: Option<Addr>,
    /// Pointer -> placement, for blocks in regions.
    placed: BTreeMap<Addr, Placed>,
    /// Blocks larger than a region, one mapping each.
    own: LiveMappings,
    /// Sum of the spans of live blocks in regions.
    region_allocated: u64,
}

impl RegionSet {
    /// An empty set; `region_size` must be a valid `region_size` option.
    pub fn new(region_size: u64, keep_empty_current: bool) -> RegionSet {
        RegionSet {
            region_size,
            keep_empty_current,
            regions: BTreeMap::new(),
            current: None,
            placed: BTreeMap::new(),
            own: LiveMappings::default(),
            region_allocated: 0,
        }
    }

    /// True when `ptr` is a live block of this set.
    pub fn owns(&self, ptr: Addr) -> bool {
        self.placed.contains_key(&ptr) || self.own.get(ptr).is_some()
    }

    /// The current region, if it can take `span` more bytes. An empty current region
    /// (kept by `keep_empty_current`) has been reset, so any span up to a region fits.
    fn current_with_room(&self, span: u64) -> Option<Addr> {
        let start = self.current?;
        let r = &self.regions[&start];
        (r.len - r.bump >= span).then_some(start)
    }

    /// Allocates without charging (the public entry points charge once per call).
    pub fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let span = granules(size).ok_or(AllocError::OutOfMemory { size })?;
        if span > self.region_size {
            let pages = pages_for(size).ok_or(AllocError::OutOfMemory { size })?;
            let len = pages * PAGE_SIZE;
            let addr = kernel
                .mmap(0, len, Prot::RW, MapFlags::NONE)
                .map_err(|e| syscall_error(e, size))?;
            self.own.insert(addr, len);
            return Ok(addr);
        }
        let start = match self.current_with_room(span) {
            Some(start) => start,
            None => {
                // Retire the current region (it stays mapped while blocks live in it)
                // and map a fresh one.
                let start = kernel
                    .mmap(0, self.region_size, Prot::RW, MapFlags::NONE)
                    .map_err(|e| syscall_error(e, size))?;
                self.regions.insert(
                    start,
                    Region {
                        len: self.region_size,
                        bump: 0,
                        live_blocks: 0,
                        live_bytes: 0,
                    },
                );
                self.current = Some(start);
                start
            }
        };
        let r = self.regions.get_mut(&start).expect("current region exists");
        let ptr = start + r.bump;
        r.bump += span;
        r.live_blocks += 1;
        r.live_bytes += span;
        self.placed.insert(
            ptr,
            Placed {
                region: start,
                span,
            },
        );
        self.region_allocated += span;
        Ok(ptr)
    }

    /// Frees without charging.
    pub fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        if let Some(len) = self.own.get(ptr) {
            kernel.munmap(ptr, len).map_err(AllocError::Syscall)?;
            self.own.remove(ptr);
            return Ok(());
        }
        let p = *self
            .placed
            .get(&ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        let r = self.regions[&p.region];
        let is_current = self.current == Some(p.region);
        if r.live_blocks == 1 {
            if is_current && self.keep_empty_current {
                // The region empties: start bumping from its beginning again.
                let r = self.regions.get_mut(&p.region).expect("region exists");
                r.bump = 0;
            } else {
                // The whole region goes back to the OS in one munmap. Until now, all
                // its freed bytes stayed mapped: that is the price of no free lists.
                kernel
                    .munmap(p.region, r.len)
                    .map_err(AllocError::Syscall)?;
                self.regions.remove(&p.region);
                if is_current {
                    self.current = None;
                }
            }
        }
        if let Some(r) = self.regions.get_mut(&p.region) {
            r.live_blocks -= 1;
            r.live_bytes -= p.span;
        }
        self.placed.remove(&ptr);
        self.region_allocated -= p.span;
        Ok(())
    }

    /// Resizes without charging; see the module docs for when it moves.
    pub fn realloc(
        &mut self,
        kernel: &mut Kernel,
        ptr: Addr,
        size: u64,
    ) -> Result<Addr, AllocError> {
        let oom = AllocError::OutOfMemory { size };
        if let Some(len) = self.own.get(ptr) {
            let span = granules(size).ok_or(oom.clone())?;
            if span <= self.region_size {
                return self.moved(kernel, ptr, len, size);
            }
            let new_len = pages_for(size).ok_or(oom)? * PAGE_SIZE;
            if new_len == len {
                return Ok(ptr);
            }
            let new = kernel
                .mremap(ptr, len, new_len, MremapFlags::MAYMOVE)
                .map_err(|e| syscall_error(e, size))?;
            self.own.remove(ptr);
            self.own.insert(new, new_len);
            return Ok(new);
        }
        let p = *self
            .placed
            .get(&ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        let span = granules(size).ok_or(oom)?;
        let r = self.regions[&p.region];
        let offset = ptr - p.region;
        let at_bump = self.current == Some(p.region) && offset + p.span == r.bump;
        let fits = if at_bump {
            offset + span <= r.len
        } else {
            span <= p.span
        };
        if span > self.region_size || !fits {
            return self.moved(kernel, ptr, p.span, size);
        }
        // In place. The last block bumped can give back or take bytes at the bump
        // pointer; any other block keeps its granules (a shrink leaves dead bytes).
        let new_span = if at_bump { span } else { p.span };
        let r = self.regions.get_mut(&p.region).expect("region exists");
        r.live_bytes = r.live_bytes - p.span + new_span;
        if at_bump {
            r.bump = offset + new_span;
        }
        self.region_allocated = self.region_allocated - p.span + new_span;
        self.placed.insert(
            ptr,
            Placed {
                region: p.region,
                span: new_span,
            },
        );
        Ok(ptr)
    }

    /// The moving realloc: malloc a new block, copy the old bytes, free the old block.
    /// If anything fails after the new block exists, it is freed again and the old
    /// block stays valid.
    fn moved(
        &mut self,
        kernel: &mut Kernel,
        ptr: Addr,
        old_bytes: u64,
        size: u64,
    ) -> Result<Addr, AllocError> {
        let new = self.malloc(kernel, size)?;
        let copy = old_bytes.min(granules(size).unwrap_or(old_bytes));
        let result = copy_bytes(kernel, ptr, new, copy).and_then(|()| self.free(kernel, ptr));
        match result {
            Ok(()) => Ok(new),
            Err(e) => {
                let _ = self.free(kernel, new);
                Err(e)
            }
        }
    }

    /// `malloc_trim` for regions: unmaps the current region if it is empty (kept by
    /// `keep_empty_current`). Regions holding live blocks cannot be released, and their
    /// dead bytes are left resident (a real allocator could `madvise` whole dead pages
    /// away; this one keeps the region model plain).
    pub fn trim(&mut self, kernel: &mut Kernel) -> Result<bool, AllocError> {
        let Some(start) = self.current else {
            return Ok(false);
        };
        let r = self.regions[&start];
        if r.live_blocks > 0 {
            return Ok(false);
        }
        kernel.munmap(start, r.len).map_err(AllocError::Syscall)?;
        self.regions.remove(&start);
        self.current = None;
        Ok(true)
    }

    /// Bytes of all regions.
    fn region_bytes(&self) -> u64 {
        self.regions.values().map(|r| r.len).sum()
    }

    /// The set's accounting (see [`RegionAllocator`]'s `stats`).
    pub fn stats(&self) -> HeapStats {
        let region_bytes = self.region_bytes();
        let allocated = self.region_allocated + self.own.bytes();
        HeapStats {
            arena: 0,
            hblks: self.own.count(),
            hblkhd: self.own.bytes(),
            uordblks: allocated,
            fordblks: region_bytes - self.region_allocated,
            keepcost: 0,
            allocated,
            footprint: region_bytes + self.own.bytes(),
            largest_free: self
                .current
                .map_or(0, |s| self.regions[&s].len - self.regions[&s].bump),
        }
    }

    /// Every region, in address order.
    pub fn regions(&self) -> impl Iterator<Item = RegionInfo> + '_ {
        self.regions.iter().map(|(&start, r)| RegionInfo {
            start,
            len: r.len,
            bumped: r.bump,
            live_blocks: r.live_blocks,
            live_bytes: r.live_bytes,
            current: self.current == Some(start),
        })
    }

    /// Appends the heap map: used blocks, dead bytes between them (freed, never
    /// reused: `Free`), each region's unbumped tail (`Top` in the current region, dead
    /// `Free` in a retired one), and the blocks in their own mappings.
    pub fn blocks(&self, out: &mut Vec<Block>) {
        let block = |addr, size, kind| Block {
            addr,
            size,
            kind,
            mapped: true,
        };
        for (&start, r) in &self.regions {
            let mut at = start;
            for (&ptr, p) in self.placed.range(start..start + r.len) {
                if ptr > at {
                    out.push(block(at, ptr - at, BlockKind::Free));
                }
                out.push(block(ptr, p.span, BlockKind::Used));
                at = ptr + p.span;
            }
            let bump = start + r.bump;
            if bump > at {
                out.push(block(at, bump - at, BlockKind::Free));
            }
            let end = start + r.len;
            if end > bump {
                let tail = if self.current == Some(start) {
                    BlockKind::Top
                } else {
                    BlockKind::Free
                };
                out.push(block(bump, end - bump, tail));
            }
        }
        out.extend(self.own.blocks());
    }
}

/// Bump allocation in 1 MiB regions, unmapped when empty; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct RegionAllocator {
    config: RegionConfig,
    set: RegionSet,
}

impl Default for RegionAllocator {
    fn default() -> Self {
        RegionAllocator::new(RegionConfig::default()).expect("the default config is valid")
    }
}

impl RegionAllocator {
    /// The registry name.
    pub const NAME: &'static str = "regions";

    /// An allocator with these options; fails when `region_size` is not a whole number
    /// of pages from one page to [`MAX_REGION_SIZE`].
    pub fn new(config: RegionConfig) -> Result<RegionAllocator, OptionError> {
        config.validate()?;
        let set = RegionSet::new(config.region_size, config.keep_empty_current);
        Ok(RegionAllocator { config, set })
    }

    /// The options it runs with.
    pub fn config(&self) -> &RegionConfig {
        &self.config
    }

    /// Every region now, in address order.
    pub fn regions(&self) -> Vec<RegionInfo> {
        self.set.regions().collect()
    }
}

impl Configurable for RegionAllocator {
    type Config = RegionConfig;

    fn from_config(config: RegionConfig) -> Result<RegionAllocator, OptionError> {
        RegionAllocator::new(config)
    }
}

impl Allocator for RegionAllocator {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        charge_call(kernel);
        self.set.malloc(kernel, size)
    }

    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        charge_call(kernel);
        self.set.free(kernel, ptr)
    }

    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        charge_call(kernel);
        self.set.realloc(kernel, ptr, size)
    }

    /// Unmaps the current region if it is empty; see the module docs.
    fn trim(&mut self, kernel: &mut Kernel, _pad: u64) -> Result<bool, AllocError> {
        charge_call(kernel);
        self.set.trim(kernel)
    }

    /// `allocated` counts blocks in regions by their 16-byte granules and blocks in
    /// their own mappings by whole pages; `footprint` is every region plus those
    /// mappings; `fordblks` is the bytes of regions not in live blocks (freed holes,
    /// retired tails, the current region's unbumped tail); `largest_free` is the
    /// current region's tail, the only free space a malloc can use without a syscall.
    fn stats(&self) -> HeapStats {
        self.set.stats()
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        let start = out.len();
        self.set.blocks(out);
        out[start..].sort_by_key(|b| b.addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Access, KernelConfig, Syscall};

    fn kernel() -> Kernel {
        Kernel::new(KernelConfig::default())
    }

    fn small() -> RegionAllocator {
        RegionAllocator::new(RegionConfig {
            region_size: 4 * PAGE_SIZE,
            keep_empty_current: true,
        })
        .unwrap()
    }

    #[test]
    fn blocks_are_bumped_in_order_with_one_mmap() {
        let mut k = kernel();
        let mut a = RegionAllocator::default();
        let p = a.malloc(&mut k, 100).unwrap();
        let q = a.malloc(&mut k, 0).unwrap();
        let r = a.malloc(&mut k, 17).unwrap();
        assert_eq!(q, p + 112);
        assert_eq!(r, q + 16);
        assert_eq!(k.counters().total_syscalls(), 1);
        let s = a.stats();
        assert_eq!(s.allocated, 112 + 16 + 32);
        assert_eq!(s.footprint, DEFAULT_REGION_SIZE);
        assert_eq!(s.fordblks, DEFAULT_REGION_SIZE - s.allocated);
        assert_eq!(s.largest_free, s.fordblks);
        assert_eq!(s.footprint, k.mem().mapped);
    }

    #[test]
    fn a_region_is_unmapped_only_when_its_last_block_is_freed() {
        let mut k = kernel();
        let mut a = small();
        // Two blocks of 3 pages cannot share a 4-page region.
        let x = a.malloc(&mut k, 2 * PAGE_SIZE).unwrap();
        let y = a.malloc(&mut k, PAGE_SIZE).unwrap();
        let z = a.malloc(&mut k, 3 * PAGE_SIZE).unwrap();
        assert_eq!(a.regions().len(), 2);
        a.free(&mut k, x).unwrap();
        assert_eq!(
            k.counters().syscall(Syscall::Munmap),
            0,
            "y pins the region"
        );
        assert_eq!(a.stats().footprint, 8 * PAGE_SIZE);
        a.free(&mut k, y).unwrap();
        assert_eq!(k.counters().returned.munmap, 4 * PAGE_SIZE);
        assert_eq!(a.regions().len(), 1);
        // The current region is kept (and reset) when it empties.
        a.free(&mut k, z).unwrap();
        assert_eq!(k.counters().syscall(Syscall::Munmap), 1);
        let r = a.regions();
        assert_eq!((r.len(), r[0].bumped, r[0].current), (1, 0, true));
        let w = a.malloc(&mut k, 1).unwrap();
        assert_eq!(w, r[0].start, "bumping restarts");
        assert_eq!(a.stats().footprint, k.mem().mapped);
        // trim releases the kept region once it is empty, and only then.
        assert!(!a.trim(&mut k, 0).unwrap());
        a.free(&mut k, w).unwrap();
        assert!(a.trim(&mut k, 0).unwrap());
        assert_eq!((a.regions().len(), k.mem().mapped), (0, 0));
        assert!(!a.trim(&mut k, 0).unwrap());
    }

    #[test]
    fn freed_bytes_are_not_reused_inside_a_region() {
        let mut k = kernel();
        let mut a = small();
        let x = a.malloc(&mut k, 64).unwrap();
        let _keep = a.malloc(&mut k, 64).unwrap();
        a.free(&mut k, x).unwrap();
        let z = a.malloc(&mut k, 64).unwrap();
        assert_eq!(z, x + 128, "the hole at x stays dead");
        let mut map = Vec::new();
        a.blocks(&mut map);
        let kinds: Vec<BlockKind> = map.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [
                BlockKind::Free,
                BlockKind::Used,
                BlockKind::Used,
                BlockKind::Top
            ]
        );
        assert_eq!(map.iter().map(|b| b.size).sum::<u64>(), 4 * PAGE_SIZE);
    }

    #[test]
    fn without_keep_the_empty_current_region_is_unmapped() {
        let mut k = kernel();
        let mut a = RegionAllocator::new(RegionConfig {
            region_size: 4 * PAGE_SIZE,
            keep_empty_current: false,
        })
        .unwrap();
        for _ in 0..3 {
            let p = a.malloc(&mut k, 10).unwrap();
            a.free(&mut k, p).unwrap();
        }
        assert_eq!(k.counters().syscall(Syscall::Mmap), 3);
        assert_eq!(k.counters().syscall(Syscall::Munmap), 3);
        assert_eq!(k.mem().mapped, 0);
    }

    #[test]
    fn large_requests_get_their_own_mapping() {
        let mut k = kernel();
        let mut a = small();
        let big = a.malloc(&mut k, 4 * PAGE_SIZE + 1).unwrap();
        assert_eq!(a.regions().len(), 0);
        let s = a.stats();
        assert_eq!(
            (s.hblks, s.hblkhd, s.allocated),
            (1, 5 * PAGE_SIZE, 5 * PAGE_SIZE)
        );
        let big = a.realloc(&mut k, big, 8 * PAGE_SIZE).unwrap();
        assert_eq!(k.counters().syscall(Syscall::Mremap), 1);
        // Shrinking below a region moves the block into a region.
        let small_block = a.realloc(&mut k, big, 100).unwrap();
        assert_eq!(a.regions().len(), 1);
        assert_eq!(a.stats().hblks, 0);
        assert_eq!(a.stats().allocated, 112);
        a.free(&mut k, small_block).unwrap();
        assert_eq!(a.stats().footprint, k.mem().mapped);
    }

    #[test]
    fn realloc_grows_the_last_block_in_place_and_moves_others() {
        let mut k = kernel();
        let mut a = small();
        let x = a.malloc(&mut k, 100).unwrap();
        let y = a.malloc(&mut k, 100).unwrap();
        assert_eq!(
            a.realloc(&mut k, y, 1000).unwrap(),
            y,
            "y is at the bump pointer"
        );
        assert_eq!(a.realloc(&mut k, x, 50).unwrap(), x, "a shrink stays");
        assert_eq!(a.stats().allocated, 112 + 1008, "x keeps its granules");
        k.touch(x, 100, Access::Write).unwrap();
        let x2 = a.realloc(&mut k, x, 200).unwrap();
        assert_eq!(x2, y + 1008, "x moves to the bump pointer");
        assert_eq!(a.stats().allocated, 1008 + 208);
        assert_eq!(
            a.realloc(&mut k, y, 10).unwrap(),
            y,
            "not at the bump: keeps 1008"
        );
        assert_eq!(a.stats().allocated, 1008 + 208);
    }

    #[test]
    fn bad_pointers_and_configs_are_rejected() {
        let mut k = kernel();
        let mut a = small();
        let p = a.malloc(&mut k, 10).unwrap();
        assert_eq!(
            a.free(&mut k, p + 16),
            Err(AllocError::InvalidPointer { ptr: p + 16 })
        );
        a.free(&mut k, p).unwrap();
        assert_eq!(
            a.free(&mut k, p),
            Err(AllocError::InvalidPointer { ptr: p })
        );
        for (size, message) in [
            (0, "option region_size: `0` is under the minimum of 4 KiB"),
            (
                100,
                "option region_size: `100` is under the minimum of 4 KiB",
            ),
            (
                PAGE_SIZE + 1,
                "option region_size: 4097 is not a whole number of 4096-byte pages",
            ),
            (
                u64::MAX,
                "option region_size: `18446744073709551615` is over the limit of 1 GiB",
            ),
        ] {
            let e = RegionAllocator::new(RegionConfig {
                region_size: size,
                keep_empty_current: true,
            })
            .unwrap_err();
            assert_eq!(e.to_string(), message);
        }
        let (c, _) = RegionConfig::from_settings(&[("region_size", "64K")]).unwrap();
        assert_eq!(c.region_size, 65536);
        malloc::options::check_table(&RegionConfig::default()).unwrap();
    }

    #[test]
    fn a_failed_region_mmap_is_out_of_memory_and_changes_nothing() {
        // Room for one 4-page region, not two.
        let mut k = Kernel::new(KernelConfig {
            address_space_limit: Some(6 * PAGE_SIZE),
            mmap_min_addr: 0x7fff_f7ff_f000 - 6 * PAGE_SIZE,
            ..KernelConfig::default()
        });
        let mut a = small();
        let x = a.malloc(&mut k, 3 * PAGE_SIZE).unwrap();
        let before = a.stats();
        assert_eq!(
            a.malloc(&mut k, 2 * PAGE_SIZE),
            Err(AllocError::OutOfMemory {
                size: 2 * PAGE_SIZE
            })
        );
        assert_eq!(a.stats(), before);
        a.free(&mut k, x).unwrap();
    }
}
