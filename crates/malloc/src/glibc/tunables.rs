//! The knobs of glibc's malloc: what `mallopt` and `GLIBC_TUNABLES` can change.

use super::layout::{
    DEFAULT_MMAP_MAX, DEFAULT_MMAP_THRESHOLD, DEFAULT_MXFAST, DEFAULT_TOP_PAD,
    DEFAULT_TRIM_THRESHOLD, HEAP_MAX_SIZE, MAX_FAST_SIZE, MAX_TCACHE_COUNT, MAX_TCACHE_SIZE,
    TCACHE_FILL_COUNT,
};
use crate::options::{Kind, Options, Spec, Table};
use serde::{Deserialize, Serialize};

/// Parameters of the glibc model, each `None` when left at glibc's default.
///
/// They mirror `GLIBC_TUNABLES=glibc.malloc.<name>=<value>` (and `mallopt`), and are
/// set from text through [`Options`] (`mmap_threshold=64K`). As in glibc, setting
/// `mmap_threshold`, `trim_threshold`, `top_pad` or `mmap_max` explicitly switches the *dynamic* mmap threshold off: freeing a large mapped chunk
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

impl Options for Tunables {
    /// glibc's names, with or without the `glibc.malloc.` namespace of
    /// `GLIBC_TUNABLES`, and glibc's ranges: `do_set_mmap_threshold` refuses values
    /// above `HEAP_MAX_SIZE / 2`, `mmap_max` is an `int`, the tcache and fastbin limits
    /// are those of `do_set_tcache_*` and `M_MXFAST`; `top_pad` and `trim_threshold`
    /// are `size_t`, anything goes.
    const TABLE: Table = Table {
        prefix: "glibc.malloc.",
        options: &[
            Spec::new(
                "mmap_threshold",
                Kind::size_at_most(HEAP_MAX_SIZE / 2),
                "requests at least this big get their own mapping",
            ),
            Spec::new(
                "trim_threshold",
                Kind::SIZE,
                "free space at the top that makes free() shrink the heap",
            ),
            Spec::new(
                "top_pad",
                Kind::SIZE,
                "extra bytes asked of sbrk on each growth",
            ),
            Spec::new(
                "mmap_max",
                Kind::count_at_most(i32::MAX as u64),
                "most chunks mapped at once (0: none)",
            ),
            Spec::new(
                "tcache_count",
                Kind::count_at_most(MAX_TCACHE_COUNT),
                "chunks per tcache bin (0: the tcache caches nothing)",
            ),
            Spec::new(
                "tcache_max",
                Kind::size_at_most(MAX_TCACHE_SIZE),
                "largest request served by the tcache",
            ),
            Spec::new(
                "max_fast",
                Kind::size_at_most(MAX_FAST_SIZE),
                "largest request served by the fastbins (0 turns them off)",
            )
            .or(&["mxfast"]),
        ],
    };

    /// Every tunable at the value the model runs with.
    fn effective(&self) -> Tunables {
        Tunables {
            mmap_threshold: Some(self.mmap_threshold_or_default()),
            trim_threshold: Some(self.trim_threshold_or_default()),
            top_pad: Some(self.top_pad_or_default()),
            mmap_max: Some(self.mmap_max_or_default()),
            tcache_count: Some(self.tcache_count_or_default()),
            tcache_max: Some(self.tcache_max_or_default()),
            max_fast: Some(self.max_fast_or_default()),
        }
    }
}

impl Tunables {
    /// True when a parameter that disables the dynamic mmap threshold is set.
    pub fn disables_dynamic_threshold(&self) -> bool {
        self.mmap_threshold.is_some()
            || self.trim_threshold.is_some()
            || self.top_pad.is_some()
            || self.mmap_max.is_some()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_take_glibc_names_and_ranges() {
        let (t, notes) = Tunables::from_settings(&[
            ("mmap_threshold", "256K"),
            ("glibc.malloc.trim_threshold", "0x1000"),
            ("mxfast", "64"),
            ("glibc.malloc.tcache_count", "0"),
        ])
        .unwrap();
        assert!(notes.is_empty());
        assert_eq!(t.mmap_threshold, Some(256 * 1024));
        assert_eq!(t.trim_threshold, Some(4096));
        assert_eq!(t.max_fast, Some(64));
        assert_eq!(t.tcache_count, Some(0));
        assert_eq!(t.top_pad, None);
        assert!(t.disables_dynamic_threshold());
        assert!(!Tunables::default().disables_dynamic_threshold());
        crate::options::check_table(&Tunables::default()).unwrap();
        crate::options::check_table(&t).unwrap();
        assert_eq!(
            crate::options::settings_line(&t),
            "mmap_threshold=256K trim_threshold=4K tcache_count=0 max_fast=64"
        );
    }

    #[test]
    fn bad_settings_get_one_clear_line() {
        let msg = |k: &str, v: &str| Tunables::from_settings(&[(k, v)]).unwrap_err().to_string();
        assert!(
            msg("arena_max", "1").starts_with("unknown option `arena_max` (known: mmap_threshold,")
        );
        assert_eq!(
            msg("mmap_threshold", "64M"),
            "option mmap_threshold: `64M` is over the limit of 32 MiB"
        );
        assert_eq!(
            msg("top_pad", "lots"),
            "option top_pad: `lots` is not a size (write it as 4096, 0x1000, 4K, 4KiB or 1.5M)"
        );
        assert_eq!(
            msg("max_fast", "161"),
            "option max_fast: `161` is over the limit of 160 bytes"
        );
        assert_eq!(
            msg("tcache_max", "1033"),
            "option tcache_max: `1033` is over the limit of 1032 bytes"
        );
        assert_eq!(
            msg("tcache_count", "65536"),
            "option tcache_count: `65536` is over the limit of 65535"
        );
        let direct = Tunables {
            mmap_threshold: Some(64 << 20),
            ..Tunables::default()
        };
        assert_eq!(
            direct.validate().unwrap_err().to_string(),
            "option mmap_threshold: `67108864` is over the limit of 32 MiB"
        );
    }

    #[test]
    fn listings_show_the_effective_defaults() {
        let docs = crate::options::default_docs::<Tunables>();
        let shown: Vec<(&str, &str)> = docs.iter().map(|d| (d.name, d.value.as_str())).collect();
        assert_eq!(
            shown,
            [
                ("mmap_threshold", "128K"),
                ("trim_threshold", "128K"),
                ("top_pad", "128K"),
                ("mmap_max", "65536"),
                ("tcache_count", "7"),
                ("tcache_max", "1032"),
                ("max_fast", "128"),
            ]
        );
    }
}
