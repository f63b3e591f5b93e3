//! `sim replay`: per-op rows of a replay, simulated or real, in the truth-file format.

use crate::cli::ReplayArgs;
use crate::error::{CliError, CliResult};
use crate::output::{check_file_target, emit, spinner, write_atomic};
use crate::source;
use calibrate::replay::{ReplayError, ReplayOptions, Strategy, replay_real};
use engine::{OpRow, RunConfig};
use lab::registry;
use std::fmt::Write as _;

/// The path of this executable, which hosts the pristine replay child.
pub fn self_exe() -> CliResult<std::path::PathBuf> {
    std::env::current_exe()
        .map_err(|e| CliError::failed(format!("cannot find the sim executable: {e}")))
}

/// Maps a replay error to exit codes: the user's input (2) or the machine (1).
pub fn replay_error(e: ReplayError) -> CliError {
    match e {
        ReplayError::InvalidOp { .. } | ReplayError::OverCap { .. } => {
            CliError::usage(e.to_string())
        }
        other => CliError::failed(other.to_string()),
    }
}

/// Runs `sim replay`.
pub fn run(args: &ReplayArgs) -> CliResult {
    check_file_target(&args.emit_ops, "--emit-ops")?;
    let w = source::load(&args.source)?;
    let settings = source::settings(&args.tunables)?;
    let csv = if args.real {
        let strategy: Strategy = args
            .strategy
            .parse()
            .map_err(|e: String| CliError::usage(format!("--strategy: {e}")))?;
        let opts = ReplayOptions {
            strategy,
            ..ReplayOptions::default()
        };
        let spin = spinner(&format!(
            "replaying {} ops through the real {}",
            w.ops.len(),
            strategy.name()
        ));
        let run = replay_real(&self_exe()?, &w, &opts).map_err(replay_error);
        if let Some(s) = spin {
            s.finish_and_clear();
        }
        let run = run?;
        emit(&format!(
            "replayed {} ops through the real {} (glibc {}) in {:.1} ms\n",
            w.ops.len(),
            strategy.name(),
            run.glibc_version,
            run.elapsed_ns as f64 / 1e6
        ));
        run.csv
    } else {
        let Some(name) = &args.allocator else {
            return Err(CliError::usage(
                "sim replay needs --real or --allocator NAME",
            ));
        };
        source::check_settings(&[name.as_str()], &settings)?;
        let a = registry::build(name, &settings).map_err(|e| CliError::usage(e.to_string()))?;
        let config = RunConfig {
            rows: true,
            ..RunConfig::default()
        };
        let r = engine::run(&w, a, &config).map_err(|e| CliError::failed(e.to_string()))?;
        let mut csv = String::with_capacity(r.rows.len() * 48);
        let _ = writeln!(csv, "{}", OpRow::HEADER);
        for row in &r.rows {
            row.write_csv(&mut csv);
        }
        emit(&format!(
            "replayed {} ops through the simulated {name}\n",
            w.ops.len()
        ));
        csv
    };
    write_atomic(&args.emit_ops, csv.as_bytes())?;
    emit(&format!("wrote {}\n", args.emit_ops.display()));
    Ok(())
}
