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
//! This file holds the types and the trait; `parse.rs` reads values by their kind,
//! `listing.rs` writes configurations back as text.
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

mod listing;
mod parse;

pub use listing::{OptionDoc, check_table, default_docs, docs, settings_line};
pub use parse::nearest;

use listing::exact_bytes;
use parse::{check_limits, mismatch, parse, to_object};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

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
/// name from `name=value` settings (`lab::registry::Entry::of`).
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

#[cfg(test)]
mod tests {
    use super::parse::edit_distance;
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
