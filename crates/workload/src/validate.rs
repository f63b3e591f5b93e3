//! Checking an op stream: is it something a correct C program could have done?
//!
//! An allocator's contract is one-sided: `free` of a pointer that `malloc` did not
//! return, or a second `free` of the same pointer, is undefined behaviour in C, and a
//! simulator replaying such a stream could only guess. So every stream is checked
//! before it runs, and the first problem is reported with its position:
//!
//! - `free`, `realloc` or `touch` of an id that was never allocated, or whose block
//!   was already freed (a double free or a use after free);
//! - `malloc` of an id that names a live block (the same id twice; reusing an id
//!   after its block was freed is fine);
//! - a size above [`MAX_SIZE`] (2^48 bytes);
//! - `realloc` to size 0, which glibc treats as `free` (write a `free` instead);
//! - a `touch` of zero bytes or of bytes beyond the block's current size;
//! - a phase or workload name that a trace file could not hold (see [`check_label`]);
//! - a lifetime hint for an id the stream never allocates.
//!
//! [`Validator`] checks one op at a time, so the trace readers use it while they parse
//! and report the file's line; [`validate`] runs it over a whole [`Workload`] and
//! reports the op's index. [`stats`] validates and also counts what the stream does.

use crate::op::{BlockId, LabelProblem, MAX_SIZE, Op, OpKind, Workload, check_label};
use std::collections::HashMap;
use std::fmt;

/// Where an op is: its index in a workload, or its line in a trace file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Position {
    /// Index of the op in [`Workload::ops`] (from 0).
    Op(usize),
    /// Line of a trace file (from 1).
    Line(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Op(i) => write!(f, "op {i}"),
            Position::Line(l) => write!(f, "line {l}"),
        }
    }
}

/// What is wrong with one op, given the ops before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpProblem {
    /// `free`/`realloc`/`touch` of an id no earlier op allocated.
    UnknownId {
        /// The op's kind.
        kind: OpKind,
        /// The id.
        id: BlockId,
    },
    /// `free`/`realloc`/`touch` of an id whose block was already freed.
    AlreadyFreed {
        /// The op's kind.
        kind: OpKind,
        /// The id.
        id: BlockId,
        /// Where the block was freed.
        freed_at: Position,
    },
    /// `malloc` of an id that names a live block.
    DuplicateId {
        /// The id.
        id: BlockId,
        /// Where the live block was allocated.
        allocated_at: Position,
    },
    /// A size (or trim pad) above [`MAX_SIZE`].
    SizeTooLarge {
        /// The op's kind.
        kind: OpKind,
        /// The size asked for.
        size: u64,
    },
    /// `realloc` to 0 bytes.
    ReallocToZero {
        /// The id.
        id: BlockId,
    },
    /// A touch of zero bytes.
    EmptyTouch {
        /// The id.
        id: BlockId,
    },
    /// A touch beyond the block's current size.
    TouchOutOfBounds {
        /// The id.
        id: BlockId,
        /// First byte touched.
        offset: u64,
        /// Bytes touched.
        len: u64,
        /// The block's current size.
        size: u64,
    },
    /// A phase name a trace file could not hold.
    BadPhaseName {
        /// The name.
        name: String,
        /// What is wrong with it.
        problem: LabelProblem,
    },
}

impl fmt::Display for OpProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpProblem::UnknownId { kind, id } => write!(f, "{kind} of unknown id {id}"),
            OpProblem::AlreadyFreed { kind, id, freed_at } => {
                write!(
                    f,
                    "{kind} of id {id}, whose block was already freed at {freed_at}"
                )?;
                match kind {
                    OpKind::Free => f.write_str(" (a double free)"),
                    _ => f.write_str(" (a use after free)"),
                }
            }
            OpProblem::DuplicateId { id, allocated_at } => write!(
                f,
                "malloc of id {id}, which names a live block (allocated at {allocated_at}); \
                 free it first or use a new id"
            ),
            OpProblem::SizeTooLarge { kind, size } => write!(
                f,
                "{kind} of {size} bytes: sizes are limited to 2^48 = {MAX_SIZE} bytes"
            ),
            OpProblem::ReallocToZero { id } => write!(
                f,
                "realloc of id {id} to 0 bytes: glibc's realloc(p, 0) frees the block and \
                 returns NULL; write a free of id {id} instead"
            ),
            OpProblem::EmptyTouch { id } => write!(
                f,
                "touch of 0 bytes of id {id} touches nothing; give a length of at least 1"
            ),
            OpProblem::TouchOutOfBounds {
                id,
                offset,
                len,
                size,
            } => write!(
                f,
                "touch of {len} bytes at offset {offset} of id {id} goes past the block's \
                 {size} bytes"
            ),
            OpProblem::BadPhaseName { name, problem } => {
                write!(f, "phase name {name:?}: {problem}")
            }
        }
    }
}

/// An invalid op of a [`Workload`]: its index and the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    /// Index of the op in [`Workload::ops`].
    pub index: usize,
    /// What is wrong.
    pub problem: OpProblem,
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {}: {}", self.index, self.problem)
    }
}

impl std::error::Error for OpError {}

/// Why a [`Workload`] is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkloadError {
    /// One op is invalid.
    Op(OpError),
    /// The workload's name could not be written to a trace file.
    BadName {
        /// The name.
        name: String,
        /// What is wrong with it.
        problem: LabelProblem,
    },
    /// `lifetimes` has a hint for an id that no op allocates.
    OrphanLifetime {
        /// The id.
        id: BlockId,
    },
    /// `calls` names a call for an id that no op allocates.
    OrphanCall {
        /// The id.
        id: BlockId,
    },
    /// The call `calls` gives for a block cannot have allocated it (a calloc of other
    /// bytes, an alignment that is not a power of two, ...).
    BadCall {
        /// Index of the malloc.
        index: usize,
        /// What is wrong.
        problem: String,
    },
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadError::Op(e) => e.fmt(f),
            WorkloadError::BadName { name, problem } => {
                write!(f, "workload name {name:?}: {problem}")
            }
            WorkloadError::OrphanLifetime { id } => write!(
                f,
                "a lifetime hint is given for id {id}, but no op allocates that id"
            ),
            WorkloadError::OrphanCall { id } => write!(
                f,
                "an allocation call is given for id {id}, but no op allocates that id"
            ),
            WorkloadError::BadCall { index, problem } => write!(f, "op {index}: {problem}"),
        }
    }
}

impl std::error::Error for WorkloadError {}

impl From<OpError> for WorkloadError {
    fn from(e: OpError) -> Self {
        WorkloadError::Op(e)
    }
}

/// What the validator remembers about an id, in 16 bytes: the block's current size
/// (meaningful while live), whether it is live, and where it was allocated (live) or
/// freed (not live), packed into one word: bit 63 says a line (else an op index), bit
/// 62 says live, the low 62 bits hold the number.
#[derive(Copy, Clone, Debug)]
struct Slot {
    size: u64,
    at: u64,
}

impl Slot {
    const LINE: u64 = 1 << 63;
    const LIVE: u64 = 1 << 62;
    const NUMBER: u64 = Self::LIVE - 1;
    /// An id no op has named yet.
    const UNSEEN: Slot = Slot {
        size: 0,
        at: u64::MAX,
    };

    fn new(size: u64, live: bool, at: Position) -> Slot {
        let (line, n) = match at {
            Position::Op(i) => (0, i as u64),
            Position::Line(l) => (Self::LINE, l as u64),
        };
        let live = if live { Self::LIVE } else { 0 };
        Slot {
            size,
            at: line | live | n.min(Self::NUMBER),
        }
    }

    fn seen(&self) -> bool {
        self.at != u64::MAX
    }

    fn live(&self) -> bool {
        self.seen() && self.at & Self::LIVE != 0
    }

    fn at(&self) -> Position {
        let n = (self.at & Self::NUMBER) as usize;
        if self.at & Self::LINE != 0 {
            Position::Line(n)
        } else {
            Position::Op(n)
        }
    }
}

/// The validator's memory of every id, by id: a vector indexed by id for ids near the
/// ones seen so far (traces number their blocks from 0, generators count up), so that
/// checking an op is one indexed load rather than a hash; a hash map for ids far beyond
/// (more than twice the vector's length plus 64 Ki), which move into the vector when it
/// grows over them. Only looked up, never iterated into output.
#[derive(Clone, Debug, Default)]
struct IdTable {
    dense: Vec<Slot>,
    sparse: HashMap<BlockId, Slot>,
    /// Distinct ids seen.
    distinct: u64,
}

impl IdTable {
    const SLACK: u64 = 1 << 16;

    fn with_capacity(ids: usize) -> IdTable {
        IdTable {
            dense: Vec::with_capacity(ids),
            ..IdTable::default()
        }
    }

    /// The id's slot, if some op named it.
    #[inline]
    fn get(&self, id: BlockId) -> Option<&Slot> {
        let slot = if id < self.dense.len() as u64 {
            &self.dense[id as usize]
        } else {
            self.sparse.get(&id)?
        };
        slot.seen().then_some(slot)
    }

    #[inline]
    fn get_mut(&mut self, id: BlockId) -> Option<&mut Slot> {
        let slot = if id < self.dense.len() as u64 {
            &mut self.dense[id as usize]
        } else {
            self.sparse.get_mut(&id)?
        };
        slot.seen().then_some(slot)
    }

    #[inline]
    fn set(&mut self, id: BlockId, slot: Slot) {
        let len = self.dense.len() as u64;
        let old = if id < len {
            std::mem::replace(&mut self.dense[id as usize], slot)
        } else if id < len.saturating_mul(2).saturating_add(Self::SLACK) {
            self.grow_to(id);
            std::mem::replace(&mut self.dense[id as usize], slot)
        } else {
            self.sparse.insert(id, slot).unwrap_or(Slot::UNSEEN)
        };
        if !old.seen() {
            self.distinct += 1;
        }
    }

    #[cold]
    fn grow_to(&mut self, id: BlockId) {
        let new_len = (id as usize + 1).max(self.dense.len() * 2);
        self.dense.resize(new_len, Slot::UNSEEN);
        let dense = &mut self.dense;
        self.sparse.retain(|&id, slot| {
            if id < new_len as u64 {
                dense[id as usize] = *slot;
                false
            } else {
                true
            }
        });
    }
}

/// Checks ops one at a time, remembering which ids are live and their sizes.
///
/// It also keeps the running totals a user wants to know about a stream: live bytes
/// (the sum of requested sizes of live blocks, the engine's `live` metric) and its
/// peak.
#[derive(Clone, Debug, Default)]
pub struct Validator {
    /// Every id seen so far.
    slots: IdTable,
    live_blocks: u64,
    live_bytes: u64,
    peak_live_bytes: u64,
    peak_live_blocks: u64,
}

impl Validator {
    /// A validator that has seen no ops.
    pub fn new() -> Validator {
        Validator::default()
    }

    /// A validator expecting about `ids` distinct ids (saves rehashing on big traces).
    pub fn with_capacity(ids: usize) -> Validator {
        Validator {
            slots: IdTable::with_capacity(ids),
            ..Validator::default()
        }
    }

    /// Checks `op` (found at `at`) against the ops seen so far and, if it is valid,
    /// applies it. An invalid op changes nothing.
    pub fn check(&mut self, op: &Op, at: Position) -> Result<(), OpProblem> {
        match *op {
            Op::Malloc { id, size } => {
                check_size(OpKind::Malloc, size)?;
                if let Some(slot) = self.slots.get(id).filter(|s| s.live()) {
                    return Err(OpProblem::DuplicateId {
                        id,
                        allocated_at: slot.at(),
                    });
                }
                self.slots.set(id, Slot::new(size, true, at));
                self.live_blocks += 1;
                self.live_bytes += size;
            }
            Op::Free { id } => {
                let slot = self.live_slot(OpKind::Free, id)?;
                let size = slot.size;
                *slot = Slot::new(size, false, at);
                self.live_blocks -= 1;
                self.live_bytes -= size;
            }
            Op::Realloc { id, size } => {
                check_size(OpKind::Realloc, size)?;
                let slot = self.live_slot(OpKind::Realloc, id)?;
                if size == 0 {
                    return Err(OpProblem::ReallocToZero { id });
                }
                let old = slot.size;
                slot.size = size;
                self.live_bytes = self.live_bytes - old + size;
            }
            Op::Touch {
                id, offset, len, ..
            } => {
                let slot = self.live_slot(OpKind::Touch, id)?;
                if len == 0 {
                    return Err(OpProblem::EmptyTouch { id });
                }
                let size = slot.size;
                if offset.checked_add(len).is_none_or(|end| end > size) {
                    return Err(OpProblem::TouchOutOfBounds {
                        id,
                        offset,
                        len,
                        size,
                    });
                }
            }
            Op::Trim { pad } => check_size(OpKind::Trim, pad)?,
            Op::Phase { ref name } => {
                check_label(name).map_err(|problem| OpProblem::BadPhaseName {
                    name: name.clone(),
                    problem,
                })?;
            }
        }
        self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
        self.peak_live_blocks = self.peak_live_blocks.max(self.live_blocks);
        Ok(())
    }

    fn live_slot(&mut self, kind: OpKind, id: BlockId) -> Result<&mut Slot, OpProblem> {
        match self.slots.get_mut(id) {
            None => Err(OpProblem::UnknownId { kind, id }),
            Some(slot) if !slot.live() => Err(OpProblem::AlreadyFreed {
                kind,
                id,
                freed_at: slot.at(),
            }),
            Some(slot) => Ok(slot),
        }
    }

    /// True if some op so far allocated `id` (whether or not it is still live).
    pub fn seen(&self, id: BlockId) -> bool {
        self.slots.get(id).is_some()
    }

    /// The current size of live block `id`, or `None` if `id` is not live.
    pub fn live_size(&self, id: BlockId) -> Option<u64> {
        self.slots.get(id).filter(|s| s.live()).map(|s| s.size)
    }

    /// Number of live blocks now.
    pub fn live_blocks(&self) -> u64 {
        self.live_blocks
    }

    /// Sum of requested sizes of live blocks now.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Largest [`Validator::live_bytes`] seen so far.
    pub fn peak_live_bytes(&self) -> u64 {
        self.peak_live_bytes
    }

    /// Largest [`Validator::live_blocks`] seen so far.
    pub fn peak_live_blocks(&self) -> u64 {
        self.peak_live_blocks
    }
}

fn check_size(kind: OpKind, size: u64) -> Result<(), OpProblem> {
    if size > MAX_SIZE {
        Err(OpProblem::SizeTooLarge { kind, size })
    } else {
        Ok(())
    }
}

/// What a valid op stream does, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadStats {
    /// `malloc` calls.
    pub mallocs: u64,
    /// `free` calls.
    pub frees: u64,
    /// `realloc` calls.
    pub reallocs: u64,
    /// `touch` ops.
    pub touches: u64,
    /// `malloc_trim` calls.
    pub trims: u64,
    /// Phase markers.
    pub phases: u64,
    /// Distinct ids.
    pub distinct_ids: u64,
    /// Sum of all `malloc` and `realloc` sizes: bytes the program asked for over its run.
    pub requested_bytes: u64,
    /// Largest single request.
    pub max_request: u64,
    /// Peak of the sum of requested sizes of live blocks (the engine's `peak_live`).
    pub peak_live_bytes: u64,
    /// Peak number of live blocks.
    pub peak_live_blocks: u64,
    /// Blocks still live after the last op (a program that exits without freeing them,
    /// as real programs do).
    pub live_at_end: u64,
    /// Bytes still live after the last op.
    pub live_bytes_at_end: u64,
}

/// Checks a whole workload: every op in order, its name, and its lifetime hints.
/// The first problem found is returned.
///
/// Rejected: `free`, `realloc` or `touch` of an id never allocated or already freed
/// (a double free, a use after free); `malloc` of an id that names a live block
/// (reusing an id after its free is fine); sizes and trim pads above 2^48; `realloc` to
/// 0 (glibc would free the block: write a `free`); touches of zero bytes or past the
/// block's current size; phase and workload names a trace cannot hold
/// ([`check_label`]); lifetime hints for ids no op allocates.
pub fn validate(workload: &Workload) -> Result<(), WorkloadError> {
    stats(workload).map(|_| ())
}

/// Validates `workload` (as [`validate`]) and counts what it does.
pub fn stats(workload: &Workload) -> Result<WorkloadStats, WorkloadError> {
    check_label(&workload.name).map_err(|problem| WorkloadError::BadName {
        name: workload.name.clone(),
        problem,
    })?;
    let mut v = Validator::new();
    let mut s = WorkloadStats::default();
    for (index, op) in workload.ops.iter().enumerate() {
        v.check(op, Position::Op(index))
            .map_err(|problem| OpError { index, problem })?;
        if let (Op::Malloc { id, size }, Some(call)) =
            (op, op.id().and_then(|id| workload.calls.get(&id)))
        {
            call.check(*size)
                .map_err(|problem| WorkloadError::BadCall {
                    index,
                    problem: format!("block {id}: {problem}"),
                })?;
        }
        match *op {
            Op::Malloc { size, .. } | Op::Realloc { size, .. } => {
                if matches!(op, Op::Malloc { .. }) {
                    s.mallocs += 1;
                } else {
                    s.reallocs += 1;
                }
                s.requested_bytes = s.requested_bytes.saturating_add(size);
                s.max_request = s.max_request.max(size);
            }
            Op::Free { .. } => s.frees += 1,
            Op::Touch { .. } => s.touches += 1,
            Op::Trim { .. } => s.trims += 1,
            Op::Phase { .. } => s.phases += 1,
        }
    }
    if let Some(&id) = workload.lifetimes.keys().find(|id| !v.seen(**id)) {
        return Err(WorkloadError::OrphanLifetime { id });
    }
    if let Some(&id) = workload.calls.keys().find(|id| !v.seen(**id)) {
        return Err(WorkloadError::OrphanCall { id });
    }
    s.distinct_ids = v.slots.distinct;
    s.peak_live_bytes = v.peak_live_bytes;
    s.peak_live_blocks = v.peak_live_blocks;
    s.live_at_end = v.live_blocks;
    s.live_bytes_at_end = v.live_bytes;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::TouchPolicy;

    fn workload(ops: Vec<Op>) -> Workload {
        Workload {
            name: "t".to_string(),
            seed: None,
            touch: TouchPolicy::WriteAll,
            ops,
            lifetimes: Default::default(),
            calls: Default::default(),
        }
    }

    /// The error for the first invalid op, rendered as users see it.
    fn check(ops: Vec<Op>) -> String {
        match validate(&workload(ops)) {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        }
    }

    use Op::{Free, Malloc, Realloc, Touch, Trim};

    #[test]
    fn far_ids_and_lines_are_remembered_like_near_ones() {
        let far = 1 << 40;
        let ops = vec![
            Malloc { id: far, size: 8 },
            Free { id: far },
            Malloc { id: 3, size: 8 },
            Free { id: far },
        ];
        assert_eq!(
            check(ops),
            format!(
                "op 3: free of id {far}, whose block was already freed at op 1 (a double free)"
            )
        );
        let mut v = Validator::new();
        v.check(&Malloc { id: 5, size: 9 }, Position::Line(70))
            .unwrap();
        assert_eq!(v.live_size(5), Some(9));
        let err = v.check(&Malloc { id: 5, size: 1 }, Position::Line(71));
        assert_eq!(
            err,
            Err(OpProblem::DuplicateId {
                id: 5,
                allocated_at: Position::Line(70)
            })
        );
        assert!(v.seen(5) && !v.seen(4) && !v.seen(far));
    }

    #[test]
    fn a_balanced_stream_with_id_reuse_is_valid() {
        let ops = vec![
            Malloc { id: 1, size: 10 },
            Realloc { id: 1, size: 20 },
            Touch {
                id: 1,
                offset: 19,
                len: 1,
                write: true,
            },
            Free { id: 1 },
            Malloc { id: 1, size: 0 },
            Trim { pad: 0 },
        ];
        assert_eq!(check(ops), "ok");
    }

    #[test]
    fn free_of_unknown_id() {
        assert_eq!(check(vec![Free { id: 42 }]), "op 0: free of unknown id 42");
    }

    #[test]
    fn double_free_names_the_first_free() {
        let ops = vec![Malloc { id: 7, size: 8 }, Free { id: 7 }, Free { id: 7 }];
        assert_eq!(
            check(ops),
            "op 2: free of id 7, whose block was already freed at op 1 (a double free)"
        );
    }

    #[test]
    fn realloc_and_touch_of_unknown_or_freed_ids() {
        assert_eq!(
            check(vec![Realloc { id: 3, size: 8 }]),
            "op 0: realloc of unknown id 3"
        );
        let ops = vec![
            Malloc { id: 3, size: 8 },
            Free { id: 3 },
            Touch {
                id: 3,
                offset: 0,
                len: 1,
                write: false,
            },
        ];
        assert_eq!(
            check(ops),
            "op 2: touch of id 3, whose block was already freed at op 1 (a use after free)"
        );
    }

    #[test]
    fn malloc_of_a_live_id_is_a_duplicate() {
        let ops = vec![Malloc { id: 5, size: 8 }, Malloc { id: 5, size: 8 }];
        assert_eq!(
            check(ops),
            "op 1: malloc of id 5, which names a live block (allocated at op 0); \
             free it first or use a new id"
        );
    }

    #[test]
    fn sizes_above_2_48_are_rejected_and_2_48_is_accepted() {
        assert_eq!(
            check(vec![Malloc {
                id: 0,
                size: MAX_SIZE
            }]),
            "ok"
        );
        assert_eq!(
            check(vec![Malloc {
                id: 0,
                size: MAX_SIZE + 1
            }]),
            "op 0: malloc of 281474976710657 bytes: sizes are limited to 2^48 = \
             281474976710656 bytes"
        );
        let e = check(vec![Trim { pad: u64::MAX }]);
        assert!(
            e.starts_with("op 0: trim of 18446744073709551615 bytes"),
            "{e}"
        );
    }

    #[test]
    fn realloc_to_zero_tells_the_user_to_free() {
        let ops = vec![Malloc { id: 9, size: 8 }, Realloc { id: 9, size: 0 }];
        assert_eq!(
            check(ops),
            "op 1: realloc of id 9 to 0 bytes: glibc's realloc(p, 0) frees the block and \
             returns NULL; write a free of id 9 instead"
        );
    }

    #[test]
    fn touches_must_stay_inside_the_current_size() {
        let touch = |offset, len| Touch {
            id: 1,
            offset,
            len,
            write: true,
        };
        let base = || vec![Malloc { id: 1, size: 100 }];
        let mut ops = base();
        ops.push(touch(0, 100));
        assert_eq!(check(ops), "ok");
        let mut ops = base();
        ops.push(touch(50, 51));
        assert_eq!(
            check(ops),
            "op 1: touch of 51 bytes at offset 50 of id 1 goes past the block's 100 bytes"
        );
        // offset + len overflowing u64 is out of bounds, not a panic.
        let mut ops = base();
        ops.push(touch(u64::MAX, 2));
        assert!(check(ops).contains("goes past"));
        let mut ops = base();
        ops.push(touch(0, 0));
        assert!(check(ops).contains("touch of 0 bytes"));
        // After a shrinking realloc, the old tail is out of bounds.
        let mut ops = base();
        ops.push(Realloc { id: 1, size: 10 });
        ops.push(touch(10, 1));
        assert!(check(ops).starts_with("op 2: touch of 1 bytes at offset 10"));
    }

    #[test]
    fn bad_names_and_orphan_hints() {
        let mut w = workload(vec![Op::Phase {
            name: "a # b".to_string(),
        }]);
        assert!(
            validate(&w)
                .unwrap_err()
                .to_string()
                .contains("must not contain `#`")
        );
        w.ops.clear();
        w.name = String::new();
        assert!(matches!(validate(&w), Err(WorkloadError::BadName { .. })));
        w.name = "ok".to_string();
        w.lifetimes.insert(3, 1);
        assert_eq!(
            validate(&w).unwrap_err().to_string(),
            "a lifetime hint is given for id 3, but no op allocates that id"
        );
    }

    #[test]
    fn an_invalid_op_leaves_the_validator_unchanged() {
        let mut v = Validator::new();
        v.check(&Malloc { id: 1, size: 10 }, Position::Op(0))
            .unwrap();
        assert!(
            v.check(&Realloc { id: 1, size: 0 }, Position::Op(1))
                .is_err()
        );
        assert_eq!(v.live_size(1), Some(10));
        assert_eq!(v.live_bytes(), 10);
    }

    #[test]
    fn stats_count_live_bytes_and_peaks() {
        let ops = vec![
            Malloc { id: 1, size: 100 },
            Malloc { id: 2, size: 50 },
            Realloc { id: 1, size: 300 },
            Free { id: 2 },
            Malloc { id: 3, size: 10 },
        ];
        let s = stats(&workload(ops)).unwrap();
        assert_eq!((s.mallocs, s.frees, s.reallocs), (3, 1, 1));
        assert_eq!(s.peak_live_bytes, 350);
        assert_eq!(s.peak_live_blocks, 2);
        assert_eq!((s.live_at_end, s.live_bytes_at_end), (2, 310));
        assert_eq!(s.requested_bytes, 460);
        assert_eq!(s.max_request, 300);
        assert_eq!(s.distinct_ids, 3);
    }
}
