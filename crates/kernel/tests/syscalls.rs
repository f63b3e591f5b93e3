//! The memory syscalls against the Linux rules they model: brk, mmap, munmap,
//! mprotect, mremap, madvise, and the limits (vm.max_map_count, RLIMIT_AS,
//! RLIMIT_DATA).

use kernel::{
    Access, Advice, Errno, Fault, Kernel, KernelConfig, MapFlags, MremapFlags, PAGE_SIZE,
    PageState, Prot, SegvReason, Syscall, USER_SPACE_END, VmaInfo,
};

const P: u64 = PAGE_SIZE;

fn kernel() -> Kernel {
    Kernel::new(KernelConfig::default())
}

fn kernel_with(f: impl FnOnce(&mut KernelConfig)) -> Kernel {
    let mut c = KernelConfig::default();
    f(&mut c);
    Kernel::try_new(c).expect("valid test config")
}

fn consistent(k: &Kernel) {
    if let Err(e) = k.check_consistency() {
        panic!("{e}");
    }
}

fn write(k: &mut Kernel, addr: u64, len: u64) {
    k.touch(addr, len, Access::Write).unwrap();
}

// ---------------------------------------------------------------- brk

#[test]
fn brk_grows_and_shrinks_the_heap_vma() {
    let mut k = kernel();
    let start = k.config().heap_start;
    assert_eq!(k.brk(0), start, "brk(0) is a query");
    assert!(k.vmas().is_empty(), "no heap VMA before the first growth");
    assert_eq!(k.brk(start + 100), start + 100);
    assert_eq!(k.program_break(), start + 100);
    assert_eq!(
        k.vmas(),
        vec![VmaInfo {
            start,
            end: start + P,
            prot: Prot::RW,
            heap: true
        }],
        "the heap VMA ends at the page-aligned break"
    );
    assert_eq!(k.brk(start + 3 * P + 1), start + 3 * P + 1);
    assert_eq!(k.vmas()[0].end, start + 4 * P);
    assert_eq!(k.vmas().len(), 1, "growth extends the heap VMA");
    assert_eq!(k.mem().mapped, 4 * P);
    assert_eq!(k.brk(start + P), start + P);
    assert_eq!(k.vmas()[0].end, start + P);
    assert_eq!(k.counters().returned.brk, 3 * P);
    assert_eq!(k.brk(start), start);
    assert!(k.vmas().is_empty());
    assert_eq!(k.counters().syscall(Syscall::Brk), 5);
    consistent(&k);
}

/// Found by the `kernel_syscalls` fuzz target: once a mapping right below the heap
/// start had merged with the heap's VMA, growing the break added a second VMA next to
/// it instead of extending it, two VMAs the audit says should be one. Linux extends
/// the VMA that holds the old break (`vma_prev_limit(start_brk)` finds any VMA
/// reaching above the heap start); only the heap's first VMA never merges downwards.
#[test]
fn brk_extends_the_heap_vma_after_a_mapping_below_merged_with_it() {
    let mut k = kernel();
    let start = k.config().heap_start;
    assert_eq!(k.brk(start + P), start + P);
    k.mmap(start - P, P, Prot::RW, MapFlags::FIXED).unwrap();
    assert_eq!(k.vmas().len(), 1, "the mapping below joined the heap's VMA");
    assert_eq!(k.brk(start + 3 * P), start + 3 * P);
    assert_eq!(
        k.vmas(),
        vec![VmaInfo {
            start: start - P,
            end: start + 3 * P,
            prot: Prot::RW,
            heap: true
        }],
        "growth extends the VMA holding the break"
    );
    consistent(&k);
}

/// Found while reducing a `kernel_syscalls` fuzz finding (the test above): `brk`
/// creates the heap's first VMA without merging it with a mapping that ends at the
/// heap start (as Linux does), and the consistency audit called the pair two VMAs
/// that should be one.
#[test]
fn the_first_heap_vma_stays_apart_from_a_mapping_ending_at_the_heap_start() {
    let mut k = kernel();
    let start = k.config().heap_start;
    k.mmap(start - P, P, Prot::RW, MapFlags::FIXED).unwrap();
    assert_eq!(k.brk(start + P), start + P);
    assert_eq!(
        k.vmas().len(),
        2,
        "the first heap VMA is never merged downwards"
    );
    assert!(k.vmas()[1].heap && !k.vmas()[0].heap);
    consistent(&k);
    assert_eq!(k.brk(start + 2 * P), start + 2 * P);
    assert_eq!(k.vmas().len(), 2, "growth extends the heap's own VMA");
    consistent(&k);
}

#[test]
fn brk_below_the_heap_start_returns_the_old_break() {
    let mut k = kernel();
    let start = k.config().heap_start;
    k.brk(start + 2 * P);
    assert_eq!(k.brk(start - P), start + 2 * P);
    assert_eq!(k.brk(1), start + 2 * P);
    assert_eq!(k.program_break(), start + 2 * P);
    // glibc's sbrk only checks that the kernel's answer is not below the request, so a
    // refused shrink is reported as success (and the break does not move).
    assert_eq!(k.sbrk(-(3 * P as i64)), Ok(start + 2 * P));
    assert_eq!(k.program_break(), start + 2 * P);
}

#[test]
fn sbrk_returns_the_old_break_and_sbrk_0_makes_no_syscall() {
    let mut k = kernel();
    let start = k.config().heap_start;
    assert_eq!(k.sbrk(0), Ok(start));
    assert_eq!(
        k.counters().syscall(Syscall::Brk),
        0,
        "libc caches the break"
    );
    assert_eq!(k.sbrk(0x21000), Ok(start));
    assert_eq!(k.sbrk(0), Ok(start + 0x21000));
    assert_eq!(k.sbrk(-0x1000), Ok(start + 0x21000));
    assert_eq!(k.program_break(), start + 0x20000);
    assert_eq!(k.counters().syscall(Syscall::Brk), 2);
    assert_eq!(
        k.sbrk(i64::MIN),
        Err(Errno::ENOMEM),
        "wrapping below 0 fails in libc"
    );
    assert_eq!(k.counters().syscall(Syscall::Brk), 2);
}

#[test]
fn brk_refuses_to_grow_into_a_mapping_leaving_a_guard_page() {
    let mut k = kernel();
    let start = k.config().heap_start;
    let wall = start + 10 * P;
    assert_eq!(k.mmap(wall, P, Prot::RW, MapFlags::FIXED), Ok(wall));
    // Up to one page below the mapping is fine ...
    assert_eq!(k.brk(start + 9 * P), start + 9 * P);
    // ... but the page just below it must stay free.
    assert_eq!(k.brk(start + 9 * P + 1), start + 9 * P);
    assert_eq!(k.brk(start + 20 * P), start + 9 * P);
    assert_eq!(k.vmas()[0].end, start + 9 * P);
    consistent(&k);
}

#[test]
fn brk_respects_the_data_limit() {
    let mut k = kernel_with(|c| c.data_limit = Some(8 * P));
    let start = k.config().heap_start;
    assert_eq!(k.brk(start + 8 * P), start + 8 * P);
    assert_eq!(k.brk(start + 8 * P + 1), start + 8 * P);
    assert_eq!(k.sbrk(1), Err(Errno::ENOMEM));
}

#[test]
fn brk_shrink_frees_frames_and_counts_what_was_resident() {
    let mut k = kernel();
    let start = k.config().heap_start;
    k.brk(start + 8 * P);
    write(&mut k, start, 3 * P); // 3 of 8 pages resident
    let free_before = k.phys().free_frames;
    assert_eq!(k.mem().rss, 3 * P);
    let invalidations = k.counters().tlb_invalidations;
    k.brk(start + P);
    assert_eq!(k.mem().rss, P);
    assert_eq!(k.counters().returned.brk, 7 * P, "range length");
    assert_eq!(
        k.counters().returned_resident.brk,
        2 * P,
        "resident bytes freed"
    );
    assert_eq!(k.counters().tlb_invalidations, invalidations + 1);
    assert_eq!(k.phys().free_frames, free_before + 2);
    // The freed pages are gone: touching them is a SIGSEGV now.
    assert!(matches!(
        k.touch(start + P, 1, Access::Read),
        Err(Fault::Segv { .. })
    ));
    // Shrinking over untouched pages needs no TLB invalidation.
    k.brk(start + 5 * P);
    let s = k.counters().tlb_invalidations;
    k.brk(start + P);
    assert_eq!(k.counters().tlb_invalidations, s);
    consistent(&k);
}

#[test]
fn brk_shrink_fails_when_the_heap_range_was_unmapped() {
    // Linux's brk shrinks by unmapping [newbrk, oldbrk) and refuses when nothing is
    // mapped there.
    let mut k = kernel();
    let start = k.config().heap_start;
    k.brk(start + 4 * P);
    k.munmap(start, 4 * P).unwrap();
    assert_eq!(k.brk(start + P), start + 4 * P);
}

#[test]
fn brk_fails_at_max_map_count_even_to_extend() {
    let mut k = kernel_with(|c| c.max_map_count = 2);
    let start = k.config().heap_start;
    k.brk(start + P);
    k.mmap(0, P, Prot::READ, MapFlags::NONE).unwrap();
    assert_eq!(k.mem().vmas, 2);
    // Linux checks the count before it knows the heap VMA would just grow.
    assert_eq!(k.brk(start + 2 * P), start + P);
}

// ---------------------------------------------------------------- mmap

#[test]
fn mmap_argument_errors() {
    let mut k = kernel();
    assert_eq!(k.mmap(0, 0, Prot::RW, MapFlags::NONE), Err(Errno::EINVAL));
    assert_eq!(
        k.mmap(0x1000_0001, P, Prot::RW, MapFlags::FIXED),
        Err(Errno::EINVAL)
    );
    assert_eq!(k.mmap(0, P, Prot(8), MapFlags::NONE), Err(Errno::EINVAL));
    assert_eq!(k.mmap(0, P, Prot::RW, MapFlags(64)), Err(Errno::EINVAL));
    assert_eq!(
        k.mmap(0, u64::MAX, Prot::RW, MapFlags::NONE),
        Err(Errno::ENOMEM),
        "overflows"
    );
    assert_eq!(
        k.mmap(0, 1 << 47, Prot::RW, MapFlags::NONE),
        Err(Errno::ENOMEM),
        "too big"
    );
    assert_eq!(
        k.mmap(USER_SPACE_END - P, 2 * P, Prot::RW, MapFlags::FIXED),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        k.mmap(0x1000, P, Prot::RW, MapFlags::FIXED),
        Err(Errno::EPERM),
        "below mmap_min_addr (unprivileged)"
    );
    assert_eq!(
        k.counters().syscall(Syscall::Mmap),
        8,
        "failed calls are syscalls too"
    );
    assert_eq!(k.mem().mapped, 0);
}

#[test]
fn mmap_places_top_down_and_reuses_the_highest_hole() {
    let mut k = kernel();
    let base = k.config().mmap_base;
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(a, base - 4 * P);
    let b = k.mmap(0, 2 * P, Prot::READ, MapFlags::NONE).unwrap();
    assert_eq!(b, a - 2 * P, "directly below the previous one");
    let c = k.mmap(0, 8 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(c, b - 8 * P);
    k.munmap(a, 4 * P).unwrap(); // a hole at the top
    k.munmap(c + 2 * P, 3 * P).unwrap(); // a 3-page hole lower down
    assert_eq!(
        k.mmap(0, 3 * P, Prot::READ, MapFlags::NONE),
        Ok(base - 3 * P),
        "highest hole first"
    );
    assert_eq!(
        k.mmap(0, 2 * P, Prot::READ, MapFlags::NONE),
        Ok(c + 3 * P),
        "the lower hole fits"
    );
    assert_eq!(
        k.mmap(0, 2 * P, Prot::READ, MapFlags::NONE),
        Ok(c - 2 * P),
        "nothing else fits above"
    );
    consistent(&k);
}

#[test]
fn mmap_uses_a_free_hint_and_ignores_a_taken_one() {
    let mut k = kernel();
    let hint = 0x1000_0000;
    assert_eq!(
        k.mmap(hint + 5, P, Prot::RW, MapFlags::NONE),
        Ok(hint),
        "hint rounded down"
    );
    let other = k.mmap(hint, P, Prot::RW, MapFlags::NONE).unwrap();
    assert_ne!(other, hint);
    assert_eq!(other, k.config().mmap_base - P);
}

#[test]
fn mmap_stays_above_mmap_min_addr_and_off_the_heap() {
    let mut k = kernel_with(|c| {
        c.mmap_min_addr = 0x10000;
        c.heap_start = 0x20000;
        c.mmap_base = 0x40000;
    });
    k.brk(0x30000);
    assert_eq!(k.mmap(0, 0x10000, Prot::READ, MapFlags::NONE), Ok(0x30000));
    assert_eq!(k.mmap(0, 0x10000, Prot::READ, MapFlags::NONE), Ok(0x10000));
    assert_eq!(k.mmap(0, P, Prot::RW, MapFlags::NONE), Err(Errno::ENOMEM));
    let heap = k.vmas().into_iter().find(|v| v.heap).unwrap();
    assert_eq!((heap.start, heap.end), (0x20000, 0x30000));
    // The heap is an ordinary anonymous VMA: a compatible mapping right above it
    // merges with it, as in Linux (the VMA is still the `[heap]`).
    k.munmap(0x30000, 0x10000).unwrap();
    assert_eq!(k.mmap(0, 0x10000, Prot::RW, MapFlags::NONE), Ok(0x30000));
    let heap = k.vmas().into_iter().find(|v| v.heap).unwrap();
    assert_eq!((heap.start, heap.end), (0x20000, 0x40000));
    assert_eq!(
        k.brk(0x31000),
        0x30000,
        "no room to grow: the mapping is there"
    );
    consistent(&k);
}

#[test]
fn adjacent_mmaps_merge_into_one_vma() {
    let mut k = kernel();
    let a = k.mmap(0, 2 * P, Prot::RW, MapFlags::NONE).unwrap();
    let b = k.mmap(0, 3 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(b + 3 * P, a);
    assert_eq!(k.vmas().len(), 1);
    assert_eq!(k.vmas()[0].start, b);
    let c = k.mmap(0, P, Prot::READ, MapFlags::NONE).unwrap();
    assert_eq!(c + P, b);
    assert_eq!(k.vmas().len(), 2, "different protection stays separate");
}

#[test]
fn map_fixed_replaces_what_was_there() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 4 * P);
    assert_eq!(k.mem().rss, 4 * P);
    assert_eq!(k.mmap(a + P, 2 * P, Prot::READ, MapFlags::FIXED), Ok(a + P));
    assert_eq!(k.mem().rss, 2 * P, "the replaced pages' frames are freed");
    assert_eq!(k.mem().mapped, 4 * P);
    assert_eq!(k.vmas().len(), 3);
    assert_eq!(k.counters().returned.munmap, 2 * P);
    assert_eq!(k.counters().returned_resident.munmap, 2 * P);
    assert_eq!(k.page_state(a + P), PageState::Unpopulated, "fresh memory");
    assert!(matches!(
        k.touch(a + P, 1, Access::Write),
        Err(Fault::Segv {
            reason: SegvReason::Protection,
            ..
        })
    ));
    consistent(&k);
}

#[test]
fn map_populate_fills_pages_and_counts_a_fault_for_each() {
    let mut k = kernel();
    let c = k.config().cost.clone();
    let a = k.mmap(0, 8 * P, Prot::RW, MapFlags::POPULATE).unwrap();
    assert_eq!(k.mem().rss, 8 * P);
    assert_eq!(
        k.counters().minor_faults,
        8,
        "Linux counts each populated page as a fault of the process"
    );
    assert_eq!(k.counters().populated_pages, 8);
    let l = k.ledger();
    assert_eq!(l.get(kernel::CostCategory::Zeroing), 8.0 * c.zero_page_ns);
    assert_eq!(l.get(kernel::CostCategory::Fault), 8.0 * c.populate_page_ns);
    write(&mut k, a, 8 * P);
    assert_eq!(k.counters().minor_faults, 8, "already there");
    assert_eq!(k.counters().tlb_misses, 8, "populate does not fill the TLB");
    // Read-only: the zero page; PROT_NONE: nothing.
    let r = k.mmap(0, 2 * P, Prot::READ, MapFlags::POPULATE).unwrap();
    assert_eq!(k.page_state(r), PageState::ZeroPage);
    assert_eq!(k.counters().minor_faults, 10, "zero-page faults count too");
    let n = k.mmap(0, 2 * P, Prot::NONE, MapFlags::POPULATE).unwrap();
    assert_eq!(k.page_state(n), PageState::Unpopulated);
    assert_eq!(k.mem().rss, 8 * P);
    consistent(&k);
}

#[test]
fn map_populate_is_best_effort_when_memory_runs_out() {
    let mut k = kernel_with(|c| {
        c.phys_bytes = 16 * P;
        c.overcommit.policy = kernel::OvercommitPolicy::Always;
    });
    let a = k.mmap(0, 64 * P, Prot::RW, MapFlags::POPULATE);
    assert!(a.is_ok(), "mmap succeeds even though not every page fits");
    assert_eq!(k.phys().free_frames, 0);
    assert!(k.mem().rss < 64 * P && k.mem().rss > 0);
    consistent(&k);
}

#[test]
fn map_noreserve_is_accepted() {
    let mut k = kernel_with(|c| c.phys_bytes = 16 * P);
    // Far more than physical memory: fine, memory is only taken on touch.
    let a = k.mmap(0, 1 << 40, Prot::RW, MapFlags::NORESERVE).unwrap();
    assert_eq!(k.mem().mapped, 1 << 40);
    write(&mut k, a + (1 << 39), 1);
    assert_eq!(k.mem().rss, P);
}

#[test]
fn huge_page_config_aligns_mappings_of_whole_huge_pages() {
    let mut k = kernel_with(|c| c.huge_pages = true);
    let h = 2 << 20;
    let a = k.mmap(0, 2 * h, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(a % h, 0);
    let b = k.mmap(0, 3 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(
        b,
        k.config().mmap_base - 3 * P,
        "the gap left above the aligned one is used"
    );
    // Without huge pages on fault (THP `madvise`, as on the reference machine) Linux
    // still aligns such mappings; `thp_align` off does not.
    let mut plain = kernel();
    plain.mmap(0, P, Prot::READ, MapFlags::NONE).unwrap();
    assert_eq!(
        plain.mmap(0, 2 * h, Prot::RW, MapFlags::NONE).unwrap() % h,
        0
    );
    let mut unaligned = kernel_with(|c| c.thp_align = false);
    unaligned.mmap(0, P, Prot::READ, MapFlags::NONE).unwrap();
    assert_ne!(
        unaligned.mmap(0, 2 * h, Prot::RW, MapFlags::NONE).unwrap() % h,
        0
    );
    // A hint turns the alignment off, even when the hint cannot be used.
    let mut hinted = kernel();
    let top = hinted.mmap(0, P, Prot::READ, MapFlags::NONE).unwrap();
    let at = 0x1000_0000 + P;
    assert_eq!(hinted.mmap(at, 2 * h, Prot::RW, MapFlags::NONE), Ok(at));
    assert_eq!(
        hinted.mmap(at, 2 * h, Prot::RW, MapFlags::NONE),
        Ok(top - 2 * h),
        "the hint is taken: plain top-down, unaligned"
    );
}

// ---------------------------------------------------------------- munmap

#[test]
fn munmap_rules() {
    let mut k = kernel();
    assert_eq!(k.munmap(0x1000_0001, P), Err(Errno::EINVAL));
    assert_eq!(k.munmap(0x1000_0000, 0), Err(Errno::EINVAL));
    assert_eq!(k.munmap(USER_SPACE_END, P), Err(Errno::EINVAL));
    assert_eq!(
        k.munmap(0x1000_0000, 100 * P),
        Ok(()),
        "nothing mapped: fine"
    );
    assert_eq!(k.counters().returned.munmap, 0);
    let a = k.mmap(0, 6 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 6 * P);
    k.munmap(a + 2 * P, 2 * P).unwrap();
    assert_eq!(k.vmas().len(), 2, "a partial munmap splits the VMA");
    assert_eq!(k.mem().rss, 4 * P);
    assert_eq!(k.counters().returned.munmap, 2 * P);
    assert_eq!(k.counters().returned_resident.munmap, 2 * P);
    k.munmap(a, 6 * P).unwrap();
    assert_eq!(k.mem().rss, 0);
    assert_eq!(k.mem().pt_bytes, P, "only the PML4 remains");
    assert_eq!(
        k.counters().returned.munmap,
        6 * P,
        "only mapped bytes count"
    );
    consistent(&k);
}

// ---------------------------------------------------------------- limits

#[test]
fn max_map_count_gives_enomem_like_linux() {
    let mut k = kernel_with(|c| c.max_map_count = 3);
    // Three VMAs that cannot merge (alternating protection).
    let a = k.mmap(0, 3 * P, Prot::RW, MapFlags::NONE).unwrap();
    let b = k.mmap(0, 3 * P, Prot::READ, MapFlags::NONE).unwrap();
    let c = k.mmap(0, 3 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(k.mem().vmas, 3);
    assert_eq!(k.mmap(0, P, Prot::READ, MapFlags::NONE), Err(Errno::ENOMEM));
    // Splitting a VMA in two at the limit fails ...
    assert_eq!(k.munmap(b + P, P), Err(Errno::ENOMEM));
    assert_eq!(k.mprotect(b + P, P, Prot::RW), Err(Errno::ENOMEM));
    assert_eq!(
        k.mprotect(a + 2 * P, P, Prot::READ),
        Err(Errno::ENOMEM),
        "a suffix is a split too"
    );
    // ... but trimming an edge, removing a whole VMA, or re-protecting a piece that
    // joins its neighbour does not add a VMA.
    assert_eq!(k.munmap(a + 2 * P, P), Ok(()));
    assert_eq!(k.mprotect(b, P, Prot::RW), Ok(()), "joins c below it");
    assert_eq!(k.mem().vmas, 3);
    assert_eq!(
        k.munmap(c, 4 * P),
        Ok(()),
        "c grew by the page it took from b"
    );
    assert_eq!(k.mem().vmas, 2);
    assert_eq!(k.mmap(0, P, Prot::NONE, MapFlags::NONE).map(|_| ()), Ok(()));
    consistent(&k);
}

#[test]
fn address_space_limit_gives_enomem() {
    let mut k = kernel_with(|c| c.address_space_limit = Some(10 * P));
    let start = k.config().heap_start;
    let a = k.mmap(0, 8 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(
        k.mmap(0, 3 * P, Prot::RW, MapFlags::NONE),
        Err(Errno::ENOMEM)
    );
    assert_eq!(k.brk(start + 3 * P), start, "brk is limited too");
    assert_eq!(k.brk(start + 2 * P), start + 2 * P);
    // MAP_FIXED over existing pages only counts what it adds.
    assert_eq!(k.mmap(a, 8 * P, Prot::READ, MapFlags::FIXED), Ok(a));
    assert_eq!(
        k.mremap(a, 8 * P, 9 * P, MremapFlags::MAYMOVE),
        Err(Errno::ENOMEM)
    );
}

// ---------------------------------------------------------------- mprotect

#[test]
fn mprotect_changes_access_and_keeps_memory() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 4 * P);
    let PageState::Resident { frame, .. } = k.page_state(a + P) else {
        panic!("resident")
    };
    k.mprotect(a + P, P, Prot::READ).unwrap();
    assert_eq!(k.vmas().len(), 3, "split around the re-protected page");
    assert_eq!(
        k.touch(a + P + 8, 1, Access::Write),
        Err(Fault::Segv {
            addr: a + P + 8,
            access: Access::Write,
            reason: SegvReason::Protection
        }),
        "the TLB entry was invalidated, so the store faults"
    );
    k.touch(a + P, 1, Access::Read).unwrap();
    k.mprotect(a, 4 * P, Prot::NONE).unwrap();
    assert_eq!(k.vmas().len(), 1, "merged again");
    assert_eq!(k.mem().rss, 4 * P, "PROT_NONE keeps the frames");
    assert!(k.touch(a, 1, Access::Read).is_err());
    k.mprotect(a, 4 * P, Prot::RW).unwrap();
    assert_eq!(
        k.page_state(a + P),
        PageState::Resident {
            frame,
            writable: true,
            lazy_free: false
        },
        "same frame, data kept"
    );
    write(&mut k, a, 4 * P);
    assert_eq!(k.counters().minor_faults, 4, "no new faults");
    consistent(&k);
}

#[test]
fn mprotect_errors_and_partial_application_before_a_hole() {
    let mut k = kernel();
    assert_eq!(k.mprotect(0x1000_0001, P, Prot::READ), Err(Errno::EINVAL));
    assert_eq!(k.mprotect(0x1000_0000, P, Prot(0x40)), Err(Errno::EINVAL));
    assert_eq!(k.mprotect(0x1000_0000, 0, Prot::READ), Ok(()));
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    k.munmap(a + 2 * P, P).unwrap();
    assert_eq!(
        k.mprotect(a - P, 2 * P, Prot::READ),
        Err(Errno::ENOMEM),
        "starts in a hole"
    );
    assert!(
        k.vmas().iter().all(|v| v.prot == Prot::RW),
        "nothing changed"
    );
    assert_eq!(
        k.mprotect(a, 4 * P, Prot::READ),
        Err(Errno::ENOMEM),
        "hole in the middle"
    );
    let v = k.vmas();
    assert_eq!(
        v[0].prot,
        Prot::READ,
        "the part before the hole changed, as in Linux"
    );
    assert_eq!(v[1].prot, Prot::RW);
    consistent(&k);
}

// ---------------------------------------------------------------- mremap

#[test]
fn mremap_shrinks_and_grows_in_place() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 4 * P);
    assert_eq!(k.mremap(a, 4 * P, 2 * P, MremapFlags::NONE), Ok(a));
    assert_eq!(k.mem().rss, 2 * P);
    assert_eq!(k.counters().returned.munmap, 2 * P);
    assert_eq!(k.counters().returned_resident.munmap, 2 * P);
    assert_eq!(
        k.mremap(a, 2 * P, 4 * P, MremapFlags::NONE),
        Ok(a),
        "the tail is free again"
    );
    assert_eq!(k.vmas()[0].end, a + 4 * P);
    assert_eq!(k.mremap(a, 4 * P, 4 * P, MremapFlags::NONE), Ok(a));
    consistent(&k);
}

#[test]
fn mremap_moves_pages_with_their_frames() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    // Something right after it, so it cannot grow in place.
    k.mmap(a + 4 * P, P, Prot::READ, MapFlags::FIXED).unwrap();
    write(&mut k, a, 3 * P);
    k.touch(a + 3 * P, 1, Access::Read).unwrap(); // a zero-page mapping moves too
    let frames: Vec<PageState> = (0..4).map(|i| k.page_state(a + i * P)).collect();
    let faults = k.counters().minor_faults;
    assert_eq!(
        k.mremap(a, 4 * P, 8 * P, MremapFlags::NONE),
        Err(Errno::ENOMEM),
        "no MAYMOVE"
    );
    let b = k.mremap(a, 4 * P, 8 * P, MremapFlags::MAYMOVE).unwrap();
    assert_ne!(b, a);
    for i in 0..4 {
        let moved = k.page_state(b + i * P);
        let was = frames[i as usize];
        match (was, moved) {
            (PageState::Resident { frame: f1, .. }, PageState::Resident { frame: f2, .. }) => {
                assert_eq!(f1, f2)
            }
            (x, y) => assert_eq!(x, y),
        }
    }
    assert_eq!(k.page_state(a), PageState::NotMapped);
    assert_eq!(k.mem().rss, 3 * P);
    write(&mut k, b, 3 * P);
    assert_eq!(
        k.counters().minor_faults,
        faults,
        "moved pages do not fault again"
    );
    assert_eq!(k.mem().mapped, 8 * P + P);
    consistent(&k);
}

#[test]
fn mremap_errors() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(
        k.mremap(a + 1, P, 2 * P, MremapFlags::MAYMOVE),
        Err(Errno::EINVAL)
    );
    assert_eq!(k.mremap(a, P, 0, MremapFlags::MAYMOVE), Err(Errno::EINVAL));
    assert_eq!(k.mremap(a, 0, P, MremapFlags::MAYMOVE), Err(Errno::EINVAL));
    assert_eq!(k.mremap(a, P, 2 * P, MremapFlags(2)), Err(Errno::EINVAL));
    assert_eq!(
        k.mremap(a, 5 * P, 6 * P, MremapFlags::MAYMOVE),
        Err(Errno::EFAULT),
        "beyond the VMA"
    );
    assert_eq!(
        k.mremap(a - P, P, 2 * P, MremapFlags::MAYMOVE),
        Err(Errno::EFAULT),
        "unmapped"
    );
    assert_eq!(
        k.mremap(a - P, P, P, MremapFlags::NONE),
        Err(Errno::EFAULT),
        "unmapped, even for the same length"
    );
    assert_eq!(
        k.mremap(a, 8 * P, 8 * P, MremapFlags::NONE),
        Ok(a),
        "the same length checks nothing more"
    );
    // A range that does not end its VMA cannot grow in place.
    assert_eq!(k.mremap(a, P, 2 * P, MremapFlags::NONE), Err(Errno::ENOMEM));
    let b = k.mremap(a, P, 2 * P, MremapFlags::MAYMOVE).unwrap();
    assert_ne!(b, a);
    assert_eq!(k.mem().mapped, 5 * P);
    consistent(&k);
}

// ---------------------------------------------------------------- madvise

#[test]
fn madvise_dontneed_drops_pages_now() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 4 * P);
    let free = k.phys().free_frames;
    k.madvise(a, 2 * P, Advice::DontNeed).unwrap();
    assert_eq!(k.mem().rss, 2 * P);
    assert_eq!(k.phys().free_frames, free + 2);
    assert_eq!(k.counters().returned.madvise, 2 * P);
    assert_eq!(k.counters().returned_resident.madvise, 2 * P);
    assert_eq!(k.mem().mapped, 4 * P, "the mapping stays");
    // Next read: the zero page; next write: a fresh frame.
    k.touch(a, 1, Access::Read).unwrap();
    assert_eq!(k.page_state(a), PageState::ZeroPage);
    assert_eq!(k.counters().zero_page_maps, 1);
    write(&mut k, a + P, 1);
    assert!(matches!(k.page_state(a + P), PageState::Resident { .. }));
    assert_eq!(k.mem().rss, 3 * P);
    consistent(&k);
}

#[test]
fn madvise_free_is_lazy_and_a_write_cancels_it() {
    let mut k = kernel();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 4 * P);
    k.madvise(a, 4 * P, Advice::Free).unwrap();
    assert_eq!(k.mem().rss, 4 * P, "still resident");
    assert_eq!(k.mem().lazy_free, 4 * P);
    assert_eq!(k.counters().returned.madvise, 4 * P);
    assert_eq!(
        k.counters().returned_resident.madvise,
        0,
        "nothing freed yet"
    );
    assert!(matches!(
        k.page_state(a),
        PageState::Resident {
            lazy_free: true,
            ..
        }
    ));
    // A read keeps the advice, a write cancels it (without a fault).
    k.touch(a, 1, Access::Read).unwrap();
    write(&mut k, a, 1);
    assert!(matches!(
        k.page_state(a),
        PageState::Resident {
            lazy_free: false,
            ..
        }
    ));
    assert_eq!(k.mem().lazy_free, 3 * P);
    assert_eq!(k.counters().minor_faults, 4);
    consistent(&k);
}

#[test]
fn madvise_free_pages_are_reclaimed_under_pressure_before_oom() {
    // Overcommit mode 1, so the last mapping (larger than RAM) is granted.
    let mut k = kernel_with(|c| {
        c.phys_bytes = 32 * P;
        c.overcommit.policy = kernel::OvercommitPolicy::Always;
    });
    let a = k.mmap(0, 16 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 16 * P);
    k.madvise(a, 16 * P, Advice::Free).unwrap();
    write(&mut k, a, 2 * P); // these two are wanted again
    let free = k.phys().free_frames;
    let b = k.mmap(0, 20 * P, Prot::RW, MapFlags::NONE).unwrap();
    // 32 frames: PML4 + 3 tables + 16 pages in use, 12 free. `b` shares a's page
    // table, so its 20 pages need 8 frames more than are free.
    assert_eq!(free, 12);
    write(&mut k, b, 20 * P);
    assert_eq!(k.counters().reclaimed, 8 * P);
    assert_eq!(k.counters().returned_resident.madvise, 8 * P);
    assert_eq!(k.phys().free_frames, 0);
    assert_eq!(k.mem().lazy_free, 6 * P);
    // The rewritten pages survived; the oldest advice went first.
    assert!(matches!(
        k.page_state(a),
        PageState::Resident {
            lazy_free: false,
            ..
        }
    ));
    assert!(matches!(
        k.page_state(a + P),
        PageState::Resident {
            lazy_free: false,
            ..
        }
    ));
    for i in 2..10 {
        assert_eq!(
            k.page_state(a + i * P),
            PageState::Unpopulated,
            "page {i} reclaimed"
        );
    }
    assert!(matches!(
        k.page_state(a + 10 * P),
        PageState::Resident {
            lazy_free: true,
            ..
        }
    ));
    // A reclaimed page reads back as zeros (the zero page), not as its old data.
    k.touch(a + 2 * P, 1, Access::Read).unwrap();
    assert_eq!(k.page_state(a + 2 * P), PageState::ZeroPage);
    consistent(&k);
    // Once nothing is left to reclaim, memory really runs out.
    let c = k.mmap(0, 64 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert!(matches!(
        k.touch(c, 64 * P, Access::Write),
        Err(Fault::OutOfMemory { .. })
    ));
    assert_eq!(k.mem().lazy_free, 0);
    consistent(&k);
}

#[test]
fn madvise_errors_and_holes() {
    let mut k = kernel();
    assert_eq!(
        k.madvise(0x1000_0001, P, Advice::DontNeed),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        k.madvise(0x1000_0000, u64::MAX, Advice::DontNeed),
        Err(Errno::EINVAL)
    );
    assert_eq!(k.madvise(0x1000_0000, 0, Advice::DontNeed), Ok(()));
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 4 * P);
    k.munmap(a + P, P).unwrap();
    assert_eq!(k.madvise(a, 4 * P, Advice::DontNeed), Err(Errno::ENOMEM));
    assert_eq!(k.mem().rss, 0, "applied to the mapped parts anyway");
    assert_eq!(k.counters().returned.madvise, 3 * P);
    consistent(&k);
}
