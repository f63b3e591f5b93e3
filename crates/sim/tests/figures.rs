//! `sim figures`: the committed figures, tables and notebook data are what the code
//! produces, and the check says which file is wrong and how to refresh it.

mod common;
use common::*;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

const REFRESH: &str = "run `cargo run -p sim -- figures`";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn figures_in(root: &Path, extra: &[&str]) -> Output {
    let root = root.to_string_lossy().into_owned();
    let mut args = vec!["figures", "--root", root.as_str()];
    args.extend_from_slice(extra);
    sim(&args)
}

#[test]
fn committed_figures_tables_and_data_are_up_to_date() {
    let out = sim(&["figures", "--check"]);
    let err = text(&out.stderr);
    assert!(
        out.status.success(),
        "the committed figures are stale; {REFRESH} and commit the result:\n{err}"
    );
    assert!(text(&out.stdout).contains("up to date"));
}

#[test]
fn every_committed_svg_is_well_formed_and_says_what_produced_it() {
    let dir = workspace().join("book/src/figures");
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let svg = fs::read_to_string(&path).unwrap();
        let name = path.display();
        assert!(svg.starts_with("<svg"), "{name}");
        assert!(svg.trim_end().ends_with("</svg>"), "{name}");
        // Every element that opens closes: counts of `<text` and `</text>` agree, and
        // nothing is left unescaped.
        assert_eq!(
            svg.matches("<text").count(),
            svg.matches("</text>").count(),
            "{name}"
        );
        assert!(!svg.contains("NaN") && !svg.contains("inf\""), "{name}");
        n += 1;
    }
    assert!(n >= 22, "expected every figure of the book, found {n}");
}

#[test]
fn the_check_names_stale_missing_and_stray_files_and_the_command() {
    let root = scratch("check");
    let only = ["--only", "vm-placement"];
    let out = figures_in(&root, &only);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let svg = root.join("book/src/figures/vm-placement.svg");
    let md = root.join("book/src/generated/vm-placement.md");
    let csv = root.join("notebooks-data/vm-placement.csv");
    for f in [&svg, &md, &csv] {
        assert!(f.is_file(), "{} was not written", f.display());
    }
    let check = [only[0], only[1], "--check"];
    let ok = figures_in(&root, &check);
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    // A second run changes nothing: the output is byte-identical.
    let before = fs::read(&svg).unwrap();
    let again = figures_in(&root, &only);
    assert!(text(&again.stdout).contains("wrote 0 file(s)"));
    assert_eq!(fs::read(&svg).unwrap(), before);

    // A stale figure, a missing table and a stray file are each named.
    fs::write(&svg, b"<svg>old</svg>").unwrap();
    fs::remove_file(&md).unwrap();
    fs::write(root.join("notebooks-data/old-figure.csv"), b"x\n").unwrap();
    let bad = figures_in(&root, &check);
    let err = text(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(
        err.contains("book/src/figures/vm-placement.svg: differs"),
        "{err}"
    );
    assert!(
        err.contains("book/src/generated/vm-placement.md: missing"),
        "{err}"
    );
    assert!(
        err.contains("notebooks-data/old-figure.csv: not produced by any experiment"),
        "{err}"
    );
    assert!(err.contains(REFRESH), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The check wrote nothing.
    assert_eq!(fs::read(&svg).unwrap(), b"<svg>old</svg>");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_readme_keeps_its_hand_written_introduction() {
    let root = scratch("readme");
    let readme = root.join("notebooks-data/README.md");
    fs::create_dir_all(readme.parent().unwrap()).unwrap();
    fs::write(&readme, "# My notes\n\nWritten by hand.\n").unwrap();
    let out = figures_in(&root, &["--only", "vm-page-tables"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = fs::read_to_string(&readme).unwrap();
    assert!(
        first.starts_with("# My notes\n\nWritten by hand.\n"),
        "{first}"
    );
    // Every experiment and every column is described.
    assert!(first.contains("## vm-page-tables"));
    assert!(first.contains("| `pages_touched` |"));
    assert!(first.contains("## multiproc-memory"));
    // Regenerating keeps the introduction once, not twice.
    let out = figures_in(&root, &["--only", "vm-page-tables"]);
    assert!(out.status.success());
    assert_eq!(fs::read_to_string(&readme).unwrap(), first);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_missing_real_snapshot_says_how_to_measure_it() {
    let root = scratch("real");
    let out = figures_in(&root, &["--only", "model-vs-real"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("model-vs-real.real.csv"), "{err}");
    assert!(err.contains("--real --only model-vs-real"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_usage_is_exit_code_2() {
    let out = sim(&["figures", "--only", "no-such-figure"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no such experiment"), "{err}");
    assert!(
        err.contains("intro-churn-timeline"),
        "lists the names: {err}"
    );
    let out = sim(&["figures", "--check", "--real"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
