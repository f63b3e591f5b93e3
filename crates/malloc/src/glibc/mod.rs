//! A model of glibc 2.36 malloc (ptmalloc2) for a single-threaded program.
//!
//! The model reproduces the real allocator to the byte: the same addresses, the same
//! syscalls in the same order, the same `mallinfo2` figures after every call. It is
//! also meant to be read: each part of ptmalloc is explained where it is modelled.
//!
//! # The pieces of ptmalloc
//!
//! - **Chunks** (`chunks.rs`, their sizes in `layout.rs`): the heap is a sequence of
//!   chunks, each with a size word in front of the payload; free chunks hold list
//!   links in their payload.
//! - **Top**: the last chunk of the heap, bordering the program break. It is in no
//!   list; malloc splits it when nothing else fits and grows it with `sbrk`
//!   (`sysmalloc`, in `sys.rs`), free merges into it and may shrink it (`systrim`).
//! - **tcache** (`tcache.rs`): a per-thread cache of 64 singly linked stacks, one per chunk size
//!   from 32 to 1040 bytes, at most 7 chunks each. It is checked first by malloc and
//!   filled first by free; chunks in it are not coalesced and count as in use.
//! - **Fastbins**: ten singly linked LIFO stacks for chunk sizes up to 128 bytes.
//!   Also never coalesced until a *consolidation* (`malloc_consolidate`)
//!   merges them all with their free neighbours.
//! - **Bins** (`bins.rs`; doubly linked lists, 127 of them): bin 1 is the *unsorted* bin, where
//!   every freed or split-off chunk lands first; 62 *smallbins* hold one exact size
//!   each (32..1008); 63 *largebins* hold ranges of sizes sorted by size, with a
//!   second "nextsize" list that skips over runs of equal sizes. A bitmap (`binmap`)
//!   marks bins that may be non-empty so the best-fit search can skip empty ones.
//! - **mmapped chunks**: a request at or above the mmap threshold that no bin and not
//!   the top can serve (the threshold is checked only in `sysmalloc`) gets a mapping of
//!   its own, released with `munmap` on free; freeing one raises the threshold
//!   (the *dynamic* threshold) so that a program that keeps allocating that size is
//!   served from the heap next time.
//!
//! # Brief overview
//! - [`Glibc`]: the allocator; implements [`crate::Allocator`], plus
//!   [`Glibc::mallinfo2`] and an optional record of its syscalls
//!   ([`Glibc::record_syscalls`], [`SyscallEvent`]).
//! - [`Tunables`]: `mallopt`/`GLIBC_TUNABLES` parameters, set from text through
//!   [`Options`].
//! - [`Mallinfo2`]: the ten figures of glibc's `mallinfo2`.
//!
//! # Where to read on
//! `chunks.rs` (chunk records, boundary tags, how metadata writes reach memory),
//! `bins.rs` (list links, the unsorted bin, `unlink_chunk`), `tcache.rs`, `malloc.rs`
//! (`_int_malloc`: the search order, sorting of the unsorted bin, best fit,
//! consolidation), `free.rs` (`_int_free`), `realloc.rs`, `sys.rs` (heap growth and
//! trimming, `malloc_trim`, mapped chunks), `layout.rs` (sizes and bin indices),
//! `tunables.rs`. This file holds the allocator's state and its public entry points.
//!
//! # glibc 2.36 details the model keeps (all measured on the real library)
//! - libc's `sbrk` asks the kernel for the break (`brk(NULL)`) the first time it runs
//!   in a dynamically linked process: the first heap growth is two `brk` calls.
//! - When `sbrk` fails, 2.35 and 2.36 call `sysmalloc_mmap_fallback` with the page
//!   size and `MMAP_AS_MORECORE_SIZE` swapped: the first stand-in mapping is rounded
//!   up to whole MiB (not merely "at least 1 MiB"), later ones only to pages.
//! - `malloc_trim` with a top chunk of exactly 32 bytes *grows* the heap by a page
//!   (the release amount of `systrim` goes negative in C's integer conversions).
//! - The dynamic threshold compares the raw size word (with the IS_MMAPPED bit), so a
//!   mapped chunk of exactly 32 MiB does not raise it.
//! - A realloc'd mapped chunk stays mapped however small it becomes (`mremap` to one
//!   page), and freed realloc tails go through `_int_free`, tcache included.
//!
//! # What is not modelled
//! Threads and secondary arenas, `M_PERTURB`,
//! `M_CHECK_ACTION`, transparent huge page tunables, and glibc's integrity checks
//! (a double free is reported as [`AllocError::InvalidPointer`] instead of aborting).
//!
//! # Costs and memory accesses
//! Each public call charges `alloc_op_ns` of the kernel's cost model once (the real
//! tcache fast path costs about that). A call that goes on into `_int_malloc` or
//! `_int_free` also pays `alloc_arena_ns`, and `alloc_step_ns` for each further chunk
//! it visits (`Glibc::visit`: bins sorted, size lists walked, neighbours merged,
//! remainders split, fastbins consolidated, chunks moved into the tcache) that misses
//! the CPU's cache: in a heap larger than the kernel's `cache_bytes`, the share of the
//! heap the cache cannot hold ([`kernel::cache_miss_share`]); syscalls and faults are
//! charged by the kernel.
//! Every metadata write glibc makes (size words, footers, list links, the tcache
//! structure, tcache entries in freed payloads) is performed as a write access on the
//! kernel, so the pages that become resident are the ones the real allocator dirties.
//! Writes are queued during a call and flushed before each syscall and at the end of
//! the call, in order; a write to a page already written since the last flush is
//! merged away. A [`kernel::Fault`] on one of these accesses (out of physical memory)
//! is returned as [`AllocError::Fault`] after the call completes: the simulated
//! process would have died there; the allocator's own state stays consistent.

mod bins;
mod calloc;
mod chunks;
mod describe;
mod free;
mod layout;
mod malloc;
mod realloc;
mod sys;
mod tcache;
mod tunables;

pub use describe::{BinKind, BinView};
pub use tunables::Tunables;

use crate::api::{AllocError, Allocator, Block, BlockKind, HeapStats, Usage};
use crate::options::{Configurable, OptionError, Options};
use bins::BinHead;
use chunks::{Chunk, ChunkMap, EMPTY_CHUNK, State};
use kernel::{Access, Addr, Fault, Kernel};
use layout::*;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// glibc's `struct mallinfo2`: the allocator's own statistics.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mallinfo2 {
    /// Bytes obtained from the system for the heap (sbrk, plus mmap stand-in space).
    pub arena: u64,
    /// Free chunks in bins, plus one for the top chunk (fastbins and tcache excluded).
    pub ordblks: u64,
    /// Chunks in fastbins.
    pub smblks: u64,
    /// Chunks in mappings of their own.
    pub hblks: u64,
    /// Bytes of those mappings.
    pub hblkhd: u64,
    /// Always 0 (a historical field).
    pub usmblks: u64,
    /// Bytes in fastbins.
    pub fsmblks: u64,
    /// `arena - fordblks`: in-use bytes, tcache chunks and the tcache itself included.
    pub uordblks: u64,
    /// Free bytes: top, binned chunks and fastbin chunks.
    pub fordblks: u64,
    /// Bytes of the top chunk (what trimming could release).
    pub keepcost: u64,
}

/// One syscall the model made, recorded when [`Glibc::record_syscalls`] is on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyscallEvent {
    /// `brk(NULL)`: the C library's `sbrk` asks the kernel for the break the first
    /// time it is used in a (dynamically linked) process.
    BrkQuery {
        /// The break returned.
        brk: Addr,
    },
    /// `sbrk(increment)`, one `brk` syscall.
    Sbrk {
        /// The requested change of the break.
        increment: i64,
        /// False when the kernel refused.
        ok: bool,
    },
    /// An anonymous `mmap`.
    Mmap {
        /// Length asked for.
        len: u64,
        /// The address, `None` when the kernel refused.
        addr: Option<Addr>,
    },
    /// `munmap`.
    Munmap {
        /// Start.
        addr: Addr,
        /// Length.
        len: u64,
    },
    /// `mremap(..., MREMAP_MAYMOVE)` of a mapped chunk.
    Mremap {
        /// Old start.
        old_addr: Addr,
        /// Old length.
        old_len: u64,
        /// New length.
        new_len: u64,
        /// The new start, `None` when the kernel refused.
        new_addr: Option<Addr>,
    },
    /// `madvise(MADV_DONTNEED)` from `malloc_trim`.
    MadviseDontNeed {
        /// Start (page aligned).
        addr: Addr,
        /// Length (whole pages).
        len: u64,
    },
}

/// Parameters after defaults are applied (glibc's `mp_` plus `global_max_fast`).
#[derive(Clone, Debug)]
struct Params {
    mmap_threshold: u64,
    trim_threshold: u64,
    top_pad: u64,
    n_mmaps_max: u64,
    no_dyn_threshold: bool,
    tcache_count: u64,
    tcache_bins: u64,
    /// Chunk-size limit of the fastbins (`global_max_fast`).
    max_fast: u64,
}

/// The glibc 2.36 malloc model. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Glibc {
    tunables: Tunables,
    p: Params,
    /// Every chunk except top, by address.
    chunks: ChunkMap,
    /// Stand-in written to when a chunk is unexpectedly missing (a model bug; debug
    /// builds assert instead), so that no op sequence can panic.
    scratch: Chunk,
    /// The largest chunk of the unsorted bin, or a bound above it once that chunk
    /// left (`unsorted_stale`): the bin is unordered, and `largest_free` (read only
    /// when a sample is taken) walks it only when the bound went stale. Kept in
    /// cells because that walk happens behind `&self`.
    unsorted_max: Cell<u64>,
    unsorted_stale: Cell<bool>,
    bins: [BinHead; NBINS],
    binmap: [u32; 4],
    fastbins: [u64; NFASTBINS],
    have_fastchunks: bool,
    /// The top chunk; 0 before the first growth (glibc's `initial_top`).
    top: u64,
    top_size: u64,
    last_remainder: u64,
    /// False once mmap stood in for a failed sbrk: the heap is then in pieces.
    contiguous: bool,
    /// `av->system_mem`: mallinfo2 `arena`.
    system_mem: u64,
    /// `av->max_system_mem`: the most `system_mem` has ever been. `calloc` counts only
    /// memory above this high-water mark as known to be zero (glibc assumes that
    /// `sbrk` clears memory the heap never had, and nothing about the rest).
    max_system_mem: u64,
    sbrk_base: u64,
    n_mmaps: u64,
    mmapped_mem: u64,
    /// Address of the tcache chunk, once created.
    tcache: Option<u64>,
    tc_counts: [u64; TCACHE_MAX_BINS],
    tc_entries: [u64; TCACHE_MAX_BINS],
    /// Chunks and bytes in bins (unsorted, small, large).
    binned_count: u64,
    binned_bytes: u64,
    /// Chunks and bytes in fastbins.
    fast_count: u64,
    fast_bytes: u64,
    /// Bytes of chunks the program holds.
    allocated: u64,
    /// Whether libc's `sbrk` has read the break from the kernel yet.
    brk_known: bool,
    /// Regions mmap stood in for sbrk with (start, end).
    fallback_regions: Vec<(u64, u64)>,
    /// Memory writes (and reads) not yet performed on the kernel.
    dirty: Vec<(u64, u64, Access)>,
    /// The page of the last queued write, to merge writes to one page.
    last_dirty_page: u64,
    /// The first fault of the current call.
    fault: Option<Fault>,
    /// Chunks the current call visited besides the one it hands out or frees (see
    /// [`Glibc::visit`]), charged when the call ends: `alloc_step_ns` each for the
    /// share of them that misses the cache in a heap of `system_mem` bytes
    /// ([`kernel::cache_miss_share`]).
    steps: u64,
    record: Option<Vec<SyscallEvent>>,
}

impl Default for Glibc {
    fn default() -> Self {
        Glibc::new()
    }
}

impl Glibc {
    /// glibc with its default parameters.
    pub fn new() -> Glibc {
        Glibc::build(Tunables::default())
    }

    /// glibc started with `GLIBC_TUNABLES` set as `tunables` says.
    pub fn with_tunables(tunables: Tunables) -> Result<Glibc, OptionError> {
        tunables.validate()?;
        Ok(Glibc::build(tunables))
    }

    fn build(t: Tunables) -> Glibc {
        let tcache_max = t.tcache_max_or_default();
        let p = Params {
            mmap_threshold: t.mmap_threshold_or_default(),
            trim_threshold: t.trim_threshold_or_default(),
            top_pad: t.top_pad_or_default(),
            n_mmaps_max: t.mmap_max_or_default(),
            no_dyn_threshold: t.disables_dynamic_threshold(),
            tcache_count: t.tcache_count_or_default(),
            // do_set_tcache_max: the bins up to the one holding `tcache_max` bytes.
            tcache_bins: csize2tidx(request2size(tcache_max)) + 1,
            max_fast: max_fast_chunk(t.max_fast_or_default()),
        };
        let mut bins = [BinHead { fd: 0, bk: 0 }; NBINS];
        for (i, b) in bins.iter_mut().enumerate() {
            b.fd = i as u64;
            b.bk = i as u64;
        }
        Glibc {
            tunables: t,
            p,
            chunks: ChunkMap::default(),
            scratch: EMPTY_CHUNK,
            unsorted_max: Cell::new(0),
            unsorted_stale: Cell::new(false),
            bins,
            binmap: [0; 4],
            fastbins: [0; NFASTBINS],
            have_fastchunks: false,
            top: 0,
            top_size: 0,
            last_remainder: 0,
            contiguous: true,
            system_mem: 0,
            max_system_mem: 0,
            sbrk_base: 0,
            n_mmaps: 0,
            mmapped_mem: 0,
            tcache: None,
            tc_counts: [0; TCACHE_MAX_BINS],
            tc_entries: [0; TCACHE_MAX_BINS],
            binned_count: 0,
            binned_bytes: 0,
            fast_count: 0,
            fast_bytes: 0,
            allocated: 0,
            brk_known: false,
            fallback_regions: Vec::new(),
            dirty: Vec::new(),
            last_dirty_page: u64::MAX,
            fault: None,
            steps: 0,
            record: None,
        }
    }

    /// The tunables this instance was built with.
    pub fn tunables(&self) -> &Tunables {
        &self.tunables
    }

    /// The current mmap threshold (it moves when the dynamic threshold is on).
    pub fn mmap_threshold(&self) -> u64 {
        self.p.mmap_threshold
    }

    /// The current trim threshold (it moves with the dynamic mmap threshold).
    pub fn trim_threshold(&self) -> u64 {
        self.p.trim_threshold
    }

    /// Starts (or stops, discarding what was recorded) recording every syscall the
    /// allocator makes.
    pub fn record_syscalls(&mut self, on: bool) {
        self.record = if on { Some(Vec::new()) } else { None };
    }

    /// The syscalls recorded since the last call (empty when recording is off).
    pub fn take_syscalls(&mut self) -> Vec<SyscallEvent> {
        match &mut self.record {
            Some(r) => std::mem::take(r),
            None => Vec::new(),
        }
    }

    /// glibc's `mallinfo2()`, in O(1): the model keeps the sums glibc computes by
    /// walking its bins.
    pub fn mallinfo2(&self) -> Mallinfo2 {
        let fordblks = self.top_size + self.binned_bytes + self.fast_bytes;
        Mallinfo2 {
            arena: self.system_mem,
            ordblks: 1 + self.binned_count,
            smblks: self.fast_count,
            hblks: self.n_mmaps,
            hblkhd: self.mmapped_mem,
            usmblks: 0,
            fsmblks: self.fast_bytes,
            uordblks: self.system_mem.wrapping_sub(fordblks),
            fordblks,
            keepcost: self.top_size,
        }
    }

    // ----- the public entry points ------------------------------------------------

    /// Counts one more chunk visited by the current call: a chunk taken off the
    /// unsorted bin, a step along a largebin's size list, a neighbour merged, a
    /// remainder split off, a fastbin chunk consolidated, a chunk moved into the
    /// tcache. This is where an arena call spends its time: each visit reads and
    /// writes the headers and links of another chunk, somewhere else in the heap.
    /// Whether that chunk is still in the CPU's cache decides what the visit costs: a
    /// few ns when it is, tens when it is not. The model keeps no cache, only its
    /// size: it charges each visit the share of the heap the cache cannot hold.
    pub(super) fn visit(&mut self) {
        self.steps += 1;
    }

    /// Begins a public call: one charge of user time, no pending fault.
    fn begin(&mut self, k: &mut Kernel) {
        k.charge_user(k.config().cost.alloc_op_ns);
        self.fault = None;
    }

    /// Ends a public call: performs the queued accesses and reports a fault if one
    /// happened (the simulated process would have died there).
    fn finish<T>(&mut self, k: &mut Kernel, value: T) -> Result<T, AllocError> {
        self.flush(k);
        if self.steps > 0 {
            let miss = kernel::cache_miss_share(self.system_mem, k.config().cache_bytes);
            k.charge_user(self.steps as f64 * miss * k.config().cost.alloc_step_ns);
            self.steps = 0;
        }
        match self.fault.take() {
            Some(f) => Err(AllocError::Fault(f)),
            None => Ok(value),
        }
    }

    /// Ends an allocating call: the chunk found (and its size) becomes the program's,
    /// or the request of `size` bytes failed with ENOMEM.
    fn hand_out(
        &mut self,
        k: &mut Kernel,
        got: Option<(u64, u64)>,
        size: u64,
    ) -> Result<Addr, AllocError> {
        match got {
            Some((p, chunk_size)) => {
                self.allocated = self.allocated.wrapping_add(chunk_size);
                self.finish(k, p + CHUNK_HDR_SZ)
            }
            None => {
                self.finish(k, ())?;
                Err(AllocError::OutOfMemory { size })
            }
        }
    }

    // ANCHOR: libc_malloc
    /// `__libc_malloc` without the charge: tcache first, then `_int_malloc`.
    /// Returns the chunk and its size.
    fn libc_malloc(&mut self, k: &mut Kernel, bytes: u64) -> Option<(u64, u64)> {
        let nb = checked_request2size(bytes)?;
        self.maybe_init_tcache(k);
        let tc_idx = csize2tidx(nb);
        if tc_idx < self.p.tcache_bins
            && self.tcache.is_some()
            && self.tc_counts[tc_idx as usize] > 0
        {
            return Some((self.tcache_get(tc_idx as usize), nb));
        }
        let p = self.int_malloc(k, bytes)?;
        Some((p, self.size_of(p)))
    }
    // ANCHOR_END: libc_malloc

    /// The chunk behind a pointer the program passed in, if it holds it.
    fn owned_chunk(&self, ptr: Addr) -> Option<(u64, Chunk)> {
        let p = ptr.checked_sub(CHUNK_HDR_SZ)?;
        let c = self.chunks.get(&p)?;
        matches!(c.state(), State::InUse | State::Mmapped).then_some((p, *c))
    }

    // ANCHOR: libc_free
    /// `__libc_free` of a chunk the program holds.
    fn libc_free(&mut self, k: &mut Kernel, p: u64, c: Chunk) {
        self.allocated = self.allocated.wrapping_sub(c.size());
        if c.state() == State::Mmapped {
            // The dynamic threshold: a program that frees a mapped chunk of this
            // size will likely ask for it again, so serve such sizes from the heap.
            // glibc compares the raw size word, IS_MMAPPED bit (2) included.
            let raw = c.size() | 2;
            if !self.p.no_dyn_threshold
                && raw > self.p.mmap_threshold
                && raw <= DEFAULT_MMAP_THRESHOLD_MAX
            {
                self.p.mmap_threshold = c.size();
                self.p.trim_threshold = 2 * c.size();
            }
            self.munmap_chunk(k, p);
        } else {
            self.maybe_init_tcache(k);
            self.int_free(k, p, c.size());
        }
    }
    // ANCHOR_END: libc_free

    /// Is `a` inside a region mmap stood in for sbrk with?
    fn in_fallback_region(&self, a: u64) -> bool {
        self.fallback_regions.iter().any(|&(s, e)| a >= s && a < e)
    }

    /// The largest chunk of the unsorted bin, by walking it (0 when it is empty).
    fn unsorted_walk_max(&self) -> u64 {
        let mut largest = 0;
        let mut p = self.bins[UNSORTED].bk;
        while !Self::is_bin(p) {
            largest = largest.max(self.size_of(p));
            p = self.bk(p);
        }
        largest
    }

    /// The largest chunk a malloc could reuse without a syscall.
    fn largest_free(&self) -> u64 {
        let mut best = self.top_size;
        // The unsorted bin is unordered: its largest is kept as chunks come, and
        // found again by a walk when it left.
        let unsorted = if self.unsorted_stale.get() {
            let walked = self.unsorted_walk_max();
            self.unsorted_max.set(walked);
            self.unsorted_stale.set(false);
            walked
        } else {
            self.unsorted_max.get()
        };
        // Debug builds (the tests) check the kept figure against a walk of the bin.
        debug_assert_eq!(
            self.unsorted_walk_max(),
            unsorted,
            "glibc model: unsorted largest"
        );
        best = best.max(unsorted);
        // Bins hold ever larger sizes (a smallbin one size, a largebin a range above
        // the bin before it) and a largebin is sorted largest first: the largest binned
        // chunk is the first of the highest bin that is not empty.
        if let Some(first) = (2..NBINS)
            .rev()
            .map(|i| self.bins[i].fd)
            .find(|&first| !Self::is_bin(first))
        {
            best = best.max(self.size_of(first));
        }
        if let Some(i) = (0..TCACHE_MAX_BINS).rev().find(|&i| self.tc_counts[i] > 0) {
            best = best.max(MINSIZE + MALLOC_ALIGNMENT * i as u64);
        }
        if let Some(i) = (0..NFASTBINS).rev().find(|&i| self.fastbins[i] != 0) {
            best = best.max((i as u64 + 2) * MALLOC_ALIGNMENT);
        }
        best
    }
}

impl Configurable for Glibc {
    type Config = Tunables;

    fn from_config(tunables: Tunables) -> Result<Glibc, OptionError> {
        Glibc::with_tunables(tunables)
    }
}

impl Allocator for Glibc {
    fn name(&self) -> &str {
        "glibc"
    }

    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        self.begin(k);
        let got = self.libc_malloc(k, size);
        self.hand_out(k, got, size)
    }

    /// `calloc(count, size)`: `_int_malloc` without the tcache, then the clearing
    /// (see `calloc.rs`). A product that overflows fails with ENOMEM, as in glibc.
    fn calloc(&mut self, k: &mut Kernel, count: u64, size: u64) -> Result<Addr, AllocError> {
        self.begin(k);
        let got = count
            .checked_mul(size)
            .and_then(|bytes| self.libc_calloc(k, bytes));
        self.hand_out(k, got, count.saturating_mul(size))
    }

    /// `memalign`, `posix_memalign`, `aligned_alloc`: glibc 2.36's `_mid_memalign`.
    fn memalign(&mut self, k: &mut Kernel, align: u64, size: u64) -> Result<Addr, AllocError> {
        self.begin(k);
        let got = self.libc_memalign(k, align, size);
        self.hand_out(k, got, size)
    }

    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.begin(k);
        if ptr == 0 {
            return Ok(());
        }
        let (p, c) = self
            .owned_chunk(ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        self.libc_free(k, p, c);
        self.finish(k, ())
    }

    /// `realloc`: `realloc(0, n)` is `malloc(n)`; `realloc(p, 0)` frees `p` and
    /// returns 0 (NULL), as glibc does.
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        self.begin(k);
        self.libc_realloc(k, ptr, size)
    }

    /// `malloc_trim(pad)`.
    fn trim(&mut self, k: &mut Kernel, pad: u64) -> Result<bool, AllocError> {
        self.begin(k);
        let released = self.mtrim(k, pad);
        self.finish(k, released)
    }

    fn stats(&self) -> HeapStats {
        let mi = self.mallinfo2();
        HeapStats {
            arena: mi.arena,
            hblks: mi.hblks,
            hblkhd: mi.hblkhd,
            uordblks: mi.uordblks,
            fordblks: mi.fordblks,
            keepcost: mi.keepcost,
            allocated: self.allocated,
            footprint: mi.arena + mi.hblkhd,
            largest_free: self.largest_free(),
        }
    }

    /// O(1): the two counters `stats` reads too, without `largest_free`'s walk.
    fn usage(&self) -> Usage {
        Usage {
            allocated: self.allocated,
            footprint: self.system_mem + self.mmapped_mem,
        }
    }

    fn describe(&self) -> Option<String> {
        self.describe_bins()
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        let start = out.len();
        for (addr, c) in self.chunks.iter() {
            let kind = match c.state() {
                State::InUse | State::Mmapped => BlockKind::Used,
                State::Meta | State::Fence => BlockKind::Meta,
                State::Tcache | State::Fast => BlockKind::Cached,
                State::Bin => BlockKind::Free,
            };
            out.push(Block {
                addr,
                size: c.size(),
                kind,
                mapped: c.state() == State::Mmapped || self.in_fallback_region(addr),
            });
        }
        if self.top != 0 {
            out.push(Block {
                addr: self.top,
                size: self.top_size,
                kind: BlockKind::Top,
                mapped: self.in_fallback_region(self.top),
            });
        }
        out[start..].sort_unstable_by_key(|b| b.addr);
    }
}
