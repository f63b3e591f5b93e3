//! `sim grade`: an allocator replayed through a grading set, checked after every op,
//! and scored.
//!
//! # What is checked
//! Every trace runs on a fresh simulated kernel that keeps the bytes of memory, through
//! the public allocator contract ([`malloc::contract`]) with its contents checks on:
//! after every call, like CS:APP's `mdriver`, and more. Pointers 16-byte aligned;
//! every block inside read-write memory the allocator got from the kernel; no two live
//! blocks overlapping and no live block handed out again; the heap map and the
//! statistics agreeing with the blocks; the pattern the program writes into every
//! block intact when the block is freed or reallocated; `realloc` keeping the old
//! bytes; no byte written by the allocator inside another live block's payload; the
//! allocator's own heap checker (`check_heap`, for the `student` allocator) content;
//! every block freed at the end (the grader frees what a trace leaves live); no panic
//! (a panicking allocator fails the trace at its op). The first
//! failure ends the trace with a message naming the trace, the op (its index in the
//! trace), the call, the block ids of the trace and the addresses, and the trace scores
//! 0.
//!
//! A trace's `calloc` or aligned allocation is graded as a `malloc` of its bytes (the
//! `Allocator` trait has only `malloc`; the grader writes its pattern into the block
//! either way), and its touches are left out (every block is written whole).
//!
//! An allocator that keeps no bytes in memory (the glibc model and the textbook
//! allocators keep their metadata in Rust structures and tell the kernel about their
//! accesses with `touch`) is graded too: the grader makes its `realloc` copies for it,
//! as the `memcpy` it models, and every other check applies. That is how the
//! reference, `glibc`, is graded.
//!
//! # The score
//! Per trace, in the spirit of CS:APP's malloc lab:
//!
//! ```text
//! score = 100 × (0.6 × util + 0.4 × min(1, T_glibc / T))
//! ```
//!
//! - `util` = peak live bytes (the most the program held at once, by the sizes it
//!   asked for) over the heap's high-water mark (the most memory the kernel had mapped
//!   for the process at once, so page-rounded, mappings included).
//! - `T` = the trace's simulated time on the allocator: everything the kernel charged
//!   (syscalls, mode switches, page faults and zeroing, page tables, TLB misses, ...)
//!   plus the allocator's user-space work. That work is the larger of what the
//!   allocator charged itself ([`kernel::Kernel::charge_user`]) and one `alloc_op_ns`
//!   (2.6 ns with the default costs) per call plus one per 64-byte cache line it read
//!   or wrote through the kernel's byte interface ([`kernel::Kernel::byte_stats`]; for
//!   an allocator that keeps no bytes, the lines of the copies the grader made for it).
//!   So not charging gains nothing, and reading fewer headers is faster.
//! - `T_glibc` = the same for the glibc model on the same trace: the reference, whose
//!   own throughput term is 1.
//!
//! The total is the weighted mean of the traces' scores, out of 100. Everything is
//! simulated: no clock is read, so every machine prints the same numbers.

pub mod key;
mod report;
pub mod set;

pub use report::{gradescope_json, json, table};
pub use set::{GradedTrace, GradingSet, SetError};

use crate::registry::{Registry, Setting};
use kernel::{Addr, CostCategory, Kernel, KernelConfig};
use malloc::Allocator;
use malloc::contract::{Contract, HeapCheck, Resized, Violation};
use malloc::options::Options;
use std::collections::BTreeMap;
use std::fmt;
use workload::{BlockId, Op, Workload};

/// The weight of utilization in a trace's score.
pub const UTIL_WEIGHT: f64 = 0.6;
/// The weight of throughput in a trace's score.
pub const THRU_WEIGHT: f64 = 0.4;
/// The reference allocator.
pub const REFERENCE: &str = "glibc";

/// What one trace measured on an allocator that passed every check.
#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    /// Allocator calls made (the trace's, and the frees of what it left live).
    pub calls: u64,
    /// The most bytes the program held at once.
    pub peak_live: u64,
    /// The most bytes the kernel had mapped for the process at once.
    pub heap: u64,
    /// `peak_live / heap` (1 when nothing was mapped).
    pub util: f64,
    /// Simulated nanoseconds (see the module documentation).
    pub time_ns: f64,
    /// Of which the allocator's user-space work.
    pub user_ns: f64,
    /// Cache lines the allocator read and wrote through the byte interface.
    pub lines: u64,
    /// Whether the allocator kept its own bytes in memory (else the grader copied
    /// for it at `realloc`).
    pub keeps_bytes: bool,
}

/// One trace's result.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceGrade {
    /// The trace's name.
    pub name: String,
    /// What it tests.
    pub about: String,
    /// Its weight.
    pub weight: f64,
    /// Ops in the trace.
    pub ops: usize,
    /// What it measured, or the first failure (the trace then scores 0).
    pub result: Result<Measure, String>,
    /// The reference's simulated time on the trace.
    pub reference_ns: f64,
    /// `min(1, reference_ns / time_ns)` (0 on a failure).
    pub thru: f64,
    /// The trace's score, 0 to 100.
    pub score: f64,
}

/// A whole grading.
#[derive(Clone, Debug, PartialEq)]
pub struct Grade {
    /// The allocator graded.
    pub allocator: String,
    /// What set it was graded on.
    pub set: String,
    /// Per trace, in the set's order.
    pub traces: Vec<TraceGrade>,
    /// The weighted mean of the scores, 0 to 100.
    pub total: f64,
}

impl Grade {
    /// Traces that passed every check.
    pub fn passed(&self) -> usize {
        self.traces.iter().filter(|t| t.result.is_ok()).count()
    }

    /// The weighted mean utilization over the traces that passed (0 if none did).
    pub fn mean_util(&self) -> f64 {
        let (mut sum, mut w) = (0.0, 0.0);
        for t in &self.traces {
            if let Ok(m) = &t.result {
                sum += t.weight * m.util;
                w += t.weight;
            }
        }
        if w > 0.0 { sum / w } else { 0.0 }
    }
}

/// Why a grading could not be carried out (not a failed trace: that is a result).
#[derive(Clone, Debug, PartialEq)]
pub enum GradeError {
    /// The allocator could not be built.
    Build(String),
    /// The reference failed a trace (a broken grading set or model).
    Reference {
        /// The trace.
        trace: String,
        /// What happened.
        detail: String,
    },
}

impl fmt::Display for GradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradeError::Build(e) => f.write_str(e),
            GradeError::Reference { trace, detail } => write!(
                f,
                "the reference allocator ({REFERENCE}) failed trace {trace}: {detail}"
            ),
        }
    }
}

impl std::error::Error for GradeError {}

/// How the grader runs an allocator: how to build it, and its contract settings.
pub struct Subject<A: Allocator> {
    /// Builds a fresh instance for each trace.
    pub make: Box<dyn Fn() -> Result<A, String>>,
    /// Bytes a block may reach past its map block (8 for glibc's chunks; see
    /// `malloc::contract`'s rule 5).
    pub overhang: u64,
    /// The allocator's own heap checker, run after every call.
    pub check: Option<HeapCheck<A>>,
}

/// The kernel every trace runs on: the default machine, keeping bytes.
pub fn kernel_config() -> KernelConfig {
    KernelConfig {
        store_bytes: true,
        ..KernelConfig::default()
    }
}

/// Replays `w` (the trace `name`) through `allocator` under the contract with its
/// contents checks, `check` as the allocator's heap checker; the measure, or the
/// failure message. With `checked` false the rules are not checked (the reference
/// run): the simulated figures are the same, since checking only reads.
///
/// An allocator that panics (a student's arithmetic overflow, an index out of bounds)
/// fails the trace at the op it was in, with the panic's message; the panic does not
/// go further. (The default panic hook still prints it; `sim grade` installs a quiet
/// one.)
pub fn run_trace<A: Allocator>(
    allocator: A,
    overhang: u64,
    check: Option<HeapCheck<A>>,
    checked: bool,
    name: &str,
    w: &Workload,
) -> Result<Measure, String> {
    let at_op = std::cell::Cell::new(None::<usize>);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        replay(allocator, overhang, check, checked, name, w, &at_op)
    }));
    r.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let when = match at_op.get() {
            Some(i) => format!("op {i}"),
            None => "the end (freeing the blocks the trace left live)".to_string(),
        };
        Err(format!(
            "trace {name}, {when}: the allocator panicked: {message}"
        ))
    })
}

/// [`run_trace`]'s work; `at_op` follows the op being replayed.
fn replay<A: Allocator>(
    allocator: A,
    overhang: u64,
    check: Option<HeapCheck<A>>,
    checked: bool,
    name: &str,
    w: &Workload,
    at_op: &std::cell::Cell<Option<usize>>,
) -> Result<Measure, String> {
    let mut c = Contract::new(allocator, Kernel::new(kernel_config()))
        .overhang(overhang)
        .check_contents(true)
        .check_rules(checked);
    if let Some(f) = check {
        c = c.heap_check(f);
    }
    let at =
        |i: usize| move |v: Violation| format!("trace {name}, op {i} ({}): {}", v.call, v.rule);
    let mut ptrs: BTreeMap<BlockId, (Addr, u64)> = BTreeMap::new();
    let (mut live, mut peak_live, mut heap) = (0u64, 0u64, 0u64);
    for (i, op) in w.ops.iter().enumerate() {
        at_op.set(Some(i));
        match *op {
            Op::Malloc { id, size } => match c.malloc_as(size, id).map_err(at(i))? {
                Some(b) => {
                    ptrs.insert(id, (b.ptr, size));
                    live += size;
                }
                None => {
                    return Err(format!(
                        "trace {name}, op {i} (malloc({size})): out of memory (the allocator returned NULL)"
                    ));
                }
            },
            Op::Free { id } => {
                let (ptr, size) = ptrs.remove(&id).ok_or_else(|| unknown(name, i, id))?;
                c.free(ptr).map_err(at(i))?;
                live -= size;
            }
            Op::Realloc { id, size } => {
                let (ptr, old) = *ptrs.get(&id).ok_or_else(|| unknown(name, i, id))?;
                match c.realloc(ptr, size).map_err(at(i))? {
                    Resized::To(b) => {
                        ptrs.insert(id, (b.ptr, size));
                        live = live - old + size;
                    }
                    Resized::Freed => {
                        ptrs.remove(&id);
                        live -= old;
                    }
                    Resized::OutOfMemory | Resized::Refused => {
                        return Err(format!(
                            "trace {name}, op {i} (realloc({ptr:#x}, {size})): out of memory (the allocator returned NULL)"
                        ));
                    }
                }
            }
            Op::Trim { pad } => {
                c.trim(pad).map_err(at(i))?;
            }
            Op::Touch { .. } | Op::Phase { .. } => {}
        }
        peak_live = peak_live.max(live);
        heap = heap.max(c.kernel().mem().mapped);
    }
    let left = ptrs.len();
    at_op.set(None);
    c.free_all().map_err(|v| {
        format!(
            "trace {name}, at the end (freeing the {left} blocks the trace left live), {}: {}",
            v.call, v.rule
        )
    })?;
    let k = c.kernel();
    let ledger = k.ledger();
    let own = ledger.get(CostCategory::User);
    let lines = c.allocator_io().lines();
    let calls = c.calls();
    let floor = k.config().cost.alloc_op_ns * (calls + lines) as f64;
    let user_ns = own.max(floor);
    Ok(Measure {
        calls,
        peak_live,
        heap,
        util: if heap == 0 {
            1.0
        } else {
            peak_live as f64 / heap as f64
        },
        time_ns: ledger.total() - own + user_ns,
        user_ns,
        lines,
        keeps_bytes: c.keeps_bytes(),
    })
}

fn unknown(name: &str, i: usize, id: BlockId) -> String {
    format!("trace {name}, op {i}: block {id} is not allocated (a broken trace)")
}

/// The reference's simulated time on every trace of `set`.
pub fn reference_times(set: &GradingSet) -> Result<Vec<f64>, GradeError> {
    reference_times_with(set, &mut |_| {})
}

/// Told what runs next (`glibc on binary-bal`), for a progress display.
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// [`reference_times`], reporting each run to `progress` first.
pub fn reference_times_with(set: &GradingSet, progress: Progress) -> Result<Vec<f64>, GradeError> {
    let reference = reference_subject();
    set.traces
        .iter()
        .map(|t| {
            progress(&format!("{REFERENCE} on {}", t.name));
            let r = (reference.make)().map_err(GradeError::Build)?;
            run_trace(r, reference.overhang, None, false, &t.name, &t.workload)
                .map(|m| m.time_ns)
                .map_err(|detail| GradeError::Reference {
                    trace: t.name.clone(),
                    detail,
                })
        })
        .collect()
}

/// Grades `subject` on `set` against the reference glibc; `name` names it.
pub fn grade<A: Allocator>(
    name: &str,
    subject: &Subject<A>,
    set: &GradingSet,
) -> Result<Grade, GradeError> {
    let references = reference_times(set)?;
    grade_against(name, subject, set, &references, &mut |_| {})
}

/// [`grade`] with the reference's times given (one per trace of `set`), reporting
/// each run to `progress` first.
pub fn grade_against<A: Allocator>(
    name: &str,
    subject: &Subject<A>,
    set: &GradingSet,
    references: &[f64],
    progress: Progress,
) -> Result<Grade, GradeError> {
    let mut traces = Vec::new();
    for (t, &reference_ns) in set.traces.iter().zip(references) {
        progress(&format!("{name} on {}", t.name));
        let a = (subject.make)().map_err(GradeError::Build)?;
        let result = run_trace(
            a,
            subject.overhang,
            subject.check,
            true,
            &t.name,
            &t.workload,
        );
        let (thru, score) = match &result {
            Ok(m) => {
                let thru = if m.time_ns > 0.0 {
                    (reference_ns / m.time_ns).min(1.0)
                } else {
                    1.0
                };
                (thru, 100.0 * (UTIL_WEIGHT * m.util + THRU_WEIGHT * thru))
            }
            Err(_) => (0.0, 0.0),
        };
        traces.push(TraceGrade {
            name: t.name.clone(),
            about: t.about.clone(),
            weight: t.weight,
            ops: t.workload.ops.len(),
            result,
            reference_ns,
            thru,
            score,
        });
    }
    let total = traces.iter().map(|t| t.weight * t.score).sum::<f64>() / set.total_weight();
    Ok(Grade {
        allocator: name.to_string(),
        set: set.about.clone(),
        traces,
        total,
    })
}

/// The reference: the glibc model with its defaults.
fn reference_subject() -> Subject<Box<dyn Allocator>> {
    Subject {
        make: Box::new(|| crate::registry::build(REFERENCE, &[]).map_err(|e| e.to_string())),
        overhang: 8,
        check: None,
    }
}

/// The allocator `name` of `registry` with `settings` (those it takes) as the grader
/// runs it. The `student` allocator comes with its heap checker
/// ([`student::Student::check_heap`]); an allocator of the `glibc` family with the 8
/// bytes of overhang its chunks have. Fails (with the registry's message) when the
/// name is unknown or a setting is bad.
pub fn subject(
    registry: &Registry,
    name: &str,
    settings: &[Setting],
) -> Result<GradedSubject, GradeError> {
    let build = |e: crate::registry::RegistryError| GradeError::Build(e.to_string());
    let entry = *registry.find(name).map_err(build)?;
    // A bad setting is found now, not at the first trace.
    entry.build(settings).map_err(build)?;
    let settings: Vec<Setting> = settings.to_vec();
    if entry.name == "student" {
        let mine: Vec<Setting> = settings
            .into_iter()
            .filter(|(k, _)| entry.takes(k))
            .collect();
        return Ok(GradedSubject::Student(Subject {
            make: Box::new(move || {
                let (config, _) = student::StudentConfig::default()
                    .apply(&mine)
                    .map_err(|e| format!("allocator student: {e}"))?;
                student::Student::new(config).map_err(|e| format!("allocator student: {e}"))
            }),
            overhang: 0,
            check: Some(student::Student::check_heap),
        }));
    }
    Ok(GradedSubject::Other(Subject {
        make: Box::new(move || entry.build(&settings).map_err(|e| e.to_string())),
        overhang: if entry.family == "glibc" { 8 } else { 0 },
        check: None,
    }))
}

/// An allocator ready for grading: the student's (with its checker), or any other.
pub enum GradedSubject {
    /// The `student` allocator.
    Student(Subject<student::Student>),
    /// Any other allocator of the registry.
    Other(Subject<Box<dyn Allocator>>),
}

/// Grades the allocator `name` of `registry` with `settings` on `set` (see
/// [`subject`]).
pub fn grade_registered(
    registry: &Registry,
    name: &str,
    settings: &[Setting],
    set: &GradingSet,
) -> Result<Grade, GradeError> {
    grade_registered_with(registry, name, settings, set, &mut |_| {})
}

/// [`grade_registered`], reporting each of its runs (the reference's, then the
/// allocator's, trace by trace) to `progress` first.
pub fn grade_registered_with(
    registry: &Registry,
    name: &str,
    settings: &[Setting],
    set: &GradingSet,
    progress: Progress,
) -> Result<Grade, GradeError> {
    let subject = subject(registry, name, settings)?;
    let references = reference_times_with(set, progress)?;
    match subject {
        GradedSubject::Student(s) => grade_against(name, &s, set, &references, progress),
        GradedSubject::Other(s) => grade_against(name, &s, set, &references, progress),
    }
}
