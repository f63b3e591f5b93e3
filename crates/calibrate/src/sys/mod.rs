//! The libc layer: every call this crate makes into libc and the Linux kernel.
//!
//! Real runs talk to the machine in three places: the replay child (glibc's `malloc`,
//! `mallinfo2`, the program break, anonymous mappings), the crash experiments (mappings
//! with protections, a signal handler) and the cost benchmarks (clocks, CPU affinity,
//! `fork`, pipes, every memory syscall). They all go through this module, so each C
//! convention (a sentinel return value plus `errno`) is turned into a `Result` once,
//! with one error type, [`SysError`], that names the call and carries its `errno`.
//!
//! Everything the replay child uses is allocation-free (no `Vec`, no `String`, no
//! stdio), because the child's heap must look exactly like that of a C program that
//! only made the replayed calls. The few functions that allocate (machine facts such
//! as [`mem_available`] and `uname`) say so.
//!
//! # Brief overview
//! - [`SysError`] and [`errno_name`]: which call failed and why.
//! - [`AVAILABLE`], [`unavailable_reason`], [`glibc_version`], [`mem_available`]:
//!   whether real runs are possible here, and facts about the machine.
//! - On Linux with glibc (re-exported from a private `linux` module):
//!   - `Mapping`: an anonymous (or file) mapping owned by Rust, unmapped on drop, with
//!     bounds-checked volatile accesses; `mmap_anon`, `munmap`, `madvise`,
//!     `mprotect`, `mremap` for code that arranges address space itself;
//!     `resident_bytes` (`mincore`) to measure the RSS of exactly one range;
//!   - `HeapBlock`: one block of glibc's `malloc`, freed on drop; the raw `malloc`,
//!     `free`, `realloc`, `malloc_trim`, `mallinfo2` and the program break
//!     (`program_break`, `sbrk`) for the replay;
//!   - clocks and counters (`monotonic_ns`, `minor_faults`), CPUs (`page_size`,
//!     `online_cpus`, `allowed_cpus`, `pin_to`, `current_cpu`);
//!   - the process's layout and limits for kernel scripts: `raw_brk`, `set_mm_map`
//!     (`MmMap`), `set_soft_limit`, `fault_counts`, `read_file`;
//!   - processes and files: `Fd`, `pipe`, `memfd`, `write_all`, `read_exact`,
//!     `fork`, `wait_for`, `kill`, `exit_now`; signals and limits for the crash
//!     experiments.
//! - [`CArgs`] and [`entry_point!`](crate::entry_point): a C `main` for binaries that
//!   host replay children.
//!
//! # Where `unsafe` is, and why
//! The workspace forbids `unsafe`; this crate allows it, in as few files as the work
//! allows, each block with a `// SAFETY:` comment:
//! - `sys/linux.rs`: every libc call. A wrapper is a safe function when no argument
//!   can break Rust's memory safety (a new mapping at an address the kernel picks, a
//!   clock read), and an `unsafe fn` with a `# Safety` contract when one can (unmapping
//!   or discarding an address, `free` of a pointer, moving the break, `fork`).
//! - `sys/cmain.rs`: the C `main`, which receives raw `argc`/`argv`.
//! - `replay/child.rs`: the replayer keeps the blocks it replays as addresses in a
//!   table in an anonymous mapping (it must not allocate), and frees, resizes and
//!   writes through them; that they are live is the replay's own bookkeeping.
//! - `kscript.rs`: the real kernel-script runner moves its program break, maps,
//!   unmaps, protects and advises the script's ranges (all between `brk0` and the
//!   floor, where nothing of the runner's is), touches them with one-instruction
//!   probes in inline assembly, and catches their SIGSEGV by rewriting the interrupted
//!   instruction pointer to the probe's recovery label.
//! - `replay/crash.rs`: the crash experiments exist to make accesses Rust forbids
//!   (past a mapping's end, after `munmap`, to a read-only page) and watch the kernel
//!   refuse them.
//! - `bench/linux/child.rs`: `fork` for the benchmark children.
//! - `bench/linux/brk.rs`: `sbrk` grows and shrinks the heap under glibc's feet, which
//!   is sound only because the benchmark child runs nothing else meanwhile.
//! - `bench/linux/mapping.rs`, `faults.rs`, `tlb.rs`: address-space arrangements whose
//!   soundness rests on the benchmark's layout (a hole it carved in its own mapping,
//!   pages it made read-only and never touches, a chain of offsets it wrote itself).
//!
//! Nothing outside this module calls a libc function; the other modules use only libc's
//! constants (`PROT_READ`, `MADV_DONTNEED`, ...) as arguments to the wrappers here, and
//! its wait-status macros (`WIFEXITED`, ...), which are plain bit arithmetic.

use std::fmt;

mod cmain;
pub use cmain::{CArgs, ignore_sigpipe};

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub use linux::*;

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
        17 => "EEXIST",
        22 => "EINVAL",
        24 => "EMFILE",
        32 => "EPIPE",
        38 => "ENOSYS",
        _ => "unknown error",
    }
}

/// Bytes in `/proc/meminfo`'s `MemAvailable` line: the kernel's estimate of how much
/// memory can be given to new work without swapping. `None` when the file cannot be
/// read or has no such line (not Linux, or a very old kernel). Allocates.
pub fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

/// This process's resident memory now and its peak so far (`VmRSS` and `VmHWM` of
/// `/proc/self/status`), in bytes; `None` when the file cannot be read (not Linux).
/// Allocates.
pub fn resident_now_and_peak() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    Some((
        parse_status_kb(&text, "VmRSS:")?,
        parse_status_kb(&text, "VmHWM:")?,
    ))
}

/// Sets this process's peak resident memory (`VmHWM`) back to what is resident now
/// (writing `5` to `/proc/self/clear_refs`, Linux 4.0 and later), so that the peak
/// read after some work is the peak of that work. False when the kernel refused.
pub fn reset_peak_resident() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok()
}

/// The `field` line (e.g. `VmRSS:`) of a `/proc/self/status` text, in bytes.
pub fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let mut words = line[field.len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then(|| value.checked_mul(1024))?
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

/// Rounds `x` up to a multiple of `to` (a power of two, such as the page size).
pub fn align_up(x: usize, to: usize) -> usize {
    (x + to - 1) & !(to - 1)
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

    #[test]
    fn status_fields_parse_kilobytes() {
        let text = "Name:\tsim\nVmHWM:\t  4096 kB\nVmRSS:\t  2048 kB\n";
        assert_eq!(parse_status_kb(text, "VmRSS:"), Some(2048 * 1024));
        assert_eq!(parse_status_kb(text, "VmHWM:"), Some(4096 * 1024));
        assert_eq!(parse_status_kb(text, "VmSwap:"), None);
        assert_eq!(parse_status_kb("VmRSS: 12 pages\n", "VmRSS:"), None);
    }

    /// The peak can be set back to the present, and then measures what follows.
    #[test]
    #[cfg(target_os = "linux")]
    fn the_resident_peak_resets_to_the_present() {
        let big = vec![1u8; 64 << 20];
        assert_eq!(big.iter().map(|&b| b as u64).sum::<u64>(), 64 << 20);
        drop(big);
        assert!(reset_peak_resident());
        let (now, peak) = resident_now_and_peak().unwrap();
        assert!(peak < now + (32 << 20), "peak {peak} now {now}");
    }

    #[test]
    fn errors_name_the_call_and_the_errno() {
        let e = SysError {
            call: "mmap",
            errno: 12,
        };
        assert_eq!(e.to_string(), "mmap failed: ENOMEM (errno 12)");
        assert_eq!(errno_name(9999), "unknown error");
    }

    #[test]
    fn align_up_rounds_to_the_next_multiple() {
        assert_eq!(align_up(0, 4096), 0);
        assert_eq!(align_up(1, 4096), 4096);
        assert_eq!(align_up(4096, 4096), 4096);
        assert_eq!(align_up(4097, 4096), 8192);
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
            m.write(i * page, 1);
        }
        let mut scratch = [0u8; 3];
        let r = resident_bytes(m.as_ptr() as usize, 10 * page, &mut scratch).unwrap();
        assert_eq!(r, 3 * page as u64);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn discarded_pages_read_back_as_zeros_and_leave_ram() {
        let page = page_size();
        let mut m = Mapping::new(2 * page, false).unwrap();
        m.write(0, 7);
        m.write(page, 9);
        assert_eq!(m.read(0), 7);
        m.discard(0, page).unwrap();
        assert_eq!(m.read(page), 9);
        let mut scratch = [0u8; 2];
        let r = resident_bytes(m.as_ptr() as usize, 2 * page, &mut scratch).unwrap();
        assert_eq!(r, page as u64);
        assert_eq!(m.read(0), 0);
        // Out-of-range accesses are ignored rather than reaching past the mapping.
        m.write(2 * page, 1);
        assert_eq!(m.read(2 * page), 0);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn heap_blocks_come_from_malloc_and_can_be_filled() {
        let mut b = HeapBlock::new(100).unwrap();
        b.fill(0x5a);
        assert!(
            (b.as_ptr() as usize).is_multiple_of(16),
            "glibc aligns blocks to 16 bytes"
        );
        drop(b);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn pipes_carry_bytes_and_failed_calls_carry_errno() {
        let (rd, wr) = pipe().unwrap();
        assert!(wr.write_byte(42));
        assert_eq!(rd.read_byte(), Some(42));
        drop(wr);
        assert_eq!(rd.read_byte(), None, "end of file once the writer is gone");
        let err = write_all(-1, b"x").unwrap_err();
        assert_eq!((err.call, err.errno_name()), ("write", "EBADF"));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_version_looks_like_a_version() {
        let v = glibc_version().unwrap();
        assert!(v.starts_with("2."), "{v}");
    }
}
