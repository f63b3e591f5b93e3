//! Memory-protection experiments on the real machine (claim 3: "memory from mmap cannot
//! cause a segmentation fault").
//!
//! Each experiment runs in its own child process (`exe __brkmap-replay-child crash
//! NAME`), does one access the page tables forbid (or, for the controls, allow), and the
//! parent reads the outcome from the wait status: killed by `SIGSEGV`, by `SIGBUS`, or
//! exited normally. The child also installs a one-shot handler that reports the signal's
//! `si_code` (why the kernel refused: no mapping at that address, or a mapping whose
//! protection forbids the access) and whether the faulting address is the one it
//! touched, then lets the signal kill it as it would any program.
//!
//! The lesson: a mapping is a range of whole pages with a protection. An access outside
//! every mapping (past the end, after `munmap`) or against the protection (`PROT_NONE`
//! guard pages, writes to read-only pages) is a segmentation fault, however the memory
//! was obtained; an overrun that stays inside the last page is *not* caught; and a file
//! mapping past the end of its file raises `SIGBUS` instead.

use super::{ReplayError, run_child, wire};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// One crash experiment.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrashExperiment {
    /// Write the first byte after a one-page mapping, where nothing is mapped (the
    /// experiment maps two pages and unmaps the second to be sure).
    PastEnd,
    /// Read a byte of a mapping after `munmap` returned it.
    AfterMunmap,
    /// Write to a `PROT_NONE` guard page placed right after a mapping (as guard-page
    /// allocators and thread stacks do).
    GuardPage,
    /// Write to a page mapped `PROT_READ`.
    ReadOnly,
    /// Control: write past the end of a 100-byte request but inside its page (the
    /// mapping is a whole page, so the hardware has nothing to catch).
    InsidePageSlack,
    /// Read a page of a file mapping that lies wholly past the end of the file.
    PastFileEnd,
}

impl CrashExperiment {
    /// Every experiment, in presentation order.
    pub const ALL: [CrashExperiment; 6] = [
        CrashExperiment::PastEnd,
        CrashExperiment::AfterMunmap,
        CrashExperiment::GuardPage,
        CrashExperiment::ReadOnly,
        CrashExperiment::InsidePageSlack,
        CrashExperiment::PastFileEnd,
    ];

    /// A short kebab-case name, also used on the child's command line.
    pub fn name(self) -> &'static str {
        match self {
            CrashExperiment::PastEnd => "past-end",
            CrashExperiment::AfterMunmap => "after-munmap",
            CrashExperiment::GuardPage => "guard-page",
            CrashExperiment::ReadOnly => "read-only",
            CrashExperiment::InsidePageSlack => "inside-page-slack",
            CrashExperiment::PastFileEnd => "past-file-end",
        }
    }

    /// The experiment whose [`name`](Self::name) is `name`.
    pub fn from_name(name: &[u8]) -> Option<CrashExperiment> {
        CrashExperiment::ALL
            .into_iter()
            .find(|e| e.name().as_bytes() == name)
    }

    /// One sentence saying what the experiment does.
    pub fn description(self) -> &'static str {
        match self {
            CrashExperiment::PastEnd => {
                "write one byte past the end of a one-page mapping (next page unmapped)"
            }
            CrashExperiment::AfterMunmap => "read a byte of a mapping after munmap",
            CrashExperiment::GuardPage => "write to a PROT_NONE guard page after a mapping",
            CrashExperiment::ReadOnly => "write to a page mapped PROT_READ",
            CrashExperiment::InsidePageSlack => {
                "write past a 100-byte block's end but inside its page (control)"
            }
            CrashExperiment::PastFileEnd => {
                "read a page of a 100-byte file's mapping past the end of the file"
            }
        }
    }

    /// What Linux does: the outcome the experiment is designed to show.
    pub fn expected(self) -> CrashOutcome {
        match self {
            CrashExperiment::InsidePageSlack => CrashOutcome::Exited(0),
            CrashExperiment::PastFileEnd => CrashOutcome::Signal(SIGBUS),
            _ => CrashOutcome::Signal(SIGSEGV),
        }
    }
}

impl fmt::Display for CrashExperiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The number of `SIGSEGV`, the signal for an access the page tables refuse.
#[cfg(unix)]
pub const SIGSEGV: i32 = libc::SIGSEGV;
/// The number of `SIGBUS`, the signal for an access to a page with nothing behind it.
#[cfg(unix)]
pub const SIGBUS: i32 = libc::SIGBUS;
/// The number of `SIGSEGV` on Linux (there are no such signals here).
#[cfg(not(unix))]
pub const SIGSEGV: i32 = 11;
/// The number of `SIGBUS` on Linux x86 (there are no such signals here).
#[cfg(not(unix))]
pub const SIGBUS: i32 = 7;

/// How an experiment's child ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashOutcome {
    /// Killed by this signal.
    Signal(i32),
    /// Exited normally with this code.
    Exited(i32),
}

impl CrashOutcome {
    /// `SIGSEGV`, `SIGBUS`, ... for a signal outcome.
    pub fn signal_name(self) -> Option<&'static str> {
        match self {
            CrashOutcome::Signal(SIGSEGV) => Some("SIGSEGV"),
            CrashOutcome::Signal(SIGBUS) => Some("SIGBUS"),
            CrashOutcome::Signal(4) => Some("SIGILL"),
            CrashOutcome::Signal(6) => Some("SIGABRT"),
            CrashOutcome::Signal(9) => Some("SIGKILL"),
            CrashOutcome::Signal(_) | CrashOutcome::Exited(_) => None,
        }
    }
}

impl fmt::Display for CrashOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.signal_name()) {
            (_, Some(name)) => f.write_str(name),
            (CrashOutcome::Signal(n), None) => write!(f, "signal {n}"),
            (CrashOutcome::Exited(0), _) => f.write_str("no fault"),
            (CrashOutcome::Exited(code), _) => write!(f, "exited with code {code}"),
        }
    }
}

/// The result of one experiment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashReport {
    /// Which experiment.
    pub experiment: CrashExperiment,
    /// What Linux is expected to do.
    pub expected: CrashOutcome,
    /// What happened.
    pub observed: CrashOutcome,
    /// The `si_code` the signal carried, when a signal was caught: why the access was
    /// refused (see [`CrashReport::si_code_name`]).
    pub si_code: Option<i32>,
    /// Whether the signal's fault address is the address the child accessed.
    pub address_matches: Option<bool>,
}

impl CrashReport {
    /// True when the observed outcome is the expected one.
    pub fn as_expected(&self) -> bool {
        self.expected == self.observed
    }

    /// The symbolic `si_code`: `SEGV_MAPERR` (no mapping at the address), `SEGV_ACCERR`
    /// (a mapping whose protection forbids the access), `BUS_ADRERR` (no backing for
    /// the page, e.g. past the end of a mapped file).
    pub fn si_code_name(&self) -> Option<&'static str> {
        match (self.observed, self.si_code?) {
            (CrashOutcome::Signal(SIGSEGV), 1) => Some("SEGV_MAPERR"),
            (CrashOutcome::Signal(SIGSEGV), 2) => Some("SEGV_ACCERR"),
            (CrashOutcome::Signal(SIGBUS), 1) => Some("BUS_ADRALN"),
            (CrashOutcome::Signal(SIGBUS), 2) => Some("BUS_ADRERR"),
            (CrashOutcome::Signal(SIGBUS), 3) => Some("BUS_OBJERR"),
            _ => None,
        }
    }
}

/// Runs every [`CrashExperiment`], each in a child started from `exe` (a binary made
/// with [`entry_point!`](crate::entry_point)).
pub fn segv_experiments(exe: &Path) -> Result<Vec<CrashReport>, ReplayError> {
    CrashExperiment::ALL
        .into_iter()
        .map(|e| run_crash_experiment(exe, e))
        .collect()
}

/// Runs one experiment in a child started from `exe`.
pub fn run_crash_experiment(
    exe: &Path,
    experiment: CrashExperiment,
) -> Result<CrashReport, ReplayError> {
    if let Some(why) = crate::sys::unavailable_reason() {
        return Err(ReplayError::Unavailable(why));
    }
    let out = run_child(exe, &[wire::MODE_CRASH, experiment.name()], None)?;
    let observed = match (out.status.code(), signal_of(&out.status)) {
        (_, Some(sig)) => CrashOutcome::Signal(sig),
        (Some(0), None) => CrashOutcome::Exited(0),
        _ => return Err(super::child_failure(&out)),
    };
    // The child's stdout: `target=ADDR` before the access, then, from the handler,
    // `si_code=N addr=ADDR`.
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| -> Option<u64> {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
    };
    let target = field("target=");
    let si_code = field("si_code=").map(|c| c as i32);
    let address_matches = match (target, field("addr=")) {
        (Some(t), Some(a)) => Some(t == a),
        _ => None,
    };
    Ok(CrashReport {
        experiment,
        expected: experiment.expected(),
        observed,
        si_code,
        address_matches,
    })
}

/// The signal that ended a child, if one did.
#[cfg(unix)]
pub(crate) fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt as _;
    status.signal()
}

/// Without Unix signals, no child ends by one.
#[cfg(not(unix))]
pub(crate) fn signal_of(_status: &std::process::ExitStatus) -> Option<i32> {
    None
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) use child::child_main;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod child {
    use super::CrashExperiment;
    use crate::replay::wire;
    use crate::replay::writer::Line;
    use crate::sys::{self, SysError};
    use std::ffi::{c_int, c_void};

    fn fail(e: SysError) -> ! {
        let mut line = Line::new();
        line.put(b"crash child: ");
        line.put(e.call.as_bytes());
        line.put(b" failed: ");
        line.put(e.errno_name().as_bytes());
        line.put(b"\n");
        let _ = line.send(2);
        sys::exit_now(wire::EXIT_SYSCALL)
    }

    /// The value of a call the experiment needs, or the end of the child.
    fn check<T>(result: Result<T, SysError>) -> T {
        result.unwrap_or_else(|e| fail(e))
    }

    /// Writes `key` and `n` (decimal) and a newline to stdout, without allocating
    /// (also used from the signal handler, where only async-signal-safe calls are
    /// allowed: `write(2)` is one).
    fn say(key: &[u8], n: u64) {
        let mut line = Line::new();
        line.put(key);
        line.num(n);
        line.put(b"\n");
        let _ = line.send(1);
    }

    /// The one-shot handler: reports why the kernel raised the signal and where, puts
    /// the default action back and returns. The faulting instruction then runs again,
    /// faults again, and the default action kills the process with the same signal,
    /// which is what the parent's wait status shows.
    extern "C" fn on_fault(sig: c_int, info: *mut libc::siginfo_t, _ctx: *mut c_void) {
        // SAFETY: `info` is what the kernel passed to this SA_SIGINFO handler, which is
        // installed for SIGSEGV and SIGBUS only.
        if let Some((code, addr)) = unsafe { sys::fault_info(info) } {
            say(b"si_code=", code as u64);
            say(b"addr=", addr as u64);
        }
        sys::restore_default(sig);
    }

    fn install_handler() {
        // SAFETY: the handler only writes with write(2) and calls signal(), both
        // async-signal-safe.
        check(unsafe { sys::on_fault_signals(on_fault) });
        // No core files from the deliberate crashes.
        check(sys::no_core_dumps());
    }

    fn map(len: usize, prot: c_int) -> *mut u8 {
        check(sys::mmap_anon(len, prot, 0))
    }

    /// The deliberate bad write: announces the address, then stores through it.
    ///
    /// # Safety
    /// Not memory-safe by design: the caller points it at memory the process must not
    /// write, to watch the kernel refuse. The store is volatile so it really happens.
    unsafe fn poke(at: *mut u8) {
        say(b"target=", at as u64);
        // SAFETY: deliberately none (see the function's contract); the kernel stops the
        // access before any memory of the process is corrupted.
        unsafe { std::ptr::write_volatile(at, 1) };
    }

    /// The deliberate bad read, as [`poke`].
    ///
    /// # Safety
    /// As [`poke`].
    unsafe fn peek(at: *const u8) -> u8 {
        say(b"target=", at as u64);
        // SAFETY: deliberately none (see the function's contract).
        unsafe { std::ptr::read_volatile(at) }
    }

    /// Entry of `__brkmap-replay-child crash NAME`.
    pub(crate) fn child_main(name: Option<&[u8]>) -> ! {
        let Some(experiment) = name.and_then(CrashExperiment::from_name) else {
            let _ = sys::write_all(2, b"crash child: unknown experiment\n");
            sys::exit_now(wire::EXIT_USAGE)
        };
        install_handler();
        let page = sys::page_size();
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        match experiment {
            CrashExperiment::PastEnd => {
                let p = map(2 * page, rw);
                // SAFETY: unmaps the second page of our own fresh mapping.
                check(unsafe { sys::munmap(p.add(page), page) });
                // SAFETY: deliberately out of bounds (the byte after the mapping).
                unsafe { poke(p.add(page)) };
            }
            CrashExperiment::AfterMunmap => {
                let p = map(page, rw);
                // SAFETY: p is our own fresh one-page mapping.
                unsafe { std::ptr::write_volatile(p, 7) };
                // SAFETY: unmaps our own mapping; p is not used except by the
                // deliberate bad read below.
                check(unsafe { sys::munmap(p, page) });
                // SAFETY: deliberately a use after munmap.
                std::hint::black_box(unsafe { peek(p) });
            }
            CrashExperiment::GuardPage => {
                let p = map(2 * page, rw);
                // SAFETY: changes the protection of the second page of our own mapping,
                // which nothing but the deliberate bad write below accesses.
                check(unsafe { sys::mprotect(p.add(page), page, libc::PROT_NONE) });
                // SAFETY: deliberately a write to the PROT_NONE page.
                unsafe { poke(p.add(page)) };
            }
            CrashExperiment::ReadOnly => {
                let p = map(page, libc::PROT_READ);
                // SAFETY: deliberately a write to a read-only page.
                unsafe { poke(p) };
            }
            CrashExperiment::InsidePageSlack => {
                let p = map(100, rw);
                // SAFETY: p is a mapping of one whole page: bytes 100 and page-1 are
                // beyond the "block" but inside the mapping, so these writes are sound;
                // that is the point of the control.
                unsafe {
                    poke(p.add(100));
                    poke(p.add(page - 1));
                }
            }
            CrashExperiment::PastFileEnd => {
                let fd = check(sys::memfd(c"brkmap-crash", 100));
                // A shared read-only mapping of two pages of a file of only 100 bytes.
                let p = check(sys::mmap(
                    std::ptr::null_mut(),
                    2 * page,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    fd.raw(),
                ));
                // SAFETY: byte 50 is inside the file and the first page: a valid read.
                std::hint::black_box(unsafe { std::ptr::read_volatile(p.add(50)) });
                // SAFETY: deliberately a read of the page past the end of the file.
                std::hint::black_box(unsafe { peek(p.add(page)) });
            }
        }
        sys::exit_now(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in CrashExperiment::ALL {
            assert_eq!(CrashExperiment::from_name(e.name().as_bytes()), Some(e));
        }
        assert_eq!(CrashExperiment::from_name(b"nope"), None);
    }

    #[test]
    fn experiments_serialize_by_name() {
        let json = serde_json::to_string(&CrashExperiment::PastFileEnd).unwrap();
        assert_eq!(json, "\"past-file-end\"");
    }

    #[test]
    fn outcomes_print_signal_names() {
        assert_eq!(CrashOutcome::Signal(SIGSEGV).to_string(), "SIGSEGV");
        assert_eq!(CrashOutcome::Signal(SIGBUS).to_string(), "SIGBUS");
        assert_eq!(CrashOutcome::Exited(0).to_string(), "no fault");
        assert_eq!(CrashOutcome::Signal(31).to_string(), "signal 31");
    }
}
