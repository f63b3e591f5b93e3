//! The Linux/glibc implementation: one module per benchmark group, each running its
//! loops in a forked child (see [`child`]).

mod basic;
mod brk;
mod by_size;
mod child;
mod faults;
pub(crate) mod machine;
mod malloc;
mod mapping;
mod pagetable;
mod shootdown;
mod steady;
mod switch;
mod timing;
mod tlb;

use child::{Outcome, Recorder};
use timing::Plan;

use crate::sys::{self, SysError};

use super::derive::{derive_cost_model, reference_ns};
use super::streams::{VisitCounter, arena_streams};
use super::{BenchError, BenchOptions, Calibration, Measurement, SizeCost, keys, stats};

/// Why a benchmark stopped inside its child process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A system or libc call failed.
    Os(SysError),
    /// Something the benchmark relies on did not hold (e.g. `mremap` moved a mapping
    /// it was asked to resize in place).
    Unexpected(&'static str),
}

impl From<SysError> for Failure {
    fn from(e: SysError) -> Failure {
        Failure::Os(e)
    }
}

/// What every benchmark group needs to know.
pub(crate) struct Ctx {
    /// The CPU the children pin themselves to.
    pub(crate) cpu: usize,
    /// Base page size.
    pub(crate) page: usize,
    /// Repetitions and sizes for the chosen effort.
    pub(crate) plan: Plan,
    /// Cost of one clock reading, ns (measured by the first group, subtracted where a
    /// single call is timed on its own).
    pub(crate) timer_ns: f64,
    /// Whether fresh anonymous memory may get huge pages without `madvise`.
    pub(crate) thp_without_asking: bool,
    /// Notes for the reader, collected on the way.
    pub(crate) notes: Vec<String>,
}

/// One series a benchmark records: what becomes a [`Measurement`].
pub(crate) struct Desc {
    pub(crate) key: String,
    pub(crate) label: String,
    pub(crate) unit: &'static str,
    pub(crate) method: &'static str,
}

impl Desc {
    pub(crate) fn new(key: &str, label: &str, unit: &'static str, method: &'static str) -> Desc {
        Desc {
            key: key.to_string(),
            label: label.to_string(),
            unit,
            method,
        }
    }
}

impl Ctx {
    fn new(opts: &BenchOptions) -> Result<Ctx, BenchError> {
        let allowed = sys::allowed_cpus().map_err(|e| setup_error(e.into()))?;
        let cpu = match opts.cpu {
            Some(c) if allowed.contains(&c) => c,
            Some(c) => return Err(BenchError::BadCpu { cpu: c, allowed }),
            None => match allowed.last() {
                Some(&c) => c,
                None => sys::current_cpu().unwrap_or(0),
            },
        };
        let page = sys::page_size();
        let thp_without_asking = machine::thp_without_asking();
        let mut notes = Vec::new();
        if thp_without_asking {
            notes.push(
                "transparent huge pages can back anonymous memory here without madvise: the \
                 fault benchmarks opt out with MADV_NOHUGEPAGE and populate with \
                 MADV_POPULATE_WRITE instead of MAP_POPULATE; plain mmap+munmap of 2 MiB and \
                 more may be served by huge pages"
                    .to_string(),
            );
        }
        if page != 4096 {
            notes.push(format!(
                "the base page is {page} bytes; the reference machine's figures are for 4096"
            ));
        }
        Ok(Ctx {
            cpu,
            page,
            plan: Plan::for_effort(opts.effort),
            timer_ns: 0.0,
            thp_without_asking,
            notes,
        })
    }

    /// Runs `body` in a child with one series per `descs` entry and turns what comes
    /// back into measurements.
    pub(crate) fn run(
        &self,
        bench: &'static str,
        descs: Vec<Desc>,
        body: impl FnOnce(&mut Recorder) -> Result<(), Failure>,
    ) -> Result<Vec<Measurement>, BenchError> {
        let out = child::run_isolated(
            bench,
            self.cpu,
            descs.len(),
            self.plan.reps,
            self.plan.timeout,
            body,
        )?;
        to_measurements(bench, descs, out)
    }
}

fn to_measurements(
    bench: &'static str,
    descs: Vec<Desc>,
    out: Outcome,
) -> Result<Vec<Measurement>, BenchError> {
    if out.series.len() != descs.len() {
        return Err(BenchError::Child {
            bench,
            detail: format!("sent {} series, expected {}", out.series.len(), descs.len()),
        });
    }
    descs
        .into_iter()
        .zip(out.series)
        .zip(out.inner)
        .map(|((d, samples), inner)| {
            let (median_ns, spread) =
                stats::summarize(&samples).ok_or_else(|| BenchError::Child {
                    bench,
                    detail: format!("no usable samples for '{}'", d.key),
                })?;
            Ok(Measurement {
                reference_ns: reference_ns(&d.key),
                key: d.key,
                label: d.label,
                unit: d.unit.to_string(),
                median_ns: stats::round_to(median_ns, 3),
                spread: spread.rounded(3),
                reps: samples.len(),
                inner,
                method: d.method.to_string(),
            })
        })
        .collect()
}

pub(crate) fn setup_error(f: Failure) -> BenchError {
    match f {
        Failure::Os(SysError { call, errno }) => BenchError::Os {
            bench: "setup",
            call: call.to_string(),
            errno,
        },
        Failure::Unexpected(what) => BenchError::Child {
            bench: "setup",
            detail: what.to_string(),
        },
    }
}

/// A benchmark group: one progress step, one or more children.
type Group = fn(&mut Ctx) -> Result<Vec<Measurement>, BenchError>;

/// Every group, in the order they run. The clock goes first: later groups subtract it.
const GROUPS: &[(&str, Group)] = &[
    ("clock and null syscall", basic::run),
    ("sbrk grow and shrink", brk::run),
    ("mmap and munmap alone", mapping::run_alone),
    ("mmap + munmap by size", mapping::run_pairs),
    ("mprotect and mremap", mapping::run_mprotect_mremap),
    ("mappings in a steady state", steady::run),
    ("page faults", faults::run),
    (
        "faults after a TLB invalidation",
        faults::run_after_invalidation,
    ),
    ("page zeroing", faults::run_zero),
    ("page-table pages", pagetable::run),
    ("TLB misses", tlb::run),
    ("TLB shootdowns", shootdown::run),
    ("malloc and free", malloc::run),
    ("pipes and context switches", switch::run),
];

pub(crate) fn calibrate(
    opts: &BenchOptions,
    visits: Option<VisitCounter<'_>>,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Calibration, BenchError> {
    let mut ctx = Ctx::new(opts)?;
    let machine = machine::detect();
    let total = GROUPS.len();
    let mut measurements = Vec::new();
    for (i, (name, group)) in GROUPS.iter().enumerate() {
        progress(i, total, name);
        let ms = group(&mut ctx)?;
        if let Some(t) = ms.iter().find(|m| m.key == keys::TIMER_READ) {
            ctx.timer_ns = t.median_ns.max(0.0);
        }
        measurements.extend(ms);
    }
    progress(total, total, "done");
    // The model's visit counts for the same calls, over as many pairs as a pass over
    // the pool (the timed loops run many more; the steady state is the same).
    let live = ctx.plan.steady_live;
    let counts = visits.map(|count| count(&arena_streams(live, live.max(1000))));
    let derived = derive_cost_model(&measurements, ctx.page, counts)?;
    let mut notes = ctx.notes;
    notes.extend(derived.notes);
    Ok(Calibration {
        machine,
        effort: opts.effort,
        cpu: ctx.cpu,
        measurements,
        cost: derived.cost,
        derivations: derived.derivations,
        notes,
    })
}

pub(crate) fn cost_by_size(
    opts: &BenchOptions,
    sizes: &[usize],
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Vec<SizeCost>, BenchError> {
    let ctx = Ctx::new(opts)?;
    let mut out = Vec::with_capacity(sizes.len());
    for (i, &size) in sizes.iter().enumerate() {
        progress(i, sizes.len(), &keys::size_name(size));
        out.push(by_size::measure(&ctx, size)?);
    }
    progress(sizes.len(), sizes.len(), "done");
    Ok(out)
}
