//! The replay child: runs the op stream with libc alone.
//!
//! Rules the child keeps, because its heap must look exactly like the heap of a C
//! program that only ever made the replayed calls:
//! - no Rust allocation (no `Vec`, `String`, `format!`), no stdio: every buffer is an
//!   anonymous mapping, and output goes out through the allocation-free writer of
//!   [`super::writer`];
//! - the harness's own memory is pre-faulted (`MAP_POPULATE`, a pre-touched stack), so
//!   that the minor-fault count is the replay's own;
//! - nothing can panic on any input: every read of the request is bounds-checked and
//!   every failure leaves through [`Failure`], one line on stderr and an exit code.
//!
//! This file reads the request and sets up the buffers; [`replayer`] runs the ops.

mod replayer;

use super::Strategy;
use super::wire::{self, hdr};
use super::writer::{Line, Out};
use crate::sys::{self, Mapping, SysError};
use replayer::{Replayer, Request, SLOT_WORDS};

/// Size of the output buffer; it is flushed with `write(2)` whenever it fills up.
const OUT_BYTES: usize = 1 << 20;

/// Pages `mincore` reports per call (one scratch byte each).
const MINCORE_PAGES: usize = 1 << 16;

/// Why the child stops early.
pub(super) struct Failure {
    /// Exit code (`wire::EXIT_*`).
    code: i32,
    /// Index of the op being replayed, when there is one.
    op: Option<u64>,
    /// What went wrong.
    what: &'static str,
    /// The errno of a failed call.
    errno: Option<i32>,
}

/// A call the harness itself needs (reading the request, writing the output) failed.
impl From<SysError> for Failure {
    fn from(e: SysError) -> Failure {
        Failure::sys(None, e)
    }
}

impl Failure {
    pub(super) fn new(code: i32, op: Option<u64>, what: &'static str) -> Failure {
        Failure {
            code,
            op,
            what,
            errno: None,
        }
    }

    pub(super) fn sys(op: Option<u64>, e: SysError) -> Failure {
        Failure {
            code: wire::EXIT_SYSCALL,
            op,
            what: e.call,
            errno: Some(e.errno),
        }
    }

    pub(super) fn protocol(what: &'static str) -> Failure {
        Failure::new(wire::EXIT_PROTOCOL, None, what)
    }

    /// A failed call that the replayed op itself made (so the op is out of memory).
    pub(super) fn oom(index: u64, e: SysError) -> Failure {
        Failure {
            code: wire::EXIT_OOM,
            op: Some(index),
            what: e.call,
            errno: Some(e.errno),
        }
    }

    /// Writes the one-line report to stderr.
    fn report(&self) {
        let mut line = Line::new();
        line.put(b"replay child: ");
        if let Some(op) = self.op {
            line.put(b"op ");
            line.num(op);
            line.put(b": ");
        }
        line.put(self.what.as_bytes());
        if let Some(errno) = self.errno {
            line.put(b" failed: ");
            line.put(sys::errno_name(errno).as_bytes());
        }
        line.put(b"\n");
        let _ = line.send(2);
    }
}

/// Entry of `__brkmap-replay-child replay` (`bench` false) and `... bench` (true).
pub(crate) fn main(bench: bool) -> ! {
    match run(bench) {
        Ok(()) => sys::exit_now(0),
        Err(failure) => {
            failure.report();
            sys::exit_now(failure.code)
        }
    }
}

fn run(bench: bool) -> Result<(), Failure> {
    // The request header, then the payload into a mapping of the announced size.
    let mut head_bytes = [0u8; wire::HEADER_WORDS * 8];
    let got = sys::read_exact(0, &mut head_bytes)?;
    if got != head_bytes.len() {
        return Err(Failure::protocol("the request header is truncated"));
    }
    let mut head = [0u64; wire::HEADER_WORDS];
    for (i, word) in head.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&head_bytes[i * 8..i * 8 + 8]);
        *word = u64::from_le_bytes(b);
    }
    if head[hdr::MAGIC] != wire::MAGIC || head[hdr::VERSION] != wire::VERSION {
        return Err(Failure::protocol("not a replay request of this version"));
    }
    let strategy = match head[hdr::STRATEGY] {
        wire::STRATEGY_GLIBC => Strategy::Glibc,
        wire::STRATEGY_MMAP => Strategy::Mmap,
        _ => return Err(Failure::protocol("unknown strategy")),
    };
    // Sizes announced by the parent; refuse absurd ones instead of mapping them.
    const LIMIT: u64 = 1 << 40;
    let payload_words = head[hdr::PAYLOAD_WORDS];
    let n_slots = head[hdr::N_SLOTS];
    let max_samples = head[hdr::MAX_SAMPLES];
    if payload_words > LIMIT / 8 || n_slots > LIMIT / 24 || max_samples > LIMIT / 160 {
        return Err(Failure::protocol("the request announces absurd sizes"));
    }
    if head[hdr::FLAGS] & wire::FLAG_NO_THP != 0 {
        // Best effort, as before a C program's first malloc: a kernel without the
        // switch measures with whatever THP mode it has.
        let _ = sys::disable_thp();
    }

    let payload_len = (payload_words * 8) as usize;
    let mut input = Mapping::new(payload_len, true)?;
    let got = sys::read_exact(0, &mut input.bytes_mut()[..payload_len])?;
    if got != payload_len {
        return Err(Failure::protocol("the op stream is truncated"));
    }
    let mut table = Mapping::new(n_slots as usize * SLOT_WORDS * 8, true)?;
    let mut samples = Mapping::new(max_samples as usize * wire::SAMPLE_WORDS * 8, true)?;
    // A benchmark writes one line: a page of output buffer and no mincore scratch.
    let mut out_map = Mapping::new(if bench { 4096 } else { OUT_BYTES }, true)?;
    let mut scratch = Mapping::new(if bench { 4096 } else { MINCORE_PAGES }, true)?;

    let words = &input.words_mut()[..payload_words as usize];
    let table = &mut table.words_mut()[..n_slots as usize * SLOT_WORDS];
    let request = Request {
        strategy,
        write_all: head[hdr::TOUCH] == 1,
        interval: head[hdr::INTERVAL],
        cap: head[hdr::CAP],
        n_ops: head[hdr::N_OPS],
        bench,
    };
    let mut r = Replayer::new(
        request,
        table,
        samples.words_mut(),
        Out::new(out_map.bytes_mut()),
        scratch.bytes_mut(),
    );
    if bench {
        // A benchmark checks no cap per op (that would be timed as allocator work):
        // the kernel enforces it instead. Past the harness's own memory plus the cap,
        // brk and mmap fail and the replayed call returns NULL (an out-of-memory exit).
        let harness = sys::data_bytes().ok_or(Failure::new(
            wire::EXIT_SYSCALL,
            None,
            "reading /proc/self/statm",
        ))?;
        sys::limit_data(harness.saturating_add(head[hdr::CAP]))?;
        r.bench(words)
    } else {
        r.replay(words)
    }
}
