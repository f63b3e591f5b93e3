//! The default command: simulate one op stream through several allocators and compare.

use crate::choice::{self, Choice};
use crate::cli::{Format, RunArgs};
use crate::error::{CliError, CliResult};
use crate::output::{RunDir, Table, bytes, emit, nanos, progress};
use crate::report;
use crate::source;
use engine::{Outcome, RunConfig, RunResult, Summary, Timeline};
use kernel::{KernelConfig, Syscall};
use lab::experiments::{Csv, fixed, timelines_csv};
use lab::registry;
use serde::Serialize;
use std::fmt::Write as _;

/// The allocators compared when `--allocator` is not given.
pub const DEFAULT_ALLOCATORS: &[&str] = &["glibc", "best-fit", "mmap"];

/// What summary.json holds.
#[derive(Serialize)]
struct SummaryFile<'a> {
    workload: &'a str,
    seed: Option<u64>,
    ops: usize,
    cost_model: &'a kernel::CostModel,
    /// Each run's allocator and the options it was built with, in run order.
    allocators: Vec<AllocatorRecord>,
    runs: Vec<&'a Summary>,
}

/// An allocator as summary.json records it: its label (the name of its run), its
/// registry name and every option it was given (its own and the `--tunable`s it takes).
#[derive(Serialize)]
struct AllocatorRecord {
    label: String,
    allocator: String,
    options: std::collections::BTreeMap<String, String>,
}

/// Runs `sim [--workload|--trace] ...`.
pub fn run(args: &RunArgs) -> CliResult {
    // Check everything the user gave before any work or any write; an output
    // directory the user named first of all, before the workload is even generated.
    let named_out = match &args.out {
        Some(dir) => Some(RunDir::prepare(dir, args.force, "--out")?),
        None => None,
    };
    // The sampling bound can be checked at once from --ops (generators make about
    // that many ops, traces are cut to it), before generating anything.
    if let (Some(ops), Some(every)) = (args.source.ops, args.sample_every)
        && every > 0
        && ops / every > args.max_samples
    {
        return Err(samples_error(ops, every, ops / every, args.max_samples, 0));
    }
    let loaded = source::load_for_run(&args.source, args.stream)?;
    let w = &loaded.workload;
    let settings = source::settings(&args.tunables)?;
    let cost = source::cost_model(args.cost.as_deref())?;
    let choices: Vec<Choice> = if args.allocator.is_empty() {
        DEFAULT_ALLOCATORS
            .iter()
            .map(|s| Choice::plain(s))
            .collect()
    } else {
        choice::parse(&args.allocator)?
    };
    choice::check(&choices)?;
    let labels: Vec<String> = choices.iter().map(|c| c.label.clone()).collect();
    if args.sample_every == Some(0) {
        return Err(CliError::usage("--sample-every must be at least 1"));
    }
    check_samples(&loaded, args.sample_every, args.max_samples)?;
    let refs: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
    source::check_settings(&refs, &settings)?;
    let mut allocators = Vec::new();
    for c in &choices {
        let a = registry::build(&c.name, &c.settings(&settings)).map_err(|e| {
            // The registry's message names the allocator; name the entry when the
            // user's label says more (its own options).
            if c.label == c.name {
                CliError::usage(e.to_string())
            } else {
                CliError::usage(format!("--allocator {}: {e}", c.label))
            }
        })?;
        allocators.push(a);
    }
    let config = RunConfig {
        kernel: KernelConfig {
            cost: cost.clone(),
            ..KernelConfig::default()
        },
        sample_every: args.sample_every.unwrap_or(0),
        // Heap maps keep every block at every sample: only for small runs.
        heap_maps: !args.no_svg && loaded.ops() <= HEAP_MAP_MAX_OPS,
        ..RunConfig::default()
    };
    // Before any simulation: the output directory can be written (exit 2 if not).
    let run_dir = match named_out {
        Some(d) => d,
        // The default directory is sim's own (under target/brkmap): replaced freely.
        None => RunDir::prepare(&source::default_out(&source::leaf_name(w)), true, "--out")?,
    };
    let cost_name = match &args.cost {
        Some(p) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "custom".into()),
        None => "default costs".to_string(),
    };

    // One run of the ops through an allocator: from memory, or streamed from the file.
    let go = |a, observe: &mut dyn FnMut(&engine::Step)| -> CliResult<RunResult> {
        let r = match loaded.stream()? {
            None => engine::run_observed(w, a, &config, observe),
            Some(ops) => engine::run_stream(w, loaded.ops(), ops, a, &config, observe),
        };
        r.map_err(source::run_error)
    };
    let mut results: Vec<RunResult> = Vec::new();
    let n = loaded.ops();
    let bar = if args.verbose {
        None
    } else {
        progress(n * allocators.len() as u64, "simulating")
    };
    let mut recorded = Vec::new();
    let base = config.kernel.heap_start;
    // The verbose log goes out op by op, as the run goes: on stdout under a table, on
    // stderr when stdout carries JSON or CSV (so that stays machine-readable).
    let to_stderr = args.format != Format::Table;
    let say = |text: &str| {
        if to_stderr {
            eprint!("{text}");
        } else {
            emit(text);
        }
    };
    for (k, (c, a)) in choices.iter().zip(allocators).enumerate() {
        if args.verbose {
            say(&format!("== {} ==\n", c.label));
            if c.name == "glibc" {
                say(
                    "(pointers: decimal offsets from the heap start; bins: chunk offsets in hex, \
                     a chunk's payload is 0x10 after it)\n",
                );
            }
        }
        if let Some(b) = &bar {
            b.set_message(c.label.clone());
        }
        // report.html's states are recorded as the run goes.
        let mut recorder = report::Recorder::for_ops(n, base);
        let mut line = String::new();
        let r = go(a, &mut |step| {
            if args.verbose {
                line.clear();
                verbose_line(step, base, &mut line);
                say(&line);
            }
            // A tick per 4096 ops: the bar costs nothing measurable.
            if let Some(b) = &bar
                && step.index % 4096 == 4095
            {
                b.inc(4096);
            }
            recorder.observe(step);
        });
        if args.verbose {
            say("\n");
        }
        if let Some(b) = &bar {
            b.set_position((k as u64 + 1) * n);
        }
        let mut r = r?;
        // The run is called what the user wrote, so two glibc rows stay apart.
        r.summary.allocator = c.label.clone();
        r.timeline.allocator = c.label.clone();
        // The peaks' states come from a second run over the ops in memory; a streamed
        // trace's report shows the evenly spaced states only.
        if loaded.stream.is_none() {
            let build =
                || registry::build(&c.name, &c.settings(&settings)).map_err(|e| e.to_string());
            recorder
                .capture_peaks(w, build, &config)
                .map_err(CliError::failed)?;
        }
        recorded.push(recorder.finish(&r.summary.allocator));
        results.push(r);
    }

    // Under the table: the options each allocator ran with (its own and --tunables).
    let option_lines: Vec<String> = choices
        .iter()
        .filter_map(|c| {
            let set = c.settings(&settings);
            (!set.is_empty()).then(|| {
                let kv: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("options   {}: {}", c.label, kv.join(" "))
            })
        })
        .collect();
    let summary = SummaryFile {
        workload: &w.name,
        seed: w.seed,
        ops: loaded.ops() as usize,
        cost_model: &cost,
        allocators: choices
            .iter()
            .map(|c| AllocatorRecord {
                label: c.label.clone(),
                allocator: c.name.clone(),
                options: c.settings(&settings).into_iter().collect(),
            })
            .collect(),
        runs: results.iter().map(|r| &r.summary).collect(),
    };
    let mut json = serde_json::to_string_pretty(&summary)
        .map_err(|e| CliError::failed(format!("cannot encode the summary: {e}")))?;
    json.push('\n');
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let charts = if args.no_svg {
        Vec::new()
    } else {
        charts(&results, &cost_name)?
    };
    let page = report::Page {
        title: heading(&loaded).trim().to_string(),
        setup: format!("allocators {} · cost model {cost_name}", labels.join(", ")),
        table: table_cells(&results),
        notes: notes(&results, &option_lines),
        charts: &charts,
    };
    let report_html = report::html(&page, recorded).map_err(CliError::failed)?;
    // Every file into the staging directory, then the whole run into place.
    run_dir.write("summary.json", json.as_bytes())?;
    run_dir.write("timeline.csv", timeline_csv(&results).as_bytes())?;
    let mut written = vec![
        run_dir.final_path("summary.json"),
        run_dir.final_path("timeline.csv"),
    ];
    for (name, svg) in &charts {
        run_dir.write(name, svg.as_bytes())?;
        written.push(run_dir.final_path(name));
    }
    run_dir.write("report.html", report_html.as_bytes())?;
    written.push(run_dir.final_path("report.html"));
    run_dir.commit()?;

    match args.format {
        Format::Table => {
            let mut text = heading(&loaded);
            text.push_str(&table(&results));
            for note in notes(&results, &option_lines) {
                text.push_str(&note);
                text.push('\n');
            }
            text.push('\n');
            for p in &written {
                let _ = writeln!(text, "wrote {}", p.display());
            }
            emit(&text);
        }
        Format::Json => {
            emit(&json);
            for p in &written {
                eprintln!("wrote {}", p.display());
            }
        }
        Format::Csv => {
            emit(&summary_csv(&results));
            for p in &written {
                eprintln!("wrote {}", p.display());
            }
        }
    }
    Ok(())
}

/// Refuses, before any work, a run that would keep more than `max` samples: one
/// every `every` ops (the engine's default keeps about 1000), one at every phase
/// marker, the first and the last.
fn check_samples(loaded: &source::Loaded, every: Option<u64>, max: u64) -> CliResult {
    let ops = loaded.ops();
    // A streamed trace is a .rep file: no phase markers.
    let phases = loaded
        .workload
        .ops
        .iter()
        .filter(|o| matches!(o, workload::Op::Phase { .. }))
        .count() as u64;
    let every_n = every.unwrap_or((ops / 1000).max(1));
    let samples = ops / every_n + phases + 2;
    if samples <= max {
        return Ok(());
    }
    Err(samples_error(ops, every_n, samples, max, phases))
}

/// The message of a run over the sample limit, with the interval that would fit.
fn samples_error(ops: u64, every: u64, samples: u64, max: u64, phases: u64) -> CliError {
    let room = max.saturating_sub(phases + 2).max(1);
    let fits = ops.div_ceil(room).max(1);
    CliError::usage(format!(
        "--sample-every {every} over {ops} ops would keep {samples} samples, over the limit of \
         {max}: sample every {fits} ops or more, or raise --max-samples"
    ))
}

/// One op of the verbose log, then the allocator's own view of its free memory.
fn verbose_line(step: &engine::Step, heap_start: u64, log: &mut String) {
    use workload::Op;
    let at = |p: u64| {
        if p >= heap_start && p < step.kernel.program_break() {
            format!("{}", p - heap_start)
        } else {
            format!("{p:#x} (mapped)")
        }
    };
    let line = match (step.op, step.ptr) {
        (Op::Malloc { id, size }, Some(p)) => {
            format!("ptr[{id}] = Alloc({size}) returned {}", at(p))
        }
        (Op::Realloc { id, size }, Some(p)) => {
            format!("ptr[{id}] = Realloc(ptr[{id}], {size}) returned {}", at(p))
        }
        (Op::Free { id }, _) => format!("Free(ptr[{id}])"),
        (Op::Trim { pad }, _) => format!("Trim({pad})"),
        (
            Op::Touch {
                id,
                offset,
                len,
                write,
            },
            _,
        ) => format!(
            "{}(ptr[{id}] + {offset}, {len})",
            if *write { "Write" } else { "Read" }
        ),
        (Op::Phase { name }, _) => format!("-- phase {name} --"),
        (op, None) => format!("{op:?}"),
    };
    let _ = writeln!(log, "{line}");
    if !matches!(step.op, Op::Phase { .. } | Op::Touch { .. })
        && let Some(d) = step.allocator.describe()
    {
        let _ = writeln!(log, "{d}");
    }
}

/// Runs with at most this many ops also get a heap map per allocator.
const HEAP_MAP_MAX_OPS: u64 = 20_000;

/// The charts of a run: (file name, SVG).
fn charts(results: &[RunResult], cost_name: &str) -> CliResult<Vec<(String, String)>> {
    let summaries: Vec<Summary> = results.iter().map(|r| r.summary.clone()).collect();
    let title = plot::ChartTitle::from_summaries(&summaries, cost_name);
    let timelines: Vec<engine::Timeline> = results.iter().map(|r| r.timeline.clone()).collect();
    let style = plot::Style::default();
    let fail = |what: &str, e: plot::PlotError| {
        CliError::failed(format!("cannot draw the {what} chart: {e}"))
    };
    let mut out = vec![
        (
            "timeline.svg".to_string(),
            plot::timeline_chart(&title, &timelines, &style).map_err(|e| fail("timeline", e))?,
        ),
        (
            "fragmentation.svg".to_string(),
            plot::fragmentation_chart(&title, &timelines, &style)
                .map_err(|e| fail("fragmentation", e))?,
        ),
        (
            "returned.svg".to_string(),
            plot::returned_chart(&title, &timelines, &style).map_err(|e| fail("returned", e))?,
        ),
        (
            "cost.svg".to_string(),
            plot::cost_chart(&title, &summaries, &style).map_err(|e| fail("cost", e))?,
        ),
    ];
    for r in results {
        if r.heap_maps.is_empty() {
            continue;
        }
        let name = &r.summary.allocator;
        let svg = plot::heap_map_chart(&title, name, &r.heap_maps, &style)
            .map_err(|e| fail("heap map", e))?;
        out.push((format!("heapmap-{name}.svg"), svg));
    }
    Ok(out)
}

fn heading(loaded: &source::Loaded) -> String {
    let w = &loaded.workload;
    let what = match w.seed {
        Some(seed) => format!("workload {} (seed {seed})", w.name),
        None => format!("trace {}", w.name),
    };
    if loaded.stream.is_some() {
        // A .rep trace holds allocator calls only.
        return format!("{what}: {} allocator calls (streamed)\n\n", loaded.ops());
    }
    // The table counts allocator calls; say what the other ops of the stream are.
    let (mut calls, mut touches, mut phases) = (0, 0, 0);
    for op in &w.ops {
        match op {
            workload::Op::Touch { .. } => touches += 1,
            workload::Op::Phase { .. } => phases += 1,
            _ => calls += 1,
        }
    }
    let mut extra = Vec::new();
    if touches > 0 {
        extra.push(format!("{touches} touches"));
    }
    if phases > 0 {
        extra.push(format!(
            "{phases} phase marker{}",
            if phases == 1 { "" } else { "s" }
        ));
    }
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" (and {})", extra.join(", "))
    };
    format!("{what}: {calls} allocator calls{extra}\n\n")
}

fn table(results: &[RunResult]) -> String {
    let (header, rows) = table_cells(results);
    let mut t = Table::new(&header);
    for row in rows {
        t.row(row);
    }
    t.render()
}

/// The comparison table's header and cells (the terminal and report.html show them).
fn table_cells(results: &[RunResult]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "allocator",
        "calls",
        "peak live",
        "peak footprint",
        "peak RSS",
        "frag_max",
        "brk",
        "mmap",
        "munmap",
        "madvise",
        "faults",
        "returned",
        "time/op",
    ];
    let mut rows = Vec::new();
    for r in results {
        let s = &r.summary;
        rows.push(vec![
            s.allocator.clone(),
            s.ops.to_string(),
            bytes(s.peak_live),
            bytes(s.peak_footprint),
            bytes(s.peak_rss),
            units::ratio(s.frag_max),
            s.syscall(Syscall::Brk).to_string(),
            s.syscall(Syscall::Mmap).to_string(),
            s.syscall(Syscall::Munmap).to_string(),
            s.syscall(Syscall::Madvise).to_string(),
            s.minor_faults.to_string(),
            bytes(s.returned.total()),
            nanos(s.ns_per_op),
        ]);
    }
    (header, rows)
}

/// Lines under the table: runs that stopped early, and what the columns mean.
fn notes(results: &[RunResult], options: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in results {
        match &r.summary.outcome {
            Outcome::Completed => {}
            Outcome::OutOfMemory { op, detail } => out.push(format!(
                "note: {} ran out of memory at op {op} ({detail}); its row covers the ops before",
                r.summary.allocator
            )),
            Outcome::Segv { op, detail } => out.push(format!(
                "note: {} stopped at op {op}: {detail}",
                r.summary.allocator
            )),
        }
    }
    out.push(String::new());
    out.extend(options.iter().cloned());
    out.push("frag_max  (max footprint - max live) / max live".to_string());
    out.push("returned  bytes given back to the OS: brk shrink + munmap + madvise".to_string());
    out.push(
        "time/op   simulated time per allocator call, syscalls and faults included".to_string(),
    );
    out
}

/// One CSV row per run: the summary's numbers, in the order of the header.
fn summary_csv(results: &[RunResult]) -> String {
    let mut header: Vec<&str> = vec![
        "allocator",
        "workload",
        "seed",
        "outcome",
        "ops",
        "peak_live",
        "peak_footprint",
        "peak_allocated",
        "peak_rss",
        "peak_mapped",
        "frag_max",
        "frag_peak",
    ];
    header.extend(Syscall::ALL.iter().map(|c| c.name()));
    header.extend([
        "minor_faults",
        "tlb_misses",
        "returned_brk",
        "returned_munmap",
        "returned_madvise",
        "time_ns",
        "ns_per_op",
    ]);
    let mut csv = Csv::new(&header);
    for r in results {
        let x = &r.summary;
        let outcome = match x.outcome {
            Outcome::Completed => "completed",
            Outcome::OutOfMemory { .. } => "out_of_memory",
            Outcome::Segv { .. } => "segv",
        };
        let mut cells = vec![
            x.allocator.clone(),
            x.workload.clone(),
            x.seed.map(|v| v.to_string()).unwrap_or_default(),
            outcome.to_string(),
            x.ops.to_string(),
            x.peak_live.to_string(),
            x.peak_footprint.to_string(),
            x.peak_allocated.to_string(),
            x.peak_rss.to_string(),
            x.peak_mapped.to_string(),
            fixed(x.frag_max, 4),
            fixed(x.frag_peak, 4),
        ];
        cells.extend(Syscall::ALL.iter().map(|&c| x.syscall(c).to_string()));
        cells.extend([
            x.minor_faults.to_string(),
            x.tlb_misses.to_string(),
            x.returned.brk.to_string(),
            x.returned.munmap.to_string(),
            x.returned.madvise.to_string(),
            fixed(x.time_ns, 1),
            fixed(x.ns_per_op, 2),
        ]);
        csv.row(&cells);
    }
    csv.finish()
}

/// The timeline of every run in one CSV (the book's timeline format: the `series`
/// column names the allocator).
pub fn timeline_csv(results: &[RunResult]) -> String {
    let timelines: Vec<&Timeline> = results.iter().map(|r| &r.timeline).collect();
    timelines_csv(&timelines)
}
