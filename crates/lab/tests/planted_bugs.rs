//! Planted bugs, each in an allocator of its own, are caught by the grader with a
//! message that names the trace, the op, the block ids of the trace and the addresses.
//!
//! Every buggy allocator is the classroom baseline (`student::Student`) with one
//! mistake of the kind students make: a split that computes the wrong address, a
//! pointer off by a word, a heap extension that forgets `sbrk`, a `realloc` that
//! forgets the copy, a block cached twice, a header written one word too early.
//! The baseline's heap starts at the kernel's `heap_start` and its first payload is 32
//! bytes in, so every address below is exact.

use kernel::{Addr, Advice, Kernel, KernelConfig, PAGE_SIZE};
use lab::grade::{self, GradingSet, Subject};
use malloc::{AllocError, Allocator, Block, HeapStats};
use student::{Student, StudentConfig};

/// The first payload of the baseline's heap: heap start + padding + prologue + header.
fn first() -> Addr {
    KernelConfig::default().heap_start + 32
}

fn base() -> Student {
    Student::new(StudentConfig::default()).unwrap()
}

fn trace(text: &str) -> workload::Workload {
    workload::parse_native(
        &format!("# brkmap trace v1\nname planted\n{text}"),
        "planted.trace",
    )
    .unwrap()
}

/// Replays `text` through `a`; the failure message.
fn caught<A: Allocator>(a: A, text: &str) -> String {
    grade::run_trace(a, 0, None, true, "planted", &trace(text)).unwrap_err()
}

/// Delegates everything to the baseline but the calls each bug overrides.
macro_rules! delegate_rest {
    () => {
        fn name(&self) -> &str {
            "planted"
        }
        fn stats(&self) -> HeapStats {
            self.inner.stats()
        }
        fn blocks(&self, out: &mut Vec<Block>) {
            self.inner.blocks(out)
        }
    };
}

// ---------------------------------------------------------------- overlapping blocks

/// Its split puts the second block two words too low: inside the first one.
struct Overlapping {
    inner: Student,
    mallocs: u32,
}

impl Allocator for Overlapping {
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        self.mallocs += 1;
        let p = self.inner.malloc(k, size)?;
        Ok(if self.mallocs == 2 { p - 32 } else { p })
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.inner.free(k, ptr)
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        self.inner.realloc(k, ptr, size)
    }
    delegate_rest!();
}

#[test]
fn overlapping_blocks() {
    let a = Overlapping {
        inner: base(),
        mallocs: 0,
    };
    let m = caught(a, "malloc 7 48\nmalloc 9 48\nfree 7\nfree 9\n");
    let p = first();
    assert_eq!(
        m,
        format!(
            "trace planted, op 1 (malloc(48)): block #7 at {:#x} (48 bytes) overlaps block #9 at {:#x} (48 bytes)",
            p,
            p + 32
        )
    );
}

// ---------------------------------------------------------------- a misaligned pointer

/// Its payloads start after the header word, 8 bytes past the 16-byte boundary: it
/// forgot the padding word.
struct Misaligned {
    inner: Student,
}

impl Allocator for Misaligned {
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        Ok(self.inner.malloc(k, size)? + 8)
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.inner.free(k, ptr - 8)
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        Ok(self.inner.realloc(k, ptr - 8, size)? + 8)
    }
    delegate_rest!();
}

#[test]
fn a_misaligned_pointer() {
    let m = caught(Misaligned { inner: base() }, "malloc 3 40\nfree 3\n");
    assert_eq!(
        m,
        format!(
            "trace planted, op 0 (malloc(40)): block #3 at {:#x} (40 bytes) is not 16-byte aligned",
            first() + 8
        )
    );
}

// ---------------------------------------------------------------- a pointer outside the heap

/// When the heap must grow it hands out the block past the break without calling
/// `sbrk`.
struct ForgetsSbrk {
    inner: Student,
}

impl Allocator for ForgetsSbrk {
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let brk = k.program_break();
        let p = self.inner.malloc(k, size)?;
        if k.program_break() > brk && brk > KernelConfig::default().heap_start {
            // It meant to: the new block starts where the old break was.
            return Ok(k.program_break() + 16);
        }
        Ok(p)
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.inner.free(k, ptr)
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        self.inner.realloc(k, ptr, size)
    }
    delegate_rest!();
}

#[test]
fn a_pointer_outside_the_heap() {
    let m = caught(
        ForgetsSbrk { inner: base() },
        "malloc 1 1000\nmalloc 2 5000\nfree 1\nfree 2\n",
    );
    let brk = KernelConfig::default().heap_start + 4096 + 8192;
    assert_eq!(
        m,
        format!(
            "trace planted, op 1 (malloc(5000)): block #2 at {:#x} (5000 bytes) is not inside read-write memory of the process",
            brk + 16
        )
    );
}

// ---------------------------------------------------------------- realloc that loses data

/// Its `realloc` moves the block and forgets the copy.
struct ForgetsCopy {
    inner: Student,
}

impl Allocator for ForgetsCopy {
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        self.inner.malloc(k, size)
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.inner.free(k, ptr)
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        let new = self.inner.malloc(k, size)?;
        self.inner.free(k, ptr)?;
        Ok(new)
    }
    delegate_rest!();
}

#[test]
fn realloc_that_loses_data() {
    let m = caught(
        ForgetsCopy { inner: base() },
        "malloc 5 100\nmalloc 6 16\nrealloc 5 300\nfree 5\nfree 6\n",
    );
    let old = first();
    let new = old + 128 + 32;
    let prefix = format!(
        "trace planted, op 2 (realloc({old:#x}, 300)): realloc did not keep the contents of block #5 (100 bytes at {old:#x}, now 300 bytes at {new:#x}): byte 0 (at {new:#x}) is 0x00, was 0x"
    );
    assert!(m.starts_with(&prefix), "{m}");
}

// ---------------------------------------------------------------- a block handed out twice

/// A one-block cache of the last freed block that forgets to empty itself when it
/// hands the block out: every later malloc gets the cached block again. (Its heap
/// map and statistics are honest: the cached block shows as `Cached` until it is
/// handed out.)
struct CachesTwice {
    inner: Student,
    cached: Option<Addr>,
    handed: u32,
}

impl CachesTwice {
    /// The cached block of the map, if it is not handed out.
    fn idle(&self) -> Option<Addr> {
        self.cached.filter(|_| self.handed == 0)
    }
}

impl Allocator for CachesTwice {
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        if let Some(p) = self.cached {
            self.handed += 1; // ... and the cache keeps it
            return Ok(p);
        }
        self.inner.malloc(k, size)
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        if self.cached.is_some() {
            return self.inner.free(k, ptr);
        }
        self.cached = Some(ptr);
        self.handed = 0;
        Ok(())
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        self.inner.realloc(k, ptr, size)
    }
    fn stats(&self) -> HeapStats {
        let mut s = self.inner.stats();
        if let Some(p) = self.idle() {
            let mut map = Vec::new();
            self.inner.blocks(&mut map);
            let size = map.iter().find(|b| b.addr + 8 == p).map_or(0, |b| b.size);
            s.allocated -= size;
            s.uordblks -= size;
        }
        s
    }
    fn blocks(&self, out: &mut Vec<Block>) {
        let from = out.len();
        self.inner.blocks(out);
        if let Some(p) = self.idle() {
            for b in &mut out[from..] {
                if b.addr + 8 == p {
                    b.kind = malloc::BlockKind::Cached;
                }
            }
        }
    }
    fn name(&self) -> &str {
        "planted"
    }
}

#[test]
fn a_block_handed_out_twice() {
    let a = CachesTwice {
        inner: base(),
        cached: None,
        handed: 0,
    };
    let m = caught(
        a,
        "malloc 1 64\nmalloc 2 64\nfree 1\nmalloc 3 64\nmalloc 4 64\n",
    );
    let p = first();
    assert_eq!(
        m,
        format!(
            "trace planted, op 4 (malloc(64)): block #4 was handed out at {p:#x}, the address of live block #3 at {p:#x} (64 bytes) (a block handed out twice)"
        )
    );
}

// ---------------------------------------------------------------- a header on a neighbour

/// It writes each new block's header a word too early as well ("the header is 24
/// bytes before the payload"): into the payload of the block below.
struct HeaderTooEarly {
    inner: Student,
}

impl Allocator for HeaderTooEarly {
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let p = self.inner.malloc(k, size)?;
        let header = k.read_u64(p - 8)?;
        k.write_u64(p - 24, header)?;
        Ok(p)
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.inner.free(k, ptr)
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        self.inner.realloc(k, ptr, size)
    }
    delegate_rest!();
}

#[test]
fn a_header_written_into_a_neighbours_payload() {
    let m = caught(
        HeaderTooEarly { inner: base() },
        "malloc 10 48\nmalloc 11 48\nfree 10\nfree 11\n",
    );
    let p = first();
    assert_eq!(
        m,
        format!(
            "trace planted, op 1 (malloc(48)): the allocator wrote 8 bytes at {:#x}, inside the payload of live block #10 at {p:#x} (48 bytes) (offset 40)",
            p + 40
        )
    );
}

// ---------------------------------------------------------------- more than the six

/// A free list whose `free` gives back every page the freed block touches, rounding
/// out instead of in: the neighbours on those pages lose their bytes. (The textbook
/// free list keeps its metadata in Rust structures, so only the program's bytes go.)
struct GivesBackTooMuch {
    inner: malloc::freelist::FreeList,
    sizes: std::collections::BTreeMap<Addr, u64>,
}

impl Allocator for GivesBackTooMuch {
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let p = self.inner.malloc(k, size)?;
        self.sizes.insert(p, size);
        Ok(p)
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.inner.free(k, ptr)?;
        let size = self.sizes.remove(&ptr).unwrap_or(0);
        let start = ptr & !(PAGE_SIZE - 1);
        let end = (ptr + size).next_multiple_of(PAGE_SIZE);
        let _ = k.madvise(start, end - start, Advice::DontNeed);
        Ok(())
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        self.inner.realloc(k, ptr, size)
    }
    delegate_rest!();
}

#[test]
fn memory_given_back_under_a_live_block() {
    let a = GivesBackTooMuch {
        inner: malloc::freelist::FreeList::preset("first-fit").unwrap(),
        sizes: Default::default(),
    };
    let m = caught(a, "malloc 1 48\nmalloc 2 48\nfree 2\nfree 1\n");
    let p = KernelConfig::default().heap_start + 16;
    assert!(
        m.starts_with(&format!(
            "trace planted, op 3 (free({p:#x})): block #1 at {p:#x} (48 bytes) lost its contents: byte 0 (at {p:#x}) is 0x00, the program wrote 0x"
        )),
        "{m}"
    );
}

/// The baseline with a footer it forgets to update when it splits (so its own
/// checker finds header and footer disagree).
struct StaleFooter {
    inner: Student,
}

impl Allocator for StaleFooter {
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        let p = self.inner.malloc(k, size)?;
        let header = k.read_u64(p - 8)?;
        let footer = p - 8 + (header & !15) - 8;
        k.write_u64(footer, 0)?;
        Ok(p)
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.inner.free(k, ptr)
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        self.inner.realloc(k, ptr, size)
    }
    delegate_rest!();
}

#[test]
fn a_heap_check_that_fails() {
    let w = trace("malloc 1 48\nfree 1\n");
    let check = |a: &StaleFooter, k: &Kernel| a.inner.check_heap(k);
    let m = grade::run_trace(
        StaleFooter { inner: base() },
        0,
        Some(check),
        true,
        "planted",
        &w,
    )
    .unwrap_err();
    let h = first() - 8;
    assert_eq!(
        m,
        format!(
            "trace planted, op 0 (malloc(48)): check_heap: block at {h:#x}: header 0x41 and footer 0x0 disagree"
        )
    );
}

#[test]
fn a_planted_bug_scores_zero_on_the_traces_it_breaks() {
    let set = GradingSet::builtin().unwrap();
    let mut small = set.clone();
    small
        .traces
        .retain(|t| ["binary-bal", "realloc-bal"].contains(&t.name.as_str()));
    let subject = Subject {
        make: Box::new(|| Ok(HeaderTooEarly { inner: base() })),
        overhang: 0,
        check: None,
    };
    let g = grade::grade("header-too-early", &subject, &small).unwrap();
    for t in &g.traces {
        assert_eq!(t.score, 0.0, "{}", t.name);
        let m = t.result.as_ref().unwrap_err();
        assert!(
            m.starts_with(&format!("trace {}, op ", t.name))
                && m.contains("inside the payload of live block #"),
            "{m}"
        );
    }
    assert_eq!(g.total, 0.0);
    assert!(grade::table(&g).contains("FAIL"));
}

/// It indexes a table of size classes past its end on the third malloc.
struct Panics {
    inner: Student,
    classes: Vec<u64>,
}

impl Allocator for Panics {
    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        self.classes.push(size);
        let class = self.classes[self.classes.len() * 2 - 2];
        let _ = class;
        self.inner.malloc(k, size)
    }
    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        self.inner.free(k, ptr)
    }
    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        self.inner.realloc(k, ptr, size)
    }
    delegate_rest!();
}

#[test]
fn a_panic_fails_the_trace_at_its_op() {
    let a = Panics {
        inner: base(),
        classes: Vec::new(),
    };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let m = caught(a, "malloc 1 8\nmalloc 2 8\nfree 1\nfree 2\n");
    std::panic::set_hook(hook);
    assert_eq!(
        m,
        "trace planted, op 1: the allocator panicked: index out of bounds: the len is 2 but the index is 2"
    );
}
