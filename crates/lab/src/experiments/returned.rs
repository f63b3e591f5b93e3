//! Chapter 7: when memory goes back to the OS (claims 8 and 9).

use super::common::{
    AllocatorSpec, Setup, TIMELINE_COLUMNS, WorkloadSpec, hold_then_release, timelines_csv,
};
use super::table::{Markdown, bytes, count};
use super::{
    Bar, BarChart, BarPanel, ChartTitle, Experiment, ExperimentError, ExperimentOutput, Figure,
    Inputs, Unit,
};
use engine::{RunResult, Sample, Timeline};
use workload::{ChurnParams, GeneratorParams, RampParams, SwissCheeseParams};

/// `returned-by-mechanism`.
pub const BY_MECHANISM: Experiment = Experiment {
    name: "returned-by-mechanism",
    chapter: "7",
    claims: &[8, 9],
    shows: "ramp and swiss-cheese through glibc, first-fit, segregated and mmap: cumulative \
            bytes given back by brk shrink, munmap and madvise",
    columns: TIMELINE_COLUMNS,
    real: None,
    setup: || {
        let mut s = Setup::new(
            vec![
                WorkloadSpec::new(
                    GeneratorParams::Ramp(RampParams {
                        ops: 3_000,
                        ..RampParams::default()
                    }),
                    1,
                ),
                WorkloadSpec::new(
                    GeneratorParams::SwissCheese(SwissCheeseParams {
                        ops: 3_000,
                        ..SwissCheeseParams::default()
                    }),
                    1,
                ),
            ],
            vec![
                AllocatorSpec::named("glibc"),
                AllocatorSpec::named("first-fit"),
                AllocatorSpec::named("segregated"),
                AllocatorSpec::named("mmap"),
            ],
        );
        s.sample_every = 15;
        s
    },
    run: by_mechanism,
};

fn by_mechanism(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let mut timelines: Vec<Timeline> = Vec::new();
    let mut rows = Vec::new();
    let mut panels = Vec::new();
    for (w, spec) in setup.workloads.iter().enumerate() {
        let wname = spec.params.name();
        let mut bars = Vec::new();
        for r in setup.run_workload(w)? {
            let s = &r.summary;
            rows.push(vec![
                wname.to_string(),
                s.allocator.clone(),
                bytes(s.peak_footprint),
                bytes(s.returned.brk),
                bytes(s.returned.munmap),
                bytes(s.returned.madvise),
                bytes(s.final_footprint),
                bytes(s.final_rss),
            ]);
            bars.push(Bar {
                label: s.allocator.clone(),
                segments: vec![
                    s.returned.brk as f64,
                    s.returned.munmap as f64,
                    s.returned.madvise as f64,
                ],
                note: format!(
                    "{} returned · peak footprint {}",
                    bytes(s.returned.total()),
                    bytes(s.peak_footprint)
                ),
            });
            let mut t = r.timeline;
            t.allocator = format!("{} · {wname}", t.allocator);
            timelines.push(t);
        }
        panels.push(BarPanel {
            title: match wname {
                "ramp" => {
                    "ramp: build, pin one block, free the rest, malloc_trim, unpin".to_string()
                }
                _ => "swiss-cheese: fill, free every other block, malloc_trim, bigger requests, \
                      drain"
                    .to_string(),
            },
            unit: Unit::Bytes,
            axis: "bytes given back over the whole run".to_string(),
            segments: vec![
                "brk shrink".to_string(),
                "munmap".to_string(),
                "madvise".to_string(),
            ],
            bars,
        });
    }
    let caption = format!(
        "Experiment returned-by-mechanism: ramp (3,000 allocator calls: grow, pin one block, \
         free the rest, malloc_trim(0), unpin) and swiss-cheese (3,000 calls: fill, \
         free every other block, malloc_trim(0) while the others live, bigger requests, then a \
         drain that frees every block, with no malloc_trim after it), seed 1, through {}, each on a fresh simulated kernel.",
        setup.labels().join(", ")
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "workload",
            "allocator",
            "peak footprint",
            "by brk",
            "by munmap",
            "by madvise",
            "final footprint",
            "final RSS",
        ],
        &rows,
    );
    md.para(
        "Returned bytes are address ranges given back (cumulative, so memory returned more than \
         once counts each time). Every workload frees all its blocks by the end; what an \
         allocator still holds then (final footprint, final RSS) is what nothing gave back \
         after the last frees.",
    );
    let refs: Vec<&Timeline> = timelines.iter().collect();
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "ramp, swiss-cheese".to_string(),
            seed: Some(1),
            allocators: setup.labels(),
            cost_model: String::new(),
            note: Some("3,000 calls each".to_string()),
        },
        caption,
        csv: timelines_csv(&refs),
        table_md: md.finish(),
        figure: Figure::Bars(BarChart {
            title: "Memory given back to the OS, by mechanism".to_string(),
            lines: vec![
                "Cumulative bytes of address range given back over each run. brk shrink: the \
                 program break moved down · munmap: a mapping was removed · madvise: pages \
                 released, the range stays mapped. The CSV has the same counters over time."
                    .to_string(),
            ],
            panels,
            notes: Vec::new(),
        }),
    })
}

/// `pinned-top`.
pub const PINNED_TOP: Experiment = Experiment {
    name: "pinned-top",
    chapter: "7",
    claims: &[9],
    shows: "ramp: one live block at the top pins the heap of a brk allocator; glibc's \
            malloc_trim gives the pages below it back with madvise",
    columns: TIMELINE_COLUMNS,
    real: None,
    setup: || {
        let mut s = Setup::new(
            vec![
                WorkloadSpec::new(GeneratorParams::Ramp(pinned(true)), 1),
                WorkloadSpec::new(GeneratorParams::Ramp(pinned(false)), 1),
            ],
            vec![
                AllocatorSpec::named("first-fit"),
                AllocatorSpec::named("glibc"),
            ],
        );
        s.sample_every = 20;
        s
    },
    run: pinned_top,
};

fn pinned(pin: bool) -> RampParams {
    RampParams {
        ops: 4_000,
        pin,
        ..RampParams::default()
    }
}

/// The sample taken at the marker of phase `name` (the state just before it), or the
/// last one.
fn at_phase<'a>(r: &'a RunResult, name: &str) -> Option<&'a Sample> {
    r.timeline
        .samples
        .iter()
        .find(|s| s.phase.as_deref() == Some(name))
        .or(r.timeline.samples.last())
}

/// Allocator calls of the program's idle stretch between the trim and the unpin.
const IDLE_CALLS: u64 = 600;

/// The ramp of workload `w` with an idle stretch (a small churn of 20 blocks) before
/// the pinned block is freed, so the figure shows the heap while the block pins it.
fn with_idle(setup: &Setup, w: usize) -> Result<workload::Workload, ExperimentError> {
    let ramp = setup.workloads[w].generate()?;
    let idle = GeneratorParams::Churn(ChurnParams {
        ops: IDLE_CALLS,
        live_blocks: 20,
        ..ChurnParams::default()
    })
    .generate(2)
    .map_err(|e| ExperimentError::Workload(e.to_string()))?;
    Ok(hold_then_release(ramp, "unpin", idle))
}

fn pinned_top(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let pinned_runs = setup.run_ops(&with_idle(setup, 0)?)?;
    let free_runs = setup.run_workload(1)?;
    let mut rows = Vec::new();
    for (label, runs, phase) in [
        ("pinned", &pinned_runs, "idle"),
        ("not pinned", &free_runs, "end"),
    ] {
        for r in runs {
            let Some(s) = at_phase(r, phase) else {
                continue;
            };
            rows.push(vec![
                format!("{} ({label})", r.summary.allocator),
                bytes(r.summary.peak_footprint),
                bytes(s.footprint),
                bytes(s.rss),
                bytes(s.returned_brk),
                bytes(s.returned_madvise),
                count(s.syscalls[kernel::Syscall::Madvise as usize]),
            ]);
        }
    }
    let caption = format!(
        "Experiment pinned-top: ramp (seed 1, {} allocator calls: grow, allocate one 32-byte \
         block, free everything else in random order, malloc_trim(0), run on with 20 small \
         blocks for {} calls (churn, seed 2), then free the pinned block) through first-fit \
         and glibc, each on a fresh simulated kernel; the same ramp without the pinned block \
         for comparison.",
        count(setup.workloads[0].params.ops()),
        count(IDLE_CALLS)
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "allocator (ramp)",
            "peak footprint",
            "footprint after trim",
            "RSS after trim",
            "returned by brk",
            "returned by madvise",
            "madvise calls",
        ],
        &rows,
    );
    md.para(
        "\"After trim\" is the state right after malloc_trim(0), while the pinned block lives. The \
         footprint is the heap the allocator holds (break − start); RSS is what is resident. A \
         brk heap can only shrink from its top, so one live block there keeps the whole heap \
         below it mapped; glibc's malloc_trim gives the free pages inside it back with \
         madvise(MADV_DONTNEED), which lowers RSS but not the footprint.",
    );
    let timelines: Vec<Timeline> = pinned_runs.into_iter().map(|r| r.timeline).collect();
    let refs: Vec<&Timeline> = timelines.iter().collect();
    Ok(ExperimentOutput {
        title: setup.title(0, Some("one 32-byte block pinned at the top".to_string())),
        caption,
        csv: timelines_csv(&refs),
        table_md: md.finish(),
        figure: Figure::Timeline(timelines),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_top_keeps_first_fit_resident_and_malloc_trim_frees_glibc() {
        let setup = (PINNED_TOP.setup)();
        let runs = setup.run_ops(&with_idle(&setup, 0).unwrap()).unwrap();
        let after = |name: &str| {
            let r = runs.iter().find(|r| r.summary.allocator == name).unwrap();
            (r.summary.peak_rss, at_phase(r, "idle").unwrap().clone())
        };
        let (ff_peak, ff) = after("first-fit");
        let (g_peak, g) = after("glibc");
        assert_eq!(ff.returned_brk + ff.returned_madvise, 0);
        assert!(
            ff.rss * 10 >= ff_peak * 9,
            "first-fit keeps its pages resident"
        );
        assert!(g.returned_madvise > 0);
        assert!(g.rss * 2 < g_peak, "malloc_trim released most pages");
        assert!(
            g.footprint * 10 >= g_peak * 9,
            "but the heap did not shrink"
        );
    }
}
