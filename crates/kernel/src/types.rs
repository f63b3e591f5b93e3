//! Small value types shared by every part of the kernel's interface.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A virtual address in a simulated process (x86-64: 48 significant bits).
pub type Addr = u64;

/// The base page size: 4 KiB, as on x86-64.
pub const PAGE_SIZE: u64 = 4096;

/// log2 of [`PAGE_SIZE`]: an address shifted right by it is a virtual page number.
pub const PAGE_SHIFT: u32 = 12;

/// The huge page size of the model's optional 2 MiB pages (a PD-level mapping).
pub const HUGE_PAGE_SIZE: u64 = 2 * 1024 * 1024;

/// The end of user address space (Linux's `TASK_SIZE` on x86-64 with 4-level paging):
/// 2^47 minus one page. No mapping may reach beyond it; every access at or above it is
/// a SIGSEGV. (The last page below 2^47 is kept unmapped by Linux as a guard against
/// a CPU erratum with non-canonical addresses.)
pub const USER_SPACE_END: Addr = (1 << 47) - PAGE_SIZE;

/// Rounds `x` up to a multiple of the page size.
///
/// Like the kernel's `PAGE_ALIGN`, it wraps to 0 when `x` lies in the last page below
/// `u64::MAX` instead of overflowing; use [`checked_page_align_up`] to detect that.
pub const fn page_align_up(x: u64) -> u64 {
    x.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// Rounds `x` up to a multiple of the page size, or `None` when the result does not
/// fit in a `u64` (how syscalls detect a length that "overflows").
pub const fn checked_page_align_up(x: u64) -> Option<u64> {
    match x.checked_add(PAGE_SIZE - 1) {
        Some(y) => Some(y & !(PAGE_SIZE - 1)),
        None => None,
    }
}

/// Rounds `x` down to a multiple of the page size.
pub const fn page_align_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// A process id.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pid(pub u32);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}", self.0)
    }
}

/// Page protection bits (`PROT_*`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Prot(pub u8);

impl Prot {
    /// `PROT_NONE`: any access faults (guard pages).
    pub const NONE: Prot = Prot(0);
    /// `PROT_READ`.
    pub const READ: Prot = Prot(1);
    /// `PROT_WRITE`.
    pub const WRITE: Prot = Prot(2);
    /// `PROT_EXEC`.
    pub const EXEC: Prot = Prot(4);
    /// `PROT_READ | PROT_WRITE`, what heaps and allocator mappings use.
    pub const RW: Prot = Prot(3);

    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Prot) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when no bit outside `READ | WRITE | EXEC` is set (syscalls reject other
    /// bits with EINVAL).
    pub const fn is_known(self) -> bool {
        self.0 & !7 == 0
    }

    /// Whether a load is allowed. On x86-64 every protection other than `PROT_NONE`
    /// can be read: the page-table entry has no "readable" bit, so `PROT_WRITE` and
    /// `PROT_EXEC` alone imply `PROT_READ`.
    pub const fn allows_read(self) -> bool {
        self.0 & 7 != 0
    }

    /// Whether a store is allowed.
    pub const fn allows_write(self) -> bool {
        self.0 & Prot::WRITE.0 != 0
    }
}

/// `mmap` flags. Every simulated mapping is `MAP_PRIVATE | MAP_ANONYMOUS`; these are
/// the extra flags the model understands.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MapFlags(pub u32);

impl MapFlags {
    /// No extra flags: the kernel chooses the address (top-down below `mmap_base`).
    pub const NONE: MapFlags = MapFlags(0);
    /// `MAP_FIXED`: place exactly at the hint, replacing whatever was mapped there.
    pub const FIXED: MapFlags = MapFlags(1);
    /// `MAP_POPULATE`: fault every page in now, without traps.
    pub const POPULATE: MapFlags = MapFlags(2);
    /// `MAP_NORESERVE`: do not count the mapping against the commit limit.
    pub const NORESERVE: MapFlags = MapFlags(4);
    /// `MAP_FIXED_NOREPLACE`: place exactly at the hint, but fail with EEXIST instead
    /// of replacing anything mapped there.
    pub const FIXED_NOREPLACE: MapFlags = MapFlags(8);

    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: MapFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two flag sets.
    pub const fn union(self, other: MapFlags) -> MapFlags {
        MapFlags(self.0 | other.0)
    }

    /// True when only flags the model knows are set (`mmap` rejects others with EINVAL).
    pub const fn is_known(self) -> bool {
        self.0 & !15 == 0
    }
}

/// `mremap` flags.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MremapFlags(pub u32);

impl MremapFlags {
    /// Resize in place only; fail with ENOMEM when the range cannot grow.
    pub const NONE: MremapFlags = MremapFlags(0);
    /// `MREMAP_MAYMOVE`: move the mapping (pages and all) when it cannot grow in place.
    pub const MAYMOVE: MremapFlags = MremapFlags(1);

    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: MremapFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when only flags the model knows are set (`mremap` rejects others with EINVAL).
    pub const fn is_known(self) -> bool {
        self.0 & !1 == 0
    }
}

/// `madvise` advice values the model implements.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Advice {
    /// `MADV_DONTNEED`: drop the pages now; the next touch faults in a zeroed page.
    DontNeed,
    /// `MADV_FREE`: the pages may be dropped lazily, when memory runs short; a write
    /// before that cancels the advice for that page.
    Free,
}

/// How user code accesses memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
}

/// The syscalls the model offers, used as keys of the syscall counters.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Syscall {
    /// `brk` (and the libc `sbrk` wrapper).
    Brk,
    /// `mmap`.
    Mmap,
    /// `munmap`.
    Munmap,
    /// `mprotect`.
    Mprotect,
    /// `mremap`.
    Mremap,
    /// `madvise`.
    Madvise,
}

impl Syscall {
    /// Every syscall, in a fixed order (for tables and CSV columns).
    pub const ALL: [Syscall; 6] = [
        Syscall::Brk,
        Syscall::Mmap,
        Syscall::Munmap,
        Syscall::Mprotect,
        Syscall::Mremap,
        Syscall::Madvise,
    ];

    /// The syscall's name as in C.
    pub const fn name(self) -> &'static str {
        match self {
            Syscall::Brk => "brk",
            Syscall::Mmap => "mmap",
            Syscall::Munmap => "munmap",
            Syscall::Mprotect => "mprotect",
            Syscall::Mremap => "mremap",
            Syscall::Madvise => "madvise",
        }
    }
}

/// An error number a syscall returns, as in Linux.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Errno {
    /// Out of memory: no address range, no frames, a limit (`vm.max_map_count`,
    /// `RLIMIT_AS`, `RLIMIT_DATA`, the overcommit policy) reached, or a range that cannot
    /// grow in place.
    ENOMEM,
    /// Invalid argument: length 0, an unaligned address, bad flags.
    EINVAL,
    /// The target process does not exist.
    ESRCH,
    /// `MAP_FIXED_NOREPLACE` found something mapped in the range.
    EEXIST,
    /// Bad address: `mremap` of an address no mapping contains, or growing a range that
    /// is not inside one mapping.
    EFAULT,
    /// Not permitted: `MAP_FIXED` below `vm.mmap_min_addr` (the model's processes are
    /// unprivileged).
    EPERM,
}

impl Errno {
    /// The symbolic name, as `errno.h` spells it (`ENOMEM`).
    pub const fn name(self) -> &'static str {
        match self {
            Errno::ENOMEM => "ENOMEM",
            Errno::EINVAL => "EINVAL",
            Errno::ESRCH => "ESRCH",
            Errno::EEXIST => "EEXIST",
            Errno::EFAULT => "EFAULT",
            Errno::EPERM => "EPERM",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Errno::ENOMEM => "out of memory",
            Errno::EINVAL => "invalid argument",
            Errno::ESRCH => "no such process",
            Errno::EEXIST => "file exists",
            Errno::EFAULT => "bad address",
            Errno::EPERM => "operation not permitted",
        };
        write!(f, "{} ({what})", self.name())
    }
}

impl std::error::Error for Errno {}

/// Why an access faulted fatally.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SegvReason {
    /// No VMA covers the address (`SEGV_MAPERR`).
    Unmapped,
    /// A VMA covers it but its protection forbids the access (`SEGV_ACCERR`).
    Protection,
}

/// What went wrong on a user memory access.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Fault {
    /// A simulated SIGSEGV at `addr`.
    Segv {
        /// The first faulting address.
        addr: Addr,
        /// The access that faulted.
        access: Access,
        /// Why.
        reason: SegvReason,
    },
    /// No physical frame was left for a fault: the simulated OOM killer's moment.
    OutOfMemory {
        /// The address whose fault could not be served.
        addr: Addr,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Segv {
                addr,
                access,
                reason,
            } => {
                let what = match access {
                    Access::Read => "read",
                    Access::Write => "write",
                };
                let why = match reason {
                    SegvReason::Unmapped => "no mapping there",
                    SegvReason::Protection => "the mapping's protection forbids it",
                };
                write!(f, "SIGSEGV: {what} at {addr:#x}: {why}")
            }
            Fault::OutOfMemory { addr } => {
                write!(f, "out of physical memory on a fault at {addr:#x}")
            }
        }
    }
}

impl std::error::Error for Fault {}
