//! The knobs of the size-class allocator: the class spacing, slab sizes, and what
//! happens to a slab that becomes empty.

use crate::freelist::config::{apply_settings, bad};
use crate::freelist::{ConfigError, parse_bytes};
use kernel::PAGE_SIZE;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What the allocator does with a slab whose last object was freed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReturnMode {
    /// `madvise(MADV_DONTNEED)` the slab: the kernel drops its pages (RSS falls) but the
    /// mapping stays, so reusing the slab costs page faults and no `mmap`. What jemalloc
    /// and tcmalloc do (after a delay) to give memory back cheaply.
    Madvise,
    /// `munmap` the slab: both the pages and the address range go back; the next
    /// object of the class needs a fresh `mmap`.
    Munmap,
    /// Keep the slab as it is, resident, for its class: no syscall ever, and memory
    /// once used by a class stays with that class.
    Keep,
}

/// One size class: every request up to `size` bytes (and above the previous class) gets
/// a `size`-byte slot in a slab of `slab_bytes`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeClass {
    /// Slot size in bytes (a multiple of 16).
    pub size: u64,
    /// Bytes of one slab of this class (whole pages).
    pub slab_bytes: u64,
    /// Slots per slab: `slab_bytes / size`. The rest of the slab is unused tail.
    pub slots: u64,
}

/// The configuration of a [`Segregated`](super::Segregated) allocator.
///
/// **Class spacing** (jemalloc's scheme): classes are `quantum` apart up to
/// `linear_max`, then each doubling of the size is split into `steps_per_doubling`
/// equal steps, up to `max_small`. With the defaults (16, 128, 4, 32 KiB):
/// 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, ...,
/// 28672, 32768: 40 classes. A request is rounded up to the next class, so internal
/// fragmentation is at most `quantum - 1` bytes below `linear_max` and under 25% (one
/// step of four) above it. Requests above the largest class are *large*: each gets a
/// mapping of its own, rounded up to whole pages.
///
/// **Slab size**: the smallest whole number of pages that is at least `slab_pages`
/// pages, holds at least `min_slots` slots, and wastes at most 1/8 of the slab on the
/// unusable tail (the first such size up to 4 times that minimum; otherwise the one in
/// that range wasting the least).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegregatedConfig {
    /// Spacing of the small classes and the smallest class: a power of two, at least
    /// 16 (every slot must be 16-aligned). Default: 16.
    pub quantum: u64,
    /// Where the linear spacing ends and the geometric spacing begins: a power of two,
    /// at least `quantum`. Default: 128.
    pub linear_max: u64,
    /// Classes per doubling above `linear_max`: a power of two with
    /// `linear_max / steps_per_doubling >= quantum`. Default: 4.
    pub steps_per_doubling: u64,
    /// The largest small request (the largest class is the largest generated class not
    /// above it). Default: 32 KiB.
    pub max_small: u64,
    /// Minimum pages per slab. Default: 1.
    pub slab_pages: u64,
    /// Minimum slots per slab (the large classes get slabs of several pages so that a
    /// slab holds more than one object). Default: 4.
    pub min_slots: u64,
    /// What to do with an empty slab. Default: `madvise`.
    #[serde(rename = "return")]
    pub return_mode: ReturnMode,
    /// Empty slabs each class keeps resident before the return mode applies (a small
    /// cache against the thrashing of a class that goes 1, 0, 1, 0 objects: every 0
    /// would be a syscall and every 1 a fault or an `mmap`). Default: 0.
    pub retain_empty: u64,
}

impl Default for SegregatedConfig {
    fn default() -> Self {
        SegregatedConfig {
            quantum: 16,
            linear_max: 128,
            steps_per_doubling: 4,
            max_small: 32 * 1024,
            slab_pages: 1,
            min_slots: 4,
            return_mode: ReturnMode::Madvise,
            retain_empty: 0,
        }
    }
}

fn number(key: &str, value: &str) -> Result<u64, ConfigError> {
    parse_bytes(value).ok_or_else(|| bad(key, value, "a number such as 16, 4k or 32k"))
}

impl SegregatedConfig {
    /// Every option `set` accepts, with a one-line description.
    pub const OPTIONS: [(&'static str, &'static str); 8] = [
        ("return", "madvise | munmap | keep: what an empty slab does"),
        (
            "quantum",
            "class spacing (and smallest class) below linear-max, bytes",
        ),
        ("linear-max", "largest linearly spaced class, bytes"),
        ("steps", "classes per doubling above linear-max"),
        (
            "max-small",
            "largest small request; above it, one mapping per block",
        ),
        ("slab-pages", "minimum pages per slab"),
        ("min-slots", "minimum slots per slab"),
        (
            "retain-empty",
            "empty slabs per class kept before returning one",
        ),
    ];

    /// Sets one option from text: `set("return", "munmap")`, `set("max-small", "16k")`.
    /// Keys may use `-` or `_`; `steps-per-doubling` and `return-mode` also work.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let norm = key.trim().to_ascii_lowercase().replace('_', "-");
        let v = value.trim();
        match norm.as_str() {
            "return" | "return-mode" | "empty" => {
                self.return_mode = match v.to_ascii_lowercase().as_str() {
                    "madvise" | "dontneed" => ReturnMode::Madvise,
                    "munmap" | "unmap" => ReturnMode::Munmap,
                    "keep" | "none" | "never" => ReturnMode::Keep,
                    _ => return Err(bad(key, v, "one of madvise, munmap, keep")),
                }
            }
            "quantum" => self.quantum = number(key, v)?,
            "linear-max" => self.linear_max = number(key, v)?,
            "steps" | "steps-per-doubling" => self.steps_per_doubling = number(key, v)?,
            "max-small" => self.max_small = number(key, v)?,
            "slab-pages" => self.slab_pages = number(key, v)?,
            "min-slots" => self.min_slots = number(key, v)?,
            "retain-empty" | "retain" => self.retain_empty = number(key, v)?,
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                    known: Self::OPTIONS.iter().map(|(k, _)| *k).collect(),
                });
            }
        }
        Ok(())
    }

    /// Applies a list of `key=value` settings.
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
        if !self.quantum.is_power_of_two() || !(16..=4096).contains(&self.quantum) {
            return invalid("quantum", "must be a power of two from 16 to 4096");
        }
        if !self.linear_max.is_power_of_two() || self.linear_max < self.quantum {
            return invalid("linear-max", "must be a power of two, at least the quantum");
        }
        if !self.steps_per_doubling.is_power_of_two()
            || self.linear_max / self.steps_per_doubling < self.quantum
        {
            return invalid(
                "steps",
                "must be a power of two with linear-max / steps >= quantum",
            );
        }
        if self.max_small < self.quantum || self.max_small > 1 << 20 {
            return invalid("max-small", "must be from the quantum to 1 MiB");
        }
        if !(1..=256).contains(&self.slab_pages) {
            return invalid("slab-pages", "must be from 1 to 256");
        }
        if !(1..=4096).contains(&self.min_slots) {
            return invalid("min-slots", "must be from 1 to 4096");
        }
        if self.retain_empty > 1 << 20 {
            return invalid("retain-empty", "must be at most 1048576");
        }
        Ok(())
    }

    /// The size classes this configuration defines, smallest first (empty when the
    /// configuration does not validate).
    pub fn classes(&self) -> Vec<SizeClass> {
        if self.validate().is_err() {
            return Vec::new();
        }
        let mut sizes = Vec::new();
        let mut s = self.quantum;
        while s <= self.linear_max && s <= self.max_small {
            sizes.push(s);
            s += self.quantum;
        }
        let mut base = self.linear_max;
        'outer: while base < self.max_small {
            let step = base / self.steps_per_doubling;
            for i in 1..=self.steps_per_doubling {
                let s = base + i * step;
                if s > self.max_small {
                    break 'outer;
                }
                sizes.push(s);
            }
            base *= 2;
        }
        sizes
            .into_iter()
            .map(|size| {
                let slab_bytes = self.slab_bytes(size);
                SizeClass {
                    size,
                    slab_bytes,
                    slots: slab_bytes / size,
                }
            })
            .collect()
    }

    /// The slab size of a class (see the type's docs).
    fn slab_bytes(&self, size: u64) -> u64 {
        let min_pages = self
            .slab_pages
            .max((self.min_slots * size).div_ceil(PAGE_SIZE));
        let mut best = min_pages * PAGE_SIZE;
        for pages in min_pages..=4 * min_pages {
            let bytes = pages * PAGE_SIZE;
            let waste = bytes % size;
            if waste * 8 <= bytes {
                return bytes;
            }
            // Least waste as a fraction: waste/bytes < best_waste/best.
            if u128::from(waste) * u128::from(best) < u128::from(best % size) * u128::from(bytes) {
                best = bytes;
            }
        }
        best
    }
}

impl fmt::Display for SegregatedConfig {
    /// One line of `key=value` pairs that `set` accepts back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.return_mode {
            ReturnMode::Madvise => "madvise",
            ReturnMode::Munmap => "munmap",
            ReturnMode::Keep => "keep",
        };
        write!(
            f,
            "return={mode} quantum={} linear-max={} steps={} max-small={} slab-pages={} min-slots={} retain-empty={}",
            self.quantum,
            self.linear_max,
            self.steps_per_doubling,
            self.max_small,
            self.slab_pages,
            self.min_slots,
            self.retain_empty
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_classes_follow_jemalloc_spacing() {
        let classes = SegregatedConfig::default().classes();
        let sizes: Vec<u64> = classes.iter().map(|c| c.size).collect();
        assert_eq!(
            &sizes[..16],
            &[
                16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512
            ]
        );
        assert_eq!(sizes.len(), 40);
        assert_eq!(sizes.last(), Some(&32768));
        for c in &classes {
            assert_eq!(c.size % 16, 0);
            assert_eq!(c.slab_bytes % PAGE_SIZE, 0);
            assert!(c.slots >= 4, "{c:?}");
            assert!(
                (c.slab_bytes - c.slots * c.size) * 8 <= c.slab_bytes,
                "{c:?}"
            );
        }
        // Small classes pack a single page; the largest needs 32 pages for 4 slots.
        assert_eq!(classes[0].slab_bytes, 4096);
        assert_eq!(classes[0].slots, 256);
        assert_eq!(classes[39].slab_bytes, 4 * 32768);
    }

    #[test]
    fn max_small_cuts_the_table() {
        let mut c = SegregatedConfig::default();
        c.set("max-small", "1000").unwrap();
        let sizes: Vec<u64> = c.classes().iter().map(|c| c.size).collect();
        assert_eq!(sizes.last(), Some(&896));
    }

    #[test]
    fn set_parses_and_rejects() {
        let mut c = SegregatedConfig::default();
        c.set("return", "munmap").unwrap();
        c.set("retain_empty", "2").unwrap();
        assert_eq!(c.return_mode, ReturnMode::Munmap);
        assert_eq!(c.retain_empty, 2);
        let e = c.set("return", "sometimes").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad value `sometimes` for `return`: expected one of madvise, munmap, keep"
        );
        assert!(matches!(
            c.set("colour", "1"),
            Err(ConfigError::UnknownKey { .. })
        ));
        let mut back = SegregatedConfig::default();
        back.set_all(c.to_string().split(' ')).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn validate_rejects_unaligned_classes() {
        let c = SegregatedConfig {
            quantum: 8,
            ..SegregatedConfig::default()
        };
        assert!(c.validate().is_err());
        assert!(c.classes().is_empty());
        let c = SegregatedConfig {
            steps_per_doubling: 16,
            ..SegregatedConfig::default()
        }; // 128 / 16 = 8 < 16
        assert!(c.validate().is_err());
    }
}
