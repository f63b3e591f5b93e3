//! Chapter 7: when memory goes back to the OS (claims 8 and 9).

use super::common::{AllocatorSpec, Setup, TIMELINE_COLUMNS, WorkloadSpec, timelines_csv};
use super::table::{Markdown, bytes, count};
use super::{Experiment, ExperimentError, ExperimentOutput, Figure, FigureTitle, Inputs};
use crate::{RunResult, Sample, Timeline};
use workload::{GeneratorParams, RampParams, SwissCheeseParams};

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
    for (w, spec) in setup.workloads.iter().enumerate() {
        let wname = spec.params.name();
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
            let mut t = r.timeline;
            t.allocator = format!("{} · {wname}", t.allocator);
            timelines.push(t);
        }
    }
    let caption = format!(
        "Experiment returned-by-mechanism: ramp (3,000 allocator calls: grow, pin one block, \
         free the rest, malloc_trim(0), unpin) and swiss-cheese (3,000 calls, with \
         malloc_trim(0) after the frees), seed 1, through {}, each on a fresh simulated kernel.",
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
         once counts each time). Every workload frees all its blocks by the end.",
    );
    let refs: Vec<&Timeline> = timelines.iter().collect();
    Ok(ExperimentOutput {
        title: FigureTitle {
            workload: "ramp, swiss-cheese".to_string(),
            seed: Some(1),
            allocators: setup.labels(),
            cost_model: String::new(),
            note: Some("3,000 calls each".to_string()),
        },
        caption,
        csv: timelines_csv(&refs),
        table_md: md.finish(),
        figure: Figure::Returned(timelines),
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

fn pinned_top(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let pinned_runs = setup.run_workload(0)?;
    let free_runs = setup.run_workload(1)?;
    let mut rows = Vec::new();
    for (label, runs, phase) in [
        ("pinned", &pinned_runs, "unpin"),
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
         block, free everything else in random order, malloc_trim(0), then free the pinned \
         block) through first-fit and glibc, each on a fresh simulated kernel; the same ramp \
         without the pinned block for comparison.",
        count(setup.workloads[0].params.ops())
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
        "\"After trim\" is the state after malloc_trim(0), before the pinned block is freed. The \
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
