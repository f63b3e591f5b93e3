//! Property tests: traces round-trip, and no input makes a reader panic.
//!
//! The default case counts keep `cargo test` fast; set `BRKMAP_LONG=1` for a long run.

use proptest::prelude::*;
use std::collections::BTreeMap;
use workload::{
    Op, TouchPolicy, Workload, lossy_for_rep, parse_native, parse_rep, parse_trace, validate,
    write_native, write_rep,
};

fn cases(default: u32) -> ProptestConfig {
    let long = std::env::var_os("BRKMAP_LONG").is_some_and(|v| v != "0");
    ProptestConfig::with_cases(if long { default * 32 } else { default })
}

/// One abstract step; turned into a valid op by [`build`], which knows what is live.
#[derive(Clone, Debug)]
enum Step {
    Malloc {
        size: u64,
        life: Option<u8>,
    },
    Free {
        pick: usize,
    },
    Realloc {
        pick: usize,
        size: u64,
    },
    Touch {
        pick: usize,
        a: u64,
        b: u64,
        write: bool,
    },
    Trim {
        pad: u64,
    },
    Phase {
        name: usize,
    },
    /// Malloc again an id that was freed.
    Reuse {
        pick: usize,
        size: u64,
    },
}

const PHASES: [&str; 4] = ["grow", "free every other", "x-1", "shrink (final)"];

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..600,
        0u64..=workload::MAX_SIZE,
        Just(workload::MAX_SIZE)
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (size(), proptest::option::of(any::<u8>()))
            .prop_map(|(size, life)| Step::Malloc { size, life }),
        3 => any::<usize>().prop_map(|pick| Step::Free { pick }),
        2 => (any::<usize>(), size()).prop_map(|(pick, size)| Step::Realloc { pick, size }),
        2 => (any::<usize>(), any::<u64>(), any::<u64>(), any::<bool>())
            .prop_map(|(pick, a, b, write)| Step::Touch { pick, a, b, write }),
        1 => (0u64..=workload::MAX_SIZE).prop_map(|pad| Step::Trim { pad }),
        1 => (0..PHASES.len()).prop_map(|name| Step::Phase { name }),
        1 => (any::<usize>(), size()).prop_map(|(pick, size)| Step::Reuse { pick, size }),
    ]
}

/// Turns steps into a valid workload: steps that would be invalid are skipped.
fn build(steps: Vec<Step>, seed: Option<u64>, touch: TouchPolicy, sparse_ids: bool) -> Workload {
    let mut w = Workload::new("prop test");
    w.seed = seed;
    w.touch = touch;
    let mut live: Vec<(u64, u64)> = Vec::new();
    let mut freed: Vec<u64> = Vec::new();
    let mut lifetimes = BTreeMap::new();
    let mut next = 0u64;
    for step in steps {
        match step {
            Step::Malloc { size, life } => {
                let id = if sparse_ids { next * 1_000_003 } else { next };
                next += 1;
                w.ops.push(Op::Malloc { id, size });
                if let Some(class) = life {
                    lifetimes.insert(id, class);
                }
                live.push((id, size));
            }
            Step::Free { pick } if !live.is_empty() => {
                let (id, _) = live.swap_remove(pick % live.len());
                w.ops.push(Op::Free { id });
                freed.push(id);
            }
            Step::Realloc { pick, size } if !live.is_empty() && size > 0 => {
                let i = pick % live.len();
                live[i].1 = size;
                w.ops.push(Op::Realloc {
                    id: live[i].0,
                    size,
                });
            }
            Step::Touch { pick, a, b, write } if !live.is_empty() => {
                let (id, size) = live[pick % live.len()];
                if size > 0 {
                    let offset = a % size;
                    let len = 1 + b % (size - offset);
                    w.ops.push(Op::Touch {
                        id,
                        offset,
                        len,
                        write,
                    });
                }
            }
            Step::Trim { pad } => w.ops.push(Op::Trim { pad }),
            Step::Phase { name } => w.ops.push(Op::Phase {
                name: PHASES[name].to_string(),
            }),
            Step::Reuse { pick, size } if !freed.is_empty() => {
                let id = freed.swap_remove(pick % freed.len());
                w.ops.push(Op::Malloc { id, size });
                live.push((id, size));
            }
            _ => {}
        }
    }
    w.lifetimes = lifetimes;
    w
}

fn workload() -> impl Strategy<Value = Workload> {
    (
        proptest::collection::vec(step(), 0..120),
        proptest::option::of(any::<u64>()),
        prop_oneof![Just(TouchPolicy::WriteAll), Just(TouchPolicy::None)],
        any::<bool>(),
    )
        .prop_map(|(steps, seed, touch, sparse)| build(steps, seed, touch, sparse))
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn native_write_then_parse_gives_the_same_workload(w in workload()) {
        prop_assert!(validate(&w).is_ok());
        let text = write_native(&w);
        let back = parse_native(&text, "any.trace").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, w);
    }

    #[test]
    fn rep_write_then_parse_gives_the_same_calls(w in workload()) {
        let mut w = lossy_for_rep(&w);
        w.name = "trace".to_string();
        w.seed = None;
        let text = write_rep(&w).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = parse_rep(&text, "dir/trace.rep").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, w);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_trace(&bytes, "f.rep");
        let _ = parse_trace(&bytes, "f.trace");
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_native(&text, "f.trace");
        let _ = parse_rep(&text, "f.rep");
    }

    #[test]
    fn arbitrary_text_after_a_header_never_panics_and_what_loads_is_valid(
        body in "[a-z0-9 =#KMGi\\-\t\r\n]{0,300}",
        native in any::<bool>(),
    ) {
        let text = if native {
            format!("{}\n{body}", workload::NATIVE_HEADER)
        } else {
            format!("0\n100\n5\n1\n{body}")
        };
        if let Ok(w) = parse_trace(text.as_bytes(), "f") {
            prop_assert!(validate(&w).is_ok());
        }
    }

    #[test]
    fn edited_traces_never_panic_and_errors_name_a_real_line(
        w in workload(),
        rep in any::<bool>(),
        edits in proptest::collection::vec((any::<usize>(), 0u8..4, "[ -~]{0,12}"), 1..4),
    ) {
        let text = if rep {
            write_rep(&lossy_for_rep(&w)).map_err(|e| TestCaseError::fail(e.to_string()))?
        } else {
            write_native(&w)
        };
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (at, what, junk) in edits {
            if lines.is_empty() {
                break;
            }
            let i = at % lines.len();
            match what {
                0 => { lines.remove(i); }
                1 => { let copy = lines[i].clone(); lines.insert(i, copy); }
                2 => lines[i] = junk,
                _ => lines[i].push_str(&junk),
            }
        }
        let edited = lines.join("\n");
        let file = if rep { "e.rep" } else { "e.trace" };
        match parse_trace(edited.as_bytes(), file) {
            Ok(w) => prop_assert!(validate(&w).is_ok()),
            Err(e) => {
                let line = e.line.unwrap_or(0);
                prop_assert!(line >= 1 && line <= lines.len().max(1), "line {} of {}", line, lines.len());
                let prefix = format!("{file}:{line}: ");
                prop_assert!(e.to_string().starts_with(&prefix));
                prop_assert!(!e.to_string().contains('\n'));
            }
        }
    }
}

/// Everything the streaming reader yields: the ops, then the error that stopped it.
fn streamed(text: &str, file: &str) -> Result<Vec<workload::Op>, workload::TraceError> {
    let reader = workload::RepReader::new(text.as_bytes(), file)?;
    reader.collect()
}

proptest! {
    #[test]
    fn the_streaming_rep_reader_agrees_with_the_whole_file_parser(
        body in "[afr0-9 \t\r\n]{0,300}",
        header in "[0-9 \n]{0,16}",
        w in workload(),
        edits in proptest::collection::vec((any::<usize>(), 0u8..4, "[ -~]{0,12}"), 0..3),
    ) {
        let generated = write_rep(&lossy_for_rep(&w)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for text in [format!("0\n100\n5\n1\n{body}"), format!("{header}{body}"), edit(&generated, &edits)] {
            match parse_rep(&text, "f.rep") {
                Ok(whole) => prop_assert_eq!(streamed(&text, "f.rep"), Ok(whole.ops)),
                Err(e) => prop_assert_eq!(streamed(&text, "f.rep"), Err(e)),
            }
        }
    }
}

/// `text` with lines removed, doubled, replaced or extended, as `edits` say.
fn edit(text: &str, edits: &[(usize, u8, String)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (at, what, junk) in edits {
        if lines.is_empty() {
            break;
        }
        let i = at % lines.len();
        match what {
            0 => {
                lines.remove(i);
            }
            1 => {
                let copy = lines[i].clone();
                lines.insert(i, copy);
            }
            2 => lines[i] = junk.clone(),
            _ => lines[i].push_str(junk),
        }
    }
    lines.join("\n")
}
