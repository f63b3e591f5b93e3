//! What a heap debugger shows: every non-empty tcache bin, fastbin and bin, in order.
//!
//! After each op of `sim -v` (and in `sim step` and the glibc quiz) a student sees
//! where glibc keeps its free chunks, in the order malloc will look at them: the
//! tcache (exact sizes, last in first out, at most 7 each), the fastbins (small
//! sizes, not coalesced), the unsorted bin (every freed chunk's first stop), the
//! smallbins (one size each) and the largebins (ranges, sorted by size), then top.
//! Chunk addresses are offsets from the heap start (`+0x2a0`), as glibc's own
//! bookkeeping is about the heap; chunks outside it print in full.

use super::Glibc;
use super::layout::{MALLOC_ALIGNMENT, MINSIZE, NBINS, NFASTBINS, TCACHE_MAX_BINS, UNSORTED};
use kernel::Addr;
use std::fmt::Write as _;

/// Which list of glibc's a [`BinView`] is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BinKind {
    /// A tcache bin: one chunk size, singly linked, at most `tcache_count` chunks.
    Tcache,
    /// A fastbin: one chunk size, singly linked, never coalesced until consolidation.
    Fast,
    /// The unsorted bin: freed and split-off chunks of any size, waiting to be sorted.
    Unsorted,
    /// A smallbin: one chunk size, doubly linked.
    Small,
    /// A largebin: a range of sizes, sorted largest first.
    Large,
}

impl BinKind {
    /// The name a heap debugger prints.
    pub fn name(self) -> &'static str {
        match self {
            BinKind::Tcache => "tcache",
            BinKind::Fast => "fastbin",
            BinKind::Unsorted => "unsorted",
            BinKind::Small => "smallbin",
            BinKind::Large => "largebin",
        }
    }
}

/// One non-empty list of free chunks, in list order (the chunk malloc takes first
/// comes first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinView {
    /// The kind of list.
    pub kind: BinKind,
    /// Its index in glibc's array of that kind (tcache 0..64, fastbin 0..10, bin
    /// 1..128).
    pub index: usize,
    /// `(chunk address, chunk size)` of every chunk in it.
    pub chunks: Vec<(Addr, u64)>,
}

impl Glibc {
    /// Every non-empty tcache bin, fastbin and bin, in the order malloc looks.
    pub fn bin_view(&self) -> Vec<BinView> {
        let mut out = Vec::new();
        // The lists are walked with a bound: a model bug must not loop forever.
        let bound = self.chunks.len() + 1;
        for i in 0..TCACHE_MAX_BINS {
            let mut chunks = Vec::new();
            let mut p = self.tc_entries[i];
            while p != 0 && chunks.len() < bound {
                chunks.push((p, MINSIZE + MALLOC_ALIGNMENT * i as u64));
                p = self.ch(p).fd;
            }
            if !chunks.is_empty() {
                out.push(BinView {
                    kind: BinKind::Tcache,
                    index: i,
                    chunks,
                });
            }
        }
        for i in 0..NFASTBINS {
            let mut chunks = Vec::new();
            let mut p = self.fastbins[i];
            while p != 0 && chunks.len() < bound {
                chunks.push((p, self.size_of(p)));
                p = self.ch(p).fd;
            }
            if !chunks.is_empty() {
                out.push(BinView {
                    kind: BinKind::Fast,
                    index: i,
                    chunks,
                });
            }
        }
        for i in UNSORTED..NBINS {
            let mut chunks = Vec::new();
            let mut p = self.bins[i].fd;
            while !Self::is_bin(p) && chunks.len() < bound {
                chunks.push((p, self.size_of(p)));
                p = self.ch(p).fd;
            }
            if !chunks.is_empty() {
                let kind = match i {
                    UNSORTED => BinKind::Unsorted,
                    i if i < 64 => BinKind::Small,
                    _ => BinKind::Large,
                };
                out.push(BinView {
                    kind,
                    index: i,
                    chunks,
                });
            }
        }
        out
    }

    /// An address as the description prints it: an offset from the heap start, or
    /// in full for a chunk outside the heap (a mapped one).
    fn where_is(&self, a: Addr) -> String {
        if self.sbrk_base != 0 && a >= self.sbrk_base && a < self.sbrk_base + self.system_mem {
            format!("+{:#x}", a - self.sbrk_base)
        } else {
            format!("{a:#x}")
        }
    }

    /// The bins as a heap debugger prints them, one line per non-empty list, then
    /// top (`None` before the first call made a heap).
    pub(super) fn describe_bins(&self) -> Option<String> {
        if self.top == 0 && self.tcache.is_none() {
            return None;
        }
        let mut s = String::new();
        for b in self.bin_view() {
            let head = match b.kind {
                BinKind::Tcache | BinKind::Fast | BinKind::Small => {
                    format!("{} {:#x}", b.kind.name(), b.chunks[0].1)
                }
                BinKind::Unsorted => "unsorted".to_string(),
                BinKind::Large => format!("largebin {}", b.index),
            };
            let _ = write!(s, "  {head:<16} [{}]:", b.chunks.len());
            for (k, &(a, size)) in b.chunks.iter().enumerate() {
                let arrow = if k == 0 { " " } else { " -> " };
                match b.kind {
                    BinKind::Unsorted | BinKind::Large => {
                        let _ = write!(s, "{arrow}{} ({size:#x})", self.where_is(a));
                    }
                    _ => {
                        let _ = write!(s, "{arrow}{}", self.where_is(a));
                    }
                }
            }
            s.push('\n');
        }
        if self.top != 0 {
            let _ = writeln!(
                s,
                "  {:<16}     {} ({:#x})",
                "top",
                self.where_is(self.top),
                self.top_size
            );
        }
        if s.is_empty() {
            s.push_str("  (no free chunk)\n");
        }
        s.pop();
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Allocator;
    use kernel::{Kernel, KernelConfig};

    #[test]
    fn freed_chunks_show_in_the_list_malloc_will_look_at() {
        let mut k = Kernel::new(KernelConfig::default());
        let mut g = Glibc::new();
        assert_eq!(g.describe(), None, "no heap yet");
        let small: Vec<Addr> = (0..9).map(|_| g.malloc(&mut k, 24).unwrap()).collect();
        let big = g.malloc(&mut k, 2000).unwrap();
        let _guard = g.malloc(&mut k, 24).unwrap();
        for p in &small {
            g.free(&mut k, *p).unwrap();
        }
        g.free(&mut k, big).unwrap();
        let v = g.bin_view();
        // Seven 32-byte chunks fill the tcache bin, the other two go to fastbin 0,
        // and the 2016-byte chunk (too big for tcache and fastbins) to unsorted.
        assert_eq!(v[0].kind, BinKind::Tcache);
        assert_eq!(v[0].chunks.len(), 7);
        assert_eq!(v[1].kind, BinKind::Fast);
        assert_eq!(v[1].chunks.len(), 2);
        assert_eq!(v[2].kind, BinKind::Unsorted);
        assert_eq!(v[2].chunks, vec![(big - 16, 2016)]);
        // Last freed, first taken: the tcache's head is the last small chunk freed.
        assert_eq!(v[0].chunks[0].0, small[6] - 16);
        let text = g.describe().unwrap();
        assert!(text.contains("tcache 0x20"), "{text}");
        assert!(text.contains("[7]"), "{text}");
        assert!(text.contains("fastbin 0x20"), "{text}");
        assert!(text.contains("unsorted"), "{text}");
        assert!(text.contains("(0x7e0)"), "{text}");
        assert!(text.lines().last().unwrap().contains("top"), "{text}");
        // A malloc of the unsorted chunk's size takes it (a large request first
        // consolidates the fastbins: their two chunks merge into one of 0x40).
        g.malloc(&mut k, 2000).unwrap();
        let text = g.describe().unwrap();
        assert!(!text.contains("(0x7e0)"), "{text}");
        assert!(!text.contains("fastbin"), "{text}");
        assert!(text.contains("0x40"), "{text}");
    }
}
