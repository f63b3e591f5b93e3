//! Chapter 6: allocating with mmap directly (claims 6, 7 and 12).

use super::common::{AllocatorSpec, Setup, WorkloadSpec, total_syscalls};
use super::table::{Csv, Markdown, bytes, count, fixed, nanos, percent};
use super::{
    AxisSpec, ChartTitle, Experiment, ExperimentError, ExperimentOutput, Figure, Inputs, Level,
    Mark, Unit, XyChart, XyPanel, XySeries,
};
use engine::{Program, Stepped};
use kernel::{CostCategory, Kernel, KernelConfig, Syscall};
use workload::{ChurnParams, FreeOrder, GeneratorParams, LargeParams, RampParams};

/// `mmap-page-rounding`.
pub const PAGE_ROUNDING: Experiment = Experiment {
    name: "mmap-page-rounding",
    chapter: "6",
    claims: &[6],
    shows: "bytes wasted per block by page rounding (mmap) versus headers, alignment and size \
            classes (glibc, segregated) across request sizes, and over whole size distributions",
    columns: &[
        ("size", "requested bytes"),
        ("allocator", "glibc, segregated or mmap"),
        (
            "block_bytes",
            "bytes the block takes from the allocator (chunk, class slot or mapping)",
        ),
        ("wasted_bytes", "block_bytes - size"),
    ],
    real: None,
    setup: || {
        Setup::new(
            Vec::new(),
            // Drawn in this order: glibc's small values last, on top.
            vec![
                AllocatorSpec::named("mmap"),
                AllocatorSpec::named("segregated"),
                AllocatorSpec::named("glibc"),
            ],
        )
    },
    run: page_rounding,
};

/// Request sizes from 1 B to 512 KiB, sixteen per power of two (rounded to whole bytes,
/// duplicates dropped).
fn rounding_sizes() -> Vec<u64> {
    let mut v: Vec<u64> = (0..=19 * 16)
        .map(|k| 2f64.powf(k as f64 / 16.0).round() as u64)
        .collect();
    v.dedup();
    v
}

/// The bytes one block of `size` takes from a fresh instance of `spec`: how much its
/// `allocated` grows (after a first small malloc, so that one-time setup such as
/// glibc's tcache structure is not counted).
fn block_bytes(
    spec: &AllocatorSpec,
    cfg: &KernelConfig,
    size: u64,
) -> Result<u64, ExperimentError> {
    let mut k = Kernel::new(cfg.clone());
    let mut a = spec.build()?;
    let fail = |e: malloc::AllocError| ExperimentError::Driver {
        what: format!("mmap-page-rounding: malloc({size}) with {}", spec.label),
        detail: e.to_string(),
    };
    a.malloc(&mut k, 16).map_err(fail)?;
    let before = a.stats().allocated;
    a.malloc(&mut k, size).map_err(fail)?;
    Ok(a.stats().allocated - before)
}

fn page_rounding(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let sizes = rounding_sizes();
    let mut csv = Csv::new(
        &PAGE_ROUNDING
            .columns
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>(),
    );
    let mut series = Vec::new();
    let mut worst_rows = Vec::new();
    for spec in &setup.allocators {
        let mut pts = Vec::new();
        let (mut worst_small, mut worst_all) = (0u64, 0u64);
        for &size in &sizes {
            let block = block_bytes(spec, &setup.kernel, size)?;
            let waste = block.saturating_sub(size);
            csv.row(&[
                size.to_string(),
                spec.label.clone(),
                block.to_string(),
                waste.to_string(),
            ]);
            pts.push((size as f64, waste as f64));
            if size <= 1024 {
                worst_small = worst_small.max(waste);
            }
            worst_all = worst_all.max(waste);
        }
        let at = |s: u64| block_bytes(spec, &setup.kernel, s).map(|b| bytes(b - s));
        worst_rows.push(vec![
            spec.label.clone(),
            at(100)?,
            at(5000)?,
            at(200 * 1024)?,
            bytes(worst_small),
            bytes(worst_all),
        ]);
        series.push(XySeries::new(spec.label.clone(), Mark::Points, pts));
    }

    // Over whole size distributions: peak allocated against peak live.
    let dists = [
        (
            "small objects (churn, 16 B–4 KiB)",
            GeneratorParams::Churn(ChurnParams {
                ops: 3_000,
                live_blocks: 300,
                ..ChurnParams::default()
            }),
        ),
        (
            "buffers (large, 64 KiB–4 MiB and small)",
            GeneratorParams::Large(LargeParams {
                ops: 600,
                ..LargeParams::default()
            }),
        ),
    ];
    let mut dist_rows = Vec::new();
    for (label, params) in dists {
        let s = Setup {
            workloads: vec![WorkloadSpec::new(params, 1)],
            ..setup.clone()
        };
        for r in s.run_workload(0)? {
            let x = &r.summary;
            dist_rows.push(vec![
                label.to_string(),
                x.allocator.clone(),
                bytes(x.peak_live),
                bytes(x.peak_allocated),
                percent(x.peak_allocated as f64 / x.peak_live.max(1) as f64 - 1.0),
            ]);
        }
    }

    let caption = format!(
        "Experiment mmap-page-rounding: one malloc of each of {} sizes from 1 B to 512 KiB \
         (16 per power of two) on a fresh simulated kernel per size, after a first malloc(16) \
         so one-time setup is not counted; then churn (3,000 calls) and large (600 calls), \
         seed 1, through the same allocators.",
        sizes.len()
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "allocator",
            "waste at 100 B",
            "at 5,000 B",
            "at 200 KiB",
            "worst up to 1 KiB",
            "worst overall",
        ],
        &worst_rows,
    );
    md.table(
        &[
            "size distribution",
            "allocator",
            "peak live",
            "peak allocated",
            "overhead",
        ],
        &dist_rows,
    );
    md.para(
        "Waste = bytes the block takes beyond the request: a whole number of 4 KiB pages for \
         mmap; the 8-byte size header rounded up to 16 bytes for glibc, or a page-rounded \
         mapping when the block is mapped (a request at or above the 128 KiB threshold that \
         the top cannot serve: here from 134,441 B, since malloc(131072) is still carved \
         from the top left by the first malloc's heap growth); the size class for \
         segregated. overhead = peak \
         allocated / peak live − 1.",
    );
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "one malloc per size".to_string(),
            seed: None,
            allocators: setup.labels(),
            cost_model: String::new(),
            note: Some(format!("{} sizes, 1 B to 512 KiB", sizes.len())),
        },
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure: Figure::Xy(XyChart {
            title: "Bytes wasted per block: page rounding against headers and size classes"
                .to_string(),
            lines: vec![
                "Each point is one request size. mmap rounds every block up to whole 4 KiB \
                 pages; glibc adds an 8-byte header and 16-byte alignment (and maps requests \
                 of 128 KiB and more); segregated rounds up to its size class."
                    .to_string(),
            ],
            panels: vec![XyPanel {
                title: "Wasted bytes against request size".to_string(),
                x: AxisSpec::log("request size", Unit::Bytes),
                y: AxisSpec::log("bytes wasted per block (log scale)", Unit::Bytes),
                series,
                levels: Vec::new(),
                markers: Vec::new(),
            }],
            notes: vec![
                "Sizes that waste nothing (a whole number of pages, an exact size class) \
                 cannot sit on the log axis."
                    .to_string(),
            ],
        }),
    })
}

/// `mmap-churn-cost`.
pub const CHURN_COST: Experiment = Experiment {
    name: "mmap-churn-cost",
    chapter: "6",
    claims: &[7, 4],
    shows: "churn through mmap, mmap-cache and glibc: syscalls, faults and simulated time per \
            op as stacked cost bars",
    columns: super::cost::COST_COLUMNS,
    real: None,
    setup: || {
        Setup::new(
            vec![WorkloadSpec::new(
                GeneratorParams::Churn(ChurnParams {
                    ops: 6_000,
                    live_blocks: 600,
                    ..ChurnParams::default()
                }),
                1,
            )],
            vec![
                AllocatorSpec::named("glibc"),
                AllocatorSpec::named("mmap"),
                AllocatorSpec::named("mmap-cache"),
            ],
        )
    },
    run: churn_cost,
};

/// The CSV row of a summary in the cost columns.
pub(crate) fn cost_row(s: &engine::Summary) -> Vec<String> {
    let mut row = vec![
        s.allocator.clone(),
        s.ops.to_string(),
        s.syscall(Syscall::Brk).to_string(),
        s.syscall(Syscall::Mmap).to_string(),
        s.syscall(Syscall::Munmap).to_string(),
        s.syscall(Syscall::Mremap).to_string(),
        s.minor_faults.to_string(),
    ];
    row.extend(CostCategory::ALL.iter().map(|&c| fixed(s.cost(c), 1)));
    row.push(fixed(s.ns_per_op, 2));
    row
}

fn churn_cost(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let results = setup.run_workload(0)?;
    let mut csv = Csv::new(&CHURN_COST.columns.iter().map(|c| c.0).collect::<Vec<_>>());
    let base = results
        .first()
        .map(|r| r.summary.ns_per_op)
        .unwrap_or(1.0)
        .max(f64::MIN_POSITIVE);
    let mut rows = Vec::new();
    for r in &results {
        let s = &r.summary;
        csv.row(&cost_row(s));
        let per = |n: u64| format!("{:.2}", n as f64 / s.ops.max(1) as f64);
        rows.push(vec![
            s.allocator.clone(),
            per(total_syscalls(s)),
            per(s.minor_faults),
            nanos(s.ns_per_op),
            format!("{:.1}×", s.ns_per_op / base),
            bytes(s.peak_rss),
        ]);
    }
    let caption = format!(
        "Experiment mmap-churn-cost: churn (seed 1, {} allocator calls around 600 live blocks \
         of 16 B to 4 KiB) through {}, each on a fresh simulated kernel; default cost model \
         (reference machine of CALIBRATION.md).",
        count(setup.workloads[0].params.ops()),
        setup.labels().join(", ")
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "allocator",
            "syscalls/op",
            "faults/op",
            "time/op",
            "vs glibc",
            "peak RSS",
        ],
        &rows,
    );
    md.para(
        "mmap-cache keeps freed mappings (up to its limit) and reuses one of the same size \
         without a syscall.",
    );
    Ok(ExperimentOutput {
        title: setup.title(0, Some("600 live blocks".to_string())),
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure: Figure::Cost(results.into_iter().map(|r| r.summary).collect()),
    })
}

/// `mmap-map-count`.
pub const MAP_COUNT: Experiment = Experiment {
    name: "mmap-map-count",
    chapter: "6",
    claims: &[12],
    shows: "VMAs over ops for mmap and mmap-guard until a small vm.max_map_count; glibc's \
            count stays tiny",
    columns: &[
        (
            "workload",
            "ramp (blocks kept, then freed) or churn (steady state)",
        ),
        ("allocator", "the allocator"),
        ("op", "ops executed"),
        ("vmas", "VMAs of the process"),
        ("live_blocks", "blocks the program holds"),
    ],
    real: None,
    setup: || {
        let mut s = Setup::new(
            vec![
                WorkloadSpec::new(
                    GeneratorParams::Ramp(RampParams {
                        ops: 3_000,
                        pin: false,
                        trim: false,
                        free_order: FreeOrder::Random,
                        ..RampParams::default()
                    }),
                    1,
                ),
                WorkloadSpec::new(
                    GeneratorParams::Churn(ChurnParams {
                        ops: 16_000,
                        live_blocks: 5_000,
                        realloc_permille: 0,
                        ..ChurnParams::default()
                    }),
                    1,
                ),
            ],
            vec![
                AllocatorSpec::named("glibc"),
                AllocatorSpec::named("mmap"),
                AllocatorSpec::named("mmap-guard"),
            ],
        );
        s.kernel.max_map_count = MAP_LIMIT;
        s
    },
    run: map_count,
};

/// The `vm.max_map_count` of the experiment (Linux's default is 65530; a small limit
/// reaches the same wall in a few thousand ops).
const MAP_LIMIT: u64 = 1_000;
/// Samples of the VMA count per run (about).
const MAP_SAMPLES: u64 = 300;

fn map_count(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let mut csv = Csv::new(&MAP_COUNT.columns.iter().map(|c| c.0).collect::<Vec<_>>());
    let mut panels = Vec::new();
    let mut rows = Vec::new();
    for spec in &setup.workloads {
        let w = spec.generate()?;
        let wname = spec.params.name();
        let every = (w.ops.len() as u64 / MAP_SAMPLES).max(1);
        let mut series = Vec::new();
        for a in &setup.allocators {
            let mut kernel = Kernel::new(setup.kernel.clone());
            let mut alloc = a.build()?;
            let mut program = Program::new(w.clone());
            let mut pts = Vec::new();
            let (mut peak, mut peak_blocks, mut refused) = (0u64, 0u64, 0u64);
            let mut outcome = "completed".to_string();
            let mut record = |op: u64, vmas: u64, live: u64, csv: &mut Csv| {
                pts.push((op as f64, vmas as f64));
                csv.row(&[
                    wname.to_string(),
                    a.label.clone(),
                    op.to_string(),
                    vmas.to_string(),
                    live.to_string(),
                ]);
            };
            record(0, 0, 0, &mut csv);
            let mut recorded = 0;
            loop {
                let step = program.step(&mut kernel, alloc.as_mut())?;
                let op = program.position() as u64;
                let vmas = kernel.mem().vmas;
                let live = program.blocks().len() as u64;
                peak = peak.max(vmas);
                peak_blocks = peak_blocks.max(live);
                let stop = match step {
                    Stepped::Ran { .. } => false,
                    Stepped::FreeRefused { .. } => {
                        refused += 1;
                        false
                    }
                    Stepped::Finished => true,
                    Stepped::OutOfMemory { index, .. } => {
                        outcome = format!("malloc failed (ENOMEM) at op {index}");
                        true
                    }
                    Stepped::Segv { index, detail } => {
                        outcome = format!("SIGSEGV at op {index}: {detail}");
                        true
                    }
                };
                if (op.is_multiple_of(every) || stop) && recorded != op {
                    record(op, vmas, live, &mut csv);
                    recorded = op;
                }
                if stop {
                    break;
                }
            }
            rows.push(vec![
                wname.to_string(),
                a.label.clone(),
                count(peak),
                count(peak_blocks),
                count(refused),
                outcome,
            ]);
            series.push(XySeries::new(a.label.clone(), Mark::Line, pts));
        }
        panels.push(XyPanel {
            title: match wname {
                "ramp" => "ramp: blocks allocated one after another, then freed in random order"
                    .to_string(),
                _ => "churn: about 5,000 live blocks, random frees and mallocs".to_string(),
            },
            x: AxisSpec::linear("ops", Unit::Count),
            y: AxisSpec::linear("VMAs", Unit::Count),
            series,
            levels: vec![Level {
                y: MAP_LIMIT as f64,
                label: format!("vm.max_map_count = {}", count(MAP_LIMIT)),
            }],
            markers: Vec::new(),
        });
    }
    let caption = format!(
        "Experiment mmap-map-count: ramp (3,000 allocator calls) and churn (16,000 calls, \
         5,000 live blocks), seed 1, through {} on a simulated kernel whose vm.max_map_count is \
         {} (Linux's default is 65,530).",
        setup.labels().join(", "),
        count(MAP_LIMIT)
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "workload",
            "allocator",
            "peak VMAs",
            "peak live blocks",
            "frees refused",
            "outcome",
        ],
        &rows,
    );
    md.para(
        "Adjacent anonymous mappings with the same protection merge into one VMA, in the model \
         as in Linux: blocks mapped one after another by mmap share a VMA until frees punch \
         holes between them. mmap-guard's PROT_NONE guard pages cannot merge with their \
         neighbours, so each block costs two VMAs. glibc's own cap on mapped chunks \
         (mmap_max, 65,536) sends further large requests to the heap instead. At the limit \
         even munmap can fail (ENOMEM): unmapping a block from the middle of a VMA splits it \
         in two; free() cannot report that, so the block leaks.",
    );
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "ramp, churn".to_string(),
            seed: Some(1),
            allocators: setup.labels(),
            cost_model: String::new(),
            note: Some(format!("vm.max_map_count = {}", count(MAP_LIMIT))),
        },
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure: Figure::Xy(XyChart {
            title: "One mapping per block: VMAs against vm.max_map_count".to_string(),
            lines: vec![
                "A VMA is one contiguous range of the address space with one protection; the \
                 kernel refuses a new one (mmap, or a munmap that would split one) beyond \
                 vm.max_map_count."
                    .to_string(),
            ],
            panels,
            notes: Vec::new(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CSV rows of one workload and allocator: (op, vmas).
    fn series(csv: &str, w: &str, a: &str) -> Vec<(u64, u64)> {
        csv.lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|c| c[0] == w && c[1] == a)
            .map(|c| (c[2].parse().unwrap(), c[3].parse().unwrap()))
            .collect()
    }

    #[test]
    fn guard_pages_reach_the_map_count_limit_and_glibc_stays_small() {
        let out = MAP_COUNT.produce(&Inputs::default()).unwrap();
        for w in ["ramp", "churn"] {
            let guard = series(&out.csv, w, "mmap-guard");
            let (last_op, last_vmas) = *guard.last().unwrap();
            assert_eq!(last_vmas, MAP_LIMIT, "{w}");
            // Two VMAs per block: the limit comes at half as many blocks.
            assert!(
                (490..=510).contains(&last_op),
                "{w}: stopped at op {last_op}"
            );
            assert!(series(&out.csv, w, "glibc").iter().all(|p| p.1 <= 2), "{w}");
        }
        let churn = series(&out.csv, "churn", "mmap");
        assert_eq!(churn.iter().map(|p| p.1).max(), Some(MAP_LIMIT));
    }

    #[test]
    fn page_rounding_wastes_up_to_a_page_and_glibc_a_header() {
        let cfg = KernelConfig::default();
        let waste = |name: &str, size: u64| {
            block_bytes(&AllocatorSpec::named(name), &cfg, size).unwrap() - size
        };
        assert_eq!(waste("mmap", 100), 4096 - 100);
        assert_eq!(waste("mmap", 4096), 0);
        assert_eq!(waste("mmap", 4097), 4095);
        // glibc: 8-byte header, 16-byte alignment, 32-byte minimum chunk.
        assert_eq!(waste("glibc", 100), 12);
        assert_eq!(waste("glibc", 1), 31);
    }
}
