//! Helpers shared by the replay tests: a small CS:APP `.rep` reader and the paths of
//! the binary and the shared traces.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use workload::{Op, TouchPolicy, Workload};

/// The test host binary (a `#![no_main]` program built with `calibrate::entry_point!`).
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_brkmap-replay"))
}

/// The project's shared folder (`../shared` from the project root), if present.
pub fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    dir.join("traces").is_dir().then_some(dir)
}

/// Reads a CS:APP trace: four header lines (heap size, ids, ops, weight), then
/// `a id size`, `r id size`, `f id`. Panics with the file and line on a malformed one:
/// this is test code reading known files.
pub fn read_rep(path: &Path) -> Workload {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_rep(&text, &path.display().to_string())
}

/// Parses the text of a `.rep` trace (`what` names it in panics).
pub fn parse_rep(text: &str, what: &str) -> Workload {
    let mut ops = Vec::new();
    let mut header = 0;
    let mut announced_ops = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> u64 {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("{what}:{}: bad line {line:?}", n + 1))
        };
        if header < 4 {
            if header == 2 {
                announced_ops = Some(num(0));
            }
            header += 1;
            continue;
        }
        ops.push(match words[0] {
            "a" => Op::Malloc {
                id: num(1),
                size: num(2),
            },
            "r" => Op::Realloc {
                id: num(1),
                size: num(2),
            },
            "f" => Op::Free { id: num(1) },
            _ => panic!("{what}:{}: unknown op {line:?}", n + 1),
        });
    }
    assert_eq!(announced_ops, Some(ops.len() as u64), "{what}: op count");
    Workload {
        name: what.to_string(),
        seed: None,
        touch: TouchPolicy::WriteAll,
        ops,
        lifetimes: Default::default(),
        calls: Default::default(),
    }
}
