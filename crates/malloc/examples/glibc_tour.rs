//! A guided tour of glibc's malloc through the model: which syscalls each call makes
//! and what `mallinfo2` says afterwards. The steps are those of the observations made
//! on the real machine (glibc 2.36, strace and mallinfo2) that the book's glibc chapter
//! discusses; every expected value is checked with `assert_eq!`, so the tour fails if
//! the model ever drifts from what the real library did.
//!
//! Run with `cargo run -p malloc --example glibc_tour`.

use kernel::{Kernel, KernelConfig};
use malloc::Allocator;
use malloc::glibc::{Glibc, SyscallEvent};

/// The syscalls the model made since the last call, one short string each, with heap
/// addresses as offsets from the heap start.
fn syscalls(g: &mut Glibc, heap: u64) -> Vec<String> {
    g.take_syscalls()
        .into_iter()
        .map(|e| match e {
            SyscallEvent::BrkQuery { .. } => "brk(NULL)".to_string(),
            SyscallEvent::Sbrk { increment, .. } if increment < 0 => {
                format!("brk(-{:#x})", -increment)
            }
            SyscallEvent::Sbrk { increment, .. } => format!("brk(+{increment:#x})"),
            SyscallEvent::Mmap { len, .. } => format!("mmap({len})"),
            SyscallEvent::Munmap { len, .. } => format!("munmap({len})"),
            SyscallEvent::Mremap { new_len, .. } => format!("mremap(-> {new_len})"),
            SyscallEvent::MadviseDontNeed { addr, len } => {
                format!("madvise(heap+{:#x}, {len}, DONTNEED)", addr - heap)
            }
        })
        .collect()
}

/// Prints one step: what the program did and what the kernel saw.
fn step(what: &str, calls: &[String]) {
    let calls = if calls.is_empty() {
        "no syscall".to_string()
    } else {
        calls.join(", ")
    };
    println!("{what:<42} {calls}");
}

fn main() {
    // ANCHOR: tour
    let mut k = Kernel::new(KernelConfig::default());
    let heap = k.config().heap_start;
    let mut g = Glibc::new();
    g.record_syscalls(true);

    // The first malloc sets up the tcache (a 656-byte chunk) and grows the heap.
    let p = g.malloc(&mut k, 100).unwrap();
    let calls = syscalls(&mut g, heap);
    step("malloc(100)", &calls);
    assert_eq!(calls, ["brk(NULL)", "brk(+0x21000)"]);
    assert_eq!(p - heap, 672);

    // Above the 128 KiB mmap threshold: a mapping of its own.
    let big = g.malloc(&mut k, 200_000).unwrap();
    let calls = syscalls(&mut g, heap);
    step("malloc(200000)", &calls);
    assert_eq!(calls, ["mmap(200704)"]);

    // Freeing it unmaps it at once and raises both thresholds.
    g.free(&mut k, big).unwrap();
    let calls = syscalls(&mut g, heap);
    step("free(that)", &calls);
    assert_eq!(calls, ["munmap(200704)"]);
    assert_eq!(g.mmap_threshold(), 200_704);
    assert_eq!(g.trim_threshold(), 401_408);

    // The same request now comes from the heap.
    let again = g.malloc(&mut k, 200_000).unwrap();
    let calls = syscalls(&mut g, heap);
    step("malloc(200000) again", &calls);
    assert_eq!(calls, ["brk(+0x31000)"]);
    g.free(&mut k, again).unwrap();
    step(
        "free(that): top stays below 2 x threshold",
        &syscalls(&mut g, heap),
    );
    // ANCHOR_END: tour

    // ANCHOR: trim
    // Six 100000-byte blocks, freed from the top end: the heap shrinks twice.
    let six: Vec<_> = (0..6).map(|_| g.malloc(&mut k, 100_000).unwrap()).collect();
    step("6 x malloc(100000)", &syscalls(&mut g, heap));
    for &p in six.iter().rev() {
        g.free(&mut k, p).unwrap();
    }
    let calls = syscalls(&mut g, heap);
    step("free all six, top end first", &calls);
    assert_eq!(calls, ["brk(-0x49000)", "brk(-0x49000)"]);
    assert_eq!(g.mallinfo2().arena, 135_168);

    // A hole below a live block: free() cannot return it, malloc_trim can.
    let hole = g.malloc(&mut k, 100_000).unwrap();
    let _pin = g.malloc(&mut k, 100).unwrap();
    g.free(&mut k, hole).unwrap();
    step(
        "free a 100000-byte hole below a block",
        &syscalls(&mut g, heap),
    );
    g.trim(&mut k, 0).unwrap();
    let calls = syscalls(&mut g, heap);
    step("malloc_trim(0)", &calls);
    assert_eq!(
        calls,
        ["madvise(heap+0x1000, 94208, DONTNEED)", "brk(-0x8000)"]
    );
    // ANCHOR_END: trim

    let m = g.mallinfo2();
    println!(
        "mallinfo2 now: arena {} uordblks {} fordblks {} keepcost {}",
        m.arena, m.uordblks, m.fordblks, m.keepcost
    );
}
