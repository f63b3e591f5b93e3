//! Writing configurations back as text: for listings (`sim list`), for one-line
//! `name=value` forms, and for the test every family runs on its table.

use super::parse::to_object;
use super::{Kind, Options, Spec};
use serde_json::Value;
use std::fmt;

/// `n` as the largest binary unit that divides it: `(n / 1024^k, k)`.
fn exact_unit(n: u64) -> (u64, usize) {
    let mut k = 0;
    let mut m = n;
    while m != 0 && m.is_multiple_of(1024) && k < 4 {
        m /= 1024;
        k += 1;
    }
    (m, k)
}

/// A byte count for messages, exactly: `1 GiB`, `32 MiB`, `1032 bytes`.
pub(super) fn exact_bytes(n: u64) -> String {
    match exact_unit(n) {
        (1, 0) => "1 byte".to_string(),
        (m, 0) => format!("{m} bytes"),
        (m, k) => format!("{m} {}", ["KiB", "MiB", "GiB", "TiB"][k - 1]),
    }
}

/// A byte count as a value one could type back: `128K`, `4M`, `1032`.
fn typed_size(n: u64) -> String {
    match exact_unit(n) {
        (m, 0) => m.to_string(),
        (m, k) => format!("{m}{}", ["K", "M", "G", "T"][k - 1]),
    }
}

/// How an option's value is written back as text: what [`Options::apply`] reads.
fn value_text(spec: &Spec, value: &Value) -> String {
    match (spec.kind, value) {
        (Kind::Size { off, .. }, Value::Null) => off.first().unwrap_or(&"unset").to_string(),
        (Kind::Size { .. }, v) => v.as_u64().map_or_else(|| v.to_string(), typed_size),
        (Kind::Percent { .. }, v) => format!("{v}%"),
        (_, Value::String(s)) => s.clone(),
        (_, v) => v.to_string(),
    }
}

/// One option as listings show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionDoc {
    /// The option's name.
    pub name: &'static str,
    /// Its kind, described ([`Kind::describe`]).
    pub kind: String,
    /// Its value in the configuration described, as one would type it.
    pub value: String,
    /// Its help line.
    pub help: &'static str,
}

/// Every option of `C` with the value `config` runs with ([`Options::effective`]), in
/// table order: what `sim list` prints for an allocator built from `config`.
pub fn docs<C: Options>(config: &C) -> Vec<OptionDoc> {
    let object = to_object(&config.effective()).unwrap_or_default();
    C::TABLE
        .options
        .iter()
        .map(|spec| OptionDoc {
            name: spec.name,
            kind: spec.kind.describe(),
            value: object
                .get(spec.name)
                .map_or_else(|| "?".to_string(), |v| value_text(spec, v)),
            help: spec.help,
        })
        .collect()
}

/// [`docs`] of the default configuration.
pub fn default_docs<C: Options>() -> Vec<OptionDoc> {
    docs(&C::default())
}

/// The configuration as one line of `name=value` settings in table order, which
/// [`Options::apply`] reads back to the same configuration (unset glibc tunables are
/// left out).
pub fn settings_line<C: Options>(config: &C) -> String {
    let object = to_object(config).unwrap_or_default();
    let mut parts = Vec::new();
    for spec in C::TABLE.options {
        match object.get(spec.name) {
            Some(Value::Null) if !matches!(spec.kind, Kind::Size { off, .. } if !off.is_empty()) => {
            }
            Some(v) => parts.push(format!("{}={}", spec.name, value_text(spec, v))),
            None => {}
        }
    }
    parts.join(" ")
}

/// Checks that `C`'s table names exactly the fields `C` serializes, that every
/// default value is of its option's kind, and that [`settings_line`] reads back to the same
/// configuration: the test every family runs. Returns what is wrong.
pub fn check_table<C: Options + PartialEq + fmt::Debug>(config: &C) -> Result<(), String> {
    let object = to_object(config).map_err(|e| e.to_string())?;
    let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut names = C::TABLE.names();
    fields.sort_unstable();
    names.sort_unstable();
    if fields != names {
        return Err(format!("fields {fields:?} but options {names:?}"));
    }
    config.validate().map_err(|e| e.to_string())?;
    let text = settings_line(config);
    let settings: Vec<(&str, &str)> = text
        .split(' ')
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.split_once('='))
        .collect();
    let (back, notes) = C::default().apply(&settings).map_err(|e| e.to_string())?;
    if back != *config || !notes.is_empty() {
        return Err(format!(
            "`{text}` reads back as {back:?} with notes {notes:?}"
        ));
    }
    for spec in C::TABLE.options {
        if let Kind::Choice(choices) = spec.kind {
            for c in choices {
                let (_, notes) = C::default()
                    .apply(&[(spec.name, c.name)])
                    .map_err(|e| format!("{}={}: {e}", spec.name, c.name))?;
                if !notes.is_empty() {
                    return Err(format!("{}={} gives notes {notes:?}", spec.name, c.name));
                }
            }
        }
    }
    Ok(())
}
