//! Appendix A's commands run as written: every `sim` command line the appendix gives
//! for an experiment's setup makes the experiment's own runs, summary for summary.

use lab::experiments;
use std::process::Command;

/// Splits a command line the way a shell would for these commands (words, and one
/// single-quoted word).
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = cmd.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('\'') {
            let end = r.find('\'').expect("a closing quote");
            out.push(r[..end].to_string());
            rest = r[end + 1..].trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    out
}

#[test]
fn every_appendix_command_makes_the_experiment_s_runs() {
    let dir = std::env::temp_dir().join(format!("brkmap-figcmd-{}", std::process::id()));
    let mut ran = 0;
    for e in experiments::all() {
        let setup = (e.setup)();
        let Some(cmds) = setup.cli_commands() else {
            continue;
        };
        for (i, cmd) in cmds.iter().enumerate() {
            let mut args = words(cmd);
            assert_eq!(args.remove(0), "sim");
            let out = dir.join(format!("{}-{i}", e.name));
            args.extend(["--format", "json", "--no-svg", "--out"].map(String::from));
            args.push(out.display().to_string());
            let o = Command::new(env!("CARGO_BIN_EXE_sim"))
                .args(&args)
                .output()
                .unwrap();
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}: `{cmd}`: {}",
                e.name,
                String::from_utf8_lossy(&o.stderr)
            );
            let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let expected = setup.run_workload(i).unwrap();
            let runs = json["runs"].as_array().unwrap();
            assert_eq!(runs.len(), expected.len(), "{}: `{cmd}`", e.name);
            for (got, want) in runs.iter().zip(&expected) {
                let mut want = serde_json::to_value(&want.summary).unwrap();
                let mut got = got.clone();
                // The label is the command line's spelling of the allocator.
                want["allocator"] = serde_json::Value::Null;
                got["allocator"] = serde_json::Value::Null;
                assert_eq!(got, want, "{}: `{cmd}`", e.name);
            }
            ran += 1;
        }
    }
    assert!(ran >= 10, "only {ran} commands");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn appendix_a_includes_the_generated_command_table() {
    let book = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../book/src/appendix-figures.md"
    ))
    .unwrap();
    assert!(book.contains("{{#include generated/figure-commands.md}}"));
}
