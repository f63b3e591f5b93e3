//! What most experiments share: a setup of workloads x allocators run through the
//! engine, the timeline CSV every timeline-based figure writes, and the summary table.

use super::snapshot;
use super::table::{self, Csv, fixed};
use super::{ChartTitle, Column, ExperimentError};
use crate::registry::{self, Setting};
use engine::{RunConfig, RunResult, Sample, Source, Summary, Timeline};
use kernel::{KernelConfig, Syscall};
use serde::Serialize;
use workload::{GeneratorParams, Op, Workload};

/// A generated workload of a setup.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadSpec {
    /// The generator and its parameters.
    pub params: GeneratorParams,
    /// The seed.
    pub seed: u64,
}

impl WorkloadSpec {
    /// Generator `params` with `seed`.
    pub fn new(params: GeneratorParams, seed: u64) -> WorkloadSpec {
        WorkloadSpec { params, seed }
    }

    /// Generates the ops.
    pub fn generate(&self) -> Result<Workload, ExperimentError> {
        self.params
            .generate(self.seed)
            .map_err(|e| ExperimentError::Workload(e.to_string()))
    }
}

/// An allocator of a setup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AllocatorSpec {
    /// Its registry name.
    pub name: String,
    /// Its `key=value` settings.
    pub settings: Vec<Setting>,
    /// What figures and tables call it (the name, or the name and its settings).
    pub label: String,
}

impl AllocatorSpec {
    /// Allocator `name` with its defaults.
    pub fn named(name: &str) -> AllocatorSpec {
        AllocatorSpec {
            name: name.to_string(),
            settings: Vec::new(),
            label: name.to_string(),
        }
    }

    /// Allocator `name` with `settings`, shown as `label`.
    pub fn with(name: &str, settings: &[(&str, &str)], label: &str) -> AllocatorSpec {
        AllocatorSpec {
            name: name.to_string(),
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            label: label.to_string(),
        }
    }

    /// A fresh instance.
    pub fn build(&self) -> Result<Box<dyn malloc::Allocator>, ExperimentError> {
        Ok(registry::build(&self.name, &self.settings)?)
    }
}

/// How an experiment is set up: what runs through what on which machine.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setup {
    /// The workloads (empty for drivers that make their own ops).
    pub workloads: Vec<WorkloadSpec>,
    /// The allocators.
    pub allocators: Vec<AllocatorSpec>,
    /// The simulated machine.
    pub kernel: KernelConfig,
    /// Sample every this many ops (0: about 1000 samples a run).
    pub sample_every: u64,
    /// Record heap maps.
    pub heap_maps: bool,
}

impl Setup {
    /// Workloads x allocators on the default machine.
    pub fn new(workloads: Vec<WorkloadSpec>, allocators: Vec<AllocatorSpec>) -> Setup {
        Setup {
            workloads,
            allocators,
            kernel: KernelConfig::default(),
            sample_every: 0,
            heap_maps: false,
        }
    }

    /// A setup of a driver that makes its own ops.
    pub fn driver(kernel: KernelConfig) -> Setup {
        Setup {
            workloads: Vec::new(),
            allocators: Vec::new(),
            kernel,
            sample_every: 0,
            heap_maps: false,
        }
    }

    fn config(&self) -> RunConfig {
        RunConfig {
            kernel: self.kernel.clone(),
            sample_every: self.sample_every,
            rows: false,
            heap_maps: self.heap_maps,
        }
    }

    /// Runs workload `w` through every allocator, each on a fresh kernel; results
    /// carry the allocators' labels.
    pub fn run_workload(&self, w: usize) -> Result<Vec<RunResult>, ExperimentError> {
        let spec = self
            .workloads
            .get(w)
            .ok_or_else(|| ExperimentError::Driver {
                what: "setup".to_string(),
                detail: format!("no workload {w}"),
            })?;
        let workload = spec.generate()?;
        self.run_ops(&workload)
    }

    /// Runs `workload` through every allocator of the setup.
    pub fn run_ops(&self, workload: &Workload) -> Result<Vec<RunResult>, ExperimentError> {
        let config = self.config();
        let mut out = Vec::new();
        for a in &self.allocators {
            let mut r = engine::run(workload, a.build()?, &config).map_err(|error| {
                ExperimentError::Run {
                    what: format!("{} through {}", workload.name, a.label),
                    error,
                }
            })?;
            r.summary.allocator = a.label.clone();
            r.timeline.allocator = a.label.clone();
            out.push(r);
        }
        Ok(out)
    }

    /// The `sim` command lines that run the setup's workloads through its allocators
    /// exactly as the experiment does (one command per workload), or `None` when the
    /// setup needs something the command line cannot say (another simulated machine).
    /// Each command names every generator parameter that differs from its default, so
    /// the runs, and their summaries, are the experiment's own.
    pub fn cli_commands(&self) -> Option<Vec<String>> {
        if self.workloads.is_empty() || self.allocators.is_empty() {
            return None;
        }
        if self.kernel != KernelConfig::default() {
            return None;
        }
        let allocators: Vec<String> = self
            .allocators
            .iter()
            .map(|a| {
                if a.settings.is_empty() {
                    a.name.clone()
                } else {
                    let kv: Vec<String> =
                        a.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{}[{}]", a.name, kv.join(","))
                }
            })
            .collect();
        let mut out = Vec::new();
        for spec in &self.workloads {
            let name = spec.params.name();
            let defaults = GeneratorParams::defaults(name).ok()?.settings();
            let mut cmd = format!("sim -w {name} --seed {}", spec.seed);
            for (k, v) in spec.params.settings() {
                if defaults.iter().any(|(dk, dv)| *dk == k && *dv == v) {
                    continue;
                }
                if k == "ops" {
                    cmd.push_str(&format!(" --ops {v}"));
                } else {
                    cmd.push_str(&format!(" --param {k}={v}"));
                }
            }
            if self.sample_every > 0 {
                cmd.push_str(&format!(" --sample-every {}", self.sample_every));
            }
            let list = allocators.join(",");
            if list.contains('[') {
                cmd.push_str(&format!(" -a '{list}'"));
            } else {
                cmd.push_str(&format!(" -a {list}"));
            }
            out.push(cmd);
        }
        Some(out)
    }

    /// The allocators' labels.
    pub fn labels(&self) -> Vec<String> {
        self.allocators.iter().map(|a| a.label.clone()).collect()
    }

    /// The chart title of workload `w` run through every allocator.
    pub fn title(&self, w: usize, note: Option<String>) -> ChartTitle {
        let spec = self.workloads.get(w);
        ChartTitle {
            workload: spec
                .map(|s| s.params.name().to_string())
                .unwrap_or_default(),
            seed: spec.map(|s| s.seed),
            allocators: self.labels(),
            cost_model: "default".to_string(),
            note,
        }
    }
}

/// The columns of a timeline CSV: one row per sample of each series.
pub const TIMELINE_COLUMNS: &[Column] = &[
    (
        "series",
        "the run: allocator label, and the workload where a figure has several",
    ),
    ("op", "ops executed when the sample was taken"),
    ("time_ns", "simulated nanoseconds so far (cost model)"),
    ("live", "bytes requested by live blocks"),
    (
        "allocated",
        "bytes of blocks handed out, headers and padding included",
    ),
    (
        "footprint",
        "bytes the allocator holds from the OS (heap + its mappings)",
    ),
    ("free_in_heap", "footprint - allocated (bytes)"),
    (
        "largest_free",
        "largest free block the allocator can hand out without a syscall (bytes)",
    ),
    (
        "mapped",
        "mapped anonymous memory of the process, VSZ (bytes)",
    ),
    ("rss", "resident bytes"),
    ("pt_bytes", "bytes of page-table pages"),
    (
        "returned_brk",
        "cumulative bytes given back by lowering the break",
    ),
    ("returned_munmap", "cumulative bytes given back by munmap"),
    ("returned_madvise", "cumulative bytes given back by madvise"),
    ("brk", "cumulative brk calls"),
    ("mmap", "cumulative mmap calls"),
    ("munmap", "cumulative munmap calls"),
    ("mprotect", "cumulative mprotect calls"),
    ("mremap", "cumulative mremap calls"),
    ("madvise", "cumulative madvise calls"),
    ("minor_faults", "cumulative minor page faults"),
    ("tlb_misses", "cumulative TLB misses (simulated runs only)"),
    (
        "phase",
        "the workload phase the sample lies in: the last phase marker at or before it",
    ),
    (
        "phase_start",
        "1 on the sample taken at the marker that starts its phase (the state as the \
         phase begins), else 0",
    ),
];

/// Appends a timeline's samples to a CSV of [`TIMELINE_COLUMNS`], under `series`.
pub fn timeline_rows(csv: &mut Csv, series: &str, t: &Timeline) {
    for (s, phase) in t.samples.iter().zip(t.phase_of_each()) {
        let mut cells = vec![
            series.to_string(),
            s.op.to_string(),
            fixed(s.time_ns, 1),
            s.live.to_string(),
            s.allocated.to_string(),
            s.footprint.to_string(),
            s.free_in_heap.to_string(),
            s.largest_free.to_string(),
            s.mapped.to_string(),
            s.rss.to_string(),
            s.pt_bytes.to_string(),
            s.returned_brk.to_string(),
            s.returned_munmap.to_string(),
            s.returned_madvise.to_string(),
        ];
        cells.extend(s.syscalls.iter().map(u64::to_string));
        cells.push(s.minor_faults.to_string());
        cells.push(s.tlb_misses.to_string());
        cells.push(phase.unwrap_or_default().to_string());
        cells.push(if s.phase.is_some() { "1" } else { "0" }.to_string());
        csv.row(&cells);
    }
}

/// A CSV of [`TIMELINE_COLUMNS`] with every timeline, each under its allocator name.
pub fn timelines_csv(timelines: &[&Timeline]) -> String {
    let names: Vec<&str> = TIMELINE_COLUMNS.iter().map(|c| c.0).collect();
    let mut csv = Csv::new(&names);
    for t in timelines {
        timeline_rows(&mut csv, &t.allocator, t);
    }
    csv.finish()
}

/// Reads a CSV of [`TIMELINE_COLUMNS`] (comment lines on top allowed) back into
/// timelines, one per series in order of first appearance, marked as coming from
/// `source`; also returns the comments. Errors give the 1-based line.
pub fn parse_timeline_csv(
    text: &str,
    source: Source,
) -> Result<(Vec<String>, Vec<Timeline>), (usize, String)> {
    let cols = TIMELINE_COLUMNS;
    let snapshot = snapshot::read(text, cols)?;
    let mut out: Vec<Timeline> = Vec::new();
    for r in &snapshot.records {
        let mut syscalls = [0u64; 6];
        for (j, slot) in syscalls.iter_mut().enumerate() {
            *slot = r.count(cols, 14 + j)?;
        }
        let sample = Sample {
            op: r.count(cols, 1)?,
            time_ns: r.number(cols, 2, f64::NEG_INFINITY)?,
            live: r.count(cols, 3)?,
            allocated: r.count(cols, 4)?,
            footprint: r.count(cols, 5)?,
            free_in_heap: r.count(cols, 6)?,
            largest_free: r.count(cols, 7)?,
            mapped: r.count(cols, 8)?,
            rss: r.count(cols, 9)?,
            pt_bytes: r.count(cols, 10)?,
            returned_brk: r.count(cols, 11)?,
            returned_munmap: r.count(cols, 12)?,
            returned_madvise: r.count(cols, 13)?,
            syscalls,
            minor_faults: r.count(cols, 20)?,
            tlb_misses: r.count(cols, 21)?,
            phase: match r.cells[23].as_str() {
                "1" => Some(r.cells[22].clone()),
                "0" => None,
                other => {
                    return Err((
                        r.line,
                        format!("column phase_start: {other:?} is not 0 or 1"),
                    ));
                }
            },
        };
        let series = &r.cells[0];
        match out.iter_mut().find(|t| t.allocator == *series) {
            Some(t) => {
                if t.samples.last().is_some_and(|l| l.op > sample.op) {
                    return Err((r.line, format!("op {} goes back in time", sample.op)));
                }
                t.samples.push(sample);
            }
            None => out.push(Timeline {
                allocator: series.to_string(),
                source: Some(source),
                samples: vec![sample],
            }),
        }
    }
    if out.is_empty() {
        return Err((snapshot.comments.len() + 2, "no samples".to_string()));
    }
    Ok((snapshot.comments, out))
}

/// The header of [`summary_row`].
pub const SUMMARY_HEADER: &[&str] = &[
    "allocator",
    "peak live",
    "peak footprint",
    "peak RSS",
    "frag_max",
    "syscalls",
    "faults",
    "returned",
    "time/op",
];

/// One row of the usual per-allocator table.
pub fn summary_row(s: &Summary) -> Vec<String> {
    vec![
        s.allocator.clone(),
        table::bytes(s.peak_live),
        table::bytes(s.peak_footprint),
        table::bytes(s.peak_rss),
        fixed(s.frag_max, 3),
        table::count(total_syscalls(s)),
        table::count(s.minor_faults),
        table::bytes(s.returned.total()),
        table::nanos(s.ns_per_op),
    ]
}

/// Every syscall of a run.
pub fn total_syscalls(s: &Summary) -> u64 {
    Syscall::ALL.iter().map(|&c| s.syscall(c)).sum()
}

/// One program made of several workloads run one after the other: block ids of each
/// part are shifted past those of the parts before it, the parts' own phase markers
/// are replaced by one marker per part (its label), and lifetime hints follow their
/// blocks. Every part must free its blocks for the ids to stay apart; a part that
/// leaves blocks live leaves them live in the whole.
pub fn concat(name: &str, parts: Vec<(String, Workload)>) -> Workload {
    let mut out = Workload::new(name);
    let mut offset: u64 = 0;
    for (label, part) in parts {
        out.ops.push(Op::Phase { name: label });
        let mut top = 0;
        let shift = |id: u64, top: &mut u64| {
            *top = (*top).max(id + 1);
            id + offset
        };
        for op in part.ops {
            let op = match op {
                Op::Malloc { id, size } => Op::Malloc {
                    id: shift(id, &mut top),
                    size,
                },
                Op::Free { id } => Op::Free {
                    id: shift(id, &mut top),
                },
                Op::Realloc { id, size } => Op::Realloc {
                    id: shift(id, &mut top),
                    size,
                },
                Op::Touch {
                    id,
                    offset: o,
                    len,
                    write,
                } => Op::Touch {
                    id: shift(id, &mut top),
                    offset: o,
                    len,
                    write,
                },
                Op::Phase { .. } => continue,
                other => other,
            };
            out.ops.push(op);
        }
        for (id, class) in part.lifetimes {
            out.lifetimes.insert(id + offset, class);
        }
        offset += top;
    }
    out
}

/// A program that holds a block for a while before freeing it: `w`'s ops up to its
/// phase marker `release` (the free of a long-lived block, such as ramp's `unpin`),
/// then a phase `idle` running `idle`'s ops (ids shifted past `w`'s), then the rest of
/// `w`. Figures need the stretch in between to show what the held block costs.
pub fn hold_then_release(w: Workload, release: &str, idle: Workload) -> Workload {
    let cut = w
        .ops
        .iter()
        .position(|o| matches!(o, Op::Phase { name } if name == release))
        .unwrap_or(w.ops.len());
    let top = w.ops.iter().filter_map(Op::id).max().map_or(0, |m| m + 1);
    let mut out = Workload {
        ops: w.ops[..cut].to_vec(),
        ..w.clone()
    };
    out.ops.push(Op::Phase {
        name: "idle".to_string(),
    });
    for op in idle.ops {
        out.ops.push(match op {
            Op::Malloc { id, size } => Op::Malloc { id: id + top, size },
            Op::Free { id } => Op::Free { id: id + top },
            Op::Realloc { id, size } => Op::Realloc { id: id + top, size },
            Op::Touch {
                id,
                offset,
                len,
                write,
            } => Op::Touch {
                id: id + top,
                offset,
                len,
                write,
            },
            // The idle part's own phases are folded into `idle`.
            Op::Phase { .. } => continue,
            other => other,
        });
    }
    for (id, class) in idle.lifetimes {
        out.lifetimes.insert(id + top, class);
    }
    out.ops.extend_from_slice(&w.ops[cut..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_survives_its_csv() {
        let setup = Setup::new(
            vec![WorkloadSpec::new(
                GeneratorParams::defaults("churn").unwrap(),
                1,
            )],
            vec![AllocatorSpec::named("glibc")],
        );
        let w = workload::generate("churn", 1, Some(300)).unwrap();
        let r = setup.run_ops(&w).unwrap();
        let csv = timelines_csv(&[&r[0].timeline]);
        let (_, back) = parse_timeline_csv(&csv, Source::Simulated).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].samples.len(), r[0].timeline.samples.len());
        // time_ns is written with one decimal; everything else is exact.
        for (a, b) in back[0].samples.iter().zip(&r[0].timeline.samples) {
            assert_eq!(a.rss, b.rss);
            assert_eq!(a.syscalls, b.syscalls);
            assert_eq!(a.phase, b.phase);
            assert!((a.time_ns - b.time_ns).abs() <= 0.05 + 1e-6);
        }
    }

    #[test]
    fn concatenated_parts_keep_their_ids_apart() {
        let a = workload::generate("churn", 1, Some(50)).unwrap();
        let b = workload::generate("churn", 2, Some(50)).unwrap();
        let w = concat("both", vec![("a".into(), a), ("b".into(), b)]);
        workload::validate(&w).unwrap();
        assert_eq!(w.allocator_calls(), 100);
        let phases: Vec<&Op> = w
            .ops
            .iter()
            .filter(|o| matches!(o, Op::Phase { .. }))
            .collect();
        assert_eq!(phases.len(), 2);
    }

    #[test]
    fn a_held_block_is_released_after_the_idle_stretch() {
        let ramp = workload::generate("ramp", 1, Some(100)).unwrap();
        let idle = workload::generate("churn", 2, Some(40)).unwrap();
        let w = hold_then_release(ramp.clone(), "unpin", idle);
        workload::validate(&w).unwrap();
        assert_eq!(w.allocator_calls(), 140);
        let names: Vec<&str> = w
            .ops
            .iter()
            .filter_map(|o| match o {
                Op::Phase { name } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let idle_at = names.iter().position(|n| *n == "idle").unwrap();
        assert_eq!(names.get(idle_at + 1), Some(&"unpin"));
        assert_eq!(w.ops.last(), ramp.ops.last());
    }

    #[test]
    fn a_phase_name_with_commas_and_quotes_round_trips() {
        let mut w = workload::generate("churn", 1, Some(60)).unwrap();
        w.ops.insert(
            10,
            Op::Phase {
                name: "a,b \"c\"".to_string(),
            },
        );
        let setup = Setup::new(vec![], vec![AllocatorSpec::named("glibc")]);
        let r = setup.run_ops(&w).unwrap();
        let csv = timelines_csv(&[&r[0].timeline]);
        assert!(
            csv.contains("\"a,b \"\"c\"\"\""),
            "quoted in the file: {csv}"
        );
        let (_, back) = parse_timeline_csv(&csv, Source::Simulated).unwrap();
        let phases: Vec<&str> = back[0]
            .samples
            .iter()
            .filter_map(|s| s.phase.as_deref())
            .collect();
        assert!(phases.contains(&"a,b \"c\""), "{phases:?}");
        assert_eq!(back[0].samples.len(), r[0].timeline.samples.len());
    }

    #[test]
    fn a_broken_snapshot_names_its_line() {
        let header: Vec<&str> = TIMELINE_COLUMNS.iter().map(|c| c.0).collect();
        let text = format!("{}\nmmap,1,2\n", header.join(","));
        let (line, why) = parse_timeline_csv(&text, Source::Real).unwrap_err();
        assert_eq!(line, 2);
        assert!(why.contains("cells"), "{why}");
        let text = format!("# here\n{}\n", header.join(","));
        assert_eq!(parse_timeline_csv(&text, Source::Real).unwrap_err().0, 3);
        assert_eq!(parse_timeline_csv("", Source::Real).unwrap_err().0, 1);
        assert_eq!(parse_timeline_csv("x,y\n", Source::Real).unwrap_err().0, 1);
    }
}
