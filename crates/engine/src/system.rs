//! Several programs on one machine.
//!
//! [`run_system`] puts several processes on one simulated kernel, so they share its pool
//! of physical frames. Each process runs its own workload through its own allocator
//! instance, through the same op loop as every run ([`crate::execute`]). A round-robin
//! scheduler gives each runnable process a *slice* of ops in turn; moving from one
//! process to the next is a context switch on the kernel ([`Kernel::switch_to`]: the
//! CPU changes address spaces, which costs `context_switch_ns` and, without PCIDs,
//! flushes the TLB). A process may start late (after some rounds), as programs are
//! started one after another.
//!
//! When a page fault finds no free frame, the kernel's OOM killer ends the process
//! with the highest badness (mostly: the most resident memory), which need not be the
//! one that asked; that one then gets its page and runs on (see `kernel::oom`). A
//! process the OOM killer chose, or whose allocator cannot get memory (a program whose
//! malloc returns NULL usually dies), ends: [`Kernel::exit`] gives all its frames back
//! and the others carry on.
//! A process that finishes its workload stays alive, holding whatever its allocator
//! kept, like a long-running program that has gone idle.

use crate::program::{Program, Stepped};
use crate::run::RunError;
use crate::{Outcome, Summary};
use kernel::{CostCategory, Kernel, KernelConfig, Pid, Returned, Syscall};
use malloc::Allocator;
use std::collections::BTreeMap;
use workload::{Op, Workload};

/// One process of a system run: what it runs and from which round.
pub struct ProcessSpec {
    /// A name for tables (`p1`).
    pub name: String,
    /// Its workload.
    pub workload: Workload,
    /// Its allocator (a fresh instance).
    pub allocator: Box<dyn Allocator>,
    /// The scheduler round in which it starts (0: at once).
    pub start_round: u64,
}

/// How one process ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessResult {
    /// Its name.
    pub name: String,
    /// Completed, or out of memory at an op (it was then killed).
    pub outcome: Outcome,
    /// Ops it executed.
    pub ops: u64,
    /// Allocator calls (malloc, free, realloc, trim) among them.
    pub calls: u64,
    /// Frees whose munmap the kernel refused (the block leaked).
    pub frees_refused: u64,
    /// Its largest resident set.
    pub peak_rss: u64,
    /// Resident bytes at the end (0 when killed).
    pub final_rss: u64,
    /// Context switches to it.
    pub context_switches: u64,
    /// Its simulated time by cost category.
    pub cost_ns: BTreeMap<String, f64>,
    /// Its syscalls by name.
    pub syscalls: BTreeMap<String, u64>,
    /// Its minor faults.
    pub minor_faults: u64,
    /// Its TLB misses.
    pub tlb_misses: u64,
    /// What it gave back, by mechanism.
    pub returned: Returned,
}

/// The machine after one round of the scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundSample {
    /// Rounds completed.
    pub round: u64,
    /// Ops executed by all processes so far.
    pub ops: u64,
    /// Bytes of physical memory in use (frames of every process, page tables included).
    pub phys_used: u64,
    /// Resident bytes of each process (0 before it starts and after it dies), in
    /// process order.
    pub rss: Vec<u64>,
    /// Context switches so far, all processes together.
    pub context_switches: u64,
}

/// Everything a system run produces.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemRun {
    /// Each process, in the order given.
    pub processes: Vec<ProcessResult>,
    /// The machine after every round.
    pub rounds: Vec<RoundSample>,
    /// Physical memory of the machine, bytes.
    pub phys_bytes: u64,
}

impl SystemRun {
    /// The processes the OOM killed.
    pub fn killed(&self) -> usize {
        self.processes
            .iter()
            .filter(|p| matches!(p.outcome, Outcome::OutOfMemory { .. }))
            .count()
    }

    /// The most physical memory in use after any round.
    pub fn peak_phys(&self) -> u64 {
        self.rounds.iter().map(|r| r.phys_used).max().unwrap_or(0)
    }

    /// Context switches of all processes.
    pub fn context_switches(&self) -> u64 {
        self.processes.iter().map(|p| p.context_switches).sum()
    }

    /// Simulated nanoseconds of all processes.
    pub fn total_ns(&self) -> f64 {
        self.processes.iter().flat_map(|p| p.cost_ns.values()).sum()
    }
}

struct Proc {
    name: String,
    pid: Option<Pid>,
    program: Program,
    allocator: Box<dyn Allocator>,
    start_round: u64,
    outcome: Outcome,
    done: bool,
    calls: u64,
    frees_refused: u64,
    peak_rss: u64,
    // Accounts of a process that died, taken before its exit.
    last: Option<ProcessResult>,
}

/// Runs `procs` on one kernel configured by `config`, `slice` ops per turn, until every
/// process has finished or died (or `max_rounds` rounds have passed).
///
/// The kernel's first process is used by the first spec; the others are spawned when
/// they start. A process whose workload has ended is skipped by the scheduler (no
/// context switch to it) but keeps its memory.
pub fn run_system(
    config: &KernelConfig,
    procs: Vec<ProcessSpec>,
    slice: u64,
    max_rounds: u64,
) -> Result<SystemRun, RunError> {
    let mut kernel = Kernel::try_new(config.clone()).map_err(|e| RunError::Kernel {
        what: "multi-process run".to_string(),
        detail: e.to_string(),
    })?;
    let first = kernel.current();
    let mut ps: Vec<Proc> = procs
        .into_iter()
        .map(|p| Proc {
            name: p.name,
            pid: None,
            program: Program::new(p.workload),
            allocator: p.allocator,
            start_round: p.start_round,
            outcome: Outcome::Completed,
            done: false,
            calls: 0,
            frees_refused: 0,
            peak_rss: 0,
            last: None,
        })
        .collect();
    let slice = slice.max(1);
    let mut rounds = Vec::new();
    let mut total_ops: u64 = 0;
    let mut first_used = false;
    let phys_bytes = kernel.phys().total_frames * kernel::PAGE_SIZE;
    for round in 0..max_rounds {
        if ps.iter().all(|p| p.done) {
            break;
        }
        for p in ps.iter_mut() {
            if p.done || round < p.start_round {
                continue;
            }
            let pid = match p.pid {
                Some(pid) => pid,
                None => {
                    let pid = if first_used {
                        match kernel.try_spawn() {
                            Ok(pid) => pid,
                            Err(e) => {
                                p.done = true;
                                p.outcome = Outcome::OutOfMemory {
                                    op: 0,
                                    detail: format!("fork failed: {e}"),
                                };
                                continue;
                            }
                        }
                    } else {
                        first_used = true;
                        first
                    };
                    p.pid = Some(pid);
                    pid
                }
            };
            if kernel.killed(pid) {
                reap_killed(&mut kernel, p, pid)?;
                continue;
            }
            kernel.switch_to(pid).map_err(|e| RunError::Kernel {
                what: format!("switch to {}", p.name),
                detail: e.to_string(),
            })?;
            for _ in 0..slice {
                let op_is_call = p
                    .program
                    .next_op()
                    .is_some_and(|o| o.is_allocator_call() || matches!(o, Op::Trim { .. }));
                let stepped = p.program.step(&mut kernel, p.allocator.as_mut())?;
                if matches!(stepped, Stepped::FreeRefused { .. }) {
                    p.frees_refused += 1;
                }
                match stepped {
                    Stepped::Ran { .. } | Stepped::FreeRefused { .. } => {
                        total_ops += 1;
                        if op_is_call {
                            p.calls += 1;
                        }
                        p.peak_rss = p.peak_rss.max(kernel.mem().rss);
                    }
                    Stepped::Finished => {
                        p.done = true;
                        break;
                    }
                    died => {
                        p.outcome = died.death().unwrap_or(Outcome::Completed);
                        p.done = true;
                        p.last = Some(result_of(&kernel, p, pid));
                        if kernel.pids().len() > 1 {
                            kernel.exit(pid).map_err(|e| RunError::Kernel {
                                what: format!("kill {}", p.name),
                                detail: e.to_string(),
                            })?;
                        }
                        break;
                    }
                }
            }
        }
        let phys = kernel.phys();
        rounds.push(RoundSample {
            round: round + 1,
            ops: total_ops,
            phys_used: (phys.total_frames - phys.free_frames) * kernel::PAGE_SIZE,
            rss: ps
                .iter()
                .map(|p| {
                    p.pid
                        .filter(|_| p.last.is_none())
                        .and_then(|pid| kernel.mem_of(pid))
                        .map(|m| m.rss)
                        .unwrap_or(0)
                })
                .collect(),
            context_switches: ps
                .iter()
                .filter_map(|p| p.pid)
                .filter_map(|pid| kernel.counters_of(pid))
                .map(|c| c.context_switches)
                .sum::<u64>()
                + ps.iter()
                    .filter_map(|p| p.last.as_ref())
                    .map(|l| l.context_switches)
                    .sum::<u64>(),
        });
    }
    for p in ps.iter_mut() {
        if let Some(pid) = p.pid.filter(|&pid| p.last.is_none() && kernel.killed(pid)) {
            reap_killed(&mut kernel, p, pid)?;
        }
    }
    let processes = ps
        .iter()
        .map(|p| match (&p.last, p.pid) {
            (Some(last), _) => last.clone(),
            (None, Some(pid)) => result_of(&kernel, p, pid),
            (None, None) => ProcessResult {
                name: p.name.clone(),
                outcome: p.outcome.clone(),
                ops: 0,
                calls: 0,
                frees_refused: 0,
                peak_rss: 0,
                final_rss: 0,
                context_switches: 0,
                cost_ns: BTreeMap::new(),
                syscalls: BTreeMap::new(),
                minor_faults: 0,
                tlb_misses: 0,
                returned: Returned::default(),
            },
        })
        .collect();
    Ok(SystemRun {
        processes,
        rounds,
        phys_bytes,
    })
}

/// The OOM killer chose `p` while another process was faulting: records how it ended
/// and reaps it.
fn reap_killed(kernel: &mut Kernel, p: &mut Proc, pid: Pid) -> Result<(), RunError> {
    p.outcome = Outcome::OutOfMemory {
        op: p.program.position() as u64,
        detail: "killed by the OOM killer".to_string(),
    };
    p.done = true;
    p.last = Some(result_of(kernel, p, pid));
    kernel.exit(pid).map_err(|e| RunError::Kernel {
        what: format!("reap {}", p.name),
        detail: e.to_string(),
    })
}

fn result_of(kernel: &Kernel, p: &Proc, pid: Pid) -> ProcessResult {
    let c = kernel.counters_of(pid).cloned().unwrap_or_default();
    let ledger = kernel.ledger_of(pid).cloned().unwrap_or_default();
    let killed = matches!(
        p.outcome,
        Outcome::OutOfMemory { .. } | Outcome::Segv { .. }
    );
    ProcessResult {
        name: p.name.clone(),
        outcome: p.outcome.clone(),
        ops: p.program.position() as u64,
        calls: p.calls,
        frees_refused: p.frees_refused,
        peak_rss: p.peak_rss,
        final_rss: if killed {
            0
        } else {
            kernel.mem_of(pid).map(|m| m.rss).unwrap_or(0)
        },
        context_switches: c.context_switches,
        cost_ns: CostCategory::ALL
            .iter()
            .map(|&cat| (cat.name().to_string(), ledger.get(cat)))
            .collect(),
        syscalls: Syscall::ALL
            .iter()
            .map(|&s| (s.name().to_string(), c.syscall(s)))
            .collect(),
        minor_faults: c.minor_faults,
        tlb_misses: c.tlb_misses,
        returned: c.returned,
    }
}

/// A [`Summary`] of a whole system run, all processes together, for cost charts:
/// times, syscalls and faults are sums; peaks are those of the machine.
pub fn system_summary(run: &SystemRun, label: &str, workload: &str) -> Summary {
    let mut cost_ns: BTreeMap<String, f64> = BTreeMap::new();
    let mut syscalls: BTreeMap<String, u64> = BTreeMap::new();
    let mut returned = Returned::default();
    for p in &run.processes {
        for (k, v) in &p.cost_ns {
            *cost_ns.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &p.syscalls {
            *syscalls.entry(k.clone()).or_default() += v;
        }
        returned.brk += p.returned.brk;
        returned.munmap += p.returned.munmap;
        returned.madvise += p.returned.madvise;
    }
    for v in cost_ns.values_mut() {
        *v = (*v * 10.0).round() / 10.0;
    }
    let calls: u64 = run.processes.iter().map(|p| p.calls).sum();
    let time_ns: f64 = cost_ns.values().sum();
    let outcome = run
        .processes
        .iter()
        .map(|p| p.outcome.clone())
        .find(|o| *o != Outcome::Completed)
        .unwrap_or(Outcome::Completed);
    Summary {
        allocator: label.to_string(),
        workload: workload.to_string(),
        seed: None,
        outcome,
        ops: calls,
        peak_live: 0,
        peak_footprint: 0,
        peak_allocated: 0,
        peak_rss: run.peak_phys(),
        peak_mapped: 0,
        peak_pt_bytes: 0,
        frag_max: 0.0,
        frag_peak: 0.0,
        final_live: 0,
        final_allocated: 0,
        final_footprint: 0,
        final_rss: run.processes.iter().map(|p| p.final_rss).sum(),
        frees_refused: run.processes.iter().map(|p| p.frees_refused).sum(),
        syscalls,
        minor_faults: run.processes.iter().map(|p| p.minor_faults).sum(),
        tlb_misses: run.processes.iter().map(|p| p.tlb_misses).sum(),
        returned,
        returned_resident: Returned::default(),
        time_ns: (time_ns * 10.0).round() / 10.0,
        ns_per_op: if calls == 0 {
            0.0
        } else {
            (time_ns / calls as f64 * 100.0).round() / 100.0
        },
        cost_ns,
    }
}
