//! `sim kernel`: a kernel script's rows, on the simulated kernel or (`--real`) on this
//! machine's.
//!
//! The script format and the row format are `KERNEL-SCRIPTS.md`'s (the parser and the
//! runner are `kernel::script`; the real runner is `calibrate::kscript`, which runs the
//! script in a fresh child of this same executable). Without `--emit-rows` the rows are
//! printed as a table with each line's text beside them; with it they are written as
//! CSV, the format of the truth files the model is checked against.

use crate::cli::KernelArgs;
use crate::error::{CliError, CliResult};
use crate::output::{Table, emit, write_atomic};
use crate::replay::self_exe;
use calibrate::kscript::{self, KernelScriptError};
use kernel::script::{Row, Script, ScriptError, run_simulated, to_csv};
use std::path::Path;

/// Runs `sim kernel`.
pub fn run(args: &KernelArgs) -> CliResult {
    let path = &args.script;
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let script = Script::parse(&text).map_err(|e| script_error(path, e))?;
    let (csv, kernel) = if args.real {
        let csv = kscript::run_real(&self_exe()?, &text).map_err(|e| match e {
            KernelScriptError::Script(e) => script_error(path, e),
            KernelScriptError::Unavailable(why) => CliError::usage(format!("--real: {why}")),
            KernelScriptError::Child(e) => CliError::failed(format!("--real: {e}")),
        })?;
        (csv, "this machine's kernel")
    } else {
        let rows = run_simulated(&script).map_err(|e| script_error(path, e))?;
        (to_csv(&rows), "the simulated kernel")
    };
    match &args.emit_rows {
        Some(out) => {
            write_atomic(out, csv.as_bytes())?;
            emit(&format!(
                "ran {} lines of {} on {kernel}\nwrote {}\n",
                script.lines.len(),
                path.display(),
                out.display()
            ));
        }
        None => emit(&table(&script, &csv)),
    }
    Ok(())
}

/// A script error as one line naming the file and the line: exit code 2.
fn script_error(path: &Path, e: ScriptError) -> CliError {
    CliError::usage(format!("{}:{}: {}", path.display(), e.line, e.message))
}

/// The rows (as CSV) as an aligned table, each with the text of its line.
fn table(script: &Script, csv: &str) -> String {
    let mut header: Vec<&str> = Row::HEADER.split(',').collect();
    header.push("script");
    let mut t = Table::new(&header).left(1).left(2).left(header.len() - 1);
    for row in csv.lines().skip(1) {
        let mut cells: Vec<String> = row.split(',').map(str::to_string).collect();
        let number: Option<usize> = cells.first().and_then(|n| n.parse().ok());
        let text = script
            .lines
            .iter()
            .find(|l| Some(l.number) == number)
            .map_or("", |l| l.text.as_str());
        cells.push(text.to_string());
        t.row(cells);
    }
    t.render()
}
