//! `sim kernel`: a kernel script's rows on the simulated kernel.
//!
//! The script format and the row format are `KERNEL-SCRIPTS.md`'s (the parser and the
//! runner are `kernel::script`). Without `--emit-rows` the rows are printed as a table
//! with each line's text beside them; with it they are written as CSV, the format of
//! the truth files the model is checked against.

use crate::cli::KernelArgs;
use crate::error::{CliError, CliResult};
use crate::output::{Table, emit, write_atomic};
use kernel::script::{Row, Script, ScriptError, run_simulated, to_csv};
use std::path::Path;

/// Runs `sim kernel`.
pub fn run(args: &KernelArgs) -> CliResult {
    let path = &args.script;
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let script = Script::parse(&text).map_err(|e| script_error(path, e))?;
    let rows = run_simulated(&script).map_err(|e| script_error(path, e))?;
    match &args.emit_rows {
        Some(out) => {
            write_atomic(out, to_csv(&rows).as_bytes())?;
            emit(&format!(
                "ran {} lines of {} on the simulated kernel\nwrote {}\n",
                rows.len(),
                path.display(),
                out.display()
            ));
        }
        None => emit(&table(&script, &rows)),
    }
    Ok(())
}

/// A script error as one line naming the file and the line: exit code 2.
fn script_error(path: &Path, e: ScriptError) -> CliError {
    CliError::usage(format!("{}:{}: {}", path.display(), e.line, e.message))
}

/// The rows as an aligned table, each with the text of its line.
fn table(script: &Script, rows: &[Row]) -> String {
    let mut t = Table::new(&[
        "line", "op", "result", "vmas", "anon_kb", "pte_kb", "minflt", "majflt", "script",
    ])
    .left(1)
    .left(2)
    .left(8);
    for (row, line) in rows.iter().zip(&script.lines) {
        t.row(vec![
            row.line.to_string(),
            row.op.to_string(),
            row.result.to_string(),
            row.vmas.to_string(),
            row.anon_kb.to_string(),
            row.pte_kb.to_string(),
            row.minflt.to_string(),
            row.majflt.to_string(),
            line.text.clone(),
        ]);
    }
    t.render()
}
