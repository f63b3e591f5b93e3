//! Physical memory: a pool of 4 KiB frames, grouped in 2 MiB blocks.
//!
//! Every byte a process can touch lives in a *frame*, a 4 KiB slice of physical RAM
//! named by its frame number (its physical address divided by 4096). The kernel hands
//! frames out on page faults and for page-table pages, and takes them back when memory
//! is unmapped or advised away. When none is left, the fault cannot be served: on a real
//! machine the OOM killer runs; in the model the access returns
//! [`Fault::OutOfMemory`](crate::Fault::OutOfMemory) and syscalls return ENOMEM.
//!
//! A 2 MiB huge page needs 512 frames that are *contiguous and 2 MiB-aligned* in
//! physical memory, because one page-directory entry maps them with a single base
//! address. Linux finds such runs with its buddy allocator; the model keeps the part
//! of the buddy system that matters for huge pages: memory is split into 2 MiB
//! *blocks*, and a block is either
//! - wholly free (it can become a huge page, or be split for 4 KiB frames),
//! - one huge page, or
//! - split into 512 single frames, some of them in use (a bitmap says which).
//!
//! A split block whose last frame is freed becomes wholly free again (the buddies
//! coalesce). So scattered 4 KiB allocations *fragment* physical memory: free frames
//! may exist while no free 2 MiB block does, and a huge-page fault must then fall back
//! to 4 KiB pages, as Linux's THP does.
//!
//! Blocks are used in address order and only materialised when first needed, so a
//! machine of many gigabytes costs nothing until it is used.
//!
//! In the byte-storing mode (`crate::contents`) the pool also keeps the bytes of the
//! frames that were written, and forgets them when a frame is freed: whatever gives a
//! frame back (unmap, `MADV_DONTNEED`, reclaim, exit) drops its contents, and the
//! next owner finds zeros, as the kernel's page zeroing guarantees.

use crate::contents::FrameBytes;

/// A physical frame number.
pub type Frame = u32;

/// Frames per 2 MiB block (and per huge page).
pub const FRAMES_PER_BLOCK: u32 = 512;

/// The state of one 2 MiB block.
#[derive(Clone, Debug)]
enum Block {
    /// Every frame free; may be handed out whole as a huge page.
    Free,
    /// One huge page.
    Huge,
    /// Split into single frames.
    Split {
        /// Frames in use.
        used: u16,
        /// Frames that exist in this block (512, except maybe in the last block).
        cap: u16,
        /// Bit `i` set: frame `i` is in use (or does not exist).
        bits: [u64; 8],
    },
}

/// The pool of physical frames shared by every process.
#[derive(Clone, Debug)]
pub struct FramePool {
    /// Frames in the machine.
    total: u64,
    /// Frames not in use.
    free: u64,
    /// Blocks in the machine (the last may be partial).
    nblocks: u32,
    /// Blocks materialised so far, indexed by block number; blocks at and above
    /// `blocks.len()` have never been used and are free.
    blocks: Vec<Block>,
    /// Wholly free, full-size blocks below the high-water mark (a stack: the most
    /// recently freed block is reused first).
    free_blocks: Vec<u32>,
    /// Split blocks that may have a free frame (a stack; entries can be stale and are
    /// dropped when found full or no longer split).
    partial: Vec<u32>,
    /// `in_partial[b]`: block `b` has an entry in `partial`.
    in_partial: Vec<bool>,
    /// The bytes stored in frames, in the byte-storing mode (`crate::contents`);
    /// `None` while the mode is off. A frame's bytes go when the frame goes back.
    pub(crate) bytes: Option<FrameBytes>,
}

impl FramePool {
    /// A pool of `total_frames` frames, all free. At most 2^32 frames.
    pub fn new(total_frames: u64) -> FramePool {
        let total = total_frames.min(1 << 32);
        FramePool {
            total,
            free: total,
            nblocks: total.div_ceil(FRAMES_PER_BLOCK as u64) as u32,
            blocks: Vec::new(),
            free_blocks: Vec::new(),
            partial: Vec::new(),
            in_partial: Vec::new(),
            bytes: None,
        }
    }

    /// Frames in the machine.
    pub fn total_frames(&self) -> u64 {
        self.total
    }

    /// Frames not in use.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Frames in use.
    pub fn used_frames(&self) -> u64 {
        self.total - self.free
    }

    /// Frames that exist in block `b`.
    fn cap(&self, b: u32) -> u16 {
        let first = b as u64 * FRAMES_PER_BLOCK as u64;
        (self.total - first).min(FRAMES_PER_BLOCK as u64) as u16
    }

    /// Takes a wholly free block of full size, or `None`.
    fn take_free_block(&mut self) -> Option<u32> {
        if let Some(b) = self.free_blocks.pop() {
            return Some(b);
        }
        let b = self.blocks.len() as u32;
        if b < self.nblocks && self.cap(b) as u32 == FRAMES_PER_BLOCK {
            self.blocks.push(Block::Free);
            self.in_partial.push(false);
            return Some(b);
        }
        None
    }

    /// True when a huge page could be allocated now.
    pub fn has_free_block(&self) -> bool {
        if !self.free_blocks.is_empty() {
            return true;
        }
        let b = self.blocks.len() as u32;
        b < self.nblocks && self.cap(b) as u32 == FRAMES_PER_BLOCK
    }

    /// Allocates one 4 KiB frame, or `None` when physical memory is exhausted.
    pub fn alloc(&mut self) -> Option<Frame> {
        if self.free == 0 {
            return None;
        }
        loop {
            if let Some(&b) = self.partial.last() {
                if let Block::Split { used, cap, bits } = &mut self.blocks[b as usize]
                    && *used < *cap
                {
                    for (w, word) in bits.iter_mut().enumerate() {
                        if *word != u64::MAX {
                            let i = word.trailing_ones();
                            *word |= 1 << i;
                            *used += 1;
                            self.free -= 1;
                            return Some(b * FRAMES_PER_BLOCK + w as u32 * 64 + i);
                        }
                    }
                }
                // Stale entry: the block filled up or stopped being split.
                self.partial.pop();
                self.in_partial[b as usize] = false;
                continue;
            }
            // No split block has room: split a free block. The partial last block of
            // a machine whose size is not a multiple of 2 MiB is only ever split.
            let b = match self.take_free_block() {
                Some(b) => b,
                None => {
                    let b = self.blocks.len() as u32;
                    if b >= self.nblocks {
                        return None; // unreachable while `free > 0`
                    }
                    self.blocks.push(Block::Free);
                    self.in_partial.push(false);
                    b
                }
            };
            let cap = self.cap(b);
            let mut bits = [0u64; 8];
            for i in cap as usize..FRAMES_PER_BLOCK as usize {
                bits[i / 64] |= 1 << (i % 64);
            }
            self.blocks[b as usize] = Block::Split { used: 0, cap, bits };
            self.partial.push(b);
            self.in_partial[b as usize] = true;
        }
    }

    /// Returns one 4 KiB frame to the pool.
    pub fn free(&mut self, frame: Frame) {
        let b = frame / FRAMES_PER_BLOCK;
        let i = (frame % FRAMES_PER_BLOCK) as usize;
        let full_size = self.cap(b) as u32 == FRAMES_PER_BLOCK;
        let Some(Block::Split { used, bits, .. }) = self.blocks.get_mut(b as usize) else {
            debug_assert!(false, "free of frame {frame} that is not a single frame");
            return;
        };
        debug_assert!(
            bits[i / 64] & (1 << (i % 64)) != 0,
            "double free of {frame}"
        );
        bits[i / 64] &= !(1 << (i % 64));
        *used -= 1;
        self.free += 1;
        if let Some(bytes) = &mut self.bytes {
            bytes.forget(frame);
        }
        if *used == 0 && full_size {
            // The buddies coalesce: the whole block is free again.
            self.blocks[b as usize] = Block::Free;
            self.free_blocks.push(b);
        } else if !self.in_partial[b as usize] {
            self.partial.push(b);
            self.in_partial[b as usize] = true;
        }
    }

    /// Allocates a huge page: 512 contiguous, 2 MiB-aligned frames. Returns the first
    /// frame, or `None` when no wholly free block exists (even if enough scattered
    /// frames are free).
    pub fn alloc_huge(&mut self) -> Option<Frame> {
        let b = self.take_free_block()?;
        self.blocks[b as usize] = Block::Huge;
        self.free -= FRAMES_PER_BLOCK as u64;
        Some(b * FRAMES_PER_BLOCK)
    }

    /// Frees a huge page allocated by [`FramePool::alloc_huge`].
    pub fn free_huge(&mut self, base: Frame) {
        let b = base / FRAMES_PER_BLOCK;
        debug_assert!(matches!(self.blocks.get(b as usize), Some(Block::Huge)));
        self.blocks[b as usize] = Block::Free;
        self.free_blocks.push(b);
        self.free += FRAMES_PER_BLOCK as u64;
        if let Some(bytes) = &mut self.bytes {
            for f in base..base + FRAMES_PER_BLOCK {
                bytes.forget(f);
            }
        }
    }

    /// Turns a huge page into 512 single frames, all in use, each of which can then be
    /// freed on its own (what Linux does when it splits a transparent huge page).
    pub fn split_huge(&mut self, base: Frame) {
        let b = base / FRAMES_PER_BLOCK;
        debug_assert!(matches!(self.blocks.get(b as usize), Some(Block::Huge)));
        self.blocks[b as usize] = Block::Split {
            used: FRAMES_PER_BLOCK as u16,
            cap: FRAMES_PER_BLOCK as u16,
            bits: [u64::MAX; 8],
        };
    }

    /// Recounts free frames from the block states (for consistency checks).
    pub fn recount_free(&self) -> u64 {
        let mut free = 0;
        for (b, block) in self.blocks.iter().enumerate() {
            free += match block {
                Block::Free => self.cap(b as u32) as u64,
                Block::Huge => 0,
                Block::Split { used, cap, .. } => (*cap - *used) as u64,
            };
        }
        for b in self.blocks.len() as u32..self.nblocks {
            free += self.cap(b) as u64;
        }
        free
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_until_exhausted_then_none() {
        let mut p = FramePool::new(10);
        let frames: Vec<Frame> = (0..10).map(|_| p.alloc().unwrap()).collect();
        assert_eq!(p.alloc(), None);
        assert_eq!(p.free_frames(), 0);
        let mut sorted = frames.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 10, "frames are distinct");
        assert!(frames.iter().all(|&f| f < 10));
        p.free(frames[3]);
        assert_eq!(p.alloc(), Some(frames[3]));
        assert_eq!(p.recount_free(), p.free_frames());
    }

    #[test]
    fn huge_pages_need_a_whole_free_block() {
        let mut p = FramePool::new(2 * 512);
        let h = p.alloc_huge().unwrap();
        assert_eq!(h % 512, 0);
        let f = p.alloc().unwrap(); // splits the second block
        assert_eq!(p.alloc_huge(), None, "one frame in use fragments the block");
        assert_eq!(p.free_frames(), 511);
        p.free(f); // the block coalesces
        assert!(p.has_free_block());
        let h2 = p.alloc_huge().unwrap();
        assert_ne!(h, h2);
        p.free_huge(h);
        p.free_huge(h2);
        assert_eq!(p.free_frames(), 1024);
        assert_eq!(p.recount_free(), 1024);
    }

    #[test]
    fn split_huge_frees_frame_by_frame() {
        let mut p = FramePool::new(512);
        let h = p.alloc_huge().unwrap();
        p.split_huge(h);
        for i in 0..511 {
            p.free(h + i);
        }
        assert_eq!(p.free_frames(), 511);
        assert!(!p.has_free_block());
        p.free(h + 511);
        assert!(p.has_free_block());
        assert_eq!(p.recount_free(), 512);
    }

    #[test]
    fn partial_last_block_serves_small_frames_only() {
        let mut p = FramePool::new(512 + 3);
        assert!(p.alloc_huge().is_some());
        assert!(p.alloc_huge().is_none());
        let a: Vec<Frame> = (0..3).map(|_| p.alloc().unwrap()).collect();
        assert!(a.iter().all(|&f| (512..515).contains(&f)));
        assert_eq!(p.alloc(), None);
        for f in a {
            p.free(f);
        }
        assert_eq!(p.free_frames(), 3);
        assert_eq!(p.recount_free(), 3);
    }
}
