//! Behaviour of the size-class allocator: class rounding, slabs from mmap, slot reuse,
//! what an empty slab does in each return mode, large blocks, invalid pointers.
//!
//! The kernel places mappings top-down below `mmap_base`, so the first mapping (the
//! metadata chunk, 16 KiB) ends at `mmap_base`, the first slab right below it, and each
//! later mapping below the previous one.

use kernel::{Kernel, KernelConfig, PAGE_SIZE, Syscall};
use malloc::options::Options;
use malloc::segregated::{META_CHUNK_BYTES, ReturnMode, Segregated, SegregatedConfig};
use malloc::{AllocError, Allocator, Block, BlockKind};

fn setup(opts: &[&str]) -> (Kernel, Segregated) {
    let pairs: Vec<(&str, &str)> = opts.iter().filter_map(|o| o.split_once('=')).collect();
    let (cfg, notes) = SegregatedConfig::from_settings(&pairs).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    (
        Kernel::new(KernelConfig::default()),
        Segregated::new(cfg).unwrap(),
    )
}

fn map(a: &Segregated) -> Vec<Block> {
    let mut v = Vec::new();
    a.blocks(&mut v);
    v
}

#[test]
fn requests_round_up_to_their_class_and_slots_are_packed_without_headers() {
    let (mut k, mut a) = setup(&[]);
    assert_eq!(a.class_of(0).unwrap().size, 16);
    assert_eq!(a.class_of(17).unwrap().size, 32);
    assert_eq!(a.class_of(129).unwrap().size, 160);
    assert_eq!(a.class_of(32768).unwrap().size, 32768);
    assert!(a.class_of(32769).is_none());

    let base = k.config().mmap_base;
    let slab = base - META_CHUNK_BYTES - PAGE_SIZE;
    let p: Vec<u64> = (0..3).map(|_| a.malloc(&mut k, 10).unwrap()).collect();
    // Consecutive 16-byte slots of one page: no header between them.
    assert_eq!(p, [slab, slab + 16, slab + 32]);
    // The break never moves; slabs and metadata come from mmap (2 calls so far).
    assert_eq!(k.program_break(), k.config().heap_start);
    assert_eq!(k.counters().syscall(Syscall::Mmap), 2);
    assert_eq!(k.counters().syscall(Syscall::Brk), 0);
    // Another class gets its own slab: one more mmap.
    let q = a.malloc(&mut k, 100).unwrap();
    assert_eq!(q, slab - PAGE_SIZE);
    assert_eq!(k.counters().syscall(Syscall::Mmap), 3);
    let s = a.stats();
    assert_eq!(s.allocated, 3 * 16 + 112);
    assert_eq!(s.arena, META_CHUNK_BYTES + 2 * PAGE_SIZE);
    assert_eq!(s.footprint, s.arena);
    assert_eq!(s.fordblks, (256 - 3) * 16 + (36 - 1) * 112);
    assert_eq!(s.largest_free, 112);
}

#[test]
fn a_freed_slot_is_the_next_one_handed_out() {
    let (mut k, mut a) = setup(&[]);
    let p: Vec<u64> = (0..4).map(|_| a.malloc(&mut k, 64).unwrap()).collect();
    a.free(&mut k, p[1]).unwrap();
    a.free(&mut k, p[2]).unwrap();
    // LIFO: the last freed first.
    assert_eq!(a.malloc(&mut k, 64).unwrap(), p[2]);
    assert_eq!(a.malloc(&mut k, 50).unwrap(), p[1]);
    assert_eq!(a.malloc(&mut k, 64).unwrap(), p[3] + 64);
}

#[test]
fn allocation_prefers_the_lowest_slab_with_room() {
    // Fill the first 16-byte slab (256 slots); the next object opens a second slab
    // below it. Freeing a slot in the first slab does not pull allocation back up: the
    // lowest slab with room is the second one.
    let (mut k, mut a) = setup(&[]);
    let first: Vec<u64> = (0..256).map(|_| a.malloc(&mut k, 16).unwrap()).collect();
    let second = a.malloc(&mut k, 16).unwrap();
    assert_eq!(second, first[0] - PAGE_SIZE);
    a.free(&mut k, first[7]).unwrap();
    assert_eq!(a.malloc(&mut k, 16).unwrap(), second + 16);
}

#[test]
fn metadata_writes_show_in_rss_and_untouched_slots_do_not() {
    let (mut k, mut a) = setup(&["return=keep"]);
    let p = a.malloc(&mut k, 16).unwrap();
    // The slab descriptor was written (one page of the metadata chunk); the slot was
    // not: the program has not written it yet.
    assert_eq!(k.mem().rss, PAGE_SIZE);
    a.free(&mut k, p).unwrap();
    // free writes the free-list link into the slot: the slab page is now resident.
    assert_eq!(k.mem().rss, 2 * PAGE_SIZE);
}

/// One 16-byte object in a fresh slab, then freed: the slab becomes empty.
fn empty_a_slab(mode: &str) -> (Kernel, Segregated, u64) {
    let (mut k, mut a) = setup(&[&format!("return={mode}")]);
    let p = a.malloc(&mut k, 16).unwrap();
    k.touch(p, 16, kernel::Access::Write).unwrap(); // the program uses it
    a.free(&mut k, p).unwrap();
    (k, a, p)
}

#[test]
fn empty_slab_madvise_keeps_the_mapping_and_drops_the_pages() {
    let (mut k, mut a, p) = empty_a_slab("madvise");
    assert_eq!(k.counters().syscall(Syscall::Madvise), 1);
    assert_eq!(k.counters().returned.madvise, PAGE_SIZE);
    assert_eq!(k.mem().rss, PAGE_SIZE, "only the metadata page stays");
    assert_eq!(a.stats().footprint, META_CHUNK_BYTES + PAGE_SIZE);
    // Reuse: same slab, starting afresh at slot 0; no new mapping.
    assert_eq!(a.malloc(&mut k, 16).unwrap(), p);
    assert_eq!(k.counters().syscall(Syscall::Mmap), 2);
}

#[test]
fn empty_slab_munmap_gives_the_range_back() {
    let (mut k, mut a, p) = empty_a_slab("munmap");
    assert_eq!(k.counters().syscall(Syscall::Munmap), 1);
    assert_eq!(k.counters().returned.munmap, PAGE_SIZE);
    assert_eq!(a.stats().footprint, META_CHUNK_BYTES);
    assert_eq!(
        map(&a).iter().map(|b| b.kind).collect::<Vec<_>>(),
        [BlockKind::Meta]
    );
    // The next object needs a new mapping (the kernel reuses the hole).
    assert_eq!(a.malloc(&mut k, 16).unwrap(), p);
    assert_eq!(k.counters().syscall(Syscall::Mmap), 3);
}

#[test]
fn empty_slab_keep_makes_no_syscall_until_trim() {
    let (mut k, mut a, _) = empty_a_slab("keep");
    let c = k.counters();
    assert_eq!(
        (c.syscall(Syscall::Madvise), c.syscall(Syscall::Munmap)),
        (0, 0)
    );
    assert_eq!(k.mem().rss, 2 * PAGE_SIZE);
    // malloc_trim advises idle slabs away.
    assert!(a.trim(&mut k, 0).unwrap());
    assert_eq!(k.counters().returned.madvise, PAGE_SIZE);
    assert_eq!(k.mem().rss, PAGE_SIZE);
    assert!(!a.trim(&mut k, 0).unwrap(), "nothing idle any more");
}

#[test]
fn retain_empty_keeps_that_many_empty_slabs_per_class() {
    // Two slabs of the 16-byte class (257 objects), then everything freed: with
    // retain_empty=1 the first slab to empty stays, the second is unmapped.
    let (mut k, mut a) = setup(&["return=munmap", "retain_empty=1"]);
    let p: Vec<u64> = (0..257).map(|_| a.malloc(&mut k, 16).unwrap()).collect();
    for &q in &p {
        a.free(&mut k, q).unwrap();
    }
    assert_eq!(k.counters().syscall(Syscall::Munmap), 1);
    assert_eq!(a.stats().footprint, META_CHUNK_BYTES + PAGE_SIZE);
    assert!(a.trim(&mut k, 0).unwrap());
    assert_eq!(k.counters().syscall(Syscall::Munmap), 2);
    assert_eq!(a.stats().footprint, META_CHUNK_BYTES);
}

#[test]
fn large_blocks_get_their_own_mapping() {
    let (mut k, mut a) = setup(&[]);
    let p = a.malloc(&mut k, 40_000).unwrap();
    assert_eq!(p % PAGE_SIZE, 0);
    let s = a.stats();
    assert_eq!((s.hblks, s.hblkhd), (1, 40_960));
    assert_eq!(s.allocated, 40_960);
    assert_eq!(s.footprint, META_CHUNK_BYTES + 40_960);
    // Shrinking a large block (still above the largest class) unmaps its tail in
    // place: 40000 -> 35000 bytes is 10 -> 9 pages.
    assert_eq!(a.realloc(&mut k, p, 35_000).unwrap(), p);
    assert_eq!(k.counters().returned.munmap, PAGE_SIZE);
    assert_eq!(a.stats().hblkhd, 36_864);
    // Shrinking it to a small size moves it into a slab.
    let small = a.realloc(&mut k, p, 10_000).unwrap();
    assert_eq!(a.stats().hblkhd, 0);
    assert_eq!(a.stats().allocated, 10_240);
    let p = a.realloc(&mut k, small, 40_000).unwrap();
    // Growing it moves it (a new mapping, copy, unmap).
    let q = a.realloc(&mut k, p, 100_000).unwrap();
    assert_ne!(q, p);
    assert_eq!(a.stats().hblkhd, 102_400);
    a.free(&mut k, q).unwrap();
    let s = a.stats();
    assert_eq!((s.hblks, s.hblkhd, s.allocated), (0, 0, 0));
    assert_eq!(
        k.counters().returned.munmap,
        PAGE_SIZE + 36_864 + 40_960 + 102_400
    );
}

#[test]
fn realloc_stays_in_its_class_or_moves() {
    let (mut k, mut a) = setup(&[]);
    let p = a.malloc(&mut k, 100).unwrap(); // class 112
    assert_eq!(a.realloc(&mut k, p, 112).unwrap(), p);
    assert_eq!(a.realloc(&mut k, p, 97).unwrap(), p);
    let q = a.realloc(&mut k, p, 113).unwrap(); // class 128: another slab
    assert_ne!(q, p);
    assert_eq!(a.stats().allocated, 128);
    assert_eq!(
        a.free(&mut k, p),
        Err(AllocError::InvalidPointer { ptr: p })
    );
}

#[test]
fn invalid_pointers_are_rejected_without_change() {
    let (mut k, mut a) = setup(&[]);
    let p = a.malloc(&mut k, 48).unwrap();
    let q = a.malloc(&mut k, 48).unwrap();
    let big = a.malloc(&mut k, 50_000).unwrap();
    a.free(&mut k, q).unwrap();
    let class = *a.class_of(48).unwrap();
    let tail = p + class.slots * class.size; // the unusable end of the slab
    let meta = k.config().mmap_base - META_CHUNK_BYTES;
    let before = (
        a.stats(),
        map(&a),
        a.describe(),
        k.counters().clone(),
        k.ledger().clone(),
    );
    for bad in [p + 8, q, tail, meta, big + PAGE_SIZE, 0, 12345] {
        assert_eq!(
            a.free(&mut k, bad),
            Err(AllocError::InvalidPointer { ptr: bad })
        );
        assert_eq!(
            a.realloc(&mut k, bad, 1),
            Err(AllocError::InvalidPointer { ptr: bad })
        );
    }
    let after = (
        a.stats(),
        map(&a),
        a.describe(),
        k.counters().clone(),
        k.ledger().clone(),
    );
    assert_eq!(before, after);
}

#[test]
fn heap_map_shows_every_slot_and_sums_to_the_footprint() {
    let (mut k, mut a) = setup(&[]);
    // Class 1536: slab of 2 pages holds 5 slots and leaves a 512-byte tail.
    let class = *a.class_of(1500).unwrap();
    assert_eq!((class.size, class.slab_bytes, class.slots), (1536, 8192, 5));
    let p = a.malloc(&mut k, 1500).unwrap();
    let m = map(&a);
    let kinds: Vec<(u64, BlockKind)> = m.iter().map(|b| (b.size, b.kind)).collect();
    use BlockKind::*;
    assert_eq!(
        kinds,
        [
            (1536, Used),
            (1536, Free),
            (1536, Free),
            (1536, Free),
            (1536, Free),
            (512, Meta),
            (META_CHUNK_BYTES, Meta),
        ]
    );
    assert_eq!(m[0].addr, p);
    assert!(m.iter().all(|b| b.mapped));
    assert_eq!(m.iter().map(|b| b.size).sum::<u64>(), a.stats().footprint);
    assert_eq!(
        a.describe(),
        "Class [ sz:1536 slab:8192 ]: slabs 1 (idle 0, advised 0), slots used 1/5\nLarge [ Count 0 ]: 0 bytes"
    );
}

#[test]
fn config_rejects_bad_options_by_name() {
    let cfg = SegregatedConfig {
        quantum: 8,
        ..SegregatedConfig::default()
    };
    let e = Segregated::new(cfg).unwrap_err();
    assert_eq!(
        e.to_string(),
        "option quantum: `8` is under the minimum of 16 bytes"
    );
    let cfg = SegregatedConfig {
        quantum: 48,
        ..SegregatedConfig::default()
    };
    let e = Segregated::new(cfg).unwrap_err();
    assert_eq!(e.to_string(), "option quantum: 48 is not a power of two");
    let a = Segregated::new(SegregatedConfig::default()).unwrap();
    assert_eq!(a.name(), "segregated");
    assert_eq!(a.config().return_mode, ReturnMode::Madvise);
    assert_eq!(a.classes().len(), 40);
}
