//! Fragmentation over time: internal, external and Johnstone & Wilson's measure, one
//! panel each, one line per allocator.

use crate::canvas::{Doc, Entry, Panel, Swatch};
use crate::draw;
use crate::error::PlotError;
use crate::format::{Axis, Unit};
use crate::style::{Cue, Style};
use crate::timeline::{check_timelines, op_axis, panel_name};
use crate::title::ChartTitle;
use engine::{Sample, Timeline};

const CHART: &str = "fragmentation";

/// A fragmentation measure: panel title (with its definition) and its value at one
/// sample (NaN where it is undefined).
struct Measure {
    title: &'static str,
    value: fn(&Sample) -> f64,
    /// The axis unit: a percentage, or (for Johnstone & Wilson's measure, whose value
    /// at the peaks is `frag_max`) a plain ratio, as `frag_max` is written everywhere
    /// in the workspace.
    unit: Unit,
    /// Whether the measure is a fraction of something, so never above 100 % (drawn
    /// on a 0–100 % axis).
    bounded: bool,
}

/// Overhead relative to live bytes; undefined (NaN, a gap in the line) while nothing
/// is live.
fn over_live(bytes: u64, live: u64) -> f64 {
    if live == 0 {
        f64::NAN
    } else {
        (bytes as f64 - live as f64) / live as f64
    }
}

const MEASURES: [Measure; 3] = [
    Measure {
        title: "Internal fragmentation = (allocated − live) / live",
        value: |s| over_live(s.allocated, s.live),
        unit: Unit::Percent,
        bounded: false,
    },
    Measure {
        title: "External fragmentation = 1 − largest free block / free bytes in the heap \
                (0 when nothing is free)",
        value: |s| {
            if s.free_in_heap == 0 {
                0.0
            } else {
                (1.0 - s.largest_free as f64 / s.free_in_heap as f64).clamp(0.0, 1.0)
            }
        },
        unit: Unit::Percent,
        bounded: true,
    },
    Measure {
        title: "Johnstone & Wilson = (footprint − live) / live, a ratio (frag_max is its value \
                at the peaks)",
        value: |s| over_live(s.footprint, s.live),
        unit: Unit::Ratio,
        bounded: false,
    },
];

/// The top of a ratio axis: the largest value, unless a few spikes (a heap of 132 KiB
/// holding 16 live bytes is an overhead of 8000) are more than three times the bulk of
/// the values and would flatten everything else; then 1.25 times the 95th percentile,
/// with the spikes drawn on the axis's top edge. Returns the top and whether anything
/// is clipped.
fn robust_top(values: &mut [f64]) -> (f64, bool) {
    if values.is_empty() {
        return (0.0, false);
    }
    values.sort_by(f64::total_cmp);
    let max = values[values.len() - 1];
    let p95 = values[((values.len() as f64 * 0.95).ceil() as usize).clamp(1, values.len()) - 1];
    let cap = p95 * 1.25;
    if max > 3.0 * cap && cap > 0.0 {
        (cap, true)
    } else {
        (max, false)
    }
}

/// Draws the three fragmentation measures over ops, one panel per measure and one
/// line per allocator, each panel titled with its definition. Internal and external
/// fragmentation are drawn in percent; Johnstone & Wilson's measure, whose value at the
/// peaks is `frag_max`, as a plain ratio (0.5: half as much again as live), the unit
/// `frag_max` has in the tables and `summary.json`.
///
/// The measures are taken at every sample. Internal fragmentation and Johnstone &
/// Wilson's measure divide by live bytes, so they are undefined while nothing is live:
/// the line has a gap there. The summary's `frag_peak` and `frag_max` are Johnstone &
/// Wilson's measure taken at the peaks instead. When a few samples (typically the first
/// ones, with little live) are far above the rest, the axis is cut at 1.25 times the
/// 95th percentile, those values are drawn on the top edge, and a note says so.
pub fn fragmentation_chart(
    title: &ChartTitle,
    timelines: &[Timeline],
    style: &Style,
) -> Result<String, PlotError> {
    check_timelines(CHART, timelines)?;
    let names: Vec<&str> = timelines.iter().map(|t| t.allocator.as_str()).collect();
    let x = op_axis(timelines);
    let mut doc = Doc::new(CHART, style, "Fragmentation over time");
    doc.line(title.setup_line(&names));
    doc.line(
        "Internal: bytes lost inside chunks (headers, padding, rounding). External: how \
         scattered the free bytes are (0 = one block, near 100 % = many small holes). \
         Johnstone & Wilson: everything held from the OS beyond what is live. Gaps: nothing \
         live, ratio undefined.",
    );
    for (i, t) in timelines.iter().enumerate() {
        doc.legend(Entry::new(Swatch::Line(Cue::nth(i)), panel_name(t)));
    }
    let mut axes = Vec::new();
    for (m, measure) in MEASURES.iter().enumerate() {
        let mut values: Vec<f64> = timelines
            .iter()
            .flat_map(|t| t.samples.iter().map(measure.value))
            .filter(|v| v.is_finite())
            .collect();
        let (top, clipped) = if measure.bounded {
            (1.0, false)
        } else {
            robust_top(&mut values)
        };
        let axis = Axis::linear(top, measure.unit);
        let label = |v: f64| match measure.unit {
            Unit::Percent => units::percent_label(v),
            _ => units::ratio_label(v),
        };
        if clipped {
            let worst = timelines
                .iter()
                .flat_map(|t| t.samples.iter().map(move |s| (t, s, (measure.value)(s))))
                .filter(|e| e.2.is_finite())
                .max_by(|a, b| a.2.total_cmp(&b.2));
            if let Some((t, s, v)) = worst {
                doc.note(format!(
                    "{}: values above {} are drawn on the top edge (largest: {} for {} at op {}, \
                     with {} live).",
                    measure.title.split(" =").next().unwrap_or(measure.title),
                    label(axis.max),
                    label(v),
                    t.allocator,
                    units::count(s.op),
                    units::bytes_label(s.live as f64),
                ));
            }
        }
        doc.panel(Panel {
            title: measure.title.to_string(),
            plot_height: style.panel_height as i32,
            x_labels: true,
            x_desc: (m + 1 == MEASURES.len()).then(|| "operations executed".to_string()),
            ..Panel::default()
        });
        axes.push(axis);
    }
    doc.fit_y_labels(&axes);

    let mut out = String::new();
    doc.render(&mut out, |page| {
        for (m, (measure, y)) in MEASURES.iter().zip(&axes).enumerate() {
            let chart = page.chart(m, &x, y)?;
            for (i, t) in timelines.iter().enumerate() {
                let points: Vec<(f64, f64)> = t
                    .samples
                    .iter()
                    .map(|s| (s.op as f64, (measure.value)(s)))
                    .collect();
                draw::line(page, &chart, &points, Cue::nth(i), (i, timelines.len()))?;
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
    fn robust_top_cuts_rare_spikes_only() {
        let mut flat = vec![0.1; 100];
        assert_eq!(robust_top(&mut flat), (0.1, false));
        let mut spiky = vec![0.1; 100];
        spiky[0] = 8000.0;
        let (top, clipped) = robust_top(&mut spiky);
        assert!(clipped);
        assert!((top - 0.125).abs() < 1e-12);
        assert_eq!(robust_top(&mut []), (0.0, false));
        let mut zeros = vec![0.0; 10];
        assert_eq!(robust_top(&mut zeros), (0.0, false));
    }
}
