//! Textbook free-list allocators over brk: first, next, best and worst fit.
//!
//! This is the allocator of every operating-systems course (OSTEP chapter 17, CS:APP
//! 9.9, K&R 8.7): one contiguous heap between a fixed start and the *program break*,
//! cut into blocks that are either in use or free, with the free ones threaded on a
//! list. `malloc` searches the list for a block that fits, splits off what it does not
//! need, and asks the kernel for more heap (`sbrk`) only when nothing fits; `free` puts
//! the block back, merges it with free neighbours, and may give the end of the heap back
//! to the kernel by lowering the break.
//!
//! [`FreeList`] is one allocator with every textbook choice as an option of
//! [`FreeListConfig`]: the fit policy ([`Fit`]), the list order ([`Order`]), when to
//! coalesce ([`Coalesce`]), the split threshold, the block layout (header, footer,
//! alignment), and how the heap grows and shrinks. The registry's `first-fit`,
//! `next-fit`, `best-fit` and `worst-fit` are presets of it ([`FreeList::preset`]).
//!
//! # What it costs
//! A search is O(n) in the length of the free list *by nature*, and that is what a
//! student measures: every call charges [`CostModel::alloc_op_ns`] (the fast path) plus
//! one more `alloc_op_ns` for every list node (or, for the heap scans of deferred
//! coalescing and of footer-less backward merging, every heap block) it visits. The
//! number visited by the last call is [`FreeList::last_search`], in the spirit of
//! OSTEP's "searched N elements".
//!
//! # What the kernel sees
//! Memory comes only from `sbrk`: the heap grows by at least `grow` bytes at a time, the
//! new break rounded up to a page, and shrinks with a negative `sbrk` when the free block
//! at the end exceeds the trim threshold. Every metadata *write* a real allocator makes
//! is passed to [`Kernel::touch`]: headers and footers of blocks it creates or changes,
//! the two list links inside a free block, and the links of its list neighbours when it
//! is linked or unlinked. So a large free block's footer faults in the last page of the
//! heap, exactly as it would in C. Metadata *reads* during searches are not passed to
//! the kernel (they only visit pages the writes already made resident, and would cost
//! simulation time per node); their time is charged per node instead. `realloc` that
//! moves a block reads the old bytes and writes the new ones.
//!
//! # The data structures behind the simulation
//! The simulated allocator keeps its list in C-like memory; the simulator keeps the same
//! information in ordered maps, so no operation costs the host more than it costs the
//! simulated allocator: the blocks in a `BTreeMap` keyed by address (physical
//! neighbours, heap maps), and the free list in a `BTreeMap` whose key order *is* the
//! list order (an address for `address`, `(size, address)` for the size orders, an
//! insertion counter for `lifo`/`fifo`). Walking the list is iterating that map.
//!
//! # Where to read on
//! The allocator has two structures over the same blocks, and a file for each:
//! `list.rs`, the free list (its order, linking and unlinking), and `heap.rs`, the
//! heap in address order (block layout, growth by `sbrk`, coalescing, freeing,
//! trimming). This file holds the allocator, its fit policies (`search`: which free
//! block a request takes), `malloc`, `realloc` and the accounting; `config.rs` the
//! options and presets.
//!
//! [`CostModel::alloc_op_ns`]: kernel::CostModel::alloc_op_ns

pub(crate) mod config;
mod heap;
mod index;
mod list;

pub use config::{Coalesce, Fit, FreeListConfig, Order, PRESETS};

use crate::api::{AllocError, Allocator, Block, BlockKind, HeapStats};
use crate::options::{Configurable, OptionError, Options};
use heap::Blk;
use kernel::{Access, Addr, Kernel};
use list::{Key, Place};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A textbook free-list allocator over the program break.
///
/// Create one with [`FreeList::new`] from a [`FreeListConfig`], or with
/// [`FreeList::preset`]. The heap starts at the program break of the first `malloc`.
///
/// Block layout: `header | payload | footer`, each block a multiple of the alignment,
/// every payload aligned. If the break at the start is not such that the first payload
/// is aligned, the bytes before the first block are padding, and the bytes between the
/// last block and the page-aligned break are slack (fewer than `align`); both belong to
/// the allocator (CS:APP's prologue and epilogue) and count as in use in [`HeapStats`]
/// and as [`BlockKind::Meta`] in heap maps.
#[derive(Clone, Debug)]
pub struct FreeList {
    name: String,
    cfg: FreeListConfig,
    /// Smallest block the layout allows.
    min_block: u64,
    /// Smallest remainder a split leaves: `max(split_threshold, min_block)`.
    split_min: u64,
    /// The break at the first `malloc`; `None` before.
    heap_start: Option<Addr>,
    /// Where the first block starts (the heap start plus alignment padding).
    first: Addr,
    /// One past the last block.
    end: Addr,
    /// The program break as this allocator last set it.
    brk: Addr,
    /// Every block, in use or free, by address. They tile `[first, end)`.
    blocks: BTreeMap<Addr, Blk>,
    /// The free list: key order is list order; value is (address, size).
    list: BTreeMap<Key, (Addr, u64)>,
    /// Free blocks by size, for `largest_free` in O(log n).
    by_size: BTreeSet<(u64, Addr)>,
    /// The free list's keys with their sizes, for walks answered in O(log n): how many
    /// nodes precede a position, the first node from a position on that fits.
    index: index::Index,
    /// Every block's address (`(addr, 0)`), for the rank of a block in the heap.
    heap_index: index::Index,
    /// Free blocks by size, then list position: the first block of a size in list
    /// order, for best and worst fit over lists not sorted by size.
    by_size_key: BTreeSet<(u64, Key)>,
    /// Insertion counter for LIFO and FIFO keys.
    seq: u64,
    /// Next fit's roving pointer: the list position where the next search starts (the
    /// remainder of the last block split, or the node after the last block taken whole);
    /// `None` for the head.
    rover: Option<Key>,
    /// Bytes of blocks in use.
    used: u64,
    /// Bytes of free blocks.
    free: u64,
    /// Nodes visited by the call in progress.
    visits: u64,
    /// Nodes visited by the last call.
    last_visits: u64,
    /// Nodes visited since the allocator was created.
    total_visits: u64,
}

impl FreeList {
    /// An allocator with this configuration (checked with [`Options::validate`]), named
    /// `free-list` (see [`FreeList::with_name`]).
    pub fn new(cfg: FreeListConfig) -> Result<FreeList, OptionError> {
        cfg.validate()?;
        let min_block = cfg.min_block();
        let split_min = cfg.split_threshold.max(min_block);
        Ok(FreeList {
            name: "free-list".to_string(),
            cfg,
            min_block,
            split_min,
            heap_start: None,
            first: 0,
            end: 0,
            brk: 0,
            blocks: BTreeMap::new(),
            list: BTreeMap::new(),
            by_size: BTreeSet::new(),
            index: index::Index::default(),
            heap_index: index::Index::default(),
            by_size_key: BTreeSet::new(),
            seq: 0,
            rover: None,
            used: 0,
            free: 0,
            visits: 0,
            last_visits: 0,
            total_visits: 0,
        })
    }

    /// The allocator of a named preset (`first-fit`, `next-fit`, `best-fit`,
    /// `worst-fit`; see [`FreeListConfig::preset`]), carrying that name.
    pub fn preset(name: &str) -> Option<FreeList> {
        let cfg = FreeListConfig::preset(name)?;
        FreeList::new(cfg).ok().map(|f| f.with_name(name))
    }

    /// The same allocator under another registry name (for a preset with options
    /// changed, say `first-fit` with `order=lifo`).
    pub fn with_name(mut self, name: impl Into<String>) -> FreeList {
        self.name = name.into();
        self
    }

    /// The configuration.
    pub fn config(&self) -> &FreeListConfig {
        &self.cfg
    }

    /// The program break at the first `malloc` (where the heap starts); `None` before.
    pub fn heap_start(&self) -> Option<Addr> {
        self.heap_start
    }

    /// List nodes (and heap blocks, for scans) visited by the last call: what the call
    /// was charged for beyond its fast path.
    pub fn last_search(&self) -> u64 {
        self.last_visits
    }

    /// List nodes (and heap blocks) visited by every call so far.
    pub fn total_search(&self) -> u64 {
        self.total_visits
    }

    /// The free list in list order: (block address, block size), addresses absolute.
    pub fn free_list(&self) -> Vec<(Addr, u64)> {
        self.list.values().copied().collect()
    }

    /// The free list as OSTEP's `malloc.py` prints it, with addresses relative to the
    /// heap start, in list order:
    ///
    /// ```text
    /// Free List [ Size 2 ]: [ addr:0 sz:32 ] [ addr:96 sz:4000 ]
    /// ```
    ///
    /// Sizes are whole blocks (header and footer included). For homework: print it
    /// after each operation and check it by hand.
    pub fn describe(&self) -> String {
        let base = self.heap_start.unwrap_or(0);
        let mut s = format!("Free List [ Size {} ]:", self.list.len());
        for &(addr, size) in self.list.values() {
            let _ = write!(s, " [ addr:{} sz:{} ]", addr - base, size);
        }
        s
    }

    // ANCHOR: search
    /// Searches the list for a free block of at least `asize` bytes, by the fit policy.
    fn search(&mut self, asize: u64) -> Option<(Addr, u64, Key)> {
        let seen;
        let found = match (self.cfg.fit, self.cfg.order) {
            // The walk a C loop makes, answered by the index: the first node that fits
            // and how many nodes the walk passed on its way (all of them when none fits).
            (Fit::First, _) | (Fit::Best, Order::SizeAsc) => {
                match self.index.first_fit((0, 0), asize) {
                    Some((key, rank)) => {
                        seen = rank + 1;
                        self.list.get(&key).map(|&(a, s)| (a, s, key))
                    }
                    None => {
                        seen = self.index.len();
                        None
                    }
                }
            }
            (Fit::Next, _) => {
                // Resume at the rover's position, wrap around at the end of the list.
                let r = self.rover.unwrap_or((0, 0));
                let start = self.index.rank(r);
                let len = self.index.len();
                let hit = match self.index.first_fit(r, asize) {
                    Some((key, rank)) => Some((key, rank - start + 1)),
                    None => self
                        .index
                        .first_fit((0, 0), asize)
                        .filter(|&(key, _)| key < r)
                        .map(|(key, rank)| (key, len - start + rank + 1)),
                };
                match hit {
                    Some((key, walked)) => {
                        seen = walked;
                        self.list.get(&key).map(|&(a, s)| (a, s, key))
                    }
                    None => {
                        seen = len;
                        None
                    }
                }
            }
            (Fit::Best, _) => {
                // The C loop walks the whole list keeping the smallest block that fits
                // (the first of that size in list order), and stops early at a block
                // that fits exactly. The smallest fitting size and its first block in
                // list order are the first entry of `by_size_key` from `asize` on.
                let best = self
                    .by_size_key
                    .range((asize, (0, 0))..)
                    .next()
                    .map(|&(s, key)| (s, key));
                seen = match best {
                    Some((s, key)) if s == asize => self.index.rank(key) + 1,
                    _ => self.index.len(),
                };
                best.and_then(|(_, key)| self.list.get(&key).map(|&(a, s)| (a, s, key)))
            }
            (Fit::Worst, Order::SizeDesc) => {
                // The head is the largest block.
                let head = self.list.iter().next().map(|(&key, &(a, s))| (a, s, key));
                seen = u64::from(head.is_some());
                head.filter(|&(_, s, _)| s >= asize)
            }
            (Fit::Worst, _) => {
                // The C loop walks the whole list keeping the first largest block.
                seen = self.index.len();
                let worst = self
                    .by_size
                    .last()
                    .and_then(|&(max, _)| self.by_size_key.range((max, (0, 0))..).next().copied());
                worst
                    .and_then(|(_, key)| self.list.get(&key).map(|&(a, s)| (a, s, key)))
                    .filter(|&(_, s, _)| s >= asize)
            }
        };
        self.visits += seen;
        found
    }
    // ANCHOR_END: search

    /// Hands out `asize` bytes from the free block `(addr, bsize, key)`: unlinks it,
    /// splits off the tail when the remainder reaches the split threshold (the
    /// remainder keeps the block's place in the list), writes the tags. Returns the
    /// payload pointer.
    fn place(
        &mut self,
        kernel: &mut Kernel,
        (addr, bsize, key): (Addr, u64, Key),
        asize: u64,
    ) -> Result<Addr, AllocError> {
        self.list_remove(kernel, addr, bsize, key)?;
        // Next fit's rover moves to the node after the one taken (wrapping to the head
        // when there is none) ...
        self.rover = self.list.range(key..).next().map(|(&k, _)| k);
        let size = if bsize - asize >= self.split_min {
            asize
        } else {
            bsize
        };
        self.set_used(addr, size);
        self.write_tags(kernel, addr, size)?;
        if size < bsize {
            // ... or to the remainder of a split, which is where the search stopped.
            let rest = self.list_insert(kernel, addr + size, bsize - size, Place::Keep(key))?;
            self.rover = Some(rest);
        }
        Ok(addr + self.cfg.header)
    }

    fn malloc_inner(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let asize = self
            .block_size(size)
            .ok_or(AllocError::OutOfMemory { size })?;
        self.init(kernel);
        let mut found = self.search(asize);
        if found.is_none()
            && self.cfg.coalesce == Coalesce::Deferred
            && self.coalesce_all(kernel)?
        {
            found = self.search(asize);
        }
        let block = match found {
            Some(b) => b,
            None => self.grow(kernel, asize, size)?,
        };
        self.place(kernel, block, asize)
    }

    fn realloc_inner(
        &mut self,
        kernel: &mut Kernel,
        ptr: Addr,
        (addr, cur): (Addr, u64),
        size: u64,
        ops: &mut f64,
    ) -> Result<Addr, AllocError> {
        let asize = self
            .block_size(size)
            .ok_or(AllocError::OutOfMemory { size })?;
        if asize <= cur {
            // Shrink in place: cut off the tail when it is worth a block, free it.
            if cur - asize >= self.split_min {
                self.set_used(addr, asize);
                self.write_tags(kernel, addr, asize)?;
                self.set_used(addr + asize, cur - asize);
                self.free_block(kernel, addr + asize, cur - asize, true)?;
            }
            return Ok(ptr);
        }
        // Grow in place into a free successor that is big enough.
        self.visits += 1;
        if let Some(&Blk {
            size: nsize,
            key: Some(nkey),
        }) = self.blocks.get(&(addr + cur))
            && cur + nsize >= asize
        {
            self.list_remove(kernel, addr + cur, nsize, nkey)?;
            let total = cur + nsize;
            let size = if total - asize >= self.split_min {
                asize
            } else {
                total
            };
            self.set_used(addr, size);
            self.write_tags(kernel, addr, size)?;
            if size < total {
                self.list_insert(kernel, addr + size, total - size, Place::Keep(nkey))?;
            }
            return Ok(ptr);
        }
        // Move: malloc, copy the payload, free (two more calls' worth of work).
        *ops += 2.0;
        let new = self.malloc_inner(kernel, size)?;
        let n = (cur - self.cfg.header - self.cfg.footer).min(size);
        if n > 0 {
            kernel.touch(ptr, n, Access::Read)?;
            kernel.touch(new, n, Access::Write)?;
        }
        self.free_block(kernel, addr, cur, false)?;
        Ok(new)
    }

    /// Charges the call: `ops` fast paths plus one per node visited.
    fn finish(&mut self, kernel: &mut Kernel, ops: f64) {
        let per = kernel.config().cost.alloc_op_ns;
        kernel.charge_user(per * (ops + self.visits as f64));
        self.last_visits = self.visits;
        self.total_visits += self.visits;
        self.visits = 0;
    }
}

/// Builds a free list named `free-list`; the registry's presets name theirs.
impl Configurable for FreeList {
    type Config = FreeListConfig;

    fn from_config(cfg: FreeListConfig) -> Result<FreeList, OptionError> {
        FreeList::new(cfg)
    }
}

impl Allocator for FreeList {
    fn describe(&self) -> Option<String> {
        Some(FreeList::describe(self))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let r = self.malloc_inner(kernel, size);
        self.finish(kernel, 1.0);
        r
    }

    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        let (addr, size) = self
            .lookup_used(ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        let r = self.free_block(kernel, addr, size, false);
        self.finish(kernel, 1.0);
        r
    }

    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        let block = self
            .lookup_used(ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        let mut ops = 1.0;
        let r = self.realloc_inner(kernel, ptr, block, size, &mut ops);
        self.finish(kernel, ops);
        r
    }

    /// `malloc_trim(pad)`: (after a coalescing pass, when coalescing is deferred) lowers
    /// the break to keep only `pad` bytes of the free top block, in whole pages.
    fn trim(&mut self, kernel: &mut Kernel, pad: u64) -> Result<bool, AllocError> {
        let r = (|| {
            if self.cfg.coalesce == Coalesce::Deferred {
                self.coalesce_all(kernel)?;
            }
            self.release_top(kernel, pad)
        })();
        self.finish(kernel, 1.0);
        r
    }

    /// `arena` = break - heap start = `footprint`; `allocated` = `uordblks` = blocks in
    /// use plus the allocator's padding; `fordblks` = free blocks; `keepcost` = the free
    /// block at the end of the heap (0 if the last block is in use).
    fn stats(&self) -> HeapStats {
        let arena = self.heap_start.map_or(0, |h| self.brk.saturating_sub(h));
        let allocated = arena.saturating_sub(self.free);
        HeapStats {
            arena,
            hblks: 0,
            hblkhd: 0,
            uordblks: allocated,
            fordblks: self.free,
            keepcost: self.top().map_or(0, |(_, s, _)| s),
            allocated,
            footprint: arena,
            largest_free: self.by_size.last().map_or(0, |&(s, _)| s),
        }
    }

    /// The heap in address order: padding before the first block (`Meta`), every
    /// block (`Used`, `Free`, or `Top` for a free last block), slack before the break
    /// (`Meta`).
    fn blocks(&self, out: &mut Vec<Block>) {
        let Some(hs) = self.heap_start else {
            return;
        };
        if self.brk <= hs {
            return;
        }
        let block = |addr, size, kind| Block {
            addr,
            size,
            kind,
            mapped: false,
        };
        if self.first > hs {
            out.push(block(hs, self.first - hs, BlockKind::Meta));
        }
        let last = self.blocks.last_key_value().map(|(&a, _)| a);
        for (&a, b) in &self.blocks {
            let kind = match b.key {
                None => BlockKind::Used,
                Some(_) if Some(a) == last => BlockKind::Top,
                Some(_) => BlockKind::Free,
            };
            out.push(block(a, b.size, kind));
        }
        if self.brk > self.end {
            out.push(block(self.end, self.brk - self.end, BlockKind::Meta));
        }
    }
}
