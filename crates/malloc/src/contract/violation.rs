//! What the contract reports: the call, the rule it broke, and the blocks involved.
//!
//! A [`Violation`] prints as one line a grader can show a student: the call's number
//! and the call, then the rule with block numbers and addresses, e.g. `op 17
//! (free(0x5555555592a0)): the refused call changed the heap map`.

use super::Live;
use crate::api::{AllocError, Block};
use kernel::{Addr, Fault};
use std::fmt;

/// A call the contract made, as messages name it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `malloc(size)`, or `malloc_hinted(size, lifetime)`.
    Malloc {
        /// The bytes asked for.
        size: u64,
        /// The lifetime hint, if any.
        lifetime: Option<u8>,
    },
    /// `free(ptr)`.
    Free {
        /// The pointer.
        ptr: Addr,
    },
    /// `realloc(ptr, size)`.
    Realloc {
        /// The pointer.
        ptr: Addr,
        /// The new size.
        size: u64,
    },
    /// `malloc_trim(pad)`.
    Trim {
        /// The pad.
        pad: u64,
    },
    /// The program writing every byte of a live block.
    Write {
        /// The block's pointer.
        ptr: Addr,
    },
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Call::Malloc {
                size,
                lifetime: None,
            } => write!(f, "malloc({size})"),
            Call::Malloc {
                size,
                lifetime: Some(l),
            } => write!(f, "malloc({size}) with lifetime hint {l}"),
            Call::Free { ptr } => write!(f, "free({ptr:#x})"),
            Call::Realloc { ptr, size } => write!(f, "realloc({ptr:#x}, {size})"),
            Call::Trim { pad } => write!(f, "malloc_trim({pad})"),
            Call::Write { ptr } => write!(f, "write of the block at {ptr:#x}"),
        }
    }
}

/// Which rule a call broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// A call that must succeed failed (or `malloc` failed other than out of memory).
    Failed {
        /// The error.
        error: AllocError,
    },
    /// `realloc` of a live block to a non-zero size returned NULL without an error.
    NullWithoutError,
    /// A live block is not aligned.
    Misaligned {
        /// The block.
        block: Live,
        /// The alignment expected.
        align: u64,
    },
    /// A live block is not inside read-write memory of the process.
    OutsideMemory {
        /// The block.
        block: Live,
    },
    /// Writing a live block faulted.
    WriteFaulted {
        /// The block.
        block: Live,
        /// The fault.
        fault: Fault,
    },
    /// Two live blocks overlap.
    Overlap {
        /// The lower one.
        first: Live,
        /// The one that starts inside it.
        second: Live,
    },
    /// The heap map is out of order, has overlapping or empty blocks, or a block outside
    /// every VMA.
    BadMap {
        /// The block at fault.
        block: Block,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A live block is not inside a used block of the map.
    NotInMap {
        /// The block.
        block: Live,
    },
    /// Two live blocks lie in one used block of the map.
    SharedUsedBlock {
        /// One of them.
        first: Live,
        /// The other.
        second: Live,
    },
    /// The map shows a used block no live block is in.
    UsedButNotLive {
        /// The map's block.
        block: Block,
    },
    /// A statistic disagrees with the heap map or the kernel.
    Accounting {
        /// What disagrees, in words.
        detail: String,
    },
    /// `free` or `realloc` of a pointer that is not live did not return
    /// `InvalidPointer` (`None`: it succeeded).
    NotRefused {
        /// What it returned instead.
        error: Option<AllocError>,
    },
    /// `free` or `realloc` of a pointer that is not live was refused but changed
    /// something.
    RefusalChanged {
        /// What changed.
        what: &'static str,
    },
}

fn map_block(b: &Block) -> String {
    format!(
        "{:?} block [{:#x}, {:#x})",
        b.kind,
        b.addr,
        b.addr.saturating_add(b.size)
    )
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Failed { error } => write!(f, "the call failed: {error}"),
            Rule::NullWithoutError => f.write_str("returned NULL without an error"),
            Rule::Misaligned { block, align } => {
                write!(f, "{block} is not {align}-byte aligned")
            }
            Rule::OutsideMemory { block } => {
                write!(f, "{block} is not inside read-write memory of the process")
            }
            Rule::WriteFaulted { block, fault } => {
                write!(f, "writing {block} faulted: {fault}")
            }
            Rule::Overlap { first, second } => write!(f, "{first} overlaps {second}"),
            Rule::BadMap { block, problem } => {
                write!(f, "heap map: {} {problem}", map_block(block))
            }
            Rule::NotInMap { block } => {
                write!(f, "{block} is not inside a used block of the heap map")
            }
            Rule::SharedUsedBlock { first, second } => write!(
                f,
                "{first} and {second} lie in one used block of the heap map"
            ),
            Rule::UsedButNotLive { block } => {
                write!(f, "heap map: {} holds no live block", map_block(block))
            }
            Rule::Accounting { detail } => write!(f, "statistics: {detail}"),
            Rule::NotRefused { error: None } => {
                f.write_str("the pointer is not a live block, yet the call succeeded")
            }
            Rule::NotRefused { error: Some(e) } => write!(
                f,
                "the pointer is not a live block: expected an invalid-pointer error, got: {e}"
            ),
            Rule::RefusalChanged { what } => {
                write!(f, "the refused call changed the {what}")
            }
        }
    }
}

/// A broken rule: which call, and which rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The call's number: how many calls the contract made before it.
    pub op: u64,
    /// The call.
    pub call: Call,
    /// The rule it broke.
    pub rule: Rule,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {} ({}): {}", self.op, self.call, self.rule)
    }
}

impl std::error::Error for Violation {}
