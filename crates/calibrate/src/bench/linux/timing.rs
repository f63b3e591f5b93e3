//! The measuring loop shared by most benchmarks, and the sizes each effort level uses.

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::Failure;
use super::child::Recorder;
use crate::bench::Effort;

/// How long, how often and how big, for one effort level.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Samples per measurement.
    pub(crate) reps: usize,
    /// Wanted duration of one sample, ns. Long enough that reading the clock twice
    /// (~40 ns) is lost in it, and well under a scheduler time slice (a few ms), so
    /// that on a busy machine most samples run without being preempted and the few
    /// that are become outliers the median ignores.
    pub(crate) target_ns: f64,
    /// Pages faulted per sample in the page-fault benchmarks (1 MiB worth, like the
    /// 1 MiB mmap+munmap the cost model compares them with).
    pub(crate) fault_pages: usize,
    /// Pages faulted per sample in the large-region fault benchmark (16 MiB worth).
    pub(crate) large_fault_pages: usize,
    /// Bytes the zeroing benchmark clears per sample.
    pub(crate) zero_bytes: usize,
    /// Fresh 2 MiB ranges faulted per sample in the page-table benchmark.
    pub(crate) pt_chunks: usize,
    /// Pages of shared memory the TLB benchmark chases through.
    pub(crate) tlb_frames: usize,
    /// How many times the TLB benchmark maps those pages side by side.
    pub(crate) tlb_maps: usize,
    /// Live one-page mappings per pool in the steady-state mapping benchmark, and live
    /// blocks in the steady-state malloc benchmark.
    pub(crate) steady_live: usize,
    /// Holes left between the mappings of a pool (blocks unmapped at random before the
    /// cycles start).
    pub(crate) steady_holes: usize,
    /// Whether to run every `mmap`+`munmap` size or only the two the model needs.
    pub(crate) all_mmap_sizes: bool,
    /// A benchmark child still running after this is killed.
    pub(crate) timeout: Duration,
}

impl Plan {
    pub(crate) fn for_effort(effort: Effort) -> Plan {
        match effort {
            Effort::Smoke => Plan {
                reps: 5,
                target_ns: 50e3,
                fault_pages: 256,
                large_fault_pages: 64,
                zero_bytes: 256 << 10,
                pt_chunks: 4,
                tlb_frames: 16,
                tlb_maps: 4,
                steady_live: 256,
                steady_holes: 32,
                all_mmap_sizes: false,
                timeout: Duration::from_secs(60),
            },
            Effort::Quick => Plan {
                reps: 31,
                target_ns: 0.5e6,
                fault_pages: 256,
                large_fault_pages: 4096,
                zero_bytes: 16 << 20,
                pt_chunks: 64,
                tlb_frames: 512,
                tlb_maps: 32,
                steady_live: 4096,
                steady_holes: 512,
                all_mmap_sizes: true,
                timeout: Duration::from_secs(120),
            },
            Effort::Full => Plan {
                reps: 101,
                target_ns: 1e6,
                fault_pages: 256,
                large_fault_pages: 4096,
                zero_bytes: 16 << 20,
                pt_chunks: 128,
                tlb_frames: 512,
                tlb_maps: 32,
                steady_live: 4096,
                steady_holes: 512,
                all_mmap_sizes: true,
                timeout: Duration::from_secs(600),
            },
        }
    }
}

/// The most iterations one sample may average (keeps a near-free body from spinning
/// for ever if the clock misbehaves).
const MAX_INNER: u64 = 1 << 26;

/// Nanoseconds since `t`.
pub(crate) fn since(t: Instant) -> f64 {
    t.elapsed().as_nanos() as f64
}

/// The standard lmbench-style loop: runs `op` in batches and records, for each of the
/// recorder's `reps` samples, `batch time / (inner × ops_per_call) - minus` ns, where
/// `inner` is chosen so that a batch takes about `target_ns`.
///
/// Before timing, `op` runs in doubling batches (at least two) until one takes a
/// quarter of the target: this warms caches, TLBs, branch predictors and allocator
/// free lists, and the fastest per-call time seen sizes `inner` (the very first call
/// is often much slower than the rest and would make batches too short).
pub(crate) fn batches(
    rec: &mut Recorder,
    series: usize,
    target_ns: f64,
    ops_per_call: f64,
    minus: f64,
    mut op: impl FnMut() -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut n: u64 = 1;
    let mut per_call = f64::INFINITY;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            op()?;
        }
        let e = since(t);
        per_call = per_call.min(e / n as f64);
        if (n >= 2 && e >= target_ns / 4.0) || n >= MAX_INNER {
            break;
        }
        n *= 2;
    }
    let inner = ((target_ns / per_call.max(0.1)) as u64).clamp(1, MAX_INNER);
    rec.set_inner(series, inner as usize);
    for _ in 0..rec.reps() {
        let t = Instant::now();
        for _ in 0..inner {
            op()?;
        }
        let e = since(t);
        rec.push(series, e / inner as f64 / ops_per_call - minus)?;
    }
    Ok(())
}

/// Records the cost of reading the clock: back-to-back `Instant::now()` calls. The gap
/// between two consecutive readings is one reading's cost, which is what a single
/// timed call between two readings carries on top of its own time.
pub(crate) fn clock_read(rec: &mut Recorder, series: usize, target_ns: f64) -> Result<(), Failure> {
    batches(rec, series, target_ns, 1.0, 0.0, || {
        black_box(Instant::now());
        Ok(())
    })
}

/// Records the harness's own cost per iteration: [`batches`] around an empty body.
pub(crate) fn empty_loop(rec: &mut Recorder, series: usize, target_ns: f64) -> Result<(), Failure> {
    batches(rec, series, target_ns, 1.0, 0.0, || {
        black_box(());
        Ok(())
    })
}

pub(crate) use crate::bench::streams::SplitMix;
