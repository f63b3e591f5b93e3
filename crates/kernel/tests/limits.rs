//! Linux's policies on what a process may map and who pays when memory runs out:
//! `RLIMIT_DATA`, `RLIMIT_AS`, the three overcommit modes, and the OOM killer. Each
//! test states the Linux rule it holds the model to.

use kernel::{
    Access, Errno, Fault, Kernel, KernelConfig, MapFlags, MremapFlags, OvercommitPolicy, PAGE_SIZE,
    Pid, Prot, Resource,
};

const P: u64 = PAGE_SIZE;
const M: u64 = 1 << 20;

fn kernel_with(f: impl FnOnce(&mut KernelConfig)) -> Kernel {
    let mut c = KernelConfig::default();
    f(&mut c);
    Kernel::try_new(c).unwrap()
}

fn consistent(k: &Kernel) {
    k.check_consistency().unwrap();
}

// ------------------------------------------------------------------ RLIMIT_DATA

/// Since Linux 4.7 `RLIMIT_DATA` counts all private writable memory (`VmData`): the
/// heap and every rw mapping, `MAP_NORESERVE` ones too; read-only and `PROT_NONE`
/// mappings are free of it.
#[test]
fn rlimit_data_limits_the_heap_and_every_private_writable_mapping() {
    let mut k = kernel_with(|c| c.data_limit = Some(M));
    let a = k.mmap(0, 512 << 10, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(k.mem().data, 512 << 10);
    assert_eq!(
        k.mmap(0, M, Prot::RW, MapFlags::NONE),
        Err(Errno::ENOMEM),
        "512 KiB + 1 MiB > 1 MiB"
    );
    assert_eq!(
        k.mmap(0, M, Prot::RW, MapFlags::NORESERVE),
        Err(Errno::ENOMEM),
        "MAP_NORESERVE is data too"
    );
    let r = k.mmap(0, 4 * M, Prot::READ, MapFlags::NONE).unwrap();
    k.mmap(0, 4 * M, Prot::NONE, MapFlags::NONE).unwrap();
    // mprotect adding write turns a range into data.
    assert_eq!(k.mprotect(r, 1024 << 10, Prot::RW), Err(Errno::ENOMEM));
    assert_eq!(k.mprotect(r, 512 << 10, Prot::RW), Ok(()));
    assert_eq!(k.mem().data, M);
    // brk: the heap is data.
    let start = k.program_break();
    assert_eq!(k.brk(start + P), start, "the break stays");
    // mremap growth of a writable mapping.
    assert_eq!(
        k.mremap(a, 512 << 10, M, MremapFlags::MAYMOVE),
        Err(Errno::ENOMEM)
    );
    // Taking write away makes room again.
    k.mprotect(r, 512 << 10, Prot::READ).unwrap();
    assert_eq!(k.brk(start + P), start + P);
    consistent(&k);
}

/// glibc's `malloc` tries a 1 MiB mapping when `sbrk` fails; under `RLIMIT_DATA` that
/// mapping is refused as well (measured: every `mmap(1 MiB)` fallback got ENOMEM).
/// What does rescue it is a break that ran into a mapping.
#[test]
fn rlimit_data_refuses_the_mmap_that_would_stand_in_for_brk() {
    let mut k = kernel_with(|c| c.data_limit = Some(512 << 10));
    assert!(k.sbrk(512 << 10).is_ok());
    assert_eq!(k.sbrk(64 << 10), Err(Errno::ENOMEM));
    assert_eq!(k.mmap(0, M, Prot::RW, MapFlags::NONE), Err(Errno::ENOMEM));
    let mut walled = Kernel::new(KernelConfig::default());
    let start = walled.program_break();
    walled
        .mmap(start + (576 << 10), P, Prot::NONE, MapFlags::FIXED)
        .unwrap();
    assert!(walled.sbrk(512 << 10).is_ok());
    assert_eq!(walled.sbrk(64 << 10), Err(Errno::ENOMEM), "the guard page");
    assert!(walled.mmap(0, M, Prot::RW, MapFlags::NONE).is_ok());
}

/// `setrlimit` is per process and counts from what is mapped already.
#[test]
fn setrlimit_changes_the_running_process_only() {
    let mut k = Kernel::new(KernelConfig::default());
    k.mmap(0, M, Prot::RW, MapFlags::NONE).unwrap();
    k.setrlimit(Resource::Data, Some(M));
    assert_eq!(k.rlimit(Resource::Data), Some(M));
    assert_eq!(k.mmap(0, P, Prot::RW, MapFlags::NONE), Err(Errno::ENOMEM));
    let other = k.spawn();
    k.switch_to(other).unwrap();
    assert_eq!(k.rlimit(Resource::Data), None);
    assert!(k.mmap(0, 2 * M, Prot::RW, MapFlags::NONE).is_ok());
}

/// `RLIMIT_AS` counts every mapped byte, whatever the protection.
#[test]
fn rlimit_as_counts_every_mapping() {
    let mut k = kernel_with(|c| c.address_space_limit = Some(M));
    let a = k.mmap(0, 512 << 10, Prot::NONE, MapFlags::NONE).unwrap();
    assert_eq!(k.mmap(0, M, Prot::READ, MapFlags::NONE), Err(Errno::ENOMEM));
    let c = k.mmap(0, 512 << 10, Prot::RW, MapFlags::NORESERVE).unwrap();
    assert_eq!(k.mmap(0, P, Prot::READ, MapFlags::NONE), Err(Errno::ENOMEM));
    let start = k.program_break();
    assert_eq!(k.brk(start + P), start);
    k.munmap(a, 512 << 10).unwrap();
    assert_eq!(
        k.mremap(c, 512 << 10, 768 << 10, MremapFlags::MAYMOVE)
            .map(|_| ()),
        Ok(())
    );
}

// ------------------------------------------------------------------ overcommit

/// Mode 0 (the default): one request larger than RAM plus swap fails; requests that
/// fit, however many, succeed; `MAP_NORESERVE`, read-only and `PROT_NONE` mappings are
/// not checked. (This machine, 24 GiB and no swap: 30 GiB rw ENOMEM, 23 GiB rw twice
/// fine, 30 GiB with `MAP_NORESERVE`, read-only or `PROT_NONE` fine.)
#[test]
fn heuristic_overcommit_refuses_only_single_requests_larger_than_ram() {
    let mut k = kernel_with(|c| c.phys_bytes = 64 * M);
    assert_eq!(
        k.mmap(0, 65 * M, Prot::RW, MapFlags::NONE),
        Err(Errno::ENOMEM)
    );
    assert!(k.mmap(0, 64 * M, Prot::RW, MapFlags::NONE).is_ok());
    assert!(
        k.mmap(0, 60 * M, Prot::RW, MapFlags::NONE).is_ok(),
        "no total is kept"
    );
    assert!(k.mmap(0, 1 << 40, Prot::RW, MapFlags::NORESERVE).is_ok());
    let r = k.mmap(0, 1 << 30, Prot::READ, MapFlags::NONE).unwrap();
    assert!(k.mmap(0, 1 << 30, Prot::NONE, MapFlags::NONE).is_ok());
    // Making the read-only gigabyte writable commits it: refused.
    assert_eq!(k.mprotect(r, 1 << 30, Prot::RW), Err(Errno::ENOMEM));
    // A growth is judged by its delta.
    let g = k.mmap(0, 32 * M, Prot::RW, MapFlags::NONE).unwrap();
    assert!(k.mremap(g, 32 * M, 90 * M, MremapFlags::MAYMOVE).is_ok());
    let start = k.program_break();
    assert_eq!(k.brk(start + 65 * M), start);
    // With swap the bound is RAM plus swap.
    let mut s = kernel_with(|c| {
        c.phys_bytes = 64 * M;
        c.overcommit.swap_bytes = 64 * M;
    });
    assert!(s.mmap(0, 128 * M, Prot::RW, MapFlags::NONE).is_ok());
    assert_eq!(
        s.mmap(0, 129 * M, Prot::RW, MapFlags::NONE),
        Err(Errno::ENOMEM)
    );
}

/// Mode 1: every request succeeds.
#[test]
fn always_overcommit_grants_everything() {
    let mut k = kernel_with(|c| {
        c.phys_bytes = 64 * M;
        c.overcommit.policy = OvercommitPolicy::Always;
    });
    assert!(k.mmap(0, 1 << 40, Prot::RW, MapFlags::NONE).is_ok());
    let start = k.program_break();
    assert_eq!(k.brk(start + (1 << 30)), start + (1 << 30));
}

/// Mode 2: committed memory (every accounted mapping of every process) stays below
/// swap + RAM × ratio / 100 less the admin reserve and the user reserve;
/// `MAP_NORESERVE` is ignored; unmapping gives the commitment back, and so does
/// taking write away from a mapping that was never written to.
#[test]
fn strict_overcommit_keeps_committed_memory_below_the_commit_limit() {
    let mut k = kernel_with(|c| {
        c.phys_bytes = 1 << 30;
        c.overcommit.policy = OvercommitPolicy::Never;
        c.overcommit.ratio = 50;
    });
    assert_eq!(k.commit_limit(), 512 * M);
    // Reserves: admin min(RAM/32, 8 MiB) = 8 MiB; user min(size/32, min(RAM/32, 128
    // MiB)).
    let a = k.mmap(0, 400 * M, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(k.committed(), 400 * M);
    assert_eq!(k.mem().committed, 400 * M);
    assert_eq!(
        k.mmap(0, 100 * M, Prot::RW, MapFlags::NORESERVE),
        Err(Errno::ENOMEM),
        "MAP_NORESERVE counts in mode 2"
    );
    assert!(
        k.mmap(0, 1 << 30, Prot::READ, MapFlags::NONE).is_ok(),
        "not accounted"
    );
    // Process 1 maps 1424 MiB: its user reserve is min(1424/32, 32) = 32 MiB, so it may
    // commit below 512 - 8 - 32 = 472 MiB.
    assert_eq!(
        k.mmap(0, 80 * M, Prot::RW, MapFlags::NONE),
        Err(Errno::ENOMEM)
    );
    let b = k.mmap(0, 40 * M, Prot::RW, MapFlags::NONE).unwrap();
    // Another process (nothing mapped: no user reserve, below 504 MiB) shares the limit.
    let other = k.spawn();
    k.switch_to(other).unwrap();
    assert_eq!(
        k.mmap(0, 70 * M, Prot::RW, MapFlags::NONE),
        Err(Errno::ENOMEM)
    );
    k.switch_to(Pid(1)).unwrap();
    k.munmap(b, 40 * M).unwrap();
    assert_eq!(k.committed(), 400 * M);
    // Write taken away from untouched memory: uncommitted; from touched memory: not.
    k.touch(a, P, Access::Write).unwrap();
    k.mprotect(a, 400 * M, Prot::READ).unwrap();
    assert_eq!(k.committed(), 400 * M, "written to: it stays accounted");
    let c = k.mmap(0, 64 * M, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(k.committed(), 464 * M);
    k.mprotect(c, 64 * M, Prot::READ).unwrap();
    assert_eq!(k.committed(), 400 * M, "never written to: given back");
    k.switch_to(other).unwrap();
    assert!(k.mmap(0, 70 * M, Prot::RW, MapFlags::NONE).is_ok());
    consistent(&k);
}

// ------------------------------------------------------------------ the OOM killer

/// A machine of `frames` frames, with the running process (pid 1) holding `big`
/// resident pages and a second one holding `small`.
fn two_processes(frames: u64, big: u64, small: u64) -> (Kernel, Pid, Pid) {
    let mut k = kernel_with(|c| {
        c.phys_bytes = frames * P;
        c.overcommit.policy = OvercommitPolicy::Always;
    });
    let p1 = k.current();
    let a = k.mmap(0, big * P, Prot::RW, MapFlags::NONE).unwrap();
    k.touch(a, big * P, Access::Write).unwrap();
    let p2 = k.spawn();
    k.switch_to(p2).unwrap();
    let b = k.mmap(0, small * P, Prot::RW, MapFlags::NONE).unwrap();
    k.touch(b, small * P, Access::Write).unwrap();
    (k, p1, p2)
}

/// Linux kills the process with the most badness (resident pages + swap + page
/// tables), not the one whose fault failed; the faulting process gets its page.
#[test]
fn the_oom_killer_kills_the_biggest_process_and_the_fault_succeeds() {
    let (mut k, p1, p2) = two_processes(64, 40, 8);
    let c = k.mmap(0, 32 * P, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(k.touch(c, 32 * P, Access::Write), Ok(()));
    let kills = k.oom_kills();
    assert_eq!(kills.len(), 1);
    assert_eq!((kills[0].victim, kills[0].trigger), (p1, p2));
    assert_eq!(kills[0].rss, 40 * P);
    assert_eq!(kills[0].pt_bytes, 3 * P, "PDPT, PD, PT; not the PML4");
    assert_eq!(kills[0].points, 40 + 3);
    assert!(k.killed(p1));
    assert_eq!(k.pids(), vec![p2], "the victim no longer runs");
    assert_eq!(k.switch_to(p1), Err(Errno::ESRCH));
    assert_eq!(k.mem_of(p1).unwrap().rss, 0, "its memory went back at once");
    assert_eq!(
        k.counters_of(p1).unwrap().minor_faults,
        40,
        "its accounts stay"
    );
    consistent(&k);
    assert_eq!(k.exit(p1), Ok(()), "reaped");
    assert_eq!(k.counters_of(p1), None);
    consistent(&k);
}

/// `oom_score_adj` -1000 exempts a process; 1000 makes it the first choice.
#[test]
fn oom_score_adj_steers_the_choice() {
    let (mut k, p1, p2) = two_processes(64, 40, 8);
    k.set_oom_score_adj(p1, -1000).unwrap();
    let c = k.mmap(0, 32 * P, Prot::RW, MapFlags::NONE).unwrap();
    // Only p2 (the faulting one) is left to choose: the fault fails.
    assert!(matches!(
        k.touch(c, 32 * P, Access::Write),
        Err(Fault::OutOfMemory { .. })
    ));
    let kill = *k.oom_kills().last().unwrap();
    assert_eq!((kill.victim, kill.trigger), (p2, p2));
    assert!(!k.killed(p2), "the caller ends the faulting process itself");
    assert_eq!(k.set_oom_score_adj(p1, 1001), Err(Errno::EINVAL));
    assert_eq!(k.set_oom_score_adj(Pid(99), 0), Err(Errno::ESRCH));

    // 1000 adds (RAM + swap pages) / 1000 × 1000 points: 4000 on 4096 frames.
    let (mut k, p1, p2) = two_processes(4096, 3000, 500);
    let p3 = k.spawn();
    k.set_oom_score_adj(p3, 1000).unwrap();
    k.switch_to(p2).unwrap();
    let c = k.mmap(0, 700 * P, Prot::RW, MapFlags::NONE).unwrap();
    // p3 holds only its PML4: killing it frees one frame, not enough; then p1 goes.
    assert_eq!(k.touch(c, 700 * P, Access::Write), Ok(()));
    let victims: Vec<(Pid, i64)> = k.oom_kills().iter().map(|o| (o.victim, o.points)).collect();
    // p1: 3000 pages, six PTs, a PD and a PDPT.
    assert_eq!(victims, [(p3, 4000), (p1, 3008)], "adj 1000 first");
    consistent(&k);
}

/// On equal badness the process seen last (walking in pid order) is chosen, as
/// `select_bad_process` keeps a later task with the same points.
#[test]
fn a_tie_goes_to_the_later_process() {
    let (mut k, p1, p2) = two_processes(64, 20, 20);
    let p3 = k.spawn();
    k.switch_to(p3).unwrap();
    let c = k.mmap(0, 30 * P, Prot::RW, MapFlags::NONE).unwrap();
    k.set_oom_score_adj(p3, -1000).unwrap();
    assert_eq!(k.touch(c, 30 * P, Access::Write), Ok(()));
    assert_eq!(k.oom_kills()[0].victim, p2);
    assert!(!k.killed(p1));
}
