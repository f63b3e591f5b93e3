//! Reading the log of `sim record`'s tracer into a workload.
//!
//! The tracer (`crates/tracer`, an `LD_PRELOAD` library) logs every call of a running
//! program to the `malloc` family as it happens, with the addresses glibc returned. A
//! workload names blocks by id instead, so that it can be replayed through any
//! allocator. [`parse_tracer_log`] turns one into the other:
//!
//! - every allocation gets a fresh id (0, 1, 2, ... in call order), remembered for its
//!   address until the block is freed; a `realloc` keeps its block's id;
//! - `calloc` and the aligned functions become a `Malloc` of the bytes asked for, with
//!   the call kept in [`Workload::calls`]; `valloc` and `pvalloc` arrive as the
//!   `memalign` of a page that they are in glibc; `reallocarray` as the `realloc` of the
//!   product;
//! - a `free` (or `realloc`) of an address the log never handed out is a block allocated
//!   before the tracer started (by the dynamic loader or glibc's start-up) or by a path
//!   the tracer does not see: the free is skipped, the realloc becomes a `Malloc` of the
//!   new size, and both are counted in the [`LogSummary`];
//! - an address handed out again while the log still has it live means a free the
//!   tracer did not see: the old block is freed first (counted too).
//!
//! The log is binary: records of four little-endian `u64` words, `[kind, a, b,
//! result]`, the first one a header (the table is in the tracer's crate doc; the
//! constants here are the reader's copy, checked against the tracer's by a test there).
//! The tracer reserves the file a window at a time, so it ends in zeros: the first
//! record of kind 0 ends the log.

use super::TraceError;
use super::TraceErrorKind;
use crate::op::{AlignedFn, AllocCall, BlockId, Op, Workload, check_label};
use std::collections::HashMap;

/// First word of the header record: "BRKMAPL1" as a little-endian number.
pub const HEADER: u64 = u64::from_le_bytes(*b"BRKMAPL1");
/// The log format version this reader reads.
pub const VERSION: u64 = 1;
/// `malloc(a)` returned `result`.
pub const MALLOC: u64 = 1;
/// `calloc(a, b)` returned `result`.
pub const CALLOC: u64 = 2;
/// `realloc(a, b)` returned `result` (0 with `b == 0`: the block was freed).
pub const REALLOC: u64 = 3;
/// `free(a)`.
pub const FREE: u64 = 4;
/// `posix_memalign` of alignment `a`, size `b`, gave `result`.
pub const POSIX_MEMALIGN: u64 = 5;
/// `aligned_alloc(a, b)` returned `result`.
pub const ALIGNED_ALLOC: u64 = 6;
/// `memalign(a, b)` returned `result` (also `valloc`, `pvalloc`).
pub const MEMALIGN: u64 = 7;
/// The program exited normally (the tracer's destructor ran).
pub const END: u64 = 15;
/// Bytes per record.
pub const RECORD: usize = 32;

/// What reading a log found besides the ops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSummary {
    /// The traced process.
    pub pid: u64,
    /// Calls logged (the header and end records not counted).
    pub calls: u64,
    /// Calls by function: malloc, calloc, realloc, free, aligned.
    pub mallocs: u64,
    /// `calloc` calls.
    pub callocs: u64,
    /// `realloc` and `reallocarray` calls.
    pub reallocs: u64,
    /// `free` calls.
    pub frees: u64,
    /// `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc` calls.
    pub aligned: u64,
    /// Frees of addresses the log never handed out, skipped.
    pub skipped_frees: u64,
    /// Reallocs of addresses the log never handed out, recorded as mallocs.
    pub untraced_reallocs: u64,
    /// Addresses handed out again while live in the log: frees the tracer did not see,
    /// added.
    pub implied_frees: u64,
    /// Whether the log has the tracer's end record: the program exited through `exit`
    /// (or by returning from `main`), rather than by `_exit`, a signal or an `exec` of a
    /// program that was not traced. The log holds every call either way.
    pub complete: bool,
    /// Bytes at the end that do not make a whole record (a log cut short by hand).
    pub trailing_bytes: u64,
}

impl LogSummary {
    /// One comment line per fact a reader of the trace should know, for its header.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!(
            "{} calls traced: {} malloc, {} calloc, {} realloc, {} free, {} aligned",
            self.calls, self.mallocs, self.callocs, self.reallocs, self.frees, self.aligned
        )];
        if self.skipped_frees > 0 {
            notes.push(format!(
                "{} frees of blocks allocated before tracing started skipped",
                self.skipped_frees
            ));
        }
        if self.untraced_reallocs > 0 {
            notes.push(format!(
                "{} reallocs of blocks allocated before tracing started recorded as mallocs",
                self.untraced_reallocs
            ));
        }
        if self.implied_frees > 0 {
            notes.push(format!(
                "{} frees the tracer did not see added (an address was handed out again)",
                self.implied_frees
            ));
        }
        if !self.complete {
            notes.push(
                "the traced process did not end through exit() (_exit, a signal, or exec)".into(),
            );
        }
        notes
    }
}

/// Reads a tracer log (`bytes`) into a workload named `name` (or `recording` if the
/// name is not a valid label); `file` names the log in errors.
pub fn parse_tracer_log(
    bytes: &[u8],
    name: &str,
    file: &str,
) -> Result<(Workload, LogSummary), TraceError> {
    let bad = |record: usize, message: String| TraceError {
        file: file.to_string(),
        line: None,
        kind: TraceErrorKind::Malformed {
            message: format!("record {record}: {message}"),
        },
    };
    let mut records = bytes.chunks_exact(RECORD);
    let trailing = records.remainder().len() as u64;
    let words = |chunk: &[u8]| -> [u64; 4] {
        let mut w = [0u64; 4];
        for (slot, b) in w.iter_mut().zip(chunk.chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(b);
            *slot = u64::from_le_bytes(le);
        }
        w
    };
    let header = match records.next() {
        Some(chunk) => words(chunk),
        None => return Err(bad(0, "the log is empty: no header record".into())),
    };
    if header[0] != HEADER {
        return Err(bad(
            0,
            "not a brkmap tracer log (no BRKMAPL1 header)".into(),
        ));
    }
    if header[1] != VERSION {
        return Err(bad(
            0,
            format!(
                "tracer log version {}; this brkmap reads version {VERSION}",
                header[1]
            ),
        ));
    }
    let mut summary = LogSummary {
        pid: header[2],
        trailing_bytes: trailing,
        ..LogSummary::default()
    };
    let name = if check_label(name).is_ok() {
        name
    } else {
        "recording"
    };
    let mut b = Builder {
        workload: Workload::new(name),
        live: HashMap::new(),
        next_id: 0,
    };
    for (i, chunk) in records.enumerate() {
        let index = i + 1;
        let [kind, a, size, result] = words(chunk);
        if kind == 0 {
            break;
        }
        if kind != END {
            summary.calls += 1;
        }
        match kind {
            MALLOC => {
                summary.mallocs += 1;
                b.allocate(result, a, None, &mut summary);
            }
            CALLOC => {
                summary.callocs += 1;
                let bytes = a
                    .checked_mul(size)
                    .ok_or_else(|| bad(index, format!("calloc({a}, {size}) overflows")))?;
                let call = AllocCall::Calloc { count: a, size };
                b.allocate(result, bytes, Some(call), &mut summary);
            }
            POSIX_MEMALIGN | ALIGNED_ALLOC | MEMALIGN => {
                summary.aligned += 1;
                let func = match kind {
                    POSIX_MEMALIGN => AlignedFn::PosixMemalign,
                    ALIGNED_ALLOC => AlignedFn::AlignedAlloc,
                    _ => AlignedFn::Memalign,
                };
                let call = AllocCall::Aligned { func, align: a };
                call.check(size).map_err(|e| bad(index, e))?;
                b.allocate(result, size, Some(call), &mut summary);
            }
            FREE => {
                summary.frees += 1;
                b.free(a, &mut summary);
            }
            REALLOC => {
                summary.reallocs += 1;
                if a == 0 {
                    // realloc(NULL, n) is malloc(n).
                    b.allocate(result, size, None, &mut summary);
                } else if size == 0 {
                    // realloc(p, 0) frees p (glibc's rule).
                    b.free(a, &mut summary);
                } else {
                    match b.live.remove(&a) {
                        Some(id) => {
                            b.take_address(result, &mut summary);
                            b.workload.ops.push(Op::Realloc { id, size });
                            b.live.insert(result, id);
                        }
                        None => {
                            summary.untraced_reallocs += 1;
                            b.allocate(result, size, None, &mut summary);
                        }
                    }
                }
            }
            END => summary.complete = true,
            other => return Err(bad(index, format!("unknown record kind {other}"))),
        }
    }
    crate::validate(&b.workload).map_err(|e| TraceError {
        file: file.to_string(),
        line: None,
        kind: TraceErrorKind::Malformed {
            message: format!("the recorded calls do not make a valid workload: {e}"),
        },
    })?;
    Ok((b.workload, summary))
}

/// The workload being built and the live blocks by address.
struct Builder {
    workload: Workload,
    live: HashMap<u64, BlockId>,
    next_id: BlockId,
}

impl Builder {
    /// A new block at `addr` of `size` bytes, allocated by `call` (None: malloc).
    fn allocate(
        &mut self,
        addr: u64,
        size: u64,
        call: Option<AllocCall>,
        summary: &mut LogSummary,
    ) {
        self.take_address(addr, summary);
        let id = self.next_id;
        self.next_id += 1;
        self.workload.ops.push(Op::Malloc { id, size });
        if let Some(call) = call {
            self.workload.calls.insert(id, call);
        }
        self.live.insert(addr, id);
    }

    /// Makes `addr` free for a new block: if a block is still live there, its free was
    /// not seen; add it.
    fn take_address(&mut self, addr: u64, summary: &mut LogSummary) {
        if let Some(old) = self.live.remove(&addr) {
            summary.implied_frees += 1;
            self.workload.ops.push(Op::Free { id: old });
        }
    }

    /// The free of the block at `addr`, skipped when the log never handed it out.
    fn free(&mut self, addr: u64, summary: &mut LogSummary) {
        match self.live.remove(&addr) {
            Some(id) => self.workload.ops.push(Op::Free { id }),
            None => summary.skipped_frees += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(records: &[[u64; 4]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in std::iter::once(&[HEADER, VERSION, 42, 4096]).chain(records) {
            for w in r {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }

    #[test]
    fn calls_become_ops_on_fresh_ids() {
        let bytes = log(&[
            [MALLOC, 24, 0, 0x1000],
            [CALLOC, 3, 8, 0x2000],
            [REALLOC, 0x1000, 100, 0x3000],
            [MEMALIGN, 64, 10, 0x4000],
            [FREE, 0x2000, 0, 0],
            [REALLOC, 0x3000, 0, 0],
            [REALLOC, 0, 7, 0x1000],
            [END, 0, 0, 0],
        ]);
        let (w, s) = parse_tracer_log(&bytes, "prog", "log").unwrap();
        assert_eq!(w.name, "prog");
        assert_eq!(
            w.ops,
            vec![
                Op::Malloc { id: 0, size: 24 },
                Op::Malloc { id: 1, size: 24 },
                Op::Realloc { id: 0, size: 100 },
                Op::Malloc { id: 2, size: 10 },
                Op::Free { id: 1 },
                Op::Free { id: 0 },
                Op::Malloc { id: 3, size: 7 },
            ]
        );
        assert_eq!(w.calls[&1], AllocCall::Calloc { count: 3, size: 8 });
        assert_eq!(
            w.calls[&2],
            AllocCall::Aligned {
                func: AlignedFn::Memalign,
                align: 64
            }
        );
        assert_eq!((s.pid, s.calls, s.complete), (42, 7, true));
        assert_eq!((s.mallocs, s.callocs, s.reallocs, s.frees), (1, 1, 3, 1));
    }

    #[test]
    fn blocks_from_before_the_tracer_are_handled_and_counted() {
        let bytes = log(&[
            [FREE, 0x9000, 0, 0],
            [REALLOC, 0x9100, 50, 0x9200],
            [MALLOC, 16, 0, 0x1000],
            [MALLOC, 16, 0, 0x1000],
        ]);
        let (w, s) = parse_tracer_log(&bytes, "bad name #", "log").unwrap();
        assert_eq!(w.name, "recording");
        assert_eq!(
            w.ops,
            vec![
                Op::Malloc { id: 0, size: 50 },
                Op::Malloc { id: 1, size: 16 },
                Op::Free { id: 1 },
                Op::Malloc { id: 2, size: 16 },
            ]
        );
        assert_eq!(
            (s.skipped_frees, s.untraced_reallocs, s.implied_frees),
            (1, 1, 1)
        );
        assert!(!s.complete);
        let notes = s.notes().join("\n");
        assert!(
            notes.contains("1 frees of blocks allocated before tracing"),
            "{notes}"
        );
        assert!(notes.contains("did not end through exit()"), "{notes}");
    }

    #[test]
    fn bad_logs_are_errors_not_panics() {
        let err = |bytes: &[u8]| {
            parse_tracer_log(bytes, "p", "x.log")
                .unwrap_err()
                .to_string()
        };
        assert!(err(b"").contains("no header"));
        assert!(err(&[7u8; 32]).contains("not a brkmap tracer log"));
        let mut v2 = log(&[]);
        v2[8] = 2;
        assert!(err(&v2).contains("version 2"));
        assert!(err(&log(&[[99, 0, 0, 0]])).contains("record 1: unknown record kind 99"));
        assert!(err(&log(&[[MEMALIGN, 48, 1, 0x10]])).contains("not a power of two"));
        let mut cut = log(&[[MALLOC, 8, 0, 0x10]]);
        cut.extend_from_slice(&[1, 2, 3]);
        let (_, s) = parse_tracer_log(&cut, "p", "x").unwrap();
        assert_eq!(s.trailing_bytes, 3);
        // The zeros of the window the tracer reserved end the log.
        let mut padded = log(&[[MALLOC, 8, 0, 0x10], [0; 4], [FREE, 0x10, 0, 0]]);
        padded.extend_from_slice(&[0; 64]);
        let (w, s) = parse_tracer_log(&padded, "p", "x").unwrap();
        assert_eq!((w.ops.len(), s.calls), (1, 1));
    }
}
