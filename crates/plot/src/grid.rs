//! A table drawn as a figure: one row per experiment, a column describing it, then one
//! coloured cell per condition saying what happened (the SIGSEGV experiments:
//! simulated against real).
//!
//! Colour is a second cue only: every cell also says its outcome in words.

use crate::canvas::{Doc, Entry, Panel, Swatch};
use crate::error::{OrBackend, PlotError};
use crate::format::Axis;
use crate::spec::{GridChart, Tone};
use crate::style::{self, GRID, INK, MUTED, PAPER, Style, okabe_ito, size, text_on};
use crate::title::ChartTitle;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const CHART: &str = "grid";

/// Height of a row of one-line cells.
const ROW: i32 = 26;
/// Height of a row when some cell or description needs two lines.
const ROW_TWO_LINES: i32 = 40;
/// Distance between the two lines of a cell.
const LINE: i32 = 14;
/// Width of the description column relative to one outcome column.
const DETAIL_WEIGHT: f64 = 2.2;

/// A tone's fill colour.
fn fill(t: Tone) -> RGBColor {
    match t {
        Tone::Fault => okabe_ito::VERMILLION,
        Tone::Fine => okabe_ito::BLUISH_GREEN,
        Tone::Other => okabe_ito::ORANGE,
        Tone::Missing => RGBColor(0xEE, 0xEE, 0xEE),
    }
}

fn check(chart: &GridChart) -> Result<(), PlotError> {
    if chart.rows.is_empty() || chart.columns.is_empty() {
        return Err(PlotError::NoData {
            chart: CHART,
            what: "no rows or no columns",
        });
    }
    Ok(())
}

/// Draws a [`GridChart`]: row labels on the left, then each row's description, then
/// one cell per column, filled by its tone and labelled with its text. Column headings
/// sit above the grid; the legend says what each colour means. A text too long for
/// its cell takes two lines (every row then gets the height of two).
pub fn grid_chart(
    title: &ChartTitle,
    chart: &GridChart,
    style: &Style,
) -> Result<String, PlotError> {
    check(chart)?;
    let mut doc = Doc::new(CHART, style, chart.title.clone());
    doc.line(title.setup_line(&[]));
    for l in &chart.lines {
        doc.line(l.clone());
    }
    for (tone, label) in &chart.legend {
        doc.legend(Entry::new(Swatch::Box(fill(*tone)), label.clone()));
    }
    let labels: Vec<String> = chart.rows.iter().map(|r| r.label.clone()).collect();
    let y = Axis::categories(&labels);
    doc.fit_y_labels([&y]);
    let cols = chart.columns.len() as f64;
    // Column units: the description, then one unit per outcome column.
    let x = Axis {
        min: 0.0,
        max: DETAIL_WEIGHT + cols,
        ticks: Vec::new(),
    };
    // A cell or description too long for one line takes two (more is cut short).
    let (px0, px1) = doc.plot_x_span();
    let unit_px = f64::from(px1 - px0) / (DETAIL_WEIGHT + cols);
    let cell_room = unit_px - 12.0;
    let detail_room = DETAIL_WEIGHT * unit_px - 12.0;
    let lines = |text: &str, room: f64| -> Vec<String> {
        let mut l = style::wrap(text, size::NOTE, false, room);
        if l.len() > 2 {
            let rest = l[1..].join(" ");
            l = vec![l[0].clone(), style::shorten(&rest, size::NOTE, room)];
        }
        l
    };
    let row_lines: Vec<(Vec<String>, Vec<Vec<String>>)> = chart
        .rows
        .iter()
        .map(|r| {
            (
                lines(&r.detail, detail_room),
                r.cells
                    .iter()
                    .take(chart.columns.len())
                    .map(|c| lines(&c.text, cell_room))
                    .collect(),
            )
        })
        .collect();
    let two = row_lines
        .iter()
        .any(|(d, cells)| d.len() > 1 || cells.iter().any(|c| c.len() > 1));
    let row_px = if two { ROW_TWO_LINES } else { ROW };
    doc.panel(Panel {
        title: String::new(),
        band: 20,
        plot_height: row_px * chart.rows.len() as i32,
        x_labels: false,
        ..Panel::default()
    });
    for n in &chart.notes {
        doc.note(n.clone());
    }

    let mut out = String::new();
    doc.render(&mut out, |page| {
        let c = page.chart(0, &x, &y)?;
        let (_, band_y, _, band_bottom) = page.band(0);
        let col_px = |u: f64| c.backend_coord(&(u, y.min)).0;
        page.text(
            "what the program does",
            (col_px(0.0) + 6, band_bottom - 2),
            size::LABEL,
            true,
            &INK,
            Pos::new(HPos::Left, VPos::Bottom),
        )?;
        for (k, name) in chart.columns.iter().enumerate() {
            let centre =
                (col_px(DETAIL_WEIGHT + k as f64) + col_px(DETAIL_WEIGHT + k as f64 + 1.0)) / 2;
            page.text(
                name,
                (centre, band_y + 18),
                size::LABEL,
                true,
                &INK,
                Pos::new(HPos::Center, VPos::Bottom),
            )?;
        }
        for (i, row) in chart.rows.iter().enumerate() {
            let cy = y.category(i);
            let (dx0, ry0) = c.backend_coord(&(0.0, cy + 0.5));
            let (dx1, ry1) = c.backend_coord(&(DETAIL_WEIGHT, cy - 0.5));
            page.root()
                .draw(&Rectangle::new([(dx0, ry0), (dx1, ry1)], PAPER.filled()))
                .or_backend(CHART)?;
            page.root()
                .draw(&PathElement::new(
                    vec![(dx0, ry1), (col_px(x.max), ry1)],
                    ShapeStyle::from(&GRID).stroke_width(1),
                ))
                .or_backend(CHART)?;
            let (detail, cell_lines) = &row_lines[i];
            let mid = (ry0 + ry1) / 2;
            let line_y = |n: usize, j: usize| mid + (2 * j as i32 + 1 - n as i32) * LINE / 2;
            for (j, l) in detail.iter().enumerate() {
                page.text(
                    l,
                    (dx0 + 6, line_y(detail.len(), j)),
                    size::NOTE,
                    false,
                    &MUTED,
                    Pos::new(HPos::Left, VPos::Center),
                )?;
            }
            for (k, cell) in row.cells.iter().enumerate().take(chart.columns.len()) {
                let u = DETAIL_WEIGHT + k as f64;
                let (x0, y0) = c.backend_coord(&(u, cy + 0.44));
                let (x1, y1) = c.backend_coord(&(u + 1.0, cy - 0.44));
                let f = fill(cell.tone);
                page.root()
                    .draw(&Rectangle::new([(x0 + 2, y0), (x1 - 2, y1)], f.filled()))
                    .or_backend(CHART)?;
                let ink: &'static RGBColor = if text_on(f) == INK { &INK } else { &WHITE };
                let text = &cell_lines[k];
                for (j, l) in text.iter().enumerate() {
                    page.text(
                        l,
                        ((x0 + x1) / 2, line_y(text.len(), j)),
                        size::NOTE,
                        false,
                        ink,
                        Pos::new(HPos::Center, VPos::Center),
                    )?;
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Cell, GridRow};

    fn grid() -> GridChart {
        GridChart {
            title: "segv".to_string(),
            lines: Vec::new(),
            columns: vec!["simulated".to_string(), "real".to_string()],
            rows: vec![GridRow {
                label: "past-end".to_string(),
                detail: "write past the end".to_string(),
                cells: vec![
                    Cell {
                        text: "SIGSEGV (SEGV_MAPERR)".to_string(),
                        tone: Tone::Fault,
                    },
                    Cell {
                        text: "no fault".to_string(),
                        tone: Tone::Fine,
                    },
                ],
            }],
            legend: vec![(Tone::Fault, "SIGSEGV".to_string())],
            notes: Vec::new(),
        }
    }

    #[test]
    fn cells_say_their_outcome_in_words() {
        let svg = grid_chart(&ChartTitle::new("w"), &grid(), &Style::default()).unwrap();
        // Too long for one line at the default width: two lines, nothing cut.
        assert!(
            svg.contains("\nSIGSEGV\n") && svg.contains("\n(SEGV_MAPERR)\n"),
            "{svg}"
        );
        assert!(svg.contains("\npast-end\n"));
        assert!(svg.contains("\nsimulated\n"));
        assert_eq!(
            svg,
            grid_chart(&ChartTitle::new("w"), &grid(), &Style::default()).unwrap()
        );
    }

    #[test]
    fn an_empty_grid_is_refused() {
        let mut g = grid();
        g.rows.clear();
        assert!(matches!(
            grid_chart(&ChartTitle::new("w"), &g, &Style::default()),
            Err(PlotError::NoData { .. })
        ));
    }
}
