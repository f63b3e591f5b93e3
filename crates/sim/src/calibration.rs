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
    let cal = bench::calibrate(&opts, &mut progress).map_err(|e| match e {
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
