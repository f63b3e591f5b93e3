//! The OOM killer: who pays when memory runs out.
//!
//! Overcommit means the kernel promises more memory than it has (see
//! `limits`). When a page fault, or any other allocation, finds no free frame
//! and nothing left to reclaim (the model reclaims `MADV_FREE` pages first), Linux's
//! page allocator calls the OOM killer (`mm/oom_kill.c`). It does **not** punish the
//! process whose fault failed: it picks the process whose death frees the most memory,
//! by its *badness*,
//!
//! ```text
//! points = resident pages + swap entries + page-table pages
//!        + oom_score_adj × (RAM + swap pages) / 1000
//! ```
//!
//! (`oom_badness`; `oom_score_adj` runs from -1000, "never kill me", to 1000; the
//! division is by 1000 first, in integers, as in Linux), kills the one with the most
//! points (on a tie the one seen last, walking processes in pid order), and lets the
//! allocation that triggered it retry. The faulting process then gets its page and
//! runs on; the victim's memory is given back at once (the OOM reaper's job).
//!
//! In the model a victim other than the running process becomes a *killed* process: its
//! memory, page tables included, returns to the pool, it can no longer run
//! ([`Kernel::switch_to`] says ESRCH, [`Kernel::pids`] leaves it out), and its counters
//! and ledger stay readable until [`Kernel::exit`] reaps it, as a zombie's do until its
//! parent waits for it. When the running process itself is the victim (or no process
//! may be killed) the allocation fails: the access returns
//! [`Fault::OutOfMemory`](crate::Fault::OutOfMemory), a syscall ENOMEM, and the caller
//! ends the process (the SIGKILL takes effect on its way back to user mode). Every
//! choice is recorded as an [`OomKill`] ([`Kernel::oom_kills`]).
//!
//! The model has no `init` that Linux would never kill; every process is a candidate.

use crate::kernel::Kernel;
use crate::page_table::PageTable;
use crate::stats::CostCategory;
use crate::types::{Errno, PAGE_SIZE, Pid};
use crate::vma::VmaMap;

/// `OOM_SCORE_ADJ_MIN`: a process with this adjustment is never chosen.
pub const OOM_SCORE_ADJ_MIN: i32 = -1000;
/// `OOM_SCORE_ADJ_MAX`.
pub const OOM_SCORE_ADJ_MAX: i32 = 1000;

/// One decision of the OOM killer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct OomKill {
    /// The process chosen (and killed, unless it is `trigger`).
    pub victim: Pid,
    /// The process whose allocation found no memory.
    pub trigger: Pid,
    /// The victim's badness points.
    pub points: i64,
    /// The victim's resident bytes when it was chosen.
    pub rss: u64,
    /// The victim's page-table bytes when it was chosen (PML4 excluded, as in Linux's
    /// count).
    pub pt_bytes: u64,
}

/// What one run of the OOM killer did.
pub(crate) enum OomOutcome {
    /// Another process was killed: its memory is free, retry.
    KilledOther,
    /// The running process was chosen, or nobody could be: the allocation fails.
    Failed,
}

impl Kernel {
    /// `oom_badness` of `p`, `None` if it may not be chosen.
    fn badness(&self, pid: Pid) -> Option<(i64, u64, u64)> {
        let p = self.proc_ref(pid)?;
        if p.killed || p.oom_score_adj == OOM_SCORE_ADJ_MIN {
            return None;
        }
        // `mm_pgtables_bytes` counts PUD, PMD and PTE tables: not the PGD (PML4).
        let tables = p.pt.pages().saturating_sub(u64::from(p.pt.has_root()));
        let swap_pages = self.config.overcommit.swap_bytes / PAGE_SIZE;
        let total_pages = self.phys.total_frames() + swap_pages;
        let adj = i64::from(p.oom_score_adj) * (total_pages / 1000) as i64;
        let points = (p.rss_pages + tables) as i64 + adj;
        Some((points, p.rss_pages * PAGE_SIZE, tables * PAGE_SIZE))
    }

    /// `out_of_memory`: picks the victim by badness and kills it if it is not the
    /// running process. The running process pays `free_page_ns` per frame the kill
    /// gives back, in `cat` (it is the one waiting for them).
    pub(crate) fn oom_kill(&mut self, cat: CostCategory) -> OomOutcome {
        let mut chosen: Option<(Pid, (i64, u64, u64))> = None;
        for pid in self.all_pids() {
            if let Some(b) = self.badness(pid)
                && chosen.is_none_or(|(_, c)| b.0 >= c.0)
            {
                chosen = Some((pid, b));
            }
        }
        let trigger = self.cur.pid;
        let Some((victim, (points, rss, pt_bytes))) = chosen else {
            return OomOutcome::Failed;
        };
        self.oom_kills.push(OomKill {
            victim,
            trigger,
            points,
            rss,
            pt_bytes,
        });
        if victim == trigger {
            return OomOutcome::Failed;
        }
        let freed = self.reap(victim);
        let ns = freed as f64 * self.config.cost.free_page_ns;
        self.cur.charge(cat, ns);
        OomOutcome::KilledOther
    }

    /// Tears down the address space of `pid` (not the running process) and marks it
    /// killed. Returns the frames given back.
    fn reap(&mut self, pid: Pid) -> u64 {
        let Some(p) = self.others.get_mut(&pid) else {
            return 0;
        };
        let before = self.phys.free_frames();
        p.pt.destroy(&mut self.phys);
        p.pt = PageTable::new();
        p.vmas = VmaMap::new();
        self.lazy_total -= p.lazy_pages;
        p.rss_pages = 0;
        p.lazy_pages = 0;
        p.huge_pages = 0;
        p.killed = true;
        let asid = p.asid();
        self.tlb.flush_asid(asid);
        self.phys.free_frames() - before
    }

    /// Every process the OOM killer chose so far, in order.
    pub fn oom_kills(&self) -> &[OomKill] {
        &self.oom_kills
    }

    /// True when the OOM killer killed `pid` (which then waits for [`Kernel::exit`]).
    pub fn killed(&self, pid: Pid) -> bool {
        self.proc_ref(pid).is_some_and(|p| p.killed)
    }

    /// Sets the `oom_score_adj` of `pid` (-1000 ..= 1000: -1000 exempts it from the
    /// OOM killer, 1000 makes it the first choice). EINVAL outside that range, ESRCH
    /// for no such process.
    pub fn set_oom_score_adj(&mut self, pid: Pid, adj: i32) -> Result<(), Errno> {
        if !(OOM_SCORE_ADJ_MIN..=OOM_SCORE_ADJ_MAX).contains(&adj) {
            return Err(Errno::EINVAL);
        }
        let p = if pid == self.cur.pid {
            &mut self.cur
        } else {
            self.others.get_mut(&pid).ok_or(Errno::ESRCH)?
        };
        p.oom_score_adj = adj;
        Ok(())
    }
}
