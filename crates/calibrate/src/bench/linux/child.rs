//! Running one benchmark in a fresh child process.
//!
//! `fork` copies the calling process; only the calling thread exists in the copy. So
//! the child is single-threaded whatever the caller is (a test harness, a CLI with a
//! progress bar), which matters three ways:
//! - nothing else moves the program break while it calls `sbrk`;
//! - no other thread shares its address space, so unmapping never needs a TLB
//!   shootdown on another CPU (an inter-processor interrupt would inflate `munmap`);
//! - a benchmark that crashes or hangs only loses its child: the parent sees a short
//!   read or a timeout and returns an error.
//!
//! One thing the child does *not* get is a fresh address space: its VMAs are copies of
//! the parent's and stay linked to the parent's anonymous memory, and the kernel will
//! not merge or extend such VMAs. Benchmarks whose cost depends on merging (the heap
//! for `sbrk`, the neighbour of a new mapping) therefore create that memory in the
//! child first.
//!
//! The child pins itself to the chosen CPU, runs the benchmark body, encodes the
//! samples into bytes, writes them to a pipe and leaves with `_exit` (which skips the
//! parent's atexit handlers and destructors: they belong to the parent). glibc makes
//! `malloc` usable in the child of a multi-threaded process (it takes the allocator
//! locks around `fork`), which the `malloc` benchmarks rely on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::Failure;
use crate::bench::BenchError;
use crate::sys::{self, Fd, Forked, Pid, SysError};

/// Where a benchmark body stores its samples: one series per measurement, capacity
/// reserved before `fork` so recording a sample never allocates (the `sbrk` loop must
/// not run `malloc` between its calls).
pub(crate) struct Recorder {
    series: Vec<Vec<f64>>,
    inner: Vec<usize>,
    reps: usize,
}

impl Recorder {
    fn new(series: usize, reps: usize) -> Recorder {
        Recorder {
            series: (0..series).map(|_| Vec::with_capacity(reps)).collect(),
            inner: vec![0; series],
            reps,
        }
    }

    /// How many samples each series takes.
    pub(crate) fn reps(&self) -> usize {
        self.reps
    }

    /// Records one sample of series `s`.
    pub(crate) fn push(&mut self, s: usize, value: f64) -> Result<(), Failure> {
        match self.series.get_mut(s) {
            Some(v) if v.len() < v.capacity() => {
                v.push(value);
                Ok(())
            }
            _ => Err(Failure::Unexpected("more samples recorded than reserved")),
        }
    }

    /// Sample `i` of series `s` (`NaN` if it was not recorded).
    pub(crate) fn value(&self, s: usize, i: usize) -> f64 {
        self.series
            .get(s)
            .and_then(|v| v.get(i))
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// The median of what series `s` has recorded so far (`NaN` if nothing). It
    /// allocates, so it must not run inside a loop that forbids allocation.
    pub(crate) fn median_of(&self, s: usize) -> f64 {
        self.series
            .get(s)
            .map_or(f64::NAN, |v| crate::bench::stats::median(v))
    }

    /// Records how many operations each sample of series `s` averages.
    pub(crate) fn set_inner(&mut self, s: usize, inner: usize) {
        if let Some(x) = self.inner.get_mut(s) {
            *x = inner;
        }
    }
}

/// What a benchmark child sent back.
pub(crate) struct Outcome {
    /// Samples per series.
    pub(crate) series: Vec<Vec<f64>>,
    /// Operations per sample, per series.
    pub(crate) inner: Vec<usize>,
}

const TAG_OK: u8 = 0;
const TAG_OS: u8 = 1;
const TAG_UNEXPECTED: u8 = 2;
const TAG_PANIC: u8 = 3;

/// Runs `body` in a forked child pinned to `cpu`, with room for `series` series of
/// `reps` samples, and returns what it recorded. The child is killed if it has not
/// finished after `timeout`.
pub(crate) fn run_isolated<F>(
    bench: &'static str,
    cpu: usize,
    series: usize,
    reps: usize,
    timeout: Duration,
    body: F,
) -> Result<Outcome, BenchError>
where
    F: FnOnce(&mut Recorder) -> Result<(), Failure>,
{
    let mut rec = Recorder::new(series, reps);
    let os_err = |e: SysError| to_bench_error(bench, e.into());
    let (rd, wr) = sys::pipe().map_err(os_err)?;
    // SAFETY: in the child only this thread exists; it runs the benchmark body (which
    // uses only syscalls, glibc malloc and the preallocated recorder; glibc's malloc is
    // usable after fork), writes to the pipe and leaves with `exit_now`, never returning
    // into the caller's code.
    let pid = match unsafe { sys::fork() }.map_err(os_err)? {
        Forked::Parent(pid) => pid,
        Forked::Child => {
            drop(rd);
            let result = catch_unwind(AssertUnwindSafe(|| {
                sys::pin_to(cpu)?;
                body(&mut rec)
            }));
            let bytes = encode(&rec, result);
            let ok = sys::write_all(wr.raw(), &bytes).is_ok();
            // Without the parent's destructors or atexit handlers, which belong to it.
            sys::exit_now(if ok { 0 } else { 1 })
        }
    };
    drop(wr);
    let read = read_until_eof(&rd, timeout);
    if matches!(read, Err(ReadError::Timeout)) {
        sys::kill(pid, libc::SIGKILL);
    }
    let status = sys::wait_for(pid);
    let bytes = match read {
        Ok(b) => b,
        Err(ReadError::Timeout) => {
            return Err(BenchError::Timeout {
                bench,
                limit: timeout,
            });
        }
        Err(ReadError::Os(e)) => return Err(os_err(e)),
    };
    decode(bench, &bytes, status)
}

/// Starts a helper process that echoes every byte it reads from `rd` back into `wr`
/// until `rd` reaches end of file (the other side of a ping-pong), and returns its id
/// and `keep`, the caller's own ends of the two pipes. The helper closes `keep` (so
/// that closing the caller's write end really ends its loop), dies if the caller dies,
/// and leaves with `exit_now`. The caller's copies of `rd` and `wr` are closed.
pub(crate) fn spawn_echo(rd: Fd, wr: Fd, keep: [Fd; 2]) -> Result<(Pid, [Fd; 2]), Failure> {
    // SAFETY: the benchmark child that calls this is single-threaded, so the helper is
    // a complete copy; it only echoes bytes with read/write and leaves with `exit_now`.
    match unsafe { sys::fork() }? {
        Forked::Child => {
            sys::die_with_parent();
            drop(keep);
            echo(&rd, &wr);
            sys::exit_now(0)
        }
        Forked::Parent(pid) => Ok((pid, keep)),
    }
}

/// Relays bytes from `rd` back to `wr` until `rd` reaches end of file.
pub(crate) fn echo(rd: &Fd, wr: &Fd) {
    while let Some(b) = rd.read_byte() {
        if !wr.write_byte(b) {
            break;
        }
    }
}

/// Turns a child-side failure into the public error.
fn to_bench_error(bench: &'static str, f: Failure) -> BenchError {
    match f {
        Failure::Os(SysError { call, errno }) => BenchError::Os {
            bench,
            call: call.to_string(),
            errno,
        },
        Failure::Unexpected(what) => BenchError::Child {
            bench,
            detail: what.to_string(),
        },
    }
}

/// The child's message: a tag, then the series (for success) or what failed.
fn encode(rec: &Recorder, result: std::thread::Result<Result<(), Failure>>) -> Vec<u8> {
    let mut out = Vec::new();
    match result {
        Ok(Ok(())) => {
            out.push(TAG_OK);
            out.extend_from_slice(&(rec.series.len() as u64).to_le_bytes());
            for (s, inner) in rec.series.iter().zip(&rec.inner) {
                out.extend_from_slice(&(*inner as u64).to_le_bytes());
                out.extend_from_slice(&(s.len() as u64).to_le_bytes());
                for v in s {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        Ok(Err(Failure::Os(SysError { call, errno }))) => {
            out.push(TAG_OS);
            out.extend_from_slice(&errno.to_le_bytes());
            out.extend_from_slice(call.as_bytes());
        }
        Ok(Err(Failure::Unexpected(what))) => {
            out.push(TAG_UNEXPECTED);
            out.extend_from_slice(what.as_bytes());
        }
        Err(_) => out.push(TAG_PANIC),
    }
    out
}

/// Reads the child's message back.
fn decode(bench: &'static str, bytes: &[u8], status: Option<i32>) -> Result<Outcome, BenchError> {
    let child = |detail: String| BenchError::Child { bench, detail };
    let Some((&tag, rest)) = bytes.split_first() else {
        return Err(child(describe_status(status)));
    };
    match tag {
        TAG_OK => {
            let mut r = Reader(rest);
            let n = r.u64().ok_or_else(|| child("truncated result".into()))? as usize;
            let mut series = Vec::new();
            let mut inner = Vec::new();
            for _ in 0..n {
                let trunc = || child("truncated result".into());
                inner.push(r.u64().ok_or_else(trunc)? as usize);
                let len = r.u64().ok_or_else(trunc)? as usize;
                let mut s = Vec::with_capacity(len.min(1 << 20));
                for _ in 0..len {
                    s.push(f64::from_bits(r.u64().ok_or_else(trunc)?));
                }
                series.push(s);
            }
            Ok(Outcome { series, inner })
        }
        TAG_OS if rest.len() >= 4 => {
            let errno = i32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let call = String::from_utf8_lossy(&rest[4..]).into_owned();
            Err(BenchError::Os { bench, call, errno })
        }
        TAG_UNEXPECTED => Err(child(String::from_utf8_lossy(rest).into_owned())),
        TAG_PANIC => Err(child("the benchmark code panicked".into())),
        _ => Err(child(format!(
            "unreadable result ({})",
            describe_status(status)
        ))),
    }
}

/// A cursor over little-endian words.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u64(&mut self) -> Option<u64> {
        let (head, tail) = self.0.split_first_chunk::<8>()?;
        self.0 = tail;
        Some(u64::from_le_bytes(*head))
    }
}

enum ReadError {
    Timeout,
    Os(SysError),
}

/// Reads from `fd` until the writer closes it, giving up at `timeout`.
fn read_until_eof(fd: &Fd, timeout: Duration) -> Result<Vec<u8>, ReadError> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Timeout);
        }
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        if !sys::poll_readable(fd.raw(), ms).map_err(ReadError::Os)? {
            continue; // the deadline check above decides
        }
        let n = sys::read_some(fd.raw(), &mut buf).map_err(ReadError::Os)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn describe_status(status: Option<i32>) -> String {
    match status {
        Some(s) if libc::WIFSIGNALED(s) => {
            format!(
                "child killed by signal {} before reporting",
                libc::WTERMSIG(s)
            )
        }
        Some(s) if libc::WIFEXITED(s) => {
            format!(
                "child exited with status {} without a result",
                libc::WEXITSTATUS(s)
            )
        }
        _ => "child ended without a result".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn samples_come_back_from_the_child() {
        let cpu = sys::allowed_cpus().unwrap()[0];
        let out = run_isolated("test", cpu, 2, 3, T, |rec| {
            for i in 0..3 {
                rec.push(0, i as f64)?;
                rec.push(1, 10.0 + i as f64)?;
            }
            rec.set_inner(1, 7);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            out.series,
            vec![vec![0.0, 1.0, 2.0], vec![10.0, 11.0, 12.0]]
        );
        assert_eq!(out.inner, vec![0, 7]);
    }

    #[test]
    fn failures_in_the_child_become_errors() {
        let cpu = sys::allowed_cpus().unwrap()[0];
        let err = run_isolated("test", cpu, 1, 1, T, |_| {
            Err(Failure::Os(SysError {
                call: "mmap",
                errno: libc::ENOMEM,
            }))
        })
        .err()
        .unwrap();
        assert_eq!(
            err,
            BenchError::Os {
                bench: "test",
                call: "mmap".into(),
                errno: libc::ENOMEM
            }
        );
        let err = run_isolated("test", cpu, 1, 1, T, |rec| {
            rec.push(0, 1.0)?;
            rec.push(0, 2.0) // one more than reserved
        })
        .err()
        .unwrap();
        assert!(matches!(err, BenchError::Child { .. }), "{err}");
    }

    #[test]
    fn a_hanging_child_is_killed_at_the_timeout() {
        let cpu = sys::allowed_cpus().unwrap()[0];
        let err = run_isolated("test", cpu, 1, 1, Duration::from_millis(200), |_| {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        })
        .err()
        .unwrap();
        assert!(matches!(err, BenchError::Timeout { .. }), "{err}");
    }
}
