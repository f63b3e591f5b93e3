//! Real replays of op streams through libc malloc and raw mmap, in a pristine child.
//!
//! # Why a child process
//! glibc's malloc is deterministic: the same calls, from the same starting heap, give the
//! same addresses, the same `brk` moves and the same `mallinfo2` figures. But the heap of
//! a normal Rust program is not pristine: the runtime allocates a few kilobytes before
//! `main` runs. So the replay runs in a fresh process whose C `main` is ours (see
//! [`entry_point!`](crate::entry_point)): before the first replayed op, nothing has
//! called malloc, exactly as in the process that recorded the truth files.
//!
//! # How
//! 1. [`replay_real`] checks the op stream (every free names a live block, touches stay in
//!    bounds), estimates the real memory it needs at its peak and refuses when that is
//!    over the memory cap ([`ReplayOptions::cap`]).
//! 2. It spawns `exe __brkmap-replay-child replay`, writes the ops to the child's stdin
//!    in a compact binary form, and reads back the per-op CSV and the samples.
//! 3. The child uses libc only: its buffers are `mmap`ed (and pre-faulted, so they do
//!    not pollute the page-fault counts), it never calls the Rust allocator, and it
//!    formats its own numbers.
//!
//! # Brief overview
//! - [`replay_real`] / [`replay_real_ops`] with [`ReplayOptions`] and [`Strategy`], giving
//!   a [`RealRun`] or a [`ReplayError`].
//! - [`segv_experiments`]: the memory-protection experiments of claim 3, each in a child,
//!   giving [`CrashReport`]s.
//! - [`entry_point!`](crate::entry_point) and [`dispatch`]: how a binary becomes able to
//!   host the child (the child itself is the private `child` module, with its
//!   allocation-free text output in `writer`).
//! - [`estimate_peak`], [`real_block_bytes`], [`default_cap`]: the safety arithmetic.

mod crash;
mod output;
mod plan;
pub(crate) mod wire;
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
mod writer;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod child;

pub(crate) use crash::signal_of;
pub use crash::{
    CrashExperiment, CrashOutcome, CrashReport, SIGBUS, SIGSEGV, run_crash_experiment,
    segv_experiments,
};
pub use plan::{estimate_peak, real_block_bytes};

use crate::sys::CArgs;
use engine::{OpRow, Timeline};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use workload::{Op, TouchPolicy, Workload};

/// How the replayed ops get their memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// glibc's `malloc`, `free`, `realloc` and `malloc_trim`, with `mallinfo2` after
    /// every op. The default.
    #[default]
    Glibc,
    /// One anonymous `mmap` per block, its size rounded up to whole pages (at least one),
    /// with no header: the pointer is the mapping's start. `free` is `munmap`; `realloc`
    /// is `mremap(MREMAP_MAYMOVE)` when the page-rounded length changes and nothing
    /// otherwise; `realloc` to 0 bytes unmaps (as glibc's frees); a trim does nothing.
    /// Mirrors the simulator's `mmap` allocator.
    Mmap,
}

impl Strategy {
    /// The allocator name the timelines carry (`glibc`, `mmap`), the same as the
    /// simulator's allocator of the same design.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Glibc => "glibc",
            Strategy::Mmap => "mmap",
        }
    }
}

impl FromStr for Strategy {
    type Err = String;

    /// `glibc` or `mmap`.
    fn from_str(s: &str) -> Result<Strategy, String> {
        match s {
            "glibc" => Ok(Strategy::Glibc),
            "mmap" => Ok(Strategy::Mmap),
            other => Err(format!(
                "unknown real-replay strategy {other:?} (expected glibc or mmap)"
            )),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to run a real replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Where the memory comes from.
    pub strategy: Strategy,
    /// Take a sample every this many ops (and at every phase marker and at the end).
    /// 0 samples only at phase markers and at the end.
    pub sample_interval: u64,
    /// The most real memory the replayed blocks may hold, in bytes. `None` means a
    /// quarter of the machine's available memory ([`default_cap`]). The parent refuses a
    /// stream whose estimated peak ([`estimate_peak`]) is over it; the child also stops
    /// before any op that could take what the allocator holds (glibc: `arena + hblkhd`
    /// plus the growth one call may add; mmap: the mappings) over it. The harness's own
    /// buffers (the encoded ops, 16 to 32 bytes per op, and the block table, 24 bytes
    /// per block id) are not counted.
    pub cap: Option<u64>,
    /// Turn transparent huge pages off in the child, so that memory is faulted in and
    /// measured in 4 KiB pages as the simulator models it (on by default; it only
    /// matters where THP is set to `always`).
    pub disable_thp: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            strategy: Strategy::Glibc,
            sample_interval: 1000,
            cap: None,
            disable_thp: true,
        }
    }
}

/// The outcome of a real replay.
#[derive(Clone, Debug, PartialEq)]
pub struct RealRun {
    /// The strategy that ran.
    pub strategy: Strategy,
    /// One row per malloc, free, realloc and trim (touches and phase markers have none).
    pub rows: Vec<OpRow>,
    /// The same rows as the child wrote them: the per-op CSV, header line included.
    pub csv: String,
    /// Samples every `sample_interval` ops, at phase markers and at the end (source
    /// [`engine::Source::Real`]; what each field measures, and which stay 0, is listed
    /// at [`replay_real`]).
    pub timeline: Timeline,
    /// Wall-clock nanoseconds of the child's replay loop, bookkeeping (mallinfo2,
    /// formatting rows, sampling) included.
    pub elapsed_ns: u64,
    /// Nanoseconds spent inside the ops alone (the allocator calls and the writes the
    /// touch policy asks for), summed, each less the cost of one clock read (measured in
    /// the child before the first op); the timeline's `time_ns` counts the same.
    pub op_ns: u64,
    /// The glibc version the child ran on, e.g. `2.36`.
    pub glibc_version: String,
}

/// What a benchmark replay ([`bench_real`]) measured in its child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealBench {
    /// CPU time of the child's op loop (`CLOCK_PROCESS_CPUTIME_ID`, user and system),
    /// in nanoseconds: the calls, the writes the touch policy asks for, the page faults
    /// they cause, and the loop's own decoding of the ops.
    pub cpu_ns: u64,
    /// Wall-clock nanoseconds of the same loop (inflated on a busy machine; for
    /// comparison only).
    pub wall_ns: u64,
    /// Minor page faults during the loop.
    pub minor_faults: u64,
    /// CPU time of the same loop over the same ops with every call and write left out
    /// (a second, *dry* pass in the same child, after the timed one): decoding the
    /// ops and keeping the block table. It is the replayer's own work, which a model of
    /// the allocator, the kernel and the program's writes does not stand for, so a
    /// comparison with such a model subtracts it from `cpu_ns`
    /// ([`RealBench::calls_cpu_ns`]).
    pub loop_cpu_ns: u64,
    /// `(ops done, CPU ns since the loop began)` where a replay with the same
    /// `sample_interval` would have sampled (every interval, at each phase marker, at
    /// the end); empty with an interval of 0. One clock read per checkpoint, so an
    /// interval of 1,000 adds well under a nanosecond per op.
    pub checkpoints: Vec<(u64, u64)>,
    /// The glibc version the child ran on, e.g. `2.36`.
    pub glibc_version: String,
}

impl RealBench {
    /// The CPU time of the calls and the writes alone: the timed loop less its dry
    /// pass ([`RealBench::loop_cpu_ns`]), never below zero.
    pub fn calls_cpu_ns(&self) -> u64 {
        self.cpu_ns.saturating_sub(self.loop_cpu_ns)
    }
}

/// Why a real replay did not happen or did not finish.
#[derive(Debug)]
pub enum ReplayError {
    /// This system cannot run real replays (not Linux with glibc).
    Unavailable(&'static str),
    /// The op stream is not replayable: op `index` names a block that is not live,
    /// allocates one that is, or touches outside it.
    InvalidOp {
        /// Index of the op in the stream.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The replay would need more real memory than the cap allows.
    OverCap {
        /// Estimated peak bytes of the replayed blocks.
        peak: u64,
        /// The cap in bytes.
        cap: u64,
    },
    /// No cap was given and the default could not be computed.
    NoDefaultCap,
    /// The child could not be started.
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// Talking to the child failed.
    Io {
        /// What the parent was doing.
        what: &'static str,
        /// The OS error.
        error: std::io::Error,
    },
    /// The child stopped with an error of its own (cap reached in flight, allocation
    /// failure, a syscall failure), killed by a signal, or was not a replay child.
    Child {
        /// Its exit code, or `None` when a signal ended it.
        code: Option<i32>,
        /// The signal that ended it, if any.
        signal: Option<i32>,
        /// What it said on stderr (trimmed), or a description.
        message: String,
    },
    /// The child's answer could not be understood.
    Protocol {
        /// What was wrong, and where.
        detail: String,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Unavailable(why) => write!(f, "real replay unavailable: {why}"),
            ReplayError::InvalidOp { index, reason } => write!(f, "op {index}: {reason}"),
            ReplayError::OverCap { peak, cap } => write!(
                f,
                "the replay needs about {} of real memory at its peak, over the cap of {}; \
                 raise the cap or replay a smaller workload",
                human_bytes(*peak),
                human_bytes(*cap)
            ),
            ReplayError::NoDefaultCap => f.write_str(
                "cannot read MemAvailable from /proc/meminfo to set the default memory cap; \
                 give a cap explicitly",
            ),
            ReplayError::Spawn { exe, error } => {
                write!(f, "cannot start replay child {}: {error}", exe.display())
            }
            ReplayError::Io { what, error } => write!(f, "{what}: {error}"),
            ReplayError::Child {
                code,
                signal,
                message,
            } => {
                match (code, signal) {
                    (_, Some(sig)) => write!(f, "replay child killed by signal {sig}")?,
                    (Some(code), None) => write!(f, "replay child failed (exit code {code})")?,
                    (None, None) => f.write_str("replay child failed")?,
                }
                if message.is_empty() {
                    Ok(())
                } else {
                    write!(f, ": {message}")
                }
            }
            ReplayError::Protocol { detail } => {
                write!(f, "unexpected answer from the replay child: {detail}")
            }
        }
    }
}

impl std::error::Error for ReplayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReplayError::Spawn { error, .. } | ReplayError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// `1536` -> `1.5 KiB (1536 bytes)`, for messages: the workspace's formatter, with the
/// exact count when the unit rounds.
fn human_bytes(n: u64) -> String {
    if n < 1024 {
        units::bytes(n)
    } else {
        format!("{} ({n} bytes)", units::bytes(n))
    }
}

/// The default memory cap: a quarter of `MemAvailable`, so that a replay can never push
/// the machine (shared with other work) into swapping or the OOM killer.
pub fn default_cap() -> Result<u64, ReplayError> {
    crate::sys::mem_available()
        .map(|bytes| bytes / 4)
        .ok_or(ReplayError::NoDefaultCap)
}

/// Replays `workload` for real in a child process started from `exe` (a binary whose C
/// `main` comes from [`entry_point!`](crate::entry_point); `std::env::current_exe()` for
/// such a program). Its touch policy decides what the child writes.
///
/// Blocks that the workload says come from `calloc` or an aligned function
/// ([`workload::Workload::calls`]) are allocated with that real call under the glibc
/// strategy, so the replay is what the program did, and the simulator's glibc model
/// takes the same paths (glibc's `calloc` does not take chunks from the per-thread
/// cache, and an aligned request splits a larger chunk). The mmap strategy maps every
/// block the same way.
///
/// What the timeline holds, per sample (everything cumulative is counted from the first
/// op; fields not listed are 0):
/// - `time_ns`: nanoseconds spent inside the ops so far (`CLOCK_MONOTONIC` around each,
///   less the cost of one clock read).
/// - `live`: requested bytes of live blocks, tracked by the child.
/// - `allocated`: glibc: `uordblks + hblkhd`; mmap: the page-rounded mapping bytes.
/// - `footprint`: glibc: `arena + hblkhd`; mmap: the mapping bytes.
/// - `free_in_heap`: glibc: `fordblks` (free chunks, top included); mmap: 0.
/// - `mapped`: glibc: the heap from the first break to the current one plus `hblkhd`;
///   mmap: the mapping bytes.
/// - `rss`: resident bytes of exactly the replayed memory, by `mincore(2)` over the
///   heap range and every live mapped block (not the whole process).
/// - `syscalls`: mmap strategy: exact counts of its own `mmap`, `munmap`, `mremap`.
///   glibc: what can be seen from outside between two ops: a moved break counts one
///   `brk`, a change in `hblks` that many `mmap`s or `munmap`s, a change in `hblkhd`
///   alone one `mremap`; `madvise` (malloc_trim) is not visible and stays 0.
/// - `returned_brk`, `returned_munmap`: bytes given back by lowering the break and by
///   unmapping (or shrinking) mapped blocks, seen the same way.
/// - `minor_faults`: `getrusage` minor faults since the first op. The child pre-faults
///   its own buffers and stack and warms up the calls it makes, so what remains is the
///   replay's own memory; on the reference machine the count equals the pages the
///   replay touched, exactly (a first touch of one of glibc's own pages could add one).
pub fn replay_real(
    exe: &Path,
    workload: &Workload,
    opts: &ReplayOptions,
) -> Result<RealRun, ReplayError> {
    replay(exe, &workload.ops, &workload.calls, workload.touch, opts)
}

/// Replays `workload` for real as a benchmark: in a fresh child started from `exe`,
/// as [`replay_real`] does, but with the ops alone and the loop timed as a whole in
/// CPU time ([`RealBench`]).
///
/// What the child does per op is exactly what a replay does (decode the op, find its
/// block, make the real call, write the bytes `workload.touch` asks for), and nothing
/// else: no per-op row, no `mallinfo2`, no samples, no clock reads. The memory cap
/// ([`ReplayOptions::cap`]) is checked before the child starts against the estimated
/// peak, as for a replay, and in the child by the kernel (`RLIMIT_DATA`), not per op.
/// With a non-zero `opts.sample_interval` the child also reads its CPU clock where a
/// replay would sample ([`RealBench::checkpoints`]). After the timed loop it runs the
/// ops once more without the calls and writes, to time the loop's own work
/// ([`RealBench::loop_cpu_ns`]). Every call of [`bench_real`] is a new process, so
/// each measurement starts from a pristine heap and cold caches, as a program does.
pub fn bench_real(
    exe: &Path,
    workload: &Workload,
    opts: &ReplayOptions,
) -> Result<RealBench, ReplayError> {
    if let Some(why) = crate::sys::unavailable_reason() {
        return Err(ReplayError::Unavailable(why));
    }
    let cap = match opts.cap {
        Some(cap) => cap,
        None => default_cap()?,
    };
    let plan = plan::build(
        &workload.ops,
        &workload.calls,
        workload.touch,
        opts.strategy,
        opts.sample_interval,
        cap,
        opts.disable_thp,
    )?;
    let out = run_child(exe, &[wire::MODE_BENCH], Some(&plan.input))?;
    if !out.status.success() {
        return Err(child_failure(&out));
    }
    let stdout = String::from_utf8(out.stdout).map_err(|_| ReplayError::Protocol {
        detail: "the output is not UTF-8".into(),
    })?;
    output::parse_bench(&stdout, exe)
}

/// [`replay_real`] for a bare op stream and touch policy (every block a plain
/// `malloc`).
pub fn replay_real_ops(
    exe: &Path,
    ops: &[Op],
    touch: TouchPolicy,
    opts: &ReplayOptions,
) -> Result<RealRun, ReplayError> {
    replay(exe, ops, &plan::Calls::new(), touch, opts)
}

fn replay(
    exe: &Path,
    ops: &[Op],
    calls: &plan::Calls,
    touch: TouchPolicy,
    opts: &ReplayOptions,
) -> Result<RealRun, ReplayError> {
    if let Some(why) = crate::sys::unavailable_reason() {
        return Err(ReplayError::Unavailable(why));
    }
    let cap = match opts.cap {
        Some(cap) => cap,
        None => default_cap()?,
    };
    let plan = plan::build(
        ops,
        calls,
        touch,
        opts.strategy,
        opts.sample_interval,
        cap,
        opts.disable_thp,
    )?;
    let out = run_child(exe, &[wire::MODE_REPLAY], Some(&plan.input))?;
    if !out.status.success() {
        return Err(child_failure(&out));
    }
    if out.stdout.is_empty() {
        return Err(ReplayError::Protocol {
            detail: format!(
                "{} wrote nothing: is it a program built with calibrate::entry_point!?",
                exe.display()
            ),
        });
    }
    let stdout = String::from_utf8(out.stdout).map_err(|_| ReplayError::Protocol {
        detail: "the output is not UTF-8".into(),
    })?;
    output::parse(stdout, opts.strategy, &plan)
}

/// Environment variables that change how glibc's malloc behaves (tunables, the old
/// `MALLOC_*_` knobs) or replace it (`LD_PRELOAD`): removed from the child's environment
/// so that it runs glibc's defaults, as the truth files were recorded.
fn malloc_altering(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name == "GLIBC_TUNABLES" || name == "LD_PRELOAD" || name.starts_with("MALLOC_")
}

/// Runs `exe CHILD_MARKER args...`, feeding it `input` on stdin, and collects its
/// output.
pub(crate) fn run_child(
    exe: &Path,
    args: &[&str],
    input: Option<&[u8]>,
) -> Result<std::process::Output, ReplayError> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(exe);
    cmd.arg(wire::CHILD_MARKER).args(args);
    for (name, _) in std::env::vars_os() {
        if malloc_altering(&name) {
            cmd.env_remove(name);
        }
    }
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|error| ReplayError::Spawn {
        exe: exe.to_path_buf(),
        error,
    })?;
    let stdin = child.stdin.take();
    // The child reads all its input before it writes anything, but a failing child may
    // stop reading early: write from another thread so that neither side can block the
    // other, and treat a broken pipe as "the child stopped listening" (its exit status
    // then says why).
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::io::Result<()> {
            if let (Some(mut stdin), Some(input)) = (stdin, input) {
                match stdin.write_all(input) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                    other => other?,
                }
            }
            Ok(())
        });
        let output = child.wait_with_output().map_err(|error| ReplayError::Io {
            what: "reading the replay child's output",
            error,
        })?;
        match writer.join() {
            Ok(Ok(())) => Ok(output),
            Ok(Err(error)) => Err(ReplayError::Io {
                what: "writing ops to the replay child",
                error,
            }),
            Err(_) => Err(ReplayError::Protocol {
                detail: "the writer thread panicked".into(),
            }),
        }
    })
}

/// The error for a child that did not end well, with what it said.
fn child_failure(out: &std::process::Output) -> ReplayError {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let message = if stderr.is_empty() {
        match out.status.code() {
            Some(0) | None => String::new(),
            Some(_) => {
                "no message (is the executable built with calibrate::entry_point!?)".to_string()
            }
        }
    } else {
        stderr
    };
    ReplayError::Child {
        code: out.status.code(),
        signal: crash::signal_of(&out.status),
        message,
    }
}

/// The body of the C `main` that [`entry_point!`](crate::entry_point) writes: becomes a
/// replay child when `argv[1]` is the child marker, otherwise runs `main` and returns its
/// exit code.
///
/// In the child path it allocates nothing before the replay (it compares the arguments
/// in place). In the normal path it does what Rust's runtime would have done around a
/// Rust `main`: it ignores `SIGPIPE` (so a closed pipe is an error, not a silent death)
/// and flushes stdout at the end.
///
/// `args` are the arguments C's `main` received.
pub fn dispatch(args: &CArgs, main: fn() -> i32) -> i32 {
    if args.get(1) == Some(wire::CHILD_MARKER.as_bytes()) {
        run_as_child(args.get(2), args.get(3));
    }
    crate::sys::ignore_sigpipe();
    let code = main();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    code
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn run_as_child(mode: Option<&[u8]>, name: Option<&[u8]>) -> ! {
    match mode {
        Some(m) if m == wire::MODE_REPLAY.as_bytes() => child::main(false),
        Some(m) if m == wire::MODE_BENCH.as_bytes() => child::main(true),
        Some(m) if m == wire::MODE_CRASH.as_bytes() => crash::child_main(name),
        Some(m) if m == wire::MODE_KERNEL_SCRIPT.as_bytes() => crate::kscript::child_main(),
        _ => {
            let _ = crate::sys::write_all(2, b"replay child: unknown mode\n");
            crate::sys::exit_now(wire::EXIT_USAGE)
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn run_as_child(_mode: Option<&[u8]>, _name: Option<&[u8]>) -> ! {
    eprintln!(
        "{}",
        crate::sys::unavailable_reason().unwrap_or("unavailable")
    );
    std::process::exit(wire::EXIT_USAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_give_sizes_in_binary_units_with_the_exact_count() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB (1536 bytes)");
        let err = ReplayError::OverCap {
            peak: 3 << 30,
            cap: 1 << 30,
        };
        assert_eq!(
            err.to_string(),
            "the replay needs about 3.0 GiB (3221225472 bytes) of real memory at its peak, \
             over the cap of 1.0 GiB (1073741824 bytes); raise the cap or replay a smaller \
             workload"
        );
    }

    #[test]
    fn malloc_tunables_are_kept_out_of_the_child() {
        assert!(malloc_altering(std::ffi::OsStr::new("GLIBC_TUNABLES")));
        assert!(malloc_altering(std::ffi::OsStr::new("LD_PRELOAD")));
        assert!(malloc_altering(std::ffi::OsStr::new("MALLOC_ARENA_MAX")));
        assert!(!malloc_altering(std::ffi::OsStr::new("PATH")));
    }
}
