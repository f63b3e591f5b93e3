//! Drawing data on a panel: line series with markers, vertical rules, bars.
//!
//! Lines are reduced to what the screen can show before they are written: where many
//! samples fall on one pixel column, only the first, lowest, highest and last are kept,
//! so a spike is never lost and a long run does not bloat the SVG. Values beyond the
//! axis are drawn on its edge (the chart says so in a note).

use crate::canvas::{Chart, Page};
use crate::error::{OrBackend, PlotError};
use crate::style::Cue;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// A pixel point.
type Px = (i32, i32);

/// Maps data points to pixels, clamping y to the axis.
fn to_pixels(chart: &Chart<'_, '_>, points: &[(f64, f64)]) -> Vec<Px> {
    let y = chart.y_range();
    let x = chart.x_range();
    points
        .iter()
        .map(|&(px, py)| {
            let cx = px.clamp(x.start, x.end);
            let cy = py.clamp(y.start, y.end);
            chart.backend_coord(&(cx, cy))
        })
        .collect()
}

/// Keeps, for each run of points on the same pixel column, the first, the lowest, the
/// highest and the last, in their original order; drops exact repeats.
pub(crate) fn decimate(points: &[Px]) -> Vec<Px> {
    let mut out: Vec<Px> = Vec::with_capacity(points.len().min(4096));
    let mut i = 0;
    while i < points.len() {
        let col = points[i].0;
        let mut j = i;
        while j + 1 < points.len() && points[j + 1].0 == col {
            j += 1;
        }
        let run = &points[i..=j];
        // Screen y grows downwards: the lowest value has the largest y.
        let (mut lo, mut hi) = (0, 0);
        for (k, p) in run.iter().enumerate() {
            if p.1 > run[lo].1 {
                lo = k;
            }
            if p.1 < run[hi].1 {
                hi = k;
            }
        }
        let mut keep = vec![0, lo, hi, run.len() - 1];
        keep.sort_unstable();
        keep.dedup();
        for k in keep {
            if out.last() != Some(&run[k]) {
                out.push(run[k]);
            }
        }
        i = j + 1;
    }
    out
}

/// The length of a pixel path.
fn path_length(points: &[Px]) -> f64 {
    points
        .windows(2)
        .map(|w| f64::from(w[1].0 - w[0].0).hypot(f64::from(w[1].1 - w[0].1)))
        .sum()
}

/// Draws a line series. Points with a non-finite y break the line (a gap: the value is
/// undefined there). `slot` is `(index, count)` of the series among the panel's lines,
/// which staggers the markers so that overlapping lines still show each marker.
pub(crate) fn line(
    page: &Page<'_, '_>,
    chart: &Chart<'_, '_>,
    points: &[(f64, f64)],
    cue: Cue,
    slot: (usize, usize),
) -> Result<(), PlotError> {
    let name = page.name();
    let root = page.root();
    let style = ShapeStyle::from(&cue.colour).stroke_width(cue.width);
    let (x0, x1) = page.plot_x_span();
    let mut all: Vec<Px> = Vec::new();
    let mut singles: Vec<Px> = Vec::new();
    for segment in points
        .split(|p| !p.1.is_finite() || !p.0.is_finite())
        .filter(|s| !s.is_empty())
    {
        let px = decimate(&to_pixels(chart, segment));
        if px.len() == 1 {
            singles.push(px[0]);
        } else {
            // A dashed line over a dense, jagged series would become thousands of
            // tiny dashes: such a series is drawn solid (its marker still tells it).
            let dash = cue
                .dash
                .filter(|_| path_length(&px) <= 12.0 * f64::from(x1 - x0));
            match dash {
                None => root
                    .draw(&PathElement::new(px.clone(), style))
                    .or_backend(name)?,
                Some((on, off)) => root
                    .draw(&DashedPathElement::new(px.clone(), on, off, style))
                    .or_backend(name)?,
            }
        }
        all.extend(px);
    }
    for p in &singles {
        page.marker(*p, cue)?;
    }
    if all.len() <= 1 {
        return Ok(());
    }
    // Markers at evenly spaced columns, shifted per series.
    let width = f64::from(x1 - x0);
    let count = ((width / 110.0).floor() as usize).max(3);
    let spacing = width / count as f64;
    let (index, of) = slot;
    let shift = (index as f64 + 1.0) / (of as f64 + 1.0);
    all.sort_by_key(|p| p.0);
    for k in 0..count {
        let target = f64::from(x0) + (k as f64 + shift) * spacing;
        let at = all.partition_point(|p| f64::from(p.0) < target);
        let candidates = [at.checked_sub(1), Some(at)];
        let nearest = candidates
            .into_iter()
            .flatten()
            .filter_map(|i| all.get(i))
            .min_by(|a, b| {
                (f64::from(a.0) - target)
                    .abs()
                    .total_cmp(&(f64::from(b.0) - target).abs())
            });
        if let Some(p) = nearest.filter(|p| (f64::from(p.0) - target).abs() <= spacing / 2.0) {
            page.marker(*p, cue)?;
        }
    }
    Ok(())
}

/// Draws `cue`'s marker at every point (measurements, where each point matters).
pub(crate) fn points(
    page: &Page<'_, '_>,
    chart: &Chart<'_, '_>,
    points: &[(f64, f64)],
    cue: Cue,
) -> Result<(), PlotError> {
    let finite: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let mut last = None;
    for p in to_pixels(chart, &finite) {
        if last != Some(p) {
            page.marker(p, cue)?;
        }
        last = Some(p);
    }
    Ok(())
}

/// Draws a dashed vertical rule across the plot at data `x`.
pub(crate) fn vrule(
    page: &Page<'_, '_>,
    chart: &Chart<'_, '_>,
    x: f64,
    colour: RGBColor,
) -> Result<i32, PlotError> {
    let yr = chart.y_range();
    let (px, top) = chart.backend_coord(&(x, yr.end));
    let (_, bottom) = chart.backend_coord(&(x, yr.start));
    let style = ShapeStyle::from(&colour).stroke_width(1);
    page.root()
        .draw(&DashedPathElement::new(
            vec![(px, top), (px, bottom)],
            4,
            4,
            style,
        ))
        .or_backend(page.name())?;
    Ok(px)
}

/// Draws a short vertical tick at each data x on the lane centred at data y `lane`
/// (one tick per pixel column).
pub(crate) fn ticks(
    page: &Page<'_, '_>,
    chart: &Chart<'_, '_>,
    xs: &[f64],
    lane: f64,
    colour: RGBColor,
) -> Result<(), PlotError> {
    let style = ShapeStyle::from(&colour).stroke_width(2);
    let (_, top) = chart.backend_coord(&(0.0, lane + 0.35));
    let (_, bottom) = chart.backend_coord(&(0.0, lane - 0.35));
    let mut last = None;
    for &x in xs.iter().filter(|x| x.is_finite()) {
        let (px, _) = chart.backend_coord(&(x, lane));
        if last == Some(px) {
            continue;
        }
        last = Some(px);
        page.root()
            .draw(&PathElement::new(vec![(px, top), (px, bottom)], style))
            .or_backend(page.name())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_extremes_and_order() {
        let pts = vec![(0, 5), (0, 9), (0, 1), (0, 4), (1, 3), (2, 2), (2, 2)];
        assert_eq!(
            decimate(&pts),
            vec![(0, 5), (0, 9), (0, 1), (0, 4), (1, 3), (2, 2)]
        );
        assert!(decimate(&[]).is_empty());
        let many: Vec<Px> = (0..10_000).map(|i| (i / 100, i % 7)).collect();
        assert!(decimate(&many).len() <= 4 * 100);
    }
}
