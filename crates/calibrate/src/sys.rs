//! Thin, documented wrappers over the libc calls the real runs need.
//!
//! Everything here but [`mem_available`] is small and allocation-free, so that a replay
//! child process (whose heap must stay untouched by anything but the replayed ops) can
//! use it too. The libc wrappers exist only on Linux with glibc; [`unavailable_reason`]
//! says why elsewhere.
//!
//! # Brief overview
//! - [`Mapping`]: an anonymous private mapping owned by Rust (unmapped on drop), optionally
//!   pre-faulted with `MAP_POPULATE` so that later touches cost no page fault.
//! - [`SysError`]: which call failed and its `errno`.
//! - clocks and counters: [`monotonic_ns`], [`minor_faults`]; machine facts:
//!   `page_size`, [`glibc_version`], [`mem_available`].
//! - [`resident_bytes`]: `mincore(2)` over a range, to measure RSS of exactly the memory
//!   a run owns rather than of the whole process.
//! - raw fd I/O: [`write_all`], [`read_exact`] (no buffering, no allocation).

use std::fmt;

/// True when this build can talk to a real Linux kernel and glibc.
pub const AVAILABLE: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// Why real runs are not possible in this build, or `None` when they are.
pub fn unavailable_reason() -> Option<&'static str> {
    if AVAILABLE {
        None
    } else {
        Some(
            "real runs need Linux with glibc (they call glibc's malloc, mallinfo2 and \
             Linux memory syscalls); this build targets another system",
        )
    }
}

/// A failed system or library call: its name and the `errno` it left.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SysError {
    /// The call, e.g. `"mmap"`.
    pub call: &'static str,
    /// The C `errno` value after the call.
    pub errno: i32,
}

impl SysError {
    /// The symbolic name of the errno (`ENOMEM`, ...), for the common memory-call errors.
    pub fn errno_name(&self) -> &'static str {
        errno_name(self.errno)
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {} (errno {})",
            self.call,
            self.errno_name(),
            self.errno
        )
    }
}

impl std::error::Error for SysError {}

/// The symbolic name of an errno value, for those memory calls can return.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        1 => "EPERM",
        2 => "ENOENT",
        4 => "EINTR",
        5 => "EIO",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        22 => "EINVAL",
        24 => "EMFILE",
        32 => "EPIPE",
        38 => "ENOSYS",
        _ => "unknown error",
    }
}

/// Bytes in `/proc/meminfo`'s `MemAvailable` line: the kernel's estimate of how much
/// memory can be given to new work without swapping. `None` when the file cannot be
/// read or has no such line (not Linux, or a very old kernel).
pub fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

/// Parses the `MemAvailable:   123456 kB` line of a `/proc/meminfo` text.
pub fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line["MemAvailable:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// The version of the glibc this process runs on, e.g. `"2.36"`; `None` without glibc.
pub fn glibc_version() -> Option<&'static str> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        Some(linux::libc_version())
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub use linux::*;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    use super::SysError;
    use std::ffi::CStr;

    /// The `errno` of the calling thread, read right after a failed call.
    pub fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    fn fail(call: &'static str) -> SysError {
        SysError {
            call,
            errno: errno(),
        }
    }

    /// The size of a base page (4096 on x86-64): the unit in which the kernel maps,
    /// protects and faults memory.
    pub fn page_size() -> usize {
        // SAFETY: sysconf has no memory-safety preconditions; it only reads a constant.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 { n as usize } else { 4096 }
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

    /// An anonymous private mapping, unmapped when dropped.
    ///
    /// Anonymous memory is zero-filled on first touch. With `populate`, the kernel
    /// allocates every page at `mmap` time (`MAP_POPULATE`), so touching it later causes
    /// no page fault: a measurement harness uses that to keep its own buffers out of the
    /// fault counts it reports.
    #[derive(Debug)]
    pub struct Mapping {
        ptr: *mut u8,
        len: usize,
    }

    impl Mapping {
        /// Maps `len` bytes (rounded up to whole pages by the kernel) read-write.
        pub fn new(len: usize, populate: bool) -> Result<Mapping, SysError> {
            let len = len.max(1);
            let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
            if populate {
                flags |= libc::MAP_POPULATE;
            }
            // SAFETY: an anonymous mapping at a kernel-chosen address touches no existing
            // memory; the result is checked against MAP_FAILED.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    flags,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(fail("mmap"));
            }
            Ok(Mapping {
                ptr: ptr.cast(),
                len,
            })
        }

        /// The first byte.
        pub fn as_ptr(&self) -> *mut u8 {
            self.ptr
        }

        /// Bytes mapped (as requested, before page rounding).
        pub fn len(&self) -> usize {
            self.len
        }

        /// Always false: a mapping has at least one byte.
        pub fn is_empty(&self) -> bool {
            false
        }

        /// The mapping as bytes.
        pub fn bytes(&self) -> &[u8] {
            // SAFETY: ptr..ptr+len is a live read-write mapping owned by self, zero-filled
            // or written through `bytes_mut`, so every byte is initialised.
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
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: ptr/len describe a mapping this value created and nobody else
            // unmaps; after drop no reference into it survives.
            unsafe {
                libc::munmap(self.ptr.cast(), self.len);
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
            if rc != 0 {
                return Err(fail("mincore"));
            }
            resident_pages += vec[..pages].iter().filter(|b| **b & 1 != 0).count() as u64;
            addr += pages * page;
        }
        Ok(resident_pages * page as u64)
    }

    /// Writes all of `bytes` to file descriptor `fd` with `write(2)`, retrying on short
    /// writes and `EINTR`. No buffering, no allocation.
    pub fn write_all(fd: i32, mut bytes: &[u8]) -> Result<(), SysError> {
        while !bytes.is_empty() {
            // SAFETY: `bytes` is a valid readable slice for the duration of the call.
            let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
            if n < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Err(fail("write"));
            }
            bytes = &bytes[(n as usize).min(bytes.len())..];
        }
        Ok(())
    }

    /// Fills `buf` from file descriptor `fd` with `read(2)`. Returns the bytes read, fewer
    /// than `buf.len()` only at end of file.
    pub fn read_exact(fd: i32, buf: &mut [u8]) -> Result<usize, SysError> {
        let mut done = 0;
        while done < buf.len() {
            let rest = &mut buf[done..];
            // SAFETY: `rest` is a valid writable slice for the duration of the call.
            let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
            if n < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Err(fail("read"));
            }
            if n == 0 {
                break;
            }
            done += n as usize;
        }
        Ok(done)
    }

    /// Ends the process at once with `code`, without running exit handlers or flushing
    /// stdio (`_exit(2)`): what a child that must not touch the heap ends with.
    pub fn exit_now(code: i32) -> ! {
        // SAFETY: _exit has no preconditions; it never returns.
        unsafe { libc::_exit(code) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_parses_kilobytes() {
        let text = "MemTotal: 100 kB\nMemFree:  5 kB\nMemAvailable:   24073900 kB\n";
        assert_eq!(parse_mem_available(text), Some(24073900 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: x kB\n"), None);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn populated_mapping_is_resident_and_unpopulated_is_not() {
        let page = page_size();
        let mut scratch = [0u8; 8];
        let populated = Mapping::new(4 * page, true).unwrap();
        let lazy = Mapping::new(4 * page, false).unwrap();
        let p = resident_bytes(populated.as_ptr() as usize, 4 * page, &mut scratch).unwrap();
        let l = resident_bytes(lazy.as_ptr() as usize, 4 * page, &mut scratch).unwrap();
        assert_eq!(p, 4 * page as u64);
        assert_eq!(l, 0);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn resident_bytes_loops_over_a_small_scratch_buffer() {
        let page = page_size();
        let mut m = Mapping::new(10 * page, false).unwrap();
        for i in [0, 3, 9] {
            m.bytes_mut()[i * page] = 1;
        }
        let mut scratch = [0u8; 3];
        let r = resident_bytes(m.as_ptr() as usize, 10 * page, &mut scratch).unwrap();
        assert_eq!(r, 3 * page as u64);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_version_looks_like_a_version() {
        let v = glibc_version().unwrap();
        assert!(v.starts_with("2."), "{v}");
    }
}
