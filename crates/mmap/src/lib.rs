//! Allocators that get every block (or region) straight from `mmap`.
//!
//! `malloc` implementations usually carve small blocks out of a heap and call the
//! kernel rarely. The allocators here go the other way and ask the kernel directly,
//! which makes the costs and benefits of `mmap` visible one mechanism at a time: whole
//! pages per block, a syscall per call, memory returned at once, one VMA per mapping.
//!
//! # Brief overview
//! - [`MmapAllocator`] (`mmap`): one anonymous mapping per block, `munmap` on free,
//!   `mremap` on realloc. The strategy glibc uses for large blocks, for every block.
//! - [`GuardAllocator`] (`mmap-guard`): the same plus a `PROT_NONE` guard page right
//!   after each block, so that an overflow is a segmentation fault (Electric Fence).
//! - [`MmapCacheAllocator`] (`mmap-cache`): freed mappings are kept, up to a limit, and
//!   reused without a syscall.
//! - [`RegionAllocator`] (`regions`): bump allocation in large regions; a region is
//!   unmapped when all its blocks are freed.
//! - [`LifetimeArenas`] (`lifetime-arenas`): regions kept apart by the program's
//!   lifetime hints, so short-lived blocks never pin regions of long-lived ones.
//! - [`ALLOCATORS`], [`by_name`], [`with_config`]: the registry `sim` uses.
//!
//! # Example
//!
//! ```
//! use kernel::{Kernel, KernelConfig, Syscall};
//! use malloc::Allocator;
//!
//! let mut kernel = Kernel::new(KernelConfig::default());
//! let mut a = mmap::by_name("mmap").expect("registered");
//! let p = a.malloc(&mut kernel, 100).unwrap();
//! // A 100-byte request holds a whole page: page rounding is internal fragmentation.
//! assert_eq!(a.stats().allocated, 4096);
//! a.free(&mut kernel, p).unwrap();
//! // The page went back to the OS at once, with one munmap.
//! assert_eq!(kernel.counters().syscall(Syscall::Munmap), 1);
//! assert_eq!(kernel.mem().mapped, 0);
//! ```
//!
//! Each allocator's module ([`per_block`], [`guard`], [`cache`], [`regions`],
//! [`lifetime`]) explains its mechanism and policy; the types are re-exported here.
//!
//! Every allocator implements [`malloc::Allocator`] on a [`kernel::Kernel`]: memory
//! comes only from syscalls, every pointer is 16-aligned, every call charges the cost
//! model's `alloc_op_ns` of user time, and a bad `free` changes nothing. None of them
//! writes metadata into simulated memory (each keeps its tables on the side; the module
//! docs say what a real one would store in-band). This crate knows nothing about
//! workloads, metric sampling or files.

pub mod cache;
mod common;
pub mod guard;
pub mod lifetime;
pub mod per_block;
pub mod regions;

pub use cache::{CacheCounters, CachedPages, MmapCacheAllocator, MmapCacheConfig};
pub use common::{ALIGN, ConfigError, MAX_REQUEST};
pub use guard::{GuardAllocator, GuardConfig, GuardPlacement};
pub use lifetime::{LifetimeArenas, LifetimeConfig};
pub use per_block::{MmapAllocator, MmapConfig};
pub use regions::{DEFAULT_REGION_SIZE, RegionAllocator, RegionConfig, RegionInfo};

use malloc::Allocator;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// This crate's allocators: registry name and a one-line description (for `sim list`).
pub const ALLOCATORS: &[(&str, &str)] = &[
    (
        MmapAllocator::NAME,
        "one anonymous mapping per block: munmap on free, mremap on realloc",
    ),
    (
        GuardAllocator::NAME,
        "one mapping per block ending at a PROT_NONE guard page: overflows fault",
    ),
    (
        MmapCacheAllocator::NAME,
        "one mapping per block, freed mappings cached for reuse (64 mappings, 4 MiB)",
    ),
    (
        RegionAllocator::NAME,
        "bump allocation in 1 MiB mapped regions, each unmapped when all its blocks are freed",
    ),
    (
        LifetimeArenas::NAME,
        "regions kept apart by lifetime class (the workload's hints), claim 11",
    ),
];

/// The allocator registered as `name`, with its default options.
pub fn by_name(name: &str) -> Option<Box<dyn Allocator>> {
    with_config(name, "{}").ok()
}

/// The allocator registered as `name`, with options from a JSON object whose fields
/// are those of its config struct ([`MmapConfig`], [`GuardConfig`],
/// [`MmapCacheConfig`], [`RegionConfig`], [`LifetimeConfig`]). Missing fields keep their
/// defaults; unknown fields are an error, so a typo is not silently ignored.
pub fn with_config(name: &str, json: &str) -> Result<Box<dyn Allocator>, ConfigError> {
    Ok(match name {
        MmapAllocator::NAME => Box::new(MmapAllocator::new(parse(MmapAllocator::NAME, json)?)),
        GuardAllocator::NAME => Box::new(GuardAllocator::new(parse(GuardAllocator::NAME, json)?)),
        MmapCacheAllocator::NAME => Box::new(MmapCacheAllocator::new(parse(
            MmapCacheAllocator::NAME,
            json,
        )?)),
        RegionAllocator::NAME => {
            Box::new(RegionAllocator::new(parse(RegionAllocator::NAME, json)?)?)
        }
        LifetimeArenas::NAME => Box::new(LifetimeArenas::new(parse(LifetimeArenas::NAME, json)?)?),
        _ => {
            return Err(ConfigError::UnknownAllocator {
                name: name.to_string(),
            });
        }
    })
}

/// The default options of the allocator registered as `name`, as pretty JSON (what
/// [`with_config`] accepts), or `None` for an unknown name.
pub fn default_config_json(name: &str) -> Option<String> {
    fn json<T: Serialize>(value: &T) -> Option<String> {
        serde_json::to_string_pretty(value).ok()
    }
    match name {
        MmapAllocator::NAME => json(&MmapConfig::default()),
        GuardAllocator::NAME => json(&GuardConfig::default()),
        MmapCacheAllocator::NAME => json(&MmapCacheConfig::default()),
        RegionAllocator::NAME => json(&RegionConfig::default()),
        LifetimeArenas::NAME => json(&LifetimeConfig::default()),
        _ => None,
    }
}

fn parse<T: DeserializeOwned>(allocator: &'static str, json: &str) -> Result<T, ConfigError> {
    serde_json::from_str(json).map_err(|e| ConfigError::Json {
        allocator,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_name_builds_and_reports_its_name() {
        for &(name, description) in ALLOCATORS {
            let a = by_name(name).unwrap_or_else(|| panic!("{name} builds"));
            assert_eq!(a.name(), name);
            assert!(!description.is_empty());
            let defaults = default_config_json(name).unwrap();
            assert!(with_config(name, &defaults).is_ok(), "{name}: {defaults}");
        }
        assert!(by_name("glibc").is_none());
        assert!(default_config_json("glibc").is_none());
    }

    #[test]
    fn configs_parse_with_defaults_and_reject_typos() {
        assert!(with_config("regions", r#"{"region_size": 65536}"#).is_ok());
        assert!(with_config("mmap-cache", r#"{"pages": "dont_need", "max_count": 8}"#).is_ok());
        assert!(with_config("mmap-guard", r#"{"placement": "start"}"#).is_ok());
        match with_config("mmap-cache", r#"{"max_cont": 8}"#) {
            Err(ConfigError::Json { allocator, message }) => {
                assert_eq!(allocator, "mmap-cache");
                assert!(message.contains("max_cont"), "{message}");
            }
            other => panic!("expected a JSON error, got {:?}", other.err()),
        }
        assert_eq!(
            with_config("regions", r#"{"region_size": 1000}"#).err(),
            Some(ConfigError::RegionSize {
                allocator: "regions",
                size: 1000
            })
        );
        assert_eq!(
            with_config("nope", "{}").err(),
            Some(ConfigError::UnknownAllocator {
                name: "nope".into()
            })
        );
    }
}
