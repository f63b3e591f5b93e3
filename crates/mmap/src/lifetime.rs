//! `lifetime-arenas`: the region allocator with one set of regions per lifetime class.
//!
//! A region goes back to the OS only when *all* its blocks are dead. If short-lived and
//! long-lived blocks are bumped into the same regions, one surviving long-lived block
//! keeps a whole region of dead short-lived ones mapped and resident. When the program
//! says how long a block will live (the `lifetime` hint of
//! [`Allocator::malloc_hinted`], 0 = shortest-lived), this allocator keeps each class in
//! regions of its own: regions of short-lived blocks empty quickly and are unmapped,
//! and long-lived blocks sit densely together. This is the classic argument for
//! lifetime-segregated arenas (Hanson's arenas, Barrett and Zorn's lifetime prediction,
//! request/frame arenas in servers and games), tested as claim 11 against plain
//! [`RegionAllocator`](crate::RegionAllocator) on the `lifetimes` workload.
//!
//! Plain `malloc` (no hint) goes to `default_class` (0 by default). With no hints at all
//! the allocator therefore behaves exactly like `regions` with the same options, which
//! makes the comparison fair: any difference comes from the hints alone. A `realloc`
//! keeps the block in its class. The regions of each class are created on the class's
//! first block; each class has its own current region, so `n` classes in use hold up
//! to `n` partly used regions: the cost of segregation.

use crate::common::charge_call;
use crate::regions::{
    DEFAULT_REGION_SIZE, KEEP_EMPTY_CURRENT, REGION_SIZE, RegionInfo, RegionSet, check_region_size,
};
use kernel::{Addr, Kernel};
use malloc::options::{Configurable, Kind, OptionError, Options, Spec, Table};
use malloc::{AllocError, Allocator, Block, HeapStats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Options of [`LifetimeArenas`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifetimeConfig {
    /// Bytes of each region: a non-zero multiple of the page size. Default 1 MiB, as
    /// in `regions`.
    pub region_size: u64,
    /// Keep each class's current region mapped (and reset) when its last block is
    /// freed. Default `true`, as in `regions`.
    pub keep_empty_current: bool,
    /// The class of blocks allocated with plain `malloc`. Default 0.
    pub default_class: u8,
}

impl Default for LifetimeConfig {
    fn default() -> Self {
        LifetimeConfig {
            region_size: DEFAULT_REGION_SIZE,
            keep_empty_current: true,
            default_class: 0,
        }
    }
}

impl Options for LifetimeConfig {
    const TABLE: Table = Table {
        prefix: "",
        options: &[
            REGION_SIZE,
            KEEP_EMPTY_CURRENT,
            Spec::new(
                "default_class",
                Kind::count_at_most(u8::MAX as u64),
                "lifetime class of blocks allocated without a hint",
            ),
        ],
    };

    fn check(&self) -> Result<(), OptionError> {
        check_region_size(self.region_size)
    }
}

/// Regions segregated by lifetime class; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct LifetimeArenas {
    config: LifetimeConfig,
    /// One region set per class seen so far.
    sets: BTreeMap<u8, RegionSet>,
    /// Live pointer -> its class, so `free` finds the right set.
    class_of: BTreeMap<Addr, u8>,
}

impl Default for LifetimeArenas {
    fn default() -> Self {
        LifetimeArenas::new(LifetimeConfig::default()).expect("the default config is valid")
    }
}

impl LifetimeArenas {
    /// The registry name.
    pub const NAME: &'static str = "lifetime-arenas";

    /// An allocator with these options; fails when `region_size` is not a whole number
    /// of pages from one page to [`MAX_REGION_SIZE`](crate::MAX_REGION_SIZE).
    pub fn new(config: LifetimeConfig) -> Result<LifetimeArenas, OptionError> {
        config.validate()?;
        Ok(LifetimeArenas {
            config,
            sets: BTreeMap::new(),
            class_of: BTreeMap::new(),
        })
    }

    /// The options it runs with.
    pub fn config(&self) -> &LifetimeConfig {
        &self.config
    }

    /// The lifetime class of the live block at `ptr`.
    pub fn class_of(&self, ptr: Addr) -> Option<u8> {
        self.class_of.get(&ptr).copied()
    }

    /// Every region now with its class, by class and then address.
    pub fn regions(&self) -> Vec<(u8, RegionInfo)> {
        self.sets
            .iter()
            .flat_map(|(&class, set)| set.regions().map(move |r| (class, r)))
            .collect()
    }

    /// The accounting of one class alone.
    pub fn class_stats(&self, class: u8) -> HeapStats {
        self.sets
            .get(&class)
            .map_or_else(HeapStats::default, RegionSet::stats)
    }

    fn alloc_in(&mut self, kernel: &mut Kernel, size: u64, class: u8) -> Result<Addr, AllocError> {
        charge_call(kernel);
        let (region_size, keep) = (self.config.region_size, self.config.keep_empty_current);
        let set = self
            .sets
            .entry(class)
            .or_insert_with(|| RegionSet::new(region_size, keep));
        let ptr = set.malloc(kernel, size)?;
        self.class_of.insert(ptr, class);
        Ok(ptr)
    }

    /// The set holding `ptr`, or `InvalidPointer`.
    fn set_of(&mut self, ptr: Addr) -> Result<(u8, &mut RegionSet), AllocError> {
        let class = self
            .class_of
            .get(&ptr)
            .copied()
            .ok_or(AllocError::InvalidPointer { ptr })?;
        let set = self
            .sets
            .get_mut(&class)
            .expect("a live block's class has a set");
        debug_assert!(set.owns(ptr));
        Ok((class, set))
    }
}

impl Configurable for LifetimeArenas {
    type Config = LifetimeConfig;

    fn from_config(config: LifetimeConfig) -> Result<LifetimeArenas, OptionError> {
        LifetimeArenas::new(config)
    }
}

impl Allocator for LifetimeArenas {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        self.alloc_in(kernel, size, self.config.default_class)
    }

    fn malloc_hinted(
        &mut self,
        kernel: &mut Kernel,
        size: u64,
        lifetime: u8,
    ) -> Result<Addr, AllocError> {
        self.alloc_in(kernel, size, lifetime)
    }

    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        charge_call(kernel);
        let (_, set) = self.set_of(ptr)?;
        set.free(kernel, ptr)?;
        self.class_of.remove(&ptr);
        Ok(())
    }

    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        charge_call(kernel);
        let (class, set) = self.set_of(ptr)?;
        let new = set.realloc(kernel, ptr, size)?;
        self.class_of.remove(&ptr);
        self.class_of.insert(new, class);
        Ok(new)
    }

    /// Unmaps every class's current region that is empty.
    fn trim(&mut self, kernel: &mut Kernel, _pad: u64) -> Result<bool, AllocError> {
        charge_call(kernel);
        let mut released = false;
        for set in self.sets.values_mut() {
            released |= set.trim(kernel)?;
        }
        Ok(released)
    }

    /// The sum over classes of what [`RegionAllocator`](crate::RegionAllocator)
    /// reports; `largest_free` is the largest current-region tail of any class.
    fn stats(&self) -> HeapStats {
        let mut total = HeapStats::default();
        for s in self.sets.values().map(RegionSet::stats) {
            total.hblks += s.hblks;
            total.hblkhd += s.hblkhd;
            total.uordblks += s.uordblks;
            total.fordblks += s.fordblks;
            total.allocated += s.allocated;
            total.footprint += s.footprint;
            total.largest_free = total.largest_free.max(s.largest_free);
        }
        total
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        let start = out.len();
        for set in self.sets.values() {
            set.blocks(out);
        }
        out[start..].sort_by_key(|b| b.addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RegionAllocator, RegionConfig};
    use kernel::{KernelConfig, PAGE_SIZE, Syscall};

    fn kernel() -> Kernel {
        Kernel::new(KernelConfig::default())
    }

    fn config() -> LifetimeConfig {
        LifetimeConfig {
            region_size: 4 * PAGE_SIZE,
            ..LifetimeConfig::default()
        }
    }

    #[test]
    fn classes_live_in_separate_regions() {
        let mut k = kernel();
        let mut a = LifetimeArenas::new(config()).unwrap();
        let short = a.malloc_hinted(&mut k, 64, 0).unwrap();
        let long = a.malloc_hinted(&mut k, 64, 3).unwrap();
        let plain = a.malloc(&mut k, 64).unwrap();
        assert_eq!(a.class_of(short), Some(0));
        assert_eq!(a.class_of(long), Some(3));
        assert_eq!(a.class_of(plain), Some(0), "plain malloc is class 0");
        assert_eq!(plain, short + 64, "same class, same region");
        let regions = a.regions();
        assert_eq!(regions.len(), 2);
        assert_eq!((regions[0].0, regions[1].0), (0, 3));
        assert_eq!(a.class_stats(3).allocated, 64);
        assert_eq!(a.stats().footprint, 8 * PAGE_SIZE);
        assert_eq!(a.stats().footprint, k.mem().mapped);
    }

    /// The claim-11 mechanism in miniature: fill regions with short-lived blocks, one
    /// long-lived block among them, then free the short-lived ones.
    fn pinning(hinted: bool) -> (u64, u64) {
        let mut k = kernel();
        let mut a = LifetimeArenas::new(config()).unwrap();
        let mut short = Vec::new();
        let mut long = Vec::new();
        // 64 blocks of 1 KiB, 16 to a region; every 16th is long-lived.
        for i in 0..64 {
            let class = if i % 16 == 15 { 1 } else { 0 };
            let p = if hinted {
                a.malloc_hinted(&mut k, 1024, class).unwrap()
            } else {
                a.malloc(&mut k, 1024).unwrap()
            };
            if class == 1 { &mut long } else { &mut short }.push(p);
        }
        for p in short {
            a.free(&mut k, p).unwrap();
        }
        assert_eq!(a.stats().allocated, 4 * 1024);
        assert_eq!(a.stats().footprint, k.mem().mapped);
        (a.stats().footprint, k.counters().returned.munmap)
    }

    #[test]
    fn hints_stop_long_lived_blocks_pinning_short_lived_regions() {
        let (unhinted, _) = pinning(false);
        let (hinted, returned) = pinning(true);
        // Unhinted: each of the 4 regions holds one long-lived block: 16 pages stay
        // mapped for 4 KiB of live data.
        assert_eq!(unhinted, 16 * PAGE_SIZE);
        // Hinted: the 4 long-lived blocks share one class-1 region; of the 4 class-0
        // regions the 3 retired ones were unmapped and the current one was kept.
        assert_eq!(hinted, 8 * PAGE_SIZE);
        assert_eq!(returned, 12 * PAGE_SIZE);
    }

    #[test]
    fn without_hints_it_matches_regions_exactly() {
        let (mut k1, mut k2) = (kernel(), kernel());
        let mut la = LifetimeArenas::new(config()).unwrap();
        let mut ra = RegionAllocator::new(RegionConfig {
            region_size: 4 * PAGE_SIZE,
            keep_empty_current: true,
        })
        .unwrap();
        let mut live = Vec::new();
        for i in 0..60u64 {
            let size = (i * 737) % 6000;
            let p1 = la.malloc(&mut k1, size).unwrap();
            let p2 = ra.malloc(&mut k2, size).unwrap();
            assert_eq!(p1, p2);
            live.push(p1);
            if i % 3 == 2 {
                let victim = live.remove((i as usize * 7) % live.len());
                la.free(&mut k1, victim).unwrap();
                ra.free(&mut k2, victim).unwrap();
            }
        }
        assert_eq!(la.stats(), ra.stats());
        assert_eq!(k1.counters(), k2.counters());
    }

    #[test]
    fn realloc_keeps_the_class_and_bad_pointers_are_rejected() {
        let mut k = kernel();
        let mut a = LifetimeArenas::new(config()).unwrap();
        let _other = a.malloc_hinted(&mut k, 16, 2).unwrap();
        let p = a.malloc_hinted(&mut k, 16, 5).unwrap();
        let _pin = a.malloc_hinted(&mut k, 16, 5).unwrap();
        let q = a.realloc(&mut k, p, 100).unwrap();
        assert_ne!(q, p);
        assert_eq!(a.class_of(q), Some(5));
        assert_eq!(a.class_of(p), None);
        assert_eq!(
            a.free(&mut k, p),
            Err(AllocError::InvalidPointer { ptr: p })
        );
        assert_eq!(
            a.realloc(&mut k, p, 1),
            Err(AllocError::InvalidPointer { ptr: p })
        );
        a.free(&mut k, q).unwrap();
        assert_eq!(k.counters().syscall(Syscall::Munmap), 0);
        assert!(
            LifetimeArenas::new(LifetimeConfig {
                region_size: 3,
                ..LifetimeConfig::default()
            })
            .is_err()
        );
    }
}
