//! Chapter 10: allocating by lifetime (claim 11: "knowing object lifetimes lets an
//! allocator do better").

use super::common::{
    AllocatorSpec, SUMMARY_HEADER, Setup, TIMELINE_COLUMNS, WorkloadSpec, summary_row,
    timelines_csv,
};
use super::table::{Markdown, bytes, count};
use super::{Experiment, ExperimentError, ExperimentOutput, Figure, Inputs};
use workload::{GeneratorParams, LifetimesParams};

/// `lifetimes-arenas`.
pub const ARENAS: Experiment = Experiment {
    name: "lifetimes-arenas",
    chapter: "10",
    claims: &[11],
    shows: "the lifetimes workload through regions, lifetime-arenas and glibc: footprint \
            over ops and memory returned",
    columns: TIMELINE_COLUMNS,
    real: None,
    setup: || {
        let mut s = Setup::new(
            vec![WorkloadSpec::new(
                GeneratorParams::Lifetimes(LifetimesParams {
                    ops: 20_000,
                    ..LifetimesParams::default()
                }),
                1,
            )],
            vec![
                AllocatorSpec::named("glibc"),
                AllocatorSpec::with("regions", &[("region_size", "64K")], "regions"),
                AllocatorSpec::with(
                    "lifetime-arenas",
                    &[("region_size", "64K")],
                    "lifetime-arenas",
                ),
            ],
        );
        s.sample_every = 80;
        s
    },
    run: arenas,
};

fn arenas(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let results = setup.run_workload(0)?;
    let caption = format!(
        "Experiment lifetimes-arenas: lifetimes (seed 1, {} allocator calls over 20 requests: \
         70% temporaries, 25% per-request objects, 5% kept for the program's life, each \
         malloc carrying its lifetime class as a hint) through {} (regions of 64 KiB for both \
         region allocators), each on a fresh simulated kernel.",
        count(setup.workloads[0].params.ops()),
        setup.labels().join(", ")
    );
    let mut md = Markdown::new(&caption);
    let rows: Vec<Vec<String>> = results.iter().map(|r| summary_row(&r.summary)).collect();
    md.table(SUMMARY_HEADER, &rows);
    let more: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let s = &r.summary;
            vec![
                s.allocator.clone(),
                bytes(s.returned.brk),
                bytes(s.returned.munmap),
                bytes(s.returned.madvise),
                format!("{:.3}", s.frag_peak),
            ]
        })
        .collect();
    md.table(
        &[
            "allocator",
            "returned by brk",
            "by munmap",
            "by madvise",
            "frag_peak",
        ],
        &more,
    );
    md.para(
        "regions ignores the hints: a region is unmapped only when every block in it is free, \
         so one long-lived block keeps a region of temporaries mapped. lifetime-arenas puts \
         each lifetime class in regions of its own.",
    );
    let timelines: Vec<&engine::Timeline> = results.iter().map(|r| &r.timeline).collect();
    Ok(ExperimentOutput {
        title: setup.title(0, Some("lifetime hints on".to_string())),
        caption,
        csv: timelines_csv(&timelines),
        table_md: md.finish(),
        figure: Figure::Timeline(results.into_iter().map(|r| r.timeline).collect()),
    })
}
