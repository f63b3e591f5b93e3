//! The heap map: which addresses held what, over time.
//!
//! Time (ops) runs left to right, addresses bottom to top; every block of every
//! snapshot is painted in its kind's colour, so holes appear as free-coloured patches
//! that open when blocks are freed and close when they are reused or coalesced.
//!
//! The brk heap sits just above the program's data, the mappings near the top of the
//! address space, terabytes apart: one linear address axis would squash both to lines.
//! The map therefore has two panels, each with its own address axis (offsets from its
//! lowest address). To keep the SVG small however long the run, the map is rasterised
//! to the plot's pixels first: each cell takes the kind that covers most of its bytes,
//! and equal neighbouring cells merge into one rectangle.

use crate::canvas::{Chart, Doc, Entry, Page, Panel, Swatch};
use crate::error::{OrBackend, PlotError};
use crate::format::{Axis, Unit};
use crate::style::{GREY, INK, Style, okabe_ito};
use crate::title::ChartTitle;
use engine::HeapSnapshot;
use malloc::{Block, BlockKind};
use plotters::prelude::*;

const CHART: &str = "heap map";

/// The most rectangles one panel may draw; past it, cells grow until it fits.
const MAX_RECTS: usize = 12_000;

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

/// One panel's address range and rasterised cells.
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
    /// Rectangles in cell units.
    rects: Vec<CellRect>,
    /// Pixels per cell, horizontally and vertically.
    cell: (u32, u32),
}

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

/// Draws a region's rectangles inside the chart's plotting area.
fn paint(page: &Page<'_, '_>, chart: &Chart<'_, '_>, region: &Region) -> Result<(), PlotError> {
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let (cw, ch) = (region.cell.0 as i32, region.cell.1 as i32);
    for &(c0, c1, r0, r1, kind) in &region.rects {
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
    Ok(())
}

/// Draws the heap map of one allocator's run from its snapshots (taken at the samples,
/// with `RunConfig::heap_maps`): a panel for the brk heap (address offsets from the
/// heap start, with the program break drawn as a line) and, when the allocator has
/// blocks in mappings, a panel above it for those (offsets from the lowest mapped
/// block).
///
/// Each snapshot is shown from its op until the next snapshot's. Each cell shows the
/// kind covering most of its bytes; a note says how many bytes a cell row stands for,
/// so a reader knows which holes are too small to show.
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
    let heap_top = snapshots
        .iter()
        .flat_map(|s| {
            s.blocks
                .iter()
                .filter(|b| !b.mapped)
                .map(|b| b.addr.saturating_add(b.size))
                .chain([s.brk])
        })
        .max()
        .unwrap_or(heap_base);
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

    let heap_span = heap_top.saturating_sub(heap_base).max(4096);
    let heap_axis = Axis::linear(heap_span as f64, Unit::Bytes);
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
        let (rects, cell) = rasterise(
            &snapshots,
            |b| b.mapped,
            lo,
            span,
            (&x, end),
            (width, map_height),
        );
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
            rects,
            cell,
        });
    }
    let span = heap_axis.max as u64;
    let (rects, cell) = rasterise(
        &snapshots,
        |b| !b.mapped,
        heap_base,
        span,
        (&x, end),
        (width, heap_height),
    );
    let empty_heap = rects.is_empty() && heap_top <= heap_base;
    doc.panel(Panel {
        title: format!("brk heap — address − {heap_base:#x} (heap start)"),
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
        rects,
        cell,
    });
    for r in &regions {
        let row_bytes = r.span as f64 / f64::from(r.height) * f64::from(r.cell.1);
        doc.note(format!(
            "{}: each cell is {}×{} px and spans {} of addresses; it shows the kind covering \
             most of its bytes, so smaller holes may not show.",
            r.name,
            r.cell.0,
            r.cell.1,
            units::bytes_label(row_bytes),
        ));
    }

    let mut out = String::new();
    doc.render(&mut out, |page| {
        for (i, region) in regions.iter().enumerate() {
            let chart = page.chart(i, &x, &region.axis)?;
            paint(page, &chart, region)?;
            if i + 1 == regions.len() {
                let mut brk = Vec::new();
                for (k, s) in snapshots.iter().enumerate() {
                    let next = snapshots.get(k + 1).map_or(end, |n| n.op as f64);
                    let off = s.brk.saturating_sub(region.base).min(region.span) as f64;
                    brk.push((s.op as f64, off));
                    brk.push((next, off));
                }
                let px: Vec<(i32, i32)> = brk.iter().map(|p| chart.backend_coord(p)).collect();
                page.root()
                    .draw(&PathElement::new(
                        px,
                        ShapeStyle::from(&INK).stroke_width(2),
                    ))
                    .or_backend(page.name())?;
            }
        }
        Ok(())
    })?;
    Ok(out)
}
