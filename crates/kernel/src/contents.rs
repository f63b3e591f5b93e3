//! Memory with contents: the optional byte-storing mode.
//!
//! Most of the model never needs to know *what* is in memory, only *where* memory is:
//! [`Kernel::touch`] faults pages in, walks the TLB and charges the costs, and the
//! bytes themselves are not kept. That is what keeps long simulations fast, and it is
//! enough for allocators whose metadata lives in Rust structures (the glibc model, the
//! textbook free lists), which tell the kernel about their metadata accesses with
//! `touch`.
//!
//! An allocator written the C way keeps its headers, footers and free-list links *in*
//! the memory it manages, and a grader wants to know whether a block's bytes survive a
//! `realloc`. For them the kernel can also keep the bytes:
//!
//! - [`Kernel::write`] and [`Kernel::read`] (and the little-endian word forms
//!   [`Kernel::write_u64`], [`Kernel::read_u64`], and [`Kernel::copy`], a `memmove`)
//!   are user-space accesses exactly like `touch`: the same TLB lookups and page
//!   walks, the same demand-paging faults, the same SIGSEGV on an unmapped page or
//!   against the protection, the same costs. On top of that they move bytes.
//! - The bytes live **per physical frame**, sparsely: a frame gets its 4 KiB of storage
//!   the first time a byte is written to it, so memory that is only touched (or never
//!   written at all) costs nothing. A page that was never written reads as zeros, as
//!   a fresh anonymous page or the shared zero page does on Linux.
//! - Because the bytes belong to the frame and not to the virtual address, everything
//!   the kernel does to frames does the right thing to contents without a special
//!   case: `MADV_DONTNEED`, `munmap`, a brk shrink, reclaim of an `MADV_FREE` page and
//!   process exit free frames, and a freed frame's bytes are dropped with it (the next
//!   fault hands out a zeroed frame); `mremap` moves page-table entries, so the bytes
//!   move with their frames; two processes that use the same virtual address have
//!   different frames, so different bytes.
//! - [`Kernel::peek`] and [`Kernel::peek_u64`] read bytes the way a debugger does
//!   (`/proc/PID/mem`): no fault, no TLB lookup, no cost, nothing changes. Heap
//!   checkers and heap maps use them; an allocator's own accesses must not.
//! - [`Kernel::byte_stats`] counts what went through the interface (calls, bytes and
//!   64-byte cache lines read and written), so a grader can charge an allocator for
//!   the memory accesses it makes, and [`Kernel::log_writes`] records the ranges
//!   written, so a grader can tell *which* call wrote into someone else's block.
//!
//! The mode is off by default ([`KernelConfig::store_bytes`](crate::KernelConfig)).
//! A kernel whose configuration leaves it off turns it on at the first `write`, so an
//! allocator that keeps its metadata in memory runs on any kernel; until then no
//! storage exists and freeing a frame costs one branch more. `touch` never stores
//! anything, in either mode: it stands for accesses whose bytes the model does not
//! follow.

use crate::kernel::Kernel;
use crate::page_table::pte;
use crate::phys::Frame;
use crate::types::{Access, Addr, Fault, PAGE_SHIFT, PAGE_SIZE, SegvReason, USER_SPACE_END};

/// Bytes of a cache line, the unit in which [`ByteStats`] counts accesses.
pub const CACHE_LINE: u64 = 64;

/// The bytes of one frame.
type Page = Box<[u8; PAGE_SIZE as usize]>;

/// The bytes of the frames that hold any: 4 KiB per frame written to, none for the
/// others (they read as zeros).
///
/// Indexed by frame number: the pool hands out low frames first, so the index stays
/// about as long as the number of frames in use (8 bytes per frame up to the highest
/// one written), and a lookup is one array access.
#[derive(Clone, Debug, Default)]
pub(crate) struct FrameBytes {
    /// Frame number -> its bytes, if it holds any.
    frames: Vec<Option<Page>>,
    /// Frames holding bytes.
    count: usize,
}

impl FrameBytes {
    /// The bytes of `frame`, if any was ever written since it was handed out.
    fn get(&self, frame: Frame) -> Option<&[u8; PAGE_SIZE as usize]> {
        self.frames.get(frame as usize)?.as_deref()
    }

    /// The bytes of `frame`, zeroed storage made on first use.
    fn get_mut(&mut self, frame: Frame) -> &mut [u8; PAGE_SIZE as usize] {
        let i = frame as usize;
        if i >= self.frames.len() {
            self.frames.resize_with(i + 1, || None);
        }
        let slot = &mut self.frames[i];
        if slot.is_none() {
            self.count += 1;
        }
        slot.get_or_insert_with(|| Box::new([0; PAGE_SIZE as usize]))
    }

    /// Drops the bytes of a frame that goes back to the pool.
    pub(crate) fn forget(&mut self, frame: Frame) {
        if let Some(slot) = self.frames.get_mut(frame as usize)
            && slot.take().is_some()
        {
            self.count -= 1;
        }
    }

    /// Frames holding bytes.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The frames holding bytes, in order (for consistency checks).
    pub(crate) fn frames(&self) -> Vec<Frame> {
        (0..self.frames.len())
            .filter(|&i| self.frames[i].is_some())
            .map(|i| i as Frame)
            .collect()
    }
}

/// What went through the byte interface of a kernel ([`Kernel::byte_stats`]), over all
/// its processes since it booted. `peek` is not counted: it is not an access.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ByteStats {
    /// Calls that read (`read`, `read_u64`, and the read half of `copy`).
    pub reads: u64,
    /// Calls that wrote (`write`, `write_u64`, and the write half of `copy`).
    pub writes: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// 64-byte cache lines the reads covered (an aligned word is one line; a 4 KiB
    /// `memcpy` source is 64).
    pub lines_read: u64,
    /// 64-byte cache lines the writes covered.
    pub lines_written: u64,
    /// Frames that hold bytes right now.
    pub stored_frames: u64,
}

impl ByteStats {
    /// Cache lines read and written: the accesses a grader charges for.
    pub fn lines(&self) -> u64 {
        self.lines_read + self.lines_written
    }

    /// What happened between `earlier` and `self` (`stored_frames` is `self`'s).
    pub fn since(&self, earlier: &ByteStats) -> ByteStats {
        ByteStats {
            reads: self.reads - earlier.reads,
            writes: self.writes - earlier.writes,
            bytes_read: self.bytes_read - earlier.bytes_read,
            bytes_written: self.bytes_written - earlier.bytes_written,
            lines_read: self.lines_read - earlier.lines_read,
            lines_written: self.lines_written - earlier.lines_written,
            stored_frames: self.stored_frames,
        }
    }
}

/// The cache lines `[addr, addr + len)` covers.
fn lines(addr: Addr, len: u64) -> u64 {
    if len == 0 {
        return 0;
    }
    let last = addr.saturating_add(len - 1);
    last / CACHE_LINE - addr / CACHE_LINE + 1
}

/// Where an access that faulted stopped: the bytes before the faulting page were
/// accessed (like a `memcpy` that crashes half-way).
fn done_before(fault: &Fault, addr: Addr) -> u64 {
    let at = match *fault {
        Fault::Segv { addr, .. } | Fault::OutOfMemory { addr } => addr,
    };
    at.saturating_sub(addr)
}

impl Kernel {
    /// True when this kernel keeps the bytes written to memory (its configuration
    /// said so, or something has been written with [`Kernel::write`]).
    pub fn stores_bytes(&self) -> bool {
        self.phys.bytes.is_some()
    }

    /// What went through the byte interface so far.
    pub fn byte_stats(&self) -> ByteStats {
        ByteStats {
            stored_frames: self.phys.bytes.as_ref().map_or(0, |b| b.len() as u64),
            ..self.byte_io
        }
    }

    /// Starts (or, with `false`, stops) recording the ranges that [`Kernel::write`],
    /// [`Kernel::write_u64`] and [`Kernel::copy`] write, in the current process's
    /// addresses; [`Kernel::take_logged_writes`] hands them over. Stopping drops what
    /// was recorded.
    pub fn log_writes(&mut self, on: bool) {
        self.write_log = on.then(Vec::new);
    }

    /// The ranges written since the last call, as `(address, bytes)` in the order of
    /// the writes (empty when [`Kernel::log_writes`] is off).
    pub fn take_logged_writes(&mut self) -> Vec<(Addr, u64)> {
        match &mut self.write_log {
            Some(log) => std::mem::take(log),
            None => Vec::new(),
        }
    }

    /// The frame holding the page of `vpn` right now, `None` for the zero page or an
    /// unmapped page.
    fn frame_of(&self, vpn: u64) -> Option<Frame> {
        let leaf = self.cur.pt.translate(vpn);
        if !pte::has_frame(leaf.entry) {
            return None;
        }
        let base = pte::frame(leaf.entry);
        Some(if leaf.huge {
            base + (vpn & 511) as Frame
        } else {
            base
        })
    }

    /// Copies the stored bytes of `[addr, addr + buf.len())` into `buf`: zeros where a
    /// page has no frame or its frame was never written. No checks, no costs.
    fn copy_out(&self, addr: Addr, buf: &mut [u8]) {
        let mut at = addr;
        let mut i = 0;
        while i < buf.len() {
            let off = (at % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - i);
            let stored = self
                .phys
                .bytes
                .as_ref()
                .zip(self.frame_of(at >> PAGE_SHIFT))
                .and_then(|(b, f)| b.get(f));
            match stored {
                Some(page) => buf[i..i + n].copy_from_slice(&page[off..off + n]),
                None => buf[i..i + n].fill(0),
            }
            i += n;
            at += n as u64;
        }
    }

    /// A user-space read of `buf.len()` bytes at `addr` into `buf`: the same TLB
    /// lookups, faults, protection checks and costs as
    /// [`touch`](Kernel::touch)`(addr, len, Read)` (a first read of an untouched page
    /// maps the zero page), then the bytes. On a fault the bytes before the faulting
    /// page are read and the rest of `buf` is left as it was.
    pub fn read(&mut self, addr: Addr, buf: &mut [u8]) -> Result<(), Fault> {
        let len = buf.len() as u64;
        let r = self.touch(addr, len, Access::Read);
        let done = match &r {
            Ok(()) => len,
            Err(f) => done_before(f, addr).min(len),
        };
        self.copy_out(addr, &mut buf[..done as usize]);
        if len > 0 {
            let io = &mut self.byte_io;
            io.reads += 1;
            io.bytes_read += done;
            io.lines_read += lines(addr, done);
        }
        r
    }

    /// A user-space write of `data` at `addr`: the same TLB lookups, faults (a first
    /// write takes a zeroed frame), protection checks and costs as
    /// [`touch`](Kernel::touch)`(addr, len, Write)`, then the bytes are stored. On a
    /// fault the bytes before the faulting page are written. Turns the byte-storing
    /// mode on if it was off.
    pub fn write(&mut self, addr: Addr, data: &[u8]) -> Result<(), Fault> {
        let len = data.len() as u64;
        let r = self.touch(addr, len, Access::Write);
        let done = match &r {
            Ok(()) => len,
            Err(f) => done_before(f, addr).min(len),
        } as usize;
        if done > 0 {
            self.store(addr, &data[..done]);
            let io = &mut self.byte_io;
            io.writes += 1;
            io.bytes_written += done as u64;
            io.lines_written += lines(addr, done as u64);
            if let Some(log) = &mut self.write_log {
                log.push((addr, done as u64));
            }
        } else if len > 0 {
            self.byte_io.writes += 1;
        }
        r
    }

    /// Stores `data` at `addr`, whose pages were just made writable by a successful
    /// write access.
    fn store(&mut self, addr: Addr, data: &[u8]) {
        let mut at = addr;
        let mut i = 0;
        while i < data.len() {
            let off = (at % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - off).min(data.len() - i);
            let frame = self.frame_of(at >> PAGE_SHIFT);
            debug_assert!(frame.is_some(), "a written page has a frame");
            if let Some(f) = frame {
                let bytes = self.phys.bytes.get_or_insert_with(Default::default);
                bytes.get_mut(f)[off..off + n].copy_from_slice(&data[i..i + n]);
            }
            i += n;
            at += n as u64;
        }
    }

    /// Reads the little-endian 64-bit word at `addr` (any alignment), as
    /// [`Kernel::read`] of 8 bytes.
    pub fn read_u64(&mut self, addr: Addr) -> Result<u64, Fault> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes `value` as a little-endian 64-bit word at `addr` (any alignment), as
    /// [`Kernel::write`] of 8 bytes.
    pub fn write_u64(&mut self, addr: Addr, value: u64) -> Result<(), Fault> {
        self.write(addr, &value.to_le_bytes())
    }

    /// `memmove(dst, src, len)`: a read of `[src, src + len)` and then a write of the
    /// same bytes to `[dst, dst + len)`, each with everything [`Kernel::read`] and
    /// [`Kernel::write`] do. The ranges may overlap. If the read faults nothing is
    /// written.
    pub fn copy(&mut self, dst: Addr, src: Addr, len: u64) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
        self.read(src, &mut buf)?;
        self.write(dst, &buf)
    }

    /// Reads `buf.len()` bytes at `addr` the way a debugger does: no fault, no TLB
    /// lookup, no cost, no counter, nothing changes. Pages never written (or only
    /// touched) read as zeros. An address outside the process's readable VMAs is the
    /// SIGSEGV a real read would get, reported and not taken; `buf` then holds the
    /// bytes before it.
    pub fn peek(&self, addr: Addr, buf: &mut [u8]) -> Result<(), Fault> {
        let len = buf.len() as u64;
        let mut at = addr;
        let end = addr.saturating_add(len);
        while at < end {
            let segv = |reason| Fault::Segv {
                addr: at,
                access: Access::Read,
                reason,
            };
            if at >= USER_SPACE_END {
                return Err(segv(SegvReason::Unmapped));
            }
            let Some((_, vma)) = self.cur.vmas.find(at) else {
                return Err(segv(SegvReason::Unmapped));
            };
            if !vma.prot.allows_read() {
                return Err(segv(SegvReason::Protection));
            }
            let stop = end.min(vma.end).min(USER_SPACE_END);
            let (i, j) = ((at - addr) as usize, (stop - addr) as usize);
            self.copy_out(at, &mut buf[i..j]);
            at = stop;
        }
        if end - addr < len {
            return Err(Fault::Segv {
                addr: end,
                access: Access::Read,
                reason: SegvReason::Unmapped,
            });
        }
        Ok(())
    }

    /// The little-endian 64-bit word at `addr`, read as [`Kernel::peek`] does.
    pub fn peek_u64(&self, addr: Addr) -> Result<u64, Fault> {
        let mut b = [0u8; 8];
        self.peek(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Checks that bytes are kept only for frames some process maps as data (for
    /// [`Kernel::check_consistency`]): `mapped` is every data frame in use, sorted.
    pub(crate) fn audit_bytes(&self, mapped: &[Frame]) -> Result<(), String> {
        let Some(bytes) = &self.phys.bytes else {
            return Ok(());
        };
        for f in bytes.frames() {
            if mapped.binary_search(&f).is_err() {
                return Err(format!("bytes kept for frame {f}, which no page maps"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_every_cache_line_a_range_covers() {
        assert_eq!(lines(0, 0), 0);
        assert_eq!(lines(0, 8), 1);
        assert_eq!(lines(60, 8), 2, "a word across a line boundary");
        assert_eq!(lines(64, 4096), 64);
        assert_eq!(lines(1, 4096), 65);
    }
}
