//! `report.html`: one self-contained page per run, to look at the heap op by op.
//!
//! The page holds the comparison table, the run's charts (the same SVGs `sim` writes,
//! inlined), and a heap view that steps through the run with a slider and the arrow
//! keys: the op, the heap map at that op (block ids where they fit), the allocator's
//! free lists or bins, the VMAs and the resident set, with buttons that jump to the
//! moments of peak footprint and peak RSS. Nothing is fetched: no network, no external
//! script, style or font; the script is a small hand-written one
//! (`report/report.js`), the data one JSON block.
//!
//! # What is recorded, and the size bound
//!
//! A [`Recorder`] watches the run through `engine::run_observed` and keeps the state
//! after at most [`MAX_STATES`] evenly spaced ops (the first and the last among them),
//! plus the ops where footprint and RSS first reached their peaks. New peaks are
//! captured as they come, at most one per spacing of the kept ops; when the final peak
//! came too soon after a captured one, the run is replayed up to it (the simulator is
//! deterministic, and the replay checks that it reaches the same peak). So a report
//! costs at most one more run per allocator, and none when the peaks were caught. A state with more than [`MAX_BLOCKS`] heap blocks (or
//! as many mappings) is merged into that many spans, each of the kind covering most of
//! its bytes, and loses its ids; long free-list texts and VMA lists are cut. Last, if
//! the data of all allocators together is above [`DATA_BUDGET`], every allocator keeps
//! every other state (the peaks always stay) until it fits. The page says which of
//! these happened. So the file is bounded however long the run: the data by
//! [`DATA_BUDGET`], the charts by the `plot` crate's own bounds.

use engine::{Program, RunConfig, Step, Stepped};
use kernel::{Kernel, Prot};
use malloc::{Allocator, Block, BlockKind};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use workload::{Op, Workload};

/// The most states kept per allocator (evenly spaced ops; the peaks come on top).
pub const MAX_STATES: usize = 400;
/// The most heap blocks (and, separately, mappings) one state lists; beyond it, they
/// are merged into this many spans.
pub const MAX_BLOCKS: usize = 400;
/// The most VMAs one state lists.
const MAX_VMAS: usize = 40;
/// The most characters of an allocator's free-list text one state keeps.
const MAX_TEXT: usize = 2_000;
/// The most bytes of state data (JSON) a page holds, all allocators together.
pub const DATA_BUDGET: usize = 4 << 20;

/// A block as the page's script reads it: offset (from the heap start, or the
/// address for mappings), size, kind code, program id (-1 for none).
type BlockRow = (u64, u64, u8, i64);

/// A kind's code in the page's data (the script's `KINDS` table has the same order).
fn kind_code(b: &Block) -> u8 {
    match (b.kind, b.mapped) {
        (BlockKind::Used, false) => 0,
        (BlockKind::Free, _) => 1,
        (BlockKind::Cached, _) => 2,
        (BlockKind::Top, _) => 3,
        (BlockKind::Meta, _) => 4,
        (BlockKind::Used, true) => 5,
    }
}

/// Everything the page shows about one moment of a run.
#[derive(Clone, Debug, Serialize)]
struct State {
    /// Ops executed (the state is the one after op `ops - 1`).
    ops: u64,
    /// The op, in words.
    op: String,
    /// The phase the op belongs to.
    phase: Option<String>,
    live: u64,
    allocated: u64,
    footprint: u64,
    rss: u64,
    mapped: u64,
    page_tables: u64,
    vma_count: u64,
    /// The break, as an offset from the heap start.
    brk: u64,
    /// Blocks of the brk heap in address order, offsets from the heap start.
    heap: Vec<BlockRow>,
    /// How many heap blocks there were when `heap` is merged (0: listed one by one).
    heap_merged_from: usize,
    /// Blocks in mappings, in address order (offsets are addresses).
    maps: Vec<BlockRow>,
    /// How many mappings there were when `maps` is merged (0: listed one by one).
    maps_merged_from: usize,
    /// VMAs: start and end (hex), protection, heap or not.
    vmas: Vec<(String, String, String, bool)>,
    /// VMAs not listed.
    vmas_more: u64,
    /// The allocator's own account of its free structures, or a summary of its free
    /// and cached blocks by size.
    free: String,
}

/// The op in words, with the pointer it returned (as an offset from the heap start
/// when it lies in the heap).
fn op_text(op: &Op, ptr: Option<u64>, heap_start: u64, brk: u64) -> String {
    let at = |p: u64| {
        if p >= heap_start && p < brk {
            format!("heap + {:#x}", p - heap_start)
        } else {
            format!("{p:#x} (a mapping)")
        }
    };
    let got = |p: Option<u64>| p.map_or("NULL".to_string(), at);
    match *op {
        Op::Malloc { id, size } => format!("block {id} = malloc({size}) → {}", got(ptr)),
        Op::Realloc { id, size } => {
            format!("block {id} = realloc(block {id}, {size}) → {}", got(ptr))
        }
        Op::Free { id } => format!("free(block {id})"),
        Op::Trim { pad } => format!("malloc_trim({pad})"),
        Op::Touch {
            id,
            offset,
            len,
            write,
        } => format!(
            "{} {len} bytes of block {id} at +{offset}",
            if write { "write" } else { "read" }
        ),
        Op::Phase { ref name } => format!("phase {name} starts"),
    }
}

fn prot_text(p: Prot) -> String {
    let bit = |b: Prot, c: char| if p.contains(b) { c } else { '-' };
    [
        bit(Prot::READ, 'r'),
        bit(Prot::WRITE, 'w'),
        bit(Prot::EXEC, 'x'),
    ]
    .iter()
    .collect()
}

/// Cuts `text` to at most `max` characters, saying so.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max).collect();
    s.push_str(" … (cut)");
    s
}

/// Free and cached blocks by size, for allocators without their own description.
fn free_summary(blocks: &[Block]) -> String {
    let mut out = String::new();
    for (kind, name) in [
        (BlockKind::Free, "free (in lists or bins)"),
        (
            BlockKind::Cached,
            "cached (tcache, fastbins, a mapping cache)",
        ),
        (BlockKind::Top, "top chunk"),
    ] {
        let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
        for b in blocks.iter().filter(|b| b.kind == kind) {
            *sizes.entry(b.size).or_default() += 1;
        }
        let n: u64 = sizes.values().sum();
        let _ = write!(out, "{name}: {n} block(s)");
        if n > 0 {
            let list: Vec<String> = sizes
                .iter()
                .map(|(size, k)| {
                    if *k == 1 {
                        units::bytes(*size)
                    } else {
                        format!("{} × {k}", units::bytes(*size))
                    }
                })
                .collect();
            let _ = write!(out, ": {}", list.join(", "));
        }
        out.push('\n');
    }
    out
}

/// Merges `rows` (in address order, over `lo..hi`) into at most `max` spans of equal
/// address width, each of the kind covering most of its bytes; empty spans are left
/// out. Ids are dropped.
fn merge(rows: &[BlockRow], lo: u64, hi: u64, max: usize) -> Vec<BlockRow> {
    let span = (hi.saturating_sub(lo)).max(1);
    let width = span.div_ceil(max as u64).max(1);
    let buckets = span.div_ceil(width) as usize;
    let mut cover = vec![[0u64; 6]; buckets];
    for &(off, size, kind, _) in rows {
        let (s, e) = (
            off.saturating_sub(lo),
            (off + size).saturating_sub(lo).min(span),
        );
        let mut b = (s / width) as usize;
        while b < buckets && (b as u64) * width < e {
            let (bs, be) = (b as u64 * width, (b as u64 + 1) * width);
            cover[b][kind as usize] += e.min(be) - s.max(bs);
            b += 1;
        }
    }
    let mut out: Vec<BlockRow> = Vec::new();
    for (b, c) in cover.iter().enumerate() {
        let (kind, bytes) =
            c.iter().enumerate().fold(
                (0, 0),
                |best, (k, &v)| if v > best.1 { (k, v) } else { best },
            );
        if bytes == 0 {
            continue;
        }
        let start = lo + b as u64 * width;
        match out.last_mut() {
            Some(last) if last.2 == kind as u8 && last.0 + last.1 == start => last.1 += width,
            _ => out.push((start, width, kind as u8, -1)),
        }
    }
    out
}

/// The state after `step`.
fn capture(step: &Step, heap_start: u64, phase: Option<String>) -> State {
    let mut blocks = Vec::new();
    step.allocator.blocks(&mut blocks);
    let mut ids: Vec<(u64, u64)> = step.blocks.iter().map(|(id, h)| (h.ptr, id)).collect();
    ids.sort_unstable();
    let id_of = |b: &Block| -> i64 {
        if b.kind != BlockKind::Used {
            return -1;
        }
        let i = ids.partition_point(|&(p, _)| p < b.addr);
        match ids.get(i) {
            Some(&(p, id)) if p < b.addr.saturating_add(b.size) => id as i64,
            _ => -1,
        }
    };
    let brk = step.kernel.program_break();
    let mut heap: Vec<BlockRow> = blocks
        .iter()
        .filter(|b| !b.mapped)
        .map(|b| {
            (
                b.addr.saturating_sub(heap_start),
                b.size,
                kind_code(b),
                id_of(b),
            )
        })
        .collect();
    let mut maps: Vec<BlockRow> = blocks
        .iter()
        .filter(|b| b.mapped)
        .map(|b| (b.addr, b.size, kind_code(b), id_of(b)))
        .collect();
    let mut heap_merged_from = 0;
    if heap.len() > MAX_BLOCKS {
        heap_merged_from = heap.len();
        let hi = heap.iter().map(|b| b.0 + b.1).max().unwrap_or(0);
        heap = merge(&heap, 0, hi, MAX_BLOCKS);
    }
    let mut maps_merged_from = 0;
    if maps.len() > MAX_BLOCKS {
        // Mappings lie far apart: merge neighbours in address order, a group each.
        maps_merged_from = maps.len();
        let per = maps.len().div_ceil(MAX_BLOCKS);
        maps = maps
            .chunks(per)
            .map(|g| {
                let size = g.iter().map(|b| b.1).sum();
                let mut by_kind = [0u64; 6];
                for b in g {
                    by_kind[b.2 as usize] += b.1;
                }
                let kind = (0..6).max_by_key(|&k| (by_kind[k], 6 - k)).unwrap_or(5);
                (g[0].0, size, kind as u8, -1)
            })
            .collect();
    }
    let vmas = step.kernel.vmas();
    let mem = step.kernel.mem();
    let stats = step.allocator.stats();
    let free = match step.allocator.describe() {
        Some(d) => d,
        None => free_summary(&blocks),
    };
    State {
        ops: step.index + 1,
        op: op_text(step.op, step.ptr, heap_start, brk),
        phase,
        live: step.blocks.live(),
        allocated: stats.allocated,
        footprint: stats.footprint,
        rss: mem.rss,
        mapped: mem.mapped,
        page_tables: mem.pt_bytes,
        vma_count: vmas.len() as u64,
        brk: brk.saturating_sub(heap_start),
        heap,
        heap_merged_from,
        maps,
        maps_merged_from,
        vmas: vmas
            .iter()
            .take(MAX_VMAS)
            .map(|v| {
                (
                    format!("{:#x}", v.start),
                    format!("{:#x}", v.end),
                    prot_text(v.prot),
                    v.heap,
                )
            })
            .collect(),
        vmas_more: vmas.len().saturating_sub(MAX_VMAS) as u64,
        free: cut(&free, MAX_TEXT),
    }
}

/// Records the states of one allocator's run for the page.
pub struct Recorder {
    heap_start: u64,
    /// Keep the state after every op `i` with `i % stride == stride - 1`, and the
    /// first and last.
    stride: u64,
    last: u64,
    phase: Option<String>,
    states: BTreeMap<u64, State>,
    /// (value, op index) where footprint and RSS first reached their largest value.
    peak_footprint: (u64, u64),
    peak_rss: (u64, u64),
    /// The state at the latest new peak of footprint and of RSS that was captured, and
    /// the first op at which the next new peak may be captured: at most one capture
    /// per `stride` ops each, so a run whose every op is a new peak costs no more
    /// than its evenly spaced states. When the last peak was captured, no replay.
    candidates: [Option<(u64, State)>; 2],
    next_candidate: [u64; 2],
}

impl Recorder {
    /// A recorder for a run of `n` ops on a kernel whose heap starts at `heap_start`.
    pub fn for_ops(n: u64, heap_start: u64) -> Recorder {
        Recorder {
            heap_start,
            stride: n.div_ceil(MAX_STATES as u64).max(1),
            last: n.saturating_sub(1),
            phase: None,
            states: BTreeMap::new(),
            peak_footprint: (0, 0),
            peak_rss: (0, 0),
            candidates: [None, None],
            next_candidate: [0, 0],
        }
    }

    fn follow_phase(&mut self, step: &Step) {
        if let Op::Phase { name } = step.op {
            self.phase = Some(name.clone());
        }
    }

    /// Looks at the state after one op of the run: keeps it when it is due, and
    /// notes new peaks.
    pub fn observe(&mut self, step: &Step) {
        self.follow_phase(step);
        let i = step.index;
        // After every op: `usage` is O(1), `stats` may walk the free lists.
        let footprint = step.allocator.usage().footprint;
        let rss = step.kernel.mem().rss;
        let due = i == 0 || i == self.last || i % self.stride == self.stride - 1;
        let mut state = None;
        let new_peaks = [footprint > self.peak_footprint.0, rss > self.peak_rss.0];
        if new_peaks[0] {
            self.peak_footprint = (footprint, i);
        }
        if new_peaks[1] {
            self.peak_rss = (rss, i);
        }
        for (k, &new) in new_peaks.iter().enumerate() {
            if new && (due || i >= self.next_candidate[k]) {
                let s =
                    state.get_or_insert_with(|| capture(step, self.heap_start, self.phase.clone()));
                // A due state is kept anyway; no need for a copy.
                self.candidates[k] = (!due).then(|| (i, s.clone()));
                self.next_candidate[k] = i + self.stride;
            }
        }
        if due {
            let s = state.unwrap_or_else(|| capture(step, self.heap_start, self.phase.clone()));
            self.states.insert(i, s);
        }
    }

    /// Keeps the captured peak candidates that are the final peaks.
    fn keep_candidates(&mut self) {
        let peaks = [self.peak_footprint.1, self.peak_rss.1];
        for (k, peak) in peaks.into_iter().enumerate() {
            if let Some((i, state)) = self.candidates[k].take()
                && i == peak
            {
                self.states.insert(i, state);
            }
        }
    }

    /// The op indices of the peaks whose states were not kept.
    fn missing(&mut self) -> BTreeSet<u64> {
        self.keep_candidates();
        [self.peak_footprint.1, self.peak_rss.1]
            .into_iter()
            .filter(|i| !self.states.contains_key(i))
            .collect()
    }

    /// Replays the run (the same workload, a fresh allocator of the same kind, the
    /// same kernel) up to the last peak whose state was not kept, and captures those
    /// states. The simulator is deterministic, so the replay passes through the very
    /// states of the run; the peak values are checked to be sure. Does nothing when
    /// every peak was kept.
    pub fn capture_peaks(
        &mut self,
        workload: &Workload,
        allocator: impl FnOnce() -> Result<Box<dyn Allocator>, String>,
        config: &RunConfig,
    ) -> Result<(), String> {
        let wanted = self.missing();
        let Some(&last) = wanted.iter().next_back() else {
            return Ok(());
        };
        let mut kernel = Kernel::try_new(config.kernel.clone()).map_err(|e| e.to_string())?;
        let mut alloc = allocator()?;
        let mut program = Program::new(workload.clone());
        let mut phase: Option<String> = None;
        while (program.position() as u64) <= last {
            let index = program.position() as u64;
            let op = program
                .next_op()
                .filter(|op| wanted.contains(&index) || matches!(op, Op::Phase { .. }))
                .cloned();
            let ptr = match program
                .step(&mut kernel, alloc.as_mut())
                .map_err(|e| e.to_string())?
            {
                Stepped::Ran { ptr, .. } => ptr,
                Stepped::FreeRefused { .. } => None,
                _ => break,
            };
            let Some(op) = op else { continue };
            if let Op::Phase { name } = &op {
                phase = Some(name.clone());
            }
            if wanted.contains(&index) {
                let step = Step {
                    index,
                    op: &op,
                    ptr,
                    allocator: alloc.as_ref(),
                    kernel: &kernel,
                    blocks: program.blocks(),
                };
                self.states
                    .insert(index, capture(&step, self.heap_start, phase.clone()));
            }
        }
        for (what, (value, index)) in [("footprint", self.peak_footprint), ("RSS", self.peak_rss)] {
            let got = self.states.get(&index).map(|s| match what {
                "footprint" => s.footprint,
                _ => s.rss,
            });
            if got != Some(value) {
                return Err(format!(
                    "report.html: replaying to the peak {what} at op {index} gave {got:?}, \
                     not {value}"
                ));
            }
        }
        Ok(())
    }

    /// The states of allocator `name`, ready for the page.
    pub fn finish(self, name: &str) -> Recorded {
        let total = self.last + 1;
        Recorded {
            allocator: name.to_string(),
            total_ops: total,
            peak_footprint: self.peak_footprint.1,
            peak_rss: self.peak_rss.1,
            states: self.states,
        }
    }
}

/// One allocator's recorded states.
pub struct Recorded {
    allocator: String,
    total_ops: u64,
    /// Op indices of the peaks.
    peak_footprint: u64,
    peak_rss: u64,
    /// States by op index.
    states: BTreeMap<u64, State>,
}

impl Recorded {
    /// Keeps every other state (and always the first, the last and the peaks).
    fn thin(&mut self) {
        let last = self.states.keys().next_back().copied();
        let keep: BTreeSet<u64> = self
            .states
            .keys()
            .enumerate()
            .filter(|&(k, &i)| {
                k % 2 == 0 || i == self.peak_footprint || i == self.peak_rss || Some(i) == last
            })
            .map(|(_, &i)| i)
            .collect();
        self.states.retain(|i, _| keep.contains(i));
    }

    fn merged(&self) -> (usize, usize) {
        let heap = self
            .states
            .values()
            .filter(|s| s.heap_merged_from > 0)
            .count();
        let maps = self
            .states
            .values()
            .filter(|s| s.maps_merged_from > 0)
            .count();
        (heap, maps)
    }
}

/// What the page's script reads for one allocator.
#[derive(Serialize)]
struct PageRun<'a> {
    allocator: &'a str,
    total_ops: u64,
    states: Vec<&'a State>,
    /// Positions in `states` of the peak states.
    peak_footprint: usize,
    peak_rss: usize,
    /// What was left out, in words.
    notes: Vec<String>,
}

/// What the page's script reads.
#[derive(Serialize)]
struct PageData<'a> {
    runs: Vec<PageRun<'a>>,
}

fn page_data(recorded: &[Recorded]) -> PageData<'_> {
    let runs = recorded
        .iter()
        .map(|r| {
            let keys: Vec<u64> = r.states.keys().copied().collect();
            let pos = |i: u64| keys.iter().position(|&k| k == i).unwrap_or(0);
            let (heap, maps) = r.merged();
            let mut notes = vec![format!(
                "{} of {} op states kept: evenly spaced, plus the first moments of peak \
                 footprint and peak RSS.",
                units::count(keys.len() as u64),
                units::count(r.total_ops)
            )];
            if heap > 0 {
                notes.push(format!(
                    "{heap} state(s) had more than {MAX_BLOCKS} heap blocks: shown merged \
                     into {MAX_BLOCKS} spans of the kind covering most of their bytes, without ids."
                ));
            }
            if maps > 0 {
                notes.push(format!(
                    "{maps} state(s) had more than {MAX_BLOCKS} mappings: neighbours shown \
                     merged, without ids."
                ));
            }
            PageRun {
                allocator: &r.allocator,
                total_ops: r.total_ops,
                states: r.states.values().collect(),
                peak_footprint: pos(r.peak_footprint),
                peak_rss: pos(r.peak_rss),
                notes,
            }
        })
        .collect();
    PageData { runs }
}

/// The JSON of the page's data, safe inside a `<script>` element (no `<` at all).
fn data_json(recorded: &[Recorded]) -> Result<String, String> {
    let json = serde_json::to_string(&page_data(recorded))
        .map_err(|e| format!("cannot encode the report's data: {e}"))?;
    Ok(json.replace('<', "\\u003c"))
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the page shows besides the states.
pub struct Page<'a> {
    /// The heading: workload, seed, ops.
    pub title: String,
    /// The setup line: allocators, cost model.
    pub setup: String,
    /// The comparison table: header and rows, as the terminal prints them.
    pub table: (Vec<&'static str>, Vec<Vec<String>>),
    /// Lines under the table (notes, column definitions).
    pub notes: Vec<String>,
    /// The charts: (file name, SVG).
    pub charts: &'a [(String, String)],
}

/// The page's script and style.
const SCRIPT: &str = include_str!("report/report.js");
const STYLE: &str = include_str!("report/report.css");

/// Builds report.html: the page with the states of every allocator, thinned until
/// their data fits [`DATA_BUDGET`].
pub fn html(page: &Page<'_>, mut recorded: Vec<Recorded>) -> Result<String, String> {
    let mut json = data_json(&recorded)?;
    let mut thinned = 0;
    while json.len() > DATA_BUDGET && recorded.iter().any(|r| r.states.len() > 3) {
        for r in &mut recorded {
            r.thin();
        }
        thinned += 1;
        json = data_json(&recorded)?;
    }
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Errors anywhere on the page are written into it, where a test (or a reader
    // opening the developer tools) finds them.
    h.push_str(
        "<script>(function(){var d=document.documentElement;\
         window.onerror=function(m,s,l){d.setAttribute('data-error',String(m)+' (line '+l+')');};\
         var e=console.error;console.error=function(){\
         d.setAttribute('data-error',Array.prototype.join.call(arguments,' '));\
         return e.apply(console,arguments);};}());</script>\n",
    );
    let _ = writeln!(h, "<title>{}</title>", escape(&page.title));
    let _ = writeln!(h, "<style>\n{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(h, "<h1>{}</h1>", escape(&page.title));
    let _ = writeln!(h, "<p class=\"setup\">{}</p>", escape(&page.setup));

    h.push_str("<h2>Summary</h2>\n<div class=\"scroll\"><table class=\"summary\">\n<tr>");
    for col in &page.table.0 {
        let _ = write!(h, "<th>{}</th>", escape(col));
    }
    h.push_str("</tr>\n");
    for row in &page.table.1 {
        h.push_str("<tr>");
        for cell in row {
            let _ = write!(h, "<td>{}</td>", escape(cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
    for note in page.notes.iter().filter(|n| !n.is_empty()) {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(note));
    }

    h.push_str(
        "<h2>The heap, op by op</h2>\n\
         <div id=\"viewer\">\n\
         <div class=\"controls\">\n\
         <span id=\"runs\"></span>\n\
         <button id=\"prev\" title=\"previous state (←)\">◀</button>\n\
         <input id=\"slider\" type=\"range\" min=\"0\" max=\"0\" value=\"0\" \
         aria-label=\"state\">\n\
         <button id=\"next\" title=\"next state (→)\">▶</button>\n\
         <button id=\"peak-footprint\">peak footprint</button>\n\
         <button id=\"peak-rss\">peak RSS</button>\n\
         </div>\n\
         <p class=\"hint\">Drag the slider or press ← and → (Shift: ten at a time, Home, \
         End). Hover a block for its id, kind, size and place. A link to \
         report.html#ALLOCATOR:K opens that allocator's K-th state.</p>\n\
         <p id=\"op\" class=\"op\"></p>\n\
         <div id=\"stats\" class=\"stats\"></div>\n\
         <h3>Heap map</h3>\n<div id=\"heap\"></div>\n<div id=\"legend\" class=\"legend\"></div>\n\
         <div class=\"columns\">\n\
         <div><h3>Free lists and bins</h3><pre id=\"free\"></pre></div>\n\
         <div><h3>VMAs</h3><div id=\"vmas\"></div></div>\n\
         </div>\n<div id=\"notes\" class=\"note\"></div>\n</div>\n",
    );

    h.push_str("<h2>Charts</h2>\n");
    if page.charts.is_empty() {
        h.push_str("<p class=\"note\">No charts: the run was made with --no-svg.</p>\n");
    }
    for (name, svg) in page.charts {
        let _ = writeln!(
            h,
            "<figure class=\"chart\">\n{svg}\n<figcaption>{}</figcaption>\n</figure>",
            escape(name)
        );
    }

    let _ = writeln!(
        h,
        "<h2>About this page</h2>\n<p class=\"note\">One file, nothing fetched: the data, \
         the script and the charts are all inside it. It keeps at most {MAX_STATES} states \
         per allocator (evenly spaced ops, plus the peaks), at most {MAX_BLOCKS} heap blocks \
         and {MAX_BLOCKS} mappings per state (more are merged), and at most {} of state data \
         in all{}; so it stays small however long the run.</p>",
        units::bytes(DATA_BUDGET as u64),
        if thinned > 0 {
            format!(
                " (this run's states were halved {thinned} time(s) to fit, so fewer than \
                 {MAX_STATES} remain)"
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        h,
        "<script type=\"application/json\" id=\"report-data\">{json}</script>"
    );
    let _ = writeln!(h, "<script>\n{SCRIPT}</script>\n</body>\n</html>");
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_the_dominant_kind_per_span_and_joins_neighbours() {
        // 1000 used bytes, a 24-byte free hole, 976 used bytes, then a 2000-byte top.
        let rows = vec![
            (0, 1000, 0, 1),
            (1000, 24, 1, -1),
            (1024, 976, 0, 2),
            (2000, 2000, 3, -1),
        ];
        let m = merge(&rows, 0, 4000, 4);
        assert_eq!(m, vec![(0, 2000, 0, -1), (2000, 2000, 3, -1)]);
        let fine = merge(&rows, 0, 4000, 1000);
        assert!(
            fine.iter().any(|r| r.2 == 1),
            "the hole shows at 4-byte spans"
        );
        assert!(fine.len() <= 1000);
    }

    #[test]
    fn text_is_escaped_and_cut() {
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
        assert_eq!(cut("abcdef", 3), "abc … (cut)");
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(prot_text(Prot::RW), "rw-");
        assert_eq!(prot_text(Prot::NONE), "---");
    }

    /// Runs `name` over `w` with a recorder; returns the recorder and the run's result.
    fn record(name: &str, w: &Workload) -> (Recorder, engine::RunResult) {
        let config = RunConfig::default();
        let mut rec = Recorder::for_ops(w.ops.len() as u64, config.kernel.heap_start);
        let a = lab::registry::build(name, &[]).unwrap();
        let r = engine::run_observed(w, a, &config, &mut |step| rec.observe(step)).unwrap();
        (rec, r)
    }

    #[test]
    fn a_peak_between_kept_states_is_captured_by_a_replay() {
        // On churn, mmap's footprint peaks a few ops after a captured earlier peak:
        // the recorder must replay to reach it.
        let w = workload::generate("churn", 1, None).unwrap();
        let (mut rec, r) = record("mmap", &w);
        let wanted = rec.missing();
        assert!(!wanted.is_empty(), "this run needs the replay");
        let build = || lab::registry::build("mmap", &[]).map_err(|e| e.to_string());
        rec.capture_peaks(&w, build, &RunConfig::default()).unwrap();
        let done = rec.finish("mmap");
        let at = |i: u64| &done.states[&i];
        assert_eq!(at(done.peak_footprint).footprint, r.summary.peak_footprint);
        assert_eq!(at(done.peak_rss).rss, r.summary.peak_rss);
        assert!(wanted.iter().all(|i| done.states.contains_key(i)));
    }

    #[test]
    fn peaks_caught_as_they_come_need_no_replay() {
        // glibc's footprint grows by a few sbrk calls: each new peak is captured.
        let w = workload::generate("churn", 1, None).unwrap();
        let (mut rec, r) = record("glibc", &w);
        assert!(rec.missing().is_empty());
        let never = || -> Result<Box<dyn Allocator>, String> { panic!("no replay needed") };
        rec.capture_peaks(&w, never, &RunConfig::default()).unwrap();
        let done = rec.finish("glibc");
        assert_eq!(
            done.states[&done.peak_footprint].footprint,
            r.summary.peak_footprint
        );
        assert!(done.states.len() <= MAX_STATES + 3, "{}", done.states.len());
    }

    #[test]
    fn free_summary_groups_sizes() {
        let b = |size, kind| Block {
            addr: 0,
            size,
            kind,
            mapped: false,
        };
        let s = free_summary(&[
            b(48, BlockKind::Free),
            b(48, BlockKind::Free),
            b(128, BlockKind::Free),
            b(32, BlockKind::Cached),
        ]);
        assert!(
            s.contains("free (in lists or bins): 3 block(s): 48 B × 2, 128 B"),
            "{s}"
        );
        assert!(s.contains("cached (tcache, fastbins, a mapping cache): 1 block(s): 32 B"));
        assert!(s.contains("top chunk: 0 block(s)\n"));
    }
}
