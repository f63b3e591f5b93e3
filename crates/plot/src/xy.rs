//! A generic chart of line, staircase and point series, for the experiments whose
//! figure is not one of the engine-result charts (page-table bytes against pages
//! touched, VMAs over ops, wasted bytes against request size...).
//!
//! The chart is described by the caller ([`crate::spec::XyChart`]): panels
//! with two axes, series, horizontal limits and vertical event markers. Everything is
//! drawn in the common style: series told apart by colour and marker shape, legends in
//! their own band, limits as dashed lines labelled at their right end.

use crate::canvas::{Doc, Entry, Panel, Swatch};
use crate::draw;
use crate::error::{OrBackend, PlotError};
use crate::format::{Axis, Unit};
use crate::spec::{self as ex, AxisSpec, Mark, XyChart};
use crate::style::{Cue, GREY, INK, MUTED, Style, size, text_width};
use crate::title::ChartTitle;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const CHART: &str = "xy";

/// Whether values on `spec` are placed in log space (only bytes, base 2, and
/// nanoseconds, base 10, have logarithmic axes; other units are drawn linear).
fn is_log(spec: &AxisSpec) -> bool {
    spec.log && matches!(spec.unit, Unit::Bytes | Unit::Nanos)
}

/// A value's position on an axis described by `spec`; `None` when a log axis cannot
/// place it (zero or negative).
fn place(spec: &AxisSpec, v: f64) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if !is_log(spec) {
        return Some(v);
    }
    if v <= 0.0 {
        return None;
    }
    Some(match spec.unit {
        Unit::Bytes => v.log2(),
        _ => v.log10(),
    })
}

/// The axis for `values` (in data units) described by `spec`. A linear x axis ends at
/// the data (`tight`); a linear y axis ends on a round tick.
fn axis(spec: &AxisSpec, values: &[f64], tight: bool) -> Axis {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    if is_log(spec) {
        let pos: Vec<f64> = finite.filter(|v| *v > 0.0).collect();
        let lo = pos.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = pos.iter().copied().fold(0.0, f64::max);
        let (lo, hi) = if pos.is_empty() { (1.0, 2.0) } else { (lo, hi) };
        return match spec.unit {
            Unit::Bytes => Axis::log2_bytes(lo, hi),
            _ => Axis::log10_nanos(lo, hi),
        };
    }
    let max = finite.fold(0.0, f64::max);
    if tight {
        Axis::linear_to(max, spec.unit)
    } else {
        Axis::linear(max, spec.unit)
    }
}

/// The points of a staircase through `points`: each value holds until the next x.
fn staircase(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push((p.0, points[i - 1].1));
        }
        out.push(*p);
    }
    out
}

/// Checks the chart has something to draw and that every value is a number.
fn check(chart: &XyChart) -> Result<(), PlotError> {
    if chart.panels.is_empty() {
        return Err(PlotError::NoData {
            chart: CHART,
            what: "no panels",
        });
    }
    for p in &chart.panels {
        for s in &p.series {
            if let Some((i, _)) = s
                .points
                .iter()
                .enumerate()
                .find(|(_, (x, y))| x.is_nan() || y.is_nan())
            {
                return Err(PlotError::NonFinite {
                    chart: CHART,
                    what: format!("point {i} of series {} in panel {:?}", s.name, p.title),
                });
            }
        }
    }
    Ok(())
}

/// Draws an [`XyChart`]: one panel per [`ex::XyPanel`], each series in the colour
/// and marker of its index (lines and staircases with markers spaced along them,
/// point series with a marker at every point), horizontal limits as labelled dashed
/// lines, event markers as dashed rules labelled above the plot.
///
/// When every panel has the same series names, one legend serves the whole chart;
/// otherwise each panel has its own. Points a logarithmic axis cannot show (zero or
/// negative values) are left out and a note counts them.
pub fn xy_chart(title: &ChartTitle, chart: &XyChart, style: &Style) -> Result<String, PlotError> {
    check(chart)?;
    let names = |p: &ex::XyPanel| p.series.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    let shared = chart
        .panels
        .windows(2)
        .all(|w| names(&w[0]) == names(&w[1]));
    let cue = |i: usize| Cue::nth(i);

    let mut doc = Doc::new(CHART, style, chart.title.clone());
    doc.line(title.setup_line(&[]));
    for l in &chart.lines {
        doc.line(l.clone());
    }
    let legend_of = |p: &ex::XyPanel| -> Vec<Entry> {
        let mut v: Vec<Entry> = p
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| Entry::new(Swatch::Line(cue(i)), s.name.clone()))
            .collect();
        if !p.markers.is_empty() {
            v.push(Entry::new(Swatch::Rule(GREY), "event"));
        }
        v
    };
    if shared {
        for e in legend_of(&chart.panels[0]) {
            doc.legend(e);
        }
    }

    // Axes, in placed (possibly log) units, and the points that could be placed.
    let mut axes = Vec::new();
    let mut dropped = 0usize;
    let mut placed: Vec<Vec<Vec<(f64, f64)>>> = Vec::new();
    for p in &chart.panels {
        let xs: Vec<f64> = p
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|q| q.0))
            .chain(p.markers.iter().map(|m| m.x))
            .collect();
        // A limit gets some room above it, so its line and label do not sit on the
        // plot's top edge.
        let ys: Vec<f64> = p
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|q| q.1))
            .chain(p.levels.iter().map(|l| l.y * 1.1))
            .collect();
        let x = axis(&p.x, &xs, true);
        let y = axis(&p.y, &ys, false);
        let mut panel_points = Vec::new();
        for s in &p.series {
            let pts = match s.mark {
                Mark::Step => staircase(&s.points),
                _ => s.points.clone(),
            };
            let mut kept = Vec::with_capacity(pts.len());
            for (px, py) in pts {
                match (place(&p.x, px), place(&p.y, py)) {
                    (Some(a), Some(b)) => kept.push((a, b)),
                    _ => dropped += 1,
                }
            }
            panel_points.push(kept);
        }
        placed.push(panel_points);
        axes.push((x, y));
    }
    doc.fit_y_labels(axes.iter().map(|(_, y)| y));

    for (i, p) in chart.panels.iter().enumerate() {
        let empty = p.series.iter().all(|s| s.points.is_empty());
        doc.panel(Panel {
            title: p.title.clone(),
            legend: if shared { Vec::new() } else { legend_of(p) },
            band: if p.markers.is_empty() { 0 } else { 34 },
            plot_height: style.panel_height as i32,
            x_labels: true,
            x_desc: Some(format!("{}   (y: {})", p.x.label, p.y.label)),
            empty_message: empty.then(|| "no data".to_string()),
            gap_after: (i + 1 < chart.panels.len()).then_some(20),
        });
    }
    if dropped > 0 {
        doc.note(format!(
            "{dropped} point(s) with a value of zero are not shown (a log axis has no zero)."
        ));
    }
    for n in &chart.notes {
        doc.note(n.clone());
    }

    let mut out = String::new();
    doc.render(&mut out, |page| {
        for (i, p) in chart.panels.iter().enumerate() {
            let (x, y) = &axes[i];
            let c = page.chart(i, x, y)?;
            // Event markers first, under the data, labelled in the band above.
            let (band_x0, band_y, band_x1, _) = page.band(i);
            let mut row_end = [i32::MIN; 2];
            for m in &p.markers {
                let Some(mx) = place(&p.x, m.x) else { continue };
                let px = draw::vrule(page, &c, mx, GREY)?;
                let w = text_width(&m.label, size::LABEL, false).ceil() as i32;
                let centre = px.clamp(band_x0 + w / 2, (band_x1 - w / 2).max(band_x0 + w / 2));
                if let Some(row) = (0..2).find(|&r| centre - w / 2 > row_end[r] + 6) {
                    row_end[row] = centre + w / 2;
                    page.text(
                        &m.label,
                        (centre, band_y + 2 + row as i32 * 16),
                        size::LABEL,
                        false,
                        &MUTED,
                        Pos::new(HPos::Center, VPos::Top),
                    )?;
                }
            }
            for l in &p.levels {
                let Some(ly) = place(&p.y, l.y) else { continue };
                let (x0, yy) = c.backend_coord(&(x.min, ly));
                let (x1, _) = c.backend_coord(&(x.max, ly));
                page.root()
                    .draw(&DashedPathElement::new(
                        vec![(x0, yy), (x1, yy)],
                        6,
                        4,
                        ShapeStyle::from(&INK).stroke_width(1),
                    ))
                    .or_backend(CHART)?;
                page.text(
                    &l.label,
                    (x1 - 4, yy - 3),
                    size::LABEL,
                    false,
                    &INK,
                    Pos::new(HPos::Right, VPos::Bottom),
                )?;
            }
            let n = p.series.len();
            for (k, (s, pts)) in p.series.iter().zip(&placed[i]).enumerate() {
                match s.mark {
                    Mark::Points => draw::points(page, &c, pts, cue(k))?,
                    Mark::Line | Mark::Step => draw::line(page, &c, pts, cue(k), (k, n))?,
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
    use crate::spec::{Level, Marker, XyPanel, XySeries};

    fn chart(series: Vec<XySeries>, log: bool) -> XyChart {
        XyChart {
            title: "t".to_string(),
            lines: vec!["what".to_string()],
            panels: vec![XyPanel {
                title: "panel".to_string(),
                x: if log {
                    AxisSpec::log("size", Unit::Bytes)
                } else {
                    AxisSpec::linear("ops", Unit::Count)
                },
                y: AxisSpec::linear("bytes", Unit::Bytes),
                series,
                levels: vec![Level {
                    y: 5000.0,
                    label: "limit".to_string(),
                }],
                markers: vec![Marker {
                    x: 4.0,
                    label: "event".to_string(),
                }],
            }],
            notes: Vec::new(),
        }
    }

    #[test]
    fn draws_lines_points_limits_and_markers_deterministically() {
        let c = chart(
            vec![
                XySeries::new("a", Mark::Line, vec![(1.0, 10.0), (8.0, 4000.0)]),
                XySeries::new("b", Mark::Step, vec![(1.0, 100.0), (5.0, 200.0)]),
                XySeries::new("c", Mark::Points, vec![(2.0, 300.0), (3.0, 400.0)]),
            ],
            false,
        );
        let t = ChartTitle::new("w");
        let a = xy_chart(&t, &c, &Style::default()).unwrap();
        let b = xy_chart(&t, &c, &Style::default()).unwrap();
        assert_eq!(a, b);
        assert!(a.starts_with("<svg"));
        assert!(a.contains("\nlimit\n"), "the limit is labelled");
        assert!(a.contains("\nevent\n"), "the marker is labelled");
    }

    #[test]
    fn a_log_axis_drops_zeros_and_says_so() {
        let c = chart(
            vec![XySeries::new(
                "a",
                Mark::Points,
                vec![(0.0, 1.0), (16.0, 8.0), (4096.0, 0.0)],
            )],
            true,
        );
        let svg = xy_chart(&ChartTitle::new("w"), &c, &Style::default()).unwrap();
        assert!(svg.contains("1 point(s) with a value of zero"), "{svg}");
    }

    #[test]
    fn nan_is_refused_and_empty_charts_too() {
        let c = chart(
            vec![XySeries::new("a", Mark::Line, vec![(f64::NAN, 1.0)])],
            false,
        );
        assert!(matches!(
            xy_chart(&ChartTitle::new("w"), &c, &Style::default()),
            Err(PlotError::NonFinite { .. })
        ));
        let mut c = chart(Vec::new(), false);
        c.panels.clear();
        assert!(matches!(
            xy_chart(&ChartTitle::new("w"), &c, &Style::default()),
            Err(PlotError::NoData { .. })
        ));
    }

    #[test]
    fn staircases_hold_each_value() {
        assert_eq!(
            staircase(&[(0.0, 1.0), (2.0, 3.0)]),
            vec![(0.0, 1.0), (2.0, 1.0), (2.0, 3.0)]
        );
    }
}
