//! What the fuzz targets share: a reader that turns the fuzzer's bytes into numbers,
//! sizes and choices, and the few rules about which failures are findings.
//!
//! Every target decodes its input with [`Bytes`]: reads past the end give zeros, so
//! every input decodes to something and a longer input only adds steps. Sizes are
//! drawn from [`Bytes::size`], which favours the values bugs live near (0, 1, page
//! and huge-page edges, powers of two and their neighbours, the largest values).

use kernel::PAGE_SIZE;

/// The fuzzer's bytes, read front to back.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// A reader of `data`.
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes { data }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// A flag.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::from(self.u16()) % n
        }
    }

    /// One of `items`.
    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    /// A byte count at most `max`, biased towards edges: small numbers, multiples of the
    /// page size and their neighbours, powers of two and their neighbours, and (when
    /// `max` allows) the largest values.
    pub fn size(&mut self, max: u64) -> u64 {
        let v = match self.u8() % 8 {
            0 => u64::from(self.u8()),
            1 => u64::from(self.u16()),
            2 => u64::from(self.u8() % 64) * PAGE_SIZE,
            3 => (u64::from(self.u8() % 64) * PAGE_SIZE).wrapping_add(self.edge()),
            4 => (1u64 << (self.u8() % 64)).wrapping_add(self.edge()),
            5 => u64::from(self.u32()),
            6 => u64::MAX - u64::from(self.u16()),
            _ => self.u64(),
        };
        if max == u64::MAX { v } else { v % (max + 1) }
    }

    /// -1, 0 or +1 as a wrapping offset.
    fn edge(&mut self) -> u64 {
        match self.u8() % 3 {
            0 => u64::MAX, // -1
            1 => 0,
            _ => 1,
        }
    }
}

/// What must hold of every workload a trace reader accepted: it is valid (the readers
/// validate as they go), and writing it back in the native format, and in the `.rep`
/// format when it fits there, reads back to the same workload.
pub fn check_loaded(w: &workload::Workload, file: &str) {
    if let Err(e) = workload::validate(w) {
        panic!("a trace that loads must be valid, but: {e}");
    }
    let native = workload::write_native(w);
    match workload::parse_native(&native, file) {
        Ok(back) => assert_eq!(&back, w, "native round trip changed the workload"),
        Err(e) => panic!("the native form of a loaded trace does not load: {e}\n{native}"),
    }
    if let Ok(rep) = workload::write_rep(w) {
        let lossy = workload::lossy_for_rep(w);
        match workload::parse_rep(&rep, file) {
            Ok(back) => assert_eq!(back.ops, lossy.ops, "rep round trip changed the ops"),
            Err(e) => panic!("the rep form of a loaded trace does not load: {e}\n{rep}"),
        }
    }
}

/// Up to `max` settings for an allocator whose options are `table`: each a real option
/// name with a value of its kind (within its limits most of the time, a word that
/// turns it off, or now and then out of range), as a user would type them.
pub fn settings(
    b: &mut Bytes,
    table: &malloc::options::Table,
    max: usize,
) -> Vec<(String, String)> {
    use malloc::options::Kind;
    let n = b.below(max + 1);
    let mut out = Vec::new();
    if table.options.is_empty() {
        return out;
    }
    for _ in 0..n {
        let spec = b.pick(table.options);
        let number = |b: &mut Bytes, min: u64, max: u64| {
            let v = b.size(u64::MAX);
            if b.u8().is_multiple_of(8) {
                v // anything: the parser must refuse what is out of range
            } else if max == u64::MAX {
                v.max(min)
            } else {
                min + v % (max - min + 1)
            }
        };
        let value = match spec.kind {
            Kind::Size { min, max, off } => {
                if !off.is_empty() && b.u8().is_multiple_of(4) {
                    b.pick(off).to_string()
                } else {
                    let v = number(b, min, max);
                    match b.u8() % 4 {
                        0 => format!("{v:#x}"),
                        1 if v.is_multiple_of(1024) && v > 0 => format!("{}K", v / 1024),
                        2 if v.is_multiple_of(1 << 20) && v > 0 => format!("{}MiB", v >> 20),
                        _ => v.to_string(),
                    }
                }
            }
            Kind::Count { min, max } => number(b, min, max).to_string(),
            Kind::Percent { max } => format!("{}%", number(b, 0, max)),
            Kind::Bool => if b.bool() { "true" } else { "false" }.to_string(),
            Kind::Choice(choices) => b.pick(choices).name.to_string(),
        };
        out.push((spec.name.to_string(), value));
    }
    out
}

/// A program of up to `max` contract steps, from bytes: mostly mallocs, frees,
/// reallocs and writes of small and medium blocks, with large blocks (above glibc's
/// mmap threshold), absurd sizes (which must be refused as out of memory), trims, and
/// frees and reallocs of pointers that are not live (which must be refused).
pub fn program(b: &mut Bytes, max: usize) -> Vec<malloc::contract::Op> {
    use malloc::contract::{Bad, Op};
    let mut ops = Vec::new();
    while !b.is_empty() && ops.len() < max {
        let size = |b: &mut Bytes| match b.u8() % 16 {
            0..=8 => u64::from(b.u8()),
            9..=12 => u64::from(b.u16()),
            13 | 14 => u64::from(b.u32() % (4 << 20)),
            _ => b.size(u64::MAX),
        };
        let bad = |b: &mut Bytes| match b.u8() % 4 {
            0 => Bad::After {
                pick: b.below(256),
                delta: b.size(1 << 20),
            },
            1 => Bad::Before {
                pick: b.below(256),
                delta: b.size(1 << 20),
            },
            2 => Bad::Freed { pick: b.below(64) },
            _ => Bad::Raw(b.size(u64::MAX)),
        };
        let op = match b.u8() % 16 {
            0..=4 => Op::Malloc {
                size: size(b),
                lifetime: None,
            },
            5 => Op::Malloc {
                size: size(b),
                lifetime: Some(b.u8() % 4),
            },
            6..=8 => Op::Free { pick: b.below(256) },
            9 | 10 => Op::Realloc {
                pick: b.below(256),
                size: size(b),
            },
            11 => Op::Write { pick: b.below(256) },
            12 => Op::Trim {
                pad: b.size(1 << 24),
            },
            13 | 14 => Op::FreeBad(bad(b)),
            _ => {
                let bad = bad(b);
                Op::ReallocBad(bad, size(b))
            }
        };
        ops.push(op);
    }
    ops
}

/// Whether a violation of the contract is the allocator's fault. It is not when the
/// program's own write of a block it got found no memory left in the machine (the
/// kernel overcommits: a mapping succeeds and its pages fail later), since no
/// allocator can prevent that.
pub fn allocator_at_fault(v: &malloc::contract::Violation) -> bool {
    use malloc::contract::Rule;
    !matches!(
        v.rule,
        Rule::WriteFaulted {
            fault: kernel::Fault::OutOfMemory { .. },
            ..
        }
    )
}
