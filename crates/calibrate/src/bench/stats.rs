//! Robust summaries of repeated samples.
//!
//! Timing samples on a real machine are not bell-shaped: most cluster tightly, and a
//! few are much slower because an interrupt, another process or the hypervisor took the
//! CPU for a while. The mean follows those outliers; the median and the quartiles do
//! not. The median absolute deviation (MAD) is the median distance of a sample from the
//! median: a spread measure that, like the median, ignores a minority of outliers.

use serde::{Deserialize, Serialize};

/// How a set of samples spreads, in the same unit as the median.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Fastest sample.
    pub min: f64,
    /// First quartile: a quarter of the samples are at or below it.
    pub p25: f64,
    /// Third quartile: three quarters of the samples are at or below it.
    pub p75: f64,
    /// Slowest sample.
    pub max: f64,
    /// Median absolute deviation from the median.
    pub mad: f64,
}

/// Median and spread of `samples`; non-finite values are ignored. `None` when no
/// finite sample is left.
pub(crate) fn summarize(samples: &[f64]) -> Option<(f64, Spread)> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let median = quantile(&v, 0.5);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let spread = Spread {
        min: v[0],
        p25: quantile(&v, 0.25),
        p75: quantile(&v, 0.75),
        max: v[v.len() - 1],
        mad: quantile(&dev, 0.5),
    };
    Some((median, spread))
}

/// The `q`-quantile of sorted, non-empty `v`, interpolating linearly between the two
/// nearest ranks (so the median of an even count is the mean of the middle two).
pub(crate) fn quantile(v: &[f64], q: f64) -> f64 {
    debug_assert!(!v.is_empty());
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    match (v.get(lo), v.get(hi)) {
        (Some(a), Some(b)) => a + (b - a) * frac,
        (Some(a), None) => *a,
        _ => f64::NAN,
    }
}

/// `v` rounded to `decimals` decimal places. Stored figures are rounded (to far below
/// their precision) so that they print short and survive a trip through JSON exactly:
/// a decimal with few digits parses back to the very same `f64`.
pub(crate) fn round_to(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    let r = (v * scale).round() / scale;
    if r.is_finite() { r } else { v }
}

impl Spread {
    /// Every figure rounded to `decimals` places.
    pub(crate) fn rounded(self, decimals: i32) -> Spread {
        Spread {
            min: round_to(self.min, decimals),
            p25: round_to(self.p25, decimals),
            p75: round_to(self.p75, decimals),
            max: round_to(self.max, decimals),
            mad: round_to(self.mad, decimals),
        }
    }
}

/// Median of unsorted values (finite ones only); `NaN` when there are none.
pub(crate) fn median(values: &[f64]) -> f64 {
    summarize(values).map_or(f64::NAN, |(m, _)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quartiles_of_odd_and_even_counts() {
        let (m, s) = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(m, 3.0);
        assert_eq!((s.min, s.p25, s.p75, s.max), (1.0, 2.0, 4.0, 5.0));
        assert_eq!(s.mad, 1.0);
        let (m, _) = summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(m, 2.5);
    }

    #[test]
    fn outliers_move_neither_median_nor_mad() {
        let (m, s) = summarize(&[10.0, 11.0, 10.0, 12.0, 10.0, 11.0, 5000.0]).unwrap();
        assert_eq!(m, 11.0);
        assert_eq!(s.mad, 1.0);
        assert_eq!(s.max, 5000.0);
    }

    #[test]
    fn rounded_values_survive_json_exactly() {
        for v in [
            510.94642195889645,
            0.009199999999999877,
            1879.5818864416478,
            3.96106580144,
        ] {
            let r = round_to(v, 3);
            assert!((r - v).abs() <= 0.0005);
            let back: f64 = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn non_finite_samples_are_ignored_and_none_left_is_none() {
        let (m, _) = summarize(&[f64::NAN, 7.0, f64::INFINITY]).unwrap();
        assert_eq!(m, 7.0);
        assert!(summarize(&[f64::NAN]).is_none());
        assert!(summarize(&[]).is_none());
        assert!(median(&[]).is_nan());
    }
}
