//! Virtual memory areas: which address ranges a process may use, and how.
//!
//! The page table says what is mapped *now*; the VMAs say what *may* be mapped. A VMA
//! (Linux's `vm_area_struct`) is a page-aligned range `[start, end)` with one protection
//! and one kind; `mmap` and `brk` only create VMAs, and pages appear later, one fault at
//! a time. An access inside a VMA that is allowed by its protection is served by the
//! fault handler; anything else is a segmentation fault.
//!
//! The VMAs of a process never overlap and are kept in an ordered map keyed by start
//! address, so "which VMA contains address `a`" is the last VMA starting at or below
//! `a`: O(log n). Linux uses a maple tree (before 6.1 a red-black tree) for the same.
//!
//! Neighbouring VMAs that could be one are merged: two consecutive anonymous mmaps with
//! the same protection become one VMA (as in Linux, where `/proc/self/maps` shows one
//! line for them), and `mprotect` that gives a piece the protection of its neighbour
//! joins them. Unmapping or re-protecting part of a VMA splits it. Both matter because a
//! process may hold at most `vm.max_map_count` VMAs.
//!
//! The heap (`[heap_start, brk)`) is a VMA of its own kind and merges only with heap
//! VMAs, so the heap stays a separate line in the map, as `[heap]` does in Linux.

use crate::gap_tree::GapTree;
use crate::types::{Addr, PAGE_SIZE, Prot, USER_SPACE_END};
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
    /// True for the heap VMA (between heap start and the break).
    pub heap: bool,
}

/// A VMA's attributes (its start is the map key).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    /// One past the last address.
    pub end: Addr,
    /// Protection.
    pub prot: Prot,
    /// Created by `brk`.
    pub heap: bool,
}

impl Vma {
    // ANCHOR: vma_merge
    /// True when `self` could be merged with a neighbour of protection `prot` and kind
    /// `heap`.
    fn compatible(&self, prot: Prot, heap: bool) -> bool {
        self.prot == prot && self.heap == heap
    }
    // ANCHOR_END: vma_merge
}

/// The VMAs of one address space, with the free gaps between them indexed for `mmap`.
#[derive(Clone, Debug)]
pub struct VmaMap {
    map: BTreeMap<Addr, Vma>,
    /// Sum of VMA lengths.
    mapped: u64,
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
            gaps,
        }
    }

    /// Number of VMAs (what `vm.max_map_count` limits).
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Bytes mapped.
    pub fn mapped(&self) -> u64 {
        self.mapped
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
        self.mapped += vma.end - start;
        self.map.insert(start, vma);
    }

    /// Removes the VMA starting at `start`, updating the gap index: the freed range
    /// joins the gaps on either side (in place when it has one).
    fn raw_remove(&mut self, start: Addr) -> Option<Vma> {
        let vma = self.map.remove(&start)?;
        self.mapped -= vma.end - start;
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

    /// Maps `[start, end)` (which must be free) and merges it with compatible
    /// neighbours. Returns the start of the VMA that now holds the range.
    pub fn insert(&mut self, start: Addr, end: Addr, prot: Prot, heap: bool) -> Addr {
        let mut s = start;
        let mut e = end;
        if let Some((ps, pv)) = self.prev(start)
            && pv.end == start
            && pv.compatible(prot, heap)
        {
            self.raw_remove(ps);
            s = ps;
        }
        if let Some((ns, nv)) = self.next_from(end)
            && ns == end
            && nv.compatible(prot, heap)
        {
            self.raw_remove(ns);
            e = nv.end;
        }
        self.raw_insert(s, Vma { end: e, prot, heap });
        s
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
                self.raw_insert(end, v);
            }
            removed += v.end.min(end) - s.max(start);
        }
        removed
    }

    /// Gives `[start, end)`, which must lie inside one VMA, the protection `prot`:
    /// splits that VMA as needed and merges the piece with compatible neighbours.
    pub fn protect(&mut self, start: Addr, end: Addr, prot: Prot) {
        let Some((vs, v)) = self.find(start) else {
            return;
        };
        debug_assert!(end <= v.end);
        if v.prot == prot {
            return;
        }
        self.raw_remove(vs);
        if vs < start {
            self.raw_insert(vs, Vma { end: start, ..v });
        }
        if end < v.end {
            self.raw_insert(end, v);
        }
        self.insert(start, end, prot, v.heap);
    }

    /// Moves the end of the VMA starting at `start` to `new_end` (growing into free
    /// space), merging with a compatible VMA that begins exactly there.
    pub fn grow(&mut self, start: Addr, new_end: Addr) {
        if let Some(v) = self.raw_remove(start) {
            self.insert(start, new_end, v.prot, v.heap);
        }
    }

    /// The highest `len`-byte free range in `[low, high)` (Linux's
    /// `unmapped_area_topdown`), in O(log n) thanks to the gap index.
    pub fn find_topdown(&self, len: u64, low: Addr, high: Addr) -> Option<Addr> {
        self.gaps.find_topdown(len, low, high)
    }

    /// Checks the map's invariants: page-aligned, sorted, non-overlapping, no mergeable
    /// neighbours, `mapped` exact, the gap index the exact complement.
    pub fn audit(&self) -> Result<(), String> {
        let mut prev: Option<(Addr, Vma)> = None;
        let mut sum = 0;
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
                if pv.end == s && pv.compatible(v.prot, v.heap) {
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
            prev = Some((s, v));
        }
        if cursor < USER_SPACE_END {
            gaps.push((cursor, USER_SPACE_END));
        }
        if sum != self.mapped {
            return Err(format!("mapped is {} but VMAs sum to {sum}", self.mapped));
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

    #[test]
    fn adjacent_compatible_vmas_merge_and_split() {
        let mut m = VmaMap::new();
        m.insert(10 * P, 12 * P, Prot::RW, false);
        m.insert(12 * P, 15 * P, Prot::RW, false);
        assert_eq!(m.len(), 1, "consecutive anonymous RW mappings merge");
        m.insert(15 * P, 16 * P, Prot::READ, false);
        assert_eq!(m.len(), 2, "different protection does not merge");
        m.insert(8 * P, 10 * P, Prot::RW, true);
        assert_eq!(m.len(), 3, "heap does not merge with a mapping");
        assert_eq!(m.remove_range(11 * P, 12 * P), P);
        assert_eq!(m.len(), 4, "a hole in the middle splits");
        assert_eq!(m.find(11 * P), None);
        assert_eq!(m.find(12 * P).unwrap().0, 12 * P);
        m.protect(12 * P, 13 * P, Prot::READ);
        assert_eq!(m.len(), 5);
        m.protect(13 * P, 15 * P, Prot::READ);
        assert_eq!(
            m.len(),
            3,
            "re-protected pieces merge with their neighbours"
        );
        assert_eq!(m.mapped(), 7 * P);
        m.audit().unwrap();
    }

    #[test]
    fn gap_index_tracks_the_complement() {
        let mut m = VmaMap::new();
        m.insert(100 * P, 110 * P, Prot::RW, false);
        m.insert(120 * P, 130 * P, Prot::READ, false);
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
