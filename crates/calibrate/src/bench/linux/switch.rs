//! Context switches, measured the lmbench way, and `sched_yield`.
//!
//! A *mode switch* (a syscall) keeps the same process on the CPU. A *context switch*
//! puts another one there: the scheduler picks it, the kernel saves one set of
//! registers and restores another and, between processes, switches the address space
//! (loads a new page-table root into CR3; with PCID the TLB entries of both survive).
//! To force switches, two processes pinned to the same CPU pass a byte back and forth
//! through two pipes: each hop wakes the other side and blocks the sender. A hop costs
//! a pipe write, a pipe read *and* a switch; the pipe part is measured alone in one
//! process and subtracted, as lmbench's `lat_ctx` does.

use std::thread;

use super::child::{echo, spawn_echo};
use super::timing::batches;
use super::{Ctx, Desc, Failure};
use crate::bench::{BenchError, Measurement, keys};
use crate::sys::{self, Fd, SysError};

const SAME_METHOD: &str = "One process writes one byte into a pipe and reads it back, in \
a loop: two system calls and the pipe's buffer work, no one to wake and no switch. Batch \
mean per write+read.";

const PROCESSES_METHOD: &str = "Two processes pinned to the same CPU (the benchmark child \
and a child of it) pass one byte back and forth through two pipes. Each one-way hop is a \
pipe write, a context switch to the other process (which was blocked in read) and a pipe \
read. Batch mean over many round trips, per one-way hop. The context switch is this \
minus the same-process write+read.";

const THREADS_METHOD: &str = "As the two-process ping-pong, between two threads of one \
process on the same CPU: the switch keeps the address space (no page-table root change).";

const YIELD_METHOD: &str = "A loop of `sched_yield()` on the pinned CPU. When nothing else \
is runnable there the scheduler picks the caller again: a syscall plus a pass through \
the scheduler, no switch. On a busy machine another task may run, and the sample grows.";

/// One round trip from the measuring side: send a byte, wait for it to come back.
fn round_trip(to: &Fd, from: &Fd) -> Result<(), Failure> {
    if !to.write_byte(1) {
        return Err(sys::last_error("write").into());
    }
    match from.read_byte() {
        Some(_) => Ok(()),
        None => Err(Failure::Unexpected(
            "the ping-pong partner stopped answering",
        )),
    }
}

/// Measures pipe and context-switch costs and sched_yield.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let target = ctx.plan.target_ns;
    ctx.run(
        "pipes and context switches",
        vec![
            Desc::new(
                keys::PIPE_SAME_PROCESS,
                "1-byte pipe write + read in one process (no switch)",
                "ns per write+read",
                SAME_METHOD,
            ),
            Desc::new(
                keys::PIPE_HOP_PROCESSES,
                "pipe ping-pong, two processes on one CPU",
                "ns per hop",
                PROCESSES_METHOD,
            ),
            Desc::new(
                keys::PIPE_HOP_THREADS,
                "pipe ping-pong, two threads on one CPU",
                "ns per hop",
                THREADS_METHOD,
            ),
            Desc::new(
                keys::SCHED_YIELD,
                "sched_yield with nothing else runnable",
                "ns per call",
                YIELD_METHOD,
            ),
        ],
        |rec| {
            // Same process: write then read one pipe.
            {
                let (rd, wr) = sys::pipe()?;
                batches(rec, 0, target, 1.0, 0.0, || {
                    if !wr.write_byte(1) {
                        return Err(sys::last_error("write").into());
                    }
                    rd.read_byte()
                        .map(|_| ())
                        .ok_or_else(|| sys::last_error("read").into())
                })?;
            }

            // Two processes.
            {
                let (ping_rd, ping_wr) = sys::pipe()?;
                let (pong_rd, pong_wr) = sys::pipe()?;
                // The partner echoes from the ping pipe into the pong pipe; we keep the
                // other two ends.
                let (pid, [ping_wr, pong_rd]) = spawn_echo(ping_rd, pong_wr, [ping_wr, pong_rd])?;
                let result = batches(rec, 1, target, 2.0, 0.0, || round_trip(&ping_wr, &pong_rd));
                // End of file on the ping pipe ends the echo loop; then reap it.
                drop(ping_wr);
                sys::wait_for(pid);
                result?;
            }

            // Two threads.
            {
                let (ping_rd, ping_wr) = sys::pipe()?;
                let (pong_rd, pong_wr) = sys::pipe()?;
                let partner = thread::Builder::new()
                    .name("brkmap-pong".into())
                    .spawn(move || echo(&ping_rd, &pong_wr))
                    .map_err(|e| {
                        Failure::Os(SysError {
                            call: "pthread_create",
                            errno: e.raw_os_error().unwrap_or(0),
                        })
                    })?;
                let result = batches(rec, 2, target, 2.0, 0.0, || round_trip(&ping_wr, &pong_rd));
                drop(ping_wr);
                if partner.join().is_err() {
                    return Err(Failure::Unexpected("the ping-pong thread panicked"));
                }
                result?;
            }

            batches(rec, 3, target, 1.0, 0.0, || Ok(sys::sched_yield()?))
        },
    )
}
