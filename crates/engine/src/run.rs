//! Running one workload through one allocator on a fresh simulated kernel.
//!
//! The loop hands every op to the simulated program ([`crate::execute`]: call the
//! allocator, keep the pointer, write the bytes it got) and records what changed. Sampling happens every `sample_every` ops, at phase
//! markers and at the end; peaks are tracked at every op, so they never fall between
//! two samples.

use crate::oprow::{OpRow, Region};
use crate::program::{Blocks, Stepped, execute};
use crate::summary::{Outcome, Summary};
use crate::timeline::{Sample, Source, Timeline};
use kernel::{Addr, CostCategory, Kernel, KernelConfig, Syscall};
use malloc::{Allocator, Block};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use workload::{BlockId, Op, Workload};

/// How a run is set up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// The simulated machine.
    pub kernel: KernelConfig,
    /// Sample the metrics every this many ops (0: choose so a run has about 1000
    /// samples).
    pub sample_every: u64,
    /// Record one [`OpRow`] per allocator call (for `--emit-ops`).
    pub rows: bool,
    /// Record a heap map (every block) at each sample, for heap-map charts of small
    /// runs. Costs memory proportional to blocks x samples.
    pub heap_maps: bool,
}

/// The blocks of a heap at one sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeapSnapshot {
    /// Ops executed when the snapshot was taken.
    pub op: u64,
    /// The heap's start (the initial program break).
    pub heap_start: Addr,
    /// The program break then.
    pub brk: Addr,
    /// Every block, in address order.
    pub blocks: Vec<Block>,
    /// The program's block ids then: `(pointer, id)` for every block it held, in
    /// pointer order. The allocator's [`Block`]s know addresses, not ids; a used block
    /// holds the id whose pointer lies inside it (its header comes first). Empty in
    /// snapshots written before ids were recorded.
    #[serde(default)]
    pub ids: Vec<(Addr, BlockId)>,
}

/// Everything a run produces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Peaks and totals.
    pub summary: Summary,
    /// Sampled metrics.
    pub timeline: Timeline,
    /// One row per allocator call, when asked for.
    pub rows: Vec<OpRow>,
    /// Heap maps at the samples, when asked for.
    pub heap_maps: Vec<HeapSnapshot>,
}

/// A run that could not be carried out: the workload or the allocator is broken (not
/// the same as running out of memory, which is an [`Outcome`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// An op names a block that is not live (validate workloads first).
    UnknownBlock {
        /// Index of the op.
        op: u64,
        /// The block id.
        id: BlockId,
    },
    /// An op allocates a block id that is still live.
    DuplicateBlock {
        /// Index of the op.
        op: u64,
        /// The block id.
        id: BlockId,
    },
    /// The kernel refused something a driver needs and cannot do without (a process
    /// switch, a process exit, a kernel configuration that makes no machine).
    Kernel {
        /// What the driver was doing.
        what: String,
        /// The kernel's answer.
        detail: String,
    },
    /// The op stream itself could not be read (a streamed trace with a malformed or
    /// invalid line: the detail names the file and the line).
    Input {
        /// Ops executed before it.
        op: u64,
        /// What the reader said.
        detail: String,
    },
    /// The allocator broke its contract (rejected its own pointer, returned memory it
    /// does not own...).
    Allocator {
        /// Index of the op.
        op: u64,
        /// The allocator's name.
        allocator: String,
        /// What happened.
        detail: String,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::UnknownBlock { op, id } => {
                write!(f, "op {op}: block {id} is not allocated")
            }
            RunError::DuplicateBlock { op, id } => {
                write!(f, "op {op}: block {id} is allocated twice")
            }
            RunError::Allocator {
                op,
                allocator,
                detail,
            } => write!(f, "op {op}: allocator {allocator} failed: {detail}"),
            RunError::Kernel { what, detail } => write!(f, "{what}: {detail}"),
            RunError::Input { detail, .. } => f.write_str(detail),
        }
    }
}

impl std::error::Error for RunError {}

/// Tracks peaks at every op.
#[derive(Default)]
struct Peaks {
    live: u64,
    footprint: u64,
    live_at_peak_footprint: u64,
    allocated: u64,
    rss: u64,
    mapped: u64,
    pt_bytes: u64,
}

/// Runs `workload` through `allocator` on a fresh kernel configured by `config`.
pub fn run(
    workload: &Workload,
    allocator: Box<dyn Allocator>,
    config: &RunConfig,
) -> Result<RunResult, RunError> {
    run_observed(workload, allocator, config, &mut |_| {})
}

/// What an observer of [`run_observed`] sees after each op.
pub struct Step<'a> {
    /// Index of the op.
    pub index: u64,
    /// The op.
    pub op: &'a Op,
    /// The pointer a malloc or realloc returned.
    pub ptr: Option<Addr>,
    /// The allocator after the op (for [`Allocator::describe`] or heap maps).
    pub allocator: &'a dyn Allocator,
    /// The kernel after the op.
    pub kernel: &'a Kernel,
    /// The program's blocks after the op: ids, pointers, requested sizes, live bytes.
    pub blocks: &'a Blocks,
}

/// Like [`run`], calling `observe` after every op that ran (the verbose mode of `sim`
/// prints the free list there).
pub fn run_observed(
    workload: &Workload,
    allocator: Box<dyn Allocator>,
    config: &RunConfig,
    observe: &mut dyn FnMut(&Step),
) -> Result<RunResult, RunError> {
    // The ops by reference: no copy of each op.
    let ops = workload.ops.iter().map(Ok::<&Op, Infallible>);
    drive(
        workload,
        workload.ops.len() as u64,
        ops,
        allocator,
        config,
        observe,
    )
}

/// Like [`run_observed`], with the ops coming one at a time from `ops` instead of
/// `workload.ops` (which is ignored; the workload gives the name, seed, touch policy
/// and lifetime hints): a trace too large to hold in memory is read as it runs. The
/// host memory a run needs is then what the simulated machine holds (the live
/// blocks, the allocator's metadata, the kernel's pages and tables) and the samples,
/// not the stream.
///
/// `expected_ops` is the stream's length as far as it is known in advance (a `.rep`
/// header's op count); it only sets the default sampling interval (about 1000
/// samples). An item of `ops` that is an error ends the run with
/// [`RunError::Input`].
pub fn run_stream<E: fmt::Display>(
    workload: &Workload,
    expected_ops: u64,
    ops: impl Iterator<Item = Result<Op, E>>,
    allocator: Box<dyn Allocator>,
    config: &RunConfig,
    observe: &mut dyn FnMut(&Step),
) -> Result<RunResult, RunError> {
    drive(workload, expected_ops, ops, allocator, config, observe)
}

/// The op loop of [`run_observed`] and [`run_stream`], over ops held (`&Op`) or read
/// (`Op`).
fn drive<O: Borrow<Op>, E: fmt::Display>(
    workload: &Workload,
    expected_ops: u64,
    ops: impl Iterator<Item = Result<O, E>>,
    mut allocator: Box<dyn Allocator>,
    config: &RunConfig,
    observe: &mut dyn FnMut(&Step),
) -> Result<RunResult, RunError> {
    let mut kernel = Kernel::new(config.kernel.clone());
    let heap_start = kernel.program_break();
    let every = if config.sample_every > 0 {
        config.sample_every
    } else {
        (expected_ops / 1000).max(1)
    };

    let mut blocks = Blocks::default();
    let mut peaks = Peaks::default();
    let mut timeline = Timeline {
        allocator: allocator.name().to_string(),
        source: Some(Source::Simulated),
        samples: Vec::new(),
    };
    let mut rows = Vec::new();
    let mut heap_maps = Vec::new();
    let mut outcome = Outcome::Completed;
    let mut done: u64 = 0;
    let mut frees_refused: u64 = 0;

    sample(&kernel, allocator.as_ref(), 0, 0, None, &mut timeline);
    let mut n: u64 = 0;
    // Ops until the next interval sample (a countdown: no division per op).
    let mut until_sample = every;
    for (i, op) in ops.enumerate() {
        let op = op.map_err(|e| RunError::Input {
            op: i as u64,
            detail: e.to_string(),
        })?;
        let op: &Op = op.borrow();
        n = i as u64 + 1;
        let stepped = execute(
            i,
            op,
            workload,
            &mut blocks,
            &mut kernel,
            allocator.as_mut(),
        )?;
        let i = i as u64;
        let ptr = match stepped {
            Stepped::Ran { ptr, .. } => Some(ptr),
            Stepped::FreeRefused { .. } => {
                frees_refused += 1;
                Some(None)
            }
            died => {
                outcome = died.death().unwrap_or(Outcome::Completed);
                None
            }
        };
        if let Some(ptr) = ptr {
            if let Some(call) = Call::of(op) {
                done += 1;
                if config.rows {
                    rows.push(row(i, call, ptr, &kernel, allocator.as_ref(), heap_start));
                }
            }
            observe(&Step {
                index: i,
                op,
                ptr,
                allocator: allocator.as_ref(),
                kernel: &kernel,
                blocks: &blocks,
            });
        }
        let live = blocks.live();
        track_peaks(&kernel, allocator.as_ref(), live, &mut peaks);
        let phase = match op {
            Op::Phase { name } => Some(name.clone()),
            _ => None,
        };
        let stopped = outcome != Outcome::Completed;
        until_sample -= 1;
        let due = until_sample == 0;
        if due {
            until_sample = every;
        }
        if phase.is_some() || due || stopped {
            sample(
                &kernel,
                allocator.as_ref(),
                i + 1,
                live,
                phase,
                &mut timeline,
            );
            if config.heap_maps {
                heap_maps.push(snapshot(
                    &kernel,
                    allocator.as_ref(),
                    &blocks,
                    i + 1,
                    heap_start,
                ));
            }
        }
        if stopped {
            break;
        }
    }
    let live = blocks.live();
    if timeline.samples.last().is_none_or(|s| s.op != n) && outcome == Outcome::Completed {
        sample(&kernel, allocator.as_ref(), n, live, None, &mut timeline);
        if config.heap_maps {
            heap_maps.push(snapshot(
                &kernel,
                allocator.as_ref(),
                &blocks,
                n,
                heap_start,
            ));
        }
    }

    let end = End {
        live,
        calls: done,
        frees_refused,
        outcome,
    };
    let summary = summarize(workload, allocator.as_ref(), &kernel, &peaks, end);
    Ok(RunResult {
        summary,
        timeline,
        rows,
        heap_maps,
    })
}

/// An allocator call as the per-op CSV names it: kind letter, block id, size.
#[derive(Copy, Clone)]
struct Call {
    kind: char,
    id: u64,
    size: u64,
}

impl Call {
    /// The call `op` makes, or `None` for ops that do not call the allocator.
    fn of(op: &Op) -> Option<Call> {
        let (kind, id, size) = match *op {
            Op::Malloc { id, size } => ('a', id, size),
            Op::Free { id } => ('f', id, 0),
            Op::Realloc { id, size } => ('r', id, size),
            Op::Trim { pad } => ('t', 0, pad),
            Op::Touch { .. } | Op::Phase { .. } => return None,
        };
        Some(Call { kind, id, size })
    }
}

/// The per-op row of `call`, with the allocator's figures after it.
fn row(
    op: u64,
    call: Call,
    ptr: Option<Addr>,
    kernel: &Kernel,
    allocator: &dyn Allocator,
    heap_start: Addr,
) -> OpRow {
    let stats = allocator.stats();
    let region = match ptr {
        None => Region::None,
        Some(p) if p >= heap_start && p < kernel.program_break() => Region::Heap(p - heap_start),
        Some(_) => Region::Mmap,
    };
    OpRow {
        op,
        kind: call.kind,
        id: call.id,
        size: call.size,
        region,
        arena: stats.arena,
        hblks: stats.hblks,
        hblkhd: stats.hblkhd,
        uordblks: stats.uordblks,
        fordblks: stats.fordblks,
        keepcost: stats.keepcost,
    }
}

/// Peaks after one op: O(1), so it can run after every op ([`Allocator::usage`], not
/// the full statistics, whose `largest_free` may walk free lists).
fn track_peaks(kernel: &Kernel, allocator: &dyn Allocator, live: u64, peaks: &mut Peaks) {
    let stats = allocator.usage();
    let mem = kernel.mem();
    peaks.live = peaks.live.max(live);
    if stats.footprint > peaks.footprint {
        peaks.footprint = stats.footprint;
        peaks.live_at_peak_footprint = live;
    }
    peaks.allocated = peaks.allocated.max(stats.allocated);
    peaks.rss = peaks.rss.max(mem.rss);
    peaks.mapped = peaks.mapped.max(mem.mapped);
    peaks.pt_bytes = peaks.pt_bytes.max(mem.pt_bytes);
}

fn sample(
    kernel: &Kernel,
    allocator: &dyn Allocator,
    op: u64,
    live: u64,
    phase: Option<String>,
    timeline: &mut Timeline,
) {
    let stats = allocator.stats();
    let mem = kernel.mem();
    let c = kernel.counters();
    let mut syscalls = [0u64; 6];
    for (slot, call) in syscalls.iter_mut().zip(Syscall::ALL) {
        *slot = c.syscall(call);
    }
    timeline.samples.push(Sample {
        op,
        time_ns: kernel.ledger().total(),
        live,
        allocated: stats.allocated,
        footprint: stats.footprint,
        free_in_heap: stats.footprint.saturating_sub(stats.allocated),
        largest_free: stats.largest_free,
        mapped: mem.mapped,
        rss: mem.rss,
        pt_bytes: mem.pt_bytes,
        returned_brk: c.returned.brk,
        returned_munmap: c.returned.munmap,
        returned_madvise: c.returned.madvise,
        syscalls,
        minor_faults: c.minor_faults,
        tlb_misses: c.tlb_misses,
        phase,
    });
}

fn snapshot(
    kernel: &Kernel,
    allocator: &dyn Allocator,
    held: &Blocks,
    op: u64,
    heap_start: Addr,
) -> HeapSnapshot {
    let mut blocks = Vec::new();
    allocator.blocks(&mut blocks);
    let mut ids: Vec<(Addr, BlockId)> = held.iter().map(|(id, h)| (h.ptr, id)).collect();
    ids.sort_unstable();
    HeapSnapshot {
        op,
        heap_start,
        brk: kernel.program_break(),
        blocks,
        ids,
    }
}

/// Rounds to a fixed number of decimals so JSON output stays short and stable.
fn round(x: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x * m).round() / m
}

/// Fragmentation as a ratio of overhead to live bytes (0 when nothing was live).
fn frag(footprint: u64, live: u64) -> f64 {
    if live == 0 {
        0.0
    } else {
        round((footprint as f64 - live as f64) / live as f64, 4)
    }
}

/// How the op loop ended: what the program held, how many calls it made.
struct End {
    live: u64,
    calls: u64,
    frees_refused: u64,
    outcome: Outcome,
}

fn summarize(
    workload: &Workload,
    allocator: &dyn Allocator,
    kernel: &Kernel,
    peaks: &Peaks,
    end: End,
) -> Summary {
    let End {
        live,
        calls: done,
        frees_refused,
        outcome,
    } = end;
    let stats = allocator.stats();
    let c = kernel.counters();
    let ledger = kernel.ledger();
    let time_ns = ledger.total();
    Summary {
        allocator: allocator.name().to_string(),
        workload: workload.name.clone(),
        seed: workload.seed,
        outcome,
        ops: done,
        peak_live: peaks.live,
        peak_footprint: peaks.footprint,
        peak_allocated: peaks.allocated,
        peak_rss: peaks.rss,
        peak_mapped: peaks.mapped,
        peak_pt_bytes: peaks.pt_bytes,
        frag_max: frag(peaks.footprint, peaks.live),
        frag_peak: frag(peaks.footprint, peaks.live_at_peak_footprint),
        final_live: live,
        final_allocated: stats.allocated,
        final_footprint: stats.footprint,
        final_rss: kernel.mem().rss,
        frees_refused,
        syscalls: Syscall::ALL
            .iter()
            .map(|&s| (s.name().to_string(), c.syscall(s)))
            .collect(),
        minor_faults: c.minor_faults,
        tlb_misses: c.tlb_misses,
        returned: c.returned,
        returned_resident: c.returned_resident,
        time_ns: round(time_ns, 1),
        ns_per_op: if done == 0 {
            0.0
        } else {
            round(time_ns / done as f64, 2)
        },
        cost_ns: CostCategory::ALL
            .iter()
            .map(|&cat| (cat.name().to_string(), round(ledger.get(cat), 1)))
            .collect(),
    }
}
