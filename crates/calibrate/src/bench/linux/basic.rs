//! The clock and the null system call: the two yardsticks every other number leans on.

use super::timing::{batches, clock_read};
use super::{Ctx, Desc};
use crate::bench::{BenchError, Measurement, keys};
use crate::sys;

const CLOCK_METHOD: &str = "A loop of back-to-back `Instant::now()` calls, i.e. \
clock_gettime(CLOCK_MONOTONIC). With the TSC as clock source the vDSO answers it in user \
space, without entering the kernel. The gap between two consecutive readings is one \
reading's cost; it is subtracted wherever a single call is timed between two readings.";

const NULL_METHOD: &str = "A loop of `syscall(SYS_getppid)`: the kernel only looks up one \
field, so the time is the mode switch itself — the trap into the kernel, the entry and \
exit bookkeeping (including speculative-execution mitigations, which is why this costs \
more on a patched or virtual machine) and the return to user space. Batch mean per call, \
median over samples; the loop's own cost (under 1 ns) is not subtracted. lmbench's \
`lat_syscall null` measures the same.";

/// Measures the clock and the null syscall.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let target = ctx.plan.target_ns;
    ctx.run(
        "clock and null syscall",
        vec![
            Desc::new(
                keys::TIMER_READ,
                "clock read, Instant::now()",
                "ns per read",
                CLOCK_METHOD,
            ),
            Desc::new(
                keys::NULL_SYSCALL,
                "null syscall, syscall(SYS_getppid)",
                "ns per call",
                NULL_METHOD,
            ),
        ],
        |rec| {
            clock_read(rec, 0, target)?;
            batches(rec, 1, target, 1.0, 0.0, || {
                sys::null_syscall();
                Ok(())
            })
        },
    )
}
