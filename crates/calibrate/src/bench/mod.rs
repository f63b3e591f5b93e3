//! Cost microbenchmarks: what a syscall, a page fault, a context switch and a
//! `malloc` cost on *this* machine, and the [`kernel::CostModel`] derived from them.
//!
//! # Brief overview
//! - [`calibrate`] runs every benchmark and returns a [`Calibration`]: the raw
//!   [`Measurement`]s (median and [`Spread`] of repeated samples, with the method of each
//!   written out), the [`CostModel`] derived from them (each field by the formula in its
//!   doc comment, recorded as a [`Derivation`]) and a description of the [`Machine`].
//! - [`cost_by_size`] compares `malloc`+`free` with `mmap`+`munmap` block size by block
//!   size ([`SizeCost`]), the data behind the "where does mmap start to pay?" figure.
//! - [`BenchOptions`] chooses the [`Effort`] (how many repetitions) and the CPU to pin to.
//! - [`keys`] names every measurement; [`derive_cost_model`] is the pure derivation, so
//!   it can be checked against the reference numbers without running anything.
//!
//! # How the numbers are taken (lmbench style)
//! Every benchmark runs in a **fresh child process** made with `fork`, pinned to one CPU
//! with `sched_setaffinity`. The child has a single thread, so nothing else moves its
//! program break while the `sbrk` loop runs, no other thread shares its address space
//! (an `munmap` then never has to interrupt another CPU to flush its TLB), and a crash
//! or a hang cannot take the caller down: the child sends its samples back through a
//! pipe and exits.
//!
//! A *sample* is the mean cost of one operation over a batch long enough that reading
//! the clock (`clock_gettime`, about 20 ns through the vDSO) is noise; the batch size is
//! chosen after a warm-up that also brings caches, TLBs and the allocator into their
//! steady state. A measurement is the median of many samples; the spread (quartiles,
//! extremes, median absolute deviation) shows how much the machine disturbed it. On a
//! shared or virtual machine other tenants steal time now and then, which is why the
//! median and not the mean is reported.
//!
//! # Choices that change the numbers
//! - **Where a mapping lands.** A new anonymous mapping next to a compatible one merges
//!   into it, and unmapping it splits the VMA again; on an isolated range mmap creates
//!   and munmap deletes a whole VMA. The split case costs about twice as much. The
//!   benchmarks make the hole a mapping goes into, so they know which case they time:
//!   the merging one, which is what a program mapping block after block meets and what a
//!   plain C loop measures. The isolated case is measured too, for comparison.
//! - **Hot loop or steady state.** A loop that maps, writes and unmaps one page at one
//!   address finds everything those calls touch in the CPU caches. A program with one
//!   mapping per block unmaps blocks it wrote thousands of operations earlier, among
//!   thousands of live mappings, and pays cache misses on VMAs, page-table entries and
//!   frame metadata; its faults often come right after a TLB invalidation, which makes
//!   them dearer too. On a 2-vCPU virtual machine the hot cycle took 4.7 µs and the
//!   steady-state one 6.2 µs. The model's `mmap_ns`, `munmap_ns` and `shootdown_ns`
//!   come from the steady state; the hot loops stay as the best case and for comparison
//!   with the reference machine, which measured only them.
//! - **How many pages a fault loop touches.** Freed frames go to small per-CPU lists and
//!   are handed out again hot; a large region draws on the buddy allocator instead, and
//!   on a virtual machine that returns free memory to its host those frames may need
//!   the host to back them again. Fault loops use 1 MiB, like the 1 MiB mmap+munmap the
//!   model is derived against; a 16 MiB loop shows the other regime.
//! - **How long a sample is.** Shorter than a scheduler time slice, so that on a busy
//!   machine most samples are not preempted and the median ignores those that are.
//!
//! Linux with glibc only: elsewhere the crate compiles and [`calibrate`] returns
//! [`BenchError::Unavailable`].

mod derive;
pub mod keys;
// Only the Linux benchmarks summarize samples; elsewhere just `Spread` is used.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
mod stats;
pub mod streams;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux;

use std::fmt;
use std::time::Duration;

use kernel::CostModel;
use serde::{Deserialize, Serialize};

pub use derive::{Derivation, Derived, derive_cost_model, reference_ns};
pub use stats::Spread;

/// How much time to spend: more repetitions give steadier medians.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effort {
    /// A handful of tiny samples: checks that every benchmark works (tests, CI). The
    /// numbers are real but noisy; do not build a cost model for a book from them.
    Smoke,
    /// 31 samples of about 0.5 ms each per measurement; the whole calibration takes
    /// a few seconds (`sim calibrate --quick`).
    Quick,
    /// 101 samples of about 1 ms each; well under a minute on a small machine.
    Full,
}

/// What [`calibrate`] and [`cost_by_size`] should do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchOptions {
    /// Repetitions and sample length.
    pub effort: Effort,
    /// The CPU to pin the benchmarks to. `None` picks the highest-numbered CPU this
    /// process may run on (CPU 0 usually takes more interrupts).
    pub cpu: Option<usize>,
}

impl BenchOptions {
    /// Quick mode (`sim calibrate --quick`), CPU chosen automatically.
    pub fn quick() -> BenchOptions {
        BenchOptions {
            effort: Effort::Quick,
            cpu: None,
        }
    }

    /// Full mode, CPU chosen automatically.
    pub fn full() -> BenchOptions {
        BenchOptions {
            effort: Effort::Full,
            cpu: None,
        }
    }

    /// Smoke mode for tests: every benchmark runs, with very few and very short samples.
    pub fn smoke() -> BenchOptions {
        BenchOptions {
            effort: Effort::Smoke,
            cpu: None,
        }
    }
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions::full()
    }
}

/// One measured quantity: the median of repeated samples and how far they spread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Stable identifier, one of the constants in [`keys`] (e.g. `syscall.null`).
    pub key: String,
    /// What was measured, for a table row (e.g. "null syscall, syscall(SYS_getppid)").
    pub label: String,
    /// What one value counts (e.g. "ns per call", "ns per page", "ns per hop").
    pub unit: String,
    /// The median over all samples, in nanoseconds per unit.
    pub median_ns: f64,
    /// How the samples spread around the median.
    pub spread: Spread,
    /// Number of samples the median is taken over.
    pub reps: usize,
    /// Operations (or pages, or steps) averaged inside each sample.
    pub inner: usize,
    /// The value of the same quantity on the reference machine of
    /// `CALIBRATION.md` (a 2-vCPU EPYC virtual machine), when it was measured there.
    pub reference_ns: Option<f64>,
    /// How it is measured: the loop, what is subtracted, and why.
    pub method: String,
}

impl Measurement {
    /// This machine's median divided by the reference machine's value, when known.
    pub fn ratio_to_reference(&self) -> Option<f64> {
        self.reference_ns
            .filter(|r| *r > 0.0)
            .map(|r| self.median_ns / r)
    }
}

/// The machine a calibration ran on, so a cost file says where its numbers came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Online CPUs.
    pub cpus: usize,
    /// Whether the CPU reports running under a hypervisor (syscalls and page walks
    /// cost more in a virtual machine).
    pub virtualized: bool,
    /// Operating system and kernel release (`uname -sr`).
    pub kernel: String,
    /// Hardware architecture (`uname -m`).
    pub arch: String,
    /// glibc version (`gnu_get_libc_version`).
    pub glibc: String,
    /// Base page size in bytes.
    pub page_size: usize,
    /// Transparent huge page mode (`/sys/kernel/mm/transparent_hugepage/enabled`).
    pub thp: String,
    /// The kernel's clock source; `tsc` makes reading the clock cheap.
    pub clocksource: String,
}

impl Machine {
    /// One line for a report header, e.g.
    /// `Intel Xeon, 2 CPUs (virtual), Linux 6.18 x86_64, glibc 2.36, THP madvise`.
    pub fn summary(&self) -> String {
        format!(
            "{}, {} CPUs{}, {} {}, glibc {}, {} B pages, THP {}, clock {}",
            self.cpu_model,
            self.cpus,
            if self.virtualized {
                " (virtual machine)"
            } else {
                ""
            },
            self.kernel,
            self.arch,
            self.glibc,
            self.page_size,
            self.thp,
            self.clocksource
        )
    }
}

/// Everything one calibration run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Where it ran.
    pub machine: Machine,
    /// How much effort was spent.
    pub effort: Effort,
    /// The CPU every benchmark was pinned to.
    pub cpu: usize,
    /// Every measurement, in the order the benchmarks ran.
    pub measurements: Vec<Measurement>,
    /// The cost model derived from the measurements.
    pub cost: CostModel,
    /// How each field of `cost` was computed, with the numbers filled in.
    pub derivations: Vec<Derivation>,
    /// Anything the reader should know: derived values clamped at zero, huge pages that
    /// could not be ruled out, and so on.
    pub notes: Vec<String>,
}

impl Calibration {
    /// The measurement with this key (see [`keys`]).
    pub fn get(&self, key: &str) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.key == key)
    }

    /// Pretty JSON of the whole calibration (measurements, model, machine).
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and vectors always serializes; fall back to an
        // empty object rather than panicking if that ever changed.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_string());
        s.push('\n');
        s
    }

    /// Parses what [`Calibration::to_json`] wrote.
    pub fn from_json(text: &str) -> Result<Calibration, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The cost of one allocate-write-release cycle at one block size, both ways.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SizeCost {
    /// Block size in bytes.
    pub size: usize,
    /// `malloc(size)`, write every byte, `free`: median ns per cycle.
    pub malloc_free_ns: f64,
    /// Spread of the `malloc` samples.
    pub malloc_free_spread: Spread,
    /// `mmap` of the size rounded up to pages, write every byte, `munmap`: median ns.
    pub mmap_munmap_ns: f64,
    /// Spread of the `mmap` samples.
    pub mmap_munmap_spread: Spread,
}

/// The largest block [`cost_by_size`] accepts (each sample maps and writes it).
pub const MAX_SIZE: usize = 256 << 20;

/// Why a benchmark could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BenchError {
    /// This platform cannot run the benchmarks (not Linux, or not glibc).
    Unavailable(String),
    /// The requested CPU is not one this process may run on.
    BadCpu {
        /// The CPU asked for.
        cpu: usize,
        /// The CPUs the process may use.
        allowed: Vec<usize>,
    },
    /// An argument is out of range.
    InvalidInput(String),
    /// A system call failed.
    Os {
        /// The benchmark that was running.
        bench: &'static str,
        /// The call that failed (e.g. `mmap`).
        call: String,
        /// `errno` after the call.
        errno: i32,
    },
    /// The child process running a benchmark died or sent something unreadable.
    Child {
        /// The benchmark that was running.
        bench: &'static str,
        /// What went wrong (exit status, signal, short read).
        detail: String,
    },
    /// A benchmark did not finish in time; its child process was killed.
    Timeout {
        /// The benchmark that was running.
        bench: &'static str,
        /// The limit that was exceeded.
        limit: Duration,
    },
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Unavailable(why) => write!(f, "cost benchmarks unavailable: {why}"),
            BenchError::BadCpu { cpu, allowed } => {
                write!(
                    f,
                    "CPU {cpu} is not available to this process (allowed: {allowed:?})"
                )
            }
            BenchError::InvalidInput(why) => write!(f, "invalid benchmark input: {why}"),
            BenchError::Os { bench, call, errno } => write!(
                f,
                "benchmark '{bench}': {call} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            BenchError::Child { bench, detail } => {
                write!(f, "benchmark '{bench}': child process failed: {detail}")
            }
            BenchError::Timeout { bench, limit } => write!(
                f,
                "benchmark '{bench}' did not finish within {} s and was stopped",
                limit.as_secs()
            ),
        }
    }
}

impl std::error::Error for BenchError {}

/// Runs every cost microbenchmark and derives a [`CostModel`] from the results.
///
/// `progress(done, total, name)` is called before each benchmark group starts (with
/// `done` groups finished so far) and once at the end with `done == total`. Library
/// code never prints; a CLI turns these calls into a progress bar.
///
/// `visits(streams)` answers how many chunks the glibc model visits per timed pair of
/// the two arena loops, given their calls ([`streams::arena_streams`]); it splits the
/// arena's time into `alloc_arena_ns` and `alloc_step_ns`. `None`: one figure per
/// arena call.
pub fn calibrate(
    opts: &BenchOptions,
    visits: Option<streams::VisitCounter<'_>>,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Calibration, BenchError> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        linux::calibrate(opts, visits, progress)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = (opts, visits, progress);
        Err(unavailable())
    }
}

/// Measures `malloc`+`free` against `mmap`+`munmap` for each size in `sizes` (use
/// the caller's list; `sim figures --real` passes the crossover experiment's), writing every byte of the block in both cases so that the
/// comparison includes the page faults a real program pays.
///
/// `progress(done, total, name)` is called before each size and once at the end.
pub fn cost_by_size(
    opts: &BenchOptions,
    sizes: &[usize],
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Vec<SizeCost>, BenchError> {
    if let Some(bad) = sizes.iter().find(|&&s| s == 0 || s > MAX_SIZE) {
        return Err(BenchError::InvalidInput(format!(
            "block size {bad} is outside 1..={MAX_SIZE} bytes"
        )));
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        linux::cost_by_size(opts, sizes, progress)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = (opts, progress);
        Err(unavailable())
    }
}

/// Describes this machine (CPU, kernel, glibc, page size, THP mode).
pub fn machine() -> Result<Machine, BenchError> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        Ok(linux::machine::detect())
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        Err(unavailable())
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn unavailable() -> BenchError {
    BenchError::Unavailable(format!(
        "the benchmarks need Linux system calls (brk, mmap, madvise, sched_setaffinity) and \
         glibc's malloc; this build targets '{}' without glibc",
        std::env::consts::OS
    ))
}
