//! The `glibc` quiz: what glibc's malloc does with each call, and what `mallinfo2` says.
//!
//! glibc 2.36's malloc (ptmalloc2) serves a request from the first place that has a
//! chunk of the right size: the per-thread cache (tcache: up to 7 chunks per size, up
//! to 1040-byte chunks), then the fastbins (chunks up to 128 bytes), then the bins
//! (the unsorted bin, where freed chunks wait, then the sorted small and large bins),
//! then the *top* chunk at the end of the heap, which grows with `brk` when it is too
//! small. A request at or above the mmap threshold (128 KiB at first) gets a mapping
//! of its own instead. `free` puts a chunk back in the first of these that takes it:
//! the tcache if its bin has room, else a fastbin if it is small, else it merges with
//! free neighbours and goes to the unsorted bin, or into top if it borders top. A
//! mapped chunk is unmapped at once, and the threshold rises to its size (the
//! *dynamic* threshold), so the next request of that size comes from the heap.
//!
//! The quiz runs a seeded sequence of calls through brkmap's glibc model on the
//! simulated kernel and reads every answer off the model after the call:
//! - the syscalls from [`Glibc::take_syscalls`];
//! - where a chunk came from or went, from the heap map ([`malloc::Allocator::blocks`])
//!   before and after the call: a chunk that was *cached* (tcache or fastbin) or
//!   *free* (in a bin) or part of *top*; tcache and fastbin are told apart by
//!   `mallinfo2().smblks`, the number of chunks in fastbins, which moves when (and only
//!   when) a fastbin gains or loses a chunk;
//! - `mallinfo2` at the end from [`Glibc::mallinfo2`].
//!
//! The model has no public view of its bins one by one (which smallbin or largebin a
//! chunk sits in, how many chunks a tcache bin holds); a `Glibc::bins()` listing them
//! would let the quiz ask about those too.

use super::mt::Mt19937;
use super::{Question, Quiz, QuizError, b, exact_bytes, t};
use kernel::{Kernel, KernelConfig};
use malloc::glibc::{Glibc, SyscallEvent};
use malloc::{Allocator, Block, BlockKind};

pub use super::freelist::Call;

/// glibc's `request2size`: the chunk a request of `n` bytes needs on x86-64, the size
/// word included (the next chunk's `prev_size` word is usable), 16-byte aligned, at
/// least 32 bytes.
pub fn request2size(n: u64) -> u64 {
    ((n + 8 + 15) & !15).max(32)
}

/// glibc's `set_max_fast`: the largest fastbin chunk for a `max_fast` request limit
/// (0 turns the fastbins off).
fn max_fast_chunk(max_fast: u64) -> u64 {
    if max_fast == 0 {
        0
    } else {
        (max_fast + 8) & !15
    }
}

/// The calls of a quiz, with block ids handed out in order.
#[derive(Default)]
struct Calls {
    out: Vec<Call>,
    next: usize,
}

impl Calls {
    fn malloc(&mut self, size: u64) -> usize {
        self.out.push(Call::Malloc {
            id: self.next,
            size,
        });
        self.next += 1;
        self.next - 1
    }

    fn free(&mut self, id: usize) {
        self.out.push(Call::Free { id });
    }

    /// A large block: mapped, freed (the threshold rises), asked for again.
    fn large(&mut self, rng: &mut Mt19937) {
        let size = *rng.pick(&[140_000u64, 200_000, 300_000]);
        let a = self.malloc(size);
        self.free(a);
        self.malloc(size);
    }
}

/// The calls: a burst of same-size blocks freed together (sometimes more than the
/// tcache holds), one reuse, and one of: a large block (mmap, then the dynamic
/// threshold), or a medium block freed into the unsorted bin and split again.
/// The calls of `seed`'s quiz.
pub fn scenario(seed: u64) -> Vec<Call> {
    calls(&mut Mt19937::from_seed(i128::from(seed)))
}

fn calls(rng: &mut Mt19937) -> Vec<Call> {
    let mut c = Calls::default();
    let large_first = rng.random() < 0.5;
    if large_first {
        c.large(rng);
    }
    let small = *rng.pick(&[24u64, 40, 56, 72, 100, 120, 200, 500, 1000]);
    // Half the bursts free more chunks of one size than a tcache bin holds.
    let n = *rng.pick(&[4usize, 6, 8, 9]);
    let burst: Vec<usize> = (0..n).map(|_| c.malloc(small)).collect();
    if rng.random() < 0.5 {
        burst.iter().rev().for_each(|&id| c.free(id));
    } else {
        burst.iter().for_each(|&id| c.free(id));
    }
    c.malloc(small);
    if !large_first {
        if rng.random() < 0.5 {
            c.large(rng);
        } else {
            let medium = *rng.pick(&[1500u64, 3000, 5000]);
            let m = c.malloc(medium);
            c.malloc(16 + rng.below(48));
            c.free(m);
            c.malloc(medium / 2 + rng.below(medium / 4));
        }
    }
    c.out
}

/// The block containing `addr`.
fn holder(blocks: &[Block], addr: u64) -> Option<Block> {
    blocks
        .iter()
        .find(|bl| bl.addr <= addr && addr < bl.addr + bl.size)
        .copied()
}

fn syscalls_text(events: &[SyscallEvent]) -> String {
    if events.is_empty() {
        return "none".to_string();
    }
    events
        .iter()
        .map(|e| match *e {
            SyscallEvent::BrkQuery { .. } => "brk(NULL)".to_string(),
            SyscallEvent::Sbrk { increment, .. } if increment >= 0 => {
                format!("brk(+{})", exact_bytes(increment as u64))
            }
            SyscallEvent::Sbrk { increment, .. } => {
                format!("brk(-{})", exact_bytes(increment.unsigned_abs()))
            }
            SyscallEvent::Mmap { len, .. } => format!("mmap({})", exact_bytes(len)),
            SyscallEvent::Munmap { len, .. } => format!("munmap({})", exact_bytes(len)),
            SyscallEvent::Mremap { new_len, .. } => format!("mremap({})", exact_bytes(new_len)),
            SyscallEvent::MadviseDontNeed { len, .. } => {
                format!("madvise({}, DONTNEED)", exact_bytes(len))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Generates the quiz for `seed`.
pub fn generate(seed: u64) -> Result<Quiz, QuizError> {
    let calls = scenario(seed);
    let mut k = Kernel::new(KernelConfig::default());
    let base = k.program_break();
    let mut g = Glibc::new();
    g.record_syscalls(true);
    let tun = g.tunables().clone();
    let where_ = |addr: u64, mapped: bool| {
        if mapped {
            format!("{addr:#x}")
        } else {
            format!("heap+{:#x}", addr - base)
        }
    };

    let setup = vec![
        "glibc 2.36 malloc (brkmap's model) in a fresh single-threaded process.".to_string(),
        format!(
            "tcache: up to {} chunks per size, for requests up to {} bytes; fastbins: \
             chunks up to {} bytes; mmap threshold {} (dynamic); trim threshold {}; \
             top_pad {}.",
            tun.tcache_count_or_default(),
            tun.tcache_max_or_default(),
            max_fast_chunk(tun.max_fast_or_default()),
            exact_bytes(g.mmap_threshold()),
            exact_bytes(g.trim_threshold()),
            exact_bytes(tun.top_pad_or_default())
        ),
        "A chunk is request + 8 bytes rounded up to 16, at least 32 (request2size). \
         Heap addresses are offsets from the initial program break."
            .to_string(),
        "For each malloc: the chunk's size and place, where it comes from (tcache, \
         fastbin, a bin, top, or a mapping of its own) and the syscalls. For each \
         free: where the chunk goes and the syscalls."
            .to_string(),
    ];

    let mut questions = Vec::new();
    let mut ptrs = vec![0u64; calls.len()];
    let mut requested = vec![0u64; calls.len()];
    for call in &calls {
        let mut before = Vec::new();
        g.blocks(&mut before);
        let fast_before = g.mallinfo2().smblks;
        let threshold_before = g.mmap_threshold();
        let mut q = Question::new();
        match *call {
            Call::Malloc { id, size } => {
                let p = g
                    .malloc(&mut k, size)
                    .map_err(|e| QuizError::Internal(format!("malloc({size}): {e}")))?;
                ptrs[id] = p;
                requested[id] = size;
                let events = g.take_syscalls();
                let mut after = Vec::new();
                g.blocks(&mut after);
                let c = p - 16;
                let chunk = after
                    .iter()
                    .find(|bl| bl.addr == c && bl.kind == BlockKind::Used)
                    .copied()
                    .ok_or_else(|| QuizError::Internal(format!("no chunk at {c:#x}")))?;
                let fast_after = g.mallinfo2().smblks;
                let from = if chunk.mapped {
                    "a mapping of its own"
                } else {
                    match holder(&before, c) {
                        Some(bl) if bl.kind == BlockKind::Cached && fast_after < fast_before => {
                            "a fastbin"
                        }
                        Some(bl) if bl.kind == BlockKind::Cached => "the tcache",
                        Some(bl) if bl.kind == BlockKind::Free => "a bin",
                        _ => "top",
                    }
                };
                q.line(vec![t(format!("p{id} = malloc({size})"))]);
                q.line(vec![
                    t("chunk: "),
                    b("chunk size", chunk.size),
                    t(" bytes at "),
                    b("chunk address", where_(c, chunk.mapped)),
                    t("   from: "),
                    b("from", from),
                ]);
                q.line(vec![t("syscalls: "), b("syscalls", syscalls_text(&events))]);
                if chunk.mapped {
                    q.worked(format!(
                        "{size} bytes >= the mmap threshold ({}): the chunk gets a mapping \
                         of its own, rounded up to whole pages.",
                        exact_bytes(threshold_before)
                    ));
                } else {
                    let need = request2size(size);
                    q.worked(if need == chunk.size {
                        format!("request2size({size}) = {need}.")
                    } else {
                        format!(
                            "request2size({size}) = {need}; the chunk found is {} bytes (a \
                             remainder under 32 bytes is not split off).",
                            chunk.size
                        )
                    });
                    q.worked(match from {
                        "the tcache" => format!(
                            "The tcache bin of {}-byte chunks has one: tcache_get, no search.",
                            chunk.size
                        ),
                        "a fastbin" => format!(
                            "The tcache bin of {}-byte chunks is empty but the fastbin is \
                             not (chunks left there move to the tcache).",
                            chunk.size
                        ),
                        "a bin" => "No cached chunk fits; a free chunk in the bins does \
                                    (split if larger)."
                            .to_string(),
                        _ if events.is_empty() => "Nothing cached or binned fits: the \
                                                   chunk is split off the top chunk."
                            .to_string(),
                        _ => format!(
                            "Top is too small: sysmalloc grows the heap by request + \
                             top_pad ({}), rounded up to pages{}.",
                            exact_bytes(tun.top_pad_or_default()),
                            if events
                                .iter()
                                .any(|e| matches!(e, SyscallEvent::BrkQuery { .. }))
                            {
                                "; libc's first sbrk asks the kernel for the break first"
                            } else {
                                ""
                            }
                        ),
                    });
                    if size >= 128 * 1024 && size < threshold_before {
                        q.worked(format!(
                            "{size} bytes would have been mapped at first, but the \
                             threshold rose to {} when a mapped chunk was freed.",
                            exact_bytes(threshold_before)
                        ));
                    }
                }
                if before.is_empty()
                    && let Some(meta) = after.iter().find(|bl| bl.kind == BlockKind::Meta)
                {
                    q.worked(format!(
                        "The first malloc also makes the tcache itself: a chunk of {} bytes at \
                         {}, from a heap that brk creates.",
                        meta.size,
                        where_(meta.addr, false)
                    ));
                }
            }
            Call::Free { id } => {
                let p = ptrs[id];
                let c = p - 16;
                let chunk = holder(&before, c)
                    .filter(|bl| bl.addr == c)
                    .ok_or_else(|| QuizError::Internal(format!("no chunk at {c:#x}")))?;
                g.free(&mut k, p)
                    .map_err(|e| QuizError::Internal(format!("free(p{id}): {e}")))?;
                let events = g.take_syscalls();
                let mut after = Vec::new();
                g.blocks(&mut after);
                let fast_after = g.mallinfo2().smblks;
                let munmapped = events
                    .iter()
                    .any(|e| matches!(e, SyscallEvent::Munmap { .. }));
                let now = holder(&after, c);
                let (goes, why) = match now {
                    _ if munmapped => (
                        "munmap: back to the kernel".to_string(),
                        format!(
                            "A mapped chunk is unmapped at once; the mmap threshold rises \
                             to its size: now {}.",
                            exact_bytes(g.mmap_threshold())
                        ),
                    ),
                    Some(bl) if bl.kind == BlockKind::Cached && fast_after > fast_before => (
                        format!("a fastbin ({}-byte chunks)", chunk.size),
                        format!(
                            "Its tcache bin is full ({} chunks) and it is small enough for \
                             the fastbins: pushed there, not merged.",
                            tun.tcache_count_or_default()
                        ),
                    ),
                    Some(bl) if bl.kind == BlockKind::Cached => (
                        format!("the tcache ({}-byte chunks)", chunk.size),
                        "Its tcache bin has room: pushed there, still counted as in use, \
                         not merged."
                            .to_string(),
                    ),
                    Some(bl) if bl.kind == BlockKind::Free => (
                        if bl.addr == c && bl.size == chunk.size {
                            "the unsorted bin".to_string()
                        } else {
                            format!("the unsorted bin, merged: {} bytes", bl.size)
                        },
                        if bl.addr == c && bl.size == chunk.size {
                            "Too big for the tcache and fastbins (or their bins are full), \
                             with no free neighbour: it waits in the unsorted bin."
                                .to_string()
                        } else {
                            format!(
                                "It merges with its free neighbours into one chunk of {} bytes at \
                                 {}, which goes to the unsorted bin.",
                                bl.size,
                                where_(bl.addr, false)
                            )
                        },
                    ),
                    Some(bl) if bl.kind == BlockKind::Top => (
                        "top (merged into it)".to_string(),
                        format!(
                            "It borders the top chunk and merges into it: top is now {} \
                             bytes{}.",
                            bl.size,
                            if events.is_empty() {
                                ""
                            } else {
                                ", above the trim threshold: the heap shrinks"
                            }
                        ),
                    ),
                    _ => (
                        "top, and the heap shrinks".to_string(),
                        "It merges into top, which exceeds the trim threshold: the break \
                         goes down."
                            .to_string(),
                    ),
                };
                q.line(vec![t(format!(
                    "free(p{id})   (its chunk: {} bytes, for malloc({}))",
                    chunk.size, requested[id]
                ))]);
                q.line(vec![
                    t("goes to: "),
                    b("goes to", goes),
                    t("   syscalls: "),
                    b("syscalls", syscalls_text(&events)),
                ]);
                q.worked(why);
            }
        }
        questions.push(q);
    }

    let mi = g.mallinfo2();
    let mut q = Question::new();
    q.line(vec![t("mallinfo2() after the last call:")]);
    q.line(vec![
        t("arena "),
        b("arena", mi.arena),
        t("  ordblks "),
        b("ordblks", mi.ordblks),
        t("  smblks "),
        b("smblks", mi.smblks),
        t("  hblks "),
        b("hblks", mi.hblks),
        t("  hblkhd "),
        b("hblkhd", mi.hblkhd),
    ]);
    q.line(vec![
        t("uordblks "),
        b("uordblks", mi.uordblks),
        t("  fordblks "),
        b("fordblks", mi.fordblks),
        t("  keepcost "),
        b("keepcost", mi.keepcost),
    ]);
    q.worked("arena: heap bytes from brk; hblks/hblkhd: mapped chunks and their bytes.");
    q.worked("ordblks: free chunks in bins plus one for top; smblks: chunks in fastbins.");
    q.worked("fordblks: top + binned + fastbin bytes; uordblks = arena - fordblks, so");
    q.worked("tcache chunks count as in use; keepcost: the top chunk's size.");
    questions.push(q);

    Ok(Quiz {
        kind: super::Kind::Glibc,
        seed,
        title: "glibc malloc: tcache, fastbins, bins, top, brk and mmap.".into(),
        setup,
        questions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request2size_matches_glibc_sizes() {
        assert_eq!(request2size(0), 32);
        assert_eq!(request2size(24), 32);
        assert_eq!(request2size(25), 48);
        assert_eq!(request2size(100), 112);
        assert_eq!(request2size(120), 128);
    }
}
