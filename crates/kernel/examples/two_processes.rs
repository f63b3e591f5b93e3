//! Two processes on one small pool of physical frames: the same virtual addresses in
//! both map to different frames, memory one process holds is memory the other cannot
//! have, and when the frames run out the OOM killer ends the process holding the most,
//! which need not be the one that asked. Protected from the OOM killer, the holder
//! must give its memory back (here with `munmap`) before the other can go on. The
//! book's many-processes chapter walks through it.
//!
//! Run with `cargo run -p kernel --example two_processes`. Each step is checked with
//! `assert!`.

use kernel::{Access, Fault, Kernel, KernelConfig, MapFlags, Prot};

/// A touch's outcome in words.
fn said(r: &Result<(), Fault>) -> String {
    match r {
        Ok(()) => "done".to_string(),
        Err(Fault::OutOfMemory { addr }) => format!("out of memory at {addr:#x}"),
        Err(e) => e.to_string(),
    }
}

fn main() {
    // ANCHOR: two_processes
    // A machine with 4 MiB of physical memory (1024 frames).
    let config = KernelConfig {
        phys_bytes: 4 << 20,
        ..KernelConfig::default()
    };
    let mut k = Kernel::new(config.clone());
    let len = 3 << 20; // each process wants 3 MiB

    // Process A maps and writes 3 MiB.
    let pid_a = k.current();
    let a = k.mmap(0, len, Prot::RW, MapFlags::NONE).unwrap();
    k.touch(a, len, Access::Write).unwrap();

    // Process B gets the very same virtual address for its own 3 MiB ...
    let pid_b = k.spawn();
    k.switch_to(pid_b).unwrap(); // a context switch
    let b = k.mmap(0, len, Prot::RW, MapFlags::NONE).unwrap();
    assert_eq!(a, b, "separate address spaces, same layout");

    // ... but there are not enough frames for both. When B's fault finds none, the
    // OOM killer ends the process holding the most memory: A, which did nothing.
    let r = k.touch(b, len, Access::Write);
    println!("B writes 3 MiB while A holds 3 MiB: {}", said(&r));
    assert!(r.is_ok());
    let kill = k.oom_kills()[0];
    println!(
        "the OOM killer chose {} ({} KiB resident) for {}'s fault",
        kill.victim,
        kill.rss >> 10,
        kill.trigger
    );
    assert_eq!((kill.victim, kill.trigger), (pid_a, pid_b));
    assert!(k.killed(pid_a));

    // Again, with A exempt from the OOM killer (oom_score_adj -1000): now B, the only
    // candidate, is the one out of memory, part way.
    let mut k = Kernel::new(config);
    let a = k.mmap(0, len, Prot::RW, MapFlags::NONE).unwrap();
    k.touch(a, len, Access::Write).unwrap();
    k.set_oom_score_adj(pid_a, -1000).unwrap();
    let pid_b = k.spawn();
    k.switch_to(pid_b).unwrap();
    let b = k.mmap(0, len, Prot::RW, MapFlags::NONE).unwrap();
    let r = k.touch(b, len, Access::Write);
    println!("the same with A exempt:             {}", said(&r));
    assert!(matches!(r, Err(Fault::OutOfMemory { .. })));

    // A gives its memory back; now B can finish.
    k.switch_to(pid_a).unwrap();
    k.munmap(a, len).unwrap();
    k.switch_to(pid_b).unwrap();
    let r = k.touch(b, len, Access::Write);
    println!("B writes 3 MiB after A's munmap:    {}", said(&r));
    assert!(r.is_ok());
    // ANCHOR_END: two_processes

    let free = k.phys().free_frames;
    println!(
        "free frames now: {free}; context switches charged to B: {}",
        k.counters_of(pid_b).map_or(0, |c| c.context_switches)
    );
}
