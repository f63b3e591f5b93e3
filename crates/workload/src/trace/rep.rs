//! The CS:APP malloc-lab trace format (`.rep`).

use super::{
    NumberError, TraceError, TraceErrorKind, name_from_label, numbered_lines, parse_decimal, shown,
};
use crate::op::{BlockId, MAX_SIZE, Op, OpKind, TouchPolicy, Workload};
use crate::validate::{Position, Validator};
use std::fmt::{self, Write as _};

/// The header's four numbers, in file order, as messages call them.
const HEADER_FIELDS: [&str; 4] = [
    "suggested heap size",
    "number of ids",
    "number of ops",
    "weight",
];

/// Parses a CS:APP `.rep` trace; `file` names it in errors, and its stem names the
/// workload.
///
/// # The format
/// ```text
/// 0          suggested heap size (ignored, as the malloc lab's driver ignores it)
/// 3          number of ids: every id is below it
/// 5          number of ops: the body has exactly this many
/// 1          weight (ignored)
/// a 0 512    malloc(512), remembered as block 0
/// a 1 128
/// r 0 1024   realloc block 0 to 1024 bytes
/// f 1        free block 1
/// f 0
/// ```
/// (The notes on the right are for this page; a real file has only the numbers.)
///
/// Ids and sizes are non-negative decimal integers; sizes are at most 2^48. Fields are
/// separated by blanks or tabs; lines may end in `\r\n`. **Blank lines are skipped
/// anywhere**, as the lab's driver (which reads with `fscanf`) skips them; each
/// non-blank line holds one header number or one op. There are no comments. Blocks
/// live at the end are fine: real programs exit without freeing everything.
///
/// The stream must be valid (see [`crate::validate`]): no free or realloc of an unknown
/// or already-freed id, no malloc of a live id, no realloc to 0. Traces carry no touches,
/// so the workload writes every allocated byte ([`TouchPolicy::WriteAll`]).
pub fn parse_rep(text: &str, file: &str) -> Result<Workload, TraceError> {
    let mut lines = numbered_lines(text).filter(|(_, l)| !l.trim().is_empty());
    let mut header = [0u64; 4];
    let mut header_lines = [0usize; 4];
    for (i, field) in HEADER_FIELDS.iter().enumerate() {
        let Some((n, line)) = lines.next() else {
            let line = numbered_lines(text).count().max(1);
            return Err(header_missing(file, line, field));
        };
        header[i] = header_value(file, i, n, line)?;
        header_lines[i] = n;
    }
    let [_, ids, op_count, _] = header;

    let mut workload = Workload::new(name_from_label(file));
    // Reserve for the announced ops, but never more than the text could hold (a line
    // is at least 4 bytes), so a lying header cannot make us allocate gigabytes.
    let capacity = op_count.min(text.len() as u64 / 4 + 1) as usize;
    workload.ops.reserve(capacity);
    let mut validator = Validator::with_capacity(ids.min(capacity as u64) as usize);

    for (n, line) in lines {
        workload
            .ops
            .push(body_op(file, n, line, ids, &mut validator)?);
    }
    let body = workload.ops.len() as u64;
    if body != op_count {
        return Err(TraceError::at(
            file,
            header_lines[2],
            TraceErrorKind::OpCountMismatch {
                header: op_count,
                body,
            },
        ));
    }
    Ok(workload)
}

fn header_missing(file: &str, line: usize, field: &str) -> TraceError {
    TraceError::malformed(
        file,
        line,
        format!("the file ends inside the 4-line header: {field} is missing"),
    )
}

/// The number on header line `i` (from 0), found at line `n` of the file.
fn header_value(file: &str, i: usize, n: usize, line: &str) -> Result<u64, TraceError> {
    let field = HEADER_FIELDS[i];
    let mut tokens = line.split_ascii_whitespace();
    let token = tokens.next().unwrap_or("");
    if tokens.next().is_some() {
        return Err(TraceError::malformed(
            file,
            n,
            format!(
                "header line {} ({field}) must hold one number, found `{}`",
                i + 1,
                shown(line.trim())
            ),
        ));
    }
    parse_decimal(token).map_err(|_| {
        TraceError::malformed(
            file,
            n,
            format!(
                "header line {} ({field}) must be a non-negative integer, found `{}`",
                i + 1,
                shown(token)
            ),
        )
    })
}

/// The op on body line `n` (not blank), checked against the header's number of ids
/// and the ops before it.
#[inline]
fn body_op(
    file: &str,
    n: usize,
    line: &str,
    ids: u64,
    validator: &mut Validator,
) -> Result<Op, TraceError> {
    let op = parse_op(line).map_err(|message| TraceError::malformed(file, n, message))?;
    let id = op.id().unwrap_or(0);
    if id >= ids {
        return Err(TraceError::at(
            file,
            n,
            TraceErrorKind::IdOutOfRange { id, ids },
        ));
    }
    validator
        .check(&op, Position::Line(n))
        .map_err(|p| TraceError::at(file, n, TraceErrorKind::Op(p)))?;
    Ok(op)
}

/// A `.rep` trace read one line at a time: the ops of [`parse_rep`], with the same
/// checks and the same errors, without holding the file or the op list in memory.
///
/// [`RepReader::new`] reads the 4-line header; the reader is then an iterator of the
/// ops, each checked as [`parse_rep`] checks it (its validator remembers 16 bytes per
/// distinct id, not per op). Reading stops at the first error, which is the last item;
/// a body with fewer or more ops than the header announces ends with
/// [`TraceErrorKind::OpCountMismatch`] at the header's line, after the ops it holds.
/// A line that is not UTF-8 is [`TraceErrorKind::NotUtf8`] at that line.
pub struct RepReader<R> {
    input: R,
    file: String,
    name: String,
    /// Lines read so far (the number of the last one).
    line: usize,
    /// True when the last line read ended with a line break (so one more, empty, line
    /// follows for numbering purposes, as in [`parse_rep`]).
    newline: bool,
    buf: Vec<u8>,
    validator: Validator,
    ids: u64,
    announced: u64,
    op_line: usize,
    read: u64,
    done: bool,
}

impl RepReader<std::io::BufReader<std::fs::File>> {
    /// Opens the trace at `path` and reads its header; errors name the path as given.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, TraceError> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let f = std::fs::File::open(path).map_err(|e| super::io_error(&label, &e))?;
        RepReader::new(std::io::BufReader::with_capacity(1 << 16, f), &label)
    }
}

impl<R: std::io::BufRead> RepReader<R> {
    /// Reads the header of the trace coming from `input`; `file` names it in errors
    /// and its stem names the workload.
    pub fn new(input: R, file: &str) -> Result<Self, TraceError> {
        let mut r = RepReader {
            input,
            file: file.to_string(),
            name: name_from_label(file),
            line: 0,
            newline: false,
            buf: Vec::with_capacity(128),
            validator: Validator::new(),
            ids: 0,
            announced: 0,
            op_line: 0,
            read: 0,
            done: false,
        };
        let mut header = [0u64; 4];
        for (i, field) in HEADER_FIELDS.iter().enumerate() {
            let Some(n) = r.next_line()? else {
                let last = (r.line + usize::from(r.newline)).max(1);
                return Err(header_missing(file, last, field));
            };
            header[i] = header_value(file, i, n, r.text(n)?)?;
            if i == 2 {
                r.op_line = n;
            }
        }
        r.ids = header[1];
        r.announced = header[2];
        Ok(r)
    }

    /// Ops the header announces.
    pub fn announced_ops(&self) -> u64 {
        self.announced
    }

    /// The workload the ops belong to, without its ops: the trace's name and
    /// [`TouchPolicy::WriteAll`], as [`parse_rep`] gives it.
    pub fn workload(&self) -> Workload {
        Workload::new(self.name.clone())
    }

    /// Reads the next non-blank line into `buf`; its number, or `None` at the end.
    fn next_line(&mut self) -> Result<Option<usize>, TraceError> {
        loop {
            self.buf.clear();
            let got = self
                .input
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| super::io_error(&self.file, &e))?;
            if got == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.newline = self.buf.last() == Some(&b'\n');
            if self.line == 1 && self.buf.starts_with("\u{feff}".as_bytes()) {
                self.buf.drain(..3);
            }
            // Blank as parse_rep sees it (Unicode blanks too); a line that is not UTF-8
            // is an error wherever it is, as for a whole file.
            if !line_text(&self.buf, &self.file, self.line)?
                .trim()
                .is_empty()
            {
                return Ok(Some(self.line));
            }
        }
    }

    /// The line in `buf` as text.
    fn text(&self, n: usize) -> Result<&str, TraceError> {
        line_text(&self.buf, &self.file, n)
    }

    fn step(&mut self) -> Result<Option<Op>, TraceError> {
        let Some(n) = self.next_line()? else {
            if self.read != self.announced {
                return Err(self.mismatch(self.read));
            }
            return Ok(None);
        };
        let op = self.op(n)?;
        self.read += 1;
        if self.read > self.announced {
            // More ops than announced: check the rest and count them for the message, as
            // parse_rep does (a bad line among them is the error, not the count).
            while let Some(n) = self.next_line()? {
                self.op(n)?;
                self.read += 1;
            }
            return Err(self.mismatch(self.read));
        }
        Ok(Some(op))
    }

    /// The op on line `n`, which is in `buf`.
    fn op(&mut self, n: usize) -> Result<Op, TraceError> {
        let RepReader {
            buf,
            file,
            validator,
            ids,
            ..
        } = self;
        body_op(file, n, line_text(buf, file, n)?, *ids, validator)
    }

    fn mismatch(&self, body: u64) -> TraceError {
        TraceError::at(
            &self.file,
            self.op_line,
            TraceErrorKind::OpCountMismatch {
                header: self.announced,
                body,
            },
        )
    }
}

/// Line `n` (in `buf`, read from `file`) as text, without its line break.
fn line_text<'a>(buf: &'a [u8], file: &str, n: usize) -> Result<&'a str, TraceError> {
    let bytes = buf.strip_suffix(b"\n").unwrap_or(buf);
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|_| TraceError::at(file, n, TraceErrorKind::NotUtf8))
}

impl<R: std::io::BufRead> Iterator for RepReader<R> {
    type Item = Result<Op, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(op)) => Some(Ok(op)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Parses one body line (not blank) into an op, or says what is wrong with it.
fn parse_op(line: &str) -> Result<Op, String> {
    let mut tokens = line.split_ascii_whitespace();
    let kind = tokens.next().unwrap_or("");
    let (a, b, extra) = (tokens.next(), tokens.next(), tokens.next());
    // Counting the fields is only needed for the message, so it waits for an error.
    let usage_error = |usage: &str| {
        format!(
            "`{kind}` takes {usage}, found {} field(s) in `{}`",
            line.split_ascii_whitespace().count(),
            shown(line.trim())
        )
    };
    match kind {
        "a" | "r" => {
            let (Some(id), Some(size), None) = (a, b, extra) else {
                return Err(usage_error(&format!("an id and a size (`{kind} ID SIZE`)")));
            };
            let id = number("id", id)?;
            let size = number("size", size)?;
            Ok(if kind == "a" {
                Op::Malloc { id, size }
            } else {
                Op::Realloc { id, size }
            })
        }
        "f" => {
            let (Some(id), None) = (a, b) else {
                return Err(usage_error("an id (`f ID`)"));
            };
            Ok(Op::Free {
                id: number("id", id)?,
            })
        }
        _ => Err(format!(
            "unknown op `{}`; a .rep line is `a ID SIZE`, `r ID SIZE` or `f ID`",
            shown(kind)
        )),
    }
}

/// Parses a non-negative integer field called `what`.
fn number(what: &str, token: &str) -> Result<u64, String> {
    parse_decimal(token).map_err(|e| match e {
        NumberError::Invalid => format!(
            "{what} must be a non-negative integer, found `{}`",
            shown(token)
        ),
        NumberError::Overflow if what == "size" => format!(
            "size {} is above the limit of 2^48 = {MAX_SIZE} bytes",
            shown(token)
        ),
        NumberError::Overflow => format!("{what} {} is too large", shown(token)),
    })
}

/// Why a workload cannot be written as a `.rep` trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepWriteError {
    /// An op the format has no line for (touch, trim, phase marker).
    UnsupportedOp {
        /// Index of the op.
        index: usize,
        /// Its kind.
        kind: OpKind,
    },
    /// The workload has lifetime hints, which the format cannot hold.
    LifetimeHints,
    /// Some blocks come from `calloc` or an aligned allocation function, which the
    /// format cannot say (it has only `a`, a malloc).
    AllocCalls,
    /// The workload's touch policy is not [`TouchPolicy::WriteAll`], the only one a
    /// reader of a `.rep` file assumes.
    TouchPolicy,
    /// An id of `u64::MAX`: the header's number of ids (largest id + 1) would overflow.
    IdTooLarge,
}

impl fmt::Display for RepWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepWriteError::UnsupportedOp { index, kind } => write!(
                f,
                "op {index}: a .rep trace cannot hold a {kind} (only malloc, realloc and \
                 free); write the native format, or drop such ops first"
            ),
            RepWriteError::LifetimeHints => f.write_str(
                "a .rep trace cannot hold lifetime hints; write the native format, or drop \
                 the hints first",
            ),
            RepWriteError::AllocCalls => f.write_str(
                "a .rep trace cannot say calloc or aligned allocation (only malloc); write \
                 the native format, or let them become plain mallocs first",
            ),
            RepWriteError::TouchPolicy => f.write_str(
                "a .rep trace cannot say that allocated bytes stay untouched; write the \
                 native format",
            ),
            RepWriteError::IdTooLarge => {
                f.write_str("id 18446744073709551615 is too large for a .rep header")
            }
        }
    }
}

impl std::error::Error for RepWriteError {}

/// Writes `workload` as a `.rep` trace: header `0`, largest id + 1, op count, `1`.
///
/// Only malloc, realloc and free can be written; anything else is an error rather
/// than silently lost ([`lossy_for_rep`] drops it explicitly).
pub fn write_rep(workload: &Workload) -> Result<String, RepWriteError> {
    if !workload.lifetimes.is_empty() {
        return Err(RepWriteError::LifetimeHints);
    }
    if !workload.calls.is_empty() {
        return Err(RepWriteError::AllocCalls);
    }
    if workload.touch != TouchPolicy::WriteAll {
        return Err(RepWriteError::TouchPolicy);
    }
    let mut max_id: Option<BlockId> = None;
    for (index, op) in workload.ops.iter().enumerate() {
        if !op.is_allocator_call() {
            return Err(RepWriteError::UnsupportedOp {
                index,
                kind: op.kind(),
            });
        }
        max_id = max_id.max(op.id());
    }
    let ids = match max_id {
        None => 0,
        Some(id) => id.checked_add(1).ok_or(RepWriteError::IdTooLarge)?,
    };
    let mut out = String::with_capacity(16 + workload.ops.len() * 14);
    // Writing to a String cannot fail.
    let _ = writeln!(out, "0\n{ids}\n{}\n1", workload.ops.len());
    for op in &workload.ops {
        let _ = match *op {
            Op::Malloc { id, size } => writeln!(out, "a {id} {size}"),
            Op::Realloc { id, size } => writeln!(out, "r {id} {size}"),
            Op::Free { id } => writeln!(out, "f {id}"),
            Op::Touch { .. } | Op::Trim { .. } | Op::Phase { .. } => Ok(()),
        };
    }
    Ok(out)
}

/// The part of `workload` a `.rep` trace can hold: its malloc, realloc and free calls.
/// Phase markers, trims, touches and lifetime hints are dropped, blocks from `calloc` or
/// an aligned function become plain mallocs of the same size, and the touch policy
/// becomes [`TouchPolicy::WriteAll`] (which is what a `.rep` reader assumes).
pub fn lossy_for_rep(workload: &Workload) -> Workload {
    Workload {
        name: workload.name.clone(),
        seed: workload.seed,
        touch: TouchPolicy::WriteAll,
        ops: workload
            .ops
            .iter()
            .filter(|op| op.is_allocator_call())
            .cloned()
            .collect(),
        lifetimes: Default::default(),
        calls: Default::default(),
    }
}
