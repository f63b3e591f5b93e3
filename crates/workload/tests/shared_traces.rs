//! The real-program traces in `../shared/traces` (outside this repository): all of them
//! parse, and their op counts equal their headers. Ignored (and counted as such by
//! `cargo test`) where the folder is absent; `.ci/run` runs it when it is there.

use std::path::PathBuf;
use workload::{read_trace, stats};

/// `<project root>/../shared/traces`.
fn shared_traces() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces")
}

/// The op count in the third line of a `.rep` header.
fn header_ops(text: &str) -> u64 {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .nth(2)
        .and_then(|l| l.trim().parse().ok())
        .expect("a header with an op count")
}

#[test]
#[ignore = "needs ../shared/traces"]
fn the_shared_real_program_traces_parse_and_match_their_headers() {
    let dir = shared_traces();
    let expected = [
        ("awk-fields.rep", 400_033),
        ("diff-lines.rep", 20_331),
        ("find-newer.rep", 355_647),
        ("ls-recursive.rep", 33_735),
        ("make-database.rep", 3_515),
    ];
    for (file, ops) in expected {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let w = read_trace(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.ops.len() as u64, header_ops(&text), "{file}");
        assert_eq!(w.ops.len(), ops, "{file}");
        assert_eq!(w.name, file.trim_end_matches(".rep"));
        let s = stats(&w).unwrap();
        assert_eq!(s.mallocs + s.frees + s.reallocs, ops as u64);
        assert!(
            s.frees <= s.mallocs,
            "{file}: traces are not balanced, but never over-free"
        );
    }
}
