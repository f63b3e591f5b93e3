//! Every allocator by name: what `--allocator` accepts and `sim list` shows.
//!
//! An [`Entry`] names an allocator, says in one line what it is, points at the option
//! [`Table`] of its family's configuration struct, and builds a fresh instance from
//! `name=value` settings. Every entry builds through the one mechanism of
//! [`malloc::options`]: the settings are applied to the family's configuration
//! ([`Options::apply`]), so sizes, limits, choices, old spellings and error messages
//! are the same for glibc's tunables, the free lists, the size classes and the `mmap`
//! family, and `sim list` prints the options straight from the tables and the default
//! configurations ([`Entry::docs`]).
//!
//! Settings go to every allocator of a run that takes them (`--tunable order=lifo` with
//! `--allocator glibc,first-fit` changes only the free list); [`unknown_keys`] finds
//! the ones nobody takes, [`notes`] the old spellings to mention.
//!
//! The built-in allocators are [`entries`]; a [`Registry`] holds them plus any
//! [`Entry`] made elsewhere (an allocator of a test crate, a student's), which then
//! runs exactly like a built-in one. An allocator whose constructor takes its
//! configuration implements [`Configurable`] in its own crate, and adding it is one
//! line in `ENTRIES` below: `Entry::of::<Allocator>(name, family, summary)`.

use malloc::Allocator;
use malloc::freelist::{Fit, FreeList, FreeListConfig};
use malloc::glibc::Glibc;
use malloc::options::{self, Configurable, Note, OptionDoc, OptionError, Options, Table};
use malloc::segregated::Segregated;
use mmap::{GuardAllocator, LifetimeArenas, MmapAllocator, MmapCacheAllocator, RegionAllocator};
use std::borrow::Cow;
use std::fmt;

/// An option the user gave as `name=value`.
pub type Setting = (String, String);

/// Settings from `(name, value)` pairs written in code.
pub fn settings(pairs: &[(&str, &str)]) -> Vec<Setting> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Builds an allocator from settings whose names its table takes.
pub type Make = fn(&[Setting]) -> Result<Box<dyn Allocator>, OptionError>;

/// One allocator of a registry. Anyone can make one: the fields are the whole recipe.
#[derive(Copy, Clone)]
pub struct Entry {
    /// The name `--allocator` takes.
    pub name: &'static str,
    /// The family: `glibc`, `free list`, `size classes`, `mmap`.
    pub family: &'static str,
    /// One line for `sim list`.
    pub summary: &'static str,
    /// The options it takes: its configuration struct's [`Options::TABLE`].
    pub options: Table,
    /// Its options with the values a default instance runs with, for `sim list`:
    /// usually [`options::default_docs`] of the configuration, or [`options::docs`]
    /// of the configuration `make` starts from.
    pub docs: fn() -> Vec<OptionDoc>,
    /// Builds an instance; [`configured`] does the usual work.
    pub make: Make,
}

impl Entry {
    /// The entry of a [`Configurable`] allocator: its configuration's table, the
    /// default configuration's docs, and [`configured`] from the default.
    pub const fn of<A: Configurable>(
        name: &'static str,
        family: &'static str,
        summary: &'static str,
    ) -> Entry {
        Entry {
            name,
            family,
            summary,
            options: A::Config::TABLE,
            docs: options::default_docs::<A::Config>,
            make: make_default::<A>,
        }
    }

    /// True when the allocator takes option `key` (in any spelling its table accepts).
    pub fn takes(&self, key: &str) -> bool {
        self.options.takes(key)
    }

    /// A fresh instance with those of `settings` it takes (the others are meant for
    /// other allocators of the run).
    pub fn build(&self, settings: &[Setting]) -> Result<Box<dyn Allocator>, RegistryError> {
        let mine: Vec<Setting> = settings
            .iter()
            .filter(|(k, _)| self.takes(k))
            .cloned()
            .collect();
        (self.make)(&mine).map_err(|error| RegistryError::BadSetting {
            allocator: self.name.to_string(),
            error,
        })
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish()
    }
}

/// The usual `make`: `settings` applied to `base`, then `new` on the configuration.
/// Notes about old spellings are dropped here; [`Registry::notes`] reports them once
/// per setting, however many allocators take it.
pub fn configured<C: Options, A: Allocator + 'static>(
    base: C,
    settings: &[Setting],
    new: impl FnOnce(C) -> Result<A, OptionError>,
) -> Result<Box<dyn Allocator>, OptionError> {
    let (config, _notes) = base.apply(settings)?;
    Ok(Box::new(new(config)?))
}

/// [`Entry::of`]'s `make`: `A` from its default configuration with the settings.
fn make_default<A: Configurable>(settings: &[Setting]) -> Result<Box<dyn Allocator>, OptionError> {
    configured(A::Config::default(), settings, A::from_config)
}

/// Why an allocator could not be built or registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// No allocator has this name.
    Unknown {
        /// The name given.
        name: String,
        /// The names that exist.
        known: Vec<&'static str>,
    },
    /// The allocator refused a setting (or the configuration they make).
    BadSetting {
        /// The allocator.
        allocator: String,
        /// What is wrong.
        error: OptionError,
    },
    /// An entry of this name is registered already.
    Duplicate(String),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Unknown { name, known } => {
                let hint = match options::nearest(name, known.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`? "),
                    None => String::new(),
                };
                write!(
                    f,
                    "unknown allocator `{name}` ({hint}known: {})",
                    known.join(", ")
                )
            }
            RegistryError::BadSetting { allocator, error } => {
                write!(f, "allocator {allocator}: {error}")
            }
            RegistryError::Duplicate(name) => {
                write!(f, "an allocator named `{name}` is registered already")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

/// A set of allocators by name: the built-in ones, plus any entries added with
/// [`Registry::with`].
#[derive(Clone, Debug)]
pub struct Registry {
    entries: Cow<'static, [Entry]>,
}

/// The built-in registry.
static BUILTIN: Registry = Registry {
    entries: Cow::Borrowed(ENTRIES),
};

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl Registry {
    /// The built-in allocators.
    pub fn builtin() -> Registry {
        BUILTIN.clone()
    }

    /// This registry plus `entry` (listed last); an error when the name is taken.
    pub fn with(mut self, entry: Entry) -> Result<Registry, RegistryError> {
        if self.entries.iter().any(|e| e.name == entry.name) {
            return Err(RegistryError::Duplicate(entry.name.to_string()));
        }
        self.entries.to_mut().push(entry);
        Ok(self)
    }

    /// Every allocator, in the order `sim list` shows them.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Looks an allocator up by name.
    pub fn find(&self, name: &str) -> Result<&Entry, RegistryError> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| RegistryError::Unknown {
                name: name.to_string(),
                known: self.entries.iter().map(|e| e.name).collect(),
            })
    }

    /// Builds the allocator `name` with those of `settings` it takes (options meant
    /// for other allocators are passed over; check with [`Registry::unknown_keys`] that
    /// each was meant for someone).
    pub fn build(
        &self,
        name: &str,
        settings: &[Setting],
    ) -> Result<Box<dyn Allocator>, RegistryError> {
        self.find(name)?.build(settings)
    }

    /// The entries named `names` that exist (unknown names are [`Registry::build`]'s
    /// to report).
    fn named<'r>(&'r self, names: &'r [&str]) -> impl Iterator<Item = &'r Entry> + 'r {
        names.iter().filter_map(|n| self.find(n).ok())
    }

    /// The keys of `settings` that none of the allocators `names` takes.
    pub fn unknown_keys<'a>(&self, names: &[&str], settings: &'a [Setting]) -> Vec<&'a str> {
        settings
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !self.named(names).any(|e| e.takes(k)))
            .collect()
    }

    /// The option of the allocators `names` nearest to `key`, for a "did you mean".
    pub fn nearest_option(&self, names: &[&str], key: &str) -> Option<&'static str> {
        let all: Vec<&'static str> = self
            .named(names)
            .flat_map(|e| e.options.options.iter().map(|s| s.name))
            .collect();
        options::nearest(key, all)
    }

    /// What to tell the user about `settings` for a run of the allocators `names`: one
    /// note per old spelling, each once, in the order of the settings.
    pub fn notes(&self, names: &[&str], settings: &[Setting]) -> Vec<Note> {
        let mut notes: Vec<Note> = Vec::new();
        for (key, value) in settings {
            if let Some(e) = self.named(names).find(|e| e.takes(key)) {
                for n in e.options.notes(key, value) {
                    if !notes.contains(&n) {
                        notes.push(n);
                    }
                }
            }
        }
        notes
    }
}

/// Every built-in allocator, in the order `sim list` shows them.
pub fn entries() -> &'static [Entry] {
    ENTRIES
}

/// Looks a built-in allocator up by name.
pub fn find(name: &str) -> Result<&'static Entry, RegistryError> {
    BUILTIN.find(name)
}

/// [`Registry::build`] on the built-in allocators.
pub fn build(name: &str, settings: &[Setting]) -> Result<Box<dyn Allocator>, RegistryError> {
    BUILTIN.build(name, settings)
}

/// [`Registry::unknown_keys`] on the built-in allocators.
pub fn unknown_keys<'a>(names: &[&str], settings: &'a [Setting]) -> Vec<&'a str> {
    BUILTIN.unknown_keys(names, settings)
}

/// [`Registry::nearest_option`] on the built-in allocators.
pub fn nearest_option(names: &[&str], key: &str) -> Option<&'static str> {
    BUILTIN.nearest_option(names, key)
}

/// [`Registry::notes`] on the built-in allocators.
pub fn notes(names: &[&str], settings: &[Setting]) -> Vec<Note> {
    BUILTIN.notes(names, settings)
}

/// A free-list preset: the presets' layout with fit policy `fit`, named `name`.
fn free_list(
    fit: Fit,
    name: &'static str,
    settings: &[Setting],
) -> Result<Box<dyn Allocator>, OptionError> {
    configured(FreeListConfig::with_fit(fit), settings, |c| {
        Ok(FreeList::new(c)?.with_name(name))
    })
}

static ENTRIES: &[Entry] = &[
    Entry::of::<Glibc>(
        "glibc",
        "glibc",
        "a model of glibc 2.36 malloc: tcache, fastbins, bins, top, mmap threshold, trim",
    ),
    Entry {
        name: "first-fit",
        family: "free list",
        summary: "textbook free list over brk: first block that fits, address order, coalescing",
        options: FreeListConfig::TABLE,
        docs: || options::docs(&FreeListConfig::with_fit(Fit::First)),
        make: |s| free_list(Fit::First, "first-fit", s),
    },
    Entry {
        name: "next-fit",
        family: "free list",
        summary: "like first-fit, but each search resumes where the last one stopped",
        options: FreeListConfig::TABLE,
        docs: || options::docs(&FreeListConfig::with_fit(Fit::Next)),
        make: |s| free_list(Fit::Next, "next-fit", s),
    },
    Entry {
        name: "best-fit",
        family: "free list",
        summary: "free list over brk that picks the smallest block that fits",
        options: FreeListConfig::TABLE,
        docs: || options::docs(&FreeListConfig::with_fit(Fit::Best)),
        make: |s| free_list(Fit::Best, "best-fit", s),
    },
    Entry {
        name: "worst-fit",
        family: "free list",
        summary: "free list over brk that carves from the largest free block",
        options: FreeListConfig::TABLE,
        docs: || options::docs(&FreeListConfig::with_fit(Fit::Worst)),
        make: |s| free_list(Fit::Worst, "worst-fit", s),
    },
    Entry::of::<Segregated>(
        "segregated",
        "size classes",
        "slab pages per size class from mmap, large blocks mapped one by one",
    ),
    Entry::of::<MmapAllocator>(
        MmapAllocator::NAME,
        "mmap",
        "one anonymous mapping per block, page-rounded, munmap on free",
    ),
    Entry::of::<GuardAllocator>(
        GuardAllocator::NAME,
        "mmap",
        "one mapping per block ending at a PROT_NONE guard page: overflows fault",
    ),
    Entry::of::<MmapCacheAllocator>(
        MmapCacheAllocator::NAME,
        "mmap",
        "one mapping per block, freed mappings kept for reuse up to a limit",
    ),
    Entry::of::<RegionAllocator>(
        RegionAllocator::NAME,
        "mmap",
        "bump allocation in 1 MiB mapped regions, unmapped when a region empties",
    ),
    Entry::of::<LifetimeArenas>(
        LifetimeArenas::NAME,
        "mmap",
        "regions kept apart per lifetime class, from the program's lifetime hints",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Kernel, KernelConfig, PAGE_SIZE, Syscall};
    use mmap::MmapConfig;

    #[test]
    fn every_entry_builds_with_defaults_and_names_itself() {
        for e in entries() {
            let a = build(e.name, &[]).unwrap();
            assert_eq!(a.name(), e.name);
            let docs = (e.docs)();
            let names: Vec<&str> = docs.iter().map(|d| d.name).collect();
            assert_eq!(names, e.options.names(), "{}", e.name);
        }
        let mut names: Vec<&str> = entries().iter().map(|e| e.name).collect();
        names.dedup();
        assert_eq!(names.len(), entries().len(), "names are unique");
    }

    #[test]
    fn every_family_is_registered() {
        let has = |name: &str| find(name).is_ok();
        for name in malloc::freelist::PRESETS {
            assert!(has(name), "{name}");
        }
        for name in [
            MmapAllocator::NAME,
            GuardAllocator::NAME,
            MmapCacheAllocator::NAME,
            RegionAllocator::NAME,
            LifetimeArenas::NAME,
            "glibc",
            "segregated",
        ] {
            assert!(has(name), "{name}");
        }
    }

    /// The options change what the allocator does, not only whether it builds: a 64 KiB
    /// region holds blocks that a 1 MiB one would, and a freed region is unmapped with
    /// exactly 64 KiB.
    #[test]
    fn mmap_options_reach_the_config() {
        let mut k = Kernel::new(KernelConfig::default());
        let mut a = build("regions", &settings(&[("region_size", "64K")])).unwrap();
        let p = a.malloc(&mut k, 100).unwrap();
        assert_eq!(a.stats().footprint, 64 * 1024, "one 64 KiB region");
        // 112 bytes are taken: the rest (65424 bytes) cannot hold 65472 more, so the
        // next block maps a second region.
        let q = a.malloc(&mut k, 64 * 1024 - 64).unwrap();
        assert_eq!(a.stats().footprint, 2 * 64 * 1024);
        a.free(&mut k, p).unwrap();
        a.free(&mut k, q).unwrap();
        assert_eq!(k.counters().returned.munmap, 64 * 1024);

        let mut k = Kernel::new(KernelConfig::default());
        let mut a = build("mmap", &settings(&[("populate", "true")])).unwrap();
        a.malloc(&mut k, 3 * PAGE_SIZE).unwrap();
        assert_eq!(
            k.mem().rss,
            3 * PAGE_SIZE,
            "MAP_POPULATE faulted the pages in"
        );
        // Linux counts one minor fault per populated page (getrusage shows them).
        assert_eq!(k.counters().minor_faults, 3);

        let mut k = Kernel::new(KernelConfig::default());
        let mut a = build("mmap-cache", &settings(&[("max_count", "0")])).unwrap();
        let p = a.malloc(&mut k, 100).unwrap();
        a.free(&mut k, p).unwrap();
        assert_eq!(
            k.counters().syscall(Syscall::Munmap),
            1,
            "no cache: unmapped"
        );

        let e = build("regions", &settings(&[("region_size", "1T")]))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "allocator regions: option region_size: `1T` is over the limit of 1 GiB"
        );
        let e = build("regions", &settings(&[("region_size", "many")]))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "allocator regions: option region_size: `many` is not a size (write it as 4096, 0x1000, 4K, 4KiB or 1.5M)"
        );
    }

    #[test]
    fn settings_go_to_the_allocators_that_take_them() {
        let s = settings(&[("mmap_threshold", "64K"), ("order", "lifo")]);
        assert!(build("glibc", &s).is_ok());
        assert!(build("first-fit", &s).is_ok());
        assert!(unknown_keys(&["glibc", "first-fit"], &s).is_empty());
        assert_eq!(unknown_keys(&["glibc"], &s), vec!["order"]);
        // The settings really reach the allocators: a 200 KiB request that the default
        // glibc maps comes from the heap under a 1 MiB threshold ...
        let mapped = |s: &[Setting]| {
            let mut k = Kernel::new(KernelConfig::default());
            let mut g = build("glibc", s).unwrap();
            g.malloc(&mut k, 200 * 1024).unwrap();
            g.stats().hblks
        };
        assert_eq!(mapped(&[]), 1);
        assert_eq!(mapped(&settings(&[("mmap_threshold", "1M")])), 0);
        // ... and a LIFO free list reuses the block freed last.
        let mut k = Kernel::new(KernelConfig::default());
        let mut f = build("first-fit", &s).unwrap();
        let (a, _, c) = (
            f.malloc(&mut k, 64).unwrap(),
            f.malloc(&mut k, 64).unwrap(),
            f.malloc(&mut k, 64).unwrap(),
        );
        f.free(&mut k, a).unwrap();
        f.free(&mut k, c).unwrap();
        assert_eq!(f.malloc(&mut k, 64).unwrap(), c, "last freed, first reused");
        let bad = settings(&[("mmap_threshold", "lots")]);
        assert!(matches!(
            build("glibc", &bad),
            Err(RegistryError::BadSetting { .. })
        ));
        assert!(matches!(
            build("nope", &[]),
            Err(RegistryError::Unknown { .. })
        ));
        let s = settings(&[("glibc.malloc.mxfast", "0")]);
        assert!(unknown_keys(&["glibc"], &s).is_empty());
    }

    #[test]
    fn old_spellings_are_taken_and_noted_once() {
        let s = settings(&[
            ("linear-max", "64"),
            ("order", "size-asc"),
            ("max_small", "16K"),
        ]);
        let names = ["segregated", "first-fit", "best-fit"];
        assert!(unknown_keys(&names, &s).is_empty());
        let notes: Vec<String> = notes(&names, &s).iter().map(|n| n.to_string()).collect();
        assert_eq!(
            notes,
            [
                "option `linear-max` is now spelled `linear_max`",
                "option order: `size-asc` is now spelled `size_asc`"
            ]
        );
        assert!(build("segregated", &s).is_ok());
        assert_eq!(nearest_option(&names, "ordr"), Some("order"));
        assert_eq!(
            nearest_option(&["glibc"], "mmap_treshold"),
            Some("mmap_threshold")
        );
    }

    #[test]
    fn a_registry_takes_new_entries_once() {
        let extra = Entry {
            name: "mmap-populated",
            family: "mmap",
            summary: "mmap with MAP_POPULATE",
            options: MmapConfig::TABLE,
            docs: || options::docs(&MmapConfig { populate: true }),
            make: |s| {
                configured(MmapConfig { populate: true }, s, |c| {
                    Ok(MmapAllocator::new(c))
                })
            },
        };
        let r = Registry::builtin().with(extra).unwrap();
        assert_eq!(r.entries().len(), entries().len() + 1);
        let mut k = Kernel::new(KernelConfig::default());
        let mut a = r.build("mmap-populated", &[]).unwrap();
        a.malloc(&mut k, PAGE_SIZE).unwrap();
        assert_eq!(k.counters().populated_pages, 1);
        assert!(r.build("glibc", &[]).is_ok());
        assert_eq!(
            r.clone().with(extra).err().unwrap(),
            RegistryError::Duplicate("mmap-populated".into())
        );
        assert!(
            matches!(
                build("mmap-populated", &[]),
                Err(RegistryError::Unknown { .. })
            ),
            "the built-ins are unchanged"
        );
    }
}
