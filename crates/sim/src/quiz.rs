//! `sim quiz KIND`: a seeded quiz from `lab::quiz`, or OSTEP's malloc.py with `--ostep`.

use crate::cli::{QuizArgs, QuizFormat};
use crate::error::{CliError, CliResult};
use crate::output::emit;
use lab::quiz::ostep::RunError;
use lab::quiz::{self, Kind};
use std::io::Write as _;

/// Runs `sim quiz`.
pub fn run(args: &QuizArgs) -> CliResult {
    let kind = Kind::parse(&args.kind).ok_or_else(|| {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        CliError::usage(format!(
            "unknown quiz `{}` (known: {})",
            args.kind,
            names.join(", ")
        ))
    })?;
    if let Some(flags) = &args.ostep {
        if kind != Kind::Freelist {
            return Err(CliError::usage(format!(
                "--ostep is malloc.py's command line, for `sim quiz freelist` only, not {kind}"
            )));
        }
        if args.format == QuizFormat::Json {
            return Err(CliError::usage(
                "--ostep prints exactly what malloc.py prints: text only, no --format json",
            ));
        }
        if args.seed.is_some() {
            return Err(CliError::usage(
                "with --ostep the seed is malloc.py's: give it after --ostep as -s N",
            ));
        }
        // Streamed: a long random run prints the free list after each of its ops.
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let run = quiz::ostep::run(flags, args.answers, &mut out);
        let flushed = out.flush();
        return match (run, flushed) {
            (Err(RunError::Io(e)), _) | (_, Err(e)) => {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    Ok(()) // the reader went away (`| head`): stop quietly
                } else {
                    Err(CliError::failed(format!("cannot write to stdout: {e}")))
                }
            }
            (Err(RunError::Stopped(why)), Ok(())) => {
                Err(CliError::usage(format!("--ostep: {why}")))
            }
            (Ok(()), Ok(())) => Ok(()),
        };
    }
    let seed = args.seed.unwrap_or(1);
    // Generation only fails on a bug of the simulator: the work failed, not the user.
    let q = quiz::generate(kind, seed).map_err(|e| CliError::failed(e.to_string()))?;
    emit(&match args.format {
        QuizFormat::Text => q.render(args.answers),
        QuizFormat::Json => q.to_json(args.answers),
    });
    Ok(())
}
