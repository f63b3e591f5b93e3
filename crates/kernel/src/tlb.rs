//! The translation lookaside buffer: a small cache of finished page walks.
//!
//! A 4-level walk costs four dependent memory reads, far too slow for every load and
//! store, so the MMU keeps recent translations (virtual page -> frame and permissions)
//! in the TLB. Like a data cache it is *set-associative*: the low bits of the virtual
//! page number pick a set, the entry may sit in any of the set's ways, and when the set
//! is full the least recently used way is replaced.
//!
//! The TLB is not kept coherent by hardware. Whenever the kernel removes a translation
//! or takes a permission away (`munmap`, `mprotect`, `madvise`, a brk shrink), it must
//! *invalidate* the affected entries itself, or the CPU would keep using the stale
//! ones. Linux invalidates page by page for small ranges and flushes everything when a
//! range exceeds `tlb_single_page_flush_ceiling` (33 pages), where one full flush is
//! cheaper than many single-page `invlpg`s; the model does the same.
//!
//! Entries belong to an address space. Without PCIDs (process-context identifiers) a
//! context switch must flush the whole TLB, since the next process's page 0x1000 is a
//! different page. With PCIDs each entry is tagged with its process and survives the
//! switch; a lookup only matches entries of the running process.
//!
//! One structure holds both page sizes (as the unified second-level TLBs of recent x86
//! cores do): a 4 KiB entry is tagged by its page number, a 2 MiB entry by its region
//! number, so one huge entry serves 512 pages.
//!
//! Real cores have two levels: a small, fast first-level TLB (64 entries for 4 KiB
//! pages is typical) and a larger second-level one (1536 to 3072 entries) that a
//! first-level miss consults before the page walk. The model can have both: a miss in
//! the first level that hits the second costs `tlb_l2_hit_ns` and moves the entry up;
//! a walk fills both. Invalidations reach both levels.

/// Ranges longer than this many pages are flushed whole instead of page by page
/// (Linux's default `tlb_single_page_flush_ceiling`).
pub const FLUSH_CEILING: u64 = 33;

/// Tag of an empty way.
const INVALID: u64 = u64::MAX;

/// One way of one set.
#[derive(Copy, Clone, Debug)]
struct Entry {
    /// `vpn << 1` for a 4 KiB entry, `(vpn >> 9) << 1 | 1` for a 2 MiB one.
    tag: u64,
    /// Time of last use, for LRU replacement.
    stamp: u64,
    /// The address space (process id) the entry belongs to.
    asid: u32,
    /// Stores may use the entry without a walk: the page is writable, private and
    /// already dirty. Otherwise a store takes the slow path (copy-on-write of the zero
    /// page, cancelling `MADV_FREE`, or a protection fault).
    writable: bool,
}

const EMPTY: Entry = Entry {
    tag: INVALID,
    stamp: 0,
    asid: 0,
    writable: false,
};

/// A TLB hit.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Where the entry is in the first level (for [`Tlb::set_writable`]).
    pub slot: usize,
    /// Whether stores may use it.
    pub writable: bool,
    /// True for a 2 MiB entry.
    pub huge: bool,
    /// True when the first level missed and the second level served it.
    pub from_l2: bool,
}

/// One set-associative, LRU-replaced level.
#[derive(Clone, Debug)]
struct Level {
    ways: usize,
    set_mask: u64,
    entries: Vec<Entry>,
}

impl Level {
    fn new(entries: u32, ways: u32) -> Level {
        let ways = ways.max(1) as usize;
        let sets = (entries as usize / ways).max(1).next_power_of_two();
        Level {
            ways,
            set_mask: sets as u64 - 1,
            entries: vec![EMPTY; sets * ways],
        }
    }

    #[inline]
    fn set_of(&self, key: u64) -> usize {
        ((key & self.set_mask) as usize) * self.ways
    }

    #[inline]
    fn probe(&mut self, asid: u32, key: u64, tag: u64, clock: &mut u64) -> Option<usize> {
        let base = self.set_of(key);
        for slot in base..base + self.ways {
            let e = &self.entries[slot];
            if e.tag == tag && e.asid == asid {
                *clock += 1;
                self.entries[slot].stamp = *clock;
                return Some(slot);
            }
        }
        None
    }

    /// The slot holding `vpn` for `asid`, 4 KiB entry first; and whether it is huge.
    #[inline]
    fn lookup(&mut self, asid: u32, vpn: u64, clock: &mut u64) -> Option<(usize, bool)> {
        if let Some(slot) = self.probe(asid, vpn, vpn << 1, clock) {
            return Some((slot, false));
        }
        let region = vpn >> 9;
        self.probe(asid, region, (region << 1) | 1, clock)
            .map(|slot| (slot, true))
    }

    /// Caches a translation; returns its slot.
    fn fill(&mut self, asid: u32, vpn: u64, huge: bool, writable: bool, clock: &mut u64) -> usize {
        let (key, tag) = if huge {
            (vpn >> 9, ((vpn >> 9) << 1) | 1)
        } else {
            (vpn, vpn << 1)
        };
        let base = self.set_of(key);
        let (mut same, mut empty, mut lru) = (None, None, base);
        for slot in base..base + self.ways {
            let e = &self.entries[slot];
            if e.tag == tag && e.asid == asid {
                same = Some(slot);
                break;
            }
            if e.tag == INVALID && empty.is_none() {
                empty = Some(slot);
            }
            if e.stamp < self.entries[lru].stamp {
                lru = slot;
            }
        }
        let victim = same.or(empty).unwrap_or(lru);
        *clock += 1;
        self.entries[victim] = Entry {
            tag,
            stamp: *clock,
            asid,
            writable,
        };
        victim
    }

    fn invalidate_page(&mut self, asid: u32, vpn: u64) {
        for (key, tag) in [(vpn, vpn << 1), (vpn >> 9, ((vpn >> 9) << 1) | 1)] {
            let base = self.set_of(key);
            for e in &mut self.entries[base..base + self.ways] {
                if e.tag == tag && e.asid == asid {
                    *e = EMPTY;
                }
            }
        }
    }

    fn flush_asid(&mut self, asid: u32) {
        for e in &mut self.entries {
            if e.asid == asid {
                *e = EMPTY;
            }
        }
    }
}

/// A set-associative, LRU-replaced TLB shared by every process on the CPU, with an
/// optional second level.
#[derive(Clone, Debug)]
pub struct Tlb {
    l1: Level,
    l2: Option<Level>,
    clock: u64,
}

impl Tlb {
    /// A TLB of `entries` entries in sets of `ways` (the shape is validated by
    /// [`crate::TlbConfig::validate`]; a degenerate shape becomes one entry), with no
    /// second level.
    pub fn new(entries: u32, ways: u32) -> Tlb {
        Tlb {
            l1: Level::new(entries, ways),
            l2: None,
            clock: 0,
        }
    }

    /// The same TLB with a second level of `entries` entries in sets of `ways` (none
    /// when `entries` is 0).
    pub fn with_l2(mut self, entries: u32, ways: u32) -> Tlb {
        self.l2 = (entries > 0).then(|| Level::new(entries, ways));
        self
    }

    /// The first step of [`Tlb::lookup`] alone: `vpn` as a 4 KiB entry of the first
    /// level, its age refreshed on a hit; `Some(writable)` when it is there. A miss
    /// changes nothing, so the caller may go on with the full lookup.
    #[inline]
    pub fn lookup_l1_page(&mut self, asid: u32, vpn: u64) -> Option<bool> {
        let slot = self.l1.probe(asid, vpn, vpn << 1, &mut self.clock)?;
        Some(self.l1.entries[slot].writable)
    }

    /// Looks `vpn` up for process `asid`: in the first level, as a 4 KiB page and then
    /// as part of a 2 MiB page, then in the second level, which moves a hit up into the
    /// first. A hit refreshes the entry's LRU age.
    #[inline]
    pub fn lookup(&mut self, asid: u32, vpn: u64) -> Option<Hit> {
        if let Some((slot, huge)) = self.l1.lookup(asid, vpn, &mut self.clock) {
            return Some(Hit {
                slot,
                writable: self.l1.entries[slot].writable,
                huge,
                from_l2: false,
            });
        }
        let l2 = self.l2.as_mut()?;
        let (s2, huge) = l2.lookup(asid, vpn, &mut self.clock)?;
        let writable = l2.entries[s2].writable;
        let slot = self.l1.fill(asid, vpn, huge, writable, &mut self.clock);
        Some(Hit {
            slot,
            writable,
            huge,
            from_l2: true,
        })
    }

    /// Caches a translation after a walk, in both levels: reuses the entry if the page
    /// is already cached, else an empty way, else evicts the least recently used way of
    /// the set.
    pub fn fill(&mut self, asid: u32, vpn: u64, huge: bool, writable: bool) {
        self.l1.fill(asid, vpn, huge, writable, &mut self.clock);
        if let Some(l2) = self.l2.as_mut() {
            l2.fill(asid, vpn, huge, writable, &mut self.clock);
        }
    }

    /// Marks a cached entry writable (after the slow path made its page dirty): the
    /// first-level entry at `slot` and its copy in the second level.
    pub fn set_writable(&mut self, slot: usize) {
        let e = &mut self.l1.entries[slot];
        e.writable = true;
        let (asid, tag) = (e.asid, e.tag);
        if let Some(l2) = self.l2.as_mut() {
            let key = tag >> 1;
            let base = l2.set_of(key);
            for e in &mut l2.entries[base..base + l2.ways] {
                if e.tag == tag && e.asid == asid {
                    e.writable = true;
                }
            }
        }
    }

    /// Drops the entries of `asid` that translate `vpn` (the 4 KiB one and the 2 MiB
    /// one covering it), in both levels: one `invlpg`.
    pub fn invalidate_page(&mut self, asid: u32, vpn: u64) {
        self.l1.invalidate_page(asid, vpn);
        if let Some(l2) = self.l2.as_mut() {
            l2.invalidate_page(asid, vpn);
        }
    }

    /// Drops `asid`'s entries for VPNs `[start, end)`: page by page up to
    /// [`FLUSH_CEILING`] pages, otherwise every entry of `asid`. Returns true when it
    /// flushed everything.
    pub fn invalidate_range(&mut self, asid: u32, start: u64, end: u64) -> bool {
        if end.saturating_sub(start) <= FLUSH_CEILING {
            for vpn in start..end {
                self.invalidate_page(asid, vpn);
            }
            false
        } else {
            self.flush_asid(asid);
            true
        }
    }

    /// Drops every entry of `asid`.
    pub fn flush_asid(&mut self, asid: u32) {
        self.l1.flush_asid(asid);
        if let Some(l2) = self.l2.as_mut() {
            l2.flush_asid(asid);
        }
    }

    /// Drops every entry (a CR3 write without PCID).
    pub fn flush_all(&mut self) {
        self.l1.entries.fill(EMPTY);
        if let Some(l2) = self.l2.as_mut() {
            l2.entries.fill(EMPTY);
        }
    }

    /// Every valid entry of both levels as `(asid, first vpn, huge, writable)`, for
    /// consistency checks.
    pub fn valid_entries(&self) -> impl Iterator<Item = (u32, u64, bool, bool)> + '_ {
        let l2 = self.l2.iter().flat_map(|l| l.entries.iter());
        self.l1
            .entries
            .iter()
            .chain(l2)
            .filter(|e| e.tag != INVALID)
            .map(|e| {
                let huge = e.tag & 1 == 1;
                let vpn = if huge { (e.tag >> 1) << 9 } else { e.tag >> 1 };
                (e.asid, vpn, huge, e.writable)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miss_fill_hit() {
        let mut t = Tlb::new(64, 4);
        assert_eq!(t.lookup(1, 42), None);
        t.fill(1, 42, false, true);
        let h = t.lookup(1, 42).unwrap();
        assert!(h.writable && !h.huge);
        assert_eq!(t.lookup(2, 42), None, "other address spaces do not match");
    }

    #[test]
    fn lru_evicts_the_oldest_way_of_the_set() {
        let mut t = Tlb::new(8, 2); // 4 sets of 2 ways
        // VPNs 0, 4, 8 all map to set 0.
        t.fill(1, 0, false, false);
        t.fill(1, 4, false, false);
        assert!(t.lookup(1, 0).is_some()); // 0 is now the most recent
        t.fill(1, 8, false, false); // evicts 4
        assert!(t.lookup(1, 0).is_some());
        assert!(t.lookup(1, 4).is_none());
        assert!(t.lookup(1, 8).is_some());
        // Other sets are untouched by this.
        t.fill(1, 1, false, false);
        assert!(t.lookup(1, 1).is_some());
    }

    #[test]
    fn huge_entry_covers_its_region() {
        let mut t = Tlb::new(16, 4);
        t.fill(3, 1024 + 17, true, true);
        let h = t.lookup(3, 1024 + 511).unwrap();
        assert!(h.huge);
        assert!(t.lookup(3, 1024 + 512).is_none());
        t.invalidate_page(3, 1024 + 5);
        assert!(t.lookup(3, 1024).is_none());
    }

    #[test]
    fn a_second_level_serves_what_the_first_evicted_and_invalidations_reach_both() {
        let mut t = Tlb::new(8, 2).with_l2(64, 4); // 4 sets of 2; 16 sets of 4
        // VPNs 0, 4, 8 share first-level set 0: the third evicts the first ...
        for v in [0, 4, 8] {
            t.fill(1, v, false, false);
        }
        // ... which the second level still has, and moves back up.
        let h = t.lookup(1, 0).unwrap();
        assert!(h.from_l2);
        assert!(!t.lookup(1, 0).unwrap().from_l2, "now in the first level");
        let s = t.lookup(1, 0).unwrap().slot;
        t.set_writable(s);
        t.invalidate_page(1, 8);
        assert!(t.lookup(1, 8).is_none(), "gone from both levels");
        t.flush_asid(1);
        assert_eq!(t.valid_entries().count(), 0);
        // Without a second level the evicted entry is simply gone.
        let mut one = Tlb::new(8, 2);
        for v in [0, 4, 8] {
            one.fill(1, v, false, false);
        }
        assert!(one.lookup(1, 0).is_none());
    }

    #[test]
    fn small_ranges_invalidate_pages_large_ranges_flush() {
        let mut t = Tlb::new(64, 4);
        for v in 0..10 {
            t.fill(1, v, false, false);
        }
        t.fill(2, 100, false, false);
        assert!(!t.invalidate_range(1, 2, 4));
        assert!(t.lookup(1, 2).is_none() && t.lookup(1, 3).is_none());
        assert!(t.lookup(1, 4).is_some());
        assert!(t.invalidate_range(1, 1000, 2000));
        assert!(
            t.lookup(1, 4).is_none(),
            "a long range flushes the address space"
        );
        assert!(t.lookup(2, 100).is_some(), "other address spaces stay");
        t.flush_all();
        assert_eq!(t.valid_entries().count(), 0);
    }
}
