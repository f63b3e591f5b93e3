//! The kernel object: physical memory, the TLB, the processes, and everything one can
//! ask about them. The syscalls live in [`crate::syscall`], user memory accesses and the
//! page-fault handler in [`crate::fault`].

use crate::config::{ConfigError, KernelConfig};
use crate::contents::ByteStats;
use crate::oom::OomKill;
use crate::page_table::pte;
use crate::phys::FramePool;
use crate::process::Process;
use crate::stats::{CostCategory, Counters, Ledger, MemStats, PhysStats};
use crate::tlb::Tlb;
use crate::types::{Addr, Errno, PAGE_SHIFT, PAGE_SIZE, Pid, USER_SPACE_END};
use crate::vma::VmaInfo;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// What backs one virtual page of a process right now (see [`Kernel::page_state`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PageState {
    /// No VMA covers the address: any access is a SIGSEGV.
    NotMapped,
    /// Inside a VMA but never touched (or dropped by `MADV_DONTNEED`): the next access
    /// faults. Costs no memory.
    Unpopulated,
    /// Mapped to the shared zero page after a read: reads see zeros, the next write
    /// faults (copy-on-write). Not in RSS.
    ZeroPage,
    /// Backed by a private 4 KiB frame (in RSS).
    Resident {
        /// The physical frame number.
        frame: u64,
        /// Whether a store would go through without a fault.
        writable: bool,
        /// Given up with `MADV_FREE` and not written since: reclaim may drop it.
        lazy_free: bool,
    },
    /// Part of a 2 MiB huge page (in RSS).
    Huge {
        /// The physical frame number of this 4 KiB part of the huge page.
        frame: u64,
        /// Whether a store would go through without a fault.
        writable: bool,
    },
}

/// A broken internal invariant found by [`Kernel::check_consistency`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyError {
    /// The process concerned, if any.
    pub pid: Option<Pid>,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for ConsistencyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(p) => write!(f, "kernel inconsistency in {p}: {}", self.what),
            None => write!(f, "kernel inconsistency: {}", self.what),
        }
    }
}

impl std::error::Error for ConsistencyError {}

/// The simulated kernel: one machine with its physical memory, its TLB, and one or
/// more processes, one of which is running (the *current* process). Syscalls and
/// memory accesses act on the current process; [`Kernel::switch_to`] changes it.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub(crate) config: KernelConfig,
    pub(crate) phys: FramePool,
    pub(crate) tlb: Tlb,
    /// The running process (kept out of the map so the hot path needs no lookup).
    pub(crate) cur: Process,
    /// Every other process.
    pub(crate) others: BTreeMap<Pid, Process>,
    pub(crate) next_pid: u32,
    /// Pages given up with `MADV_FREE`, oldest first: what reclaim drops when memory
    /// runs short. Entries go stale (page written again, unmapped, process gone) and
    /// are skipped.
    pub(crate) lazy_queue: VecDeque<(Pid, u64)>,
    /// `MADV_FREE` pages still resident, over all processes.
    pub(crate) lazy_total: u64,
    /// Every decision of the OOM killer, in order.
    pub(crate) oom_kills: Vec<OomKill>,
    /// What went through the byte interface (`crate::contents`).
    pub(crate) byte_io: ByteStats,
    /// Ranges written through the byte interface, while someone records them.
    pub(crate) write_log: Option<Vec<(Addr, u64)>>,
}

impl Kernel {
    /// A machine with one process (pid 1), which is current. Never fails: an invalid
    /// field of `config` is replaced as [`KernelConfig::normalized`] says (use
    /// [`Kernel::try_new`] to be told instead).
    pub fn new(config: KernelConfig) -> Kernel {
        Kernel::build(config.normalized())
    }

    /// Like [`Kernel::new`], but an invalid configuration is an error.
    pub fn try_new(config: KernelConfig) -> Result<Kernel, ConfigError> {
        config.validate()?;
        Ok(Kernel::build(config))
    }

    fn build(config: KernelConfig) -> Kernel {
        let mut phys = FramePool::new(config.phys_bytes / PAGE_SIZE);
        if config.store_bytes {
            phys.bytes = Some(Default::default());
        }
        let tlb = Tlb::new(config.tlb.entries, config.tlb.ways)
            .with_l2(config.tlb.l2_entries, config.tlb.l2_ways);
        let mut cur = Process::new(Pid(1), config.heap_start);
        cur.rlimit_data = config.data_limit;
        cur.rlimit_as = config.address_space_limit;
        // The PML4 exists from the start: CR3 must point somewhere.
        cur.pt.ensure_root(&mut phys);
        Kernel {
            config,
            phys,
            tlb,
            cur,
            others: BTreeMap::new(),
            next_pid: 2,
            lazy_queue: VecDeque::new(),
            lazy_total: 0,
            oom_kills: Vec::new(),
            byte_io: ByteStats::default(),
            write_log: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    fn fresh_pid(&mut self) -> Pid {
        loop {
            let pid = Pid(self.next_pid);
            self.next_pid = self.next_pid.wrapping_add(1).max(1);
            if pid != self.cur.pid && !self.others.contains_key(&pid) {
                return pid;
            }
        }
    }

    /// Creates a process with an empty address space (its break at `heap_start`) and
    /// its PML4. Frames may be reclaimed from `MADV_FREE` pages for the PML4; if none
    /// is free even then, the process is still created and gets its PML4 at its first
    /// fault (see [`Kernel::try_spawn`] to get ENOMEM instead).
    pub fn spawn(&mut self) -> Pid {
        let pid = self.fresh_pid();
        let mut p = Process::new(pid, self.config.heap_start);
        p.rlimit_data = self.config.data_limit;
        p.rlimit_as = self.config.address_space_limit;
        self.reserve_frames(|_| 1, CostCategory::Syscall);
        p.pt.ensure_root(&mut self.phys);
        self.others.insert(pid, p);
        pid
    }

    /// Like [`Kernel::spawn`], but fails with ENOMEM when no frame is left for the new
    /// process's PML4 (as `fork` does).
    pub fn try_spawn(&mut self) -> Result<Pid, Errno> {
        if !self.reserve_frames(|_| 1, CostCategory::Syscall) {
            return Err(Errno::ENOMEM);
        }
        Ok(self.spawn())
    }

    /// The running process.
    pub fn current(&self) -> Pid {
        self.cur.pid
    }

    /// Every live process, in pid order (not those the OOM killer killed).
    pub fn pids(&self) -> Vec<Pid> {
        let mut v: Vec<Pid> = self
            .others
            .iter()
            .filter(|(_, p)| !p.killed)
            .map(|(&pid, _)| pid)
            .collect();
        v.push(self.cur.pid);
        v.sort();
        v
    }

    /// Every process, killed ones included, in pid order.
    pub(crate) fn all_pids(&self) -> Vec<Pid> {
        let mut v: Vec<Pid> = self.others.keys().copied().collect();
        v.push(self.cur.pid);
        v.sort();
        v
    }

    /// Switches the CPU to `pid`. A real switch (to another process) charges
    /// `context_switch_ns` to the process switched to and counts it there; without PCID
    /// it also flushes the whole TLB, since the TLB's entries belong to the old address
    /// space. Switching to the running process does nothing. ESRCH if `pid` does not
    /// exist or was killed by the OOM killer (it cannot run any more).
    pub fn switch_to(&mut self, pid: Pid) -> Result<(), Errno> {
        if pid == self.cur.pid {
            return Ok(());
        }
        if self.others.get(&pid).is_none_or(|p| p.killed) {
            return Err(Errno::ESRCH);
        }
        let next = self.others.remove(&pid).ok_or(Errno::ESRCH)?;
        let prev = std::mem::replace(&mut self.cur, next);
        self.others.insert(prev.pid, prev);
        let ns = self.config.cost.context_switch_ns;
        self.cur.counters.context_switches += 1;
        self.cur.charge(CostCategory::ContextSwitch, ns);
        if !self.config.tlb.pcid {
            self.tlb.flush_all();
            self.cur.counters.tlb_flushes += 1;
        }
        Ok(())
    }

    /// Ends process `pid`: every frame it holds and every page-table page (PML4
    /// included) goes back to the pool, and its TLB entries are dropped. If it is the
    /// running process, the CPU switches to the lowest remaining pid first (a context
    /// switch). A process the OOM killer killed is reaped (its memory was already
    /// given back). ESRCH if `pid` does not exist; EINVAL for the last live process,
    /// since the kernel always has a running process.
    pub fn exit(&mut self, pid: Pid) -> Result<(), Errno> {
        if pid != self.cur.pid && !self.others.contains_key(&pid) {
            return Err(Errno::ESRCH);
        }
        if pid == self.cur.pid {
            let next = self
                .others
                .iter()
                .find(|(_, p)| !p.killed)
                .map(|(&pid, _)| pid)
                .ok_or(Errno::EINVAL)?;
            self.switch_to(next)?;
        }
        let Some(mut p) = self.others.remove(&pid) else {
            return Err(Errno::ESRCH);
        };
        p.pt.destroy(&mut self.phys);
        self.lazy_total -= p.lazy_pages;
        self.tlb.flush_asid(p.asid());
        Ok(())
    }

    /// Charges `ns` nanoseconds of the allocator's own user-space work to the current
    /// process (`CostCategory::User`). A negative or non-finite amount is ignored.
    pub fn charge_user(&mut self, ns: f64) {
        if ns.is_finite() && ns > 0.0 {
            self.cur.charge(CostCategory::User, ns);
        }
    }

    /// The user-space time of writing `bytes` bytes into memory already mapped (the
    /// stores themselves; the faults they cause are charged by `touch`). 0 for 0 bytes.
    pub fn write_cost(&self, bytes: u64) -> f64 {
        self.config().cost.write_ns(bytes)
    }

    /// Charges the program's own writes of `bytes` bytes into a block it allocated
    /// (`CostCategory::Writes`; see [`Kernel::write_cost`]).
    pub fn charge_writes(&mut self, bytes: u64) {
        let ns = self.write_cost(bytes);
        if ns.is_finite() && ns > 0.0 {
            self.cur.charge(CostCategory::Writes, ns);
        }
    }

    /// The process `pid`, running or not.
    pub(crate) fn proc_ref(&self, pid: Pid) -> Option<&Process> {
        if pid == self.cur.pid {
            Some(&self.cur)
        } else {
            self.others.get(&pid)
        }
    }

    /// Memory use of the current process.
    pub fn mem(&self) -> MemStats {
        self.cur.mem()
    }

    /// Memory use of `pid`.
    pub fn mem_of(&self, pid: Pid) -> Option<MemStats> {
        self.proc_ref(pid).map(Process::mem)
    }

    /// Physical memory use.
    pub fn phys(&self) -> PhysStats {
        PhysStats {
            total_frames: self.phys.total_frames(),
            free_frames: self.phys.free_frames(),
        }
    }

    /// Counters of the current process.
    pub fn counters(&self) -> &Counters {
        &self.cur.counters
    }

    /// Counters of `pid`.
    pub fn counters_of(&self, pid: Pid) -> Option<&Counters> {
        self.proc_ref(pid).map(|p| &p.counters)
    }

    /// Cost ledger of the current process.
    pub fn ledger(&self) -> &Ledger {
        &self.cur.ledger
    }

    /// Cost ledger of `pid`.
    pub fn ledger_of(&self, pid: Pid) -> Option<&Ledger> {
        self.proc_ref(pid).map(|p| &p.ledger)
    }

    /// The current process's VMAs in address order.
    pub fn vmas(&self) -> Vec<VmaInfo> {
        self.vmas_of(self.cur.pid).unwrap_or_default()
    }

    /// The VMAs of `pid` in address order.
    pub fn vmas_of(&self, pid: Pid) -> Option<Vec<VmaInfo>> {
        let p = self.proc_ref(pid)?;
        Some(
            p.vmas
                .iter()
                .map(|(start, v)| self.info(p, start, &v))
                .collect(),
        )
    }

    /// The VMA of the current process containing `addr`.
    pub fn vma_at(&self, addr: Addr) -> Option<VmaInfo> {
        let p = &self.cur;
        p.vmas.find(addr).map(|(start, v)| self.info(p, start, &v))
    }

    /// A VMA of `p` as seen from outside. The heap is the VMA that covers part of the
    /// break's range `[heap_start, brk)`, as `[heap]` in `/proc/self/maps`.
    fn info(&self, p: &Process, start: Addr, v: &crate::vma::Vma) -> VmaInfo {
        let heap_end = crate::types::page_align_up(p.brk);
        VmaInfo {
            start,
            end: v.end,
            prot: v.prot,
            heap: start < heap_end && v.end > self.config.heap_start,
        }
    }

    /// What backs the page containing `addr` in the current process. A pure query: no
    /// fault, no TLB lookup, no cost.
    pub fn page_state(&self, addr: Addr) -> PageState {
        self.page_state_of(self.cur.pid, addr)
            .unwrap_or(PageState::NotMapped)
    }

    /// What backs the page containing `addr` in process `pid`.
    pub fn page_state_of(&self, pid: Pid, addr: Addr) -> Option<PageState> {
        let p = self.proc_ref(pid)?;
        if addr >= USER_SPACE_END || p.vmas.find(addr).is_none() {
            return Some(PageState::NotMapped);
        }
        let vpn = addr >> PAGE_SHIFT;
        let leaf = p.pt.translate(vpn);
        let e = leaf.entry;
        let writable = e & pte::P != 0 && e & pte::W != 0;
        Some(if !pte::mapped(e) {
            PageState::Unpopulated
        } else if leaf.huge {
            PageState::Huge {
                frame: pte::frame(e) as u64 + (vpn & 511),
                writable,
            }
        } else if e & pte::ZERO != 0 {
            PageState::ZeroPage
        } else {
            PageState::Resident {
                frame: pte::frame(e) as u64,
                writable: writable && e & pte::LAZY == 0,
                lazy_free: e & pte::LAZY != 0,
            }
        })
    }

    /// Resident bytes (private frames) of the current process in `[addr, addr + len)`,
    /// counted by walking its page table: what a heap map shades as "in RAM".
    pub fn resident_bytes(&self, addr: Addr, len: u64) -> u64 {
        let start = addr >> PAGE_SHIFT;
        let end = addr
            .saturating_add(len)
            .min(USER_SPACE_END)
            .div_ceil(PAGE_SIZE);
        let mut pages = 0;
        self.cur.pt.for_each(start, end, |vpn, e, huge| {
            if huge {
                pages += (vpn + 512).min(end) - vpn.max(start);
            } else if pte::has_frame(e) {
                pages += 1;
            }
        });
        pages * PAGE_SIZE
    }

    /// Walks every structure and recounts: VMAs sorted, non-overlapping and merged
    /// (except at the heap start, where `brk` keeps the heap's first VMA apart);
    /// page-table counts exact and no empty table left; RSS, lazy-free and huge pages
    /// equal to what the page tables hold; every mapped page inside a VMA with matching
    /// permissions; free + used frames equal to the total; every TLB entry a correct
    /// translation; every `MADV_FREE` page queued for reclaim. For tests and debugging:
    /// it costs O(mapped pages).
    pub fn check_consistency(&self) -> Result<(), ConsistencyError> {
        let mut used = 0;
        let mut lazy_sum = 0;
        let queued: BTreeSet<(Pid, u64)> = self.lazy_queue.iter().copied().collect();
        // Data frames in use, when bytes are kept (to check they are kept for no other).
        let mut data_frames: Option<Vec<u32>> = self.phys.bytes.as_ref().map(|_| Vec::new());
        let mut procs: Vec<&Process> = self.others.values().collect();
        procs.push(&self.cur);
        for p in procs {
            let fail = |what: String| ConsistencyError {
                pid: Some(p.pid),
                what,
            };
            // The heap's first VMA is never merged with a mapping ending at the heap
            // start (see `brk`): the one place two VMAs that could be one stay apart.
            p.vmas
                .audit_apart_at(Some(self.config.heap_start))
                .map_err(fail)?;
            // Linux's invariant: a page table exists only where some VMA still is.
            p.pt.audit(|s, e| !p.vmas.is_free(s << PAGE_SHIFT, e << PAGE_SHIFT))
                .map_err(fail)?;
            let (mut rss, mut lazy, mut huge) = (0u64, 0u64, 0u64);
            let mut problem: Option<String> = None;
            p.pt.for_each(0, USER_SPACE_END >> PAGE_SHIFT, |vpn, e, is_huge| {
                if problem.is_some() {
                    return;
                }
                let addr = vpn << PAGE_SHIFT;
                let span = if is_huge { 512 * PAGE_SIZE } else { PAGE_SIZE };
                let Some((_, v)) = p.vmas.find(addr) else {
                    problem = Some(format!("page {addr:#x} mapped outside any VMA"));
                    return;
                };
                if is_huge && v.end < addr + span {
                    problem = Some(format!("huge page {addr:#x} crosses the end of its VMA"));
                    return;
                }
                let expect_present = v.prot.allows_read();
                if (e & pte::P != 0) != expect_present || (e & pte::PROTNONE != 0) == expect_present
                {
                    problem = Some(format!(
                        "page {addr:#x}: present bit disagrees with {:?}",
                        v.prot
                    ));
                    return;
                }
                let expect_w = v.prot.allows_write() && e & pte::ZERO == 0;
                if (e & pte::W != 0) != expect_w {
                    problem = Some(format!(
                        "page {addr:#x}: writable bit disagrees with {:?}",
                        v.prot
                    ));
                    return;
                }
                if let Some(frames) = &mut data_frames
                    && pte::has_frame(e)
                {
                    let n = if is_huge { 512 } else { 1 };
                    frames.extend((0..n).map(|i| pte::frame(e) + i));
                }
                if is_huge {
                    huge += 1;
                    rss += 512;
                } else if pte::has_frame(e) {
                    rss += 1;
                    if e & pte::LAZY != 0 {
                        lazy += 1;
                        if !queued.contains(&(p.pid, vpn)) {
                            problem = Some(format!(
                                "MADV_FREE page {addr:#x} is not queued for reclaim"
                            ));
                        }
                    }
                }
            });
            if let Some(what) = problem {
                return Err(fail(what));
            }
            if rss != p.rss_pages || lazy != p.lazy_pages || huge != p.huge_pages {
                return Err(fail(format!(
                    "counted rss/lazy/huge {}/{}/{} but page tables hold {rss}/{lazy}/{huge}",
                    p.rss_pages, p.lazy_pages, p.huge_pages
                )));
            }
            if p.brk < self.config.heap_start {
                return Err(fail(format!("break {:#x} below heap start", p.brk)));
            }
            used += rss + p.pt.pages();
            lazy_sum += lazy;
        }
        let global = |what: String| ConsistencyError { pid: None, what };
        if let Some(mut frames) = data_frames {
            frames.sort_unstable();
            self.audit_bytes(&frames).map_err(global)?;
        }
        if used != self.phys.used_frames() {
            return Err(global(format!(
                "processes hold {used} frames but the pool has {} in use",
                self.phys.used_frames()
            )));
        }
        if self.phys.recount_free() != self.phys.free_frames() {
            return Err(global("the frame pool's free count is wrong".into()));
        }
        if lazy_sum != self.lazy_total {
            return Err(global(format!(
                "lazy total {} but {lazy_sum} pages",
                self.lazy_total
            )));
        }
        for (asid, vpn, huge, writable) in self.tlb.valid_entries() {
            let Some(p) = self.proc_ref(Pid(asid)) else {
                return Err(global(format!("TLB entry of dead address space {asid}")));
            };
            if !self.config.tlb.pcid && p.pid != self.cur.pid {
                return Err(global(format!(
                    "TLB entry of {} survived a switch without PCID",
                    p.pid
                )));
            }
            let leaf = p.pt.translate(vpn);
            let e = leaf.entry;
            let ok = e & pte::P != 0
                && leaf.huge == huge
                && (!writable || (e & pte::W != 0 && e & (pte::ZERO | pte::LAZY) == 0));
            if !ok {
                return Err(global(format!(
                    "stale TLB entry for vpn {vpn:#x} of {}",
                    p.pid
                )));
            }
        }
        Ok(())
    }
}
