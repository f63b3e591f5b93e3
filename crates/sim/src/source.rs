//! Turning `--workload`/`--trace` into a validated op stream, and shared option parsing.

use crate::cli::Source;
use crate::error::{CliError, CliResult};
use kernel::CostModel;
use lab::registry::{self, Setting};
use std::path::{Path, PathBuf};
use workload::Workload;

/// A `.rep` trace at least this large is streamed by a simulation run (read as it
/// runs, never held whole): about 1.3 million ops.
pub const STREAM_BYTES: u64 = 16 << 20;

/// The ops of a simulation run: a workload held whole, or a large `.rep` trace read
/// one op at a time as each allocator runs it (so a 10^8-op trace needs the memory of
/// what it keeps live, not of its ops).
pub struct Loaded {
    /// The workload; with `stream`, without its ops (name and touch policy only).
    pub workload: Workload,
    /// The trace to stream, and how many of its ops to run.
    pub stream: Option<(PathBuf, u64)>,
}

impl Loaded {
    /// Ops the run executes.
    pub fn ops(&self) -> u64 {
        match &self.stream {
            Some((_, n)) => *n,
            None => self.workload.ops.len() as u64,
        }
    }

    /// The streamed trace's ops, read and checked from the start (each item an op or
    /// the error that stops the stream), or `None` for a workload held whole.
    pub fn stream(
        &self,
    ) -> CliResult<Option<impl Iterator<Item = Result<workload::Op, workload::TraceError>> + use<>>>
    {
        let Some((path, n)) = &self.stream else {
            return Ok(None);
        };
        let reader = workload::RepReader::open(path).map_err(|e| CliError::usage(e.to_string()))?;
        Ok(Some(reader.take(*n as usize)))
    }
}

/// A run's error as the command reports it: a streamed trace found invalid on the way
/// is bad input (exit 2), as when it is read whole; anything else a failure.
pub fn run_error(e: engine::RunError) -> CliError {
    match e {
        engine::RunError::Input { .. } => CliError::usage(e.to_string()),
        other => CliError::failed(other.to_string()),
    }
}

/// The ops a simulation run asks for: [`load`], except that a `.rep` trace of at least
/// [`STREAM_BYTES`] (or any `.rep` trace with `force_stream`) is streamed (its header is read and checked now, its ops as they
/// run; the `--max-ops` and `--max-trace-size` limits, which exist to bound the memory
/// of ops held whole, do not apply to it).
pub fn load_for_run(source: &Source, force_stream: bool) -> CliResult<Loaded> {
    if let Some(path) = &source.trace
        && workload::TraceFormat::from_path(path) == workload::TraceFormat::Rep
        && (force_stream || std::fs::metadata(path).is_ok_and(|m| m.len() >= STREAM_BYTES))
    {
        if source.ops == Some(0) {
            return Err(CliError::usage("--ops must be at least 1"));
        }
        let reader = workload::RepReader::open(path).map_err(|e| CliError::usage(e.to_string()))?;
        let announced = reader.announced_ops();
        let n = source.ops.map_or(announced, |n| n.min(announced));
        return Ok(Loaded {
            workload: reader.workload(),
            stream: Some((path.clone(), n)),
        });
    }
    Ok(Loaded {
        workload: load(source)?,
        stream: None,
    })
}

/// Loads the ops the user asked for, validated, cut to `--ops` when given.
pub fn load(source: &Source) -> CliResult<Workload> {
    if source.ops == Some(0) {
        return Err(CliError::usage("--ops must be at least 1"));
    }
    if let Some(n) = source.ops.filter(|&n| n > source.max_ops) {
        return Err(CliError::usage(format!(
            "--ops {n} is over the limit of {} ops (every op is held in memory; raise it \
             with --max-ops)",
            source.max_ops
        )));
    }
    if let Some(path) = &source.trace
        && let Ok(meta) = std::fs::metadata(path)
        && meta.len() > source.max_trace_size
    {
        return Err(CliError::usage(format!(
            "{}: the trace is {}, over the limit of {} (raise it with --max-trace-size)",
            path.display(),
            units::bytes(meta.len()),
            units::bytes(source.max_trace_size)
        )));
    }
    if let Some(name) = &source.workload
        && !workload::GENERATORS.iter().any(|g| g.name == name)
    {
        let names: Vec<&str> = workload::GENERATORS.iter().map(|g| g.name).collect();
        let hint = match malloc::options::nearest(name, names.iter().copied()) {
            Some(n) => format!("did you mean `{n}`? "),
            None => String::new(),
        };
        return Err(CliError::usage(format!(
            "--workload {name}: no such workload ({hint}known: {}; see `sim list`)",
            names.join(", ")
        )));
    }
    if !source.params.is_empty() && source.trace.is_some() {
        return Err(CliError::usage(
            "--param sets a parameter of a generated workload, not of a trace",
        ));
    }
    // A trace is checked once, as it is parsed (the readers run the validator on every
    // line, so their errors name the line); a generated workload is checked below.
    let (w, checked) = match (&source.workload, &source.trace) {
        (None, Some(path)) => {
            let mut w = workload::read_trace(path).map_err(|e| CliError::usage(e.to_string()))?;
            if let Some(n) = source.ops {
                cut(&mut w, n as usize);
            }
            (w, true)
        }
        (Some(_), Some(_)) => {
            return Err(CliError::usage("give --workload or --trace, not both"));
        }
        (name, None) => {
            let name = name.as_deref().unwrap_or("churn");
            let mut params = workload::GeneratorParams::defaults(name)
                .map_err(|e| CliError::usage(e.to_string()))?;
            for p in &source.params {
                let (k, v) = p.split_once('=').ok_or_else(|| {
                    CliError::usage(format!("--param `{p}`: expected NAME=VALUE"))
                })?;
                params
                    .set(k.trim(), v.trim())
                    .map_err(|e| CliError::usage(format!("--param {p}: {e}")))?;
            }
            if let Some(ops) = source.ops {
                params.set_ops(ops);
            }
            let w = params
                .generate(source.seed)
                .map_err(|e| CliError::usage(e.to_string()))?;
            (w, false)
        }
    };
    if w.ops.len() as u64 > source.max_ops {
        return Err(CliError::usage(format!(
            "{}: {} ops, over the limit of {} (raise it with --max-ops, or cut the trace \
             with --ops)",
            w.name,
            w.ops.len(),
            source.max_ops
        )));
    }
    if !checked {
        workload::validate(&w).map_err(|e| CliError::usage(format!("{}: {e}", w.name)))?;
    }
    Ok(w)
}

/// Cuts a valid workload to its first `n` ops. What is left is valid too (a prefix of a
/// valid stream is valid), once the lifetime hints and allocation calls of blocks whose
/// malloc was cut away are dropped.
fn cut(w: &mut Workload, n: usize) {
    if w.ops.len() <= n {
        return;
    }
    w.ops.truncate(n);
    if w.lifetimes.is_empty() && w.calls.is_empty() {
        return;
    }
    let allocated: std::collections::BTreeSet<u64> = w
        .ops
        .iter()
        .filter_map(|op| match op {
            workload::Op::Malloc { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    w.lifetimes.retain(|id, _| allocated.contains(id));
    w.calls.retain(|id, _| allocated.contains(id));
}

/// Parses `NAME=VALUE` settings (`--tunable`); the names and values are checked by the
/// allocators that take them ([`check_settings`], then the registry's build).
pub fn settings(raw: &[String]) -> CliResult<Vec<Setting>> {
    raw.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(CliError::usage(format!(
                "--tunable '{s}': expected NAME=VALUE"
            ))),
        })
        .collect()
}

/// Checks `settings` against the allocators `names` of a run before any work: every
/// option must be taken by at least one of them (else a usage error with the nearest
/// option name), and each old spelling gets a note on stderr.
pub fn check_settings(names: &[&str], settings: &[Setting]) -> CliResult {
    if let Some(key) = registry::unknown_keys(names, settings).first() {
        let hint = match registry::nearest_option(names, key) {
            Some(n) => format!("did you mean `{n}`? "),
            None => String::new(),
        };
        let who = match names {
            [one] => format!("allocator {one} takes no such option"),
            _ => format!(
                "none of the allocators {} takes this option",
                names.join(",")
            ),
        };
        return Err(CliError::usage(format!(
            "--tunable {key}: {who} ({hint}see `sim list`)"
        )));
    }
    for note in registry::notes(names, settings) {
        eprintln!("sim: note: {note}");
    }
    Ok(())
}

/// Reads a cost model file, or the defaults.
pub fn cost_model(path: Option<&Path>) -> CliResult<CostModel> {
    let Some(path) = path else {
        return Ok(CostModel::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read cost model {}: {e}", path.display())))?;
    CostModel::from_json(&text)
        .map_err(|e| CliError::usage(format!("{}: not a cost model: {e}", path.display())))
}

/// The default output directory: `target/brkmap/<leaf>` in the workspace the binary was
/// built from (so `cargo run` from any folder writes to one place), or in the current
/// directory when that workspace is gone.
pub fn default_out(leaf: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let base = if workspace.join("Cargo.toml").is_file() {
        workspace.join("target")
    } else {
        PathBuf::from("target")
    };
    let dir = base.join("brkmap").join(leaf);
    // Show a tidy path: without the `crates/sim/../..` detour.
    std::path::absolute(&dir)
        .ok()
        .and_then(|p| tidy(&p))
        .unwrap_or(dir)
}

fn tidy(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// A file-name-safe version of a workload name (a trace path becomes its file stem).
pub fn leaf_name(w: &Workload) -> String {
    let base = Path::new(&w.name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| w.name.clone());
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match w.seed {
        Some(s) => format!("{clean}-seed{s}"),
        None => clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workload::{AllocCall, Op};

    #[test]
    fn a_cut_trace_stays_valid_without_the_calls_of_blocks_cut_away() {
        let mut w = Workload::new("t");
        w.ops = vec![
            Op::Malloc { id: 0, size: 8 },
            Op::Malloc { id: 1, size: 8 },
            Op::Free { id: 0 },
        ];
        let calloc = AllocCall::Calloc { count: 1, size: 8 };
        w.calls.insert(0, calloc);
        w.calls.insert(1, calloc);
        w.lifetimes.insert(1, 2);
        workload::validate(&w).unwrap();
        cut(&mut w, 1);
        assert_eq!(w.ops.len(), 1);
        assert_eq!(w.calls.keys().copied().collect::<Vec<_>>(), [0]);
        assert!(w.lifetimes.is_empty());
        workload::validate(&w).unwrap();
    }
}
