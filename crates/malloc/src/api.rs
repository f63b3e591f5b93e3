//! The allocator interface.

use kernel::{Addr, Errno, Fault, Kernel};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an allocator call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// The kernel would give no more memory (malloc returns NULL).
    OutOfMemory {
        /// The request that could not be served.
        size: u64,
    },
    /// `free` or `realloc` of a pointer this allocator did not hand out (or already
    /// freed). glibc aborts the program here ("free(): invalid pointer").
    InvalidPointer {
        /// The pointer.
        ptr: Addr,
    },
    /// A memory access of the allocator faulted.
    Fault(Fault),
    /// A syscall failed in a way the allocator cannot recover from.
    Syscall(Errno),
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::OutOfMemory { size } => {
                write!(f, "out of memory for a {size}-byte request")
            }
            AllocError::InvalidPointer { ptr } => write!(f, "invalid pointer {ptr:#x}"),
            AllocError::Fault(fault) => write!(f, "{fault}"),
            AllocError::Syscall(e) => write!(f, "syscall failed: {e}"),
        }
    }
}

impl std::error::Error for AllocError {}

impl From<Fault> for AllocError {
    fn from(f: Fault) -> Self {
        AllocError::Fault(f)
    }
}

// ANCHOR: heap_stats
/// An allocator's own account of its memory, in the shape of glibc's `mallinfo2`
/// plus what the metrics need.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapStats {
    /// Bytes obtained from the program break (plus heap space an allocator mapped in
    /// place of the break). mallinfo2 `arena`.
    pub arena: u64,
    /// Blocks that live in their own mapping. mallinfo2 `hblks`.
    pub hblks: u64,
    /// Bytes of those mappings. mallinfo2 `hblkhd`.
    pub hblkhd: u64,
    /// Bytes of `arena` in use, as mallinfo2 counts them (for glibc, chunks in the
    /// per-thread cache count as in use). mallinfo2 `uordblks`.
    pub uordblks: u64,
    /// Bytes of `arena` free. mallinfo2 `fordblks`.
    pub fordblks: u64,
    /// Bytes of the top free block, releasable by trimming. mallinfo2 `keepcost`.
    pub keepcost: u64,
    /// Bytes of blocks handed out to the program and not freed, headers and padding
    /// included, wherever they live (heap or own mapping).
    pub allocated: u64,
    /// Bytes the allocator holds from the OS: `arena` + `hblkhd` + any other mapping
    /// it owns (slabs, regions, cached mappings).
    pub footprint: u64,
    /// Bytes of the largest free block the allocator could hand out without a syscall
    /// (top included), for external fragmentation.
    pub largest_free: u64,
}
// ANCHOR_END: heap_stats

/// What an allocator holds now, in the two figures whose peaks a run reports: read
/// after every op, so [`Allocator::usage`] must cost no more than a few loads.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// [`HeapStats::allocated`].
    pub allocated: u64,
    /// [`HeapStats::footprint`].
    pub footprint: u64,
}

/// What a block in a heap map is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Handed out to the program.
    Used,
    /// Free and available for reuse (in a list or bin).
    Free,
    /// Free from the program's view but held in a cache that is not coalesced
    /// (glibc's tcache and fastbins, a mapping cache).
    Cached,
    /// The top chunk / the wilderness at the end of the heap.
    Top,
    /// The allocator's own metadata (glibc's tcache structure, slab headers).
    Meta,
}

/// One block of a heap map.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// First byte of the block (chunk start, header included).
    pub addr: Addr,
    /// Bytes of the block, header included.
    pub size: u64,
    /// What it is.
    pub kind: BlockKind,
    /// True when the block lives in a mapping of its own or of the allocator's (not
    /// in the brk heap).
    pub mapped: bool,
}

// ANCHOR: allocator_trait
/// A memory allocator running on a simulated kernel.
///
/// Contract: `malloc` returns a pointer aligned to at least 16 bytes to at least `size`
/// usable bytes inside memory the allocator got from `kernel`; live blocks never
/// overlap; `free` and `realloc` of a pointer not handed out (or already freed) return
/// [`AllocError::InvalidPointer`] and change nothing. An allocator charges its user-space
/// work with [`Kernel::charge_user`]. [`crate::contract`] states every rule precisely
/// and checks them call by call.
pub trait Allocator {
    /// The allocator's registry name (`glibc`, `first-fit`, `mmap`, ...).
    fn name(&self) -> &str;

    /// Allocates `size` bytes (`malloc(0)` returns a valid, unique pointer).
    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError>;

    /// Allocates `size` bytes for a block the program says belongs to lifetime class
    /// `lifetime` (0 = shortest-lived). Allocators that segregate by lifetime override
    /// it; the default ignores the hint.
    fn malloc_hinted(
        &mut self,
        kernel: &mut Kernel,
        size: u64,
        lifetime: u8,
    ) -> Result<Addr, AllocError> {
        let _ = lifetime;
        self.malloc(kernel, size)
    }

    /// `calloc(count, size)`: `count * size` zeroed bytes. The default is a `malloc`
    /// of the product (an overflowing product fails as out of memory): the simulated
    /// program writes every byte it allocates anyway, and only an allocator whose
    /// calloc takes a different path (glibc's skips the tcache) needs its own.
    fn calloc(&mut self, kernel: &mut Kernel, count: u64, size: u64) -> Result<Addr, AllocError> {
        match count.checked_mul(size) {
            Some(bytes) => self.malloc(kernel, bytes),
            None => Err(AllocError::OutOfMemory { size: u64::MAX }),
        }
    }

    /// `memalign(align, size)` (and `posix_memalign`, `aligned_alloc`): `size` bytes at
    /// a multiple of `align`, a power of two. The default is a plain `malloc`, which
    /// gives 16-byte alignment only: the textbook allocators and the mmap family model
    /// no aligned path, and a trace's aligned blocks run through them as ordinary
    /// blocks. glibc's model implements the real one.
    fn memalign(&mut self, kernel: &mut Kernel, align: u64, size: u64) -> Result<Addr, AllocError> {
        let _ = align;
        self.malloc(kernel, size)
    }

    /// Frees a block.
    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError>;

    /// Resizes a block, moving it (and copying its bytes) when needed; returns the new
    /// pointer. On failure the old block stays valid.
    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError>;

    /// `malloc_trim(pad)`: gives free memory back to the OS where the allocator can.
    /// Returns true when anything was released. The default does nothing.
    fn trim(&mut self, kernel: &mut Kernel, pad: u64) -> Result<bool, AllocError> {
        let _ = (kernel, pad);
        Ok(false)
    }

    /// The allocator's accounting now.
    fn stats(&self) -> HeapStats;

    /// The two figures peak tracking needs after every op ([`HeapStats::allocated`] and
    /// [`HeapStats::footprint`]), cheaply. The default takes them from
    /// [`Allocator::stats`]; an allocator whose `stats` does real work (glibc's
    /// `largest_free` walks its bins) answers from counters it keeps anyway.
    fn usage(&self) -> Usage {
        let s = self.stats();
        Usage {
            allocated: s.allocated,
            footprint: s.footprint,
        }
    }

    /// The allocator's free structures in words, for a verbose mode that prints them
    /// after every op so a student can check homework answers by hand (OSTEP's
    /// `malloc.py` style). `None` when the allocator has no such view.
    fn describe(&self) -> Option<String> {
        None
    }

    /// Appends every block the allocator manages, in address order, to `out` (a heap
    /// map; `out` is not cleared).
    fn blocks(&self, out: &mut Vec<Block>);
}
// ANCHOR_END: allocator_trait

/// A boxed allocator is an allocator: what the registry builds can go wherever an
/// `Allocator` is wanted (a [`crate::contract::Contract`], say).
impl<A: Allocator + ?Sized> Allocator for Box<A> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        (**self).malloc(kernel, size)
    }

    fn malloc_hinted(
        &mut self,
        kernel: &mut Kernel,
        size: u64,
        lifetime: u8,
    ) -> Result<Addr, AllocError> {
        (**self).malloc_hinted(kernel, size, lifetime)
    }

    fn calloc(&mut self, kernel: &mut Kernel, count: u64, size: u64) -> Result<Addr, AllocError> {
        (**self).calloc(kernel, count, size)
    }

    fn memalign(&mut self, kernel: &mut Kernel, align: u64, size: u64) -> Result<Addr, AllocError> {
        (**self).memalign(kernel, align, size)
    }

    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        (**self).free(kernel, ptr)
    }

    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        (**self).realloc(kernel, ptr, size)
    }

    fn trim(&mut self, kernel: &mut Kernel, pad: u64) -> Result<bool, AllocError> {
        (**self).trim(kernel, pad)
    }

    fn stats(&self) -> HeapStats {
        (**self).stats()
    }

    fn usage(&self) -> Usage {
        (**self).usage()
    }

    fn describe(&self) -> Option<String> {
        (**self).describe()
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        (**self).blocks(out)
    }
}
