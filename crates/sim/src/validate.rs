//! `sim validate`: the simulation and the real run of the same ops, side by side.
//!
//! The simulator is only worth teaching with if its numbers hold up. This command runs
//! the ops through a simulated allocator and through its real counterpart on this
//! machine (`glibc` → the C library's malloc; `mmap` → one real mapping per block), and
//! prints what each saw with the ratio simulated / real.

use crate::cli::ValidateArgs;
use crate::error::{CliError, CliResult};
use crate::output::{RunDir, Table, bytes, emit, nanos, spinner};
use crate::replay::{replay_error, self_exe};
use crate::source;
use calibrate::replay::{RealBench, RealRun, ReplayOptions, Strategy, bench_real, replay_real};
use engine::{RunConfig, Sample, Timeline};
use kernel::KernelConfig;
use lab::registry;
use std::fmt::Write as _;

/// Samples every this many ops on both sides, so the timelines line up.
const INTERVAL: u64 = 1000;

/// Runs `sim validate`.
pub fn run(args: &ValidateArgs) -> CliResult {
    if args.all {
        return run_all(args);
    }
    // A named output directory is checked before the workload is even generated.
    let named_out = match &args.out {
        Some(dir) => Some(RunDir::prepare(dir, args.force, "--out")?),
        None => None,
    };
    let w = source::load(&args.source)?;
    let cost = source::cost_model(args.cost.as_deref())?;
    let strategy = strategy(&args.allocator)?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| source::default_out(&format!("validate-{}", source::leaf_name(&w))));
    // Before any work: the output directory can be written (exit 2 if not).
    let run_dir = match named_out {
        Some(d) => d,
        // The default directory is sim's own (under target/brkmap): replaced freely.
        None => RunDir::prepare(&out_dir, true, "--out")?,
    };
    let v = validate(&w, &args.allocator, &cost, args.reps)?;
    let (sim, real) = (&v.sim, &v.real);

    let s_last = last(&sim.timeline);
    let r_last = last(&real.timeline);
    let mut t = Table::new(&["measure", "simulated", "real", "sim / real"]);
    let mut count = |name: &str, a: u64, b: u64| {
        t.row(vec![
            name.to_string(),
            a.to_string(),
            b.to_string(),
            ratio(a as f64, b as f64),
        ]);
    };
    for (i, call) in kernel::Syscall::ALL.iter().enumerate() {
        let (a, b) = (s_last.syscalls[i], r_last.syscalls[i]);
        if a > 0 || b > 0 {
            count(&format!("{} calls", call.name()), a, b);
        }
    }
    count("minor faults", s_last.minor_faults, r_last.minor_faults);
    let peak = |tl: &Timeline| tl.samples.iter().map(|s| s.rss).max().unwrap_or(0);
    let (sp, rp) = (peak(&sim.timeline), peak(&real.timeline));
    t.row(vec![
        "peak RSS (at samples)".into(),
        bytes(sp),
        bytes(rp),
        ratio(sp as f64, rp as f64),
    ]);
    t.row(vec![
        "final RSS".into(),
        bytes(s_last.rss),
        bytes(r_last.rss),
        ratio(s_last.rss as f64, r_last.rss as f64),
    ]);
    let (st, rt) = (sim.summary.time_ns, v.fastest() as f64);
    t.row(vec![
        "total time".into(),
        nanos(st),
        nanos(rt),
        ratio(st, rt),
    ]);
    t.row(vec![
        "(replayer's loop, left out)".into(),
        "-".into(),
        nanos(v.real_loop),
        "-".into(),
    ]);

    let csv_name = "validate-timelines.csv";
    let mut files = vec![(csv_name, timelines_csv(&sim.timeline, &real.timeline))];
    let title = plot::ChartTitle::new(w.name.clone())
        .allocators([args.allocator.clone()])
        .cost_model(cost_label(args));
    let title = match w.seed {
        Some(s) => title.seed(s),
        None => title,
    };
    match plot::model_vs_real_chart(
        &title,
        &sim.timeline,
        &real.timeline,
        &plot::Style::default(),
    ) {
        Ok(svg) => files.push(("model-vs-real.svg", svg)),
        Err(e) => return Err(CliError::failed(format!("cannot draw the comparison: {e}"))),
    }
    for (name, text) in &files {
        run_dir.write(name, text.as_bytes())?;
    }
    run_dir.commit()?;

    let mut text = format!(
        "{} ({} ops) through {}: simulated versus real (glibc {})\n\n",
        w.name,
        w.ops.len(),
        args.allocator,
        real.glibc_version
    );
    text.push_str(&t.render());
    if strategy == Strategy::Glibc {
        text.push_str(
            "\nreal syscall counts are inferred from outside (break moves, mallinfo2's mapped \
             chunks); the model also counts libc's first brk(0) query and any madvise, which \
             cannot be seen that way.",
        );
    }
    let _ = write!(
        text,
        "\nreal time is the CPU time (user + system) of the ops alone (allocator calls and \
         the writes of every allocated byte), the fastest of {} that \
         observe nothing else and read the clock only at the start and the end (they took \
         {} to {}: a busy machine only ever adds time; the real timeline is the fastest at \
         each sample of as many runs that also read it there), less the replayer's own \
         loop (decoding the ops, keeping the block table), which each process times in a \
         second pass over the ops without the calls (the fastest of those passes counts); \
         simulated time is the cost model's total.\n\n",
        fresh_processes(args.reps),
        nanos(v.fastest() as f64),
        nanos(v.slowest() as f64)
    );
    for (name, _) in &files {
        let _ = writeln!(text, "wrote {}", out_dir.join(name).display());
    }
    emit(&text);
    Ok(())
}

/// The allocators `sim validate --all` checks: the two with a real counterpart.
const ALL_ALLOCATORS: [&str; 2] = ["glibc", "mmap"];

/// Runs `sim validate --all`: every workload generator through both allocators, one
/// row each, with the simulated and the real total time and the faults of both sides.
///
/// This is the check behind Appendix B's table of time ratios, made one command: a
/// cost model is only as good as its worst workload, and a single validation on a
/// single generator says little about the others (a heap that fits the cache and one
/// that does not are priced differently, and so is a workload of system calls). The
/// rows also go to `validate-all.csv`, so that rounds taken minutes apart, on a host
/// whose other tenants come and go, can be put side by side.
fn run_all(args: &ValidateArgs) -> CliResult {
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| source::default_out("validate-all"));
    let run_dir = match &args.out {
        Some(dir) => RunDir::prepare(dir, args.force, "--out")?,
        None => RunDir::prepare(&out_dir, true, "--out")?,
    };
    let cost = source::cost_model(args.cost.as_deref())?;
    // Every workload is generated (and so checked) before the first real run.
    let mut workloads = Vec::new();
    for g in workload::GENERATORS {
        let src = crate::cli::Source {
            workload: Some(g.name.to_string()),
            ..args.source.clone()
        };
        workloads.push(source::load(&src)?);
    }
    let mut t = Table::new(&[
        "allocator",
        "workload",
        "ops",
        "simulated",
        "real",
        "sim / real",
        "sim faults",
        "real faults",
    ]);
    let mut csv = String::from(
        "allocator,workload,ops,sim_ns,real_ns,ratio,real_slowest_ns,real_loop_ns,sim_minor_faults,real_minor_faults\n",
    );
    let mut ratios = Vec::new();
    let mut glibc_version = String::new();
    let n = ALL_ALLOCATORS.len() * workloads.len();
    for (i, (name, w)) in ALL_ALLOCATORS
        .iter()
        .flat_map(|a| workloads.iter().map(move |w| (*a, w)))
        .enumerate()
    {
        let v = validate(w, name, &cost, args.reps).map_err(|e| CliError {
            message: format!(
                "{} through {name} ({} of {n}): {}",
                w.name,
                i + 1,
                e.message
            ),
            ..e
        })?;
        let (st, rt) = (v.sim.summary.time_ns, v.fastest() as f64);
        let (sf, rf) = (
            last(&v.sim.timeline).minor_faults,
            last(&v.real.timeline).minor_faults,
        );
        if rt > 0.0 {
            ratios.push(st / rt);
        }
        t.row(vec![
            name.to_string(),
            w.name.clone(),
            w.ops.len().to_string(),
            nanos(st),
            nanos(rt),
            ratio(st, rt),
            sf.to_string(),
            rf.to_string(),
        ]);
        let _ = writeln!(
            csv,
            "{name},{},{},{st:.1},{rt:.1},{},{},{:.1},{sf},{rf}",
            w.name,
            w.ops.len(),
            if rt > 0.0 {
                format!("{:.4}", st / rt)
            } else {
                String::new()
            },
            v.slowest(),
            v.real_loop,
        );
        glibc_version = v.real.glibc_version.clone();
    }
    let csv_name = "validate-all.csv";
    run_dir.write(csv_name, csv.as_bytes())?;
    run_dir.commit()?;

    let seed = args.source.seed;
    let mut text = format!(
        "every workload generator (seed {seed}, default parameters) through glibc and mmap: \
         simulated versus real total time ({}; glibc {glibc_version})\n\n",
        cost_label(args)
    );
    text.push_str(&t.render());
    let within = |share: f64| ratios.iter().filter(|r| (*r - 1.0).abs() <= share).count();
    let _ = write!(
        text,
        "\nsim / real: median {}, {} of {} within 25%, {} within 40%\n\
         real time is measured as by `sim validate` of one workload: the fastest of {} \
         (CPU time of the calls and the writes, less the replayer's own \
         loop); a busy minute on the host moves it, so compare rounds a few minutes \
         apart. The real fault count is process-wide and may include a fault or two \
         outside the replayed memory.\n\nwrote {}\n",
        if ratios.is_empty() {
            "-".to_string()
        } else {
            format!("{:.2}", crate::bench::median(ratios.iter().copied()))
        },
        within(0.25),
        ratios.len(),
        within(0.40),
        fresh_processes(args.reps),
        out_dir.join(csv_name).display()
    );
    emit(&text);
    Ok(())
}

/// The real counterpart of a simulated allocator.
fn strategy(allocator: &str) -> CliResult<Strategy> {
    match allocator {
        "glibc" => Ok(Strategy::Glibc),
        "mmap" => Ok(Strategy::Mmap),
        other => Err(CliError::usage(format!(
            "--allocator {other}: only glibc and mmap have a real counterpart to validate against"
        ))),
    }
}

/// "N fresh processes", or "1 fresh process".
fn fresh_processes(n: u32) -> String {
    match n {
        1 => "1 fresh process".to_string(),
        n => format!("{n} fresh processes"),
    }
}

/// How the cost model is named in titles: its file, or the defaults.
fn cost_label(args: &ValidateArgs) -> String {
    match &args.cost {
        Some(p) => p.display().to_string(),
        None => "default costs".into(),
    }
}

/// `a / b` to three places; "equal" when both are 0, "-" when only `b` is.
fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        if a == 0.0 {
            "equal".to_string()
        } else {
            "-".to_string()
        }
    } else {
        format!("{:.3}", a / b)
    }
}

/// One workload through a simulated allocator and its real counterpart.
struct Validation {
    /// The simulated run.
    sim: engine::RunResult,
    /// The observed real run, its timeline's clock taken from the timed runs.
    real: RealRun,
    /// Each total-only timed run's calls and writes, in CPU nanoseconds; the fastest
    /// is the real total time.
    totals: Vec<u64>,
    /// The replayer's own loop (already left out of every total).
    real_loop: f64,
}

impl Validation {
    fn fastest(&self) -> u64 {
        self.totals.iter().copied().min().unwrap_or(0)
    }

    fn slowest(&self) -> u64 {
        self.totals.iter().copied().max().unwrap_or(0)
    }
}

/// Runs `w` through the simulated `allocator` under `cost`, then through its real
/// counterpart: once observed (counts, faults, RSS at every sample) and `reps` times
/// of each of two timed kinds.
fn validate(
    w: &workload::Workload,
    allocator: &str,
    cost: &kernel::CostModel,
    reps: u32,
) -> CliResult<Validation> {
    let strategy = strategy(allocator)?;
    let built = registry::build(allocator, &[]).map_err(|e| CliError::usage(e.to_string()))?;
    let config = RunConfig {
        kernel: KernelConfig {
            cost: cost.clone(),
            ..KernelConfig::default()
        },
        sample_every: INTERVAL,
        ..RunConfig::default()
    };
    let sim = engine::run(w, built, &config).map_err(|e| CliError::failed(e.to_string()))?;
    let opts = ReplayOptions {
        strategy,
        sample_interval: INTERVAL,
        ..ReplayOptions::default()
    };
    let spin = spinner(&format!(
        "replaying {} ops of {} through the real {allocator}",
        w.ops.len(),
        w.name
    ));
    let exe = self_exe()?;
    // The timed children run on the CPU this process is on (they inherit the mask), as
    // `sim bench`'s do: a run that migrates mid-way or lands next to a busy sibling
    // moved single totals by 1.5x between runs of the same command on a 2-core VM.
    let _cpu = calibrate::sys::current_cpu().filter(|&c| calibrate::sys::pin_to(c).is_ok());
    let real = replay_real(&exe, w, &opts).map_err(replay_error);
    // The observed replay's clock is no measure of time: after every op it calls
    // mallinfo2 (which walks glibc's free lists) and formats a row, so the next op
    // starts with caches the observer filled. The time comes from runs that observe
    // nothing but the CPU clock (calibrate's benchmark mode), of two kinds taking
    // turns: one reads it at every sample point (the real timeline), the other only at
    // its start and end (the total). A read of the process CPU clock is a system call
    // (about 0.4 us on the machine of the book's Appendix B): on a short workload with
    // many samples the first kind counted several percent of reads that the simulated
    // program never makes.
    //
    // Of each kind the fastest run counts (at each sample point, for the timeline).
    // The ops are the same in every run; what differs is what else the machine did
    // meanwhile, and that only adds time: on the 2-vCPU machine of the book's
    // Appendix B, ten validations of glibc on churn within 25 minutes had a median run
    // of 2.24 to 4.32 ms and a fastest of 2.18 to 3.43 (the fastest is disturbed only
    // when the whole validation falls into a busy minute).
    let total_only = ReplayOptions {
        sample_interval: 0,
        ..opts.clone()
    };
    let timed = real.and_then(|real| {
        let (mut line_runs, mut total_runs) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            line_runs.push(bench_real(&exe, w, &opts).map_err(replay_error)?);
            total_runs.push(bench_real(&exe, w, &total_only).map_err(replay_error)?);
        }
        Ok((real, line_runs, total_runs))
    });
    if let Some(s) = spin {
        s.finish_and_clear();
    }
    let (mut real, line_runs, runs) = timed?;
    let loop_ns = replay_loop(line_runs.iter().chain(&runs));
    timed_line(&mut real.timeline, &line_runs, loop_ns)?;
    let totals = calls_alone(&runs, loop_ns);
    Ok(Validation {
        totals,
        real_loop: loop_ns as f64,
        sim,
        real,
    })
}

/// The replayer's own loop: the fastest of the runs' dry passes. Every dry pass does
/// the same work, so as with the totals a busy moment only adds to it; subtracting
/// each run's own dry pass instead let one slowed by a burst of host load eat its run
/// (a glibc `lifetimes` run of 1.4 ms with a dry pass of 3.4 ms came out as 0).
fn replay_loop<'a>(runs: impl Iterator<Item = &'a RealBench>) -> u64 {
    runs.map(|r| r.loop_cpu_ns).min().unwrap_or(0)
}

/// Each run's calls and writes alone: its CPU time less the replayer's loop.
fn calls_alone(runs: &[RealBench], loop_ns: u64) -> Vec<u64> {
    runs.iter()
        .map(|r| r.cpu_ns.saturating_sub(loop_ns))
        .collect()
}

/// Puts the timeline runs' clock into the observed run's samples (the fastest at each
/// sample point, less its share of the replay loop `loop_ns`). The observed run and
/// the timeline runs sample at the same ops; if they did not, the replay and the
/// benchmark would disagree about the stream.
fn timed_line(line: &mut Timeline, runs: &[RealBench], loop_ns: u64) -> CliResult<()> {
    for r in runs {
        let ops = r.checkpoints.iter().map(|c| c.0);
        if !ops.eq(line.samples.iter().map(|s| s.op)) {
            return Err(CliError::failed(
                "the timed real runs took their clock at other ops than the observed run \
                 sampled (a bug in calibrate's replay child)",
            ));
        }
    }
    let n_ops = line.samples.last().map_or(0, |s| s.op).max(1);
    for (i, s) in line.samples.iter_mut().enumerate() {
        // The dry pass times the loop as a whole: each point is charged its share of it
        // by ops done (an op's decoding costs about the same whatever the op).
        let at: Vec<u64> = runs
            .iter()
            .map(|r| {
                let (op, ns) = r.checkpoints[i];
                let share = (loop_ns as u128 * op as u128 / n_ops as u128) as u64;
                ns.saturating_sub(share)
            })
            .collect();
        s.time_ns = at.into_iter().min().unwrap_or(0) as f64;
    }
    Ok(())
}

fn last(t: &Timeline) -> Sample {
    t.samples.last().cloned().unwrap_or_default()
}

/// Both timelines in one CSV, with a `source` column.
fn timelines_csv(sim: &Timeline, real: &Timeline) -> String {
    let mut s = String::from(
        "source,op,time_ns,live,allocated,footprint,mapped,rss,minor_faults,brk,mmap,munmap,mprotect,mremap,madvise\n",
    );
    for (name, t) in [("simulated", sim), ("real", real)] {
        for x in &t.samples {
            let _ = write!(
                s,
                "{name},{},{:.1},{},{},{},{},{},{}",
                x.op, x.time_ns, x.live, x.allocated, x.footprint, x.mapped, x.rss, x.minor_faults
            );
            for n in x.syscalls {
                let _ = write!(s, ",{n}");
            }
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cpu_ns: u64, loop_cpu_ns: u64) -> RealBench {
        RealBench {
            cpu_ns,
            wall_ns: cpu_ns,
            minor_faults: 0,
            loop_cpu_ns,
            checkpoints: Vec::new(),
            glibc_version: "2.36".into(),
        }
    }

    /// A dry pass slowed by host load takes nothing from its run: the loop is the
    /// fastest dry pass, the total the fastest run less it.
    #[test]
    fn a_slow_dry_pass_does_not_eat_its_run() {
        let runs = [run(1000, 300), run(1100, 200), run(1441, 3432)];
        let loop_ns = replay_loop(runs.iter());
        assert_eq!(loop_ns, 200);
        assert_eq!(calls_alone(&runs, loop_ns), [800, 900, 1241]);
    }
}
