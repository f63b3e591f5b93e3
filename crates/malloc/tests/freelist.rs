//! Textbook behaviour of the free-list allocator, pinned with hand-computed heaps.
//!
//! Unless a test says otherwise the layout is the presets' one: 8-byte header and
//! footer, 16-byte alignment, minimum block 32; a request of `n` bytes takes a block of
//! `round_up(n + 16, 16)` (at least 32). The heap starts page-aligned, the first block
//! at offset 8 (so its payload, at 16, is aligned); a 4 KiB heap ends its last block at
//! 4088. Offsets below are from the heap start; pointers are block + 8.

use kernel::{CostCategory, Kernel, KernelConfig, PAGE_SIZE, Syscall};
use malloc::freelist::{Coalesce, Fit, FreeList, FreeListConfig, Order, PRESETS};
use malloc::options::{OptionError, Options};
use malloc::{AllocError, Allocator, BlockKind};

/// A fresh kernel and a preset with `opts` (`key=value`) applied.
fn setup(preset: &str, opts: &[&str]) -> (Kernel, FreeList, u64) {
    let pairs: Vec<(&str, &str)> = opts.iter().filter_map(|o| o.split_once('=')).collect();
    let (cfg, notes) = FreeListConfig::preset(preset)
        .unwrap()
        .apply(&pairs)
        .unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let a = FreeList::new(cfg).unwrap();
    let k = Kernel::new(KernelConfig::default());
    let hs = k.program_break();
    (k, a, hs)
}

/// Makes holes: for each size, a block of it followed by a 32-byte guard block in use,
/// then frees the sized blocks (in order). Returns nothing: the tests know the layout.
fn holes(a: &mut FreeList, k: &mut Kernel, sizes: &[u64]) {
    let mut ps = Vec::new();
    for &s in sizes {
        ps.push(a.malloc(k, s).unwrap());
        a.malloc(k, 0).unwrap();
    }
    for p in ps {
        a.free(k, p).unwrap();
    }
}

/// Offset of a fresh allocation of `n` bytes.
fn m(a: &mut FreeList, k: &mut Kernel, hs: u64, n: u64) -> u64 {
    a.malloc(k, n).unwrap() - hs
}

// Holes for the fit tests: requests 100, 3000, 200 make blocks 128 @8, 3024 @168,
// 224 @3224, each followed by a guard (@136, @3192, @3448); the top is [3480, 4088),
// 608 bytes. Free list (address order): [8:128] [168:3024] [3224:224] [3480:608].
const FIT_HOLES: [u64; 3] = [100, 3000, 200];
const FIT_LIST: &str = "Free List [ Size 4 ]: [ addr:8 sz:128 ] [ addr:168 sz:3024 ] [ addr:3224 sz:224 ] [ addr:3480 sz:608 ]";

#[test]
fn each_fit_policy_picks_its_textbook_block() {
    // | request (block) | first          | next (rover at the top) | best           | worst           |
    // | 100 (128)       | [8] -> 16      | [3480] -> 3488          | [8] exact -> 16 | [168] -> 176   |
    // | 150 (176)       | [168] -> 176   | [3480] -> 3488          | [3224] -> 3232 | [168] -> 176    |
    // Nodes visited: first fit stops at its fit (1, 2); next fit starts at the rover
    // (1); best fit stops at an exact fit (1) or scans all (4); worst fit scans all (4).
    let cases = [
        ("first-fit", [(16, 1), (176, 2)]),
        ("next-fit", [(3488, 1), (3488, 1)]),
        ("best-fit", [(16, 1), (3232, 4)]),
        ("worst-fit", [(176, 4), (176, 4)]),
    ];
    for (preset, want) in cases {
        for (req, (off, visited)) in [100, 150].into_iter().zip(want) {
            let (mut k, mut a, hs) = setup(preset, &[]);
            holes(&mut a, &mut k, &FIT_HOLES);
            assert_eq!(a.describe(), FIT_LIST, "{preset}");
            assert_eq!(m(&mut a, &mut k, hs, req), off, "{preset} malloc({req})");
            assert_eq!(
                a.last_search(),
                visited,
                "{preset} malloc({req}) nodes visited"
            );
        }
    }
}

#[test]
fn a_long_search_costs_simulated_time() {
    let (mut k, mut a, _) = setup("best-fit", &[]);
    holes(&mut a, &mut k, &FIT_HOLES);
    let before = k.ledger().get(CostCategory::User);
    a.malloc(&mut k, 150).unwrap();
    let op = k.config().cost.alloc_op_ns;
    let charged = k.ledger().get(CostCategory::User) - before;
    // One fast path plus one per node: best fit scanned all four.
    assert!((charged - op * 5.0).abs() < 1e-9, "{charged}");
}

#[test]
fn size_sorted_lists_turn_first_fit_into_best_and_worst_fit() {
    // size_asc: [128] [224] [608] [3024]: first fit of 176 meets 224 second.
    let (mut k, mut a, hs) = setup("first-fit", &["order=size_asc"]);
    holes(&mut a, &mut k, &FIT_HOLES);
    assert_eq!(
        a.describe(),
        "Free List [ Size 4 ]: [ addr:8 sz:128 ] [ addr:3224 sz:224 ] [ addr:3480 sz:608 ] [ addr:168 sz:3024 ]"
    );
    assert_eq!(m(&mut a, &mut k, hs, 150), 3232);
    assert_eq!(a.last_search(), 2);
    // Best fit on a size-ascending list stops at the first fit, too.
    let (mut k, mut a, hs) = setup("best-fit", &["order=size_asc"]);
    holes(&mut a, &mut k, &FIT_HOLES);
    assert_eq!(m(&mut a, &mut k, hs, 150), 3232);
    assert_eq!(a.last_search(), 2);
    // Worst fit on a size-descending list looks at the head only.
    let (mut k, mut a, hs) = setup("worst-fit", &["order=size_desc"]);
    holes(&mut a, &mut k, &FIT_HOLES);
    assert_eq!(m(&mut a, &mut k, hs, 150), 176);
    assert_eq!(a.last_search(), 1);
}

#[test]
fn next_fit_resumes_after_the_last_allocation_and_wraps() {
    // Holes 100, 100, 100: blocks 128 @8, @168, @328, guards @136, @296, @456, top
    // [488, 4088) = 3600. The rover sits on the top (the last guard was split off it).
    //   malloc(3500): block 3520 from the top at 488 (ptr 496); remainder [4008:80]
    //                 becomes the rover.
    //   malloc(100):  [4008:80] too small; wrap to the head: [8:128] exact (ptr 16);
    //                 the rover moves to the node after it, [168].
    //   free(16), malloc(100): next fit resumes at [168] (ptr 176) although [8] is
    //                 free again; first fit takes [8] (ptr 16).
    for (preset, want) in [("next-fit", [496, 16, 176]), ("first-fit", [496, 16, 16])] {
        let (mut k, mut a, hs) = setup(preset, &[]);
        holes(&mut a, &mut k, &[100, 100, 100]);
        let p0 = m(&mut a, &mut k, hs, 3500);
        let p1 = m(&mut a, &mut k, hs, 100);
        a.free(&mut k, hs + p1).unwrap();
        let p2 = m(&mut a, &mut k, hs, 100);
        assert_eq!([p0, p1, p2], want, "{preset}");
    }
}

#[test]
fn list_order_decides_which_free_block_is_reused() {
    // Holes 100, 100: blocks 128 @8 and @168 (guards @136, @296), top [328:3760].
    // Frees happen in address order (8, then 168). The top was linked first, when the
    // heap grew.
    let cases = [
        (
            "lifo",
            "Free List [ Size 3 ]: [ addr:168 sz:128 ] [ addr:8 sz:128 ] [ addr:328 sz:3760 ]",
            176,
        ),
        (
            "fifo",
            "Free List [ Size 3 ]: [ addr:328 sz:3760 ] [ addr:8 sz:128 ] [ addr:168 sz:128 ]",
            336,
        ),
        (
            "address",
            "Free List [ Size 3 ]: [ addr:8 sz:128 ] [ addr:168 sz:128 ] [ addr:328 sz:3760 ]",
            16,
        ),
        (
            "size_desc",
            "Free List [ Size 3 ]: [ addr:328 sz:3760 ] [ addr:8 sz:128 ] [ addr:168 sz:128 ]",
            336,
        ),
    ];
    for (order, list, reused) in cases {
        let (mut k, mut a, hs) = setup("first-fit", &[&format!("order={order}")]);
        holes(&mut a, &mut k, &[100, 100]);
        assert_eq!(a.describe(), list, "{order}");
        assert_eq!(m(&mut a, &mut k, hs, 100), reused, "{order}");
    }
}

/// Fills the first page exactly: a = 1024 @8, b = 1024 @1032, c = 2032 @2056 (ends at
/// 4088: no top), then frees a and b.
fn two_adjacent_free_blocks(coalesce: &str) -> (Kernel, FreeList, u64) {
    let (mut k, mut a, hs) = setup("first-fit", &[&format!("coalesce={coalesce}")]);
    let pa = a.malloc(&mut k, 1000).unwrap();
    let pb = a.malloc(&mut k, 1000).unwrap();
    a.malloc(&mut k, 2016).unwrap();
    assert_eq!(a.describe(), "Free List [ Size 0 ]:");
    a.free(&mut k, pa).unwrap();
    a.free(&mut k, pb).unwrap();
    (k, a, hs)
}

#[test]
fn immediate_coalescing_merges_on_free() {
    let (mut k, mut a, hs) = two_adjacent_free_blocks("immediate");
    assert_eq!(a.describe(), "Free List [ Size 1 ]: [ addr:8 sz:2048 ]");
    // A 1520-byte block fits in the merged block: no growth.
    assert_eq!(m(&mut a, &mut k, hs, 1500), 16);
    assert_eq!(k.counters().syscall(Syscall::Brk), 1);
}

#[test]
fn deferred_coalescing_merges_when_a_search_fails() {
    let (mut k, mut a, hs) = two_adjacent_free_blocks("deferred");
    assert_eq!(
        a.describe(),
        "Free List [ Size 2 ]: [ addr:8 sz:1024 ] [ addr:1032 sz:1024 ]"
    );
    // Search (2 nodes) fails, the coalescing pass walks the heap (3 blocks), the
    // retried search finds [8:2048] (1 node): no growth.
    assert_eq!(m(&mut a, &mut k, hs, 1500), 16);
    assert_eq!(a.last_search(), 6);
    assert_eq!(k.counters().syscall(Syscall::Brk), 1);
    assert_eq!(a.describe(), "Free List [ Size 1 ]: [ addr:1528 sz:528 ]");
}

#[test]
fn without_coalescing_the_heap_grows_instead() {
    let (mut k, mut a, hs) = two_adjacent_free_blocks("none");
    assert_eq!(
        a.describe(),
        "Free List [ Size 2 ]: [ addr:8 sz:1024 ] [ addr:1032 sz:1024 ]"
    );
    // Nothing fits: a new block [4088, 8184) is appended (break 4096 -> 8192).
    assert_eq!(m(&mut a, &mut k, hs, 1500), 4096);
    assert_eq!(k.counters().syscall(Syscall::Brk), 2);
    assert_eq!(k.program_break() - hs, 8192);
    assert_eq!(
        a.describe(),
        "Free List [ Size 3 ]: [ addr:8 sz:1024 ] [ addr:1032 sz:1024 ] [ addr:5608 sz:2576 ]"
    );
}

#[test]
fn without_a_footer_backward_coalescing_needs_a_heap_scan() {
    // footer=0: blocks of malloc(24) are round_up(24 + 8, 16) = 32: a @8, b @40, c @72,
    // d @104, top @136. LIFO order, so the previous block is found by scanning the heap
    // from its start.
    let (mut k, mut a, _) = setup("first-fit", &["footer=0", "order=lifo"]);
    let p: Vec<u64> = (0..4).map(|_| a.malloc(&mut k, 24).unwrap()).collect();
    a.free(&mut k, p[0]).unwrap();
    assert_eq!(a.last_search(), 1, "next header + scan of 0 blocks");
    a.free(&mut k, p[2]).unwrap();
    assert_eq!(a.last_search(), 3, "next header + scan of 2 blocks");
    a.free(&mut k, p[1]).unwrap();
    assert_eq!(a.last_search(), 2, "next header + scan of 1 block");
    // It still merged both ways: [8, 104) is one block.
    assert_eq!(
        a.describe(),
        "Free List [ Size 2 ]: [ addr:8 sz:96 ] [ addr:136 sz:3952 ]"
    );

    // With a footer every free looks at two tags, wherever the block is.
    let (mut k, mut a, _) = setup("first-fit", &["order=lifo"]);
    let p: Vec<u64> = (0..4).map(|_| a.malloc(&mut k, 16).unwrap()).collect();
    for i in [0, 2, 1] {
        a.free(&mut k, p[i]).unwrap();
        assert_eq!(a.last_search(), 2);
    }
}

#[test]
fn split_threshold_decides_whether_a_remainder_is_split_off() {
    // Hole: 1024 @8 (guard @1032, top [1064:3024]). malloc(800) takes a 816-byte block;
    // the remainder would be 208.
    let (mut k, mut a, hs) = setup("first-fit", &[]);
    holes(&mut a, &mut k, &[1000]);
    assert_eq!(m(&mut a, &mut k, hs, 800), 16);
    assert_eq!(
        a.describe(),
        "Free List [ Size 2 ]: [ addr:824 sz:208 ] [ addr:1064 sz:3024 ]"
    );
    let (mut k, mut a, hs) = setup("first-fit", &["split=256"]);
    holes(&mut a, &mut k, &[1000]);
    let before = a.stats().allocated;
    assert_eq!(m(&mut a, &mut k, hs, 800), 16);
    assert_eq!(a.describe(), "Free List [ Size 1 ]: [ addr:1064 sz:3024 ]");
    assert_eq!(
        a.stats().allocated - before,
        1024,
        "the whole block is handed out"
    );
}

#[test]
fn trimming_gives_the_top_back_with_a_negative_sbrk() {
    // malloc(200000): block 200016 at 8; the heap grows to 49 pages (200704), the top
    // keeps [200024:672]. free: the merged top [8:200688] exceeds 128 KiB, so the break
    // drops to the first page boundary that leaves a whole block: 4096.
    let (mut k, mut a, hs) = setup("first-fit", &[]);
    let p = a.malloc(&mut k, 200_000).unwrap();
    assert_eq!(k.program_break() - hs, 200_704);
    a.free(&mut k, p).unwrap();
    assert_eq!(k.program_break() - hs, 4096);
    assert_eq!(k.counters().returned.brk, 200_704 - 4096);
    assert_eq!(a.describe(), "Free List [ Size 1 ]: [ addr:8 sz:4080 ]");
    assert_eq!(a.stats().keepcost, 4080);
    assert_eq!(a.stats().footprint, 4096);

    // Below the threshold (or with trim=never) nothing goes back on free...
    let (mut k, mut a, hs) = setup("first-fit", &["trim=never"]);
    let p = a.malloc(&mut k, 200_000).unwrap();
    a.free(&mut k, p).unwrap();
    assert_eq!(k.counters().returned.brk, 0);
    assert_eq!(k.program_break() - hs, 200_704);
    // ... until malloc_trim, which keeps `pad` bytes: the first page boundary with at
    // least 8 + 10000 bytes below it is 12288.
    assert!(a.trim(&mut k, 10_000).unwrap());
    assert_eq!(k.program_break() - hs, 12_288);
    assert_eq!(k.counters().returned.brk, 200_704 - 12_288);
    assert!(
        !a.trim(&mut k, 10_000).unwrap(),
        "nothing more to give back"
    );
}

#[test]
fn metadata_writes_make_pages_resident_and_payload_does_not() {
    // A 200000-byte block: the allocator writes tags at its start and end and the
    // remainder's tags, on the first and the last page. The payload between stays
    // untouched until the program writes it.
    let (mut k, mut a, _) = setup("first-fit", &["trim=never"]);
    a.malloc(&mut k, 200_000).unwrap();
    assert_eq!(k.mem().rss, 2 * PAGE_SIZE);
}

#[test]
fn realloc_grows_and_shrinks_in_place_else_moves() {
    // a = 128 @8, b = 128 @136, c = 128 @264 (guard), top [392:3696]; free b.
    let (mut k, mut a, hs) = setup("first-fit", &[]);
    let pa = a.malloc(&mut k, 100).unwrap();
    let pb = a.malloc(&mut k, 100).unwrap();
    a.malloc(&mut k, 100).unwrap();
    a.free(&mut k, pb).unwrap();
    // Grow to a 224-byte block: a + b = 256, the 32-byte rest is split off.
    assert_eq!(a.realloc(&mut k, pa, 200).unwrap(), pa);
    assert_eq!(
        a.describe(),
        "Free List [ Size 2 ]: [ addr:232 sz:32 ] [ addr:392 sz:3696 ]"
    );
    // Shrink to 64: the 160-byte tail is freed and merges with [232:32].
    assert_eq!(a.realloc(&mut k, pa, 40).unwrap(), pa);
    assert_eq!(
        a.describe(),
        "Free List [ Size 2 ]: [ addr:72 sz:192 ] [ addr:392 sz:3696 ]"
    );
    // Same block size: nothing to do.
    assert_eq!(a.realloc(&mut k, pa, 48).unwrap(), pa);
    // Grow to 1024: 64 + 192 is not enough; move to the top (400), copy, free the old.
    let moved = a.realloc(&mut k, pa, 1000).unwrap();
    assert_eq!(moved - hs, 400);
    assert_eq!(
        a.describe(),
        "Free List [ Size 2 ]: [ addr:8 sz:256 ] [ addr:1416 sz:2672 ]"
    );
    assert_eq!(k.counters().syscall(Syscall::Brk), 1);
    // The old pointer is gone.
    assert_eq!(
        a.realloc(&mut k, pa, 10),
        Err(AllocError::InvalidPointer { ptr: pa })
    );
}

#[test]
fn invalid_and_double_frees_are_rejected_without_change() {
    let (mut k, mut a, hs) = setup("first-fit", &[]);
    assert_eq!(
        a.free(&mut k, hs + 16),
        Err(AllocError::InvalidPointer { ptr: hs + 16 }),
        "before any malloc"
    );
    let p = a.malloc(&mut k, 100).unwrap();
    let q = a.malloc(&mut k, 100).unwrap();
    a.free(&mut k, q).unwrap();
    let (stats, list, ledger, counters) = (
        a.stats(),
        a.describe(),
        k.ledger().clone(),
        k.counters().clone(),
    );
    for bad in [p + 8, p - 16, q, 0, u64::MAX] {
        assert_eq!(
            a.free(&mut k, bad),
            Err(AllocError::InvalidPointer { ptr: bad })
        );
        assert_eq!(
            a.realloc(&mut k, bad, 10),
            Err(AllocError::InvalidPointer { ptr: bad })
        );
    }
    assert_eq!(a.stats(), stats);
    assert_eq!(a.describe(), list);
    assert_eq!(k.ledger(), &ledger, "a rejected call charges nothing");
    assert_eq!(k.counters(), &counters);
}

#[test]
fn impossible_requests_fail_as_out_of_memory() {
    let (mut k, mut a, _) = setup("first-fit", &[]);
    assert_eq!(
        a.malloc(&mut k, u64::MAX),
        Err(AllocError::OutOfMemory { size: u64::MAX })
    );
    // A data limit makes the kernel refuse the break: malloc returns NULL, the heap
    // stays as it was.
    let mut k = Kernel::new(KernelConfig {
        data_limit: Some(64 * 1024),
        ..KernelConfig::default()
    });
    let mut a = FreeList::preset("first-fit").unwrap();
    let p = a.malloc(&mut k, 1000).unwrap();
    let stats = a.stats();
    assert_eq!(
        a.malloc(&mut k, 100_000),
        Err(AllocError::OutOfMemory { size: 100_000 })
    );
    assert_eq!(a.stats(), stats);
    a.free(&mut k, p).unwrap();
}

#[test]
fn heap_map_covers_the_heap_exactly() {
    let (mut k, mut a, hs) = setup("first-fit", &[]);
    holes(&mut a, &mut k, &FIT_HOLES);
    let mut map = Vec::new();
    a.blocks(&mut map);
    let kinds: Vec<(u64, u64, BlockKind)> =
        map.iter().map(|b| (b.addr - hs, b.size, b.kind)).collect();
    use BlockKind::*;
    assert_eq!(
        kinds,
        [
            (0, 8, Meta),
            (8, 128, Free),
            (136, 32, Used),
            (168, 3024, Free),
            (3192, 32, Used),
            (3224, 224, Free),
            (3448, 32, Used),
            (3480, 608, Top),
            (4088, 8, Meta),
        ]
    );
    assert!(map.iter().all(|b| !b.mapped));
    let s = a.stats();
    assert_eq!(s.arena, 4096);
    assert_eq!(s.fordblks, 128 + 3024 + 224 + 608);
    assert_eq!(s.allocated, 3 * 32 + 16);
    assert_eq!(s.largest_free, 3024);
    assert_eq!(s.keepcost, 608);
}

#[test]
fn presets_and_options_are_reachable_by_name() {
    for name in PRESETS {
        let a = FreeList::preset(name).unwrap();
        assert_eq!(a.name(), name);
        assert_eq!(a.config().order, Order::Address);
        assert_eq!(a.config().coalesce, Coalesce::Immediate);
    }
    assert_eq!(
        FreeList::preset("best-fit").unwrap().config().fit,
        Fit::Best
    );
    assert!(FreeList::preset("buddy").is_none());
    assert!(FreeListConfig::preset("buddy").is_none());
    assert!(matches!(
        FreeListConfig::default().apply(&[("fit", "best"), ("fit", "bogus")]),
        Err(OptionError::BadValue { option: "fit", .. })
    ));
    let cfg = FreeListConfig {
        align: 24,
        ..FreeListConfig::default()
    };
    assert!(matches!(
        FreeList::new(cfg),
        Err(OptionError::Invalid {
            option: "align",
            ..
        })
    ));
    let custom = FreeList::new(FreeListConfig::default())
        .unwrap()
        .with_name("first-fit-lifo");
    assert_eq!(custom.name(), "first-fit-lifo");
}

#[test]
fn larger_alignment_and_headers_keep_payloads_aligned() {
    // header 16, footer 0, align 64 (minimum block 64): the first block starts at 48
    // so its payload is at 64. Blocks: 1 -> 64 @48, 50 -> 128 @112, 100 -> 128 @240,
    // 0 -> 64 @368, 64 -> 128 @432; payloads 16 bytes further.
    let (mut k, mut a, hs) = setup("first-fit", &["header=16", "footer=0", "align=64"]);
    let ps: Vec<u64> = [1, 50, 100, 0, 64]
        .iter()
        .map(|&n| m(&mut a, &mut k, hs, n))
        .collect();
    assert_eq!(ps, [64, 128, 256, 384, 448]);
    assert!(ps.iter().all(|p| p % 64 == 0));
}
