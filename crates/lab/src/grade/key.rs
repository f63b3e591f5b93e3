//! The instructors' answer key to the book's assignments, computed, never typed in.
//!
//! Every number an assignment handout quotes or asks for is computed here from the
//! simulator: the grades of the baseline, of glibc and of the textbook models on the
//! grading set (assignments 1 and 2), the mmap-threshold sweeps (assignment 3) and the
//! page-table figures of dense and sparse mappings (assignment 4). [`markdown`] renders
//! the book's answer-key appendix (`sim grade --key` prints it, and a test fails when
//! the committed appendix differs); [`questions`] are the named answers a student
//! hands in, which `sim grade --answers FILE` checks ([`check_answers`]).

use super::{Grade, GradeError, GradingSet, grade_registered};
use crate::registry::{self, Registry, settings};
use engine::{RunConfig, run};
use kernel::script::{Script, run_simulated};
use std::fmt::{self, Write as _};

/// The thresholds assignment 3 sweeps: powers of two from 4 KiB to 32 MiB.
pub const THRESHOLDS: &[u64] = &[
    4 << 10,
    8 << 10,
    16 << 10,
    32 << 10,
    64 << 10,
    128 << 10,
    256 << 10,
    512 << 10,
    1 << 20,
    2 << 20,
    4 << 20,
    8 << 20,
    16 << 20,
    32 << 20,
];

/// The workloads of assignment 3: generator and seed, default op counts.
pub const SWEPT: &[(&str, u64)] = &[("large", 1), ("realloc-growth", 1)];

/// One point of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepPoint {
    /// `mmap_threshold`.
    pub threshold: u64,
    /// The run's simulated time.
    pub time_ns: f64,
    /// The run's peak footprint (bytes held from the kernel).
    pub peak_footprint: u64,
    /// The cost: peak footprint in MiB times simulated time in ms (a space-time
    /// product, MiB·ms).
    pub cost: f64,
}

/// Assignment 3 on one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// The generator.
    pub workload: &'static str,
    /// Its seed.
    pub seed: u64,
    /// One point per threshold.
    pub points: Vec<SweepPoint>,
}

impl Sweep {
    /// The least cost.
    pub fn best(&self) -> f64 {
        self.points
            .iter()
            .map(|p| p.cost)
            .fold(f64::INFINITY, f64::min)
    }

    /// The thresholds that reach the least cost.
    pub fn argmin(&self) -> Vec<u64> {
        let best = self.best();
        self.points
            .iter()
            .filter(|p| p.cost == best)
            .map(|p| p.threshold)
            .collect()
    }
}

/// Runs the sweep of assignment 3 on `workload`.
pub fn sweep(workload: &'static str, seed: u64) -> Result<Sweep, GradeError> {
    let w =
        workload::generate(workload, seed, None).map_err(|e| GradeError::Build(e.to_string()))?;
    let mut points = Vec::new();
    for &t in THRESHOLDS {
        let value = t.to_string();
        let a = registry::build("glibc", &settings(&[("mmap_threshold", &value)]))
            .map_err(|e| GradeError::Build(e.to_string()))?;
        let r = run(&w, a, &RunConfig::default()).map_err(|e| GradeError::Build(e.to_string()))?;
        let s = r.summary;
        points.push(SweepPoint {
            threshold: t,
            time_ns: s.time_ns,
            peak_footprint: s.peak_footprint,
            cost: s.peak_footprint as f64 / (1u64 << 20) as f64 * (s.time_ns / 1e6),
        });
    }
    Ok(Sweep {
        workload,
        seed,
        points,
    })
}

/// The kernel scripts of assignment 4: 512 pages touched densely, one per 2 MiB, and
/// one per 1 GiB. `(name, script)`.
pub fn page_table_scripts() -> Vec<(&'static str, String)> {
    let sparse = |len: &str, stride: u64| {
        let mut s = format!("map a {len} rw noreserve\n");
        for i in 0..512u64 {
            let _ = writeln!(s, "touch a {}K 1 w", i * stride / 1024);
        }
        s
    };
    vec![
        ("dense", "map a 2M rw\ntouch a 0 2M w\n".to_string()),
        ("sparse-2m", sparse("1G", 2 << 20)),
        ("sparse-1g", sparse("512G", 1 << 30)),
    ]
}

/// Assignment 4's figures: `(name, VmPTE in kB after the last line, RssAnon in kB)`.
pub fn page_tables() -> Result<Vec<(&'static str, i64, i64)>, GradeError> {
    page_table_scripts()
        .into_iter()
        .map(|(name, text)| {
            let script = Script::parse(&text).map_err(|e| GradeError::Build(e.to_string()))?;
            let rows = run_simulated(&script).map_err(|e| GradeError::Build(e.to_string()))?;
            let last = rows
                .last()
                .ok_or_else(|| GradeError::Build("no rows".into()))?;
            Ok((name, last.pte_kb, last.anon_kb))
        })
        .collect()
}

/// A question a student answers with a number.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    /// The name in the answer file.
    pub name: String,
    /// The assignment.
    pub assignment: u32,
    /// What is asked.
    pub prompt: String,
    /// The answer, as the key prints it.
    pub answer: String,
    /// The values accepted (every value that is as good as the best).
    pub accepted: Vec<u64>,
}

/// The questions of assignments 3 and 4, with their answers.
pub fn questions() -> Result<Vec<Question>, GradeError> {
    let mut q = Vec::new();
    for &(w, seed) in SWEPT {
        let s = sweep(w, seed)?;
        let accepted = s.argmin();
        q.push(Question {
            name: format!("mmap-threshold-{w}"),
            assignment: 3,
            prompt: format!(
                "the mmap_threshold (a power of two from 4K to 32M) with the least peak footprint × simulated time on workload {w}, seed {seed}"
            ),
            answer: accepted.iter().map(|&t| size(t)).collect::<Vec<_>>().join(" or "),
            accepted,
        });
    }
    for (name, pte_kb, _) in page_tables()? {
        q.push(Question {
            name: format!("pte-kb-{name}"),
            assignment: 4,
            prompt: format!("VmPTE in kB after the last line of the {name} script"),
            answer: pte_kb.to_string(),
            accepted: vec![pte_kb as u64],
        });
    }
    Ok(q)
}

/// A size as a student would write it: `4K`, `2M`.
fn size(b: u64) -> String {
    if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
        format!("{}M", b >> 20)
    } else if b.is_multiple_of(1 << 10) {
        format!("{}K", b >> 10)
    } else {
        b.to_string()
    }
}

/// One answer a student gave, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The question.
    pub question: Question,
    /// What the student wrote, if anything.
    pub given: Option<String>,
    /// Whether it is right.
    pub right: bool,
}

/// Checks an answer file: lines `NAME = VALUE` (`#` starts a comment), one per
/// question; values are numbers with an optional size suffix (`2M`, `4096`). Every
/// question is listed, answered or not. An unknown name, a malformed line, a value that
/// is not a number or a question answered twice is an error naming the line.
pub fn check_answers(
    questions: &[Question],
    text: &str,
    file: &str,
) -> Result<Vec<Checked>, String> {
    let mut given: Vec<Option<(String, u64)>> = vec![None; questions.len()];
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |m: String| format!("{file}:{}: {m}", n + 1);
        let (name, value) = line
            .split_once('=')
            .map(|(a, b)| (a.trim(), b.trim()))
            .ok_or_else(|| at(format!("expected NAME = VALUE, found `{line}`")))?;
        let i = questions
            .iter()
            .position(|q| q.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = questions.iter().map(|q| q.name.as_str()).collect();
                at(format!(
                    "no question is named `{name}` (the questions: {})",
                    known.join(", ")
                ))
            })?;
        let v = units::parse_size(value).map_err(|e| at(format!("{name}: {e}")))?;
        if given[i].is_some() {
            return Err(at(format!("{name} is answered twice")));
        }
        given[i] = Some((value.to_string(), v));
    }
    Ok(questions
        .iter()
        .zip(given)
        .map(|(q, g)| Checked {
            right: g.as_ref().is_some_and(|(_, v)| q.accepted.contains(v)),
            given: g.map(|(s, _)| s),
            question: q.clone(),
        })
        .collect())
}

/// Everything the answer key says.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// The baseline (`student` as shipped) on the grading set.
    pub baseline: Grade,
    /// glibc, the reference.
    pub glibc: Grade,
    /// The textbook first-fit free list (address-ordered, coalescing): what an
    /// explicit free list with the same policy reaches in utilization.
    pub first_fit: Grade,
    /// The size-class allocator.
    pub segregated: Grade,
    /// Assignment 3.
    pub sweeps: Vec<Sweep>,
    /// Assignment 4: `(name, pte_kb, anon_kb)`.
    pub page_tables: Vec<(&'static str, i64, i64)>,
    /// The named questions.
    pub questions: Vec<Question>,
}

/// Computes the whole key (a few grading runs: tens of seconds).
pub fn compute() -> Result<Key, GradeError> {
    let set = GradingSet::builtin().map_err(|e| GradeError::Build(e.to_string()))?;
    let r = Registry::builtin();
    let g = |name: &str| grade_registered(&r, name, &[], &set);
    let mut sweeps = Vec::new();
    for &(w, seed) in SWEPT {
        sweeps.push(sweep(w, seed)?);
    }
    Ok(Key {
        baseline: g("student")?,
        glibc: g("glibc")?,
        first_fit: g("first-fit")?,
        segregated: g("segregated")?,
        sweeps,
        page_tables: page_tables()?,
        questions: questions()?,
    })
}

/// The answer key as the book's appendix (Markdown).
pub fn markdown(k: &Key) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Appendix D: Answer keys for the assignments");
    s.push('\n');
    s.push_str(
        "*For instructors.* Every number on this page is computed by the simulator: \
         `cargo run -p sim -- grade --key` prints this page, and a test \
         (`crates/lab/tests/answer_key.rs`) fails when the committed page differs from \
         what the code computes, so no answer drifts from the code. The numbers are \
         those of the project as shipped: the baseline's are the unchanged \
         `crates/student/src/mm.rs`'s (a course whose students edit it regenerates the \
         key from a clean checkout). Leave this appendix out of the book you give \
         students if the answers of assignments 3 and 4 should stay hidden.\n\n",
    );
    let _ = writeln!(s, "## Assignment 1: an explicit free list");
    s.push('\n');
    let _ = writeln!(
        s,
        "To pass, the student's allocator must pass every trace (no `FAIL`) and score more \
         than the baseline's **{:.1}** in total. A realistic target is the textbook model \
         `first-fit` of the free-list family: the baseline's block layout (8-byte header and \
         footer, 16-byte alignment, the heap grown by 4 KiB), an address-ordered explicit \
         free list with immediate coalescing, `realloc` grown in place when the next block \
         is free, the heap trimmed above 128 KiB; its lists live in Rust structures, and it \
         charges one `alloc_op_ns` per call and per list node it visits. The baseline, \
         `first-fit` and glibc, per trace:",
        k.baseline.total
    );
    s.push('\n');
    compare(&mut s, &[&k.baseline, &k.first_fit, &k.glibc]);
    s.push('\n');
    let _ = writeln!(
        s,
        "## Assignment 2: segregated fits against glibc's utilization"
    );
    s.push('\n');
    let _ = writeln!(
        s,
        "To pass, the mean utilization (weighted as the scores are) must exceed glibc's \
         **{}**, with every trace passed. The size-class allocator `segregated` shows how \
         rounding to classes can cost utilization ({}):",
        units::percent(k.glibc.mean_util()),
        units::percent(k.segregated.mean_util())
    );
    s.push('\n');
    compare(&mut s, &[&k.glibc, &k.segregated, &k.baseline]);
    s.push('\n');
    let _ = writeln!(s, "## Assignment 3: the mmap threshold");
    s.push('\n');
    s.push_str(
        "The cost of a run is its peak footprint in MiB times its simulated time in ms \
         (a space-time product). glibc with `--tunable mmap_threshold=T` for every power \
         of two from 4K to 32M:\n\n",
    );
    for sw in &k.sweeps {
        let _ = writeln!(s, "Workload `{}`, seed {}:", sw.workload, sw.seed);
        s.push('\n');
        let _ = writeln!(
            s,
            "| mmap_threshold | simulated time | peak footprint | cost (MiB·ms) |"
        );
        let _ = writeln!(s, "| ---: | ---: | ---: | ---: |");
        let best = sw.best();
        for p in &sw.points {
            let mark = if p.cost == best { " **least**" } else { "" };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.3}{mark} |",
                size(p.threshold),
                units::nanos(p.time_ns),
                units::bytes(p.peak_footprint),
                p.cost
            );
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "## Assignment 4: page tables of dense and sparse mappings"
    );
    s.push('\n');
    s.push_str(
        "The three kernel scripts touch 512 pages each: `dense` all in one 2 MiB range, \
         `sparse-2m` one per 2 MiB of a 1 GiB mapping, `sparse-1g` one per GiB of a 512 \
         GiB one. `VmPTE` counts the PDPT, PD and PT pages (4 KiB each), not the PML4:\n\n",
    );
    let _ = writeln!(
        s,
        "| script | RssAnon | VmPTE | page-table pages | VmPTE per resident page |"
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: |");
    for (name, pte, anon) in &k.page_tables {
        let _ = writeln!(
            s,
            "| {name} | {anon} kB | {pte} kB | {} | {:.2} kB |",
            pte / 4,
            *pte as f64 / (*anon as f64 / 4.0)
        );
    }
    s.push('\n');
    let _ = writeln!(s, "## The answers `sim grade --answers` checks");
    s.push('\n');
    let _ = writeln!(s, "| name | assignment | answer | question |");
    let _ = writeln!(s, "| --- | ---: | --- | --- |");
    for q in &k.questions {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} |",
            q.name, q.assignment, q.answer, q.prompt
        );
    }
    s
}

/// A table of several grades side by side: per trace, each one's utilization and
/// score, then the totals.
fn compare(s: &mut String, grades: &[&Grade]) {
    let _ = write!(s, "| trace | weight |");
    for g in grades {
        let _ = write!(s, " {} util | {} score |", g.allocator, g.allocator);
    }
    s.push('\n');
    let _ = write!(s, "| --- | ---: |");
    for _ in grades {
        s.push_str(" ---: | ---: |");
    }
    s.push('\n');
    for (i, t) in grades[0].traces.iter().enumerate() {
        let _ = write!(s, "| {} | {} |", t.name, t.weight);
        for g in grades {
            let t = &g.traces[i];
            let util = t
                .result
                .as_ref()
                .map_or("FAIL".to_string(), |m| units::percent(m.util));
            let _ = write!(s, " {util} | {:.1} |", t.score);
        }
        s.push('\n');
    }
    let _ = write!(s, "| **total** | |");
    for g in grades {
        let _ = write!(
            s,
            " {} | **{:.1}** |",
            units::percent(g.mean_util()),
            g.total
        );
    }
    s.push('\n');
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.right { "right" } else { "wrong" };
        match &self.given {
            Some(v) => write!(f, "{}: {v}: {verdict}", self.question.name),
            None => write!(f, "{}: no answer", self.question.name),
        }
    }
}

/// Checked answers as a table: one line per question, then the count.
pub fn answers_table(checked: &[Checked]) -> String {
    let mut s = String::new();
    for c in checked {
        let _ = writeln!(s, "{c}");
    }
    let right = checked.iter().filter(|c| c.right).count();
    let _ = writeln!(s, "{right} of {} answers right", checked.len());
    s
}

/// Checked answers as JSON (schema `brkmap-answers/1`). The expected answers are not
/// included: a student sees right or wrong, not the key.
pub fn answers_json(checked: &[Checked]) -> String {
    let v = serde_json::json!({
        "schema": "brkmap-answers/1",
        "right": checked.iter().filter(|c| c.right).count(),
        "questions": checked.iter().map(|c| serde_json::json!({
            "name": c.question.name,
            "assignment": c.question.assignment,
            "given": c.given,
            "right": c.right,
        })).collect::<Vec<_>>(),
    });
    let mut s = serde_json::to_string_pretty(&v).expect("JSON serializes");
    s.push('\n');
    s
}

/// Checked answers as a Gradescope `results.json`: one test of one point per
/// question.
pub fn answers_gradescope(checked: &[Checked]) -> String {
    let right = checked.iter().filter(|c| c.right).count();
    let v = serde_json::json!({
        "score": right,
        "output": format!("{right} of {} answers right", checked.len()),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": checked.iter().enumerate().map(|(i, c)| serde_json::json!({
            "name": format!("{}: {}", c.question.name, c.question.prompt),
            "number": format!("{}", i + 1),
            "score": if c.right { 1 } else { 0 },
            "max_score": 1,
            "status": if c.right { "passed" } else { "failed" },
            "output": c.to_string(),
            "visibility": "visible",
        })).collect::<Vec<_>>(),
    });
    let mut s = serde_json::to_string_pretty(&v).expect("JSON serializes");
    s.push('\n');
    s
}
