//! Chapter 8: what allocation costs (claims 4 and 5).

use super::common::{AllocatorSpec, Setup, WorkloadSpec};
use super::mmap_figs::cost_row;
use super::snapshot;
use super::table::{Csv, Markdown, bytes, count, fixed, nanos};
use super::{
    ChartTitle, Column, Experiment, ExperimentError, ExperimentOutput, Figure, Inputs, RealInput,
    RealSource,
};
use engine::{ProcessSpec, run_system, system_summary};
use kernel::{Access, CostCategory, Kernel, KernelConfig, Syscall};
use workload::{ChurnParams, GeneratorParams};

/// Block sizes of the crossover: powers of two from 16 B to 4 MiB, and sizes around
/// glibc's 128 KiB mmap threshold. `sim figures --real` measures the real machine at
/// the same sizes.
pub const CROSSOVER_SIZES: &[u64] = &[
    16,
    32,
    64,
    128,
    256,
    512,
    1 << 10,
    2 << 10,
    4 << 10,
    8 << 10,
    16 << 10,
    32 << 10,
    64 << 10,
    96 << 10,
    128 << 10,
    192 << 10,
    256 << 10,
    512 << 10,
    1 << 20,
    2 << 20,
    4 << 20,
];

/// The columns of `cost-crossover.real.csv`.
pub const COST_REAL_COLUMNS: &[Column] = &[
    ("size", "block size in bytes"),
    (
        "malloc_free_ns",
        "median ns of malloc, write every byte, free (real glibc)",
    ),
    (
        "mmap_munmap_ns",
        "median ns of mmap, write every byte, munmap (real kernel)",
    ),
];

/// One measured size, as the snapshot stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct CostRealRow {
    /// Block size in bytes.
    pub size: u64,
    /// ns per malloc + write + free.
    pub malloc_free_ns: f64,
    /// ns per mmap + write + munmap.
    pub mmap_munmap_ns: f64,
}

/// The snapshot text of real cost measurements, with `comment` lines on top.
pub fn encode_cost_real(comment: &[String], rows: &[CostRealRow]) -> String {
    let mut out: String = comment.iter().map(|c| format!("# {c}\n")).collect();
    let mut csv = Csv::new(&COST_REAL_COLUMNS.iter().map(|c| c.0).collect::<Vec<_>>());
    for r in rows {
        csv.row(&[
            r.size.to_string(),
            fixed(r.malloc_free_ns, 1),
            fixed(r.mmap_munmap_ns, 1),
        ]);
    }
    out.push_str(&csv.finish());
    out
}

fn parse_cost_real(text: &str) -> Result<(Vec<String>, Vec<CostRealRow>), (usize, String)> {
    let cols = COST_REAL_COLUMNS;
    let snapshot = snapshot::read(text, cols)?;
    let mut rows = Vec::new();
    for r in &snapshot.records {
        rows.push(CostRealRow {
            size: r.count(cols, 0)?,
            malloc_free_ns: r.number(cols, 1, 0.0)?,
            mmap_munmap_ns: r.number(cols, 2, 0.0)?,
        });
    }
    Ok((snapshot.comments, rows))
}

/// `cost-crossover`.
pub const CROSSOVER: Experiment = Experiment {
    name: "cost-crossover",
    chapter: "8",
    claims: &[5],
    shows: "cost of malloc+write+free (glibc) and mmap+write+munmap (mmap) against block \
            size, in the model (first use and steady state, crossovers marked) and measured when \
            a snapshot exists",
    columns: &[
        ("size", "block size in bytes"),
        (
            "glibc_first_ns",
            "simulated ns of the first malloc, write every byte, free in a fresh process",
        ),
        (
            "glibc_steady_ns",
            "simulated ns of the fourth such cycle in the same process (steady state)",
        ),
        (
            "mmap_first_ns",
            "simulated ns of the first mmap, write every byte, munmap (mmap allocator)",
        ),
        (
            "mmap_steady_ns",
            "simulated ns of the fourth such cycle (steady state)",
        ),
        ("glibc_syscalls", "syscalls of the first glibc cycle"),
        ("mmap_syscalls", "syscalls of the first mmap cycle"),
        ("glibc_faults", "minor faults of the first glibc cycle"),
        ("mmap_faults", "minor faults of the first mmap cycle"),
    ],
    real: Some(RealInput {
        what: "malloc+free and mmap+munmap timed at each block size on the machine that ran \
               `sim figures --real` (calibrate::bench::cost_by_size, medians)",
        columns: COST_REAL_COLUMNS,
        optional: true,
        source: RealSource::CostBySize,
    }),
    setup: || {
        Setup::new(
            Vec::new(),
            vec![AllocatorSpec::named("glibc"), AllocatorSpec::named("mmap")],
        )
    },
    run: crossover,
};

/// One cycle's cost and counts.
#[derive(Copy, Clone, Debug, Default)]
struct Cycle {
    ns: f64,
    syscalls: u64,
    faults: u64,
}

/// Cycles run per size: the first shows first use, the last the steady state.
const CYCLES: usize = 4;

/// [`CYCLES`] malloc+write+free cycles of `size` with a fresh `spec` on a fresh kernel;
/// returns the first and the last.
fn cycles(
    spec: &AllocatorSpec,
    cfg: &KernelConfig,
    size: u64,
) -> Result<[Cycle; 2], ExperimentError> {
    let mut k = Kernel::new(cfg.clone());
    let mut a = spec.build()?;
    let mut all = [Cycle::default(); CYCLES];
    for c in &mut all {
        let ns0 = k.ledger().total();
        let sys0 = k.counters().total_syscalls();
        let f0 = k.counters().minor_faults;
        let fail = |e: String| ExperimentError::Driver {
            what: format!("cost-crossover: {} cycle of {size} bytes", spec.label),
            detail: e,
        };
        let p = a.malloc(&mut k, size).map_err(|e| fail(e.to_string()))?;
        k.touch(p, size, Access::Write)
            .map_err(|e| fail(e.to_string()))?;
        // The stores themselves, as the engine charges a simulated program's writes
        // (the faults they take are charged by `touch`).
        k.charge_writes(size);
        a.free(&mut k, p).map_err(|e| fail(e.to_string()))?;
        *c = Cycle {
            ns: k.ledger().total() - ns0,
            syscalls: k.counters().total_syscalls() - sys0,
            faults: k.counters().minor_faults - f0,
        };
    }
    Ok([all[0], all[CYCLES - 1]])
}

/// Where the curves `(size, a, b)` cross: sizes where `b - a` changes sign,
/// interpolated in log-log space.
fn crossings(points: &[(u64, f64, f64)]) -> Vec<f64> {
    let d = |p: &(u64, f64, f64)| p.2.max(1e-9).ln() - p.1.max(1e-9).ln();
    points
        .windows(2)
        .filter(|w| d(&w[0]) * d(&w[1]) < 0.0)
        .map(|w| {
            let (d0, d1) = (d(&w[0]), d(&w[1]));
            let t = d0 / (d0 - d1);
            let (l0, l1) = ((w[0].0 as f64).log2(), (w[1].0 as f64).log2());
            2f64.powf(l0 + t * (l1 - l0))
        })
        .collect()
}

/// The first size in `(lo, hi]` at which the first cycle of `mmap` costs no more than
/// glibc's, by bisection over whole bytes (the model is exact, so the step the sampled
/// sizes only bracket can be found).
fn first_cycle_crossing(setup: &Setup, lo: u64, hi: u64) -> Result<u64, ExperimentError> {
    let (glibc, mmap) = (&setup.allocators[0], &setup.allocators[1]);
    let cheaper = |size: u64| -> Result<bool, ExperimentError> {
        Ok(cycles(mmap, &setup.kernel, size)?[0].ns <= cycles(glibc, &setup.kernel, size)?[0].ns)
    };
    let (mut lo, mut hi) = (lo, hi);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if cheaper(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

fn crossover(setup: &Setup, inputs: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let glibc = &setup.allocators[0];
    let mmap = &setup.allocators[1];
    let measured =
        match inputs.real {
            Some(text) => Some(parse_cost_real(text).map_err(|(line, detail)| {
                ExperimentError::BadSnapshot {
                    experiment: "cost-crossover",
                    line,
                    detail,
                }
            })?),
            None => None,
        };
    let mut csv = Csv::new(&CROSSOVER.columns.iter().map(|c| c.0).collect::<Vec<_>>());
    let mut first = Vec::new();
    let mut again = Vec::new();
    let mut rows = Vec::new();
    for &size in CROSSOVER_SIZES {
        let g = cycles(glibc, &setup.kernel, size)?;
        let m = cycles(mmap, &setup.kernel, size)?;
        csv.row(&[
            size.to_string(),
            fixed(g[0].ns, 1),
            fixed(g[1].ns, 1),
            fixed(m[0].ns, 1),
            fixed(m[1].ns, 1),
            g[0].syscalls.to_string(),
            m[0].syscalls.to_string(),
            g[0].faults.to_string(),
            m[0].faults.to_string(),
        ]);
        first.push((size, g[0].ns, m[0].ns));
        again.push((size, g[1].ns, m[1].ns));
        let real = measured
            .as_ref()
            .and_then(|(_, rows)| rows.iter().find(|r| r.size == size));
        rows.push(vec![
            bytes(size),
            nanos(g[0].ns),
            nanos(m[0].ns),
            nanos(g[1].ns),
            nanos(m[1].ns),
            real.map(|r| nanos(r.malloc_free_ns)).unwrap_or_default(),
            real.map(|r| nanos(r.mmap_munmap_ns)).unwrap_or_default(),
            format!("{} / {}", g[0].syscalls, m[0].syscalls),
        ]);
    }
    // The first cycle's curves cross at a step (where glibc stops carving the block from
    // the top chunk of its first heap growth and maps it); find it to the byte.
    let step = first
        .windows(2)
        .find(|w| w[0].2 > w[0].1 && w[1].2 <= w[1].1)
        .map(|w| first_cycle_crossing(setup, w[0].0, w[1].0))
        .transpose()?;
    // What glibc's first cycle pays beyond the mmap allocator's once both map the block:
    // its heap setup (the whole first cycle of the smallest block) and the one page by
    // which its mapping is longer.
    let setup_ns = first.first().map_or(0.0, |p| p.1);
    let beyond = step.and_then(|s| first.iter().find(|p| p.0 >= s).copied());
    let cross_first = crossings(&first);
    let cross_again = crossings(&again);
    let cross_real = measured
        .as_ref()
        .map(|(_, rows)| {
            crossings(
                &rows
                    .iter()
                    .map(|r| (r.size, r.malloc_free_ns, r.mmap_munmap_ns))
                    .collect::<Vec<_>>(),
            )
        })
        .unwrap_or_default();
    let words = |c: &[f64]| {
        if c.is_empty() {
            "none".to_string()
        } else {
            c.iter()
                .map(|s| format!("≈ {}", bytes(s.round() as u64)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let caption = format!(
        "Experiment cost-crossover: for each of {} block sizes from 16 B to 4 MiB, a fresh \
         simulated process does malloc, writes every byte and frees, four times, with the glibc \
         model and with the mmap allocator (one mapping per block); the figure shows the fourth \
         cycle (steady state, as the real benchmark measures it); default cost model{}.",
        CROSSOVER_SIZES.len(),
        match &measured {
            Some((c, rows)) if !c.is_empty() => format!(
                "; measured points from cost-crossover.real.csv ({} sizes, {})",
                rows.len(),
                c.join("; ")
            ),
            Some((_, rows)) => format!("; {} measured points", rows.len()),
            None => String::new(),
        }
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "size",
            "glibc, first",
            "mmap, first",
            "glibc, 4th",
            "mmap, 4th",
            "glibc, measured",
            "mmap, measured",
            "syscalls, first (glibc / mmap)",
        ],
        &rows,
    );
    md.table(
        &["crossover (mmap+munmap becomes the cheaper)", "size"],
        &[
            vec![
                "first cycle in a fresh process".to_string(),
                match step {
                    Some(n) => format!(
                        "{} ({} B, found by bisection between the sampled sizes)",
                        bytes(n),
                        count(n)
                    ),
                    None => words(&cross_first),
                },
            ],
            vec![
                "fourth cycle (steady state)".to_string(),
                words(&cross_again),
            ],
            vec![
                "measured (steady state)".to_string(),
                if measured.is_some() {
                    words(&cross_real)
                } else {
                    "not measured".to_string()
                },
            ],
            vec![
                "glibc's own threshold (mmap_threshold)".to_string(),
                "128.0 KiB, then dynamic".to_string(),
            ],
        ],
    );
    md.para(
        "\"first\" includes setting up the heap (glibc's first sbrk) and faulting in fresh \
         pages; the fourth cycle is the steady state of a program that allocates the same \
         size again and again: glibc reuses memory that is already resident (the writes and a \
         few ns, or a few TLB misses for the largest blocks), while every mmap gets fresh zeroed \
         pages and every munmap frees them. Both sides pay the program's writes of every byte \
         (`write_call_ns` + `write_byte_ns` per byte in the model, the memset in the \
         measurement).",
    );
    if let (Some(n), Some(b)) = (step, beyond) {
        let extra = b.1 - b.2;
        let (g, m) = (
            cycles(glibc, &setup.kernel, n)?[0],
            cycles(mmap, &setup.kernel, n)?[0],
        );
        md.para(&format!(
            "Why the first cycles cross where they do: glibc's first malloc sets up its heap \
             before anything else (brk(0), a growth of 132 KiB and the fault of the tcache's \
             page: {setup}, the whole first cycle of a 16-byte block). Up to {below} bytes the \
             block is then carved from the top chunk of that growth: no munmap, no unmap \
             teardown, and the heap is the cheaper. From {n} bytes the top cannot serve it and \
             glibc maps the block too ({gs} syscalls against {ms}): its first cycle is then the \
             same mmap+munmap plus the heap setup, and the setup alone makes it the dearer: at \
             {n} bytes glibc's cycle costs {gn} against {mn}, with {gf} page faults against \
             {mf} (the tcache's page). For a block of whole pages glibc's mapping is one page \
             longer as well (its chunk header needs room in front of the block), which adds to \
             the gap without causing it: at {at} glibc pays {extra} more, {setup} of heap setup \
             and {page} for that page.",
            setup = nanos(setup_ns),
            below = count(n - 1),
            n = count(n),
            gs = g.syscalls,
            ms = m.syscalls,
            gn = nanos(g.ns),
            mn = nanos(m.ns),
            gf = g.faults,
            mf = m.faults,
            at = bytes(b.0),
            extra = nanos(extra),
            page = nanos(extra - setup_ns),
        ));
    }
    let measured_points = measured.as_ref().map(|(_, rows)| {
        rows.iter()
            .map(|r| (r.size, r.malloc_free_ns, r.mmap_munmap_ns))
            .collect()
    });
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "one block, malloc+write+free".to_string(),
            seed: None,
            allocators: vec!["glibc".to_string(), "mmap".to_string()],
            cost_model: "default".to_string(),
            note: Some("4th cycle of each size (steady state)".to_string()),
        },
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure: Figure::Crossover {
            model: again,
            measured: measured_points,
        },
    })
}

/// The columns of a per-allocator cost table (`cost-breakdown`, `mmap-churn-cost`).
pub(super) const COST_COLUMNS: &[(&str, &str)] = &[
    (
        "allocator",
        "the allocator (with the process count where several share the CPU)",
    ),
    ("calls", "allocator calls made"),
    ("brk", "brk calls"),
    ("mmap", "mmap calls"),
    ("munmap", "munmap calls"),
    ("mremap", "mremap calls"),
    ("minor_faults", "minor page faults"),
    (
        "mode_switch_ns",
        "simulated ns entering and leaving the kernel",
    ),
    ("syscall_ns", "simulated ns of kernel work in syscalls"),
    ("fault_ns", "simulated ns handling page faults"),
    ("zeroing_ns", "simulated ns zeroing frames"),
    ("page_table_ns", "simulated ns allocating page-table pages"),
    ("tlb_ns", "simulated ns of TLB misses"),
    (
        "teardown_ns",
        "simulated ns tearing down the translations of unmapped pages",
    ),
    (
        "shootdown_ns",
        "simulated ns of TLB shootdowns (other CPUs running the process; none here)",
    ),
    ("context_switch_ns", "simulated ns of context switches"),
    ("user_ns", "simulated ns of the allocator's own work"),
    ("ns_per_op", "simulated ns per allocator call"),
];

/// `cost-breakdown`.
pub const BREAKDOWN: Experiment = Experiment {
    name: "cost-breakdown",
    chapter: "8",
    claims: &[4],
    shows: "simulated time by category (mode switch, syscall work, faults, zeroing, ...) for \
            glibc and mmap on churn, and for two processes sharing a CPU: mode switches \
            against context switches",
    columns: COST_COLUMNS,
    real: None,
    setup: || {
        Setup::new(
            vec![WorkloadSpec::new(
                GeneratorParams::Churn(ChurnParams {
                    ops: 4_000,
                    live_blocks: 400,
                    ..ChurnParams::default()
                }),
                1,
            )],
            vec![AllocatorSpec::named("glibc"), AllocatorSpec::named("mmap")],
        )
    },
    run: breakdown,
};

/// Ops per slice when two processes share the CPU.
const SHARE_SLICE: u64 = 50;

fn breakdown(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let mut summaries: Vec<engine::Summary> = setup
        .run_workload(0)?
        .into_iter()
        .map(|r| r.summary)
        .collect();
    // The same churn in two processes taking turns on one CPU.
    let w = setup.workloads[0].generate()?;
    let mut second = setup.workloads[0].clone();
    second.seed += 1;
    let w2 = second.generate()?;
    for a in &setup.allocators {
        let procs = vec![
            ProcessSpec {
                name: "p1".to_string(),
                workload: w.clone(),
                allocator: a.build()?,
                start_round: 0,
            },
            ProcessSpec {
                name: "p2".to_string(),
                workload: w2.clone(),
                allocator: a.build()?,
                start_round: 0,
            },
        ];
        let run = run_system(&setup.kernel, procs, SHARE_SLICE, 100_000)?;
        summaries.push(system_summary(
            &run,
            &format!("{} ×2 processes", a.label),
            "churn",
        ));
    }
    let mut csv = Csv::new(&BREAKDOWN.columns.iter().map(|c| c.0).collect::<Vec<_>>());
    let mut rows = Vec::new();
    let model = &setup.kernel.cost;
    for s in &summaries {
        csv.row(&cost_row(s));
        let syscalls: u64 = Syscall::ALL.iter().map(|&c| s.syscall(c)).sum();
        let switches = (s.cost(CostCategory::ContextSwitch) / model.context_switch_ns).round();
        rows.push(vec![
            s.allocator.clone(),
            count(syscalls + s.minor_faults),
            nanos(s.cost(CostCategory::ModeSwitch)),
            count(switches as u64),
            nanos(s.cost(CostCategory::ContextSwitch)),
            nanos(s.time_ns),
            nanos(s.ns_per_op),
        ]);
    }
    let caption = format!(
        "Experiment cost-breakdown: churn (seed 1, {} allocator calls around 400 live blocks) \
         through glibc and mmap, each on a fresh simulated kernel; then the same churn in two \
         processes (seeds 1 and 2) taking turns on one CPU every {SHARE_SLICE} ops; default \
         cost model: mode switch {} ns, context switch {} ns.",
        count(w.allocator_calls()),
        model.mode_switch_ns,
        model.context_switch_ns
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "run",
            "kernel entries (syscalls + faults)",
            "in mode switches",
            "context switches",
            "in context switches",
            "simulated time",
            "time/op",
        ],
        &rows,
    );
    md.para(
        "Every syscall and every page fault enters and leaves the kernel: a mode switch. \
         The model charges it as `mode_switch_ns` per syscall (the column above); a fault's \
         trap is part of its measured `fault_ns`, in the fault category. The same process \
         keeps running; no context switch happens. A context switch is the scheduler \
         moving the CPU to another process, which only happens here when two processes \
         share it.",
    );
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "churn".to_string(),
            seed: Some(1),
            allocators: summaries.iter().map(|s| s.allocator.clone()).collect(),
            cost_model: "default".to_string(),
            note: Some("400 live blocks".to_string()),
        },
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure: Figure::Cost(summaries),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_steady_state_malloc_free_is_far_cheaper_than_mmap_munmap() {
        let cfg = KernelConfig::default();
        let (g, m) = (AllocatorSpec::named("glibc"), AllocatorSpec::named("mmap"));
        for size in [64, 64 << 10, 1 << 20] {
            let gc = cycles(&g, &cfg, size).unwrap();
            let mc = cycles(&m, &cfg, size).unwrap();
            assert!(gc[1].ns * 10.0 < mc[1].ns, "{size}: {gc:?} {mc:?}");
            assert_eq!(gc[1].syscalls, 0, "glibc reuses its heap");
            assert_eq!(mc[1].syscalls, 2, "one mmap and one munmap every time");
        }
    }

    #[test]
    fn on_first_use_glibc_maps_big_blocks_itself_one_page_longer() {
        let cfg = KernelConfig::default();
        let (g, m) = (AllocatorSpec::named("glibc"), AllocatorSpec::named("mmap"));
        let small_g = cycles(&g, &cfg, 1024).unwrap()[0];
        let small_m = cycles(&m, &cfg, 1024).unwrap()[0];
        assert!(small_g.ns < small_m.ns);
        let big_g = cycles(&g, &cfg, 192 << 10).unwrap()[0];
        let big_m = cycles(&m, &cfg, 192 << 10).unwrap()[0];
        assert!(big_g.ns > big_m.ns && big_g.ns < big_m.ns * 1.1);
        assert!(big_g.faults > big_m.faults);
    }

    #[test]
    fn cost_snapshots_round_trip() {
        let rows = vec![CostRealRow {
            size: 4096,
            malloc_free_ns: 120.5,
            mmap_munmap_ns: 6700.0,
        }];
        let text = encode_cost_real(&["here".to_string()], &rows);
        let (c, back) = parse_cost_real(&text).unwrap();
        assert_eq!(c, vec!["here".to_string()]);
        assert_eq!(back, rows);
        assert_eq!(parse_cost_real("# x\nsize\n").unwrap_err().0, 2);
    }

    #[test]
    fn crossings_are_found_between_points() {
        let pts = [(1024, 100.0, 1000.0), (262_144, 10_000.0, 1000.0)];
        let c = crossings(&pts);
        assert_eq!(c.len(), 1);
        assert!((c[0] - 16384.0).abs() < 1.0, "{c:?}");
        assert!(crossings(&[(16, 1.0, 2.0), (32, 1.0, 3.0)]).is_empty());
    }
}
