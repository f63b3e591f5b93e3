//! A grade for people (a table), for programs (JSON), and for course autograders
//! (Gradescope's `results.json`).
//!
//! Numbers are rounded to fixed decimals before they are printed or serialized, so
//! the same grade gives the same bytes everywhere.

use super::{Grade, THRU_WEIGHT, TraceGrade, UTIL_WEIGHT};
use serde_json::{Value, json as j};
use std::fmt::Write as _;

/// The formula, in one line, as every format states it.
pub fn formula() -> String {
    format!(
        "score per trace = 100 × ({UTIL_WEIGHT} × util + {THRU_WEIGHT} × min(1, glibc time / time)); \
         total = the mean of the scores weighted by the traces' weights; a trace that fails a check scores 0"
    )
}

/// `x` rounded to `d` decimals.
fn round(x: f64, d: i32) -> f64 {
    let p = 10f64.powi(d);
    (x * p).round() / p
}

/// What a trace's result says in one line.
fn summary(t: &TraceGrade) -> String {
    match &t.result {
        Ok(m) => format!(
            "utilization {} (peak live {}, heap {}); simulated time {} against glibc's {}: \
             throughput {} of glibc's; score {:.1} of 100{}",
            units::percent(m.util),
            units::bytes(m.peak_live),
            units::bytes(m.heap),
            units::nanos(m.time_ns),
            units::nanos(t.reference_ns),
            units::percent(t.thru),
            t.score,
            if m.keeps_bytes {
                ""
            } else {
                " (the allocator keeps no bytes in memory: the grader copied its reallocs)"
            }
        ),
        Err(message) => format!("FAILED: {message}; score 0"),
    }
}

/// The grade as an aligned table, the failures in full below it, the total and the
/// formula.
pub fn table(g: &Grade) -> String {
    let header = [
        "trace", "weight", "ops", "util", "time", "glibc", "thru", "score",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for t in &g.traces {
        let mut row = vec![
            t.name.clone(),
            format!("{}", round(t.weight, 3)),
            units::count(t.ops as u64),
        ];
        match &t.result {
            Ok(m) => row.extend([
                units::percent(m.util),
                units::nanos(m.time_ns),
                units::nanos(t.reference_ns),
                units::percent(t.thru),
            ]),
            Err(_) => row.extend([
                "FAIL".to_string(),
                "-".to_string(),
                units::nanos(t.reference_ns),
                "-".to_string(),
            ]),
        }
        row.push(format!("{:.1}", t.score));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (c, cell) in cells.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "grading {} on {} ({} traces)",
        g.allocator,
        g.set,
        g.traces.len()
    );
    out.push('\n');
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let _ = writeln!(out, "{}", line(&header));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    let failed: Vec<&TraceGrade> = g.traces.iter().filter(|t| t.result.is_err()).collect();
    if !failed.is_empty() {
        out.push('\n');
        for t in failed {
            if let Err(m) = &t.result {
                let _ = writeln!(out, "{m}");
            }
        }
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "total: {:.1} of 100 ({} of {} traces passed every check; mean utilization {})",
        g.total,
        g.passed(),
        g.traces.len(),
        units::percent(g.mean_util())
    );
    let _ = writeln!(out, "{}", formula());
    out
}

/// One trace as JSON.
fn trace_json(t: &TraceGrade) -> Value {
    let mut v = j!({
        "name": t.name,
        "about": t.about,
        "weight": round(t.weight, 6),
        "ops": t.ops,
        "passed": t.result.is_ok(),
        "reference_ns": round(t.reference_ns, 1),
        "throughput": round(t.thru, 6),
        "score": round(t.score, 4),
    });
    let o = v.as_object_mut().expect("an object");
    match &t.result {
        Ok(m) => {
            o.insert("calls".into(), j!(m.calls));
            o.insert("peak_live".into(), j!(m.peak_live));
            o.insert("heap".into(), j!(m.heap));
            o.insert("util".into(), j!(round(m.util, 6)));
            o.insert("time_ns".into(), j!(round(m.time_ns, 1)));
            o.insert("user_ns".into(), j!(round(m.user_ns, 1)));
            o.insert("lines".into(), j!(m.lines));
            o.insert("keeps_bytes".into(), j!(m.keeps_bytes));
        }
        Err(message) => {
            o.insert("failure".into(), j!(message));
        }
    }
    v
}

/// The grade as pretty JSON (schema `brkmap-grade/1`).
pub fn json(g: &Grade) -> String {
    let v = j!({
        "schema": "brkmap-grade/1",
        "allocator": g.allocator,
        "set": g.set,
        "formula": formula(),
        "total": round(g.total, 4),
        "passed": g.passed(),
        "mean_util": round(g.mean_util(), 6),
        "traces": g.traces.iter().map(trace_json).collect::<Vec<_>>(),
    });
    let mut s = serde_json::to_string_pretty(&v).expect("JSON serializes");
    s.push('\n');
    s
}

/// The grade as the `results.json` of a Gradescope autograder: the total `score`, an
/// `output` with the formula, and one test per trace with its `name`, `score`,
/// `max_score` (the trace's share of 100 by weight), `status` and `output` (the
/// measurements, or the failure). Everything is visible to the student.
pub fn gradescope_json(g: &Grade) -> String {
    let weight: f64 = g.traces.iter().map(|t| t.weight).sum();
    let tests: Vec<Value> = g
        .traces
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let max = 100.0 * t.weight / weight;
            j!({
                "name": if t.about.is_empty() {
                    format!("trace {}", t.name)
                } else {
                    format!("trace {}: {}", t.name, t.about)
                },
                "number": format!("{}", i + 1),
                "score": round(max * t.score / 100.0, 2),
                "max_score": round(max, 2),
                "status": if t.result.is_ok() { "passed" } else { "failed" },
                "output": summary(t),
                "visibility": "visible",
            })
        })
        .collect();
    let v = j!({
        "score": round(g.total, 2),
        "output": format!(
            "{}: {:.1} of 100 on {} ({} of {} traces passed every check). {}",
            g.allocator,
            g.total,
            g.set,
            g.passed(),
            g.traces.len(),
            formula()
        ),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    });
    let mut s = serde_json::to_string_pretty(&v).expect("JSON serializes");
    s.push('\n');
    s
}
