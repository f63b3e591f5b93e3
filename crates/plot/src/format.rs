//! Chart axes: value ranges and round ticks, labelled in one unit per axis.
//!
//! Numbers themselves are formatted by the workspace's one formatter, the `units`
//! crate (`units::bytes_label`, `units::nanos_label`, `units::count`), with a fixed
//! rule (no locale, no float `Debug` output), so a chart's bytes depend only on its
//! data. Memory sizes use binary units (1 KiB = 1024 B) because pages, chunks and
//! mappings are powers of two; durations use decimal units.

pub(crate) use crate::spec::Unit;

/// One axis: its value range and its ticks with their labels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Axis {
    /// The value at the start of the axis.
    pub min: f64,
    /// The value at the end of the axis.
    pub max: f64,
    /// Tick positions and labels, in increasing order, all within `min..=max`.
    pub ticks: Vec<(f64, String)>,
}

/// The step of about `target` intervals over `span`, rounded to 1, 2, 2.5 or 5 times a
/// power of ten: the steps people count in.
fn nice_step(span: f64, target: f64) -> f64 {
    let raw = span / target;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let factor = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|&f| f >= norm - 1e-9)
        .unwrap_or(10.0);
    factor * mag
}

/// The number of decimals needed to print every multiple of `step` exactly.
fn decimals_for(step: f64) -> usize {
    (0..6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(6)
}

impl Axis {
    /// A linear axis from 0 to at least `max` (at least one tick interval when `max` is
    /// 0), ending on a round tick.
    pub fn linear(max: f64, unit: Unit) -> Axis {
        Axis::linear_target(max, unit, 5.0)
    }

    /// [`Axis::linear`] with about `target` intervals.
    pub fn linear_target(max: f64, unit: Unit, target: f64) -> Axis {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            0.0
        };
        // The scale of the labels' unit and its name.
        let (scale, name): (f64, &str) = match unit {
            Unit::Bytes => {
                // An empty byte axis still spans one page, the smallest unit the OS deals in.
                units::byte_unit(if max > 0.0 { max } else { 4096.0 })
            }
            Unit::Nanos => units::time_unit(if max > 0.0 { max } else { 1.0 }),
            Unit::Count | Unit::Ratio => (1.0, ""),
            Unit::Percent => (0.01, "%"),
        };
        let top_in_units = if max > 0.0 {
            max / scale
        } else {
            match unit {
                Unit::Bytes => 4096.0 / scale,
                Unit::Percent => 100.0,
                _ => 1.0,
            }
        };
        let mut step = nice_step(top_in_units, target);
        if unit == Unit::Count {
            step = step.max(1.0);
        }
        let n = ((top_in_units / step) - 1e-9).ceil().max(1.0) as usize;
        let decimals = decimals_for(step);
        let ticks = (0..=n)
            .map(|k| {
                let v = k as f64 * step;
                let label = match unit {
                    Unit::Count => units::count(v.round() as u64),
                    Unit::Percent => format!("{v:.decimals$}%"),
                    _ if k == 0 => "0".to_string(),
                    Unit::Ratio => format!("{v:.decimals$}"),
                    _ => format!("{v:.decimals$} {name}"),
                };
                (v * scale, label)
            })
            .collect::<Vec<_>>();
        Axis {
            min: 0.0,
            max: n as f64 * step * scale,
            ticks,
        }
    }

    /// A linear axis from 0 that ends at `max` (when above 0) rather than at the next
    /// round tick, unless that tick is within 5 %: for op axes, where a wide empty
    /// stretch after the last op would read as a run cut short. Ticks beyond the end
    /// are dropped.
    pub fn linear_to(max: f64, unit: Unit) -> Axis {
        let mut axis = Axis::linear(max, unit);
        if max.is_finite() && max > 0.0 && axis.max > max * 1.05 {
            axis.max = max;
            axis.ticks.retain(|t| t.0 <= max * (1.0 + 1e-9));
        }
        axis
    }

    /// A logarithmic byte axis in log2 space: the values placed on it are `log2(bytes)`;
    /// ticks sit at powers of two (every power, or every second, fourth... so at most
    /// about ten labels) and read as sizes (`4 KiB`).
    pub fn log2_bytes(lo: f64, hi: f64) -> Axis {
        let (min, max) = log_span(lo.log2(), hi.log2());
        let span = (max - min) as u64;
        let stride = [1u64, 2, 3, 4, 5, 10]
            .into_iter()
            .find(|s| span / s <= 10)
            .unwrap_or(10);
        let ticks = (min as i64..=max as i64)
            .filter(|e| e.rem_euclid(stride as i64) == 0)
            .map(|e| (e as f64, units::bytes_label(2f64.powi(e as i32))))
            .collect();
        Axis { min, max, ticks }
    }

    /// A logarithmic time axis in log10 space: the values placed on it are
    /// `log10(nanoseconds)`; ticks sit at every decade, and at 2 and 5 times each decade
    /// when the axis spans at most two decades.
    pub fn log10_nanos(lo: f64, hi: f64) -> Axis {
        let (min, max) = log_span(lo.log10(), hi.log10());
        let mut ticks = Vec::new();
        let fine = max - min <= 2.0;
        // Every decade, or every second, third... so at most about ten labels.
        let stride = (((max - min) / 10.0).ceil() as i64).max(1);
        for e in (min as i64..=max as i64).filter(|e| e.rem_euclid(stride) == 0) {
            for m in [1.0, 2.0, 5.0] {
                if m > 1.0 && !fine {
                    continue;
                }
                let v = (m * 10f64.powi(e as i32)).log10();
                if v <= max + 1e-9 {
                    ticks.push((v, units::nanos_label(10f64.powf(v))));
                }
            }
        }
        Axis { min, max, ticks }
    }

    /// A vertical axis of categories read top to bottom: `names[0]` at the top.
    /// Category `i` sits at [`Axis::category`]`(i)`, with half a category of room at
    /// each end.
    pub fn categories(names: &[String]) -> Axis {
        let n = names.len().max(1);
        let mut ticks: Vec<(f64, String)> = names
            .iter()
            .enumerate()
            .map(|(i, name)| ((n - 1 - i) as f64, name.clone()))
            .collect();
        ticks.reverse();
        Axis {
            min: -0.5,
            max: n as f64 - 0.5,
            ticks,
        }
    }

    /// The position of category `i` of an axis made by [`Axis::categories`].
    pub fn category(&self, i: usize) -> f64 {
        self.max - 0.5 - i as f64
    }

    /// The label of the tick at `v` (the nearest tick; plotters asks with the tick's own
    /// value).
    pub fn label(&self, v: f64) -> String {
        self.ticks
            .iter()
            .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()))
            .map(|t| t.1.clone())
            .unwrap_or_default()
    }

    /// The tick positions.
    pub fn positions(&self) -> Vec<f64> {
        self.ticks.iter().map(|t| t.0).collect()
    }
}

/// Panels share one y-axis only while their ranges differ by at most this factor;
/// beyond it the smallest panel's data would be a flat line at the bottom (176 KiB on a
/// 0–100 MiB axis), so each panel gets its own.
pub(crate) const SHARED_AXIS_MAX_RATIO: f64 = 20.0;

/// The y-axes of a chart whose panels show the same measures for different runs, and
/// the sentence that tells the reader which choice was made.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PanelScales {
    /// One axis per panel, in panel order (all equal when `shared`).
    pub axes: Vec<Axis>,
    /// Whether every panel has the same axis.
    pub shared: bool,
    /// The choice in words, for a line under the chart's title (`None` for one panel).
    pub statement: Option<String>,
}

/// Chooses between one y-axis for all panels and one per panel, from each panel's
/// largest value: shared (heights compare across panels) unless the largest and the
/// smallest non-zero panel peaks differ by more than [`SHARED_AXIS_MAX_RATIO`].
/// Panels whose peak is zero do not count (they say so with an empty-plot message).
pub(crate) fn panel_scales(peaks: &[f64], unit: Unit, label: fn(f64) -> String) -> PanelScales {
    let nonzero: Vec<f64> = peaks
        .iter()
        .copied()
        .filter(|p| p.is_finite() && *p > 0.0)
        .collect();
    let hi = nonzero.iter().copied().fold(0.0, f64::max);
    let lo = nonzero.iter().copied().fold(f64::INFINITY, f64::min);
    let separate = nonzero.len() > 1 && hi > SHARED_AXIS_MAX_RATIO * lo;
    if separate {
        PanelScales {
            axes: peaks.iter().map(|&p| Axis::linear(p, unit)).collect(),
            shared: false,
            statement: Some(format!(
                "Each panel has its own y-axis: their largest values differ more than {}× \
                 (from {} to {}), so a shared axis would flatten the smaller ones. Read the \
                 tick labels before comparing heights.",
                SHARED_AXIS_MAX_RATIO,
                label(lo),
                label(hi)
            )),
        }
    } else {
        let axis = Axis::linear(hi, unit);
        PanelScales {
            axes: vec![axis; peaks.len()],
            shared: true,
            statement: (peaks.len() > 1).then(|| {
                "All panels share one y-axis, so heights compare across panels.".to_string()
            }),
        }
    }
}

/// Whole exponents around `lo..hi` (in log space), at least one apart.
fn log_span(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo.min(hi), lo.max(hi))
    } else {
        (0.0, 1.0)
    };
    let mut min = (lo + 1e-9).floor();
    let mut max = (hi - 1e-9).ceil();
    if max <= min {
        min -= 1.0;
        max += 1.0;
    }
    (min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_axis_ticks_are_round_in_one_unit() {
        let a = Axis::linear(3.2 * 1024.0 * 1024.0, Unit::Bytes);
        let labels: Vec<_> = a.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0", "1 MiB", "2 MiB", "3 MiB", "4 MiB"]);
        assert_eq!(a.max, 4.0 * 1024.0 * 1024.0);
        let a = Axis::linear(1.2 * 1024.0 * 1024.0, Unit::Bytes);
        assert_eq!(a.ticks[1].1, "0.25 MiB");
    }

    #[test]
    fn degenerate_axes_still_have_an_interval() {
        for unit in [
            Unit::Bytes,
            Unit::Nanos,
            Unit::Count,
            Unit::Percent,
            Unit::Ratio,
        ] {
            for max in [0.0, f64::NAN, -3.0, f64::INFINITY] {
                let a = Axis::linear(max, unit);
                assert!(a.max > a.min, "{unit:?} {max}");
                assert!(a.ticks.len() >= 2);
            }
        }
        let a = Axis::linear(0.0, Unit::Bytes);
        assert_eq!(a.ticks.last().map(|t| t.1.as_str()), Some("4 KiB"));
    }

    #[test]
    fn axes_to_the_data_end_at_the_data() {
        let a = Axis::linear_to(1803.0, Unit::Count);
        assert_eq!(a.max, 1803.0);
        assert_eq!(a.ticks.last().map(|t| t.1.as_str()), Some("1,500"));
        let z = Axis::linear_to(0.0, Unit::Count);
        assert!(z.max > z.min);
    }

    #[test]
    fn ratio_axes_print_plain_numbers() {
        let a = Axis::linear(4.868, Unit::Ratio);
        let labels: Vec<_> = a.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0", "1", "2", "3", "4", "5"]);
        let a = Axis::linear(0.127, Unit::Ratio);
        let labels: Vec<_> = a.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0", "0.05", "0.10", "0.15"]);
    }

    #[test]
    fn count_axes_never_have_fractional_ticks() {
        let a = Axis::linear(3.0, Unit::Count);
        assert!(a.ticks.iter().all(|t| t.0 == t.0.round()));
        let a = Axis::linear(1_000_000.0, Unit::Count);
        assert_eq!(a.ticks[1].1, "200,000");
    }

    #[test]
    fn panels_share_an_axis_unless_their_ranges_differ_more_than_20_times() {
        let label = units::bytes_label;
        let mib = 1024.0 * 1024.0;
        let close = panel_scales(&[3.4 * mib, 17.7 * mib, 0.0], Unit::Bytes, label);
        assert!(close.shared);
        assert!(close.axes.iter().all(|a| a == &close.axes[0]));
        assert!(close.statement.unwrap().contains("share one y-axis"));
        let far = panel_scales(&[176.0 * 1024.0, 83.2 * mib], Unit::Bytes, label);
        assert!(!far.shared);
        assert_eq!(far.axes[0].max, 200.0 * 1024.0);
        assert_eq!(far.axes[1].max, 100.0 * mib);
        let text = far.statement.unwrap();
        assert!(
            text.contains("own y-axis") && text.contains("176 KiB"),
            "{text}"
        );
        // Exactly 20x still shares; one panel needs no statement.
        assert!(panel_scales(&[1.0, 20.0], Unit::Count, label).shared);
        assert!(!panel_scales(&[1.0, 20.5], Unit::Count, label).shared);
        assert_eq!(panel_scales(&[5.0], Unit::Count, label).statement, None);
    }

    #[test]
    fn log_axes_label_powers() {
        let a = Axis::log2_bytes(16.0, 4.0 * 1024.0 * 1024.0);
        assert_eq!(a.min, 4.0);
        assert_eq!(a.max, 22.0);
        assert!(a.ticks.len() <= 11);
        assert!(a.ticks.iter().any(|t| t.1 == "1 KiB"));
        let t = Axis::log10_nanos(50.0, 5000.0);
        let labels: Vec<_> = t.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels[0], "10 ns");
        assert!(labels.contains(&"1 µs"));
        let one = Axis::log2_bytes(4096.0, 4096.0);
        assert!(one.max > one.min);
        let wide = Axis::log10_nanos(1e-200, 1e9);
        assert!(wide.ticks.len() <= 12, "{} ticks", wide.ticks.len());
        let wide = Axis::log2_bytes(1.0, 2f64.powi(64));
        assert!(wide.ticks.len() <= 12, "{} ticks", wide.ticks.len());
    }
}
