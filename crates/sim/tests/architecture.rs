//! ARCHITECTURE.md's dependency table is the workspace's real dependency graph.
//!
//! The table is read from the file and compared with what `cargo metadata` says about
//! every workspace crate's normal dependencies (tests may use more), so the map a
//! newcomer reads cannot drift from the code. Two rules are checked on their own too,
//! because the design rests on them: the engine knows no allocator family and no
//! experiment, and only `lab` (and the `sim` binary above it) may depend on `lab`.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The workspace's crates and their normal in-workspace dependencies, from cargo.
fn metadata() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = json["packages"].as_array().unwrap();
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_string())
                .filter(|n| names.contains(n))
                .collect();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

/// The table under "## Dependencies" in ARCHITECTURE.md.
fn documented() -> Graph {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Dependencies"))
        .expect("ARCHITECTURE.md has a Dependencies section");
    let mut graph = Graph::new();
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells[0] == "crate" || cells[0].starts_with("---") {
            continue;
        }
        let deps = if cells[1] == "nothing" {
            BTreeSet::new()
        } else {
            cells[1].split(',').map(|d| d.trim().to_string()).collect()
        };
        graph.insert(cells[0].to_string(), deps);
    }
    graph
}

#[test]
fn the_documented_dependency_table_is_the_real_one() {
    let real = metadata();
    let doc = documented();
    for (name, deps) in &real {
        let Some(documented) = doc.get(name) else {
            panic!("ARCHITECTURE.md's dependency table has no row for crate {name}");
        };
        assert_eq!(
            documented, deps,
            "crate {name}: ARCHITECTURE.md says it depends on {documented:?}, Cargo.toml on {deps:?}"
        );
    }
    for name in doc.keys() {
        assert!(
            real.contains_key(name),
            "ARCHITECTURE.md lists crate {name}, which the workspace does not have"
        );
    }
}

#[test]
fn the_engine_knows_no_allocator_family_and_only_lab_and_sim_use_lab() {
    let real = metadata();
    let engine = &real["engine"];
    assert!(!engine.contains("mmap"), "engine depends on mmap");
    assert!(!engine.contains("lab"), "engine depends on lab");
    let users: Vec<&str> = real
        .iter()
        .filter(|(_, deps)| deps.contains("lab"))
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(users, ["sim"], "only sim may depend on lab");
}
