//! The conversation between the parent and a replay child.
//!
//! The parent writes a binary request to the child's stdin: a header of
//! [`HEADER_WORDS`] little-endian `u64` words, then the ops, each a few words. The child
//! answers on stdout with text: the per-op CSV (header line included, byte for byte the
//! format of `engine::OpRow`), then `#samples` and one line of [`SAMPLE_WORDS`]
//! comma-separated numbers per sample, then an `#end` line. A failing child writes one
//! line to stderr and exits with one of the `EXIT_*` codes.
//!
//! Why binary in and text out: the child must not allocate, so parsing has to be trivial
//! (fixed-width words), while the CSV it writes is the very artefact the truth files are
//! compared against.

// Without Linux and glibc there is no child: most of these are unused there.
#![cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]

/// `argv[1]` that turns a program built with `entry_point!` into a replay child.
pub const CHILD_MARKER: &str = "__brkmap-replay-child";
/// `argv[2]` sub-mode: replay the op stream on stdin.
pub const MODE_REPLAY: &str = "replay";
/// `argv[2]` sub-mode: replay the op stream on stdin as a benchmark: the ops alone
/// (no rows, no `mallinfo2`, no samples, no clock read per op), timed as a whole in
/// CPU time, answered with one [`BENCH_PREFIX`] line (after the [`CHECKPOINTS_LINE`]
/// block when the request has a sample interval).
pub const MODE_BENCH: &str = "bench";
/// `argv[2]` sub-mode: run one crash experiment named by `argv[3]`.
pub const MODE_CRASH: &str = "crash";
/// `argv[2]` sub-mode: run the kernel script on stdin (see `crate::kscript`).
pub const MODE_KERNEL_SCRIPT: &str = "kernel-script";

/// First header word: "BRKMAPR1" read as a little-endian number.
pub const MAGIC: u64 = u64::from_le_bytes(*b"BRKMAPR1");
/// Protocol version; bump when the encoding changes.
pub const VERSION: u64 = 3;

/// Words in the request header.
pub const HEADER_WORDS: usize = 12;
/// Header word indexes.
pub mod hdr {
    /// [`super::MAGIC`].
    pub const MAGIC: usize = 0;
    /// [`super::VERSION`].
    pub const VERSION: usize = 1;
    /// 0 = glibc malloc, 1 = one mmap per block.
    pub const STRATEGY: usize = 2;
    /// 0 = touch nothing, 1 = write every allocated byte.
    pub const TOUCH: usize = 3;
    /// Sample every this many ops (0 = only at phases and the end).
    pub const INTERVAL: usize = 4;
    /// Memory cap in bytes.
    pub const CAP: usize = 5;
    /// Ops in the stream.
    pub const N_OPS: usize = 6;
    /// Distinct block slots (the id table's length).
    pub const N_SLOTS: usize = 7;
    /// Payload length in words.
    pub const PAYLOAD_WORDS: usize = 8;
    /// Upper bound on the samples the child will take.
    pub const MAX_SAMPLES: usize = 9;
    /// Bit flags, see `FLAG_*`.
    pub const FLAGS: usize = 10;
}

/// Header flag: disable transparent huge pages for the child (`PR_SET_THP_DISABLE`), so
/// that memory is faulted and measured in 4 KiB pages as the simulator models it.
pub const FLAG_NO_THP: u64 = 1;

/// Strategy code for glibc malloc.
pub const STRATEGY_GLIBC: u64 = 0;
/// Strategy code for one mapping per block.
pub const STRATEGY_MMAP: u64 = 1;

/// Op kinds, in the low byte of an op's first word. Bit 8 is the write flag of a touch;
/// bits 16.. hold the block's slot in the child's table.
pub mod tag {
    /// `[tag, id, size]`
    pub const MALLOC: u64 = 1;
    /// `[tag, id]`
    pub const FREE: u64 = 2;
    /// `[tag, id, size]`
    pub const REALLOC: u64 = 3;
    /// `[tag, id, offset, len]`, write flag in bit 8
    pub const TOUCH: u64 = 4;
    /// `[tag, pad]`
    pub const TRIM: u64 = 5;
    /// `[tag]`
    pub const PHASE: u64 = 6;
    /// `[tag, id, count, size]`: `calloc(count, size)`.
    pub const CALLOC: u64 = 7;
    /// `[tag, id, align, size]`, the function in bits 8 and 9 (`FUNC_*`).
    pub const ALIGNED: u64 = 8;
    /// Where the aligned function's code starts in the tag word.
    pub const FUNC_SHIFT: u32 = 8;
    /// `posix_memalign`.
    pub const FUNC_POSIX_MEMALIGN: u64 = 0;
    /// `aligned_alloc`.
    pub const FUNC_ALIGNED_ALLOC: u64 = 1;
    /// `memalign`.
    pub const FUNC_MEMALIGN: u64 = 2;
    /// The write flag of a touch.
    pub const WRITE: u64 = 1 << 8;
    /// Where the slot starts in the tag word.
    pub const SLOT_SHIFT: u32 = 16;
    /// Largest slot the encoding holds.
    pub const MAX_SLOT: u64 = (1 << 48) - 1;
}

/// Words per sample record, in this order.
pub const SAMPLE_WORDS: usize = 19;
/// Sample word indexes.
pub mod smp {
    /// Ops done.
    pub const OP: usize = 0;
    /// 1 when taken at a phase marker.
    pub const PHASE: usize = 1;
    /// Nanoseconds spent inside ops so far.
    pub const TIME_NS: usize = 2;
    /// Requested bytes live.
    pub const LIVE: usize = 3;
    /// Bytes handed out, headers and padding included.
    pub const ALLOCATED: usize = 4;
    /// Bytes held from the OS.
    pub const FOOTPRINT: usize = 5;
    /// Free bytes inside the footprint.
    pub const FREE_IN_HEAP: usize = 6;
    /// Mapped bytes of the replayed memory.
    pub const MAPPED: usize = 7;
    /// Resident bytes of the replayed memory.
    pub const RSS: usize = 8;
    /// Bytes returned by lowering the break.
    pub const RETURNED_BRK: usize = 9;
    /// Bytes returned by munmap (and mremap shrinks).
    pub const RETURNED_MUNMAP: usize = 10;
    /// Bytes returned by madvise.
    pub const RETURNED_MADVISE: usize = 11;
    /// First of six syscall counters: brk, mmap, munmap, mprotect, mremap, madvise.
    pub const SYSCALLS: usize = 12;
    /// Minor faults since the replay started.
    pub const MINOR_FAULTS: usize = 18;
}

/// Index of `brk` in the syscall counters (the `Timeline` order).
pub const SYS_BRK: usize = 0;
/// Index of `mmap`.
pub const SYS_MMAP: usize = 1;
/// Index of `munmap`.
pub const SYS_MUNMAP: usize = 2;
/// Index of `mremap`.
pub const SYS_MREMAP: usize = 4;

/// The line between the CSV rows and the samples.
pub const SAMPLES_LINE: &str = "#samples\n";
/// The start of the last line: `#end <wall_ns> <op_ns> <glibc version>`.
pub const END_PREFIX: &str = "#end ";

/// A benchmark with a sample interval first answers this line, then one `op,cpu_ns`
/// line per checkpoint: the CPU time of the loop after `op` ops, taken where a replay
/// would sample (every interval, at each phase marker, and at the end).
pub const CHECKPOINTS_LINE: &str = "#checkpoints\n";

/// The line that ends a benchmark child's answer:
/// `#bench <cpu_ns> <wall_ns> <minor_faults> <loop_cpu_ns> <glibc version>`, where
/// `loop_cpu_ns` is the CPU time of the same loop with the calls and writes left out.
pub const BENCH_PREFIX: &str = "#bench ";

/// Child exit code: the request on stdin was malformed.
pub const EXIT_PROTOCOL: i32 = 10;
/// Child exit code: an op would have taken the replay over its memory cap.
pub const EXIT_CAP: i32 = 11;
/// Child exit code: malloc/realloc returned NULL or mmap/mremap failed.
pub const EXIT_OOM: i32 = 12;
/// Child exit code: a system call the harness itself needs failed.
pub const EXIT_SYSCALL: i32 = 13;
/// Child exit code: an op named a block that is not live (the parent validates, so
/// this means a bug).
pub const EXIT_INVALID: i32 = 14;
/// Child exit code: bad command line (unknown sub-mode or experiment).
pub const EXIT_USAGE: i32 = 2;
