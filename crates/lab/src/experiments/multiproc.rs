//! Several programs on one machine (claim 10: "when many programs run, these overheads
//! add up and slow the whole system").
//!
//! # The driver
//! [`run_system`] puts several processes on one simulated kernel, so they share its pool
//! of physical frames. Each process runs its own workload through its own allocator
//! instance. A round-robin scheduler gives each runnable process a *slice* of ops in
//! turn; moving from one process to the next is a context switch on the kernel
//! ([`Kernel::switch_to`]: the CPU changes address spaces, which costs
//! `context_switch_ns` and, without PCIDs, flushes the TLB). A process may start late
//! (after some rounds), as programs are started one after another.
//!
//! When a page fault finds no free frame, or the allocator cannot get memory, the
//! process that asked dies, as a program whose malloc returns NULL usually does (the
//! simulated OOM): [`Kernel::exit`] gives all its frames back and the others carry on.
//! A process that finishes its workload stays alive, holding whatever its allocator
//! kept, like a long-running program that has gone idle.
//!
//! # What it shows
//! Memory an allocator keeps after the program freed it is memory no other process can
//! have. With a pool too small for every program's peak at once, allocators that give
//! memory back let the programs take turns at their peaks; allocators that keep it
//! make later programs run out.

use super::common::{AllocatorSpec, Setup, WorkloadSpec};
use super::program::{Program, Stepped};
use super::table::{Csv, Markdown, bytes, count, nanos};
use super::{
    AxisSpec, Experiment, ExperimentError, ExperimentOutput, Figure, FigureTitle, Inputs, Level,
    Mark, Unit, XyChart, XyPanel, XySeries,
};
use crate::{Outcome, Summary};
use kernel::{CostCategory, Kernel, KernelConfig, Pid, Returned, Syscall};
use malloc::Allocator;
use std::collections::BTreeMap;
use workload::{GeneratorParams, Op, RampParams, SizeDist, Workload};

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
) -> Result<SystemRun, ExperimentError> {
    let mut kernel = Kernel::try_new(config.clone()).map_err(|e| ExperimentError::Driver {
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
            kernel.switch_to(pid).map_err(|e| ExperimentError::Driver {
                what: format!("switch to {}", p.name),
                detail: e.to_string(),
            })?;
            for _ in 0..slice {
                let op_is_call = p
                    .program
                    .workload()
                    .ops
                    .get(p.program.position())
                    .is_some_and(|o| o.is_allocator_call() || matches!(o, Op::Trim { .. }));
                match p.program.step(&mut kernel, p.allocator.as_mut())? {
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
                    Stepped::OutOfMemory { index, detail } => {
                        p.outcome = Outcome::OutOfMemory {
                            op: index as u64,
                            detail,
                        };
                        p.done = true;
                        p.last = Some(result_of(&kernel, p, pid));
                        if kernel.pids().len() > 1 {
                            kernel.exit(pid).map_err(|e| ExperimentError::Driver {
                                what: format!("kill {}", p.name),
                                detail: e.to_string(),
                            })?;
                        }
                        break;
                    }
                    Stepped::Segv { index, detail } => {
                        p.outcome = Outcome::Segv {
                            op: index as u64,
                            detail,
                        };
                        p.done = true;
                        p.last = Some(result_of(&kernel, p, pid));
                        if kernel.pids().len() > 1 {
                            kernel.exit(pid).map_err(|e| ExperimentError::Driver {
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

/// The ramp every process of the experiment runs: build a structure, keep one small
/// block allocated last, free the rest, optionally `malloc_trim(0)`; then the program
/// stays alive holding that block (the final free of the pinned block is cut off).
fn long_running_ramp(seed: u64, trim: bool) -> Result<Workload, ExperimentError> {
    let mut w = GeneratorParams::Ramp(ramp_params(trim))
        .generate(seed)
        .map_err(|e| ExperimentError::Workload(e.to_string()))?;
    if let Some(cut) = w
        .ops
        .iter()
        .position(|o| matches!(o, Op::Phase { name } if name == "unpin"))
    {
        w.ops.truncate(cut);
    }
    w.name = "ramp (long-running)".to_string();
    Ok(w)
}

/// The ramp of every process: blocks of 2 to 16 KiB (buffers, records), so that
/// malloc_trim can give whole pages back and one mapping per block wastes little.
fn ramp_params(trim: bool) -> RampParams {
    RampParams {
        ops: PROC_OPS,
        trim,
        sizes: SizeDist::log_uniform(2 * 1024, 16 * 1024),
        ..RampParams::default()
    }
}

/// Processes of the experiment.
const PROCS: u64 = 4;
/// Allocator calls of each process's ramp.
const PROC_OPS: u64 = 2_000;
/// Ops per scheduler slice.
const SLICE: u64 = 50;
/// Rounds between two process starts: three quarters of one ramp (2,000 calls plus
/// markers, 50 ops a slice, about 40 rounds), so a program starts while the previous
/// one is freeing its structure.
const START_GAP: u64 = 30;
/// Physical memory of the machine: room for two programs at their peak, not for four.
const PHYS_BYTES: u64 = 16 << 20;

/// The configurations compared: allocator, whether the program calls malloc_trim.
fn configs() -> Vec<(AllocatorSpec, bool)> {
    vec![
        (
            AllocatorSpec::with("glibc", &[], "glibc + malloc_trim"),
            true,
        ),
        (
            AllocatorSpec::with("glibc", &[], "glibc, no malloc_trim"),
            false,
        ),
        (AllocatorSpec::named("first-fit"), true),
        (AllocatorSpec::named("segregated"), true),
        (AllocatorSpec::named("mmap"), true),
    ]
}

/// `multiproc-memory`.
pub const MULTIPROC_MEMORY: Experiment = Experiment {
    name: "multiproc-memory",
    chapter: "9",
    claims: &[10],
    shows: "four processes on one small pool of physical memory: allocators that keep freed \
            memory make later processes run out (OOM) where allocators that give it back do \
            not; context switches counted",
    columns: &[
        (
            "config",
            "the allocator every process uses (and whether it calls malloc_trim)",
        ),
        ("round", "scheduler rounds completed"),
        ("ops", "ops executed by all processes so far"),
        (
            "phys_used",
            "bytes of physical memory in use (all processes, page tables included)",
        ),
        (
            "rss_p1",
            "resident bytes of process 1 (0 before its start or after its death)",
        ),
        ("rss_p2", "resident bytes of process 2"),
        ("rss_p3", "resident bytes of process 3"),
        ("rss_p4", "resident bytes of process 4"),
        ("context_switches", "context switches so far, all processes"),
    ],
    real: None,
    setup: || {
        let mut s = Setup::new(
            (0..PROCS)
                .map(|i| WorkloadSpec::new(GeneratorParams::Ramp(ramp_params(true)), i + 1))
                .collect(),
            configs().into_iter().map(|c| c.0).collect(),
        );
        s.kernel = KernelConfig {
            phys_bytes: PHYS_BYTES,
            ..KernelConfig::default()
        };
        s
    },
    run: multiproc_memory,
};

fn multiproc_memory(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let mut csv = Csv::new(
        &MULTIPROC_MEMORY
            .columns
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>(),
    );
    let mut series = Vec::new();
    let mut rows = Vec::new();
    let mut proc_rows = Vec::new();
    let mut notes = Vec::new();
    for ((spec, trim), a) in configs().into_iter().zip(&setup.allocators) {
        let mut procs = Vec::new();
        for (i, w) in setup.workloads.iter().enumerate() {
            procs.push(ProcessSpec {
                name: format!("p{}", i + 1),
                workload: long_running_ramp(w.seed, trim)?,
                allocator: a.build()?,
                start_round: i as u64 * START_GAP,
            });
        }
        let run = run_system(&setup.kernel, procs, SLICE, 10_000)?;
        let mut pts = Vec::new();
        for r in &run.rounds {
            let mut cells = vec![
                spec.label.clone(),
                r.round.to_string(),
                r.ops.to_string(),
                r.phys_used.to_string(),
            ];
            cells.extend(r.rss.iter().map(u64::to_string));
            cells.push(r.context_switches.to_string());
            csv.row(&cells);
            pts.push((r.ops as f64, r.phys_used as f64));
        }
        let total = run.total_ns();
        let switch_ns: f64 = run
            .processes
            .iter()
            .filter_map(|p| p.cost_ns.get(CostCategory::ContextSwitch.name()))
            .sum();
        rows.push(vec![
            spec.label.clone(),
            format!("{} of {}", run.killed(), run.processes.len()),
            bytes(run.peak_phys()),
            bytes(run.processes.iter().map(|p| p.final_rss).sum()),
            count(run.context_switches()),
            nanos(total),
            format!("{:.1}%", 100.0 * switch_ns / total.max(1.0)),
        ]);
        for p in &run.processes {
            proc_rows.push(vec![
                spec.label.clone(),
                p.name.clone(),
                match &p.outcome {
                    Outcome::Completed => "completed".to_string(),
                    Outcome::OutOfMemory { op, .. } => format!("killed (OOM) at op {op}"),
                    Outcome::Segv { op, .. } => format!("SIGSEGV at op {op}"),
                },
                bytes(p.peak_rss),
                bytes(p.final_rss),
                bytes(p.returned.brk + p.returned.munmap + p.returned.madvise),
            ]);
        }
        let killed: Vec<&str> = run
            .processes
            .iter()
            .filter(|p| matches!(p.outcome, Outcome::OutOfMemory { .. }))
            .map(|p| p.name.as_str())
            .collect();
        if !killed.is_empty() {
            notes.push(format!(
                "{}: {} killed (out of memory) while the processes before them kept their \
                 freed memory.",
                spec.label,
                killed.join(" and ")
            ));
        }
        series.push(XySeries::new(spec.label.clone(), Mark::Line, pts));
    }
    if notes.is_empty() {
        notes.push("No process ran out of memory.".to_string());
    }
    let caption = format!(
        "Experiment multiproc-memory: {PROCS} processes on one simulated machine with {} of \
         physical memory, each running ramp ({} allocator calls of 2–16 KiB blocks, seeds \
         1–{PROCS}: grow, keep one 32-byte block, free the rest, malloc_trim(0) except where \
         stated) and then staying alive; process i starts after {} scheduler rounds × i; round-robin slices of {SLICE} \
         ops with a context switch between processes; a process whose memory runs out is \
         killed.",
        bytes(PHYS_BYTES),
        count(PROC_OPS),
        START_GAP
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "every process uses",
            "killed by OOM",
            "peak memory in use",
            "resident at the end",
            "context switches",
            "simulated time",
            "in context switches",
        ],
        &rows,
    );
    md.table(
        &[
            "configuration",
            "process",
            "outcome",
            "peak RSS",
            "RSS at the end",
            "returned",
        ],
        &proc_rows,
    );
    md.para(
        "Memory in use counts every frame of every process, page tables included. A context \
         switch (the CPU moving to another process: 1.6 µs in the default cost model) is not a \
         mode switch (entering the kernel for a syscall or fault: 120 ns).",
    );
    Ok(ExperimentOutput {
        title: FigureTitle {
            workload: "ramp ×4 (long-running)".to_string(),
            seed: None,
            allocators: setup.labels(),
            cost_model: "default".to_string(),
            note: Some(format!("{} of physical memory", bytes(PHYS_BYTES))),
        },
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure: Figure::Xy(XyChart {
            title: "Four programs, one pool of memory: kept memory is nobody else's".to_string(),
            lines: vec![format!(
                "Each line is a whole machine running {PROCS} programs one after another (each \
                 builds a structure, frees it, keeps one small block and stays alive). A line \
                 that drops is memory given back; where it cannot grow, a program was killed."
            )],
            panels: vec![XyPanel {
                title: "Physical memory in use, all processes".to_string(),
                x: AxisSpec::linear("ops executed by all processes", Unit::Count),
                y: AxisSpec::linear("bytes", Unit::Bytes),
                series,
                levels: vec![Level {
                    y: PHYS_BYTES as f64,
                    label: format!("physical memory ({})", bytes(PHYS_BYTES)),
                }],
                markers: Vec::new(),
            }],
            notes,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(seed: u64, trim: bool) -> Workload {
        long_running_ramp(seed, trim).unwrap()
    }

    fn system(name: &str, trim: bool, phys: u64) -> SystemRun {
        let cfg = KernelConfig {
            phys_bytes: phys,
            ..KernelConfig::default()
        };
        let procs = (0..3)
            .map(|i| ProcessSpec {
                name: format!("p{i}"),
                workload: ramp(i + 1, trim),
                allocator: crate::registry::build(name, &[]).unwrap(),
                start_round: i * START_GAP,
            })
            .collect();
        run_system(&cfg, procs, SLICE, 10_000).unwrap()
    }

    #[test]
    fn processes_share_frames_and_switch() {
        let run = system("glibc", true, 256 << 20);
        assert_eq!(run.killed(), 0);
        assert_eq!(run.processes.len(), 3);
        for p in &run.processes {
            assert_eq!(p.outcome, Outcome::Completed);
            assert!(p.context_switches > 0, "{} never ran", p.name);
            assert!(p.peak_rss > 0);
        }
        // Rounds without any other runnable process need no switch: the switches are
        // fewer than the slices.
        let slices: u64 = run.processes.iter().map(|p| p.ops.div_ceil(SLICE)).sum();
        assert!(run.context_switches() <= slices);
        // Frames in use are every process's resident pages plus page tables.
        let last = run.rounds.last().unwrap();
        assert!(last.phys_used >= last.rss.iter().sum::<u64>());
    }

    #[test]
    fn a_small_pool_kills_processes_whose_neighbours_keep_memory() {
        // first-fit cannot give back a heap pinned at the top: its finished programs keep
        // their peak resident. glibc with malloc_trim gives the pages back.
        let keep = system("first-fit", true, PHYS_BYTES);
        let give = system("glibc", true, PHYS_BYTES);
        assert!(keep.killed() > 0, "first-fit should run out");
        assert_eq!(give.killed(), 0, "glibc with malloc_trim should fit");
        assert!(keep.peak_phys() <= PHYS_BYTES);
        // A killed process gave its frames back: the survivors' RSS is what is in use.
        let killed = keep
            .processes
            .iter()
            .find(|p| matches!(p.outcome, Outcome::OutOfMemory { .. }))
            .unwrap();
        assert_eq!(killed.final_rss, 0);
    }

    #[test]
    fn a_system_summary_adds_the_processes_up() {
        let run = system("mmap", true, 256 << 20);
        let s = system_summary(&run, "mmap x3", "ramp");
        let calls: u64 = run.processes.iter().map(|p| p.calls).sum();
        assert_eq!(s.ops, calls);
        assert!(s.cost(CostCategory::ContextSwitch) > 0.0);
        assert_eq!(
            s.syscall(Syscall::Mmap),
            run.processes
                .iter()
                .map(|p| p.syscalls["mmap"])
                .sum::<u64>()
        );
    }
}
