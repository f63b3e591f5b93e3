//! Every allocator by name: what `--allocator` accepts and `sim list` shows.
//!
//! An entry names the allocator, says in one line what it is, and builds a fresh
//! instance from `key=value` options (glibc tunables, free-list policies, ...).

use malloc::Allocator;
use malloc::freelist::{FreeList, FreeListConfig};
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

static ENTRIES: &[Entry] = &[
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
];
