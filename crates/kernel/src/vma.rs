//! Virtual memory areas: which address ranges a process may use, and how.
//!
//! The page table says what is mapped *now*; the VMAs say what *may* be mapped. A VMA
//! (Linux's `vm_area_struct`) is a page-aligned range `[start, end)` with one protection
//! and a few flags; `mmap` and `brk` only create VMAs, and pages appear later, one fault
//! at a time. An access inside a VMA that is allowed by its protection is served by the
//! fault handler; anything else is a segmentation fault.
//!
//! The VMAs of a process never overlap and are kept in an ordered map keyed by start
//! address, so "which VMA contains address `a`" is the last VMA starting at or below
//! `a`: O(log n). Linux uses a maple tree (before 6.1 a red-black tree) for the same.
//!
//! # When two VMAs are one
//!
//! Neighbouring VMAs that could be one are merged: two consecutive anonymous mmaps with
//! the same protection become one VMA (`/proc/self/maps` shows one line for them), and
//! `mprotect` that gives a piece the protection of its neighbour joins them. Unmapping
//! or re-protecting part of a VMA splits it. Both matter because a process may hold at
//! most `vm.max_map_count` VMAs. Linux merges two adjacent anonymous VMAs only when
//! (`is_mergeable_vma`, `is_mergeable_anon_vma` in `mm/vma.c`) all of this holds, and
//! the model checks the same ([`Vma::joins`]):
//! - **the same flags**: protection, and the accounting flags `VM_ACCOUNT` (the range
//!   is charged to the commit limit) and `VM_NORESERVE` (`MAP_NORESERVE`), so a
//!   `MAP_NORESERVE` mapping never merges with an ordinary one;
//! - **compatible `anon_vma`s**: a VMA's first write fault gives it an *anon_vma*, the
//!   object through which the kernel finds every page of the VMA when it must unmap it
//!   (reverse mapping). Pages cannot change their anon_vma, so two VMAs that were each
//!   written to, and so own different anon_vmas, stay two VMAs even when they touch and
//!   have the same protection. A VMA that was never written to (or was only read: a read
//!   fault maps the shared zero page and needs no anon_vma) merges with anything
//!   compatible. Pieces split from one VMA share its anon_vma and merge again.
//! - **contiguous page offsets**: every anonymous VMA has a page offset (`vm_pgoff`),
//!   its start address in pages when it was created, and split pieces keep the offsets
//!   of their pages. Two VMAs merge only if the upper one's offset continues the lower
//!   one's. Fresh VMAs always line up; a VMA that `mremap` moved after it was written to
//!   keeps its old offsets (its pages are indexed by them), so it never merges with the
//!   fresh neighbours at its new place.
//!
//! When a new range could join the VMA below it and the one above it, but those two
//! could not join each other, Linux merges it with the one below only.
//!
//! A VMA that gets its anon_vma may *reuse* the anon_vma of a neighbour that it could
//! merge with but for its protection (`find_mergeable_anon_vma`), so that a later
//! `mprotect` can still merge them.
//!
//! The heap is an ordinary anonymous VMA: it merges with a compatible mapping right
//! above it like any other (Linux labels `[heap]` whichever VMA covers the break's
//! range).

use crate::gap_tree::GapTree;
use crate::types::{Addr, PAGE_SHIFT, PAGE_SIZE, Prot, USER_SPACE_END};
use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Unbounded};

/// One VMA as seen from outside.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct VmaInfo {
    /// First address.
    pub start: Addr,
    /// One past the last address.
    pub end: Addr,
    /// Protection.
    pub prot: Prot,
    /// True for the heap: the VMA that covers the program break's range (what Linux
    /// labels `[heap]` in `/proc/self/maps`).
    pub heap: bool,
}

/// Which anon_vma a VMA's pages belong to (an identity, unique in its address space).
pub type AnonId = u64;

/// A VMA's attributes (its start is the map key).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    /// One past the last address.
    pub end: Addr,
    /// Protection.
    pub prot: Prot,
    /// `VM_ACCOUNT`: the VMA's size is charged as committed memory (a private writable
    /// mapping without `MAP_NORESERVE`, or the heap).
    pub accounted: bool,
    /// `VM_NORESERVE`: mapped with `MAP_NORESERVE` (and the policy honours it).
    pub noreserve: bool,
    /// The anon_vma, once the VMA has been written to.
    pub anon: Option<AnonId>,
    /// `vm_pgoff`: the page offset of the VMA's first page.
    pub pgoff: u64,
}

impl Vma {
    /// A VMA just created at `start`: no anon_vma yet, page offset `start` in pages.
    pub fn fresh(start: Addr, end: Addr, prot: Prot, accounted: bool, noreserve: bool) -> Vma {
        Vma {
            end,
            prot,
            accounted,
            noreserve,
            anon: None,
            pgoff: start >> PAGE_SHIFT,
        }
    }

    /// The same VMA cut to start at `at` (inside it): the page offset moves along.
    fn tail_from(self, start: Addr, at: Addr) -> Vma {
        Vma {
            pgoff: self.pgoff + ((at - start) >> PAGE_SHIFT),
            ..self
        }
    }

    /// True when two VMAs have the same flags (the part of `is_mergeable_vma` that the
    /// model's anonymous private VMAs can differ in).
    fn same_flags(&self, other: &Vma) -> bool {
        self.prot == other.prot
            && self.accounted == other.accounted
            && self.noreserve == other.noreserve
    }

    // ANCHOR: vma_merge
    /// True when `self` (starting at `start`) and `upper` (starting at `upper_start`)
    /// could be one VMA: adjacent, the same flags, compatible anon_vmas, contiguous page
    /// offsets.
    pub fn joins(&self, start: Addr, upper_start: Addr, upper: &Vma) -> bool {
        self.end == upper_start
            && self.same_flags(upper)
            && anon_compatible(self.anon, upper.anon)
            && self.pgoff + ((self.end - start) >> PAGE_SHIFT) == upper.pgoff
    }
    // ANCHOR_END: vma_merge
}

/// Linux's `is_mergeable_anon_vma`: at most one of the two has an anon_vma, or they
/// share it.
fn anon_compatible(a: Option<AnonId>, b: Option<AnonId>) -> bool {
    a.is_none() || b.is_none() || a == b
}

/// The VMAs of one address space, with the free gaps between them indexed for `mmap`.
#[derive(Clone, Debug)]
pub struct VmaMap {
    map: BTreeMap<Addr, Vma>,
    /// Sum of VMA lengths (Linux's `total_vm`, `VmSize`).
    mapped: u64,
    /// Bytes of private writable VMAs (Linux's `data_vm`, `VmData`): what `RLIMIT_DATA`
    /// limits.
    data: u64,
    /// Bytes of accounted VMAs (`VM_ACCOUNT`): this process's share of committed memory.
    committed: u64,
    /// The next fresh anon_vma identity.
    next_anon: AnonId,
    /// The complement of the VMAs within `[0, USER_SPACE_END)`.
    gaps: GapTree,
}

impl VmaMap {
    /// An empty address space: one gap covering all of user space.
    pub fn new() -> VmaMap {
        let mut gaps = GapTree::new();
        gaps.insert(0, USER_SPACE_END);
        VmaMap {
            map: BTreeMap::new(),
            mapped: 0,
            data: 0,
            committed: 0,
            next_anon: 1,
            gaps,
        }
    }

    /// Number of VMAs (what `vm.max_map_count` limits).
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Bytes mapped (`VmSize`, what `RLIMIT_AS` limits).
    pub fn mapped(&self) -> u64 {
        self.mapped
    }

    /// Bytes of private writable mappings (`VmData`, what `RLIMIT_DATA` limits).
    pub fn data(&self) -> u64 {
        self.data
    }

    /// Bytes of accounted (committed) mappings.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// The VMA containing `addr`.
    pub fn find(&self, addr: Addr) -> Option<(Addr, Vma)> {
        self.map
            .range(..=addr)
            .next_back()
            .filter(|(_, v)| v.end > addr)
            .map(|(&s, &v)| (s, v))
    }

    /// The VMA containing `addr`, or else the first one above it.
    pub fn first_ending_after(&self, addr: Addr) -> Option<(Addr, Vma)> {
        self.find(addr).or_else(|| {
            self.map
                .range((Excluded(addr), Unbounded))
                .next()
                .map(|(&s, &v)| (s, v))
        })
    }

    /// The VMA just below the one starting at `start` (or below address `start`).
    pub fn prev(&self, start: Addr) -> Option<(Addr, Vma)> {
        self.map.range(..start).next_back().map(|(&s, &v)| (s, v))
    }

    /// The VMA starting at or above `addr`.
    pub fn next_from(&self, addr: Addr) -> Option<(Addr, Vma)> {
        self.map.range(addr..).next().map(|(&s, &v)| (s, v))
    }

    /// True when no VMA intersects `[start, end)`.
    pub fn is_free(&self, start: Addr, end: Addr) -> bool {
        self.first_ending_after(start).is_none_or(|(s, _)| s >= end)
    }

    /// The VMAs intersecting `[start, end)`, in address order.
    pub fn overlapping(&self, start: Addr, end: Addr) -> impl Iterator<Item = (Addr, Vma)> + '_ {
        let from = self.find(start).map_or(start, |(s, _)| s);
        self.map.range(from..end.max(from)).map(|(&s, &v)| (s, v))
    }

    /// Bytes of `[start, end)` covered by VMAs.
    pub fn mapped_in(&self, start: Addr, end: Addr) -> u64 {
        self.overlapping(start, end)
            .map(|(s, v)| v.end.min(end) - s.max(start))
            .sum()
    }

    /// Bytes of `[start, end)` covered by VMAs that `keep` selects.
    pub fn mapped_in_where(&self, start: Addr, end: Addr, keep: impl Fn(&Vma) -> bool) -> u64 {
        self.overlapping(start, end)
            .filter(|(_, v)| keep(v))
            .map(|(s, v)| v.end.min(end) - s.max(start))
            .sum()
    }

    /// True when removing `[start, end)` would cut one VMA in two (the case that needs
    /// a free VMA slot under `vm.max_map_count`).
    pub fn splits_in_middle(&self, start: Addr, end: Addr) -> bool {
        self.find(start)
            .is_some_and(|(s, v)| s < start && v.end > end)
    }

    /// Every VMA in address order.
    pub fn iter(&self) -> impl Iterator<Item = (Addr, Vma)> + '_ {
        self.map.iter().map(|(&s, &v)| (s, v))
    }

    /// Adds `vma`'s bytes to (or, with `sign` false, takes them from) the totals.
    fn count(&mut self, start: Addr, vma: &Vma, add: bool) {
        let len = vma.end - start;
        let data = if vma.prot.allows_write() { len } else { 0 };
        let committed = if vma.accounted { len } else { 0 };
        if add {
            self.mapped += len;
            self.data += data;
            self.committed += committed;
        } else {
            self.mapped -= len;
            self.data -= data;
            self.committed -= committed;
        }
    }

    /// Inserts a VMA into free space, updating the gap index. The gap that contains
    /// the VMA shrinks in place when the VMA sits at one of its ends (the common case:
    /// top-down placement fills gaps from their top), or is cut in two.
    fn raw_insert(&mut self, start: Addr, vma: Vma) {
        debug_assert!(start < vma.end);
        if let Some((gs, ge)) = self.gaps.first_ending_at_or_after(vma.end) {
            debug_assert!(
                gs <= start,
                "VMA {start:#x}..{:#x} overlaps a mapping",
                vma.end
            );
            match (gs < start, vma.end < ge) {
                (false, false) => {
                    self.gaps.remove(ge);
                }
                (false, true) => {
                    self.gaps.update(ge, vma.end, ge);
                }
                // No other gap ends between `start` and `ge`: the order holds.
                (true, false) => {
                    self.gaps.update(ge, gs, start);
                }
                (true, true) => {
                    self.gaps.update(ge, vma.end, ge);
                    self.gaps.insert(gs, start);
                }
            }
        }
        self.count(start, &vma, true);
        self.map.insert(start, vma);
    }

    /// Removes the VMA starting at `start`, updating the gap index: the freed range
    /// joins the gaps on either side (in place when it has one).
    fn raw_remove(&mut self, start: Addr) -> Option<Vma> {
        let vma = self.map.remove(&start)?;
        self.count(start, &vma, false);
        let left = self
            .gaps
            .first_ending_at_or_after(start)
            .filter(|&(_, le)| le == start);
        let right = self
            .gaps
            .first_ending_at_or_after(vma.end + 1)
            .filter(|&(rs, _)| rs == vma.end);
        match (left, right) {
            (Some((ls, le)), Some((_, re))) => {
                self.gaps.remove(le);
                self.gaps.update(re, ls, re);
            }
            // No gap ends between `start` and `vma.end` (that range was the VMA).
            (Some((ls, le)), None) => {
                self.gaps.update(le, ls, vma.end);
            }
            (None, Some((_, re))) => {
                self.gaps.update(re, start, re);
            }
            (None, None) => self.gaps.insert(start, vma.end),
        }
        Some(vma)
    }

    /// Places `vma` at `start` (the range must be free) and merges it with the
    /// neighbours it can join, the one below first (see the module doc). Returns the
    /// start of the VMA that now holds the range.
    pub fn insert(&mut self, start: Addr, vma: Vma) -> Addr {
        let mut s = start;
        let mut merged = vma;
        let below = self
            .prev(start)
            .filter(|(ps, pv)| pv.joins(*ps, start, &vma));
        if let Some((ps, pv)) = below {
            self.raw_remove(ps);
            s = ps;
            merged = Vma {
                anon: pv.anon.or(vma.anon),
                pgoff: pv.pgoff,
                ..merged
            };
        }
        let above = self.next_from(vma.end).filter(|(ns, nv)| {
            vma.joins(start, *ns, nv)
                && below.is_none_or(|(_, pv)| anon_compatible(pv.anon, nv.anon))
        });
        if let Some((ns, nv)) = above {
            self.raw_remove(ns);
            merged = Vma {
                end: nv.end,
                anon: merged.anon.or(nv.anon),
                ..merged
            };
        }
        self.raw_insert(s, merged);
        s
    }

    /// Places `vma` at `start` (the range must be free) without merging it with
    /// anything: how `brk` creates the heap's first VMA.
    pub fn insert_unmerged(&mut self, start: Addr, vma: Vma) {
        self.raw_insert(start, vma);
    }

    /// Unmaps `[start, end)`, cutting VMAs at the edges. Returns the bytes unmapped.
    pub fn remove_range(&mut self, start: Addr, end: Addr) -> u64 {
        let hit: Vec<(Addr, Vma)> = self.overlapping(start, end).collect();
        let mut removed = 0;
        for (s, v) in hit {
            self.raw_remove(s);
            if s < start {
                self.raw_insert(s, Vma { end: start, ..v });
            }
            if v.end > end {
                self.raw_insert(end, v.tail_from(s, end));
            }
            removed += v.end.min(end) - s.max(start);
        }
        removed
    }

    /// Gives `[start, end)`, which must lie inside one VMA, the protection `prot` and
    /// the accounting flag `accounted`: splits that VMA as needed and merges the piece
    /// with the neighbours it can join.
    pub fn protect(&mut self, start: Addr, end: Addr, prot: Prot, accounted: bool) {
        let Some((vs, v)) = self.find(start) else {
            return;
        };
        debug_assert!(end <= v.end);
        if v.prot == prot && v.accounted == accounted {
            return;
        }
        self.raw_remove(vs);
        if vs < start {
            self.raw_insert(vs, Vma { end: start, ..v });
        }
        if end < v.end {
            self.raw_insert(end, v.tail_from(vs, end));
        }
        let piece = Vma {
            end,
            prot,
            accounted,
            ..v.tail_from(vs, start)
        };
        self.insert(start, piece);
    }

    /// Moves the end of the VMA starting at `start` to `new_end` (growing into free
    /// space, as `mremap` does in place), merging with a VMA that begins exactly there
    /// if it can join.
    pub fn grow(&mut self, start: Addr, new_end: Addr) {
        let Some(v) = self.map.get(&start).copied() else {
            return;
        };
        let above = self
            .next_from(new_end)
            .filter(|(ns, nv)| Vma { end: new_end, ..v }.joins(start, *ns, nv));
        self.raw_remove(start);
        let mut grown = Vma { end: new_end, ..v };
        if let Some((ns, nv)) = above {
            self.raw_remove(ns);
            grown = Vma {
                end: nv.end,
                anon: v.anon.or(nv.anon),
                ..grown
            };
        }
        self.raw_insert(start, grown);
    }

    /// Gives the VMA starting at `start` an anon_vma (`anon_vma_prepare`, on its first
    /// write fault) unless it has one, and returns it. Like Linux's
    /// `find_mergeable_anon_vma`, it first tries to reuse the anon_vma of the VMA right
    /// above, then of the one right below, if that neighbour could merge with this one
    /// but for the protection; otherwise the anon_vma is a new one.
    pub fn prepare_anon(&mut self, start: Addr) -> Option<AnonId> {
        let v = *self.map.get(&start)?;
        if v.anon.is_some() {
            return v.anon;
        }
        // `anon_vma_compatible`: adjacent, flags equal but for the protection, page
        // offsets contiguous.
        let compatible = |ls: Addr, lower: &Vma, us: Addr, upper: &Vma| {
            lower.end == us
                && lower.accounted == upper.accounted
                && lower.noreserve == upper.noreserve
                && lower.pgoff + ((lower.end - ls) >> PAGE_SHIFT) == upper.pgoff
        };
        let from_above = self
            .next_from(v.end)
            .filter(|(ns, nv)| compatible(start, &v, *ns, nv))
            .and_then(|(_, nv)| nv.anon);
        let from_below = || {
            self.prev(start)
                .filter(|(ps, pv)| compatible(*ps, pv, start, &v))
                .and_then(|(_, pv)| pv.anon)
        };
        let id = match from_above.or_else(from_below) {
            Some(id) => id,
            None => {
                let id = self.next_anon;
                self.next_anon += 1;
                id
            }
        };
        if let Some(e) = self.map.get_mut(&start) {
            e.anon = Some(id);
        }
        Some(id)
    }

    /// The highest `len`-byte free range in `[low, high)` (Linux's
    /// `unmapped_area_topdown`), in O(log n) thanks to the gap index.
    pub fn find_topdown(&self, len: u64, low: Addr, high: Addr) -> Option<Addr> {
        self.gaps.find_topdown(len, low, high)
    }

    /// Checks the map's invariants: page-aligned, sorted, non-overlapping, no two
    /// neighbours that could be one, the totals exact, the gap index the exact
    /// complement.
    #[cfg(test)]
    pub fn audit(&self) -> Result<(), String> {
        self.audit_apart_at(None)
    }

    /// [`VmaMap::audit`], except that two neighbours that could be one may stay apart
    /// where the upper one starts at `apart` (the heap start: `brk` creates the heap's
    /// first VMA without merging it with a mapping that ends there, as Linux does).
    pub fn audit_apart_at(&self, apart: Option<Addr>) -> Result<(), String> {
        let mut prev: Option<(Addr, Vma)> = None;
        let (mut sum, mut data, mut committed) = (0, 0, 0);
        let mut gaps = Vec::new();
        let mut cursor = 0;
        for (s, v) in self.iter() {
            if s % PAGE_SIZE != 0 || v.end % PAGE_SIZE != 0 || s >= v.end || v.end > USER_SPACE_END
            {
                return Err(format!("bad VMA {s:#x}..{:#x}", v.end));
            }
            if let Some((ps, pv)) = prev {
                if pv.end > s {
                    return Err(format!(
                        "VMAs {ps:#x}..{:#x} and {s:#x}..{:#x} overlap",
                        pv.end, v.end
                    ));
                }
                if pv.joins(ps, s, &v) && apart != Some(s) {
                    return Err(format!(
                        "VMAs {ps:#x}..{s:#x} and {s:#x}..{:#x} should be merged",
                        v.end
                    ));
                }
            }
            if cursor < s {
                gaps.push((cursor, s));
            }
            cursor = v.end;
            sum += v.end - s;
            if v.prot.allows_write() {
                data += v.end - s;
            }
            if v.accounted {
                committed += v.end - s;
            }
            prev = Some((s, v));
        }
        if cursor < USER_SPACE_END {
            gaps.push((cursor, USER_SPACE_END));
        }
        if (sum, data, committed) != (self.mapped, self.data, self.committed) {
            return Err(format!(
                "mapped/data/committed are {}/{}/{} but VMAs sum to {sum}/{data}/{committed}",
                self.mapped, self.data, self.committed
            ));
        }
        if gaps != self.gaps.to_vec() {
            return Err("gap index differs from the complement of the VMAs".to_string());
        }
        Ok(())
    }
}

impl Default for VmaMap {
    fn default() -> Self {
        VmaMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PAGE_SIZE;

    fn rw(start: u64, end: u64) -> Vma {
        Vma::fresh(start, end, Prot::RW, true, false)
    }

    #[test]
    fn adjacent_compatible_vmas_merge_and_split() {
        let mut m = VmaMap::new();
        m.insert(10 * P, rw(10 * P, 12 * P));
        m.insert(12 * P, rw(12 * P, 15 * P));
        assert_eq!(m.len(), 1, "consecutive anonymous RW mappings merge");
        m.insert(15 * P, Vma::fresh(15 * P, 16 * P, Prot::READ, false, false));
        assert_eq!(m.len(), 2, "different protection does not merge");
        m.insert(8 * P, Vma::fresh(8 * P, 10 * P, Prot::RW, false, true));
        assert_eq!(m.len(), 3, "a MAP_NORESERVE mapping does not merge");
        assert_eq!(m.remove_range(11 * P, 12 * P), P);
        assert_eq!(m.len(), 4, "a hole in the middle splits");
        assert_eq!(m.find(11 * P), None);
        assert_eq!(m.find(12 * P).unwrap().0, 12 * P);
        assert_eq!(
            m.find(12 * P).unwrap().1.pgoff,
            12,
            "offsets move with the cut"
        );
        m.protect(12 * P, 13 * P, Prot::READ, true);
        assert_eq!(m.len(), 5);
        m.protect(13 * P, 15 * P, Prot::READ, true);
        assert_eq!(m.len(), 4, "re-protected pieces merge with each other");
        assert_eq!(m.mapped(), 7 * P);
        assert_eq!(m.data(), 3 * P, "only writable VMAs count as data");
        m.audit().unwrap();
    }

    #[test]
    fn two_written_vmas_do_not_merge_and_a_hole_between_them_joins_the_lower() {
        let mut m = VmaMap::new();
        m.insert(20 * P, rw(20 * P, 24 * P));
        m.insert(16 * P, Vma::fresh(16 * P, 20 * P, Prot::READ, false, false));
        m.insert(12 * P, rw(12 * P, 16 * P));
        let a = m.prepare_anon(20 * P).unwrap();
        let b = m.prepare_anon(12 * P).unwrap();
        assert_ne!(a, b, "no reuse across a VMA with other flags");
        m.remove_range(16 * P, 20 * P);
        assert_eq!(
            m.insert(16 * P, rw(16 * P, 20 * P)),
            12 * P,
            "joins the lower one"
        );
        assert_eq!(m.len(), 2, "but not both: their anon_vmas differ");
        m.audit().unwrap();
    }

    #[test]
    fn an_anon_vma_is_reused_from_a_neighbour_that_differs_only_in_protection() {
        let mut m = VmaMap::new();
        m.insert(20 * P, rw(20 * P, 24 * P));
        let a = m.prepare_anon(20 * P).unwrap();
        m.protect(20 * P, 24 * P, Prot::READ, true);
        m.insert(16 * P, rw(16 * P, 20 * P));
        assert_eq!(m.prepare_anon(16 * P), Some(a));
        m.protect(20 * P, 24 * P, Prot::RW, true);
        assert_eq!(m.len(), 1, "sharing the anon_vma, they merge");
        m.audit().unwrap();
    }

    #[test]
    fn a_moved_written_vma_keeps_its_page_offset() {
        let mut m = VmaMap::new();
        let moved = Vma {
            anon: Some(7),
            ..rw(100 * P, 104 * P)
        };
        m.insert(
            10 * P,
            Vma {
                end: 14 * P,
                ..moved
            },
        );
        m.insert(14 * P, rw(14 * P, 16 * P));
        assert_eq!(m.len(), 2, "offsets 100.. and 14.. are not contiguous");
        m.audit().unwrap();
    }

    #[test]
    fn gap_index_tracks_the_complement() {
        let mut m = VmaMap::new();
        m.insert(100 * P, rw(100 * P, 110 * P));
        m.insert(
            120 * P,
            Vma::fresh(120 * P, 130 * P, Prot::READ, false, false),
        );
        m.audit().unwrap();
        assert_eq!(m.find_topdown(10 * P, P, 200 * P), Some(190 * P));
        assert_eq!(
            m.find_topdown(10 * P, P, 130 * P),
            Some(110 * P),
            "the hole between them fits"
        );
        assert_eq!(m.find_topdown(11 * P, P, 130 * P), Some(89 * P));
        m.remove_range(0, 1000 * P);
        assert_eq!(m.len(), 0);
        m.audit().unwrap();
    }
}
