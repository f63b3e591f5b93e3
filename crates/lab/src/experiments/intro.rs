//! Chapter 1: the first look at allocators over time.

use super::common::{
    AllocatorSpec, SUMMARY_HEADER, Setup, TIMELINE_COLUMNS, WorkloadSpec, summary_row,
    timelines_csv,
};
use super::table::{Markdown, count};
use super::{Experiment, ExperimentError, ExperimentOutput, Figure, Inputs};
use workload::{ChurnParams, GeneratorParams};

/// `intro-churn-timeline`.
pub const CHURN_TIMELINE: Experiment = Experiment {
    name: "intro-churn-timeline",
    chapter: "1",
    claims: &[],
    shows: "churn (seed 1) through glibc, best-fit and mmap: live bytes, footprint and RSS over ops",
    columns: TIMELINE_COLUMNS,
    real: None,
    setup: churn_setup,
    run: churn_timeline,
};

fn churn_setup() -> Setup {
    let params = ChurnParams {
        ops: 6_000,
        live_blocks: 600,
        ..ChurnParams::default()
    };
    let mut s = Setup::new(
        vec![WorkloadSpec::new(GeneratorParams::Churn(params), 1)],
        vec![
            AllocatorSpec::named("glibc"),
            AllocatorSpec::named("best-fit"),
            AllocatorSpec::named("mmap"),
        ],
    );
    s.sample_every = 25;
    s
}

fn churn_timeline(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let results = setup.run_workload(0)?;
    let caption = format!(
        "Experiment intro-churn-timeline: churn (seed 1, {} allocator calls around 600 live \
         blocks of 16 B to 4 KiB) through {}, each on a fresh simulated kernel; default cost model.",
        count(setup.workloads[0].params.ops()),
        setup.labels().join(", ")
    );
    let mut md = Markdown::new(&caption);
    let rows: Vec<Vec<String>> = results.iter().map(|r| summary_row(&r.summary)).collect();
    md.table(SUMMARY_HEADER, &rows);
    md.para(
        "frag_max = (max footprint − max live) / max live; returned = bytes given back to the \
         OS by brk shrink, munmap and madvise; time/op = simulated ns per allocator call.",
    );
    let timelines: Vec<&engine::Timeline> = results.iter().map(|r| &r.timeline).collect();
    Ok(ExperimentOutput {
        title: setup.title(0, Some("600 live blocks".to_string())),
        caption,
        csv: timelines_csv(&timelines),
        table_md: md.finish(),
        figure: Figure::Timeline(results.into_iter().map(|r| r.timeline).collect()),
    })
}
