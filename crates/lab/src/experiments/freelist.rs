//! Chapter 4: textbook free lists, the four fit policies on the swiss-cheese workload.

use super::common::{AllocatorSpec, Setup, TIMELINE_COLUMNS, WorkloadSpec, timelines_csv};
use super::table::{Csv, Markdown, bytes, count, fixed, nanos, percent};
use super::{
    Bar, BarChart, BarPanel, Column, Experiment, ExperimentError, ExperimentOutput, Figure, Inputs,
    Unit,
};
use engine::{HeapSnapshot, Sample};
use malloc::BlockKind;
use workload::{GeneratorParams, SizeDist, SwissCheeseParams};

const FITS: [&str; 4] = ["first-fit", "next-fit", "best-fit", "worst-fit"];

/// swiss-cheese with holes that some later requests fit: every third block kept (so a
/// hole is two freed neighbours, coalesced), and the later requests (30 % as many as
/// the fill blocks) from 128 B to 1 KiB, so each policy's choice of hole matters.
fn cheese(ops: u64) -> SwissCheeseParams {
    SwissCheeseParams {
        ops,
        keep_every: 3,
        big_percent: 30,
        big_sizes: SizeDist::log_uniform(128, 1024),
        ..SwissCheeseParams::default()
    }
}

fn fits_setup(ops: u64) -> Setup {
    let params = cheese(ops);
    let mut s = Setup::new(
        vec![WorkloadSpec::new(GeneratorParams::SwissCheese(params), 1)],
        FITS.iter().map(|n| AllocatorSpec::named(n)).collect(),
    );
    s.sample_every = 16;
    s
}

const COMPARE_OPS: u64 = 4_000;

fn compare_caption(name: &str) -> String {
    format!(
        "Experiment {name}: swiss-cheese (seed 1, {} allocator calls: fill with 64–512 B blocks, \
         free two of every three, malloc_trim(0), then ask for 128 B–1 KiB blocks, 30% as many \
         as the fill) through the four textbook fit policies (address-ordered free list, \
         immediate coalescing), each on a fresh simulated kernel.",
        count(COMPARE_OPS)
    )
}

/// `freelist-fit-compare`.
pub const FIT_COMPARE: Experiment = Experiment {
    name: "freelist-fit-compare",
    chapter: "4",
    claims: &[],
    shows: "first/next/best/worst fit on swiss-cheese: peak footprint and frag_max as bars",
    columns: &[
        ("allocator", "the fit policy"),
        ("peak_live", "largest sum of live requested bytes"),
        (
            "peak_footprint",
            "largest heap size (bytes held from the OS)",
        ),
        ("final_footprint", "heap size at the end"),
        ("frag_max", "(max footprint - max live) / max live"),
        (
            "frag_peak",
            "(footprint - live) / live at the moment of peak footprint",
        ),
        ("brk_calls", "brk calls"),
        (
            "ns_per_op",
            "simulated ns per allocator call (default cost model)",
        ),
    ],
    real: None,
    setup: || fits_setup(COMPARE_OPS),
    run: fit_compare,
};

fn fit_compare(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let results = setup.run_workload(0)?;
    let mut csv = Csv::new(&FIT_COMPARE.columns.iter().map(|c| c.0).collect::<Vec<_>>());
    let mut rows = Vec::new();
    for r in &results {
        let s = &r.summary;
        csv.row(&[
            s.allocator.clone(),
            s.peak_live.to_string(),
            s.peak_footprint.to_string(),
            s.final_footprint.to_string(),
            fixed(s.frag_max, 4),
            fixed(s.frag_peak, 4),
            s.syscall(kernel::Syscall::Brk).to_string(),
            fixed(s.ns_per_op, 2),
        ]);
        rows.push(vec![
            s.allocator.clone(),
            bytes(s.peak_live),
            bytes(s.peak_footprint),
            fixed(s.frag_max, 3),
            fixed(s.frag_peak, 3),
            count(s.syscall(kernel::Syscall::Brk)),
            nanos(s.ns_per_op),
        ]);
    }
    let caption = compare_caption("freelist-fit-compare");
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "policy",
            "peak live",
            "peak footprint",
            "frag_max",
            "frag_peak",
            "brk calls",
            "time/op",
        ],
        &rows,
    );
    md.para(
        "frag_max = (max footprint − max live) / max live (Johnstone & Wilson's measure 4); \
         frag_peak = (footprint − live) / live at the peak footprint (measure 3).",
    );
    let bars = |value: fn(&engine::Summary) -> f64, note: fn(&engine::Summary) -> String| {
        results
            .iter()
            .map(|r| Bar {
                label: r.summary.allocator.clone(),
                segments: vec![value(&r.summary)],
                note: note(&r.summary),
            })
            .collect()
    };
    let figure = Figure::Bars(BarChart {
        title: "Four fit policies on the same swiss-cheese heap".to_string(),
        lines: vec![
            "The heap is filled, every other block freed, then larger blocks requested: the \
             holes are too small, and how each policy picks a hole decides how much the heap \
             must grow."
                .to_string(),
        ],
        panels: vec![
            BarPanel {
                title: "Peak footprint (bytes held from the OS)".to_string(),
                unit: Unit::Bytes,
                axis: "peak footprint".to_string(),
                segments: vec!["footprint".to_string()],
                bars: bars(
                    |s| s.peak_footprint as f64,
                    |s| {
                        format!(
                            "{} (peak live {})",
                            bytes(s.peak_footprint),
                            bytes(s.peak_live)
                        )
                    },
                ),
            },
            BarPanel {
                title: "frag_max = (max footprint − max live) / max live".to_string(),
                unit: Unit::Ratio,
                axis: "frag_max (a ratio, as in the table)".to_string(),
                segments: vec!["frag_max".to_string()],
                bars: bars(|s| s.frag_max, |s| fixed(s.frag_max, 3)),
            },
        ],
        notes: Vec::new(),
    });
    Ok(ExperimentOutput {
        title: setup.title(0, None),
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure,
    })
}

/// `freelist-fragmentation`.
pub const FRAGMENTATION: Experiment = Experiment {
    name: "freelist-fragmentation",
    chapter: "4",
    claims: &[],
    shows: "internal, external and Johnstone–Wilson fragmentation over ops for the four fits \
            on swiss-cheese",
    columns: TIMELINE_COLUMNS,
    real: None,
    setup: || fits_setup(COMPARE_OPS),
    run: fragmentation,
};

/// The most of a measure over the samples where it is defined.
fn max_of(samples: &[Sample], f: fn(&Sample) -> Option<f64>) -> f64 {
    samples
        .iter()
        .filter_map(f)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}

fn fragmentation(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let results = setup.run_workload(0)?;
    let caption = compare_caption("freelist-fragmentation");
    let mut md = Markdown::new(&caption);
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let s = &r.timeline.samples;
            // The first samples hold a few bytes in a fresh heap page; measure from the
            // end of the fill phase on, where the heap is meaningful.
            let last = s.last().cloned().unwrap_or_default();
            vec![
                r.summary.allocator.clone(),
                percent(max_of(s, |x| {
                    (x.live > 0).then(|| (x.allocated as f64 - x.live as f64) / x.live as f64)
                })),
                percent(max_of(s, |x| {
                    (x.free_in_heap > 0)
                        .then(|| 1.0 - x.largest_free as f64 / x.free_in_heap as f64)
                })),
                fixed(r.summary.frag_max, 3),
                bytes(last.footprint),
            ]
        })
        .collect();
    md.table(
        &[
            "policy",
            "max internal",
            "max external",
            "frag_max (J&W)",
            "final footprint",
        ],
        &rows,
    );
    md.para(
        "internal = (allocated − live) / live; external = 1 − largest free block / free bytes in \
         the heap; J&W = (footprint − live) / live, whose value at the peaks is frag_max.",
    );
    let timelines: Vec<&engine::Timeline> = results.iter().map(|r| &r.timeline).collect();
    Ok(ExperimentOutput {
        title: setup.title(0, None),
        caption,
        csv: timelines_csv(&timelines),
        table_md: md.finish(),
        figure: Figure::Fragmentation(results.into_iter().map(|r| r.timeline).collect()),
    })
}

/// The columns of a heap-map CSV.
pub(crate) const HEAP_MAP_COLUMNS: &[Column] = &[
    ("op", "ops executed when the snapshot was taken"),
    (
        "offset",
        "block start minus heap start (brk heap), or minus the lowest mapped block (mappings)",
    ),
    ("size", "bytes of the block, header included"),
    ("kind", "used, free, cached (tcache/fastbin), top or meta"),
    (
        "mapped",
        "1 when the block lives in a mapping rather than the brk heap",
    ),
];

/// The CSV of heap snapshots: one row per block of each snapshot.
pub(crate) fn heap_map_csv(snapshots: &[HeapSnapshot]) -> String {
    let mut csv = Csv::new(&HEAP_MAP_COLUMNS.iter().map(|c| c.0).collect::<Vec<_>>());
    let lowest_mapped = snapshots
        .iter()
        .flat_map(|s| s.blocks.iter())
        .filter(|b| b.mapped)
        .map(|b| b.addr)
        .min()
        .unwrap_or(0);
    for s in snapshots {
        for b in &s.blocks {
            let offset = if b.mapped {
                b.addr - lowest_mapped
            } else {
                b.addr.saturating_sub(s.heap_start)
            };
            csv.row(&[
                s.op.to_string(),
                offset.to_string(),
                b.size.to_string(),
                kind_name(b.kind).to_string(),
                u8::from(b.mapped).to_string(),
            ]);
        }
    }
    csv.finish()
}

pub(crate) fn kind_name(k: BlockKind) -> &'static str {
    match k {
        BlockKind::Used => "used",
        BlockKind::Free => "free",
        BlockKind::Cached => "cached",
        BlockKind::Top => "top",
        BlockKind::Meta => "meta",
    }
}

/// Blocks of each kind in a snapshot: (count, bytes) per kind, in kind order.
pub(crate) fn kind_totals(s: &HeapSnapshot) -> Vec<(BlockKind, u64, u64)> {
    let kinds = [
        BlockKind::Used,
        BlockKind::Free,
        BlockKind::Cached,
        BlockKind::Top,
        BlockKind::Meta,
    ];
    kinds
        .into_iter()
        .map(|k| {
            let (n, b) = s
                .blocks
                .iter()
                .filter(|b| b.kind == k)
                .fold((0, 0), |(n, t), b| (n + 1, t + b.size));
            (k, n, b)
        })
        .filter(|t| t.1 > 0)
        .collect()
}

const MAP_OPS: u64 = 400;

fn heapmap_setup(fit: &str) -> Setup {
    let params = cheese(MAP_OPS);
    let mut s = Setup::new(
        vec![WorkloadSpec::new(GeneratorParams::SwissCheese(params), 1)],
        vec![AllocatorSpec::named(fit)],
    );
    s.heap_maps = true;
    s.sample_every = 8;
    s
}

/// `freelist-heapmap-first-fit`.
pub const HEAPMAP_FIRST_FIT: Experiment = Experiment {
    name: "freelist-heapmap-first-fit",
    chapter: "4",
    claims: &[],
    shows: "heap map of first-fit on a small swiss-cheese run",
    columns: HEAP_MAP_COLUMNS,
    real: None,
    setup: || heapmap_setup("first-fit"),
    run: |s, i| heapmap(s, i, "freelist-heapmap-first-fit"),
};

/// `freelist-heapmap-best-fit`.
pub const HEAPMAP_BEST_FIT: Experiment = Experiment {
    name: "freelist-heapmap-best-fit",
    chapter: "4",
    claims: &[],
    shows: "heap map of best-fit on the same small swiss-cheese run",
    columns: HEAP_MAP_COLUMNS,
    real: None,
    setup: || heapmap_setup("best-fit"),
    run: |s, i| heapmap(s, i, "freelist-heapmap-best-fit"),
};

fn heapmap(setup: &Setup, _: &Inputs, name: &str) -> Result<ExperimentOutput, ExperimentError> {
    let mut results = setup.run_workload(0)?;
    let r = results.remove(0);
    let fit = r.summary.allocator.clone();
    let caption = format!(
        "Experiment {name}: swiss-cheese (seed 1, {MAP_OPS} allocator calls) through {fit}, a \
         heap map every {} ops; fresh simulated kernel.",
        setup.sample_every
    );
    let mut md = Markdown::new(&caption);
    let mut rows = Vec::new();
    // The most broken-up moment of the run: the snapshot with the most free blocks.
    let holes = |s: &HeapSnapshot| {
        s.blocks
            .iter()
            .filter(|b| b.kind == BlockKind::Free)
            .count()
    };
    let worst = r
        .heap_maps
        .iter()
        .fold(None::<&HeapSnapshot>, |best, s| match best {
            Some(b) if holes(b) >= holes(s) => Some(b),
            _ => Some(s),
        });
    if let Some(snap) = worst {
        for (k, n, b) in kind_totals(snap) {
            rows.push(vec![
                format!("op {}", snap.op),
                kind_name(k).to_string(),
                count(n),
                bytes(b),
            ]);
        }
    }
    md.table(&["most free blocks at", "kind", "blocks", "bytes"], &rows);
    md.para(&format!(
        "Peak footprint {}, peak live {}, frag_max {}.",
        bytes(r.summary.peak_footprint),
        bytes(r.summary.peak_live),
        fixed(r.summary.frag_max, 3)
    ));
    Ok(ExperimentOutput {
        title: setup.title(
            0,
            Some(format!("a snapshot every {} ops", setup.sample_every)),
        ),
        caption,
        csv: heap_map_csv(&r.heap_maps),
        table_md: md.finish(),
        figure: Figure::HeapMap {
            allocator: fit,
            snapshots: r.heap_maps,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_and_first_fit_need_less_heap_than_next_and_worst_fit() {
        let results = fits_setup(COMPARE_OPS).run_workload(0).unwrap();
        let fp = |name: &str| {
            results
                .iter()
                .find(|r| r.summary.allocator == name)
                .unwrap()
                .summary
                .peak_footprint
        };
        assert!(fp("best-fit") <= fp("first-fit"));
        assert!(fp("first-fit") < fp("next-fit"));
        assert!(fp("next-fit") <= fp("worst-fit"));
    }
}
