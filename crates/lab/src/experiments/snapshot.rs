//! Reading the committed real-machine snapshots (`notebooks-data/<name>.real.csv`).
//!
//! Every snapshot has the same shape: `#` comment lines saying where and how it was
//! measured, a header line naming the experiment's declared columns, then one record
//! per line. [`read`] checks that shape once for all of them (with the `csv` crate, so
//! quoted cells read back exactly as they were written) and hands each experiment its
//! records as text, with the line each came from for error messages.

use super::Column;

/// A snapshot, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The comment lines at the top, without their `#` and surrounding blanks.
    pub comments: Vec<String>,
    /// The records, in file order.
    pub records: Vec<Record>,
}

/// One record of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// Its 1-based line in the file.
    pub line: usize,
    /// One cell per declared column.
    pub cells: Vec<String>,
}

impl Record {
    /// Cell `k` as a count.
    pub fn count(&self, columns: &[Column], k: usize) -> Result<u64, (usize, String)> {
        self.cells[k].parse::<u64>().map_err(|_| {
            (
                self.line,
                format!(
                    "column {}: {:?} is not a count",
                    columns[k].0, self.cells[k]
                ),
            )
        })
    }

    /// Cell `k` as a finite number, at least `min`.
    pub fn number(&self, columns: &[Column], k: usize, min: f64) -> Result<f64, (usize, String)> {
        self.cells[k]
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= min)
            .ok_or_else(|| {
                (
                    self.line,
                    format!(
                        "column {}: {:?} is not a number",
                        columns[k].0, self.cells[k]
                    ),
                )
            })
    }
}

/// Reads `text` as a snapshot of `columns`. Errors give the 1-based line.
pub(crate) fn read(text: &str, columns: &[Column]) -> Result<Snapshot, (usize, String)> {
    let mut comments = Vec::new();
    let mut body = text;
    let mut skipped = 0;
    while let Some(line) = body.lines().next() {
        let Some(c) = line.strip_prefix('#') else {
            break;
        };
        comments.push(c.trim().to_string());
        body = &body[(line.len() + 1).min(body.len())..];
        skipped += 1;
    }
    let header: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let expected = || format!("expected the header {:?}", header.join(","));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut records = Vec::new();
    let mut first = true;
    for result in reader.records() {
        let record = result.map_err(|e| {
            let line = e
                .position()
                .map_or(skipped + 1, |p| skipped + p.line() as usize);
            (line, format!("not CSV: {e}"))
        })?;
        let line = skipped + record.position().map_or(1, |p| p.line() as usize);
        if first {
            first = false;
            if record.iter().ne(header.iter().copied()) {
                return Err((line, expected()));
            }
            continue;
        }
        if record.len() == 1 && record.get(0).is_some_and(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            return Err((
                line,
                format!("{} cells, expected {}", record.len(), header.len()),
            ));
        }
        records.push(Record {
            line,
            cells: record.iter().map(str::to_string).collect(),
        });
    }
    if first {
        return Err((skipped + 1, format!("{}, got an empty file", expected())));
    }
    Ok(Snapshot { comments, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: &[Column] = &[("name", "a name"), ("n", "a count")];

    #[test]
    fn comments_header_and_quoted_cells_read_back() {
        let text = "# measured here\n#  twice \nname,n\n\"a,b \"\"c\"\"\",3\nplain,4\n\n";
        let s = read(text, COLS).unwrap();
        assert_eq!(s.comments, vec!["measured here", "twice"]);
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.records[0].cells, vec!["a,b \"c\"", "3"]);
        assert_eq!(s.records[0].line, 4);
        assert_eq!(s.records[1].line, 5);
        assert_eq!(s.records[1].count(COLS, 1), Ok(4));
    }

    #[test]
    fn a_broken_file_names_its_line() {
        assert_eq!(read("# x\nname\n", COLS).unwrap_err().0, 2);
        assert_eq!(read("", COLS).unwrap_err().0, 1);
        let short = read("name,n\na,1\nb\n", COLS).unwrap_err();
        assert_eq!(short, (3, "1 cells, expected 2".to_string()));
        let s = read("name,n\na,x\n", COLS).unwrap();
        assert_eq!(s.records[0].count(COLS, 1).unwrap_err().0, 2);
        assert!(s.records[0].number(COLS, 1, 0.0).is_err());
    }
}
