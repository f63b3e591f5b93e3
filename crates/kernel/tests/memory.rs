//! Demand paging, page tables, huge pages, the TLB, processes, OOM and costs.

use kernel::{
    Access, Advice, CostCategory, CostModel, Errno, Fault, HUGE_PAGE_SIZE, Kernel, KernelConfig,
    MapFlags, MremapFlags, PAGE_SIZE, PageState, Pid, Prot, SegvReason, Syscall, TlbConfig,
    USER_SPACE_END,
};

const P: u64 = PAGE_SIZE;
const H: u64 = HUGE_PAGE_SIZE;

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

fn read(k: &mut Kernel, addr: u64, len: u64) {
    k.touch(addr, len, Access::Read).unwrap();
}

/// A 2 MiB-aligned RW mapping of `len` bytes at a fixed place far from everything.
fn fixed(k: &mut Kernel, addr: u64, len: u64) -> u64 {
    k.mmap(addr, len, Prot::RW, MapFlags::FIXED).unwrap()
}

// ------------------------------------------------------------- demand paging

#[test]
fn first_write_is_a_minor_fault_that_zeroes_a_frame() {
    let mut k = kernel();
    let c = k.config().cost.clone();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(k.mem().rss, 0);
    assert_eq!(k.page_state(a), PageState::Unpopulated);
    let free = k.phys().free_frames;
    write(&mut k, a + 10, 1);
    assert_eq!(k.counters().minor_faults, 1);
    assert_eq!(k.mem().rss, P);
    assert_eq!(
        k.phys().free_frames,
        free - 4,
        "one frame and three page tables"
    );
    let l = k.ledger();
    assert_eq!(l.get(CostCategory::Fault), c.fault_ns);
    assert_eq!(l.get(CostCategory::Zeroing), c.zero_page_ns);
    assert_eq!(l.get(CostCategory::PageTable), 3.0 * c.page_table_page_ns);
    write(&mut k, a, P);
    assert_eq!(
        k.counters().minor_faults,
        1,
        "the second touch of a page does not fault"
    );
    consistent(&k);
}

#[test]
fn zero_page_read_then_write_is_two_faults_and_rss_only_after_the_write() {
    let mut k = kernel();
    let c = k.config().cost.clone();
    let a = k.mmap(0, P, Prot::RW, MapFlags::NONE).unwrap();
    read(&mut k, a, 8);
    assert_eq!(k.page_state(a), PageState::ZeroPage);
    assert_eq!(k.counters().minor_faults, 1);
    assert_eq!(k.counters().zero_page_maps, 1);
    assert_eq!(k.mem().rss, 0, "the zero page is not in RSS");
    assert_eq!(k.ledger().get(CostCategory::Zeroing), 0.0);
    read(&mut k, a, 8);
    assert_eq!(k.counters().minor_faults, 1);
    write(&mut k, a, 8);
    assert_eq!(
        k.counters().minor_faults,
        2,
        "copy-on-write of the zero page"
    );
    assert_eq!(k.counters().zero_page_maps, 1);
    assert_eq!(k.mem().rss, P);
    assert!(matches!(
        k.page_state(a),
        PageState::Resident { writable: true, .. }
    ));
    assert_eq!(
        k.ledger().get(CostCategory::Fault),
        c.read_fault_ns + c.fault_ns
    );
    assert_eq!(k.ledger().get(CostCategory::Zeroing), c.zero_page_ns);
    consistent(&k);
}

#[test]
fn bad_accesses_are_segv_results() {
    let mut k = kernel();
    let a = k.mmap(0, 3 * P, Prot::RW, MapFlags::NONE).unwrap();
    let segv = |addr, access, reason| {
        Err(Fault::Segv {
            addr,
            access,
            reason,
        })
    };
    assert_eq!(
        k.touch(0x1000, 1, Access::Read),
        segv(0x1000, Access::Read, SegvReason::Unmapped)
    );
    // A guard page in the middle: the access stops there, the page before it was
    // touched (like a memset that crashes half-way).
    k.mprotect(a + P, P, Prot::NONE).unwrap();
    assert_eq!(
        k.touch(a + 100, 3 * P, Access::Write),
        segv(a + P, Access::Write, SegvReason::Protection)
    );
    assert_eq!(k.mem().rss, P);
    assert_eq!(
        k.touch(a + P + 5, 1, Access::Read),
        segv(a + P + 5, Access::Read, SegvReason::Protection)
    );
    let r = k.mmap(0, P, Prot::READ, MapFlags::NONE).unwrap();
    read(&mut k, r, P);
    assert_eq!(
        k.touch(r, 1, Access::Write),
        segv(r, Access::Write, SegvReason::Protection)
    );
    // Write-only and exec-only pages are readable on x86-64.
    let w = k.mmap(0, P, Prot::WRITE, MapFlags::NONE).unwrap();
    read(&mut k, w, 1);
    // Beyond user space and wrapping ranges are SIGSEGV too, never a host crash.
    assert!(matches!(
        k.touch(USER_SPACE_END, 1, Access::Read),
        Err(Fault::Segv { .. })
    ));
    assert!(matches!(
        k.touch(u64::MAX - 10, 100, Access::Write),
        Err(Fault::Segv { .. })
    ));
    let e = k.touch(0x1000, 1, Access::Write).unwrap_err();
    assert_eq!(e.to_string(), "SIGSEGV: write at 0x1000: no mapping there");
    consistent(&k);
}

#[test]
fn out_of_memory_is_a_result() {
    // 8 frames: the PML4, then a PDPT, PD and PT, leaving 4 for data.
    let mut k = kernel_with(|c| c.phys_bytes = 8 * P);
    let a = k.mmap(0, 8 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(
        k.touch(a, 8 * P, Access::Write),
        Err(Fault::OutOfMemory { addr: a + 4 * P })
    );
    assert_eq!(k.mem().rss, 4 * P, "the pages before the failure stay");
    assert_eq!(k.phys().free_frames, 0);
    // Reading an untouched page needs no frame: it maps the zero page.
    read(&mut k, a + 6 * P, 1);
    assert_eq!(k.page_state(a + 6 * P), PageState::ZeroPage);
    assert_eq!(
        k.touch(a + 6 * P, 1, Access::Write),
        Err(Fault::OutOfMemory { addr: a + 6 * P })
    );
    // A move whose new place needs a page table cannot happen: block growth in place,
    // and fill the rest of a's 2 MiB region so the new place is in another one.
    k.mmap(a + 8 * P, P, Prot::READ, MapFlags::FIXED).unwrap();
    let region = a & !(H - 1);
    k.mmap(region, a - region, Prot::READ, MapFlags::FIXED)
        .unwrap();
    let before = k.vmas();
    assert_eq!(
        k.mremap(a, 8 * P, 9 * P, MremapFlags::MAYMOVE),
        Err(Errno::ENOMEM)
    );
    assert_eq!(k.vmas(), before, "nothing changed");
    assert!(matches!(k.page_state(a), PageState::Resident { .. }));
    assert_eq!(k.try_spawn(), Err(Errno::ENOMEM));
    let p2 = k.spawn(); // still created; its PML4 comes with its first fault
    assert_eq!(k.mem_of(p2).unwrap().pt_bytes, 0);
    consistent(&k);
    k.munmap(a, 8 * P).unwrap();
    assert_eq!(
        k.phys().free_frames,
        4,
        "the data frames; the tables stay, the read-only VMAs still span them"
    );
    k.munmap(region, a + 9 * P - region).unwrap();
    assert_eq!(k.phys().free_frames, 7, "no VMA left: PT, PD and PDPT go");
    k.switch_to(p2).unwrap();
    let b = k.mmap(0, P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, b, 1);
    assert_eq!(
        k.mem().pt_bytes,
        4 * P,
        "PML4 allocated late, then the walk's tables"
    );
    consistent(&k);
}

// ------------------------------------------------------------- page tables

#[test]
fn page_table_pages_are_counted_and_freed() {
    let mut k = kernel();
    let c = k.config().cost.clone();
    assert_eq!(k.mem().pt_bytes, P, "a new process has its PML4");
    let base = 0x1000_0000_0000; // 512 GiB-aligned
    fixed(&mut k, base, 4 * P);
    write(&mut k, base, P);
    assert_eq!(k.mem().pt_bytes, 4 * P, "PML4 + PDPT + PD + PT");
    write(&mut k, base + P, 3 * P);
    assert_eq!(k.mem().pt_bytes, 4 * P, "same PT");
    fixed(&mut k, base + H, P);
    write(&mut k, base + H, 1);
    assert_eq!(k.mem().pt_bytes, 5 * P, "next 2 MiB: a new PT");
    fixed(&mut k, base + (1 << 30), P);
    write(&mut k, base + (1 << 30), 1);
    assert_eq!(k.mem().pt_bytes, 7 * P, "next 1 GiB: a new PD and PT");
    fixed(&mut k, base + (1 << 39), P);
    write(&mut k, base + (1 << 39), 1);
    assert_eq!(k.mem().pt_bytes, 10 * P, "next 512 GiB: PDPT, PD and PT");
    assert_eq!(
        k.ledger().get(CostCategory::PageTable),
        9.0 * c.page_table_page_ns
    );
    k.munmap(base + H, P).unwrap();
    assert_eq!(
        k.mem().pt_bytes,
        9 * P,
        "no VMA is left in that 2 MiB: its PT is freed"
    );
    k.madvise(base, 4 * P, Advice::DontNeed).unwrap();
    assert_eq!(
        k.mem().pt_bytes,
        9 * P,
        "a PT emptied by a call that does not cover its 2 MiB stays"
    );
    fixed(&mut k, base + 2 * H, H);
    write(&mut k, base + 2 * H, H);
    assert_eq!(k.mem().pt_bytes, 10 * P);
    k.madvise(base + 2 * H, H, Advice::DontNeed).unwrap();
    assert_eq!(
        k.mem().pt_bytes,
        9 * P,
        "one MADV_DONTNEED over a whole 2 MiB frees its PT"
    );
    k.munmap(base, 1 << 40).unwrap();
    assert_eq!(k.mem().pt_bytes, P);
    assert_eq!(k.mem().rss, 0);
    consistent(&k);
}

#[test]
fn exact_memory_stats_after_a_sequence() {
    let mut k = kernel();
    let start = k.config().heap_start;
    k.brk(start + 10 * P);
    write(&mut k, start, 3 * P);
    let a = k.mmap(0, 16 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 5 * P);
    read(&mut k, a + 5 * P, 2 * P);
    let m = k.mem();
    assert_eq!(m.mapped, 26 * P);
    assert_eq!(m.rss, 8 * P);
    assert_eq!(
        m.pt_bytes,
        7 * P,
        "PML4 + (PDPT, PD, PT) for the heap and for the mmap area"
    );
    assert_eq!(m.vmas, 2);
    assert_eq!(m.brk, start + 10 * P);
    k.madvise(a, 2 * P, Advice::Free).unwrap();
    k.munmap(a + 4 * P, 2 * P).unwrap();
    k.brk(start + 2 * P);
    let m = k.mem();
    assert_eq!(m.mapped, 16 * P);
    assert_eq!(m.rss, 6 * P);
    assert_eq!(m.lazy_free, 2 * P);
    assert_eq!(m.vmas, 3);
    assert_eq!(k.phys().total_frames - k.phys().free_frames, 6 + 7);
    consistent(&k);
}

// ------------------------------------------------------------- huge pages

#[test]
fn a_write_fault_maps_a_huge_page() {
    let mut k = kernel_with(|c| c.huge_pages = true);
    let c = k.config().cost.clone();
    let a = k.mmap(0, 2 * H, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(a % H, 0);
    write(&mut k, a + 12345, 1);
    assert_eq!(k.counters().minor_faults, 1);
    assert_eq!(k.counters().huge_faults, 1);
    assert_eq!(k.mem().rss, H);
    assert_eq!(k.mem().huge, H);
    assert_eq!(
        k.mem().pt_bytes,
        4 * P,
        "PML4, PDPT, PD and the deposited PT"
    );
    assert_eq!(
        k.ledger().get(CostCategory::Zeroing),
        512.0 * c.zero_page_ns
    );
    assert_eq!(k.ledger().get(CostCategory::Fault), c.fault_ns);
    assert!(matches!(k.page_state(a + 7 * P), PageState::Huge { .. }));
    write(&mut k, a, H);
    assert_eq!(k.counters().minor_faults, 1);
    assert_eq!(
        k.counters().tlb_misses,
        1,
        "one TLB entry covers the huge page"
    );
    assert_eq!(k.counters().tlb_hits, 512);
    // A read fault maps the 4 KiB zero page, after which the region holds a PT and
    // the next write gets a 4 KiB page.
    read(&mut k, a + H, 1);
    assert_eq!(k.page_state(a + H), PageState::ZeroPage);
    write(&mut k, a + H + P, 1);
    assert_eq!(k.counters().huge_faults, 1);
    assert_eq!(k.mem().rss, H + P);
    consistent(&k);
}

#[test]
fn huge_pages_need_a_whole_aligned_read_write_range() {
    let mut k = kernel_with(|c| c.huge_pages = true);
    let base = 0x1000_0000_0000;
    k.mmap(base, H - P, Prot::RW, MapFlags::FIXED).unwrap();
    write(&mut k, base, 1);
    assert_eq!(
        k.counters().huge_faults,
        0,
        "the VMA ends inside the 2 MiB region"
    );
    k.mmap(base + H, H, Prot::READ, MapFlags::FIXED).unwrap();
    k.mprotect(base + H, H, Prot::RW).unwrap();
    write(&mut k, base + H, 1);
    assert_eq!(k.counters().huge_faults, 1);
    let mut off = kernel(); // huge pages off
    off.mmap(base, H, Prot::RW, MapFlags::FIXED).unwrap();
    write(&mut off, base, 1);
    assert_eq!(off.counters().huge_faults, 0);
    assert_eq!(off.mem().rss, P);
}

#[test]
fn partial_operations_split_a_huge_page() {
    for op in ["munmap", "mprotect", "dontneed", "free"] {
        let mut k = kernel_with(|c| c.huge_pages = true);
        let base = 0x1000_0000_0000;
        fixed(&mut k, base, H);
        write(&mut k, base, 1);
        let PageState::Huge { frame, .. } = k.page_state(base) else {
            panic!("huge")
        };
        let cut = base + 100 * P;
        match op {
            "munmap" => k.munmap(cut, P).unwrap(),
            "mprotect" => k.mprotect(cut, P, Prot::READ).unwrap(),
            "dontneed" => k.madvise(cut, P, Advice::DontNeed).unwrap(),
            _ => k.madvise(cut, P, Advice::Free).unwrap(),
        }
        assert_eq!(k.mem().huge, 0, "{op}: split");
        let expect_rss = if op == "munmap" || op == "dontneed" {
            H - P
        } else {
            H
        };
        assert_eq!(k.mem().rss, expect_rss, "{op}");
        assert_eq!(
            k.page_state(base + 101 * P),
            PageState::Resident {
                frame: frame + 101,
                writable: true,
                lazy_free: false
            },
            "{op}: the same frames, now mapped by 4 KiB entries"
        );
        assert_eq!(
            k.mem().pt_bytes,
            4 * P,
            "{op}: the deposited table became the PT"
        );
        consistent(&k);
        k.munmap(base, H).unwrap();
        assert_eq!(k.mem().rss, 0);
        assert_eq!(k.mem().pt_bytes, P);
        consistent(&k);
    }
}

#[test]
fn unmapping_a_whole_huge_page_frees_it_as_one() {
    let mut k = kernel_with(|c| c.huge_pages = true);
    let c = k.config().cost.clone();
    let base = 0x1000_0000_0000;
    fixed(&mut k, base, H);
    write(&mut k, base, 1);
    let before = k.ledger().get(CostCategory::Syscall);
    let free = k.phys().free_frames;
    k.munmap(base, H).unwrap();
    assert_eq!(
        k.phys().free_frames,
        free + 512 + 3,
        "frames, deposit, PDPT and PD"
    );
    assert_eq!(
        k.ledger().get(CostCategory::Syscall) - before,
        c.munmap_ns + c.free_page_ns,
        "one compound page freed"
    );
    assert_eq!(k.counters().returned_resident.munmap, H);
}

#[test]
fn huge_faults_fall_back_when_no_free_2mib_block_is_left() {
    // Two 2 MiB blocks: the PML4 and small tables split the first one.
    let mut k = kernel_with(|c| {
        c.huge_pages = true;
        c.phys_bytes = 2 * H;
    });
    let base = 0x1000_0000_0000;
    fixed(&mut k, base, 2 * H);
    write(&mut k, base, 1);
    assert_eq!(k.counters().huge_faults, 1);
    write(&mut k, base + H, 1);
    assert_eq!(
        k.counters().huge_faults,
        1,
        "fragmented: no 2 MiB block left"
    );
    assert_eq!(k.counters().minor_faults, 2);
    assert_eq!(k.mem().rss, H + P);
    consistent(&k);
}

// ------------------------------------------------------------- TLB

#[test]
fn tlb_hits_after_the_first_walk() {
    let mut k = kernel();
    let c = k.config().cost.clone();
    let a = k.mmap(0, 2 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 1);
    assert_eq!((k.counters().tlb_hits, k.counters().tlb_misses), (0, 1));
    write(&mut k, a + 8, 8);
    read(&mut k, a, 1);
    assert_eq!((k.counters().tlb_hits, k.counters().tlb_misses), (2, 1));
    write(&mut k, a, 2 * P);
    assert_eq!((k.counters().tlb_hits, k.counters().tlb_misses), (3, 2));
    assert_eq!(k.ledger().get(CostCategory::Tlb), 2.0 * c.tlb_miss_ns);
}

#[test]
fn tlb_evicts_the_least_recently_used_entry_of_a_set() {
    let mut k = kernel_with(|c| {
        c.tlb = TlbConfig {
            entries: 4,
            ways: 4,
            pcid: false,
            // One level, so that an evicted page is a page walk again.
            l2_entries: 0,
            ..TlbConfig::default()
        }
    });
    let a = k.mmap(0, 5 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 4 * P); // pages 0..4 fill the 4 ways
    read(&mut k, a, 1); // page 0 becomes the most recent
    write(&mut k, a + 4 * P, 1); // evicts page 1
    let misses = k.counters().tlb_misses;
    read(&mut k, a, 1);
    assert_eq!(k.counters().tlb_misses, misses, "page 0 was kept");
    read(&mut k, a + P, 1);
    assert_eq!(
        k.counters().tlb_misses,
        misses + 1,
        "page 1 was the LRU victim"
    );
}

#[test]
fn unmapping_mapped_pages_charges_a_teardown_and_a_shootdown_only_with_other_cpus() {
    let mut k = kernel();
    let c = k.config().cost.clone();
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    k.munmap(a, 4 * P).unwrap();
    assert_eq!(k.counters().tlb_invalidations, 0, "nothing was mapped");
    assert_eq!(k.ledger().get(CostCategory::Teardown), 0.0);
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, P);
    k.munmap(a, 4 * P).unwrap();
    assert_eq!(k.counters().tlb_invalidations, 1);
    assert_eq!(k.ledger().get(CostCategory::Teardown), c.unmap_teardown_ns);
    assert_eq!(
        (
            k.counters().tlb_shootdowns,
            k.ledger().get(CostCategory::Shootdown)
        ),
        (0, 0.0),
        "one CPU: no other TLB to reach"
    );
    // mprotect restricts translations: an invalidation, no teardown.
    let b = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, b, P);
    k.mprotect(b, 4 * P, Prot::READ).unwrap();
    assert_eq!(k.counters().tlb_invalidations, 2);
    assert_eq!(k.ledger().get(CostCategory::Teardown), c.unmap_teardown_ns);
    // Map the same place again: no stale translation survives.
    k.mmap(a, 4 * P, Prot::RW, MapFlags::FIXED).unwrap();
    read(&mut k, a, 1);
    assert_eq!(k.page_state(a), PageState::ZeroPage);
    consistent(&k);

    // With a thread of the process on another CPU, each invalidation is a shootdown.
    let mut k = kernel_with(|c| c.tlb.remote_cpus = 1);
    let a = k.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 2 * P);
    k.mprotect(a, P, Prot::READ).unwrap();
    k.munmap(a, 4 * P).unwrap();
    assert_eq!(k.counters().tlb_shootdowns, 2);
    assert_eq!(
        k.ledger().get(CostCategory::Shootdown),
        2.0 * c.tlb_shootdown_ns
    );
    assert_eq!(k.ledger().get(CostCategory::Teardown), c.unmap_teardown_ns);
}

/// The remainder of a steady mmap + write + munmap cycle is paid by the fault after
/// the unmap: once per unmap that tore down translations, by the next fault whenever
/// it comes, and never by a run of faults or by unmaps alone.
#[test]
fn the_first_fault_after_an_unmap_of_resident_pages_pays_the_aftermath_once() {
    let mut k = kernel_with(|c| c.cost.fault_after_unmap_ns = 1000.0);
    let c = k.config().cost.clone();
    let per_fault = c.fault_ns;
    let fault_cost = |k: &kernel::Kernel| k.ledger().get(CostCategory::Fault);
    let a = k.mmap(0, 8 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 2 * P);
    assert_eq!(
        fault_cost(&k),
        2.0 * per_fault,
        "a run of faults pays no aftermath"
    );
    // Unmapping untouched pages and restricting resident ones tear nothing down.
    let b = k.mmap(0, 2 * P, Prot::RW, MapFlags::NONE).unwrap();
    k.munmap(b, 2 * P).unwrap();
    k.mprotect(a + P, P, Prot::READ).unwrap();
    write(&mut k, a + 2 * P, P);
    assert_eq!(fault_cost(&k), 3.0 * per_fault);
    // Two unmaps of resident pages, then three faults: the first one pays, once.
    k.munmap(a, P).unwrap();
    k.munmap(a + P, P).unwrap();
    assert_eq!(
        fault_cost(&k),
        3.0 * per_fault,
        "an unmap alone pays no aftermath"
    );
    write(&mut k, a + 3 * P, 3 * P);
    assert_eq!(fault_cost(&k), 6.0 * per_fault + 1000.0);
    // A read fault after an unmap pays it too.
    k.munmap(a + 3 * P, P).unwrap();
    read(&mut k, a + 6 * P, 1);
    assert_eq!(fault_cost(&k), 6.0 * per_fault + c.read_fault_ns + 2000.0);
    consistent(&k);
}

#[test]
fn a_second_level_tlb_serves_first_level_misses_at_its_own_cost() {
    let run = |l2: u32| {
        let mut k = kernel_with(|c| {
            c.tlb.l2_entries = l2;
            c.tlb.l2_ways = 16;
        });
        // 128 pages: twice the first level, well inside the second.
        let a = k.mmap(0, 128 * P, Prot::RW, MapFlags::NONE).unwrap();
        write(&mut k, a, 128 * P);
        let before = k.counters().clone();
        let ns = k.ledger().get(CostCategory::Tlb);
        read(&mut k, a, 128 * P);
        let c = k.counters();
        (
            c.tlb_misses - before.tlb_misses,
            c.tlb_l2_hits - before.tlb_l2_hits,
            k.ledger().get(CostCategory::Tlb) - ns,
        )
    };
    let cost = CostModel::default();
    assert_eq!(
        run(0),
        (128, 0, 128.0 * cost.tlb_miss_ns),
        "no second level: walks"
    );
    assert_eq!(
        run(2048),
        (0, 128, 128.0 * cost.tlb_l2_hit_ns),
        "the second level holds them all"
    );
}

#[test]
fn long_ranges_flush_the_whole_tlb() {
    let mut k = kernel_with(|c| c.tlb.pcid = true);
    let p1 = k.current();
    let a = k.mmap(0, 64 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 64 * P);
    let p2 = k.spawn();
    k.switch_to(p2).unwrap();
    let b = k.mmap(0, P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, b, 1);
    k.switch_to(p1).unwrap();
    k.madvise(a, 8 * P, Advice::DontNeed).unwrap();
    assert_eq!(
        k.counters().tlb_flushes,
        0,
        "8 pages: invalidated one by one"
    );
    k.munmap(a, 64 * P).unwrap();
    assert_eq!(
        k.counters().tlb_flushes,
        1,
        "more than 33 pages: one full flush"
    );
    k.switch_to(p2).unwrap();
    let misses = k.counters().tlb_misses;
    read(&mut k, b, 1);
    assert_eq!(
        k.counters().tlb_misses,
        misses,
        "the other process's entries survive"
    );
    consistent(&k);
}

// ------------------------------------------------------------- processes

#[test]
fn context_switch_charges_the_process_switched_to() {
    let mut k = kernel();
    let c = k.config().cost.clone();
    let p1 = k.current();
    assert_eq!(p1, Pid(1));
    let p2 = k.spawn();
    assert_eq!(k.pids(), vec![p1, p2]);
    assert_eq!(k.switch_to(p1), Ok(()));
    assert_eq!(
        k.ledger().get(CostCategory::ContextSwitch),
        0.0,
        "no switch to self"
    );
    k.switch_to(p2).unwrap();
    assert_eq!(k.current(), p2);
    assert_eq!(k.counters().context_switches, 1);
    assert_eq!(
        k.ledger().get(CostCategory::ContextSwitch),
        c.context_switch_ns
    );
    assert_eq!(
        k.ledger().get(CostCategory::ModeSwitch),
        0.0,
        "a context switch is not a mode switch"
    );
    assert_eq!(k.counters_of(p1).unwrap().context_switches, 0);
    assert_eq!(k.switch_to(Pid(99)), Err(Errno::ESRCH));
}

#[test]
fn without_pcid_a_switch_flushes_the_tlb_with_pcid_entries_survive() {
    for pcid in [false, true] {
        let mut k = kernel_with(|c| c.tlb.pcid = pcid);
        let p1 = k.current();
        let a = k.mmap(0, P, Prot::RW, MapFlags::NONE).unwrap();
        write(&mut k, a, 1);
        let p2 = k.spawn();
        k.switch_to(p2).unwrap();
        k.switch_to(p1).unwrap();
        let misses = k.counters().tlb_misses;
        write(&mut k, a, 1);
        let missed = k.counters().tlb_misses - misses;
        assert_eq!(missed, u64::from(!pcid), "pcid {pcid}");
        assert_eq!(k.counters().tlb_flushes, u64::from(!pcid));
        consistent(&k);
    }
}

#[test]
fn processes_have_separate_address_spaces_sharing_frames() {
    let mut k = kernel_with(|c| c.phys_bytes = 64 * P);
    let p1 = k.current();
    let addr = 0x1000_0000_0000;
    fixed(&mut k, addr, 4 * P);
    write(&mut k, addr, 4 * P);
    let p2 = k.spawn();
    k.switch_to(p2).unwrap();
    assert_eq!(
        k.touch(addr, 1, Access::Read),
        Err(Fault::Segv {
            addr,
            access: Access::Read,
            reason: SegvReason::Unmapped
        })
    );
    fixed(&mut k, addr, 4 * P);
    write(&mut k, addr, P);
    let f1 = k.page_state_of(p1, addr).unwrap();
    let f2 = k.page_state(addr);
    assert_ne!(f1, f2, "same address, different frames");
    assert_eq!(k.mem_of(p1).unwrap().rss, 4 * P);
    assert_eq!(k.mem_of(p2).unwrap().rss, P);
    let used = 64 - k.phys().free_frames;
    assert_eq!(
        used,
        4 + 1 + 4 + 4,
        "data frames plus each process's four tables"
    );
    consistent(&k);
}

#[test]
fn exit_returns_every_frame_and_table() {
    let mut k = kernel();
    let free0 = k.phys().free_frames;
    let p1 = k.current();
    let p2 = k.spawn();
    k.switch_to(p2).unwrap();
    let a = k.mmap(0, 16 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut k, a, 16 * P);
    k.madvise(a, 4 * P, Advice::Free).unwrap();
    assert_eq!(k.exit(Pid(42)), Err(Errno::ESRCH));
    k.exit(p2).unwrap();
    assert_eq!(
        k.current(),
        p1,
        "exiting the running process switches to another"
    );
    assert_eq!(k.counters().context_switches, 1);
    assert_eq!(k.phys().free_frames, free0);
    assert_eq!(k.pids(), vec![p1]);
    assert_eq!(k.mem_of(p2), None);
    assert_eq!(k.exit(p1), Err(Errno::EINVAL), "the last process stays");
    consistent(&k);
    // Its stale MADV_FREE entries are skipped by reclaim.
    let mut small = kernel_with(|c| c.phys_bytes = 16 * P);
    let q = small.spawn();
    small.switch_to(q).unwrap();
    let b = small.mmap(0, 4 * P, Prot::RW, MapFlags::NONE).unwrap();
    write(&mut small, b, 4 * P);
    small.madvise(b, 4 * P, Advice::Free).unwrap();
    small.exit(q).unwrap();
    assert_eq!(small.phys().free_frames, 15);
    let c = small.mmap(0, 13 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(
        small.touch(c, 13 * P, Access::Write),
        Err(Fault::OutOfMemory { addr: c + 12 * P }),
        "nothing to reclaim from a dead process"
    );
    consistent(&small);
}

// ------------------------------------------------------------- costs

/// Distinct powers of two, so that every sum identifies its terms.
fn distinct_costs() -> CostModel {
    CostModel {
        mode_switch_ns: 1.0,
        brk_ns: 2.0,
        mmap_ns: 4.0,
        munmap_ns: 8.0,
        mprotect_ns: 16.0,
        mremap_ns: 32.0,
        madvise_ns: 64.0,
        fault_ns: 128.0,
        zero_page_ns: 256.0,
        read_fault_ns: 512.0,
        populate_page_ns: 1024.0,
        free_page_ns: 2048.0,
        page_table_page_ns: 4096.0,
        tlb_miss_ns: 8192.0,
        tlb_l2_hit_ns: 131072.0,
        unmap_teardown_ns: 16384.0,
        fault_after_unmap_ns: 8388608.0,
        tlb_shootdown_ns: 262144.0,
        context_switch_ns: 32768.0,
        alloc_op_ns: 65536.0,
        alloc_arena_ns: 524288.0,
        alloc_step_ns: 4194304.0,
        write_call_ns: 1048576.0,
        write_byte_ns: 2097152.0,
    }
}

#[test]
fn the_ledger_sums_exactly_what_the_cost_model_says() {
    let c = distinct_costs();
    let mut k = kernel_with(|cfg| cfg.cost = c.clone());
    let a = k.mmap(0, 3 * P, Prot::RW, MapFlags::NONE).unwrap(); // mode + mmap
    write(&mut k, a, 1); // miss + fault + zero + 3 tables
    read(&mut k, a, 1); // hit: free
    read(&mut k, a + P, 1); // miss + read fault
    write(&mut k, a + P, 1); // hit on the read-only entry + COW fault + zero
    k.mprotect(a, P, Prot::READ).unwrap(); // mode + mprotect (+ a local invalidation)
    k.madvise(a + P, P, Advice::DontNeed).unwrap(); // mode + madvise + free + teardown
    k.munmap(a, 3 * P).unwrap(); // mode + munmap + free + teardown
    k.charge_user(3.0);
    k.charge_user(-5.0); // ignored
    let p2 = k.spawn();
    k.switch_to(p2).unwrap();
    k.switch_to(Pid(1)).unwrap();
    let l = k.ledger();
    let get = |cat| l.get(cat);
    assert_eq!(get(CostCategory::ModeSwitch), 4.0 * c.mode_switch_ns);
    assert_eq!(
        get(CostCategory::Syscall),
        c.mmap_ns + c.mprotect_ns + c.madvise_ns + c.munmap_ns + 2.0 * c.free_page_ns
    );
    assert_eq!(get(CostCategory::Fault), 2.0 * c.fault_ns + c.read_fault_ns);
    assert_eq!(get(CostCategory::Zeroing), 2.0 * c.zero_page_ns);
    assert_eq!(get(CostCategory::PageTable), 3.0 * c.page_table_page_ns);
    assert_eq!(get(CostCategory::Tlb), 2.0 * c.tlb_miss_ns);
    assert_eq!(get(CostCategory::Teardown), 2.0 * c.unmap_teardown_ns);
    assert_eq!(get(CostCategory::Shootdown), 0.0, "one CPU");
    assert_eq!(get(CostCategory::ContextSwitch), c.context_switch_ns);
    assert_eq!(get(CostCategory::User), 3.0);
    let sum: f64 = CostCategory::ALL.iter().map(|&cat| l.get(cat)).sum();
    assert_eq!(l.total(), sum);
    assert_eq!(
        k.ledger_of(p2).unwrap().get(CostCategory::ContextSwitch),
        c.context_switch_ns
    );
}

#[test]
fn syscalls_are_counted_by_kind_and_charged_even_when_they_fail() {
    let c = distinct_costs();
    let mut k = kernel_with(|cfg| cfg.cost = c.clone());
    k.brk(0);
    let _ = k.mmap(0, 0, Prot::RW, MapFlags::NONE);
    let _ = k.munmap(1, P);
    let _ = k.mprotect(1, P, Prot::RW);
    let _ = k.mremap(1, P, P, MremapFlags::NONE);
    let _ = k.madvise(1, P, Advice::Free);
    for call in Syscall::ALL {
        assert_eq!(k.counters().syscall(call), 1, "{}", call.name());
    }
    assert_eq!(k.counters().total_syscalls(), 6);
    assert_eq!(k.ledger().get(CostCategory::ModeSwitch), 6.0);
    assert_eq!(
        k.ledger().get(CostCategory::Syscall),
        c.brk_ns + c.mmap_ns + c.munmap_ns + c.mprotect_ns + c.mremap_ns + c.madvise_ns
    );
}

#[test]
fn map_populate_and_mremap_charges() {
    let c = distinct_costs();
    let mut k = kernel_with(|cfg| cfg.cost = c.clone());
    let a = k.mmap(0, 2 * P, Prot::RW, MapFlags::POPULATE).unwrap();
    assert_eq!(
        k.ledger().get(CostCategory::Fault),
        2.0 * c.populate_page_ns
    );
    assert_eq!(k.ledger().get(CostCategory::Zeroing), 2.0 * c.zero_page_ns);
    k.mmap(a + 2 * P, P, Prot::READ, MapFlags::FIXED).unwrap();
    let before = k.ledger().clone();
    let b = k.mremap(a, 2 * P, 4 * P, MremapFlags::MAYMOVE).unwrap();
    assert_ne!(a, b);
    let d = |cat| k.ledger().get(cat) - before.get(cat);
    assert_eq!(
        d(CostCategory::Syscall),
        c.mremap_ns,
        "no page is freed or copied"
    );
    assert_eq!(d(CostCategory::Fault), 0.0);
    assert_eq!(d(CostCategory::Zeroing), 0.0);
    assert_eq!(d(CostCategory::Teardown), c.unmap_teardown_ns);
    assert_eq!(d(CostCategory::PageTable), 0.0, "same page table region");
}

// ------------------------------------------------------------- configuration

#[test]
fn configuration_is_validated_or_normalized() {
    let bad = KernelConfig {
        phys_bytes: 0,
        ..KernelConfig::default()
    };
    let e = Kernel::try_new(bad.clone()).unwrap_err();
    assert_eq!(e.field, "phys_bytes");
    let k = Kernel::new(bad);
    assert_eq!(k.config().phys_bytes, KernelConfig::default().phys_bytes);
    assert_eq!(k.phys().free_frames, k.phys().total_frames - 1, "the PML4");
    consistent(&k);
}
