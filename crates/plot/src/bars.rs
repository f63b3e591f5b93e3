//! A generic chart of horizontal bars, one panel per measure, for comparisons that are
//! not a cost breakdown (footprint per fit policy, frag_max, memory returned by
//! mechanism).
//!
//! Bars may be stacked: each panel names its segments, and each bar gives one value
//! per segment. A single-segment panel draws plain bars, all in one colour, since the
//! category is written beside each bar.

use crate::canvas::{Doc, Entry, Panel, Swatch};
use crate::error::{OrBackend, PlotError};
use crate::format::Axis;
use crate::spec::{BarChart, BarPanel};
use crate::style::{INK, LINE_COLOURS, Style, size, text_on, text_width};
use crate::title::ChartTitle;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const CHART: &str = "bars";

/// Height of one bar's row.
const ROW: i32 = 30;

/// Segment `i`'s colour.
fn colour(i: usize) -> RGBColor {
    LINE_COLOURS[i % LINE_COLOURS.len()]
}

/// An axis from 0 that leaves room after the longest bar for the longest end note.
fn bar_axis(p: &BarPanel, plot_width: f64) -> Axis {
    let longest = p
        .bars
        .iter()
        .map(|b| b.segments.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let note = p
        .bars
        .iter()
        .map(|b| text_width(&b.note, size::NOTE, false))
        .fold(0.0, f64::max)
        + 12.0;
    let room = (plot_width - note).max(plot_width / 3.0);
    Axis::linear(longest * plot_width / room, p.unit)
}

fn check(chart: &BarChart) -> Result<(), PlotError> {
    if chart.panels.is_empty() || chart.panels.iter().all(|p| p.bars.is_empty()) {
        return Err(PlotError::NoData {
            chart: CHART,
            what: "no bars",
        });
    }
    for p in &chart.panels {
        for b in &p.bars {
            if let Some(v) = b.segments.iter().find(|v| !v.is_finite() || **v < 0.0) {
                return Err(PlotError::NonFinite {
                    chart: CHART,
                    what: format!("bar {} of panel {:?} ({v})", b.label, p.title),
                });
            }
        }
    }
    Ok(())
}

/// Draws a [`BarChart`]: per panel, one horizontal bar per category (top to bottom in
/// the given order), its segments stacked left to right and named inside where they
/// fit, its note written after its end.
pub fn bar_chart(title: &ChartTitle, chart: &BarChart, style: &Style) -> Result<String, PlotError> {
    check(chart)?;
    let mut doc = Doc::new(CHART, style, chart.title.clone());
    doc.line(title.setup_line(&[]));
    for l in &chart.lines {
        doc.line(l.clone());
    }
    let ys: Vec<Axis> = chart
        .panels
        .iter()
        .map(|p| Axis::categories(&p.bars.iter().map(|b| b.label.clone()).collect::<Vec<_>>()))
        .collect();
    doc.fit_y_labels(&ys);
    let (x0, x1) = doc.plot_x_span();
    let plot_width = f64::from(x1 - x0);
    let xs: Vec<Axis> = chart
        .panels
        .iter()
        .map(|p| bar_axis(p, plot_width))
        .collect();
    for p in &chart.panels {
        let stacked = p.segments.len() > 1;
        doc.panel(Panel {
            title: p.title.clone(),
            legend: if stacked {
                p.segments
                    .iter()
                    .enumerate()
                    .map(|(i, s)| Entry::new(Swatch::Box(colour(i)), s.clone()))
                    .collect()
            } else {
                Vec::new()
            },
            plot_height: ROW * p.bars.len().max(1) as i32,
            x_labels: true,
            x_desc: Some(p.axis.clone()),
            ..Panel::default()
        });
    }
    for n in &chart.notes {
        doc.note(n.clone());
    }

    let mut out = String::new();
    doc.render(&mut out, |page| {
        for (i, p) in chart.panels.iter().enumerate() {
            let c = page.chart(i, &xs[i], &ys[i])?;
            let stacked = p.segments.len() > 1;
            for (j, bar) in p.bars.iter().enumerate() {
                let cy = ys[i].category(j);
                let mut start = 0.0;
                for (k, &value) in bar.segments.iter().enumerate() {
                    if value <= 0.0 {
                        continue;
                    }
                    let end = start + value;
                    let (bx0, by0) = c.backend_coord(&(start, cy + 0.32));
                    let (bx1, by1) = c.backend_coord(&(end, cy - 0.32));
                    let fill = colour(if stacked { k } else { 0 });
                    let rect = [(bx0, by0), (bx1.max(bx0 + 1), by1)];
                    page.root()
                        .draw(&Rectangle::new(rect, fill.filled()))
                        .or_backend(CHART)?;
                    page.root()
                        .draw(&Rectangle::new(
                            rect,
                            ShapeStyle::from(&WHITE).stroke_width(1),
                        ))
                        .or_backend(CHART)?;
                    if let Some(name) = p.segments.get(k).filter(|_| stacked)
                        && f64::from(bx1 - bx0) > text_width(name, size::NOTE, false) + 8.0
                    {
                        let ink: &'static RGBColor =
                            if text_on(fill) == INK { &INK } else { &WHITE };
                        page.text(
                            name,
                            ((bx0 + bx1) / 2, (by0 + by1) / 2),
                            size::NOTE,
                            false,
                            ink,
                            Pos::new(HPos::Center, VPos::Center),
                        )?;
                    }
                    start = end;
                }
                let (xe, ye) = c.backend_coord(&(start, cy));
                page.text(
                    &bar.note,
                    (xe + 6, ye),
                    size::NOTE,
                    false,
                    &INK,
                    Pos::new(HPos::Left, VPos::Center),
                )?;
            }
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Bar, Unit};

    fn chart(segments: Vec<String>, values: Vec<f64>) -> BarChart {
        BarChart {
            title: "bars".to_string(),
            lines: Vec::new(),
            panels: vec![BarPanel {
                title: "footprint".to_string(),
                unit: Unit::Bytes,
                axis: "bytes".to_string(),
                segments,
                bars: vec![
                    Bar {
                        label: "first-fit".to_string(),
                        segments: values.clone(),
                        note: "note one".to_string(),
                    },
                    Bar {
                        label: "best-fit".to_string(),
                        segments: values,
                        note: "note two".to_string(),
                    },
                ],
            }],
            notes: vec!["a note".to_string()],
        }
    }

    #[test]
    fn draws_plain_and_stacked_bars_with_their_notes() {
        let t = ChartTitle::new("swiss-cheese");
        let plain = bar_chart(
            &t,
            &chart(vec!["x".into()], vec![4096.0]),
            &Style::default(),
        )
        .unwrap();
        assert!(plain.contains("\nnote one\n") && plain.contains("\nfirst-fit\n"));
        let stacked = bar_chart(
            &t,
            &chart(
                vec!["brk".into(), "munmap".into()],
                vec![300_000.0, 500_000.0],
            ),
            &Style::default(),
        )
        .unwrap();
        assert!(
            stacked.contains("\nmunmap\n"),
            "segment names in the legend"
        );
        assert_eq!(
            stacked,
            bar_chart(
                &t,
                &chart(
                    vec!["brk".into(), "munmap".into()],
                    vec![300_000.0, 500_000.0]
                ),
                &Style::default()
            )
            .unwrap()
        );
    }

    #[test]
    fn negative_values_and_empty_charts_are_refused() {
        let t = ChartTitle::new("w");
        assert!(matches!(
            bar_chart(&t, &chart(vec!["x".into()], vec![-1.0]), &Style::default()),
            Err(PlotError::NonFinite { .. })
        ));
        let mut c = chart(vec!["x".into()], vec![1.0]);
        c.panels[0].bars.clear();
        assert!(matches!(
            bar_chart(&t, &c, &Style::default()),
            Err(PlotError::NoData { .. })
        ));
    }
}
