//! The tracer of `sim record`: a shared library that logs every call a program makes to
//! the `malloc` family.
//!
//! # How a preloaded library sees a program's calls
//! A dynamically linked program does not call glibc's `malloc` directly: it calls the
//! symbol `malloc`, and the dynamic loader binds that name to the first library in the
//! search order that defines it. `LD_PRELOAD=libbrkmap_tracer.so program` puts this
//! library first, so the program's `malloc`, `free`, `calloc`, `realloc`,
//! `reallocarray`, `posix_memalign`, `aligned_alloc`, `memalign`, `valloc` and
//! `pvalloc` (and those of every library it uses, glibc's own `strdup` or `fopen`
//! included: glibc calls its allocator through the same symbols on purpose, so that it
//! can be replaced) come here. Each wrapper forwards to glibc's real implementation,
//! which glibc exports under a second name (`__libc_malloc`, `__libc_free`, ...), and
//! logs what happened.
//!
//! # Rules the tracer keeps
//! - **It never allocates through the allocator it traces**: records are stored straight
//!   into the log file through a shared mapping of it (`mmap(MAP_SHARED)`), a window of
//!   1 MiB at a time, its blocks reserved with `fallocate(2)` first; the file is opened
//!   with `open(2)`. Nothing here uses Rust's allocator (which would call `malloc`,
//!   that is, us). A store into a shared file mapping is in the file at once (the
//!   kernel's page cache holds it), so nothing is lost if the program ends abruptly.
//! - **Re-entrancy**: a thread-local flag marks a thread that is inside the tracer; a
//!   call that arrives while it is set (from a signal handler, or from glibc code the
//!   tracer itself runs) is forwarded without being logged.
//! - **Threads**: one spin lock orders the records. A free is logged before the block
//!   is given back and a `realloc` is logged under the lock together with the call, so
//!   no other thread can be handed the same address and log it first: the log is a
//!   valid sequence of events. (A spin lock that yields rather than std's `Mutex`,
//!   which does not allocate either, because the `fork` handlers below take the lock in
//!   one callback and release it in another, which a guard cannot span.)
//! - **errno**: what the real call left in `errno` is what the program sees.
//! - **Exit**: a destructor adds an end record when the program exits normally
//!   (returning from `main` or calling `exit`); calls after it (other libraries'
//!   destructors) are still recorded. A program that ends with `_exit`, by a signal or
//!   by replacing itself with `exec` has no end record, but loses no call.
//! - **Processes**: only the process `sim record` started records. The log is created
//!   with `O_EXCL`, so another program that inherits `LD_PRELOAD` finds it there and
//!   does not record; a child made by `fork` is told by a `pthread_atfork` handler and
//!   stops recording. A process that replaces itself with `exec` (a shell script's last
//!   command, a launcher such as a pyenv shim) keeps its process id: the tracer of the
//!   new program finds its own id in the log's header and starts the log afresh, so the
//!   trace is that of the program the process became (the old program's heap is gone).
//!
//! # The log
//! `BRKMAP_TRACE_OUT` names the file (nothing is recorded without it). It is a sequence
//! of records of four little-endian 64-bit words, `[kind, a, b, result]`:
//!
//! | kind | call | a | b | result |
//! | --- | --- | --- | --- | --- |
//! | [`HEADER`] | (first record) | [`VERSION`] | process id | page size |
//! | [`MALLOC`] | `malloc(a)` | size | 0 | pointer |
//! | [`CALLOC`] | `calloc(a, b)` | count | size | pointer |
//! | [`REALLOC`] | `realloc(a, b)` (also `reallocarray`, with `b` the product) | old pointer (0: none) | size | pointer (0 when `b` is 0: the block was freed) |
//! | [`FREE`] | `free(a)` | pointer | 0 | 0 |
//! | [`POSIX_MEMALIGN`], [`ALIGNED_ALLOC`], [`MEMALIGN`] | the aligned functions (`valloc` and `pvalloc` as the `memalign` of a page they are in glibc) | alignment | size | pointer |
//! | [`END`] | the program is exiting | 0 | 0 | 0 |
//!
//! Only calls that succeed are logged (a NULL from `malloc` hands out no block); a
//! `free(NULL)` is not logged. `workload::trace::parse_tracer_log` reads the log back.

#![cfg_attr(test, allow(dead_code))]

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// First word of the first record, "BRKMAPL1" read as a little-endian number.
pub const HEADER: u64 = u64::from_le_bytes(*b"BRKMAPL1");
/// Version of the log format.
pub const VERSION: u64 = 1;
/// `malloc`.
pub const MALLOC: u64 = 1;
/// `calloc`.
pub const CALLOC: u64 = 2;
/// `realloc` and `reallocarray`.
pub const REALLOC: u64 = 3;
/// `free`.
pub const FREE: u64 = 4;
/// `posix_memalign`.
pub const POSIX_MEMALIGN: u64 = 5;
/// `aligned_alloc`.
pub const ALIGNED_ALLOC: u64 = 6;
/// `memalign`, `valloc`, `pvalloc`.
pub const MEMALIGN: u64 = 7;
/// The program is exiting (written by the destructor).
pub const END: u64 = 15;

/// Bytes of one record.
const RECORD: usize = 32;
/// Bytes of the log mapped at a time: 32 768 records.
const WINDOW: usize = 1 << 20;

// What the tracer needs from glibc, declared here so that one `rustc` call builds the
// library (no `libc` crate). Linux x86-64 and aarch64 share these values.
const O_RDWR: c_int = 0o2;
const O_CREAT: c_int = 0o100;
const O_EXCL: c_int = 0o200;
const O_CLOEXEC: c_int = 0o2_000_000;
const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const ENOMEM: c_int = 12;
const EINVAL: c_int = 22;
const EOPNOTSUPP: c_int = 95;
const SC_PAGESIZE: c_int = 30;

unsafe extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_free(p: *mut c_void);
    fn __libc_calloc(count: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    fn __libc_valloc(size: usize) -> *mut c_void;
    fn __libc_pvalloc(size: usize) -> *mut c_void;
    fn __errno_location() -> *mut c_int;
    fn getenv(name: *const c_char) -> *const c_char;
    fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn pread(fd: c_int, buf: *mut c_void, len: usize, offset: i64) -> isize;
    fn fallocate(fd: c_int, mode: c_int, offset: i64, len: i64) -> c_int;
    fn ftruncate(fd: c_int, len: i64) -> c_int;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn getpid() -> c_int;
    fn sysconf(name: c_int) -> i64;
    fn sched_yield() -> c_int;
    fn mmap(
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: i64,
    ) -> *mut c_void;
    fn pthread_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
    ) -> c_int;
}

/// Not started yet: calls are forwarded without a record.
const IDLE: u8 = 0;
/// Recording.
const ON: u8 = 1;
/// Never again in this process (no log asked for, the log belongs to another process,
/// a write failed, or this is a forked child).
const OFF: u8 = 2;

/// Whether this process records.
static STATE: AtomicU8 = AtomicU8::new(IDLE);

/// The lock around [`LOG`].
static LOCK: AtomicBool = AtomicBool::new(false);

/// The log file and the window of it that is mapped. Only touched with [`LOCK`] held.
struct Log {
    /// The mapped window ([`WINDOW`] bytes of the file from `base`), null before `init`.
    window: *mut u8,
    /// The file offset of the window.
    base: i64,
    /// Bytes of the window used.
    used: usize,
    /// The log file.
    fd: c_int,
}

/// [`Log`] in a static: shared between threads, which [`LOCK`] serialises.
struct Shared(UnsafeCell<Log>);

// SAFETY: every access to the inner Log happens with LOCK held (see `with_log`), so no
// two threads touch it at once.
unsafe impl Sync for Shared {}

static LOG: Shared = Shared(UnsafeCell::new(Log {
    window: std::ptr::null_mut(),
    base: 0,
    used: 0,
    fd: -1,
}));

thread_local! {
    /// Set while this thread is inside the tracer.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Takes the lock: spins briefly, then yields the CPU between tries (the holder may be
/// inside a slow `realloc` or a `write`).
fn lock() {
    let mut spins = 0u32;
    while LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spins += 1;
        if spins > 64 {
            // SAFETY: sched_yield has no arguments and no memory effects.
            unsafe { sched_yield() };
        } else {
            std::hint::spin_loop();
        }
    }
}

fn unlock() {
    LOCK.store(false, Ordering::Release);
}

/// Runs `f` on the log with the lock held.
fn with_log<R>(f: impl FnOnce(&mut Log) -> R) -> R {
    lock();
    // SAFETY: the lock is held, so this is the only reference to the Log until unlock.
    let r = f(unsafe { &mut *LOG.0.get() });
    unlock();
    r
}

/// A thread's stay inside the tracer; leaving clears the flag.
struct Inside;

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = BUSY.try_with(|b| b.set(false));
    }
}

/// Enters the tracer if this process records and this thread is not inside it already.
fn enter() -> Option<Inside> {
    if STATE.load(Ordering::Acquire) != ON {
        return None;
    }
    BUSY.try_with(|b| {
        if b.get() {
            None
        } else {
            b.set(true);
            Some(Inside)
        }
    })
    .ok()
    .flatten()
}

/// The calling thread's `errno`.
fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid.
    unsafe { *__errno_location() }
}

fn set_errno(e: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *__errno_location() = e };
}

/// One record as bytes.
fn encode(words: [u64; 4]) -> [u8; RECORD] {
    let mut out = [0u8; RECORD];
    for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Maps `WINDOW` bytes of `fd` from `base`, after reserving them in the file (so that a
/// full disk is an error here, not a `SIGBUS` on a later store; a file system without
/// `fallocate` just has the file extended). Null on failure.
fn map_window(fd: c_int, base: i64) -> *mut u8 {
    let end = base + WINDOW as i64;
    // SAFETY: fallocate and ftruncate only change the size and blocks of our own file.
    let reserved = unsafe { fallocate(fd, 0, base, WINDOW as i64) } == 0
        || (errno() == EOPNOTSUPP && unsafe { ftruncate(fd, end) } == 0);
    if !reserved {
        return std::ptr::null_mut();
    }
    // SAFETY: a new shared mapping of our file at an address the kernel chooses.
    let p = unsafe {
        mmap(
            std::ptr::null_mut(),
            WINDOW,
            PROT_READ | PROT_WRITE,
            MAP_SHARED,
            fd,
            base,
        )
    };
    if p as isize == -1 {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

impl Log {
    /// Appends one record. The kind word is stored last: a record whose kind is still 0
    /// was never finished, and the reader stops there.
    fn push(&mut self, words: [u64; 4]) {
        if self.window.is_null() || STATE.load(Ordering::Acquire) != ON {
            return;
        }
        if self.used + RECORD > WINDOW {
            let next = map_window(self.fd, self.base + WINDOW as i64);
            // SAFETY: the old window is ours and nothing refers to it any more.
            unsafe { munmap(self.window.cast(), WINDOW) };
            if next.is_null() {
                // Out of disk or address space: the log ends here.
                self.window = std::ptr::null_mut();
                STATE.store(OFF, Ordering::Release);
                return;
            }
            self.window = next;
            self.base += WINDOW as i64;
            self.used = 0;
        }
        let bytes = encode(words);
        // SAFETY: used + RECORD <= WINDOW: the record lies inside our mapped window,
        // which only this function writes (with the lock held).
        unsafe {
            let at = self.window.add(self.used);
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(8), at.add(8), RECORD - 8);
            std::sync::atomic::compiler_fence(Ordering::Release);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, 8);
        }
        self.used += RECORD;
    }
}

/// Logs one record, keeping `errno` as the traced call left it.
fn record(words: [u64; 4]) {
    let e = errno();
    with_log(|log| log.push(words));
    set_errno(e);
}

/// The alignment glibc's `memalign` really uses for `align`: the next power of two (it
/// rounds up alignments that are not one).
fn effective_align(align: usize) -> usize {
    align.checked_next_power_of_two().unwrap_or(align)
}

/// Whether `posix_memalign` accepts `align`: a power of two multiple of the size of a
/// pointer (it returns `EINVAL` otherwise, without allocating).
fn posix_align_ok(align: usize) -> bool {
    align != 0 && align.is_multiple_of(size_of::<usize>()) && align.is_power_of_two()
}

/// The size of a page.
fn page_size() -> usize {
    // SAFETY: sysconf only reads a constant.
    let n = unsafe { sysconf(SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

// ------------------------------------------------------------------------------------
// Start, fork and exit

/// Opens the log and starts recording: the library's constructor, which the dynamic
/// loader runs before the program's `main`. Allocations made before it (by the loader
/// and glibc's start-up) are not logged; frees of them show up in the log as frees of
/// unknown pointers, which the reader skips.
extern "C" fn init() {
    let _inside = BUSY.try_with(|b| b.set(true)).ok().map(|()| Inside);
    if !start() {
        STATE.store(OFF, Ordering::Release);
        return;
    }
    // SAFETY: the handlers are plain functions that only take and release the lock and
    // set the state; registering them allocates nothing in glibc (a static table).
    unsafe {
        pthread_atfork(
            Some(before_fork),
            Some(after_fork_parent),
            Some(after_fork_child),
        )
    };
    STATE.store(ON, Ordering::Release);
}

/// Opens the log named by `BRKMAP_TRACE_OUT` if this process is the one to record, maps
/// its first window and writes the header; false when this process does not record.
fn start() -> bool {
    // SAFETY: the name is a NUL-terminated string; getenv only reads the environment.
    let path = unsafe { getenv(c"BRKMAP_TRACE_OUT".as_ptr()) };
    if path.is_null() {
        return false;
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { getpid() } as u64;
    // SAFETY: `path` is a NUL-terminated string from the environment. O_EXCL: only the
    // first process to open it (the one `sim record` started) creates it.
    let mut fd = unsafe { open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600 as c_int) };
    if fd < 0 {
        // It exists. Ours only if its header names this very process: the program
        // before an `exec` opened it. Start it afresh for the new program.
        // SAFETY: as above, without creating.
        fd = unsafe { open(path, O_RDWR | O_CLOEXEC) };
        if fd < 0 {
            return false;
        }
        let mut head = [0u8; RECORD];
        // SAFETY: `head` is writable for RECORD bytes.
        let n = unsafe { pread(fd, head.as_mut_ptr().cast(), RECORD, 0) };
        let owner = u64::from_le_bytes([
            head[16], head[17], head[18], head[19], head[20], head[21], head[22], head[23],
        ]);
        let header = u64::from_le_bytes([
            head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7],
        ]);
        let ours = n == RECORD as isize && header == HEADER && owner == pid;
        // SAFETY: ftruncate only changes the size of our own file; the old program's
        // mapping of it went away with its image.
        if !ours || unsafe { ftruncate(fd, 0) } != 0 {
            // SAFETY: fd is the file just opened, closed once.
            unsafe { close(fd) };
            return false;
        }
    }
    let window = map_window(fd, 0);
    if window.is_null() {
        // SAFETY: as above.
        unsafe { close(fd) };
        return false;
    }
    with_log(|log| {
        log.window = window;
        log.base = 0;
        log.used = 0;
        log.fd = fd;
    });
    // The header goes in like a record (STATE is not ON yet, so write it directly).
    with_log(|log| {
        let bytes = encode([HEADER, VERSION, pid, page_size() as u64]);
        // SAFETY: the first RECORD bytes of our window.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), log.window, RECORD) };
        log.used = RECORD;
    });
    true
}

/// Before `fork`: hold the lock, so the child does not inherit it taken by a thread that
/// does not exist there. The forking thread counts as inside the tracer until `fork`
/// returns, so that an allocation by another library's fork handler is not logged (it
/// would wait for the lock this thread holds).
extern "C" fn before_fork() {
    let _ = BUSY.try_with(|b| b.set(true));
    lock();
}

extern "C" fn after_fork_parent() {
    unlock();
    let _ = BUSY.try_with(|b| b.set(false));
}

/// In the child: never record (the log belongs to the parent; the child's copy of the
/// window still maps the same file).
extern "C" fn after_fork_child() {
    STATE.store(OFF, Ordering::Release);
    unlock();
    let _ = BUSY.try_with(|b| b.set(false));
}

/// The destructor, run when the program exits normally: marks the end (records may
/// still follow, from other libraries' destructors).
extern "C" fn fini() {
    if let Some(_inside) = enter() {
        with_log(|log| log.push([END, 0, 0, 0]));
    }
}

#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;

#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".fini_array")]
static FINI: extern "C" fn() = fini;

// ------------------------------------------------------------------------------------
// The wrappers (not in the unit-test build: there they would replace the test binary's
// own allocator).

/// `malloc(size)`.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: forwards the program's call unchanged.
    let p = unsafe { __libc_malloc(size) };
    if !p.is_null()
        && let Some(_inside) = enter()
    {
        record([MALLOC, size as u64, 0, p as u64]);
    }
    p
}

/// `calloc(count, size)`.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    // SAFETY: forwards the program's call unchanged.
    let p = unsafe { __libc_calloc(count, size) };
    if !p.is_null()
        && let Some(_inside) = enter()
    {
        record([CALLOC, count as u64, size as u64, p as u64]);
    }
    p
}

/// `free(p)`: logged before the block is given back, so that no other thread can be
/// handed the address and log it first.
///
/// # Safety
/// As C's `free`: `p` is null or a live block of this allocator.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if !p.is_null()
        && let Some(_inside) = enter()
    {
        record([FREE, p as u64, 0, 0]);
    }
    // SAFETY: forwards the program's call unchanged (the caller's contract).
    unsafe { __libc_free(p) }
}

/// `realloc(p, size)`, logged under the lock together with the call (it frees the old
/// address inside).
///
/// # Safety
/// As C's `realloc`.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    match enter() {
        // SAFETY: forwards the program's call unchanged (the caller's contract).
        None => unsafe { __libc_realloc(p, size) },
        Some(_inside) => logged_realloc(p, size, size as u64),
    }
}

/// `reallocarray(p, count, size)`: `realloc(p, count * size)` unless the product
/// overflows (then `ENOMEM` and nothing happens), as in glibc.
///
/// # Safety
/// As C's `reallocarray`.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, count: usize, size: usize) -> *mut c_void {
    let Some(bytes) = count.checked_mul(size) else {
        set_errno(ENOMEM);
        return std::ptr::null_mut();
    };
    // SAFETY: as `realloc`, with the product.
    unsafe { realloc(p, bytes) }
}

/// The real realloc and its record, with the lock held across both.
#[cfg(not(test))]
fn logged_realloc(p: *mut c_void, size: usize, logged: u64) -> *mut c_void {
    with_log(|log| {
        // SAFETY: forwards the program's call unchanged (realloc's contract).
        let q = unsafe { __libc_realloc(p, size) };
        let e = errno();
        // glibc frees the block and returns NULL for size 0; NULL otherwise means the
        // old block is untouched and nothing happened.
        if !q.is_null() || (size == 0 && !p.is_null()) {
            log.push([REALLOC, p as u64, logged, q as u64]);
        }
        set_errno(e);
        q
    })
}

/// An aligned allocation by `__libc_memalign`, logged as `kind` with `align`.
#[cfg(not(test))]
fn aligned(kind: u64, align: usize, size: usize) -> *mut c_void {
    // SAFETY: forwards the call (memalign accepts any arguments).
    let p = unsafe { __libc_memalign(align, size) };
    if !p.is_null()
        && let Some(_inside) = enter()
    {
        record([kind, effective_align(align) as u64, size as u64, p as u64]);
    }
    p
}

/// `posix_memalign(&p, align, size)`: glibc's check of the alignment, then its memalign.
///
/// # Safety
/// As POSIX's `posix_memalign`: `memptr` is valid for a write.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(
    memptr: *mut *mut c_void,
    align: usize,
    size: usize,
) -> c_int {
    if !posix_align_ok(align) {
        return EINVAL;
    }
    let p = aligned(POSIX_MEMALIGN, align, size);
    if p.is_null() {
        return ENOMEM;
    }
    // SAFETY: the caller's contract.
    unsafe { *memptr = p };
    0
}

/// `aligned_alloc(align, size)` (in glibc 2.36 the same as `memalign`).
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    aligned(ALIGNED_ALLOC, align, size)
}

/// `memalign(align, size)`.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    aligned(MEMALIGN, align, size)
}

/// `valloc(size)`: glibc's `memalign` of a page.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: forwards the call (valloc accepts any size).
    let p = unsafe { __libc_valloc(size) };
    if !p.is_null()
        && let Some(_inside) = enter()
    {
        record([MEMALIGN, page_size() as u64, size as u64, p as u64]);
    }
    p
}

/// `pvalloc(size)`: glibc's `memalign` of a page for `size` rounded up to pages.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    // SAFETY: forwards the call (pvalloc accepts any size).
    let p = unsafe { __libc_pvalloc(size) };
    if !p.is_null()
        && let Some(_inside) = enter()
    {
        let page = page_size() as u64;
        let rounded = (size as u64).div_ceil(page).max(1) * page;
        record([MEMALIGN, page, rounded, p as u64]);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_four_little_endian_words() {
        let bytes = encode([MALLOC, 24, 0, 0x5555_0000_1000]);
        assert_eq!(&bytes[..8], &1u64.to_le_bytes());
        assert_eq!(&bytes[8..16], &24u64.to_le_bytes());
        assert_eq!(&bytes[24..], &0x5555_0000_1000u64.to_le_bytes());
        assert_eq!(&HEADER.to_le_bytes(), b"BRKMAPL1");
    }

    #[test]
    fn alignments_follow_glibc() {
        assert!(posix_align_ok(8) && posix_align_ok(64) && posix_align_ok(4096));
        assert!(!posix_align_ok(0) && !posix_align_ok(4) && !posix_align_ok(24));
        assert_eq!(effective_align(24), 32);
        assert_eq!(effective_align(64), 64);
    }

    #[test]
    fn the_log_format_is_the_one_the_reader_reads() {
        use workload::trace::tracer_log as r;
        assert_eq!(
            [HEADER, VERSION, MALLOC, CALLOC, REALLOC, FREE],
            [
                r::HEADER,
                r::VERSION,
                r::MALLOC,
                r::CALLOC,
                r::REALLOC,
                r::FREE
            ]
        );
        assert_eq!(
            [POSIX_MEMALIGN, ALIGNED_ALLOC, MEMALIGN, END],
            [r::POSIX_MEMALIGN, r::ALIGNED_ALLOC, r::MEMALIGN, r::END]
        );
        assert_eq!(RECORD, r::RECORD);
    }
}
