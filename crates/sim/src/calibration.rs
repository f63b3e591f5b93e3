//! `sim calibrate`: measure this machine's costs and write a cost model.

use crate::cli::CalibrateArgs;
use crate::error::{CliError, CliResult};
use crate::output::{Table, check_file_target, emit, nanos, progress, write_atomic};
use crate::source;
use calibrate::bench::{self, BenchError, BenchOptions};
use std::fmt::Write as _;

/// Runs `sim calibrate`.
pub fn run(args: &CalibrateArgs) -> CliResult {
    let opts = if args.quick {
        BenchOptions::quick()
    } else {
        BenchOptions::full()
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| source::default_out("calibration").join("cost.json"));
    let report = out.with_file_name(
        out.file_stem()
            .map(|s| format!("{}.report.json", s.to_string_lossy()))
            .unwrap_or_else(|| "calibration.report.json".into()),
    );
    // Before measuring: both files can be written (exit 2 if not).
    check_file_target(&out, "--out")?;
    check_file_target(&report, "--out")?;
    // A progress bar only when a person watches stderr.
    let bar = progress(1, "calibrating");
    let mut progress = |done: usize, total: usize, name: &str| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
            b.set_message(name.to_string());
        }
    };
    let cal = bench::calibrate(&opts, Some(&arena_visits), &mut progress).map_err(|e| match e {
        BenchError::Unavailable(_) | BenchError::BadCpu { .. } => CliError::usage(e.to_string()),
        other => CliError::failed(format!("calibration failed: {other}")),
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }

    write_atomic(&out, cal.cost.to_json().as_bytes())?;
    write_atomic(&report, cal.to_json().as_bytes())?;

    let mut text = format!("machine: {}\n\n", cal.machine.summary());
    let mut t = Table::new(&["measurement", "median", "reference", "ratio"]);
    for m in &cal.measurements {
        t.row(vec![
            m.label.clone(),
            nanos(m.median_ns),
            m.reference_ns.map(nanos).unwrap_or_else(|| "-".into()),
            m.ratio_to_reference()
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    text.push_str(&t.render());
    text.push_str(
        "\nreference: ../shared/CALIBRATION.md (2-vCPU AMD EPYC VM, Linux 6.18, glibc 2.36)\n\n",
    );
    let mut t = Table::new(&["cost model field", "measured", "default", "how"]).left(3);
    for d in &cal.derivations {
        t.row(vec![
            d.field.clone(),
            format!("{:.1}", d.value),
            format!("{:.1}", d.default),
            d.formula.clone(),
        ]);
    }
    text.push_str(&t.render());
    for note in &cal.notes {
        let _ = writeln!(text, "note: {note}");
    }
    let _ = writeln!(
        text,
        "\nwrote {} (use it with --cost)\nwrote {}",
        out.display(),
        report.display()
    );
    emit(&text);
    Ok(())
}

/// How many chunks the glibc model visits per timed pair of each arena benchmark,
/// each weighted by the share of the heap the cache cannot hold, as the model charges
/// `CostModel::alloc_step_ns` (from the benchmarks' own calls): each stream runs
/// once with its set-up alone and once whole, under a cost model that charges 1 ns
/// per visit and nothing else, so the difference of the user times is the count.
fn arena_visits(streams: &[bench::streams::Stream; 2]) -> bench::streams::VisitCounts {
    let per_pair = |s: &bench::streams::Stream| -> f64 {
        let config = engine::RunConfig {
            kernel: kernel::KernelConfig {
                cost: kernel::CostModel {
                    alloc_step_ns: 1.0,
                    ..kernel::CostModel::zero()
                },
                ..kernel::KernelConfig::default()
            },
            ..engine::RunConfig::default()
        };
        let visits = |w: &workload::Workload| -> f64 {
            match engine::run(w, Box::new(malloc::glibc::Glibc::new()), &config) {
                Ok(r) => r.summary.cost(kernel::CostCategory::User),
                Err(_) => 0.0,
            }
        };
        let mut warm = s.workload.clone();
        warm.ops.truncate(s.warm);
        let pairs = s.pairs.max(1) as f64;
        (visits(&s.workload) - visits(&warm)).max(0.0) / pairs
    };
    bench::streams::VisitCounts {
        one_chunk: per_pair(&streams[0]),
        steady: per_pair(&streams[1]),
    }
}

#[cfg(test)]
mod visit_tests {
    use super::*;

    /// The one-chunk loop visits nothing but its own chunk; replacements among live
    /// blocks of 1,100 to 4,000 bytes sort, merge and split several chunks per pair,
    /// most of which miss the cache in the 10 MiB heap of 4096 of them, none in the
    /// heap of 256, which fits.
    #[test]
    fn the_arena_loops_visit_what_the_derivation_expects() {
        let v = arena_visits(&bench::streams::arena_streams(4096, 1000));
        assert_eq!(v.one_chunk, 0.0);
        assert!(v.steady > 2.0 && v.steady < 8.0, "{v:?}");
        let small = arena_visits(&bench::streams::arena_streams(256, 1000));
        assert_eq!(small.steady, 0.0, "{small:?}");
    }
}
