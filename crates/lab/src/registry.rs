//! Every allocator by name: what `--allocator` accepts and `sim list` shows.
//!
//! An entry names the allocator, says in one line what it is, and builds a fresh
//! instance from `key=value` options (glibc tunables, free-list policies, ...).

use malloc::Allocator;
use malloc::freelist::{FreeList, FreeListConfig};
use malloc::glibc::{Glibc, Tunables};
use malloc::segregated::{Segregated, SegregatedConfig};
use std::fmt;

/// An option the user gave as `key=value`.
pub type Setting = (String, String);

/// Builds an allocator from its settings.
pub type Builder = fn(&[Setting]) -> Result<Box<dyn Allocator>, String>;

/// One allocator of the registry.
#[derive(Copy, Clone)]
pub struct Entry {
    /// The name `--allocator` takes.
    pub name: &'static str,
    /// The family: `glibc`, `free list`, `size classes`, `mmap`.
    pub family: &'static str,
    /// One line for `sim list`.
    pub summary: &'static str,
    /// The `key=value` options it takes, with a line of help each.
    pub options: &'static [(&'static str, &'static str)],
    /// Builds an instance from settings whose keys are all in `options`.
    pub build: Builder,
}

impl Entry {
    /// True when the allocator takes option `key`.
    pub fn takes(&self, key: &str) -> bool {
        self.options.iter().any(|(k, _)| *k == key)
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_glibc_option_is_a_real_tunable() {
        let mut names: Vec<&str> = GLIBC_OPTIONS.iter().map(|o| o.0).collect();
        names.sort_unstable();
        let mut real = Tunables::NAMES.to_vec();
        real.sort_unstable();
        assert_eq!(names, real);
    }

    #[test]
    fn every_mmap_allocator_is_registered() {
        for (name, _) in mmap::ALLOCATORS {
            assert!(find(name).is_ok(), "{name} registered");
        }
    }

    #[test]
    fn mmap_options_reach_the_config() {
        let s = vec![("region_size".to_string(), "64K".to_string())];
        assert!(build("regions", &s).is_ok());
        let bad = vec![("region_size".to_string(), "many".to_string())];
        assert!(build("regions", &bad).is_err());
    }

    #[test]
    fn every_entry_builds_with_defaults_and_names_itself() {
        for e in entries() {
            let a = build(e.name, &[]).unwrap();
            assert_eq!(a.name(), e.name);
        }
    }

    #[test]
    fn settings_go_to_the_allocators_that_take_them() {
        let s = vec![
            ("mmap_threshold".to_string(), "64K".to_string()),
            ("order".to_string(), "lifo".to_string()),
        ];
        assert!(build("glibc", &s).is_ok());
        assert!(build("first-fit", &s).is_ok());
        assert!(unknown_keys(&["glibc", "first-fit"], &s).is_empty());
        assert_eq!(unknown_keys(&["glibc"], &s), vec!["order"]);
        let bad = vec![("mmap_threshold".to_string(), "lots".to_string())];
        assert!(matches!(
            build("glibc", &bad),
            Err(RegistryError::BadSetting { .. })
        ));
        assert!(matches!(build("nope", &[]), Err(RegistryError::Unknown(_))));
    }
}

/// Every allocator, in the order `sim list` shows them.
pub fn entries() -> &'static [Entry] {
    ENTRIES
}

/// Why an allocator could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// No allocator has this name.
    Unknown(String),
    /// The allocator rejected a setting.
    BadSetting {
        /// The allocator.
        allocator: String,
        /// Its message.
        detail: String,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Unknown(name) => {
                let names: Vec<&str> = ENTRIES.iter().map(|e| e.name).collect();
                write!(
                    f,
                    "unknown allocator '{name}' (known: {})",
                    names.join(", ")
                )
            }
            RegistryError::BadSetting { allocator, detail } => {
                write!(f, "allocator {allocator}: {detail}")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

/// Looks an allocator up by name.
pub fn find(name: &str) -> Result<&'static Entry, RegistryError> {
    ENTRIES
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| RegistryError::Unknown(name.to_string()))
}

/// Builds the allocator `name` with those of `settings` it takes (options meant for
/// other allocators are passed over; check with [`unknown_keys`] that each was meant
/// for someone).
pub fn build(name: &str, settings: &[Setting]) -> Result<Box<dyn Allocator>, RegistryError> {
    let entry = find(name)?;
    let mine: Vec<Setting> = settings
        .iter()
        .filter(|(k, _)| entry.takes(k))
        .cloned()
        .collect();
    (entry.build)(&mine).map_err(|detail| RegistryError::BadSetting {
        allocator: name.to_string(),
        detail,
    })
}

/// The keys of `settings` that none of the allocators `names` takes.
pub fn unknown_keys<'a>(names: &[&str], settings: &'a [Setting]) -> Vec<&'a str> {
    settings
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| {
            !names
                .iter()
                .filter_map(|n| find(n).ok())
                .any(|e| e.takes(k))
        })
        .collect()
}

fn free_list(name: &str, settings: &[Setting]) -> Result<Box<dyn Allocator>, String> {
    let mut cfg = FreeListConfig::try_preset(name).map_err(|e| e.to_string())?;
    for (k, v) in settings {
        cfg.set(k, v).map_err(|e| e.to_string())?;
    }
    let a = FreeList::new(cfg).map_err(|e| e.to_string())?;
    Ok(Box::new(a.with_name(name)))
}

/// glibc's tunables, as `--tunable NAME=VALUE` takes them (mallopt's parameters).
/// Setting mmap_threshold, trim_threshold, top_pad or mmap_max turns glibc's dynamic
/// mmap threshold off, as `mallopt` does.
const GLIBC_OPTIONS: &[(&str, &str)] = &[
    (
        "mmap_threshold",
        "requests at least this big get their own mapping (128K)",
    ),
    (
        "trim_threshold",
        "free space at the top that makes free() shrink the heap (128K)",
    ),
    ("top_pad", "extra bytes asked of sbrk on each growth (128K)"),
    ("mmap_max", "most chunks mapped at once (65536)"),
    ("tcache_count", "chunks per tcache bin (7)"),
    ("tcache_max", "largest request served by the tcache (1032)"),
    (
        "max_fast",
        "largest request served by the fastbins (128; 0 turns them off)",
    ),
];

/// Builds one of the `mmap` crate's allocators from `key=value` settings, turned into
/// the JSON object its config struct reads (sizes may carry K/M/G suffixes).
fn mapped(name: &str, settings: &[Setting]) -> Result<Box<dyn Allocator>, String> {
    let mut obj = serde_json::Map::new();
    for (k, v) in settings {
        let value = match v.as_str() {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            text => match malloc::freelist::parse_bytes(text) {
                Some(n) => serde_json::Value::from(n),
                None => serde_json::Value::String(text.to_string()),
            },
        };
        obj.insert(k.clone(), value);
    }
    let json = serde_json::Value::Object(obj).to_string();
    mmap::with_config(name, &json).map_err(|e| e.to_string())
}

const MMAP_OPTIONS: &[(&str, &str)] = &[("populate", "map with MAP_POPULATE (true/false)")];
const GUARD_OPTIONS: &[(&str, &str)] = &[(
    "placement",
    "end (the block ends at the guard page) or start",
)];
const CACHE_OPTIONS: &[(&str, &str)] = &[
    ("max_count", "most freed mappings kept (64)"),
    ("max_bytes", "most bytes of freed mappings kept (4M)"),
    (
        "max_excess_percent",
        "reuse a cached mapping up to this much larger (0)",
    ),
    (
        "pages",
        "what happens to cached pages: keep, dont_need or free",
    ),
];
const REGION_OPTIONS: &[(&str, &str)] = &[
    ("region_size", "bytes per region (1M)"),
    (
        "keep_empty_current",
        "keep the current region when it empties (true)",
    ),
];
const LIFETIME_OPTIONS: &[(&str, &str)] = &[
    ("region_size", "bytes per region (1M)"),
    (
        "keep_empty_current",
        "keep the current region when it empties (true)",
    ),
    ("default_class", "lifetime class of blocks with no hint (0)"),
];

static ENTRIES: &[Entry] = &[
    Entry {
        name: "glibc",
        family: "glibc",
        summary: "a model of glibc 2.36 malloc: tcache, fastbins, bins, top, mmap threshold, trim",
        options: GLIBC_OPTIONS,
        build: |s| {
            let mut t = Tunables::default();
            for (k, v) in s {
                t.set(k, v).map_err(|e| e.to_string())?;
            }
            Ok(Box::new(
                Glibc::with_tunables(t).map_err(|e| e.to_string())?,
            ))
        },
    },
    Entry {
        name: "first-fit",
        family: "free list",
        summary: "textbook free list over brk: first block that fits, address order, coalescing",
        options: &FreeListConfig::OPTIONS,
        build: |s| free_list("first-fit", s),
    },
    Entry {
        name: "next-fit",
        family: "free list",
        summary: "like first-fit, but each search resumes where the last one stopped",
        options: &FreeListConfig::OPTIONS,
        build: |s| free_list("next-fit", s),
    },
    Entry {
        name: "best-fit",
        family: "free list",
        summary: "free list over brk that picks the smallest block that fits",
        options: &FreeListConfig::OPTIONS,
        build: |s| free_list("best-fit", s),
    },
    Entry {
        name: "worst-fit",
        family: "free list",
        summary: "free list over brk that carves from the largest free block",
        options: &FreeListConfig::OPTIONS,
        build: |s| free_list("worst-fit", s),
    },
    Entry {
        name: "segregated",
        family: "size classes",
        summary: "slab pages per size class from mmap, large blocks mapped one by one",
        options: &SegregatedConfig::OPTIONS,
        build: |s| {
            let mut cfg = SegregatedConfig::default();
            for (k, v) in s {
                cfg.set(k, v).map_err(|e| e.to_string())?;
            }
            Ok(Box::new(Segregated::new(cfg).map_err(|e| e.to_string())?))
        },
    },
    Entry {
        name: "mmap",
        family: "mmap",
        summary: "one anonymous mapping per block, page-rounded, munmap on free",
        options: MMAP_OPTIONS,
        build: |s| mapped("mmap", s),
    },
    Entry {
        name: "mmap-guard",
        family: "mmap",
        summary: "one mapping per block ending at a PROT_NONE guard page: overflows fault",
        options: GUARD_OPTIONS,
        build: |s| mapped("mmap-guard", s),
    },
    Entry {
        name: "mmap-cache",
        family: "mmap",
        summary: "one mapping per block, freed mappings kept for reuse up to a limit",
        options: CACHE_OPTIONS,
        build: |s| mapped("mmap-cache", s),
    },
    Entry {
        name: "regions",
        family: "mmap",
        summary: "bump allocation in 1 MiB mapped regions, unmapped when a region empties",
        options: REGION_OPTIONS,
        build: |s| mapped("regions", s),
    },
    Entry {
        name: "lifetime-arenas",
        family: "mmap",
        summary: "regions kept apart per lifetime class, from the program's lifetime hints",
        options: LIFETIME_OPTIONS,
        build: |s| mapped("lifetime-arenas", s),
    },
];
