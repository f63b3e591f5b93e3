//! The knobs of the size-class allocator: the class spacing, slab sizes, and what
//! happens to a slab that becomes empty; each an option of the one
//! [`options`](crate::options) mechanism (`return=munmap`, `max_small=16K`).

use crate::options::{Choice, Kind, OptionError, Options, Spec, Table};
use kernel::PAGE_SIZE;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What the allocator does with a slab whose last object was freed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// `linear_max / steps_per_doubling >= quantum`. Default: 4. Option `steps`.
    #[serde(rename = "steps")]
    pub steps_per_doubling: u64,
    /// The largest small request (the largest class is the largest generated class not
    /// above it). Default: 32 KiB.
    pub max_small: u64,
    /// Minimum pages per slab. Default: 1.
    pub slab_pages: u64,
    /// Minimum slots per slab (the large classes get slabs of several pages so that a
    /// slab holds more than one object). Default: 4.
    pub min_slots: u64,
    /// What to do with an empty slab. Default: `madvise`. Option `return`.
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

const RETURN_MODES: &[Choice] = &[
    Choice::new("madvise", &["dontneed"]),
    Choice::new("munmap", &["unmap"]),
    Choice::new("keep", &["none", "never"]),
];

impl Options for SegregatedConfig {
    const TABLE: Table = Table {
        prefix: "",
        options: &[
            Spec::new(
                "return",
                Kind::Choice(RETURN_MODES),
                "what an empty slab does",
            ),
            Spec::new(
                "quantum",
                Kind::Size {
                    min: 16,
                    max: 4096,
                    off: &[],
                },
                "class spacing (and smallest class) up to linear_max (a power of two)",
            ),
            Spec::new(
                "linear_max",
                Kind::SIZE,
                "largest linearly spaced class (a power of two)",
            ),
            Spec::new(
                "steps",
                Kind::COUNT,
                "classes per doubling above linear_max (a power of two)",
            ),
            Spec::new(
                "max_small",
                Kind::size_at_most(1 << 20),
                "largest small request; above it, one mapping per block",
            ),
            Spec::new(
                "slab_pages",
                Kind::Count { min: 1, max: 256 },
                "minimum pages per slab",
            ),
            Spec::new(
                "min_slots",
                Kind::Count { min: 1, max: 4096 },
                "minimum slots per slab",
            ),
            Spec::new(
                "retain_empty",
                Kind::count_at_most(1 << 20),
                "empty slabs per class kept before returning one",
            ),
        ],
    };

    /// The spacing rules: powers of two, linear classes at least `quantum` apart, and
    /// at least one class.
    fn check(&self) -> Result<(), OptionError> {
        if !self.quantum.is_power_of_two() {
            return Err(OptionError::invalid(
                "quantum",
                format!("{} is not a power of two", self.quantum),
            ));
        }
        if !self.linear_max.is_power_of_two() || self.linear_max < self.quantum {
            return Err(OptionError::invalid(
                "linear_max",
                format!(
                    "{} is not a power of two of at least the quantum ({})",
                    self.linear_max, self.quantum
                ),
            ));
        }
        if !self.steps_per_doubling.is_power_of_two()
            || self.linear_max / self.steps_per_doubling < self.quantum
        {
            return Err(OptionError::invalid(
                "steps",
                format!(
                    "{} is not a power of two with linear_max / steps >= quantum",
                    self.steps_per_doubling
                ),
            ));
        }
        if self.max_small < self.quantum {
            return Err(OptionError::invalid(
                "max_small",
                format!("{} is below the quantum ({})", self.max_small, self.quantum),
            ));
        }
        Ok(())
    }
}

impl SegregatedConfig {
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
    /// One line of `name=value` settings that [`Options::apply`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::options::settings_line(self))
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
        let (c, _) = SegregatedConfig::from_settings(&[("max_small", "1000")]).unwrap();
        let sizes: Vec<u64> = c.classes().iter().map(|c| c.size).collect();
        assert_eq!(sizes.last(), Some(&896));
    }

    #[test]
    fn settings_parse_and_reject() {
        let (c, notes) =
            SegregatedConfig::from_settings(&[("return", "munmap"), ("retain_empty", "2")])
                .unwrap();
        assert!(notes.is_empty());
        assert_eq!(c.return_mode, ReturnMode::Munmap);
        assert_eq!(c.retain_empty, 2);
        let e = SegregatedConfig::from_settings(&[("return", "sometimes")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "option return: `sometimes` is not one of madvise, munmap, keep"
        );
        assert!(matches!(
            SegregatedConfig::from_settings(&[("colour", "1")]),
            Err(OptionError::Unknown { .. })
        ));
        crate::options::check_table(&c).unwrap();
        crate::options::check_table(&SegregatedConfig::default()).unwrap();
        assert_eq!(
            c.to_string(),
            "return=munmap quantum=16 linear_max=128 steps=4 max_small=32K slab_pages=1 min_slots=4 retain_empty=2"
        );
    }

    #[test]
    fn the_old_kebab_names_work_with_a_note() {
        let (c, notes) =
            SegregatedConfig::from_settings(&[("linear-max", "64"), ("max-small", "16K")]).unwrap();
        assert_eq!((c.linear_max, c.max_small), (64, 16384));
        let text: Vec<String> = notes.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            text,
            [
                "option `linear-max` is now spelled `linear_max`",
                "option `max-small` is now spelled `max_small`"
            ]
        );
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
