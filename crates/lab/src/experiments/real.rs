//! Measurements of a real machine, read from committed snapshots, and the appendix's
//! model-against-machine figure.
//!
//! A snapshot is a CSV that `sim figures --real` writes after running the real thing
//! (a replay in a pristine child process, crash experiments in child processes) and
//! that plain `sim figures` only reads, so figures do not depend on the machine that
//! regenerates them. A snapshot may open with `#` comment lines saying where it was
//! measured; the captions quote them.

use super::common::{
    AllocatorSpec, Setup, TIMELINE_COLUMNS, WorkloadSpec, parse_timeline_csv, timelines_csv,
};
use super::snapshot;
use super::table::{Csv, Markdown, bytes, count};
use super::{
    ChartTitle, Column, Experiment, ExperimentError, ExperimentOutput, Figure, Inputs, RealInput,
    RealSource,
};
use engine::Source;
use kernel::Syscall;
use workload::{ChurnParams, GeneratorParams};

/// The snapshot text of a real replay's timeline(s), with `comment` lines on top
/// (the columns are [`TIMELINE_COLUMNS`]).
pub fn encode_timeline_real(comment: &[String], timelines: &[&engine::Timeline]) -> String {
    let mut out: String = comment.iter().map(|c| format!("# {c}\n")).collect();
    out.push_str(&timelines_csv(timelines));
    out
}

/// The columns of `mmap-segv.real.csv`.
pub const SEGV_REAL_COLUMNS: &[Column] = &[
    (
        "experiment",
        "past-end, after-munmap, guard-page, read-only, inside-page-slack or past-file-end",
    ),
    (
        "outcome",
        "SIGSEGV, SIGBUS, no fault, or how else the child ended",
    ),
    (
        "reason",
        "the signal's si_code: SEGV_MAPERR, SEGV_ACCERR, BUS_ADRERR..., or empty",
    ),
    (
        "address_matches",
        "yes when the fault address is the one the child touched, no, or empty",
    ),
];

/// One real crash experiment, as the snapshot stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegvRealRow {
    /// The experiment's name (as `calibrate`'s `CrashExperiment::name`).
    pub experiment: String,
    /// How the child ended: `SIGSEGV`, `SIGBUS`, `no fault`...
    pub outcome: String,
    /// The symbolic si_code, or empty.
    pub reason: String,
    /// `yes`, `no` or empty.
    pub address_matches: String,
}

/// The snapshot text of real crash experiments, with `comment` lines on top.
pub fn encode_segv_real(comment: &[String], rows: &[SegvRealRow]) -> String {
    let mut out: String = comment.iter().map(|c| format!("# {c}\n")).collect();
    let mut csv = Csv::new(&SEGV_REAL_COLUMNS.iter().map(|c| c.0).collect::<Vec<_>>());
    for r in rows {
        csv.row(&[&r.experiment, &r.outcome, &r.reason, &r.address_matches]);
    }
    out.push_str(&csv.finish());
    out
}

/// Reads a snapshot written by [`encode_segv_real`]: its comments and rows. Errors give
/// the 1-based line.
pub(crate) fn parse_segv_real(
    text: &str,
) -> Result<(Vec<String>, Vec<SegvRealRow>), (usize, String)> {
    let snapshot = snapshot::read(text, SEGV_REAL_COLUMNS)?;
    let rows = snapshot
        .records
        .into_iter()
        .map(|r| {
            let [experiment, outcome, reason, address_matches]: [String; 4] =
                r.cells.try_into().unwrap_or_default();
            SegvRealRow {
                experiment,
                outcome,
                reason,
                address_matches,
            }
        })
        .collect();
    Ok((snapshot.comments, rows))
}

/// `model-vs-real`.
pub const MODEL_VS_REAL: Experiment = Experiment {
    name: "model-vs-real",
    chapter: "appendix",
    claims: &[],
    shows: "the simulated mmap allocator against a real replay of the same churn ops: RSS, \
            mapped bytes and page faults",
    columns: TIMELINE_COLUMNS,
    real: Some(RealInput {
        what: "the timeline of a real replay of the same ops through one mmap per block \
               (calibrate::replay::replay_real, strategy mmap) on the machine that ran \
               `sim figures --real`",
        columns: TIMELINE_COLUMNS,
        optional: false,
        source: RealSource::Replay {
            strategy: "mmap",
            sample_every: MVR_EVERY,
        },
    }),
    setup: || {
        let mut s = Setup::new(
            vec![WorkloadSpec::new(
                GeneratorParams::Churn(ChurnParams {
                    ops: 3_000,
                    live_blocks: 300,
                    ..ChurnParams::default()
                }),
                1,
            )],
            vec![AllocatorSpec::named("mmap")],
        );
        s.sample_every = MVR_EVERY;
        s
    },
    run: model_vs_real,
};

/// Both runs sample every this many ops.
const MVR_EVERY: u64 = 30;

fn model_vs_real(setup: &Setup, inputs: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let text = inputs.real.ok_or(ExperimentError::MissingReal {
        experiment: "model-vs-real",
    })?;
    let bad = |(line, detail): (usize, String)| ExperimentError::BadSnapshot {
        experiment: "model-vs-real",
        line,
        detail,
    };
    let (comments, mut real) = parse_timeline_csv(text, Source::Real).map_err(bad)?;
    let mut real = real.remove(0);
    real.allocator = "mmap (real)".to_string();
    let mut results = setup.run_workload(0)?;
    let sim = results.remove(0);
    let mut simulated = sim.timeline.clone();
    simulated.allocator = "mmap (simulated)".to_string();

    let last = |t: &engine::Timeline| t.samples.last().cloned().unwrap_or_default();
    let peak = |t: &engine::Timeline, f: fn(&engine::Sample) -> u64| {
        t.samples.iter().map(f).max().unwrap_or(0)
    };
    let (s_end, r_end) = (last(&simulated), last(&real));
    let row = |what: &str, s: u64, r: u64, fmt: fn(u64) -> String| {
        vec![
            what.to_string(),
            fmt(s),
            fmt(r),
            if s == 0 {
                "n/a".to_string()
            } else {
                format!("{:.3}", r as f64 / s as f64)
            },
        ]
    };
    let where_measured = if comments.is_empty() {
        "a real machine".to_string()
    } else {
        comments.join("; ")
    };
    let caption = format!(
        "Experiment model-vs-real: churn (seed 1, {} allocator calls around 300 live blocks) \
         through one mmap per block, simulated and replayed for real ({where_measured}), both \
         sampled every {MVR_EVERY} ops.",
        count(setup.workloads[0].params.ops())
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &["measure", "simulated", "real", "real / simulated"],
        &[
            row(
                "peak RSS",
                peak(&simulated, |s| s.rss),
                peak(&real, |s| s.rss),
                bytes,
            ),
            row(
                "peak mapped",
                peak(&simulated, |s| s.mapped),
                peak(&real, |s| s.mapped),
                bytes,
            ),
            row(
                "minor faults",
                s_end.minor_faults,
                r_end.minor_faults,
                count,
            ),
            row(
                "mmap calls",
                s_end.syscalls[Syscall::Mmap as usize],
                r_end.syscalls[Syscall::Mmap as usize],
                count,
            ),
            row(
                "munmap calls",
                s_end.syscalls[Syscall::Munmap as usize],
                r_end.syscalls[Syscall::Munmap as usize],
                count,
            ),
            row(
                "bytes returned by munmap",
                s_end.returned_munmap,
                r_end.returned_munmap,
                bytes,
            ),
        ],
    );
    md.para(
        "The real RSS counts exactly the replayed blocks' pages (mincore over every live \
         mapping), not the whole process; faults are getrusage's minor faults during the ops.",
    );
    let csv = timelines_csv(&[&simulated, &real]);
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "churn".to_string(),
            seed: Some(1),
            allocators: vec!["mmap".to_string()],
            cost_model: String::new(),
            note: Some(format!("real: {where_measured}")),
        },
        caption,
        csv,
        table_md: md.finish(),
        figure: Figure::ModelVsReal { simulated, real },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_snapshots_round_trip_with_their_comments() {
        let rows = vec![SegvRealRow {
            experiment: "past-end".to_string(),
            outcome: "SIGSEGV".to_string(),
            reason: "SEGV_MAPERR".to_string(),
            address_matches: "yes".to_string(),
        }];
        let text = encode_segv_real(&["measured here".to_string()], &rows);
        assert!(text.starts_with("# measured here\n"));
        let (comments, back) = parse_segv_real(&text).unwrap();
        assert_eq!(back, rows);
        assert_eq!(comments, vec!["measured here".to_string()]);
        let broken = text.replace("SEGV_MAPERR,yes", "SEGV_MAPERR");
        assert_eq!(parse_segv_real(&broken).unwrap_err().0, 3);
    }
}
