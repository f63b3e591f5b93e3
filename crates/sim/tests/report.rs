//! report.html without a browser: one self-contained file, deterministic, bounded in
//! size, whose data says what the run did (the peaks are the summary's peaks, the
//! blocks carry the trace's ids). `report_browser.rs` opens it in Chromium.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .expect("sim runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brkmap-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn textbook() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../workload/traces/textbook.trace")
        .display()
        .to_string()
}

/// Runs sim with `args` into a fresh directory; returns the directory and the page.
fn report(name: &str, args: &[&str]) -> (PathBuf, String) {
    let dir = scratch(name);
    let o = sim(&[args, &["--out", dir.to_str().unwrap()]].concat());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let path = dir.join("report.html");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("wrote {}", path.display())),
        "the report's path is printed"
    );
    let page = std::fs::read_to_string(&path).unwrap();
    (dir, page)
}

/// The page's JSON data block.
fn data(page: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"report-data\">";
    let start = page.find(open).expect("a data block") + open.len();
    let end = page[start..].find("</script>").unwrap() + start;
    serde_json::from_str(&page[start..end]).expect("the data block is JSON")
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn the_page_is_one_file_that_fetches_nothing() {
    let (_, page) = report("alone", &["--trace", &textbook(), "-a", "glibc,first-fit"]);
    assert!(page.starts_with("<!DOCTYPE html>"));
    for banned in [" src=", "<link", "@import", "url(", "https://"] {
        assert!(!page.contains(banned), "the page contains {banned:?}");
    }
    // The only URL is the SVG namespace, which names and fetches nothing.
    let urls = page.matches("http://").count();
    let svg_ns = page.matches("http://www.w3.org/2000/svg").count();
    assert_eq!(urls, svg_ns, "every http:// is the SVG namespace");
    // The charts are inline.
    assert!(page.contains("Memory over time") && page.contains("Heap map of first-fit"));
    assert!(page.contains("<input id=\"slider\" type=\"range\""));
    assert!(page.contains("id=\"peak-footprint\"") && page.contains("id=\"peak-rss\""));
}

#[test]
fn the_same_run_writes_the_same_bytes() {
    let args = ["-w", "ramp", "--ops", "2000", "-a", "glibc,segregated"];
    let (_, one) = report("same-1", &args);
    let (_, two) = report("same-2", &args);
    assert!(one == two, "two reports of the same run differ");
}

#[test]
fn the_peak_buttons_lead_to_the_summarys_peaks() {
    let (dir, page) = report("peaks", &["-w", "churn", "--ops", "5000"]);
    let d = data(&page);
    let s = summary(&dir);
    let runs = d["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for (run, sum) in runs.iter().zip(s["runs"].as_array().unwrap()) {
        assert_eq!(run["allocator"], sum["allocator"]);
        let states = run["states"].as_array().unwrap();
        assert!(states.len() >= 2 && states.len() <= 402, "{}", states.len());
        let at = |k: &str| &states[run[k].as_u64().unwrap() as usize];
        assert_eq!(at("peak_footprint")["footprint"], sum["peak_footprint"]);
        assert_eq!(at("peak_rss")["rss"], sum["peak_rss"]);
        // States in op order, the first and the last op among them.
        let ops: Vec<u64> = states.iter().map(|s| s["ops"].as_u64().unwrap()).collect();
        assert!(ops.windows(2).all(|w| w[0] < w[1]), "states in op order");
        assert_eq!(ops[0], 1);
        assert_eq!(ops.last(), run["total_ops"].as_u64().as_ref());
    }
}

#[test]
fn blocks_carry_the_traces_ids_and_the_free_list_is_shown() {
    let (_, page) = report("ids", &["--trace", &textbook(), "-a", "first-fit"]);
    let d = data(&page);
    let run = &d["runs"][0];
    // After the fill phase (op 7 of the trace: six mallocs after a phase marker),
    // blocks 1 to 6 are live, each in one used block of the heap.
    let state = run["states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ops"] == 7)
        .expect("every op of a short trace is kept");
    let mut ids: Vec<i64> = state["heap"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b[2] == 0)
        .map(|b| b[3].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    assert!(
        state["op"]
            .as_str()
            .unwrap()
            .contains("block 6 = malloc(16)")
    );
    assert!(state["free"].as_str().unwrap().starts_with("Free List"));
    assert_eq!(state["vmas"][0][3], true, "the heap VMA");
}

#[test]
fn a_long_run_stays_within_the_size_bound_and_says_what_it_left_out() {
    let (dir, page) = report("long", &["-w", "churn", "--ops", "60000"]);
    let charts: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let data_budget = 4 << 20;
    assert!(
        (page.len() as u64) < data_budget + charts + 64 * 1024,
        "{} bytes (charts {charts})",
        page.len()
    );
    let d = data(&page);
    for run in d["runs"].as_array().unwrap() {
        let notes: Vec<&str> = run["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert!(notes[0].contains("of 60,003 op states kept"), "{notes:?}");
        for s in run["states"].as_array().unwrap() {
            assert!(s["heap"].as_array().unwrap().len() <= 400);
            assert!(s["maps"].as_array().unwrap().len() <= 400);
        }
    }
    assert!(page.contains("at most 400 states"), "the bound is stated");
}
