//! Kernel scripts on the simulated kernel, row for row against the real machine.
//!
//! Two sets of expected rows:
//! - `../shared/traces/truth/kernel/NAME.ks` with `NAME.linux-6.18.csv`, recorded on the
//!   reference machine (Linux 6.18). Those tests need the shared directory and are
//!   ignored without it (CI runs them with `--include-ignored` when it is there);
//! - the project's own scripts in `crates/kernel/scripts/`, each `NAME.ks` with the rows
//!   `sim kernel --script NAME.ks --real` gave on this kind of machine in
//!   `NAME.linux-6.18.csv`. Those always run.
//!
//! Every test goes through one `check` helper: parse, run on a fresh simulated kernel,
//! compare the CSV byte for byte, and on a difference name the first differing line.

use kernel::script::{Script, run_simulated, to_csv};
use std::path::{Path, PathBuf};

fn shared_truth() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces/truth/kernel")
}

fn own_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

/// Runs `dir/NAME.ks` on the simulated kernel and compares its rows with
/// `dir/NAME.linux-6.18.csv`.
fn check(dir: &Path, name: &str) {
    let ks = dir.join(format!("{name}.ks"));
    let csv = dir.join(format!("{name}.linux-6.18.csv"));
    let text = std::fs::read_to_string(&ks).unwrap_or_else(|e| panic!("{}: {e}", ks.display()));
    let want = std::fs::read_to_string(&csv).unwrap_or_else(|e| panic!("{}: {e}", csv.display()));
    let script = Script::parse(&text).unwrap_or_else(|e| panic!("{}:{e}", ks.display()));
    let rows = run_simulated(&script).unwrap_or_else(|e| panic!("{}:{e}", ks.display()));
    let got = to_csv(&rows);
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(g, w)| g != w)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "{name}: the simulated rows differ from Linux's, first at CSV line {}:\n  \
             model: {}\n  linux: {}\n--- model\n{got}--- linux\n{want}",
            first + 1,
            got.lines().nth(first).unwrap_or("(none)"),
            want.lines().nth(first).unwrap_or("(none)"),
        );
    }
}

macro_rules! truth {
    ($($test:ident => $name:literal),* $(,)?) => {$(
        #[test]
        #[ignore = "needs ../shared/traces/truth/kernel"]
        fn $test() {
            check(&shared_truth(), $name);
        }
    )*};
}

truth! {
    truth_brk => "brk",
    truth_demand_paging => "demand-paging",
    truth_dontneed_free => "dontneed-free",
    truth_mremap => "mremap",
    truth_populate => "populate",
    truth_split_merge => "split-merge",
}

/// Every truth file has its test above (a new one in `../shared` fails here until it
/// gets one).
#[test]
#[ignore = "needs ../shared/traces/truth/kernel"]
fn every_truth_file_is_checked() {
    let mut names: Vec<String> = std::fs::read_dir(shared_truth())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "ks").then(|| p.file_stem().unwrap().to_string_lossy().into())
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "brk",
            "demand-paging",
            "dontneed-free",
            "mremap",
            "populate",
            "split-merge"
        ]
    );
}

/// The project's own scripts: each has its real rows beside it, and the model matches.
#[test]
fn project_scripts_match_their_real_rows() {
    let dir = own_scripts();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "ks").then(|| p.file_stem().unwrap().to_string_lossy().into())
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no scripts in {}", dir.display());
    for name in &names {
        check(&dir, name);
    }
}
