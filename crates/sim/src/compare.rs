//! `sim compare A B`: two runs side by side, metric by metric, and their timelines
//! overlaid.
//!
//! A and B are what `sim` left behind: a run directory (with `summary.json` and
//! `timeline.csv`) or a `summary.json` itself, optionally followed by `:ALLOCATOR` to
//! pick one of the allocators the file holds. Which allocators are compared:
//!
//! - both sides name one (`run1:glibc run2:best-fit`, or the same run twice): those two;
//! - one side names one: that allocator on both sides;
//! - neither does: every allocator the two files have in common, in A's order.
//!
//! For each pair the table gives every metric of the summary (peaks, fragmentation,
//! syscalls, faults, memory returned, simulated time by category) for A and B, the
//! difference B − A and the ratio B / A. `--out DIR` also draws the two timelines
//! overlaid (`plot::compare_timelines_chart`), one SVG per pair.

use crate::cli::{CompareArgs, CompareFormat as Format};
use crate::error::{CliError, CliResult};
use crate::output::{Table, emit, write_atomic};
use engine::{Summary, Timeline};
use kernel::{CostCategory, Syscall};
use lab::experiments::{Csv, fixed, parse_timeline_csv};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `summary.json` holds, as far as a comparison needs it (the file written by
/// `simulate`; other fields, such as the cost model, are not compared).
#[derive(Deserialize)]
struct SummaryFile {
    workload: String,
    seed: Option<u64>,
    ops: u64,
    runs: Vec<Summary>,
}

/// One side of the comparison: where it came from and what it holds.
struct Side {
    /// `A` or `B`.
    name: &'static str,
    /// The summary.json read.
    summary_path: PathBuf,
    /// The timeline.csv beside it.
    timeline_path: PathBuf,
    /// The allocator named after `:`, if any.
    pick: Option<String>,
    /// The file's contents.
    file: SummaryFile,
}

impl Side {
    /// What the heading says about this side: path, workload, seed, ops.
    fn describe(&self) -> String {
        let seed = self
            .file
            .seed
            .map(|s| format!(", seed {s}"))
            .unwrap_or_default();
        format!(
            "{}: {} (workload {}{seed}, {} ops)",
            self.name,
            self.summary_path.display(),
            self.file.workload,
            units::count(self.file.ops)
        )
    }

    fn run(&self, allocator: &str) -> CliResult<&Summary> {
        self.file
            .runs
            .iter()
            .find(|r| r.allocator == allocator)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "{}: {} has no allocator '{allocator}' (it has {})",
                    self.name,
                    self.summary_path.display(),
                    self.allocators().join(", ")
                ))
            })
    }

    fn allocators(&self) -> Vec<&str> {
        self.file
            .runs
            .iter()
            .map(|r| r.allocator.as_str())
            .collect()
    }
}

/// Splits `spec` into a path that exists and an optional allocator: the whole of it
/// when it names a file or directory, else the part before the last `:`.
fn split_spec(name: &str, spec: &str) -> CliResult<(PathBuf, Option<String>)> {
    if Path::new(spec).exists() {
        return Ok((PathBuf::from(spec), None));
    }
    if let Some((path, alloc)) = spec.rsplit_once(':')
        && !path.is_empty()
        && Path::new(path).exists()
    {
        let alloc = alloc.trim();
        if alloc.is_empty() {
            return Err(CliError::usage(format!(
                "{name}: '{spec}' names no allocator after ':'"
            )));
        }
        return Ok((PathBuf::from(path), Some(alloc.to_string())));
    }
    Err(CliError::usage(format!(
        "{name}: {spec}: no such run directory or summary.json"
    )))
}

/// Reads one side: a run directory or a summary.json, and the allocator picked.
fn load(name: &'static str, spec: &str) -> CliResult<Side> {
    let (path, pick) = split_spec(name, spec)?;
    let (summary_path, dir) = if path.is_dir() {
        (path.join("summary.json"), path.clone())
    } else {
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        (path.clone(), dir)
    };
    let text = std::fs::read_to_string(&summary_path).map_err(|e| {
        CliError::usage(format!(
            "{name}: cannot read {}: {e}",
            summary_path.display()
        ))
    })?;
    let file: SummaryFile = serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "{name}: {} is not a summary.json written by sim: {e}",
            summary_path.display()
        ))
    })?;
    if file.runs.is_empty() {
        return Err(CliError::usage(format!(
            "{name}: {} holds no runs",
            summary_path.display()
        )));
    }
    Ok(Side {
        name,
        summary_path,
        timeline_path: dir.join("timeline.csv"),
        pick,
        file,
    })
}

/// The pairs of allocators to compare: (A's, B's).
fn pairs(a: &Side, b: &Side) -> CliResult<Vec<(String, String)>> {
    let pairs = match (&a.pick, &b.pick) {
        (Some(x), Some(y)) => vec![(x.clone(), y.clone())],
        (Some(x), None) | (None, Some(x)) => vec![(x.clone(), x.clone())],
        (None, None) => {
            let theirs = b.allocators();
            let common: Vec<(String, String)> = a
                .allocators()
                .into_iter()
                .filter(|n| theirs.contains(n))
                .map(|n| (n.to_string(), n.to_string()))
                .collect();
            if common.is_empty() {
                return Err(CliError::usage(format!(
                    "A and B have no allocator in common (A: {}; B: {}): name them, as in \
                     A:{} B:{}",
                    a.allocators().join(", "),
                    theirs.join(", "),
                    a.allocators()[0],
                    theirs[0]
                )));
            }
            common
        }
    };
    for (x, y) in &pairs {
        a.run(x)?;
        b.run(y)?;
    }
    Ok(pairs)
}

/// How a metric's values read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Bytes,
    Count,
    Nanos,
    Ratio,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bytes => "bytes",
            Kind::Count => "count",
            Kind::Nanos => "ns",
            Kind::Ratio => "ratio",
        }
    }

    /// A value as the table prints it.
    fn show(self, v: f64) -> String {
        match self {
            Kind::Bytes => units::bytes(v as u64),
            Kind::Count => units::count(v as u64),
            Kind::Nanos => units::nanos(v),
            Kind::Ratio => units::ratio(v),
        }
    }

    /// A difference as the table prints it, with its sign.
    fn show_delta(self, d: f64) -> String {
        if d == 0.0 {
            return "0".to_string();
        }
        let sign = if d < 0.0 { "-" } else { "+" };
        let m = d.abs();
        match self {
            Kind::Bytes => units::bytes_delta(d as i64),
            Kind::Count => format!("{sign}{}", units::count(m as u64)),
            Kind::Nanos => format!("{sign}{}", units::nanos(m)),
            Kind::Ratio => format!("{sign}{}", units::ratio(m)),
        }
    }
}

/// One compared metric: its JSON/CSV name, its table label, how it reads, its value.
struct Metric {
    key: String,
    label: String,
    kind: Kind,
    value: Box<dyn Fn(&Summary) -> f64>,
}

fn metric(key: &str, label: &str, kind: Kind, value: impl Fn(&Summary) -> f64 + 'static) -> Metric {
    Metric {
        key: key.to_string(),
        label: label.to_string(),
        kind,
        value: Box::new(value),
    }
}

/// Every metric of a summary, in the order the table shows them.
fn metrics() -> Vec<Metric> {
    use Kind::*;
    let mut m = vec![
        metric("ops", "allocator calls", Count, |s| s.ops as f64),
        metric("peak_live", "peak live", Bytes, |s| s.peak_live as f64),
        metric("peak_allocated", "peak allocated", Bytes, |s| {
            s.peak_allocated as f64
        }),
        metric("peak_footprint", "peak footprint", Bytes, |s| {
            s.peak_footprint as f64
        }),
        metric("peak_rss", "peak RSS", Bytes, |s| s.peak_rss as f64),
        metric("peak_mapped", "peak mapped", Bytes, |s| {
            s.peak_mapped as f64
        }),
        metric("peak_pt_bytes", "peak page tables", Bytes, |s| {
            s.peak_pt_bytes as f64
        }),
        metric("frag_max", "frag_max", Ratio, |s| s.frag_max),
        metric("frag_peak", "frag_peak", Ratio, |s| s.frag_peak),
        metric("final_live", "final live", Bytes, |s| s.final_live as f64),
        metric("final_footprint", "final footprint", Bytes, |s| {
            s.final_footprint as f64
        }),
        metric("final_rss", "final RSS", Bytes, |s| s.final_rss as f64),
    ];
    for call in Syscall::ALL {
        m.push(metric(
            &format!("syscalls_{}", call.name()),
            &format!("{} calls", call.name()),
            Count,
            move |s| s.syscall(call) as f64,
        ));
    }
    m.extend([
        metric("minor_faults", "minor faults", Count, |s| {
            s.minor_faults as f64
        }),
        metric("tlb_misses", "TLB misses", Count, |s| s.tlb_misses as f64),
        metric("frees_refused", "frees refused", Count, |s| {
            s.frees_refused as f64
        }),
        metric("returned", "returned (all)", Bytes, |s| {
            s.returned.total() as f64
        }),
        metric("returned_brk", "returned by brk", Bytes, |s| {
            s.returned.brk as f64
        }),
        metric("returned_munmap", "returned by munmap", Bytes, |s| {
            s.returned.munmap as f64
        }),
        metric("returned_madvise", "returned by madvise", Bytes, |s| {
            s.returned.madvise as f64
        }),
        metric("time_ns", "simulated time", Nanos, |s| s.time_ns),
        metric("ns_per_op", "time/op", Nanos, |s| s.ns_per_op),
    ]);
    for cat in CostCategory::ALL {
        m.push(metric(
            &format!("cost_{}", cat.name()),
            &format!("time: {}", plot::cost_category_label(cat)),
            Nanos,
            move |s| s.cost(cat),
        ));
    }
    m
}

/// One row of a comparison.
struct Row<'m> {
    metric: &'m Metric,
    a: f64,
    b: f64,
}

impl Row<'_> {
    fn difference(&self) -> f64 {
        self.b - self.a
    }

    /// B / A, rounded to four decimals; `None` when A is zero.
    fn ratio(&self) -> Option<f64> {
        (self.a != 0.0).then(|| ((self.b / self.a) * 1e4).round() / 1e4)
    }
}

/// Runs `sim compare A B`.
pub fn run(args: &CompareArgs) -> CliResult {
    let a = load("A", &args.a)?;
    let b = load("B", &args.b)?;
    let pairs = pairs(&a, &b)?;
    let metrics = metrics();
    let tables: Vec<(&str, &str, Vec<Row>)> = pairs
        .iter()
        .map(|(x, y)| {
            let (sa, sb) = (a.run(x)?, b.run(y)?);
            let rows = metrics
                .iter()
                .map(|m| Row {
                    metric: m,
                    a: (m.value)(sa),
                    b: (m.value)(sb),
                })
                .collect();
            Ok((x.as_str(), y.as_str(), rows))
        })
        .collect::<CliResult<_>>()?;
    // Every chart is drawn before anything is written.
    let charts = match &args.out {
        Some(dir) => charts(&a, &b, &pairs)?
            .into_iter()
            .map(|(name, svg)| (dir.join(name), svg))
            .collect(),
        None => Vec::new(),
    };
    let text = match args.format {
        Format::Table => table(&a, &b, &tables),
        Format::Json => json(&a, &b, &tables)?,
        Format::Csv => csv(&tables),
    };
    let mut written = Vec::new();
    for (path, svg) in &charts {
        write_atomic(path, svg.as_bytes())?;
        written.push(path.display().to_string());
    }
    match args.format {
        Format::Table => {
            let mut text = text;
            for p in &written {
                let _ = writeln!(text, "wrote {p}");
            }
            emit(&text);
        }
        _ => {
            emit(&text);
            for p in &written {
                eprintln!("wrote {p}");
            }
        }
    }
    Ok(())
}

/// The heading: what A and B are, and a warning when they ran different ops.
fn heading(a: &Side, b: &Side) -> String {
    let mut out = format!("{}\n{}\n", a.describe(), b.describe());
    let same = a.file.workload == b.file.workload
        && a.file.seed == b.file.seed
        && a.file.ops == b.file.ops;
    if !same {
        out.push_str(
            "note: A and B ran different op streams, so differences mix the workloads with \
             the allocators\n",
        );
    }
    out
}

fn table(a: &Side, b: &Side, tables: &[(&str, &str, Vec<Row>)]) -> String {
    let mut out = heading(a, b);
    for (x, y, rows) in tables {
        let _ = writeln!(out, "\n{x} (A) against {y} (B)\n");
        let mut t = Table::new(&["metric", "A", "B", "B - A", "B / A"]);
        let mut hidden = 0;
        for r in rows {
            if r.a == 0.0 && r.b == 0.0 {
                hidden += 1;
                continue;
            }
            let k = r.metric.kind;
            t.row(vec![
                r.metric.label.clone(),
                k.show(r.a),
                k.show(r.b),
                k.show_delta(r.difference()),
                r.ratio().map_or("-".to_string(), |q| format!("{q:.2}x")),
            ]);
        }
        out.push_str(&t.render());
        if hidden > 0 {
            let _ = writeln!(
                out,
                "({hidden} metrics are 0 in both runs and not shown; --format json lists all)"
            );
        }
    }
    out.push_str(
        "\nB - A: B's value minus A's. B / A: B's value as a multiple of A's (- when A's is 0).\n",
    );
    out
}

fn json(a: &Side, b: &Side, tables: &[(&str, &str, Vec<Row>)]) -> CliResult<String> {
    use serde_json::{Value, json};
    let side = |s: &Side| {
        json!({
            "path": s.summary_path.display().to_string(),
            "workload": s.file.workload,
            "seed": s.file.seed,
            "ops": s.file.ops,
        })
    };
    let number = |k: Kind, v: f64| -> Value {
        match k {
            Kind::Bytes | Kind::Count => json!(v as i64),
            _ => json!(v),
        }
    };
    let comparisons: Vec<Value> = tables
        .iter()
        .map(|(x, y, rows)| {
            let metrics: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let k = r.metric.kind;
                    json!({
                        "metric": r.metric.key,
                        "unit": k.name(),
                        "a": number(k, r.a),
                        "b": number(k, r.b),
                        "difference": number(k, r.difference()),
                        "ratio": r.ratio(),
                    })
                })
                .collect();
            json!({ "a_allocator": x, "b_allocator": y, "metrics": metrics })
        })
        .collect();
    let doc = json!({ "a": side(a), "b": side(b), "comparisons": comparisons });
    let mut text = serde_json::to_string_pretty(&doc)
        .map_err(|e| CliError::failed(format!("cannot encode the comparison: {e}")))?;
    text.push('\n');
    Ok(text)
}

fn csv(tables: &[(&str, &str, Vec<Row>)]) -> String {
    let mut csv = Csv::new(&[
        "a_allocator",
        "b_allocator",
        "metric",
        "unit",
        "a",
        "b",
        "difference",
        "ratio",
    ]);
    let cell = |k: Kind, v: f64| match k {
        Kind::Bytes | Kind::Count => format!("{}", v as i64),
        Kind::Ratio => fixed(v, 4),
        Kind::Nanos => fixed(v, 2),
    };
    for (x, y, rows) in tables {
        for r in rows {
            let k = r.metric.kind;
            csv.row(&[
                x.to_string(),
                y.to_string(),
                r.metric.key.clone(),
                k.name().to_string(),
                cell(k, r.a),
                cell(k, r.b),
                cell(k, r.difference()),
                r.ratio().map(|q| fixed(q, 4)).unwrap_or_default(),
            ]);
        }
    }
    csv.finish()
}

/// Reads a side's timeline.csv: every allocator's timeline.
fn timelines(side: &Side) -> CliResult<Vec<Timeline>> {
    let path = &side.timeline_path;
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(format!(
            "{}: the overlay chart needs {} beside the summary: {e}",
            side.name,
            path.display()
        ))
    })?;
    let (_, timelines) =
        parse_timeline_csv(&text, engine::Source::Simulated).map_err(|(line, what)| {
            CliError::usage(format!("{}: {}:{line}: {what}", side.name, path.display()))
        })?;
    Ok(timelines)
}

/// A short name of a side for the chart's legend: its run directory's name.
fn short(side: &Side) -> String {
    side.summary_path
        .parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| side.summary_path.display().to_string())
}

/// The overlay charts: (file name, SVG), one per pair.
fn charts(a: &Side, b: &Side, pairs: &[(String, String)]) -> CliResult<Vec<(String, String)>> {
    let (ta, tb) = (timelines(a)?, timelines(b)?);
    let find = |side: &Side, all: &[Timeline], name: &str| -> CliResult<Timeline> {
        all.iter()
            .find(|t| t.allocator == name)
            .cloned()
            .ok_or_else(|| {
                CliError::usage(format!(
                    "{}: {} has no timeline of '{name}'",
                    side.name,
                    side.timeline_path.display()
                ))
            })
    };
    let style = plot::Style {
        panel_height: 150,
        ..plot::Style::default()
    };
    let mut out = Vec::new();
    for (x, y) in pairs {
        let (line_a, line_b) = (find(a, &ta, x)?, find(b, &tb, y)?);
        let workload = if a.file.workload == b.file.workload {
            a.file.workload.clone()
        } else {
            format!("{} (A), {} (B)", a.file.workload, b.file.workload)
        };
        let mut title = plot::ChartTitle::new(workload);
        match (a.file.seed, b.file.seed) {
            (Some(sa), Some(sb)) if sa == sb => title = title.seed(sa),
            (None, None) => {}
            (sa, sb) => {
                let seed = |s: Option<u64>| s.map_or("none".to_string(), |s| s.to_string());
                title = title.note(format!("seed {} (A), {} (B)", seed(sa), seed(sb)));
            }
        }
        let labels = (
            format!("A: {x} ({})", short(a)),
            format!("B: {y} ({})", short(b)),
        );
        let svg =
            plot::compare_timelines_chart(&title, &line_a, &line_b, (&labels.0, &labels.1), &style)
                .map_err(|e| CliError::failed(format!("cannot draw the comparison chart: {e}")))?;
        let file = if x == y {
            format!("compare-{x}.svg")
        } else {
            format!("compare-{x}-vs-{y}.svg")
        };
        out.push((file, svg));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_carry_their_sign_and_unit() {
        assert_eq!(Kind::Bytes.show_delta(-36_864.0), "-36.0 KiB");
        assert_eq!(Kind::Bytes.show_delta(135_168.0), "+132.0 KiB");
        assert_eq!(Kind::Count.show_delta(-1234.0), "-1,234");
        assert_eq!(Kind::Nanos.show_delta(3400.0), "+3.40 µs");
        assert_eq!(Kind::Ratio.show_delta(-0.01), "-0.010");
        assert_eq!(Kind::Count.show_delta(0.0), "0");
    }

    #[test]
    fn ratios_are_undefined_over_zero() {
        let m = metric("x", "x", Kind::Count, |s| s.ops as f64);
        let r = Row {
            metric: &m,
            a: 0.0,
            b: 5.0,
        };
        assert_eq!(r.ratio(), None);
        let r = Row {
            metric: &m,
            a: 3.0,
            b: 1.0,
        };
        assert_eq!(r.ratio(), Some(0.3333));
        assert_eq!(r.difference(), -2.0);
    }

    #[test]
    fn every_metric_has_a_distinct_key() {
        let m = metrics();
        let mut keys: Vec<&str> = m.iter().map(|m| m.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), m.len());
    }
}
