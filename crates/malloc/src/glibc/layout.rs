//! Chunk layout and size classes: the arithmetic every other part of the model uses.
//!
//! ptmalloc carves the heap into *chunks*. On x86-64 a chunk starts with two 8-byte
//! words:
//!
//! ```text
//!   chunk -> +-------------------------------+
//!            | prev_size (only meaningful if  |  <- the previous chunk's footer,
//!            |   the previous chunk is free)  |     valid when PREV_INUSE is clear
//!            +-------------------------------+
//!            | size | A | M | P              |  <- size, low 3 bits are flags
//!   mem   -> +-------------------------------+  <- what malloc returns (chunk + 16)
//!            | payload ...                    |
//!            | (fd, bk, fd_nextsize,          |  <- list links, only while free
//!            |  bk_nextsize when free)        |
//!            +-------------------------------+
//!            | next chunk's prev_size  ...    |  <- a busy chunk may use these 8 bytes
//! ```
//!
//! `P` (PREV_INUSE) says whether the chunk *before* is in use; `M` marks a chunk that
//! lives in its own mmap; `A` marks chunks of secondary arenas (never set here: the
//! model is single-threaded and uses only the main arena). Because an in-use chunk
//! can use the next chunk's `prev_size` word, a request of `n` bytes needs only
//! `n + 8` bytes plus alignment, hence [`request2size`].

/// `SIZE_SZ`: the size of one header word.
pub(crate) const SIZE_SZ: u64 = 8;
/// `MALLOC_ALIGNMENT`: every payload is 16-byte aligned on x86-64.
pub(crate) const MALLOC_ALIGNMENT: u64 = 16;
/// `MALLOC_ALIGN_MASK`.
pub(crate) const MALLOC_ALIGN_MASK: u64 = MALLOC_ALIGNMENT - 1;
/// `CHUNK_HDR_SZ`: the two header words in front of the payload.
pub(crate) const CHUNK_HDR_SZ: u64 = 2 * SIZE_SZ;
/// `MINSIZE`: the smallest chunk, big enough to hold the two list links of a free
/// chunk plus its header.
pub(crate) const MINSIZE: u64 = 32;
/// `sizeof (struct malloc_chunk)`: header plus the four link words.
pub(crate) const MALLOC_CHUNK_STRUCT: u64 = 48;

/// Number of bins (`NBINS`): bin 0 is unused, bin 1 is the unsorted bin, 2..=63 are
/// smallbins, 64..=126 largebins (127 is never used on 64-bit).
pub(crate) const NBINS: usize = 128;
/// The unsorted bin's index.
pub(crate) const UNSORTED: usize = 1;
/// `MIN_LARGE_SIZE`: chunks from here up are "large" (sorted bins of ranges of sizes).
pub(crate) const MIN_LARGE_SIZE: u64 = 1024;
/// `NFASTBINS`: fastbins cover chunk sizes 32..=176 in steps of 16 (only up to
/// `max_fast` are used).
pub(crate) const NFASTBINS: usize = 10;
/// `MAX_FAST_SIZE`: the largest request `max_fast` may be set to (`M_MXFAST`).
pub(crate) const MAX_FAST_SIZE: u64 = 80 * SIZE_SZ / 4;
/// `DEFAULT_MXFAST`: the default fastbin request limit, 128 on 64-bit.
pub(crate) const DEFAULT_MXFAST: u64 = 64 * SIZE_SZ / 4;
/// `TCACHE_MAX_BINS`: one tcache bin per chunk size from 32 to 1040.
pub(crate) const TCACHE_MAX_BINS: usize = 64;
/// `MAX_TCACHE_SIZE`: the largest request the tcache can hold (1032).
pub(crate) const MAX_TCACHE_SIZE: u64 = tidx2usize(TCACHE_MAX_BINS as u64 - 1);
/// `TCACHE_FILL_COUNT`: default chunks per tcache bin.
pub(crate) const TCACHE_FILL_COUNT: u64 = 7;
/// `MAX_TCACHE_COUNT`: the counts are `uint16_t`.
pub(crate) const MAX_TCACHE_COUNT: u64 = u16::MAX as u64;
/// `sizeof (tcache_perthread_struct)`: 64 two-byte counts and 64 eight-byte list heads.
pub(crate) const TCACHE_STRUCT_SIZE: u64 = 2 * TCACHE_MAX_BINS as u64 + 8 * TCACHE_MAX_BINS as u64;
/// `FASTBIN_CONSOLIDATION_THRESHOLD`: a free that produces a chunk this large
/// consolidates the fastbins and considers trimming.
pub(crate) const FASTBIN_CONSOLIDATION_THRESHOLD: u64 = 65536;
/// `MAX_ITERS`: most unsorted chunks one malloc sorts before giving up on the scan.
pub(crate) const MAX_ITERS: u32 = 10000;
/// `MMAP_AS_MORECORE_SIZE`: the first time mmap stands in for a failed sbrk, the
/// mapping is rounded up to a multiple of this (see `Glibc::sysmalloc`).
pub(crate) const MMAP_AS_MORECORE_SIZE: u64 = 1024 * 1024;
/// `DEFAULT_MMAP_THRESHOLD`: chunks at least this big get their own mapping.
pub(crate) const DEFAULT_MMAP_THRESHOLD: u64 = 128 * 1024;
/// `DEFAULT_MMAP_THRESHOLD_MAX` on 64-bit: the dynamic threshold never grows past it.
pub(crate) const DEFAULT_MMAP_THRESHOLD_MAX: u64 = 4 * 1024 * 1024 * 8;
/// `HEAP_MAX_SIZE`: `mallopt` refuses an mmap threshold above half of it.
pub(crate) const HEAP_MAX_SIZE: u64 = 2 * DEFAULT_MMAP_THRESHOLD_MAX;
/// `DEFAULT_TRIM_THRESHOLD`.
pub(crate) const DEFAULT_TRIM_THRESHOLD: u64 = 128 * 1024;
/// `DEFAULT_TOP_PAD` as Linux builds glibc (malloc.c says 0, the Linux platform
/// header raises it to 128 KiB): every heap growth asks for this much extra.
pub(crate) const DEFAULT_TOP_PAD: u64 = 128 * 1024;
/// `DEFAULT_MMAP_MAX`: most chunks that may have their own mapping at once.
pub(crate) const DEFAULT_MMAP_MAX: u64 = 65536;
/// `PTRDIFF_MAX`: larger requests fail at once.
pub(crate) const PTRDIFF_MAX: u64 = i64::MAX as u64;

// ANCHOR: request2size
/// `request2size`: the chunk size that serves a request of `req` bytes
/// (`req + 8` rounded up to 16, at least 32).
pub(crate) const fn request2size(req: u64) -> u64 {
    let padded = req.wrapping_add(SIZE_SZ + MALLOC_ALIGN_MASK);
    if padded < MINSIZE {
        MINSIZE
    } else {
        padded & !MALLOC_ALIGN_MASK
    }
}
// ANCHOR_END: request2size

/// `checked_request2size`: like [`request2size`], but `None` for requests above
/// `PTRDIFF_MAX` (malloc returns NULL with `ENOMEM` for those).
pub(crate) const fn checked_request2size(req: u64) -> Option<u64> {
    if req > PTRDIFF_MAX {
        None
    } else {
        Some(request2size(req))
    }
}

/// `tidx2usize`: the largest request served by tcache bin `idx`.
pub(crate) const fn tidx2usize(idx: u64) -> u64 {
    idx * MALLOC_ALIGNMENT + MINSIZE - SIZE_SZ
}

/// `csize2tidx`: the tcache bin of a chunk size.
pub(crate) const fn csize2tidx(size: u64) -> u64 {
    (size.wrapping_sub(MINSIZE).wrapping_add(MALLOC_ALIGN_MASK)) / MALLOC_ALIGNMENT
}

/// `fastbin_index`: the fastbin of a chunk size (`size / 16 - 2`, computed on the
/// low 32 bits as glibc does).
pub(crate) const fn fastbin_index(size: u64) -> usize {
    ((size as u32 >> 4) as usize).wrapping_sub(2)
}

/// `in_smallbin_range`: sizes below 1024 have one exact-size bin each.
pub(crate) const fn in_smallbin_range(size: u64) -> bool {
    size < MIN_LARGE_SIZE
}

/// `smallbin_index`: one bin per 16 bytes.
pub(crate) const fn smallbin_index(size: u64) -> usize {
    (size >> 4) as usize
}

// ANCHOR: largebin_index
/// `largebin_index_64`: bins of growing width: 64 B up to 3 KiB, 512 B up to
/// 10 KiB, 4 KiB up to 44 KiB, 32 KiB up to 160 KiB, 256 KiB up to 768 KiB, then one
/// bin for everything larger.
pub(crate) const fn largebin_index(size: u64) -> usize {
    let idx = if (size >> 6) <= 48 {
        48 + (size >> 6)
    } else if (size >> 9) <= 20 {
        91 + (size >> 9)
    } else if (size >> 12) <= 10 {
        110 + (size >> 12)
    } else if (size >> 15) <= 4 {
        119 + (size >> 15)
    } else if (size >> 18) <= 2 {
        124 + (size >> 18)
    } else {
        126
    };
    idx as usize
}
// ANCHOR_END: largebin_index

/// `bin_index`: the small or large bin a chunk of `size` belongs to.
pub(crate) const fn bin_index(size: u64) -> usize {
    if in_smallbin_range(size) {
        smallbin_index(size)
    } else {
        largebin_index(size)
    }
}

/// `set_max_fast`: turns an `M_MXFAST` request limit into the chunk-size limit the
/// fastbins use (16 when fastbins are off, so no chunk qualifies).
pub(crate) const fn max_fast_chunk(request_limit: u64) -> u64 {
    if request_limit <= MALLOC_ALIGN_MASK - SIZE_SZ {
        MINSIZE / 2
    } else {
        (request_limit + SIZE_SZ) & !MALLOC_ALIGN_MASK
    }
}

/// `ALIGN_UP` with C's wrap-around on overflow.
pub(crate) const fn align_up(x: u64, to: u64) -> u64 {
    x.wrapping_add(to - 1) & !(to - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_sizes_match_glibc() {
        assert_eq!(request2size(0), 32);
        assert_eq!(request2size(24), 32);
        assert_eq!(request2size(25), 48);
        assert_eq!(request2size(100), 112);
        assert_eq!(request2size(131048), 131056);
        assert_eq!(request2size(131049), 131072);
        assert_eq!(checked_request2size(PTRDIFF_MAX + 1), None);
        assert_eq!(checked_request2size(PTRDIFF_MAX), Some((1 << 63) + 16));
    }

    #[test]
    fn bin_indices_follow_the_size_classes() {
        assert_eq!(bin_index(32), 2);
        assert_eq!(bin_index(1008), 63);
        assert_eq!(bin_index(1024), 64);
        assert_eq!(bin_index(3072), 96);
        assert_eq!(bin_index(3136), 97);
        assert_eq!(bin_index(4096), 99);
        assert_eq!(bin_index(10240), 111);
        assert_eq!(bin_index(10752), 112);
        assert_eq!(bin_index(40960), 120);
        assert_eq!(bin_index(45056), 120);
        assert_eq!(bin_index(131072), 123);
        assert_eq!(bin_index(163840), 124);
        assert_eq!(bin_index(786432), 126);
        assert_eq!(bin_index(1 << 40), 126);
        assert_eq!(csize2tidx(32), 0);
        assert_eq!(csize2tidx(1040), 63);
        assert_eq!(MAX_TCACHE_SIZE, 1032);
        assert_eq!(fastbin_index(128), 6);
        assert_eq!(max_fast_chunk(DEFAULT_MXFAST), 128);
        assert_eq!(max_fast_chunk(0), 16);
        assert_eq!(max_fast_chunk(MAX_FAST_SIZE), 160);
        assert_eq!(TCACHE_STRUCT_SIZE, 640);
    }
}
