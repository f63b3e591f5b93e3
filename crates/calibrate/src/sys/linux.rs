//! The wrappers themselves, for Linux with glibc (see the parent module for the rules).

use super::SysError;
use std::ffi::{CStr, c_int, c_void};
use std::ptr::{self, NonNull};

/// The `errno` of the calling thread, read right after a failed call. (Reading it does
/// not allocate: the value is the thread's `errno` word.)
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The error for `call`, with the current `errno`.
pub fn last_error(call: &'static str) -> SysError {
    SysError {
        call,
        errno: errno(),
    }
}

/// `Ok` for a C return code of 0, the error of `call` otherwise.
fn check(rc: c_int, call: &'static str) -> Result<(), SysError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(last_error(call))
    }
}

// ---------------------------------------------------------------------------------
// The machine

/// The size of a base page (4096 on x86-64): the unit in which the kernel maps,
/// protects and faults memory.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions; it only reads a constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

/// Online CPUs (at least 1).
pub fn online_cpus() -> usize {
    // SAFETY: as above, a pure query.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 { n as usize } else { 1 }
}

/// See [`super::glibc_version`].
pub(super) fn libc_version() -> &'static str {
    // SAFETY: gnu_get_libc_version returns a pointer to a static NUL-terminated
    // string that lives as long as the process.
    let ptr = unsafe { libc::gnu_get_libc_version() };
    if ptr.is_null() {
        return "unknown";
    }
    // SAFETY: non-null, NUL-terminated and static (see above).
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str().unwrap_or("unknown")
}

/// What `uname(2)` says about the system (the fields of `uname -s`, `-r`, `-m`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uname {
    /// The operating system, `Linux`.
    pub sysname: String,
    /// The kernel release, e.g. `6.18.0`.
    pub release: String,
    /// The hardware, e.g. `x86_64`.
    pub machine: String,
}

/// The system's names from `uname(2)`, `None` if the call fails. Allocates.
pub fn uname() -> Option<Uname> {
    // SAFETY: utsname is plain character arrays; all-zero is valid.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let s = |a: &[libc::c_char]| {
        let bytes: Vec<u8> = a
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some(Uname {
        sysname: s(&u.sysname),
        release: s(&u.release),
        machine: s(&u.machine),
    })
}

/// The CPUs the calling thread may run on (its affinity mask). Allocates.
pub fn allowed_cpus() -> Result<Vec<usize>, SysError> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed; pid 0 means the
    // calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    check(rc, "sched_getaffinity")?;
    let max = 8 * size_of::<libc::cpu_set_t>();
    // SAFETY: every index is below the set's capacity in bits.
    Ok((0..max)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Pins the calling thread (and the threads and processes it creates later, which
/// inherit the mask) to `cpu`. Timing one CPU removes migrations, and it is what makes
/// two processes take turns on the same CPU in the context-switch benchmark.
pub fn pin_to(cpu: usize) -> Result<(), SysError> {
    if cpu >= 8 * size_of::<libc::cpu_set_t>() {
        return Err(SysError {
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
    check(rc, "sched_setaffinity")
}

/// The CPU the calling thread is running on right now.
pub fn current_cpu() -> Option<usize> {
    // SAFETY: a pure query.
    let c = unsafe { libc::sched_getcpu() };
    usize::try_from(c).ok()
}

// ---------------------------------------------------------------------------------
// Clocks, counters and the cheapest calls

/// Nanoseconds on `CLOCK_MONOTONIC`: a clock that never jumps (unlike wall time), read
/// through the vDSO, so it costs tens of nanoseconds and no syscall.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// CPU time this process has used so far, user and system together, in nanoseconds
/// (`CLOCK_PROCESS_CPUTIME_ID`). Unlike a wall clock it does not run while the process
/// waits for a CPU, so a benchmark on a busy machine measures the work, not the queue.
/// The kernel counts it per thread and adds the threads up, so a read is a system call
/// (a few hundred nanoseconds): read it around a whole loop, not around each step.
/// Allocation-free.
pub fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// The most memory this process has had resident at once (`getrusage` `ru_maxrss`),
/// in bytes: its peak RSS, the host memory a simulation really used.
pub fn peak_rss_bytes() -> u64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        0
    } else {
        (ru.ru_maxrss as u64).saturating_mul(1024)
    }
}

/// Bytes of this process's private writable memory, as the kernel counts them against
/// `RLIMIT_DATA` (heap, writable data segments, private anonymous mappings) plus its
/// stack: the `data` field of `/proc/self/statm`, in pages, times the page size.
/// `None` when the file cannot be read. Allocation-free (the file is read into a stack
/// buffer).
pub fn data_bytes() -> Option<u64> {
    // SAFETY: the path is a valid C string; O_RDONLY | O_CLOEXEC opens without side
    // effects.
    let fd = unsafe {
        libc::open(
            c"/proc/self/statm".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    let fd = Fd(fd);
    let mut buf = [0u8; 128];
    let n = read_exact(fd.0, &mut buf).ok()?;
    parse_statm_data(&buf[..n]).map(|pages| pages.saturating_mul(page_size() as u64))
}

/// The sixth number (`data`, in pages) of a `/proc/PID/statm` line:
/// `size resident shared text lib data dt`.
pub fn parse_statm_data(statm: &[u8]) -> Option<u64> {
    let mut fields = statm
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let field = fields.nth(5)?;
    let mut value: u64 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

/// Limits this process's private writable memory to `bytes` (`setrlimit(RLIMIT_DATA)`,
/// soft and hard): past it, `brk` and private `mmap` fail with `ENOMEM`, so glibc's
/// `malloc` returns NULL. A memory cap that costs nothing per call, for a loop that
/// must not spend time checking one.
pub fn limit_data(bytes: u64) -> Result<(), SysError> {
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: `limit` is a valid rlimit; lowering RLIMIT_DATA only makes later
    // allocations of this process fail.
    check(
        unsafe { libc::setrlimit(libc::RLIMIT_DATA, &limit) },
        "setrlimit(RLIMIT_DATA)",
    )
}

/// Minor page faults of this process so far (`getrusage` `ru_minflt`): faults the
/// kernel served without I/O, such as the first touch of an anonymous page, which
/// allocates and zeroes a frame.
pub fn minor_faults() -> u64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 { 0 } else { ru.ru_minflt as u64 }
}

/// The null system call, `syscall(SYS_getppid)`: the kernel looks up one field, so the
/// time it takes is the mode switch itself. (Through `syscall` rather than glibc's
/// `getppid` so that no library cache can answer it.)
pub fn null_syscall() {
    // SAFETY: getppid takes no arguments and cannot fail or touch memory.
    unsafe { libc::syscall(libc::SYS_getppid) };
}

/// `sched_yield()`: gives the CPU to another runnable task, if there is one.
pub fn sched_yield() -> Result<(), SysError> {
    // SAFETY: sched_yield has no arguments and no memory effects.
    check(unsafe { libc::sched_yield() }, "sched_yield")
}

// ---------------------------------------------------------------------------------
// Process-wide switches and signals

/// Turns transparent huge pages off for this process (`PR_SET_THP_DISABLE`), so that
/// anonymous memory is faulted in and measured in base pages.
pub fn disable_thp() -> Result<(), SysError> {
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes a flag of
    // this process.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    check(rc, "prctl(PR_SET_THP_DISABLE)")
}

/// Asks the kernel to kill this process when its parent dies (`PR_SET_PDEATHSIG`), so
/// that a helper process never outlives the one it helps.
pub fn die_with_parent() {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and changes a flag of this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
}

/// Puts the default action of `sig` back. Async-signal-safe: a signal handler may call
/// it.
pub fn restore_default(sig: c_int) {
    // SAFETY: signal() is async-signal-safe on Linux; SIG_DFL installs no code.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

/// No core files for this process (`RLIMIT_CORE` = 0): for children that crash on
/// purpose.
pub fn no_core_dumps() -> Result<(), SysError> {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `no_core` is a valid rlimit; lowering RLIMIT_CORE only affects dumps.
    check(
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) },
        "setrlimit",
    )
}

/// A signal handler that receives the `siginfo_t` (`SA_SIGINFO`).
pub type FaultHandler = extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);

/// Installs `handler` for `SIGSEGV` and `SIGBUS`.
///
/// # Safety
/// `handler` may only call async-signal-safe functions (`write(2)`,
/// [`restore_default`], ...): it interrupts the program at an arbitrary instruction,
/// possibly inside `malloc` or while a lock is held.
pub unsafe fn on_fault_signals(handler: FaultHandler) -> Result<(), SysError> {
    // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags), filled in
    // below before use.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler as *const () as usize;
    act.sa_flags = libc::SA_SIGINFO;
    for sig in [libc::SIGSEGV, libc::SIGBUS] {
        // SAFETY: `act` is a valid sigaction whose handler has the SA_SIGINFO signature
        // and, by this function's contract, only calls async-signal-safe functions.
        let rc = unsafe { libc::sigaction(sig, &act, ptr::null_mut()) };
        check(rc, "sigaction")?;
    }
    Ok(())
}

/// The `si_code` (why the kernel raised the signal) and the faulting address of a
/// `SIGSEGV` or `SIGBUS`, from the `siginfo_t` an `SA_SIGINFO` handler received.
///
/// # Safety
/// `info` must be null or the `siginfo_t` the kernel passed to a handler of `SIGSEGV`
/// or `SIGBUS` (for other signals `si_addr` means nothing).
pub unsafe fn fault_info(info: *const libc::siginfo_t) -> Option<(i32, usize)> {
    if info.is_null() {
        return None;
    }
    // SAFETY: the kernel passes a valid siginfo_t (the caller's contract); si_addr is
    // meaningful for SIGSEGV and SIGBUS.
    Some(unsafe { ((*info).si_code, (*info).si_addr() as usize) })
}

// ---------------------------------------------------------------------------------
// Mappings

/// Maps `len` bytes with `mmap(hint, len, prot, flags, fd, 0)`, where the kernel takes
/// `hint` as a suggestion only: `MAP_FIXED` is removed from `flags`, so no existing
/// mapping is ever replaced. Safe for that reason; the result is only an address.
/// (`fd` is -1 for anonymous memory.)
pub fn mmap(
    hint: *mut u8,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
) -> Result<*mut u8, SysError> {
    // SAFETY: without MAP_FIXED the kernel never replaces an existing mapping; the
    // result is checked against MAP_FAILED.
    let p = unsafe { libc::mmap(hint.cast(), len, prot, flags & !libc::MAP_FIXED, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(last_error("mmap"));
    }
    Ok(p.cast())
}

/// Maps `len` bytes of fresh private anonymous memory with protection `prot` and extra
/// `flags` (e.g. `MAP_POPULATE`, `MAP_NORESERVE`) where the kernel chooses.
pub fn mmap_anon(len: usize, prot: c_int, flags: c_int) -> Result<*mut u8, SysError> {
    mmap(
        ptr::null_mut(),
        len,
        prot,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
        -1,
    )
}

/// Maps `len` bytes at exactly `at` (`MAP_FIXED`), replacing whatever was mapped there.
///
/// # Safety
/// `[at, at + len)` must be address space the caller owns (typically part of a
/// `PROT_NONE` reservation it made) and holding no live Rust values.
pub unsafe fn mmap_fixed(
    at: *mut u8,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
) -> Result<*mut u8, SysError> {
    // SAFETY: the caller owns the range, so replacing it breaks nothing else.
    let p = unsafe { libc::mmap(at.cast(), len, prot, flags | libc::MAP_FIXED, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(last_error("mmap"));
    }
    Ok(p.cast())
}

/// Unmaps `[p, p + len)`.
///
/// # Safety
/// The range must be a mapping the caller created, and nothing may use it afterwards.
pub unsafe fn munmap(p: *mut u8, len: usize) -> Result<(), SysError> {
    // SAFETY: the caller guarantees the range is ours and dead.
    check(unsafe { libc::munmap(p.cast::<c_void>(), len) }, "munmap")
}

/// `madvise(p, len, advice)`.
///
/// # Safety
/// The range must be a mapping the caller owns. `MADV_DONTNEED` discards its contents
/// (anonymous pages read back as zeros), so no live Rust value may be stored there.
pub unsafe fn madvise(p: *mut u8, len: usize, advice: c_int) -> Result<(), SysError> {
    // SAFETY: the caller guarantees the range is ours and holds no live Rust values.
    check(
        unsafe { libc::madvise(p.cast::<c_void>(), len, advice) },
        "madvise",
    )
}

/// `mprotect(p, len, prot)`.
///
/// # Safety
/// The range must be a mapping the caller owns, holding no Rust values, and nothing
/// may access it in a way the new protection forbids (unless a fault is the point).
pub unsafe fn mprotect(p: *mut u8, len: usize, prot: c_int) -> Result<(), SysError> {
    // SAFETY: the caller guarantees the range is ours and how it is accessed.
    check(unsafe { libc::mprotect(p.cast(), len, prot) }, "mprotect")
}

/// `mremap(p, old, new, flags)`: grows or shrinks a mapping, in place or (with
/// `MREMAP_MAYMOVE`) by moving it. Returns the mapping's address afterwards.
///
/// # Safety
/// `[p, p + old)` must be a whole mapping the caller owns. When it shrinks, or moves,
/// nothing may use the old addresses afterwards.
pub unsafe fn mremap(
    p: *mut u8,
    old: usize,
    new: usize,
    flags: c_int,
) -> Result<*mut u8, SysError> {
    // SAFETY: the caller guarantees the mapping is theirs and what happens to it.
    let q = unsafe { libc::mremap(p.cast(), old, new, flags) };
    if q == libc::MAP_FAILED {
        return Err(last_error("mremap"));
    }
    Ok(q.cast())
}

/// An anonymous private read-write mapping owned by Rust, unmapped when dropped.
///
/// Anonymous memory is zero-filled on first touch. With `populate`, the kernel
/// allocates every page at `mmap` time (`MAP_POPULATE`), so touching it later causes
/// no page fault: a measurement harness uses that to keep its own buffers out of the
/// fault counts it reports. Accesses through [`write`](Mapping::write),
/// [`read`](Mapping::read) and [`fill`](Mapping::fill) are volatile (the compiler
/// may not drop or merge them: the access is what makes the kernel fault a page in)
/// and bounds-checked.
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes (at least 1; the kernel rounds up to whole pages) read-write.
    pub fn new(len: usize, populate: bool) -> Result<Mapping, SysError> {
        let len = len.max(1);
        let flags = if populate { libc::MAP_POPULATE } else { 0 };
        let ptr = mmap_anon(len, libc::PROT_READ | libc::PROT_WRITE, flags)?;
        Ok(Mapping { ptr, len })
    }

    /// Takes ownership of an existing mapping.
    ///
    /// # Safety
    /// `[ptr, ptr + len)` must be a read-write mapping that nothing else owns or will
    /// unmap, whose bytes are initialised (anonymous or file memory always is).
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> Mapping {
        Mapping { ptr, len }
    }

    /// The first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Bytes mapped (as requested, before page rounding).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True only for a mapping already unmapped through [`unmap`](Mapping::unmap).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mapping as bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is a live read-write mapping owned by self, zero-filled
        // or written through `&mut self`, so every byte is initialised.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The mapping as mutable bytes.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// The mapping as `u64` words (its length divided by 8, rounded down).
    pub fn words_mut(&mut self) -> &mut [u64] {
        // SAFETY: mmap returns page-aligned memory, so it is aligned for u64; the
        // word count stays inside the mapping; any bit pattern is a valid u64;
        // `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<u64>(), self.len / 8) }
    }

    /// Writes `byte` at `offset` with a volatile store. Out-of-range offsets are
    /// ignored.
    pub fn write(&mut self, offset: usize, byte: u8) {
        if offset < self.len {
            // SAFETY: `offset` is inside our read-write mapping; `&mut self` excludes
            // any reference into it.
            unsafe { self.ptr.add(offset).write_volatile(byte) }
        }
    }

    /// Reads the byte at `offset` with a volatile load (0 when out of range).
    pub fn read(&self, offset: usize) -> u8 {
        if offset < self.len {
            // SAFETY: `offset` is inside our readable mapping.
            unsafe { self.ptr.add(offset).read_volatile() }
        } else {
            0
        }
    }

    /// Sets `len` bytes from `offset` to `byte` (clipped to the mapping): a `memset`,
    /// the way a program writes the memory it got.
    pub fn fill(&mut self, offset: usize, len: usize, byte: u8) {
        let end = offset.saturating_add(len).min(self.len);
        if offset < end {
            // SAFETY: offset..end is inside our read-write mapping; `&mut self`
            // excludes any reference into it.
            unsafe { self.ptr.add(offset).write_bytes(byte, end - offset) }
        }
    }

    /// Asks the kernel not to back this mapping with transparent huge pages, so that
    /// every fault maps one base page (a 2 MiB huge page would turn 512 faults into
    /// one). This may split the range into its own VMA, which changes no contents.
    pub fn no_huge_pages(&self) -> Result<(), SysError> {
        // SAFETY: the range is our own mapping; NOHUGEPAGE changes no contents.
        unsafe { madvise(self.ptr, self.len, libc::MADV_NOHUGEPAGE) }
    }

    /// Gives the pages of `[offset, offset + len)` back (`MADV_DONTNEED`): their frames
    /// are freed and the next touch faults in a zeroed page. `offset` must be
    /// page-aligned (else `EINVAL`); the range is clipped to the mapping.
    pub fn discard(&mut self, offset: usize, len: usize) -> Result<(), SysError> {
        let end = offset.saturating_add(len).min(self.len);
        if offset >= end {
            return Ok(());
        }
        // SAFETY: the range is inside our own mapping; `&mut self` excludes references
        // into it, and zeros are valid bytes.
        unsafe { madvise(self.ptr.add(offset), end - offset, libc::MADV_DONTNEED) }
    }

    /// Faults every page in for writing (`MADV_POPULATE_WRITE`) without writing to it:
    /// the work of `MAP_POPULATE`, on a mapping that already exists.
    pub fn populate_write(&self) -> Result<(), SysError> {
        // SAFETY: populating our own mapping only makes its pages resident; contents
        // stay as they are.
        unsafe { madvise(self.ptr, self.len, libc::MADV_POPULATE_WRITE) }
    }

    /// Unmaps now, reporting a failure (dropping ignores it).
    pub fn unmap(mut self) -> Result<(), SysError> {
        let (p, len) = (self.ptr, self.len);
        self.len = 0;
        // SAFETY: we own the mapping and `self` is consumed, so nothing uses it after.
        unsafe { munmap(p, len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: ptr/len describe a mapping this value owns and nobody else
            // unmaps; after drop no reference into it survives. A failure cannot be
            // reported from drop; it would only leak address space.
            let _ = unsafe { munmap(self.ptr, self.len) };
        }
    }
}

/// Bytes of `[start, start + len)` resident in RAM, by `mincore(2)`, rounded out to
/// whole pages. `vec` is scratch space (one byte per page per call; any length >= 1):
/// pass a populated buffer so that measuring does not itself fault.
///
/// `mincore` reports, per page of a mapped range, whether it is in memory. For
/// anonymous memory that means "touched and not given back" (a read-only touch that
/// mapped the shared zero page counts too). The whole range must be mapped, or it
/// fails with `ENOMEM`.
pub fn resident_bytes(start: usize, len: usize, vec: &mut [u8]) -> Result<u64, SysError> {
    let page = page_size();
    if len == 0 || vec.is_empty() {
        return Ok(0);
    }
    let first = start & !(page - 1);
    let end = start.saturating_add(len).saturating_add(page - 1) & !(page - 1);
    let mut addr = first;
    let mut resident_pages: u64 = 0;
    while addr < end {
        let pages = ((end - addr) / page).min(vec.len());
        // SAFETY: `addr` is page-aligned; `vec` holds at least `pages` writable
        // bytes; mincore only reads the page tables of [addr, addr + pages * page).
        let rc =
            unsafe { libc::mincore(addr as *mut libc::c_void, pages * page, vec.as_mut_ptr()) };
        check(rc, "mincore")?;
        resident_pages += vec[..pages].iter().filter(|b| **b & 1 != 0).count() as u64;
        addr += pages * page;
    }
    Ok(resident_pages * page as u64)
}

// ---------------------------------------------------------------------------------
// glibc's malloc and the program break

/// One block from glibc's `malloc`, given back with `free` when dropped.
#[derive(Debug)]
pub struct HeapBlock {
    ptr: NonNull<u8>,
    size: usize,
}

impl HeapBlock {
    /// `malloc(size)`; `ENOMEM` when it returns NULL.
    pub fn new(size: usize) -> Result<HeapBlock, SysError> {
        match NonNull::new(malloc(size)) {
            Some(ptr) => Ok(HeapBlock { ptr, size }),
            None => Err(SysError {
                call: "malloc",
                errno: libc::ENOMEM,
            }),
        }
    }

    /// The block's first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Writes `byte` into every requested byte of the block (a `memset`).
    pub fn fill(&mut self, byte: u8) {
        // SAFETY: malloc returned at least `size` writable bytes at `ptr`, owned by self.
        unsafe { self.ptr.as_ptr().write_bytes(byte, self.size) }
    }
}

impl Drop for HeapBlock {
    fn drop(&mut self) {
        // SAFETY: the pointer came from malloc and is freed exactly once, here.
        unsafe { free(self.ptr.as_ptr()) }
    }
}

/// `malloc(size)`: a block of at least `size` bytes, or null. Safe: it only returns an
/// address (use [`HeapBlock`] to own the block).
pub fn malloc(size: usize) -> *mut u8 {
    // SAFETY: malloc accepts any size and touches no memory of ours.
    unsafe { libc::malloc(size).cast() }
}

/// `calloc(count, size)`: `count * size` zeroed bytes, or null (also when the product
/// overflows). Safe for the same reason as [`malloc`].
pub fn calloc(count: usize, size: usize) -> *mut u8 {
    // SAFETY: calloc accepts any arguments and touches no memory of ours.
    unsafe { libc::calloc(count, size).cast() }
}

/// `posix_memalign(&p, align, size)`: `size` bytes at a multiple of `align` (a power of
/// two and a multiple of 8), or the error number it returns (`EINVAL`, `ENOMEM`).
pub fn posix_memalign(align: usize, size: usize) -> Result<*mut u8, i32> {
    let mut p: *mut libc::c_void = ptr::null_mut();
    // SAFETY: `p` is a valid place for the result; the call touches nothing else of ours.
    match unsafe { libc::posix_memalign(&mut p, align, size) } {
        0 => Ok(p.cast()),
        e => Err(e),
    }
}

/// `aligned_alloc(align, size)` (C11), or null.
pub fn aligned_alloc(align: usize, size: usize) -> *mut u8 {
    // SAFETY: aligned_alloc accepts any arguments and touches no memory of ours.
    unsafe { libc::aligned_alloc(align, size).cast() }
}

/// `memalign(align, size)`, or null.
pub fn memalign(align: usize, size: usize) -> *mut u8 {
    // SAFETY: memalign accepts any arguments and touches no memory of ours.
    unsafe { libc::memalign(align, size).cast() }
}

/// `free(p)`.
///
/// # Safety
/// `p` must be null or a block from `malloc`/`realloc` that has not been freed, and it
/// must not be used afterwards.
pub unsafe fn free(p: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe { libc::free(p.cast()) }
}

/// `realloc(p, size)`: the block resized, possibly moved (its old address is then dead);
/// null on failure (the old block stays valid) and, for `size == 0`, after freeing it
/// (glibc's rule).
///
/// # Safety
/// `p` must be a live block from `malloc`/`realloc`.
pub unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: the caller's contract.
    unsafe { libc::realloc(p.cast(), size).cast() }
}

/// `malloc_trim(pad)`: returns free memory at the top of glibc's heap (keeping `pad`
/// bytes) and free whole pages inside it to the kernel.
pub fn malloc_trim(pad: usize) {
    // SAFETY: malloc_trim only returns free memory of glibc's own heap to the OS.
    unsafe { libc::malloc_trim(pad) };
}

/// glibc's `mallinfo2` figures, the ones the per-op rows carry.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct MallInfo {
    /// Bytes of the main heap (from its start to the break).
    pub arena: u64,
    /// Chunks in mappings of their own.
    pub hblks: u64,
    /// Bytes of those mappings.
    pub hblkhd: u64,
    /// Bytes in chunks in use on the heap.
    pub uordblks: u64,
    /// Bytes in free chunks on the heap, top included.
    pub fordblks: u64,
    /// Bytes of the top chunk (what `malloc_trim` could give back).
    pub keepcost: u64,
}

/// `mallinfo2()`. It allocates nothing; before the first `malloc` it initialises
/// malloc's bookkeeping as that `malloc` would.
pub fn mallinfo2() -> MallInfo {
    // SAFETY: mallinfo2 only reads the allocator's own state and returns a plain struct.
    let m = unsafe { libc::mallinfo2() };
    MallInfo {
        arena: m.arena as u64,
        hblks: m.hblks as u64,
        hblkhd: m.hblkhd as u64,
        uordblks: m.uordblks as u64,
        fordblks: m.fordblks as u64,
        keepcost: m.keepcost as u64,
    }
}

/// The current program break, `sbrk(0)`: the end of the heap segment.
pub fn program_break() -> usize {
    // SAFETY: sbrk(0) moves nothing; it returns the current break (glibc caches it after
    // the first call, which asks the kernel with brk(0)).
    unsafe { libc::sbrk(0) as usize }
}

/// Moves the break by `delta` bytes (negative shrinks) and returns the old break.
///
/// # Safety
/// glibc's `malloc` moves the same break. Nothing else may move it while the caller
/// relies on where it is, and a shrink may only give back memory the caller added
/// itself and no longer uses.
pub unsafe fn sbrk(delta: isize) -> Result<*mut u8, SysError> {
    // SAFETY: the caller's contract.
    let p = unsafe { libc::sbrk(delta as libc::intptr_t) };
    if p as isize == -1 {
        return Err(last_error("sbrk"));
    }
    Ok(p.cast())
}

/// The raw `brk(addr)` system call, without glibc's cached break: returns the break
/// the kernel ended with (the old one when it refuses). `brk(0)` asks where it is.
///
/// # Safety
/// glibc's `malloc` believes it owns the break. Nothing may allocate with `malloc`
/// while the caller moves the break, and a shrink may only give back memory the caller
/// added itself (with this call) and no longer uses.
pub unsafe fn raw_brk(addr: usize) -> usize {
    // SAFETY: the caller's contract; the kernel checks the address itself.
    unsafe { libc::syscall(libc::SYS_brk, addr) as usize }
}

/// The fields of `struct prctl_mm_map` (`linux/prctl.h`): where the kernel keeps a
/// process's code, data, heap, stack, arguments and environment.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default)]
pub struct MmMap {
    /// Start of the code segment.
    pub start_code: u64,
    /// End of the code segment.
    pub end_code: u64,
    /// Start of the data segment.
    pub start_data: u64,
    /// End of the data segment.
    pub end_data: u64,
    /// Where the heap starts (`brk` cannot go below it).
    pub start_brk: u64,
    /// The program break.
    pub brk: u64,
    /// Start of the main stack.
    pub start_stack: u64,
    /// Start of the argument strings.
    pub arg_start: u64,
    /// End of the argument strings.
    pub arg_end: u64,
    /// Start of the environment strings.
    pub env_start: u64,
    /// End of the environment strings.
    pub env_end: u64,
    /// The auxiliary vector (null: unchanged).
    pub auxv: u64,
    /// Its size in bytes (0: unchanged).
    pub auxv_size: u32,
    /// A file descriptor for `/proc/self/exe` (`u32::MAX`: unchanged).
    pub exe_fd: u32,
}

/// `prctl(PR_SET_MM, PR_SET_MM_MAP, map)`: sets the memory layout fields of this
/// process at once (what checkpoint/restore tools use; no capability is needed when the
/// executable link is left alone). Used to move the program break.
///
/// # Safety
/// Moving the break under glibc's `malloc` (whose cached break goes stale) is only
/// sound if `malloc` grows no heap until the caller is done with the new break.
pub unsafe fn set_mm_map(map: &MmMap) -> Result<(), SysError> {
    // SAFETY: `map` is a valid prctl_mm_map for the duration of the call; the caller's
    // contract covers what the new layout means for malloc.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            libc::PR_SET_MM_MAP as libc::c_ulong,
            map as *const MmMap as libc::c_ulong,
            std::mem::size_of::<MmMap>() as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    check(rc, "prctl(PR_SET_MM_MAP)")
}

/// Sets the soft limit of `resource` (`RLIMIT_DATA`, `RLIMIT_AS`, ...) to `soft`
/// bytes, keeping the hard limit.
pub fn set_soft_limit(resource: c_int, soft: u64) -> Result<(), SysError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    let rc = unsafe { libc::getrlimit(resource as _, &mut lim) };
    check(rc, "getrlimit")?;
    lim.rlim_cur = soft as libc::rlim_t;
    // SAFETY: `lim` is a valid rlimit; a soft limit above the hard one is refused by
    // the kernel (EINVAL), never undefined.
    let rc = unsafe { libc::setrlimit(resource as _, &lim) };
    check(rc, "setrlimit")
}

/// Minor and major page faults of this process so far (`getrusage`).
pub fn fault_counts() -> (u64, u64) {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        (0, 0)
    } else {
        (ru.ru_minflt as u64, ru.ru_majflt as u64)
    }
}

/// Reads the file at `path` (a `/proc` file, say) into `buf` with `open(2)`, `read(2)`
/// and `close(2)` only: no allocation, no stdio. Returns the bytes read (at most
/// `buf.len()`; the rest of a longer file is not read).
pub fn read_file(path: &CStr, buf: &mut [u8]) -> Result<usize, SysError> {
    // SAFETY: `path` is a valid NUL-terminated string.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last_error("open"));
    }
    let fd = Fd(fd);
    let mut n = 0;
    while n < buf.len() {
        match read_some(fd.raw(), &mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------
// Files, pipes and processes

/// An owned file descriptor, closed when dropped.
#[derive(Debug)]
pub struct Fd(c_int);

impl Fd {
    /// The descriptor number.
    pub fn raw(&self) -> c_int {
        self.0
    }

    /// Writes one byte; `false` if it could not (the other end is gone).
    pub fn write_byte(&self, b: u8) -> bool {
        loop {
            // SAFETY: writes one byte from a valid stack location to our descriptor.
            let n = unsafe { libc::write(self.0, (&raw const b).cast(), 1) };
            if n == 1 {
                return true;
            }
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            return false;
        }
    }

    /// Reads one byte; `None` at end of file or on error.
    pub fn read_byte(&self) -> Option<u8> {
        let mut b = 0u8;
        loop {
            // SAFETY: reads at most one byte into a valid stack location.
            let n = unsafe { libc::read(self.0, (&raw mut b).cast(), 1) };
            if n == 1 {
                return Some(b);
            }
            if n < 0 && errno() == libc::EINTR {
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
pub fn pipe() -> Result<(Fd, Fd), SysError> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    check(rc, "pipe2")?;
    Ok((Fd(fds[0]), Fd(fds[1])))
}

/// A new anonymous in-memory file of `len` bytes (`memfd_create` + `ftruncate`),
/// close-on-exec: shared memory that can be mapped several times.
pub fn memfd(name: &CStr, len: usize) -> Result<Fd, SysError> {
    // SAFETY: the name is a valid C string; the flags ask for close-on-exec only.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(last_error("memfd_create"));
    }
    let fd = Fd(fd);
    let len = libc::off_t::try_from(len).map_err(|_| SysError {
        call: "ftruncate",
        errno: libc::EFBIG,
    })?;
    // SAFETY: sizes our own new file.
    check(unsafe { libc::ftruncate(fd.0, len) }, "ftruncate")?;
    Ok(fd)
}

/// Writes all of `bytes` to file descriptor `fd` with `write(2)`, retrying on short
/// writes and `EINTR`. No buffering, no allocation; async-signal-safe.
pub fn write_all(fd: c_int, mut bytes: &[u8]) -> Result<(), SysError> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable slice for the duration of the call.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(last_error("write"));
        }
        bytes = &bytes[(n as usize).min(bytes.len())..];
    }
    Ok(())
}

/// One `read(2)` into `buf` (retried on `EINTR`): the bytes read, 0 at end of file.
pub fn read_some(fd: c_int, buf: &mut [u8]) -> Result<usize, SysError> {
    loop {
        // SAFETY: `buf` is a valid writable slice for the duration of the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        if errno() != libc::EINTR {
            return Err(last_error("read"));
        }
    }
}

/// Fills `buf` from file descriptor `fd` with `read(2)`. Returns the bytes read, fewer
/// than `buf.len()` only at end of file.
pub fn read_exact(fd: c_int, buf: &mut [u8]) -> Result<usize, SysError> {
    let mut done = 0;
    while done < buf.len() {
        let n = read_some(fd, &mut buf[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// Waits up to `timeout_ms` for `fd` to become readable (`poll(2)`): `true` when it is
/// (or has reached end of file), `false` on timeout or when a signal interrupted the
/// wait.
pub fn poll_readable(fd: c_int, timeout_ms: c_int) -> Result<bool, SysError> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd.
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if rc < 0 {
        if errno() == libc::EINTR {
            return Ok(false);
        }
        return Err(last_error("poll"));
    }
    Ok(rc > 0)
}

/// A process id.
pub type Pid = libc::pid_t;

/// Which side of a `fork` the caller is on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Forked {
    /// The new process.
    Child,
    /// The calling process; the child has this id.
    Parent(Pid),
}

/// `fork()`: a copy of this process in which only the calling thread exists.
///
/// # Safety
/// In the child of a multi-threaded process, POSIX allows only async-signal-safe calls
/// (glibc makes `malloc` work too: it takes its locks around `fork`). The child must
/// not touch a lock or a data structure another thread of the parent may have been
/// holding or changing, and it must leave with [`exit_now`], never returning into code
/// that would run the parent's destructors or exit handlers a second time.
pub unsafe fn fork() -> Result<Forked, SysError> {
    // SAFETY: the caller's contract covers what the child does.
    match unsafe { libc::fork() } {
        pid if pid < 0 => Err(last_error("fork")),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Waits for child `pid` to end (`waitpid`, retried on `EINTR`); its raw wait status,
/// or `None` if waiting failed.
pub fn wait_for(pid: Pid) -> Option<c_int> {
    let mut status = 0;
    loop {
        // SAFETY: waits for a child and writes its status into a valid int.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return Some(status);
        }
        if rc < 0 && errno() == libc::EINTR {
            continue;
        }
        return None;
    }
}

/// Sends signal `sig` to process `pid` (e.g. `SIGKILL` to a child that hangs).
pub fn kill(pid: Pid, sig: c_int) {
    // SAFETY: kill only sends a signal; it touches no memory of ours.
    unsafe { libc::kill(pid, sig) };
}

/// Ends the process at once with `code`, without running exit handlers or flushing
/// stdio (`_exit(2)`): what a child that must not touch the heap, or a forked child
/// that must not run its parent's destructors, ends with.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}
