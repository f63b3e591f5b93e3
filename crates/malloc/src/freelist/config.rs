//! The knobs of the textbook free-list allocator, its named presets, and the
//! `key=value` parser the CLI uses to set any of them.
//!
//! Every option is a decision a textbook discusses: *which* free block to take (the fit
//! policy), *how the list is kept* (its order), *when neighbours merge* (coalescing),
//! *when a block is cut in two* (the split threshold), *what each block carries*
//! (header and footer: boundary tags), and *how the heap talks to the kernel* (how much
//! to ask `sbrk` for at a time, and when to give the top back).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which free block a request takes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    /// The first block, in list order, that is big enough. Fast when a fit is found
    /// early; with an address-ordered list it piles small splinters at the heap's start.
    First,
    /// First fit that resumes where the previous search stopped (a *roving pointer*,
    /// Knuth's "next fit"), wrapping around at the end of the list. Spreads splinters
    /// over the whole heap instead of its start.
    Next,
    /// The smallest block that is big enough (ties: the first in list order). Scans the
    /// whole list unless it meets an exact fit, or unless the list is sorted by
    /// ascending size (then the first fit *is* the best fit).
    Best,
    /// The largest block (ties: the first in list order), so the remainder of a split is
    /// as large as possible. Scans the whole list unless it is sorted by descending size.
    Worst,
}

/// How the free list is ordered: where a freed block is inserted, and therefore which
/// block a search meets first.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// Last in, first out: a freed block goes to the front (O(1) insert). The block
    /// freed most recently is reused first, which is good for the cache.
    Lifo,
    /// First in, first out: a freed block goes to the back (O(1) insert with a tail
    /// pointer). Freed blocks "age" before reuse.
    Fifo,
    /// By address (OSTEP's `ADDRSORT`): inserting walks the list to the right place
    /// (O(n)), but first fit then behaves like best fit in practice and neighbours are
    /// next to each other in the list.
    Address,
    /// By ascending size, ties by address (OSTEP's `SIZESORT+`): first fit is best fit.
    SizeAsc,
    /// By descending size, ties by address (OSTEP's `SIZESORT-`): first fit is worst fit.
    SizeDesc,
}

/// When physically adjacent free blocks merge into one.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coalesce {
    /// On every `free`: the freed block merges with a free block just before and just
    /// after it. The heap never has two free blocks side by side.
    Immediate,
    /// Only when a search fails: before growing the heap, one pass over the whole heap
    /// merges every run of adjacent free blocks, then the search is retried. Frees are
    /// cheap; the pass is not.
    Deferred,
    /// Never: every split is permanent, and the heap shatters into ever smaller pieces
    /// (OSTEP's default, to show why coalescing exists).
    #[serde(alias = "never", alias = "off")]
    None,
}

/// The configuration of a [`FreeList`](super::FreeList) allocator.
///
/// All sizes are in bytes. The default is the `first-fit` preset.
///
/// **Block layout.** A block is `header | payload | footer`. The header holds the
/// block's size and a used bit; the footer (a copy of the header at the block's end, a
/// *boundary tag*) lets `free` find the block *before* it in O(1): read the word just
/// below your own header. With `footer = 0` a block only knows where the next block
/// starts, so merging with the previous one needs a search: a walk of the list to the
/// insertion point when it is address-ordered (as in K&R's `free`), or a scan of the
/// heap from its start otherwise. That search is charged node by node. The footer costs
/// `footer` bytes in every block; the scan costs time on every free: the classic
/// space-for-time trade-off. With `header = 0` the allocator keeps block sizes in a
/// side table (as OSTEP's simulator does), which is free in bytes but not something a
/// real `malloc` can do without more memory somewhere else.
///
/// A free block also holds two list links (next and previous, 8 bytes each) in its
/// payload, so no block is smaller than `header + 16 + footer` rounded up to the
/// alignment: the *minimum block size*.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FreeListConfig {
    /// Fit policy. Default: first fit.
    pub fit: Fit,
    /// Free-list order. Default: by address.
    pub order: Order,
    /// Coalescing. Default: immediate.
    pub coalesce: Coalesce,
    /// The smallest remainder worth splitting off a free block that is larger than the
    /// request; a smaller remainder stays inside the handed-out block as internal
    /// fragmentation. Values below the minimum block size act as the minimum block size
    /// (a remainder must be able to hold its own header, links and footer).
    /// Default: 32 (the minimum block of the default layout).
    pub split_threshold: u64,
    /// Header bytes at the start of every block (size and used bit). A multiple of 8,
    /// at most 1024. Default: 8.
    pub header: u64,
    /// Footer bytes at the end of every block (a boundary tag); 0 for none. A multiple
    /// of 8, at most 1024. Default: 8.
    pub footer: u64,
    /// Alignment of every returned pointer: a power of two from 16 to 4096. Block sizes
    /// are multiples of it. Default: 16 (what x86-64 `malloc` guarantees).
    pub align: u64,
    /// The least the heap grows by when no free block fits: a request for more than
    /// this grows by what it needs. The new break is always rounded up to a page.
    /// Default: 4096 (CS:APP's `CHUNKSIZE`).
    pub grow: u64,
    /// When a `free` leaves a free block at the end of the heap larger than this, the
    /// allocator lowers the break (a negative `sbrk`) and gives every whole page of it
    /// back to the kernel. `None`: never trim on free (`malloc_trim` still can).
    /// Default: 128 KiB (glibc's `M_TRIM_THRESHOLD`).
    pub trim_threshold: Option<u64>,
}

impl Default for FreeListConfig {
    fn default() -> Self {
        FreeListConfig {
            fit: Fit::First,
            order: Order::Address,
            coalesce: Coalesce::Immediate,
            split_threshold: 32,
            header: 8,
            footer: 8,
            align: 16,
            grow: 4096,
            trim_threshold: Some(128 * 1024),
        }
    }
}

/// Why a configuration (or one `key=value` setting of it) was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// No option has this name.
    UnknownKey {
        /// The name given.
        key: String,
        /// The names that exist.
        known: Vec<&'static str>,
    },
    /// The option exists but the value does not parse.
    BadValue {
        /// The option.
        key: String,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// Each value parses but the configuration as a whole is not usable.
    Invalid {
        /// The option at fault.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// No preset has this name.
    UnknownPreset {
        /// The name given.
        name: String,
        /// The presets that exist.
        known: Vec<&'static str>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKey { key, known } => {
                write!(f, "unknown option `{key}` (known: {})", known.join(", "))
            }
            ConfigError::BadValue {
                key,
                value,
                expected,
            } => write!(f, "bad value `{value}` for `{key}`: expected {expected}"),
            ConfigError::Invalid { key, reason } => write!(f, "invalid `{key}`: {reason}"),
            ConfigError::UnknownPreset { name, known } => {
                write!(f, "unknown preset `{name}` (known: {})", known.join(", "))
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Parses a byte count: a plain number, or one with a binary suffix `k`/`K`/`KiB`,
/// `m`/`M`/`MiB`, `g`/`G`/`GiB` (all powers of 1024).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits_end == 0 {
        return None;
    }
    let n: u64 = t[..digits_end].parse().ok()?;
    let mult: u64 = match t[digits_end..].trim() {
        "" | "b" | "B" => 1,
        "k" | "K" | "KiB" | "kib" | "KB" | "kb" => 1 << 10,
        "m" | "M" | "MiB" | "mib" | "MB" | "mb" => 1 << 20,
        "g" | "G" | "GiB" | "gib" | "GB" | "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Applies `key=value` settings one by one with `set`, stopping at the first error.
pub(crate) fn apply_settings<'a>(
    settings: impl IntoIterator<Item = &'a str>,
    mut set: impl FnMut(&str, &str) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    for s in settings {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| bad(s, "", "a setting of the form key=value"))?;
        set(k, v)?;
    }
    Ok(())
}

/// A value the option `key` cannot take, and what it expects instead.
pub(crate) fn bad(key: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

fn bytes(key: &str, value: &str) -> Result<u64, ConfigError> {
    parse_bytes(value).ok_or_else(|| bad(key, value, "a byte count such as 32, 4k or 1M"))
}

/// The names of the presets, in the order the CLI lists them.
pub const PRESETS: [&str; 4] = ["first-fit", "next-fit", "best-fit", "worst-fit"];

impl FreeListConfig {
    /// Every option `set` accepts, with a one-line description (for `--help` texts).
    pub const OPTIONS: [(&'static str, &'static str); 9] = [
        ("fit", "first | next | best | worst"),
        (
            "order",
            "lifo | fifo | address | size-asc | size-desc (also OSTEP's addrsort, sizesort+, sizesort-)",
        ),
        ("coalesce", "immediate | deferred | none"),
        ("split", "smallest remainder worth splitting off, bytes"),
        ("header", "header bytes per block (multiple of 8)"),
        (
            "footer",
            "footer (boundary tag) bytes per block, 0 for none",
        ),
        (
            "align",
            "alignment of returned pointers (power of two, 16..=4096)",
        ),
        ("grow", "least sbrk increment when the heap grows, bytes"),
        (
            "trim",
            "trim the top above this many free bytes, or `never`",
        ),
    ];

    /// The configuration of a named preset (see [`PRESETS`]).
    ///
    /// All four share the classroom layout of CS:APP's malloc lab on a 64-bit machine
    /// (8-byte header and footer, 16-byte alignment, a 32-byte minimum block, growth by
    /// 4 KiB), an address-ordered list (OSTEP's default `ADDRSORT`, which makes the
    /// policies' differences easy to trace by hand), immediate coalescing, splitting of
    /// any remainder that can be a block, and trimming above 128 KiB. They differ only
    /// in the fit policy:
    /// - `first-fit`: first fit (the default configuration);
    /// - `next-fit`: next fit, with its roving pointer;
    /// - `best-fit`: best fit;
    /// - `worst-fit`: worst fit.
    pub fn preset(name: &str) -> Option<FreeListConfig> {
        let fit = match name {
            "first-fit" => Fit::First,
            "next-fit" => Fit::Next,
            "best-fit" => Fit::Best,
            "worst-fit" => Fit::Worst,
            _ => return None,
        };
        Some(FreeListConfig {
            fit,
            ..FreeListConfig::default()
        })
    }

    /// Like [`FreeListConfig::preset`], with an error naming the known presets.
    pub fn try_preset(name: &str) -> Result<FreeListConfig, ConfigError> {
        Self::preset(name).ok_or_else(|| ConfigError::UnknownPreset {
            name: name.to_string(),
            known: PRESETS.to_vec(),
        })
    }

    /// Sets one option from text, as a user types it: `set("order", "lifo")`,
    /// `set("trim", "never")`, `set("grow", "64k")`. Keys may use `-` or `_`, and the
    /// long forms `split-threshold`, `trim-threshold`, `header-size`, `footer-size`,
    /// `alignment` are accepted. The combination is checked by
    /// [`FreeListConfig::validate`], not here, so options can be set in any order.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let norm = key.trim().to_ascii_lowercase().replace('_', "-");
        let v = value.trim();
        let lower = v.to_ascii_lowercase();
        match norm.as_str() {
            "fit" | "policy" => {
                self.fit = match lower.as_str() {
                    "first" | "first-fit" => Fit::First,
                    "next" | "next-fit" => Fit::Next,
                    "best" | "best-fit" => Fit::Best,
                    "worst" | "worst-fit" => Fit::Worst,
                    _ => return Err(bad(key, v, "one of first, next, best, worst")),
                }
            }
            "order" | "list-order" => {
                self.order = match lower.as_str() {
                    "lifo" => Order::Lifo,
                    "fifo" => Order::Fifo,
                    "address" | "addr" | "addrsort" => Order::Address,
                    "size-asc" | "size" | "sizesort+" => Order::SizeAsc,
                    "size-desc" | "sizesort-" => Order::SizeDesc,
                    _ => {
                        return Err(bad(
                            key,
                            v,
                            "one of lifo, fifo, address, size-asc, size-desc",
                        ));
                    }
                }
            }
            "coalesce" => {
                self.coalesce = match lower.as_str() {
                    "immediate" | "yes" | "true" | "on" => Coalesce::Immediate,
                    "deferred" | "lazy" => Coalesce::Deferred,
                    "none" | "never" | "no" | "false" | "off" => Coalesce::None,
                    _ => return Err(bad(key, v, "one of immediate, deferred, none")),
                }
            }
            "split" | "split-threshold" => self.split_threshold = bytes(key, v)?,
            "header" | "header-size" => self.header = bytes(key, v)?,
            "footer" | "footer-size" => self.footer = bytes(key, v)?,
            "align" | "alignment" => self.align = bytes(key, v)?,
            "grow" | "growth" => self.grow = bytes(key, v)?,
            "trim" | "trim-threshold" => {
                self.trim_threshold = match lower.as_str() {
                    "never" | "none" | "off" => None,
                    _ => Some(
                        parse_bytes(v)
                            .ok_or_else(|| bad(key, v, "a byte count such as 128k, or never"))?,
                    ),
                }
            }
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                    known: Self::OPTIONS.iter().map(|(k, _)| *k).collect(),
                });
            }
        }
        Ok(())
    }

    /// Applies a list of `key=value` settings, such as `["order=lifo", "trim=never"]`.
    pub fn set_all<'a, I>(&mut self, settings: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        apply_settings(settings, |k, v| self.set(k, v))
    }

    /// Checks that the options make a usable allocator.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        if !self.align.is_power_of_two() || !(16..=4096).contains(&self.align) {
            return invalid("align", "must be a power of two from 16 to 4096");
        }
        if !self.header.is_multiple_of(8) || self.header > 1024 {
            return invalid("header", "must be a multiple of 8, at most 1024");
        }
        if !self.footer.is_multiple_of(8) || self.footer > 1024 {
            return invalid("footer", "must be a multiple of 8, at most 1024");
        }
        if self.grow == 0 || self.grow > 1 << 30 {
            return invalid("grow", "must be from 1 byte to 1 GiB");
        }
        if self.split_threshold > 1 << 30 {
            return invalid("split", "must be at most 1 GiB");
        }
        Ok(())
    }

    /// The smallest block this layout allows: header, two 8-byte list links and
    /// footer, rounded up to the alignment.
    pub fn min_block(&self) -> u64 {
        (self.header + 16 + self.footer).next_multiple_of(self.align)
    }
}

impl fmt::Display for FreeListConfig {
    /// One line, `key=value` pairs in [`FreeListConfig::OPTIONS`] order, values as
    /// `set` accepts them (so the line can be pasted back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fit = match self.fit {
            Fit::First => "first",
            Fit::Next => "next",
            Fit::Best => "best",
            Fit::Worst => "worst",
        };
        let order = match self.order {
            Order::Lifo => "lifo",
            Order::Fifo => "fifo",
            Order::Address => "address",
            Order::SizeAsc => "size-asc",
            Order::SizeDesc => "size-desc",
        };
        let coalesce = match self.coalesce {
            Coalesce::Immediate => "immediate",
            Coalesce::Deferred => "deferred",
            Coalesce::None => "none",
        };
        write!(
            f,
            "fit={fit} order={order} coalesce={coalesce} split={} header={} footer={} align={} grow={} trim=",
            self.split_threshold, self.header, self.footer, self.align, self.grow
        )?;
        match self.trim_threshold {
            Some(t) => write!(f, "{t}"),
            None => f.write_str("never"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_round_trips_through_set() {
        let mut c = FreeListConfig::preset("worst-fit").unwrap();
        c.set("order", "sizesort-").unwrap();
        c.set("trim", "never").unwrap();
        c.set("grow", "64k").unwrap();
        let line = c.to_string();
        let mut back = FreeListConfig::default();
        back.set_all(line.split(' ')).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_key_and_value_name_the_choices() {
        let mut c = FreeListConfig::default();
        let e = c.set("colour", "red").unwrap_err();
        assert!(e.to_string().contains("unknown option `colour`"), "{e}");
        assert!(e.to_string().contains("fit, order, coalesce"), "{e}");
        let e = c.set("order", "random").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad value `random` for `order`: expected one of lifo, fifo, address, size-asc, size-desc"
        );
        assert_eq!(c, FreeListConfig::default(), "a failed set changes nothing");
    }

    #[test]
    fn byte_counts_accept_binary_suffixes() {
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("4k"), Some(4096));
        assert_eq!(parse_bytes("2MiB"), Some(2 << 20));
        assert_eq!(parse_bytes("1G"), Some(1 << 30));
        assert_eq!(parse_bytes("k"), None);
        assert_eq!(parse_bytes("12q"), None);
        assert_eq!(parse_bytes("99999999999999999999"), None);
    }

    #[test]
    fn validate_rejects_unusable_layouts() {
        let c = FreeListConfig {
            align: 24,
            ..FreeListConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid { key: "align", .. })
        ));
        let c = FreeListConfig {
            header: 12,
            ..FreeListConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid { key: "header", .. })
        ));
        let c = FreeListConfig {
            grow: 0,
            ..FreeListConfig::default()
        };
        assert!(c.validate().is_err());
        assert!(FreeListConfig::default().validate().is_ok());
        assert_eq!(FreeListConfig::default().min_block(), 32);
    }
}
