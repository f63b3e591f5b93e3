//! The two text outputs of an experiment: a CSV of the data behind the figure and a
//! small Markdown table of the key numbers. Numbers are formatted by fixed rules (the
//! `units` crate; no locale, no float `Debug`), so the same result always gives the
//! same bytes.

use std::fmt::Write as _;

/// A CSV document under construction: a header, then rows of exactly as many cells,
/// quoted by the `csv` crate where a cell needs it (a comma, a quote, a line break), so
/// any text (a phase named `a,b "c"`) reads back as it was written.
#[derive(Debug)]
pub struct Csv {
    columns: Vec<&'static str>,
    writer: csv::Writer<Vec<u8>>,
}

impl Csv {
    /// A CSV with these columns (written as the header line).
    pub fn new(columns: &[&'static str]) -> Csv {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        // Writing into memory cannot fail.
        let _ = writer.write_record(columns);
        Csv {
            columns: columns.to_vec(),
            writer,
        }
    }

    /// The column names.
    pub fn columns(&self) -> &[&'static str] {
        &self.columns
    }

    /// Appends a row.
    ///
    /// A row with the wrong number of cells is a bug of the experiment; it is padded or
    /// cut to the header's width (and the experiment tests check the widths), so the
    /// file always parses.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        let record = (0..self.columns.len()).map(|i| cells.get(i).map(AsRef::as_ref).unwrap_or(""));
        let _ = self.writer.write_record(record);
    }

    /// The document.
    pub fn finish(self) -> String {
        let bytes = self.writer.into_inner().unwrap_or_default();
        // Every cell came in as UTF-8 text.
        String::from_utf8(bytes).unwrap_or_default()
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

/// Numbers in tables: the workspace's one formatter.
pub use units::{bytes, bytes_delta, count, nanos, percent};

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
    fn floats_for_csv_have_fixed_decimals_and_no_negative_zero() {
        assert_eq!(fixed(-0.0001, 2), "0.00");
        assert_eq!(fixed(2.5, 1), "2.5");
    }
}
