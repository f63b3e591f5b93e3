//! `sim grade` end to end: the same output on every run, a Gradescope `results.json`
//! with the fields autograders read, a course's own trace directory, and bad input
//! refused before any work with one line and exit code 2.

mod common;
use common::*;

#[test]
fn two_runs_print_the_same_grade() {
    let a = sim(&["grade", "--allocator", "student"]);
    assert!(a.status.success(), "{}", stderr(&a));
    let b = sim(&["grade", "--allocator", "student"]);
    assert!(b.status.success(), "{}", stderr(&b));
    assert_eq!(stdout(&a), stdout(&b));
    let text = stdout(&a);
    assert!(
        text.starts_with("grading student on brkmap's grading set"),
        "{text}"
    );
    assert!(text.contains("total: "), "{text}");
    assert!(
        text.contains("13 of 13 traces passed every check"),
        "{text}"
    );
    for t in [
        "binary-bal",
        "coalescing-bal",
        "realloc2-bal",
        "python3-json",
        "large",
    ] {
        assert!(text.contains(t), "{t} is graded: {text}");
    }
}

/// A course's own set: two small traces, one twice as heavy.
fn course_set(dir: &std::path::Path) {
    std::fs::write(
        dir.join("pair.trace"),
        "# brkmap trace v1\nmalloc 1 100\nmalloc 2 200\nfree 1\nrealloc 2 5000\nfree 2\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("tiny.rep"),
        "0\n2\n4\n1\na 0 10\na 1 20\nf 0\nf 1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("set.json"),
        r#"{"about": "a course's set", "traces": [
             {"file": "pair.trace", "weight": 2, "about": "a pair and a realloc"},
             {"file": "tiny.rep", "weight": 1}]}"#,
    )
    .unwrap();
}

#[test]
fn gradescope_results_have_the_fields_autograders_read() {
    let dir = scratch("gradescope");
    let traces = dir.join("traces");
    std::fs::create_dir_all(&traces).unwrap();
    course_set(&traces);
    let out = dir.join("results").join("results.json");
    let o = sim(&[
        "grade",
        "-a",
        "student",
        "--traces",
        traces.to_str().unwrap(),
        "--format",
        "gradescope",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "the grade went to the file");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let score = json["score"].as_f64().expect("a total score");
    assert!((0.0..=100.0).contains(&score));
    assert!(
        json["output"]
            .as_str()
            .unwrap()
            .contains("score per trace = 100 × (0.6 × util")
    );
    assert_eq!(json["visibility"], "visible");
    let tests = json["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 2);
    assert_eq!(tests[0]["name"], "trace pair: a pair and a realloc");
    assert_eq!(tests[1]["name"], "trace tiny");
    let mut sum = 0.0;
    for t in tests {
        for field in ["name", "score", "max_score", "output", "status"] {
            assert!(!t[field].is_null(), "{field} in {t}");
        }
        assert_eq!(t["status"], "passed");
        sum += t["score"].as_f64().unwrap();
    }
    assert_eq!(tests[0]["max_score"], 66.67);
    assert_eq!(tests[1]["max_score"], 33.33);
    assert!((sum - score).abs() < 0.02, "{sum} {score}");

    // JSON on stdout, for scripts.
    let o = sim(&[
        "grade",
        "-a",
        "glibc",
        "--traces",
        traces.to_str().unwrap(),
        "-f",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["allocator"], "glibc");
    assert_eq!(
        j["traces"][0]["throughput"], 1.0,
        "the reference against itself"
    );
}

#[test]
fn bad_input_is_refused_before_any_work() {
    let dir = scratch("bad");
    let out = dir.join("results.json");
    let o = sim(&["grade", "-a", "nope", "-o", out.to_str().unwrap()]);
    assert_usage_error(&o, "unknown allocator `nope`");
    assert!(!out.exists(), "nothing written");
    let o = sim(&["grade"]);
    assert_usage_error(&o, "--allocator");
    let o = sim(&["grade", "-a", "student", "--tunable", "chunk=64K"]);
    assert_usage_error(&o, "--tunable chunk");
    let o = sim(&["grade", "-a", "student", "--tunable", "chunk_size=5000"]);
    assert_usage_error(&o, "must be whole pages");
    let missing = dir.join("no-such-dir");
    let o = sim(&[
        "grade",
        "-a",
        "student",
        "--traces",
        missing.to_str().unwrap(),
    ]);
    assert_usage_error(&o, "no-such-dir");
    let traces = dir.join("traces");
    std::fs::create_dir_all(&traces).unwrap();
    std::fs::write(traces.join("broken.trace"), "# brkmap trace v1\nfree 3\n").unwrap();
    let o = sim(&[
        "grade",
        "-a",
        "student",
        "--traces",
        traces.to_str().unwrap(),
    ]);
    assert_usage_error(&o, "broken.trace:2: free of unknown id 3");
    std::fs::write(traces.join("set.json"), "{\"about\": 1}").unwrap();
    let o = sim(&[
        "grade",
        "-a",
        "student",
        "--traces",
        traces.to_str().unwrap(),
    ]);
    assert_usage_error(&o, "set.json");
}

#[test]
fn answer_files_are_checked_and_bad_ones_refused() {
    let dir = scratch("answers");
    let sheet = dir.join("answers.txt");
    std::fs::write(
        &sheet,
        "# assignment 4\npte-kb-dense = 12\npte-kb-sparse-2m = 2048\n",
    )
    .unwrap();
    let o = sim(&["grade", "--answers", sheet.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("pte-kb-dense: 12: right"), "{text}");
    assert!(text.contains("pte-kb-sparse-2m: 2048: wrong"), "{text}");
    assert!(text.contains("mmap-threshold-large: no answer"), "{text}");
    assert!(text.ends_with("1 of 5 answers right\n"), "{text}");
    let out = dir.join("results.json");
    let o = sim(&[
        "grade",
        "--answers",
        sheet.to_str().unwrap(),
        "-f",
        "gradescope",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(j["score"], 1);
    assert_eq!(j["tests"].as_array().unwrap().len(), 5);
    assert_eq!(j["tests"][0]["max_score"], 1);

    std::fs::write(&sheet, "pte-kb-dense 12\n").unwrap();
    let o = sim(&["grade", "--answers", sheet.to_str().unwrap()]);
    assert_usage_error(&o, "answers.txt:1: expected NAME = VALUE");
    let o = sim(&["grade", "--answers", dir.join("none.txt").to_str().unwrap()]);
    assert_usage_error(&o, "--answers");
    let o = sim(&["grade", "--key", "--allocator", "student"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
