//! `sim step`: a workload one op at a time, driven by commands from stdin or a script.
//!
//! The session itself is `lab::quiz::step::Session` (pure); this file reads commands
//! and prints. A prompt appears (on stderr) only when stdin is a terminal; a mistyped
//! command there is reported and the session goes on. Commands piped in or read from
//! `--script` are input like any other: a bad one is an error (exit 2), and a script is
//! checked whole before the first op runs.

use crate::cli::StepArgs;
use crate::error::{CliError, CliResult};
use crate::output::emit;
use crate::source;
use kernel::KernelConfig;
use lab::quiz::step::{Command, Session, parse_command};
use lab::registry;
use std::io::{BufRead, IsTerminal, Write};

/// Runs `sim step`.
pub fn run(args: &StepArgs) -> CliResult {
    let w = source::load(&args.source)?;
    let settings = source::settings(&args.tunables)?;
    if let Some(key) = registry::unknown_keys(&[args.allocator.as_str()], &settings).first() {
        return Err(CliError::usage(format!(
            "--tunable {key}: {} takes no such option (see `sim list`)",
            args.allocator
        )));
    }
    let script = match &args.script {
        Some(path) => Some(read_script(path)?),
        None => None,
    };
    let mut session = Session::new(w, &args.allocator, &settings, KernelConfig::default())
        .map_err(CliError::usage)?;
    emit(&session.intro());
    if let Some(commands) = script {
        for c in commands {
            if c == Command::Quit || session.done() {
                break;
            }
            emit(&session.run(c));
        }
        return Ok(());
    }
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let mut lines = stdin.lock().lines();
    while !session.done() {
        if tty {
            let mut err = std::io::stderr();
            let _ = write!(err, "step> ");
            let _ = err.flush();
        }
        let Some(line) = lines.next() else { break };
        let line = line.map_err(|e| CliError::failed(format!("cannot read stdin: {e}")))?;
        match parse_command(&line) {
            Ok(Command::Quit) => break,
            Ok(c) => emit(&session.run(c)),
            Err(e) if tty => eprintln!("sim: step: {e}"),
            Err(e) => return Err(CliError::usage(format!("stdin: {e}"))),
        }
    }
    Ok(())
}

/// Reads and checks a command script: one command a line, `#` comments, a blank line
/// is Enter (one op).
fn read_script(path: &std::path::Path) -> CliResult<Vec<Command>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        if line.trim().is_empty() && raw.contains('#') {
            continue; // a comment line
        }
        let c = parse_command(line)
            .map_err(|e| CliError::usage(format!("{}:{}: {e}", path.display(), i + 1)))?;
        out.push(c);
    }
    Ok(out)
}
