//! One way to configure every allocator: named options with typed values.
//!
//! Every allocator family keeps its knobs in a plain struct (glibc's [`Tunables`], the
//! free list's [`FreeListConfig`], the size classes' [`SegregatedConfig`], and the `mmap`
//! crate's configs). Code sets the fields directly; people type `name=value` text
//! (`--tunable mmap_threshold=64K`). This module turns the text into the struct, the
//! same way for every family, so a spelling that works for one works for all:
//!
//! - **A table per family.** The struct implements [`Options`], whose [`Table`] lists one
//!   [`Spec`] per serialized field: the option's name (snake_case, as glibc names its
//!   tunables), the [`Kind`] of value it takes (a size with optional limits, a count, a
//!   boolean, one of a few words, a percentage) and a line of help.
//! - **One parser per kind.** Sizes go through [`units::parse_size`] (`4096`, `0x1000`,
//!   `4K`, `4KiB`, `1.5M`), choices are matched without regard to case, and a value
//!   outside a limit is refused with the limit in the message:
//!   ``option region_size: `1T` is over the limit of 1 GiB``.
//! - **The struct decides the rest.** [`Options::apply`] parses every setting into a
//!   typed JSON value, lays the values over the serialized starting configuration and
//!   deserializes the result, so the struct's own types and defaults are the only truth
//!   and no parser position of a JSON text the user never wrote reaches a message. Then
//!   [`Options::check`] tests what one option alone cannot say (a region size must be
//!   whole pages, a class spacing must divide the geometric steps).
//! - **Old spellings keep working.** An option or a choice written with `-` where the
//!   name has `_` (`linear-max`, `size-asc`) is accepted, and a [`Note`] saying how it is
//!   spelled now is returned to the caller (libraries never print; `sim` shows the notes).
//! - **One way to build.** An allocator whose constructor takes its configuration
//!   implements [`Configurable`], and a registry builds it from settings.
//! - **Listings cannot drift.** [`docs`] describes every option with its kind, its
//!   default (serialized from the configuration itself) and its help; `sim list` prints
//!   it. A test of each family checks that its table names exactly the struct's fields.
//!
//! [`Tunables`]: crate::glibc::Tunables
//! [`FreeListConfig`]: crate::freelist::FreeListConfig
//! [`SegregatedConfig`]: crate::segregated::SegregatedConfig
//!
//! ```
//! use malloc::freelist::{FreeListConfig, Order};
//! use malloc::options::Options;
//!
//! let (cfg, notes) = FreeListConfig::default()
//!     .apply(&[("order", "lifo"), ("grow", "64K")])
//!     .unwrap();
//! assert_eq!((cfg.order, cfg.grow), (Order::Lifo, 65536));
//! assert!(notes.is_empty());
//!
//! let e = FreeListConfig::default().apply(&[("align", "0x10000")]).unwrap_err();
//! assert_eq!(e.to_string(), "option align: `0x10000` is over the limit of 4 KiB");
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::fmt;
use units::SizeError;

/// One option of a family: its name, the kind of value it takes, and a line of help.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The name, as the configuration struct serializes the field (snake_case).
    pub name: &'static str,
    /// What values it takes.
    pub kind: Kind,
    /// One line for listings.
    pub help: &'static str,
    /// Other names accepted silently because a reference uses them (glibc's own
    /// `mxfast` for `max_fast`).
    pub synonyms: &'static [&'static str],
}

impl Spec {
    /// An option `name` of kind `kind` with a line of `help` and no synonyms.
    pub const fn new(name: &'static str, kind: Kind, help: &'static str) -> Spec {
        Spec {
            name,
            kind,
            help,
            synonyms: &[],
        }
    }

    /// The same option, also accepted under `synonyms`.
    pub const fn or(self, synonyms: &'static [&'static str]) -> Spec {
        Spec { synonyms, ..self }
    }
}

/// The kind of value an option takes, and how its text is read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A byte count, read by [`units::parse_size`], from `min` to `max`. When `off` is
    /// not empty, its words (the first is the one listings show) turn the option off:
    /// the field is an `Option` and becomes `None` (`trim=never`).
    Size {
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
        /// Words that mean "none".
        off: &'static [&'static str],
    },
    /// A whole number of things (decimal or `0x` hex), from `min` to `max`.
    Count {
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// `true` or `false` (also `yes`/`no`, `on`/`off`, `1`/`0`).
    Bool,
    /// One of a few words; the field is an enum serialized as those words.
    Choice(&'static [Choice]),
    /// A whole percentage from 0 to `max`, with or without a `%` sign.
    Percent {
        /// The largest value accepted.
        max: u64,
    },
}

impl Kind {
    /// Any byte count.
    pub const SIZE: Kind = Kind::Size {
        min: 0,
        max: u64::MAX,
        off: &[],
    };
    /// Any count.
    pub const COUNT: Kind = Kind::Count {
        min: 0,
        max: u64::MAX,
    };

    /// A byte count of at most `max`.
    pub const fn size_at_most(max: u64) -> Kind {
        Kind::Size {
            min: 0,
            max,
            off: &[],
        }
    }

    /// A count of at most `max`.
    pub const fn count_at_most(max: u64) -> Kind {
        Kind::Count { min: 0, max }
    }

    /// How listings describe the kind: `size`, `size ≤ 32 MiB`, `size or never`,
    /// `count 1 to 256`, `true|false`, `lifo|fifo|address`, `percent ≤ 1000`.
    pub fn describe(&self) -> String {
        match *self {
            Kind::Size { min, max, off } => {
                let mut s = "size".to_string();
                match (min, max) {
                    (0, u64::MAX) => {}
                    (0, max) => s.push_str(&format!(" ≤ {}", exact_bytes(max))),
                    (min, u64::MAX) => s.push_str(&format!(" ≥ {}", exact_bytes(min))),
                    (min, max) => {
                        s.push_str(&format!(" {} to {}", exact_bytes(min), exact_bytes(max)))
                    }
                }
                if let Some(word) = off.first() {
                    s.push_str(&format!(" or {word}"));
                }
                s
            }
            Kind::Count { min, max } => match (min, max) {
                (0, u64::MAX) => "count".to_string(),
                (0, max) => format!("count ≤ {max}"),
                (min, u64::MAX) => format!("count ≥ {min}"),
                (min, max) => format!("count {min} to {max}"),
            },
            Kind::Bool => "true|false".to_string(),
            Kind::Choice(choices) => choices.iter().map(|c| c.name).collect::<Vec<_>>().join("|"),
            Kind::Percent { max } => format!("percent ≤ {max}"),
        }
    }
}

/// One word a [`Kind::Choice`] option takes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The word, as the enum variant serializes.
    pub name: &'static str,
    /// Other words for the same choice (OSTEP's `addrsort` for `address`).
    pub synonyms: &'static [&'static str],
}

impl Choice {
    /// The choice `name` with `synonyms`.
    pub const fn new(name: &'static str, synonyms: &'static [&'static str]) -> Choice {
        Choice { name, synonyms }
    }
}

/// A family's option table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// A prefix any option name may carry and that is dropped before the lookup
    /// (`glibc.malloc.`, the namespace of glibc's tunables); empty for none.
    pub prefix: &'static str,
    /// The options, one per serialized field, in the order listings show them.
    pub options: &'static [Spec],
}

/// Something the caller should tell the user: an old spelling that still works.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Note {
    /// An option name written the old way.
    Renamed {
        /// What the user wrote.
        old: String,
        /// The name now.
        new: &'static str,
    },
    /// A choice written the old way.
    ValueRenamed {
        /// The option.
        option: &'static str,
        /// What the user wrote.
        old: String,
        /// The word now.
        new: &'static str,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Renamed { old, new } => write!(f, "option `{old}` is now spelled `{new}`"),
            Note::ValueRenamed { option, old, new } => {
                write!(f, "option {option}: `{old}` is now spelled `{new}`")
            }
        }
    }
}

/// Why a setting, or a configuration as a whole, was refused. The message is one line
/// that names the option and quotes the value as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionError {
    /// No option has this name.
    Unknown {
        /// The name given.
        key: String,
        /// The names that exist.
        known: Vec<&'static str>,
        /// The known name closest to the one given, when it is close.
        nearest: Option<&'static str>,
    },
    /// The text is not a value of the option's kind.
    BadValue {
        /// The option.
        option: &'static str,
        /// The text given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// The value is above the option's limit.
    OverLimit {
        /// The option.
        option: &'static str,
        /// The text given (or the value, for a configuration built in code).
        value: String,
        /// The limit, formatted.
        limit: String,
    },
    /// The value is below the option's minimum.
    UnderLimit {
        /// The option.
        option: &'static str,
        /// The text given (or the value).
        value: String,
        /// The minimum, formatted.
        limit: String,
    },
    /// Each value is fine but the configuration is not usable as a whole.
    Invalid {
        /// The option at fault.
        option: &'static str,
        /// Why, as a clause: "must be a power of two from 16 to 4096".
        reason: String,
    },
    /// The family's table does not describe its struct (a bug of the family, caught by
    /// its tests; never the user's fault).
    Mismatch {
        /// What serde said.
        detail: String,
    },
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::Unknown {
                key,
                known,
                nearest,
            } => {
                write!(f, "unknown option `{key}` (")?;
                if let Some(n) = nearest {
                    write!(f, "did you mean `{n}`? ")?;
                }
                write!(f, "known: {})", known.join(", "))
            }
            OptionError::BadValue {
                option,
                value,
                expected,
            } => write!(f, "option {option}: `{value}` is not {expected}"),
            OptionError::OverLimit {
                option,
                value,
                limit,
            } => write!(f, "option {option}: `{value}` is over the limit of {limit}"),
            OptionError::UnderLimit {
                option,
                value,
                limit,
            } => write!(
                f,
                "option {option}: `{value}` is under the minimum of {limit}"
            ),
            OptionError::Invalid { option, reason } => write!(f, "option {option}: {reason}"),
            OptionError::Mismatch { detail } => {
                write!(
                    f,
                    "the option table does not match its configuration: {detail}"
                )
            }
        }
    }
}

impl std::error::Error for OptionError {}

impl OptionError {
    /// An [`OptionError::Invalid`]: `option` and why.
    pub fn invalid(option: &'static str, reason: impl Into<String>) -> OptionError {
        OptionError::Invalid {
            option,
            reason: reason.into(),
        }
    }
}

/// A configuration that can be set from `name=value` text.
///
/// Implementors give the table; everything else is provided. The struct must serialize
/// to a JSON object whose keys are exactly the table's names (a `#[serde(rename)]` makes
/// a field's option name differ from its Rust name) and deserialize back from one.
pub trait Options: Serialize + DeserializeOwned + Clone + Default {
    /// The family's options.
    const TABLE: Table;

    /// Checks what the table cannot say about one option alone: relations between
    /// fields, alignments, powers of two. Limits in the table are checked before.
    fn check(&self) -> Result<(), OptionError> {
        Ok(())
    }

    /// The values an allocator built from `self` runs with, for listings. The default is
    /// `self`; a configuration whose unset fields stand for a library default (glibc's
    /// tunables) fills them in.
    fn effective(&self) -> Self {
        self.clone()
    }

    /// Checks the configuration: every value within its option's limits, then
    /// [`Options::check`]. For configurations built in code; [`Options::apply`] does it
    /// too.
    fn validate(&self) -> Result<(), OptionError> {
        let object = to_object(self)?;
        for spec in Self::TABLE.options {
            let Some(value) = object.get(spec.name) else {
                return Err(mismatch(spec.name));
            };
            check_limits(spec, value)?;
        }
        self.check()
    }

    /// `self` with `settings` applied in order (a later setting of one option wins),
    /// validated, and the notes about old spellings used.
    fn apply<K: AsRef<str>, V: AsRef<str>>(
        self,
        settings: &[(K, V)],
    ) -> Result<(Self, Vec<Note>), OptionError> {
        let table = Self::TABLE;
        let mut object = to_object(&self)?;
        let mut notes = Vec::new();
        for (key, text) in settings {
            let (spec, key_note) = table.resolve(key.as_ref())?;
            let (value, value_note) = parse(spec, text.as_ref())?;
            notes.extend(key_note);
            notes.extend(value_note);
            object.insert(spec.name.to_string(), value);
        }
        let config: Self =
            serde_json::from_value(Value::Object(object)).map_err(|e| OptionError::Mismatch {
                detail: e.to_string(),
            })?;
        config.validate()?;
        Ok((config, notes))
    }

    /// The default configuration with `settings` applied.
    fn from_settings<K: AsRef<str>, V: AsRef<str>>(
        settings: &[(K, V)],
    ) -> Result<(Self, Vec<Note>), OptionError> {
        Self::default().apply(settings)
    }
}

/// An allocator built from one configuration: all a registry needs to build it by
/// name from `name=value` settings (`engine::registry::Entry::of`).
pub trait Configurable: crate::Allocator + Sized + 'static {
    /// Its configuration.
    type Config: Options;

    /// The allocator for `config` (which the caller may not have validated).
    fn from_config(config: Self::Config) -> Result<Self, OptionError>;
}

impl Table {
    /// The option names, in table order.
    pub fn names(&self) -> Vec<&'static str> {
        self.options.iter().map(|s| s.name).collect()
    }

    /// True when `key` names an option of this table (in any accepted spelling).
    pub fn takes(&self, key: &str) -> bool {
        self.resolve(key).is_ok()
    }

    /// The option `key` names, and a note when it is an old spelling. Accepted, in this
    /// order: the name, a synonym, and (with a note) the name written with `-` for `_`;
    /// each with or without the table's prefix.
    pub fn resolve(&self, key: &str) -> Result<(&'static Spec, Option<Note>), OptionError> {
        let short = match self.prefix {
            "" => key,
            prefix => key.strip_prefix(prefix).unwrap_or(key),
        };
        if let Some(spec) = self
            .options
            .iter()
            .find(|s| s.name == short || s.synonyms.contains(&short))
        {
            return Ok((spec, None));
        }
        let snake = short.replace('-', "_");
        if let Some(spec) = self.options.iter().find(|s| s.name == snake) {
            let note = Note::Renamed {
                old: key.to_string(),
                new: spec.name,
            };
            return Ok((spec, Some(note)));
        }
        Err(OptionError::Unknown {
            key: key.to_string(),
            known: self.names(),
            nearest: nearest(short, self.options.iter().map(|s| s.name)),
        })
    }

    /// The notes a setting would give (old spellings of its name or of its value),
    /// without applying it; empty for an unknown name or a bad value.
    pub fn notes(&self, key: &str, value: &str) -> Vec<Note> {
        let Ok((spec, key_note)) = self.resolve(key) else {
            return Vec::new();
        };
        let value_note = parse(spec, value).ok().and_then(|(_, n)| n);
        key_note.into_iter().chain(value_note).collect()
    }
}

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
fn edit_distance(a: &str, b: &str) -> usize {
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
fn parse(spec: &'static Spec, text: &str) -> Result<(Value, Option<Note>), OptionError> {
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
fn check_limits(spec: &'static Spec, value: &Value) -> Result<(), OptionError> {
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

fn mismatch(option: &str) -> OptionError {
    OptionError::Mismatch {
        detail: format!("no value of the kind the table says for `{option}`"),
    }
}

/// The configuration as a JSON object.
fn to_object<C: Serialize>(config: &C) -> Result<Map<String, Value>, OptionError> {
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
fn exact_bytes(n: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A small family to exercise every kind.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Knobs {
        region_size: u64,
        trim: Option<u64>,
        slots: u64,
        populate: bool,
        mode: Mode,
        excess: u32,
    }

    #[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Keep,
        DontNeed,
    }

    impl Default for Knobs {
        fn default() -> Self {
            Knobs {
                region_size: 1 << 20,
                trim: Some(128 << 10),
                slots: 4,
                populate: false,
                mode: Mode::Keep,
                excess: 0,
            }
        }
    }

    const MODES: &[Choice] = &[
        Choice::new("keep", &["none"]),
        Choice::new("dont_need", &["dontneed"]),
    ];

    impl Options for Knobs {
        const TABLE: Table = Table {
            prefix: "test.",
            options: &[
                Spec::new(
                    "region_size",
                    Kind::Size {
                        min: 4096,
                        max: 1 << 30,
                        off: &[],
                    },
                    "bytes per region",
                ),
                Spec::new(
                    "trim",
                    Kind::Size {
                        min: 0,
                        max: u64::MAX,
                        off: &["never", "off"],
                    },
                    "trim above",
                ),
                Spec::new("slots", Kind::Count { min: 1, max: 64 }, "slots").or(&["n"]),
                Spec::new("populate", Kind::Bool, "map populated"),
                Spec::new("mode", Kind::Choice(MODES), "what to do"),
                Spec::new("excess", Kind::Percent { max: 300 }, "excess"),
            ],
        };

        fn check(&self) -> Result<(), OptionError> {
            if !self.region_size.is_multiple_of(4096) {
                return Err(OptionError::invalid("region_size", "must be whole pages"));
            }
            Ok(())
        }
    }

    fn apply(settings: &[(&str, &str)]) -> Result<(Knobs, Vec<Note>), OptionError> {
        Knobs::default().apply(settings)
    }

    fn err(settings: &[(&str, &str)]) -> String {
        apply(settings).unwrap_err().to_string()
    }

    #[test]
    fn every_kind_reads_its_spellings() {
        let (k, notes) = apply(&[
            ("region_size", "64K"),
            ("trim", "never"),
            ("test.slots", "0x10"),
            ("populate", "yes"),
            ("mode", "DontNeed"),
            ("excess", "25%"),
        ])
        .unwrap();
        assert!(notes.is_empty());
        assert_eq!(
            k,
            Knobs {
                region_size: 65536,
                trim: None,
                slots: 16,
                populate: true,
                mode: Mode::DontNeed,
                excess: 25,
            }
        );
        let (k, _) = apply(&[("trim", "1.5M"), ("n", "3"), ("mode", "dontneed")]).unwrap();
        assert_eq!(
            (k.trim, k.slots, k.mode),
            (Some(3 << 19), 3, Mode::DontNeed)
        );
        // A later setting of the same option wins.
        let (k, _) = apply(&[("slots", "2"), ("slots", "5")]).unwrap();
        assert_eq!(k.slots, 5);
    }

    #[test]
    fn messages_name_the_option_and_quote_the_text() {
        assert_eq!(
            err(&[("region_size", "1T")]),
            "option region_size: `1T` is over the limit of 1 GiB"
        );
        assert_eq!(
            err(&[("region_size", "1K")]),
            "option region_size: `1K` is under the minimum of 4 KiB"
        );
        assert_eq!(
            err(&[("region_size", "lots")]),
            "option region_size: `lots` is not a size (write it as 4096, 0x1000, 4K, 4KiB or 1.5M)"
        );
        assert_eq!(
            err(&[("trim", "1.3K")]),
            "option trim: `1.3K` is not a whole number of bytes"
        );
        assert_eq!(
            err(&[("trim", "maybe")]),
            "option trim: `maybe` is not a size (write it as 4096, 0x1000, 4K, 4KiB or 1.5M) or never"
        );
        assert_eq!(
            err(&[("slots", "4K")]),
            "option slots: `4K` is not a whole number"
        );
        assert_eq!(
            err(&[("slots", "65")]),
            "option slots: `65` is over the limit of 64"
        );
        assert_eq!(
            err(&[("populate", "2")]),
            "option populate: `2` is not true or false"
        );
        assert_eq!(
            err(&[("mode", "drop")]),
            "option mode: `drop` is not one of keep, dont_need"
        );
        assert_eq!(
            err(&[("excess", "301")]),
            "option excess: `301` is over the limit of 300%"
        );
        assert_eq!(
            err(&[("region_size", "5000")]),
            "option region_size: must be whole pages"
        );
        assert_eq!(
            err(&[("regoin_size", "1")]),
            "unknown option `regoin_size` (did you mean `region_size`? known: region_size, trim, slots, populate, mode, excess)"
        );
        assert_eq!(
            err(&[("colour", "red")]),
            "unknown option `colour` (known: region_size, trim, slots, populate, mode, excess)"
        );
    }

    #[test]
    fn old_spellings_work_with_a_note() {
        let (k, notes) = apply(&[("region-size", "8K"), ("mode", "dont-need")]).unwrap();
        assert_eq!((k.region_size, k.mode), (8192, Mode::DontNeed));
        let text: Vec<String> = notes.iter().map(Note::to_string).collect();
        assert_eq!(
            text,
            [
                "option `region-size` is now spelled `region_size`",
                "option mode: `dont-need` is now spelled `dont_need`"
            ]
        );
        assert_eq!(Knobs::TABLE.notes("test.region-size", "8K").len(), 1);
        assert!(Knobs::TABLE.notes("region_size", "8K").is_empty());
        assert!(Knobs::TABLE.notes("colour", "8K").is_empty());
        assert!(Knobs::TABLE.takes("test.mode") && !Knobs::TABLE.takes("colour"));
    }

    #[test]
    fn code_built_configurations_are_checked_against_the_table() {
        let k = Knobs {
            slots: 0,
            ..Knobs::default()
        };
        assert_eq!(
            k.validate().unwrap_err().to_string(),
            "option slots: `0` is under the minimum of 1"
        );
        assert!(Knobs::default().validate().is_ok());
    }

    #[test]
    fn listings_and_lines_come_from_the_configuration() {
        check_table(&Knobs::default()).unwrap();
        let k = Knobs {
            trim: None,
            mode: Mode::DontNeed,
            ..Knobs::default()
        };
        check_table(&k).unwrap();
        assert_eq!(
            settings_line(&k),
            "region_size=1M trim=never slots=4 populate=false mode=dont_need excess=0%"
        );
        let docs = default_docs::<Knobs>();
        let rows: Vec<(&str, &str, &str)> = docs
            .iter()
            .map(|d| (d.name, d.kind.as_str(), d.value.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("region_size", "size 4 KiB to 1 GiB", "1M"),
                ("trim", "size or never", "128K"),
                ("slots", "count 1 to 64", "4"),
                ("populate", "true|false", "false"),
                ("mode", "keep|dont_need", "keep"),
                ("excess", "percent ≤ 300", "0%"),
            ]
        );
    }

    #[test]
    fn nearest_names_are_close_ones() {
        let names = ["order", "coalesce", "footer", "header"];
        assert_eq!(nearest("ordr", names), Some("order"));
        assert_eq!(nearest("coalese", names), Some("coalesce"));
        assert_eq!(nearest("colour", names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
