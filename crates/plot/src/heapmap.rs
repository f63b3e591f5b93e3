//! The heap map: which addresses held what, over time.
//!
//! Time (ops) runs left to right, addresses bottom to top; every block of every
//! snapshot is painted in its kind's colour, so holes appear as free-coloured patches
//! that open when blocks are freed and close when they are reused or coalesced.
//!
//! The brk heap sits just above the program's data, the mappings near the top of the
//! address space, terabytes apart: one linear address axis would squash both to lines.
//! The map therefore has two panels, each with its own address axis (offsets from its
//! lowest address).
//!
//! Two ways to paint a panel, chosen by how much there is to draw:
//! - **Block by block**, when the panel's blocks, followed from snapshot to snapshot,
//!   make at most [`EXACT_MAX_PIECES`] rectangles: each block is its own rectangle with
//!   a thin white edge, so neighbouring used blocks stay apart, and when few blocks are
//!   live at once (at most [`LABEL_MAX_LIVE`]) each used block carries the program's id
//!   for it, where it is big enough to hold the number.
//! - **Rasterised**, for long runs: the map is cut into the plot's pixels first, each
//!   cell takes the kind that covers most of its bytes, and equal neighbouring cells
//!   merge into one rectangle, so the SVG stays small however long the run.
//!
//! A small program's heap is mostly the top chunk (glibc's first `sbrk` takes 132 KiB
//! for a few 32-byte requests): on an axis to the break, the holes the program makes
//! would be a pixel tall. When the top chunk (or the free space up to the break) takes
//! more than half the panel, the address axis zooms to the blocks below it, the top
//! chunk shows as the band above them, and a note gives the break's real height.

use crate::canvas::{Chart, Doc, Entry, Page, Panel, Swatch};
use crate::error::{OrBackend, PlotError};
use crate::format::{Axis, Unit};
use crate::style::{GREY, INK, PAPER, Style, okabe_ito, size, text_on, text_width};
use crate::title::ChartTitle;
use engine::HeapSnapshot;
use malloc::{Block, BlockKind};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::{BTreeMap, BTreeSet};

const CHART: &str = "heap map";

/// The most rectangles one rasterised panel may draw; past it, cells grow until it fits.
const MAX_RECTS: usize = 12_000;

/// A panel is drawn block by block (each block's life one rectangle) when it has at
/// most this many such rectangles; past it, it is rasterised.
pub(crate) const EXACT_MAX_PIECES: usize = 4_000;

/// Block ids are written on used blocks when at most this many of the panel's blocks
/// are live in any snapshot: more would be too small to read.
pub(crate) const LABEL_MAX_LIVE: usize = 64;

/// The smallest rectangle, in pixels, that gets a white edge (a thinner one would be
/// all edge).
const EDGE_MIN_PX: i32 = 5;

/// The height, in pixels, a block needs for its id to be written on it.
const LABEL_ROW_PX: f64 = 13.0;

/// What a cell of the map shows.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    Used,
    Free,
    Cached,
    Top,
    Meta,
    MappedUsed,
}

const CELLS: [Cell; 6] = [
    Cell::Used,
    Cell::Free,
    Cell::Cached,
    Cell::Top,
    Cell::Meta,
    Cell::MappedUsed,
];

impl Cell {
    fn of(block: &Block) -> Cell {
        match block.kind {
            BlockKind::Used if block.mapped => Cell::MappedUsed,
            BlockKind::Used => Cell::Used,
            BlockKind::Free => Cell::Free,
            BlockKind::Cached => Cell::Cached,
            BlockKind::Top => Cell::Top,
            BlockKind::Meta => Cell::Meta,
        }
    }

    fn look(self) -> (&'static str, RGBColor) {
        match self {
            Cell::Used => ("used (brk heap)", okabe_ito::BLUE),
            Cell::Free => ("free", okabe_ito::VERMILLION),
            Cell::Cached => ("cached (not coalesced)", okabe_ito::ORANGE),
            Cell::Top => ("top chunk", okabe_ito::SKY_BLUE),
            Cell::Meta => ("allocator metadata", GREY),
            Cell::MappedUsed => ("used (own mapping)", okabe_ito::BLUISH_GREEN),
        }
    }
}

/// A rectangle of cells: column start and end, row start and end (rows counted from
/// the bottom, ends exclusive), and what it shows.
type CellRect = (u32, u32, u32, u32, Cell);

/// Which snapshot each pixel column shows (`None` before the first or after the
/// last snapshot's interval).
fn columns(
    snapshots: &[&HeapSnapshot],
    x: &Axis,
    end: f64,
    width: u32,
    step: u32,
) -> Vec<Option<usize>> {
    (0..width.div_ceil(step))
        .map(|c| {
            let centre = (f64::from(c * step) + f64::from(step) / 2.0) / f64::from(width);
            let op = x.min + centre * (x.max - x.min);
            if op >= end {
                return None;
            }
            let i = snapshots.partition_point(|s| s.op as f64 <= op);
            i.checked_sub(1)
        })
        .collect()
}

/// The dominant cell of each row of one snapshot, for the blocks `keep` selects.
fn rows(
    snapshot: &HeapSnapshot,
    keep: fn(&Block) -> bool,
    base: u64,
    span: u64,
    n: u32,
) -> Vec<Option<Cell>> {
    let per_row = span as f64 / f64::from(n);
    let mut cover = vec![[0f64; CELLS.len()]; n as usize];
    for b in snapshot.blocks.iter().filter(|b| keep(b)) {
        let s = b.addr.saturating_sub(base) as f64;
        let e = (b.addr.saturating_add(b.size))
            .saturating_sub(base)
            .min(span) as f64;
        if e <= s {
            continue;
        }
        let r0 = (s / per_row).floor() as usize;
        let r1 = ((e / per_row).ceil() as usize).min(n as usize);
        let k = Cell::of(b) as usize;
        for (r, row) in cover.iter_mut().enumerate().take(r1).skip(r0) {
            let lo = r as f64 * per_row;
            let hi = lo + per_row;
            row[k] += e.min(hi) - s.max(lo);
        }
    }
    cover
        .iter()
        .map(|c| {
            let (k, v) =
                c.iter().enumerate().fold(
                    (0, 0.0),
                    |best, (k, &v)| if v > best.1 { (k, v) } else { best },
                );
            (v > 0.0).then_some(CELLS[k])
        })
        .collect()
}

/// Rasterises the snapshots' blocks selected by `keep` over `base..base + span` into a
/// `width` x `height` pixel plot, merging equal neighbours into rectangles; coarsens the
/// cells until at most [`MAX_RECTS`] rectangles remain.
fn rasterise(
    snapshots: &[&HeapSnapshot],
    keep: fn(&Block) -> bool,
    base: u64,
    span: u64,
    (x, end): (&Axis, f64),
    (width, height): (u32, u32),
) -> (Vec<CellRect>, (u32, u32)) {
    let mut cell = (1u32, 1u32);
    loop {
        let cols = columns(snapshots, x, end, width, cell.0);
        let n = height.div_ceil(cell.1).max(1);
        let mut cache: Vec<Option<Vec<Option<Cell>>>> = vec![None; snapshots.len()];
        let mut rects = Vec::new();
        // Runs open in the previous column, extended while the next column repeats them.
        let mut open: Vec<(u32, u32, u32, Cell)> = Vec::new();
        for (c, snap) in cols.iter().enumerate() {
            let c = c as u32;
            let mut runs: Vec<(u32, u32, Cell)> = Vec::new();
            if let Some(i) = *snap {
                let row_cells =
                    cache[i].get_or_insert_with(|| rows(snapshots[i], keep, base, span, n));
                let mut r = 0;
                while r < row_cells.len() {
                    let Some(kind) = row_cells[r] else {
                        r += 1;
                        continue;
                    };
                    let start = r;
                    while r < row_cells.len() && row_cells[r] == Some(kind) {
                        r += 1;
                    }
                    runs.push((start as u32, r as u32, kind));
                }
            }
            let mut next_open = Vec::with_capacity(runs.len());
            for run in runs {
                match open.iter().position(|o| (o.1, o.2, o.3) == run) {
                    Some(p) => next_open.push(open.swap_remove(p)),
                    None => next_open.push((c, run.0, run.1, run.2)),
                }
            }
            for o in open.drain(..) {
                rects.push((o.0, c, o.1, o.2, o.3));
            }
            open = next_open;
        }
        let last = cols.len() as u32;
        rects.extend(open.into_iter().map(|o| (o.0, last, o.1, o.2, o.3)));
        if rects.len() <= MAX_RECTS || (cell.0 >= width && cell.1 >= height) {
            rects.sort_by_key(|r| (r.0, r.2));
            return (rects, cell);
        }
        cell = (
            (cell.0 * 2).min(width.max(1)),
            (cell.1 * 2).min(height.max(1)),
        );
    }
}

/// One block over the snapshots in which it stayed the same: from op `from` to op
/// `to`, offsets `lo..hi` from the panel's base, its kind and (for a used block) the
/// program's id for it.
#[derive(Clone, Debug, PartialEq)]
struct Piece {
    from: f64,
    to: f64,
    lo: u64,
    hi: u64,
    cell: Cell,
    id: Option<u64>,
}

/// The program's id of the used block at `addr..addr + size`: the id whose pointer
/// lies inside it (`ids` in pointer order).
fn id_of(ids: &[(u64, u64)], addr: u64, size: u64) -> Option<u64> {
    let i = ids.partition_point(|&(p, _)| p < addr);
    ids.get(i)
        .filter(|&&(p, _)| p < addr.saturating_add(size))
        .map(|&(_, id)| id)
}

/// Follows every block that `keep` selects through the snapshots: a block that stays
/// at the same place with the same size, kind and id is one piece, from the snapshot
/// where it appears to the one where it is gone (or `end`). Offsets are clipped to
/// `span`.
fn pieces(
    snapshots: &[&HeapSnapshot],
    keep: fn(&Block) -> bool,
    base: u64,
    span: u64,
    end: f64,
) -> Vec<Piece> {
    type Key = (u64, u64, Cell, Option<u64>);
    let mut open: BTreeMap<Key, f64> = BTreeMap::new();
    let mut out = Vec::new();
    for s in snapshots {
        let t = s.op as f64;
        let now: BTreeSet<Key> = s
            .blocks
            .iter()
            .filter(|b| keep(b))
            .filter_map(|b| {
                let lo = b.addr.saturating_sub(base);
                let hi = b.addr.saturating_add(b.size).saturating_sub(base).min(span);
                let cell = Cell::of(b);
                let id = (b.kind == BlockKind::Used)
                    .then(|| id_of(&s.ids, b.addr, b.size))
                    .flatten();
                (hi > lo).then_some((lo, hi, cell, id))
            })
            .collect();
        let gone: Vec<Key> = open.keys().filter(|k| !now.contains(k)).copied().collect();
        for k in gone {
            if let Some(from) = open.remove(&k) {
                out.push(piece(k, from, t));
            }
        }
        for k in now {
            open.entry(k).or_insert(t);
        }
    }
    out.extend(open.into_iter().map(|(k, from)| piece(k, from, end)));
    out.sort_by(|a, b| a.from.total_cmp(&b.from).then(a.lo.cmp(&b.lo)));
    out
}

fn piece((lo, hi, cell, id): (u64, u64, Cell, Option<u64>), from: f64, to: f64) -> Piece {
    Piece {
        from,
        to,
        lo,
        hi,
        cell,
        id,
    }
}

/// How a panel is painted.
enum Paint {
    /// Cell rectangles of the rasterised map, and the pixels per cell (horizontally,
    /// vertically).
    Raster {
        rects: Vec<CellRect>,
        cell: (u32, u32),
    },
    /// One rectangle per block piece; `labels` when few enough blocks are live for ids.
    Exact { pieces: Vec<Piece>, labels: bool },
}

/// One panel's address range and what it paints.
struct Region {
    /// The panel's short name, for notes.
    name: &'static str,
    /// Height of the plot in pixels.
    height: u32,
    /// Lowest address shown.
    base: u64,
    /// Bytes shown above `base`.
    span: u64,
    /// The address axis (offsets from `base`).
    axis: Axis,
    /// The rectangles.
    paint: Paint,
}

/// The most blocks `keep` selects in any one snapshot, and of them used ones.
fn most_blocks(
    snapshots: &[&HeapSnapshot],
    keep: fn(&Block) -> bool,
    kind: Option<BlockKind>,
) -> usize {
    snapshots
        .iter()
        .map(|s| {
            s.blocks
                .iter()
                .filter(|b| keep(b) && kind.is_none_or(|k| b.kind == k))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Chooses how to paint the blocks `keep` selects over `base..base + span`: block by
/// block when there are few enough pieces, else rasterised.
fn region_paint(
    snapshots: &[&HeapSnapshot],
    keep: fn(&Block) -> bool,
    (base, span): (u64, u64),
    (x, end): (&Axis, f64),
    (width, height): (u32, u32),
) -> Paint {
    let exact = pieces(snapshots, keep, base, span, end);
    if exact.len() <= EXACT_MAX_PIECES {
        let labels = most_blocks(snapshots, keep, Some(BlockKind::Used)) <= LABEL_MAX_LIVE
            && exact.iter().any(|p| p.id.is_some());
        return Paint::Exact {
            pieces: exact,
            labels,
        };
    }
    let (rects, cell) = rasterise(snapshots, keep, base, span, (x, end), (width, height));
    Paint::Raster { rects, cell }
}

/// The height of a panel painted with block ids: tall enough that the smallest used
/// block can hold its number, up to twice the usual `height`.
fn labelled_height(paint: &Paint, span: u64, height: u32) -> u32 {
    let Paint::Exact {
        pieces,
        labels: true,
    } = paint
    else {
        return height;
    };
    let smallest = pieces
        .iter()
        .filter(|p| p.id.is_some())
        .map(|p| p.hi - p.lo)
        .min()
        .unwrap_or(span)
        .max(1);
    let needed = (LABEL_ROW_PX * span as f64 / smallest as f64).ceil() as u32;
    needed.clamp(height, 2 * height)
}

/// What painting a region wrote: ids written, and used blocks with an id too small
/// to hold it.
#[derive(Default)]
struct Painted {
    labelled: usize,
    unlabelled: usize,
}

/// Draws a region's rectangles inside the chart's plotting area.
fn paint_region(
    page: &Page<'_, '_>,
    chart: &Chart<'_, '_>,
    region: &Region,
) -> Result<Painted, PlotError> {
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let mut painted = Painted::default();
    match &region.paint {
        Paint::Raster { rects, cell } => {
            let (cw, ch) = (cell.0 as i32, cell.1 as i32);
            for &(c0, c1, r0, r1, kind) in rects {
                let x0 = xr.start + c0 as i32 * cw;
                let x1 = (xr.start + c1 as i32 * cw).min(xr.end);
                let y1 = yr.end - r0 as i32 * ch;
                let y0 = (yr.end - r1 as i32 * ch).max(yr.start);
                page.root()
                    .draw(&Rectangle::new(
                        [(x0, y0), (x1, y1)],
                        kind.look().1.filled(),
                    ))
                    .or_backend(page.name())?;
            }
        }
        Paint::Exact { pieces, labels } => {
            for p in pieces {
                let (x0, y1) = chart.backend_coord(&(p.from, p.lo as f64));
                let (x1, y0) = chart.backend_coord(&(p.to, p.hi as f64));
                // Every block shows: at least one pixel each way.
                let (x1, y0) = (x1.max(x0 + 1), y0.min(y1 - 1).max(yr.start));
                let colour = p.cell.look().1;
                page.root()
                    .draw(&Rectangle::new([(x0, y0), (x1, y1)], colour.filled()))
                    .or_backend(page.name())?;
                if x1 - x0 >= EDGE_MIN_PX && y1 - y0 >= EDGE_MIN_PX {
                    page.root()
                        .draw(&Rectangle::new(
                            [(x0, y0), (x1, y1)],
                            ShapeStyle::from(&PAPER).stroke_width(1),
                        ))
                        .or_backend(page.name())?;
                }
                let Some(id) = p.id.filter(|_| *labels) else {
                    continue;
                };
                let text = id.to_string();
                let fits = f64::from(x1 - x0) >= text_width(&text, size::NOTE, false) + 6.0
                    && f64::from(y1 - y0) >= LABEL_ROW_PX - 0.5;
                if !fits {
                    painted.unlabelled += 1;
                    continue;
                }
                painted.labelled += 1;
                let ink: &'static RGBColor = if text_on(colour) == INK { &INK } else { &PAPER };
                page.text(
                    &text,
                    ((x0 + x1) / 2, (y0 + y1) / 2),
                    size::NOTE,
                    false,
                    ink,
                    Pos::new(HPos::Center, VPos::Center),
                )?;
            }
        }
    }
    Ok(painted)
}

/// Where the brk heap's panel ends, as offsets from the heap start: `(shown, zoomed,
/// full)`. The panel shows all of it (`full`: to the highest break or block) unless
/// the blocks below the top chunk use less than half of that; then it shows a little
/// above them and `zoomed` is true.
fn heap_extent(snapshots: &[&HeapSnapshot], heap_base: u64) -> (u64, bool, u64) {
    let full = snapshots
        .iter()
        .flat_map(|s| {
            s.blocks
                .iter()
                .filter(|b| !b.mapped)
                .map(|b| b.addr.saturating_add(b.size))
                .chain([s.brk])
        })
        .max()
        .unwrap_or(heap_base)
        .saturating_sub(heap_base);
    // The blocks below each snapshot's top chunk (an epilogue header above it, as
    // textbook allocators keep one, does not count).
    let used = snapshots
        .iter()
        .flat_map(|s| {
            let top = s
                .blocks
                .iter()
                .filter(|b| !b.mapped && b.kind == BlockKind::Top)
                .map(|b| b.addr)
                .min()
                .unwrap_or(u64::MAX);
            s.blocks
                .iter()
                .filter(move |b| !b.mapped && b.kind != BlockKind::Top && b.addr < top)
        })
        .map(|b| b.addr.saturating_add(b.size).saturating_sub(heap_base))
        .max()
        .unwrap_or(0);
    if used > 0 && full > 2 * used {
        // A tenth more, so the top chunk's start shows as a band above the blocks.
        (used + used.div_ceil(10), true, full)
    } else {
        (full, false, full)
    }
}

/// Draws the heap map of one allocator's run from its snapshots (taken at the samples,
/// with `RunConfig::heap_maps`): a panel for the brk heap (address offsets from the
/// heap start, with the program break drawn as a line) and, when the allocator has
/// blocks in mappings, a panel above it for those (offsets from the lowest mapped
/// block).
///
/// Each snapshot is shown from its op until the next snapshot's. A panel with few
/// enough block changes is drawn block by block, used blocks labelled with the
/// program's ids (from [`HeapSnapshot::ids`]) when few are live; a busier one is
/// rasterised, and a note says how many bytes a cell row stands for, so a reader knows
/// which holes are too small to show. The brk panel zooms to the blocks below the top
/// chunk when those use less than half of it, and says so.
pub fn heap_map_chart(
    title: &ChartTitle,
    allocator: &str,
    snapshots: &[HeapSnapshot],
    style: &Style,
) -> Result<String, PlotError> {
    if snapshots.is_empty() {
        return Err(PlotError::NoData {
            chart: CHART,
            what: "no heap snapshots (run with heap maps on)",
        });
    }
    // Snapshots in op order (the engine gives them so; a caller's list may not be).
    let mut snapshots: Vec<&HeapSnapshot> = snapshots.iter().collect();
    snapshots.sort_by_key(|s| s.op);
    let first = &snapshots[0];
    let last = &snapshots[snapshots.len() - 1];
    // The last snapshot is shown for one typical sampling interval.
    let gap = if snapshots.len() > 1 {
        ((last.op - first.op) / (snapshots.len() as u64 - 1)).max(1)
    } else {
        1
    };
    let end = (last.op + gap) as f64;
    let x = Axis::linear_to(end, Unit::Count);

    let heap_base = snapshots.iter().map(|s| s.heap_start).min().unwrap_or(0);
    let (heap_shown, zoomed, heap_full) = heap_extent(&snapshots, heap_base);
    let mapped: Vec<&Block> = snapshots
        .iter()
        .flat_map(|s| &s.blocks)
        .filter(|b| b.mapped)
        .collect();
    let map_range = mapped.iter().map(|b| b.addr).min().map(|lo| {
        let hi = mapped
            .iter()
            .map(|b| b.addr.saturating_add(b.size))
            .max()
            .unwrap_or(lo);
        (lo, hi)
    });

    let present: Vec<Cell> = CELLS
        .into_iter()
        .filter(|c| {
            snapshots
                .iter()
                .flat_map(|s| &s.blocks)
                .any(|b| Cell::of(b) == *c)
        })
        .collect();

    let mut doc = Doc::new(CHART, style, format!("Heap map of {allocator}"));
    doc.line(title.setup_line(&[allocator]));
    doc.line(
        "Time runs left to right, addresses bottom to top. Free patches inside the heap are \
         holes: watch them open when blocks are freed and close when they are reused or merged.",
    );
    for c in &present {
        let (label, colour) = c.look();
        doc.legend(Entry::new(Swatch::Box(colour), label));
    }
    doc.legend(Entry::new(Swatch::Plain(INK), "program break"));

    let heap_axis = Axis::linear(
        heap_shown.max(if zoomed { 16 } else { 4096 }) as f64,
        Unit::Bytes,
    );
    let map_axis =
        map_range.map(|(lo, hi)| Axis::linear(hi.saturating_sub(lo).max(4096) as f64, Unit::Bytes));
    doc.fit_y_labels(map_axis.iter().chain([&heap_axis]));
    let (x0, x1) = doc.plot_x_span();
    let width = (x1 - x0).max(1) as u32;
    let heap_height = style.panel_height + style.panel_height / 2;
    let map_height = style.panel_height;

    let mut regions = Vec::new();
    if let (Some((lo, _)), Some(axis)) = (map_range, map_axis) {
        let span = axis.max as u64;
        let paint = region_paint(
            &snapshots,
            |b| b.mapped,
            (lo, span),
            (&x, end),
            (width, map_height),
        );
        let map_height = labelled_height(&paint, span, map_height);
        doc.panel(Panel {
            title: format!("Mappings — address − {lo:#x} (lowest mapped block)"),
            plot_height: map_height as i32,
            x_labels: true,
            ..Panel::default()
        });
        regions.push(Region {
            name: "mappings",
            height: map_height,
            base: lo,
            span,
            axis,
            paint,
        });
    }
    let span = heap_axis.max as u64;
    let paint = region_paint(
        &snapshots,
        |b| !b.mapped,
        (heap_base, span),
        (&x, end),
        (width, heap_height),
    );
    let heap_height = labelled_height(&paint, span, heap_height);
    let empty_heap = match &paint {
        Paint::Raster { rects, .. } => rects.is_empty(),
        Paint::Exact { pieces, .. } => pieces.is_empty(),
    } && heap_full == 0;
    doc.panel(Panel {
        title: if zoomed {
            format!("brk heap — address − {heap_base:#x} (heap start), zoomed to the blocks in use")
        } else {
            format!("brk heap — address − {heap_base:#x} (heap start)")
        },
        plot_height: heap_height as i32,
        x_labels: true,
        x_desc: Some("operations executed".to_string()),
        empty_message: empty_heap.then(|| "the brk heap was never used".to_string()),
        ..Panel::default()
    });
    regions.push(Region {
        name: "brk heap",
        height: heap_height,
        base: heap_base,
        span,
        axis: heap_axis,
        paint,
    });
    if zoomed {
        doc.note(format!(
            "brk heap: zoomed to offsets 0–{} where the blocks are; the top chunk (the free \
             end of the heap) goes on above, and the break reaches {} at most.",
            units::bytes_label(span as f64),
            units::bytes_label(heap_full as f64),
        ));
    }
    let mut labelled_regions = Vec::new();
    for r in &regions {
        match &r.paint {
            Paint::Raster { cell, .. } => {
                let row_bytes = r.span as f64 / f64::from(r.height) * f64::from(cell.1);
                doc.note(format!(
                    "{}: each cell is {}×{} px and spans {} of addresses; it shows the kind \
                     covering most of its bytes, so smaller holes may not show.",
                    r.name,
                    cell.0,
                    cell.1,
                    units::bytes_label(row_bytes),
                ));
            }
            Paint::Exact { labels, .. } => {
                doc.note(format!(
                    "{}: every block drawn as it is (a block under a pixel is drawn one pixel \
                     tall){}.",
                    r.name,
                    if *labels {
                        "; the numbers on used blocks are the program's block ids"
                    } else {
                        ""
                    }
                ));
                if *labels {
                    labelled_regions.push(r.name);
                }
            }
        }
    }
    // How many ids could not be written is known only once the pixels are: measure
    // first with a throwaway render, then say it in the real one.
    let draw = |doc: Doc<'_>| -> Result<(String, Vec<Painted>), PlotError> {
        let mut out = String::new();
        let mut painted = Vec::new();
        doc.render(&mut out, |page| {
            for (i, region) in regions.iter().enumerate() {
                let chart = page.chart(i, &x, &region.axis)?;
                painted.push(paint_region(page, &chart, region)?);
                if i + 1 == regions.len() {
                    draw_break(page, &chart, &snapshots, region, end)?;
                }
            }
            Ok(())
        })?;
        Ok((out, painted))
    };
    if labelled_regions.is_empty() {
        return draw(doc).map(|(svg, _)| svg);
    }
    let (_, painted) = draw(doc.clone())?;
    let small: usize = painted.iter().map(|p| p.unlabelled).sum();
    if small > 0 {
        let written: usize = painted.iter().map(|p| p.labelled).sum();
        doc.note(format!(
            "{small} used block piece(s) are too small to hold their id ({written} are labelled)."
        ));
    }
    draw(doc).map(|(svg, _)| svg)
}

/// Draws the program break over the brk heap's panel: a staircase holding each
/// snapshot's break until the next snapshot. Where the break lies above a zoomed
/// panel, the line is left out (a note gives its height).
fn draw_break(
    page: &Page<'_, '_>,
    chart: &Chart<'_, '_>,
    snapshots: &[&HeapSnapshot],
    region: &Region,
    end: f64,
) -> Result<(), PlotError> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (k, s) in snapshots.iter().enumerate() {
        let next = snapshots.get(k + 1).map_or(end, |n| n.op as f64);
        let off = s.brk.saturating_sub(region.base);
        if off > region.span {
            runs.push(Vec::new());
            continue;
        }
        if let Some(run) = runs.last_mut() {
            run.push((s.op as f64, off as f64));
            run.push((next, off as f64));
        }
    }
    for run in runs.iter().filter(|r| r.len() > 1) {
        let px: Vec<(i32, i32)> = run.iter().map(|p| chart.backend_coord(p)).collect();
        page.root()
            .draw(&PathElement::new(
                px,
                ShapeStyle::from(&INK).stroke_width(2),
            ))
            .or_backend(page.name())?;
    }
    Ok(())
}
