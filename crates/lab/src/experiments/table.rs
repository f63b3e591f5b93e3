//! The two text outputs of an experiment: a CSV of the data behind the figure and a
//! small Markdown table of the key numbers, plus the fixed-rule number formatting both
//! use (no locale, no float `Debug`), so the same result always gives the same bytes.

use std::fmt::Write as _;

/// A CSV document under construction: a header, then rows of exactly as many cells.
#[derive(Clone, Debug)]
pub struct Csv {
    columns: Vec<&'static str>,
    text: String,
}

impl Csv {
    /// A CSV with these columns (written as the header line).
    pub fn new(columns: &[&'static str]) -> Csv {
        let mut text = columns.join(",");
        text.push('\n');
        Csv {
            columns: columns.to_vec(),
            text,
        }
    }

    /// The column names.
    pub fn columns(&self) -> &[&'static str] {
        &self.columns
    }

    /// Appends a row. Cells holding a comma, a quote or a newline are quoted.
    ///
    /// A row with the wrong number of cells is a bug of the experiment; it is padded or
    /// cut to the header's width (and the experiment tests check the widths), so the
    /// file always parses.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        for i in 0..self.columns.len() {
            if i > 0 {
                self.text.push(',');
            }
            let cell = cells.get(i).map(AsRef::as_ref).unwrap_or("");
            if cell.contains([',', '"', '\n']) {
                let _ = write!(self.text, "\"{}\"", cell.replace('"', "\"\""));
            } else {
                self.text.push_str(cell);
            }
        }
        self.text.push('\n');
    }

    /// The document.
    pub fn finish(self) -> String {
        self.text
    }
}

/// A Markdown document of one caption line and one or more tables.
#[derive(Clone, Debug, Default)]
pub struct Markdown {
    text: String,
}

impl Markdown {
    /// A document that opens with `caption` in italics.
    pub fn new(caption: &str) -> Markdown {
        Markdown {
            text: format!("*{caption}*\n"),
        }
    }

    /// Adds a paragraph.
    pub fn para(&mut self, text: &str) {
        let _ = write!(self.text, "\n{text}\n");
    }

    /// Adds a table. A column whose cells all read as numbers (they start with a digit,
    /// a sign or `≈`) is right-aligned so digits line up; the others are left-aligned.
    pub fn table<S: AsRef<str>>(&mut self, header: &[&str], rows: &[Vec<S>]) {
        self.text.push('\n');
        let escape = |s: &str| s.replace('|', "\\|");
        let numeric = |i: usize| {
            i > 0
                && rows.iter().all(|r| {
                    r.get(i).map(AsRef::as_ref).is_none_or(|c: &str| {
                        c.is_empty()
                            || c.starts_with(|ch: char| {
                                ch.is_ascii_digit() || matches!(ch, '+' | '-' | '≈' | '−')
                            })
                    })
                })
        };
        let _ = writeln!(
            self.text,
            "| {} |",
            header
                .iter()
                .map(|h| escape(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let rule: Vec<&str> = (0..header.len())
            .map(|i| if numeric(i) { "---:" } else { ":---" })
            .collect();
        let _ = writeln!(self.text, "| {} |", rule.join(" | "));
        for row in rows {
            let cells: Vec<String> = (0..header.len())
                .map(|i| escape(row.get(i).map(AsRef::as_ref).unwrap_or("")))
                .collect();
            let _ = writeln!(self.text, "| {} |", cells.join(" | "));
        }
    }

    /// The document.
    pub fn finish(self) -> String {
        self.text
    }
}

/// A byte count in the largest binary unit it reaches, one decimal: `512 B`,
/// `132.0 KiB`, `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A signed byte change: `+132.0 KiB`, `-36.0 KiB`.
pub fn bytes_delta(d: i64) -> String {
    if d < 0 {
        format!("-{}", bytes(d.unsigned_abs()))
    } else {
        format!("+{}", bytes(d as u64))
    }
}

/// Simulated nanoseconds in a readable unit: `950 ns`, `3.40 µs`, `1.20 ms`.
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

/// A ratio in percent with one decimal: `0.125` -> `12.5%`.
pub fn percent(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:.1}%", ratio * 100.0)
    } else {
        "n/a".to_string()
    }
}

/// An integer with a comma every three digits.
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

/// A float for CSV: fixed decimals, no `-0`.
pub fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting_and_keeps_widths() {
        let mut c = Csv::new(&["a", "b"]);
        c.row(&["x,y", "say \"hi\""]);
        c.row(&["only"]);
        assert_eq!(c.finish(), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\nonly,\n");
    }

    #[test]
    fn markdown_tables_align_and_escape() {
        let mut m = Markdown::new("cap");
        m.table(&["name", "n", "kind"], &[vec!["a|b", "1", "used"]]);
        assert_eq!(
            m.finish(),
            "*cap*\n\n| name | n | kind |\n| :--- | ---: | :--- |\n| a\\|b | 1 | used |\n"
        );
    }

    #[test]
    fn numbers_format_by_fixed_rules() {
        assert_eq!(bytes(135168), "132.0 KiB");
        assert_eq!(bytes_delta(-36864), "-36.0 KiB");
        assert_eq!(nanos(3400.0), "3.40 µs");
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(fixed(-0.0001, 2), "0.00");
        assert_eq!(fixed(2.5, 1), "2.5");
    }
}
