//! Stepping through a workload in front of a class (`sim step`).
//!
//! A lecture about allocators goes best when the room can watch one: an op, then the
//! heap, then the next op. A [`Session`] holds a workload being executed one op at a
//! time through the engine's one op loop ([`engine::Program`]) on a simulated kernel,
//! and answers [`Command`]s (next op, the next N, until op N, to the peak footprint)
//! with text for an 80-column terminal: after each op the op and the address it got,
//! then the state: a one-line map of the heap, the allocator's free structures (the
//! free list as [`Allocator::describe`] gives it, or for glibc its cached, binned and
//! top chunks), the process's VMAs and its memory (RSS, mapped, page tables).
//!
//! The session is pure (no I/O): `sim step` reads the commands from stdin or a script
//! and prints what the session returns, so a test can drive it with a string.
//!
//! For glibc the session builds the model itself (from the same options the registry
//! takes) to read `mallinfo2`; the model has no public listing of its bins by index, so
//! the view groups chunks by what the heap map says they are (cached in the tcache or
//! a fastbin, free in a bin, top), with the fastbin count from `mallinfo2`.

use crate::registry::{self, Setting};
use engine::{Program, RunConfig, Stepped};
use kernel::{Kernel, KernelConfig, Syscall, VmaInfo};
use malloc::glibc::{Glibc, Tunables};
use malloc::options::{Configurable, Options};
use malloc::{Allocator, Block, BlockKind};
use std::fmt::Write as _;
use units::bytes;
use workload::{AllocCall, Op, Workload};

/// Columns of the heap map: with its frame and the heap size it fits 80 columns.
pub const MAP_COLUMNS: usize = 60;

/// Runs of more ops than this print one summary line instead of a line per op.
const OP_LINES_MAX: u64 = 20;

/// What the user typed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run this many ops (Enter is one).
    Next(u64),
    /// Run until this many ops have run in total.
    Until(u64),
    /// Run to the op after which the footprint is at its peak (the first such op).
    Peak,
    /// Show the commands.
    Help,
    /// Stop.
    Quit,
}

/// The commands, for the help text (two lines of at most 80 columns).
pub const HELP: &str = "commands: Enter = next op, n N = the next N ops, until N = run until op N,\n\
                        \x20         peak = run to the peak footprint, h = help, q = quit";

/// The commands in short, for error messages.
const COMMANDS: &str = "Enter, n N, until N, peak, h or q";

/// Reads one command line: empty (Enter) or `n` for one op, `n N`, `until N` (or
/// `u N`), `peak`, `h`/`help`, `q`/`quit`. Surrounding spaces are ignored.
pub fn parse_command(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let number = |w: Option<&&str>, what: &str| -> Result<u64, String> {
        let w = w.ok_or_else(|| format!("`{what}` needs a number (`{what} 10`)"))?;
        match w.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("`{w}` is not a positive whole number")),
        }
    };
    let cmd = match words.first().copied() {
        None => Command::Next(1),
        Some("n" | "next") if words.len() == 1 => Command::Next(1),
        Some(w @ ("n" | "next")) => Command::Next(number(words.get(1), w)?),
        Some(w @ ("u" | "until")) => Command::Until(number(words.get(1), w)?),
        Some("peak") => Command::Peak,
        Some("h" | "help" | "?") => Command::Help,
        Some("q" | "quit" | "exit") => Command::Quit,
        Some(w) => return Err(format!("unknown command `{w}` (commands: {COMMANDS})")),
    };
    let expected = match cmd {
        Command::Next(_) | Command::Until(_) if words.len() > 1 => 2,
        _ => 1,
    };
    if words.len() > expected {
        return Err(format!(
            "`{}`: too many words (commands: {COMMANDS})",
            line.trim()
        ));
    }
    Ok(cmd)
}

/// The allocator under study, kept concrete when the view needs more than the trait.
enum Subject {
    Glibc(Box<Glibc>),
    Other(Box<dyn Allocator>),
}

impl Subject {
    fn get(&self) -> &dyn Allocator {
        match self {
            Subject::Glibc(g) => g.as_ref(),
            Subject::Other(a) => a.as_ref(),
        }
    }

    fn get_mut(&mut self) -> &mut dyn Allocator {
        match self {
            Subject::Glibc(g) => g.as_mut(),
            Subject::Other(a) => a.as_mut(),
        }
    }
}

/// Builds the allocator `name` with `settings`: glibc as its concrete type, the
/// others through the registry.
fn subject(name: &str, settings: &[Setting]) -> Result<Subject, String> {
    // The registry checks the name and the settings the same way for every allocator.
    let built = registry::build(name, settings).map_err(|e| e.to_string())?;
    if name != "glibc" {
        return Ok(Subject::Other(built));
    }
    let entry = registry::find(name).map_err(|e| e.to_string())?;
    let mine: Vec<&Setting> = settings.iter().filter(|(k, _)| entry.takes(k)).collect();
    let pairs: Vec<(&str, &str)> = mine.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (t, _notes) = Tunables::from_settings(&pairs).map_err(|e| e.to_string())?;
    let g = Glibc::from_config(t).map_err(|e| e.to_string())?;
    Ok(Subject::Glibc(Box::new(g)))
}

/// A workload being stepped through.
pub struct Session {
    program: Program,
    kernel: Kernel,
    subject: Subject,
    heap_start: u64,
    /// Ops run when the footprint first reached its maximum, and that maximum.
    peak: (u64, u64),
    /// Set when the program cannot go on (it died, or the engine refused an op).
    stopped: Option<String>,
    /// The line of the last op run.
    last_line: String,
}

impl Session {
    /// A session of `workload` through the allocator `name` (with `settings`) on a
    /// fresh kernel of `config`. It runs the workload once first, on another instance,
    /// to find the op of peak footprint.
    pub fn new(
        workload: Workload,
        name: &str,
        settings: &[Setting],
        config: KernelConfig,
    ) -> Result<Session, String> {
        let subject = subject(name, settings)?;
        let probe = registry::build(name, settings).map_err(|e| e.to_string())?;
        let mut peak = (0u64, 0u64);
        let run_cfg = RunConfig {
            kernel: config.clone(),
            ..RunConfig::default()
        };
        engine::run_observed(&workload, probe, &run_cfg, &mut |s| {
            let f = s.allocator.stats().footprint;
            if f > peak.1 {
                peak = (s.index + 1, f);
            }
        })
        .map_err(|e| e.to_string())?;
        let kernel = Kernel::new(config);
        let heap_start = kernel.program_break();
        Ok(Session {
            program: Program::new(workload),
            kernel,
            subject,
            heap_start,
            peak,
            stopped: None,
            last_line: String::new(),
        })
    }

    /// Ops run so far.
    pub fn position(&self) -> u64 {
        self.program.position() as u64
    }

    /// The op count after which the footprint peaks, and the peak (0, 0 when the
    /// footprint never grows).
    pub fn peak(&self) -> (u64, u64) {
        self.peak
    }

    /// True when no op can run any more.
    pub fn done(&self) -> bool {
        self.stopped.is_some() || self.program.finished()
    }

    /// The opening text: what runs, the legend, the state before the first op.
    pub fn intro(&self) -> String {
        let w = self.program.workload();
        let mut out = String::new();
        let what = match w.seed {
            Some(s) => format!("workload {} (seed {s})", w.name),
            None => format!("trace {}", w.name),
        };
        let _ = writeln!(
            out,
            "{what}: {} ops through {}",
            w.ops.len(),
            self.subject.get().name()
        );
        if self.peak.0 > 0 {
            let _ = writeln!(
                out,
                "footprint peaks at {} after op {}",
                bytes(self.peak.1),
                self.peak.0
            );
        }
        let _ = writeln!(
            out,
            "heap map: # in use, c cached (not merged), . free, t top, m allocator's own"
        );
        let _ = writeln!(out, "{HELP}");
        out.push('\n');
        out.push_str(&self.view());
        out
    }

    /// Carries out a command and returns what to print.
    pub fn run(&mut self, cmd: Command) -> String {
        let at = self.position();
        let n = match cmd {
            Command::Help => return format!("{HELP}\n"),
            Command::Quit => return String::new(),
            Command::Next(n) => n,
            Command::Until(target) if target <= at => {
                return format!("already {at} ops in (until takes an op number ahead)\n");
            }
            Command::Until(target) => target - at,
            Command::Peak if self.peak.0 == 0 => {
                return "the footprint never grows in this run\n".to_string();
            }
            Command::Peak if self.peak.0 <= at => {
                return format!(
                    "already past the peak (it is after op {}, {} ops ran)\n",
                    self.peak.0, at
                );
            }
            Command::Peak => self.peak.0 - at,
        };
        if let Some(why) = &self.stopped {
            return format!("the program has stopped: {why}\n");
        }
        if self.program.finished() {
            return format!("end of the workload ({at} ops)\n");
        }
        let mut out = String::new();
        let mut ran = 0u64;
        while ran < n && !self.done() {
            let line = self.step();
            if n <= OP_LINES_MAX {
                out.push_str(&line);
            }
            ran += 1;
        }
        if n > OP_LINES_MAX {
            let _ = writeln!(
                out,
                "ran ops {} to {}; the last one:",
                at + 1,
                self.position()
            );
            out.push_str(&self.last_line);
        }
        out.push_str(&self.view());
        if self.program.finished() && self.stopped.is_none() {
            let _ = writeln!(out, "end of the workload ({} ops)", self.position());
        }
        out
    }
}

impl Session {
    /// Runs one op and returns its line (kept in `last_line` for long runs).
    fn step(&mut self) -> String {
        let index = self.program.position();
        let op = self.program.next_op().cloned();
        let before = self.kernel.counters().clone();
        let stepped = self.program.step(&mut self.kernel, self.subject.get_mut());
        let total = self.program.workload().ops.len();
        let mut line = format!("op {}/{}: ", index + 1, total);
        if let Some(op) = &op {
            line.push_str(&self.op_text(op));
        }
        match stepped {
            Ok(Stepped::Ran { ptr, .. }) => {
                if let Some(p) = ptr {
                    let _ = write!(line, " -> {}", self.addr_text(p));
                }
            }
            Ok(Stepped::FreeRefused { detail, .. }) => {
                let _ = write!(line, " (refused: {detail}; the block leaks)");
            }
            Ok(Stepped::Finished) => {}
            Ok(Stepped::OutOfMemory { detail, .. }) => {
                let _ = write!(line, " -> the program dies: {detail}");
                self.stopped = Some(format!("out of memory at op {}", index + 1));
            }
            Ok(Stepped::Segv { detail, .. }) => {
                let _ = write!(line, " -> the program dies: {detail}");
                self.stopped = Some(format!("SIGSEGV at op {}", index + 1));
            }
            Err(e) => {
                let _ = write!(line, " -> {e}");
                self.stopped = Some(e.to_string());
            }
        }
        let after = self.kernel.counters();
        let calls: Vec<String> = Syscall::ALL
            .iter()
            .filter_map(|&c| {
                let d = after.syscall(c) - before.syscall(c);
                match d {
                    0 => None,
                    1 => Some(c.name().to_string()),
                    _ => Some(format!("{} x{d}", c.name())),
                }
            })
            .collect();
        if !calls.is_empty() {
            let _ = write!(line, "  [{}]", calls.join(", "));
        }
        let mut wrapped = String::new();
        super::push_wrapped(&mut wrapped, &line, -2);
        self.last_line = wrapped.clone();
        wrapped
    }
}

impl Session {
    /// An op as C would write it, blocks named `pID`. A block the trace says came from
    /// `calloc` or an aligned function shows that call (the simulator runs it as the
    /// `malloc` of the same size).
    fn op_text(&self, op: &Op) -> String {
        match op {
            Op::Malloc { id, size } => match self.program.workload().calls.get(id) {
                Some(AllocCall::Calloc { count, size: each }) => {
                    format!("p{id} = calloc({count}, {each}) (as malloc({size}))")
                }
                Some(AllocCall::Aligned { func, align }) => {
                    format!("p{id} = {}({align}, {size}) (as malloc)", func.name())
                }
                None => format!("p{id} = malloc({size})"),
            },
            Op::Free { id } => format!("free(p{id})"),
            Op::Realloc { id, size } => format!("p{id} = realloc(p{id}, {size})"),
            Op::Touch {
                id,
                offset,
                len,
                write,
            } => format!(
                "{} {len} bytes of p{id} at +{offset}",
                if *write { "write" } else { "read" }
            ),
            Op::Trim { pad } => format!("malloc_trim({pad})"),
            Op::Phase { name } => format!("-- phase {name} --"),
        }
    }

    /// An address: its offset in the brk heap, or the address itself elsewhere.
    fn addr_text(&self, p: u64) -> String {
        let brk = self.kernel.program_break();
        if p >= self.heap_start && p < brk {
            format!("heap+{:#x}", p - self.heap_start)
        } else {
            format!("{p:#x}")
        }
    }

    /// The state after the last op: heap map, free structures, VMAs, memory.
    fn view(&self) -> String {
        let a = self.subject.get();
        let mut blocks = Vec::new();
        a.blocks(&mut blocks);
        let mut out = String::new();
        let brk = self.kernel.program_break();
        let heap = brk - self.heap_start;
        if heap == 0 {
            out.push_str("heap: empty (the break has not moved)\n");
        } else {
            let _ = writeln!(
                out,
                "heap |{}| {}",
                heap_map(&blocks, self.heap_start, brk),
                bytes(heap)
            );
        }
        let mapped: Vec<&Block> = blocks.iter().filter(|b| b.mapped).collect();
        if !mapped.is_empty() {
            let used: u64 = mapped
                .iter()
                .filter(|b| b.kind == BlockKind::Used)
                .map(|b| b.size)
                .sum();
            let _ = writeln!(
                out,
                "blocks outside the heap: {} ({} in use)",
                mapped.len(),
                bytes(used)
            );
        }
        for line in self.structures(&blocks) {
            push_clipped(&mut out, &line);
        }
        let vmas = self.kernel.vmas();
        let _ = writeln!(out, "VMAs: {}", vmas.len());
        const SHOWN: usize = 4;
        for v in vmas.iter().take(SHOWN) {
            out.push_str(&vma_line(v));
        }
        if vmas.len() > SHOWN {
            let _ = writeln!(out, "  ... and {} more", vmas.len() - SHOWN);
        }
        let m = self.kernel.mem();
        let _ = writeln!(
            out,
            "kernel: RSS {}  mapped {}  page tables {}",
            bytes(m.rss),
            bytes(m.mapped),
            bytes(m.pt_bytes)
        );
        let _ = writeln!(
            out,
            "memory: live {}  footprint {}",
            bytes(self.program.live()),
            bytes(a.stats().footprint)
        );
        out.push('\n');
        out
    }

    /// The allocator's free structures, a few lines.
    fn structures(&self, blocks: &[Block]) -> Vec<String> {
        match &self.subject {
            Subject::Glibc(g) => glibc_lines(g, blocks),
            Subject::Other(a) => match a.describe() {
                Some(d) => d.lines().map(str::to_string).collect(),
                None => {
                    let free: Vec<&Block> = blocks
                        .iter()
                        .filter(|b| matches!(b.kind, BlockKind::Free | BlockKind::Cached))
                        .collect();
                    let n: u64 = free.iter().map(|b| b.size).sum();
                    vec![format!("free blocks: {} ({})", free.len(), bytes(n))]
                }
            },
        }
    }
}

/// glibc's view: cached chunks by size, binned chunks, top, from the heap map and
/// `mallinfo2`.
fn glibc_lines(g: &Glibc, blocks: &[Block]) -> Vec<String> {
    let by_size = |kind: BlockKind| {
        let mut m = std::collections::BTreeMap::<u64, u64>::new();
        for b in blocks.iter().filter(|b| b.kind == kind) {
            *m.entry(b.size).or_default() += 1;
        }
        let v: Vec<String> = m
            .iter()
            .map(|(s, n)| {
                if *n == 1 {
                    s.to_string()
                } else {
                    format!("{s}x{n}")
                }
            })
            .collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(" ")
        }
    };
    let mi = g.mallinfo2();
    let top = blocks
        .iter()
        .find(|b| b.kind == BlockKind::Top)
        .map_or(0, |b| b.size);
    vec![
        format!(
            "tcache+fastbins: {} ({} in fastbins)",
            by_size(BlockKind::Cached),
            mi.smblks
        ),
        format!(
            "bins: {}   top: {}   mmap threshold {}",
            by_size(BlockKind::Free),
            bytes(top),
            bytes(g.mmap_threshold())
        ),
    ]
}

/// One VMA as a line.
fn vma_line(v: &VmaInfo) -> String {
    let prot = match (v.prot.allows_read(), v.prot.allows_write()) {
        (true, true) => "rw",
        (true, false) => "r-",
        _ => "--",
    };
    format!(
        "  [{:#x}, {:#x}) {:>10} {prot}{}\n",
        v.start,
        v.end,
        bytes(v.end - v.start),
        if v.heap { " heap" } else { "" }
    )
}

/// Appends `line`, cut to 80 columns with `...` when longer, and wrapped once: a long
/// free list shows its first entries.
fn push_clipped(out: &mut String, line: &str) {
    const W: usize = super::WIDTH;
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= W {
        out.push_str(line);
    } else {
        let cut = chars[..W - 4]
            .iter()
            .rposition(|&c| c == ' ')
            .filter(|&i| i > 0)
            .unwrap_or(W - 4);
        out.extend(&chars[..cut]);
        out.push_str(" ...");
    }
    out.push('\n');
}

/// The heap `[start, end)` in [`MAP_COLUMNS`] characters, each showing what covers
/// most of its bytes: `#` in use, `c` cached, `.` free, `t` top, `m` metadata, a space
/// for bytes in no block.
pub fn heap_map(blocks: &[Block], start: u64, end: u64) -> String {
    let len = end.saturating_sub(start).max(1);
    // Bytes of each kind per column: Used, Cached, Free, Top, Meta.
    let mut cover = vec![[0u64; 5]; MAP_COLUMNS];
    let col_start = |i: usize| start + (len as u128 * i as u128 / MAP_COLUMNS as u128) as u64;
    for b in blocks.iter().filter(|b| !b.mapped) {
        let (lo, hi) = (b.addr.max(start), (b.addr + b.size).min(end));
        if lo >= hi {
            continue;
        }
        let k = match b.kind {
            BlockKind::Used => 0,
            BlockKind::Cached => 1,
            BlockKind::Free => 2,
            BlockKind::Top => 3,
            BlockKind::Meta => 4,
        };
        let first = ((lo - start) as u128 * MAP_COLUMNS as u128 / len as u128) as usize;
        for (i, c) in cover.iter_mut().enumerate().skip(first) {
            let (c0, c1) = (col_start(i), col_start(i + 1));
            if c0 >= hi {
                break;
            }
            c[k] += hi.min(c1).saturating_sub(lo.max(c0));
        }
    }
    cover
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let width = col_start(i + 1) - col_start(i);
            let covered: u64 = c.iter().sum();
            // The kind covering most bytes; ties go to the first in the list.
            let k = (0..5).fold(0, |best, k| if c[k] > c[best] { k } else { best });
            if covered == 0 || covered * 2 < width {
                ' '
            } else {
                ['#', 'c', '.', 't', 'm'][k]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse_command(""), Ok(Command::Next(1)));
        assert_eq!(parse_command("  n  "), Ok(Command::Next(1)));
        assert_eq!(parse_command("n 10"), Ok(Command::Next(10)));
        assert_eq!(parse_command("until 500"), Ok(Command::Until(500)));
        assert_eq!(parse_command("peak"), Ok(Command::Peak));
        assert_eq!(parse_command("q"), Ok(Command::Quit));
        assert!(parse_command("n ten").is_err());
        assert!(parse_command("n 0").is_err());
        assert!(parse_command("until").is_err());
        assert!(parse_command("jump 3").is_err());
        assert!(parse_command("peak now").is_err());
    }

    #[test]
    fn the_heap_map_shows_what_covers_each_column() {
        let blocks = [
            Block {
                addr: 0,
                size: 360,
                kind: BlockKind::Used,
                mapped: false,
            },
            Block {
                addr: 360,
                size: 360,
                kind: BlockKind::Free,
                mapped: false,
            },
        ];
        let m = heap_map(&blocks, 0, 720);
        assert_eq!(m.len(), MAP_COLUMNS);
        assert_eq!(m, format!("{}{}", "#".repeat(30), ".".repeat(30)));
        // Bytes in no block show as blanks.
        let m = heap_map(&blocks[..1], 0, 720);
        assert_eq!(m, format!("{}{}", "#".repeat(30), " ".repeat(30)));
    }
}
