//! The cost of a TLB shootdown, with a second thread of the process on another CPU.
//!
//! When a process unmaps memory it has used, every CPU that may hold a translation of
//! it must forget it. The CPU doing the `munmap` flushes its own TLB; if another CPU is
//! running a thread of the same process (the same address space), the kernel sends it
//! an inter-processor interrupt, has it invalidate the entries too, and waits for the
//! answer. That round trip is the *shootdown*. A single-threaded process never pays it,
//! which is why the simulator charges it only when other CPUs run the address space.
//!
//! The measurement: the same cycle of `mmap` of one page, a write to it (so that there
//! is a translation to shoot down) and `munmap`, timed alone and then while a second
//! thread of the process spins on another CPU. The difference per cycle is the
//! shootdown. It needs two CPUs the process may run on; with one, the figure is not
//! measured and the derivation keeps the default.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::timing::{batches, since};
use super::{Ctx, Desc, Failure};
use crate::bench::{BenchError, Measurement, keys};
use crate::sys;

const ALONE_METHOD: &str = "A loop of `mmap` of one anonymous page, a one-byte write to \
it and `munmap`, the process's only thread running. Batch mean per cycle.";

const WITH_THREAD_METHOD: &str = "The same cycle while a second thread of the process \
spins on another CPU (pinned there, counting as it spins): every munmap of a written page \
must now interrupt that CPU to invalidate its TLB and wait for it. Each cycle is timed on \
its own, and only the cycles during which the count moved (the thread really ran) are \
kept; a sample is their mean, taken when at least a tenth of the cycles qualify.";

const SHOOTDOWN_METHOD: &str = "Per sample, the cycle with the spinning thread minus the \
cycle alone: one shootdown (the IPI, the remote invalidation and the wait). On a virtual \
machine the IPI is a round trip through the hypervisor, far dearer than on bare metal; \
cycles during which the host had descheduled the spinning thread are left out.";

/// Measures the cycle alone and with a spinning second thread.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let allowed = sys::allowed_cpus().map_err(|e| super::setup_error(e.into()))?;
    let Some(&other) = allowed.iter().find(|&&c| c != ctx.cpu) else {
        ctx.notes.push(
            "TLB shootdowns not measured: the process may run on one CPU only, so no \
             second thread can hold its translations; tlb_shootdown_ns keeps its default"
                .to_string(),
        );
        return Ok(Vec::new());
    };
    let (target, page) = (ctx.plan.target_ns, ctx.page);
    let measured = ctx.run(
        "TLB shootdowns",
        vec![
            Desc::new(
                keys::CYCLE_ALONE,
                "mmap + write + munmap of a page, one thread",
                "ns per cycle",
                ALONE_METHOD,
            ),
            Desc::new(
                keys::CYCLE_WITH_THREAD,
                "the same, a second thread spinning on another CPU",
                "ns per cycle",
                WITH_THREAD_METHOD,
            ),
            Desc::new(
                keys::TLB_SHOOTDOWN,
                "TLB shootdown (with thread - alone)",
                "ns per shootdown",
                SHOOTDOWN_METHOD,
            ),
        ],
        |rec| {
            let cycle = || -> Result<(), Failure> {
                let p = sys::mmap_anon(page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
                // SAFETY: `p` is a fresh read-write mapping of one page.
                unsafe { p.write_volatile(1) };
                // SAFETY: the mapping was made just above and nothing refers to it.
                unsafe { sys::munmap(p, page)? };
                Ok(())
            };
            batches(rec, 0, target, 1.0, 0.0, cycle)?;
            // The spinner counts as it spins: a cycle during which the count did not
            // move ran while the host had descheduled it, and had nothing to shoot
            // down, so only cycles with progress on the other CPU are kept.
            let stop = Arc::new(AtomicBool::new(false));
            let spins = Arc::new(AtomicU64::new(0));
            let (flag, count) = (Arc::clone(&stop), Arc::clone(&spins));
            let spinner = std::thread::spawn(move || {
                let pinned = sys::pin_to(other).is_ok();
                while !flag.load(Ordering::Relaxed) {
                    count.fetch_add(1, Ordering::Relaxed);
                    std::hint::spin_loop();
                }
                pinned
            });
            // Wait until it runs on its CPU.
            while spins.load(Ordering::Relaxed) == 0 {
                std::hint::spin_loop();
            }
            let cycles = ((target / 5_000.0) as usize).max(20);
            rec.set_inner(1, cycles);
            let mut measured = Ok(());
            let mut samples = 0;
            for _ in 0..rec.reps() {
                let (mut kept, mut total) = (0usize, 0.0);
                for _ in 0..cycles {
                    let before = spins.load(Ordering::Relaxed);
                    let t = Instant::now();
                    if let Err(e) = cycle() {
                        measured = Err(e);
                        break;
                    }
                    let e = since(t);
                    if spins.load(Ordering::Relaxed) != before {
                        kept += 1;
                        total += e;
                    }
                }
                if measured.is_err() {
                    break;
                }
                if kept * 10 >= cycles {
                    rec.push(1, total / kept as f64)?;
                    samples += 1;
                }
            }
            stop.store(true, Ordering::Relaxed);
            let pinned = spinner.join().unwrap_or(false);
            measured?;
            if !pinned {
                // Leave the shootdown unmeasured (see below): no remote CPU to interrupt.
                return Ok(());
            }
            let alone = rec.median_of(0);
            for i in 0..samples {
                let d = rec.value(1, i) - alone;
                rec.push(2, d)?;
            }
            Ok(())
        },
    );
    // On a busy host the spinning thread may hardly run on its CPU (or not be pinned
    // there): then the series with it stays empty, and the figure is left out rather
    // than made up. A calibration goes on without it.
    match measured {
        Err(BenchError::Child { detail, .. }) if detail.starts_with("no usable samples") => {
            ctx.notes.push(
                "TLB shootdowns not measured: the second thread hardly ran on its CPU \
                 during the cycles (a busy host); tlb_shootdown_ns keeps its default"
                    .to_string(),
            );
            Ok(Vec::new())
        }
        other => other,
    }
}
