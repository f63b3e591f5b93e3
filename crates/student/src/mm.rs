//! **Your allocator. This is the file you edit.**
//!
//! What is here is a working, deliberately wasteful baseline: an *implicit free list*
//! with boundary tags, as in chapter 9.9 of Bryant and O'Hallaron's *Computer Systems:
//! A Programmer's Perspective*. It is correct (`sim grade` gives it full marks for
//! correctness) and slow: every `malloc` walks every block from the start of the heap,
//! and every `free` walks the heap again to make sure the pointer is one it handed
//! out. The assignments ask you to do better (see the book's Assignments chapter).
//!
//! # The heap, byte by byte
//!
//! Everything about a block lives *in simulated memory*, next to the block, as in C;
//! your `Mm` struct may only hold a few scalars (like the global variables of a C
//! `mm.c`), never a collection of blocks. Words are 8 bytes, payloads 16-byte aligned.
//!
//! ```text
//!  lo                                                                  brk
//!  | pad | prologue | hdr | payload ... | ftr | hdr | ... | ftr | epilogue |
//!  | 8   | 8    8   | 8   |             | 8   |                 | 8        |
//!        `- 16|1 --'  `----------- size|used ------'             `- 0|1 ---'
//! ```
//!
//! - A block is a header word, the payload, and a footer word equal to the header.
//!   The word holds the block's size (a multiple of 16, header and footer included)
//!   with bit 0 set while the block is handed out ([`USED`]). The smallest block is
//!   32 bytes: header, 16 bytes of payload, footer.
//! - The *prologue* is a used 16-byte block (header and footer, no payload) and the
//!   *epilogue* a used header of size 0: with them, every real block has a neighbour
//!   on each side, so coalescing needs no special case at the ends.
//! - Payloads start at 16-byte boundaries: `lo` is page-aligned, the first header is
//!   at `lo + 24`, and every block size is a multiple of 16.
//!
//! # What you must keep (the contract)
//!
//! `sim grade` and the tests check, after every call (the `malloc::contract` module
//! states each rule exactly):
//! - every pointer you return is 16-byte aligned, its `size` bytes lie inside the heap
//!   you got from the kernel, and no two live blocks share a byte;
//! - the bytes the program wrote into a block are still there when it frees or
//!   reallocates it, and `realloc` keeps the first `min(old, new)` bytes;
//! - during a call you write no byte of any other live block's payload (a header
//!   written one word too far is caught at the call that writes it);
//! - `free` and `realloc` of a pointer you did not hand out (or that is already free)
//!   return `AllocError::InvalidPointer` and change nothing; `free(0)` does nothing;
//! - your heap map ([`Mm::walk`]) shows every block, and [`Mm::check_heap`] agrees
//!   that the heap is sound.
//!
//! # How you are charged
//!
//! Every call costs one `alloc_op_ns`, and every access through [`Mem`] one per
//! 64-byte cache line (see [`crate::mem`]); page faults, `sbrk` calls and TLB misses
//! cost what the kernel says. Fewer words read, fewer pages touched and fewer `sbrk`
//! calls make a faster allocator.

use crate::heap::Heap;
use crate::mem::Mem;
use kernel::Addr;
use malloc::{AllocError, Block, BlockKind};

/// Bytes of a word (header, footer, link).
pub const WORD: u64 = 8;
/// The alignment of payloads and of block sizes.
pub const ALIGN: u64 = 16;
/// The smallest block: header, 16 bytes of payload, footer.
pub const MIN_BLOCK: u64 = 32;
/// The bit of a header that says "handed out".
pub const USED: u64 = 1;
/// The prologue's header and footer: a used block of 16 bytes.
const PROLOGUE: u64 = (2 * WORD) | USED;
/// The largest request served (bigger ones are out of memory): far above any heap.
const MAX_REQUEST: u64 = 1 << 46;

/// The size a header word states.
fn size_of(word: u64) -> u64 {
    word & !(ALIGN - 1)
}

/// Whether a header word says "handed out".
fn used(word: u64) -> bool {
    word & USED != 0
}

/// The block size that holds a payload of `size` bytes: header and footer added,
/// rounded up to 16, at least [`MIN_BLOCK`]. `None` for absurd sizes.
fn block_size(size: u64) -> Option<u64> {
    if size > MAX_REQUEST {
        return None;
    }
    Some((size + 2 * WORD).next_multiple_of(ALIGN).max(MIN_BLOCK))
}

/// The allocator's state: scalars only. Everything else is in the heap.
#[derive(Clone, Debug)]
pub struct Mm {
    /// The heap's first byte, once the heap exists.
    lo: Option<Addr>,
    /// Bytes the heap grows by at least when no free block fits (whole pages).
    chunk: u64,
}

impl Mm {
    /// An allocator that has no heap yet and grows it by `chunk` bytes at a time.
    pub fn new(chunk: u64) -> Mm {
        Mm { lo: None, chunk }
    }

    /// The heap's first byte, once the heap exists.
    pub fn heap_lo(&self) -> Option<Addr> {
        self.lo
    }

    /// The first block's header.
    fn first(lo: Addr) -> Addr {
        lo + 3 * WORD
    }

    /// Writes a block's header and footer.
    fn set(m: &mut Mem, hdr: Addr, size: u64, is_used: bool) -> Result<(), AllocError> {
        let word = size | if is_used { USED } else { 0 };
        m.put(hdr, word)?;
        m.put(hdr + size - WORD, word)
    }

    /// Makes the heap: padding, prologue, epilogue, and one free block of `chunk`
    /// bytes minus those 32.
    fn init(&mut self, m: &mut Mem) -> Result<Addr, AllocError> {
        if let Some(lo) = self.lo {
            return Ok(lo);
        }
        let lo = m
            .sbrk(self.chunk)
            .ok_or(AllocError::OutOfMemory { size: 0 })?;
        m.put(lo, 0)?; // padding, so that payloads are 16-byte aligned
        m.put(lo + WORD, PROLOGUE)?; // prologue header
        m.put(lo + 2 * WORD, PROLOGUE)?; // prologue footer
        let free = self.chunk - 4 * WORD;
        Self::set(m, Self::first(lo), free, false)?;
        m.put(lo + self.chunk - WORD, USED)?; // epilogue
        self.lo = Some(lo);
        Ok(lo)
    }

    /// Grows the heap by at least `need` bytes (whole pages, at least `chunk`) and
    /// returns the header of the free block at its end (merged with a free block
    /// before it).
    fn extend(&mut self, m: &mut Mem, need: u64) -> Result<Option<Addr>, AllocError> {
        let bytes = need.max(self.chunk).next_multiple_of(m.page_size());
        let Some(old_brk) = m.sbrk(bytes) else {
            return Ok(None);
        };
        // The old epilogue becomes the new block's header; a new epilogue follows.
        let hdr = old_brk - WORD;
        Self::set(m, hdr, bytes, false)?;
        m.put(old_brk + bytes - WORD, USED)?;
        Ok(Some(Self::coalesce(m, hdr, bytes)?))
    }

    /// Merges the free block at `hdr` (of `size` bytes, header and footer written)
    /// with free neighbours; returns the merged block's header.
    fn coalesce(m: &mut Mem, hdr: Addr, size: u64) -> Result<Addr, AllocError> {
        let (mut start, mut total) = (hdr, size);
        let prev = m.get(hdr - WORD)?; // the previous block's footer
        if !used(prev) {
            start -= size_of(prev);
            total += size_of(prev);
        }
        let next = m.get(hdr + size)?; // the next block's header
        if !used(next) {
            total += size_of(next);
        }
        if total != size {
            Self::set(m, start, total, false)?;
        }
        Ok(start)
    }

    /// First fit: the first free block of at least `asize` bytes, walking every
    /// block from the start of the heap. (The slow part.)
    fn find_fit(&self, m: &mut Mem, lo: Addr, asize: u64) -> Result<Option<Addr>, AllocError> {
        let mut hdr = Self::first(lo);
        loop {
            let word = m.get(hdr)?;
            let size = size_of(word);
            if size == 0 {
                return Ok(None); // the epilogue
            }
            if !used(word) && size >= asize {
                return Ok(Some(hdr));
            }
            hdr += size;
        }
    }

    /// Hands out `asize` bytes of the free block at `hdr`, splitting off the rest
    /// when it can make a block of its own.
    fn place(m: &mut Mem, hdr: Addr, asize: u64) -> Result<(), AllocError> {
        let size = size_of(m.get(hdr)?);
        if size - asize >= MIN_BLOCK {
            Self::set(m, hdr, asize, true)?;
            Self::set(m, hdr + asize, size - asize, false)?;
        } else {
            Self::set(m, hdr, size, true)?;
        }
        Ok(())
    }

    /// The header of the used block whose payload starts at `ptr`, found by walking
    /// the heap (exact, and slow); `None` when `ptr` is not one.
    fn find_used(&self, m: &mut Mem, ptr: Addr) -> Result<Option<Addr>, AllocError> {
        let Some(lo) = self.lo else {
            return Ok(None);
        };
        if !ptr.is_multiple_of(ALIGN) || ptr < Self::first(lo) + WORD || ptr >= m.brk() {
            return Ok(None);
        }
        let mut hdr = Self::first(lo);
        while hdr + WORD <= ptr {
            let word = m.get(hdr)?;
            let size = size_of(word);
            if size == 0 {
                break;
            }
            if hdr + WORD == ptr {
                return Ok(used(word).then_some(hdr));
            }
            hdr += size;
        }
        Ok(None)
    }

    // ANCHOR: malloc
    /// `malloc(size)`: a 16-byte aligned pointer to at least `size` bytes.
    pub fn malloc(&mut self, m: &mut Mem, size: u64) -> Result<Addr, AllocError> {
        let oom = AllocError::OutOfMemory { size };
        let asize = block_size(size).ok_or(oom.clone())?;
        let lo = self.init(m).map_err(|_| oom.clone())?;
        let hdr = match self.find_fit(m, lo, asize)? {
            Some(h) => h,
            None => self.extend(m, asize)?.ok_or(oom)?,
        };
        Self::place(m, hdr, asize)?;
        Ok(hdr + WORD)
    }
    // ANCHOR_END: malloc

    /// `free(ptr)`.
    pub fn free(&mut self, m: &mut Mem, ptr: Addr) -> Result<(), AllocError> {
        if ptr == 0 {
            return Ok(());
        }
        let hdr = self
            .find_used(m, ptr)?
            .ok_or(AllocError::InvalidPointer { ptr })?;
        self.release(m, hdr)
    }

    /// Marks the used block at `hdr` free and coalesces it.
    fn release(&mut self, m: &mut Mem, hdr: Addr) -> Result<(), AllocError> {
        let size = size_of(m.get(hdr)?);
        Self::set(m, hdr, size, false)?;
        Self::coalesce(m, hdr, size)?;
        Ok(())
    }

    /// `realloc(ptr, size)`: keeps the block when it is big enough (never shrinks
    /// it), else moves it: a new block, the payload copied, the old block freed.
    pub fn realloc(&mut self, m: &mut Mem, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        if ptr == 0 {
            return self.malloc(m, size);
        }
        let hdr = self
            .find_used(m, ptr)?
            .ok_or(AllocError::InvalidPointer { ptr })?;
        let asize = block_size(size).ok_or(AllocError::OutOfMemory { size })?;
        let cur = size_of(m.get(hdr)?);
        if asize <= cur {
            return Ok(ptr);
        }
        let new = self.malloc(m, size)?;
        m.copy(new, ptr, (cur - 2 * WORD).min(size))?;
        self.release(m, hdr)?;
        Ok(new)
    }

    // ANCHOR: check_heap
    /// Your heap checker (15-213's `mm_checkheap`): walks the heap and says what is
    /// wrong, naming the address. The contract runs it after every call when you grade
    /// with `sim grade`; keep it in step with your layout, and make it strict: every
    /// invariant you rely on belongs here.
    pub fn check_heap(&self, heap: &Heap) -> Result<(), String> {
        let Some(lo) = self.lo else {
            return Ok(());
        };
        if heap.word(lo + WORD)? != PROLOGUE || heap.word(lo + 2 * WORD)? != PROLOGUE {
            return Err(format!("the prologue at {:#x} is damaged", lo + WORD));
        }
        let mut hdr = Self::first(lo);
        let mut prev_free: Option<Addr> = None;
        loop {
            let word = heap.word(hdr)?;
            let size = size_of(word);
            if size == 0 {
                if word != USED || hdr + WORD != heap.hi() {
                    return Err(format!(
                        "block at {hdr:#x} has size 0 but is not the epilogue (break {:#x})",
                        heap.hi()
                    ));
                }
                return Ok(());
            }
            if size < MIN_BLOCK || word & (ALIGN - 1) & !USED != 0 {
                return Err(format!("block at {hdr:#x}: bad header {word:#x}"));
            }
            if !(hdr + WORD).is_multiple_of(ALIGN) {
                return Err(format!("block at {hdr:#x}: payload not 16-byte aligned"));
            }
            if hdr + size > heap.hi() - WORD {
                return Err(format!(
                    "block at {hdr:#x} ({size} bytes) runs past the epilogue at {:#x}",
                    heap.hi() - WORD
                ));
            }
            let footer = heap.word(hdr + size - WORD)?;
            if footer != word {
                return Err(format!(
                    "block at {hdr:#x}: header {word:#x} and footer {footer:#x} disagree"
                ));
            }
            if !used(word) {
                if let Some(p) = prev_free {
                    return Err(format!(
                        "free blocks at {p:#x} and {hdr:#x} are neighbours: they should have been coalesced"
                    ));
                }
                prev_free = Some(hdr);
            } else {
                prev_free = None;
            }
            hdr += size;
        }
    }
    // ANCHOR_END: check_heap

    /// Your heap map, for the tools (`sim`'s heap maps, the contract's checks of
    /// blocks against the program's pointers, the statistics): every block in address
    /// order, the prologue and epilogue as the allocator's own `Meta` data. It reads
    /// the heap like `check_heap` and stops at the first header that makes no sense
    /// (the contract then reports the gap).
    pub fn walk(&self, heap: &Heap, out: &mut Vec<Block>) {
        let Some(lo) = self.lo else {
            return;
        };
        let block = |addr, size, kind| Block {
            addr,
            size,
            kind,
            mapped: false,
        };
        out.push(block(lo, 3 * WORD, BlockKind::Meta));
        let mut hdr = Self::first(lo);
        while let Ok(word) = heap.word(hdr) {
            let size = size_of(word);
            if size == 0 && hdr + WORD == heap.hi() {
                out.push(block(hdr, WORD, BlockKind::Meta));
                return;
            }
            if size < MIN_BLOCK || hdr + size > heap.hi() - WORD {
                return;
            }
            let kind = if used(word) {
                BlockKind::Used
            } else {
                BlockKind::Free
            };
            out.push(block(hdr, size, kind));
            hdr += size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_hold_the_payload_aligned() {
        assert_eq!(block_size(0), Some(32));
        assert_eq!(block_size(16), Some(32));
        assert_eq!(block_size(17), Some(48));
        assert_eq!(block_size(100), Some(128));
        assert_eq!(block_size(u64::MAX), None);
    }
}
