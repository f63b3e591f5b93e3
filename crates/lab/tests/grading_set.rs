//! The committed grading set is what `lab::grade::set::generate` makes, byte for byte,
//! and what the library has built in.
//!
//! Refresh the files with `BRKMAP_BLESS=1 cargo test -p lab --test grading_set`.

use lab::grade::set::{self, GradingSet, MANIFEST, RECORDED};
use std::path::Path;

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("grading")
}

#[test]
fn the_committed_files_are_the_generated_ones() {
    let files = set::generate();
    if std::env::var_os("BRKMAP_BLESS").is_some() {
        for (name, text) in &files {
            std::fs::write(dir().join(name), text).unwrap();
        }
    }
    let mut committed: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    let mut generated: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    generated.sort();
    assert_eq!(
        committed, generated,
        "crates/lab/grading holds exactly the generated files; refresh with \
         `BRKMAP_BLESS=1 cargo test -p lab --test grading_set`"
    );
    for (name, text) in &files {
        let on_disk = std::fs::read_to_string(dir().join(name)).unwrap();
        assert!(
            on_disk == *text,
            "crates/lab/grading/{name} is stale; refresh with \
             `BRKMAP_BLESS=1 cargo test -p lab --test grading_set`"
        );
    }
    assert!(set::generate() == files, "generation is deterministic");
}

#[test]
fn the_built_in_set_is_the_committed_one() {
    let set = GradingSet::builtin().unwrap();
    let manifest = std::fs::read_to_string(dir().join(MANIFEST)).unwrap();
    let files: Vec<(String, Vec<u8>)> = set::generate()
        .into_iter()
        .filter(|(n, _)| n != MANIFEST)
        .map(|(n, t)| (n, t.into_bytes()))
        .collect();
    let parsed = GradingSet::parse(Some(&manifest), &files, "crates/lab/grading").unwrap();
    assert_eq!(set, parsed);
    assert_eq!(set.traces.len(), 13);
    let names: Vec<&str> = set.traces.iter().map(|t| t.name.as_str()).collect();
    for n in [
        "binary-bal",
        "coalescing-bal",
        "realloc-bal",
        "churn",
        "python3-json",
    ] {
        assert!(names.contains(&n), "{n} is graded");
    }
    assert!(set.traces.iter().all(|t| !t.about.is_empty()));
    assert_eq!(
        set.total_weight(),
        15.0,
        "eleven traces of weight 1, two of 2"
    );
}

#[test]
fn the_recorded_traces_are_the_shipped_ones() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workload/traces");
    for (name, text) in RECORDED {
        assert_eq!(
            std::fs::read_to_string(shipped.join(name)).unwrap(),
            *text,
            "{name}"
        );
    }
}

#[test]
fn a_course_set_is_checked_before_grading() {
    let trace = b"# brkmap trace v1\nmalloc 1 10\nfree 1\n".to_vec();
    let files = vec![("a.trace".to_string(), trace.clone())];
    let s = GradingSet::parse(None, &files, "mine").unwrap();
    assert_eq!((s.traces.len(), s.traces[0].weight), (1, 1.0));
    let bad = |m: &str, files: &[(String, Vec<u8>)]| {
        GradingSet::parse(Some(m), files, "mine")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad(
            r#"{"about":"x","traces":[{"file":"b.trace","weight":1}]}"#,
            &files
        ),
        "mine/set.json lists b.trace, which is not in the directory"
    );
    assert_eq!(
        bad(
            r#"{"about":"x","traces":[{"file":"a.trace","weight":0}]}"#,
            &files
        ),
        "mine/set.json: trace a.trace: the weight must be a positive number, not 0"
    );
    assert!(bad("{", &files).starts_with("mine/set.json: "));
    let broken = vec![(
        "a.trace".to_string(),
        b"# brkmap trace v1\nfree 7\n".to_vec(),
    )];
    let e = GradingSet::parse(None, &broken, "mine")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "mine/a.trace:2: free of unknown id 7");
    let e = GradingSet::parse(None, &[], "mine")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no traces"), "{e}");
}
