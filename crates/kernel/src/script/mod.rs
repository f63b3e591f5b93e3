//! Kernel scripts: one format for the simulated kernel and the real one.
//!
//! A kernel script is a list of memory syscalls and memory accesses, one a line
//! (`map a 1M rw`, `touch a 0 64K w`, `unmap a 16K 4K`, `brk +4K`, ...). The same
//! script runs on this crate's simulated kernel and, in a fresh child process, on the
//! real Linux kernel of the machine (`calibrate`), and both give one CSV row per line
//! in the same format:
//!
//! ```text
//! line,op,result,vmas,anon_kb,pte_kb,minflt,majflt
//! 1,map,@-0x100000,1,0,0,0,0
//! 2,touch,ok,1,64,12,16,0
//! ```
//!
//! so the model can be held to reality row for row, as the glibc model is with traces.
//! The format is specified in the project's `KERNEL-SCRIPTS.md`; in short:
//! - `result` is `@OFFSET` for `map` and `remap` (the address minus the *floor*, in
//!   signed hex), `brk0+0xN` for `brk`, `ok`, an errno name, or
//!   `segv:maperr+0xOFF` / `segv:accerr+0xOFF` for a `touch` that faulted;
//! - `vmas`, `anon_kb` (`RssAnon`), `pte_kb` (`VmPTE`: PTE, PMD and PUD tables, 4 KiB
//!   each), `minflt` and `majflt` count from the script's start, read after the line.
//!
//! # The process layout
//!
//! Linux places a mapping without an address in the highest free gap below
//! `mmap_base`, among the shared libraries. The real runner therefore fills its mmap
//! area from a 512 GiB-aligned address up with placeholders; that address is the
//! *floor*, every new mapping goes below it, and the address space below it is as empty
//! as a fresh process's: the first touch there needs a PDPT, a PD and a PT (12 kB). Its
//! program break is moved to `brk0 = floor - 16 TiB`. The simulated process is laid out
//! the same way ([`KernelConfig::script_machine`](crate::KernelConfig::script_machine)):
//! `mmap_base` is the floor, everything above it is reserved, the heap starts 16 TiB
//! below. Addresses are then the same distance from the floor in both.
//!
//! # Brief overview
//! - [`Script::parse`]: text to a [`Script`] of [`Line`]s, each an [`Op`]; a malformed
//!   line or a name used before any `map` binds it is a [`ScriptError`] with the line
//!   number.
//! - [`Machine`]: what a runner needs from a kernel (the syscalls, a memory access, the
//!   figures). [`Runner`] executes a script on any machine, without allocating once the
//!   baseline is taken, and yields [`Row`]s ([`run`] in one call); [`run_simulated`] does
//!   so on a fresh simulated kernel ([`SimMachine`]).
//! - [`Row`], [`Outcome`], [`to_csv`]: the rows and their CSV form.

mod parse;
mod run;

pub use parse::{Line, Name, Op, Placement, Script, Target};
pub use run::{Figures, Machine, Runner, SegvKind, SimMachine, TouchError, run, run_simulated};

use std::fmt;

/// Physical memory of the simulated machine when a script says nothing (`assume
/// ram=`): 24 GiB, what the truth files were recorded with.
pub const DEFAULT_RAM: u64 = 24 << 30;

/// The 16 TiB between the program break's start and the floor.
pub const BRK0_BELOW_FLOOR: u64 = 16 << 40;

/// A script that cannot run: where (the 1-based line) and why, in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    /// The script line.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl ScriptError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> ScriptError {
        ScriptError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// What one line did: the `result` column.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A success without a value.
    Ok,
    /// `map` or `remap`: the address minus the floor.
    At(i64),
    /// `brk`: the new break minus `brk0`.
    Break(u64),
    /// A failed call: the errno name (`ENOMEM`).
    Errno(&'static str),
    /// A `touch` that faulted: why, and the faulting page minus NAME.
    Segv(SegvKind, u64),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::At(d) if d < 0 => write!(f, "@-{:#x}", d.unsigned_abs()),
            Outcome::At(d) => write!(f, "@{d:#x}"),
            Outcome::Break(d) => write!(f, "brk0+{d:#x}"),
            Outcome::Errno(e) => f.write_str(e),
            Outcome::Segv(kind, off) => write!(f, "segv:{}+{off:#x}", kind.name()),
        }
    }
}

/// One row of output: a script line and the figures after it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The script's line number (1-based).
    pub line: usize,
    /// The first word of the line.
    pub op: &'static str,
    /// What the line did.
    pub result: Outcome,
    /// Mappings of the process (`/proc/self/maps` lines) since the start.
    pub vmas: i64,
    /// `RssAnon` in kB since the start.
    pub anon_kb: i64,
    /// `VmPTE` in kB since the start.
    pub pte_kb: i64,
    /// Minor faults since the start.
    pub minflt: i64,
    /// Major faults since the start.
    pub majflt: i64,
}

impl Row {
    /// The CSV header.
    pub const HEADER: &'static str = "line,op,result,vmas,anon_kb,pte_kb,minflt,majflt";

    /// The row as one CSV line, without the newline.
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{}",
            self.line,
            self.op,
            self.result,
            self.vmas,
            self.anon_kb,
            self.pte_kb,
            self.minflt,
            self.majflt
        )
    }
}

/// The rows as a CSV file: the header, then one line per row, each ending in `\n`.
pub fn to_csv(rows: &[Row]) -> String {
    let mut s = String::with_capacity(48 * (rows.len() + 1));
    s.push_str(Row::HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.csv());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_print_as_the_spec_says() {
        assert_eq!(Outcome::At(-0x100000).to_string(), "@-0x100000");
        assert_eq!(Outcome::At(0x2000).to_string(), "@0x2000");
        assert_eq!(Outcome::Break(0x64).to_string(), "brk0+0x64");
        assert_eq!(Outcome::Break(0).to_string(), "brk0+0x0");
        assert_eq!(Outcome::Errno("ENOMEM").to_string(), "ENOMEM");
        assert_eq!(
            Outcome::Segv(SegvKind::MapErr, 0x4000).to_string(),
            "segv:maperr+0x4000"
        );
        assert_eq!(
            Outcome::Segv(SegvKind::AccErr, 0).to_string(),
            "segv:accerr+0x0"
        );
    }
}
