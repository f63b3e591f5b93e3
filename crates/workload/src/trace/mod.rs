//! Trace files: op streams on disk, in two formats.
//!
//! - **native** (`# brkmap trace v1`, usually `*.trace`): brkmap's own text format. It
//!   holds everything an [`Op`](crate::Op) stream can say, including touches, trims,
//!   phase markers, lifetime hints and the touch policy, and is meant to be written by
//!   hand too (homework). Described in full in [`parse_native`].
//! - **rep** (`*.rep`): the trace format of the CS:APP malloc lab, used by the
//!   real-program traces in `../shared/traces`: a 4-line header, then `a ID SIZE`,
//!   `r ID SIZE`, `f ID`. Described in [`parse_rep`].
//!
//! - **tracer log** (binary): what `sim record`'s `LD_PRELOAD` tracer writes while a real
//!   program runs, with real addresses; [`parse_tracer_log`] turns it into a workload
//!   (see [`tracer_log`]), which is then written as native or rep.
//!
//! [`read_trace`] reads a file and picks the format from its content: a file whose first
//! line starts with `# brkmap trace` is native; otherwise a `.rep` name or a number on
//! the first non-blank line means rep. Both parsers check the stream as they go (with
//! [`Validator`](crate::Validator)), so a trace that loads is a valid workload.
//!
//! Every error is a [`TraceError`] whose one-line message names the file and the line,
//! like `traces/x.rep:17: free of unknown id 42`. No input makes the readers panic.

mod native;
mod rep;
pub mod tracer_log;

pub use native::{NATIVE_HEADER, parse_native, write_native, write_native_annotated};
pub use rep::{RepReader, RepWriteError, lossy_for_rep, parse_rep, write_rep};
pub use tracer_log::{LogSummary, parse_tracer_log};

use crate::op::{BlockId, Workload, check_label};
use crate::validate::OpProblem;
use std::fmt;
use std::path::Path;

/// The two trace formats.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TraceFormat {
    /// brkmap's native text format (`# brkmap trace v1`).
    Native,
    /// The CS:APP malloc-lab `.rep` format.
    Rep,
}

impl TraceFormat {
    /// The format a file of this name would be written in: `.rep` files are rep, all
    /// others native.
    pub fn from_path(path: impl AsRef<Path>) -> TraceFormat {
        match path.as_ref().extension() {
            Some(ext) if ext.eq_ignore_ascii_case("rep") => TraceFormat::Rep,
            _ => TraceFormat::Native,
        }
    }
}

/// A trace that could not be read, with the file and line where reading stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// The file, as the caller named it (a path or a label such as `<stdin>`).
    pub file: String,
    /// The line (from 1), when the problem has one; file-level problems (a missing
    /// file) have none.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: TraceErrorKind,
}

/// What is wrong with a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceErrorKind {
    /// The file could not be read.
    Io {
        /// The operating system's error kind.
        kind: std::io::ErrorKind,
        /// Its message.
        message: String,
    },
    /// The file is not UTF-8 text (the line is where the first bad byte is).
    NotUtf8,
    /// The content matches neither format.
    UnknownFormat,
    /// A native trace of a version this build does not read.
    UnsupportedVersion {
        /// The header line found.
        header: String,
    },
    /// A line does not follow the format's syntax.
    Malformed {
        /// What was expected and what was found.
        message: String,
    },
    /// The `.rep` header's op count disagrees with the number of ops in the body
    /// (reported at the header's line).
    OpCountMismatch {
        /// Ops the header announces.
        header: u64,
        /// Ops the body holds.
        body: u64,
    },
    /// A `.rep` id is not below the header's number of ids.
    IdOutOfRange {
        /// The id.
        id: BlockId,
        /// The header's number of ids.
        ids: u64,
    },
    /// A native trace gives one id two different lifetime hints.
    ConflictingLifetime {
        /// The id.
        id: BlockId,
        /// The earlier hint.
        before: u8,
        /// This line's hint.
        now: u8,
    },
    /// The op is well-formed but invalid after the ops before it (unknown id, double
    /// free, ...).
    Op(OpProblem),
}

impl fmt::Display for TraceErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceErrorKind::Io { message, .. } => write!(f, "cannot read the file: {message}"),
            TraceErrorKind::NotUtf8 => f.write_str("not UTF-8 text; a trace is a text file"),
            TraceErrorKind::UnknownFormat => write!(
                f,
                "not a trace: a native trace starts with `{NATIVE_HEADER}`, a CS:APP .rep \
                 trace with a number (its 4-line header)"
            ),
            TraceErrorKind::UnsupportedVersion { header } => write!(
                f,
                "unsupported native trace version `{}`; this brkmap reads `{NATIVE_HEADER}`",
                shown(header)
            ),
            TraceErrorKind::Malformed { message } => f.write_str(message),
            TraceErrorKind::OpCountMismatch { header, body } => {
                write!(f, "the header says {header} ops but the body has {body}")
            }
            TraceErrorKind::IdOutOfRange { id, ids } => {
                write!(f, "id {id} is not below the header's number of ids ({ids})")
            }
            TraceErrorKind::ConflictingLifetime { id, before, now } => write!(
                f,
                "id {id} gets lifetime class {now}, but an earlier line gave it {before}"
            ),
            TraceErrorKind::Op(problem) => problem.fmt(f),
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.kind),
            None => write!(f, "{}: {}", self.file, self.kind),
        }
    }
}

impl std::error::Error for TraceError {}

impl TraceError {
    pub(crate) fn at(file: &str, line: usize, kind: TraceErrorKind) -> TraceError {
        TraceError {
            file: file.to_string(),
            line: Some(line),
            kind,
        }
    }

    pub(crate) fn malformed(file: &str, line: usize, message: String) -> TraceError {
        TraceError::at(file, line, TraceErrorKind::Malformed { message })
    }
}

/// Reads the trace at `path`, in either format (chosen as [`parse_trace`] says).
/// Errors name the path as given.
pub fn read_trace(path: impl AsRef<Path>) -> Result<Workload, TraceError> {
    let path = path.as_ref();
    let label = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| io_error(&label, &e))?;
    parse_trace(&bytes, &label)
}

/// The error for a file that could not be read.
pub(crate) fn io_error(file: &str, e: &std::io::Error) -> TraceError {
    TraceError {
        file: file.to_string(),
        line: None,
        kind: TraceErrorKind::Io {
            kind: e.kind(),
            message: e.to_string(),
        },
    }
}

/// Parses trace bytes in either format; `file` names them in errors (a path: its
/// extension is a hint, and its stem names the workload).
///
/// The format comes from the content first: text whose first line starts with
/// `# brkmap trace` is native (and must then be `# brkmap trace v1`). Otherwise a `file`
/// ending in `.rep`, or a first non-blank line starting with a digit, means `.rep`.
/// Anything else is [`TraceErrorKind::UnknownFormat`]. Bytes that are not UTF-8 are an
/// error at the line of the first bad byte.
pub fn parse_trace(bytes: &[u8], file: &str) -> Result<Workload, TraceError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        TraceError::at(file, line, TraceErrorKind::NotUtf8)
    })?;
    let first = strip_bom(text)
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty());
    if first.is_some_and(|line| line.starts_with("# brkmap trace")) {
        // parse_native insists that the header is the very first line.
        return parse_native(text, file);
    }
    if TraceFormat::from_path(file) == TraceFormat::Rep
        || first.is_some_and(|line| line.starts_with(|c: char| c.is_ascii_digit()))
    {
        return parse_rep(text, file);
    }
    Err(TraceError::at(file, 1, TraceErrorKind::UnknownFormat))
}

/// `text` without a leading UTF-8 byte-order mark (which some Windows editors write).
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// The lines of `text` with their numbers (from 1), without line terminators (`\n` or
/// `\r\n`).
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    strip_bom(text)
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// The workload name for a trace labelled `file`: its file stem, with characters that a
/// name cannot hold replaced by `-`, or `trace` if nothing is left.
pub(crate) fn name_from_label(file: &str) -> String {
    let stem = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cleaned: String = stem
        .chars()
        .map(|c| if c == '#' || c.is_control() { '-' } else { c })
        .collect();
    let cleaned = cleaned.trim().to_string();
    if check_label(&cleaned).is_ok() {
        cleaned
    } else {
        "trace".to_string()
    }
}

/// A token for an error message: on one line, escaped, and cut to a readable length.
pub(crate) fn shown(token: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = token
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if token.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

/// Why a number token could not be read.
pub(crate) enum NumberError {
    /// Not a number at all.
    Invalid,
    /// Digits, but more than a `u64` holds.
    Overflow,
}

/// Parses a plain non-negative decimal integer (digits only: no sign, no spaces).
pub(crate) fn parse_decimal(token: &str) -> Result<u64, NumberError> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::Invalid);
    }
    let mut value: u64 = 0;
    for b in token.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(NumberError::Overflow)?;
    }
    Ok(value)
}
