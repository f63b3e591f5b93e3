//! The knobs of the textbook free-list allocator and its named presets.
//!
//! Every option is a decision a textbook discusses: *which* free block to take (the fit
//! policy), *how the list is kept* (its order), *when neighbours merge* (coalescing),
//! *when a block is cut in two* (the split threshold), *what each block carries*
//! (header and footer: boundary tags), and *how the heap talks to the kernel* (how much
//! to ask `sbrk` for at a time, and when to give the top back). Each is an option of
//! the one [`options`](crate::options) mechanism: `fit=best`, `order=lifo`,
//! `trim=never`, `grow=64K`.

use crate::options::{Choice, Kind, OptionError, Options, Spec, Table};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which free block a request takes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[serde(rename_all = "snake_case")]
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
#[serde(rename_all = "snake_case")]
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
    /// Default: 32 (the minimum block of the default layout). Option `split`.
    #[serde(rename = "split")]
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
    /// Default: 128 KiB (glibc's `M_TRIM_THRESHOLD`). Option `trim` (`trim=never` for
    /// `None`).
    #[serde(rename = "trim")]
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

/// The names of the presets, in the order the CLI lists them.
pub const PRESETS: [&str; 4] = ["first-fit", "next-fit", "best-fit", "worst-fit"];

const FITS: &[Choice] = &[
    Choice::new("first", &["first-fit"]),
    Choice::new("next", &["next-fit"]),
    Choice::new("best", &["best-fit"]),
    Choice::new("worst", &["worst-fit"]),
];

const ORDERS: &[Choice] = &[
    Choice::new("lifo", &[]),
    Choice::new("fifo", &[]),
    Choice::new("address", &["addr", "addrsort"]),
    Choice::new("size_asc", &["size", "sizesort+"]),
    Choice::new("size_desc", &["sizesort-"]),
];

const COALESCING: &[Choice] = &[
    Choice::new("immediate", &["yes", "true", "on"]),
    Choice::new("deferred", &["lazy"]),
    Choice::new("none", &["never", "no", "false", "off"]),
];

impl Options for FreeListConfig {
    const TABLE: Table = Table {
        prefix: "",
        options: &[
            Spec::new(
                "fit",
                Kind::Choice(FITS),
                "which free block a request takes",
            ),
            Spec::new(
                "order",
                Kind::Choice(ORDERS),
                "how the free list is kept (OSTEP's addrsort, sizesort+, sizesort- work too)",
            ),
            Spec::new(
                "coalesce",
                Kind::Choice(COALESCING),
                "when adjacent free blocks merge",
            ),
            Spec::new(
                "split",
                Kind::size_at_most(1 << 30),
                "smallest remainder worth splitting off a block",
            ),
            Spec::new(
                "header",
                Kind::size_at_most(1024),
                "header bytes per block (a multiple of 8)",
            ),
            Spec::new(
                "footer",
                Kind::size_at_most(1024),
                "footer (boundary tag) bytes per block (a multiple of 8; 0 for none)",
            ),
            Spec::new(
                "align",
                Kind::Size {
                    min: 16,
                    max: 4096,
                    off: &[],
                },
                "alignment of returned pointers (a power of two)",
            ),
            Spec::new(
                "grow",
                Kind::Size {
                    min: 1,
                    max: 1 << 30,
                    off: &[],
                },
                "least sbrk increment when the heap grows",
            ),
            Spec::new(
                "trim",
                Kind::Size {
                    min: 0,
                    max: u64::MAX,
                    off: &["never", "none", "off"],
                },
                "give the top back when a free leaves more than this free at the end",
            ),
        ],
    };

    /// Alignment a power of two; header and footer whole words.
    fn check(&self) -> Result<(), OptionError> {
        if !self.align.is_power_of_two() {
            return Err(OptionError::invalid(
                "align",
                format!("{} is not a power of two", self.align),
            ));
        }
        for (name, bytes) in [("header", self.header), ("footer", self.footer)] {
            if !bytes.is_multiple_of(8) {
                return Err(OptionError::invalid(
                    name,
                    format!("{bytes} is not a multiple of 8"),
                ));
            }
        }
        Ok(())
    }
}

impl FreeListConfig {
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
        Some(FreeListConfig::with_fit(fit))
    }

    /// The presets' configuration with fit policy `fit`.
    pub fn with_fit(fit: Fit) -> FreeListConfig {
        FreeListConfig {
            fit,
            ..FreeListConfig::default()
        }
    }

    /// The smallest block this layout allows: header, two 8-byte list links and
    /// footer, rounded up to the alignment.
    pub fn min_block(&self) -> u64 {
        (self.header + 16 + self.footer).next_multiple_of(self.align)
    }
}

impl fmt::Display for FreeListConfig {
    /// One line of `name=value` settings that [`Options::apply`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::options::settings_line(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_describes_the_struct() {
        for name in PRESETS {
            crate::options::check_table(&FreeListConfig::preset(name).unwrap()).unwrap();
        }
        let c = FreeListConfig {
            order: Order::SizeDesc,
            coalesce: Coalesce::Deferred,
            trim_threshold: None,
            ..FreeListConfig::with_fit(Fit::Worst)
        };
        crate::options::check_table(&c).unwrap();
        assert_eq!(
            c.to_string(),
            "fit=worst order=size_desc coalesce=deferred split=32 header=8 footer=8 align=16 grow=4K trim=never"
        );
    }

    #[test]
    fn settings_take_the_textbook_spellings() {
        let (c, notes) = FreeListConfig::default()
            .apply(&[
                ("fit", "best-fit"),
                ("order", "sizesort-"),
                ("coalesce", "never"),
                ("trim", "never"),
                ("grow", "64k"),
            ])
            .unwrap();
        assert!(notes.is_empty());
        assert_eq!(
            (c.fit, c.order, c.coalesce, c.trim_threshold, c.grow),
            (Fit::Best, Order::SizeDesc, Coalesce::None, None, 65536)
        );
        // The old spelling of the size orders still works, with a note.
        let (c, notes) = FreeListConfig::default()
            .apply(&[("order", "size-asc")])
            .unwrap();
        assert_eq!(c.order, Order::SizeAsc);
        assert_eq!(
            notes[0].to_string(),
            "option order: `size-asc` is now spelled `size_asc`"
        );
    }

    #[test]
    fn unknown_names_and_values_name_the_choices() {
        let e = FreeListConfig::default()
            .apply(&[("colour", "red")])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown option `colour` (known: fit, order, coalesce, split, header, footer, align, grow, trim)"
        );
        let e = FreeListConfig::default()
            .apply(&[("order", "random")])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "option order: `random` is not one of lifo, fifo, address, size_asc, size_desc"
        );
    }

    #[test]
    fn validate_rejects_unusable_layouts() {
        let c = FreeListConfig {
            align: 24,
            ..FreeListConfig::default()
        };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "option align: 24 is not a power of two"
        );
        let c = FreeListConfig {
            header: 12,
            ..FreeListConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(OptionError::Invalid {
                option: "header",
                ..
            })
        ));
        let c = FreeListConfig {
            grow: 0,
            ..FreeListConfig::default()
        };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "option grow: `0` is under the minimum of 1 byte"
        );
        assert!(FreeListConfig::default().validate().is_ok());
        assert_eq!(FreeListConfig::default().min_block(), 32);
    }
}
