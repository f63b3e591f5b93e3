//! `sim bench`: what one simulated op costs, against the same op on the real glibc.
//!
//! The simulator runs a program's calls through a model of glibc on a model of the
//! kernel; the real machine runs them through glibc on Linux. `sim bench` replays one
//! op stream both ways, in one run, alternating (simulator, real, simulator, real, ...)
//! so that a machine whose load changes treats both sides alike, and reports per op:
//!
//! - **sim**: CPU time of `engine::run` (a fresh simulated kernel and allocator, the
//!   full kernel model, metrics sampled as in a normal run; no heap maps, no files),
//!   in this process;
//! - **real**: CPU time of the op loop in a fresh child process per repetition
//!   (`calibrate::replay::bench_real`: the real calls and nothing else, no `mallinfo2`,
//!   no rows, no clock read per op), which allocated nothing before the first op;
//! - their **ratio**, median over median.
//!
//! Both sides count the same work: every op of the stream (markers and touches
//! included in the count), with the bytes of each block written by both (the
//! workload's touch policy: every byte by default, as `memset` would) or, with
//! `--no-write`, by neither. Reading and checking the trace is out of both (the real
//! child gets the ops already decoded); its cost is the `load` column.
//!
//! CPU time (user + system, `CLOCK_PROCESS_CPUTIME_ID`) rather than wall time: on a
//! shared 2-core machine a process that waits for a CPU does not accumulate it, so
//! other builds do not inflate the figures. Both sides run pinned to the CPU `sim
//! bench` started on (the children inherit the affinity mask), so neither gets a
//! faster core or pays for migrations the other did not. Medians of several
//! repetitions (`--reps`) take out the rest.

use crate::choice;
use crate::cli::Source;
use crate::error::{CliError, CliResult};
use crate::output::{Table, emit, spinner};
use crate::replay::{replay_error, self_exe};
use crate::source;
use calibrate::replay::{ReplayOptions, Strategy, bench_real};
use clap::{Args, ValueEnum};
use engine::RunConfig;
use lab::registry;
use serde::Serialize;
use std::path::{Path, PathBuf};
use workload::{ChurnParams, TouchPolicy, Workload};

/// Arguments of `sim bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Where the ops come from (default: the `churn` workload).
    #[command(flatten)]
    pub source: Source,
    /// Every trace the project ships (crates/workload/traces) and the shared
    /// real-program traces (../shared/traces, when present): one row each, and the
    /// geometric mean of the ratios.
    #[arg(long, conflicts_with_all = ["trace", "workload", "live"])]
    pub all: bool,
    /// Instead of a trace or workload: `churn` holding N live blocks (warm-up to N,
    /// steady churn around N, drain), 8*N calls unless --ops says otherwise, to see
    /// how the per-op cost grows with the live set.
    #[arg(long, value_name = "N", conflicts_with_all = ["trace", "workload"],
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub live: Option<u64>,
    /// The simulated allocator, with options of its own in brackets as elsewhere
    /// (`glibc[mmap_threshold=64K]`, then with --no-real). `glibc` and `mmap` have a real
    /// counterpart; any other needs --no-real.
    #[arg(long, short = 'a', default_value = "glibc")]
    pub allocator: String,
    /// An allocator option `NAME=VALUE` for the simulated side (with --no-real only for
    /// glibc and mmap: the real side runs the defaults).
    #[arg(long = "tunable", value_name = "NAME=VALUE")]
    pub tunables: Vec<String>,
    /// Repetitions of each side; the figures are their medians.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub reps: u32,
    /// What to print.
    #[arg(long, short = 'f', value_enum, default_value_t = BenchFormat::Table)]
    pub format: BenchFormat,
    /// Neither side writes the bytes of the blocks (explicit touches still run).
    #[arg(long)]
    pub no_write: bool,
    /// Only the simulator (for allocators without a real counterpart).
    #[arg(long)]
    pub no_real: bool,
}

/// Output formats of `sim bench`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    /// An aligned table.
    Table,
    /// One JSON document with every repetition.
    Json,
}

/// One op stream, measured.
#[derive(Clone, Debug, Serialize)]
struct Row {
    /// The trace's file name or the workload's name.
    name: String,
    /// Ops in the stream (every op, markers and touches included).
    ops: u64,
    /// CPU time to read and check the trace (or generate the workload), per op.
    load_ns_per_op: f64,
    /// Median CPU time of a simulated run, per op.
    sim_ns_per_op: f64,
    /// Median CPU time of the real op loop, per op (absent with --no-real).
    real_ns_per_op: Option<f64>,
    /// sim / real.
    ratio: Option<f64>,
    /// Every simulated repetition's CPU time, in nanoseconds.
    sim_cpu_ns: Vec<u64>,
    /// Every real repetition's CPU time, in nanoseconds.
    real_cpu_ns: Vec<u64>,
    /// Minor faults of the real loop (median).
    real_minor_faults: Option<u64>,
    /// With `--live`: how much this process's resident memory grew from before the
    /// first simulated run to its peak (the op stream was already in memory).
    sim_host_bytes: Option<u64>,
    /// `sim_host_bytes` per live block.
    sim_host_bytes_per_block: Option<f64>,
}

/// What `--format json` prints.
#[derive(Serialize)]
struct Report<'a> {
    allocator: &'a str,
    real: Option<&'a str>,
    reps: u32,
    /// True when both sides write every allocated byte.
    writes: bool,
    clock: &'static str,
    parse: &'static str,
    rows: &'a [Row],
    /// The CPU both sides were pinned to, when pinning worked.
    cpu: Option<usize>,
    geomean_ratio: Option<f64>,
    /// This process's peak resident memory (the simulator's host memory).
    host_peak_rss: u64,
}

/// Runs `sim bench`.
pub fn run(args: &BenchArgs) -> CliResult {
    let tunables = source::settings(&args.tunables)?;
    // One allocator, as `--allocator` takes it elsewhere: a name with options of its
    // own in brackets (`glibc[mmap_threshold=64K]`).
    let mut choices = choice::parse(std::slice::from_ref(&args.allocator))?;
    if choices.len() != 1 {
        return Err(CliError::usage(format!(
            "--allocator {}: sim bench times one allocator at a time",
            args.allocator
        )));
    }
    choice::check(&choices)?;
    let chosen = choices.remove(0);
    if let Some(key) = registry::unknown_keys(&[chosen.name.as_str()], &tunables).first() {
        return Err(CliError::usage(format!(
            "--tunable {key}: allocator {} takes no such option",
            chosen.name
        )));
    }
    let settings = chosen.settings(&tunables);
    // Checks the name and the options before any work.
    registry::build(&chosen.name, &settings).map_err(|e| CliError::usage(e.to_string()))?;
    let real = if args.no_real {
        None
    } else {
        let strategy: Strategy = chosen.name.parse().map_err(|_| {
            CliError::usage(format!(
                "allocator {} has no real counterpart (glibc and mmap have); add --no-real \
                 to time the simulator alone",
                chosen.name
            ))
        })?;
        if !settings.is_empty() {
            return Err(CliError::usage(format!(
                "--allocator {}: options change only the simulated side; the real one runs \
                 its defaults: add --no-real",
                chosen.label
            )));
        }
        Some(strategy)
    };
    let exe = self_exe()?;
    // Both sides on one CPU, the one this process is on: the real children inherit the
    // mask, so simulator and real replay take turns on the same core. Left to the
    // scheduler, a run may migrate mid-way or land on the sibling of a busy
    // hyperthread, and on a 2-core virtual machine that moved single ratios by 1.5x
    // between runs of the same command.
    let cpu = calibrate::sys::current_cpu().filter(|&c| calibrate::sys::pin_to(c).is_ok());

    let mut rows = Vec::new();
    if args.all {
        let traces = shipped_traces()?;
        for path in traces {
            let mut src = args.source.clone();
            src.trace = Some(path);
            src.workload = None;
            rows.push(measure(
                args,
                &chosen.name,
                &src,
                None,
                real,
                &exe,
                &settings,
            )?);
        }
    } else {
        rows.push(measure(
            args,
            &chosen.name,
            &args.source,
            args.live,
            real,
            &exe,
            &settings,
        )?);
    }
    let ratios: Vec<f64> = rows.iter().filter_map(|r| r.ratio).collect();
    let geomean = (ratios.len() > 1).then(|| geomean(&ratios));
    let host_peak_rss = calibrate::sys::peak_rss_bytes();
    match args.format {
        BenchFormat::Json => {
            let report = Report {
                allocator: &args.allocator,
                real: real.map(Strategy::name),
                reps: args.reps,
                writes: !args.no_write,
                clock: "CLOCK_PROCESS_CPUTIME_ID (user + system)",
                parse: "out of both sides (load_ns_per_op)",
                rows: &rows,
                cpu,
                geomean_ratio: geomean,
                host_peak_rss,
            };
            let mut json = serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::failed(format!("cannot encode the report: {e}")))?;
            json.push('\n');
            emit(&json);
        }
        BenchFormat::Table => emit(&table(args, real, &rows, geomean, host_peak_rss, cpu)),
    }
    Ok(())
}

/// The traces `--all` runs: the project's own (crates/workload/traces), then the shared
/// real-program traces (`../shared/traces/*.rep` beside the project), each set in name
/// order.
fn shipped_traces() -> CliResult<Vec<PathBuf>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut all = Vec::new();
    let own = root.join("crates/workload/traces");
    let shared = root.join("../shared/traces");
    for (dir, only_rep) in [(own, false), (shared, true)] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                let ext = p.extension().and_then(|e| e.to_str());
                ext == Some("rep") || (!only_rep && ext == Some("trace"))
            })
            .collect();
        files.sort();
        all.extend(files.into_iter().map(|p| tidy(&p)));
    }
    if all.is_empty() {
        return Err(CliError::usage(format!(
            "--all: no traces under {} (sim bench --all runs from the project it was built \
             from)",
            root.display()
        )));
    }
    Ok(all)
}

/// `p` without `..` detours, for display.
fn tidy(p: &Path) -> PathBuf {
    std::path::absolute(p)
        .map(|a| {
            let mut out = PathBuf::new();
            for c in a.components() {
                match c {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::CurDir => {}
                    other => out.push(other),
                }
            }
            out
        })
        .unwrap_or_else(|_| p.to_path_buf())
}

/// Loads one op stream and measures it both ways, alternating.
fn measure(
    args: &BenchArgs,
    allocator: &str,
    src: &Source,
    live: Option<u64>,
    real: Option<Strategy>,
    exe: &Path,
    settings: &[lab::registry::Setting],
) -> CliResult<Row> {
    let t0 = calibrate::sys::process_cpu_ns();
    let mut w = match live {
        Some(n) => live_set(n, src)?,
        None => source::load(src)?,
    };
    let load_ns = calibrate::sys::process_cpu_ns().saturating_sub(t0);
    if args.no_write {
        w.touch = TouchPolicy::None;
    }
    let name = match &src.trace {
        Some(p) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| w.name.clone()),
        None => match w.seed {
            Some(s) => format!("{} (seed {s})", w.name),
            None => w.name.clone(),
        },
    };
    let ops = w.ops.len() as u64;
    let config = RunConfig::default();
    let opts = real.map(|strategy| ReplayOptions {
        strategy,
        // No checkpoints: the loop alone, without even a clock read per 1,000 ops.
        sample_interval: 0,
        ..ReplayOptions::default()
    });
    let spin = spinner(&format!("bench {name}: {ops} ops x {} reps", args.reps));
    let mut sim = Vec::new();
    let mut real_runs = Vec::new();
    let mut sim_memory = None;
    for rep in 0..args.reps {
        let a = registry::build(allocator, settings).map_err(|e| CliError::usage(e.to_string()))?;
        // The simulator's host memory, from the first run (later ones reuse what the
        // first left in this process's heap): the growth of resident memory from before
        // the run to its peak, the op stream already in memory.
        let before = (rep == 0 && live.is_some() && calibrate::sys::reset_peak_resident())
            .then(calibrate::sys::resident_now_and_peak)
            .flatten();
        let t0 = calibrate::sys::process_cpu_ns();
        let r = engine::run(&w, a, &config);
        let t1 = calibrate::sys::process_cpu_ns();
        if let (Some((now, _)), Some((_, peak))) = (before, calibrate::sys::resident_now_and_peak())
        {
            sim_memory = Some(peak.saturating_sub(now));
        }
        // Dropping the result (timeline, summary) is part of the run's cost; reading
        // the memory figures is not.
        let t2 = calibrate::sys::process_cpu_ns();
        let r = r.map(|_| ());
        let t3 = calibrate::sys::process_cpu_ns();
        sim.push(t1.saturating_sub(t0) + t3.saturating_sub(t2));
        r.map_err(|e| CliError::failed(format!("{name}: {e}")))?;
        if let Some(opts) = &opts {
            let b = bench_real(exe, &w, opts).map_err(replay_error)?;
            real_runs.push(b);
        }
    }
    if let Some(s) = spin {
        s.finish_and_clear();
    }
    let per_op = |ns: f64| if ops == 0 { 0.0 } else { ns / ops as f64 };
    let sim_ns = per_op(median(sim.iter().map(|&n| n as f64)));
    let real_cpu: Vec<u64> = real_runs.iter().map(|b| b.cpu_ns).collect();
    let real_ns =
        (!real_cpu.is_empty()).then(|| per_op(median(real_cpu.iter().map(|&n| n as f64))));
    let faults: Vec<u64> = real_runs.iter().map(|b| b.minor_faults).collect();
    Ok(Row {
        name,
        ops,
        load_ns_per_op: round(per_op(load_ns as f64), 1),
        sim_ns_per_op: round(sim_ns, 1),
        real_ns_per_op: real_ns.map(|r| round(r, 1)),
        ratio: real_ns.filter(|&r| r > 0.0).map(|r| round(sim_ns / r, 2)),
        sim_cpu_ns: sim,
        real_cpu_ns: real_cpu,
        real_minor_faults: (!faults.is_empty())
            .then(|| median(faults.iter().map(|&n| n as f64)) as u64),
        sim_host_bytes: sim_memory,
        sim_host_bytes_per_block: sim_memory
            .zip(live)
            .map(|(b, n)| round(b as f64 / n as f64, 1)),
    })
}

/// The `--live N` workload: `churn` around N live blocks, 8*N calls (or `--ops`).
fn live_set(n: u64, src: &Source) -> CliResult<Workload> {
    let ops = src.ops.unwrap_or(n.saturating_mul(8));
    if ops > src.max_ops {
        return Err(CliError::usage(format!(
            "--live {n}: {ops} ops is over the limit of {} (raise it with --max-ops)",
            src.max_ops
        )));
    }
    let params = ChurnParams {
        ops,
        live_blocks: n,
        ..ChurnParams::default()
    };
    let mut w = params
        .generate(src.seed)
        .map_err(|e| CliError::usage(format!("--live {n}: {e}")))?;
    w.name = format!("churn live={n}");
    Ok(w)
}

/// The median of `xs` (the mean of the two middle values for an even count; 0 for
/// none).
pub(crate) fn median(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = xs.into_iter().collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The geometric mean of positive numbers: the mean of ratios that neither a very
/// large nor a very small one dominates.
fn geomean(xs: &[f64]) -> f64 {
    let logs: f64 = xs.iter().map(|x| x.ln()).sum();
    round((logs / xs.len() as f64).exp(), 2)
}

fn round(x: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x * m).round() / m
}

fn table(
    args: &BenchArgs,
    real: Option<Strategy>,
    rows: &[Row],
    geomean: Option<f64>,
    host_peak_rss: u64,
    cpu: Option<usize>,
) -> String {
    let real_title = match real {
        Some(s) => format!("real {} ns/op", s.name()),
        None => "real ns/op".to_string(),
    };
    let sim_title = format!("sim {} ns/op", args.allocator);
    let mut t = Table::new(&[
        "ops stream",
        "ops",
        "load ns/op",
        &sim_title,
        &real_title,
        "ratio",
    ]);
    let dash = || "-".to_string();
    for r in rows {
        t.row(vec![
            r.name.clone(),
            r.ops.to_string(),
            format!("{:.1}", r.load_ns_per_op),
            format!("{:.1}", r.sim_ns_per_op),
            r.real_ns_per_op.map_or_else(dash, |v| format!("{v:.1}")),
            r.ratio.map_or_else(dash, |v| format!("{v:.2}")),
        ]);
    }
    if let Some(g) = geomean {
        t.row(vec![
            "geometric mean".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            format!("{g:.2}"),
        ]);
    }
    let mut out = t.render();
    for r in rows {
        if let (Some(b), Some(per)) = (r.sim_host_bytes, r.sim_host_bytes_per_block) {
            out.push_str(&format!(
                "{}: the simulator's host memory grew by {} during its first run, {per:.1} \
                 bytes per live block (peak resident memory from before the run, the op \
                 stream already loaded)\n",
                r.name,
                units::bytes(b)
            ));
        }
    }
    out.push_str(&format!(
        "CPU time (user + system), medians of {} repetitions{}{}; {}; trace \
         loading out of both sides (load column); real: a fresh process per repetition; \
         host peak RSS {}\n",
        args.reps,
        if real.is_some() { ", alternating" } else { "" },
        match cpu {
            Some(c) => format!(" on CPU {c}"),
            None => String::new(),
        },
        if args.no_write {
            "neither side writes the blocks"
        } else {
            "both sides write every allocated byte"
        },
        units::bytes(host_peak_rss)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_geometric_means() {
        assert_eq!(median([5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median([]), 0.0);
        assert_eq!(geomean(&[2.0, 8.0]), 4.0);
        assert_eq!(geomean(&[1.0, 1.0, 1.0]), 1.0);
    }

    #[test]
    fn all_finds_the_projects_traces_in_name_order() {
        let traces = shipped_traces().unwrap();
        assert!(
            traces.iter().any(|p| p.ends_with("python3-json.trace")),
            "{traces:?}"
        );
        let own: Vec<_> = traces
            .iter()
            .filter(|p| p.to_string_lossy().contains("crates/workload/traces"))
            .collect();
        let mut sorted = own.clone();
        sorted.sort();
        assert_eq!(own, sorted);
    }
}
