//! Page tables: how x86-64 translates a virtual address with a 4-level walk.
//!
//! # The walk
//!
//! A user address on x86-64 has 48 significant bits. The low 12 bits are the offset
//! inside a 4 KiB page; the 36 bits above them are the *virtual page number* (VPN),
//! cut into four 9-bit indices, one per level of the tree:
//!
//! ```text
//!  47        39 38        30 29        21 20        12 11          0
//! +------------+------------+------------+------------+-------------+
//! | PML4 index | PDPT index |  PD index  |  PT index  | page offset |
//! +------------+------------+------------+------------+-------------+
//! ```
//!
//! Each table is one 4 KiB page holding 512 entries of 8 bytes (9 bits of index:
//! 2^9 = 512). The CPU's CR3 register holds the physical address of the process's
//! top table, the PML4 (page-map level 4). The walk reads:
//! 1. the PML4 entry at the PML4 index: it points to a PDPT (page-directory-pointer
//!    table), which covers 1 GiB per entry;
//! 2. the PDPT entry: it points to a PD (page directory), 2 MiB per entry;
//! 3. the PD entry: it points to a PT (page table), 4 KiB per entry, **or**, when its
//!    PS ("page size") bit is set, it maps a whole 2 MiB huge page itself and the walk
//!    stops one level early;
//! 4. the PT entry (PTE): it holds the physical frame number of the 4 KiB page and its
//!    permission bits.
//!
//! So a translation costs four dependent memory reads. The TLB ([`crate::tlb`]) caches
//! finished translations so that most accesses skip the walk.
//!
//! # Sparse trees
//!
//! A process uses a tiny part of its 256 TiB address space, so tables exist only where
//! something is mapped: an entry whose Present bit is clear means "nothing below here",
//! and no table is allocated for it. A process with one page mapped needs four table
//! pages (16 KiB of page tables for 4 KiB of data); a process with a 1 GiB heap needs
//! about 512 PTs, 1 PD, 1 PDPT and the PML4 (2 MiB). Those pages are real memory: they
//! come from the frame pool and count in [`crate::MemStats::pt_bytes`].
//!
//! # Freeing tables
//!
//! Clearing entries never frees a table by itself: a table whose entries are all gone
//! stays, ready for the next fault in its span, as long as some VMA still intersects
//! that span. Linux frees page-table pages at two moments, and the model does the
//! same (Linux 6.18, checked row by row with kernel scripts):
//! - **after address space is removed** (`munmap`, a brk shrink, a shrinking or moving
//!   `mremap`, `MAP_FIXED` replacing a mapping): `free_pgtables` frees every table,
//!   at every level (PT, PD, PDPT), whose whole span no longer intersects any VMA
//!   ([`PageTable::free_unused`]). Unmapping the middle of a VMA frees nothing; unmapping
//!   the last VMA of a 2 MiB region frees its PT, of a 1 GiB region its PD too;
//! - **after `MADV_DONTNEED`** (since Linux 6.13): a PT is freed when one call empties
//!   it *and* covers its whole 2 MiB within one VMA ([`PageTable::reclaim_pts`]). The
//!   same 2 MiB dropped in two calls keeps its (empty) PT.
//!
//! Reclaim of `MADV_FREE` pages frees none. The PML4 lives as long as the process.
//!
//! # Representation
//!
//! Tables live in an arena (`Vec` of 512-entry arrays) indexed by `u32`. A real
//! non-leaf entry holds the *physical frame* of the next table; here it holds the
//! table's arena index in the same bits (12 and up), and the table's frame is kept
//! beside it. Leaf entries hold real frame numbers.
//!
//! # Huge pages and the deposit
//!
//! A huge page is a PD entry with PS set. When part of it is unmapped or re-protected,
//! it must be *split* into 512 PTEs, which needs a PT page. Linux allocates that PT page
//! when it maps the huge page and parks it ("deposits" it) until a split, so a split
//! can never fail for lack of memory. The model does the same: each huge page owns a
//! deposited table, counted in `pt_bytes`.

use crate::phys::{FRAMES_PER_BLOCK, Frame, FramePool};
use std::collections::BTreeMap;
use std::fmt;

/// Entries per table.
pub const ENTRIES: usize = 512;

/// Bits of a page-table entry. The hardware bits sit where x86-64 puts them; bits 9-11
/// are "available to software", and Linux (like the model) keeps its own flags there.
pub mod pte {
    /// Present: the CPU may use this entry. Clear means the access traps.
    pub const P: u64 = 1 << 0;
    /// Writable: stores are allowed. Clear means a store traps (read-only, or the
    /// shared zero page waiting for copy-on-write).
    pub const W: u64 = 1 << 1;
    /// User: user mode may access the page (always set for user mappings).
    pub const U: u64 = 1 << 2;
    /// Page size: in a PD entry, this entry maps a 2 MiB page directly.
    pub const PS: u64 = 1 << 7;
    /// Software bit: the page was given up with `MADV_FREE` and not written since, so
    /// reclaim may drop it. (Linux tracks this with the hardware dirty bit, which
    /// `MADV_FREE` clears and the next store sets.)
    pub const LAZY: u64 = 1 << 9;
    /// Software bit: the entry maps the shared, read-only zero page (no private frame).
    pub const ZERO: u64 = 1 << 10;
    /// Software bit: the page is mapped but `PROT_NONE`; P is clear so every access
    /// traps, yet the frame stays (Linux's `_PAGE_PROTNONE`).
    pub const PROTNONE: u64 = 1 << 11;
    /// Where the frame number (or a table's arena index) sits.
    pub const ADDR_SHIFT: u32 = 12;

    /// The frame number in a leaf entry.
    pub const fn frame(e: u64) -> u32 {
        (e >> ADDR_SHIFT) as u32
    }

    /// True when the entry maps something: a frame or the zero page, accessible or
    /// `PROT_NONE` (Linux's `pte_present`).
    pub const fn mapped(e: u64) -> bool {
        e & (P | PROTNONE) != 0
    }

    /// True when the entry maps a private frame (counted in RSS).
    pub const fn has_frame(e: u64) -> bool {
        mapped(e) && e & ZERO == 0
    }
}

/// Sentinel for "no table".
const NIL: u32 = u32::MAX;

/// Flags of an entry that points to a lower table: present, writable, user. (The
/// leaf decides the real permission; upper levels allow everything.)
const TABLE_FLAGS: u64 = pte::P | pte::W | pte::U;

// ANCHOR: index
/// The index of `vpn` in a table of level `level` (1 = PT ... 4 = PML4).
#[inline]
const fn index(vpn: u64, level: u32) -> usize {
    ((vpn >> (9 * (level - 1))) & 511) as usize
}
// ANCHOR_END: index

/// Pages covered by one entry of a table of level `level`.
const fn span(level: u32) -> u64 {
    1 << (9 * (level - 1))
}

/// The entries of a level-`level` table whose span starts at VPN `base` that a range
/// walk over VPNs `[start, end)` must look at, each as `(index, first VPN it covers)`:
/// from the entry containing `start` (or the first, if the table begins inside the
/// range) to the entry containing `end - 1` (or the last). Both range walkers,
/// [`PageTable::update_range`] and [`PageTable::for_each`], descend through this one
/// computation.
fn entries_in(level: u32, base: u64, start: u64, end: u64) -> impl Iterator<Item = (usize, u64)> {
    let s = span(level);
    let first = if start > base {
        ((start - base) / s) as usize
    } else {
        0
    };
    let last = (((end - 1).saturating_sub(base)) / s).min(ENTRIES as u64 - 1) as usize;
    (first..=last).map(move |i| (i, base + i as u64 * s))
}

/// Bookkeeping of one table page.
#[derive(Copy, Clone, Debug)]
struct Meta {
    /// The physical frame holding the table.
    frame: Frame,
    /// Non-zero entries, so that an empty table is noticed in O(1).
    used: u16,
}

/// What a translation found at the bottom of the walk.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// The leaf entry (0 when nothing is mapped).
    pub entry: u64,
    /// True when the leaf is a 2 MiB PD entry.
    pub huge: bool,
}

/// What a range visitor wants done with a leaf.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave it.
    Keep,
    /// Replace the entry (same frame; new flags).
    Set(u64),
    /// Remove the mapping and free its frame(s).
    Clear,
    /// Remove the mapping but keep the frame: the caller moves it elsewhere.
    Detach,
    /// (Huge leaves only) split into 512 PTEs, then visit those.
    Split,
}

/// Totals of a range operation, in 4 KiB units.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeStats {
    /// Mapped pages visited (frames, zero-page and `PROT_NONE` entries).
    pub mapped: u64,
    /// 4 KiB frames freed by `Clear` (a huge page counts 512).
    pub freed: u64,
    /// Huge pages freed whole by `Clear`.
    pub freed_huge: u64,
    /// Huge pages split into 4 KiB entries.
    pub split: u64,
}

/// One process's page tables.
#[derive(Clone)]
pub struct PageTable {
    /// The tables, 512 entries each.
    tables: Vec<[u64; ENTRIES]>,
    /// Parallel to `tables`.
    meta: Vec<Meta>,
    /// Arena slots free for reuse (their tables are all zero).
    free_slots: Vec<u32>,
    /// The PML4's slot, or `NIL` if the process has none yet.
    root: u32,
    /// Table pages owned: the tree plus deposited tables.
    live: u64,
    /// Deposited PT pages of huge mappings, keyed by the huge page's 2 MiB region
    /// number (VPN / 512).
    deposits: BTreeMap<u64, u32>,
}

impl fmt::Debug for PageTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageTable")
            .field("pages", &self.live)
            .field("huge_deposits", &self.deposits.len())
            .finish()
    }
}

impl PageTable {
    /// An empty page table without even a PML4 (see [`PageTable::ensure_root`]).
    pub fn new() -> PageTable {
        PageTable {
            tables: Vec::new(),
            meta: Vec::new(),
            free_slots: Vec::new(),
            root: NIL,
            live: 0,
            deposits: BTreeMap::new(),
        }
    }

    /// Page-table pages owned (PML4, PDPTs, PDs, PTs and deposited tables).
    pub fn pages(&self) -> u64 {
        self.live
    }

    /// True once the PML4 exists.
    pub fn has_root(&self) -> bool {
        self.root != NIL
    }

    /// Takes a frame and an arena slot for a new, empty table.
    fn alloc_table(&mut self, phys: &mut FramePool) -> Option<u32> {
        let frame = phys.alloc()?;
        let slot = match self.free_slots.pop() {
            Some(s) => {
                debug_assert!(self.tables[s as usize].iter().all(|&e| e == 0));
                self.meta[s as usize] = Meta { frame, used: 0 };
                s
            }
            None => {
                self.tables.push([0; ENTRIES]);
                self.meta.push(Meta { frame, used: 0 });
                (self.tables.len() - 1) as u32
            }
        };
        self.live += 1;
        Some(slot)
    }

    /// Gives an empty table's frame back.
    fn free_table(&mut self, slot: u32, phys: &mut FramePool) {
        debug_assert!(self.tables[slot as usize].iter().all(|&e| e == 0));
        phys.free(self.meta[slot as usize].frame);
        self.free_slots.push(slot);
        self.live -= 1;
    }

    /// Allocates the PML4 if the process has none. Returns false when no frame is free.
    pub fn ensure_root(&mut self, phys: &mut FramePool) -> bool {
        if self.root == NIL {
            match self.alloc_table(phys) {
                Some(r) => self.root = r,
                None => return false,
            }
        }
        true
    }

    /// The slot an upper-level entry points to.
    #[inline]
    fn child(e: u64) -> u32 {
        (e >> pte::ADDR_SHIFT) as u32
    }

    // ANCHOR: walk
    /// Walks the tree for `vpn` the way the MMU does and returns the leaf. This is the
    /// TLB-miss path of every access, so it only reads: four array loads at most.
    #[inline]
    pub fn translate(&self, vpn: u64) -> Leaf {
        const NONE: Leaf = Leaf {
            entry: 0,
            huge: false,
        };
        if self.root == NIL {
            return NONE;
        }
        let e4 = self.tables[self.root as usize][index(vpn, 4)];
        if e4 & pte::P == 0 {
            return NONE;
        }
        let e3 = self.tables[Self::child(e4) as usize][index(vpn, 3)];
        if e3 & pte::P == 0 {
            return NONE;
        }
        let e2 = self.tables[Self::child(e3) as usize][index(vpn, 2)];
        if e2 & pte::PS != 0 {
            // A 2 MiB page: the walk ends at the PD.
            return Leaf {
                entry: e2,
                huge: true,
            };
        }
        if e2 & pte::P == 0 {
            return NONE;
        }
        Leaf {
            entry: self.tables[Self::child(e2) as usize][index(vpn, 1)],
            huge: false,
        }
    }
    // ANCHOR_END: walk

    /// Slots of the tables on the path to `vpn`: `[PML4, PDPT, PD, PT]`, `NIL` where a
    /// table is missing (and below it). A huge PD entry leaves the PT slot `NIL`.
    fn path(&self, vpn: u64) -> [u32; 4] {
        let mut p = [NIL; 4];
        p[0] = self.root;
        for lvl in 0..3 {
            let t = p[lvl];
            if t == NIL {
                break;
            }
            let e = self.tables[t as usize][index(vpn, 4 - lvl as u32)];
            if e & pte::P == 0 || (lvl == 2 && e & pte::PS != 0) {
                break;
            }
            p[lvl + 1] = Self::child(e);
        }
        p
    }

    /// How many table pages a 4 KiB mapping at `vpn` would need to allocate.
    pub fn missing_for_page(&self, vpn: u64) -> u64 {
        self.path(vpn).iter().filter(|&&t| t == NIL).count() as u64
    }

    /// How many table pages a huge mapping at `vpn` would need: missing PML4, PDPT or
    /// PD, plus the deposited PT.
    pub fn missing_for_huge(&self, vpn: u64) -> u64 {
        self.path(vpn)[..3].iter().filter(|&&t| t == NIL).count() as u64 + 1
    }

    /// How deep the tables below the PML4 reach on the path to `vpn`: 0 (no PDPT),
    /// 1 (a PDPT), 2 (a PD: the entry for `vpn` is empty or maps a huge page) or 3 (a PT).
    pub fn depth(&self, vpn: u64) -> u32 {
        self.path(vpn)[1..]
            .iter()
            .take_while(|&&t| t != NIL)
            .count() as u32
    }

    /// How many table pages making every path of `paths` reach its depth (see
    /// [`PageTable::ensure`]) would allocate, tables shared by several paths counted
    /// once.
    pub fn missing_for_paths(&self, paths: &[(u64, u32)]) -> u64 {
        let mut planned = std::collections::BTreeSet::new();
        let mut need = u64::from(self.root == NIL && !paths.is_empty());
        for &(vpn, depth) in paths {
            let p = self.path(vpn);
            for d in 1..=depth.min(3) {
                let key = (d, vpn >> (9 * (4 - d)));
                if p[d as usize] == NIL && planned.insert(key) {
                    need += 1;
                }
            }
        }
        need
    }

    /// Allocates the tables missing on the path to `vpn` down to `depth` (1: the PDPT,
    /// 2: the PD, 3: the PT), as Linux's `pud_alloc`, `pmd_alloc` and `pte_alloc` do.
    /// Returns the tables allocated, or `None` when frames ran out (callers reserve
    /// [`PageTable::missing_for_paths`] frames first) or a huge page is in the way of a
    /// PT.
    pub fn ensure(&mut self, vpn: u64, depth: u32, phys: &mut FramePool) -> Option<u64> {
        if depth == 0 {
            return Some(0);
        }
        let mut allocated = 0;
        if self.root == NIL {
            self.root = self.alloc_table(phys)?;
            allocated += 1;
        }
        let mut t = self.root;
        for level in (5 - depth.min(3)..=4).rev() {
            let i = index(vpn, level);
            let e = self.tables[t as usize][i];
            if e & pte::PS != 0 {
                return None;
            }
            t = if e & pte::P != 0 {
                Self::child(e)
            } else {
                let n = self.alloc_table(phys)?;
                allocated += 1;
                self.tables[t as usize][i] = ((n as u64) << pte::ADDR_SHIFT) | TABLE_FLAGS;
                self.meta[t as usize].used += 1;
                n
            };
        }
        Some(allocated)
    }

    /// True when the PD entry covering `vpn` is empty: no PT below it and no huge page,
    /// the precondition for mapping a huge page there (Linux's `pmd_none`).
    pub fn pd_entry_empty(&self, vpn: u64) -> bool {
        let p = self.path(vpn);
        match p[2] {
            NIL => true,
            pd => self.tables[pd as usize][index(vpn, 2)] == 0,
        }
    }

    /// Walks to the PD covering `vpn`, allocating the PML4, PDPT and PD as needed.
    /// Returns the PD's slot and how many tables were allocated, or `None` when a frame
    /// was missing (callers check [`PageTable::missing_for_page`] first).
    fn walk_alloc_pd(&mut self, vpn: u64, phys: &mut FramePool) -> Option<(u32, u64)> {
        let mut allocated = 0;
        if self.root == NIL {
            self.root = self.alloc_table(phys)?;
            allocated += 1;
        }
        let mut t = self.root;
        for level in [4, 3] {
            let i = index(vpn, level);
            let e = self.tables[t as usize][i];
            t = if e & pte::P != 0 {
                Self::child(e)
            } else {
                let n = self.alloc_table(phys)?;
                allocated += 1;
                self.tables[t as usize][i] = ((n as u64) << pte::ADDR_SHIFT) | TABLE_FLAGS;
                self.meta[t as usize].used += 1;
                n
            };
        }
        Some((t, allocated))
    }

    /// Installs a 4 KiB leaf `entry` for `vpn`, allocating missing tables. Returns the
    /// number of tables allocated, or `None` when frames ran out (no change is left
    /// half-done only if the caller checked [`PageTable::missing_for_page`]).
    pub fn install_page(&mut self, vpn: u64, entry: u64, phys: &mut FramePool) -> Option<u64> {
        let (pd, mut allocated) = self.walk_alloc_pd(vpn, phys)?;
        let i = index(vpn, 2);
        let e = self.tables[pd as usize][i];
        if e & pte::PS != 0 {
            return None; // a huge page is there: the caller must split it first
        }
        let pt = if e & pte::P != 0 {
            Self::child(e)
        } else {
            let n = self.alloc_table(phys)?;
            allocated += 1;
            self.tables[pd as usize][i] = ((n as u64) << pte::ADDR_SHIFT) | TABLE_FLAGS;
            self.meta[pd as usize].used += 1;
            n
        };
        let slot = &mut self.tables[pt as usize][index(vpn, 1)];
        if *slot == 0 {
            self.meta[pt as usize].used += 1;
        }
        *slot = entry;
        Some(allocated)
    }

    /// Installs a 2 MiB leaf (a PD entry with PS set) for the region of `vpn`, with its
    /// deposited PT. The PD entry must be empty. Returns the tables allocated.
    pub fn install_huge(&mut self, vpn: u64, entry: u64, phys: &mut FramePool) -> Option<u64> {
        let (pd, allocated) = self.walk_alloc_pd(vpn, phys)?;
        let i = index(vpn, 2);
        if self.tables[pd as usize][i] != 0 {
            return None;
        }
        let deposit = self.alloc_table(phys)?;
        self.deposits.insert(vpn >> 9, deposit);
        self.tables[pd as usize][i] = entry | pte::PS;
        self.meta[pd as usize].used += 1;
        Some(allocated + 1)
    }

    /// The 4 KiB leaf entry of `vpn` for in-place changes, or `None` if there is no PT
    /// for it (or a huge page covers it).
    pub fn leaf_mut(&mut self, vpn: u64) -> Option<&mut u64> {
        let pt = self.path(vpn)[3];
        if pt == NIL {
            return None;
        }
        Some(&mut self.tables[pt as usize][index(vpn, 1)])
    }

    /// Replaces the huge PD entry at (`pd`, `i`) for region `region` by a PT of 512
    /// entries mapping the same frames with the same permissions.
    fn split_huge(&mut self, pd: u32, i: usize, region: u64, phys: &mut FramePool) {
        let e = self.tables[pd as usize][i];
        let Some(pt) = self.deposits.remove(&region) else {
            debug_assert!(false, "huge page without a deposited table");
            return;
        };
        let base = pte::frame(e);
        let flags = e & !pte::PS & ((1 << pte::ADDR_SHIFT) - 1);
        for (j, slot) in self.tables[pt as usize].iter_mut().enumerate() {
            *slot = ((base as u64 + j as u64) << pte::ADDR_SHIFT) | flags;
        }
        self.meta[pt as usize].used = ENTRIES as u16;
        self.tables[pd as usize][i] = ((pt as u64) << pte::ADDR_SHIFT) | TABLE_FLAGS;
        phys.split_huge(base);
    }

    /// Visits every mapped leaf in `[start, end)` (VPNs) in address order and applies
    /// what `f` returns. A huge page only partly inside the range is split first; one
    /// wholly inside is offered to `f` as a huge leaf (which may answer `Split`). Frames
    /// of cleared leaves go back to `phys`; tables stay, even when left empty (see
    /// [`PageTable::free_unused`] and [`PageTable::reclaim_pts`]).
    pub fn update_range<F>(
        &mut self,
        start: u64,
        end: u64,
        phys: &mut FramePool,
        mut f: F,
    ) -> RangeStats
    where
        F: FnMut(u64, u64, bool) -> Action,
    {
        let mut stats = RangeStats::default();
        if self.root != NIL && start < end {
            self.visit(self.root, 4, 0, start, end, phys, &mut f, &mut stats);
        }
        stats
    }

    #[allow(clippy::too_many_arguments)]
    fn visit<F>(
        &mut self,
        t: u32,
        level: u32,
        base: u64,
        start: u64,
        end: u64,
        phys: &mut FramePool,
        f: &mut F,
        stats: &mut RangeStats,
    ) where
        F: FnMut(u64, u64, bool) -> Action,
    {
        for (i, vb) in entries_in(level, base, start, end) {
            let e = self.tables[t as usize][i];
            if e == 0 {
                continue;
            }
            if level == 1 {
                stats.mapped += 1;
                match f(vb, e, false) {
                    Action::Keep | Action::Split => {}
                    Action::Set(n) => self.tables[t as usize][i] = n,
                    act @ (Action::Clear | Action::Detach) => {
                        if act == Action::Clear && pte::has_frame(e) {
                            phys.free(pte::frame(e));
                            stats.freed += 1;
                        }
                        self.tables[t as usize][i] = 0;
                        self.meta[t as usize].used -= 1;
                    }
                }
                continue;
            }
            if level == 2 && e & pte::PS != 0 {
                let whole = vb >= start && vb + 512 <= end;
                let act = if whole { f(vb, e, true) } else { Action::Split };
                match act {
                    Action::Keep => {
                        stats.mapped += 512;
                        continue;
                    }
                    Action::Set(n) => {
                        stats.mapped += 512;
                        self.tables[t as usize][i] = n | pte::PS;
                        continue;
                    }
                    Action::Clear | Action::Detach => {
                        stats.mapped += 512;
                        if act == Action::Clear {
                            phys.free_huge(pte::frame(e));
                            stats.freed += FRAMES_PER_BLOCK as u64;
                            stats.freed_huge += 1;
                        }
                        if let Some(d) = self.deposits.remove(&(vb >> 9)) {
                            self.free_table(d, phys);
                        }
                        self.tables[t as usize][i] = 0;
                        self.meta[t as usize].used -= 1;
                        continue;
                    }
                    Action::Split => {
                        self.split_huge(t, i, vb >> 9, phys);
                        stats.split += 1;
                        // fall through: visit the new PT below
                    }
                }
            }
            let c = Self::child(self.tables[t as usize][i]);
            self.visit(c, level - 1, vb, start, end, phys, f, stats);
        }
    }

    /// `free_pgtables`: frees every table below the PML4 whose span intersects VPNs
    /// `[start, end)` and for which `in_use(first VPN, end VPN)` is false (no VMA left
    /// in it), with everything below it. Called after a range was unmapped, when its
    /// entries are already cleared. Returns the table pages freed.
    pub fn free_unused(
        &mut self,
        start: u64,
        end: u64,
        phys: &mut FramePool,
        in_use: impl Fn(u64, u64) -> bool,
    ) -> u64 {
        let before = self.live;
        if self.root != NIL && start < end {
            self.free_unused_in(self.root, 4, 0, start, end, phys, &in_use);
        }
        before - self.live
    }

    #[allow(clippy::too_many_arguments)]
    fn free_unused_in(
        &mut self,
        t: u32,
        level: u32,
        base: u64,
        start: u64,
        end: u64,
        phys: &mut FramePool,
        in_use: &impl Fn(u64, u64) -> bool,
    ) {
        for (i, vb) in entries_in(level, base, start, end) {
            let e = self.tables[t as usize][i];
            if e == 0 || (level == 2 && e & pte::PS != 0) {
                continue;
            }
            let c = Self::child(e);
            if in_use(vb, vb + span(level)) {
                if level > 2 {
                    self.free_unused_in(c, level - 1, vb, start, end, phys, in_use);
                }
            } else {
                self.free_subtree(c, level - 1, phys);
                self.tables[t as usize][i] = 0;
                self.meta[t as usize].used -= 1;
            }
        }
    }

    /// Frees table `t` of level `level` and every table below it. Its span has no VMA,
    /// so it maps nothing any more (only empty entries and lower tables remain).
    fn free_subtree(&mut self, t: u32, level: u32, phys: &mut FramePool) {
        if level > 1 {
            for i in 0..ENTRIES {
                let e = self.tables[t as usize][i];
                if e != 0 {
                    debug_assert!(e & pte::PS == 0, "huge page outside every VMA");
                    self.free_subtree(Self::child(e), level - 1, phys);
                    self.tables[t as usize][i] = 0;
                }
            }
        }
        debug_assert!(
            level > 1 || self.meta[t as usize].used == 0,
            "page mapped outside every VMA"
        );
        self.tables[t as usize] = [0; ENTRIES];
        self.meta[t as usize].used = 0;
        self.free_table(t, phys);
    }

    /// The page-table reclaim of `MADV_DONTNEED`: frees every PT whose whole 2 MiB span
    /// lies inside VPNs `[start, end)` and that is empty. Returns the PTs freed.
    pub fn reclaim_pts(&mut self, start: u64, end: u64, phys: &mut FramePool) -> u64 {
        let first = start.div_ceil(512) * 512;
        let mut freed = 0;
        let mut region = first;
        while region + 512 <= end {
            let [_, _, pd, pt] = self.path(region);
            if pt != NIL && self.meta[pt as usize].used == 0 {
                self.free_table(pt, phys);
                self.tables[pd as usize][index(region, 2)] = 0;
                self.meta[pd as usize].used -= 1;
                freed += 1;
            }
            region += 512;
        }
        freed
    }

    /// Calls `f(vpn, entry, huge)` for every mapped leaf in `[start, end)`, in address
    /// order, without changing anything. Huge leaves are reported once, with the VPN of
    /// their first page (which may lie before `start`).
    pub fn for_each<F: FnMut(u64, u64, bool)>(&self, start: u64, end: u64, mut f: F) {
        if self.root != NIL && start < end {
            self.walk_ro(self.root, 4, 0, start, end, &mut f);
        }
    }

    fn walk_ro<F: FnMut(u64, u64, bool)>(
        &self,
        t: u32,
        level: u32,
        base: u64,
        start: u64,
        end: u64,
        f: &mut F,
    ) {
        for (i, vb) in entries_in(level, base, start, end) {
            let e = self.tables[t as usize][i];
            if e == 0 {
                continue;
            }
            if level == 1 {
                f(vb, e, false);
            } else if level == 2 && e & pte::PS != 0 {
                f(vb, e, true);
            } else {
                self.walk_ro(Self::child(e), level - 1, vb, start, end, f);
            }
        }
    }

    /// Frees every frame and every table, the PML4 included (process exit). Returns the
    /// data frames freed (4 KiB units).
    pub fn destroy(&mut self, phys: &mut FramePool) -> u64 {
        let stats = self.update_range(0, 1 << 36, phys, |_, _, _| Action::Clear);
        if self.root != NIL {
            let r = self.root;
            self.root = NIL;
            self.free_subtree(r, 4, phys);
        }
        stats.freed
    }

    /// Recounts the tree for consistency checks: verifies every table's `used` count,
    /// that every table but the PML4 spans at least one VMA (`in_use(first VPN, end
    /// VPN)`: a table with none left would have been freed), that every huge page has
    /// a deposit, and that the tables reachable plus deposits equal
    /// [`PageTable::pages`]. Returns a description of the first problem found.
    pub fn audit(&self, in_use: impl Fn(u64, u64) -> bool) -> Result<(), String> {
        if self.root == NIL {
            return if self.live == 0 && self.deposits.is_empty() {
                Ok(())
            } else {
                Err(format!("no PML4 but {} table pages counted", self.live))
            };
        }
        let mut reachable = 0u64;
        let mut huge = 0usize;
        self.audit_table(self.root, 4, 0, &mut reachable, &mut huge, &in_use)?;
        if huge != self.deposits.len() {
            return Err(format!(
                "{huge} huge pages but {} deposits",
                self.deposits.len()
            ));
        }
        if reachable + self.deposits.len() as u64 != self.live {
            return Err(format!(
                "{reachable} tables reachable + {} deposits != {} counted",
                self.deposits.len(),
                self.live
            ));
        }
        Ok(())
    }

    fn audit_table(
        &self,
        t: u32,
        level: u32,
        base: u64,
        reachable: &mut u64,
        huge: &mut usize,
        in_use: &impl Fn(u64, u64) -> bool,
    ) -> Result<(), String> {
        *reachable += 1;
        let entries = &self.tables[t as usize];
        let used = entries.iter().filter(|&&e| e != 0).count();
        if used != self.meta[t as usize].used as usize {
            return Err(format!(
                "level-{level} table at vpn {base:#x}: {used} entries, meta says {}",
                self.meta[t as usize].used
            ));
        }
        if t != self.root && !in_use(base, base + span(level + 1)) {
            return Err(format!(
                "level-{level} table at vpn {base:#x} spans no VMA but was not freed"
            ));
        }
        for (i, &e) in entries.iter().enumerate() {
            if e == 0 || level == 1 {
                continue;
            }
            let vb = base + i as u64 * span(level);
            if level == 2 && e & pte::PS != 0 {
                if !self.deposits.contains_key(&(vb >> 9)) {
                    return Err(format!("huge page at vpn {vb:#x} has no deposited table"));
                }
                *huge += 1;
                continue;
            }
            self.audit_table(Self::child(e), level - 1, vb, reachable, huge, in_use)?;
        }
        Ok(())
    }
}

impl Default for PageTable {
    fn default() -> Self {
        PageTable::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(frame: u32) -> u64 {
        ((frame as u64) << pte::ADDR_SHIFT) | pte::P | pte::W | pte::U
    }

    #[test]
    fn one_page_needs_four_tables_and_they_are_freed() {
        let mut phys = FramePool::new(64);
        let mut pt = PageTable::new();
        let vpn = 0x5555_5555_9000u64 >> 12;
        assert_eq!(pt.missing_for_page(vpn), 4);
        let f = phys.alloc().unwrap();
        assert_eq!(pt.install_page(vpn, page(f), &mut phys), Some(4));
        assert_eq!(pt.pages(), 4);
        assert_eq!(
            pt.translate(vpn),
            Leaf {
                entry: page(f),
                huge: false
            }
        );
        assert_eq!(pt.translate(vpn + 1).entry, 0);
        // A neighbour in the same 2 MiB region needs no new table.
        assert_eq!(pt.missing_for_page(vpn + 1), 0);
        // A page 1 GiB away needs a new PD and PT.
        assert_eq!(pt.missing_for_page(vpn + (1 << 18)), 2);
        pt.audit(|_, _| true).unwrap();
        let st = pt.update_range(vpn, vpn + 1, &mut phys, |_, _, _| Action::Clear);
        assert_eq!(
            st,
            RangeStats {
                mapped: 1,
                freed: 1,
                freed_huge: 0,
                split: 0
            }
        );
        assert_eq!(pt.pages(), 4, "clearing an entry frees no table");
        assert_eq!(
            pt.reclaim_pts(vpn, vpn + 1, &mut phys),
            0,
            "not a whole 2 MiB"
        );
        // Another VMA still in the PT's 2 MiB keeps the PT; none in the PD's 1 GiB
        // frees the PD and its PDPT too.
        let pt_span = (vpn & !511, (vpn & !511) + 512);
        assert_eq!(
            pt.free_unused(vpn, vpn + 1, &mut phys, |s, e| s <= pt_span.0
                && e >= pt_span.1),
            0
        );
        assert_eq!(pt.free_unused(vpn, vpn + 1, &mut phys, |_, _| false), 3);
        assert_eq!(pt.pages(), 1, "only the PML4 is left");
        assert_eq!(phys.free_frames(), 63);
        pt.audit(|_, _| false).unwrap();
        pt.destroy(&mut phys);
        assert_eq!(phys.free_frames(), 64);
    }

    #[test]
    fn indices_follow_the_address_bits() {
        // 0x0000_7f12_3456_7000: PML4 0xfe, PDPT 0x48, PD 0x1a2, PT 0x167.
        let vpn = 0x0000_7f12_3456_7000u64 >> 12;
        assert_eq!(index(vpn, 4), 0xfe);
        assert_eq!(index(vpn, 3), 0x48);
        assert_eq!(index(vpn, 2), 0x1a2);
        assert_eq!(index(vpn, 1), 0x167);
    }

    #[test]
    fn huge_page_split_keeps_frames_and_uses_the_deposit() {
        let mut phys = FramePool::new(4 * 512);
        let mut pt = PageTable::new();
        assert!(pt.ensure_root(&mut phys));
        let vpn = 0x4000_0000u64 >> 12; // 1 GiB: 2 MiB-aligned
        assert!(pt.pd_entry_empty(vpn));
        assert_eq!(pt.missing_for_huge(vpn), 3);
        let base = phys.alloc_huge().unwrap();
        assert_eq!(pt.install_huge(vpn, page(base), &mut phys), Some(3));
        assert!(!pt.pd_entry_empty(vpn));
        let l = pt.translate(vpn + 7);
        assert!(l.huge);
        assert_eq!(pte::frame(l.entry), base);
        pt.audit(|_, _| true).unwrap();
        let pages = pt.pages();
        // Unmap one 4 KiB page in the middle: the huge page splits.
        let st = pt.update_range(vpn + 7, vpn + 8, &mut phys, |_, _, _| Action::Clear);
        assert_eq!(st.freed, 1);
        assert_eq!(pt.pages(), pages, "the deposit became the PT");
        let l = pt.translate(vpn + 8);
        assert!(!l.huge);
        assert_eq!(pte::frame(l.entry), base + 8);
        assert_eq!(pt.translate(vpn + 7).entry, 0);
        pt.audit(|_, _| true).unwrap();
        let st = pt.update_range(vpn, vpn + 512, &mut phys, |_, _, _| Action::Clear);
        assert_eq!(st.freed, 511);
        assert_eq!(
            pt.reclaim_pts(vpn, vpn + 512, &mut phys),
            1,
            "a whole 2 MiB"
        );
        assert_eq!(pt.free_unused(vpn, vpn + 512, &mut phys, |_, _| false), 2);
        assert_eq!(pt.pages(), 1);
        assert_eq!(phys.free_frames(), 4 * 512 - 1);
        assert!(phys.has_free_block());
    }

    #[test]
    fn missing_for_paths_counts_shared_tables_once() {
        let mut phys = FramePool::new(64);
        let mut pt = PageTable::new();
        // Two pages in one PT, one in another PT of the same PD, one 1 GiB away, and
        // one that needs only its PDPT.
        let v = 1u64 << 27; // PML4 slot 1
        let paths = [
            (v, 3),
            (v + 1, 3),
            (v + 512, 3),
            (v + (1 << 18), 3),
            (3 << 27, 1),
        ];
        // root + PDPT + PD + PT, + PT, + PD + PT, + PDPT
        assert_eq!(pt.missing_for_paths(&paths), 8);
        let made: u64 = paths
            .iter()
            .map(|&(vpn, d)| pt.ensure(vpn, d, &mut phys).unwrap())
            .sum();
        assert_eq!(made, 8);
        assert_eq!(pt.pages(), 8);
        assert_eq!(pt.depth(v + 2), 3);
        assert_eq!(pt.depth(3 << 27), 1);
        assert_eq!(pt.missing_for_paths(&paths), 0);
    }
}
