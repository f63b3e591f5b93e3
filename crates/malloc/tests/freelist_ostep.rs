//! A worked example in the style of OSTEP's `malloc.py` homework: a fixed sequence of
//! requests on the `first-fit` preset, with every answer computed by hand below and
//! checked against the allocator (returned pointers and the free list after each step).
//!
//! Layout of the preset: 8-byte header, 8-byte footer, 16-byte alignment, so a request
//! of `n` bytes takes a block of `round_up(n + 16, 16)` bytes, at least 32. The heap
//! starts page-aligned (offset 0), so the first block starts at offset 8: its payload,
//! 8 bytes further, is then 16-aligned. The heap grows by at least 4096 bytes, the break
//! rounded to a page; the last block ends 8 bytes below a page-aligned break (the slack
//! that keeps the next payload aligned).
//!
//! Offsets are from the heap start. Pointers are payloads: block + 8.
//!
//! | step | op | by hand | free list after |
//! |---|---|---|---|
//! | 1 | p0 = malloc(100) | block 128. Empty heap: break 0 -> 4096, free block [8, 4088) = 4080 bytes; first fit takes it, split: p0 = 16 | [136:3952] |
//! | 2 | p1 = malloc(50) | block 80 from [136:3952]: p1 = 144 | [216:3872] |
//! | 3 | p2 = malloc(200) | block 224 from [216:3872]: p2 = 224 | [440:3648] |
//! | 4 | free(p1) | [136:80]; neighbours [8] and [216] in use: no merge | [136:80] [440:3648] |
//! | 5 | p3 = malloc(40) | block 64; first fit [136:80]; remainder 16 < 32: no split, p3 gets all 80; p3 = 144 | [440:3648] |
//! | 6 | free(p0) | [8:128], neighbour [136] in use | [8:128] [440:3648] |
//! | 7 | free(p2) | [216:224] merges with the free [440:3648] after it | [8:128] [216:3872] |
//! | 8 | p4 = malloc(120) | block 144; [8:128] too small; [216:3872] fits: p4 = 224 | [8:128] [360:3728] |
//! | 9 | free(p3) | [136:80] merges with the free [8:128] before it | [8:208] [360:3728] |
//! | 10 | p5 = malloc(4000) | block 4016; nothing fits. The top [360:3728] is free: grow by max(360+4016 = 4376, 4096+4096 = 8192) -> break 8192, top [360:7824]; split: p5 = 368 | [8:208] [4376:3808] |
//! | 11 | free(p5) | [360:4016] merges with the top: [360:7824], below the 128 KiB trim threshold | [8:208] [360:7824] |

use kernel::{Kernel, KernelConfig, Syscall};
use malloc::Allocator;
use malloc::freelist::FreeList;

#[test]
fn worked_first_fit_example() {
    let mut k = Kernel::new(KernelConfig::default());
    let mut a = FreeList::preset("first-fit").unwrap();
    let hs = k.program_break();

    // (op, expected offset of the returned pointer or None for a free, free list after)
    let mut ptrs = Vec::new();
    let mut step = |a: &mut FreeList, k: &mut Kernel, op: Op, want: Option<u64>, list: &str| {
        let got = match op {
            Op::Malloc(n) => {
                let p = a.malloc(k, n).unwrap();
                ptrs.push(p);
                Some(p - hs)
            }
            Op::Free(i) => {
                a.free(k, ptrs[i]).unwrap();
                None
            }
        };
        assert_eq!(got, want, "{op:?}");
        assert_eq!(a.describe(), list, "after {op:?}");
    };
    step(
        &mut a,
        &mut k,
        Op::Malloc(100),
        Some(16),
        "Free List [ Size 1 ]: [ addr:136 sz:3952 ]",
    );
    assert_eq!(k.program_break() - hs, 4096);
    step(
        &mut a,
        &mut k,
        Op::Malloc(50),
        Some(144),
        "Free List [ Size 1 ]: [ addr:216 sz:3872 ]",
    );
    step(
        &mut a,
        &mut k,
        Op::Malloc(200),
        Some(224),
        "Free List [ Size 1 ]: [ addr:440 sz:3648 ]",
    );
    step(
        &mut a,
        &mut k,
        Op::Free(1),
        None,
        "Free List [ Size 2 ]: [ addr:136 sz:80 ] [ addr:440 sz:3648 ]",
    );
    step(
        &mut a,
        &mut k,
        Op::Malloc(40),
        Some(144),
        "Free List [ Size 1 ]: [ addr:440 sz:3648 ]",
    );
    step(
        &mut a,
        &mut k,
        Op::Free(0),
        None,
        "Free List [ Size 2 ]: [ addr:8 sz:128 ] [ addr:440 sz:3648 ]",
    );
    step(
        &mut a,
        &mut k,
        Op::Free(2),
        None,
        "Free List [ Size 2 ]: [ addr:8 sz:128 ] [ addr:216 sz:3872 ]",
    );
    step(
        &mut a,
        &mut k,
        Op::Malloc(120),
        Some(224),
        "Free List [ Size 2 ]: [ addr:8 sz:128 ] [ addr:360 sz:3728 ]",
    );
    step(
        &mut a,
        &mut k,
        Op::Free(3),
        None,
        "Free List [ Size 2 ]: [ addr:8 sz:208 ] [ addr:360 sz:3728 ]",
    );
    step(
        &mut a,
        &mut k,
        Op::Malloc(4000),
        Some(368),
        "Free List [ Size 2 ]: [ addr:8 sz:208 ] [ addr:4376 sz:3808 ]",
    );
    assert_eq!(k.program_break() - hs, 8192);
    step(
        &mut a,
        &mut k,
        Op::Free(5),
        None,
        "Free List [ Size 2 ]: [ addr:8 sz:208 ] [ addr:360 sz:7824 ]",
    );
    // Two growths, no trim: two brk calls, nothing returned.
    assert_eq!(k.counters().syscall(Syscall::Brk), 2);
    assert_eq!(k.counters().returned.brk, 0);
    // Accounting at the end: p4 (144 bytes) in use, 8 + 8 bytes of padding and slack.
    let s = a.stats();
    assert_eq!(s.arena, 8192);
    assert_eq!(s.fordblks, 208 + 7824);
    assert_eq!(s.allocated, 144 + 16);
    assert_eq!(s.keepcost, 7824);
    assert_eq!(s.largest_free, 7824);
}

#[derive(Copy, Clone, Debug)]
enum Op {
    Malloc(u64),
    Free(usize),
}
