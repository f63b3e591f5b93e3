//! What a process may map: resource limits and the overcommit policy.
//!
//! Two different questions are asked before the kernel grows an address space:
//! - **Is this process over a limit it was given?** `RLIMIT_AS` caps the bytes mapped
//!   (`VmSize`), `RLIMIT_DATA` the bytes of private writable memory (`VmData`).
//!   Linux's `may_expand_vm` checks both for `mmap`, `brk` and a growing `mremap`, and
//!   `mprotect` checks `RLIMIT_DATA` when it makes a range writable. Since Linux 4.7
//!   `RLIMIT_DATA` covers every private writable mapping, not only the heap: a program
//!   whose heap hit the limit cannot go on in `mmap`'d memory either (glibc's `malloc`
//!   tries exactly that when `brk` fails, and gets ENOMEM).
//! - **Can the machine promise this memory?** A private writable mapping may need a
//!   frame for every page later, so Linux *accounts* it (the VMA gets `VM_ACCOUNT`)
//!   and asks the overcommit policy first (`__vm_enough_memory`). Read-only and
//!   `PROT_NONE` mappings cost nothing (they can only ever show the zero page), and
//!   with the heuristic policy neither do `MAP_NORESERVE` ones. The promise is kept as
//!   *committed* memory: charged when a VMA is accounted (`mmap`, `brk`, `mprotect`
//!   adding write, `mremap` growing) and released when it goes.
//!
//! Nothing here takes memory: a granted promise is only address space. Memory runs out
//! at a page fault, and then the OOM killer decides who pays.

use crate::config::OvercommitPolicy;
use crate::kernel::Kernel;
use crate::types::PAGE_SIZE;

/// A resource limit of a process (`setrlimit`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `RLIMIT_DATA`: private writable memory (`VmData`).
    Data,
    /// `RLIMIT_AS`: all mapped memory (`VmSize`).
    AddressSpace,
}

/// `sysctl_user_reserve_kbytes`' cap: 128 MiB.
const USER_RESERVE_MAX: u64 = 128 << 20;
/// `sysctl_admin_reserve_kbytes`' cap: 8 MiB.
const ADMIN_RESERVE_MAX: u64 = 8 << 20;

impl Kernel {
    /// Linux's `may_expand_vm`: may the current process map `bytes` more, of private
    /// writable memory if `data`? Checks `RLIMIT_AS` against every mapped byte and, for
    /// data, `RLIMIT_DATA` against `VmData`.
    pub(crate) fn may_expand_vm(&self, data: bool, bytes: u64) -> bool {
        let p = &self.cur;
        let as_ok = p
            .rlimit_as
            .is_none_or(|lim| p.vmas.mapped().saturating_add(bytes) <= lim);
        let data_ok = !data
            || p.rlimit_data
                .is_none_or(|lim| p.vmas.data().saturating_add(bytes) <= lim);
        as_ok && data_ok
    }

    /// `setrlimit`: sets the current process's soft limit on `resource` (`None`:
    /// unlimited). A limit below what is already mapped takes nothing away; it only
    /// makes further growth fail.
    pub fn setrlimit(&mut self, resource: Resource, limit: Option<u64>) {
        match resource {
            Resource::Data => self.cur.rlimit_data = limit,
            Resource::AddressSpace => self.cur.rlimit_as = limit,
        }
    }

    /// The current process's soft limit on `resource`.
    pub fn rlimit(&self, resource: Resource) -> Option<u64> {
        match resource {
            Resource::Data => self.cur.rlimit_data,
            Resource::AddressSpace => self.cur.rlimit_as,
        }
    }

    /// Linux's `__vm_enough_memory`: may `bytes` more be committed for the current
    /// process under the overcommit policy?
    ///
    /// - heuristic: only a single request larger than RAM plus swap is refused;
    /// - always: yes;
    /// - never: the committed memory of all processes, this request included, must stay
    ///   below the commit limit (swap + RAM × ratio / 100) less two reserves Linux keeps
    ///   for recovery: the admin reserve (3% of RAM, at most 8 MiB; the model's
    ///   processes are not root) and, so that one process cannot take everything, the
    ///   smaller of 1/32 of the process's size and the user reserve (3% of RAM, at most
    ///   128 MiB).
    pub(crate) fn vm_enough_memory(&self, bytes: u64) -> bool {
        let oc = &self.config.overcommit;
        let ram = self.phys.total_frames() * PAGE_SIZE;
        match oc.policy {
            OvercommitPolicy::Always => true,
            OvercommitPolicy::Heuristic => bytes <= ram.saturating_add(oc.swap_bytes),
            OvercommitPolicy::Never => {
                let reserve = |cap: u64| (ram / 32).min(cap);
                let allowed = self
                    .commit_limit()
                    .saturating_sub(reserve(ADMIN_RESERVE_MAX))
                    .saturating_sub((self.cur.vmas.mapped() / 32).min(reserve(USER_RESERVE_MAX)));
                self.committed().saturating_add(bytes) < allowed
            }
        }
    }

    /// `CommitLimit`: swap plus `overcommit.ratio` percent of RAM. Only mode 2
    /// (`never`) enforces it.
    pub fn commit_limit(&self) -> u64 {
        let oc = &self.config.overcommit;
        let ram = self.phys.total_frames() * PAGE_SIZE;
        (ram / 100)
            .saturating_mul(oc.ratio)
            .saturating_add(ram % 100 * oc.ratio / 100)
            .saturating_add(oc.swap_bytes)
    }

    /// `Committed_AS`: the bytes of accounted mappings of every process.
    pub fn committed(&self) -> u64 {
        self.others
            .values()
            .map(|p| p.vmas.committed())
            .sum::<u64>()
            + self.cur.vmas.committed()
    }
}
