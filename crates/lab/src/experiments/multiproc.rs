//! Several programs on one machine (claim 10: "when many programs run, these overheads
//! add up and slow the whole system").
//!
//! # The driver
//! [`engine::run_system`] puts several processes on one simulated kernel, so they share
//! its pool of physical frames, with a round-robin scheduler and a context switch
//! between two processes; see its documentation.
//!
//! # What it shows
//! Memory an allocator keeps after the program freed it is memory no other process can
//! have. With a pool too small for every program's peak at once, allocators that give
//! memory back let the programs take turns at their peaks; allocators that keep it
//! make later programs run out.

use super::common::{AllocatorSpec, Setup, WorkloadSpec};
use super::table::{Csv, Markdown, bytes, count, nanos};
use super::{
    AxisSpec, ChartTitle, Experiment, ExperimentError, ExperimentOutput, Figure, Inputs, Level,
    Mark, Unit, XyChart, XyPanel, XySeries,
};
use engine::Outcome;
use engine::{ProcessSpec, run_system};
use kernel::{CostCategory, KernelConfig};
use workload::{GeneratorParams, Op, RampParams, SizeDist, Workload};

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
        let mut lengths = Vec::new();
        let mut phases: Vec<Vec<String>> = Vec::new();
        for (i, w) in setup.workloads.iter().enumerate() {
            let workload = long_running_ramp(w.seed, trim)?;
            lengths.push(workload.ops.len() as u64);
            // The phase each op lies in, for saying where a process was when it died.
            let mut current = String::new();
            phases.push(
                workload
                    .ops
                    .iter()
                    .map(|o| {
                        if let Op::Phase { name } = o {
                            current = name.clone();
                        }
                        current.clone()
                    })
                    .collect(),
            );
            procs.push(ProcessSpec {
                name: format!("p{}", i + 1),
                workload,
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
        for ((p, len), phase) in run.processes.iter().zip(&lengths).zip(&phases) {
            proc_rows.push(vec![
                spec.label.clone(),
                p.name.clone(),
                match &p.outcome {
                    Outcome::Completed => "completed".to_string(),
                    Outcome::OutOfMemory { op, .. } => {
                        match run.oom_kills.iter().find(|k| k.victim == p.name) {
                            Some(k) if k.trigger != p.name => format!(
                                "killed by the OOM killer {} ({} resident: the highest \
                                 badness), when {} faulted",
                                if op == len {
                                    "after its last op, idle".to_string()
                                } else {
                                    format!(
                                        "at its op {op} of {len}, in phase {}",
                                        phase.get(*op as usize).map_or("", String::as_str)
                                    )
                                },
                                bytes(k.victim_rss),
                                k.trigger
                            ),
                            _ => format!("out of memory at op {op}"),
                        }
                    }
                    Outcome::Segv { op, .. } => format!("SIGSEGV at op {op}"),
                },
                bytes(p.peak_rss),
                bytes(p.final_rss),
                bytes(p.returned.brk + p.returned.munmap + p.returned.madvise),
            ]);
        }
        let kills: Vec<String> = run
            .oom_kills
            .iter()
            .map(|k| format!("{} (at {}'s fault)", k.victim, k.trigger))
            .collect();
        if !kills.is_empty() {
            notes.push(format!(
                "{}: the OOM killer killed {}, each time the process with the highest \
                 badness (resident plus page-table pages: nothing here swaps, and every \
                 oom_score_adj is 0).",
                spec.label,
                kills.join(" and ")
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
         ops with a context switch between processes; when a page fault finds no free frame, \
         the OOM killer kills the process with the highest badness (resident pages + swap \
         entries + page-table pages, adjusted by oom_score_adj, as Linux's oom_badness; the \
         model never swaps, and every adjustment is 0 here), which need not be the one that \
         faulted, and the faulting process gets its page.",
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
        title: ChartTitle {
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
    use engine::{SystemRun, system_summary};
    use kernel::Syscall;

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
