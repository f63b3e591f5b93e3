//! The `freelist` quiz: brkmap's own free-list allocator, call by call.
//!
//! The questions are malloc.py's (what does each call return, what is the free list
//! after it), asked of an allocator a C programmer would recognise: brkmap's
//! [`FreeList`] running on the simulated kernel. Unlike malloc.py's model, its blocks
//! carry real boundary tags (a header and a footer), its heap starts empty and grows
//! with `sbrk` when nothing fits, and coalescing merges a freed block with the blocks
//! next to it *in memory*, whatever the list order. Every answer is read off the
//! allocator after the call: the pointer it returned, [`FreeList::free_list`],
//! [`FreeList::last_search`], the program break of the kernel. The worked answer says
//! which free block the call took or made, found by comparing the free lists before
//! and after.
//!
//! Each seed picks a fit policy, a list order and a coalescing rule, and ten calls.
//! For malloc.py's own questions, byte for byte, use `--ostep` ([`super::ostep`]).

use super::mt::Mt19937;
use super::{Question, Quiz, QuizError, b, exact_bytes, t};
use kernel::{Kernel, KernelConfig};
use malloc::freelist::{Coalesce, Fit, FreeList, FreeListConfig, Order};
use malloc::{Allocator, BlockKind};

/// Calls per quiz.
const CALLS: usize = 10;

/// A free list as the quiz writes it: `[offset:size]` in list order, offsets from the
/// heap start.
fn list_text(list: &[(u64, u64)], base: u64) -> String {
    if list.is_empty() {
        return "empty".to_string();
    }
    list.iter()
        .map(|&(a, s)| format!("[{}:{}]", a - base, s))
        .collect::<Vec<_>>()
        .join(" ")
}

fn fit_words(f: Fit) -> &'static str {
    match f {
        Fit::First => "first fit (the first block in list order that is big enough)",
        Fit::Next => "next fit (first fit, resuming where the last search stopped)",
        Fit::Best => "best fit (the smallest block that is big enough)",
        Fit::Worst => "worst fit (the largest block)",
    }
}

fn order_words(o: Order) -> &'static str {
    match o {
        Order::Address => "kept in address order",
        Order::Lifo => "LIFO (a freed block goes to the front)",
        Order::Fifo => "FIFO (a freed block goes to the back)",
        Order::SizeAsc => "sorted by size, smallest first",
        Order::SizeDesc => "sorted by size, largest first",
    }
}

fn coalesce_words(c: Coalesce) -> &'static str {
    match c {
        Coalesce::Immediate => "a freed block merges at once with free blocks next to it",
        Coalesce::Deferred => "free blocks merge only when a search fails, before the heap grows",
        Coalesce::None => "free blocks never merge",
    }
}

/// One call of a quiz, on blocks named by the order of their allocation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `pID = malloc(size)`.
    Malloc {
        /// The block's number.
        id: usize,
        /// Bytes requested.
        size: u64,
    },
    /// `free(pID)`.
    Free {
        /// The block's number.
        id: usize,
    },
}

/// What a quiz runs: the allocator's configuration and the calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The free list's policies (the layout is the default one).
    pub config: FreeListConfig,
    /// The calls, in order.
    pub calls: Vec<Call>,
}

/// The scenario of `seed`: a fit policy, a list order, a coalescing rule, ten calls.
pub fn scenario(seed: u64) -> Scenario {
    let mut rng = Mt19937::from_seed(i128::from(seed));
    let fit = *rng.pick(&[Fit::First, Fit::Next, Fit::Best, Fit::Worst]);
    let order = *rng.pick(&[Order::Address, Order::Lifo, Order::Fifo, Order::SizeAsc]);
    let coalesce = *rng.pick(&[
        Coalesce::Immediate,
        Coalesce::Immediate,
        Coalesce::Deferred,
        Coalesce::None,
    ]);
    let config = FreeListConfig {
        fit,
        order,
        coalesce,
        ..FreeListConfig::default()
    };
    // The calls: mostly small requests, now and then one that needs the heap to grow.
    let mut calls = Vec::new();
    let mut live: Vec<usize> = Vec::new();
    let mut next_id = 0;
    for _ in 0..CALLS {
        if live.is_empty() || rng.random() < 0.6 {
            let r = rng.random();
            let size = if r < 0.7 {
                1 + rng.below(256)
            } else if r < 0.9 {
                257 + rng.below(768)
            } else {
                1025 + rng.below(3000)
            };
            calls.push(Call::Malloc { id: next_id, size });
            live.push(next_id);
            next_id += 1;
        } else {
            let i = rng.below(live.len() as u64) as usize;
            calls.push(Call::Free { id: live.remove(i) });
        }
    }
    Scenario { config, calls }
}

/// Generates the quiz for `seed`.
pub fn generate(seed: u64) -> Result<Quiz, QuizError> {
    let Scenario { config: cfg, calls } = scenario(seed);
    let (fit, order, coalesce) = (cfg.fit, cfg.order, cfg.coalesce);
    let mut a = FreeList::new(cfg.clone())
        .map_err(|e| QuizError::Internal(format!("free-list configuration: {e}")))?;
    let mut k = Kernel::new(KernelConfig::default());
    let base = k.program_break();
    let next_id = calls
        .iter()
        .filter(|c| matches!(c, Call::Malloc { .. }))
        .count();

    let setup = vec![
        format!(
            "The allocator: a free list over brk, {}. The list is {}; {}.",
            fit_words(fit),
            order_words(order),
            coalesce_words(coalesce)
        ),
        format!(
            "Each block has a header of {} bytes, the payload and a footer of {} bytes, \
             rounded up to {} bytes, at least {}; a remainder under {} bytes is not split \
             off.",
            cfg.header,
            cfg.footer,
            cfg.align,
            cfg.min_block(),
            cfg.split_threshold.max(cfg.min_block())
        ),
        format!(
            "The heap starts empty at the program break. When nothing fits, sbrk grows \
             it by at least {}, the new break rounded up to a page; the first block \
             starts {} bytes in, so that payloads are {}-byte aligned.",
            exact_bytes(cfg.grow),
            cfg.header,
            cfg.align
        ),
        "Offsets are from the heap start; a free list is written [offset:size], in \
         list order; pointers are payloads (block + header)."
            .to_string(),
        "For each call: what does it return, does it call sbrk, how many nodes does \
         the search visit, and what is the free list after it?"
            .to_string(),
    ];

    let mut questions = Vec::new();
    let mut ptrs: Vec<u64> = vec![0; next_id];
    let mut sizes: Vec<u64> = vec![0; next_id];
    for call in &calls {
        let before = a.free_list();
        let brk_before = k.program_break();
        let mut q = Question::new();
        match *call {
            Call::Malloc { id, size } => {
                let p = a
                    .malloc(&mut k, size)
                    .map_err(|e| QuizError::Internal(format!("malloc({size}): {e}")))?;
                ptrs[id] = p;
                let block = p - cfg.header;
                let bsize = block_size(&a, block)?;
                sizes[id] = bsize;
                q.line(vec![t(format!("p{id} = malloc({size})"))]);
                q.line(vec![
                    t("returns heap+"),
                    b("returned offset", p - base),
                    t("   sbrk: "),
                    b("sbrk", sbrk_text(brk_before, k.program_break())),
                    t("   nodes searched: "),
                    b("nodes searched", a.last_search()),
                ]);
                q.line(vec![
                    t("free list: "),
                    b("free list", list_text(&a.free_list(), base)),
                ]);
                q.worked(format!(
                    "{size} bytes + {} of tags, rounded up to {}: a block of {} bytes{}.",
                    cfg.header + cfg.footer,
                    cfg.align,
                    bsize,
                    if bsize > (size + cfg.header + cfg.footer).next_multiple_of(cfg.align) {
                        " (the whole free block: the remainder was too small to split)"
                    } else {
                        ""
                    }
                ));
                let from = before
                    .iter()
                    .find(|&&(fa, fs)| fa <= block && block < fa + fs)
                    .copied();
                match from {
                    Some((fa, fs)) => q.worked(format!(
                        "It takes the free block [{}:{}]; the block starts at {} and its \
                         payload {} bytes later.",
                        fa - base,
                        fs,
                        block - base,
                        cfg.header
                    )),
                    None if k.program_break() != brk_before => q.worked(format!(
                        "No free block is big enough: the heap grows from {} to {} bytes \
                         and the block is carved from the new space at {}.",
                        brk_before - base,
                        k.program_break() - base,
                        block - base
                    )),
                    None => q.worked(format!(
                        "No free block was big enough until the search merged adjacent \
                         free blocks; the block comes from the merged space at {}.",
                        block - base
                    )),
                };
            }
            Call::Free { id } => {
                a.free(&mut k, ptrs[id])
                    .map_err(|e| QuizError::Internal(format!("free(p{id}): {e}")))?;
                let block = ptrs[id] - cfg.header;
                q.line(vec![t(format!("free(p{id})"))]);
                q.line(vec![
                    t("sbrk: "),
                    b("sbrk", sbrk_text(brk_before, k.program_break())),
                    t("   free list: "),
                    b("free list", list_text(&a.free_list(), base)),
                ]);
                let after = a.free_list();
                let holder = after
                    .iter()
                    .find(|&&(fa, fs)| fa <= block && block < fa + fs)
                    .copied();
                q.worked(match holder {
                    Some((fa, fs)) if fa == block && fs == sizes[id] => format!(
                        "The block [{}:{}] goes back on the list as it is.",
                        block - base,
                        fs
                    ),
                    Some((fa, fs)) => format!(
                        "The block [{}:{}] merges with its free neighbour{} into [{}:{}].",
                        block - base,
                        sizes[id],
                        if fa < block && fa + fs > block + sizes[id] {
                            "s on both sides"
                        } else if fa < block {
                            " before it"
                        } else {
                            " after it"
                        },
                        fa - base,
                        fs
                    ),
                    None => format!(
                        "The block [{}:{}] ends up at the top of the heap, which shrinks: \
                         the break goes back to {}.",
                        block - base,
                        sizes[id],
                        k.program_break() - base
                    ),
                });
            }
        }
        questions.push(q);
    }

    let s = a.stats();
    let list = a.free_list();
    let mut q = Question::new();
    q.line(vec![
        t("After the last call: heap size "),
        b("heap size", s.arena),
        t(" bytes; free: "),
        b("free bytes", s.fordblks),
        t(" bytes in "),
        b("free blocks", list.len()),
        t(" blocks; largest free block "),
        b("largest free block", s.largest_free),
        t(" bytes."),
    ]);
    q.worked(format!(
        "The heap is the break minus the start: {} bytes. Blocks in use hold {} bytes \
         (tags and padding included); the rest is free.",
        k.program_break() - base,
        s.allocated
    ));
    questions.push(q);

    Ok(Quiz {
        kind: super::Kind::Freelist,
        seed,
        title: format!(
            "A free-list allocator over brk, call by call ({}, {} list, coalescing {}).",
            fit_name(fit),
            order_name(order),
            coalesce_name(coalesce)
        ),
        setup,
        questions,
    })
}

fn fit_name(f: Fit) -> &'static str {
    match f {
        Fit::First => "first fit",
        Fit::Next => "next fit",
        Fit::Best => "best fit",
        Fit::Worst => "worst fit",
    }
}

fn order_name(o: Order) -> &'static str {
    match o {
        Order::Address => "address-ordered",
        Order::Lifo => "LIFO",
        Order::Fifo => "FIFO",
        Order::SizeAsc => "size-ordered",
        Order::SizeDesc => "size-descending",
    }
}

fn coalesce_name(c: Coalesce) -> &'static str {
    match c {
        Coalesce::Immediate => "immediate",
        Coalesce::Deferred => "deferred",
        Coalesce::None => "off",
    }
}

/// `none`, or the change of the break (`+4096`).
fn sbrk_text(before: u64, after: u64) -> String {
    if after > before {
        format!("+{}", after - before)
    } else if after < before {
        format!("-{}", before - after)
    } else {
        "none".to_string()
    }
}

/// The size of the block in use at `addr`, from the allocator's heap map.
fn block_size(a: &FreeList, addr: u64) -> Result<u64, QuizError> {
    let mut blocks = Vec::new();
    a.blocks(&mut blocks);
    blocks
        .iter()
        .find(|bl| bl.addr == addr && bl.kind == BlockKind::Used)
        .map(|bl| bl.size)
        .ok_or_else(|| QuizError::Internal(format!("no block in use at {addr:#x}")))
}
