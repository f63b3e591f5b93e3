//! Running a kernel script on a machine, simulated or real.
//!
//! [`run`] does everything the two runners share: it resolves NAMEs, refuses ranges
//! that reach the floor, turns results into [`Outcome`]s and figures into rows
//! relative to the start. A [`Machine`] only makes the calls. Once [`run`] has taken
//! its baseline it allocates nothing (the bindings and the rows are allocated first),
//! so a real runner whose [`Machine`] allocates nothing either measures only what the
//! script does.

use super::parse::{Name, Op, Placement, Script, Target};
use super::{DEFAULT_RAM, Outcome, Row, ScriptError};
use crate::config::KernelConfig;
use crate::kernel::Kernel;
use crate::limits::Resource;
use crate::types::{
    Access, Addr, Advice, Fault, MapFlags, MremapFlags, PAGE_SIZE, Prot, SegvReason,
};

/// What a runner reads after every line (absolute values; [`run`] subtracts the
/// values before the first line).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Mappings of the process (lines of `/proc/self/maps`).
    pub vmas: i64,
    /// `RssAnon` in kB: resident anonymous pages (not the zero page).
    pub anon_kb: i64,
    /// `VmPTE` in kB: the page-table pages.
    pub pte_kb: i64,
    /// Minor faults.
    pub minflt: i64,
    /// Major faults.
    pub majflt: i64,
}

/// Why a touch faulted (`si_code` of the SIGSEGV).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SegvKind {
    /// `SEGV_MAPERR`: no mapping there.
    MapErr,
    /// `SEGV_ACCERR`: a mapping whose protection forbids the access.
    AccErr,
}

impl SegvKind {
    /// `maperr` or `accerr`, as rows show it.
    pub const fn name(self) -> &'static str {
        match self {
            SegvKind::MapErr => "maperr",
            SegvKind::AccErr => "accerr",
        }
    }
}

/// A touch that did not complete.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TouchError {
    /// A SIGSEGV at `addr`.
    Segv {
        /// Why.
        kind: SegvKind,
        /// The faulting address.
        addr: Addr,
    },
    /// No memory for the page at `addr`: the OOM killer would end the process.
    OutOfMemory {
        /// The address whose fault could not be served.
        addr: Addr,
    },
}

/// A kernel a script can run on: the calls of the script's lines and the figures.
/// Errors are errno names (`ENOMEM`).
pub trait Machine {
    /// The floor: every new mapping goes below it.
    fn floor(&self) -> Addr;
    /// The program break before the first line.
    fn brk0(&self) -> Addr;
    /// The figures now.
    fn figures(&mut self) -> Figures;
    /// `mmap(addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0)`.
    fn mmap(
        &mut self,
        addr: Addr,
        len: u64,
        prot: Prot,
        flags: MapFlags,
    ) -> Result<Addr, &'static str>;
    /// `munmap(addr, len)`.
    fn munmap(&mut self, addr: Addr, len: u64) -> Result<(), &'static str>;
    /// `mprotect(addr, len, prot)`.
    fn mprotect(&mut self, addr: Addr, len: u64, prot: Prot) -> Result<(), &'static str>;
    /// `madvise(addr, len, advice)`.
    fn madvise(&mut self, addr: Addr, len: u64, advice: Advice) -> Result<(), &'static str>;
    /// `mremap(addr, old_len, new_len, maymove ? MREMAP_MAYMOVE : 0)`.
    fn mremap(
        &mut self,
        addr: Addr,
        old_len: u64,
        new_len: u64,
        maymove: bool,
    ) -> Result<Addr, &'static str>;
    /// The raw `brk(addr)`: the new break, or the old one when refused.
    fn brk(&mut self, addr: Addr) -> Addr;
    /// One access of the first byte of every page `[addr, addr + len)` overlaps, lowest
    /// first, stopping at the first fault.
    fn touch(&mut self, addr: Addr, len: u64, access: Access) -> Result<(), TouchError>;
    /// `setrlimit(RLIMIT_DATA if data else RLIMIT_AS)` to `bytes` plus what the
    /// process had (`VmData` or `VmSize`) before the first line.
    fn setrlimit(&mut self, data: bool, bytes: u64) -> Result<(), &'static str>;
}

/// A script ready to run: its bindings and its rows are allocated up front, so that
/// [`Runner::run`] allocates nothing once it has taken its baseline (what a real runner,
/// whose allocations would show in its own figures, needs).
#[derive(Debug)]
pub struct Runner<'s> {
    script: &'s Script,
    bound: Vec<Option<Addr>>,
    rows: Vec<Row>,
}

impl<'s> Runner<'s> {
    /// Allocates what running `script` needs.
    pub fn new(script: &'s Script) -> Runner<'s> {
        Runner {
            script,
            bound: vec![None; script.names.len()],
            rows: Vec::with_capacity(script.lines.len()),
        }
    }

    /// The rows of the lines run so far.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Takes the rows.
    pub fn into_rows(self) -> Vec<Row> {
        self.rows
    }

    /// Runs the script on `machine`, one row per line, figures relative to those before
    /// the first line.
    ///
    /// Fails, with the line, when a line uses a NAME no successful `map` has bound,
    /// when a range (rounded up to pages), a `fixed=`/`noreplace=` range or a `remap`'s
    /// old range reaches the floor or starts below `brk0` (the real runner's own memory
    /// is on both sides), or when a touch runs out of memory. `assume` lines
    /// do nothing here: the machine must already have the memory they ask for.
    pub fn run<M: Machine>(&mut self, machine: &mut M) -> Result<(), ScriptError> {
        let Runner {
            script,
            bound,
            rows,
        } = self;
        let script: &Script = script;
        bound.iter_mut().for_each(|b| *b = None);
        rows.clear();
        run_lines(script, machine, bound, rows)
    }
}

/// Runs `script` on `machine` and returns its rows (see [`Runner::run`]).
pub fn run<M: Machine>(script: &Script, machine: &mut M) -> Result<Vec<Row>, ScriptError> {
    let mut runner = Runner::new(script);
    runner.run(machine)?;
    Ok(runner.into_rows())
}

fn run_lines<M: Machine>(
    script: &Script,
    machine: &mut M,
    bound: &mut [Option<Addr>],
    rows: &mut Vec<Row>,
) -> Result<(), ScriptError> {
    let floor = machine.floor();
    let brk0 = machine.brk0();
    bound[Name::BRK0.0] = Some(brk0);
    let mut cur_brk = brk0;
    let base = machine.figures();
    for line in &script.lines {
        let n = line.number;
        let addr_of = |bound: &[Option<Addr>], name: Name| -> Result<Addr, ScriptError> {
            bound[name.0].ok_or_else(|| {
                ScriptError::at(
                    n,
                    format!(
                        "`{}` is not bound: no `map {0}` before this line succeeded",
                        script.name(name)
                    ),
                )
            })
        };
        // The start of `[NAME+OFF, +len)`, checked to stay below the floor.
        let range = |bound: &[Option<Addr>], t: Target, len: u64| {
            let start = addr_of(bound, t.name)?;
            let end = start
                .checked_add(t.off)
                .and_then(|s| s.checked_add(len))
                .and_then(|e| e.checked_next_multiple_of(PAGE_SIZE));
            match end {
                Some(e) if e <= floor && start >= brk0 => Ok(start + t.off),
                Some(_) if start < brk0 => Err(ScriptError::at(
                    n,
                    format!(
                        "the range starts below brk0 ({}+{:#x}): the real runner's own \
                         memory is there",
                        script.name(t.name),
                        t.off
                    ),
                )),
                _ => Err(ScriptError::at(
                    n,
                    format!(
                        "the range reaches the floor ({}+{:#x}, {len:#x} bytes): the real \
                         runner's own mappings are there",
                        script.name(t.name),
                        t.off
                    ),
                )),
            }
        };
        let errno = Outcome::Errno;
        let at = |a: Addr| Outcome::At((i128::from(a) - i128::from(floor)) as i64);
        let result = match line.op {
            Op::Map {
                name,
                len,
                prot,
                populate,
                noreserve,
                at: place,
            } => {
                let mut flags = MapFlags::NONE;
                if populate {
                    flags = flags.union(MapFlags::POPULATE);
                }
                if noreserve {
                    flags = flags.union(MapFlags::NORESERVE);
                }
                let addr = match place {
                    None => 0,
                    Some(Placement::Fixed(t)) => {
                        flags = flags.union(MapFlags::FIXED);
                        range(bound, t, len)?
                    }
                    Some(Placement::NoReplace(t)) => {
                        flags = flags.union(MapFlags::FIXED_NOREPLACE);
                        range(bound, t, len)?
                    }
                };
                match machine.mmap(addr, len, prot, flags) {
                    Ok(a) => {
                        bound[name.0] = Some(a);
                        at(a)
                    }
                    Err(e) => errno(e),
                }
            }
            Op::Unmap { at: t, len } => {
                let a = range(bound, t, len)?;
                machine.munmap(a, len).map_or_else(errno, |()| Outcome::Ok)
            }
            Op::Protect { at: t, len, prot } => {
                let a = range(bound, t, len)?;
                machine
                    .mprotect(a, len, prot)
                    .map_or_else(errno, |()| Outcome::Ok)
            }
            Op::Advise { at: t, len, advice } => {
                let a = range(bound, t, len)?;
                machine
                    .madvise(a, len, advice)
                    .map_or_else(errno, |()| Outcome::Ok)
            }
            Op::Remap {
                name,
                old_len,
                new_len,
                maymove,
            } => {
                let a = range(bound, Target { name, off: 0 }, old_len)?;
                match machine.mremap(a, old_len, new_len, maymove) {
                    Ok(b) => {
                        bound[name.0] = Some(b);
                        at(b)
                    }
                    Err(e) => errno(e),
                }
            }
            Op::Touch { at: t, len, access } => {
                let a = range(bound, t, len)?;
                let base_addr = addr_of(bound, t.name)?;
                match machine.touch(a, len, access) {
                    Ok(()) => Outcome::Ok,
                    Err(TouchError::Segv { kind, addr }) => {
                        Outcome::Segv(kind, (addr & !(PAGE_SIZE - 1)).wrapping_sub(base_addr))
                    }
                    Err(TouchError::OutOfMemory { addr }) => {
                        return Err(ScriptError::at(
                            n,
                            format!(
                                "out of memory at {}+{:#x}: the OOM killer ends the process \
                                 (more memory: `assume ram=`)",
                                script.name(t.name),
                                addr.wrapping_sub(base_addr)
                            ),
                        ));
                    }
                }
            }
            Op::Brk { delta } => {
                // Unsigned arithmetic, as the real runner's: a break below zero wraps
                // to an address the kernel refuses.
                let want = (i128::from(cur_brk) + delta) as u64;
                let got = machine.brk(want);
                if got == want {
                    cur_brk = got;
                    Outcome::Break(got - brk0)
                } else {
                    Outcome::Errno("ENOMEM")
                }
            }
            Op::Limit { data, bytes } => machine
                .setrlimit(data, bytes)
                .map_or_else(errno, |()| Outcome::Ok),
            Op::Assume { .. } => Outcome::Ok,
        };
        let f = machine.figures();
        rows.push(Row {
            line: n,
            op: line.op.word(),
            result,
            vmas: f.vmas - base.vmas,
            anon_kb: f.anon_kb - base.anon_kb,
            pte_kb: f.pte_kb - base.pte_kb,
            minflt: f.minflt - base.minflt,
            majflt: f.majflt - base.majflt,
        });
    }
    Ok(())
}

/// The simulated kernel as a [`Machine`]: a fresh [`Kernel`] on
/// [`KernelConfig::script_machine`].
#[derive(Debug)]
pub struct SimMachine {
    kernel: Kernel,
}

impl SimMachine {
    /// A fresh machine with `ram` bytes of physical memory (see
    /// [`KernelConfig::script_machine`]).
    pub fn new(ram: u64) -> SimMachine {
        SimMachine {
            kernel: Kernel::new(KernelConfig::script_machine(ram)),
        }
    }

    /// The kernel, to look at after a run.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }
}

impl Machine for SimMachine {
    fn floor(&self) -> Addr {
        self.kernel.config().mmap_base
    }

    fn brk0(&self) -> Addr {
        self.kernel.config().heap_start
    }

    fn figures(&mut self) -> Figures {
        let m = self.kernel.mem();
        Figures {
            vmas: m.vmas as i64,
            anon_kb: (m.rss / 1024) as i64,
            pte_kb: (m.pt_bytes / 1024) as i64,
            minflt: self.kernel.counters().minor_faults as i64,
            // The model has no disk: nothing is ever read back in.
            majflt: 0,
        }
    }

    fn mmap(
        &mut self,
        addr: Addr,
        len: u64,
        prot: Prot,
        flags: MapFlags,
    ) -> Result<Addr, &'static str> {
        self.kernel
            .mmap(addr, len, prot, flags)
            .map_err(|e| e.name())
    }

    fn munmap(&mut self, addr: Addr, len: u64) -> Result<(), &'static str> {
        self.kernel.munmap(addr, len).map_err(|e| e.name())
    }

    fn mprotect(&mut self, addr: Addr, len: u64, prot: Prot) -> Result<(), &'static str> {
        self.kernel.mprotect(addr, len, prot).map_err(|e| e.name())
    }

    fn madvise(&mut self, addr: Addr, len: u64, advice: Advice) -> Result<(), &'static str> {
        self.kernel.madvise(addr, len, advice).map_err(|e| e.name())
    }

    fn mremap(
        &mut self,
        addr: Addr,
        old_len: u64,
        new_len: u64,
        maymove: bool,
    ) -> Result<Addr, &'static str> {
        let flags = if maymove {
            MremapFlags::MAYMOVE
        } else {
            MremapFlags::NONE
        };
        self.kernel
            .mremap(addr, old_len, new_len, flags)
            .map_err(|e| e.name())
    }

    fn brk(&mut self, addr: Addr) -> Addr {
        self.kernel.brk(addr)
    }

    fn touch(&mut self, addr: Addr, len: u64, access: Access) -> Result<(), TouchError> {
        self.kernel.touch(addr, len, access).map_err(|f| match f {
            Fault::Segv { addr, reason, .. } => TouchError::Segv {
                kind: match reason {
                    SegvReason::Unmapped => SegvKind::MapErr,
                    SegvReason::Protection => SegvKind::AccErr,
                },
                addr,
            },
            Fault::OutOfMemory { addr } => TouchError::OutOfMemory { addr },
        })
    }

    fn setrlimit(&mut self, data: bool, bytes: u64) -> Result<(), &'static str> {
        // Nothing is mapped before the first line: the limit counts from zero.
        let resource = if data {
            Resource::Data
        } else {
            Resource::AddressSpace
        };
        self.kernel.setrlimit(resource, Some(bytes));
        Ok(())
    }
}

/// Runs `script` on a fresh simulated kernel with the memory its `assume ram=` says
/// (24 GiB without one) and returns its rows.
pub fn run_simulated(script: &Script) -> Result<Vec<Row>, ScriptError> {
    let mut machine = SimMachine::new(script.ram.unwrap_or(DEFAULT_RAM));
    run(script, &mut machine)
}
