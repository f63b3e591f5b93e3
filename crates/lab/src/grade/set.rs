//! The grading set: the traces `sim grade` replays, each with a weight.
//!
//! The project's own set lives in `crates/lab/grading/` as native trace files and a
//! manifest, `set.json`, that lists them in order with their weights and a line about
//! each. The files are *generated* by [`generate`] (a test fails when the committed
//! ones differ, naming the command that refreshes them) and built into the library
//! ([`GradingSet::builtin`]), so a grader running `sim grade` far from the source tree
//! uses the same bytes. They are of three kinds:
//!
//! - **Adversarial patterns** in the manner of CS:APP's malloc-lab traces, written by
//!   hand here: `binary-bal` and `binary2-bal` (small and large blocks interleaved, the
//!   large ones freed, then requests a little larger than the holes they left: a
//!   trap for utilization), `coalescing-bal` (two blocks freed and a request for their
//!   sum: nothing fits unless the two holes merge), `realloc-bal` and `realloc2-bal`
//!   (one block that keeps growing with a small block allocated right after it each
//!   time, so growth in place needs the allocator to look past it).
//! - **Generated workloads** of the project's seeded generators (`churn`,
//!   `swiss-cheese`, `lifetimes`, `sawtooth`, `realloc-growth`, `large`), with fixed
//!   seeds and op counts.
//! - **Real programs**: two traces recorded with `sim record`, shipped in
//!   `crates/workload/traces/` and copied here byte for byte.
//!
//! A course can grade with its own set (`sim grade --traces DIR`): a directory of
//! `.trace` or `.rep` files, with or without a `set.json`; without one, every trace
//! weighs 1.

use serde::{Deserialize, Serialize};
use std::fmt;
use workload::{BlockId, Op, Workload};

/// The manifest's file name.
pub const MANIFEST: &str = "set.json";

/// The manifest: the traces in order, with weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    /// What the set is, in a line.
    about: String,
    /// The traces.
    traces: Vec<ManifestEntry>,
}

/// One trace of the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestEntry {
    /// The file, in the manifest's directory.
    file: String,
    /// Its weight in the total (positive).
    weight: f64,
    /// What it tests, in a line.
    #[serde(default)]
    about: String,
}

/// A trace of the set, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct GradedTrace {
    /// Its name: the file name without extension.
    pub name: String,
    /// Its weight in the total.
    pub weight: f64,
    /// What it tests.
    pub about: String,
    /// The ops.
    pub workload: Workload,
}

/// The traces of a grading set.
#[derive(Clone, Debug, PartialEq)]
pub struct GradingSet {
    /// What the set is.
    pub about: String,
    /// Its traces, in grading order.
    pub traces: Vec<GradedTrace>,
}

/// A grading set that cannot be used: one line naming the file and the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetError(pub String);

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetError {}

/// The committed set, as built into the library: `(file, contents)`.
const BUILTIN: &[(&str, &str)] = &[
    (MANIFEST, include_str!("../../grading/set.json")),
    (
        "binary-bal.trace",
        include_str!("../../grading/binary-bal.trace"),
    ),
    (
        "binary2-bal.trace",
        include_str!("../../grading/binary2-bal.trace"),
    ),
    (
        "coalescing-bal.trace",
        include_str!("../../grading/coalescing-bal.trace"),
    ),
    (
        "realloc-bal.trace",
        include_str!("../../grading/realloc-bal.trace"),
    ),
    (
        "realloc2-bal.trace",
        include_str!("../../grading/realloc2-bal.trace"),
    ),
    ("churn.trace", include_str!("../../grading/churn.trace")),
    (
        "swiss-cheese.trace",
        include_str!("../../grading/swiss-cheese.trace"),
    ),
    (
        "lifetimes.trace",
        include_str!("../../grading/lifetimes.trace"),
    ),
    (
        "sawtooth.trace",
        include_str!("../../grading/sawtooth.trace"),
    ),
    (
        "realloc-growth.trace",
        include_str!("../../grading/realloc-growth.trace"),
    ),
    ("large.trace", include_str!("../../grading/large.trace")),
    (
        "python3-json.trace",
        include_str!("../../grading/python3-json.trace"),
    ),
    (
        "ls-zoneinfo.trace",
        include_str!("../../grading/ls-zoneinfo.trace"),
    ),
];

/// The real-program traces of the set, copied from `crates/workload/traces/`.
pub const RECORDED: &[(&str, &str)] = &[
    (
        "python3-json.trace",
        include_str!("../../../workload/traces/python3-json.trace"),
    ),
    (
        "ls-zoneinfo.trace",
        include_str!("../../../workload/traces/ls-zoneinfo.trace"),
    ),
];

impl GradingSet {
    /// The project's grading set (the files of `crates/lab/grading/`, built in).
    pub fn builtin() -> Result<GradingSet, SetError> {
        let files: Vec<(String, Vec<u8>)> = BUILTIN
            .iter()
            .filter(|(f, _)| *f != MANIFEST)
            .map(|(f, c)| (f.to_string(), c.as_bytes().to_vec()))
            .collect();
        GradingSet::parse(Some(BUILTIN[0].1), &files, "built-in set")
    }

    /// A set from files already read: `manifest` (the text of a `set.json`, if the
    /// directory has one) and `files` (every trace file of the directory, by name).
    /// Without a manifest every `.trace` and `.rep` file counts, by name, weight 1.
    /// `dir` names the directory in errors.
    pub fn parse(
        manifest: Option<&str>,
        files: &[(String, Vec<u8>)],
        dir: &str,
    ) -> Result<GradingSet, SetError> {
        let (about, entries) = match manifest {
            Some(text) => {
                let m: Manifest = serde_json::from_str(text)
                    .map_err(|e| SetError(format!("{dir}/{MANIFEST}: {e}")))?;
                (m.about, m.traces)
            }
            None => {
                let mut names: Vec<&String> = files
                    .iter()
                    .map(|(n, _)| n)
                    .filter(|n| n.ends_with(".trace") || n.ends_with(".rep"))
                    .collect();
                names.sort();
                let entries = names
                    .into_iter()
                    .map(|n| ManifestEntry {
                        file: n.clone(),
                        weight: 1.0,
                        about: String::new(),
                    })
                    .collect();
                (format!("the traces of {dir}, weight 1 each"), entries)
            }
        };
        if entries.is_empty() {
            return Err(SetError(format!(
                "{dir}: no traces to grade with (no .trace or .rep file, or an empty {MANIFEST})"
            )));
        }
        let mut traces: Vec<GradedTrace> = Vec::new();
        for e in entries {
            if !(e.weight.is_finite() && e.weight > 0.0) {
                return Err(SetError(format!(
                    "{dir}/{MANIFEST}: trace {}: the weight must be a positive number, not {}",
                    e.file, e.weight
                )));
            }
            let Some((_, bytes)) = files.iter().find(|(n, _)| *n == e.file) else {
                return Err(SetError(format!(
                    "{dir}/{MANIFEST} lists {}, which is not in the directory",
                    e.file
                )));
            };
            let label = format!("{dir}/{}", e.file);
            let workload =
                workload::parse_trace(bytes, &label).map_err(|e| SetError(e.to_string()))?;
            workload::validate(&workload).map_err(|err| SetError(format!("{label}: {err}")))?;
            let name = e
                .file
                .rsplit_once('.')
                .map_or(e.file.as_str(), |(stem, _)| stem)
                .to_string();
            if traces.iter().any(|t| t.name == name) {
                return Err(SetError(format!("{dir}: two traces are named {name}")));
            }
            traces.push(GradedTrace {
                name,
                weight: e.weight,
                about: e.about,
                workload,
            });
        }
        Ok(GradingSet { about, traces })
    }

    /// The sum of the weights.
    pub fn total_weight(&self) -> f64 {
        self.traces.iter().map(|t| t.weight).sum()
    }
}

// ------------------------------------------------------------------ generation

/// A stream of ops under construction.
struct Ops {
    w: Workload,
}

impl Ops {
    fn new(name: &str) -> Ops {
        Ops {
            w: Workload::new(name),
        }
    }
    fn malloc(&mut self, id: BlockId, size: u64) {
        self.w.ops.push(Op::Malloc { id, size });
    }
    fn free(&mut self, id: BlockId) {
        self.w.ops.push(Op::Free { id });
    }
    fn realloc(&mut self, id: BlockId, size: u64) {
        self.w.ops.push(Op::Realloc { id, size });
    }
    fn phase(&mut self, name: &str) {
        self.w.ops.push(Op::Phase { name: name.into() });
    }
}

/// `binary-bal` and `binary2-bal`: `n` pairs of a `small` and a `large` block, the
/// large ones freed, then `n` blocks of `bigger` bytes, which fit none of the holes.
fn binary(name: &str, n: u64, small: u64, large: u64, bigger: u64) -> Workload {
    let mut o = Ops::new(name);
    o.phase("pairs");
    for i in 0..n {
        o.malloc(2 * i, small);
        o.malloc(2 * i + 1, large);
    }
    o.phase("holes");
    for i in 0..n {
        o.free(2 * i + 1);
    }
    o.phase("bigger");
    for i in 0..n {
        o.malloc(2 * n + i, bigger);
    }
    o.phase("teardown");
    for i in 0..n {
        o.free(2 * i);
        o.free(2 * n + i);
    }
    o.w
}

/// `coalescing-bal`: `rounds` times two blocks of `half` bytes, both freed, and a
/// block of their sum.
fn coalescing(rounds: u64, half: u64) -> Workload {
    let mut o = Ops::new("coalescing-bal");
    for r in 0..rounds {
        let id = 3 * r;
        o.malloc(id, half);
        o.malloc(id + 1, half);
        o.free(id);
        o.free(id + 1);
        o.malloc(id + 2, 2 * half);
        o.free(id + 2);
    }
    o.w
}

/// `realloc-bal` and `realloc2-bal`: block 0 starts at `start` bytes and grows by
/// `step` `steps` times; after each growth a `small` block is allocated behind it and
/// the previous small block freed, as CS:APP's realloc traces do.
fn realloc(name: &str, start: u64, step: u64, steps: u64, small: u64) -> Workload {
    let mut o = Ops::new(name);
    o.malloc(0, start);
    o.malloc(1, small);
    for i in 1..=steps {
        o.realloc(0, start + i * step);
        o.malloc(i + 1, small);
        o.free(i);
    }
    o.free(0);
    o.free(steps + 1);
    o.w
}

/// The generated workloads of the set: generator, seed, op count, what it tests.
const GENERATED: &[(&str, u64, u64, &str)] = &[
    (
        "churn",
        11,
        4000,
        "random small blocks around a steady live size",
    ),
    (
        "swiss-cheese",
        12,
        3000,
        "holes between long-lived blocks, then larger requests",
    ),
    (
        "lifetimes",
        13,
        4000,
        "short, request-long and long-lived blocks interleaved",
    ),
    ("sawtooth", 14, 3000, "the heap fills and empties in waves"),
    ("realloc-growth", 15, 3000, "buffers that grow by realloc"),
    (
        "large",
        16,
        1500,
        "blocks of hundreds of KiB among small ones",
    ),
];

/// Every file of the project's grading set: `(file name, contents)`, the manifest
/// first. Deterministic: the same bytes on every run and machine.
pub fn generate() -> Vec<(String, String)> {
    let mut entries: Vec<(Workload, Vec<String>, f64, String)> = Vec::new();
    let mut hand = |w: Workload, about: &str, how: &str| {
        let comments = vec![
            format!("{}: {about}", w.name),
            how.to_string(),
            "Generated by lab::grade::set::generate; refresh with".to_string(),
            "BRKMAP_BLESS=1 cargo test -p lab --test grading_set".to_string(),
        ];
        entries.push((w, comments, 1.0, about.to_string()));
    };
    hand(
        binary("binary-bal", 1000, 64, 448, 512),
        "64- and 448-byte blocks interleaved, the 448s freed, then 512-byte requests",
        "After CS:APP's binary-bal: the holes are too small for what follows.",
    );
    hand(
        binary("binary2-bal", 1000, 16, 112, 128),
        "16- and 112-byte blocks interleaved, the 112s freed, then 128-byte requests",
        "After CS:APP's binary2-bal: the same trap at a smaller scale.",
    );
    hand(
        coalescing(1000, 4095),
        "two 4095-byte blocks freed, then one of 8190 bytes, a thousand times",
        "After CS:APP's coalescing-bal: it fits only where the two holes merged.",
    );
    hand(
        realloc("realloc-bal", 512, 128, 800, 128),
        "a block growing by 128 bytes with a 128-byte block allocated behind it each time",
        "After CS:APP's realloc-bal: growth in place needs the space past the small block.",
    );
    hand(
        realloc("realloc2-bal", 4092, 5, 800, 16),
        "a 4 KiB block growing by 5 bytes with a 16-byte block behind it each time",
        "After CS:APP's realloc2-bal: tiny growth steps, a copy each time if moved.",
    );
    for &(g, seed, ops, about) in GENERATED {
        let mut w = workload::generate(g, seed, Some(ops)).expect("the project's generators");
        w.name = g.to_string();
        let comments = vec![
            format!("{g}: {about}"),
            format!("The project's `{g}` generator, seed {seed}, {ops} allocator calls."),
            "Generated by lab::grade::set::generate; refresh with".to_string(),
            "BRKMAP_BLESS=1 cargo test -p lab --test grading_set".to_string(),
        ];
        entries.push((w, comments, 1.0, about.to_string()));
    }
    let mut files = Vec::new();
    let mut manifest = Manifest {
        about: "brkmap's grading set: CS:APP-style adversarial traces, seeded generated \
                workloads, and two recorded programs"
            .to_string(),
        traces: Vec::new(),
    };
    for (w, comments, weight, about) in &entries {
        let file = format!("{}.trace", w.name);
        manifest.traces.push(ManifestEntry {
            file: file.clone(),
            weight: *weight,
            about: about.clone(),
        });
        files.push((file, workload::write_native_annotated(w, comments)));
    }
    for (file, text) in RECORDED {
        let about = match *file {
            "python3-json.trace" => "python3 parsing JSON, recorded with sim record",
            _ => "ls listing /usr/share/zoneinfo, recorded with sim record",
        };
        manifest.traces.push(ManifestEntry {
            file: file.to_string(),
            weight: 2.0,
            about: about.to_string(),
        });
        files.push((file.to_string(), text.to_string()));
    }
    let mut json = serde_json::to_string_pretty(&manifest).expect("the manifest serializes");
    json.push('\n');
    files.insert(0, (MANIFEST.to_string(), json));
    files
}
