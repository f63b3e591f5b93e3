//! Checking an op stream and encoding it for the child (parent side, portable).
//!
//! A real replay cannot be allowed to go wrong the way a simulated one can: a `free` of
//! a block that is not live would corrupt glibc's heap and abort the child, and a huge
//! request could exhaust the machine. So the parent first walks the stream once,
//! checking every op against the set of live blocks and estimating the real memory the
//! replay needs at its peak, and only then encodes it.

use super::wire::{self, tag};
use super::{ReplayError, Strategy};
use std::collections::{BTreeMap, HashMap};
use workload::{AlignedFn, AllocCall, BlockId, Op, TouchPolicy};

/// The calls behind some blocks' mallocs (see [`workload::Workload::calls`]).
pub(crate) type Calls = BTreeMap<BlockId, AllocCall>;

/// Bytes in a base page: the unit the estimates round to.
const PAGE: u64 = 4096;

/// glibc's default mmap threshold: chunks this large get their own mapping when the heap
/// cannot serve them.
const GLIBC_MMAP_THRESHOLD: u64 = 128 * 1024;

/// A checked, encoded replay request.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Header and payload, ready for the child's stdin.
    pub input: Vec<u8>,
    /// The names of phase markers, by the op count at which their sample is taken.
    pub phases: BTreeMap<u64, String>,
}

/// Real bytes a block of `size` requested bytes occupies under `strategy`, as far as a
/// cap check needs to know.
///
/// glibc: the chunk (`size + 8` rounded up to 16, at least 32), or, at or above the
/// default mmap threshold, the chunk's own mapping rounded up to pages (an upper bound:
/// such a chunk comes from the heap instead when a bin or the top can serve it). mmap: the
/// mapping, `size` rounded up to pages (at least one page: `mmap` cannot map 0 bytes).
pub fn real_block_bytes(strategy: Strategy, size: u64) -> u64 {
    match strategy {
        Strategy::Glibc => {
            let chunk = size.saturating_add(8 + 15) & !15;
            let chunk = chunk.max(32);
            if chunk >= GLIBC_MMAP_THRESHOLD {
                page_up(chunk.saturating_add(8))
            } else {
                chunk
            }
        }
        Strategy::Mmap => page_up(size.max(1)),
    }
}

fn page_up(n: u64) -> u64 {
    n.saturating_add(PAGE - 1) & !(PAGE - 1)
}

/// Walks `ops`, checking that each names a live block where it must (and a dead one
/// where it allocates) and that touches stay inside their block. Returns the peak of
/// [`real_block_bytes`] summed over live blocks, counting both blocks of a glibc
/// `realloc` that moves (old and new coexist while the bytes are copied).
pub fn estimate_peak(ops: &[Op], strategy: Strategy) -> Result<u64, ReplayError> {
    Ok(walk(ops, &Calls::new(), strategy, |_, _, _| {})?.peak)
}

/// The bytes a malloc of `size` for a block allocated by `call` may occupy: glibc's
/// aligned allocation takes a chunk of `size + align` and gives back the part before
/// the aligned address, so its peak is that larger chunk. Mappings are page-aligned
/// whatever the call (the mmap strategy replays every call as one mapping).
fn call_block_bytes(strategy: Strategy, size: u64, call: Option<&AllocCall>) -> u64 {
    match (strategy, call) {
        (Strategy::Glibc, Some(AllocCall::Aligned { align, .. })) => {
            real_block_bytes(strategy, size.saturating_add(*align))
        }
        _ => real_block_bytes(strategy, size),
    }
}

/// What [`walk`] learns about a stream.
struct Walk {
    peak: u64,
    slots: u64,
    phases: u64,
}

/// Validates `ops` and calls `visit(index, op, slot)` for each, where `slot` is the dense
/// table index of the op's block (0 for ops without a block). Slots are assigned in
/// order of first appearance, so the encoding is a pure function of the stream.
fn walk(
    ops: &[Op],
    calls: &Calls,
    strategy: Strategy,
    mut visit: impl FnMut(usize, &Op, u64),
) -> Result<Walk, ReplayError> {
    let mut slot_of: HashMap<u64, u64> = HashMap::new();
    // Per slot: the live block's requested size, or None when not live.
    let mut live: Vec<Option<u64>> = Vec::new();
    let mut current: u64 = 0;
    let mut peak: u64 = 0;
    let mut phases = 0;
    let invalid = |index: usize, reason: String| ReplayError::InvalidOp {
        index: index as u64,
        reason,
    };
    for (index, op) in ops.iter().enumerate() {
        let id = match op {
            Op::Malloc { id, .. } | Op::Free { id } | Op::Realloc { id, .. } => Some(*id),
            Op::Touch { id, .. } => Some(*id),
            Op::Trim { .. } | Op::Phase { .. } => None,
        };
        let slot = match id {
            None => 0,
            Some(id) => {
                let next = live.len() as u64;
                let slot = *slot_of.entry(id).or_insert(next);
                if slot == next {
                    if slot > tag::MAX_SLOT {
                        return Err(invalid(index, "more than 2^48 distinct block ids".into()));
                    }
                    live.push(None);
                }
                slot
            }
        };
        let entry = live.get_mut(slot as usize);
        match (op, entry) {
            (Op::Malloc { id, size }, Some(entry)) => {
                if entry.is_some() {
                    return Err(invalid(
                        index,
                        format!("malloc of block {id}, which is already live (free it first)"),
                    ));
                }
                let call = calls.get(id);
                if let Some(call) = call {
                    call.check(*size)
                        .map_err(|problem| invalid(index, format!("block {id}: {problem}")))?;
                }
                *entry = Some(*size);
                current = current.saturating_add(call_block_bytes(strategy, *size, call));
            }
            (Op::Free { id }, Some(entry)) => {
                let Some(size) = entry.take() else {
                    return Err(invalid(
                        index,
                        format!("free of block {id}, which is not live"),
                    ));
                };
                current = current.saturating_sub(real_block_bytes(strategy, size));
            }
            (Op::Realloc { id, size }, Some(entry)) => {
                let Some(old) = *entry else {
                    return Err(invalid(
                        index,
                        format!("realloc of block {id}, which is not live"),
                    ));
                };
                let old_bytes = real_block_bytes(strategy, old);
                let new_bytes = real_block_bytes(strategy, *size);
                if strategy == Strategy::Glibc {
                    peak = peak.max(current.saturating_add(new_bytes));
                }
                current = current.saturating_sub(old_bytes);
                // realloc(p, 0) frees the block, as glibc does.
                if *size == 0 {
                    *entry = None;
                } else {
                    *entry = Some(*size);
                    current = current.saturating_add(new_bytes);
                }
            }
            (
                Op::Touch {
                    id, offset, len, ..
                },
                Some(entry),
            ) => {
                let Some(size) = *entry else {
                    return Err(invalid(
                        index,
                        format!("touch of block {id}, which is not live"),
                    ));
                };
                if offset.checked_add(*len).is_none_or(|end| end > size) {
                    return Err(invalid(
                        index,
                        format!(
                            "touch of bytes {offset}..{offset}+{len} of block {id}, which has \
                             only {size} bytes"
                        ),
                    ));
                }
            }
            (Op::Phase { .. }, _) => phases += 1,
            _ => {}
        }
        peak = peak.max(current);
        visit(index, op, slot);
    }
    Ok(Walk {
        peak,
        slots: live.len() as u64,
        phases,
    })
}

/// Checks `ops` and encodes the request for a child. `calls` says which blocks come
/// from `calloc` or an aligned function: the glibc strategy makes those real calls, the
/// mmap strategy maps every block the same way (a mapping is zeroed and page-aligned).
pub(crate) fn build(
    ops: &[Op],
    calls: &Calls,
    touch: TouchPolicy,
    strategy: Strategy,
    sample_interval: u64,
    cap: u64,
    disable_thp: bool,
) -> Result<Plan, ReplayError> {
    let mut payload: Vec<u64> = Vec::with_capacity(ops.len().saturating_mul(3));
    let mut phases = BTreeMap::new();
    let walked = walk(ops, calls, strategy, |index, op, slot| {
        let head = |kind: u64| kind | (slot << tag::SLOT_SHIFT);
        match op {
            Op::Malloc { id, size } => match (strategy, calls.get(id)) {
                (Strategy::Glibc, Some(AllocCall::Calloc { count, size })) => {
                    payload.extend([head(tag::CALLOC), *id, *count, *size])
                }
                (Strategy::Glibc, Some(AllocCall::Aligned { func, align })) => {
                    let code = match func {
                        AlignedFn::PosixMemalign => tag::FUNC_POSIX_MEMALIGN,
                        AlignedFn::AlignedAlloc => tag::FUNC_ALIGNED_ALLOC,
                        AlignedFn::Memalign => tag::FUNC_MEMALIGN,
                    };
                    let word = head(tag::ALIGNED) | code << tag::FUNC_SHIFT;
                    payload.extend([word, *id, *align, *size])
                }
                _ => payload.extend([head(tag::MALLOC), *id, *size]),
            },
            Op::Free { id } => payload.extend([head(tag::FREE), *id]),
            Op::Realloc { id, size } => payload.extend([head(tag::REALLOC), *id, *size]),
            Op::Touch {
                id,
                offset,
                len,
                write,
            } => {
                let w = if *write { tag::WRITE } else { 0 };
                payload.extend([head(tag::TOUCH) | w, *id, *offset, *len]);
            }
            Op::Trim { pad } => payload.extend([tag::TRIM, *pad]),
            Op::Phase { name } => {
                payload.push(tag::PHASE);
                phases.insert(index as u64 + 1, name.clone());
            }
        }
    })?;
    if walked.peak > cap {
        return Err(ReplayError::OverCap {
            peak: walked.peak,
            cap,
        });
    }
    let n_ops = ops.len() as u64;
    let by_interval = n_ops.checked_div(sample_interval).unwrap_or(0);
    let max_samples = walked.phases + by_interval + 1;
    let mut header = [0u64; wire::HEADER_WORDS];
    header[wire::hdr::MAGIC] = wire::MAGIC;
    header[wire::hdr::VERSION] = wire::VERSION;
    header[wire::hdr::STRATEGY] = match strategy {
        Strategy::Glibc => wire::STRATEGY_GLIBC,
        Strategy::Mmap => wire::STRATEGY_MMAP,
    };
    header[wire::hdr::TOUCH] = match touch {
        TouchPolicy::WriteAll => 1,
        TouchPolicy::None => 0,
    };
    header[wire::hdr::INTERVAL] = sample_interval;
    header[wire::hdr::CAP] = cap;
    header[wire::hdr::N_OPS] = n_ops;
    header[wire::hdr::N_SLOTS] = walked.slots;
    header[wire::hdr::PAYLOAD_WORDS] = payload.len() as u64;
    header[wire::hdr::MAX_SAMPLES] = max_samples;
    header[wire::hdr::FLAGS] = if disable_thp { wire::FLAG_NO_THP } else { 0 };
    let mut input = Vec::with_capacity((header.len() + payload.len()) * 8);
    for word in header.iter().chain(payload.iter()) {
        input.extend_from_slice(&word.to_le_bytes());
    }
    Ok(Plan { input, phases })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malloc(id: u64, size: u64) -> Op {
        Op::Malloc { id, size }
    }

    #[test]
    fn glibc_block_bytes_follow_chunk_rounding_and_the_mmap_threshold() {
        assert_eq!(real_block_bytes(Strategy::Glibc, 0), 32);
        assert_eq!(real_block_bytes(Strategy::Glibc, 24), 32);
        assert_eq!(real_block_bytes(Strategy::Glibc, 100), 112);
        assert_eq!(real_block_bytes(Strategy::Glibc, 131048), 131056);
        assert_eq!(real_block_bytes(Strategy::Glibc, 131049), 135168);
        assert_eq!(real_block_bytes(Strategy::Mmap, 0), 4096);
        assert_eq!(real_block_bytes(Strategy::Mmap, 4097), 8192);
    }

    #[test]
    fn peak_counts_live_blocks_and_realloc_copies() {
        let ops = [
            malloc(1, 4096),
            malloc(2, 1),
            Op::Free { id: 1 },
            Op::Realloc { id: 2, size: 10000 },
        ];
        assert_eq!(estimate_peak(&ops, Strategy::Mmap).unwrap(), 3 * 4096);
        // glibc: 4112 + 32, then realloc of 32 -> 10016 copies while both exist.
        assert_eq!(estimate_peak(&ops, Strategy::Glibc).unwrap(), 32 + 10016);
    }

    #[test]
    fn invalid_ops_are_reported_with_their_index() {
        let err = estimate_peak(&[malloc(1, 8), Op::Free { id: 2 }], Strategy::Glibc);
        assert_eq!(
            err.unwrap_err().to_string(),
            "op 1: free of block 2, which is not live"
        );
        let err = estimate_peak(&[malloc(1, 8), malloc(1, 8)], Strategy::Glibc);
        assert!(matches!(err, Err(ReplayError::InvalidOp { index: 1, .. })));
        let touch = Op::Touch {
            id: 1,
            offset: 4,
            len: 5,
            write: true,
        };
        let err = estimate_peak(&[malloc(1, 8), touch], Strategy::Glibc);
        assert!(matches!(err, Err(ReplayError::InvalidOp { index: 1, .. })));
        let err = estimate_peak(&[Op::Realloc { id: 3, size: 1 }], Strategy::Mmap);
        assert!(matches!(err, Err(ReplayError::InvalidOp { index: 0, .. })));
    }

    #[test]
    fn realloc_to_zero_frees_the_block() {
        let ops = [malloc(1, 8), Op::Realloc { id: 1, size: 0 }, malloc(1, 8)];
        assert_eq!(estimate_peak(&ops, Strategy::Glibc).unwrap(), 64);
        let ops = [
            malloc(1, 8),
            Op::Realloc { id: 1, size: 0 },
            Op::Free { id: 1 },
        ];
        assert!(estimate_peak(&ops, Strategy::Glibc).is_err());
    }

    #[test]
    fn encoding_assigns_dense_slots_and_counts_samples() {
        let ops = [
            malloc(1000, 8),
            Op::Phase { name: "x".into() },
            malloc(7, 16),
            Op::Free { id: 1000 },
        ];
        let plan = build(
            &ops,
            &Calls::new(),
            TouchPolicy::WriteAll,
            Strategy::Glibc,
            2,
            1 << 20,
            true,
        )
        .unwrap();
        let words: Vec<u64> = plan
            .input
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let (head, payload) = words.split_at(wire::HEADER_WORDS);
        assert_eq!(head[wire::hdr::N_SLOTS], 2);
        assert_eq!(head[wire::hdr::N_OPS], 4);
        // One phase + 4 / 2 interval samples + the final one.
        assert_eq!(head[wire::hdr::MAX_SAMPLES], 4);
        assert_eq!(
            payload,
            [
                tag::MALLOC,
                1000,
                8,
                tag::PHASE,
                tag::MALLOC | 1 << tag::SLOT_SHIFT,
                7,
                16,
                tag::FREE,
                1000
            ]
        );
        assert_eq!(plan.phases.get(&2).map(String::as_str), Some("x"));
    }

    #[test]
    fn over_cap_is_refused_before_anything_runs() {
        let ops = [malloc(1, 1 << 30)];
        let err = build(
            &ops,
            &Calls::new(),
            TouchPolicy::WriteAll,
            Strategy::Mmap,
            0,
            1 << 20,
            true,
        );
        assert!(matches!(
            err,
            Err(ReplayError::OverCap {
                peak: 1073741824,
                cap: 1048576
            })
        ));
    }
}
