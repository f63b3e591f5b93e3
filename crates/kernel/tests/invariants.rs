//! Property tests: random sequences of syscalls, accesses and process operations
//! never panic and never break the kernel's invariants (VMAs sorted and disjoint,
//! RSS equal to the resident pages found by walking the page tables, free + used
//! frames equal to the total, and everything `check_consistency` verifies).
//!
//! Small by default so the suite stays fast; `BRKMAP_LONG=1` runs many more cases.

use kernel::{
    Access, Advice, Kernel, KernelConfig, MapFlags, MremapFlags, OvercommitPolicy, PAGE_SIZE, Prot,
    TlbConfig, USER_SPACE_END,
};
use proptest::prelude::*;

const P: u64 = PAGE_SIZE;
/// A 2 MiB-aligned window where fixed mappings land, so operations overlap a lot and
/// huge pages are possible.
const WINDOW: u64 = 0x1000_0000_0000;

fn long() -> bool {
    std::env::var("BRKMAP_LONG").is_ok_and(|v| v == "1")
}

#[derive(Clone, Debug)]
enum Op {
    Mmap {
        at: Option<u64>,
        pages: u64,
        prot: u8,
        populate: bool,
    },
    Munmap {
        target: usize,
        off: u64,
        pages: u64,
    },
    Mprotect {
        target: usize,
        off: u64,
        pages: u64,
        prot: u8,
    },
    Mremap {
        target: usize,
        old: u64,
        new: u64,
        maymove: bool,
    },
    Madvise {
        target: usize,
        off: u64,
        pages: u64,
        free: bool,
    },
    Brk {
        pages: i64,
    },
    Touch {
        target: usize,
        off: u64,
        pages: u64,
        write: bool,
    },
    Spawn,
    Switch {
        idx: usize,
    },
    Exit {
        idx: usize,
    },
    /// Arbitrary raw arguments: must give an error or a result, never a panic.
    Raw {
        which: u8,
        a: u64,
        b: u64,
        c: u64,
    },
}

fn prot_of(p: u8) -> Prot {
    [Prot::NONE, Prot::READ, Prot::RW, Prot::RW][p as usize % 4]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (
            proptest::option::of(prop_oneof![0u64..1100, (0u64..3).prop_map(|r| r * 512)]),
            prop_oneof![1u64..600, Just(512), Just(1024)],
            0u8..4,
            any::<bool>(),
        )
            .prop_map(|(at, pages, prot, populate)| Op::Mmap { at, pages, prot, populate }),
        2 => (any::<usize>(), 0u64..600, 1u64..600).prop_map(|(target, off, pages)| Op::Munmap { target, off, pages }),
        2 => (any::<usize>(), 0u64..600, 1u64..600, 0u8..4)
            .prop_map(|(target, off, pages, prot)| Op::Mprotect { target, off, pages, prot }),
        1 => (any::<usize>(), 1u64..600, 1u64..900, any::<bool>())
            .prop_map(|(target, old, new, maymove)| Op::Mremap { target, old, new, maymove }),
        2 => (any::<usize>(), 0u64..600, 1u64..600, any::<bool>())
            .prop_map(|(target, off, pages, free)| Op::Madvise { target, off, pages, free }),
        2 => (-300i64..600).prop_map(|pages| Op::Brk { pages }),
        6 => (any::<usize>(), 0u64..600, 1u64..600, any::<bool>())
            .prop_map(|(target, off, pages, write)| Op::Touch { target, off, pages, write }),
        1 => Just(Op::Spawn),
        1 => any::<usize>().prop_map(|idx| Op::Switch { idx }),
        1 => any::<usize>().prop_map(|idx| Op::Exit { idx }),
        1 => (any::<u8>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(which, a, b, c)| Op::Raw { which, a, b, c }),
    ]
}

fn config() -> impl Strategy<Value = KernelConfig> {
    (
        prop_oneof![Just(256u64), Just(1200), Just(4096), Just(8192)],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(65530u64), Just(12)],
        prop_oneof![Just((64u32, 4u32)), Just((8, 2)), Just((4, 4))],
        prop_oneof![Just(0u32), Just(32)],
        prop_oneof![
            Just(OvercommitPolicy::Heuristic),
            Just(OvercommitPolicy::Always),
            Just(OvercommitPolicy::Never)
        ],
    )
        .prop_map(
            |(frames, huge, pcid, max_map, (entries, ways), l2_entries, policy)| KernelConfig {
                phys_bytes: frames * P,
                huge_pages: huge,
                max_map_count: max_map,
                tlb: TlbConfig {
                    entries,
                    ways,
                    pcid,
                    l2_entries,
                    l2_ways: 4,
                    remote_cpus: u32::from(huge),
                },
                overcommit: kernel::Overcommit {
                    policy,
                    ..kernel::Overcommit::default()
                },
                ..KernelConfig::default()
            },
        )
}

/// Addresses the sequence works on: the fixed window, the heap, and whatever mmap
/// returned.
fn target(k: &Kernel, targets: &[u64], i: usize) -> u64 {
    if targets.is_empty() || i.is_multiple_of(5) {
        if i.is_multiple_of(2) {
            WINDOW
        } else {
            k.config().heap_start
        }
    } else {
        targets[i % targets.len()]
    }
}

fn run(config: KernelConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut k = Kernel::new(config);
    let mut targets: Vec<u64> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Mmap {
                at,
                pages,
                prot,
                populate,
            } => {
                let mut flags = if populate {
                    MapFlags::POPULATE
                } else {
                    MapFlags::NONE
                };
                let addr = match at {
                    Some(p) => {
                        flags = flags.union(MapFlags::FIXED);
                        WINDOW + p * P
                    }
                    None => 0,
                };
                if let Ok(a) = k.mmap(addr, pages * P, prot_of(prot), flags) {
                    targets.push(a);
                }
            }
            Op::Munmap {
                target: t,
                off,
                pages,
            } => {
                let a = target(&k, &targets, t);
                let _ = k.munmap(a + off * P, pages * P);
            }
            Op::Mprotect {
                target: t,
                off,
                pages,
                prot,
            } => {
                let a = target(&k, &targets, t);
                let _ = k.mprotect(a + off * P, pages * P, prot_of(prot));
            }
            Op::Mremap {
                target: t,
                old,
                new,
                maymove,
            } => {
                let a = target(&k, &targets, t);
                let flags = if maymove {
                    MremapFlags::MAYMOVE
                } else {
                    MremapFlags::NONE
                };
                if let Ok(n) = k.mremap(a, old * P, new * P, flags) {
                    targets.push(n);
                }
            }
            Op::Madvise {
                target: t,
                off,
                pages,
                free,
            } => {
                let a = target(&k, &targets, t);
                let advice = if free { Advice::Free } else { Advice::DontNeed };
                let _ = k.madvise(a + off * P, pages * P, advice);
            }
            Op::Brk { pages } => {
                let _ = k.sbrk(pages * P as i64);
            }
            Op::Touch {
                target: t,
                off,
                pages,
                write,
            } => {
                let a = target(&k, &targets, t);
                let access = if write { Access::Write } else { Access::Read };
                let _ = k.touch(a + off * P + 3, pages * P, access);
            }
            Op::Spawn => {
                let _ = k.spawn();
            }
            Op::Switch { idx } => {
                let pids = k.pids();
                k.switch_to(pids[idx % pids.len()]).unwrap();
            }
            Op::Exit { idx } => {
                let pids = k.pids();
                let r = k.exit(pids[idx % pids.len()]);
                prop_assert_eq!(r.is_err(), pids.len() == 1);
            }
            Op::Raw { which, a, b, c } => {
                let _ = match which % 7 {
                    0 => k
                        .mmap(a, b, Prot((c & 0xff) as u8), MapFlags((c >> 8) as u32))
                        .map(|_| ()),
                    1 => k.munmap(a, b),
                    2 => k.mprotect(a, b, Prot((c & 0xff) as u8)),
                    3 => k.mremap(a, b, c, MremapFlags((c & 3) as u32)).map(|_| ()),
                    4 => k.madvise(
                        a,
                        b,
                        if c % 2 == 0 {
                            Advice::Free
                        } else {
                            Advice::DontNeed
                        },
                    ),
                    5 => {
                        k.brk(a);
                        k.sbrk(b as i64).map(|_| ())
                    }
                    _ => k
                        .touch(a, b % (1 << 24), Access::Write)
                        .map_err(|_| kernel::Errno::EINVAL),
                };
            }
        }
        if let Err(e) = k.check_consistency() {
            return Err(TestCaseError::fail(format!("after step {step}: {e}")));
        }
        let vmas = k.vmas();
        for w in vmas.windows(2) {
            prop_assert!(
                w[0].end <= w[1].start,
                "VMAs overlap or are unsorted at step {}",
                step
            );
        }
        let m = k.mem();
        prop_assert_eq!(m.mapped, vmas.iter().map(|v| v.end - v.start).sum::<u64>());
        prop_assert_eq!(
            m.rss,
            k.resident_bytes(0, USER_SPACE_END),
            "RSS equals resident pages walked"
        );
        let ph = k.phys();
        let held: u64 = k
            .pids()
            .iter()
            .map(|&p| {
                let s = k.mem_of(p).unwrap();
                (s.rss + s.pt_bytes) / P
            })
            .sum();
        prop_assert_eq!(
            ph.total_frames - ph.free_frames,
            held,
            "free + used == total"
        );
        prop_assert!(m.lazy_free <= m.rss && m.huge <= m.rss);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if long() { 3000 } else { 48 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_sequences_keep_every_invariant(
        config in config(),
        ops in proptest::collection::vec(op(), 1..if long() { 250 } else { 60 }),
    ) {
        run(config, ops)?;
    }
}

/// Same sequences with the same seed give the same results: the kernel is
/// deterministic (no hashing, no clocks).
#[test]
fn replays_are_identical() {
    let script = |k: &mut Kernel| -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..200u64 {
            let len = (i * 7919 % 37 + 1) * P;
            let r = k.mmap(0, len, Prot::RW, MapFlags::NONE);
            out.push(format!("{r:?}"));
            if let Ok(a) = r {
                out.push(format!("{:?}", k.touch(a, len / 2, Access::Write)));
                if i % 3 == 0 {
                    out.push(format!("{:?}", k.munmap(a, len)));
                }
            }
        }
        out.push(format!("{:?} {:?} {:?}", k.mem(), k.counters(), k.ledger()));
        out
    };
    let mut a = Kernel::new(KernelConfig::default());
    let mut b = Kernel::new(KernelConfig::default());
    assert_eq!(script(&mut a), script(&mut b));
}
