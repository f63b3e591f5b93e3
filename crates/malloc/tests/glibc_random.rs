//! Random op streams through the glibc model: the allocator contract
//! ([`malloc::contract`]) and glibc's own heap-map invariants after every op, and (on
//! request) model outputs for comparison with real glibc.

mod common;
mod strategies;

use common::*;
use malloc::contract::{Contract, Resized};
use malloc::glibc::Glibc;
use malloc::{Allocator, BlockKind};
use proptest::prelude::*;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Checks what glibc promises beyond the contract after any op: the heap map tiles
/// the heap from its start to the break with top last, no two free chunks touch, and
/// `mallinfo2` is exactly what the map says. With `contiguous` false (the heap
/// continued in mappings), only the statistics.
fn check_invariants(k: &kernel::Kernel, g: &Glibc, op: u64, contiguous: bool) {
    let mut blocks = Vec::new();
    g.blocks(&mut blocks);
    let heap: Vec<_> = blocks.iter().filter(|b| !b.mapped).collect();
    let start = k.config().heap_start;
    if !contiguous {
        // Free chunks in mapped heap regions are reported as mapped too.
        let m = g.mallinfo2();
        let free: u64 = blocks
            .iter()
            .filter(|b| matches!(b.kind, BlockKind::Free | BlockKind::Top))
            .map(|b| b.size)
            .sum();
        assert_eq!(m.fordblks, free + m.fsmblks, "op {op}: fordblks");
        let used: u64 = blocks
            .iter()
            .filter(|b| b.kind == BlockKind::Used)
            .map(|b| b.size)
            .sum();
        assert_eq!(g.stats().allocated, used, "op {op}: allocated bytes");
        return;
    }
    if let Some(first) = heap.first() {
        assert_eq!(
            first.addr, start,
            "op {op}: the heap map starts at the heap"
        );
        for w in heap.windows(2) {
            assert_eq!(
                w[0].addr + w[0].size,
                w[1].addr,
                "op {op}: blocks {:?} and {:?} do not touch",
                w[0],
                w[1]
            );
            assert!(
                !(w[0].kind == BlockKind::Free && w[1].kind == BlockKind::Free),
                "op {op}: two adjacent free chunks were not coalesced"
            );
        }
        let last = heap.last().unwrap();
        assert_eq!(last.kind, BlockKind::Top, "op {op}: top is the last chunk");
        assert_eq!(
            last.addr + last.size,
            k.program_break(),
            "op {op}: top ends at the break"
        );
    }
    let m = g.mallinfo2();
    let s = g.stats();
    let sum = |kind: BlockKind, mapped: bool| -> (u64, u64) {
        blocks
            .iter()
            .filter(|b| b.kind == kind && b.mapped == mapped)
            .fold((0, 0), |(n, bytes), b| (n + 1, bytes + b.size))
    };
    let (nfree, free) = sum(BlockKind::Free, false);
    let (_, top) = sum(BlockKind::Top, false);
    let (_, used) = sum(BlockKind::Used, false);
    let (nmapped, mapped) = sum(BlockKind::Used, true);
    assert_eq!(m.ordblks, 1 + nfree, "op {op}: ordblks");
    assert_eq!(m.fordblks, free + top + m.fsmblks, "op {op}: fordblks");
    assert_eq!(m.keepcost, top, "op {op}: keepcost");
    assert_eq!(
        m.arena,
        k.program_break() - start,
        "op {op}: arena is the heap"
    );
    assert_eq!(
        (m.hblks, m.hblkhd),
        (nmapped, mapped),
        "op {op}: mapped chunks"
    );
    assert_eq!(s.allocated, used + mapped, "op {op}: allocated bytes");
    let largest = blocks
        .iter()
        .filter(|b| matches!(b.kind, BlockKind::Free | BlockKind::Cached | BlockKind::Top))
        .map(|b| b.size)
        .max()
        .unwrap_or(0);
    assert_eq!(s.largest_free, largest, "op {op}: largest free chunk");
}

/// Replays `ops` through the contract, checking glibc's invariants after every op.
fn run_checked(ops: &[Op], block: Option<u64>) {
    let (k, g) = setup(Glibc::new(), block);
    let mut c = Contract::new(g, k).overhang(8);
    let mut ids: HashMap<u64, u64> = HashMap::new();
    fn fail<T>(v: malloc::contract::Violation) -> T {
        panic!("{v}")
    }
    for op in ops {
        match *op {
            Op::Malloc { id, size } => {
                let p = c.malloc(size).unwrap_or_else(fail).map_or(0, |b| b.ptr);
                ids.insert(id, p);
            }
            Op::Realloc { id, size } => {
                let old = ids.get(&id).copied().unwrap_or(0);
                match c.realloc(old, size).unwrap_or_else(fail) {
                    Resized::To(b) => {
                        ids.insert(id, b.ptr);
                    }
                    Resized::Freed => {
                        ids.insert(id, 0);
                    }
                    Resized::OutOfMemory | Resized::Refused => {}
                }
            }
            Op::Free { id } => {
                let old = ids.insert(id, 0).unwrap_or(0);
                c.free(old).unwrap_or_else(fail);
            }
            Op::Trim { pad } => {
                c.trim(pad).unwrap_or_else(fail);
            }
        }
        check_invariants(c.kernel(), c.allocator(), c.calls() - 1, block.is_none());
    }
}

#[test]
fn random_streams_keep_the_heap_map_consistent() {
    let long = std::env::var("BRKMAP_LONG").is_ok();
    let (streams, len) = if long { (40, 20_000) } else { (4, 1_500) };
    for seed in 0..streams {
        run_checked(&random_ops(1000 + seed, len), None);
    }
    // The heap blocked early: it continues in mappings.
    for seed in 0..streams / 2 {
        run_checked(&random_ops(2000 + seed, len), Some(150_000));
    }
}

/// Writes model outputs for comparison with real glibc. With `BRKMAP_GLIBC_DUMP=DIR`
/// it writes `BRKMAP_GLIBC_STREAMS` random streams (default 0) of
/// `BRKMAP_GLIBC_OPS` ops (default 5000) to DIR, then, for every `.rep` in DIR
/// (options in the name as for the fixtures), the model's extended per-op CSV
/// (`.model.csv`) and its syscalls (`.model.sys`); `tests/data/README.md` explains the
/// comparison. Without the variable it runs on one short stream in a scratch folder
/// and checks what it wrote: the stream reads back identically, the CSV has a row
/// per op, the syscalls start with the first heap growth.
#[test]
fn dump_model_outputs_for_comparison_with_real_glibc() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (dir, streams, len, seed0, check) = match std::env::var("BRKMAP_GLIBC_DUMP") {
        Ok(dir) => (
            PathBuf::from(dir),
            env("BRKMAP_GLIBC_STREAMS", 0),
            env("BRKMAP_GLIBC_OPS", 5000) as usize,
            env("BRKMAP_GLIBC_SEED", 1),
            false,
        ),
        Err(_) => {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("glibc-dump");
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            (dir, 1, 300, 7, true)
        }
    };
    for s in seed0..seed0 + streams {
        let ops = random_ops(s, len);
        let text = write_rep(&ops);
        if check {
            assert_eq!(
                parse_rep(&text).unwrap(),
                ops,
                "a stream reads back as written"
            );
        }
        fs::write(dir.join(format!("rand-{s}.rep")), text).unwrap();
    }
    let mut reps: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rep"))
        .collect();
    reps.sort();
    for rep in reps {
        let stem = rep.file_stem().unwrap().to_string_lossy().to_string();
        let ops = parse_rep(&fs::read_to_string(&rep).unwrap()).unwrap();
        let (g, block, shift) = stem_options(&stem);
        let (mut k, mut g) = setup_shifted(g, block, shift);
        g.record_syscalls(true);
        let csv = replay(&mut k, &mut g, &ops, true);
        let sys = syscall_lines(&g.take_syscalls(), k.config().heap_start);
        if check {
            assert_eq!(csv.lines().count(), ops.len() + 1, "{stem}: a row per op");
            assert_eq!(sys[..2], ["brk 0", "brk +135168"], "{stem}: first growth");
        }
        fs::write(rep.with_extension("model.csv"), csv).unwrap();
        fs::write(rep.with_extension("model.sys"), sys.join("\n") + "\n").unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        if std::env::var("BRKMAP_LONG").is_ok() { 2000 } else { 48 }
    ))]

    /// Any sequence of calls, including frees of dangling pointers, double frees and
    /// absurd sizes: the contract holds (errors only where glibc would fail or abort,
    /// refused pointers change nothing) and glibc's heap map stays consistent.
    #[test]
    fn arbitrary_call_sequences_keep_the_model_consistent(
        calls in proptest::collection::vec((0u8..6, 0usize..12, strategies::any_sizes()), 1..160)
    ) {
        let (k, g) = setup(Glibc::new(), None);
        let mut c = Contract::new(g, k).overhang(8);
        let mut slots = [0u64; 12];
        for (kind, slot, size) in calls {
            match kind {
                0 | 1 => {
                    if let Some(b) = c.malloc(size).map_err(strategies::fail)? {
                        slots[slot] = b.ptr;
                    }
                }
                // A free that may be a double free or of a dangling pointer.
                2 => c.free(slots[slot]).map_err(strategies::fail)?,
                3 => {
                    c.free(slots[slot]).map_err(strategies::fail)?;
                    slots[slot] = 0;
                }
                4 => {
                    if let Resized::To(b) =
                        c.realloc(slots[slot], size % (1 << 21)).map_err(strategies::fail)?
                    {
                        slots[slot] = b.ptr;
                    }
                }
                _ => {
                    c.trim(size % (1 << 18)).map_err(strategies::fail)?;
                }
            }
            check_invariants(c.kernel(), c.allocator(), c.calls() - 1, true);
        }
    }
}
