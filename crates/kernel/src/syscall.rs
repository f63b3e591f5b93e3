//! The memory syscalls: `brk`, `mmap`, `munmap`, `mprotect`, `mremap`, `madvise`.
//!
//! Every call enters the kernel once (a *mode switch*, `mode_switch_ns`, charged even
//! when the call fails) and does its bookkeeping (`<call>_ns`). Calls that remove the
//! translations of mapped pages also free their frames (`free_page_ns` each) and tear
//! them down (`unmap_teardown_ns` once per call, and the process's next page fault pays
//! `fault_after_unmap_ns`); every call that removes or restricts
//! translations invalidates the TLB, which costs a shootdown (`tlb_shootdown_ns`) only
//! when other CPUs run the address space.
//!
//! Error cases follow Linux (`mm/mmap.c`, `mm/vma.c`, `mm/mprotect.c`, `mm/mremap.c`,
//! `mm/madvise.c`); each function's doc lists them. What a call may map at all (the
//! resource limits and the overcommit policy) is in [`crate::limits`].

use crate::config::OvercommitPolicy;
use crate::fault::reprotect;
use crate::kernel::Kernel;
use crate::page_table::{Action, RangeStats, pte};
use crate::stats::CostCategory;
use crate::types::{
    Addr, Advice, Errno, HUGE_PAGE_SIZE, MapFlags, MremapFlags, PAGE_SHIFT, PAGE_SIZE, Prot,
    Syscall, USER_SPACE_END, checked_page_align_up, page_align_up,
};
use crate::vma::Vma;

/// Which mechanism gives a range back (the `returned` counter it is counted in).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Release {
    /// Lowering the program break.
    Brk,
    /// `munmap`, a shrinking `mremap`, or `MAP_FIXED` replacing a mapping.
    Munmap,
}

impl Kernel {
    /// Enters the kernel for `call`: counts it and charges the mode switch plus the
    /// call's own work.
    fn enter(&mut self, call: Syscall) {
        let c = &self.config.cost;
        let work = match call {
            Syscall::Brk => c.brk_ns,
            Syscall::Mmap => c.mmap_ns,
            Syscall::Munmap => c.munmap_ns,
            Syscall::Mprotect => c.mprotect_ns,
            Syscall::Mremap => c.mremap_ns,
            Syscall::Madvise => c.madvise_ns,
        };
        let ms = c.mode_switch_ns;
        let p = &mut self.cur;
        p.counters.syscalls[call as usize] += 1;
        p.charge(CostCategory::ModeSwitch, ms);
        p.charge(CostCategory::Syscall, work);
    }

    /// Invalidates the TLB entries of `[start, end)` after a call removed or restricted
    /// translations there: on this CPU (page by page, or the whole address space for a
    /// long range), and on every other CPU that runs the address space, which takes a
    /// *shootdown* (an IPI and a wait, `tlb_shootdown_ns`; only when
    /// [`TlbConfig::remote_cpus`](crate::TlbConfig::remote_cpus) says other CPUs do).
    fn invalidate(&mut self, start: Addr, end: Addr) {
        let full =
            self.tlb
                .invalidate_range(self.cur.pid.0, start >> PAGE_SHIFT, end.div_ceil(PAGE_SIZE));
        let remote = self.config.tlb.remote_cpus > 0;
        let ns = self.config.cost.tlb_shootdown_ns;
        let p = &mut self.cur;
        p.counters.tlb_invalidations += 1;
        if full {
            p.counters.tlb_flushes += 1;
        }
        if remote {
            p.counters.tlb_shootdowns += 1;
            p.charge(CostCategory::Shootdown, ns);
        }
    }

    /// The end of a call that removed the translations of mapped pages in `[start,
    /// end)`: their teardown (`unmap_teardown_ns`, once per call) and the TLB
    /// invalidation; the process's next page fault pays `fault_after_unmap_ns`.
    fn teardown(&mut self, start: Addr, end: Addr) {
        let ns = self.config.cost.unmap_teardown_ns;
        self.cur.charge(CostCategory::Teardown, ns);
        self.cur.unmapped_since_fault = true;
        self.invalidate(start, end);
    }

    /// Removes every page of `[start, end)` from the page table, freeing frames
    /// (charged `free_page_ns` each; a huge page is one compound page) and keeping
    /// RSS, lazy-free and huge counts exact. No TLB work.
    fn zap(&mut self, start: Addr, end: Addr) -> RangeStats {
        let Kernel {
            cur,
            phys,
            lazy_total,
            config,
            ..
        } = self;
        let mut lazy = 0;
        let st = cur
            .pt
            .update_range(start >> PAGE_SHIFT, end >> PAGE_SHIFT, phys, |_, e, _| {
                if e & pte::LAZY != 0 && pte::has_frame(e) {
                    lazy += 1;
                }
                Action::Clear
            });
        cur.rss_pages -= st.freed;
        cur.lazy_pages -= lazy;
        *lazy_total -= lazy;
        cur.huge_pages -= st.freed_huge + st.split;
        let releases = st.freed - 512 * st.freed_huge + st.freed_huge;
        cur.charge(
            CostCategory::Syscall,
            releases as f64 * config.cost.free_page_ns,
        );
        st
    }

    /// Linux's `free_pgtables`, after `[start, end)` was unmapped: frees every page-table
    /// page whose span intersects the range and no longer any VMA.
    fn free_pgtables(&mut self, start: Addr, end: Addr) {
        let Kernel { cur, phys, .. } = self;
        let vmas = &cur.vmas;
        cur.pt.free_unused(
            start >> PAGE_SHIFT,
            end.div_ceil(PAGE_SIZE),
            phys,
            |s, e| !vmas.is_free(s << PAGE_SHIFT, e << PAGE_SHIFT),
        );
    }

    /// The one unmap path of every call that removes a range of address space
    /// (`munmap`, a shrinking `mremap`, a brk shrink, the implicit unmap of
    /// `MAP_FIXED`): removes the VMAs of `[start, end)` and their pages, counts what was
    /// given back under `why`, frees the page tables left without a VMA, and shoots down
    /// the TLB entries if any page was mapped.
    ///
    /// Cutting a hole in the middle of one VMA makes two of it, so like Linux's
    /// `split_vma` the call fails with ENOMEM, changing nothing, when the process
    /// already has `vm.max_map_count` VMAs.
    fn unmap(&mut self, start: Addr, end: Addr, why: Release) -> Result<(), Errno> {
        if self.cur.vmas.splits_in_middle(start, end)
            && self.cur.vmas.len() >= self.config.max_map_count
        {
            return Err(Errno::ENOMEM);
        }
        let bytes = self.cur.vmas.remove_range(start, end);
        let st = self.zap(start, end);
        self.free_pgtables(start, end);
        let c = &mut self.cur.counters;
        let (range, resident) = match why {
            Release::Brk => (&mut c.returned.brk, &mut c.returned_resident.brk),
            Release::Munmap => (&mut c.returned.munmap, &mut c.returned_resident.munmap),
        };
        *range += bytes;
        *resident += st.freed * PAGE_SIZE;
        if st.mapped > 0 {
            self.teardown(start, end);
        }
        Ok(())
    }

    // ANCHOR: brk
    /// The `brk` syscall: asks for the program break to be `addr`. Returns the new
    /// break, or the old one when the request fails or is a query (`addr` 0).
    ///
    /// The heap is `[heap_start, page_align_up(brk))`. Like Linux, the call fails
    /// (returning the old break) when `addr` is below the heap start; when growing
    /// would come within one page of the next mapping (a guard page must remain), pass
    /// `RLIMIT_DATA` (`data_limit`, on all private writable memory) or `RLIMIT_AS`, be
    /// refused by the overcommit policy, or need a VMA beyond `vm.max_map_count`; or
    /// when shrinking finds nothing mapped to remove. Moving the break inside the last
    /// page only records it. Growth extends the heap's VMA, or creates the first one
    /// (never merged with a mapping below the heap start); shrinking unmaps the pages
    /// (frames freed, page tables freed where no VMA is left, TLB shot down) and counts
    /// in `returned.brk`. A heap VMA that a mapping below the heap start joined is
    /// still the heap's, and growth extends it.
    pub fn brk(&mut self, addr: Addr) -> Addr {
        self.enter(Syscall::Brk);
        let start = self.config.heap_start;
        let old = self.cur.brk;
        if addr < start {
            return old; // includes the query brk(0)
        }
        if self.cur.rlimit_data.is_some_and(|lim| addr - start > lim) {
            return old;
        }
        let Some(newbrk) = checked_page_align_up(addr).filter(|&b| b <= self.config.usable_end())
        else {
            return old;
        };
        let oldbrk = page_align_up(old);
        if newbrk == oldbrk {
            self.cur.brk = addr;
            return addr;
        }
        if newbrk < oldbrk {
            // Shrink: Linux requires a mapping in the range it removes.
            if self.cur.vmas.is_free(newbrk, oldbrk)
                || self.unmap(newbrk, oldbrk, Release::Brk).is_err()
            {
                return old;
            }
            self.cur.brk = addr;
            return addr;
        }
        // Grow: the new end plus a guard page must stay below the next mapping.
        if let Some((next_start, _)) = self.cur.vmas.first_ending_after(oldbrk)
            && newbrk + PAGE_SIZE > next_start
        {
            return old;
        }
        let len = newbrk - oldbrk;
        if self.cur.vmas.len() >= self.config.max_map_count
            || !self.may_expand_vm(true, len)
            || !self.vm_enough_memory(len)
        {
            return old;
        }
        let grown = Vma::fresh(oldbrk, newbrk, Prot::RW, true, false);
        // Linux's `vma_prev_limit(start_brk)`: the VMA holding the old break, if it
        // reaches above the heap start (it may begin below it, once a mapping there
        // merged with it); a VMA that only ends at the heap start is not the heap's.
        match self.cur.vmas.prev(oldbrk) {
            Some((hs, h)) if h.end > start && h.joins(hs, oldbrk, &grown) => {
                self.cur.vmas.grow(hs, newbrk);
            }
            _ => self.cur.vmas.insert_unmerged(oldbrk, grown),
        }
        self.cur.brk = addr;
        addr
    }
    // ANCHOR_END: brk

    /// The libc `sbrk` wrapper: moves the break by `increment` and returns the *old*
    /// break. libc caches the break, so `sbrk(0)` makes no syscall, and an increment
    /// that would wrap around fails with ENOMEM before any syscall. As in glibc, the
    /// call succeeds when the kernel's answer is at least the requested break (so a
    /// refused shrink is not reported).
    pub fn sbrk(&mut self, increment: i64) -> Result<Addr, Errno> {
        let old = self.cur.brk;
        if increment == 0 {
            return Ok(old);
        }
        let want = old.checked_add_signed(increment).ok_or(Errno::ENOMEM)?;
        if self.brk(want) >= want {
            Ok(old)
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// The current program break (no syscall: what libc has cached).
    pub fn program_break(&self) -> Addr {
        self.cur.brk
    }

    // ANCHOR: place
    /// Where a mapping of `len` bytes without `MAP_FIXED` goes: at the hint (rounded down
    /// to its page) if that range is free, else in the highest free range below
    /// `mmap_base` (Linux's top-down allocator). Without a hint, a length that is a
    /// multiple of 2 MiB gets a 2 MiB-aligned place when `thp_align` is on.
    fn place(&self, hint: Addr, len: u64) -> Option<Addr> {
        let min = self.config.mmap_min_addr;
        let top = self.config.usable_end();
        if hint != 0 {
            // x86-64 rounds the hint down to its page (`arch_get_unmapped_area_topdown`).
            let mut h = hint & !(PAGE_SIZE - 1);
            if h < min {
                h = page_align_up(min);
            }
            if h <= top - len && self.cur.vmas.is_free(h, h + len) {
                return Some(h);
            }
        }
        let low = min.max(PAGE_SIZE);
        let high = self.config.mmap_base;
        let align = self.config.thp_align || self.config.huge_pages;
        if hint == 0 && align && len.is_multiple_of(HUGE_PAGE_SIZE) {
            // Ask for 2 MiB more and align inside it (Linux's thp_get_unmapped_area:
            // top-down, so an already aligned area gives its upper part).
            if let Some(a) = len
                .checked_add(HUGE_PAGE_SIZE)
                .and_then(|padded| self.cur.vmas.find_topdown(padded, low, high))
            {
                let off = (HUGE_PAGE_SIZE - a % HUGE_PAGE_SIZE) % HUGE_PAGE_SIZE;
                return Some(if off == 0 {
                    a + HUGE_PAGE_SIZE
                } else {
                    a + off
                });
            }
        }
        self.cur.vmas.find_topdown(len, low, high)
    }
    // ANCHOR_END: place

    /// The `mmap` syscall for anonymous private memory (`MAP_PRIVATE | MAP_ANONYMOUS`
    /// is implied). Returns the start of the new mapping.
    ///
    /// - `len` 0, unknown `prot` or flag bits, or `MAP_FIXED` (or
    ///   `MAP_FIXED_NOREPLACE`) with an unaligned `addr`: EINVAL. `MAP_FIXED` below
    ///   `mmap_min_addr`: EPERM.
    /// - A length that overflows when page-aligned or exceeds the address space, a
    ///   `MAP_FIXED` range beyond the usable address space, no free range,
    ///   `vm.max_map_count` VMAs already, `RLIMIT_AS` or (for a writable mapping)
    ///   `RLIMIT_DATA` exceeded, or a commitment the overcommit policy refuses: ENOMEM.
    /// - Without `MAP_FIXED`, a non-zero `addr` is a hint used when that range is free;
    ///   otherwise the mapping goes into the highest gap below `mmap_base` that fits.
    /// - `MAP_FIXED` replaces whatever was mapped in the range (an implicit `munmap`,
    ///   counted in `returned.munmap`); `MAP_FIXED_NOREPLACE` fails with EEXIST instead.
    /// - `MAP_POPULATE` fills every page in now, without traps (best effort: `mmap`
    ///   still succeeds when frames run out): `populate_page_ns` per page plus
    ///   `zero_page_ns` (Zeroing) for writable mappings. Linux counts each populated page
    ///   as a minor fault of the process (the kernel takes the fault on its behalf), so
    ///   the model counts them in `minor_faults` too (and in `populated_pages`). A
    ///   read-only mapping gets the zero page; `PROT_NONE` nothing.
    /// - A private writable mapping is *accounted*: its size is committed, and the
    ///   overcommit policy must agree first. `MAP_NORESERVE` exempts it, except under
    ///   the `never` policy, which ignores the flag.
    ///
    /// A new mapping merges with the neighbours it can join (same flags, see
    /// the `vma` module), the one below first.
    pub fn mmap(
        &mut self,
        addr: Addr,
        len: u64,
        prot: Prot,
        flags: MapFlags,
    ) -> Result<Addr, Errno> {
        self.enter(Syscall::Mmap);
        if !prot.is_known() || !flags.is_known() || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = checked_page_align_up(len).ok_or(Errno::ENOMEM)?;
        let top = self.config.usable_end();
        if len > top {
            return Err(Errno::ENOMEM);
        }
        let noreplace = flags.contains(MapFlags::FIXED_NOREPLACE);
        let fixed = flags.contains(MapFlags::FIXED) || noreplace;
        if fixed && !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        // Checked before knowing whether the mapping would merge, as in Linux. (Linux
        // compared with `>` until a 2025 fix, which let a process reach one VMA more
        // than the limit; the model uses the fixed `>=`, as `split_vma` always did.)
        if self.cur.vmas.len() >= self.config.max_map_count {
            return Err(Errno::ENOMEM);
        }
        let start = if fixed {
            if addr > top - len {
                return Err(Errno::ENOMEM);
            }
            if addr < self.config.mmap_min_addr {
                return Err(Errno::EPERM);
            }
            if noreplace && !self.cur.vmas.is_free(addr, addr + len) {
                return Err(Errno::EEXIST);
            }
            addr
        } else {
            self.place(addr, len).ok_or(Errno::ENOMEM)?
        };
        let end = start + len;
        let replaced = self.cur.vmas.mapped_in(start, end);
        if !self.may_expand_vm(prot.allows_write(), len - replaced) {
            return Err(Errno::ENOMEM);
        }
        let noreserve = flags.contains(MapFlags::NORESERVE)
            && self.config.overcommit.policy != OvercommitPolicy::Never;
        let accounted = prot.allows_write() && !noreserve;
        if accounted {
            let charge = len - self.cur.vmas.mapped_in_where(start, end, |v| v.accounted);
            if charge > 0 && !self.vm_enough_memory(charge) {
                return Err(Errno::ENOMEM);
            }
        }
        if replaced > 0 {
            // Cannot hit the map-count check: the process has fewer VMAs than the limit.
            self.unmap(start, end, Release::Munmap)?;
        }
        let vma = Vma::fresh(start, end, prot, accounted, noreserve);
        let vma_start = self.cur.vmas.insert(start, vma);
        if flags.contains(MapFlags::POPULATE)
            && let Some((_, vma)) = self.cur.vmas.find(start)
        {
            self.populate(start, end, vma_start, vma);
        }
        Ok(start)
    }

    /// The `munmap` syscall: removes every mapping in `[addr, addr + len)`, frees
    /// their frames, frees the page tables left without a VMA and shoots down their TLB
    /// entries. Unmapping a range with nothing in it succeeds.
    ///
    /// Unaligned `addr`, `len` 0 or a range beyond user space: EINVAL. A range strictly
    /// inside one VMA (which would split it in two) while the process already has
    /// `vm.max_map_count` VMAs: ENOMEM.
    pub fn munmap(&mut self, addr: Addr, len: u64) -> Result<(), Errno> {
        self.enter(Syscall::Munmap);
        if !addr.is_multiple_of(PAGE_SIZE) || addr > USER_SPACE_END || len > USER_SPACE_END - addr {
            return Err(Errno::EINVAL);
        }
        let len = page_align_up(len);
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        self.unmap(addr, addr + len, Release::Munmap)
    }

    /// The `mprotect` syscall: gives `[addr, addr + len)` the protection `prot`,
    /// splitting VMAs at the range's edges and merging pieces with the neighbours they
    /// can join. Mapped pages get their permission bits changed (and the TLB shot down);
    /// huge pages cut by the range are split.
    ///
    /// Making a private piece writable is a new commitment, as in Linux's
    /// `mprotect_fixup`: it counts in `VmData` (so `RLIMIT_DATA` may refuse it) and,
    /// unless the VMA was writable or accounted before or is `MAP_NORESERVE`, the
    /// overcommit policy must agree and the piece becomes accounted. Taking write away
    /// gives the commitment back only from a VMA that was never written to (no
    /// anon_vma); one that was stays accounted.
    ///
    /// Unaligned `addr` or unknown `prot` bits: EINVAL. `len` 0 succeeds. Like Linux,
    /// the VMAs are changed in address order and the call stops with ENOMEM at the
    /// first hole (the part before the hole keeps its new protection), at a piece a
    /// limit or the overcommit policy refuses, or when a split would exceed
    /// `vm.max_map_count`.
    pub fn mprotect(&mut self, addr: Addr, len: u64, prot: Prot) -> Result<(), Errno> {
        self.enter(Syscall::Mprotect);
        if !prot.is_known() || !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = checked_page_align_up(len)
            .and_then(|l| addr.checked_add(l))
            .filter(|&e| e <= USER_SPACE_END)
            .ok_or(Errno::ENOMEM)?;
        let mut cursor = addr;
        let mut result = Ok(());
        let mut mapped = 0;
        while cursor < end {
            let Some((vs, v)) = self.cur.vmas.find(cursor) else {
                result = Err(Errno::ENOMEM);
                break;
            };
            let piece_end = v.end.min(end);
            if v.prot != prot {
                let n = piece_end - cursor;
                let mut accounted = v.accounted;
                if prot.allows_write() {
                    if !v.prot.allows_write() && !self.may_expand_vm(true, n) {
                        result = Err(Errno::ENOMEM);
                        break;
                    }
                    if !(v.accounted || v.prot.allows_write() || v.noreserve) {
                        if !self.vm_enough_memory(n) {
                            result = Err(Errno::ENOMEM);
                            break;
                        }
                        accounted = true;
                    }
                } else if v.accounted && v.anon.is_none() {
                    accounted = false;
                }
                let piece = Vma {
                    prot,
                    accounted,
                    ..v
                };
                if self.cur.vmas.len() + self.splits_for(vs, &v, cursor, piece_end, &piece)
                    > self.config.max_map_count
                {
                    result = Err(Errno::ENOMEM);
                    break;
                }
                self.cur.vmas.protect(cursor, piece_end, prot, accounted);
                let st = self.cur.pt.update_range(
                    cursor >> PAGE_SHIFT,
                    piece_end >> PAGE_SHIFT,
                    &mut self.phys,
                    |_, e, _| Action::Set(reprotect(e, prot)),
                );
                self.cur.huge_pages -= st.split;
                mapped += st.mapped;
            }
            cursor = piece_end;
        }
        if mapped > 0 {
            self.invalidate(addr, cursor);
        }
        result
    }

    /// How many new VMAs changing `[s, e)` of the VMA `v` (starting at `vs`) into
    /// `piece` creates: a piece in the middle needs two splits, a prefix or suffix one,
    /// unless it can instead join the neighbouring VMA (Linux tries that merge first).
    fn splits_for(&self, vs: Addr, v: &Vma, s: Addr, e: Addr, piece: &Vma) -> u64 {
        let piece_at = |at: Addr| Vma {
            end: e,
            pgoff: piece.pgoff + ((at - vs) >> PAGE_SHIFT),
            ..*piece
        };
        match (s == vs, e == v.end) {
            (true, true) => 0,
            (true, false) => {
                let joins = self
                    .cur
                    .vmas
                    .prev(vs)
                    .is_some_and(|(ps, p)| p.joins(ps, vs, &piece_at(s)));
                u64::from(!joins)
            }
            (false, true) => {
                let joins = self
                    .cur
                    .vmas
                    .next_from(v.end)
                    .is_some_and(|(ns, n)| piece_at(s).joins(s, ns, &n));
                u64::from(!joins)
            }
            (false, false) => 2,
        }
    }

    /// The `mremap` syscall: resizes the mapping at `old_addr` from `old_len` to
    /// `new_len` bytes and returns its address.
    ///
    /// - An `old_addr` no VMA contains: EFAULT.
    /// - The same length: `old_addr`, nothing else checked (as in Linux).
    /// - Shrinking unmaps `[old_addr + new_len, old_addr + old_len)` in place, whatever
    ///   is mapped there (counted in `returned.munmap`).
    /// - Growing needs `[old_addr, old_addr + old_len)` inside one VMA (else EFAULT),
    ///   room under `RLIMIT_AS` and, for a writable VMA, `RLIMIT_DATA`, and for an
    ///   accounted VMA the overcommit policy's consent for the growth (else ENOMEM). It
    ///   extends in place when the range ends its VMA and the bytes after it are free
    ///   (merging with a VMA that begins right there if they can join).
    /// - Otherwise, with `MREMAP_MAYMOVE`, the mapping moves to a new top-down place
    ///   (2 MiB-aligned for multiples of 2 MiB, as for `mmap`): its page-table entries
    ///   move with their frames (no copy, no new faults, the old range's TLB entries shot
    ///   down). This is how glibc's `realloc` grows an mmapped chunk cheaply. Without
    ///   `MAYMOVE`: ENOMEM.
    ///
    /// Unaligned `old_addr`, unknown flags, `new_len` 0 or `old_len` 0 (only valid for
    /// shared mappings in Linux): EINVAL. A move when the process is within 3 VMAs of
    /// `vm.max_map_count`, or no room: ENOMEM.
    pub fn mremap(
        &mut self,
        old_addr: Addr,
        old_len: u64,
        new_len: u64,
        flags: MremapFlags,
    ) -> Result<Addr, Errno> {
        self.enter(Syscall::Mremap);
        if !flags.is_known() || !old_addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let (Some(old_len), Some(new_len)) = (
            checked_page_align_up(old_len),
            checked_page_align_up(new_len),
        ) else {
            return Err(Errno::EINVAL);
        };
        if new_len == 0 || old_len == 0 {
            return Err(Errno::EINVAL);
        }
        let old_end = old_addr.checked_add(old_len).ok_or(Errno::EINVAL)?;
        let Some((vs, v)) = self.cur.vmas.find(old_addr) else {
            return Err(Errno::EFAULT);
        };
        if new_len == old_len {
            return Ok(old_addr);
        }
        if new_len < old_len {
            // The tail is unmapped as by munmap, with munmap's checks.
            if old_end > USER_SPACE_END {
                return Err(Errno::EINVAL);
            }
            self.unmap(old_addr + new_len, old_end, Release::Munmap)?;
            return Ok(old_addr);
        }
        if old_end > v.end {
            return Err(Errno::EFAULT);
        }
        let delta = new_len - old_len;
        if !self.may_expand_vm(v.prot.allows_write(), delta)
            || (v.accounted && !self.vm_enough_memory(delta))
        {
            return Err(Errno::ENOMEM);
        }
        let new_end = old_addr
            .checked_add(new_len)
            .filter(|&e| e <= self.config.usable_end());
        if let Some(new_end) = new_end
            && old_end == v.end
            && self.cur.vmas.is_free(old_end, new_end)
        {
            self.cur.vmas.grow(vs, new_end);
            return Ok(old_addr);
        }
        if !flags.contains(MremapFlags::MAYMOVE) {
            return Err(Errno::ENOMEM);
        }
        if self.cur.vmas.len() + 3 >= self.config.max_map_count {
            return Err(Errno::ENOMEM);
        }
        let new_addr = self.place(0, new_len).ok_or(Errno::ENOMEM)?;
        let mapped = self.move_pages(old_addr, old_end, new_addr)?;
        self.cur.vmas.remove_range(old_addr, old_end);
        // The moved VMA keeps its flags and anon_vma. A VMA that was written to keeps
        // its page offsets too (its pages are indexed by them); one that was not gets
        // offsets from its new place, so it can merge there (Linux's `copy_vma`).
        let pgoff = match v.anon {
            Some(_) => v.pgoff + ((old_addr - vs) >> PAGE_SHIFT),
            None => new_addr >> PAGE_SHIFT,
        };
        let moved = Vma {
            end: new_addr + new_len,
            pgoff,
            ..v
        };
        self.cur.vmas.insert(new_addr, moved);
        // As in Linux, the old range is unmapped with the new VMA in place: tables the
        // two places share stay.
        self.free_pgtables(old_addr, old_end);
        if mapped > 0 {
            self.teardown(old_addr, old_end);
        }
        Ok(new_addr)
    }

    /// Moves every mapped page of `[old, old_end)` to the same offset from `new`:
    /// the entries (frames, zero-page mappings, `MADV_FREE` state) are installed at the
    /// new place and then detached from the old one, so nothing is copied and nothing
    /// faults. Huge pages are split first (Linux moves a whole 2 MiB entry when both
    /// places are 2 MiB-aligned; the model always moves 4 KiB entries).
    ///
    /// The destination gets the page tables Linux's `move_page_tables` gives it: the
    /// old range is walked in extents that end at every 2 MiB boundary of either place,
    /// and wherever the old extent has a PT, the new one gets a PDPT, PD and PT (even
    /// if no page there is mapped); where it has only a PD, a PDPT. (Linux moves a
    /// whole PT, or PD, instead of its entries when an extent covers all of its span in
    /// both places; the count of tables comes out the same, because the old span then
    /// has no VMA left and its table would be freed anyway.)
    ///
    /// Fails with ENOMEM, changing nothing, when the tables at the destination cannot
    /// be allocated. Returns the pages moved.
    fn move_pages(&mut self, old: Addr, old_end: Addr, new: Addr) -> Result<u64, Errno> {
        let (ov, oe, nv) = (old >> PAGE_SHIFT, old_end >> PAGE_SHIFT, new >> PAGE_SHIFT);
        // Split huge pages (their deposited tables make this allocation-free).
        let Kernel { cur, phys, .. } = self;
        let st = cur.pt.update_range(ov, oe, phys, |_, _, huge| {
            if huge { Action::Split } else { Action::Keep }
        });
        cur.huge_pages -= st.split;
        let mut paths = Vec::new();
        let mut o = ov;
        while o < oe {
            let n = o - ov + nv;
            let extent = (512 - o % 512).min(512 - n % 512).min(oe - o);
            match self.cur.pt.depth(o) {
                3 => paths.push((n, 3)),
                2 => paths.push((n, 1)),
                _ => {}
            }
            o += extent;
        }
        if !self.reserve_frames(
            |k| k.cur.pt.missing_for_paths(&paths),
            CostCategory::Syscall,
        ) {
            return Err(Errno::ENOMEM);
        }
        let mut tables = 0;
        for &(vpn, depth) in &paths {
            tables += self
                .cur
                .pt
                .ensure(vpn, depth, &mut self.phys)
                .unwrap_or_default();
        }
        let mut entries = Vec::new();
        self.cur
            .pt
            .for_each(ov, oe, |vpn, e, _| entries.push((vpn, e)));
        let mut installed = Vec::with_capacity(entries.len());
        for &(vpn, e) in &entries {
            let to = vpn - ov + nv;
            // Cannot fail: every mapped page's extent got its tables above. A page that
            // could not be placed would simply stay and be freed with the old range.
            if let Some(t) = self.cur.pt.install_page(to, e, &mut self.phys) {
                tables += t;
                installed.push(vpn);
            }
        }
        let mut moved = installed.into_iter().peekable();
        let Kernel {
            cur,
            phys,
            lazy_queue,
            lazy_total,
            ..
        } = self;
        let pid = cur.pid;
        let (mut lost, mut lost_lazy) = (0, 0);
        let st = cur.pt.update_range(ov, oe, phys, |vpn, e, _| {
            if moved.peek() == Some(&vpn) {
                moved.next();
                if e & pte::LAZY != 0 {
                    lazy_queue.push_back((pid, vpn - ov + nv));
                }
                Action::Detach
            } else {
                lost += u64::from(pte::has_frame(e));
                lost_lazy += u64::from(e & pte::LAZY != 0);
                Action::Clear
            }
        });
        cur.rss_pages -= lost;
        cur.lazy_pages -= lost_lazy;
        *lazy_total -= lost_lazy;
        let ns = tables as f64 * self.config.cost.page_table_page_ns;
        self.cur.charge(CostCategory::PageTable, ns);
        Ok(st.mapped)
    }

    /// The `madvise` syscall with `MADV_DONTNEED` or `MADV_FREE` on `[addr, addr+len)`.
    ///
    /// - `DontNeed` drops the pages now: frames freed, TLB shot down. The mapping stays;
    ///   the next read sees zeros (the zero page), the next write faults in a fresh
    ///   zeroed frame. Counts in `returned` and `returned_resident` (`madvise`).
    /// - `Free` only marks resident pages as disposable: they stay mapped and in RSS
    ///   until memory runs short, when reclaim drops them (oldest first; counted in
    ///   `returned_resident.madvise` and `reclaimed` then). A write before that
    ///   cancels the advice for that page and keeps its data. Huge pages in the range
    ///   are split into 4 KiB pages first.
    ///
    /// Unaligned `addr`, or a length that overflows: EINVAL. `len` 0 succeeds. Like
    /// Linux, the advice is applied to the mapped parts of the range and the call then
    /// fails with ENOMEM if the range had unmapped holes.
    pub fn madvise(&mut self, addr: Addr, len: u64, advice: Advice) -> Result<(), Errno> {
        self.enter(Syscall::Madvise);
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let Some(end) = checked_page_align_up(len).and_then(|l| addr.checked_add(l)) else {
            return Err(Errno::EINVAL);
        };
        if end == addr {
            return Ok(());
        }
        let end_clip = end.min(USER_SPACE_END);
        let pieces: Vec<(Addr, Addr)> = self
            .cur
            .vmas
            .overlapping(addr, end_clip)
            .map(|(s, v)| (s.max(addr), v.end.min(end_clip)))
            .collect();
        let covered: u64 = pieces.iter().map(|(s, e)| e - s).sum();
        let mut mapped = 0;
        for (s, e) in pieces {
            match advice {
                Advice::DontNeed => {
                    let st = self.zap(s, e);
                    mapped += st.mapped;
                    self.cur.counters.returned_resident.madvise += st.freed * PAGE_SIZE;
                    // Linux 6.13+: a PT emptied by one call over its whole 2 MiB goes.
                    let Kernel { cur, phys, .. } = self;
                    cur.pt.reclaim_pts(s >> PAGE_SHIFT, e >> PAGE_SHIFT, phys);
                }
                Advice::Free => {
                    let Kernel {
                        cur,
                        phys,
                        lazy_queue,
                        lazy_total,
                        ..
                    } = self;
                    let pid = cur.pid;
                    let mut marked = 0;
                    let st = cur.pt.update_range(
                        s >> PAGE_SHIFT,
                        e >> PAGE_SHIFT,
                        phys,
                        |vpn, e, huge| {
                            if huge {
                                Action::Split
                            } else if pte::has_frame(e) && e & pte::LAZY == 0 {
                                lazy_queue.push_back((pid, vpn));
                                marked += 1;
                                Action::Set(e | pte::LAZY)
                            } else {
                                Action::Keep
                            }
                        },
                    );
                    cur.lazy_pages += marked;
                    *lazy_total += marked;
                    cur.huge_pages -= st.split;
                    mapped += st.mapped;
                }
            }
            self.cur.counters.returned.madvise += e - s;
        }
        if mapped > 0 {
            match advice {
                // The pages are gone: a teardown, as for munmap.
                Advice::DontNeed => self.teardown(addr, end_clip),
                // The pages stay; only their dirty state changed.
                Advice::Free => self.invalidate(addr, end_clip),
            }
        }
        if advice == Advice::Free {
            self.compact_lazy_queue();
        }
        if covered < end - addr {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }

    /// Drops stale and duplicate entries from the reclaim queue once it holds more than
    /// twice the pages that are really lazily free, so it stays O(lazy pages) long.
    fn compact_lazy_queue(&mut self) {
        if self.lazy_queue.len() as u64 <= 2 * self.lazy_total + 1024 {
            return;
        }
        let mut seen = std::collections::BTreeSet::new();
        let queue = std::mem::take(&mut self.lazy_queue);
        for (pid, vpn) in queue {
            let Some(p) = self.proc_ref(pid) else {
                continue;
            };
            let leaf = p.pt.translate(vpn);
            if !leaf.huge
                && pte::has_frame(leaf.entry)
                && leaf.entry & pte::LAZY != 0
                && seen.insert((pid, vpn))
            {
                self.lazy_queue.push_back((pid, vpn));
            }
        }
    }
}
