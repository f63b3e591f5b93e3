//! The command line, declared with clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  sim --workload churn                       compare the default allocators on churn
  sim --workload ramp --allocator glibc,first-fit --seed 3
  sim -w churn -a 'glibc,glibc[mmap_threshold=64K],first-fit[order=lifo]'
  sim --trace my.rep --allocator glibc       replay a CS:APP trace
  sim --workload churn --format json         the summary as JSON on stdout
  sim list                                   every workload and allocator
  sim compare target/brkmap/churn-seed1 target/brkmap/churn-seed2
                                             two runs, metric by metric
  sim compare run/summary.json:glibc run/summary.json:mmap --out cmp
  sim replay --trace t.rep --real --emit-ops real.csv
  sim kernel --script s.ks                   a kernel script's rows (KERNEL-SCRIPTS.md)
  sim kernel --script s.ks --real --emit-rows real.csv   the same on this machine's kernel
  sim record -- ls -R /usr/share/doc         trace a real program's mallocs (ls.trace)
  sim calibrate --quick                      measure this machine's costs
  sim bench --all                            simulator vs real glibc, ns per op
  sim validate --workload churn --allocator mmap
  sim figures                                regenerate the book's figures and data
  sim figures --check                        fail if a committed figure is stale
  sim quiz paging --seed 4                   a quiz; add --answers for the answers
  sim quiz freelist --ostep -n 10 -s 2 -c    OSTEP's malloc.py, byte for byte
  sim step --workload churn --allocator glibc   one op per Enter, in front of a class
  sim grade --allocator student              score the classroom allocator
  sim grade -a student -f gradescope -o results.json   for a course autograder";

const STEP_COMMANDS: &str = "\
Commands (one a line, from stdin or --script):
  Enter, n    run the next op
  n N         run the next N ops
  until N     run until op N has run
  peak        run to the op after which the footprint is at its peak
  h           list the commands
  q           quit (so does the end of the input)
After each command: the op(s), the heap map, the free list (or glibc's tcache,
fastbins and bins), the VMAs, RSS and the footprint.";

/// brkmap: see where memory comes from (brk, mmap, malloc) and when it goes back.
///
/// Without a subcommand, `sim` simulates a workload or a trace through one or more
/// allocators on a simulated Linux-like kernel, prints a comparison table and writes
/// summary.json, timeline.csv, charts and report.html (the heap op by op) to the output
/// directory.
#[derive(Debug, Parser)]
#[command(name = "sim", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A subcommand; without one, `sim` runs a simulation.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// What to simulate and how.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the workloads and allocators with one-line descriptions.
    List,
    /// Replay ops through the simulator or the real libc and write per-op rows.
    Replay(ReplayArgs),
    /// Measure this machine's syscall, fault and context-switch costs.
    Calibrate(CalibrateArgs),
    /// Run the simulation and the real replay of the same ops side by side.
    Validate(ValidateArgs),
    /// Regenerate the book's figures, tables and notebook data (or check them).
    Figures(FiguresArgs),
    /// A seeded quiz (freelist, paging, tlb, glibc, kernel) with answers computed by
    /// the simulator; `freelist --ostep` speaks OSTEP's malloc.py.
    Quiz(QuizArgs),
    /// Step through a workload one op at a time, showing the heap after each.
    #[command(after_help = STEP_COMMANDS)]
    Step(StepArgs),
    /// Run a program and record its malloc, calloc, realloc, free and aligned
    /// allocations as a trace.
    Record(crate::record::RecordArgs),
    /// Time the simulator against the real glibc on the same ops (CPU time per op).
    Bench(crate::bench::BenchArgs),
    /// Compare two runs metric by metric (A, B, B - A, B / A), and overlay their
    /// timelines.
    ///
    /// A and B are each a run directory (what `sim` wrote: summary.json, timeline.csv)
    /// or a summary.json, optionally followed by `:ALLOCATOR` to pick one of the
    /// allocators it holds. Both sides naming one compares those two (`run:glibc
    /// run:mmap` compares two allocators of one run); one side naming one compares that
    /// allocator on both sides; otherwise every allocator the two have in common is
    /// compared with the same-named one. Metrics that are 0 in both runs are left out
    /// of the table (JSON and CSV list every metric).
    Compare(CompareArgs),
    /// Run a kernel script on the simulated kernel, or with --real on this machine's:
    /// one row per line (mappings, RssAnon, page tables, faults), row for row the same.
    Kernel(KernelArgs),
    /// Grade an allocator on the grading set: every trace replayed and checked after
    /// every op (alignment, overlap, memory, contents, realloc, the allocator's own
    /// check_heap), scored for utilization and simulated throughput against glibc.
    Grade(GradeArgs),
}

/// Output formats of `sim grade`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum GradeFormat {
    /// A table per trace, the failures, the total and the formula.
    Table,
    /// Every measurement as JSON.
    Json,
    /// The `results.json` of a Gradescope autograder (score, tests, output).
    Gradescope,
}

/// Arguments of `sim grade`.
#[derive(Debug, Args)]
pub struct GradeArgs {
    /// The allocator to grade (see `sim list`; `student` is the classroom one).
    #[arg(long, short = 'a', value_name = "NAME")]
    pub allocator: Option<String>,
    /// An allocator option `NAME=VALUE`, as for a simulation run; repeatable.
    #[arg(long = "tunable", value_name = "NAME=VALUE")]
    pub tunables: Vec<String>,
    /// A directory of traces to grade with instead of the built-in set: its `set.json`
    /// lists them with weights; without one every .trace and .rep file weighs 1.
    #[arg(long, value_name = "DIR")]
    pub traces: Option<PathBuf>,
    /// What to print.
    #[arg(long, short = 'f', value_enum, default_value_t = GradeFormat::Table)]
    pub format: GradeFormat,
    /// Write the output here (atomically) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the instructors' answer key of the book's assignments (Markdown: the
    /// book's Appendix D) instead of grading an allocator.
    #[arg(long, conflicts_with_all = ["allocator", "traces", "answers", "tunables", "format"])]
    pub key: bool,
    /// Check the answers in FILE (lines `NAME = VALUE`, the names of Appendix D's last
    /// table) instead of grading an allocator.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["allocator", "traces", "tunables"])]
    pub answers: Option<PathBuf>,
}

/// Arguments of `sim kernel`.
#[derive(Debug, Args)]
pub struct KernelArgs {
    /// The kernel script (see KERNEL-SCRIPTS.md: `map a 1M rw`, `touch a 0 64K w`, ...).
    #[arg(long, value_name = "FILE")]
    pub script: PathBuf,
    /// Write the rows as CSV here (atomically) instead of printing them as a table.
    #[arg(long, value_name = "OUT.csv")]
    pub emit_rows: Option<PathBuf>,
    /// Run the script on this machine's real kernel (in a fresh child process laid out
    /// as the simulated one) instead of the simulated kernel.
    #[arg(long)]
    pub real: bool,
}

/// Where the ops come from.
#[derive(Debug, Args, Clone)]
pub struct Source {
    /// A named workload generator (see `sim list`).
    #[arg(long, short = 'w', value_name = "NAME", conflicts_with = "trace")]
    pub workload: Option<String>,
    /// A trace file: CS:APP `.rep` or brkmap's native format.
    #[arg(long, short = 't', value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// The generator's seed.
    #[arg(long, short = 's', default_value_t = 1)]
    pub seed: u64,
    /// How many ops to generate (a trace is cut to its first N ops).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub ops: Option<u64>,
    /// A parameter of the workload generator, `NAME=VALUE` (repeatable; `sim list`
    /// shows each generator's parameters and defaults): `--param keep_every=3
    /// --param big_sizes=128-1K`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// The most ops a workload or trace may have (a limit that keeps the host's
    /// memory bounded: every op is held in memory). A simulation run streams a `.rep`
    /// trace of 16 MiB or more instead (see --stream), and this limit does not apply.
    /// At most 200,000,000: held in memory, more would not fit a 24 GiB machine.
    #[arg(long, value_name = "N", default_value_t = 100_000_000,
          value_parser = clap::value_parser!(u64).range(1..=200_000_000))]
    pub max_ops: u64,
    /// The largest trace file read whole (sizes such as 64M or 2G); a streamed `.rep`
    /// trace may be larger.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = size_arg)]
    pub max_trace_size: u64,
}

/// A byte count as `units::parse_size` reads it (`4096`, `0x1000`, `64K`, `1.5M`).
pub fn size_arg(text: &str) -> Result<u64, String> {
    units::parse_size(text).map_err(|e| e.to_string())
}

/// Output formats of the summary on stdout.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table for people.
    Table,
    /// The summary as JSON (the same as summary.json).
    Json,
    /// The summary as CSV, one row per allocator.
    Csv,
}

/// Arguments of a simulation run.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Where the ops come from.
    #[command(flatten)]
    pub source: Source,
    /// Allocators to compare, comma separated (see `sim list`), each with options of
    /// its own in brackets: `glibc,glibc[mmap_threshold=64K],first-fit[order=lifo]`.
    /// Each row is labelled as written.
    #[arg(long, short = 'a', value_name = "A,B[K=V,...],...")]
    pub allocator: Vec<String>,
    /// An allocator option `NAME=VALUE` (glibc tunables such as mmap_threshold=65536,
    /// free-list settings such as order=lifo); repeatable; applies to every listed
    /// allocator that takes the name (an option in an entry's brackets wins).
    #[arg(long = "tunable", value_name = "NAME=VALUE")]
    pub tunables: Vec<String>,
    /// A cost model JSON (as written by `sim calibrate`) instead of the defaults.
    #[arg(long, value_name = "FILE")]
    pub cost: Option<PathBuf>,
    /// The output directory (default: `target/brkmap/WORKLOAD-seedN` in the workspace).
    /// A run replaces it as a whole; a directory sim did not write is replaced only
    /// with --force.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the output directory even when it holds files sim did not write.
    #[arg(long)]
    pub force: bool,
    /// What to print on stdout.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Do not draw SVG charts.
    #[arg(long)]
    pub no_svg: bool,
    /// Print every op and the allocator's free list after it (OSTEP malloc.py style),
    /// to check homework answers by hand. Addresses are offsets from the heap start.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Read a `.rep` trace one op at a time as each allocator runs it, never holding it
    /// whole (the default for .rep traces of 16 MiB or more): memory for the live
    /// blocks, not for the ops. An invalid line then stops the run where it is met.
    #[arg(long)]
    pub stream: bool,
    /// Sample the metrics every N ops (default: about 1000 samples per run).
    #[arg(long, value_name = "N")]
    pub sample_every: Option<u64>,
    /// The most samples a run may keep (each holds every metric; with
    /// `--sample-every 1` a long run would need gigabytes). Past it, the run is
    /// refused with the sampling interval that fits.
    /// At most 5,000,000 (about 1.5 GiB of samples).
    #[arg(long, value_name = "N", default_value_t = 200_000,
          value_parser = clap::value_parser!(u64).range(1..=5_000_000))]
    pub max_samples: u64,
}

/// Arguments of `sim replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Where the ops come from.
    #[command(flatten)]
    pub source: Source,
    /// Replay through the real libc of this machine instead of the simulator.
    #[arg(long, conflicts_with = "allocator")]
    pub real: bool,
    /// With --real: `glibc` (malloc/free/realloc) or `mmap` (one mapping per block).
    #[arg(long, default_value = "glibc", requires = "real")]
    pub strategy: String,
    /// The simulated allocator to replay through.
    #[arg(long, short = 'a')]
    pub allocator: Option<String>,
    /// Allocator options, as for a simulation run.
    #[arg(long = "tunable", value_name = "NAME=VALUE")]
    pub tunables: Vec<String>,
    /// Write the per-op CSV here.
    #[arg(long, value_name = "FILE")]
    pub emit_ops: PathBuf,
}

/// Arguments of `sim calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Fewer repetitions: finishes in under 20 seconds.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the cost model JSON (default: `target/brkmap/calibration/cost.json`;
    /// a full report is written beside it).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Arguments of `sim validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Where the ops come from.
    #[command(flatten)]
    pub source: Source,
    /// The allocator to check: `glibc` or `mmap` (the two with a real counterpart).
    #[arg(long, short = 'a', default_value = "glibc")]
    pub allocator: String,
    /// A cost model JSON (from `sim calibrate` on this machine).
    #[arg(long, value_name = "FILE")]
    pub cost: Option<PathBuf>,
    /// Every workload generator through both glibc and mmap, one row each: simulated
    /// and real total time and faults (also written to validate-all.csv). --seed,
    /// --ops, --cost and --reps apply to every generator.
    #[arg(long, conflicts_with_all = ["workload", "trace", "params", "allocator"])]
    pub all: bool,
    /// Timed real runs (fresh processes, nothing observed but the CPU clock): the real
    /// total is the fastest of them (a busy machine only ever adds time), and as many
    /// runs again that also read the clock at every sample give the real timeline (the
    /// fastest at each sample).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub reps: u32,
    /// The output directory: both timelines and their chart, or with --all
    /// validate-all.csv (replaced as a whole, as a run's).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the output directory even when it holds files sim did not write.
    #[arg(long)]
    pub force: bool,
}

/// Output formats of `sim compare`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// An aligned table per pair of allocators: metric, A, B, B - A, B / A.
    Table,
    /// Every metric of every pair as JSON (ratio null where A is 0).
    Json,
    /// One CSV row per pair and metric.
    Csv,
}

/// Arguments of `sim compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run A: DIR, DIR/summary.json, or either followed by :ALLOCATOR.
    #[arg(value_name = "A")]
    pub a: String,
    /// Run B, the same way; differences and ratios are B's against A's.
    #[arg(value_name = "B")]
    pub b: String,
    /// What to print on stdout.
    #[arg(long, short = 'f', value_enum, default_value_t = CompareFormat::Table)]
    pub format: CompareFormat,
    /// Also draw each pair's timelines overlaid (A solid, B dashed) into DIR, as
    /// compare-NAME.svg; needs the timeline.csv beside each summary.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Arguments of `sim figures`.
#[derive(Debug, Args)]
pub struct FiguresArgs {
    /// Write nothing; fail, naming each file, when a committed figure, table or data
    /// file is missing, differs from what the code produces, or belongs to no experiment.
    #[arg(long, conflicts_with = "real")]
    pub check: bool,
    /// First measure this machine for the experiments that show real runs and rewrite
    /// their snapshots (notebooks-data/*.real.csv).
    #[arg(long)]
    pub real: bool,
    /// Only this experiment (see notebooks-data/README.md for the names).
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
    /// The source tree to write into [default: the workspace sim was built from].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// Output formats of a quiz.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum QuizFormat {
    /// Text for an 80-column terminal.
    Text,
    /// JSON (schema `brkmap-quiz/1`, for importing into a course site).
    Json,
}

/// Arguments of `sim quiz`.
#[derive(Debug, Args)]
pub struct QuizArgs {
    /// The kind of quiz: freelist, paging, tlb, glibc or kernel.
    pub kind: String,
    /// The seed: the same seed gives the same quiz [default: 1].
    #[arg(long, short = 's')]
    pub seed: Option<u64>,
    /// Print the answers, worked, instead of `?`.
    #[arg(long)]
    pub answers: bool,
    /// Text or JSON.
    #[arg(long, short = 'f', value_enum, default_value_t = QuizFormat::Text)]
    pub format: QuizFormat,
    /// (freelist only) Everything after --ostep is malloc.py's command line (-s -S -b
    /// -H -a -p -l -C -n -r -P -A -c), and the output is exactly malloc.py's.
    #[arg(
        long,
        num_args = 0..,
        allow_hyphen_values = true,
        value_name = "MALLOC.PY FLAGS"
    )]
    pub ostep: Option<Vec<String>>,
}

/// Arguments of `sim step`.
#[derive(Debug, Args)]
pub struct StepArgs {
    /// Where the ops come from.
    #[command(flatten)]
    pub source: Source,
    /// The allocator to watch (see `sim list`).
    #[arg(long, short = 'a', default_value = "glibc")]
    pub allocator: String,
    /// Allocator options, as for a simulation run.
    #[arg(long = "tunable", value_name = "NAME=VALUE")]
    pub tunables: Vec<String>,
    /// Replay the commands of this file (one a line; a blank line is Enter, `#`
    /// starts a comment) instead of reading them from stdin.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
}
