//! The op model: what a program asks of its allocator, one request at a time.
//!
//! A [`Workload`] is a list of [`Op`]s. Blocks are named by a [`BlockId`] chosen by the
//! program (or the trace) rather than by an address: the same op stream can then be
//! replayed against any allocator, which hands out its own addresses. An id names one
//! block from its `Malloc` to its `Free`; after the free the id may be used again for a
//! new block, as a C program reuses a pointer variable.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Identifies a block across the ops that allocate, resize and free it.
pub type BlockId = u64;

/// The largest size a request may have: 2^48 bytes (256 TiB), the size of the user half
/// of an x86-64 address space with 4-level page tables. No real allocator can satisfy a
/// larger request, and keeping sizes below it means `offset + len` arithmetic on sizes
/// never overflows a `u64`.
pub const MAX_SIZE: u64 = 1 << 48;

// ANCHOR: op
/// One request of a program to its allocator.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `malloc(size)`, remembered as `id`. The id must not name a live block.
    /// `malloc(0)` is allowed: C permits it and glibc returns a minimum-sized chunk.
    Malloc {
        /// The block's id.
        id: BlockId,
        /// Requested bytes.
        size: u64,
    },
    /// `free` of block `id`, which must be live.
    Free {
        /// The block's id.
        id: BlockId,
    },
    /// `realloc` of block `id` to `size` bytes; the block keeps its id. The allocator may
    /// grow the block in place or move it (copying the old contents). `size` must not be
    /// 0: glibc's `realloc(p, 0)` frees the block, and a stream says that with a `Free`.
    Realloc {
        /// The block's id.
        id: BlockId,
        /// The new requested size.
        size: u64,
    },
    /// The program reads or writes `len` bytes of block `id` from `offset`. Touches are
    /// what make the kernel fault pages in; with [`TouchPolicy::WriteAll`] the engine
    /// writes every allocated byte anyway, and explicit touches matter when the policy is
    /// [`TouchPolicy::None`].
    Touch {
        /// The block's id.
        id: BlockId,
        /// First byte touched, from the block's start.
        offset: u64,
        /// Bytes touched (at least 1; `offset + len` within the block's current size).
        len: u64,
        /// A write (true) or a read (false).
        write: bool,
    },
    /// `malloc_trim(pad)`: ask the allocator to give free memory back to the OS, keeping
    /// `pad` bytes at the top of the heap.
    Trim {
        /// Bytes to leave at the top of the heap.
        pad: u64,
    },
    /// A phase marker: it names the ops that follow it, up to the next marker. The engine
    /// samples metrics here and figures label it.
    Phase {
        /// The phase's name (see [`check_label`] for what a name may contain).
        name: String,
    },
}
// ANCHOR_END: op

/// The kind of an [`Op`], without its fields: for messages and counters.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OpKind {
    /// [`Op::Malloc`].
    Malloc,
    /// [`Op::Free`].
    Free,
    /// [`Op::Realloc`].
    Realloc,
    /// [`Op::Touch`].
    Touch,
    /// [`Op::Trim`].
    Trim,
    /// [`Op::Phase`].
    Phase,
}

impl OpKind {
    /// The lowercase name used in messages and in the native trace format.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Malloc => "malloc",
            OpKind::Free => "free",
            OpKind::Realloc => "realloc",
            OpKind::Touch => "touch",
            OpKind::Trim => "trim",
            OpKind::Phase => "phase",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Op {
    /// This op's kind.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Malloc { .. } => OpKind::Malloc,
            Op::Free { .. } => OpKind::Free,
            Op::Realloc { .. } => OpKind::Realloc,
            Op::Touch { .. } => OpKind::Touch,
            Op::Trim { .. } => OpKind::Trim,
            Op::Phase { .. } => OpKind::Phase,
        }
    }

    /// The block this op is about, if any (`Trim` and `Phase` name none).
    pub fn id(&self) -> Option<BlockId> {
        match self {
            Op::Malloc { id, .. }
            | Op::Free { id }
            | Op::Realloc { id, .. }
            | Op::Touch { id, .. } => Some(*id),
            Op::Trim { .. } | Op::Phase { .. } => None,
        }
    }

    /// True for the calls that reach the allocator's bookkeeping: malloc, free, realloc.
    /// Generators count these when they aim for a number of ops.
    pub fn is_allocator_call(&self) -> bool {
        matches!(
            self,
            Op::Malloc { .. } | Op::Free { .. } | Op::Realloc { .. }
        )
    }
}

/// What the program does with the bytes it allocates, besides explicit `Touch` ops.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TouchPolicy {
    /// Write every allocated byte (as `memset` would), and on realloc the new bytes:
    /// RSS is what a real program would see. The default.
    #[default]
    WriteAll,
    /// Touch nothing beyond explicit `Touch` ops: pages the program never uses are never
    /// faulted in, which shows demand paging (mapped memory is not resident memory).
    None,
}

/// The allocation function behind a block's [`Op::Malloc`], when it was not `malloc`.
///
/// Programs also allocate with `calloc` (zeroed memory for `count` elements) and with
/// the aligned functions (`posix_memalign`, `aligned_alloc`, `memalign`), which a trace
/// recorded from a real program (`sim record`) must not forget. The op stays a `Malloc`
/// of the bytes requested, so every consumer that only knows `malloc` still replays the
/// block, and [`Workload::calls`] says which call it really was:
/// - the simulator calls the allocator's `calloc` or `memalign`: the glibc model takes
///   glibc's own paths (`calloc` skips the per-thread cache that `malloc` serves from,
///   an aligned request carves an aligned chunk out of a larger one and frees the
///   rest), the other allocators serve both as a plain `malloc` of the same size;
/// - a real replay calls the real function.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocCall {
    /// `calloc(count, size)`: `count * size` bytes (the `Malloc`'s size), zeroed.
    Calloc {
        /// Number of elements.
        count: u64,
        /// Bytes per element.
        size: u64,
    },
    /// An aligned allocation of the `Malloc`'s size at a multiple of `align`.
    Aligned {
        /// Which function asked for it.
        func: AlignedFn,
        /// The alignment in bytes: a power of two (for `posix_memalign` also a multiple
        /// of 8, the size of a pointer).
        align: u64,
    },
}

/// The aligned allocation functions of C and POSIX. In glibc 2.36 all three end in the
/// same `_mid_memalign`; they differ in what alignments they accept.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlignedFn {
    /// `posix_memalign(&p, align, size)` (POSIX).
    PosixMemalign,
    /// `aligned_alloc(align, size)` (C11).
    AlignedAlloc,
    /// `memalign(align, size)` (obsolete, glibc and others; `valloc` and `pvalloc` are
    /// `memalign` of a page).
    Memalign,
}

impl AlignedFn {
    /// The C name, also the keyword of the native trace format.
    pub fn name(self) -> &'static str {
        match self {
            AlignedFn::PosixMemalign => "posix_memalign",
            AlignedFn::AlignedAlloc => "aligned_alloc",
            AlignedFn::Memalign => "memalign",
        }
    }

    /// The function with this C name.
    pub fn from_name(name: &str) -> Option<AlignedFn> {
        [
            AlignedFn::PosixMemalign,
            AlignedFn::AlignedAlloc,
            AlignedFn::Memalign,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }
}

impl AllocCall {
    /// The largest alignment a call may ask for: 2^40 bytes (any real one is far
    /// smaller; the bound keeps `size + align` arithmetic away from overflow).
    pub const MAX_ALIGN: u64 = 1 << 40;

    /// The C name of the call (`calloc`, `posix_memalign`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            AllocCall::Calloc { .. } => "calloc",
            AllocCall::Aligned { func, .. } => func.name(),
        }
    }

    /// Checks that the call can stand behind a `Malloc` of `bytes`: a calloc's
    /// `count * size` is `bytes`, an alignment is a power of two up to
    /// [`AllocCall::MAX_ALIGN`] (and for `posix_memalign` at least 8).
    pub fn check(&self, bytes: u64) -> Result<(), String> {
        match *self {
            AllocCall::Calloc { count, size } => match count.checked_mul(size) {
                Some(total) if total == bytes => Ok(()),
                _ => Err(format!(
                    "calloc({count}, {size}) does not ask for the block's {bytes} bytes"
                )),
            },
            AllocCall::Aligned { func, align } => {
                if !align.is_power_of_two() || align > AllocCall::MAX_ALIGN {
                    Err(format!(
                        "{} alignment {align} is not a power of two up to 2^40",
                        func.name()
                    ))
                } else if func == AlignedFn::PosixMemalign && align < 8 {
                    Err(format!(
                        "posix_memalign alignment {align} is not a multiple of 8 (a pointer)"
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// A named op stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// Generator or trace name.
    pub name: String,
    /// The seed that generated it, for generated workloads.
    pub seed: Option<u64>,
    /// What allocated bytes are touched.
    pub touch: TouchPolicy,
    /// The ops, in order.
    pub ops: Vec<Op>,
    /// Lifetime classes the program declares for some blocks (0 = shortest-lived), as a
    /// program using arenas or regions would. Allocators that understand lifetimes
    /// (`lifetime-arenas`) use them; others ignore them. Empty for traces.
    pub lifetimes: BTreeMap<BlockId, u8>,
    /// Blocks allocated by `calloc` or an aligned function rather than `malloc` (see
    /// [`AllocCall`]): by id, like `lifetimes`, so every `Malloc` of such an id is that
    /// call. Empty for generated workloads; filled by `sim record` traces.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub calls: BTreeMap<BlockId, AllocCall>,
}

impl Workload {
    /// An empty workload named `name`: no seed, [`TouchPolicy::WriteAll`], no ops.
    pub fn new(name: impl Into<String>) -> Workload {
        Workload {
            name: name.into(),
            seed: None,
            touch: TouchPolicy::WriteAll,
            ops: Vec::new(),
            lifetimes: BTreeMap::new(),
            calls: BTreeMap::new(),
        }
    }

    /// How many ops are allocator calls (malloc, free, realloc); markers, touches and
    /// trims are not counted. This is the number a generator's `ops` parameter sets.
    pub fn allocator_calls(&self) -> u64 {
        self.ops.iter().filter(|op| op.is_allocator_call()).count() as u64
    }
}

/// Why a name cannot be used as a workload or phase name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LabelProblem {
    /// The name is empty (or only blanks).
    Empty,
    /// The name starts or ends with whitespace.
    OuterWhitespace,
    /// The name contains a `#`, which starts a comment in the native trace format.
    Hash,
    /// The name contains a control character (such as a line break).
    Control,
}

impl fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LabelProblem::Empty => "a name must not be empty",
            LabelProblem::OuterWhitespace => "a name must not start or end with whitespace",
            LabelProblem::Hash => "a name must not contain `#` (it starts a comment in traces)",
            LabelProblem::Control => "a name must not contain control characters or line breaks",
        })
    }
}

/// Checks that `name` can be a workload or phase name: one line of printable text
/// without `#` and without leading or trailing blanks. These are exactly the names the
/// native trace format can hold (`phase NAME` takes the rest of the line), so a valid
/// workload always survives a write and read of a trace file.
pub fn check_label(name: &str) -> Result<(), LabelProblem> {
    if name.trim().is_empty() {
        return Err(LabelProblem::Empty);
    }
    if name.trim() != name {
        return Err(LabelProblem::OuterWhitespace);
    }
    if name.contains('#') {
        return Err(LabelProblem::Hash);
    }
    if name.chars().any(char::is_control) {
        return Err(LabelProblem::Control);
    }
    Ok(())
}
