//! Mappings in a steady state: what `mmap`, the first write and `munmap` cost in a
//! process that already holds thousands of one-page mappings and keeps replacing them.
//!
//! That is the life of an allocator that gives every block its own mapping: after a
//! warm-up, each `malloc` maps a page into one of the holes that earlier frees left and
//! writes it, and each `free` unmaps a block that was allocated long ago. The hot loops
//! of [`super::mapping`] map, write and unmap the *same* page over and over, so every
//! structure those calls touch stays in the CPU caches: the VMA and the tree nodes
//! above it, the page-table entry, the frame's `struct page`, its place on the LRU list.
//! Here the unmapped page was written thousands of operations ago, so those are cold;
//! the new mapping lands in a hole between live blocks (merging with both of them),
//! and the unmap cuts a block out of the middle of a larger VMA (splitting it twice).
//!
//! On the 2-vCPU virtual machine this was developed on, the hot loop's
//! mmap + write + munmap of one page took 4.7 µs, the same cycle here 6.2 µs, and a
//! real replay of the `churn` workload through a mapping-per-block allocator 7 to 8 µs
//! per block. A cost model built from the hot loop predicted 54-64 % of that replay's
//! time, one built from this benchmark 79-90 %. The cost model's `mmap_ns`,
//! `munmap_ns` and `shootdown_ns` are therefore derived from here; the hot loops remain
//! as the best case and for comparison with the reference machine, which measured only
//! them.
//!
//! What one cycle of one page cannot capture: in `churn` mallocs and frees come in
//! runs rather than strictly alternating and the live count wanders (a replay with
//! every block cut to one page cost 6.5 µs per block against this benchmark's 6.2),
//! and the pages after the first of a larger block are charged the per-page fault and
//! free costs of the hot 1 MiB loops, which are lower than what such pages cost among
//! many cold mappings.

use std::time::Instant;

use super::child::Recorder;
use super::timing::{SplitMix, since};
use super::{Ctx, Desc, Failure};
use crate::bench::{BenchError, Measurement, keys};
use crate::sys::{self, Mapping};

const UNTOUCHED_METHOD: &str = "The child maps two pools of `live + holes` one-page \
anonymous mappings with plain `mmap(NULL, 4096)` (the kernel places them top down, next \
to each other, so they merge into a few large VMAs), writes every page of the second \
pool, and unmaps `holes` blocks of each at random, leaving holes between live blocks. \
One cycle replaces a random live block of a pool: `mmap` of a new page (which goes into \
the highest hole that fits and merges with its neighbours) and `munmap` of the old block \
(which usually cuts it out of the middle of a VMA). Each call is timed on its own, one \
clock reading subtracted. Before the samples, `live` cycles of each pool bring the ages \
of the blocks to their steady state; then samples (means over a batch of cycles) \
alternate between the pools, so that both see the same load. In this pool nothing is \
ever written: this is the VMA work of the two calls among many mappings, without \
frames, page-table entries or TLB flushes of its own.";

const TOUCHED_METHOD: &str = "The second pool of the steady state (see the untouched \
one), where every block is written (one byte) right after its `mmap`: the write is a \
page fault that takes and clears a frame, and the `munmap` of an old block frees its \
frame and invalidates its TLB entry. The three parts are timed separately (one clock \
reading subtracted from each); the cycle is their sum. This is what the cost model \
charges for one block of a mapping-per-block allocator: mmap, fault, munmap with a \
resident page.";

/// A pool of live one-page mappings and the generator that picks which one to replace.
struct Pool {
    live: Vec<Mapping>,
    page: usize,
    rng: SplitMix,
    touch: bool,
}

impl Pool {
    /// Maps `live + holes` pages one by one (writing each if `touch`), then unmaps
    /// `holes` of them at random.
    fn fill(live: usize, holes: usize, page: usize, touch: bool) -> Result<Pool, Failure> {
        let mut pool = Pool {
            live: Vec::with_capacity(live + holes),
            page,
            // A fixed seed per pool: the same sequence of victims on every run.
            rng: SplitMix(0x6272_6b6d_6170_7374 ^ u64::from(touch)), // "brkmapst"
            touch,
        };
        for _ in 0..live + holes {
            let mut p = Mapping::new(page, false)?;
            if touch {
                p.write(0, 1);
            }
            pool.live.push(p);
        }
        for _ in 0..holes {
            let k = pool.rng.below(pool.live.len());
            pool.live.swap_remove(k).unmap()?;
        }
        Ok(pool)
    }

    /// Replaces one random live block; returns the ns of the mmap, the write (no write
    /// in an untouched pool: only the clock readings) and the munmap.
    fn cycle(&mut self) -> Result<(f64, f64, f64), Failure> {
        let k = self.rng.below(self.live.len());
        let t0 = Instant::now();
        let mut p = Mapping::new(self.page, false)?;
        let t1 = Instant::now();
        if self.touch {
            p.write(0, 1);
        }
        let old = std::mem::replace(&mut self.live[k], p);
        let t2 = Instant::now();
        let unmapped = old.unmap();
        let t3 = Instant::now();
        unmapped?;
        Ok((
            (t1 - t0).as_nanos() as f64,
            (t2 - t1).as_nanos() as f64,
            (t3 - t2).as_nanos() as f64,
        ))
    }

    /// Unmaps every live block.
    fn drain(self) -> Result<(), Failure> {
        for p in self.live {
            p.unmap()?;
        }
        Ok(())
    }
}

/// Runs `inner` cycles of `pool`; returns the mean ns of its mmap, write and munmap,
/// one clock reading subtracted from each.
fn sample(pool: &mut Pool, inner: usize, timer: f64) -> Result<(f64, f64, f64), Failure> {
    let (mut m, mut w, mut u) = (0.0, 0.0, 0.0);
    for _ in 0..inner {
        let (a, b, c) = pool.cycle()?;
        m += a;
        w += b;
        u += c;
    }
    let n = inner as f64;
    Ok((m / n - timer, w / n - timer, u / n - timer))
}

/// Fills an untouched and a touched pool side by side, settles both, then records
/// `reps` samples of each, alternating, so that both see the same machine: a burst of
/// load from elsewhere slows neighbouring samples of both rather than one whole
/// series. Series: 0-1 untouched mmap and munmap; 2-5 touched mmap, write, munmap and
/// their sum.
fn measure(rec: &mut Recorder, args: (usize, usize, usize, f64, f64)) -> Result<(), Failure> {
    let (live, holes, page, target, timer) = args;
    let mut plain = Pool::fill(live, holes, page, false)?;
    let mut written = Pool::fill(live, holes, page, true)?;
    // Every block replaced about once: ages reach their steady spread, and the time
    // taken sizes the batches.
    let (mut t_plain, mut t_written) = (0.0, 0.0);
    for _ in 0..live {
        let t = Instant::now();
        plain.cycle()?;
        t_plain += since(t);
        let t = Instant::now();
        written.cycle()?;
        t_written += since(t);
    }
    let batch = |total: f64| ((target / (total / live as f64).max(1.0)) as usize).max(1);
    let (n_plain, n_written) = (batch(t_plain), batch(t_written));
    for s in 0..2 {
        rec.set_inner(s, n_plain);
    }
    for s in 2..6 {
        rec.set_inner(s, n_written);
    }
    for _ in 0..rec.reps() {
        let (m, _, u) = sample(&mut plain, n_plain, timer)?;
        rec.push(0, m)?;
        rec.push(1, u)?;
        let (m, w, u) = sample(&mut written, n_written, timer)?;
        rec.push(2, m)?;
        rec.push(3, w)?;
        rec.push(4, u)?;
        rec.push(5, m + w + u)?;
    }
    plain.drain()?;
    written.drain()
}

/// Measures mmap, first write and munmap of one page among many live mappings.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Vec<Measurement>, BenchError> {
    let (live, holes) = (ctx.plan.steady_live, ctx.plan.steady_holes);
    let args = (live, holes, ctx.page, ctx.plan.target_ns, ctx.timer_ns);
    let call = |key: &str, label: String, method: &'static str| Desc {
        key: key.to_string(),
        label,
        unit: "ns per call",
        method,
    };
    // Two pools of `live` blocks each share the address space.
    let among = format!("among {} live mappings", 2 * live);
    ctx.run(
        "mappings in a steady state",
        vec![
            call(
                keys::STEADY_MMAP,
                format!("mmap of one page {among}"),
                UNTOUCHED_METHOD,
            ),
            call(
                keys::STEADY_MUNMAP,
                format!("munmap of an old untouched page {among}"),
                UNTOUCHED_METHOD,
            ),
            call(
                keys::STEADY_TOUCHED_MMAP,
                format!("mmap of one page {among}, all touched"),
                TOUCHED_METHOD,
            ),
            Desc {
                key: keys::STEADY_TOUCHED_WRITE.to_string(),
                label: format!("first write to the new page {among}"),
                unit: "ns per page",
                method: TOUCHED_METHOD,
            },
            call(
                keys::STEADY_TOUCHED_MUNMAP,
                format!("munmap of an old touched page {among}"),
                TOUCHED_METHOD,
            ),
            Desc {
                key: keys::STEADY_TOUCHED_CYCLE.to_string(),
                label: format!("mmap + write + munmap of one page {among}"),
                unit: "ns per block",
                method: TOUCHED_METHOD,
            },
        ],
        |rec| {
            // Keep transparent huge pages out of the merged VMAs (which grow past
            // 2 MiB): a huge page would turn thousands of faults into one and make
            // every munmap split it. Affects only this child process.
            sys::disable_thp()?;
            measure(rec, args)
        },
    )
}
