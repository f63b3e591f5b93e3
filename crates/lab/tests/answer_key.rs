//! The answer key of the book's assignments is computed, and the committed appendix is
//! what the code computes; answer files are checked by name.
//!
//! Refresh the appendix with `cargo run -p sim -- grade --key --out
//! book/src/appendix-answer-key.md` (or `BRKMAP_BLESS=1 cargo test -p lab --test
//! answer_key`). The key quotes the baseline as shipped: this test fails once
//! `crates/student/src/mm.rs` is edited, as it should in the project, and as is
//! expected in a student's copy (`cargo test -p student` and `sim grade` are theirs).

use lab::grade::key::{self, check_answers};
use std::path::Path;

#[test]
fn the_appendix_is_the_computed_key() {
    let k = key::compute().unwrap();
    let text = key::markdown(&k);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../book/src/appendix-answer-key.md");
    if std::env::var_os("BRKMAP_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "book/src/appendix-answer-key.md is stale: run `cargo run -p sim -- grade --key \
         --out book/src/appendix-answer-key.md` (if you edited crates/student/src/mm.rs, \
         this is expected: the key quotes the baseline as shipped)"
    );
    // The handout of assignment 1 quotes three totals in its prose; they are the key's.
    let handout_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../book/src/assignments.md");
    let handout = std::fs::read_to_string(&handout_path).unwrap_or_default();
    let (b, g, f) = (k.baseline.total, k.glibc.total, k.first_fit.total);
    for quote in [
        format!("The baseline scores {b:.1}, glibc {g:.1}"),
        format!("exceed the baseline's {b:.1}."),
        format!("from {b:.1} towards the textbook `first-fit` model's {f:.1}"),
    ] {
        assert!(
            handout.replace('\n', " ").contains(&quote),
            "book/src/assignments.md should say `{quote}` (the key's totals): edit it by hand"
        );
    }
    // What the handouts rely on, so that a change of the model shows here first.
    assert!(
        k.first_fit.total > k.baseline.total,
        "an explicit list can beat the baseline"
    );
    assert!(k.glibc.mean_util() < k.baseline.mean_util());
    for sw in &k.sweeps {
        assert_eq!(
            sw.argmin().len(),
            1,
            "one best threshold on {}",
            sw.workload
        );
        assert_eq!(sw.points.len(), key::THRESHOLDS.len());
    }
    let pte: Vec<i64> = k.page_tables.iter().map(|p| p.1).collect();
    assert!(pte[0] < pte[1] && pte[1] < pte[2], "{pte:?}");
    assert!(
        k.page_tables.iter().all(|p| p.2 == 2048),
        "512 pages resident each time"
    );
}

#[test]
fn answers_are_checked_by_name() {
    let q = key::questions().unwrap();
    assert_eq!(q.len(), 5);
    let sheet: String = q
        .iter()
        .map(|q| format!("{} = {}\n", q.name, q.accepted[0]))
        .collect();
    let all = check_answers(&q, &sheet, "a.txt").unwrap();
    assert!(all.iter().all(|c| c.right), "{all:?}");
    let one = check_answers(&q, "# only one\npte-kb-dense = 12K\n", "a.txt").unwrap();
    assert_eq!(one.iter().filter(|c| c.given.is_some()).count(), 1);
    assert!(
        !one.iter().find(|c| c.given.is_some()).unwrap().right,
        "12K is not 12"
    );
    let e = |text: &str| check_answers(&q, text, "a.txt").unwrap_err();
    assert_eq!(
        e("mmap = 2M\n").split(" (the questions").next().unwrap(),
        "a.txt:1: no question is named `mmap`"
    );
    assert_eq!(
        e("\npte-kb-dense 12\n"),
        "a.txt:2: expected NAME = VALUE, found `pte-kb-dense 12`"
    );
    assert_eq!(
        e("pte-kb-dense = 12\npte-kb-dense = 12\n"),
        "a.txt:2: pte-kb-dense is answered twice"
    );
    assert!(e("pte-kb-dense = lots\n").starts_with("a.txt:1: pte-kb-dense: "));
    let gs: serde_json::Value = serde_json::from_str(&key::answers_gradescope(&all)).unwrap();
    assert_eq!(gs["score"], 5);
    assert_eq!(gs["tests"].as_array().unwrap().len(), 5);
    let j: serde_json::Value = serde_json::from_str(&key::answers_json(&one)).unwrap();
    assert_eq!(j["right"], 0);
    assert!(
        !key::answers_json(&all).contains("accepted"),
        "the key stays hidden"
    );
}
