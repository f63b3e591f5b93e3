//! `sim record`: runs a real program and writes its malloc-family calls as a trace.
//!
//! The program runs with `LD_PRELOAD` set to brkmap's tracer (`crates/tracer`, built by
//! this crate's build script and embedded in the binary), which logs every `malloc`,
//! `calloc`, `realloc`, `reallocarray`, `free` and aligned allocation with the
//! addresses glibc returned. Afterwards the log becomes a workload (fresh ids instead of
//! addresses, see `workload::trace::tracer_log`) and is written as a native trace, which
//! keeps calloc and alignments, or as a CS:APP `.rep`, which cannot (they become plain
//! mallocs). Every replay then works on it: `sim --trace`, `sim replay --real`.
//!
//! The program's own output goes where it would have gone; sim's report is on stderr.
//! The program's environment is sim's, with `LD_PRELOAD` replaced by the tracer.
//! Only the process started is traced (not programs it runs), and only a dynamically
//! linked one: static and setuid programs ignore `LD_PRELOAD`.

use crate::error::{CliError, CliResult};
use crate::output::write_atomic;
use clap::Args;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use workload::{TraceFormat, lossy_for_rep, parse_tracer_log, write_native_annotated, write_rep};

/// The tracer library, compiled by `build.rs` (empty where it cannot work).
static TRACER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libbrkmap_tracer.so"));

/// Arguments of `sim record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Where to write the trace: a `.rep` name writes the CS:APP format (calloc and
    /// aligned allocations become plain mallocs there), any other the native format,
    /// which keeps everything. Default: PROGRAM.trace in the current directory.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The program to run and its arguments (put them after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    pub command: Vec<OsString>,
}

/// A directory of our own under the system's temporary directory, removed on drop: it
/// holds the tracer library and the log while the program runs.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> CliResult<TempDir> {
        let base = std::env::temp_dir();
        for n in 0..1000 {
            let dir = base.join(format!("brkmap-record-{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(TempDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(CliError::failed(format!(
                        "cannot create a temporary directory in {}: {e}",
                        base.display()
                    )));
                }
            }
        }
        Err(CliError::failed(format!(
            "cannot create a temporary directory in {}: too many exist",
            base.display()
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The program's name for the workload and the default file: its file name.
fn program_name(program: &OsString) -> String {
    Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "recording".to_string())
}

/// The command line as one line of text, for the trace's header.
fn shown_command(command: &[OsString]) -> String {
    command
        .iter()
        .map(|a| a.to_string_lossy().replace('\n', " "))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `sim record`.
pub fn run(args: &RecordArgs) -> CliResult {
    if TRACER.is_empty() {
        return Err(CliError::usage(
            "sim record needs Linux with glibc (it preloads a library that replaces \
             glibc's malloc symbols); this build targets another system",
        ));
    }
    record(args)
}

#[cfg(not(unix))]
fn record(_args: &RecordArgs) -> CliResult {
    Err(CliError::usage("sim record needs Linux with glibc"))
}

#[cfg(unix)]
fn record(args: &RecordArgs) -> CliResult {
    let Some((program, program_args)) = args.command.split_first() else {
        return Err(CliError::usage("sim record needs a program to run"));
    };
    let name = program_name(program);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.trace")));
    // Before the program runs: the trace can be written (exit 2 if not).
    crate::output::check_file_target(&out, "--out")?;

    let dir = TempDir::new()?;
    let library = dir.0.join("libbrkmap_tracer.so");
    let log = dir.0.join("calls.log");
    // LD_PRELOAD separates libraries by blanks and colons.
    if library.to_string_lossy().contains([' ', ':', '\t']) {
        return Err(CliError::usage(format!(
            "the temporary directory {} has a blank or colon in its path, which LD_PRELOAD \
             cannot hold; set TMPDIR to another directory",
            dir.0.display()
        )));
    }
    write_library(&library)?;

    let status = std::process::Command::new(program)
        .args(program_args)
        .env("LD_PRELOAD", &library)
        .env("BRKMAP_TRACE_OUT", &log)
        .status()
        .map_err(|e| CliError::usage(format!("cannot run {}: {e}", program.to_string_lossy())))?;
    let ended = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => "ended".to_string(),
    };
    let bytes = match std::fs::read(&log) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::usage(format!(
                "{name} {ended} without loading the tracer: is it dynamically linked? \
                 (static and setuid programs ignore LD_PRELOAD; so does a temporary \
                 directory mounted noexec: set TMPDIR)"
            )));
        }
        Err(e) => {
            return Err(CliError::failed(format!(
                "cannot read the tracer's log: {e}"
            )));
        }
    };
    let (w, summary) = parse_tracer_log(&bytes, &name, "the tracer's log")
        .map_err(|e| CliError::failed(e.to_string()))?;

    let mut notes = vec![
        format!(
            "recorded by `sim record` from: {}",
            shown_command(&args.command)
        ),
        format!("on {}", machine()),
        format!("the program {ended}"),
    ];
    notes.extend(summary.notes());
    let text = match TraceFormat::from_path(&out) {
        TraceFormat::Native => write_native_annotated(&w, &notes),
        TraceFormat::Rep => {
            if !w.calls.is_empty() {
                notes.push(format!(
                    "{} calloc or aligned blocks written as plain mallocs (.rep cannot say \
                     them; a .trace name keeps them)",
                    w.calls.len()
                ));
            }
            write_rep(&lossy_for_rep(&w)).map_err(|e| CliError::failed(e.to_string()))?
        }
    };
    write_atomic(&out, text.as_bytes())?;
    eprintln!(
        "sim: recorded {} ops of {name} into {}",
        w.ops.len(),
        out.display()
    );
    for note in &notes[2..] {
        eprintln!("sim:   {note}");
    }
    Ok(())
}

/// The system the recording ran on, e.g. `Linux x86_64, glibc 2.36`: glibc's
/// addresses depend on its version and the architecture.
#[cfg(unix)]
fn machine() -> String {
    let system = calibrate::sys::uname()
        .map(|u| format!("{} {}", u.sysname, u.machine))
        .unwrap_or_else(|| "an unknown system".to_string());
    let glibc = calibrate::sys::glibc_version().unwrap_or("unknown");
    format!("{system}, glibc {glibc}")
}

/// Writes the embedded tracer library to `path`, readable and executable.
#[cfg(unix)]
fn write_library(path: &Path) -> CliResult {
    use std::os::unix::fs::PermissionsExt as _;
    let fail = |e: std::io::Error| {
        CliError::failed(format!(
            "cannot write the tracer library to {}: {e}",
            path.display()
        ))
    };
    std::fs::write(path, TRACER).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(fail)
}
