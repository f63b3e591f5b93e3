//! The `sim` command: brkmap's only door to the terminal.
//!
//! Library crates never print; this binary parses the command line, calls them, prints
//! tables and writes files. Every error is one line on stderr with exit code 2 for bad
//! usage or input, 1 for a failure of the work itself; nothing reachable from user
//! input panics.
//!
//! The binary has no Rust `main`: `calibrate::entry_point!` provides the C `main`, so
//! that the same executable can be re-run as a pristine replay child whose heap nothing
//! has touched (Rust's runtime allocates before `main`; a real glibc replay must not).
//! Otherwise it calls [`run`] like any program.

#![cfg_attr(not(test), no_main)]
// Under `cargo test` the harness owns `main`, so `run` and what it calls look unused.
#![cfg_attr(test, allow(dead_code))]

mod bench;
mod calibration;
mod choice;
mod cli;
mod compare;
mod error;
mod figures;
mod grade;
mod kernel;
mod list;
mod output;
mod quiz;
mod record;
mod replay;
mod report;
mod simulate;
mod source;
mod step;
mod validate;

use clap::Parser;
use cli::{Cli, Command};

#[cfg(not(test))]
calibrate::entry_point!(run);

/// Parses the command line and runs the command; returns the exit code.
fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's own text on stdout.
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            // The subcommand the user typed, for the pointer to its help when clap's
            // message has no usage line to tell (a bad value).
            use clap::CommandFactory;
            let first = std::env::args().nth(1).unwrap_or_default();
            let sub = Cli::command()
                .get_subcommands()
                .any(|c| c.get_name() == first)
                .then_some(first);
            eprintln!(
                "sim: error: {}",
                error::usage_line(&e.render().to_string(), sub.as_deref())
            );
            return 2;
        }
    };
    let result = match &cli.command {
        None => simulate::run(&cli.run),
        Some(Command::List) => {
            list::run();
            Ok(())
        }
        Some(Command::Replay(args)) => replay::run(args),
        Some(Command::Validate(args)) => validate::run(args),
        Some(Command::Calibrate(args)) => calibration::run(args),
        Some(Command::Figures(args)) => figures::run(args),
        Some(Command::Quiz(args)) => quiz::run(args),
        Some(Command::Step(args)) => step::run(args),
        Some(Command::Kernel(args)) => kernel::run(args),
        Some(Command::Record(args)) => record::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Compare(args)) => compare::run(args),
        Some(Command::Grade(args)) => grade::run(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sim: error: {e}");
            e.code
        }
    }
}
