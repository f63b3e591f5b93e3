//! Segmentation faults from mmapped memory, on the simulated kernel: the same four
//! experiments the project ran on the real machine (in a child process, so the crash
//! could be observed), and the one access that does *not* fault. The book's mmap and
//! fact-check chapters discuss them.
//!
//! Run with `cargo run -p kernel --example segv`. Each outcome is checked with
//! `assert_eq!`.

use kernel::{Access, Fault, Kernel, KernelConfig, MapFlags, PAGE_SIZE, Prot, SegvReason};

/// The outcome of one access, in the words of `siginfo`'s `si_code`.
fn outcome(r: Result<(), Fault>) -> &'static str {
    match r {
        Ok(()) => "no signal",
        Err(Fault::Segv {
            reason: SegvReason::Unmapped,
            ..
        }) => "SIGSEGV (SEGV_MAPERR: no mapping there)",
        Err(Fault::Segv {
            reason: SegvReason::Protection,
            ..
        }) => "SIGSEGV (SEGV_ACCERR: mapping forbids it)",
        Err(Fault::OutOfMemory { .. }) => "out of memory",
    }
}

fn main() {
    // ANCHOR: segv
    let mut k = Kernel::new(KernelConfig::default());
    let run = |what: &str, r: Result<(), Fault>| {
        let o = outcome(r);
        println!("{what:<52} {o}");
        o
    };

    // A 100-byte block in a mapping of its own: the mapping is one whole page.
    let a = k.mmap(0, 100, Prot::RW, MapFlags::NONE).unwrap();
    let o = run(
        "write 1 byte past the 100-byte block",
        k.touch(a + 100, 1, Access::Write),
    );
    assert_eq!(o, "no signal"); // still inside the page: nothing can notice

    // One byte past the page, where nothing is mapped.
    let o = run(
        "write 1 byte past the end of the page",
        k.touch(a + PAGE_SIZE, 1, Access::Write),
    );
    assert!(o.contains("MAPERR"));

    // A use after munmap.
    k.munmap(a, PAGE_SIZE).unwrap();
    let o = run("read after munmap", k.touch(a, 1, Access::Read));
    assert!(o.contains("MAPERR"));

    // A guard page: mapped, but PROT_NONE.
    let g = k.mmap(0, 2 * PAGE_SIZE, Prot::RW, MapFlags::NONE).unwrap();
    k.mprotect(g + PAGE_SIZE, PAGE_SIZE, Prot::NONE).unwrap();
    let o = run(
        "write into a PROT_NONE guard page",
        k.touch(g + PAGE_SIZE, 1, Access::Write),
    );
    assert!(o.contains("ACCERR"));

    // A read-only page.
    let r = k.mmap(0, PAGE_SIZE, Prot::READ, MapFlags::NONE).unwrap();
    let o = run("write to a PROT_READ page", k.touch(r, 1, Access::Write));
    assert!(o.contains("ACCERR"));
    // ANCHOR_END: segv
}
