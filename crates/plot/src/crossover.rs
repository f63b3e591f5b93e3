//! Cost per allocation against block size, malloc+free against mmap+munmap, log–log,
//! with the sizes where the cheaper way changes.

use crate::canvas::{Doc, Entry, Panel, Swatch};
use crate::draw;
use crate::error::PlotError;
use crate::format::Axis;
use crate::style::{Cue, GREY, INK, MUTED, Marker, Style, okabe_ito, size, text_width};
use crate::title::ChartTitle;
use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const CHART: &str = "crossover";

/// One point of a cost curve: block size in bytes, nanoseconds of one malloc+free pair,
/// nanoseconds of one mmap+munmap pair.
pub type CostPoint = (u64, f64, f64);

/// Checks the points are finite; returns those that can sit on log axes (size and both
/// costs above zero), sorted by size, and how many were dropped.
fn usable(points: &[CostPoint], series: &str) -> Result<(Vec<CostPoint>, usize), PlotError> {
    for (i, &(size, a, b)) in points.iter().enumerate() {
        if !a.is_finite() || !b.is_finite() {
            return Err(PlotError::NonFinite {
                chart: CHART,
                what: format!(
                    "the cost at {} (point {i} of the {series} series)",
                    units::bytes_label(size as f64)
                ),
            });
        }
    }
    let mut kept: Vec<CostPoint> = points
        .iter()
        .copied()
        .filter(|&(s, a, b)| s > 0 && a > 0.0 && b > 0.0)
        .collect();
    kept.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)));
    let dropped = points.len() - kept.len();
    Ok((kept, dropped))
}

/// The sizes where the two curves cross, interpolated linearly in log–log space
/// between neighbouring points (a point where both cost the same is a crossing by
/// itself).
pub(crate) fn crossings(points: &[CostPoint]) -> Vec<f64> {
    let diff = |p: &CostPoint| p.2.ln() - p.1.ln();
    let mut out: Vec<f64> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        if diff(p) == 0.0 && (i == 0 || diff(&points[i - 1]) != 0.0) {
            out.push(p.0 as f64);
        }
    }
    for w in points.windows(2) {
        let (d0, d1) = (diff(&w[0]), diff(&w[1]));
        if d0 * d1 < 0.0 {
            let t = d0 / (d0 - d1);
            let (l0, l1) = ((w[0].0 as f64).log2(), (w[1].0 as f64).log2());
            out.push(2f64.powf(l0 + t * (l1 - l0)));
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

/// Which of the two is cheaper over all `points` (when they never cross).
fn cheaper(points: &[CostPoint]) -> &'static str {
    if points.iter().all(|p| p.1 <= p.2) {
        "malloc+free"
    } else {
        "mmap+munmap"
    }
}

/// Draws the cost of one malloc+free pair and of one mmap+munmap pair against the
/// block size, both axes logarithmic, from the cost model's `model` points and,
/// optionally, `measured` points from the real machine (dashed, a marker at every
/// measurement). The sizes where the curves cross are marked and written above the
/// plot; when they never cross, a note says which is cheaper throughout.
///
/// Points with a zero size or a cost of zero cannot sit on a log axis: they are left
/// out and a note counts them.
pub fn crossover_chart(
    title: &ChartTitle,
    model: &[CostPoint],
    measured: Option<&[CostPoint]>,
    style: &Style,
) -> Result<String, PlotError> {
    if model.is_empty() {
        return Err(PlotError::NoData {
            chart: CHART,
            what: "no cost-model points",
        });
    }
    let (model, mut dropped) = usable(model, "model")?;
    let measured = match measured {
        Some(m) => {
            let (m, d) = usable(m, "measured")?;
            dropped += d;
            Some(m)
        }
        None => None,
    };
    let all: Vec<&CostPoint> = model.iter().chain(measured.iter().flatten()).collect();
    if all.is_empty() {
        return Err(PlotError::NoData {
            chart: CHART,
            what: "no point with a size and costs above zero",
        });
    }
    let lo_size = all.iter().map(|p| p.0).min().unwrap_or(1) as f64;
    let hi_size = all.iter().map(|p| p.0).max().unwrap_or(1) as f64;
    let lo_ns = all
        .iter()
        .map(|p| p.1.min(p.2))
        .fold(f64::INFINITY, f64::min);
    let hi_ns = all.iter().map(|p| p.1.max(p.2)).fold(0.0, f64::max);
    let x = Axis::log2_bytes(lo_size, hi_size);
    let y = Axis::log10_nanos(lo_ns, hi_ns);

    let malloc = Cue::new(okabe_ito::BLUE, Marker::Circle);
    let mmap = Cue::new(okabe_ito::VERMILLION, Marker::Triangle);
    let malloc_real = malloc.dashed();
    let mmap_real = mmap.dashed();

    let model_cross = crossings(&model);
    let real_cross = measured.as_deref().map(crossings).unwrap_or_default();

    let mut doc = Doc::new(CHART, style, "Cost per allocation against block size");
    doc.line(title.setup_line(&[]));
    doc.line(
        "One malloc+free pair and one mmap+munmap pair of each size, both axes logarithmic. \
         Where the lines cross, the cheaper way to get a block changes.",
    );
    doc.legend(Entry::new(Swatch::Line(malloc), "malloc+free (model)"));
    doc.legend(Entry::new(Swatch::Line(mmap), "mmap+munmap (model)"));
    if measured.is_some() {
        doc.legend(Entry::new(
            Swatch::Line(malloc_real),
            "malloc+free (measured)",
        ));
        doc.legend(Entry::new(
            Swatch::Line(mmap_real),
            "mmap+munmap (measured)",
        ));
    }
    if !model_cross.is_empty() {
        doc.legend(Entry::new(Swatch::Rule(INK), "crossover (model)"));
    }
    if !real_cross.is_empty() {
        doc.legend(Entry::new(Swatch::Rule(GREY), "crossover (measured)"));
    }
    doc.fit_y_labels([&y]);
    let marks: Vec<(f64, String, RGBColor)> = model_cross
        .iter()
        .map(|&s| (s, format!("≈ {}", units::bytes_label(s)), INK))
        .chain(
            real_cross
                .iter()
                .map(|&s| (s, format!("≈ {} measured", units::bytes_label(s)), GREY)),
        )
        .collect();
    doc.panel(Panel {
        title: "Time per pair of calls (log scale)".to_string(),
        band: if marks.is_empty() { 0 } else { 18 * 2 },
        plot_height: style.panel_height as i32 * 2,
        x_labels: true,
        x_desc: Some("block size".to_string()),
        ..Panel::default()
    });
    match (model_cross.is_empty(), model.is_empty()) {
        (true, false) => doc.note(format!(
            "The model's curves do not cross between {} and {}: {} is cheaper at every size shown.",
            units::bytes_label(model[0].0 as f64),
            units::bytes_label(model[model.len() - 1].0 as f64),
            cheaper(&model)
        )),
        (false, _) => doc.note(format!(
            "Model crossover{}: {}.",
            if model_cross.len() > 1 { "s" } else { "" },
            model_cross
                .iter()
                .map(|&s| format!("≈ {}", units::bytes_label(s)))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => {}
    }
    match &measured {
        Some(m) if real_cross.is_empty() && !m.is_empty() => doc.note(format!(
            "The measured curves do not cross: {} is cheaper at every measured size.",
            cheaper(m)
        )),
        Some(_) if !real_cross.is_empty() => doc.note(format!(
            "Measured crossover{}: {}.",
            if real_cross.len() > 1 { "s" } else { "" },
            real_cross
                .iter()
                .map(|&s| format!("≈ {}", units::bytes_label(s)))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => {}
    }
    if dropped > 0 {
        doc.note(format!(
            "{dropped} point(s) with a size or cost of zero are not shown (a log axis has no zero)."
        ));
    }

    let mut out = String::new();
    doc.render(&mut out, |page| {
        let chart = page.chart(0, &x, &y)?;
        let to_xy = |p: &CostPoint, cost: f64| ((p.0 as f64).log2(), cost.log10());
        let (band_x0, band_y, band_x1, _) = page.band(0);
        let mut row_end = [i32::MIN; 2];
        for (s, label, colour) in &marks {
            let colour = if *colour == INK { INK } else { GREY };
            let px = draw::vrule(page, &chart, s.log2(), colour)?;
            let w = text_width(label, size::LABEL, false).ceil() as i32;
            let centre = px.clamp(band_x0 + w / 2, band_x1 - w / 2);
            if let Some(row) = (0..2).find(|&r| centre - w / 2 > row_end[r] + 6) {
                row_end[row] = centre + w / 2;
                let ink = if colour == INK { &INK } else { &MUTED };
                page.text(
                    label,
                    (centre, band_y + 2 + row as i32 * 16),
                    size::LABEL,
                    false,
                    ink,
                    Pos::new(HPos::Center, VPos::Top),
                )?;
            }
        }
        let series: [(&[CostPoint], bool, Cue); 2] =
            [(&model, false, malloc), (&model, true, mmap)];
        for (k, (pts, second, cue)) in series.into_iter().enumerate() {
            let line: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| to_xy(p, if second { p.2 } else { p.1 }))
                .collect();
            draw::line(page, &chart, &line, cue, (k, 4))?;
        }
        if let Some(m) = &measured {
            for (k, (second, cue)) in [(false, malloc_real), (true, mmap_real)]
                .into_iter()
                .enumerate()
            {
                let line: Vec<(f64, f64)> = m
                    .iter()
                    .map(|p| to_xy(p, if second { p.2 } else { p.1 }))
                    .collect();
                draw::line(page, &chart, &line, cue, (k + 2, 4))?;
                draw::points(page, &chart, &line, cue)?;
            }
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_is_interpolated_in_log_space() {
        // malloc+free grows 10x per 16x size; mmap+munmap is flat at 1000 ns.
        let pts = [
            (1024, 100.0, 1000.0),
            (16384, 1000.0, 1000.0),
            (262_144, 10_000.0, 1000.0),
        ];
        assert_eq!(crossings(&pts), vec![16384.0]);
        let pts = [(1024, 100.0, 1000.0), (262_144, 10_000.0, 1000.0)];
        let c = crossings(&pts);
        assert_eq!(c.len(), 1);
        assert!((c[0] - 16384.0).abs() < 1.0, "{c:?}");
        assert!(crossings(&[(16, 1.0, 2.0), (32, 1.0, 3.0)]).is_empty());
        assert!(crossings(&[]).is_empty());
    }
}
