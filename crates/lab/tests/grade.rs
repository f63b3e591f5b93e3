//! `lab::grade` on the project's grading set: the baseline and the reference pass
//! every check, the score follows the formula, and nothing depends on the machine.

use lab::grade::{self, GradingSet, REFERENCE, THRU_WEIGHT, UTIL_WEIGHT};
use lab::registry::{self, Registry, settings};

fn set() -> GradingSet {
    GradingSet::builtin().unwrap()
}

#[test]
fn the_baseline_passes_every_trace_keeping_its_own_bytes() {
    let g = grade::grade_registered(&Registry::builtin(), "student", &[], &set()).unwrap();
    assert_eq!(g.passed(), g.traces.len(), "{}", grade::table(&g));
    for t in &g.traces {
        let m = t.result.as_ref().unwrap();
        assert!(m.keeps_bytes, "{}: headers in simulated memory", t.name);
        assert!(m.lines > 0);
        assert!(m.util > 0.0 && m.util <= 1.0);
        assert!(m.peak_live <= m.heap);
        let want = 100.0 * (UTIL_WEIGHT * m.util + THRU_WEIGHT * t.thru);
        assert_eq!(t.score, want, "{}", t.name);
        assert_eq!(t.thru, (t.reference_ns / m.time_ns).min(1.0));
        assert!(m.user_ns >= k_op() * (m.calls + m.lines) as f64 - 1e-6);
    }
    let weighted: f64 = g.traces.iter().map(|t| t.weight * t.score).sum::<f64>()
        / g.traces.iter().map(|t| t.weight).sum::<f64>();
    assert_eq!(g.total, weighted);
    // Deterministic: the same grade again.
    let again = grade::grade_registered(&Registry::builtin(), "student", &[], &set()).unwrap();
    assert_eq!(g, again);
}

fn k_op() -> f64 {
    kernel::CostModel::default().alloc_op_ns
}

#[test]
fn the_reference_passes_every_check_and_scores_its_utilization() {
    let set = set();
    let g = grade::grade_registered(&Registry::builtin(), REFERENCE, &[], &set).unwrap();
    assert_eq!(g.passed(), g.traces.len(), "{}", grade::table(&g));
    for t in &g.traces {
        let m = t.result.as_ref().unwrap();
        assert!(!m.keeps_bytes, "the model keeps its metadata in Rust");
        assert_eq!(t.thru, 1.0, "{}: measured checked, the same time", t.name);
        assert_eq!(m.time_ns, t.reference_ns);
    }
    // The checks only read: checked and unchecked runs give the same figures.
    for t in set.traces.iter().take(4) {
        let run = |checked| {
            let a = registry::build(REFERENCE, &[]).unwrap();
            grade::run_trace(a, 8, None, checked, &t.name, &t.workload).unwrap()
        };
        assert_eq!(run(true), run(false), "{}", t.name);
    }
}

#[test]
fn settings_reach_the_graded_allocator_and_bad_ones_are_refused() {
    let mut small = set();
    small.traces.retain(|t| t.name == "coalescing-bal");
    let g = |s: &[(&str, &str)]| {
        grade::grade_registered(&Registry::builtin(), "student", &settings(s), &small).unwrap()
    };
    let base = g(&[]);
    let big = g(&[("chunk_size", "1M")]);
    let (a, b) = (
        base.traces[0].result.as_ref().unwrap(),
        big.traces[0].result.as_ref().unwrap(),
    );
    assert!(
        b.heap >= 1 << 20 && a.heap < b.heap,
        "{} {}",
        a.heap,
        b.heap
    );
    let e = grade::grade_registered(
        &Registry::builtin(),
        "student",
        &settings(&[("chunk_size", "5000")]),
        &small,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "allocator student: option chunk_size: must be whole pages"
    );
    let e = grade::grade_registered(&Registry::builtin(), "nope", &[], &small).unwrap_err();
    assert!(e.to_string().starts_with("unknown allocator `nope`"), "{e}");
}

#[test]
fn the_formats_carry_every_figure() {
    let mut small = set();
    small
        .traces
        .retain(|t| ["binary-bal", "python3-json"].contains(&t.name.as_str()));
    let g = grade::grade_registered(&Registry::builtin(), "student", &[], &small).unwrap();
    let j: serde_json::Value = serde_json::from_str(&grade::json(&g)).unwrap();
    assert_eq!(j["schema"], "brkmap-grade/1");
    assert_eq!(j["traces"].as_array().unwrap().len(), 2);
    assert_eq!(j["traces"][1]["weight"], 2.0);
    assert!(j["traces"][0]["util"].as_f64().unwrap() > 0.0);
    let gs: serde_json::Value = serde_json::from_str(&grade::gradescope_json(&g)).unwrap();
    let tests = gs["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 2);
    let max: f64 = tests.iter().map(|t| t["max_score"].as_f64().unwrap()).sum();
    assert!((max - 100.0).abs() < 0.02, "{max}");
    assert!((tests[1]["max_score"].as_f64().unwrap() - 66.67).abs() < 1e-9);
    for t in tests {
        assert!(t["name"].as_str().unwrap().starts_with("trace "));
        assert!(t["output"].as_str().unwrap().contains("utilization"));
        assert!(t["score"].as_f64().unwrap() <= t["max_score"].as_f64().unwrap());
    }
    assert!((gs["score"].as_f64().unwrap() - (g.total * 100.0).round() / 100.0).abs() < 1e-9);
    let table = grade::table(&g);
    assert!(
        table.contains("binary-bal") && table.contains("total: "),
        "{table}"
    );
}
