//! Thin, checked wrappers over the libc calls the benchmarks make.
//!
//! Each wrapper turns the C convention (a sentinel return value plus `errno`) into a
//! `Result`, so a failing call ends the benchmark with a [`Failure`] naming the call
//! instead of a crash. Calls that cannot break Rust's memory safety (creating a new
//! mapping, pinning a thread) are safe functions here; calls that can (unmapping an
//! address, which would invalidate anything still pointing there) stay `unsafe fn` and
//! say what the caller must guarantee.

use std::ffi::c_void;
use std::ptr;

/// Why a benchmark stopped inside its child process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A system or libc call failed with this `errno`.
    Os {
        /// The call, e.g. `mmap`.
        call: &'static str,
        /// `errno` right after it.
        errno: i32,
    },
    /// Something the benchmark relies on did not hold (e.g. `mremap` moved a mapping
    /// it was asked to resize in place).
    Unexpected(&'static str),
}

/// The `Failure` for `call`, with the current `errno`.
pub(crate) fn os_failure(call: &'static str) -> Failure {
    Failure::Os {
        call,
        errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    }
}

/// The base page size. The kernel hands out memory, faults it in and maps it in pages.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf only reads a configuration value; it has no memory effects.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 { v as usize } else { 4096 }
}

/// Online CPUs (at least 1).
pub(crate) fn online_cpus() -> usize {
    // SAFETY: as above, a pure query.
    let v = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if v > 0 { v as usize } else { 1 }
}

/// Rounds `x` up to a multiple of `to` (a power of two).
pub(crate) fn align_up(x: usize, to: usize) -> usize {
    (x + to - 1) & !(to - 1)
}

/// The CPUs the calling thread may run on (its affinity mask).
pub(crate) fn allowed_cpus() -> Result<Vec<usize>, Failure> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed; pid 0 means the
    // calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(os_failure("sched_getaffinity"));
    }
    let max = 8 * size_of::<libc::cpu_set_t>();
    // SAFETY: every index is below the set's capacity in bits.
    Ok((0..max)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Pins the calling thread (and the threads and processes it creates later, which
/// inherit the mask) to `cpu`. Timing one CPU removes migrations, and it is what makes
/// two processes take turns on the same CPU in the context-switch benchmark.
pub(crate) fn pin_to(cpu: usize) -> Result<(), Failure> {
    if cpu >= 8 * size_of::<libc::cpu_set_t>() {
        return Err(Failure::Os {
            call: "sched_setaffinity",
            errno: libc::EINVAL,
        });
    }
    // SAFETY: all-zero is a valid empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` was checked to be below the set's capacity.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(os_failure("sched_setaffinity"));
    }
    Ok(())
}

/// The CPU the calling thread is running on right now.
pub(crate) fn current_cpu() -> Option<usize> {
    // SAFETY: a pure query.
    let c = unsafe { libc::sched_getcpu() };
    usize::try_from(c).ok()
}

/// Maps `len` bytes of fresh anonymous read-write memory with extra `flags` (e.g.
/// `MAP_POPULATE`). Safe: without `MAP_FIXED` the kernel picks an unused range, so no
/// existing memory is replaced.
pub(crate) fn mmap_anon(len: usize, flags: libc::c_int) -> Result<*mut u8, Failure> {
    mmap_anon_prot(len, libc::PROT_READ | libc::PROT_WRITE, flags)
}

/// As [`mmap_anon`] with an explicit protection (e.g. `PROT_NONE` for a reservation).
pub(crate) fn mmap_anon_prot(
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
) -> Result<*mut u8, Failure> {
    // SAFETY: a NULL hint without MAP_FIXED never replaces an existing mapping; the
    // result is only used as an address.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | (flags & !libc::MAP_FIXED),
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(os_failure("mmap"));
    }
    Ok(p.cast())
}

/// Unmaps `[p, p + len)`.
///
/// # Safety
/// The range must be a mapping this code created, and nothing may use it afterwards.
pub(crate) unsafe fn munmap(p: *mut u8, len: usize) -> Result<(), Failure> {
    // SAFETY: the caller guarantees the range is ours and dead.
    if unsafe { libc::munmap(p.cast::<c_void>(), len) } != 0 {
        return Err(os_failure("munmap"));
    }
    Ok(())
}

/// `madvise(p, len, advice)`.
///
/// # Safety
/// The range must be a mapping this code owns. `MADV_DONTNEED` discards its contents
/// (anonymous pages read back as zeros), so no live Rust value may be stored there.
pub(crate) unsafe fn madvise(p: *mut u8, len: usize, advice: libc::c_int) -> Result<(), Failure> {
    // SAFETY: the caller guarantees the range is ours and holds no live Rust values.
    if unsafe { libc::madvise(p.cast::<c_void>(), len, advice) } != 0 {
        return Err(os_failure("madvise"));
    }
    Ok(())
}

/// A mapping owned by the benchmark and unmapped when dropped.
pub(crate) struct Region {
    ptr: *mut u8,
    len: usize,
}

impl Region {
    /// Fresh anonymous read-write memory, nothing resident until touched.
    pub(crate) fn anon(len: usize) -> Result<Region, Failure> {
        Ok(Region {
            ptr: mmap_anon(len, 0)?,
            len,
        })
    }

    /// Takes ownership of an existing mapping.
    ///
    /// # Safety
    /// `[ptr, ptr + len)` must be a mapping nothing else owns or will unmap.
    pub(crate) unsafe fn from_raw(ptr: *mut u8, len: usize) -> Region {
        Region { ptr, len }
    }

    /// Asks the kernel not to back this range with transparent huge pages, so that
    /// every fault maps one base page (a 2 MiB huge page would turn 512 faults into
    /// one). This splits the range into its own VMA, which is harmless here.
    pub(crate) fn no_huge_pages(&self) -> Result<(), Failure> {
        // SAFETY: the range is our own mapping; NOHUGEPAGE changes no contents.
        unsafe { madvise(self.ptr, self.len, libc::MADV_NOHUGEPAGE) }
    }

    /// Start address.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Writes `byte` at `offset` with a volatile store (which the compiler may not drop
    /// or merge: the store is what makes the kernel fault the page in). Out-of-range
    /// offsets are ignored.
    pub(crate) fn write(&self, offset: usize, byte: u8) {
        if offset < self.len {
            // SAFETY: `offset` is inside our read-write mapping.
            unsafe { self.ptr.add(offset).write_volatile(byte) }
        }
    }

    /// Reads the byte at `offset` with a volatile load (0 when out of range).
    pub(crate) fn read(&self, offset: usize) -> u8 {
        if offset < self.len {
            // SAFETY: `offset` is inside our readable mapping.
            unsafe { self.ptr.add(offset).read_volatile() }
        } else {
            0
        }
    }

    /// Unmaps now, reporting a failure (dropping ignores it).
    pub(crate) fn unmap(mut self) -> Result<(), Failure> {
        let (p, len) = (self.ptr, self.len);
        self.len = 0;
        // SAFETY: we own the mapping and `self` is consumed, so nothing uses it after.
        unsafe { munmap(p, len) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: we own the mapping and are being dropped. A failure cannot be
            // reported from drop; it would only leak address space in a child that is
            // about to exit.
            let _ = unsafe { munmap(self.ptr, self.len) };
        }
    }
}

/// An owned file descriptor, closed when dropped.
pub(crate) struct Fd(pub(crate) libc::c_int);

impl Fd {
    /// Writes one byte; `false` if it could not (the other end is gone).
    pub(crate) fn write_byte(&self, b: u8) -> bool {
        loop {
            // SAFETY: writes one byte from a valid stack location to our descriptor.
            let n = unsafe { libc::write(self.0, (&raw const b).cast(), 1) };
            if n == 1 {
                return true;
            }
            if n < 0 && last_errno() == libc::EINTR {
                continue;
            }
            return false;
        }
    }

    /// Reads one byte; `None` at end of file or on error.
    pub(crate) fn read_byte(&self) -> Option<u8> {
        let mut b = 0u8;
        loop {
            // SAFETY: reads at most one byte into a valid stack location.
            let n = unsafe { libc::read(self.0, (&raw mut b).cast(), 1) };
            if n == 1 {
                return Some(b);
            }
            if n < 0 && last_errno() == libc::EINTR {
                continue;
            }
            return None;
        }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: we own the descriptor and close it exactly once.
            unsafe { libc::close(self.0) };
        }
    }
}

/// A new pipe, `(read end, write end)`, close-on-exec.
pub(crate) fn pipe() -> Result<(Fd, Fd), Failure> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(os_failure("pipe2"));
    }
    Ok((Fd(fds[0]), Fd(fds[1])))
}

/// The current `errno`.
pub(crate) fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
