//! Random syscall sequences on a small simulated kernel, with the consistency audit
//! (`Kernel::check_consistency`) after every step. The input picks a machine (little
//! physical memory, an overcommit policy, huge pages, THP alignment, PCID, an L2 TLB,
//! remote CPUs, a small `vm.max_map_count`, resource limits) and up to 256 calls:
//! `brk`, `sbrk`, `mmap` with any flags and protections (unknown bits included),
//! `munmap`, `mprotect`, `mremap`, `madvise`, reads and writes (`touch`), `setrlimit`,
//! and processes (`spawn`, `switch_to`, `exit`, `oom_score_adj`). Addresses are drawn
//! near the VMAs that exist, near the break, near `mmap_base`, or anywhere. Errors
//! (EINVAL, ENOMEM, SIGSEGV, out of memory) are fine; panics and audit failures are
//! findings.
#![no_main]

use brkmap_fuzz::Bytes;
use kernel::{
    Access, Advice, Kernel, KernelConfig, MapFlags, MremapFlags, Overcommit, OvercommitPolicy,
    PAGE_SIZE, Pid, Prot, Resource, TlbConfig,
};
use libfuzzer_sys::fuzz_target;

/// The longest `touch`, so one step stays fast.
const MAX_TOUCH: u64 = 64 << 20;

/// How many page-table entries a run may visit, counted as the audit's walks plus the
/// pages the `touch` calls cover. The model works page by page and the audit after
/// every call walks every page table, so one large populate makes every later call
/// slow: `mmap(_, 249G, PROT_READ, MAP_POPULATE)` on the 64 MiB machine mapped the zero
/// page 8 million times until the frames for page tables ran out (2.2 s in the
/// instrumented build), and each audit after it walked them again (1.5 s), so a few
/// more calls made a timeout. A run stops at this budget (its calls so far audited):
/// well under a second of walking in the instrumented build, and far above what a run
/// without such a populate reaches (a few thousand entries per call).
const MAX_WORK: u64 = 1 << 22;

/// What the next audit walks at most: 512 entries per page-table page of every process
/// (zero-page entries hold no frame, so the frames alone do not bound them).
fn audit_work(k: &Kernel) -> u64 {
    k.pids()
        .into_iter()
        .filter_map(|p| k.mem_of(p))
        .map(|m| m.pt_bytes / PAGE_SIZE * 512)
        .sum()
}

fn machine(b: &mut Bytes) -> KernelConfig {
    let d = KernelConfig::default();
    let ways = *b.pick(&[1u32, 2, 4]);
    KernelConfig {
        // 16 MiB at most: room for eight huge pages, and a populate's zero pages stop at
        // 2 million when the page tables have taken every frame.
        phys_bytes: *b.pick(&[64 * PAGE_SIZE, 4 << 20, 16 << 20]),
        reserved_top: b.bool(),
        max_map_count: *b.pick(&[6u64, 16, 64, 65530]),
        address_space_limit: b.bool().then(|| b.size(1 << 32)),
        data_limit: b.bool().then(|| b.size(1 << 32)),
        overcommit: Overcommit {
            policy: *b.pick(&[
                OvercommitPolicy::Heuristic,
                OvercommitPolicy::Always,
                OvercommitPolicy::Never,
            ]),
            ratio: u64::from(b.u8()),
            swap_bytes: *b.pick(&[0, 1 << 20]),
        },
        huge_pages: b.bool(),
        thp_align: b.bool(),
        tlb: TlbConfig {
            entries: ways * *b.pick(&[1u32, 4, 16]),
            ways,
            pcid: b.bool(),
            l2_entries: *b.pick(&[0u32, 64]),
            l2_ways: 4,
            remote_cpus: u32::from(b.u8() % 3),
        },
        ..d
    }
}

/// An address: in or near a VMA that exists, near the break, near `mmap_base`, or any.
fn addr(b: &mut Bytes, k: &Kernel) -> u64 {
    let near = |b: &mut Bytes, base: u64| {
        let off = b.size(1 << 24);
        if b.bool() {
            base.wrapping_add(off)
        } else {
            base.wrapping_sub(off)
        }
    };
    match b.u8() % 8 {
        0..=3 => {
            let vmas = k.vmas();
            match vmas.get(b.below(vmas.len())) {
                Some(v) if b.bool() => near(b, v.end),
                Some(v) => near(b, v.start),
                None => near(b, k.config().mmap_base),
            }
        }
        4 => near(b, k.program_break()),
        5 => near(b, k.config().heap_start),
        6 => near(b, k.config().mmap_base),
        _ => b.size(u64::MAX),
    }
}

fn len(b: &mut Bytes) -> u64 {
    match b.u8() % 4 {
        0..=2 => b.size(1 << 26),
        _ => b.size(u64::MAX),
    }
}

fn prot(b: &mut Bytes) -> Prot {
    match b.u8() % 8 {
        0 => Prot::NONE,
        1 => Prot::READ,
        2..=5 => Prot::RW,
        6 => Prot(b.u8() & 7),
        _ => Prot(b.u8()),
    }
}

fn pid(b: &mut Bytes, k: &Kernel) -> Pid {
    let pids = k.pids();
    if b.u8().is_multiple_of(8) {
        Pid(u32::from(b.u8()))
    } else {
        pids[b.below(pids.len())]
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let config = machine(&mut b);
    let mut k = match Kernel::try_new(config) {
        Ok(k) => k,
        Err(e) => panic!("the fuzzed machine is invalid: {e}"),
    };
    let mut log: Vec<String> = Vec::new();
    let mut work = 0u64;
    for _ in 0..256 {
        if b.is_empty() || work > MAX_WORK {
            break;
        }
        let step = match b.u8() % 16 {
            0 => {
                let a = addr(&mut b, &k);
                let r = k.brk(a);
                format!("brk({a:#x}) = {r:#x}")
            }
            1 => {
                let inc = b.size(1 << 26) as i64 * if b.bool() { -1 } else { 1 };
                format!("sbrk({inc}) = {:?}", k.sbrk(inc))
            }
            2..=4 => {
                let a = if b.bool() { 0 } else { addr(&mut b, &k) };
                let (l, p) = (len(&mut b), prot(&mut b));
                let flags = MapFlags(match b.u8() % 4 {
                    0 => 0,
                    1 => u32::from(b.u8() % 16),
                    2 => u32::from(b.u8() % 16) & !1,
                    _ => u32::from(b.u8()),
                });
                format!(
                    "mmap({a:#x}, {l:#x}, {p:?}, {flags:?}) = {:?}",
                    k.mmap(a, l, p, flags)
                )
            }
            5 | 6 => {
                let (a, l) = (addr(&mut b, &k), len(&mut b));
                format!("munmap({a:#x}, {l:#x}) = {:?}", k.munmap(a, l))
            }
            7 => {
                let (a, l, p) = (addr(&mut b, &k), len(&mut b), prot(&mut b));
                format!(
                    "mprotect({a:#x}, {l:#x}, {p:?}) = {:?}",
                    k.mprotect(a, l, p)
                )
            }
            8 => {
                let (a, old, new) = (addr(&mut b, &k), len(&mut b), len(&mut b));
                let flags = MremapFlags(u32::from(b.u8() % 3));
                format!(
                    "mremap({a:#x}, {old:#x}, {new:#x}, {flags:?}) = {:?}",
                    k.mremap(a, old, new, flags)
                )
            }
            9 => {
                let (a, l) = (addr(&mut b, &k), len(&mut b));
                let advice = if b.bool() {
                    Advice::DontNeed
                } else {
                    Advice::Free
                };
                format!(
                    "madvise({a:#x}, {l:#x}, {advice:?}) = {:?}",
                    k.madvise(a, l, advice)
                )
            }
            10..=12 => {
                let a = addr(&mut b, &k);
                let l = b.size(MAX_TOUCH);
                work += l / PAGE_SIZE;
                let access = if b.bool() {
                    Access::Write
                } else {
                    Access::Read
                };
                format!(
                    "touch({a:#x}, {l:#x}, {access:?}) = {:?}",
                    k.touch(a, l, access)
                )
            }
            13 => {
                let resource = if b.bool() {
                    Resource::Data
                } else {
                    Resource::AddressSpace
                };
                let limit = b.bool().then(|| b.size(u64::MAX));
                k.setrlimit(resource, limit);
                format!("setrlimit({resource:?}, {limit:?})")
            }
            14 => match b.u8() % 3 {
                0 => format!("spawn() = {:?}", k.try_spawn()),
                1 => {
                    let p = pid(&mut b, &k);
                    format!("switch_to({p}) = {:?}", k.switch_to(p))
                }
                _ => {
                    let p = pid(&mut b, &k);
                    format!("exit({p}) = {:?}", k.exit(p))
                }
            },
            _ => {
                let p = pid(&mut b, &k);
                let adj = i32::from(b.u16() as i16) % 1200;
                format!(
                    "oom_score_adj({p}, {adj}) = {:?}",
                    k.set_oom_score_adj(p, adj)
                )
            }
        };
        log.push(step);
        if let Err(e) = k.check_consistency() {
            panic!("{e}\nafter:\n{}", log.join("\n"));
        }
        work += audit_work(&k);
    }
});
