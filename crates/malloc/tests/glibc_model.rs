//! The glibc model against the behaviour observed on the real machine
//! (`../shared/GLIBC-MODEL.md`, "Observed on this machine"), and the contract of its
//! public API.

mod common;

use common::*;
use kernel::Kernel;
use malloc::glibc::{Glibc, Mallinfo2, Tunables};
use malloc::options::Options;
use malloc::{AllocError, Allocator, Block, BlockKind};

/// A fresh machine with a syscall-recording glibc.
fn fresh() -> (Kernel, Glibc) {
    let (k, mut g) = setup(Glibc::new(), None);
    g.record_syscalls(true);
    (k, g)
}

/// The syscalls since the last call, normalized (`brk +N`, `mmap LEN`, ...).
fn calls(k: &Kernel, g: &mut Glibc) -> Vec<String> {
    syscall_lines(&g.take_syscalls(), k.config().heap_start)
}

fn blocks(g: &Glibc) -> Vec<Block> {
    let mut v = Vec::new();
    g.blocks(&mut v);
    v
}

#[test]
fn observed_syscalls_and_mallinfo2_of_this_machine() {
    let (mut k, mut g) = fresh();
    let heap = k.config().heap_start;

    // First malloc(100): the tcache (656-byte chunk) and the heap are set up; the heap
    // grows by ALIGN_UP(656 + 128 KiB top pad + 32, 4 KiB) = 0x21000.
    let p = g.malloc(&mut k, 100).unwrap();
    assert_eq!(p - heap, 672);
    assert_eq!(calls(&k, &mut g), ["brk 0", "brk +135168"]);
    let m = g.mallinfo2();
    assert_eq!((m.arena, m.uordblks, m.keepcost), (135168, 768, 134400));

    // malloc(200000) is over the 128 KiB mmap threshold: a mapping of its own.
    let big = g.malloc(&mut k, 200000).unwrap();
    assert_eq!(calls(&k, &mut g), ["mmap 200704"]);
    assert_eq!((g.mallinfo2().hblks, g.mallinfo2().hblkhd), (1, 200704));

    // Freeing it unmaps it and raises the thresholds (the dynamic threshold).
    g.free(&mut k, big).unwrap();
    assert_eq!(calls(&k, &mut g), ["munmap 200704"]);
    assert_eq!((g.mmap_threshold(), g.trim_threshold()), (200704, 401408));

    // The same request now comes from the heap, which grows by 0x31000.
    let again = g.malloc(&mut k, 200000).unwrap();
    assert_eq!(again - heap, 784);
    assert_eq!(calls(&k, &mut g), ["brk +200704"]);
    assert_eq!(g.mallinfo2().arena, 335872);

    // Freeing it merges it into top, which stays below the new trim threshold.
    g.free(&mut k, again).unwrap();
    assert!(calls(&k, &mut g).is_empty());
    assert_eq!(g.mallinfo2().keepcost, 335104);

    // Six 100000-byte blocks: two more growths.
    let six: Vec<_> = (0..6).map(|_| g.malloc(&mut k, 100000).unwrap()).collect();
    assert_eq!(calls(&k, &mut g), ["brk +196608", "brk +200704"]);

    // Freed top end first: two trims of 0x49000 bring the heap back to 135168.
    for &p in six.iter().rev() {
        g.free(&mut k, p).unwrap();
    }
    assert_eq!(calls(&k, &mut g), ["brk -299008", "brk -299008"]);
    assert_eq!(g.mallinfo2().arena, 135168);

    // Ten malloc(24) freed: seven fill the 32-byte tcache bin, three go to a fastbin.
    let ten: Vec<_> = (0..10).map(|_| g.malloc(&mut k, 24).unwrap()).collect();
    for &p in &ten {
        g.free(&mut k, p).unwrap();
    }
    let m = g.mallinfo2();
    assert_eq!((m.smblks, m.fsmblks, m.uordblks), (3, 96, 992));

    // A 100000-byte hole, then malloc_trim(0): the hole's whole pages are dropped
    // with madvise, and top is trimmed to one page plus change.
    let hole = g.malloc(&mut k, 100000).unwrap();
    let _fence = g.malloc(&mut k, 100).unwrap();
    g.free(&mut k, hole).unwrap();
    assert!(g.trim(&mut k, 0).unwrap());
    assert_eq!(calls(&k, &mut g), ["madvise 4096 94208", "brk -32768"]);
    let m = g.mallinfo2();
    assert_eq!((m.arena, m.keepcost), (102400, 1280));

    // A 40 MiB mapped chunk is above the 32 MiB cap of the dynamic threshold.
    let huge = g.malloc(&mut k, 40 << 20).unwrap();
    g.free(&mut k, huge).unwrap();
    assert_eq!(calls(&k, &mut g), ["mmap 41947136", "munmap 41947136"]);
    assert_eq!(g.mmap_threshold(), 200704);
}

#[test]
fn the_mmap_threshold_boundary_and_explicit_tunables() {
    let (mut k, mut g) = fresh();
    let heap = k.config().heap_start;
    let a = g.malloc(&mut k, 131048).unwrap(); // chunk 131056: heap
    let b = g.malloc(&mut k, 131049).unwrap(); // chunk 131072: mapped
    assert!(a > heap && a < k.program_break());
    assert!(b >= k.program_break());
    assert_eq!(calls(&k, &mut g), ["brk 0", "brk +135168", "mmap 135168"]);

    // An explicit mmap threshold switches the dynamic threshold off, as mallopt does.
    let (t, _) = Tunables::from_settings(&[("mmap_threshold", "131072")]).unwrap();
    let (mut k, g2) = setup(Glibc::with_tunables(t).unwrap(), None);
    let mut g2 = g2;
    let p = g2.malloc(&mut k, 200000).unwrap();
    g2.free(&mut k, p).unwrap();
    assert_eq!(g2.mmap_threshold(), 131072);
    assert_eq!(g2.trim_threshold(), 128 * 1024);
}

#[test]
fn realloc_follows_glibc() {
    let (mut k, mut g) = fresh();
    let heap = k.config().heap_start;
    // realloc(NULL, n) is malloc(n).
    let p = g.realloc(&mut k, 0, 100).unwrap();
    assert_eq!(p - heap, 672);
    // Growing next to top extends in place.
    let q = g.realloc(&mut k, p, 5000).unwrap();
    assert_eq!(q, p);
    // A mapped chunk is resized with mremap and stays mapped even when tiny.
    let m = g.malloc(&mut k, 200000).unwrap();
    calls(&k, &mut g);
    let m = g.realloc(&mut k, m, 400000).unwrap();
    let m = g.realloc(&mut k, m, 100).unwrap();
    assert_eq!(
        calls(&k, &mut g),
        ["mremap 200704 401408", "mremap 401408 4096"]
    );
    assert_eq!(g.mallinfo2().hblkhd, 4096);
    // realloc(p, 0) frees and returns NULL.
    assert_eq!(g.realloc(&mut k, m, 0).unwrap(), 0);
    assert_eq!(calls(&k, &mut g), ["munmap 4096"]);
    assert_eq!(g.mallinfo2().hblks, 0);
    // Shrinking in place frees the tail, which (in 2.36) may go to the tcache.
    let before = g.stats().allocated;
    let r = g.realloc(&mut k, q, 4000).unwrap();
    assert_eq!(r, q);
    assert_eq!(g.stats().allocated, before - 992);
    let cached = blocks(&g)
        .iter()
        .filter(|b| b.kind == BlockKind::Cached)
        .count();
    assert_eq!(cached, 1, "the 992-byte tail went to the tcache");
}

#[test]
fn bad_pointers_and_huge_requests_change_nothing() {
    let (mut k, mut g) = fresh();
    let p = g.malloc(&mut k, 40).unwrap();
    let before: Mallinfo2 = g.mallinfo2();
    let allocated = g.stats().allocated;
    calls(&k, &mut g);
    for bad in [p + 8, p + 4096, 12345, k.config().heap_start + 16] {
        assert_eq!(
            g.free(&mut k, bad),
            Err(AllocError::InvalidPointer { ptr: bad })
        );
        assert_eq!(
            g.realloc(&mut k, bad, 10),
            Err(AllocError::InvalidPointer { ptr: bad })
        );
    }
    assert_eq!(g.mallinfo2(), before);
    assert_eq!(g.stats().allocated, allocated);
    g.free(&mut k, p).unwrap();
    assert_eq!(g.stats().allocated, allocated - 48);
    assert_eq!(
        g.free(&mut k, p),
        Err(AllocError::InvalidPointer { ptr: p }),
        "double free"
    );
    assert_eq!(g.stats().allocated, allocated - 48);
    // Above PTRDIFF_MAX malloc fails at once, without a syscall.
    assert_eq!(
        g.malloc(&mut k, 1 << 63),
        Err(AllocError::OutOfMemory { size: 1 << 63 })
    );
    assert!(calls(&k, &mut g).is_empty());
    assert_eq!(g.free(&mut k, 0), Ok(()));
}

#[test]
fn heap_map_names_every_kind_of_chunk() {
    let (mut k, mut g) = fresh();
    let small: Vec<_> = (0..9).map(|_| g.malloc(&mut k, 24).unwrap()).collect();
    let mid = g.malloc(&mut k, 2000).unwrap();
    let _keep = g.malloc(&mut k, 2000).unwrap();
    let mapped = g.malloc(&mut k, 1 << 20).unwrap();
    for &p in &small {
        g.free(&mut k, p).unwrap(); // 7 to the tcache, 2 to a fastbin
    }
    g.free(&mut k, mid).unwrap(); // tcache holds up to 1032-byte requests: binned
    let map = blocks(&g);
    let count = |kind| map.iter().filter(|b| b.kind == kind).count();
    assert_eq!(
        map[0].kind,
        BlockKind::Meta,
        "the tcache structure comes first"
    );
    assert_eq!(map[0].size, 656);
    assert_eq!(count(BlockKind::Cached), 9);
    assert_eq!(count(BlockKind::Free), 1);
    assert_eq!(count(BlockKind::Top), 1);
    assert!(map.windows(2).all(|w| w[0].addr < w[1].addr));
    let m = map.iter().find(|b| b.mapped).unwrap();
    assert_eq!(
        (m.addr + 16, m.kind, m.size),
        (mapped, BlockKind::Used, (1 << 20) + 4096)
    );

    let s = g.stats();
    assert_eq!(
        s.allocated,
        2016 + (1 << 20) + 4096,
        "cached chunks are not allocated"
    );
    assert_eq!(s.footprint, s.arena + s.hblkhd);
    assert_eq!(s.largest_free, g.mallinfo2().keepcost);
    assert_eq!(g.name(), "glibc");
}

#[test]
fn metadata_writes_fault_in_only_the_pages_glibc_touches() {
    let (mut k, mut g) = fresh();
    g.malloc(&mut k, 100).unwrap();
    // The tcache structure and the new top's header share the heap's first page.
    assert_eq!(k.mem().rss, 4096);
    // A large block: only the page holding the next top header is written, not the
    // block's own pages (the program writes those).
    g.malloc(&mut k, 100000).unwrap();
    assert_eq!(k.mem().rss, 2 * 4096);
    // A mapped chunk: glibc writes its header, in the mapping's first page.
    g.malloc(&mut k, 300000).unwrap();
    assert_eq!(k.mem().rss, 3 * 4096);
}

/// `calloc` and the aligned functions take glibc's own paths, as observed on the
/// reference machine (`sim replay --real` of the same calls, glibc 2.36): calloc skips
/// the tcache (a chunk freed into it goes to the next malloc instead), memalign carves
/// an aligned chunk out of a larger one, and a calloc below a raised mmap threshold
/// comes from the heap.
#[test]
fn calloc_skips_the_tcache_and_memalign_aligns() {
    let (mut k, mut g) = fresh();
    let heap = k.config().heap_start;
    let a = g.malloc(&mut k, 24).unwrap();
    assert_eq!(a - heap, 672);
    g.free(&mut k, a).unwrap();
    let c = g.calloc(&mut k, 1, 24).unwrap();
    assert_eq!(c - heap, 704, "calloc does not take the tcache chunk");
    let m = g.malloc(&mut k, 24).unwrap();
    assert_eq!(m - heap, 672, "malloc does");
    let al = g.memalign(&mut k, 256, 100).unwrap();
    assert_eq!(al - heap, 768);
    assert_eq!(al % 256, 0);
    assert_eq!(g.mallinfo2().uordblks, 1136);
    let big = g.malloc(&mut k, 200_000).unwrap();
    g.free(&mut k, big).unwrap();
    let pm = g.memalign(&mut k, 4096, 300_000).unwrap();
    assert_eq!(pm % 4096, 0);
    assert_eq!((g.mallinfo2().hblks, g.mallinfo2().hblkhd), (1, 307_200));
    let z = g.calloc(&mut k, 1000, 200).unwrap();
    assert_eq!(z - heap, 1152);
    let mi = g.mallinfo2();
    assert_eq!(
        (mi.arena, mi.uordblks, mi.fordblks),
        (335_872, 201_152, 134_720)
    );
    // An overflowing product fails with ENOMEM and changes nothing.
    let before = g.mallinfo2();
    assert!(matches!(
        g.calloc(&mut k, u64::MAX, 2),
        Err(AllocError::OutOfMemory { .. })
    ));
    assert_eq!(g.mallinfo2(), before);
    // Freed, the aligned blocks go back like any other.
    for p in [c, m, al, pm, z] {
        g.free(&mut k, p).unwrap();
    }
}

/// `largest_free` (read by samples) is the largest chunk a malloc could reuse without
/// a syscall: the largest free, cached or top block of the heap map, after every call
/// of a mixed stream that fills every kind of bin.
#[test]
fn largest_free_is_the_largest_reusable_block() {
    let (mut k, mut g) = fresh();
    let mut live: Vec<u64> = Vec::new();
    let mut x: u64 = 7;
    for step in 0..4000u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let size = match (x >> 33) % 4 {
            0 => 16 + (x >> 40) % 100,
            1 => 200 + (x >> 40) % 900,
            2 => 1100 + (x >> 40) % 6000,
            _ => 20_000 + (x >> 40) % 60_000,
        };
        if live.len() < 50 || !(x >> 20).is_multiple_of(3) {
            live.push(g.malloc(&mut k, size).unwrap());
        } else {
            let i = ((x >> 24) as usize) % live.len();
            let p = live.swap_remove(i);
            g.free(&mut k, p).unwrap();
        }
        let want = blocks(&g)
            .iter()
            .filter(|b| {
                !b.mapped && matches!(b.kind, BlockKind::Free | BlockKind::Cached | BlockKind::Top)
            })
            .map(|b| b.size)
            .max()
            .unwrap_or(0);
        assert_eq!(g.stats().largest_free, want, "after call {step}");
    }
}

/// The arena's time is charged by the chunks a call visits besides its own
/// (`alloc_step_ns` each): counted with a cost model that charges 1 ns per visit and
/// nothing else, on a machine without a cache (every visit misses).
#[test]
fn arena_calls_are_charged_for_the_chunks_they_visit() {
    let mut k = Kernel::new(kernel::KernelConfig {
        cost: kernel::CostModel {
            alloc_step_ns: 1.0,
            ..kernel::CostModel::zero()
        },
        cache_bytes: 0,
        ..kernel::KernelConfig::default()
    });
    let mut g = Glibc::new();
    let visits = |k: &Kernel| k.ledger().get(kernel::CostCategory::User);
    // Three neighbours beyond the tcache's sizes, and a guard before top.
    let a = g.malloc(&mut k, 2000).unwrap();
    let b = g.malloc(&mut k, 2000).unwrap();
    let c = g.malloc(&mut k, 2000).unwrap();
    let _guard = g.malloc(&mut k, 16).unwrap();
    assert_eq!(visits(&k), 0.0, "chunks split off top visit nothing else");
    // Freeing `a`: no free neighbour, filed in the unsorted bin.
    g.free(&mut k, a).unwrap();
    assert_eq!(visits(&k), 0.0);
    // Freeing `c`: likewise; then `b` merges with both neighbours: two visits.
    g.free(&mut k, c).unwrap();
    assert_eq!(visits(&k), 0.0);
    g.free(&mut k, b).unwrap();
    assert_eq!(visits(&k), 2.0);
    // malloc(2000), a large request, does not split an unsorted chunk in place: it
    // sorts the merged chunk into its largebin (a visit), finds it there as the best
    // fit and splits off the rest (a visit).
    g.malloc(&mut k, 2000).unwrap();
    assert_eq!(visits(&k), 4.0);
    // The next malloc(2000) finds the remainder (4032 bytes) in the unsorted bin: it
    // is sorted (a visit), then split (a visit).
    g.malloc(&mut k, 2000).unwrap();
    assert_eq!(visits(&k), 6.0);
}

/// A visit is charged for the share of the heap the cache cannot hold: nothing while the
/// heap fits in the cache, half of `alloc_step_ns` in a heap twice the cache's size.
#[test]
fn chunk_visits_cost_the_share_of_the_heap_outside_the_cache() {
    // Three neighbours freed so that the middle one merges with both: two visits.
    let merge = |cache_bytes: Option<u64>| {
        let mut g = Glibc::new();
        let mut k = Kernel::new(kernel::KernelConfig {
            cost: kernel::CostModel {
                alloc_step_ns: 1.0,
                ..kernel::CostModel::zero()
            },
            ..kernel::KernelConfig::default()
        });
        let a = g.malloc(&mut k, 2000).unwrap();
        let b = g.malloc(&mut k, 2000).unwrap();
        let c = g.malloc(&mut k, 2000).unwrap();
        let _guard = g.malloc(&mut k, 16).unwrap();
        let heap = g.mallinfo2().arena;
        // The cache's size is the kernel's; a configuration is fixed at its start, so
        // each case runs the same calls on a kernel of its own.
        let mut k = Kernel::new(kernel::KernelConfig {
            cost: kernel::CostModel {
                alloc_step_ns: 1.0,
                ..kernel::CostModel::zero()
            },
            cache_bytes: cache_bytes.unwrap_or(heap / 2),
            ..kernel::KernelConfig::default()
        });
        let mut g = Glibc::new();
        let [a2, b2, c2] = [0; 3].map(|_| g.malloc(&mut k, 2000).unwrap());
        let _guard = g.malloc(&mut k, 16).unwrap();
        assert_eq!((a2, b2, c2), (a, b, c), "the same heap");
        g.free(&mut k, a2).unwrap();
        g.free(&mut k, c2).unwrap();
        g.free(&mut k, b2).unwrap();
        k.ledger().get(kernel::CostCategory::User)
    };
    assert_eq!(merge(Some(0)), 2.0, "no cache: every visit misses");
    assert_eq!(
        merge(Some(1 << 20)),
        0.0,
        "a 132 KiB heap fits a 1 MiB cache"
    );
    assert!(
        (merge(None) - 1.0).abs() < 1e-9,
        "half the heap outside the cache"
    );
}
