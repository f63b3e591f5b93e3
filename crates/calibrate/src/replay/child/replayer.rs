//! The replayer: runs each op with the real allocator (or raw mappings), writes its row
//! and takes the samples.
//!
//! It keeps every live block as an address in a table that lives in an anonymous
//! mapping (a `Vec` would be heap memory), and frees, resizes and writes through those
//! addresses: that they are live is this file's own bookkeeping (the parent has checked
//! that the op stream frees only live blocks, and a slot is cleared when its block goes),
//! which is why the `unsafe` blocks are here and not behind a safe wrapper.

use super::Failure;
use crate::replay::Strategy;
use crate::replay::plan::real_block_bytes;
use crate::replay::wire::{self, smp, tag};
use crate::replay::writer::Out;
use crate::sys::{self, MallInfo};

/// The byte a write-all touch stores (any value faults the page in; a non-zero one makes
/// the writes visible in a debugger).
const FILL: u8 = 0xA5;

/// The address a dry pass puts in the table for a block it did not allocate: not null,
/// so the table's live checks behave as in the real pass, and never dereferenced.
const DRY_BLOCK: *mut u8 = std::ptr::without_provenance_mut(16);

/// Stack the child pre-touches before the first op.
const STACK_PREFAULT: usize = 64 * 1024;

/// Head room a glibc `malloc` may add to the heap beyond the chunk itself: `top_pad`
/// (128 KiB) plus a page of rounding.
const GLIBC_GROWTH_SLACK: u64 = 128 * 1024 + 4096;

/// The figures the per-op rows carry: glibc's `mallinfo2`; the mmap strategy fills them
/// in the same shape (mappings as `hblks`/`hblkhd`, and its rows report the mapped bytes
/// as `uordblks`, the bytes allocated).
type Info = MallInfo;

/// Words per table slot: pointer, requested size, mapping length.
pub(super) const SLOT_WORDS: usize = 3;

/// One live block in the table.
#[derive(Copy, Clone)]
struct Slot {
    /// The block's address (0 when the slot holds no live block).
    ptr: usize,
    /// Requested bytes.
    size: u64,
    /// mmap strategy: the mapping's length. glibc: non-zero when the block lives in a
    /// chunk of its own mapping (glibc knows the exact length, we only need the flag).
    map_len: u64,
}

/// Which call allocates a block (a row says `a` for each: they all hand out a block).
#[derive(Copy, Clone)]
enum How {
    /// `malloc(size)`.
    Malloc,
    /// `calloc(count, each)`.
    Calloc { count: u64, each: u64 },
    /// An aligned function (`tag::FUNC_*`) with its alignment.
    Aligned { func: u64, align: u64 },
}

/// What the request header says about how to replay.
pub(super) struct Request {
    /// Where memory comes from.
    pub(super) strategy: Strategy,
    /// Write every allocated byte.
    pub(super) write_all: bool,
    /// Sample every this many ops (0: only at phases and the end).
    pub(super) interval: u64,
    /// The memory cap in bytes.
    pub(super) cap: u64,
    /// Ops in the stream.
    pub(super) n_ops: u64,
    /// A benchmark: the ops alone, without rows, samples, cap checks or clock reads
    /// per op (see [`Replayer::bench`]).
    pub(super) bench: bool,
}

/// Touches pages of the stack now, so the replay's calls do not fault them in later.
#[inline(never)]
fn prefault_stack() {
    let mut area = [0u8; STACK_PREFAULT];
    let mut i = 0;
    while i < area.len() {
        area[i] = 1;
        i += 4096;
    }
    std::hint::black_box(&mut area);
}

/// The replay's state: the block table, the last allocator figures and the counters.
pub(super) struct Replayer<'a> {
    strategy: Strategy,
    write_all: bool,
    interval: u64,
    cap: u64,
    n_ops: u64,
    bench: bool,
    table: &'a mut [u64],
    samples: &'a mut [u64],
    n_samples: usize,
    out: Out<'a>,
    scratch: &'a mut [u8],
    /// The break before the first op: heap offsets count from here.
    initial_brk: usize,
    /// The break after the last op.
    brk: usize,
    /// Allocator figures after the last op.
    info: Info,
    /// Requested bytes of live blocks.
    live: u64,
    syscalls: [u64; 6],
    returned_brk: u64,
    returned_munmap: u64,
    /// Nanoseconds inside ops so far.
    op_ns: u64,
    /// What one clock read adds to an interval, subtracted from every op's time so that
    /// 40,000 tiny ops do not count 40,000 clock reads as allocator work.
    clock_ns: u64,
    /// Minor faults before the first op.
    minflt0: u64,
    /// A benchmark's CPU clock at the start of its loop (its checkpoints count from here).
    cpu0: u64,
    /// The benchmark's second pass: the same loop with every call and write left out
    /// (see [`Replayer::bench`]).
    dry: bool,
}

impl<'a> Replayer<'a> {
    /// A replayer over the child's buffers: the block table (`SLOT_WORDS` words per
    /// slot), room for the samples, the output and `mincore`'s scratch bytes.
    pub(super) fn new(
        request: Request,
        table: &'a mut [u64],
        samples: &'a mut [u64],
        out: Out<'a>,
        scratch: &'a mut [u8],
    ) -> Replayer<'a> {
        Replayer {
            strategy: request.strategy,
            write_all: request.write_all,
            interval: request.interval,
            cap: request.cap,
            n_ops: request.n_ops,
            bench: request.bench,
            table,
            samples,
            n_samples: 0,
            out,
            scratch,
            initial_brk: 0,
            brk: 0,
            info: Info::default(),
            live: 0,
            syscalls: [0; 6],
            returned_brk: 0,
            returned_munmap: 0,
            op_ns: 0,
            clock_ns: 0,
            minflt0: 0,
            cpu0: 0,
            dry: false,
        }
    }

    /// Runs every op of `words` (the encoded stream), then writes the samples and the
    /// `#end` line.
    pub(super) fn replay(&mut self, words: &[u64]) -> Result<(), Failure> {
        // Warm up what the loop calls, so its first use neither faults in the middle of
        // the measurement nor, for glibc, changes the heap: mallinfo2 initialises malloc's
        // bookkeeping (as the first malloc would) without allocating.
        prefault_stack();
        self.info = match self.strategy {
            Strategy::Glibc => sys::mallinfo2(),
            Strategy::Mmap => {
                warm_up_mapping_calls();
                Info::default()
            }
        };
        self.clock_ns = clock_overhead();
        let _ = sys::resident_bytes(self.scratch.as_ptr() as usize, 1, &mut [0u8; 1]);
        self.initial_brk = sys::program_break();
        self.brk = self.initial_brk;
        self.out.put(engine::OpRow::HEADER.as_bytes())?;
        self.out.put(b"\n")?;

        self.minflt0 = sys::minor_faults();
        let start = sys::monotonic_ns();
        let mut cursor = 0usize;
        let mut index = 0u64;
        while index < self.n_ops {
            self.step(index, words, &mut cursor)?;
            index += 1;
        }
        if cursor != words.len() {
            return Err(Failure::protocol("the op stream is longer than announced"));
        }
        let last_sampled = self
            .n_samples
            .checked_sub(1)
            .and_then(|i| self.samples.get(i * wire::SAMPLE_WORDS + smp::OP).copied());
        if last_sampled != Some(self.n_ops) {
            self.sample(None, false)?;
        }
        let elapsed = sys::monotonic_ns().saturating_sub(start);
        self.finish(elapsed)
    }

    /// Runs every op of `words` as a benchmark and writes one line,
    /// `#bench <cpu_ns> <wall_ns> <minor_faults> <loop_cpu_ns> <glibc version>`.
    ///
    /// The loop is the replay's own (decode an op, find its block in the table, make
    /// the call, write the bytes the touch policy asks for) without anything else: no
    /// row, no `mallinfo2`, no sample, no clock read and no cap check per op. It is
    /// timed once, as a whole, in CPU time (`CLOCK_PROCESS_CPUTIME_ID`: user and
    /// system, so page faults count), which a busy machine does not inflate.
    ///
    /// Then the same ops go through the same loop a second time with the calls and
    /// the writes left out (a *dry pass*: the block table is filled with stand-in
    /// addresses instead), timed the same way: `loop_cpu_ns`, what reading the op
    /// stream and keeping the table cost. A program has work of its own between its
    /// allocator calls too, but not this work; a comparison of the calls and writes
    /// alone subtracts it (see `RealBench::loop_cpu_ns`).
    pub(super) fn bench(&mut self, words: &[u64]) -> Result<(), Failure> {
        // The same warm-up as a replay: the loop's first use of a call neither faults
        // nor, for glibc, changes the heap (mallinfo2 initialises malloc's state as the
        // first malloc would, without allocating).
        prefault_stack();
        match self.strategy {
            Strategy::Glibc => {
                let _ = sys::mallinfo2();
            }
            Strategy::Mmap => warm_up_mapping_calls(),
        }
        let _ = sys::process_cpu_ns();
        let _ = sys::monotonic_ns();
        let faults0 = sys::minor_faults();
        let wall0 = sys::monotonic_ns();
        self.cpu0 = sys::process_cpu_ns();
        let mut cursor = 0usize;
        let mut index = 0u64;
        while index < self.n_ops {
            self.step(index, words, &mut cursor)?;
            index += 1;
        }
        let cpu = sys::process_cpu_ns().saturating_sub(self.cpu0);
        let wall = sys::monotonic_ns().saturating_sub(wall0);
        let faults = sys::minor_faults().saturating_sub(faults0);
        if cursor != words.len() {
            return Err(Failure::protocol("the op stream is longer than announced"));
        }
        let loop_cpu = self.dry_pass(words)?;
        if self.interval > 0 {
            let last = self
                .n_samples
                .checked_sub(1)
                .and_then(|i| self.samples.get(i * wire::SAMPLE_WORDS + smp::OP).copied());
            if last != Some(self.n_ops) {
                self.record_checkpoint(self.n_ops, cpu)?;
            }
            self.out.put(wire::CHECKPOINTS_LINE.as_bytes())?;
            for i in 0..self.n_samples {
                let at = |j: usize| self.samples.get(i * wire::SAMPLE_WORDS + j).copied();
                let (op, ns) = (at(smp::OP).unwrap_or(0), at(smp::TIME_NS).unwrap_or(0));
                self.out.num(op)?;
                self.out.put(b",")?;
                self.out.num(ns)?;
                self.out.put(b"\n")?;
            }
        }
        self.out.put(wire::BENCH_PREFIX.as_bytes())?;
        for n in [cpu, wall, faults, loop_cpu] {
            self.out.num(n)?;
            self.out.put(b" ")?;
        }
        self.out
            .put(sys::glibc_version().unwrap_or("unknown").as_bytes())?;
        self.out.put(b"\n")?;
        Ok(self.out.flush()?)
    }

    /// The benchmark's dry pass over `words` (see [`Replayer::bench`]): its CPU time.
    ///
    /// The real blocks stay allocated (the process ends right after); only the table
    /// forgets them, so that the pass finds every slot as the first pass did. It takes
    /// no checkpoints.
    fn dry_pass(&mut self, words: &[u64]) -> Result<u64, Failure> {
        self.table.fill(0);
        self.live = 0;
        self.info = Info::default();
        self.dry = true;
        let interval = std::mem::replace(&mut self.interval, 0);
        let mut cursor = 0usize;
        let mut index = 0u64;
        let cpu0 = sys::process_cpu_ns();
        while index < self.n_ops {
            self.step(index, words, &mut cursor)?;
            index += 1;
        }
        let cpu = sys::process_cpu_ns().saturating_sub(cpu0);
        self.interval = interval;
        self.dry = false;
        Ok(cpu)
    }

    /// Writes the samples and the `#end` line, and flushes.
    fn finish(&mut self, elapsed: u64) -> Result<(), Failure> {
        self.out.put(wire::SAMPLES_LINE.as_bytes())?;
        for i in 0..self.n_samples {
            for j in 0..wire::SAMPLE_WORDS {
                if j > 0 {
                    self.out.put(b",")?;
                }
                let v = self.samples.get(i * wire::SAMPLE_WORDS + j).copied();
                self.out.num(v.unwrap_or(0))?;
            }
            self.out.put(b"\n")?;
        }
        self.out.put(wire::END_PREFIX.as_bytes())?;
        self.out.num(elapsed)?;
        self.out.put(b" ")?;
        self.out.num(self.op_ns)?;
        self.out.put(b" ")?;
        self.out
            .put(sys::glibc_version().unwrap_or("unknown").as_bytes())?;
        self.out.put(b"\n")?;
        Ok(self.out.flush()?)
    }

    fn slot(&self, slot: usize, op: u64) -> Result<Slot, Failure> {
        let base = slot.saturating_mul(SLOT_WORDS);
        match self.table.get(base..base.saturating_add(SLOT_WORDS)) {
            Some(w) => Ok(Slot {
                ptr: w[0] as usize,
                size: w[1],
                map_len: w[2],
            }),
            None => Err(Failure::new(
                wire::EXIT_PROTOCOL,
                Some(op),
                "block slot out of range",
            )),
        }
    }

    fn set_slot(&mut self, slot: usize, s: Slot) {
        let base = slot.saturating_mul(SLOT_WORDS);
        if let Some(w) = self.table.get_mut(base..base.saturating_add(SLOT_WORDS)) {
            w[0] = s.ptr as u64;
            w[1] = s.size;
            w[2] = s.map_len;
        }
    }

    fn live_slot(&self, slot: usize, op: u64) -> Result<Slot, Failure> {
        let s = self.slot(slot, op)?;
        if s.ptr == 0 {
            return Err(Failure::new(
                wire::EXIT_INVALID,
                Some(op),
                "the op names a block that is not live",
            ));
        }
        Ok(s)
    }

    /// Decodes and runs op `index`, then writes its row and any sample due.
    fn step(&mut self, index: u64, words: &[u64], cursor: &mut usize) -> Result<(), Failure> {
        let mut next = || -> Result<u64, Failure> {
            let w = words
                .get(*cursor)
                .ok_or(Failure::protocol("the op stream is shorter than announced"))?;
            *cursor += 1;
            Ok(u64::from_le(*w))
        };
        let head = next()?;
        let kind = head & 0xff;
        let slot = (head >> tag::SLOT_SHIFT) as usize;
        let mut phase = false;
        match kind {
            tag::MALLOC => {
                let id = next()?;
                let size = next()?;
                let ptr = self.malloc(index, slot, size, How::Malloc)?;
                self.row(index, b'a', id, size, Some(ptr))?;
            }
            tag::CALLOC => {
                let id = next()?;
                let count = next()?;
                let each = next()?;
                // The parent checked that the product fits (it is the block's size).
                let size = count.saturating_mul(each);
                let ptr = self.malloc(index, slot, size, How::Calloc { count, each })?;
                self.row(index, b'a', id, size, Some(ptr))?;
            }
            tag::ALIGNED => {
                let id = next()?;
                let align = next()?;
                let size = next()?;
                let func = (head >> tag::FUNC_SHIFT) & 3;
                let ptr = self.malloc(index, slot, size, How::Aligned { func, align })?;
                self.row(index, b'a', id, size, Some(ptr))?;
            }
            tag::FREE => {
                let id = next()?;
                self.free(index, slot)?;
                self.row(index, b'f', id, 0, None)?;
            }
            tag::REALLOC => {
                let id = next()?;
                let size = next()?;
                let ptr = self.realloc(index, slot, size)?;
                self.row(index, b'r', id, size, ptr)?;
            }
            tag::TOUCH => {
                let _id = next()?;
                let offset = next()?;
                let len = next()?;
                self.touch(index, slot, offset, len, head & tag::WRITE != 0)?;
            }
            tag::TRIM => {
                let pad = next()?;
                self.trim(pad);
                self.row(index, b't', 0, pad, None)?;
            }
            tag::PHASE => phase = true,
            _ => {
                return Err(Failure::new(
                    wire::EXIT_PROTOCOL,
                    Some(index),
                    "unknown op kind",
                ));
            }
        }
        let done = index + 1;
        if self.bench {
            // A benchmark takes no sample, only the CPU clock where a replay would
            // sample (one clock read per `interval` ops, none with an interval of 0).
            if self.interval > 0 && (phase || done.is_multiple_of(self.interval)) {
                self.checkpoint(done)?;
            }
            return Ok(());
        }
        if phase {
            self.sample(Some(index), true)?;
        } else if self.interval > 0 && done.is_multiple_of(self.interval) {
            self.sample(Some(index), false)?;
        }
        Ok(())
    }

    /// The clock at the start of an op (0 in a benchmark, which times the whole loop).
    fn clock(&self) -> u64 {
        if self.bench { 0 } else { sys::monotonic_ns() }
    }

    /// Adds the time since `t0` to the op time.
    fn stop_clock(&mut self, t0: u64) {
        if self.bench {
            return;
        }
        let interval = sys::monotonic_ns().saturating_sub(t0);
        self.op_ns = self
            .op_ns
            .saturating_add(interval.saturating_sub(self.clock_ns));
    }

    fn check_cap(&self, index: u64, after: u64) -> Result<(), Failure> {
        // A benchmark's cap is RLIMIT_DATA, enforced by the kernel.
        if !self.bench && after > self.cap {
            Err(Failure::new(
                wire::EXIT_CAP,
                Some(index),
                "the replay would go over its memory cap",
            ))
        } else {
            Ok(())
        }
    }

    /// 1 when glibc placed the block at `ptr` outside the brk heap (in a chunk of its
    /// own mapping), else 0.
    fn glibc_mapped_flag(&self, ptr: usize) -> u64 {
        if self.bench {
            // Only samples (RSS) need it, and a benchmark takes none.
            return 0;
        }
        let brk = sys::program_break();
        u64::from(!(ptr >= self.initial_brk && ptr < brk))
    }

    /// Real bytes held now (glibc: `arena + hblkhd`; mmap: the mappings).
    fn held(&self) -> u64 {
        self.info.arena.saturating_add(self.info.hblkhd)
    }

    fn malloc(&mut self, index: u64, slot: usize, size: u64, how: How) -> Result<usize, Failure> {
        if self.slot(slot, index)?.ptr != 0 {
            return Err(Failure::new(
                wire::EXIT_INVALID,
                Some(index),
                "malloc of a block that is live",
            ));
        }
        let (ptr, map_len) = match self.strategy {
            Strategy::Glibc => {
                let extra = match how {
                    How::Aligned { align, .. } => align,
                    _ => 0,
                };
                let need = real_block_bytes(Strategy::Glibc, size.saturating_add(extra))
                    .saturating_add(GLIBC_GROWTH_SLACK);
                self.check_cap(index, self.held().saturating_add(need))?;
                let t0 = self.clock();
                let (ptr, call) = match how {
                    _ if self.dry => (DRY_BLOCK, ""),
                    How::Malloc => (sys::malloc(size as usize), "malloc returned NULL"),
                    How::Calloc { count, each } => (
                        sys::calloc(count as usize, each as usize),
                        "calloc returned NULL",
                    ),
                    How::Aligned { func, align } => {
                        let (align, size) = (align as usize, size as usize);
                        match func {
                            tag::FUNC_POSIX_MEMALIGN => (
                                sys::posix_memalign(align, size).unwrap_or(std::ptr::null_mut()),
                                "posix_memalign failed",
                            ),
                            tag::FUNC_ALIGNED_ALLOC => (
                                sys::aligned_alloc(align, size),
                                "aligned_alloc returned NULL",
                            ),
                            _ => (sys::memalign(align, size), "memalign returned NULL"),
                        }
                    }
                };
                if ptr.is_null() {
                    return Err(Failure::new(wire::EXIT_OOM, Some(index), call));
                }
                if self.write_all && !self.dry {
                    // SAFETY: the call returned at least `size` writable bytes at `ptr`.
                    unsafe { ptr.write_bytes(FILL, size as usize) };
                }
                self.stop_clock(t0);
                (ptr as usize, self.glibc_mapped_flag(ptr as usize))
            }
            Strategy::Mmap => {
                let len = real_block_bytes(Strategy::Mmap, size);
                self.check_cap(index, self.held().saturating_add(len))?;
                let t0 = self.clock();
                let ptr = if self.dry {
                    DRY_BLOCK
                } else {
                    sys::mmap_anon(len as usize, libc::PROT_READ | libc::PROT_WRITE, 0)
                        .map_err(|e| Failure::oom(index, e))?
                };
                if self.write_all && !self.dry {
                    // SAFETY: the mapping holds `len >= size` writable bytes.
                    unsafe { ptr.write_bytes(FILL, size as usize) };
                }
                self.stop_clock(t0);
                self.syscalls[wire::SYS_MMAP] += 1;
                self.info.hblks += 1;
                self.info.hblkhd += len;
                (ptr as usize, len)
            }
        };
        self.live = self.live.saturating_add(size);
        self.set_slot(slot, Slot { ptr, size, map_len });
        Ok(ptr)
    }

    fn free(&mut self, index: u64, slot: usize) -> Result<(), Failure> {
        let s = self.live_slot(slot, index)?;
        let t0 = self.clock();
        match self.strategy {
            _ if self.dry => {}
            // SAFETY: `s.ptr` came from malloc/realloc and has not been freed (the table
            // clears a slot when its block is freed).
            Strategy::Glibc => unsafe { sys::free(s.ptr as *mut u8) },
            Strategy::Mmap => {
                // SAFETY: `s.ptr`/`s.map_len` describe a live mapping made for this block
                // and nothing else refers to it.
                unsafe { sys::munmap(s.ptr as *mut u8, s.map_len as usize) }
                    .map_err(|e| Failure::sys(Some(index), e))?;
                self.syscalls[wire::SYS_MUNMAP] += 1;
                self.returned_munmap += s.map_len;
                self.info.hblks = self.info.hblks.saturating_sub(1);
                self.info.hblkhd = self.info.hblkhd.saturating_sub(s.map_len);
            }
        }
        self.stop_clock(t0);
        self.live = self.live.saturating_sub(s.size);
        self.set_slot(
            slot,
            Slot {
                ptr: 0,
                size: 0,
                map_len: 0,
            },
        );
        Ok(())
    }

    /// Resizes a block; `None` when `size` is 0 and the block was freed (glibc's rule).
    fn realloc(&mut self, index: u64, slot: usize, size: u64) -> Result<Option<usize>, Failure> {
        let s = self.live_slot(slot, index)?;
        if size == 0 {
            match self.strategy {
                Strategy::Glibc => {
                    let t0 = self.clock();
                    if !self.dry {
                        // SAFETY: `s.ptr` is live; realloc(p, 0) frees it, returns NULL.
                        unsafe { sys::realloc(s.ptr as *mut u8, 0) };
                    }
                    self.stop_clock(t0);
                    self.live = self.live.saturating_sub(s.size);
                    self.set_slot(
                        slot,
                        Slot {
                            ptr: 0,
                            size: 0,
                            map_len: 0,
                        },
                    );
                }
                Strategy::Mmap => self.free(index, slot)?,
            }
            return Ok(None);
        }
        let grow = size.saturating_sub(s.size) as usize;
        let (ptr, map_len) = match self.strategy {
            Strategy::Glibc => {
                let need =
                    real_block_bytes(Strategy::Glibc, size).saturating_add(GLIBC_GROWTH_SLACK);
                self.check_cap(index, self.held().saturating_add(need))?;
                let t0 = self.clock();
                let ptr = if self.dry {
                    DRY_BLOCK
                } else {
                    // SAFETY: `s.ptr` is a live block from malloc/realloc; on failure
                    // realloc returns NULL and leaves it valid.
                    unsafe { sys::realloc(s.ptr as *mut u8, size as usize) }
                };
                if ptr.is_null() {
                    return Err(Failure::new(
                        wire::EXIT_OOM,
                        Some(index),
                        "realloc returned NULL",
                    ));
                }
                if self.write_all && grow > 0 && !self.dry {
                    // SAFETY: the block now has `size` bytes; bytes `s.size..size` are
                    // inside it.
                    unsafe { ptr.add(s.size as usize).write_bytes(FILL, grow) };
                }
                self.stop_clock(t0);
                (ptr as usize, self.glibc_mapped_flag(ptr as usize))
            }
            Strategy::Mmap => {
                let len = real_block_bytes(Strategy::Mmap, size);
                let t0 = self.clock();
                let mut ptr = s.ptr as *mut u8;
                if len != s.map_len && !self.dry {
                    self.check_cap(
                        index,
                        self.held().saturating_sub(s.map_len).saturating_add(len),
                    )?;
                    // SAFETY: `s.ptr`/`s.map_len` describe a live mapping of this block;
                    // MREMAP_MAYMOVE lets the kernel move it, and the old address is not
                    // used again.
                    ptr = unsafe {
                        sys::mremap(ptr, s.map_len as usize, len as usize, libc::MREMAP_MAYMOVE)
                    }
                    .map_err(|e| Failure::oom(index, e))?;
                    self.syscalls[wire::SYS_MREMAP] += 1;
                    self.returned_munmap += s.map_len.saturating_sub(len);
                    self.info.hblkhd = self
                        .info
                        .hblkhd
                        .saturating_sub(s.map_len)
                        .saturating_add(len);
                }
                if self.write_all && grow > 0 && !self.dry {
                    // SAFETY: the mapping now has `len >= size` bytes; `s.size..size` is
                    // inside it.
                    unsafe { ptr.add(s.size as usize).write_bytes(FILL, grow) };
                }
                self.stop_clock(t0);
                (ptr as usize, len)
            }
        };
        self.live = self.live.saturating_sub(s.size).saturating_add(size);
        self.set_slot(slot, Slot { ptr, size, map_len });
        Ok(Some(ptr))
    }

    fn touch(
        &mut self,
        index: u64,
        slot: usize,
        offset: u64,
        len: u64,
        write: bool,
    ) -> Result<(), Failure> {
        let s = self.live_slot(slot, index)?;
        if offset.checked_add(len).is_none_or(|end| end > s.size) {
            return Err(Failure::new(
                wire::EXIT_INVALID,
                Some(index),
                "touch outside its block",
            ));
        }
        if len == 0 || self.dry {
            return Ok(());
        }
        let t0 = self.clock();
        // SAFETY: offset + len <= s.size (checked above), so `start` and every byte up to
        // `start + len` are inside the live block.
        let start = unsafe { (s.ptr as *mut u8).add(offset as usize) };
        if write {
            // SAFETY: see above; the block is writable.
            unsafe { std::ptr::write_bytes(start, FILL, len as usize) };
        } else {
            // A read faults a page in as much as reading all its bytes would: read the
            // first byte and one byte in every further page.
            let mut sum = 0u8;
            let mut at = 0u64;
            while at < len {
                // SAFETY: at < len, inside the block (see above).
                sum ^= unsafe { std::ptr::read_volatile(start.add(at as usize)) };
                let to_next_page = 4096 - ((s.ptr as u64 + offset + at) & 4095);
                at += to_next_page;
            }
            std::hint::black_box(sum);
        }
        self.stop_clock(t0);
        Ok(())
    }

    fn trim(&mut self, pad: u64) {
        if self.strategy == Strategy::Glibc && !self.dry {
            let t0 = self.clock();
            sys::malloc_trim(pad as usize);
            self.stop_clock(t0);
        }
    }

    /// Refreshes the allocator figures (glibc) and writes op `index`'s row.
    fn row(
        &mut self,
        index: u64,
        kind: u8,
        id: u64,
        size: u64,
        ptr: Option<usize>,
    ) -> Result<(), Failure> {
        if self.bench {
            return Ok(());
        }
        if self.strategy == Strategy::Glibc {
            self.observe_glibc();
        }
        let o = &mut self.out;
        o.num(index)?;
        o.put(b",")?;
        o.put(&[kind])?;
        o.put(b",")?;
        o.num(id)?;
        o.put(b",")?;
        o.num(size)?;
        match ptr {
            Some(p) if p >= self.initial_brk && p < self.brk => {
                o.put(b",heap,")?;
                o.num((p - self.initial_brk) as u64)?;
            }
            Some(_) => o.put(b",mmap,0")?,
            None => o.put(b",-,0")?,
        }
        let mut i = self.info;
        if self.strategy == Strategy::Mmap {
            // DESIGN.md's mallinfo2-like columns for allocators other than glibc:
            // uordblks = bytes allocated (here: the page-rounded mappings), as the
            // simulated `mmap` allocator reports them.
            i.uordblks = i.hblkhd;
        }
        for v in [
            i.arena, i.hblks, i.hblkhd, i.uordblks, i.fordblks, i.keepcost,
        ] {
            o.put(b",")?;
            o.num(v)?;
        }
        Ok(o.put(b"\n")?)
    }

    /// Reads `mallinfo2` and the break after a glibc op, and infers from the changes the
    /// syscalls glibc made (see `replay_real`'s documentation for what is visible).
    fn observe_glibc(&mut self) {
        let before = self.info;
        let brk_before = self.brk;
        self.info = sys::mallinfo2();
        self.brk = sys::program_break();
        if self.brk != brk_before {
            self.syscalls[wire::SYS_BRK] += 1;
            self.returned_brk += brk_before.saturating_sub(self.brk) as u64;
        }
        let (b, a) = (before, self.info);
        if a.hblks > b.hblks {
            self.syscalls[wire::SYS_MMAP] += a.hblks - b.hblks;
        } else if a.hblks < b.hblks {
            self.syscalls[wire::SYS_MUNMAP] += b.hblks - a.hblks;
        } else if a.hblkhd != b.hblkhd {
            self.syscalls[wire::SYS_MREMAP] += 1;
        }
        self.returned_munmap += b.hblkhd.saturating_sub(a.hblkhd);
    }

    /// Resident bytes of the replayed memory: the heap range and every live block in a
    /// mapping of its own.
    fn rss(&mut self, index: Option<u64>) -> Result<u64, Failure> {
        let mut rss = 0;
        if self.brk > self.initial_brk {
            rss += sys::resident_bytes(self.initial_brk, self.brk - self.initial_brk, self.scratch)
                .map_err(|e| Failure::sys(index, e))?;
        }
        if self.info.hblks > 0 {
            let mut i = 0;
            while i + SLOT_WORDS <= self.table.len() {
                let (ptr, size, map_len) = (self.table[i], self.table[i + 1], self.table[i + 2]);
                if ptr != 0 && map_len != 0 {
                    // glibc's mapping runs from 16 bytes before the block to the page
                    // after its end; only the block's pages are ever touched.
                    let len = if self.strategy == Strategy::Mmap {
                        map_len
                    } else {
                        size.max(1)
                    };
                    rss += sys::resident_bytes(ptr as usize, len as usize, self.scratch)
                        .map_err(|e| Failure::sys(index, e))?;
                }
                i += SLOT_WORDS;
            }
        }
        Ok(rss)
    }

    /// Records a sample after op `index` (or at the end).
    /// A benchmark's checkpoint after `done` ops: the CPU time since its loop began.
    fn checkpoint(&mut self, done: u64) -> Result<(), Failure> {
        let ns = sys::process_cpu_ns().saturating_sub(self.cpu0);
        self.record_checkpoint(done, ns)
    }

    fn record_checkpoint(&mut self, done: u64, ns: u64) -> Result<(), Failure> {
        let base = self.n_samples * wire::SAMPLE_WORDS;
        let dest = self
            .samples
            .get_mut(base..base + wire::SAMPLE_WORDS)
            .ok_or(Failure::protocol("more checkpoints than announced"))?;
        dest[smp::OP] = done;
        dest[smp::TIME_NS] = ns;
        self.n_samples += 1;
        Ok(())
    }

    fn sample(&mut self, index: Option<u64>, phase: bool) -> Result<(), Failure> {
        let rss = self.rss(index)?;
        let faults = sys::minor_faults().saturating_sub(self.minflt0);
        let i = self.info;
        let heap_range = (self.brk - self.initial_brk) as u64;
        let (allocated, footprint, free_in_heap, mapped) = match self.strategy {
            Strategy::Glibc => (
                i.uordblks + i.hblkhd,
                i.arena + i.hblkhd,
                i.fordblks,
                heap_range + i.hblkhd,
            ),
            Strategy::Mmap => (i.hblkhd, i.hblkhd, 0, i.hblkhd),
        };
        let mut rec = [0u64; wire::SAMPLE_WORDS];
        rec[smp::OP] = index.map_or(self.n_ops, |i| i + 1);
        rec[smp::PHASE] = phase as u64;
        rec[smp::TIME_NS] = self.op_ns;
        rec[smp::LIVE] = self.live;
        rec[smp::ALLOCATED] = allocated;
        rec[smp::FOOTPRINT] = footprint;
        rec[smp::FREE_IN_HEAP] = free_in_heap;
        rec[smp::MAPPED] = mapped;
        rec[smp::RSS] = rss;
        rec[smp::RETURNED_BRK] = self.returned_brk;
        rec[smp::RETURNED_MUNMAP] = self.returned_munmap;
        rec[smp::RETURNED_MADVISE] = 0;
        rec[smp::SYSCALLS..smp::SYSCALLS + 6].copy_from_slice(&self.syscalls);
        rec[smp::MINOR_FAULTS] = faults;
        let base = self.n_samples * wire::SAMPLE_WORDS;
        let dest = self
            .samples
            .get_mut(base..base + wire::SAMPLE_WORDS)
            .ok_or(Failure::protocol("more samples than announced"))?;
        dest.copy_from_slice(&rec);
        self.n_samples += 1;
        Ok(())
    }
}

/// The smallest interval two back-to-back clock reads give: what timing an op adds to
/// its own measurement (the minimum, not the mean, so a preemption does not count).
fn clock_overhead() -> u64 {
    let mut best = u64::MAX;
    for _ in 0..2000 {
        let a = sys::monotonic_ns();
        let b = sys::monotonic_ns();
        best = best.min(b.saturating_sub(a));
    }
    best
}

/// Calls mmap, mremap and munmap once on a scratch page, so that their code is mapped
/// before the replay's fault count starts.
fn warm_up_mapping_calls() {
    let page = 4096;
    let Ok(p) = sys::mmap_anon(page, libc::PROT_READ | libc::PROT_WRITE, 0) else {
        return;
    };
    // SAFETY: a fresh anonymous page at a kernel-chosen address, remapped and unmapped
    // right away; nothing else refers to it.
    unsafe {
        match sys::mremap(p, page, 2 * page, libc::MREMAP_MAYMOVE) {
            Ok(q) => {
                let _ = sys::munmap(q, 2 * page);
            }
            Err(_) => {
                let _ = sys::munmap(p, page);
            }
        }
    }
}
