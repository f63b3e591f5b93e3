//! Formatting numbers for people: tables and messages (fixed decimals, so columns line
//! up) and chart labels (about three significant digits, so ticks stay short).

/// Binary byte units above bytes.
const BYTE_UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/// A byte count in the largest binary unit it reaches, with one decimal: `512 B`,
/// `4.0 KiB`, `132.0 KiB`, `1.5 MiB`. Tables and the terminal use it.
pub fn bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < BYTE_UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", BYTE_UNITS[unit])
}

/// A signed byte change: `+132.0 KiB`, `-36.0 KiB`.
pub fn bytes_delta(d: i64) -> String {
    if d < 0 {
        format!("-{}", bytes(d.unsigned_abs()))
    } else {
        format!("+{}", bytes(d as u64))
    }
}

/// Nanoseconds in a readable unit: whole nanoseconds below a microsecond (`950 ns`,
/// `62 ns`), then two decimals (`3.40 µs`, `1.20 ms`, `2.00 s`). `n/a` when not finite.
pub fn nanos(ns: f64) -> String {
    if !ns.is_finite() {
        "n/a".to_string()
    } else if ns.abs() < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns.abs() < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns.abs() < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// A ratio in percent with one decimal: `0.125` -> `12.5%`. `n/a` when not finite.
pub fn percent(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:.1}%", ratio * 100.0)
    } else {
        "n/a".to_string()
    }
}

/// A ratio with three decimals, as tables print `frag_max` and `frag_peak`: `0.127`,
/// `4.868`. `n/a` when not finite. (The workspace writes fragmentation as a ratio of
/// overhead to live bytes everywhere: tables, JSON, CSV and chart axes.)
pub fn ratio(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.3}")
    } else {
        "n/a".to_string()
    }
}

/// A ratio for a chart label, with about three significant digits: `0.13`, `4.87`,
/// `8000`.
pub fn ratio_label(r: f64) -> String {
    if !r.is_finite() {
        return "n/a".to_string();
    }
    sig3(r)
}

/// An integer with a comma every three digits: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats `v` with about three significant digits and no trailing zeros: `1.5`,
/// `12.3`, `512`. Integers below 10 000 print exactly.
fn sig3(v: f64) -> String {
    let a = v.abs();
    let s = if a == a.round() && a < 1e4 {
        format!("{v:.0}")
    } else if a < 10.0 {
        format!("{v:.2}")
    } else if a < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    };
    if !s.contains('.') {
        return s;
    }
    let t = s.trim_end_matches('0').trim_end_matches('.');
    if t == "-0" {
        "0".to_string()
    } else {
        t.to_string()
    }
}

/// The largest binary unit `v` bytes reach, as (bytes per unit, unit name): `(1.0,
/// "B")` below 1 KiB, `(1024.0, "KiB")`, ... up to TiB. Chart axes use it to pick
/// one unit for all their ticks.
pub fn byte_unit(v: f64) -> (f64, &'static str) {
    const NAMES: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = unit_index(v, 1024.0, NAMES.len() - 1);
    (1024f64.powi(i as i32), NAMES[i])
}

/// The largest decimal time unit `ns` nanoseconds reach, as (nanoseconds per unit,
/// unit name): `(1.0, "ns")`, `(1e3, "µs")`, `(1e6, "ms")`, `(1e9, "s")`.
pub fn time_unit(ns: f64) -> (f64, &'static str) {
    const NAMES: [&str; 4] = ["ns", "µs", "ms", "s"];
    let i = unit_index(ns, 1000.0, NAMES.len() - 1);
    (1000f64.powi(i as i32), NAMES[i])
}

/// The index of the largest unit of `base` that `v` reaches (0 = none), capped at `max`.
fn unit_index(v: f64, base: f64, max: usize) -> usize {
    let mut i = 0;
    let mut scale = 1.0;
    while i < max && v.abs() >= scale * base {
        scale *= base;
        i += 1;
    }
    i
}

/// A byte count for a chart label: `0 B`, `512 B`, `1.5 KiB`, `12.3 MiB`.
pub fn bytes_label(b: f64) -> String {
    if !b.is_finite() {
        return "n/a".to_string();
    }
    let (scale, unit) = byte_unit(b);
    format!("{} {unit}", sig3(b / scale))
}

/// A duration in nanoseconds for a chart label: `850 ns`, `1.2 µs`, `3.45 ms`, `2 s`.
pub fn nanos_label(ns: f64) -> String {
    if !ns.is_finite() {
        return "n/a".to_string();
    }
    let (scale, unit) = time_unit(ns);
    format!("{} {unit}", sig3(ns / scale))
}

/// A ratio as a percentage for a chart label: `0.125` -> `12.5%`, `2.5` -> `250%`.
pub fn percent_label(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "n/a".to_string();
    }
    format!("{}%", sig3(ratio * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_numbers_have_fixed_decimals() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(135_168), "132.0 KiB");
        assert_eq!(bytes(3 << 19), "1.5 MiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
        assert_eq!(bytes_delta(-36_864), "-36.0 KiB");
        assert_eq!(bytes_delta(135_168), "+132.0 KiB");
        assert_eq!(nanos(62.3), "62 ns");
        assert_eq!(nanos(950.0), "950 ns");
        assert_eq!(nanos(3_400.0), "3.40 µs");
        assert_eq!(nanos(1.2e6), "1.20 ms");
        assert_eq!(nanos(2e9), "2.00 s");
        assert_eq!(nanos(f64::INFINITY), "n/a");
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(percent(f64::NAN), "n/a");
        assert_eq!(ratio(0.12734), "0.127");
        assert_eq!(ratio(4.8676), "4.868");
        assert_eq!(ratio(f64::NAN), "n/a");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(count(0), "0");
    }

    #[test]
    fn labels_have_three_significant_digits() {
        assert_eq!(bytes_label(0.0), "0 B");
        assert_eq!(bytes_label(1023.0), "1023 B");
        assert_eq!(bytes_label(1024.0), "1 KiB");
        assert_eq!(bytes_label(132.0 * 1024.0), "132 KiB");
        assert_eq!(bytes_label(12_900_000.0), "12.3 MiB");
        assert_eq!(nanos_label(0.0), "0 ns");
        assert_eq!(nanos_label(2.6), "2.6 ns");
        assert_eq!(nanos_label(f64::NAN), "n/a");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(count(1000), "1,000");
        assert_eq!(byte_unit(4096.0), (1024.0, "KiB"));
        assert_eq!(byte_unit(10.0), (1.0, "B"));
        assert_eq!(time_unit(2.5e6), (1e6, "ms"));
        assert_eq!(bytes_label(512.0), "512 B");
        assert_eq!(bytes_label(1536.0), "1.5 KiB");
        assert_eq!(bytes_label(12.3 * 1048576.0), "12.3 MiB");
        assert_eq!(
            bytes_label(1024.0 * 1024.0 * 1024.0 * 1024.0 * 3.0),
            "3 TiB"
        );
        assert_eq!(nanos_label(850.0), "850 ns");
        assert_eq!(nanos_label(1200.0), "1.2 µs");
        assert_eq!(nanos_label(3.45e6), "3.45 ms");
        assert_eq!(nanos_label(2e9), "2 s");
        assert_eq!(nanos_label(5e12), "5000 s");
        assert_eq!(percent_label(0.125), "12.5%");
        assert_eq!(percent_label(0.0), "0%");
        assert_eq!(percent_label(2.5), "250%");
        assert_eq!(ratio_label(0.1268), "0.13");
        assert_eq!(ratio_label(4.868), "4.87");
        assert_eq!(ratio_label(8000.0), "8000");
        assert_eq!(ratio_label(0.0), "0");
    }
}
