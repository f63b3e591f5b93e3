//! The simplest heap there is: a *bump* allocator over the program break, written
//! against the [`Allocator`] trait the way an assignment would be.
//!
//! `malloc` hands out the bytes right after the previous block and moves a cursor
//! ("bumps" it); when the cursor would pass the break, it asks the kernel for more with
//! `sbrk`. `free` only forgets the block: its bytes are never reused, until the last live
//! block is freed, and then the whole heap is reset and the break moved back down. The
//! book's program-break chapter uses it to show what a heap is before free lists enter;
//! the assignments chapter uses it as the shape of a solution.
//!
//! Run with `cargo run -p malloc --example bump`.

use kernel::{Access, Addr, Kernel, KernelConfig, page_align_up};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use std::collections::BTreeMap;

/// Every pointer is 16-byte aligned, as x86-64 `malloc` promises.
const ALIGN: u64 = 16;

// ANCHOR: bump
/// A bump allocator: a cursor in `[start, brk)` and a side table of live blocks.
#[derive(Debug, Default)]
struct Bump {
    /// The program break when the heap started (`None` before the first malloc).
    base: Option<Addr>,
    /// The first aligned address at or after `base`: where blocks start.
    start: Addr,
    /// The next free byte.
    cursor: Addr,
    /// The program break as we last set it.
    brk: Addr,
    /// Live blocks: pointer -> bytes reserved for it (a multiple of `ALIGN`).
    live: BTreeMap<Addr, u64>,
}

impl Bump {
    /// Makes sure `[cursor, cursor + bytes)` lies below the break, growing the heap
    /// with `sbrk` (to a whole page) if it does not.
    fn reserve(&mut self, kernel: &mut Kernel, bytes: u64) -> Result<(), AllocError> {
        let oom = AllocError::OutOfMemory { size: bytes };
        let end = self.cursor.checked_add(bytes).ok_or(oom.clone())?;
        if end > self.brk {
            let new_brk = page_align_up(end);
            kernel
                .sbrk((new_brk - self.brk) as i64)
                .map_err(|_| oom.clone())?;
            self.brk = new_brk;
        }
        Ok(())
    }
}

impl Allocator for Bump {
    fn name(&self) -> &str {
        "bump"
    }

    fn malloc(&mut self, kernel: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        kernel.charge_user(kernel.config().cost.alloc_op_ns);
        if self.base.is_none() {
            let b = kernel.program_break();
            self.base = Some(b);
            self.start = b.next_multiple_of(ALIGN);
            self.cursor = self.start;
            self.brk = b;
        }
        let bytes = size
            .max(1)
            .checked_next_multiple_of(ALIGN)
            .ok_or(AllocError::OutOfMemory { size })?;
        self.reserve(kernel, bytes)?;
        let ptr = self.cursor;
        self.cursor += bytes;
        self.live.insert(ptr, bytes);
        Ok(ptr)
    }

    fn free(&mut self, kernel: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        kernel.charge_user(kernel.config().cost.alloc_op_ns);
        if self.live.remove(&ptr).is_none() {
            return Err(AllocError::InvalidPointer { ptr });
        }
        if self.live.is_empty() {
            // Nothing lives: start over, and give every page back to the kernel.
            self.cursor = self.start;
            let keep = page_align_up(self.base.unwrap_or(self.brk));
            if self.brk > keep && kernel.sbrk(-((self.brk - keep) as i64)).is_ok() {
                self.brk = keep;
            }
        }
        Ok(())
    }
    // ANCHOR_END: bump

    fn realloc(&mut self, kernel: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        let Some(&old) = self.live.get(&ptr) else {
            return Err(AllocError::InvalidPointer { ptr });
        };
        let new = self.malloc(kernel, size)?;
        // Copy the bytes that survive: read the old block, write the new one.
        let keep = old.min(size);
        if keep > 0 {
            kernel.touch(ptr, keep, Access::Read)?;
            kernel.touch(new, keep, Access::Write)?;
        }
        self.free(kernel, ptr)?;
        Ok(new)
    }

    fn stats(&self) -> HeapStats {
        let arena = self.brk - self.base.unwrap_or(self.brk);
        let allocated: u64 = self.live.values().sum();
        // Bytes below the cursor count as used: a bump allocator cannot reuse them.
        let used = self.base.map_or(0, |b| self.cursor - b);
        HeapStats {
            arena,
            uordblks: used,
            fordblks: arena - used,
            keepcost: self.brk - self.cursor,
            allocated,
            footprint: arena,
            largest_free: self.brk - self.cursor,
            ..HeapStats::default()
        }
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        let block = |addr, size, kind| Block {
            addr,
            size,
            kind,
            mapped: false,
        };
        let mut at = self.start;
        for (&p, &bytes) in &self.live {
            if p > at {
                // Freed bytes the cursor has passed: free, but never reused.
                out.push(block(at, p - at, BlockKind::Free));
            }
            out.push(block(p, bytes, BlockKind::Used));
            at = p + bytes;
        }
        if self.cursor > at {
            out.push(block(at, self.cursor - at, BlockKind::Free));
        }
        if self.brk > self.cursor {
            out.push(block(self.cursor, self.brk - self.cursor, BlockKind::Top));
        }
    }
}

fn main() {
    let mut k = Kernel::new(KernelConfig::default());
    let mut a = Bump::default();
    let heap = k.config().heap_start;

    // Three blocks, then free the middle one: its bytes are lost until the heap resets.
    let p: Vec<Addr> = [100, 5000, 24]
        .iter()
        .map(|&n| a.malloc(&mut k, n).unwrap())
        .collect();
    a.free(&mut k, p[1]).unwrap();
    let mut map = Vec::new();
    a.blocks(&mut map);
    for b in &map {
        println!("{:>6} {:>6} {:?}", b.addr - heap, b.size, b.kind);
    }
    let s = a.stats();
    println!("break moved by {} bytes, {} in use", s.arena, s.allocated);
    assert_eq!(p[0] - heap, 0);
    assert_eq!(s.arena, 8192, "5152 bytes of blocks need two pages");

    // Free the rest: the heap resets and the break comes back down.
    a.free(&mut k, p[0]).unwrap();
    a.free(&mut k, p[2]).unwrap();
    assert_eq!(k.program_break(), heap);
    assert_eq!(
        a.free(&mut k, p[0]),
        Err(AllocError::InvalidPointer { ptr: p[0] })
    );
    println!("all freed: the break is back at the heap start");
}
