//! Op streams: what a program asks of its allocator.
//!
//! # Brief overview
//! - [`Op`]: one request (`Malloc`, `Free`, `Realloc`, `Touch`, `Trim`, `Phase`).
//! - [`Workload`]: a named op stream with its touch policy.
//! - generators (seeded with ChaCha8) and trace readers/writers: later in this crate.
//!
//! This crate knows nothing about allocators, kernels or metrics.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identifies a block across the ops that allocate, resize and free it.
pub type BlockId = u64;

/// One request of a program to its allocator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `malloc(size)`, remembered as `id`.
    Malloc {
        /// The block's id.
        id: BlockId,
        /// Requested bytes.
        size: u64,
    },
    /// `free` of block `id`.
    Free {
        /// The block's id.
        id: BlockId,
    },
    /// `realloc` of block `id` to `size` bytes; the block keeps its id.
    Realloc {
        /// The block's id.
        id: BlockId,
        /// The new requested size.
        size: u64,
    },
    /// The program reads or writes `len` bytes of block `id` from `offset`.
    Touch {
        /// The block's id.
        id: BlockId,
        /// First byte touched, from the block's start.
        offset: u64,
        /// Bytes touched.
        len: u64,
        /// A write (true) or a read (false).
        write: bool,
    },
    /// `malloc_trim(pad)`: ask the allocator to give free memory back.
    Trim {
        /// Bytes to leave at the top of the heap.
        pad: u64,
    },
    /// A phase marker: the engine samples metrics here and figures label it.
    Phase {
        /// The phase's name.
        name: String,
    },
}

/// What the program does with the bytes it allocates, besides explicit `Touch` ops.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TouchPolicy {
    /// Write every allocated byte (as `memset` would), and on realloc the new bytes:
    /// RSS is what a real program would see. The default.
    #[default]
    WriteAll,
    /// Touch nothing beyond explicit `Touch` ops.
    None,
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
}
