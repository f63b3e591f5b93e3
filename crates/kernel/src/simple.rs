//! PLACEHOLDER kernel: the public API of the real one with a deliberately simple body
//! (no page tables, no TLB), so that crates above can be written against it.

use crate::config::KernelConfig;
use crate::stats::{CostCategory, Counters, Ledger, MemStats, PhysStats};
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

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

#[derive(Clone, Debug)]
struct Vma {
    end: Addr,
    prot: Prot,
    heap: bool,
}

#[derive(Clone, Debug)]
struct Process {
    vmas: BTreeMap<Addr, Vma>,
    brk: Addr,
    resident: BTreeSet<u64>,
    counters: Counters,
    ledger: Ledger,
}

/// The simulated kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    config: KernelConfig,
    procs: BTreeMap<Pid, Process>,
    current: Pid,
    next_pid: u32,
    used_frames: u64,
}

impl Kernel {
    /// A machine with one process (pid 1), which is current.
    pub fn new(config: KernelConfig) -> Kernel {
        let mut k = Kernel {
            config,
            procs: BTreeMap::new(),
            current: Pid(1),
            next_pid: 1,
            used_frames: 0,
        };
        k.spawn();
        k
    }

    /// The configuration.
    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// Creates a process with an empty address space (its break at `heap_start`).
    pub fn spawn(&mut self) -> Pid {
        let pid = Pid(self.next_pid);
        self.next_pid += 1;
        self.procs.insert(
            pid,
            Process {
                vmas: BTreeMap::new(),
                brk: self.config.heap_start,
                resident: BTreeSet::new(),
                counters: Counters::default(),
                ledger: Ledger::default(),
            },
        );
        pid
    }

    /// The running process.
    pub fn current(&self) -> Pid {
        self.current
    }

    /// Switches the CPU to `pid`, charging a context switch.
    pub fn switch_to(&mut self, pid: Pid) -> Result<(), Errno> {
        if !self.procs.contains_key(&pid) {
            return Err(Errno::ESRCH);
        }
        if pid != self.current {
            self.current = pid;
            let c = self.config.cost.context_switch_ns;
            let p = self.proc_mut();
            p.counters.context_switches += 1;
            p.ledger.charge(CostCategory::ContextSwitch, c);
        }
        Ok(())
    }

    fn proc(&self) -> &Process {
        &self.procs[&self.current]
    }
    fn proc_mut(&mut self) -> &mut Process {
        self.procs
            .get_mut(&self.current)
            .expect("current process exists")
    }

    fn syscall(&mut self, call: Syscall) {
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
        let p = self.proc_mut();
        p.counters.syscalls[call as usize] += 1;
        p.ledger.charge(CostCategory::ModeSwitch, ms);
        p.ledger.charge(CostCategory::Syscall, work);
    }

    /// The `brk` syscall: asks for the break to be `addr`; returns the new break, or the
    /// old one when the request fails or `addr` is 0 (a query).
    pub fn brk(&mut self, addr: Addr) -> Addr {
        self.syscall(Syscall::Brk);
        let start = self.config.heap_start;
        let old = self.proc().brk;
        if addr == 0 || addr < start {
            return old;
        }
        let new_end = page_align_up(addr);
        let old_end = page_align_up(old);
        if new_end > old_end && self.overlaps(old_end, new_end) {
            return old;
        }
        if let Some(limit) = self.config.data_limit {
            if addr - start > limit {
                return old;
            }
        }
        if new_end < old_end {
            self.drop_pages(new_end, old_end - new_end);
            self.proc_mut().counters.returned.brk += old_end - new_end;
        }
        let p = self.proc_mut();
        p.brk = addr;
        p.vmas.remove(&start);
        if new_end > start {
            p.vmas.insert(
                start,
                Vma {
                    end: new_end,
                    prot: Prot::RW,
                    heap: true,
                },
            );
        }
        addr
    }

    /// The libc `sbrk` wrapper: moves the break by `increment` and returns the old
    /// break. libc caches the break, so `sbrk(0)` makes no syscall.
    pub fn sbrk(&mut self, increment: i64) -> Result<Addr, Errno> {
        let old = self.proc().brk;
        if increment == 0 {
            return Ok(old);
        }
        let want = old.checked_add_signed(increment).ok_or(Errno::ENOMEM)?;
        if self.brk(want) == want {
            Ok(old)
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// The current program break (no syscall: what libc has cached).
    pub fn program_break(&self) -> Addr {
        self.proc().brk
    }

    fn overlaps(&self, start: Addr, end: Addr) -> bool {
        self.proc()
            .vmas
            .range(..end)
            .next_back()
            .is_some_and(|(_, v)| v.end > start)
    }

    /// The `mmap` syscall for anonymous private memory.
    pub fn mmap(
        &mut self,
        addr: Addr,
        len: u64,
        prot: Prot,
        flags: MapFlags,
    ) -> Result<Addr, Errno> {
        self.syscall(Syscall::Mmap);
        if len == 0 || addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align_up(len);
        let start = if flags.contains(MapFlags::FIXED) {
            self.unmap_range(addr, len);
            addr
        } else {
            let mut top = self.config.mmap_base;
            let mut found = None;
            for (&s, v) in self.proc().vmas.range(..self.config.mmap_base).rev() {
                if v.end <= top && top - v.end >= len {
                    found = Some(top - len);
                    break;
                }
                top = top.min(s);
            }
            match found {
                Some(a) => a,
                None if top >= self.config.mmap_min_addr + len => top - len,
                None => return Err(Errno::ENOMEM),
            }
        };
        self.proc_mut().vmas.insert(
            start,
            Vma {
                end: start + len,
                prot,
                heap: false,
            },
        );
        if flags.contains(MapFlags::POPULATE) {
            for pg in (start..start + len).step_by(PAGE_SIZE as usize) {
                self.proc_mut().resident.insert(pg / PAGE_SIZE);
            }
        }
        Ok(start)
    }

    fn drop_pages(&mut self, start: Addr, len: u64) {
        let pages: Vec<u64> = self
            .proc()
            .resident
            .range(start / PAGE_SIZE..(start + len) / PAGE_SIZE)
            .copied()
            .collect();
        for p in &pages {
            self.proc_mut().resident.remove(p);
        }
        self.used_frames -= pages.len() as u64;
    }

    fn unmap_range(&mut self, start: Addr, len: u64) {
        let end = start + len;
        let hit: Vec<(Addr, Vma)> = self
            .proc()
            .vmas
            .range(..end)
            .filter(|(_, v)| v.end > start)
            .map(|(&s, v)| (s, v.clone()))
            .collect();
        for (s, v) in hit {
            let p = self.proc_mut();
            p.vmas.remove(&s);
            if s < start {
                p.vmas.insert(
                    s,
                    Vma {
                        end: start,
                        ..v.clone()
                    },
                );
            }
            if v.end > end {
                p.vmas.insert(end, v);
            }
        }
        self.drop_pages(start, len);
    }

    /// The `munmap` syscall.
    pub fn munmap(&mut self, addr: Addr, len: u64) -> Result<(), Errno> {
        self.syscall(Syscall::Munmap);
        if len == 0 || addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align_up(len);
        self.unmap_range(addr, len);
        self.proc_mut().counters.returned.munmap += len;
        Ok(())
    }

    /// The `mprotect` syscall.
    pub fn mprotect(&mut self, addr: Addr, len: u64, prot: Prot) -> Result<(), Errno> {
        self.syscall(Syscall::Mprotect);
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let _ = (len, prot);
        Ok(())
    }

    /// The `mremap` syscall.
    pub fn mremap(
        &mut self,
        old_addr: Addr,
        old_len: u64,
        new_len: u64,
        flags: MremapFlags,
    ) -> Result<Addr, Errno> {
        self.syscall(Syscall::Mremap);
        if new_len == 0 || old_addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let (old_len, new_len) = (page_align_up(old_len), page_align_up(new_len));
        if new_len <= old_len {
            self.unmap_range(old_addr + new_len, old_len - new_len);
            return Ok(old_addr);
        }
        if !self.overlaps(old_addr + old_len, old_addr + new_len) {
            let p = self.proc_mut();
            if let Some(v) = p.vmas.get_mut(&old_addr) {
                v.end = old_addr + new_len;
            }
            return Ok(old_addr);
        }
        if !flags.contains(MremapFlags::MAYMOVE) {
            return Err(Errno::ENOMEM);
        }
        let new = self.mmap(0, new_len, Prot::RW, MapFlags::NONE)?;
        self.unmap_range(old_addr, old_len);
        Ok(new)
    }

    /// The `madvise` syscall.
    pub fn madvise(&mut self, addr: Addr, len: u64, advice: Advice) -> Result<(), Errno> {
        self.syscall(Syscall::Madvise);
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let _ = advice;
        let len = page_align_up(len);
        self.drop_pages(addr, len);
        self.proc_mut().counters.returned.madvise += len;
        Ok(())
    }

    /// A user-space access of `len` bytes at `addr`: faults pages in as needed.
    pub fn touch(&mut self, addr: Addr, len: u64, access: Access) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        let first = addr / PAGE_SIZE;
        let last = (addr + len - 1) / PAGE_SIZE;
        for pg in first..=last {
            let a = pg * PAGE_SIZE;
            let ok = self
                .proc()
                .vmas
                .range(..=a)
                .next_back()
                .is_some_and(|(_, v)| v.end > a);
            if !ok {
                return Err(Fault::Segv {
                    addr: a.max(addr),
                    access,
                    reason: SegvReason::Unmapped,
                });
            }
            if access == Access::Write && self.proc_mut().resident.insert(pg) {
                self.used_frames += 1;
                let c = self.config.cost.fault_ns + self.config.cost.zero_page_ns;
                let p = self.proc_mut();
                p.counters.minor_faults += 1;
                p.ledger.charge(CostCategory::Fault, c);
            }
        }
        Ok(())
    }

    /// Charges allocator user-space work.
    pub fn charge_user(&mut self, ns: f64) {
        self.proc_mut().ledger.charge(CostCategory::User, ns);
    }

    /// Memory use of the current process.
    pub fn mem(&self) -> MemStats {
        self.mem_of(self.current).expect("current process exists")
    }

    /// Memory use of `pid`.
    pub fn mem_of(&self, pid: Pid) -> Option<MemStats> {
        let p = self.procs.get(&pid)?;
        Some(MemStats {
            mapped: p.vmas.iter().map(|(s, v)| v.end - s).sum(),
            rss: p.resident.len() as u64 * PAGE_SIZE,
            pt_bytes: 0,
            vmas: p.vmas.len() as u64,
            brk: p.brk,
        })
    }

    /// Physical memory use.
    pub fn phys(&self) -> PhysStats {
        let total = self.config.phys_bytes / PAGE_SIZE;
        PhysStats {
            total_frames: total,
            free_frames: total - self.used_frames,
        }
    }

    /// Counters of the current process.
    pub fn counters(&self) -> &Counters {
        &self.proc().counters
    }

    /// Cost ledger of the current process.
    pub fn ledger(&self) -> &Ledger {
        &self.proc().ledger
    }

    /// The current process's VMAs in address order.
    pub fn vmas(&self) -> Vec<VmaInfo> {
        self.proc()
            .vmas
            .iter()
            .map(|(&s, v)| VmaInfo {
                start: s,
                end: v.end,
                prot: v.prot,
                heap: v.heap,
            })
            .collect()
    }
}
