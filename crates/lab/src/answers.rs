//! The instructor's answers to the book's exercises, computed by the tool.
//!
//! Every exercise of every chapter has an entry here ([`all`]), keyed by its chapter's
//! file and its number, so that an answer never drifts from the simulator: each one runs
//! the workloads, traces or kernel calls its exercise names (with the same seeds and
//! defaults as the `sim` command it quotes) and writes the numbers it found. Where an
//! answer states a fact ("the counts do not change", "block 3 comes from the heap"),
//! the code checks it first ([`check`]) and fails instead of printing something false.
//! `sim figures` writes the result to `book/src/generated/answers.md` (the appendix
//! includes it), and `figures --check` fails when it is stale.
//!
//! Some exercises have no single answer (write code, find a claim, argue): their entry
//! says so and gives the facts from the tool an answer should use.
//!
//! Like the experiments, this module is pure: no files, no clocks. The traces it reads
//! are compiled in.

use engine::{Region, RunConfig, RunResult, Sample, Summary, Timeline};
use kernel::{Access, Advice, CostModel, Kernel, KernelConfig, MapFlags, Prot, Syscall};
use std::fmt;
use units::{bytes, count, nanos};
use workload::{GeneratorParams, Workload};

const TEXTBOOK: &str = include_str!("../../workload/traces/textbook.trace");
const LAZY_TOUCH: &str = include_str!("../../workload/traces/lazy-touch.trace");
const PINNED_TOP: &str = include_str!("../../workload/traces/pinned-top.trace");

/// One exercise's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The chapter's file in `book/src`, without `.md`.
    pub chapter: &'static str,
    /// The exercise's number in its chapter's list.
    pub number: u32,
    /// The answer, in Markdown (one paragraph or a short list).
    pub text: String,
}

/// Why an answer could not be computed, or what it would have claimed falsely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerError(pub String);

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AnswerError {}

type R<T> = Result<T, AnswerError>;

fn err(what: impl fmt::Display) -> AnswerError {
    AnswerError(what.to_string())
}

/// Fails with `what` unless `cond`: the guard in front of every sentence an answer
/// states as a fact.
pub fn check(cond: bool, what: &str) -> R<()> {
    if cond {
        Ok(())
    } else {
        Err(err(format!("an answer no longer holds: {what}")))
    }
}

/// The chapters with exercises, in book order, with their titles.
pub const CHAPTERS: &[(&str, &str)] = &[
    ("intro", "1. Where memory comes from"),
    ("virtual-memory", "2. Virtual memory in one chapter"),
    ("program-break", "3. The program break"),
    ("free-lists", "4. Free lists"),
    ("glibc", "5. Inside glibc's malloc"),
    ("mmap", "6. mmap as an allocator"),
    ("giving-back", "7. Giving memory back"),
    (
        "costs",
        "8. What a syscall, a page fault and a context switch cost",
    ),
    ("many-processes", "9. Many processes"),
    ("claims", "10. Fact-checking the common claims"),
    ("assignments", "11. Assignments"),
];

// ---------------------------------------------------------------------------------
// Running things as `sim` does.

/// A generator's workload with its defaults, `seed`, and `params` (`--param`, with
/// `ops` for `--ops`).
fn workload_of_with(name: &str, seed: u64, params: &[(&str, &str)]) -> R<Workload> {
    let mut p = GeneratorParams::defaults(name).map_err(err)?;
    for (k, v) in params {
        if *k == "ops" {
            p.set_ops(v.parse().map_err(err)?);
        } else {
            p.set(k, v).map_err(err)?;
        }
    }
    p.generate(seed).map_err(err)
}

fn workload_of(name: &str, seed: u64) -> R<Workload> {
    workload_of_with(name, seed, &[])
}

fn trace(text: &str, file: &str) -> R<Workload> {
    workload::trace::parse_trace(text.as_bytes(), file).map_err(err)
}

/// Runs `w` through allocator `name` with `settings` (what `--tunable` gives it) on the
/// default machine (or with `cost`), as `sim` does.
fn run_cost(w: &Workload, name: &str, settings: &[(&str, &str)], cost: &CostModel) -> R<RunResult> {
    let a = crate::registry::build(name, &crate::registry::settings(settings)).map_err(err)?;
    let config = RunConfig {
        kernel: KernelConfig {
            cost: cost.clone(),
            ..KernelConfig::default()
        },
        sample_every: 0,
        rows: true,
        heap_maps: false,
    };
    engine::run(w, a, &config).map_err(|e| err(format!("{} through {name}: {e}", w.name)))
}

fn run(w: &Workload, name: &str, settings: &[(&str, &str)]) -> R<RunResult> {
    run_cost(w, name, settings, &CostModel::default())
}

fn sum(w: &Workload, name: &str, settings: &[(&str, &str)]) -> R<Summary> {
    Ok(run(w, name, settings)?.summary)
}

/// The state at the end of each phase: a marker changes nothing, so the sample taken
/// at the next marker (the first row of the next phase, `phase_start` 1) is the state
/// at the end of the phase before it; the last sample ends the last phase.
fn phase_ends(t: &Timeline) -> Vec<(String, Sample)> {
    let mut out: Vec<(String, Sample)> = Vec::new();
    let mut current: Option<String> = None;
    for s in &t.samples {
        if let Some(p) = &s.phase {
            if let Some(c) = current.take() {
                out.push((c, s.clone()));
            }
            current = Some(p.clone());
        }
    }
    if let (Some(c), Some(last)) = (current, t.samples.last()) {
        out.push((c, last.clone()));
    }
    out
}

/// The phase in which `pred` first became true between two consecutive samples. The
/// ops between them lie in the phase of the later sample, unless that sample was taken
/// at a marker: a marker changes nothing, so then they lie in the phase before it.
fn phase_where(t: &Timeline, pred: impl Fn(&Sample, &Sample) -> bool) -> Option<String> {
    let phases = t.phase_of_each();
    (1..t.samples.len())
        .find(|&i| pred(&t.samples[i - 1], &t.samples[i]))
        .and_then(|i| {
            let at = if t.samples[i].phase.is_some() {
                i - 1
            } else {
                i
            };
            phases[at].map(str::to_string)
        })
}

fn heap_offset(r: &RunResult, id: u64) -> Option<u64> {
    r.rows
        .iter()
        .rev()
        .find_map(|row| match (row.kind, row.region) {
            ('a' | 'r', Region::Heap(off)) if row.id == id => Some(off),
            _ => None,
        })
}

fn region_of(r: &RunResult, op_index: usize) -> String {
    match r.rows.get(op_index).map(|row| row.region) {
        Some(Region::Heap(off)) => format!("the heap (offset {off})"),
        Some(Region::Mmap) => "its own mapping".to_string(),
        _ => "nothing".to_string(),
    }
}

fn sc(s: &Summary, call: Syscall) -> u64 {
    s.syscall(call)
}

fn per_op(s: &Summary) -> String {
    nanos(s.ns_per_op)
}

// ---------------------------------------------------------------------------------
// The answers, chapter by chapter.

/// Every answer, in book order.
pub fn all() -> R<Vec<Answer>> {
    let mut out = Vec::new();
    let mut add = |chapter: &'static str, number: u32, text: String| {
        out.push(Answer {
            chapter,
            number,
            text,
        })
    };
    for (n, t) in intro()?.into_iter().enumerate() {
        add("intro", n as u32 + 1, t);
    }
    for (n, t) in virtual_memory()?.into_iter().enumerate() {
        add("virtual-memory", n as u32 + 1, t);
    }
    for (n, t) in program_break()?.into_iter().enumerate() {
        add("program-break", n as u32 + 1, t);
    }
    for (n, t) in free_lists()?.into_iter().enumerate() {
        add("free-lists", n as u32 + 1, t);
    }
    for (n, t) in glibc()?.into_iter().enumerate() {
        add("glibc", n as u32 + 1, t);
    }
    for (n, t) in mmap()?.into_iter().enumerate() {
        add("mmap", n as u32 + 1, t);
    }
    for (n, t) in giving_back()?.into_iter().enumerate() {
        add("giving-back", n as u32 + 1, t);
    }
    for (n, t) in costs()?.into_iter().enumerate() {
        add("costs", n as u32 + 1, t);
    }
    for (n, t) in many_processes()?.into_iter().enumerate() {
        add("many-processes", n as u32 + 1, t);
    }
    for (n, t) in claims()?.into_iter().enumerate() {
        add("claims", n as u32 + 1, t);
    }
    for (n, t) in assignments()?.into_iter().enumerate() {
        add("assignments", n as u32 + 1, t);
    }
    Ok(out)
}

/// The appendix: every answer under its chapter.
pub fn answers_md() -> R<String> {
    let answers = all()?;
    let mut s = String::from(
        "*Generated by `cargo run -p sim -- figures` from `crates/lab/src/answers.rs`, which \
         computes every answer with the simulator (default seeds, sizes and costs, as the \
         exercise's own command) and checks each fact it states before writing it.*\n",
    );
    for (chapter, title) in CHAPTERS {
        s.push_str(&format!("\n## {title}\n\n"));
        for a in answers.iter().filter(|a| a.chapter == *chapter) {
            s.push_str(&format!("{}. {}\n", a.number, indent(&a.text)));
        }
    }
    Ok(s)
}

fn indent(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 || l.is_empty() {
                l.to_string()
            } else {
                format!("   {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn intro() -> R<Vec<String>> {
    let mut v = Vec::new();
    // 1
    let sc_info = workload::generator_info("swiss-cheese").ok_or_else(|| err("swiss-cheese"))?;
    let w = workload_of("swiss-cheese", 1)?;
    let r = run(&w, "first-fit", &[])?;
    let ends = phase_ends(&r.timeline);
    let (_, after) = ends
        .iter()
        .find(|(p, _)| p == "free-every-other")
        .ok_or_else(|| err("swiss-cheese has no phase free-every-other"))?;
    let free_share = after.free_in_heap as f64 / after.footprint.max(1) as f64;
    check(
        (0.3..0.7).contains(&free_share),
        "swiss-cheese leaves about half the heap free",
    )?;
    let peak = ends
        .iter()
        .take_while(|(p, _)| p != "free-every-other")
        .map(|(_, s)| s.footprint)
        .max()
        .unwrap_or(0);
    check(
        after.footprint >= peak,
        "the heap did not shrink after the frees",
    )?;
    v.push(format!(
        "`swiss-cheese` (\"{}\"). After its phase `free-every-other`, first fit's heap is \
         {} with {} of it free ({:.0}%), and it has not shrunk: every other block is \
         still live, so there is a live block near the top and no free run at the top to \
         give back with `brk`.",
        sc_info.summary,
        bytes(after.footprint),
        bytes(after.free_in_heap),
        100.0 * free_share
    ));
    // 2
    let w1 = workload_of("churn", 1)?;
    let g = sum(&w1, "glibc", &[])?;
    let f = sum(&w1, "first-fit", &[])?;
    let g_again = sum(&w1, "glibc", &[])?;
    check(g == g_again, "a second run gives the same summary")?;
    let w2 = workload_of("churn", 2)?;
    let g2 = sum(&w2, "glibc", &[])?;
    let f2 = sum(&w2, "first-fit", &[])?;
    let (more_brk, larger) = (
        if sc(&f, Syscall::Brk) > sc(&g, Syscall::Brk) {
            "first-fit"
        } else {
            "glibc"
        },
        if f.peak_footprint > g.peak_footprint {
            "first-fit"
        } else {
            "glibc"
        },
    );
    check(g.ops == g2.ops, "seed 2 has as many allocator calls")?;
    v.push(format!(
        "Seed 1: glibc made {} `brk` calls with a peak footprint of {}, first fit {} with \
         {}, so {more_brk} made more `brk` calls and {larger} has the larger footprint. A \
         second run gives byte-identical numbers (the simulation is deterministic). With \
         `--seed 2` the sizes and order of the requests change, and so do the numbers \
         (glibc: {} `brk`, {}; first fit: {} `brk`, {}); what stays is the workload's \
         shape and length ({} allocator calls with either seed).",
        sc(&g, Syscall::Brk),
        bytes(g.peak_footprint),
        sc(&f, Syscall::Brk),
        bytes(f.peak_footprint),
        sc(&g2, Syscall::Brk),
        bytes(g2.peak_footprint),
        sc(&f2, Syscall::Brk),
        bytes(f2.peak_footprint),
        count(g.ops)
    ));
    // 3
    let json = serde_json::to_value(&g).map_err(err)?;
    let returned = json
        .get("returned")
        .and_then(|r| r.as_object())
        .ok_or_else(|| err("summary has no returned object"))?;
    let keys: Vec<String> = returned.keys().map(|k| format!("`{k}`")).collect();
    v.push(format!(
        "The field `returned` of each allocator's summary holds the bytes given back to \
         the operating system, split by mechanism into {} (lowering the break, unmapping, \
         and `madvise`); `returned_resident` splits the resident part the same way.",
        keys.join(", ")
    ));
    // 4
    let tb = trace(TEXTBOOK, "textbook.trace")?;
    let r = run(&tb, "first-fit", &[])?;
    let p1 = heap_offset_first(&r, 1).ok_or_else(|| err("p1"))?;
    let p7 = heap_offset(&r, 7).ok_or_else(|| err("p7"))?;
    check(p1 == p7, "first fit puts the 24-byte request in p1's hole")?;
    v.push(format!(
        "In the hole that `free 1` left at the bottom of the heap (p1's 48-byte block, for \
         a 32-byte request, at heap offset {p7}): first fit takes the first free block in \
         address order that is large enough, and that hole comes first."
    ));
    // 5
    let r = run(&w1, "glibc", &[])?;
    let first_gap = r
        .timeline
        .samples
        .iter()
        .find(|s| s.footprint > s.live)
        .ok_or_else(|| err("no gap"))?;
    let rf = run(&w1, "first-fit", &[])?;
    let first_gap_f = rf
        .timeline
        .samples
        .iter()
        .find(|s| s.footprint > s.live)
        .ok_or_else(|| err("no gap"))?;
    v.push(format!(
        "At the very first sample after an allocation: the heap grows in whole pages (and \
         glibc by 132 KiB at once), so the footprint is ahead of `live` from the start \
         (glibc at op {}: live {}, footprint {}; first fit at op {}: live {}, footprint \
         {}). Later the gap also holds freed blocks the heap keeps.",
        first_gap.op,
        bytes(first_gap.live),
        bytes(first_gap.footprint),
        first_gap_f.op,
        bytes(first_gap_f.live),
        bytes(first_gap_f.footprint)
    ));
    Ok(v)
}

fn heap_offset_first(r: &RunResult, id: u64) -> Option<u64> {
    r.rows.iter().find_map(|row| match (row.kind, row.region) {
        ('a', Region::Heap(off)) if row.id == id => Some(off),
        _ => None,
    })
}

fn virtual_memory() -> R<Vec<String>> {
    let mut v = Vec::new();
    // 1
    let addr: u64 = 0x0000_7f3a_1234_5678;
    let vpn = addr >> 12;
    let idx = |level: u32| (vpn >> (9 * (level - 1))) & 0x1ff;
    v.push(format!(
        "Offset {:#x} (the low 12 bits); VPN {vpn:#x}; PML4 index {} ({:#x}), PDPT {} \
         ({:#x}), PD {} ({:#x}), PT {} ({:#x}).",
        addr & 0xfff,
        idx(4),
        idx(4),
        idx(3),
        idx(3),
        idx(2),
        idx(2),
        idx(1),
        idx(1)
    ));
    // 2
    let mut k = Kernel::new(KernelConfig::default());
    let a = k.mmap(0, 64 << 12, Prot::RW, MapFlags::NONE).map_err(err)?;
    let pt_before = k.mem().pt_bytes;
    let f0 = k.counters().minor_faults;
    k.touch(a, 32 << 12, Access::Read).map_err(err)?;
    let m = k.mem();
    let faults = k.counters().minor_faults - f0;
    check(m.rss == 0 && faults == 32, "32 reads: 32 faults, RSS 0")?;
    v.push(format!(
        "Each first read of a page is a minor fault ({faults} of them), but the kernel \
         maps it to the shared zero page instead of a frame of its own, so RSS stays \
         {}. The `mmap` only created a VMA; page-table pages are made by the walk of the \
         first fault that needs them ({} before the reads, {} after: the PDPT, PD and PT \
         pages under the mapping).",
        bytes(m.rss),
        bytes(pt_before),
        bytes(m.pt_bytes)
    ));
    // 3
    let sparse = |step: u64| -> R<u64> {
        let mut k = Kernel::new(KernelConfig::default());
        let len = step * 512;
        let a = k.mmap(0, len, Prot::RW, MapFlags::NORESERVE).map_err(err)?;
        for i in 0..512 {
            k.touch(a + i * step, 1, Access::Write).map_err(err)?;
        }
        Ok(k.mem().pt_bytes)
    };
    let dense = {
        let mut k = Kernel::new(KernelConfig::default());
        let a = k
            .mmap(0, 512 << 12, Prot::RW, MapFlags::NONE)
            .map_err(err)?;
        k.touch(a, 512 << 12, Access::Write).map_err(err)?;
        k.mem().pt_bytes
    };
    let s2m = sparse(2 << 20)?;
    let s1g = sparse(1 << 30)?;
    check(
        s2m >= 512 * 4096 && s1g >= 1024 * 4096,
        "one PT per page; one PD too at 1 GiB",
    )?;
    v.push(format!(
        "At least 512 PT pages: pages 2 MiB apart never share a page-table page (one PT \
         covers 2 MiB), so each needs its own. The model counts {} of page tables for the \
         sparse layout against {} for the dense one. With a step of 1 GiB each page also \
         needs its own PD (one PD covers 1 GiB): {} in all.",
        bytes(s2m),
        bytes(dense),
        bytes(s1g)
    ));
    // 4
    let lt = trace(LAZY_TOUCH, "lazy-touch.trace")?;
    let r = run(&lt, "glibc", &[])?;
    let ends = phase_ends(&r.timeline);
    let mut lines = Vec::new();
    let mut prev_rss = 0;
    let mut jump = (String::new(), 0u64);
    for (p, s) in &ends {
        lines.push(format!(
            "`{p}`: mapped {}, RSS {}",
            bytes(s.mapped),
            bytes(s.rss)
        ));
        let d = s.rss.saturating_sub(prev_rss);
        if d > jump.1 {
            jump = (p.clone(), d);
        }
        prev_rss = s.rss;
    }
    let rm = ends
        .iter()
        .position(|(p, _)| p == "read-middle")
        .ok_or_else(|| err("read-middle"))?;
    check(
        rm > 0 && ends[rm].1.rss == ends[rm - 1].1.rss,
        "read-middle adds nothing to RSS",
    )?;
    v.push(format!(
        "The end of a phase is the row where the next phase starts (`phase_start` 1: a \
         marker changes nothing, so that row holds the state the phase left), and the last \
         row for the last phase. {}. RSS jumps in `{}`, by {}: the writes fault in the \
         first half of the 1 MiB block, page by page, except its first page, already \
         resident. `read-middle` only reads a page never written, which maps the shared \
         zero page: a fault, no frame.",
        lines.join("; "),
        jump.0,
        bytes(jump.1)
    ));
    // 5
    let strided = |step: u64| -> R<(u64, u64)> {
        let mut k = Kernel::new(KernelConfig::default());
        let a = k.mmap(0, 1 << 30, Prot::RW, MapFlags::NONE).map_err(err)?;
        let mut off = 0;
        while off < 1 << 30 {
            k.touch(a + off, 1, Access::Write).map_err(err)?;
            off += step;
        }
        let m = k.mem();
        Ok((m.rss, m.pt_bytes))
    };
    let (r4, p4) = strided(4096)?;
    let (r2, p2) = strided(2 << 20)?;
    check(
        r4 > r2 && p2 as f64 / r2 as f64 > p4 as f64 / r4 as f64,
        "strides",
    )?;
    v.push(format!(
        "Every 4 KiB: RSS {} with {} of page tables ({:.1}% of RSS). Every 2 MiB: RSS {} \
         with {} of page tables ({:.0}% of RSS): the first has the larger RSS, the second \
         pays a whole PT page for every resident page.",
        bytes(r4),
        bytes(p4),
        100.0 * p4 as f64 / r4 as f64,
        bytes(r2),
        bytes(p2),
        100.0 * p2 as f64 / r2 as f64
    ));
    Ok(v)
}

fn program_break() -> R<Vec<String>> {
    let mut v = Vec::new();
    // 1
    let chunk = |n: u64| (n + 8).div_ceil(16) * 16;
    let sizes = [chunk(100), chunk(5000), chunk(24).max(32)];
    check(sizes == [112, 5008, 32], "bump sizes")?;
    let total: u64 = sizes.iter().sum();
    v.push(format!(
        "Each block is the request plus an 8-byte header, rounded up to 16 (and at least \
         32): 100 + 8 -> 112, 5000 + 8 -> 5008, 24 + 8 -> 32. Together {total} bytes, more \
         than one page and less than two, so the break moved by two pages ({}).",
        total.div_ceil(4096) * 4096
    ));
    // 2
    v.push(format!(
        "Yes: a bump allocator can move its cursor back when the block freed is the last \
         one, and lower the break to the page above the new cursor. Here, freeing the \
         32-byte block leaves {} bytes in use, still more than a page, so the break stays \
         at two pages; free the 5008-byte block too and it can drop to one. (A programming \
         exercise: check it with `kernel.program_break()`.)",
        sizes[0] + sizes[1]
    ));
    // 3
    let w = workload_of("churn", 1)?;
    let a = sum(&w, "first-fit", &[])?;
    let b = sum(&w, "first-fit", &[("grow", "65536")])?;
    check(
        sc(&b, Syscall::Brk) < sc(&a, Syscall::Brk),
        "grow saves brk calls",
    )?;
    v.push(format!(
        "Default: {} `brk` calls, peak footprint {}. With `grow=65536`: {} calls ({} \
         saved), peak footprint {}: the heap grows in 64 KiB steps, so at its peak it holds \
         up to 64 KiB it has not needed yet.",
        sc(&a, Syscall::Brk),
        bytes(a.peak_footprint),
        sc(&b, Syscall::Brk),
        sc(&a, Syscall::Brk) - sc(&b, Syscall::Brk),
        bytes(b.peak_footprint)
    ));
    // 4
    let c = CostModel::default();
    let saved =
        (sc(&a, Syscall::Brk) - sc(&b, Syscall::Brk)) as f64 * (c.mode_switch_ns + c.brk_ns);
    let diff = a.time_ns - b.time_ns;
    v.push(format!(
        "Each `brk` costs {} (mode switch) + {} (its work) = {}, so the saved calls alone \
         are worth {}. The whole run got {} faster ({} against {} per op): the `brk` calls \
         explain {:.0}% of the difference; the rest is the other costs (faults, page \
         tables, the search), which change a little with the larger steps.",
        nanos(c.mode_switch_ns),
        nanos(c.brk_ns),
        nanos(c.mode_switch_ns + c.brk_ns),
        nanos(saved),
        nanos(diff),
        per_op(&a),
        per_op(&b),
        100.0 * saved / diff
    ));
    // 5
    let w = workload_of("ramp", 1)?;
    let r = run(&w, "first-fit", &[])?;
    let n = sum(&w, "first-fit", &[("trim", "never")])?;
    let phase = phase_where(&r.timeline, |a, b| b.returned_brk > a.returned_brk)
        .ok_or_else(|| err("ramp returns nothing"))?;
    check(n.returned.brk == 0, "trim=never returns nothing")?;
    check(
        phase == "unpin",
        "ramp's first fit returns only once the pin is freed",
    )?;
    v.push(format!(
        "Default: {} returned through `brk`; with `trim=never`: {}. The timeline shows \
         `returned_brk` first rising in phase `{phase}`: until then the pinned block at the \
         top holds the break up; once it is freed, the whole free heap below it is the top, \
         and first fit gives it back.",
        bytes(r.summary.returned.brk),
        bytes(n.returned.brk)
    ));
    Ok(v)
}

fn free_lists() -> R<Vec<String>> {
    let mut v = Vec::new();
    // 1
    let block = |n: u64| ((n + 16).div_ceil(16) * 16).max(32);
    let mut parts = Vec::new();
    for n in [1u64, 16, 17, 24, 25, 100] {
        let text = format!("# brkmap trace v1\nname two\nmalloc 1 {n}\nmalloc 2 {n}\n");
        let r = run(&trace(&text, "two.trace")?, "first-fit", &[])?;
        let got = heap_offset(&r, 2).unwrap_or(0) - heap_offset(&r, 1).unwrap_or(0);
        check(
            got == block(n),
            &format!("first-fit's block for {n}: {got} (want {})", block(n)),
        )?;
        parts.push(format!("{n} -> {} ({} wasted)", block(n), block(n) - n));
    }
    v.push(format!(
        "Block = request + 16 (header and footer), rounded up to 16, at least 32: {}. The \
         model's first fit places two such blocks exactly this far apart.",
        parts.join(", ")
    ));
    // 2
    let tb = trace(TEXTBOOK, "textbook.trace")?;
    let mut parts = Vec::new();
    for a in ["first-fit", "best-fit", "worst-fit", "next-fit"] {
        let r = run(&tb, a, &[])?;
        let p8 = heap_offset(&r, 8).ok_or_else(|| err("p8"))?;
        let p5 = heap_offset_first(&r, 5).ok_or_else(|| err("p5"))?;
        parts.push(format!(
            "{a}: offset {p8}{}",
            if p8 == p5 {
                " (p5's 128-byte hole)"
            } else {
                " (not p5's hole: at the top or in the remainder of another block)"
            }
        ));
    }
    v.push(format!("Where `malloc 8 100` lands: {}.", parts.join("; ")));
    // 3 and 4
    let w = workload_of("churn", 1)?;
    let fits = ["first-fit", "next-fit", "best-fit", "worst-fit"];
    let mut base = Vec::new();
    let mut lifo = Vec::new();
    for a in fits {
        base.push(sum(&w, a, &[])?);
        lifo.push(sum(&w, a, &[("order", "lifo")])?);
    }
    let rank = |ss: &[Summary], key: &dyn Fn(&Summary) -> f64| {
        let mut idx: Vec<usize> = (0..ss.len()).collect();
        idx.sort_by(|&a, &b| key(&ss[a]).total_cmp(&key(&ss[b])));
        idx.iter().map(|&i| fits[i]).collect::<Vec<_>>().join(" < ")
    };
    let table = |ss: &[Summary]| {
        ss.iter()
            .zip(fits)
            .map(|(s, a)| format!("{a} {} at {}/op", bytes(s.peak_footprint), per_op(s)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    v.push(format!(
        "{}. By peak footprint: {}; by time/op: {}. Worst fit searches the whole list for \
         the largest block (slow), and carves every request from it, breaking up the large \
         free blocks that later large requests need (more footprint).",
        table(&base),
        rank(&base, &|s| s.peak_footprint as f64),
        rank(&base, &|s| s.ns_per_op)
    ));
    let change = |i: usize| {
        let a = base[i].peak_footprint as f64;
        let b = lifo[i].peak_footprint as f64;
        100.0 * (b - a) / a
    };
    let changes: Vec<String> = (0..4)
        .map(|i| {
            format!(
                "{} {:+.1}% in footprint, {:+.0}% in time",
                fits[i],
                change(i),
                100.0 * (lifo[i].ns_per_op - base[i].ns_per_op) / base[i].ns_per_op
            )
        })
        .collect();
    let least = (0..4)
        .min_by(|&a, &b| change(a).abs().total_cmp(&change(b).abs()))
        .unwrap_or(0);
    check(
        fits[least] == "best-fit",
        "best fit's footprint changes least",
    )?;
    v.push(format!(
        "With `order=lifo`: {}. Against address order: {}. Best fit's footprint moves \
         least: it takes the smallest block that fits wherever it lies in the list, so the \
         order matters only among blocks of exactly the same size.",
        table(&lifo),
        changes.join("; ")
    ));
    // 5
    let none = sum(&w, "first-fit", &[("coalesce", "none")])?;
    let deferred = sum(&w, "first-fit", &[("coalesce", "deferred")])?;
    v.push(format!(
        "Without coalescing the free list fills with small fragments that no larger request \
         can use, so the heap keeps growing: peak footprint {} against {} (time {} against \
         {} per op, the list being long). Deferred coalescing merges only when a search \
         fails: peak footprint {}, time {} per op; each free is cheaper, but the searches \
         walk unmerged fragments until a merge happens.",
        bytes(none.peak_footprint),
        bytes(base[0].peak_footprint),
        per_op(&none),
        per_op(&base[0]),
        bytes(deferred.peak_footprint),
        per_op(&deferred)
    ));
    // 6
    let nofoot = sum(&w, "first-fit", &[("footer", "0")])?;
    check(
        nofoot.peak_allocated < base[0].peak_allocated,
        "no footer allocates less",
    )?;
    v.push(format!(
        "Peak allocated bytes fall from {} to {} ({:.1}% less); time per op goes from {} \
         to {}. Without a \
         footer a free block cannot be found from the block after it, so coalescing with \
         the previous block needs a search, charged node by node (a walk of the \
         address-ordered list to the insertion point): the trade of `FreeListConfig`'s doc \
         comment, bytes in every block against time on every free.",
        count(base[0].peak_allocated),
        count(nofoot.peak_allocated),
        100.0 * (1.0 - nofoot.peak_allocated as f64 / base[0].peak_allocated as f64),
        per_op(&base[0]),
        per_op(&nofoot)
    ));
    Ok(v)
}

fn glibc() -> R<Vec<String>> {
    let mut v = Vec::new();
    // 1
    let first = (656u64 + 131072 + 32).div_ceil(4096) * 4096;
    check(first == 0x21000, "first growth")?;
    let t =
        "# brkmap trace v1\nname tour\nmalloc 1 100\nmalloc 2 200000\nfree 2\nmalloc 3 200000\n";
    let r = run(&trace(t, "tour.trace")?, "glibc", &[])?;
    let growth = r.rows[3].arena - r.rows[2].arena;
    let top = r.rows[2].keepcost;
    let nb = (200000u64 + 8).div_ceil(16) * 16;
    let by_hand = (nb + 131072 + 32 - top).div_ceil(4096) * 4096;
    check(growth == by_hand && growth == 0x31000, "second growth")?;
    v.push(format!(
        "First: the tcache's 656-byte chunk + the 128 KiB top pad + a 32-byte minimum chunk \
         = {}, rounded up to pages: {first:#x}. After the threshold rose, `malloc(200000)` \
         needs a chunk of {nb}; the top already holds {top} bytes, so the growth is \
         ALIGN_UP({nb} + 131072 + 32 - {top}, 4096) = {by_hand:#x}.",
        656 + 131072 + 32
    ));
    // 2
    let t = "# brkmap trace v1\nname boundary\nmalloc 1 131048\nmalloc 2 131049\nfree 1\nfree 2\nmalloc 3 131049\n";
    let r = run(&trace(t, "boundary.trace")?, "glibc", &[])?;
    check(
        matches!(r.rows[1].region, Region::Mmap) && matches!(r.rows[4].region, Region::Heap(_)),
        "block 2 mapped, block 3 from the heap",
    )?;
    v.push(format!(
        "Block 1: {}; block 2: {}; block 3: {}. Block 2's chunk is exactly 128 KiB, at the \
         threshold, and the top (3,456 bytes after block 1) cannot serve it, so it is \
         mapped. Two things make block 3 come from the heap: `free 1` merged block 1 back \
         into the top ({} bytes of top, enough), and `free 2` unmapped a chunk larger \
         than the threshold, which raised the threshold to its size (135,168).",
        region_of(&r, 0),
        region_of(&r, 1),
        region_of(&r, 4),
        r.rows[3].keepcost
    ));
    // 3
    let w = workload_of("large", 1)?;
    let d = sum(&w, "glibc", &[])?;
    let t = sum(&w, "glibc", &[("mmap_threshold", "131072")])?;
    check(
        sc(&d, Syscall::Mmap) != sc(&t, Syscall::Mmap),
        "mmap counts differ with the threshold set",
    )?;
    v.push(format!(
        "Default: {} `mmap` and {} `munmap`; with `mmap_threshold=131072`: {} and {}. \
         Setting the threshold at all, even to its default, turns the dynamic adjustment \
         off (as `mallopt` does), so the threshold stays at 128 KiB and every large request \
         the heap cannot serve keeps getting a mapping.",
        sc(&d, Syscall::Mmap),
        sc(&d, Syscall::Munmap),
        sc(&t, Syscall::Mmap),
        sc(&t, Syscall::Munmap)
    ));
    // 4
    let w = workload_of_with("churn", 1, &[("ops", "4000"), ("live_blocks", "400")])?;
    let kinds = |settings: &[(&str, &str)]| -> R<(Summary, [u64; 2], [u64; 2], u64)> {
        let a =
            crate::registry::build("glibc", &crate::registry::settings(settings)).map_err(err)?;
        let config = RunConfig {
            heap_maps: true,
            ..RunConfig::default()
        };
        let r = engine::run(&w, a, &config).map_err(err)?;
        let last = r
            .heap_maps
            .get(r.heap_maps.len() / 2)
            .ok_or_else(|| err("no heap map"))?;
        let tally = |k: malloc::BlockKind| {
            let v: Vec<&malloc::Block> = last.blocks.iter().filter(|b| b.kind == k).collect();
            [v.len() as u64, v.iter().map(|b| b.size).sum()]
        };
        Ok((
            r.summary,
            tally(malloc::BlockKind::Cached),
            tally(malloc::BlockKind::Free),
            last.op,
        ))
    };
    let (d, d_cached, d_free, d_op) = kinds(&[])?;
    let (n, n_cached, n_free, _) = kinds(&[("tcache_count", "0")])?;
    check(
        n_cached[0] < d_cached[0],
        "fewer cached chunks without the tcache",
    )?;
    let (du, nu) = (
        d.cost(kernel::CostCategory::User),
        n.cost(kernel::CostCategory::User),
    );
    check(
        nu > du,
        "without the tcache the allocator's user-space time grows",
    )?;
    v.push(format!(
        "time/op goes from {} to {}. The tcache is glibc's fast path (chapter 5): a call it \
         serves is charged `alloc_op_ns` only, a call that goes on into `_int_malloc` or \
         `_int_free` also `alloc_arena_ns`, and `alloc_step_ns` for every other chunk it \
         visits (bins sorted, neighbours merged, remainders split: chapter 8). \
         Without the tcache every call goes on, and the allocator's user-space time grows \
         from {} to {}. In the heap map halfway through the run \
         (op {}), the default run has \
         {} cached chunks ({}: tcache and fastbins) and {} free chunks in bins ({}); \
         without the tcache {} cached chunks ({}, fastbins only) and {} free chunks \
         ({}): freed chunks are coalesced and binned instead of waiting in the cache.",
        per_op(&d),
        per_op(&n),
        nanos(du),
        nanos(nu),
        d_op,
        d_cached[0],
        bytes(d_cached[1]),
        d_free[0],
        bytes(d_free[1]),
        n_cached[0],
        bytes(n_cached[1]),
        n_free[0],
        bytes(n_free[1])
    ));
    // 5
    let mut t = String::from("# brkmap trace v1\nname small\n");
    for i in 1..=10 {
        t.push_str(&format!("malloc {i} 24\n"));
    }
    for i in 1..=10 {
        t.push_str(&format!("free {i}\n"));
    }
    let r = run(&trace(&t, "small.trace")?, "glibc", &[])?;
    let last = r.rows.last().ok_or_else(|| err("rows"))?;
    check(
        last.fordblks - last.keepcost == 96,
        &format!("fastbin bytes: {} - {}", last.fordblks, last.keepcost),
    )?;
    v.push(format!(
        "`smblks` 3 and `fsmblks` 96: the tcache bin of 32-byte chunks takes the first \
         seven frees, the other three go to a fastbin (3 x 32 bytes). `uordblks` {} = \
         `arena` {} - `fordblks` {}, where `fordblks` is the top ({}) plus those 96 fastbin \
         bytes: the seven tcache chunks are free to the program but count as in use.",
        last.uordblks, last.arena, last.fordblks, last.keepcost
    ));
    // 6
    let mib32 = 32u64 << 20;
    let again = |n: u64| -> R<bool> {
        let t = format!("# brkmap trace v1\nname cap\nmalloc 1 {n}\nfree 1\nmalloc 2 {n}\n");
        let r = run(&trace(&t, "cap.trace")?, "glibc", &[])?;
        Ok(matches!(r.rows[2].region, Region::Mmap))
    };
    let exact = again(mib32 - 24)?;
    let below = again(mib32 - 4096 - 24)?;
    check(
        exact && !below,
        "32 MiB does not raise the threshold, 32 MiB - 4 KiB does",
    )?;
    v.push(format!(
        "glibc compares the chunk's raw size word, flags included, with 32 MiB. A mapped \
         chunk has the `IS_MMAPPED` bit (2) set, so an exact 32 MiB chunk reads as {} and \
         is not at most 32 MiB; one of 32 MiB - 4 KiB reads as {} and is. The model shows \
         it: after a free of the 32 MiB chunk the same request is mapped again, after a \
         free of the smaller one it comes from the heap (the threshold rose).",
        mib32 + 2,
        mib32 - 4096 + 2
    ));
    Ok(v)
}

fn mmap() -> R<Vec<String>> {
    let mut v = Vec::new();
    // 1
    let mut k = Kernel::new(KernelConfig::default());
    let a = k.mmap(0, 100, Prot::RW, MapFlags::NONE).map_err(err)?;
    let at4095 = k.touch(a + 4095, 1, Access::Write);
    let at4096 = k.touch(a + 4096, 1, Access::Write);
    check(at4095.is_ok() && at4096.is_err(), "4095 ok, 4096 faults")?;
    v.push(format!(
        "Offset 4095 is still inside the mapping's one page: no fault. Offset 4096 is the \
         first byte past the mapping, where nothing is mapped: {}.",
        at4096.err().map(|e| e.to_string()).unwrap_or_default()
    ));
    // 2
    let mut parts = Vec::new();
    let mut better = Vec::new();
    for n in [24u64, 100, 4000, 4097, 100000] {
        let t = format!("# brkmap trace v1\nname two\nmalloc 1 {n}\nmalloc 2 {n}\n");
        let w = trace(&t, "two.trace")?;
        let mm = sum(&w, "mmap", &[])?;
        let m = mm.peak_allocated / 2 - n;
        check(m == kernel::page_align_up(n) - n, "mmap rounds to pages")?;
        let r = run(&w, "glibc", &[])?;
        let chunk = heap_offset(&r, 2).unwrap_or(0) - heap_offset(&r, 1).unwrap_or(0);
        check(
            chunk == ((n + 8).div_ceil(16) * 16).max(32),
            "glibc's chunk size",
        )?;
        let g = chunk - n;
        parts.push(format!("{n}: mmap {m}, glibc {g}"));
        if m < g {
            better.push(n.to_string());
        }
    }
    v.push(format!(
        "Wasted bytes (mmap: page rounding; glibc: header and alignment, 100000 served \
         from the heap): {}. mmap is better for {}.",
        parts.join("; "),
        if better.is_empty() {
            "none of them".to_string()
        } else {
            better.join(", ")
        }
    ));
    // 3
    let w = workload_of("churn", 1)?;
    let g = sum(&w, "glibc", &[])?;
    let m = sum(&w, "mmap", &[])?;
    let c = sum(&w, "mmap-cache", &[])?;
    let calls = |s: &Summary| s.syscalls.values().sum::<u64>() as f64 / s.ops as f64;
    v.push(format!(
        "`mmap`: {} `mmap` and {} `munmap`, {:.2} system calls per allocator call, {}/op; \
         `mmap-cache`: {} and {}, {:.2} per call, {}/op; glibc {:.3} per call, {}/op. The \
         cache saves the system calls (and faults) of repeated sizes; it costs a peak \
         footprint of {} against {} for `mmap` and {} for glibc.",
        sc(&m, Syscall::Mmap),
        sc(&m, Syscall::Munmap),
        calls(&m),
        per_op(&m),
        sc(&c, Syscall::Mmap),
        sc(&c, Syscall::Munmap),
        calls(&c),
        per_op(&c),
        calls(&g),
        per_op(&g),
        bytes(c.peak_footprint),
        bytes(m.peak_footprint),
        bytes(g.peak_footprint)
    ));
    // 4
    let mut k = Kernel::new(KernelConfig::default());
    let mut counts = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..10 {
        addrs.push(k.mmap(0, 4096, Prot::RW, MapFlags::NONE).map_err(err)?);
        counts.push(k.mem().vmas);
    }
    for a in addrs.iter().step_by(2) {
        k.mprotect(*a, 4096, Prot::NONE).map_err(err)?;
    }
    let after = k.mem().vmas;
    v.push(format!(
        "VMAs after each `mmap`: {:?}: each new mapping is placed right below the last one \
         and, untouched and with the same protection, merges with it. After `mprotect` of \
         every other block: {after}: neighbours with different protections cannot share a \
         VMA, so the one VMA splits into ten.",
        counts
    ));
    // 5
    let max = KernelConfig::default().max_map_count;
    v.push(format!(
        "`mmap-guard` needs two VMAs per block (the block and its guard), {} for 40000 \
         blocks, over `vm.max_map_count` ({max}): no. `mmap` needs at most one VMA per \
         block (fewer where untouched neighbours merge; neighbouring mappings that were \
         each written do not merge, in Linux 6.18 as in the model: \
         `crates/kernel/scripts/anon-merge.ks`), so at most 40000: yes, under the limit, \
         at a page and two system calls per block. glibc would map each chunk above the \
         threshold that its heap cannot serve: 40000 mapped chunks are under its cap of \
         65536 (`mmap_max`), and, written (their headers), they are 40000 VMAs, under \
         {max} as well; each costs at least a page and two system calls too.",
        2 * 40000
    ));
    Ok(v)
}

fn giving_back() -> R<Vec<String>> {
    let mut v = Vec::new();
    // 1
    let w = trace(PINNED_TOP, "pinned-top.trace")?;
    let mut lines = Vec::new();
    let mut fall = None;
    for a in ["glibc", "first-fit"] {
        let r = run(&w, a, &[])?;
        let phases = r.timeline.phase_of_each();
        let starts: Vec<String> = r
            .timeline
            .samples
            .iter()
            .zip(&phases)
            .filter(|(s, _)| s.phase.is_some())
            .map(|(s, p)| {
                format!(
                    "`{}`: footprint {}, RSS {}, madvise {}",
                    p.unwrap_or(""),
                    bytes(s.footprint),
                    bytes(s.rss),
                    bytes(s.returned_madvise)
                )
            })
            .collect();
        if a == "glibc" {
            fall = phase_where(&r.timeline, |x, y| {
                y.rss < x.rss && y.returned_madvise > x.returned_madvise
            });
        }
        lines.push(format!("{a}: {}", starts.join("; ")));
    }
    let fall = fall.ok_or_else(|| err("glibc's RSS never falls by madvise"))?;
    v.push(format!(
        "At each phase start: {}. glibc's RSS falls in phase `{fall}`, where \
         `malloc_trim(0)` gives the pages inside the big free chunk back with `madvise`; \
         its footprint stays, because `madvise` frees frames but leaves the heap's address \
         range (and the pinned block still holds the break up).",
        lines.join(". ")
    ));
    // 2
    let mut moved = String::new();
    let mut pin = String::new();
    for line in PINNED_TOP.lines() {
        if line.starts_with("malloc") && line.contains(" 16") && pin.is_empty() {
            pin = format!("{line}\n");
            continue;
        }
        moved.push_str(line);
        moved.push('\n');
        if line.starts_with("name") {
            moved.push_str("PIN\n");
        }
    }
    check(!pin.is_empty(), "the trace has a 16-byte pin")?;
    let moved = moved.replace("PIN\n", &pin);
    let w2 = trace(&moved, "pinned-first.trace")?;
    let g = sum(&w2, "glibc", &[])?;
    let f = sum(&w2, "first-fit", &[])?;
    v.push(format!(
        "With the pin allocated first it sits at the bottom of the heap and pins nothing: \
         the freed buffers are the top. First fit returns {} through `brk` (final \
         footprint {}); glibc {} through `brk` and {} through `madvise` (final footprint \
         {}, final RSS {}).",
        bytes(f.returned.brk),
        bytes(f.final_footprint),
        bytes(g.returned.brk),
        bytes(g.returned.madvise),
        bytes(g.final_footprint),
        bytes(g.final_rss)
    ));
    // 3
    let w = workload_of("swiss-cheese", 1)?;
    let d = sum(&w, "glibc", &[])?;
    let big = sum(
        &workload_of_with("swiss-cheese", 1, &[("sizes", "8K-64K")])?,
        "glibc",
        &[],
    )?;
    check(sc(&d, Syscall::Madvise) == 0, "no madvise on swiss-cheese")?;
    check(sc(&big, Syscall::Madvise) > 0, "madvise with big holes")?;
    v.push(format!(
        "{} `madvise` calls: every hole is a single freed block of 64 to 512 bytes, with \
         live blocks on both sides, so no hole contains a whole page for `malloc_trim` to \
         give back. With fill sizes of 8–64 KiB (`--param sizes=8K-64K`) each hole holds \
         whole pages, and glibc makes {} `madvise` calls returning {}.",
        sc(&d, Syscall::Madvise),
        sc(&big, Syscall::Madvise),
        bytes(big.returned.madvise)
    ));
    // 4
    let w = workload_of("sawtooth", 1)?;
    let d = sum(&w, "glibc", &[])?;
    let lo = sum(&w, "glibc", &[("trim_threshold", "4096")])?;
    let hi = sum(&w, "glibc", &[("trim_threshold", "1G")])?;
    let lo0 = sum(&w, "glibc", &[("trim_threshold", "4096"), ("top_pad", "0")])?;
    let same = |a: &Summary, b: &Summary| {
        a.syscalls == b.syscalls && a.returned == b.returned && a.peak_footprint == b.peak_footprint
    };
    let which = if same(&d, &lo) {
        "the low threshold (4096)"
    } else if same(&d, &hi) {
        "the high threshold (1G)"
    } else {
        "none of the two"
    };
    check(which != "none of the two", "one setting changes nothing")?;
    let row = |name: &str, s: &Summary| {
        format!(
            "{name}: {} `brk`, returned {}, {} faults, {}/op",
            sc(s, Syscall::Brk),
            bytes(s.returned.brk + s.returned.madvise + s.returned.munmap),
            count(s.minor_faults),
            per_op(s)
        )
    };
    v.push(format!(
        "{}; {}; {}; {}. The one that changes nothing is {}: `systrim` keeps `top_pad` \
         (128 KiB) at the top whatever the threshold, so a top smaller than that has nothing \
         to release and the heap shrinks at the same moments, by the same amounts, as with \
         the default threshold of 128 KiB. With `top_pad=0` the heap gives back everything above the \
         top chunk's first page and must grow (and fault) again on the next climb: more \
         memory returned, paid for in `brk` calls, faults and time.",
        row("default", &d),
        row("trim_threshold=4096", &lo),
        row("trim_threshold=1G", &hi),
        row("4096 + top_pad=0", &lo0),
        which
    ));
    // 5
    let w = workload_of("churn", 1)?;
    let g = sum(&w, "glibc", &[])?;
    let m = sum(&w, "mmap", &[])?;
    v.push(format!(
        "Returning a block at once means that the next block needs fresh pages: a system \
         call, page faults and zeroing again, and an unmap with its teardown when it is \
         freed. On `churn` the `mmap` allocator made {:.2} faults per op against {:.2} for \
         glibc, and took {} per op against {}.",
        m.minor_faults as f64 / m.ops as f64,
        g.minor_faults as f64 / g.ops as f64,
        per_op(&m),
        per_op(&g)
    ));
    Ok(v)
}

fn costs() -> R<Vec<String>> {
    let mut v = Vec::new();
    let c = CostModel::default();
    let pair = 2.0 * c.alloc_op_ns;
    // 1
    v.push(format!(
        "A fast-path pair costs {pair:.1} ns ({:.1} ns per call in the cost model): a null \
         system call ({}) costs as much as {:.0} pairs, a context switch ({}) as much as \
         {:.0}.",
        c.alloc_op_ns,
        nanos(c.mode_switch_ns),
        c.mode_switch_ns / pair,
        nanos(c.context_switch_ns),
        c.context_switch_ns / pair
    ));
    // 2
    let fault = c.fault_ns + c.zero_page_ns;
    let mmap_alone = c.mmap_ns + c.mode_switch_ns;
    let munmap_alone = c.munmap_ns + c.mode_switch_ns;
    let left = 6700.0 - mmap_alone - munmap_alone - fault - c.free_page_ns;
    check(
        (left - c.unmap_teardown_ns).abs() < 1.0,
        "teardown is the remainder",
    )?;
    v.push(format!(
        "6700 - {} (mmap) - {} (munmap) - {} (write fault with zeroing) - {} (freeing the \
         frame) = {}: the cost model's `unmap_teardown_ns`, the work of unmapping resident \
         memory (page-table teardown, invalidation and its aftermath), not a TLB shootdown.",
        mmap_alone, munmap_alone, fault, c.free_page_ns, left
    ));
    // 3
    v.push(format!(
        "It depends on your machine; there is no fixed answer. The reference ratios to \
         compare with: context switch / null system call = {:.1}, write fault / null \
         system call = {:.1}.",
        c.context_switch_ns / c.mode_switch_ns,
        fault / c.mode_switch_ns
    ));
    // 4
    let w = workload_of("churn", 1)?;
    let mut other = c.clone();
    other.mode_switch_ns *= 2.0;
    other.fault_ns *= 2.0;
    other.alloc_op_ns *= 2.0;
    let mut same = true;
    let mut differ = true;
    for a in ["glibc", "mmap"] {
        let x = run_cost(&w, a, &[], &c)?.summary;
        let y = run_cost(&w, a, &[], &other)?.summary;
        same &= x.syscalls == y.syscalls
            && x.minor_faults == y.minor_faults
            && x.peak_footprint == y.peak_footprint
            && x.peak_rss == y.peak_rss;
        differ &= x.time_ns != y.time_ns;
    }
    check(same && differ, "costs change only the time")?;
    v.push(
        "Only the time columns (`time/op`, the cost breakdown) change; the counts of system \
         calls, faults, footprint and RSS stay the same, because costs are charged for \
         events and never decide what happens. (Checked with a cost model whose mode \
         switch, fault and allocator costs are doubled.)"
            .to_string(),
    );
    // 5
    let cycles = 1000u64;
    let mut t = String::from("# brkmap trace v1\nname buffer\n");
    for i in 1..=cycles {
        t.push_str(&format!("malloc {i} 65536\nfree {i}\n"));
    }
    let w = trace(&t, "buffer.trace")?;
    let m = sum(&w, "mmap", &[])?;
    let g = sum(&w, "glibc", &[])?;
    let est_mmap = c.mmap_ns
        + c.munmap_ns
        + 2.0 * c.mode_switch_ns
        + 16.0 * (fault + c.free_page_ns + c.unmap_teardown_ns / 16.0);
    // The writes of every byte, which both pay (the table has no figure for them; the
    // cost model's `write_byte_ns` is the rate of a block reused in the cache).
    let writes = c.write_ns(65536);
    check(
        (g.time_ns / cycles as f64) < est_mmap / 4.0,
        "a resident heap buffer is far cheaper than a fresh mapping",
    )?;
    v.push(format!(
        "Estimate from the table for `mmap`: two system calls and 16 write faults with \
         zeroing per cycle, about {} per cycle, {} for a million; a heap that keeps the \
         buffer resident pays no system call and no fault, only a few ns of allocator work \
         and the program's writes of 64 KiB, which both pay (the table has no figure for \
         them; the cost model charges {} at `write_byte_ns`). Simulated over {cycles} \
         cycles: `mmap` {} per cycle, glibc {} per cycle ({} and {} for a million).",
        nanos(est_mmap),
        nanos(est_mmap * 1e6),
        nanos(writes),
        nanos(m.time_ns / cycles as f64),
        nanos(g.time_ns / cycles as f64),
        nanos(m.time_ns / cycles as f64 * 1e6),
        nanos(g.time_ns / cycles as f64 * 1e6)
    ));
    Ok(v)
}

/// The two-process example of chapter 9 with `pages` pages each: whether B's writes
/// succeed with A exempt from the OOM killer, as in the example's second half.
fn both_fit(pages: u64) -> R<bool> {
    let mut k = Kernel::new(KernelConfig {
        phys_bytes: 4 << 20,
        ..KernelConfig::default()
    });
    let len = pages * 4096;
    let pid_a = k.current();
    let a = k.mmap(0, len, Prot::RW, MapFlags::NONE).map_err(err)?;
    k.touch(a, len, Access::Write).map_err(err)?;
    k.set_oom_score_adj(pid_a, -1000).map_err(err)?;
    let pid_b = k.spawn();
    k.switch_to(pid_b).map_err(err)?;
    let b = k.mmap(0, len, Prot::RW, MapFlags::NONE).map_err(err)?;
    Ok(k.touch(b, len, Access::Write).is_ok())
}

fn many_processes() -> R<Vec<String>> {
    let mut v = Vec::new();
    // 1
    let half = (2 << 20) / 4096;
    let fits_half = both_fit(half)?;
    let mut lo = 1;
    let mut hi = half;
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if both_fit(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    check(!fits_half, "2 MiB each does not fit")?;
    v.push(format!(
        "They do not both fit. In the example's first half the OOM killer kills A so that \
         B gets its pages; in its second half (A exempt) B runs out part way. The two \
         halves would need all 1024 frames, but each process also needs frames for its \
         page tables (PDPT, PD and PT pages). The largest size for which both fit, A \
         exempt and nobody killed, is {lo} pages each ({} short of half the machine).",
        half - lo
    ));
    // 2 and 3
    let setup = |advice: Option<Advice>| -> R<(bool, u64, u64, u64)> {
        let mut k = Kernel::new(KernelConfig {
            phys_bytes: 4 << 20,
            ..KernelConfig::default()
        });
        let len = 3 << 20;
        let pid_a = k.current();
        let a = k.mmap(0, len, Prot::RW, MapFlags::NONE).map_err(err)?;
        k.touch(a, len, Access::Write).map_err(err)?;
        k.set_oom_score_adj(pid_a, -1000).map_err(err)?;
        match advice {
            Some(adv) => k.madvise(a, len, adv).map_err(err)?,
            None => k.munmap(a, len).map_err(err)?,
        }
        let pid_b = k.spawn();
        k.switch_to(pid_b).map_err(err)?;
        let b = k.mmap(0, len, Prot::RW, MapFlags::NONE).map_err(err)?;
        let ok = k.touch(b, len, Access::Write).is_ok();
        k.switch_to(pid_a).map_err(err)?;
        let m = k.mem();
        let f0 = k.counters().minor_faults;
        let retouch = if ok {
            k.touch(a, 4096, Access::Read).is_ok()
        } else {
            false
        };
        let f1 = k.counters().minor_faults;
        Ok((ok && retouch, m.mapped, m.rss, f1 - f0))
    };
    let (ok_d, mapped_d, rss_d, faults_d) = setup(Some(Advice::DontNeed))?;
    check(
        ok_d && mapped_d >= 3 << 20,
        "DontNeed: B succeeds, A keeps its mapping",
    )?;
    v.push(format!(
        "Yes, B succeeds: `MADV_DONTNEED` frees A's frames just as `munmap` does. But A \
         keeps its mapping: afterwards A has {} mapped and {} resident, and touching the \
         range again is allowed and gives fresh zero-filled pages through page faults ({} \
         for the first page A reads).",
        bytes(mapped_d),
        bytes(rss_d),
        faults_d
    ));
    let (ok_f, mapped_f, rss_f, _) = setup(Some(Advice::Free))?;
    check(ok_f, "MADV_FREE: B succeeds")?;
    v.push(format!(
        "Yes: A's pages given up with `MADV_FREE` stay mapped and resident until memory runs \
         short; B's faults find no free frame, and the kernel reclaims A's lazily freed \
         pages (before it would call the OOM killer) and gives their frames to B. A ends \
         with {} mapped and {} resident.",
        bytes(mapped_f),
        bytes(rss_f)
    ));
    // 4
    let misses = |pcid: bool, pages: u64| -> R<u64> {
        let mut config = KernelConfig::default();
        config.tlb.pcid = pcid;
        let mut k = Kernel::new(config);
        let pa = k.current();
        let len = pages * 4096;
        let a = k.mmap(0, len, Prot::RW, MapFlags::NONE).map_err(err)?;
        let pb = k.spawn();
        k.switch_to(pb).map_err(err)?;
        let b = k.mmap(0, len, Prot::RW, MapFlags::NONE).map_err(err)?;
        for _ in 0..10 {
            k.switch_to(pa).map_err(err)?;
            k.touch(a, len, Access::Write).map_err(err)?;
            k.switch_to(pb).map_err(err)?;
            k.touch(b, len, Access::Write).map_err(err)?;
        }
        Ok([pa, pb]
            .iter()
            .map(|&p| k.counters_of(p).map_or(0, |c| c.tlb_misses))
            .sum())
    };
    // What the TLB can hold at once: its first level, or the second when it has one
    // (a first-level miss that the second level serves is no page walk).
    let tlb = KernelConfig::default().tlb;
    let reach = u64::from(tlb.entries.max(tlb.l2_entries));
    let (with64, without64) = (misses(true, 64)?, misses(false, 64)?);
    let (with16, without16) = (misses(true, 16)?, misses(false, 16)?);
    check(without16 > with16, "PCID saves misses when both sets fit")?;
    let both_fit = 2 * 64 <= reach;
    check(
        both_fit == (with64 * 10 <= without64 * 8),
        "with 64 pages each PCID saves much exactly when the TLB holds both",
    )?;
    let shape = if tlb.l2_entries > 0 {
        format!(
            "{} first-level entries and a second level of {}",
            tlb.entries, tlb.l2_entries
        )
    } else {
        format!("{} entries", tlb.entries)
    };
    let verdict = if both_fit {
        "the two processes' 128 pages fit in it together: with PCID each keeps its \
         entries across the switch and only the first round walks; without PCID every \
         switch flushes and every round walks again"
    } else {
        "the two processes' 128 pages do not fit together: each round evicts the other \
         process's entries whether or not they are tagged, and PCID saves little"
    };
    v.push(format!(
        "Ten rounds of both processes writing their 64 pages: {} TLB misses (page walks) \
         with PCID, {} without. The default TLB has {shape}, so {verdict}. With 16 pages \
         each: {} misses with PCID against {} without.",
        count(with64),
        count(without64),
        count(with16),
        count(without16)
    ));
    // 5
    v.push(
        "Open question. For: in the multiproc-memory figure, allocators that give freed \
         pages back let all four processes complete where retaining ones get two of them \
         killed. Against: in chapter 7, returning costs system calls, TLB work and fresh \
         faults when the memory is needed again (the `mmap` allocator's cost on `churn`, \
         the hysteresis of glibc's trim threshold and top pad)."
            .to_string(),
    );
    Ok(v)
}

fn claims() -> R<Vec<String>> {
    let mut v = Vec::new();
    let c = CostModel::default();
    // 1
    v.push(
        "Open question; one example. Claim 9, precise version: \"glibc gives freed memory \
         back by lowering the break, by unmapping its mapped chunks, and with \
         `malloc_trim`'s `madvise`; one live (or cached) block at the top stops the break, \
         and without `malloc_trim` the free pages below it stay resident.\" Demonstrated by \
         `cargo run -p sim -- -w ramp --seed 1 --ops 4000 --sample-every 20 -a \
         first-fit,glibc` (the pinned-top figure's runs)."
            .to_string(),
    );
    // 2
    v.push(
        "The missing case is a read past the end of a file mapping, beyond the file's last \
         page, which raised `SIGBUS` (`BUS_ADRERR`) on the real machine. The simulated \
         kernel has no files and no page cache, only anonymous memory, so it cannot map a \
         file at all (the claim-3 table marks the case \"not modelled\")."
            .to_string(),
    );
    // 3
    v.push(format!(
        "A context switch ({}) holds {:.0} null system calls ({}); a null system call holds \
         {:.0} fast-path `malloc` + `free` pairs ({} each).",
        nanos(c.context_switch_ns),
        c.context_switch_ns / c.mode_switch_ns,
        nanos(c.mode_switch_ns),
        c.mode_switch_ns / (2.0 * c.alloc_op_ns),
        nanos(2.0 * c.alloc_op_ns)
    ));
    // 4
    let w = workload_of("ramp", 1)?;
    let r = run(&w, "glibc", &[])?;
    let phase = phase_where(&r.timeline, |a, b| b.syscalls[5] > a.syscalls[5])
        .ok_or_else(|| err("ramp has no madvise"))?;
    let ends = phase_ends(&r.timeline);
    let at_end = |p: &str| {
        ends.iter()
            .find(|(q, _)| q == p)
            .map(|(_, s)| s.syscalls[5])
    };
    let before: u64 = ends
        .iter()
        .take_while(|(q, _)| *q != phase)
        .map(|(_, s)| s.syscalls[5])
        .max()
        .unwrap_or(0);
    check(
        before == 0 && at_end(&phase) == Some(sc(&r.summary, Syscall::Madvise)),
        "every madvise of ramp is in one phase",
    )?;
    v.push(format!(
        "glibc made {} `madvise` calls, all in phase `{phase}`: the `malloc_trim(0)` that \
         ramp calls while its one block pins the top.",
        sc(&r.summary, Syscall::Madvise)
    ));
    // 5
    let max = KernelConfig::default().max_map_count;
    v.push(format!(
        "Two VMAs per block (the block and its guard page), so at most {} blocks under \
         {max}. For plain `mmap` the number of VMAs depends on which neighbours merged, \
         which depends on the order of the `munmap`s and on whether the blocks were \
         written, so the limit on blocks is anywhere from {} (no merging) up.",
        max / 2,
        max
    ));
    // 6
    v.push(
        "Open question: no computed answer. A good design names the workload or trace, the \
         allocators and options, and the measure that decides (a column of the summary \
         table or the timeline), before running it."
            .to_string(),
    );
    Ok(v)
}

fn assignments() -> R<Vec<String>> {
    let tb = trace(TEXTBOOK, "textbook.trace")?;
    let r = run(&tb, "first-fit", &[])?;
    let mut v = Vec::new();
    v.push(
        "A programming exercise. The check: after `malloc`, `free`, `malloc` of the same \
         size the second pointer equals the first, and the heap map shows one block."
            .to_string(),
    );
    v.push(
        "A programming exercise. `stats()` must count the header words as allocated bytes \
         and report freed blocks as free instead of subtracting them, since the heap no \
         longer shrinks on free."
            .to_string(),
    );
    v.push(
        "A programming exercise. One sequence: `malloc a`, `malloc b`, `free a`, `free b`: \
         coalescing with the next block only cannot merge b into a's hole (a lies before \
         b), so a following `malloc` of the size of a + b does not fit in the freed space."
            .to_string(),
    );
    v.push(format!(
        "A programming exercise. The reference to compare with is first fit on the \
         textbook trace (`sim --trace crates/workload/traces/textbook.trace -a first-fit \
         -v`), which ends with a footprint of {} after {} `brk` call(s).",
        bytes(r.summary.final_footprint),
        sc(&r.summary, Syscall::Brk)
    ));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exercises of a chapter: the numbered items under its `## Exercises`.
    fn exercises(md: &str) -> u32 {
        let mut inside = false;
        let mut n = 0;
        for line in md.lines() {
            if line.starts_with("## ") {
                inside = line.trim() == "## Exercises";
                continue;
            }
            if inside
                && line.split_once(". ").is_some_and(|(num, _)| {
                    !num.is_empty() && num.chars().all(|c| c.is_ascii_digit())
                })
            {
                n += 1;
            }
        }
        n
    }

    #[test]
    fn every_exercise_of_every_chapter_has_one_answer() {
        let answers = all().unwrap();
        let book = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../book/src");
        for (chapter, _) in CHAPTERS {
            let md = std::fs::read_to_string(book.join(format!("{chapter}.md"))).unwrap();
            let want = exercises(&md);
            let got: Vec<u32> = answers
                .iter()
                .filter(|a| a.chapter == *chapter)
                .map(|a| a.number)
                .collect();
            assert_eq!(
                got,
                (1..=want).collect::<Vec<_>>(),
                "{chapter}.md has {want} exercises"
            );
        }
        for entry in std::fs::read_dir(&book).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".md") {
                let md = std::fs::read_to_string(book.join(&name)).unwrap();
                if exercises(&md) > 0 {
                    assert!(
                        CHAPTERS.iter().any(|(c, _)| *c == stem),
                        "{name} has exercises but no answers"
                    );
                }
            }
        }
    }

    #[test]
    fn answers_are_deterministic() {
        assert_eq!(answers_md().unwrap(), answers_md().unwrap());
    }
}
