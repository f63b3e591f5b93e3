//! User memory accesses and the page-fault handler: demand paging.
//!
//! `mmap` and `brk` hand out address ranges, not memory. Memory appears when a page is
//! first touched:
//! 1. The CPU looks the page up in the TLB. A hit with the right permission costs
//!    nothing more. (With a second-level TLB, a first-level miss that the second level
//!    serves costs `tlb_l2_hit_ns`.)
//! 2. On a miss, the MMU walks the page table (`tlb_miss_ns`). A present entry that
//!    allows the access is cached in the TLB and the access completes.
//! 3. Otherwise the CPU traps into the kernel: a **page fault**. Only now does the
//!    kernel look at the VMAs (hardware knows nothing about them):
//!    - no VMA contains the address, or its protection forbids the access: SIGSEGV;
//!    - a *read* of a never-touched anonymous page maps the shared **zero page**,
//!      read-only: no frame is taken, nothing is zeroed, RSS does not grow;
//!    - a *write* of a never-touched page (or of a zero-page mapping: copy-on-write)
//!      takes a frame, zeroes it (the kernel never leaks another process's data), and
//!      maps it writable: a **minor fault** (minor because no disk I/O is involved);
//!    - with huge pages enabled, a write fault in a 2 MiB-aligned range that lies
//!      entirely inside an anonymous read-write VMA maps a whole 2 MiB page at once.
//!
//! A store to a page given up with `MADV_FREE` needs no fault: it just marks the page
//! dirty again (the hardware sets the PTE's dirty bit), which cancels the advice.
//!
//! When no frame is free, the kernel first reclaims `MADV_FREE` pages (oldest first);
//! if none is left, the OOM killer ends the process with the highest badness
//! ([`crate::oom`]) and the fault is served; only if that is the faulting process
//! itself does the access fail with [`Fault::OutOfMemory`].

use crate::kernel::Kernel;
use crate::oom::OomOutcome;
use crate::page_table::{Action, pte};
use crate::stats::CostCategory;
use crate::types::{Access, Addr, Fault, PAGE_SHIFT, PAGE_SIZE, Prot, SegvReason, USER_SPACE_END};
use crate::vma::Vma;

/// First VPN beyond user space.
const USER_END_VPN: u64 = USER_SPACE_END >> PAGE_SHIFT;

/// How a page is being filled in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// A page fault: a trap from user mode.
    Trap,
    /// `MAP_POPULATE`: the kernel fills pages in itself, no trap.
    Populate,
}

/// No frame could be found, even after reclaim.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct NoMemory;

/// The PTE flags of a page mapped with protection `prot` (a private frame when
/// `zero` is false, the shared zero page otherwise).
pub(crate) fn leaf_flags(prot: Prot, zero: bool) -> u64 {
    let mut f = pte::U;
    if zero {
        f |= pte::ZERO;
    }
    if !prot.allows_read() {
        return f | pte::PROTNONE;
    }
    f |= pte::P;
    if prot.allows_write() && !zero {
        f |= pte::W;
    }
    f
}

/// The entry `e` with its permission bits recomputed for protection `prot` (what
/// `mprotect` does to every mapped page of the range). Frame, zero-page and
/// `MADV_FREE` state are kept.
pub(crate) fn reprotect(e: u64, prot: Prot) -> u64 {
    let keep = e & !(pte::P | pte::W | pte::PROTNONE | pte::U);
    keep | leaf_flags(prot, e & pte::ZERO != 0)
}

impl Kernel {
    /// A user-space access of `len` bytes at `addr` by the current process, page by
    /// page in address order, faulting pages in as needed.
    ///
    /// Every page is looked up in the TLB; a miss costs a page walk. Faults are charged
    /// as the cost model says. On an error the pages before the faulting one stay
    /// touched (like a `memset` that crashes half-way). `O(pages)` with no allocation.
    #[inline]
    pub fn touch(&mut self, addr: Addr, len: u64, access: Access) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        // Most accesses are a few bytes within one page the first-level TLB holds as
        // a 4 KiB entry: the hit is counted here and costs nothing. The lookup is the
        // same one the general path starts with (it refreshes the entry's LRU age
        // alike), so the TLB ends up the same either way.
        let vpn = addr >> PAGE_SHIFT;
        if addr
            .checked_add(len - 1)
            .is_some_and(|end| end >> PAGE_SHIFT == vpn)
            && vpn < USER_END_VPN
            && let Some(writable) = self.tlb.lookup_l1_page(self.cur.pid.0, vpn)
            && (writable || access != Access::Write)
        {
            self.cur.counters.tlb_hits += 1;
            return Ok(());
        }
        self.touch_pages(addr, len, access)
    }

    /// [`Kernel::touch`] beyond its fast path: any length, walks, faults.
    #[inline(never)]
    fn touch_pages(&mut self, addr: Addr, len: u64, access: Access) -> Result<(), Fault> {
        let last = addr.saturating_add(len - 1) >> PAGE_SHIFT;
        let mut vpn = addr >> PAGE_SHIFT;
        loop {
            match self.touch_fast(vpn, last, access == Access::Write) {
                None => return Ok(()),
                Some(v) => {
                    self.handle_fault(v, access, addr)?;
                    if v >= last {
                        return Ok(());
                    }
                    vpn = v + 1;
                }
            }
        }
    }

    /// The hardware's part of an access: TLB lookups and page walks for VPNs
    /// `vpn..=last`. Returns the first VPN that needs the kernel (a page fault).
    #[inline]
    fn touch_fast(&mut self, mut vpn: u64, last: u64, write: bool) -> Option<u64> {
        let Kernel {
            tlb,
            cur,
            config,
            lazy_total,
            ..
        } = self;
        let asid = cur.pid.0;
        let (mut hits, mut misses, mut l2_hits) = (0u64, 0u64, 0u64);
        let stop = loop {
            if vpn > last {
                break None;
            }
            if vpn >= USER_END_VPN {
                break Some(vpn);
            }
            if let Some(h) = tlb.lookup(asid, vpn) {
                l2_hits += u64::from(h.from_l2);
                if !write || h.writable {
                    // A huge entry serves every page of its 2 MiB region.
                    let upto = if h.huge { (vpn | 511).min(last) } else { vpn };
                    hits += upto - vpn + 1;
                    vpn = upto + 1;
                    continue;
                }
                // A store through an entry that does not allow it without help.
                hits += 1;
                let leaf = cur.pt.translate(vpn);
                if !leaf.huge
                    && leaf.entry & (pte::P | pte::W | pte::LAZY) == pte::P | pte::W | pte::LAZY
                {
                    // MADV_FREE page written again: the dirty bit is set, the advice
                    // is cancelled.
                    if let Some(e) = cur.pt.leaf_mut(vpn) {
                        *e &= !pte::LAZY;
                    }
                    cur.lazy_pages -= 1;
                    *lazy_total -= 1;
                    tlb.set_writable(h.slot);
                    vpn += 1;
                    continue;
                }
                break Some(vpn);
            }
            // TLB miss: the MMU walks the page table.
            misses += 1;
            let leaf = cur.pt.translate(vpn);
            let e = leaf.entry;
            if e & pte::P != 0 {
                let can_write = e & pte::W != 0 && e & (pte::ZERO | pte::LAZY) == 0;
                if !write || can_write {
                    tlb.fill(asid, vpn, leaf.huge, can_write);
                    let upto = if leaf.huge {
                        (vpn | 511).min(last)
                    } else {
                        vpn
                    };
                    hits += upto - vpn;
                    vpn = upto + 1;
                    continue;
                }
                if !leaf.huge && e & (pte::W | pte::LAZY) == pte::W | pte::LAZY {
                    if let Some(slot) = cur.pt.leaf_mut(vpn) {
                        *slot &= !pte::LAZY;
                    }
                    cur.lazy_pages -= 1;
                    *lazy_total -= 1;
                    tlb.fill(asid, vpn, false, true);
                    vpn += 1;
                    continue;
                }
            }
            break Some(vpn);
        };
        cur.counters.tlb_hits += hits;
        cur.counters.tlb_misses += misses;
        cur.counters.tlb_l2_hits += l2_hits;
        if misses > 0 || l2_hits > 0 {
            let c = &config.cost;
            let ns = misses as f64 * c.tlb_miss_ns + l2_hits as f64 * c.tlb_l2_hit_ns;
            cur.charge(CostCategory::Tlb, ns);
        }
        stop
    }

    // ANCHOR: page_fault
    /// The page-fault handler for VPN `vpn` of the current process. `addr` is the start
    /// of the access, for the reported fault address.
    fn handle_fault(&mut self, vpn: u64, access: Access, addr: Addr) -> Result<(), Fault> {
        let at = (vpn << PAGE_SHIFT).max(addr);
        let segv = |reason| Fault::Segv {
            addr: at,
            access,
            reason,
        };
        if vpn >= USER_END_VPN {
            return Err(segv(SegvReason::Unmapped));
        }
        // Only now, in the kernel, are the VMAs consulted.
        let Some((vma_start, vma)) = self.cur.vmas.find(vpn << PAGE_SHIFT) else {
            return Err(segv(SegvReason::Unmapped));
        };
        let write = access == Access::Write;
        let allowed = if write {
            vma.prot.allows_write()
        } else {
            vma.prot.allows_read()
        };
        if !allowed {
            return Err(segv(SegvReason::Protection));
        }
        let leaf = self.cur.pt.translate(vpn);
        let e = leaf.entry;
        let oom = Fault::OutOfMemory { addr: at };
        if e == 0 {
            if write {
                self.map_anon(vpn, vma_start, vma, Via::Trap)
                    .map_err(|_| oom)?;
            } else {
                self.map_zero(vpn, vma, Via::Trap).map_err(|_| oom)?;
            }
            self.charge_unmap_aftermath();
        } else if write && !leaf.huge && e & pte::ZERO != 0 {
            self.cow_zero(vpn, vma_start, vma).map_err(|_| oom)?;
            self.charge_unmap_aftermath();
        } else {
            // Mapped and allowed: the hardware path should have served it. Bring the
            // entry in line with the VMA (and cancel MADV_FREE on a store), then cache it.
            if !leaf.huge {
                let mut n = reprotect(e, vma.prot);
                if write && n & pte::LAZY != 0 {
                    n &= !pte::LAZY;
                    self.cur.lazy_pages -= 1;
                    self.lazy_total -= 1;
                }
                if let Some(slot) = self.cur.pt.leaf_mut(vpn) {
                    *slot = n;
                }
            }
        }
        let leaf = self.cur.pt.translate(vpn);
        let e = leaf.entry;
        let can_write = e & pte::W != 0 && e & (pte::ZERO | pte::LAZY) == 0;
        self.tlb.fill(self.cur.pid.0, vpn, leaf.huge, can_write);
        Ok(())
    }
    // ANCHOR_END: page_fault

    /// After a fault that made a page present: the first one since an unmap of resident
    /// pages pays `fault_after_unmap_ns` on top (it is dearer than a fault in a run of
    /// faults; see that cost).
    fn charge_unmap_aftermath(&mut self) {
        if std::mem::take(&mut self.cur.unmapped_since_fault) {
            let ns = self.config.cost.fault_after_unmap_ns;
            self.cur.charge(CostCategory::Fault, ns);
        }
    }

    /// Makes sure `need(self)` frames are free: reclaims `MADV_FREE` pages (oldest
    /// first) while they are not, and when none is left lets the OOM killer end another
    /// process (see [`crate::oom`]). False when the running process itself was chosen,
    /// or nobody could be. `need` is re-evaluated after each step.
    pub(crate) fn reserve_frames(
        &mut self,
        need: impl Fn(&Kernel) -> u64,
        cat: CostCategory,
    ) -> bool {
        loop {
            if self.phys.free_frames() >= need(self) {
                return true;
            }
            if self.reclaim_one(cat) {
                continue;
            }
            // Nothing left to reclaim: the OOM killer chooses who pays.
            match self.oom_kill(cat) {
                OomOutcome::KilledOther => continue,
                OomOutcome::Failed => return false,
            }
        }
    }

    /// Drops the oldest still-valid `MADV_FREE` page of any process. Its owner's RSS
    /// shrinks; the running process pays `free_page_ns` (direct reclaim) in `cat`.
    fn reclaim_one(&mut self, cat: CostCategory) -> bool {
        let Kernel {
            cur,
            others,
            phys,
            tlb,
            lazy_queue,
            lazy_total,
            ..
        } = self;
        while let Some((pid, vpn)) = lazy_queue.pop_front() {
            let p = if pid == cur.pid {
                &mut *cur
            } else {
                match others.get_mut(&pid) {
                    Some(p) => p,
                    None => continue,
                }
            };
            let leaf = p.pt.translate(vpn);
            if leaf.huge || !pte::has_frame(leaf.entry) || leaf.entry & pte::LAZY == 0 {
                continue; // written again, unmapped or moved since
            }
            p.pt.update_range(vpn, vpn + 1, phys, |_, _, _| Action::Clear);
            p.rss_pages -= 1;
            p.lazy_pages -= 1;
            *lazy_total -= 1;
            p.counters.returned_resident.madvise += PAGE_SIZE;
            p.counters.reclaimed += PAGE_SIZE;
            tlb.invalidate_page(p.asid(), vpn);
            let ns = self.config.cost.free_page_ns;
            self.cur.charge(cat, ns);
            return true;
        }
        false
    }

    /// Maps a fresh zeroed frame at `vpn` (inside `vma`, which starts at `vma_start`),
    /// or a whole huge page when the model allows one there.
    pub(crate) fn map_anon(
        &mut self,
        vpn: u64,
        vma_start: Addr,
        vma: Vma,
        via: Via,
    ) -> Result<(), NoMemory> {
        let cost = &self.config.cost;
        let (trap_ns, pt_ns, zero_ns) = (
            match via {
                Via::Trap => cost.fault_ns,
                Via::Populate => cost.populate_page_ns,
            },
            cost.page_table_page_ns,
            cost.zero_page_ns,
        );
        let cat = match via {
            Via::Trap => CostCategory::Fault,
            Via::Populate => CostCategory::Syscall,
        };
        // The first write of a VMA gives it its anon_vma (Linux's `anon_vma_prepare`).
        self.cur.vmas.prepare_anon(vma_start);
        if self.try_map_huge(vpn, vma_start, vma, via) {
            return Ok(());
        }
        if !self.reserve_frames(|k| k.cur.pt.missing_for_page(vpn) + 1, cat) {
            return Err(NoMemory);
        }
        let frame = self.phys.alloc().ok_or(NoMemory)?;
        let entry = ((frame as u64) << pte::ADDR_SHIFT) | leaf_flags(vma.prot, false);
        let Some(tables) = self.cur.pt.install_page(vpn, entry, &mut self.phys) else {
            self.phys.free(frame);
            return Err(NoMemory);
        };
        let p = &mut self.cur;
        p.rss_pages += 1;
        p.charge(CostCategory::Fault, trap_ns);
        p.charge(CostCategory::Zeroing, zero_ns);
        p.charge(CostCategory::PageTable, tables as f64 * pt_ns);
        p.counters.minor_faults += 1;
        if via == Via::Populate {
            p.counters.populated_pages += 1;
        }
        Ok(())
    }

    /// Maps a 2 MiB page for the region of `vpn` if huge pages are on, the region lies
    /// entirely inside the read-write `vma`, nothing is mapped in it yet, and a free
    /// 2 MiB block exists. Returns false to fall back to 4 KiB pages.
    fn try_map_huge(&mut self, vpn: u64, vma_start: Addr, vma: Vma, via: Via) -> bool {
        if !(self.config.huge_pages && vma.prot.allows_read() && vma.prot.allows_write()) {
            return false;
        }
        let region = vpn & !511;
        let ra = region << PAGE_SHIFT;
        if ra < vma_start || ra + 512 * PAGE_SIZE > vma.end || !self.cur.pt.pd_entry_empty(vpn) {
            return false;
        }
        let tables = self.cur.pt.missing_for_huge(vpn);
        if !self.phys.has_free_block() || self.phys.free_frames() < 512 + tables {
            return false;
        }
        let Some(base) = self.phys.alloc_huge() else {
            return false;
        };
        let entry = ((base as u64) << pte::ADDR_SHIFT) | leaf_flags(vma.prot, false);
        let Some(tables) = self.cur.pt.install_huge(region, entry, &mut self.phys) else {
            self.phys.free_huge(base);
            return false;
        };
        let cost = &self.config.cost;
        let trap_ns = match via {
            Via::Trap => cost.fault_ns,
            Via::Populate => cost.populate_page_ns,
        };
        let (zero_ns, pt_ns) = (
            512.0 * cost.zero_page_ns,
            tables as f64 * cost.page_table_page_ns,
        );
        let p = &mut self.cur;
        p.rss_pages += 512;
        p.huge_pages += 1;
        p.charge(CostCategory::Fault, trap_ns);
        p.charge(CostCategory::Zeroing, zero_ns);
        p.charge(CostCategory::PageTable, pt_ns);
        p.counters.minor_faults += 1;
        p.counters.huge_faults += 1;
        if via == Via::Populate {
            p.counters.populated_pages += 512;
        }
        true
    }

    /// Maps the shared zero page read-only at `vpn` (a first read).
    pub(crate) fn map_zero(&mut self, vpn: u64, vma: Vma, via: Via) -> Result<(), NoMemory> {
        let cat = match via {
            Via::Trap => CostCategory::Fault,
            Via::Populate => CostCategory::Syscall,
        };
        if !self.reserve_frames(|k| k.cur.pt.missing_for_page(vpn), cat) {
            return Err(NoMemory);
        }
        let entry = leaf_flags(vma.prot, true);
        let tables = self
            .cur
            .pt
            .install_page(vpn, entry, &mut self.phys)
            .ok_or(NoMemory)?;
        let cost = &self.config.cost;
        let (ns, pt_ns) = (
            match via {
                Via::Trap => cost.read_fault_ns,
                Via::Populate => cost.populate_page_ns,
            },
            tables as f64 * cost.page_table_page_ns,
        );
        let p = &mut self.cur;
        p.charge(CostCategory::Fault, ns);
        p.charge(CostCategory::PageTable, pt_ns);
        p.counters.minor_faults += 1;
        p.counters.zero_page_maps += 1;
        if via == Via::Populate {
            p.counters.populated_pages += 1;
        }
        Ok(())
    }

    /// Copy-on-write of the zero page: a write to a page that was only read so far gets
    /// its own zeroed frame (copying zeros is zeroing).
    fn cow_zero(&mut self, vpn: u64, vma_start: Addr, vma: Vma) -> Result<(), NoMemory> {
        self.cur.vmas.prepare_anon(vma_start);
        if !self.reserve_frames(|_| 1, CostCategory::Fault) {
            return Err(NoMemory);
        }
        let frame = self.phys.alloc().ok_or(NoMemory)?;
        let entry = ((frame as u64) << pte::ADDR_SHIFT) | leaf_flags(vma.prot, false);
        match self.cur.pt.leaf_mut(vpn) {
            Some(slot) => *slot = entry,
            None => {
                self.phys.free(frame);
                return Err(NoMemory);
            }
        }
        let cost = &self.config.cost;
        let (f, z) = (cost.fault_ns, cost.zero_page_ns);
        let p = &mut self.cur;
        p.rss_pages += 1;
        p.charge(CostCategory::Fault, f);
        p.charge(CostCategory::Zeroing, z);
        p.counters.minor_faults += 1;
        Ok(())
    }

    /// `MAP_POPULATE`: fills in every page of `[start, end)` (inside the VMA `vma`
    /// starting at `vma_start`) without traps. A writable mapping gets zeroed frames
    /// (huge pages where allowed), a read-only one the zero page, `PROT_NONE` nothing.
    /// Linux populates by faulting each page in on the process's behalf
    /// (`get_user_pages`), so every page counts as a minor fault of the process, and the
    /// write faults of a writable mapping give it its anon_vma. Best effort, like
    /// Linux: it stops quietly when memory runs out.
    pub(crate) fn populate(&mut self, start: Addr, end: Addr, vma_start: Addr, vma: Vma) {
        if !vma.prot.allows_read() {
            return;
        }
        let mut vpn = start >> PAGE_SHIFT;
        let end_vpn = end >> PAGE_SHIFT;
        while vpn < end_vpn {
            let leaf = self.cur.pt.translate(vpn);
            if leaf.entry != 0 {
                vpn = if leaf.huge { (vpn | 511) + 1 } else { vpn + 1 };
                continue;
            }
            let done = if vma.prot.allows_write() {
                self.map_anon(vpn, vma_start, vma, Via::Populate)
            } else {
                self.map_zero(vpn, vma, Via::Populate)
            };
            if done.is_err() {
                return;
            }
            vpn = if self.cur.pt.translate(vpn).huge {
                (vpn | 511) + 1
            } else {
                vpn + 1
            };
        }
    }
}
