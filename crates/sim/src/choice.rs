//! `--allocator` lists: which allocators to run, each with options of its own.
//!
//! `--allocator 'glibc,glibc[mmap_threshold=64K],first-fit[order=lifo,split=16]'` runs
//! three allocators: glibc as it is, glibc with a lower mmap threshold, and a
//! first-fit list in LIFO order. Options in brackets belong to that entry only; a
//! `--tunable NAME=VALUE` applies to every listed allocator that takes `NAME` (an
//! entry's own option wins). Each entry's label is what was written, so two glibc
//! rows stay apart in the table, in summary.json and in the charts.

use crate::error::{CliError, CliResult};
use lab::registry::{self, Setting};

/// One allocator of an `--allocator` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// What the row, the summary and the charts call it: `glibc[mmap_threshold=64K]`.
    pub label: String,
    /// The registry name: `glibc`.
    pub name: String,
    /// Its own options, from the brackets, in the order written.
    pub own: Vec<Setting>,
}

impl Choice {
    /// An entry without options of its own.
    pub fn plain(name: &str) -> Choice {
        Choice {
            label: name.to_string(),
            name: name.to_string(),
            own: Vec::new(),
        }
    }

    /// The settings this allocator is built with: the `--tunable`s it takes, then its
    /// own (which override a `--tunable` of the same name).
    pub fn settings(&self, tunables: &[Setting]) -> Vec<Setting> {
        let takes = |k: &str| registry::find(&self.name).is_ok_and(|e| e.takes(k));
        let mut out: Vec<Setting> = tunables
            .iter()
            .filter(|(k, _)| takes(k) && !self.own.iter().any(|(o, _)| o == k))
            .cloned()
            .collect();
        out.extend(self.own.iter().cloned());
        out
    }
}

/// Splits `text` at the commas that are not inside brackets.
fn split_top(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Reads the values of `--allocator` (each possibly a comma-separated list) into
/// choices. Errors name the entry: an unbalanced bracket, an option without `=`, an
/// empty name, an entry given twice.
pub fn parse(values: &[String]) -> CliResult<Vec<Choice>> {
    let mut out: Vec<Choice> = Vec::new();
    for value in values {
        for item in split_top(value) {
            let item = item.trim();
            if item.is_empty() {
                return Err(CliError::usage(format!(
                    "--allocator {value}: an empty entry (two commas in a row?)"
                )));
            }
            let bad = |why: &str| CliError::usage(format!("--allocator {item}: {why}"));
            let choice = match item.split_once('[') {
                None if item.contains(']') => return Err(bad("a `]` without its `[`")),
                None => Choice::plain(item),
                Some((name, rest)) => {
                    let Some(inner) = rest.strip_suffix(']') else {
                        return Err(bad("options go in brackets that close at the end: \
                                        name[key=value,key=value]"));
                    };
                    if inner.contains(['[', ']']) {
                        return Err(bad("brackets inside the options"));
                    }
                    let name = name.trim();
                    if name.is_empty() {
                        return Err(bad("no allocator name before the options"));
                    }
                    let mut own = Vec::new();
                    for opt in inner.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                        match opt.split_once('=') {
                            Some((k, v)) if !k.trim().is_empty() => {
                                own.push((k.trim().to_string(), v.trim().to_string()));
                            }
                            _ => return Err(bad(&format!("option `{opt}`: expected key=value"))),
                        }
                    }
                    Choice {
                        label: item.to_string(),
                        name: name.to_string(),
                        own,
                    }
                }
            };
            if out.iter().any(|c| c.label == choice.label) {
                return Err(bad("listed twice"));
            }
            out.push(choice);
        }
    }
    Ok(out)
}

/// Checks every choice's name and own options against the registry before any work:
/// an unknown allocator (with a did-you-mean), an option the allocator does not take
/// (with its nearest option), or a value it rejects is a usage error naming the entry.
/// Notes about old spellings go to stderr.
pub fn check(choices: &[Choice]) -> CliResult {
    for c in choices {
        registry::find(&c.name).map_err(|e| CliError::usage(e.to_string()))?;
        if let Some(key) = registry::unknown_keys(&[c.name.as_str()], &c.own).first() {
            let hint = match registry::nearest_option(&[c.name.as_str()], key) {
                Some(n) => format!("did you mean `{n}`? "),
                None => String::new(),
            };
            return Err(CliError::usage(format!(
                "--allocator {}: allocator {} takes no option `{key}` ({hint}see `sim list`)",
                c.label, c.name
            )));
        }
        for note in registry::notes(&[c.name.as_str()], &c.own) {
            eprintln!("sim: note: {note}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(k: &str, v: &str) -> Setting {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn lists_split_at_the_commas_outside_brackets() {
        let c = parse(&["glibc,glibc[mmap_threshold=64K, trim_threshold=1M],first-fit".into()])
            .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0], Choice::plain("glibc"));
        assert_eq!(c[1].name, "glibc");
        assert_eq!(c[1].label, "glibc[mmap_threshold=64K, trim_threshold=1M]");
        assert_eq!(
            c[1].own,
            vec![s("mmap_threshold", "64K"), s("trim_threshold", "1M")]
        );
        let c = parse(&["glibc".into(), "first-fit[order=lifo]".into()]).unwrap();
        assert_eq!(c[1].own, vec![s("order", "lifo")]);
    }

    #[test]
    fn a_malformed_entry_names_itself() {
        for (text, why) in [
            ("glibc[mmap_threshold=64K", "close at the end"),
            ("glibc]", "without its"),
            ("[order=lifo]", "no allocator name"),
            ("first-fit[order]", "expected key=value"),
            ("glibc,,mmap", "empty entry"),
            ("glibc,glibc", "listed twice"),
            ("a[b[c=d]]", "brackets inside"),
        ] {
            let e = parse(&[text.to_string()]).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn an_entry_s_own_option_wins_over_a_tunable() {
        let c = &parse(&["glibc[mmap_threshold=64K]".into()]).unwrap()[0];
        let tunables = vec![
            s("mmap_threshold", "1M"),
            s("top_pad", "0"),
            s("order", "lifo"),
        ];
        assert_eq!(
            c.settings(&tunables),
            vec![s("top_pad", "0"), s("mmap_threshold", "64K")]
        );
        assert!(
            check(&parse(&["glibc[order=lifo]".into()]).unwrap())
                .unwrap_err()
                .to_string()
                .contains("takes no option `order`")
        );
        assert!(
            check(&parse(&["glibcc".into()]).unwrap())
                .unwrap_err()
                .to_string()
                .contains("did you mean `glibc`?")
        );
    }
}
