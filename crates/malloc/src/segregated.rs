//! Size classes: segregated storage with slab pages per class.
//!
//! Modern allocators (jemalloc, tcmalloc, mimalloc) do not search free lists. They round
//! every small request up to one of a few dozen *size classes* and carve each class out
//! of its own *slabs*: runs of pages cut into equal slots. Allocation pops a free slot of
//! the right class, free pushes it back: O(1), no splitting, no coalescing, and no
//! external fragmentation *inside* a class. The price is internal fragmentation (the
//! rounding up), memory stranded in partly used slabs of classes the program no longer
//! needs, and a slab that can only be returned to the kernel once *every* slot in it is
//! free.
//!
//! [`Segregated`] models that design over `mmap`:
//! - **Classes** as [`SegregatedConfig`] defines them (jemalloc's spacing; see there).
//! - **Slabs** come from `mmap`, never from the break. A slab belongs to one class for
//!   its whole life.
//! - **No per-block headers.** `free(p)` finds the slab from the address alone, through
//!   a slab map keyed by slab start (a radix tree in jemalloc, a page map in tcmalloc);
//!   the slab's descriptor says the class.
//! - **Descriptors live out of line**, 64 bytes each, in metadata chunks the allocator
//!   maps for itself (jemalloc's "base" allocator): the slot count, the free-list head
//!   and the bitmap of a slab are written there on every allocation and free, so the
//!   metadata's pages show in RSS. Keeping them out of the slab is what lets an empty
//!   slab be `madvise`d away whole. Metadata chunks are never returned.
//! - **Free slots form a LIFO list per slab**, linked through the freed slots themselves
//!   (the link is written into the slot on free). Slots never used yet are handed out by
//!   a bump index instead, so a new slab's pages are faulted in only as objects reach
//!   them. Each class keeps its slabs that have a free slot in an address-ordered set and
//!   allocates from the lowest one (as jemalloc does), which packs objects into old slabs
//!   and lets new ones empty out. Per operation: O(1) slot work, O(log slabs) to pick the
//!   slab.
//! - **Large blocks** (above the largest class) each get their own `mmap`, page-rounded,
//!   unmapped on free; shrinking one unmaps its tail.
//! - **Empty slabs** are kept, `madvise(MADV_DONTNEED)`ed or unmapped
//!   ([`ReturnMode`]), after `retain_empty` of them per class are kept as a cache.
//!
//! Every call charges [`CostModel::alloc_op_ns`](kernel::CostModel::alloc_op_ns); creating
//! or returning a slab charges one more.

mod config;

pub use config::{ReturnMode, SegregatedConfig, SizeClass};

use crate::api::{AllocError, Allocator, Block, BlockKind, HeapStats};
use crate::options::{Configurable, OptionError, Options};
use kernel::{Access, Addr, Advice, Kernel, MapFlags, Prot, page_align_up};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Bytes of one out-of-line descriptor (a slab's or a large block's): a cache line.
pub const DESCRIPTOR_BYTES: u64 = 64;

/// Bytes of one metadata chunk: room for 256 descriptors.
pub const META_CHUNK_BYTES: u64 = 16 * 1024;

/// Larger requests fail as out of memory without a syscall (beyond the 47-bit user
/// address space).
const ADDR_LIMIT: u64 = 1 << 47;

/// Bytes of a descriptor written on an allocation or free: the count, the free-list
/// head and a bitmap word.
const DESCRIPTOR_UPDATE: u64 = 24;

/// One slab: `slots` slots of one class.
#[derive(Clone, Debug)]
struct Slab {
    /// Index into the class table.
    class: usize,
    /// Address of its descriptor.
    desc: Addr,
    /// Slots in use.
    used: u64,
    /// Slots below this index have been handed out at least once since the slab was
    /// created (or advised away); slots from it on are untouched.
    bump: u64,
    /// Freed slots, most recent last (the LIFO free list threaded through them).
    free: Vec<u64>,
    /// One bit per slot, set when in use.
    bits: Vec<u64>,
    /// The slab's pages were given back with `madvise`; its slots hold zeros.
    advised: bool,
}

impl Slab {
    fn in_use(&self, idx: u64) -> bool {
        self.bits[(idx / 64) as usize] & (1 << (idx % 64)) != 0
    }

    fn set(&mut self, idx: u64, on: bool) {
        let w = &mut self.bits[(idx / 64) as usize];
        if on {
            *w |= 1 << (idx % 64);
        } else {
            *w &= !(1 << (idx % 64));
        }
    }
}

/// A block in its own mapping.
#[derive(Copy, Clone, Debug)]
struct Large {
    len: u64,
    desc: Addr,
}

/// The descriptor store: chunks the allocator maps for its own metadata, carved by a
/// bump pointer, freed descriptors reused first.
#[derive(Clone, Debug, Default)]
struct MetaArena {
    chunks: Vec<Addr>,
    bump: Addr,
    limit: Addr,
    recycled: Vec<Addr>,
}

impl MetaArena {
    fn alloc(&mut self, kernel: &mut Kernel) -> Result<Addr, AllocError> {
        let d = if let Some(d) = self.recycled.pop() {
            d
        } else if self.bump + DESCRIPTOR_BYTES <= self.limit {
            self.bump += DESCRIPTOR_BYTES;
            self.bump - DESCRIPTOR_BYTES
        } else {
            let c = kernel
                .mmap(0, META_CHUNK_BYTES, Prot::RW, MapFlags::NONE)
                .map_err(|_| AllocError::OutOfMemory {
                    size: META_CHUNK_BYTES,
                })?;
            self.chunks.push(c);
            self.bump = c + DESCRIPTOR_BYTES;
            self.limit = c + META_CHUNK_BYTES;
            c
        };
        kernel.touch(d, DESCRIPTOR_BYTES, Access::Write)?;
        Ok(d)
    }

    fn release(&mut self, kernel: &mut Kernel, d: Addr) -> Result<(), AllocError> {
        self.recycled.push(d);
        // The descriptor joins the free list of descriptors: its link is written.
        kernel.touch(d, 8, Access::Write)?;
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.chunks.len() as u64 * META_CHUNK_BYTES
    }
}

/// Where a pointer handed out lives.
#[derive(Copy, Clone, Debug)]
enum Home {
    /// Slot `idx` of the slab at `start`.
    Slot { start: Addr, idx: u64 },
    /// Its own mapping of `len` bytes.
    Large { len: u64 },
}

/// A size-class allocator with slabs from `mmap` (see the module docs).
#[derive(Clone, Debug)]
pub struct Segregated {
    name: String,
    cfg: SegregatedConfig,
    classes: Vec<SizeClass>,
    /// The slab map: every slab by start address.
    slabs: BTreeMap<Addr, Slab>,
    /// Large blocks by address.
    large: BTreeMap<Addr, Large>,
    /// Per class: slabs with at least one free slot, by address.
    nonfull: Vec<BTreeSet<Addr>>,
    /// Per class: empty slabs still holding their pages (not advised away).
    idle: Vec<u64>,
    meta: MetaArena,
    /// Bytes of slabs mapped.
    slab_bytes: u64,
    /// Bytes of large mappings.
    large_bytes: u64,
    /// Class bytes of slots in use plus large mapping bytes.
    allocated: u64,
    /// Bytes of free slots in all slabs.
    free_slot_bytes: u64,
}

impl Segregated {
    /// An allocator with this configuration (checked with [`Options::validate`]), named
    /// `segregated`.
    pub fn new(cfg: SegregatedConfig) -> Result<Segregated, OptionError> {
        cfg.validate()?;
        let classes = cfg.classes();
        let n = classes.len();
        Ok(Segregated {
            name: "segregated".to_string(),
            cfg,
            classes,
            slabs: BTreeMap::new(),
            large: BTreeMap::new(),
            nonfull: vec![BTreeSet::new(); n],
            idle: vec![0; n],
            meta: MetaArena::default(),
            slab_bytes: 0,
            large_bytes: 0,
            allocated: 0,
            free_slot_bytes: 0,
        })
    }

    /// The same allocator under another registry name.
    pub fn with_name(mut self, name: impl Into<String>) -> Segregated {
        self.name = name.into();
        self
    }

    /// The configuration.
    pub fn config(&self) -> &SegregatedConfig {
        &self.cfg
    }

    /// The class table, smallest first.
    pub fn classes(&self) -> &[SizeClass] {
        &self.classes
    }

    /// The class that serves a `size`-byte request (`None`: a large block).
    pub fn class_of(&self, size: u64) -> Option<&SizeClass> {
        self.class_index(size).map(|i| &self.classes[i])
    }

    fn class_index(&self, size: u64) -> Option<usize> {
        let s = size.max(1);
        let i = self.classes.partition_point(|c| c.size < s);
        (i < self.classes.len()).then_some(i)
    }

    /// One line per class that has slabs, then one for large blocks:
    ///
    /// ```text
    /// Class [ sz:16 slab:4096 ]: slabs 2 (idle 0, advised 1), slots used 300/512
    /// Large [ Count 1 ]: 1052672 bytes
    /// ```
    pub fn describe(&self) -> String {
        let mut per = vec![(0u64, 0u64, 0u64, 0u64); self.classes.len()];
        for s in self.slabs.values() {
            let e = &mut per[s.class];
            e.0 += 1;
            e.1 += u64::from(s.used == 0 && !s.advised);
            e.2 += u64::from(s.advised);
            e.3 += s.used;
        }
        let mut out = String::new();
        for (c, &(n, idle, advised, used)) in self.classes.iter().zip(&per) {
            if n > 0 {
                let _ = writeln!(
                    out,
                    "Class [ sz:{} slab:{} ]: slabs {n} (idle {idle}, advised {advised}), slots used {used}/{}",
                    c.size,
                    c.slab_bytes,
                    n * c.slots
                );
            }
        }
        let _ = write!(
            out,
            "Large [ Count {} ]: {} bytes",
            self.large.len(),
            self.large_bytes
        );
        out
    }

    fn lookup(&self, ptr: Addr) -> Option<Home> {
        if let Some(l) = self.large.get(&ptr) {
            return Some(Home::Large { len: l.len });
        }
        let (&start, slab) = self.slabs.range(..=ptr).next_back()?;
        let class = &self.classes[slab.class];
        let off = ptr - start;
        if off >= class.slots * class.size || !off.is_multiple_of(class.size) {
            return None;
        }
        let idx = off / class.size;
        slab.in_use(idx).then_some(Home::Slot { start, idx })
    }

    /// Maps a new slab for class `c` and files it.
    fn new_slab(&mut self, kernel: &mut Kernel, c: usize) -> Result<Addr, AllocError> {
        let class = self.classes[c];
        let oom = AllocError::OutOfMemory { size: class.size };
        let desc = self.meta.alloc(kernel)?;
        let start = match kernel.mmap(0, class.slab_bytes, Prot::RW, MapFlags::NONE) {
            Ok(a) => a,
            Err(_) => {
                self.meta.release(kernel, desc)?;
                return Err(oom);
            }
        };
        self.slabs.insert(
            start,
            Slab {
                class: c,
                desc,
                used: 0,
                bump: 0,
                free: Vec::new(),
                bits: vec![0; class.slots.div_ceil(64) as usize],
                advised: false,
            },
        );
        self.nonfull[c].insert(start);
        self.idle[c] += 1;
        self.slab_bytes += class.slab_bytes;
        self.free_slot_bytes += class.slots * class.size;
        Ok(start)
    }

    fn alloc_small(
        &mut self,
        kernel: &mut Kernel,
        c: usize,
        ops: &mut f64,
    ) -> Result<Addr, AllocError> {
        let class = self.classes[c];
        let start = match self.nonfull[c].first() {
            Some(&s) => s,
            None => {
                *ops += 1.0;
                self.new_slab(kernel, c)?
            }
        };
        let Some(slab) = self.slabs.get_mut(&start) else {
            return Err(AllocError::OutOfMemory { size: class.size });
        };
        if slab.used == 0 && !slab.advised {
            self.idle[c] -= 1;
        }
        slab.advised = false;
        // Pop the free list (reading the link stored in the slot), or take the next
        // untouched slot.
        let idx = match slab.free.pop() {
            Some(i) => i,
            None => {
                slab.bump += 1;
                slab.bump - 1
            }
        };
        slab.set(idx, true);
        slab.used += 1;
        let (desc, full) = (slab.desc, slab.used == class.slots);
        if full {
            self.nonfull[c].remove(&start);
        }
        self.allocated += class.size;
        self.free_slot_bytes -= class.size;
        kernel.touch(desc, DESCRIPTOR_UPDATE, Access::Write)?;
        Ok(start + idx * class.size)
    }

    fn alloc_large(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let oom = AllocError::OutOfMemory { size };
        if size > ADDR_LIMIT {
            return Err(oom);
        }
        let len = page_align_up(size);
        let desc = self.meta.alloc(kernel)?;
        let addr = match kernel.mmap(0, len, Prot::RW, MapFlags::NONE) {
            Ok(a) => a,
            Err(_) => {
                self.meta.release(kernel, desc)?;
                return Err(oom);
            }
        };
        self.large.insert(addr, Large { len, desc });
        self.large_bytes += len;
        self.allocated += len;
        Ok(addr)
    }

    fn malloc_inner(
        &mut self,
        kernel: &mut Kernel,
        size: u64,
        ops: &mut f64,
    ) -> Result<Addr, AllocError> {
        match self.class_index(size) {
            Some(c) => self.alloc_small(kernel, c, ops),
            None => self.alloc_large(kernel, size),
        }
    }

    fn free_inner(
        &mut self,
        kernel: &mut Kernel,
        ptr: Addr,
        home: Home,
        ops: &mut f64,
    ) -> Result<(), AllocError> {
        match home {
            Home::Large { len } => {
                let Some(l) = self.large.remove(&ptr) else {
                    return Err(AllocError::InvalidPointer { ptr });
                };
                self.large_bytes -= len;
                self.allocated -= len;
                self.meta.release(kernel, l.desc)?;
                kernel.munmap(ptr, len).map_err(AllocError::Syscall)
            }
            Home::Slot { start, idx } => {
                let Some(slab) = self.slabs.get_mut(&start) else {
                    return Err(AllocError::InvalidPointer { ptr });
                };
                let c = slab.class;
                let class = self.classes[c];
                let was_full = slab.used == class.slots;
                slab.set(idx, false);
                slab.free.push(idx);
                slab.used -= 1;
                let (desc, empty) = (slab.desc, slab.used == 0);
                if was_full {
                    self.nonfull[c].insert(start);
                }
                self.allocated -= class.size;
                self.free_slot_bytes += class.size;
                // The slot now holds the free-list link; the descriptor its new head.
                kernel.touch(ptr, 8, Access::Write)?;
                kernel.touch(desc, DESCRIPTOR_UPDATE, Access::Write)?;
                if empty {
                    self.idle[c] += 1;
                    let keep = self.cfg.return_mode == ReturnMode::Keep
                        || self.idle[c] <= self.cfg.retain_empty;
                    if !keep {
                        *ops += 1.0;
                        self.return_slab(kernel, start)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Gives an empty, idle slab back as the return mode says (`keep` acts as
    /// `madvise`, for an explicit trim).
    fn return_slab(&mut self, kernel: &mut Kernel, start: Addr) -> Result<(), AllocError> {
        let Some(slab) = self.slabs.get_mut(&start) else {
            return Ok(());
        };
        let c = slab.class;
        let class = self.classes[c];
        self.idle[c] -= 1;
        match self.cfg.return_mode {
            ReturnMode::Munmap => {
                let desc = slab.desc;
                self.slabs.remove(&start);
                self.nonfull[c].remove(&start);
                self.slab_bytes -= class.slab_bytes;
                self.free_slot_bytes -= class.slots * class.size;
                self.meta.release(kernel, desc)?;
                kernel
                    .munmap(start, class.slab_bytes)
                    .map_err(AllocError::Syscall)
            }
            ReturnMode::Madvise | ReturnMode::Keep => {
                // The pages come back zeroed, links and all: the slab starts afresh.
                slab.advised = true;
                slab.free.clear();
                slab.bump = 0;
                let desc = slab.desc;
                kernel.touch(desc, DESCRIPTOR_UPDATE, Access::Write)?;
                kernel
                    .madvise(start, class.slab_bytes, Advice::DontNeed)
                    .map_err(AllocError::Syscall)
            }
        }
    }

    fn realloc_inner(
        &mut self,
        kernel: &mut Kernel,
        ptr: Addr,
        home: Home,
        size: u64,
        ops: &mut f64,
    ) -> Result<Addr, AllocError> {
        let new_class = self.class_index(size);
        let old_usable = match home {
            Home::Slot { start, .. } => {
                let c = self.slabs.get(&start).map(|s| s.class);
                if c.is_some() && c == new_class {
                    return Ok(ptr); // same class: the slot already fits
                }
                c.map_or(0, |c| self.classes[c].size)
            }
            Home::Large { len } => {
                if new_class.is_none() && size <= ADDR_LIMIT {
                    let new_len = page_align_up(size);
                    if new_len == len {
                        return Ok(ptr);
                    }
                    if new_len < len {
                        // Shrink in place: unmap the tail pages.
                        kernel
                            .munmap(ptr + new_len, len - new_len)
                            .map_err(AllocError::Syscall)?;
                        if let Some(l) = self.large.get_mut(&ptr) {
                            l.len = new_len;
                        }
                        self.large_bytes -= len - new_len;
                        self.allocated -= len - new_len;
                        return Ok(ptr);
                    }
                }
                len
            }
        };
        *ops += 2.0;
        let new = self.malloc_inner(kernel, size, ops)?;
        let n = old_usable.min(size);
        if n > 0 {
            kernel.touch(ptr, n, Access::Read)?;
            kernel.touch(new, n, Access::Write)?;
        }
        self.free_inner(kernel, ptr, home, ops)?;
        Ok(new)
    }

    fn charge(kernel: &mut Kernel, ops: f64) {
        let per = kernel.config().cost.alloc_op_ns;
        kernel.charge_user(per * ops);
    }
}

impl Configurable for Segregated {
    type Config = SegregatedConfig;

    fn from_config(cfg: SegregatedConfig) -> Result<Segregated, OptionError> {
        Segregated::new(cfg)
    }
}

impl Allocator for Segregated {
    fn describe(&self) -> Option<String> {
        Some(Segregated::describe(self))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let mut ops = 1.0;
        let r = self.malloc_inner(kernel, size, &mut ops);
        Self::charge(kernel, ops);
        r
    }

    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        let home = self.lookup(ptr).ok_or(AllocError::InvalidPointer { ptr })?;
        let mut ops = 1.0;
        let r = self.free_inner(kernel, ptr, home, &mut ops);
        Self::charge(kernel, ops);
        r
    }

    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        let home = self.lookup(ptr).ok_or(AllocError::InvalidPointer { ptr })?;
        let mut ops = 1.0;
        let r = self.realloc_inner(kernel, ptr, home, size, &mut ops);
        Self::charge(kernel, ops);
        r
    }

    /// Returns every idle empty slab (those kept by `retain_empty` or by `keep`):
    /// unmapped in `munmap` mode, advised away otherwise. `pad` does not apply (there is
    /// no top to keep a pad of).
    fn trim(&mut self, kernel: &mut Kernel, pad: u64) -> Result<bool, AllocError> {
        let _ = pad;
        let idle: Vec<Addr> = self
            .slabs
            .iter()
            .filter(|(_, s)| s.used == 0 && !s.advised)
            .map(|(&a, _)| a)
            .collect();
        let mut ops = 1.0;
        let mut r = Ok(());
        for &start in &idle {
            ops += 1.0;
            r = self.return_slab(kernel, start);
            if r.is_err() {
                break;
            }
        }
        Self::charge(kernel, ops);
        r.map(|()| !idle.is_empty())
    }

    /// `arena` = slab and metadata mappings (heap space mapped in place of a break);
    /// `hblks`/`hblkhd` = large mappings; `fordblks` = free slots; `uordblks` = the rest
    /// of `arena` (slots in use, slab tails, descriptors); `allocated` = class bytes of
    /// slots in use plus large mappings; `keepcost` = 0 (no top to trim);
    /// `largest_free` = the largest class with a free slot.
    fn stats(&self) -> HeapStats {
        let arena = self.slab_bytes + self.meta.bytes();
        let largest_free = self
            .classes
            .iter()
            .zip(&self.nonfull)
            .rev()
            .find(|(_, set)| !set.is_empty())
            .map_or(0, |(c, _)| c.size);
        HeapStats {
            arena,
            hblks: self.large.len() as u64,
            hblkhd: self.large_bytes,
            uordblks: arena - self.free_slot_bytes,
            fordblks: self.free_slot_bytes,
            keepcost: 0,
            allocated: self.allocated,
            footprint: arena + self.large_bytes,
            largest_free,
        }
    }

    /// Every slot of every slab (`Used` or `Free`), a slab's unusable tail (`Meta`),
    /// large blocks (`Used`) and metadata chunks (`Meta`), in address order; all mapped.
    fn blocks(&self, out: &mut Vec<Block>) {
        enum Item<'a> {
            Slab(&'a Slab),
            Large(u64),
            Meta,
        }
        let mut items: Vec<(Addr, Item)> = Vec::new();
        items.extend(self.slabs.iter().map(|(&a, s)| (a, Item::Slab(s))));
        items.extend(self.large.iter().map(|(&a, l)| (a, Item::Large(l.len))));
        items.extend(self.meta.chunks.iter().map(|&a| (a, Item::Meta)));
        items.sort_by_key(|(a, _)| *a);
        let block = |addr, size, kind| Block {
            addr,
            size,
            kind,
            mapped: true,
        };
        for (a, item) in items {
            match item {
                Item::Slab(s) => {
                    let class = self.classes[s.class];
                    for i in 0..class.slots {
                        let kind = if s.in_use(i) {
                            BlockKind::Used
                        } else {
                            BlockKind::Free
                        };
                        out.push(block(a + i * class.size, class.size, kind));
                    }
                    let tail = class.slab_bytes - class.slots * class.size;
                    if tail > 0 {
                        out.push(block(a + class.slots * class.size, tail, BlockKind::Meta));
                    }
                }
                Item::Large(len) => out.push(block(a, len, BlockKind::Used)),
                Item::Meta => out.push(block(a, META_CHUNK_BYTES, BlockKind::Meta)),
            }
        }
    }
}
