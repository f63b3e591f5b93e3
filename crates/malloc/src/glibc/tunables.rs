//! The knobs of glibc's malloc: what `mallopt` and `GLIBC_TUNABLES` can change.

use super::layout::{
    DEFAULT_MMAP_MAX, DEFAULT_MMAP_THRESHOLD, DEFAULT_MXFAST, DEFAULT_TOP_PAD,
    DEFAULT_TRIM_THRESHOLD, HEAP_MAX_SIZE, MAX_FAST_SIZE, MAX_TCACHE_COUNT, MAX_TCACHE_SIZE,
    TCACHE_FILL_COUNT,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Parameters of the glibc model, each `None` when left at glibc's default.
///
/// They mirror `GLIBC_TUNABLES=glibc.malloc.<name>=<value>` (and `mallopt`). As in
/// glibc, setting `mmap_threshold`, `trim_threshold`, `top_pad` or `mmap_max`
/// explicitly switches the *dynamic* mmap threshold off: freeing a large mapped chunk
/// then no longer raises the thresholds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tunables {
    /// Chunks at least this large (request + 8, rounded to 16) get their own mapping.
    /// Default 128 KiB; at most 32 MiB.
    pub mmap_threshold: Option<u64>,
    /// Trim the heap when the top chunk reaches this size. Default 128 KiB.
    pub trim_threshold: Option<u64>,
    /// Extra bytes asked for at each heap growth and kept at each trim. Default 128 KiB.
    pub top_pad: Option<u64>,
    /// Most chunks that may have their own mapping at once (0 disables mmap for
    /// chunks). Default 65536.
    pub mmap_max: Option<u64>,
    /// Chunks per tcache bin (0 disables the tcache's caching). Default 7.
    pub tcache_count: Option<u64>,
    /// Largest request the tcache caches (`glibc.malloc.tcache_max`). Default 1032.
    pub tcache_max: Option<u64>,
    /// Largest request served by fastbins (`M_MXFAST`, `glibc.malloc.mxfast`).
    /// Default 128; at most 160; 0 turns fastbins off.
    pub max_fast: Option<u64>,
}

/// Why a tunable could not be set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TunableError {
    /// The name is not a tunable of the model.
    UnknownName {
        /// The name given.
        name: String,
    },
    /// The value is not a number.
    BadValue {
        /// The tunable.
        name: String,
        /// The text given.
        value: String,
    },
    /// The value is outside what glibc accepts.
    OutOfRange {
        /// The tunable.
        name: String,
        /// The value given.
        value: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A `name=value` assignment without `=`.
    MissingEquals {
        /// The text given.
        spec: String,
    },
}

impl fmt::Display for TunableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunableError::UnknownName { name } => write!(
                f,
                "unknown glibc tunable `{name}` (known: {})",
                Tunables::NAMES.join(", ")
            ),
            TunableError::BadValue { name, value } => write!(
                f,
                "glibc tunable `{name}`: `{value}` is not a number (use decimal, 0x hex, or a K/M/G suffix)"
            ),
            TunableError::OutOfRange { name, value, max } => {
                write!(
                    f,
                    "glibc tunable `{name}`: {value} is too large (at most {max})"
                )
            }
            TunableError::MissingEquals { spec } => {
                write!(f, "glibc tunable `{spec}`: expected name=value")
            }
        }
    }
}

impl std::error::Error for TunableError {}

impl Tunables {
    /// The names [`Tunables::set`] accepts (each also with a `glibc.malloc.` prefix;
    /// `mxfast` is an alias of `max_fast`).
    pub const NAMES: [&'static str; 7] = [
        "mmap_threshold",
        "trim_threshold",
        "top_pad",
        "mmap_max",
        "tcache_count",
        "tcache_max",
        "max_fast",
    ];

    /// Sets tunable `name` from the text `value` (decimal, `0x` hex, or with a
    /// binary `K`/`M`/`G` suffix), checking the range glibc enforces.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), TunableError> {
        let short = name
            .trim()
            .strip_prefix("glibc.malloc.")
            .unwrap_or(name.trim());
        let canonical = match short {
            "mxfast" => "max_fast",
            other => other,
        };
        let slot = match canonical {
            "mmap_threshold" => &mut self.mmap_threshold,
            "trim_threshold" => &mut self.trim_threshold,
            "top_pad" => &mut self.top_pad,
            "mmap_max" => &mut self.mmap_max,
            "tcache_count" => &mut self.tcache_count,
            "tcache_max" => &mut self.tcache_max,
            "max_fast" => &mut self.max_fast,
            _ => {
                return Err(TunableError::UnknownName {
                    name: name.to_string(),
                });
            }
        };
        let v = parse_size(value).ok_or_else(|| TunableError::BadValue {
            name: canonical.to_string(),
            value: value.to_string(),
        })?;
        if let Some(max) = Self::max_of(canonical)
            && v > max
        {
            return Err(TunableError::OutOfRange {
                name: canonical.to_string(),
                value: v,
                max,
            });
        }
        *slot = Some(v);
        Ok(())
    }

    /// Applies one `name=value` assignment (the form of `--tunable`).
    pub fn apply(&mut self, spec: &str) -> Result<(), TunableError> {
        let (name, value) = spec
            .split_once('=')
            .ok_or_else(|| TunableError::MissingEquals {
                spec: spec.to_string(),
            })?;
        self.set(name, value)
    }

    /// Checks every field against glibc's limits (for values set directly or read
    /// from JSON).
    pub fn validate(&self) -> Result<(), TunableError> {
        let fields = [
            ("mmap_threshold", self.mmap_threshold),
            ("trim_threshold", self.trim_threshold),
            ("top_pad", self.top_pad),
            ("mmap_max", self.mmap_max),
            ("tcache_count", self.tcache_count),
            ("tcache_max", self.tcache_max),
            ("max_fast", self.max_fast),
        ];
        for (name, value) in fields {
            if let (Some(v), Some(max)) = (value, Self::max_of(name))
                && v > max
            {
                return Err(TunableError::OutOfRange {
                    name: name.to_string(),
                    value: v,
                    max,
                });
            }
        }
        Ok(())
    }

    /// True when a parameter that disables the dynamic mmap threshold is set.
    pub fn disables_dynamic_threshold(&self) -> bool {
        self.mmap_threshold.is_some()
            || self.trim_threshold.is_some()
            || self.top_pad.is_some()
            || self.mmap_max.is_some()
    }

    /// The limit glibc enforces for a tunable, if any.
    fn max_of(name: &str) -> Option<u64> {
        match name {
            // do_set_mmap_threshold refuses values above HEAP_MAX_SIZE / 2.
            "mmap_threshold" => Some(HEAP_MAX_SIZE / 2),
            // mmap_max is an int.
            "mmap_max" => Some(i32::MAX as u64),
            "tcache_count" => Some(MAX_TCACHE_COUNT),
            "tcache_max" => Some(MAX_TCACHE_SIZE),
            "max_fast" => Some(MAX_FAST_SIZE),
            // top_pad and trim_threshold are size_t: anything goes.
            _ => None,
        }
    }

    /// The effective mmap threshold.
    pub fn mmap_threshold_or_default(&self) -> u64 {
        self.mmap_threshold.unwrap_or(DEFAULT_MMAP_THRESHOLD)
    }

    /// The effective trim threshold.
    pub fn trim_threshold_or_default(&self) -> u64 {
        self.trim_threshold.unwrap_or(DEFAULT_TRIM_THRESHOLD)
    }

    /// The effective top pad.
    pub fn top_pad_or_default(&self) -> u64 {
        self.top_pad.unwrap_or(DEFAULT_TOP_PAD)
    }

    /// The effective mapping cap.
    pub fn mmap_max_or_default(&self) -> u64 {
        self.mmap_max.unwrap_or(DEFAULT_MMAP_MAX)
    }

    /// The effective tcache fill count.
    pub fn tcache_count_or_default(&self) -> u64 {
        self.tcache_count.unwrap_or(TCACHE_FILL_COUNT)
    }

    /// The effective largest tcache request.
    pub fn tcache_max_or_default(&self) -> u64 {
        self.tcache_max.unwrap_or(MAX_TCACHE_SIZE)
    }

    /// The effective largest fastbin request.
    pub fn max_fast_or_default(&self) -> u64 {
        self.max_fast.unwrap_or(DEFAULT_MXFAST)
    }
}

/// Parses `123`, `0x7b`, `128K`, `32M`, `1G` (binary multiples).
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    let (digits, shift) = match t.as_bytes().last()? {
        b'k' | b'K' => (&t[..t.len() - 1], 10),
        b'm' | b'M' => (&t[..t.len() - 1], 20),
        b'g' | b'G' => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_names_and_values() {
        let mut t = Tunables::default();
        t.set("mmap_threshold", "256K").unwrap();
        t.set("glibc.malloc.trim_threshold", "0x1000").unwrap();
        t.apply("mxfast=64").unwrap();
        t.apply("tcache_count=0").unwrap();
        assert_eq!(t.mmap_threshold, Some(256 * 1024));
        assert_eq!(t.trim_threshold, Some(4096));
        assert_eq!(t.max_fast, Some(64));
        assert_eq!(t.tcache_count, Some(0));
        assert!(t.disables_dynamic_threshold());
        assert!(!Tunables::default().disables_dynamic_threshold());
    }

    #[test]
    fn set_rejects_bad_input_with_a_clear_error() {
        let mut t = Tunables::default();
        let e = t.set("arena_max", "1").unwrap_err();
        assert!(e.to_string().contains("unknown glibc tunable `arena_max`"));
        let e = t.set("top_pad", "lots").unwrap_err();
        assert!(matches!(e, TunableError::BadValue { .. }));
        let e = t.set("mmap_threshold", "64M").unwrap_err();
        assert_eq!(
            e,
            TunableError::OutOfRange {
                name: "mmap_threshold".into(),
                value: 64 << 20,
                max: 32 << 20
            }
        );
        assert!(t.set("max_fast", "161").is_err());
        assert!(t.set("tcache_max", "1033").is_err());
        assert!(matches!(
            t.apply("top_pad"),
            Err(TunableError::MissingEquals { .. })
        ));
        assert_eq!(t, Tunables::default(), "failed sets change nothing");
    }
}
