//! Test helpers shared by the glibc model's tests: a small reader for CS:APP-style
//! `.rep` op streams (plus `t PAD` for `malloc_trim`), a replayer that writes the
//! per-op CSV of `../shared/traces/truth/` from the model, a CSV comparison that
//! reports the first differing row, and a seeded generator of random op streams.
//!
//! The workload crate has the project's real trace reader; this one exists so that
//! the malloc crate can test itself without depending on it.

#![allow(dead_code)]

use kernel::{Kernel, KernelConfig};
use malloc::Allocator;
use malloc::glibc::{Glibc, SyscallEvent, Tunables};
use malloc::options::Options;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One op of a stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `a id size`: malloc.
    Malloc { id: u64, size: u64 },
    /// `r id size`: realloc (of NULL when the id holds no block).
    Realloc { id: u64, size: u64 },
    /// `f id`: free (of NULL when the id holds no block).
    Free { id: u64 },
    /// `t pad`: malloc_trim(pad).
    Trim { pad: u64 },
}

/// Parses a `.rep` text: four header lines, then one op a line.
pub fn parse_rep(text: &str) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate().skip(4) {
        let mut f = line.split_whitespace();
        let Some(kind) = f.next() else { continue };
        let mut num = |what: &str| -> Result<u64, String> {
            f.next()
                .ok_or_else(|| format!("line {}: missing {what}", i + 1))?
                .parse()
                .map_err(|e| format!("line {}: bad {what}: {e}", i + 1))
        };
        ops.push(match kind {
            "a" => Op::Malloc {
                id: num("id")?,
                size: num("size")?,
            },
            "r" => Op::Realloc {
                id: num("id")?,
                size: num("size")?,
            },
            "f" => Op::Free { id: num("id")? },
            "t" => Op::Trim { pad: num("pad")? },
            other => return Err(format!("line {}: unknown op `{other}`", i + 1)),
        });
    }
    Ok(ops)
}

/// Writes ops as a `.rep` text.
pub fn write_rep(ops: &[Op]) -> String {
    let ids = ops
        .iter()
        .filter_map(|op| match *op {
            Op::Malloc { id, .. } | Op::Realloc { id, .. } | Op::Free { id } => Some(id + 1),
            Op::Trim { .. } => None,
        })
        .max()
        .unwrap_or(0);
    let mut s = format!("0\n{ids}\n{}\n1\n", ops.len());
    for op in ops {
        match *op {
            Op::Malloc { id, size } => writeln!(s, "a {id} {size}"),
            Op::Realloc { id, size } => writeln!(s, "r {id} {size}"),
            Op::Free { id } => writeln!(s, "f {id}"),
            Op::Trim { pad } => writeln!(s, "t {pad}"),
        }
        .unwrap();
    }
    s
}

/// The CSV header, plain (12 columns) or extended with the other four mallinfo2
/// fields (16 columns).
pub fn header(extended: bool) -> &'static str {
    if extended {
        "op,kind,id,size,region,offset,arena,hblks,hblkhd,uordblks,fordblks,keepcost,ordblks,smblks,usmblks,fsmblks"
    } else {
        "op,kind,id,size,region,offset,arena,hblks,hblkhd,uordblks,fordblks,keepcost"
    }
}

/// A fresh machine and a glibc model on it, set up like the real replayer's
/// process; `block` maps a page `block` bytes above the initial break so that the
/// heap cannot grow past it (the replayer's `-b`).
pub fn setup(glibc: Glibc, block: Option<u64>) -> (Kernel, Glibc) {
    setup_shifted(glibc, block, 0)
}

/// Like [`setup`], with the break first moved `shift` bytes up (the replayer's
/// `-s`), so that glibc finds a heap start that is not 16-byte or page aligned.
pub fn setup_shifted(glibc: Glibc, block: Option<u64>, shift: u64) -> (Kernel, Glibc) {
    // The real machine cannot move its break past the 47-bit user address space;
    // a data limit of 64 TiB stands for that in the simulated one.
    let mut k = Kernel::new(KernelConfig {
        data_limit: Some(1 << 46),
        ..KernelConfig::default()
    });
    if let Some(b) = block {
        let at = (k.config().heap_start + b + 4095) & !4095;
        k.mmap(at, 4096, kernel::Prot::NONE, kernel::MapFlags::FIXED)
            .expect("the blocking page maps");
    }
    if shift != 0 {
        let start = k.config().heap_start;
        assert_eq!(k.brk(start + shift), start + shift, "the break moves");
    }
    (k, glibc)
}

/// The options of a stream written in its file name,
/// `NAME[.shift-BYTES][.block-BYTES][.tun-NAME=VALUE...]`: the model with those
/// tunables, the blocking page's distance (the replayer's `-b`) and the break's shift
/// (`-s`).
pub fn stem_options(stem: &str) -> (Glibc, Option<u64>, u64) {
    let mut tunables = Vec::new();
    let mut block = None;
    let mut shift = 0;
    for part in stem.split('.').skip(1) {
        if let Some(s) = part.strip_prefix("shift-") {
            shift = s.parse().expect("shift-BYTES");
        } else if let Some(b) = part.strip_prefix("block-") {
            block = Some(b.parse().expect("block-BYTES"));
        } else if let Some(t) = part.strip_prefix("tun-") {
            tunables.push(t.split_once('=').expect("tun-NAME=VALUE"));
        }
    }
    let (tun, _) = Tunables::from_settings(&tunables).expect("valid tunables");
    (
        Glibc::with_tunables(tun).expect("valid tunables"),
        block,
        shift,
    )
}

/// Replays `ops` through the model and returns the per-op CSV (header included).
pub fn replay(k: &mut Kernel, g: &mut Glibc, ops: &[Op], extended: bool) -> String {
    let base = k.config().heap_start;
    let mut ids: HashMap<u64, u64> = HashMap::new();
    let mut out = String::with_capacity(ops.len() * 64);
    out.push_str(header(extended));
    out.push('\n');
    for (n, op) in ops.iter().enumerate() {
        let (kind, id, size, ptr) = match *op {
            Op::Malloc { id, size } => {
                let p = match g.malloc(k, size) {
                    Ok(p) => p,
                    Err(malloc::AllocError::OutOfMemory { .. }) => 0,
                    Err(e) => panic!("op {n}: malloc({size}): {e}"),
                };
                ids.insert(id, p);
                ('a', id, size, p)
            }
            Op::Realloc { id, size } => {
                let old = ids.get(&id).copied().unwrap_or(0);
                let p = match g.realloc(k, old, size) {
                    Ok(p) => p,
                    Err(malloc::AllocError::OutOfMemory { .. }) => 0,
                    Err(e) => panic!("op {n}: realloc({old:#x}, {size}): {e}"),
                };
                if p != 0 || size == 0 {
                    ids.insert(id, p);
                }
                ('r', id, size, p)
            }
            Op::Free { id } => {
                let old = ids.insert(id, 0).unwrap_or(0);
                if let Err(e) = g.free(k, old) {
                    panic!("op {n}: free({old:#x}): {e}");
                }
                ('f', id, 0, 0)
            }
            Op::Trim { pad } => {
                if let Err(e) = g.trim(k, pad) {
                    panic!("op {n}: malloc_trim({pad}): {e}");
                }
                ('t', 0, pad, 0)
            }
        };
        let m = g.mallinfo2();
        let brk = k.program_break();
        let region = if ptr == 0 {
            "-,0".to_string()
        } else if ptr >= base && ptr < brk {
            format!("heap,{}", ptr - base)
        } else {
            "mmap,0".to_string()
        };
        write!(
            out,
            "{n},{kind},{id},{size},{region},{},{},{},{},{},{}",
            m.arena, m.hblks, m.hblkhd, m.uordblks, m.fordblks, m.keepcost
        )
        .unwrap();
        if extended {
            write!(
                out,
                ",{},{},{},{}",
                m.ordblks, m.smblks, m.usmblks, m.fsmblks
            )
            .unwrap();
        }
        out.push('\n');
    }
    out
}

/// Compares a model CSV with the expected one row by row; the error names the first
/// differing row with both lines. Rows of the expected file may have 12 or 16
/// columns; `actual` must have at least as many.
pub fn compare_csv(name: &str, expected: &str, actual: &str) -> Result<usize, String> {
    let mut e = expected.lines();
    let mut a = actual.lines();
    let mut rows: usize = 0;
    loop {
        match (e.next(), a.next()) {
            (None, None) => return Ok(rows.saturating_sub(1)),
            (Some(x), Some(y)) => {
                let cols = x.split(',').count();
                let y_cut: Vec<&str> = y.split(',').take(cols).collect();
                let y_cut = y_cut.join(",");
                if x != y_cut {
                    return Err(format!(
                        "{name}: first mismatch at line {} (op {}):\n  real : {x}\n  model: {y_cut}",
                        rows + 1,
                        rows as i64 - 1
                    ));
                }
            }
            (Some(x), None) => {
                return Err(format!("{name}: model output ends early; real has: {x}"));
            }
            (None, Some(y)) => {
                return Err(format!("{name}: model output has extra rows: {y}"));
            }
        }
        rows += 1;
    }
}

/// Formats recorded syscalls as the normalized lines the strace comparison uses:
/// `brk 0` (the break query), `brk +N`, `mmap LEN`, `munmap LEN`, `mremap OLD NEW`,
/// `madvise OFFSET LEN` (offset from the initial break), with ` fail` appended when
/// the kernel refused.
pub fn syscall_lines(events: &[SyscallEvent], base: u64) -> Vec<String> {
    events
        .iter()
        .map(|e| match *e {
            SyscallEvent::BrkQuery { .. } => "brk 0".to_string(),
            SyscallEvent::Sbrk { increment, ok } => {
                format!("brk {increment:+}{}", if ok { "" } else { " fail" })
            }
            SyscallEvent::Mmap { len, addr } => {
                format!("mmap {len}{}", if addr.is_some() { "" } else { " fail" })
            }
            SyscallEvent::Munmap { len, .. } => format!("munmap {len}"),
            SyscallEvent::Mremap {
                old_len,
                new_len,
                new_addr,
                ..
            } => format!(
                "mremap {old_len} {new_len}{}",
                if new_addr.is_some() { "" } else { " fail" }
            ),
            SyscallEvent::MadviseDontNeed { addr, len } => {
                if addr >= base && addr - base < 1 << 40 {
                    format!("madvise {} {len}", addr - base)
                } else {
                    format!("madvise mmap {len}")
                }
            }
        })
        .collect()
}

/// `crates/malloc/tests/data`.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// `../shared/traces` beside the repository root, if present.
pub fn shared_traces() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces");
    p.is_dir().then_some(p)
}

/// SplitMix64: a tiny seeded generator, enough for test streams.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// Sizes at the edges of glibc's size classes.
const EDGES: [u64; 28] = [
    0,
    1,
    8,
    24,
    25,
    40,
    100,
    104,
    120,
    121,
    128,
    136,
    1000,
    1008,
    1009,
    1016,
    1024,
    1032,
    1033,
    4072,
    4096,
    65536,
    131048,
    131049,
    131072,
    200000,
    1 << 20,
    (32 << 20) - 8,
];

/// A request size drawn from a mix that crosses every boundary of the model:
/// tcache, fastbins, smallbins, largebins, the mmap threshold.
pub fn random_size(r: &mut Rng) -> u64 {
    match r.next() % 100 {
        0..=29 => r.range(0, 128),
        30..=54 => r.range(129, 1040),
        55..=74 => r.range(1041, 8192),
        75..=86 => r.range(8193, 100_000),
        87..=93 => r.range(100_000, 600_000),
        94..=95 => r.range(600_000, 3 << 20),
        _ => EDGES[(r.next() % EDGES.len() as u64) as usize],
    }
}

/// A random op stream of `n` ops: mallocs, frees of random live blocks, reallocs
/// that grow and shrink (and realloc of NULL, and to 0), occasional trims, and
/// bursts that allocate then free many blocks (to reach the trim and consolidation
/// thresholds).
pub fn random_ops(seed: u64, n: usize) -> Vec<Op> {
    let mut r = Rng::new(seed);
    let mut ops = Vec::with_capacity(n);
    let mut live: Vec<u64> = Vec::new();
    let mut next_id = 0u64;
    while ops.len() < n {
        let roll = r.next() % 1000;
        if roll < 8 {
            // A burst: many blocks of one class, then most of them freed in random order.
            let k = r.range(10, 120) as usize;
            let cls = random_size(&mut r).min(70_000);
            let mut burst = Vec::new();
            for _ in 0..k {
                let size = (cls + r.range(0, 64)).min(1 << 20);
                ops.push(Op::Malloc { id: next_id, size });
                burst.push(next_id);
                next_id += 1;
            }
            while burst.len() > k / 4 {
                let i = (r.next() % burst.len() as u64) as usize;
                let id = burst.swap_remove(i);
                ops.push(Op::Free { id });
            }
            live.extend(burst);
        } else if roll < 18 {
            let pad = [0, 0, 4096, 65536, 131072, 1 << 20][(r.next() % 6) as usize];
            ops.push(Op::Trim { pad });
        } else if roll < 470 || live.is_empty() {
            ops.push(Op::Malloc {
                id: next_id,
                size: random_size(&mut r),
            });
            live.push(next_id);
            next_id += 1;
        } else if roll < 830 {
            let i = (r.next() % live.len() as u64) as usize;
            let id = live.swap_remove(i);
            ops.push(Op::Free { id });
        } else {
            let i = (r.next() % live.len() as u64) as usize;
            let id = live[i];
            let size = match r.next() % 10 {
                0 => 0,
                1..=4 => random_size(&mut r),
                _ => r.range(1, 2048),
            };
            if r.pct(5) {
                // realloc of NULL: a fresh id.
                ops.push(Op::Realloc { id: next_id, size });
                if size != 0 {
                    live.push(next_id);
                }
                next_id += 1;
            } else {
                ops.push(Op::Realloc { id, size });
                if size == 0 {
                    live.swap_remove(i);
                }
            }
        }
        if live.len() > 3000 {
            let i = (r.next() % live.len() as u64) as usize;
            let id = live.swap_remove(i);
            ops.push(Op::Free { id });
        }
    }
    ops.truncate(n);
    ops
}
