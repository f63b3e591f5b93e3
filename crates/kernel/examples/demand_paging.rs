//! Demand paging on the simulated kernel, step by step: what `mmap` gives (addresses),
//! what a first read gives (the shared zero page), what a first write gives (a zeroed
//! frame of your own), what `madvise(MADV_DONTNEED)` and `munmap` take back, and what the
//! page tables themselves cost when the same number of pages is touched densely or
//! sparsely. The book's virtual-memory chapter walks through it.
//!
//! Run with `cargo run -p kernel --example demand_paging`. Every line it prints is also
//! checked with `assert!`, so the example fails loudly if the kernel ever stops
//! behaving as the chapter says.

use kernel::{Access, Advice, Kernel, KernelConfig, MapFlags, PAGE_SIZE, Prot};

/// One line of the report: mapped bytes, resident bytes, page-table bytes, minor faults
/// and zero-page mappings so far.
fn report(k: &Kernel, what: &str) {
    let m = k.mem();
    let c = k.counters();
    println!(
        "{what:<44} mapped {:>8} KiB  rss {:>6} KiB  page tables {:>3} KiB  faults {:>3}  zero-page maps {:>3}",
        m.mapped / 1024,
        m.rss / 1024,
        m.pt_bytes / 1024,
        c.minor_faults,
        c.zero_page_maps,
    );
}

fn main() {
    // ANCHOR: demand_paging
    let mut k = Kernel::new(KernelConfig::default());
    let pages = 64;
    let len = pages * PAGE_SIZE;

    // mmap creates a VMA: an address range the process may use. No frame is taken.
    let a = k.mmap(0, len, Prot::RW, MapFlags::NONE).unwrap();
    report(&k, "after mmap of 64 pages");
    assert_eq!(k.mem().mapped, len);
    assert_eq!(k.mem().rss, 0);

    // Reading untouched anonymous memory maps the shared zero page: still no RSS.
    k.touch(a, len / 2, Access::Read).unwrap();
    report(&k, "after reading the first 32 pages");
    assert_eq!(k.mem().rss, 0);

    // The first write to each page is a minor fault that takes and zeroes a frame.
    for i in 0..pages {
        k.touch(a + i * PAGE_SIZE, 1, Access::Write).unwrap();
    }
    report(&k, "after writing one byte in every page");
    assert_eq!(k.mem().rss, len);

    // MADV_DONTNEED gives the frames back but keeps the mapping.
    k.madvise(a, len / 2, Advice::DontNeed).unwrap();
    report(&k, "after madvise(DONTNEED) of the first half");
    assert_eq!(k.mem().rss, len / 2);
    assert_eq!(k.mem().mapped, len);

    // munmap removes the VMA and frees the rest.
    k.munmap(a, len).unwrap();
    report(&k, "after munmap");
    assert_eq!(k.mem().mapped, 0);
    assert_eq!(k.mem().rss, 0);
    // ANCHOR_END: demand_paging

    // ANCHOR: page_table_overhead
    // The same 512 pages, touched next to each other or 2 MiB apart: a 2 MiB step
    // puts every page under a different PD entry, so every page needs its own PT page.
    let touched = 512;
    let span = 1 << 30; // 1 GiB of address space to scatter pages in
    let mut pt_bytes = Vec::new();
    for (label, step) in [
        ("dense (4 KiB apart)", PAGE_SIZE),
        ("sparse (2 MiB apart)", 2 << 20),
    ] {
        let mut k = Kernel::new(KernelConfig::default());
        let a = k.mmap(0, span, Prot::RW, MapFlags::NONE).unwrap();
        for i in 0..touched {
            k.touch(a + i * step, 1, Access::Write).unwrap();
        }
        report(&k, &format!("512 pages, {label}"));
        pt_bytes.push(k.mem().pt_bytes);
    }
    // ANCHOR_END: page_table_overhead

    // Dense: the PML4, a PDPT, a PD and one or two PTs. Sparse: a PT per page.
    assert!(pt_bytes[0] <= 6 * PAGE_SIZE, "a few table pages in all");
    assert!(
        pt_bytes[1] >= touched * PAGE_SIZE,
        "one PT page per touched page"
    );
}
