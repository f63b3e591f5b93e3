//! `sim grade`: replays the grading set through an allocator, checks it after every
//! op, scores it, and prints the grade as a table, JSON or a Gradescope
//! `results.json` (see `lab::grade` for what is checked and how it is scored).
//!
//! Everything the user gave is checked before any work: the allocator and its
//! options, the trace directory (every file parsed and validated), the output file.
//! A failed trace is a result, not an error: the command still exits 0.

use crate::cli::{GradeArgs, GradeFormat};
use crate::error::{CliError, CliResult};
use crate::output::{check_file_target, emit, progress, write_atomic};
use crate::source;
use lab::grade::{self, GradingSet};
use lab::registry::Registry;
use std::path::Path;

/// Runs `sim grade`.
pub fn run(args: &GradeArgs) -> CliResult {
    if let Some(out) = &args.out {
        check_file_target(out, "--out")?;
    }
    if args.key {
        let key = grade::key::compute().map_err(|e| CliError::failed(e.to_string()))?;
        return finish(args, &grade::key::markdown(&key));
    }
    if let Some(file) = &args.answers {
        let label = file.display().to_string();
        let text = std::fs::read_to_string(file)
            .map_err(|e| CliError::usage(format!("--answers {label}: {e}")))?;
        let questions = grade::key::questions().map_err(|e| CliError::failed(e.to_string()))?;
        let checked =
            grade::key::check_answers(&questions, &text, &label).map_err(CliError::usage)?;
        let text = match args.format {
            GradeFormat::Table => grade::key::answers_table(&checked),
            GradeFormat::Json => grade::key::answers_json(&checked),
            GradeFormat::Gradescope => grade::key::answers_gradescope(&checked),
        };
        return finish(args, &text);
    }
    let Some(name) = args.allocator.as_deref() else {
        return Err(CliError::usage(
            "sim grade needs --allocator NAME (see `sim list`), --key or --answers FILE",
        ));
    };
    let settings = source::settings(&args.tunables)?;
    source::check_settings(&[name], &settings)?;
    let set = match &args.traces {
        Some(dir) => load_set(dir)?,
        None => GradingSet::builtin().map_err(|e| CliError::failed(e.to_string()))?,
    };
    let registry = Registry::builtin();
    // The allocator and its settings, checked before the first trace runs.
    grade::subject(&registry, name, &settings).map_err(|e| CliError::usage(e.to_string()))?;
    // A progress bar on a terminal: the reference's runs, then the allocator's.
    let bar = progress(2 * set.traces.len() as u64, "grading");
    let mut tick = |what: &str| {
        if let Some(b) = &bar {
            b.inc(1);
            b.set_message(what.to_string());
        }
    };
    // An allocator that panics fails its trace with the panic's message (lab::grade
    // catches it); the default hook would also print it with a backtrace hint, so a
    // quiet hook stands in while the traces run.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let g = grade::grade_registered_with(&registry, name, &settings, &set, &mut tick);
    std::panic::set_hook(hook);
    let g = g.map_err(|e| CliError::failed(e.to_string()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let text = match args.format {
        GradeFormat::Table => grade::table(&g),
        GradeFormat::Json => grade::json(&g),
        GradeFormat::Gradescope => grade::gradescope_json(&g),
    };
    finish(args, &text)
}

/// Prints `text`, or writes it to `--out`.
fn finish(args: &GradeArgs, text: &str) -> CliResult {
    match &args.out {
        Some(out) => {
            write_atomic(out, text.as_bytes())?;
            eprintln!("sim: wrote {}", out.display());
        }
        None => emit(text),
    }
    Ok(())
}

/// Reads a course's grading set: `set.json` if the directory has one, and every
/// `.trace` and `.rep` file.
fn load_set(dir: &Path) -> CliResult<GradingSet> {
    let label = dir.display().to_string();
    let entries =
        std::fs::read_dir(dir).map_err(|e| CliError::usage(format!("--traces {label}: {e}")))?;
    let mut manifest = None;
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|e| CliError::usage(format!("--traces {label}: {e}")))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let read = |p: &Path| {
            std::fs::read(p).map_err(|err| CliError::usage(format!("{}: {err}", p.display())))
        };
        if name == grade::set::MANIFEST {
            let bytes = read(&path)?;
            manifest = Some(
                String::from_utf8(bytes)
                    .map_err(|_| CliError::usage(format!("{}: not UTF-8 text", path.display())))?,
            );
        } else if name.ends_with(".trace") || name.ends_with(".rep") {
            files.push((name, read(&path)?));
        }
    }
    files.sort();
    GradingSet::parse(manifest.as_deref(), &files, &label)
        .map_err(|e| CliError::usage(e.to_string()))
}
