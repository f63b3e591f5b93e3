//! Kernel scripts on the real kernel: the referee of the simulated one.
//!
//! A kernel script (`kernel::script`, `KERNEL-SCRIPTS.md`) runs here in a fresh child
//! process (`exe __brkmap-replay-child kernel-script`, the script on its stdin), which
//! answers with the same CSV rows the simulated kernel gives, so that the two can be
//! compared byte for byte.
//!
//! # The child's process layout
//! Linux places a mapping without an address in the highest free gap below
//! `mmap_base`, among the shared libraries, so the child first makes the space below
//! them as empty as a fresh address space:
//! 1. it fills every gap of its mmap area, from its lowest mapping there rounded down
//!    to 512 GiB up to 1 MiB below the stack, with `PROT_NONE` `MAP_NORESERVE`
//!    placeholders marked `MADV_DONTDUMP` (so nothing merges with them). The start of
//!    that area is the *floor*: every new mapping goes below it, into a 512 GiB region
//!    with no page tables;
//! 2. it moves its program break to `brk0 = floor - 16 TiB`, with no heap there yet,
//!    by `prctl(PR_SET_MM_MAP)` with the other fields read from `/proc/self/stat` (no
//!    capability needed).
//!
//! # Measuring only the script
//! The rows are differences from a baseline taken before the first line, so nothing but
//! the script may fault a page, map anything or grow the stack after it:
//! - everything is allocated before the layout (the script, the rows, a pre-faulted
//!   buffer for `/proc` files), and nothing allocates afterwards until the rows are
//!   written (`kernel::script::Runner` allocates nothing while it runs);
//! - the stack is grown ahead, and every mapping the process has (its code, libc, the
//!   heap, the stack) is populated with `MADV_POPULATE_READ`/`_WRITE` before the
//!   baseline, so that no first execution of a code page and no first write of a data
//!   page faults during the run;
//! - the figures come from `/proc/self/maps` (its lines), `/proc/self/status`
//!   (`RssAnon`, `VmPTE`) and `getrusage`, read with `open`/`read` into that buffer.
//!
//! A `touch` that faults is caught per line: the access is one instruction in a small
//! assembly routine whose recovery address the `SIGSEGV` handler puts into the
//! interrupted context, so the handler returns (restoring the signal mask) to the
//! routine's failure exit, with the fault's address and `si_code`. Only x86-64 Linux
//! with glibc can do this; elsewhere [`run_real`] says the runner is unavailable.

use crate::replay::{ReplayError, run_child, wire};
use kernel::script::{Script, ScriptError};
use std::fmt;
use std::path::Path;

/// The child's exit code for a script that fails while it runs (an unbound NAME, a
/// range reaching the floor); its stderr then says `LINE\tMESSAGE`.
const EXIT_SCRIPT: i32 = 20;

/// Why a real kernel script did not give rows.
#[derive(Debug)]
pub enum KernelScriptError {
    /// This system cannot run it (not x86-64 Linux with glibc).
    Unavailable(&'static str),
    /// The script is malformed, or failed at a line while it ran.
    Script(ScriptError),
    /// Starting or talking to the child failed, or it failed on its own.
    Child(ReplayError),
}

impl fmt::Display for KernelScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelScriptError::Unavailable(why) => write!(f, "real kernel scripts: {why}"),
            KernelScriptError::Script(e) => write!(f, "{e}"),
            KernelScriptError::Child(e) => write!(f, "kernel-script child: {e}"),
        }
    }
}

impl std::error::Error for KernelScriptError {}

/// Why real kernel scripts cannot run in this build, or `None` when they can.
pub fn unavailable_reason() -> Option<&'static str> {
    if cfg!(all(
        target_os = "linux",
        target_env = "gnu",
        target_arch = "x86_64"
    )) {
        None
    } else {
        Some(
            "the real runner needs x86-64 Linux with glibc (it catches SIGSEGV per line by \
             rewriting the interrupted instruction pointer, and moves its break with \
             prctl(PR_SET_MM_MAP)); this build targets another system",
        )
    }
}

/// Runs the kernel script `text` on this machine's kernel, in a fresh child started
/// from `exe` (a binary whose C `main` comes from
/// [`entry_point!`](crate::entry_point)), and returns its rows as CSV: the header,
/// then one line per script line. The script is parsed here first, so a malformed one
/// fails before any child starts.
pub fn run_real(exe: &Path, text: &str) -> Result<String, KernelScriptError> {
    if let Some(why) = unavailable_reason() {
        return Err(KernelScriptError::Unavailable(why));
    }
    Script::parse(text).map_err(KernelScriptError::Script)?;
    let out = run_child(exe, &[wire::MODE_KERNEL_SCRIPT], Some(text.as_bytes()))
        .map_err(KernelScriptError::Child)?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.code() == Some(EXIT_SCRIPT) {
        let (line, message) = stderr.split_once('\t').unwrap_or(("0", &stderr));
        return Err(KernelScriptError::Script(ScriptError {
            line: line.parse().unwrap_or(0),
            message: message.to_string(),
        }));
    }
    if !out.status.success() {
        return Err(KernelScriptError::Child(ReplayError::Child {
            code: out.status.code(),
            signal: crate::replay::signal_of(&out.status),
            message: stderr,
        }));
    }
    String::from_utf8(out.stdout).map_err(|_| {
        KernelScriptError::Child(ReplayError::Protocol {
            detail: "the rows are not UTF-8".into(),
        })
    })
}

/// Entry of `__brkmap-replay-child kernel-script`.
pub(crate) fn child_main() -> ! {
    #[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
    {
        child::main()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64")))]
    {
        let why = unavailable_reason().unwrap_or("unavailable");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), why.as_bytes());
        std::process::exit(wire::EXIT_USAGE)
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
mod child {
    //! The child: lays out its address space, then runs the script with nothing else
    //! touching memory.

    use super::EXIT_SCRIPT;
    use crate::sys::{self, Mapping, MmMap, SysError};
    use kernel::script::{Figures, Machine, Runner, Script, SegvKind, TouchError, to_csv};
    use kernel::{Addr, Advice, MapFlags, Prot};
    use std::arch::asm;
    use std::ffi::{CStr, c_int, c_void};
    use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

    /// 512 GiB: the span of one PML4 entry, to which the floor is aligned.
    const FLOOR_ALIGN: u64 = 1 << 39;
    /// How far below the stack the placeholders stop (Linux keeps a 1 MiB gap below a
    /// stack, `stack_guard_gap`).
    const BELOW_STACK: u64 = 1 << 20;
    /// Bytes of the buffer `/proc` files are read into.
    const BUF_BYTES: usize = 1 << 20;
    /// Most mappings the layout step reads.
    const MAX_MAPPINGS: usize = 4096;
    /// Stack grown ahead of the run.
    const STACK_AHEAD: usize = 1 << 20;
    /// `MADV_POPULATE_READ` and `MADV_POPULATE_WRITE` (Linux 5.14).
    const MADV_POPULATE_READ: c_int = 22;
    const MADV_POPULATE_WRITE: c_int = 23;
    /// `si_code` of a SIGSEGV at a mapped address whose protection forbids the access.
    const SEGV_ACCERR: i32 = 2;

    /// Where the fault handler sends a faulting probe (0: no probe running, so a fault
    /// is a real crash).
    static RECOVER: AtomicUsize = AtomicUsize::new(0);
    /// The last probe fault's address and `si_code`.
    static FAULT_ADDR: AtomicUsize = AtomicUsize::new(0);
    static FAULT_CODE: AtomicI32 = AtomicI32::new(0);

    /// Why the child stops.
    enum Failure {
        /// The script failed at a line.
        Script(kernel::script::ScriptError),
        /// Setting up failed.
        Setup(&'static str, Option<SysError>),
    }

    impl From<SysError> for Failure {
        fn from(e: SysError) -> Failure {
            Failure::Setup(e.call, Some(e))
        }
    }

    pub(super) fn main() -> ! {
        match run() {
            Ok(csv) => match sys::write_all(1, csv.as_bytes()) {
                Ok(()) => sys::exit_now(0),
                Err(_) => sys::exit_now(crate::replay::wire::EXIT_SYSCALL),
            },
            Err(Failure::Script(e)) => {
                let msg = format!("{}\t{}\n", e.line, e.message);
                let _ = sys::write_all(2, msg.as_bytes());
                sys::exit_now(EXIT_SCRIPT)
            }
            Err(Failure::Setup(what, e)) => {
                let msg = match e {
                    Some(e) => format!("kernel-script child: {what}: {e}\n"),
                    None => format!("kernel-script child: {what}\n"),
                };
                let _ = sys::write_all(2, msg.as_bytes());
                sys::exit_now(crate::replay::wire::EXIT_SYSCALL)
            }
        }
    }

    fn run() -> Result<String, Failure> {
        // Everything that allocates happens first.
        let mut text = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match sys::read_some(0, &mut chunk)? {
                0 => break,
                n => text.extend_from_slice(&chunk[..n]),
            }
        }
        let text = std::str::from_utf8(&text)
            .map_err(|_| Failure::Setup("the script is not UTF-8", None))?;
        let script = Script::parse(text).map_err(Failure::Script)?;
        let mut runner = Runner::new(&script);
        let mut buf = Mapping::new(BUF_BYTES, true)?;
        let mut mappings: Vec<Region> = Vec::with_capacity(MAX_MAPPINGS);
        grow_stack();
        // SAFETY: `on_fault` only stores into atomics and rewrites the interrupted
        // context (async-signal-safe), or restores the default action.
        unsafe { sys::on_fault_signals(on_fault)? };

        // The layout; nothing may allocate from here until the rows are written.
        let (floor, brk0) = lay_out(buf.bytes_mut(), &mut mappings)?;
        populate_everything(buf.bytes_mut(), &mut mappings)?;
        let status = read(c"/proc/self/status", buf.bytes_mut())?;
        let vmdata0 = field_kb(status, b"VmData:").unwrap_or(0) * 1024;
        let vmsize0 = field_kb(status, b"VmSize:").unwrap_or(0) * 1024;
        let mut machine = Real {
            floor,
            brk0,
            buf,
            vmdata0,
            vmsize0,
        };
        machine.warm_up()?;
        runner.run(&mut machine).map_err(Failure::Script)?;
        Ok(to_csv(runner.rows()))
    }

    /// One line of `/proc/self/maps`.
    #[derive(Copy, Clone, Debug)]
    struct Region {
        start: u64,
        end: u64,
        readable: bool,
        writable: bool,
        /// `[stack]`.
        stack: bool,
        /// `[heap]`.
        heap: bool,
        /// `[vvar]`, `[vvar_vclock]`, `[vdso]`, `[vsyscall]`: not memory of ours.
        special: bool,
    }

    /// `/proc/self/maps` into `out` (within its capacity: no allocation).
    fn read_maps(buf: &mut [u8], out: &mut Vec<Region>) -> Result<(), Failure> {
        out.clear();
        let text = read(c"/proc/self/maps", buf)?;
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if out.len() == out.capacity() {
                return Err(Failure::Setup("too many mappings", None));
            }
            let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
            let range = words.next().unwrap_or_default();
            let perms = words.next().unwrap_or_default();
            let path = words.nth(3).unwrap_or_default();
            let mut ends = range.split(|&b| b == b'-');
            let (Some(start), Some(end)) = (ends.next().and_then(hex), ends.next().and_then(hex))
            else {
                return Err(Failure::Setup("an unreadable /proc/self/maps line", None));
            };
            out.push(Region {
                start,
                end,
                readable: perms.first() == Some(&b'r'),
                writable: perms.get(1) == Some(&b'w'),
                stack: path == b"[stack]",
                heap: path == b"[heap]",
                special: path.starts_with(b"[v"),
            });
        }
        Ok(())
    }

    /// Fills the mmap area with placeholders and moves the break. Returns the floor and
    /// `brk0`.
    fn lay_out(buf: &mut [u8], maps: &mut Vec<Region>) -> Result<(u64, u64), Failure> {
        read_maps(buf, maps)?;
        let low_end = maps
            .iter()
            .find(|r| r.heap)
            .or(maps.first())
            .map_or(0, |r| r.end);
        let lowest = maps
            .iter()
            .find(|r| r.start >= low_end + (1 << 40))
            .ok_or(Failure::Setup("no mmap area above the heap", None))?
            .start;
        let floor = lowest & !(FLOOR_ALIGN - 1);
        let stack = maps
            .iter()
            .find(|r| r.stack)
            .ok_or(Failure::Setup("no [stack] in /proc/self/maps", None))?
            .start;
        let top = stack - BELOW_STACK;
        let brk0 = floor
            .checked_sub(kernel::script::BRK0_BELOW_FLOOR)
            .ok_or(Failure::Setup("the floor is too low", None))?;
        if maps.iter().any(|r| r.end > brk0 && r.start < floor) {
            return Err(Failure::Setup(
                "something is mapped between brk0 and the floor",
                None,
            ));
        }
        let mut cursor = floor;
        let mut gaps = [(0u64, 0u64); 256];
        let mut n = 0;
        for r in maps.iter().filter(|r| r.end > floor && r.start < top) {
            if r.start > cursor && n < gaps.len() {
                gaps[n] = (cursor, r.start);
                n += 1;
            }
            cursor = cursor.max(r.end);
        }
        if cursor < top && n < gaps.len() {
            gaps[n] = (cursor, top);
            n += 1;
        }
        for &(start, end) in &gaps[..n] {
            let flags = libc::MAP_PRIVATE
                | libc::MAP_ANONYMOUS
                | libc::MAP_NORESERVE
                | libc::MAP_FIXED_NOREPLACE;
            let len = (end - start) as usize;
            let p = sys::mmap(start as *mut u8, len, libc::PROT_NONE, flags, -1)?;
            if p as u64 != start {
                return Err(Failure::Setup(
                    "a placeholder did not land in its gap",
                    None,
                ));
            }
            // SAFETY: the placeholder was just mapped by us and holds nothing.
            unsafe { sys::madvise(p, len, libc::MADV_DONTDUMP)? };
        }
        move_break(buf, brk0)?;
        Ok((floor, brk0))
    }

    /// Moves the program break (and its start) to `brk0`.
    fn move_break(buf: &mut [u8], brk0: u64) -> Result<(), Failure> {
        let stat = read(c"/proc/self/stat", buf)?;
        // The fields after the command name, which may contain spaces: from the last ')'.
        let close = stat
            .iter()
            .rposition(|&b| b == b')')
            .ok_or(Failure::Setup("an unreadable /proc/self/stat", None))?;
        let mut field = [0u64; 53];
        for (i, w) in stat[close + 1..]
            .split(|&b| b == b' ' || b == b'\n')
            .filter(|w| !w.is_empty())
            .enumerate()
        {
            // Field 3 (the state letter) is the first after ')'.
            if let Some(slot) = field.get_mut(i + 3) {
                *slot = dec(w).unwrap_or(0);
            }
        }
        let map = MmMap {
            start_code: field[26],
            end_code: field[27],
            start_data: field[45],
            end_data: field[46],
            start_brk: brk0,
            brk: brk0,
            start_stack: field[28],
            arg_start: field[48],
            arg_end: field[49],
            env_start: field[50],
            env_end: field[51],
            auxv: 0,
            auxv_size: 0,
            exe_fd: u32::MAX,
        };
        // SAFETY: nothing allocates from now until the run is over (see the module
        // doc), so glibc's malloc never sees the moved break.
        unsafe { sys::set_mm_map(&map)? };
        // SAFETY: brk(0) only asks.
        if unsafe { sys::raw_brk(0) } as u64 != brk0 {
            return Err(Failure::Setup("the break did not move", None));
        }
        Ok(())
    }

    /// Populates every mapping of the process (code, data, heap, stack; not the
    /// placeholders, which are `PROT_NONE`, nor the kernel's `[vdso]`-like ones), so
    /// that nothing the runner executes or writes faults during the run.
    fn populate_everything(buf: &mut [u8], maps: &mut Vec<Region>) -> Result<(), Failure> {
        read_maps(buf, maps)?;
        for r in maps.iter().filter(|r| r.readable && !r.special) {
            let advice = if r.writable {
                MADV_POPULATE_WRITE
            } else {
                MADV_POPULATE_READ
            };
            // SAFETY: populating changes no content (a write-populate only breaks
            // copy-on-write sharing); the ranges are this process's own mappings.
            // A range that cannot be populated (a file shorter than its mapping) is
            // left as it is.
            let _ = unsafe { sys::madvise(r.start as *mut u8, (r.end - r.start) as usize, advice) };
        }
        Ok(())
    }

    /// Grows the stack well beyond what the run needs, before the baseline.
    #[inline(never)]
    fn grow_stack() {
        let mut pad = [0u8; STACK_AHEAD];
        for i in (0..STACK_AHEAD).step_by(4096) {
            // SAFETY: `i` is inside `pad`.
            unsafe { std::ptr::write_volatile(pad.as_mut_ptr().add(i), 1) };
        }
        std::hint::black_box(&pad);
    }

    /// The SIGSEGV/SIGBUS handler: while a probe runs, records the fault and resumes
    /// at the probe's recovery label; otherwise restores the default action, so that
    /// the access faults again and kills the process as any crash would.
    extern "C" fn on_fault(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        let recover = RECOVER.swap(0, Ordering::SeqCst);
        if recover == 0 || ctx.is_null() {
            sys::restore_default(sig);
            return;
        }
        // SAFETY: the kernel passed this siginfo_t to a SIGSEGV/SIGBUS handler.
        if let Some((code, addr)) = unsafe { sys::fault_info(info) } {
            FAULT_CODE.store(code, Ordering::SeqCst);
            FAULT_ADDR.store(addr, Ordering::SeqCst);
        }
        // SAFETY: `ctx` is the ucontext_t of the interrupted code (SA_SIGINFO); the
        // probe that set RECOVER is that code, and its recovery label expects to be
        // entered with the registers as they were at the faulting access.
        unsafe {
            let uc = ctx.cast::<libc::ucontext_t>();
            (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] = recover as i64;
        }
    }

    /// One access of the byte at `addr` (a store of 1 if `write`, else a load).
    /// Returns false when it faulted (the fault's address and code are in
    /// `FAULT_ADDR` and `FAULT_CODE`).
    ///
    /// # Safety
    /// `addr` must not be memory of this program's that a store could corrupt: only
    /// the script's own mappings, between `brk0` and the floor.
    unsafe fn probe(addr: usize, write: bool) -> bool {
        let faulted: u64;
        // SAFETY: the caller vouches for `addr`; a fault is caught by `on_fault`, which
        // resumes at label 3 with every register as it was.
        unsafe {
            asm!(
                "lea {rec}, [rip + 3f]",
                "mov qword ptr [{slot}], {rec}",
                "xor {f:e}, {f:e}",
                "test {w}, {w}",
                "jz 2f",
                "mov byte ptr [{a}], 1",
                "jmp 4f",
                "2:",
                "movzx {tmp:e}, byte ptr [{a}]",
                "jmp 4f",
                "3:",
                "mov {f:e}, 1",
                "4:",
                a = in(reg) addr,
                w = in(reg) u64::from(write),
                slot = in(reg) RECOVER.as_ptr(),
                rec = out(reg) _,
                tmp = out(reg) _,
                f = out(reg) faulted,
                options(nostack),
            );
        }
        RECOVER.store(0, Ordering::SeqCst);
        faulted == 0
    }

    /// The real kernel as a script machine.
    struct Real {
        floor: u64,
        brk0: u64,
        buf: Mapping,
        vmdata0: u64,
        vmsize0: u64,
    }

    impl Real {
        /// Runs the probe both ways once (a load from the buffer, a load at `brk0`,
        /// where nothing is mapped yet, which faults) and reads the figures, before the
        /// baseline.
        fn warm_up(&mut self) -> Result<(), Failure> {
            let own = self.buf.as_ptr() as usize;
            // SAFETY: a load from our own buffer.
            let ok = unsafe { probe(own, false) };
            // SAFETY: a load from brk0, where nothing is mapped yet.
            let refused = unsafe { !probe(self.brk0 as usize, false) };
            if !(ok && refused) {
                return Err(Failure::Setup("the fault probe does not work", None));
            }
            let _ = self.figures();
            Ok(())
        }
    }

    fn errno_of(e: SysError) -> &'static str {
        sys::errno_name(e.errno)
    }

    fn prot_of(p: Prot) -> c_int {
        let mut c = libc::PROT_NONE;
        if p.contains(Prot::READ) {
            c |= libc::PROT_READ;
        }
        if p.contains(Prot::WRITE) {
            c |= libc::PROT_WRITE;
        }
        c
    }

    // Every address the runner hands these calls lies between brk0 and the floor
    // (`kernel::script::Runner` refuses other ranges), where only the script's own
    // mappings are: the process has nothing mapped there (checked in `lay_out`).
    impl Machine for Real {
        fn floor(&self) -> Addr {
            self.floor
        }

        fn brk0(&self) -> Addr {
            self.brk0
        }

        fn figures(&mut self) -> Figures {
            let buf = self.buf.bytes_mut();
            let vmas = read(c"/proc/self/maps", buf)
                .map(|t| t.iter().filter(|&&b| b == b'\n').count() as i64)
                .unwrap_or(0);
            let (anon_kb, pte_kb) = match read(c"/proc/self/status", buf) {
                Ok(t) => (
                    field_kb(t, b"RssAnon:").unwrap_or(0) as i64,
                    field_kb(t, b"VmPTE:").unwrap_or(0) as i64,
                ),
                Err(_) => (0, 0),
            };
            let (minflt, majflt) = sys::fault_counts();
            Figures {
                vmas,
                anon_kb,
                pte_kb,
                minflt: minflt as i64,
                majflt: majflt as i64,
            }
        }

        fn mmap(
            &mut self,
            addr: Addr,
            len: u64,
            prot: Prot,
            flags: MapFlags,
        ) -> Result<Addr, &'static str> {
            let mut f = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
            if flags.contains(MapFlags::POPULATE) {
                f |= libc::MAP_POPULATE;
            }
            if flags.contains(MapFlags::NORESERVE) {
                f |= libc::MAP_NORESERVE;
            }
            if flags.contains(MapFlags::FIXED_NOREPLACE) {
                f |= libc::MAP_FIXED_NOREPLACE;
            }
            let (at, len, prot) = (addr as *mut u8, len as usize, prot_of(prot));
            let r = if flags.contains(MapFlags::FIXED) {
                // SAFETY: a script range below the floor (see above the impl).
                unsafe { sys::mmap_fixed(at, len, prot, f, -1) }
            } else {
                sys::mmap(at, len, prot, f, -1)
            };
            r.map(|p| p as Addr).map_err(errno_of)
        }

        fn munmap(&mut self, addr: Addr, len: u64) -> Result<(), &'static str> {
            // SAFETY: a script range below the floor (see above the impl).
            unsafe { sys::munmap(addr as *mut u8, len as usize) }.map_err(errno_of)
        }

        fn mprotect(&mut self, addr: Addr, len: u64, prot: Prot) -> Result<(), &'static str> {
            // SAFETY: a script range below the floor (see above the impl).
            unsafe { sys::mprotect(addr as *mut u8, len as usize, prot_of(prot)) }.map_err(errno_of)
        }

        fn madvise(&mut self, addr: Addr, len: u64, advice: Advice) -> Result<(), &'static str> {
            let a = match advice {
                Advice::DontNeed => libc::MADV_DONTNEED,
                Advice::Free => libc::MADV_FREE,
            };
            // SAFETY: a script range below the floor (see above the impl).
            unsafe { sys::madvise(addr as *mut u8, len as usize, a) }.map_err(errno_of)
        }

        fn mremap(
            &mut self,
            addr: Addr,
            old_len: u64,
            new_len: u64,
            maymove: bool,
        ) -> Result<Addr, &'static str> {
            let flags = if maymove { libc::MREMAP_MAYMOVE } else { 0 };
            // SAFETY: a script range below the floor (see above the impl).
            unsafe { sys::mremap(addr as *mut u8, old_len as usize, new_len as usize, flags) }
                .map(|p| p as Addr)
                .map_err(errno_of)
        }

        fn brk(&mut self, addr: Addr) -> Addr {
            // SAFETY: the break was moved to brk0 and nothing but the script moves it
            // (nothing allocates during the run).
            unsafe { sys::raw_brk(addr as usize) as Addr }
        }

        fn touch(
            &mut self,
            addr: Addr,
            len: u64,
            access: kernel::Access,
        ) -> Result<(), TouchError> {
            let write = access == kernel::Access::Write;
            let end = addr.saturating_add(len);
            let mut page = addr & !(kernel::PAGE_SIZE - 1);
            while page < end {
                let at = page.max(addr);
                // SAFETY: a script range below the floor (see above the impl).
                if !unsafe { probe(at as usize, write) } {
                    let kind = if FAULT_CODE.load(Ordering::SeqCst) == SEGV_ACCERR {
                        SegvKind::AccErr
                    } else {
                        SegvKind::MapErr
                    };
                    let addr = FAULT_ADDR.load(Ordering::SeqCst) as Addr;
                    return Err(TouchError::Segv { kind, addr });
                }
                page += kernel::PAGE_SIZE;
            }
            Ok(())
        }

        fn setrlimit(&mut self, data: bool, bytes: u64) -> Result<(), &'static str> {
            let (resource, base) = if data {
                (libc::RLIMIT_DATA, self.vmdata0)
            } else {
                (libc::RLIMIT_AS, self.vmsize0)
            };
            sys::set_soft_limit(resource as c_int, bytes.saturating_add(base)).map_err(errno_of)
        }
    }

    /// Reads `path` into `buf` and returns the bytes read.
    fn read<'b>(path: &CStr, buf: &'b mut [u8]) -> Result<&'b [u8], SysError> {
        let n = sys::read_file(path, buf)?;
        Ok(&buf[..n])
    }

    /// The number after `key` in a `/proc/self/status` text (`RssAnon:  128 kB`).
    fn field_kb(text: &[u8], key: &[u8]) -> Option<u64> {
        let at = text.windows(key.len()).position(|w| w == key)?;
        let rest = &text[at + key.len()..];
        let digits = rest
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .take_while(|b| b.is_ascii_digit());
        let mut v: u64 = 0;
        let mut any = false;
        for &d in digits {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            any = true;
        }
        any.then_some(v)
    }

    fn hex(w: &[u8]) -> Option<u64> {
        let mut v: u64 = 0;
        for &b in w {
            let d = (b as char).to_digit(16)?;
            v = v.checked_mul(16)?.checked_add(u64::from(d))?;
        }
        (!w.is_empty()).then_some(v)
    }

    fn dec(w: &[u8]) -> Option<u64> {
        let mut v: u64 = 0;
        for &b in w {
            let d = (b as char).to_digit(10)?;
            v = v.checked_mul(10)?.checked_add(u64::from(d))?;
        }
        (!w.is_empty()).then_some(v)
    }
}
