//! Reading the text of a setting: the value by the option's kind, the limits, and the
//! name nearest to a misspelt one.
//!
//! A size goes through [`units::parse_size`], a count through the same parser without
//! a unit, a percentage may carry a `%`, a boolean is `true`/`false` (or `yes`/`no`,
//! `on`/`off`, `1`/`0`), a choice is one of its words in any case. The value becomes the
//! JSON value the configuration struct deserializes, so the struct stays the one truth
//! about types and defaults.

use super::listing::exact_bytes;
use super::{Kind, Note, OptionError, Spec};
use serde::Serialize;
use serde_json::{Map, Value};
use units::SizeError;

/// The known name nearest to `key` (at most two edits away, or a third of its length),
/// for "did you mean" hints.
pub fn nearest<'a>(key: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (key.chars().count() / 3).max(2);
    names
        .into_iter()
        .map(|n| (edit_distance(key, n), n))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

/// Levenshtein distance: the fewest single-character insertions, deletions and
/// substitutions that turn `a` into `b`, by the classic one-row dynamic programme.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Reads the text of one setting as a value of `spec`'s kind, with a note when a
/// choice is written the old way.
pub(super) fn parse(spec: &'static Spec, text: &str) -> Result<(Value, Option<Note>), OptionError> {
    let t = text.trim();
    let bad = |expected: String| OptionError::BadValue {
        option: spec.name,
        value: t.to_string(),
        expected,
    };
    match spec.kind {
        Kind::Size { min, max, off } => {
            if off.iter().any(|w| w.eq_ignore_ascii_case(t)) {
                return Ok((Value::Null, None));
            }
            let n = units::parse_size(t).map_err(|e| match e {
                SizeError::NotASize(_) if off.is_empty() => {
                    bad("a size (write it as 4096, 0x1000, 4K, 4KiB or 1.5M)".to_string())
                }
                SizeError::NotASize(_) => bad(format!(
                    "a size (write it as 4096, 0x1000, 4K, 4KiB or 1.5M) or {}",
                    off[0]
                )),
                SizeError::Inexact(_) => bad("a whole number of bytes".to_string()),
                SizeError::TooLarge(_) => over(spec.name, t, &exact_bytes(max)),
            })?;
            within(spec, t, n, min, max, exact_bytes)?;
            Ok((Value::from(n), None))
        }
        Kind::Count { min, max } => {
            let n = parse_count(t).ok_or_else(|| bad("a whole number".to_string()))?;
            within(spec, t, n, min, max, |n| n.to_string())?;
            Ok((Value::from(n), None))
        }
        Kind::Percent { max } => {
            let digits = t.strip_suffix('%').unwrap_or(t).trim_end();
            let n = parse_count(digits)
                .filter(|_| !digits.starts_with("0x"))
                .ok_or_else(|| bad(format!("a percentage from 0 to {max}")))?;
            within(spec, t, n, 0, max, |n| format!("{n}%"))?;
            Ok((Value::from(n), None))
        }
        Kind::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok((Value::Bool(true), None)),
            "false" | "no" | "off" | "0" => Ok((Value::Bool(false), None)),
            _ => Err(bad("true or false".to_string())),
        },
        Kind::Choice(choices) => {
            let lower = t.to_ascii_lowercase();
            if let Some(c) = choices
                .iter()
                .find(|c| c.name == lower || c.synonyms.contains(&lower.as_str()))
            {
                return Ok((Value::from(c.name), None));
            }
            let snake = lower.replace('-', "_");
            if let Some(c) = choices.iter().find(|c| c.name == snake) {
                let note = Note::ValueRenamed {
                    option: spec.name,
                    old: t.to_string(),
                    new: c.name,
                };
                return Ok((Value::from(c.name), Some(note)));
            }
            let names: Vec<&str> = choices.iter().map(|c| c.name).collect();
            Err(bad(format!("one of {}", names.join(", "))))
        }
    }
}

/// A whole number in decimal or `0x` hex: what [`units::parse_size`] reads, without
/// a unit or a fraction (a count is not a size).
fn parse_count(t: &str) -> Option<u64> {
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .map_or(t.bytes().all(|b| b.is_ascii_digit()), |hex| {
            hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
    if !digits {
        return None;
    }
    units::parse_size(t).ok()
}

fn over(option: &'static str, value: &str, limit: &str) -> OptionError {
    OptionError::OverLimit {
        option,
        value: value.to_string(),
        limit: limit.to_string(),
    }
}

/// Checks `n` (written `text`) against `min..=max`, formatting the limit with `show`.
fn within(
    spec: &Spec,
    text: &str,
    n: u64,
    min: u64,
    max: u64,
    show: impl Fn(u64) -> String,
) -> Result<(), OptionError> {
    if n > max {
        return Err(over(spec.name, text, &show(max)));
    }
    if n < min {
        return Err(OptionError::UnderLimit {
            option: spec.name,
            value: text.to_string(),
            limit: show(min),
        });
    }
    Ok(())
}

/// Checks a serialized field against its option's limits (for configurations built in
/// code, whose values were never text).
pub(super) fn check_limits(spec: &'static Spec, value: &Value) -> Result<(), OptionError> {
    let number = || value.as_u64().ok_or_else(|| mismatch(spec.name));
    match spec.kind {
        Kind::Size { off, .. } if value.is_null() && !off.is_empty() => Ok(()),
        // An unset glibc tunable: the library's default applies.
        Kind::Size { .. } | Kind::Count { .. } if value.is_null() => Ok(()),
        Kind::Size { min, max, .. } => {
            let n = number()?;
            within(spec, &n.to_string(), n, min, max, exact_bytes)
        }
        Kind::Count { min, max } => {
            let n = number()?;
            within(spec, &n.to_string(), n, min, max, |n| n.to_string())
        }
        Kind::Percent { max } => {
            let n = number()?;
            within(spec, &n.to_string(), n, 0, max, |n| format!("{n}%"))
        }
        Kind::Bool if value.is_boolean() => Ok(()),
        Kind::Choice(choices) if choices.iter().any(|c| value.as_str() == Some(c.name)) => Ok(()),
        Kind::Bool | Kind::Choice(_) => Err(mismatch(spec.name)),
    }
}

pub(super) fn mismatch(option: &str) -> OptionError {
    OptionError::Mismatch {
        detail: format!("no value of the kind the table says for `{option}`"),
    }
}

/// The configuration as a JSON object.
pub(super) fn to_object<C: Serialize>(config: &C) -> Result<Map<String, Value>, OptionError> {
    match serde_json::to_value(config) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(OptionError::Mismatch {
            detail: "the configuration is not a struct".to_string(),
        }),
        Err(e) => Err(OptionError::Mismatch {
            detail: e.to_string(),
        }),
    }
}
