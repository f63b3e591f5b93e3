//! The contents checks: what the program wrote is still there.
//!
//! With [`Contract::check_contents`] on, the program uses its memory the way a
//! grader's test program does (CS:APP's `mdriver` fills every block with random bits
//! and checks them when it frees and reallocates):
//!
//! - It writes a **pattern** into every byte of every block it gets, through the
//!   kernel's byte interface ([`Kernel::write`](kernel::Kernel::write)). The pattern
//!   is a function of the block's number and the offset ([`pattern`]), so two blocks
//!   never hold the same bytes, and bytes that wander from one block to another are
//!   told apart.
//! - Before `free` and `realloc` it checks that the block still holds its pattern
//!   (rule 7, [`Rule::Corrupted`](super::Rule::Corrupted)). Only the allocator can
//!   have changed it: with its own writes, or by giving the block's memory back to
//!   the kernel (a `madvise` or `munmap` under a live block drops its bytes).
//! - After a `realloc` it checks that the first `min(old, new)` bytes are the old ones
//!   (rule 8, [`Rule::ReallocLost`](super::Rule::ReallocLost)), and then writes the
//!   new tail.
//! - After every call it looks at what the allocator wrote during the call (the
//!   kernel's write log): a byte written inside the payload of a block that was live
//!   before the call, other than the block the call frees or resizes, is a header or a
//!   link written over somebody's data (rule 9, [`Rule::WroteIntoBlock`](super::Rule::WroteIntoBlock)),
//!   reported at the call that did it, with the address. A refused call may write
//!   nothing at all.
//!
//! An allocator that keeps its metadata in Rust structures (the glibc model, the
//! textbook free lists) writes nothing through the byte interface: it tells the
//! kernel about its memory accesses with `touch`, which moves no bytes. Such an
//! allocator *models* its `realloc` copy; the contract then makes the copy for it
//! (writes the old bytes into the new block), and rule 8 cannot be checked, while
//! rules 7 and 9 still catch memory given back under a live block. The contract
//! decides by what the allocator did: one that has written any byte through the
//! interface keeps contents ([`Contract::keeps_bytes`]).

use super::{Call, Contract, Live, Rule, Violation};
use crate::api::Allocator;
use kernel::{Addr, ByteStats};

/// The byte the program writes at `offset` of the block numbered `id`: 8-byte words
/// of a 64-bit mix of the two (splitmix64), little-endian, so every block's bytes
/// differ from every other block's and from zeros.
pub fn pattern(id: u64, offset: u64) -> u8 {
    (word(id, offset / 8) >> ((offset % 8) * 8)) as u8
}

/// Word `w` of block `id`'s pattern.
fn word(id: u64, w: u64) -> u64 {
    let mut z = id
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(w.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Bytes `[from, to)` of block `id`'s pattern.
pub(super) fn pattern_range(id: u64, from: u64, to: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(to.saturating_sub(from) as usize);
    let mut at = from;
    while at < to {
        let w = word(id, at / 8).to_le_bytes();
        let (i, j) = ((at % 8) as usize, (to - at + at % 8).min(8) as usize);
        out.extend_from_slice(&w[i..j]);
        at += (j - i) as u64;
    }
    out
}

/// The first byte of `block` in `[from, to)` that does not hold block `id`'s
/// pattern: `(offset, found, expected)`.
pub(super) fn first_difference(bytes: &[u8], id: u64, from: u64) -> Option<(u64, u8, u8)> {
    let want = pattern_range(id, from, from + bytes.len() as u64);
    bytes
        .iter()
        .zip(&want)
        .position(|(a, b)| a != b)
        .map(|i| (from + i as u64, bytes[i], want[i]))
}

impl<A: Allocator> Contract<A> {
    /// Whether the allocator keeps contents: it has written memory through the byte
    /// interface during one of its calls (see *With contents* in the
    /// [contract's documentation](super)).
    pub fn keeps_bytes(&self) -> bool {
        self.keeps_bytes
    }

    /// What the allocator's own calls did through the kernel's byte interface, plus
    /// the copies the contract made at `realloc` for an allocator that keeps no bytes
    /// (counted as the read and the write of a `memcpy`): the memory accesses a grader
    /// charges for.
    pub fn allocator_io(&self) -> ByteStats {
        self.allocator_io
    }

    /// Before an allocator call: forgets the program's own writes.
    pub(super) fn begin_io(&mut self) {
        if self.contents {
            self.kernel.take_logged_writes();
            self.io_before = self.kernel.byte_stats();
        }
    }

    /// After an allocator call: what it wrote, its accesses added to the account.
    pub(super) fn end_io(&mut self) -> Vec<(Addr, u64)> {
        if !self.contents {
            return Vec::new();
        }
        let d = self.kernel.byte_stats().since(&self.io_before);
        if d.writes > 0 {
            self.keeps_bytes = true;
        }
        let io = &mut self.allocator_io;
        io.reads += d.reads;
        io.writes += d.writes;
        io.bytes_read += d.bytes_read;
        io.bytes_written += d.bytes_written;
        io.lines_read += d.lines_read;
        io.lines_written += d.lines_written;
        io.stored_frames = d.stored_frames;
        self.kernel.take_logged_writes()
    }

    /// Rule 9: the allocator's writes of one call stay out of the payloads of the
    /// blocks live before it, except `own` (the block the call frees or resizes).
    pub(super) fn check_writes(
        &self,
        call: Call,
        writes: &[(Addr, u64)],
        own: Option<Addr>,
    ) -> Result<(), Violation> {
        if !self.checked {
            return Ok(());
        }
        for &(addr, len) in writes {
            let end = addr.saturating_add(len);
            // Live blocks do not overlap (rule 3), so walking down from the last one
            // starting before `end` meets every block the range reaches, and stops at
            // the first that ends before it.
            for b in self.live.range(..end).rev().map(|(_, b)| *b) {
                if b.ptr.saturating_add(b.size) <= addr {
                    break;
                }
                if Some(b.ptr) == own || b.size == 0 {
                    continue;
                }
                let from = addr.max(b.ptr);
                let upto = end.min(b.ptr + b.size);
                return Err(self.violation(
                    call,
                    Rule::WroteIntoBlock {
                        block: b,
                        addr: from,
                        len: upto - from,
                    },
                ));
            }
        }
        Ok(())
    }

    /// A refused call wrote nothing.
    pub(super) fn check_no_writes(
        &self,
        call: Call,
        writes: &[(Addr, u64)],
    ) -> Result<(), Violation> {
        match writes.first() {
            None => Ok(()),
            Some(&(addr, len)) => Err(self.violation(call, Rule::RefusalWrote { addr, len })),
        }
    }

    /// Rule 7: `block` holds its pattern (read as a debugger does: no cost, no fault).
    pub(super) fn verify(&self, call: Call, block: Live) -> Result<(), Violation> {
        if !self.contents || !self.checked || block.size == 0 {
            return Ok(());
        }
        let mut bytes = vec![0u8; block.size as usize];
        if self.kernel.peek(block.ptr, &mut bytes).is_err() {
            return Err(self.violation(call, Rule::OutsideMemory { block }));
        }
        match first_difference(&bytes, block.id, 0) {
            None => Ok(()),
            Some((offset, found, expected)) => Err(self.violation(
                call,
                Rule::Corrupted {
                    block,
                    offset,
                    found,
                    expected,
                },
            )),
        }
    }

    /// Rule 8, after a `realloc` of `old` that gave `new`: the first `min(old, new)`
    /// bytes are the old ones. For an allocator that keeps no bytes the contract
    /// makes the copy instead (and counts its accesses as the allocator's).
    pub(super) fn check_kept(&mut self, call: Call, old: Live, new: Live) -> Result<(), Violation> {
        if !self.contents {
            return Ok(());
        }
        let n = old.size.min(new.size);
        if n == 0 {
            return Ok(());
        }
        if !self.keeps_bytes {
            if new.ptr != old.ptr {
                let bytes = pattern_range(old.id, 0, n);
                let before = self.kernel.byte_stats();
                self.kernel.write(new.ptr, &bytes).map_err(|fault| {
                    self.violation(call, Rule::WriteFaulted { block: new, fault })
                })?;
                let d = self.kernel.byte_stats().since(&before);
                self.allocator_io.lines_read += d.lines_written;
                self.allocator_io.lines_written += d.lines_written;
                self.allocator_io.bytes_read += d.bytes_written;
                self.allocator_io.bytes_written += d.bytes_written;
            }
            return Ok(());
        }
        if !self.checked {
            return Ok(());
        }
        let mut bytes = vec![0u8; n as usize];
        if self.kernel.peek(new.ptr, &mut bytes).is_err() {
            return Err(self.violation(call, Rule::OutsideMemory { block: new }));
        }
        match first_difference(&bytes, old.id, 0) {
            None => Ok(()),
            Some((offset, found, expected)) => Err(self.violation(
                call,
                Rule::ReallocLost {
                    old,
                    new,
                    offset,
                    found,
                    expected,
                },
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_one_function_of_block_and_offset() {
        for id in [0, 1, 77] {
            let whole = pattern_range(id, 0, 100);
            for (i, b) in whole.iter().enumerate() {
                assert_eq!(*b, pattern(id, i as u64));
            }
            assert_eq!(pattern_range(id, 13, 29), whole[13..29]);
            assert_eq!(pattern_range(id, 5, 6), whole[5..6]);
            assert!(pattern_range(id, 9, 9).is_empty());
        }
        assert_ne!(pattern_range(1, 0, 64), pattern_range(2, 0, 64));
        assert!(pattern_range(0, 0, 64).iter().any(|&b| b != 0));
        let mut b = pattern_range(3, 8, 40);
        assert_eq!(first_difference(&b, 3, 8), None);
        b[5] ^= 1;
        assert_eq!(first_difference(&b, 3, 8), Some((13, b[5], b[5] ^ 1)));
    }
}
