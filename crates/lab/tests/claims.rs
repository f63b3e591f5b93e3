//! The mmap-specific claims of the book's fact-check chapter, checked on the model.
//!
//! - Claim 3, "memory from mmap cannot cause a segmentation fault".
//! - Claim 12, "mmap splits memory into many separate areas" (`vm.max_map_count`).

use kernel::{Errno, Fault, Kernel, KernelConfig, PAGE_SIZE, Prot, SegvReason};
use lab::scenarios::{fill_mappings, punch_holes, segv_probes};
use malloc::{AllocError, Allocator};
use mmap::{GuardAllocator, MmapAllocator};

fn segv(reason: SegvReason) -> Option<SegvReason> {
    Some(reason)
}

#[test]
fn claim3_mmapped_memory_faults_exactly_where_nothing_accessible_is_mapped() {
    use SegvReason::{Protection, Unmapped};
    let probes = segv_probes(&KernelConfig::default()).unwrap();
    let expected = [
        ("mmap", "inside", None),
        // Page rounding hides small overflows...
        ("mmap", "overflow-in-page", None),
        // ...past the mapping there is nothing: SIGSEGV (SEGV_MAPERR)...
        ("mmap", "overflow-past-mapping", segv(Unmapped)),
        // ...unless the next mapping sits right there: silent corruption.
        ("mmap", "overflow-into-neighbour", None),
        ("mmap", "use-after-free", segv(Unmapped)),
        // The 16-byte alignment leaves a few bytes unguarded...
        ("mmap-guard", "overflow-in-granule", None),
        // ...the guard page catches the first byte past them (SEGV_ACCERR).
        ("mmap-guard", "overflow-into-guard", segv(Protection)),
        ("mmap-guard", "underflow", None),
        ("mmap-guard", "use-after-free", segv(Unmapped)),
        // Allocators that keep freed memory mapped never fault on a use after free.
        ("mmap-cache", "use-after-free", None),
        ("regions", "use-after-free", None),
    ];
    let got: Vec<(&str, &str, Option<SegvReason>)> = probes
        .iter()
        .map(|p| {
            let reason = match p.outcome {
                Ok(()) => None,
                Err(Fault::Segv { addr, reason, .. }) => {
                    assert_eq!(addr, p.addr, "{} {}: fault address", p.allocator, p.case);
                    Some(reason)
                }
                Err(other) => panic!("{} {}: unexpected {other}", p.allocator, p.case),
            };
            (p.allocator.as_str(), p.case, reason)
        })
        .collect();
    assert_eq!(got, expected);
}

fn small_map_count() -> KernelConfig {
    KernelConfig {
        max_map_count: 100,
        ..KernelConfig::default()
    }
}

#[test]
fn claim12_guarded_blocks_hit_max_map_count() {
    let mut k = Kernel::new(small_map_count());
    let mut a = GuardAllocator::default();
    let run = fill_mappings(&mut a, &mut k, 100, 1000);
    // Every guarded block is two VMAs (read-write data, PROT_NONE guard) that cannot
    // merge with their neighbours, so the limit of 100 VMAs stops the run near 50
    // blocks with ENOMEM, which malloc reports as NULL.
    assert_eq!(run.stopped_by, Some(AllocError::OutOfMemory { size: 100 }));
    assert_eq!(run.vmas, 2 * run.succeeded);
    assert!(
        (99..=101).contains(&run.vmas),
        "stopped at {} VMAs after {} blocks",
        run.vmas,
        run.succeeded
    );
    assert!(run.peak_vmas <= 101);
    // The failed malloc left nothing behind.
    assert_eq!(a.stats().footprint, k.mem().mapped);
    assert_eq!(a.stats().hblks, run.succeeded);
    // Freeing one block makes room for one more.
    a.free(&mut k, run.live[7]).unwrap();
    a.malloc(&mut k, 100).unwrap();
    assert_eq!(a.stats().hblks, run.succeeded);
}

#[test]
fn claim12_linux_default_limit_caps_guarded_blocks_at_32765() {
    // The real limit: vm.max_map_count = 65530 VMAs, two per guarded block.
    let mut k = Kernel::new(KernelConfig::default());
    assert_eq!(k.config().max_map_count, 65530);
    let mut a = GuardAllocator::default();
    let run = fill_mappings(&mut a, &mut k, 100, 100_000);
    assert_eq!(run.stopped_by, Some(AllocError::OutOfMemory { size: 100 }));
    assert_eq!((run.succeeded, run.vmas), (32765, 65530));
}

#[test]
fn claim12_adjacent_mmap_blocks_merge_until_frees_punch_holes() {
    let mut k = Kernel::new(small_map_count());
    let mut a = MmapAllocator::default();
    // 300 one-page mappings, each placed right below the previous one (top-down). They
    // have the same protection and are anonymous, so the kernel merges them, as Linux
    // does: three times the VMA limit fits in a single VMA.
    let fill = fill_mappings(&mut a, &mut k, PAGE_SIZE, 300);
    assert_eq!(fill.stopped_by, None);
    assert_eq!(fill.succeeded, 300);
    assert_eq!(k.mem().vmas, 1);
    assert!(k.vmas().iter().all(|v| v.prot == Prot::RW));
    // Freeing every other block splits that VMA once per hole; the free that would
    // need VMA number 101 fails with ENOMEM and the block stays allocated.
    let holes = punch_holes(&mut a, &mut k, &fill.live);
    assert_eq!(holes.stopped_by, Some(AllocError::Syscall(Errno::ENOMEM)));
    assert!(
        (99..=101).contains(&holes.vmas),
        "{} VMAs after {} frees",
        holes.vmas,
        holes.succeeded
    );
    assert!(holes.succeeded < 150);
    assert_eq!(holes.live.len() as u64, 300 - holes.succeeded);
    assert_eq!(a.stats().hblks, 300 - holes.succeeded);
    assert_eq!(a.stats().footprint, k.mem().mapped);
    // Freeing a block between two holes removes a whole VMA and needs no split.
    let between = fill.live[2];
    a.free(&mut k, between).unwrap();
    assert!(k.mem().vmas < holes.vmas);
}
