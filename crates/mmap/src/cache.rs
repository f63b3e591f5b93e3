//! `mmap-cache`: one mapping per block, but `free` keeps the mapping for reuse instead
//! of unmapping it at once.
//!
//! Plain `mmap` pays an `mmap` and an `munmap` (two mode switches, VMA work, a TLB
//! flush, and page faults again on the next block) for every block. Keeping a few freed
//! mappings and handing them out again turns a malloc/free pair of the same size into
//! two table operations with no syscall: the idea behind jemalloc's and mimalloc's
//! retained extents and segments, and behind glibc's dynamic mmap threshold (which
//! gives up on mmap for sizes that keep coming back).
//!
//! # Policy
//!
//! - **Reuse.** A request of `q` pages takes a cached mapping of `p` pages when
//!   `q <= p <= q + q * max_excess_percent / 100`: the smallest such `p`, and among
//!   mappings of that size the most recently freed one (its pages are the most likely
//!   to be resident and in the caches). A larger mapping is handed out whole, so the
//!   excess pages count as internal fragmentation in `allocated`. The default,
//!   `max_excess_percent = 0`, reuses only exact page counts: small requests all need
//!   one page and so already share one size, and larger slack only adds waste.
//! - **Limits.** The cache holds at most `max_count` mappings and `max_bytes` bytes;
//!   after a free pushes it over either limit, the oldest cached mappings are unmapped
//!   until it fits. A mapping larger than `max_bytes` is never cached.
//! - **Cached pages.** By default they stay resident: RSS does not drop on free, which
//!   is the price of the fast reuse (claim 8 holds only for plain `mmap`). With
//!   [`CachedPages::DontNeed`] the allocator calls `madvise(MADV_DONTNEED)` on each
//!   freed mapping: the frames go back at once (one syscall, cheaper than munmap+mmap),
//!   the addresses stay reserved, and the next user of the mapping faults in zeroed
//!   pages. [`CachedPages::Free`] uses `MADV_FREE`: the kernel takes the frames back
//!   only when memory runs short.
//!
//! `realloc` works as in `mmap`: `mremap` when the page count changes.

use crate::common::{LiveMappings, charge_call, pages_for, syscall_error};
use kernel::{Addr, Advice, Kernel, MapFlags, PAGE_SIZE, Prot};
use malloc::options::{Choice, Configurable, Kind, OptionError, Options, Spec, Table};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happens to the pages of a mapping when it enters the cache.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CachedPages {
    /// Nothing: the pages stay resident and keep their contents. The default.
    #[default]
    Keep,
    /// `madvise(MADV_DONTNEED)`: the frames are freed now; reuse faults in zeroed pages.
    DontNeed,
    /// `madvise(MADV_FREE)`: the frames may be reclaimed lazily under memory pressure.
    Free,
}

/// Options of [`MmapCacheAllocator`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MmapCacheConfig {
    /// Most cached mappings (0 disables the cache). Default 64.
    pub max_count: u64,
    /// Most bytes of cached mappings (0 disables the cache). Default 4 MiB.
    pub max_bytes: u64,
    /// How much larger than a request (in percent of its page count) a cached mapping
    /// may be and still be reused, at most 1000. Default 0: exact page counts only.
    pub max_excess_percent: u32,
    /// What happens to cached pages. Default [`CachedPages::Keep`].
    pub pages: CachedPages,
}

impl Default for MmapCacheConfig {
    fn default() -> Self {
        MmapCacheConfig {
            max_count: 64,
            max_bytes: 4 << 20,
            max_excess_percent: 0,
            pages: CachedPages::Keep,
        }
    }
}

impl Options for MmapCacheConfig {
    const TABLE: Table = Table {
        prefix: "",
        options: &[
            Spec::new("max_count", Kind::COUNT, "most freed mappings kept"),
            Spec::new("max_bytes", Kind::SIZE, "most bytes of freed mappings kept"),
            Spec::new(
                "max_excess_percent",
                Kind::Percent { max: 1000 },
                "reuse a cached mapping up to this much larger than the request",
            ),
            Spec::new(
                "pages",
                Kind::Choice(&[
                    Choice::new("keep", &[]),
                    Choice::new("dont_need", &["dontneed"]),
                    Choice::new("free", &[]),
                ]),
                "what happens to cached pages: kept, MADV_DONTNEED or MADV_FREE",
            ),
        ],
    };
}

/// How the cache has done so far.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCounters {
    /// Mallocs served from the cache (no syscall).
    pub hits: u64,
    /// Mallocs that had to call `mmap`.
    pub misses: u64,
    /// Frees that put the mapping in the cache.
    pub cached: u64,
    /// Cached mappings unmapped to respect the limits, and freed mappings too large
    /// to cache.
    pub evictions: u64,
}

/// A freed mapping waiting for reuse.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Cached {
    addr: Addr,
    pages: u64,
}

/// One mapping per block with a cache of freed mappings; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct MmapCacheAllocator {
    config: MmapCacheConfig,
    live: LiveMappings,
    /// Cached mappings by age: insertion sequence number -> mapping (oldest first).
    by_age: BTreeMap<u64, Cached>,
    /// The same mappings by size: (pages, sequence number) -> address.
    by_pages: BTreeMap<(u64, u64), Addr>,
    cached_bytes: u64,
    next_seq: u64,
    counters: CacheCounters,
}

impl MmapCacheAllocator {
    /// The registry name.
    pub const NAME: &'static str = "mmap-cache";

    /// An allocator with these options.
    pub fn new(config: MmapCacheConfig) -> MmapCacheAllocator {
        MmapCacheAllocator {
            config,
            ..MmapCacheAllocator::default()
        }
    }

    /// The options it runs with.
    pub fn config(&self) -> &MmapCacheConfig {
        &self.config
    }

    /// Hits, misses and evictions so far.
    pub fn cache_counters(&self) -> CacheCounters {
        self.counters
    }

    /// Mappings and bytes in the cache now.
    pub fn cached(&self) -> (u64, u64) {
        (self.by_age.len() as u64, self.cached_bytes)
    }

    /// The largest page count a cached mapping may have to serve `pages` pages.
    fn max_fit(&self, pages: u64) -> u64 {
        let excess = pages.saturating_mul(u64::from(self.config.max_excess_percent)) / 100;
        pages.saturating_add(excess)
    }

    /// Takes the best cached mapping for `pages` pages out of the cache.
    fn take(&mut self, pages: u64) -> Option<Cached> {
        let (&(p, _), _) = self
            .by_pages
            .range((pages, 0)..=(self.max_fit(pages), u64::MAX))
            .next()?;
        // Among mappings of the smallest fitting size, the most recently freed.
        let (&(p, seq), &addr) = self.by_pages.range((p, 0)..=(p, u64::MAX)).next_back()?;
        self.by_pages.remove(&(p, seq));
        self.by_age.remove(&seq);
        self.cached_bytes -= p * PAGE_SIZE;
        Some(Cached { addr, pages: p })
    }

    fn put(&mut self, c: Cached) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_age.insert(seq, c);
        self.by_pages.insert((c.pages, seq), c.addr);
        self.cached_bytes += c.pages * PAGE_SIZE;
    }

    /// Unmaps the oldest cached mappings until the cache holds at most `max_count`
    /// mappings and `max_bytes` bytes. A failed
    /// munmap (possible only at `vm.max_map_count`, when unmapping splits a merged
    /// VMA) leaves that mapping cached and stops the eviction; it is tried again on
    /// the next free.
    fn evict(&mut self, kernel: &mut Kernel, max_count: u64, max_bytes: u64) {
        while self.by_age.len() as u64 > max_count || self.cached_bytes > max_bytes {
            let Some((&seq, &c)) = self.by_age.iter().next() else {
                return;
            };
            if kernel.munmap(c.addr, c.pages * PAGE_SIZE).is_err() {
                return;
            }
            self.by_age.remove(&seq);
            self.by_pages.remove(&(c.pages, seq));
            self.cached_bytes -= c.pages * PAGE_SIZE;
            self.counters.evictions += 1;
        }
    }
}

impl Configurable for MmapCacheAllocator {
    type Config = MmapCacheConfig;

    fn from_config(config: MmapCacheConfig) -> Result<MmapCacheAllocator, OptionError> {
        Ok(MmapCacheAllocator::new(config))
    }
}

impl Allocator for MmapCacheAllocator {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        charge_call(kernel);
        let pages = pages_for(size).ok_or(AllocError::OutOfMemory { size })?;
        if let Some(c) = self.take(pages) {
            self.counters.hits += 1;
            self.live.insert(c.addr, c.pages * PAGE_SIZE);
            return Ok(c.addr);
        }
        self.counters.misses += 1;
        let len = pages * PAGE_SIZE;
        let addr = kernel
            .mmap(0, len, Prot::RW, MapFlags::NONE)
            .map_err(|e| syscall_error(e, size))?;
        self.live.insert(addr, len);
        Ok(addr)
    }

    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        charge_call(kernel);
        let len = self
            .live
            .get(ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        let cacheable = self.config.max_count > 0 && len <= self.config.max_bytes;
        if !cacheable {
            kernel.munmap(ptr, len).map_err(AllocError::Syscall)?;
            self.live.remove(ptr);
            self.counters.evictions += 1;
            return Ok(());
        }
        let advice = match self.config.pages {
            CachedPages::Keep => None,
            CachedPages::DontNeed => Some(Advice::DontNeed),
            CachedPages::Free => Some(Advice::Free),
        };
        if let Some(advice) = advice {
            kernel
                .madvise(ptr, len, advice)
                .map_err(AllocError::Syscall)?;
        }
        self.live.remove(ptr);
        self.put(Cached {
            addr: ptr,
            pages: len / PAGE_SIZE,
        });
        self.counters.cached += 1;
        self.evict(kernel, self.config.max_count, self.config.max_bytes);
        Ok(())
    }

    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        charge_call(kernel);
        self.live.resize(kernel, ptr, size)
    }

    /// `malloc_trim` for a mapping cache: unmap every cached mapping.
    fn trim(&mut self, kernel: &mut Kernel, _pad: u64) -> Result<bool, AllocError> {
        charge_call(kernel);
        let before = self.by_age.len();
        self.evict(kernel, 0, 0);
        Ok(self.by_age.len() < before)
    }

    /// `hblks`/`hblkhd` and `allocated` count the mappings handed out (whole pages);
    /// cached mappings are free memory the allocator holds: `fordblks`, and part of
    /// `footprint`; `largest_free` is the largest cached mapping.
    fn stats(&self) -> HeapStats {
        let live = self.live.bytes();
        HeapStats {
            arena: 0,
            hblks: self.live.count(),
            hblkhd: live,
            uordblks: live,
            fordblks: self.cached_bytes,
            keepcost: 0,
            allocated: live,
            footprint: live + self.cached_bytes,
            largest_free: self
                .by_pages
                .keys()
                .next_back()
                .map_or(0, |&(p, _)| p * PAGE_SIZE),
        }
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        let start = out.len();
        out.extend(self.live.blocks());
        out.extend(self.by_age.values().map(|c| Block {
            addr: c.addr,
            size: c.pages * PAGE_SIZE,
            kind: BlockKind::Cached,
            mapped: true,
        }));
        out[start..].sort_by_key(|b| b.addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Access, KernelConfig, Syscall};

    fn kernel() -> Kernel {
        Kernel::new(KernelConfig::default())
    }

    #[test]
    fn a_freed_mapping_is_reused_without_a_syscall() {
        let mut k = kernel();
        let mut a = MmapCacheAllocator::default();
        let p = a.malloc(&mut k, 100).unwrap();
        k.touch(p, 100, Access::Write).unwrap();
        a.free(&mut k, p).unwrap();
        assert_eq!(k.counters().syscall(Syscall::Munmap), 0);
        assert_eq!(k.mem().rss, PAGE_SIZE, "cached pages stay resident");
        let s = a.stats();
        assert_eq!(
            (s.allocated, s.fordblks, s.footprint),
            (0, PAGE_SIZE, PAGE_SIZE)
        );

        let calls = k.counters().total_syscalls();
        let faults = k.counters().minor_faults;
        let q = a.malloc(&mut k, 4000).unwrap();
        assert_eq!(q, p);
        k.touch(q, 4000, Access::Write).unwrap();
        assert_eq!(k.counters().total_syscalls(), calls, "no syscall");
        assert_eq!(
            k.counters().minor_faults,
            faults,
            "no fault: still resident"
        );
        assert_eq!(
            a.cache_counters(),
            CacheCounters {
                hits: 1,
                misses: 1,
                cached: 1,
                evictions: 0
            }
        );
    }

    #[test]
    fn other_page_counts_are_not_reused_by_default() {
        let mut k = kernel();
        let mut a = MmapCacheAllocator::default();
        let p = a.malloc(&mut k, 2 * PAGE_SIZE).unwrap();
        a.free(&mut k, p).unwrap();
        let q = a.malloc(&mut k, PAGE_SIZE).unwrap();
        assert_ne!(q, p);
        assert_eq!(k.counters().syscall(Syscall::Mmap), 2);
        assert_eq!(a.stats().footprint, 3 * PAGE_SIZE);
        assert_eq!(a.stats().footprint, k.mem().mapped);
    }

    #[test]
    fn excess_policy_reuses_the_smallest_larger_mapping_whole() {
        let mut k = kernel();
        let mut a = MmapCacheAllocator::new(MmapCacheConfig {
            max_excess_percent: 50,
            ..MmapCacheConfig::default()
        });
        let big = a.malloc(&mut k, 6 * PAGE_SIZE).unwrap();
        let mid = a.malloc(&mut k, 5 * PAGE_SIZE).unwrap();
        a.free(&mut k, big).unwrap();
        a.free(&mut k, mid).unwrap();
        // 4 pages may take up to 6: the 5-page mapping is the best fit.
        assert_eq!(a.malloc(&mut k, 4 * PAGE_SIZE).unwrap(), mid);
        assert_eq!(
            a.stats().allocated,
            5 * PAGE_SIZE,
            "the excess page is internal waste"
        );
        // 3 pages may take up to 4: the 6-page mapping is too large.
        let small = a.malloc(&mut k, 3 * PAGE_SIZE).unwrap();
        assert_ne!(small, big);
        assert_eq!(a.cache_counters().hits, 1);
    }

    #[test]
    fn the_oldest_mapping_is_evicted_over_the_count_limit() {
        let mut k = kernel();
        let mut a = MmapCacheAllocator::new(MmapCacheConfig {
            max_count: 2,
            ..MmapCacheConfig::default()
        });
        let ps: Vec<Addr> = (0..3).map(|_| a.malloc(&mut k, 1).unwrap()).collect();
        for &p in &ps {
            a.free(&mut k, p).unwrap();
        }
        assert_eq!(a.cached(), (2, 2 * PAGE_SIZE));
        assert_eq!(k.counters().syscall(Syscall::Munmap), 1);
        assert_eq!(k.counters().returned.munmap, PAGE_SIZE);
        assert_eq!(a.cache_counters().evictions, 1);
        // ps[0] was evicted; the newest (ps[2]) comes back first.
        assert_eq!(a.malloc(&mut k, 1).unwrap(), ps[2]);
        assert_eq!(a.malloc(&mut k, 1).unwrap(), ps[1]);
        assert_eq!(a.stats().footprint, k.mem().mapped);
    }

    #[test]
    fn byte_limit_evicts_and_oversized_mappings_are_unmapped_at_once() {
        let mut k = kernel();
        let mut a = MmapCacheAllocator::new(MmapCacheConfig {
            max_bytes: 3 * PAGE_SIZE,
            ..MmapCacheConfig::default()
        });
        let huge = a.malloc(&mut k, 4 * PAGE_SIZE).unwrap();
        a.free(&mut k, huge).unwrap();
        assert_eq!(a.cached(), (0, 0));
        assert_eq!(k.counters().returned.munmap, 4 * PAGE_SIZE);
        let x = a.malloc(&mut k, 2 * PAGE_SIZE).unwrap();
        let y = a.malloc(&mut k, 2 * PAGE_SIZE).unwrap();
        a.free(&mut k, x).unwrap();
        a.free(&mut k, y).unwrap();
        assert_eq!(
            a.cached(),
            (1, 2 * PAGE_SIZE),
            "x evicted to make room for y"
        );
        assert_eq!(k.mem().mapped, 2 * PAGE_SIZE);
    }

    #[test]
    fn dontneed_releases_cached_pages_but_keeps_the_addresses() {
        let mut k = kernel();
        let mut a = MmapCacheAllocator::new(MmapCacheConfig {
            pages: CachedPages::DontNeed,
            ..MmapCacheConfig::default()
        });
        let p = a.malloc(&mut k, 3 * PAGE_SIZE).unwrap();
        k.touch(p, 3 * PAGE_SIZE, Access::Write).unwrap();
        a.free(&mut k, p).unwrap();
        assert_eq!(k.mem().rss, 0);
        assert_eq!(k.mem().mapped, 3 * PAGE_SIZE);
        assert_eq!(k.counters().returned.madvise, 3 * PAGE_SIZE);
        assert_eq!(k.counters().syscall(Syscall::Madvise), 1);
        let faults = k.counters().minor_faults;
        let q = a.malloc(&mut k, 3 * PAGE_SIZE).unwrap();
        assert_eq!(q, p);
        k.touch(q, 3 * PAGE_SIZE, Access::Write).unwrap();
        assert_eq!(
            k.counters().minor_faults,
            faults + 3,
            "zeroed pages fault in again"
        );
    }

    #[test]
    fn disabled_cache_behaves_like_plain_mmap() {
        let mut k = kernel();
        let mut a = MmapCacheAllocator::new(MmapCacheConfig {
            max_count: 0,
            ..MmapCacheConfig::default()
        });
        let p = a.malloc(&mut k, 1).unwrap();
        a.free(&mut k, p).unwrap();
        assert_eq!(k.mem().mapped, 0);
        assert_eq!(a.stats(), HeapStats::default());
    }

    #[test]
    fn trim_unmaps_the_whole_cache() {
        let mut k = kernel();
        let mut a = MmapCacheAllocator::default();
        let p = a.malloc(&mut k, 1).unwrap();
        let q = a.malloc(&mut k, 1).unwrap();
        a.free(&mut k, p).unwrap();
        assert!(a.trim(&mut k, 0).unwrap());
        assert!(!a.trim(&mut k, 0).unwrap(), "nothing left to trim");
        assert_eq!(a.cached(), (0, 0));
        assert_eq!(k.mem().mapped, PAGE_SIZE);
        a.free(&mut k, q).unwrap();
        assert_eq!(a.cached(), (1, PAGE_SIZE));
    }

    #[test]
    fn double_free_of_a_cached_block_is_invalid() {
        let mut k = kernel();
        let mut a = MmapCacheAllocator::default();
        let p = a.malloc(&mut k, 1).unwrap();
        a.free(&mut k, p).unwrap();
        assert_eq!(
            a.free(&mut k, p),
            Err(AllocError::InvalidPointer { ptr: p })
        );
        assert_eq!(a.cached(), (1, PAGE_SIZE));
    }
}
