//! brkmap's native trace format.

use super::{
    NumberError, TraceError, TraceErrorKind, name_from_label, numbered_lines, parse_decimal, shown,
};
use crate::op::{AlignedFn, AllocCall, BlockId, MAX_SIZE, Op, TouchPolicy, Workload, check_label};
use crate::validate::{Position, Validator};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// The first line of every native trace.
pub const NATIVE_HEADER: &str = "# brkmap trace v1";

/// Parses a native trace; `file` names it in errors, and its stem names the workload
/// unless the trace has a `name` line.
///
/// # The format
/// A text file, one item a line. The first line is exactly `# brkmap trace v1`. After
/// it:
///
/// ```text
/// # brkmap trace v1
/// # A linked list of three nodes and a string that grows.
/// name list-demo             optional; default: the file name without extension
/// seed 7                     optional: the seed that generated the ops
/// touch-policy write-all     optional: write-all (default) or none
///
/// phase build                a phase marker: names the ops that follow it
/// malloc 1 24                malloc(24), remembered as block 1
/// malloc 2 24 life=2         a lifetime hint: class 2 (0 = shortest-lived)
/// malloc 3 24
/// malloc 4 100
/// realloc 4 4K               realloc block 4 to 4096 bytes
/// touch 4 0 200 w            write 200 bytes of block 4 from offset 0 (r = read)
/// phase teardown
/// free 2
/// free 1
/// trim 0                     malloc_trim(0)
/// free 3
/// free 4
/// ```
/// (The notes on the right are for this page: in a file, comments start with `#`.)
///
/// - **Ops.** `malloc ID SIZE [life=N]`, `free ID`, `realloc ID SIZE`,
///   `touch ID OFFSET LEN r|w`, `trim PAD`, `phase NAME`, and the other ways to
///   allocate a block: `calloc ID COUNT SIZE` (`COUNT * SIZE` zeroed bytes),
///   `posix_memalign ID ALIGN SIZE`, `aligned_alloc ID ALIGN SIZE` and
///   `memalign ID ALIGN SIZE` (each may end in `life=N` too). These read as a `malloc`
///   of the block's bytes plus an [`AllocCall`] in [`Workload::calls`]; like a lifetime
///   hint the call belongs to the id, so every allocation of one id uses the same call
///   (a recorded trace gives every block its own id). Ids are non-negative decimal
///   integers you choose; an id names one block from its malloc to its free and may be
///   used again afterwards. Sizes, offsets, lengths and pads are decimal integers,
///   optionally with a binary suffix `K`/`KiB` (×1024), `M`/`MiB` or `G`/`GiB`, at
///   most 2^48. A lifetime class `N` is 0 to 255 and belongs to the id (give one id
///   the same class each time). `phase` takes the rest of the line as the name.
/// - **Settings.** `name NAME`, `seed N` and `touch-policy write-all|none` may appear
///   once each, before the first op. With `touch-policy none` only explicit `touch`
///   ops fault pages in; with `write-all` every allocated byte is written.
/// - **Comments and blanks.** `#` starts a comment that runs to the end of the line
///   (so names cannot contain `#`); blank lines are ignored; fields are separated by
///   blanks or tabs; lines may end in `\r\n`.
/// - **Validity.** The stream is checked as it is read (see [`crate::validate`]): no
///   free, realloc or touch of an unknown or freed id, no malloc of a live id, no
///   realloc to 0 (glibc would free the block: write `free ID`), no touch past the
///   block's current size. Blocks still live at the end are fine.
pub fn parse_native(text: &str, file: &str) -> Result<Workload, TraceError> {
    let mut lines = numbered_lines(text);
    match lines.next() {
        Some((_, first)) if first.trim() == NATIVE_HEADER => {}
        Some((n, first)) if first.trim_start().starts_with("# brkmap trace") => {
            return Err(TraceError::at(
                file,
                n,
                TraceErrorKind::UnsupportedVersion {
                    header: first.trim().to_string(),
                },
            ));
        }
        _ => {
            return Err(TraceError::malformed(
                file,
                1,
                format!("a native trace must start with the line `{NATIVE_HEADER}`"),
            ));
        }
    }

    let mut workload = Workload::new(name_from_label(file));
    workload.ops.reserve(text.len() / 12);
    let mut validator = Validator::new();
    let mut seen_name = false;
    let mut seen_seed = false;
    let mut seen_policy = false;
    // Per id: the call of its first allocation and that line.
    let mut first_call: HashMap<BlockId, (Option<AllocCall>, usize)> = HashMap::new();

    for (n, raw) in lines {
        let line = match raw.find('#') {
            Some(hash) => &raw[..hash],
            None => raw,
        }
        .trim();
        if line.is_empty() {
            continue;
        }
        let bad = |message: String| TraceError::malformed(file, n, message);
        let (keyword, rest) = match line.find([' ', '\t']) {
            Some(i) => (&line[..i], line[i..].trim()),
            None => (line, ""),
        };

        // Settings: once each, before the first op.
        if matches!(keyword, "name" | "seed" | "touch-policy") {
            if !workload.ops.is_empty() {
                return Err(bad(format!("`{keyword}` must come before the first op")));
            }
            let seen = match keyword {
                "name" => &mut seen_name,
                "seed" => &mut seen_seed,
                _ => &mut seen_policy,
            };
            if std::mem::replace(seen, true) {
                return Err(bad(format!("`{keyword}` is given twice")));
            }
            match keyword {
                "name" => {
                    check_label(rest).map_err(|p| bad(format!("`name`: {p}")))?;
                    workload.name = rest.to_string();
                }
                "seed" => workload.seed = Some(integer("seed", rest).map_err(bad)?),
                _ => {
                    workload.touch = match rest {
                        "write-all" => TouchPolicy::WriteAll,
                        "none" => TouchPolicy::None,
                        other => {
                            return Err(bad(format!(
                                "`touch-policy` is `write-all` or `none`, found `{}`",
                                shown(other)
                            )));
                        }
                    }
                }
            }
            continue;
        }

        let (op, life, call) = parse_op(keyword, rest).map_err(bad)?;
        validator
            .check(&op, Position::Line(n))
            .map_err(|p| TraceError::at(file, n, TraceErrorKind::Op(p)))?;
        if let Op::Malloc { id, .. } = op {
            match first_call.get(&id) {
                None => {
                    first_call.insert(id, (call, n));
                    if let Some(call) = call {
                        workload.calls.insert(id, call);
                    }
                }
                Some(&(before, line)) if before != call => {
                    let how = |c: Option<AllocCall>| c.map_or("malloc", |c| c.name());
                    return Err(bad(format!(
                        "id {id} is allocated by {} here but by {} on line {line}; every \
                         allocation of one id must use the same call (use another id)",
                        how(call),
                        how(before)
                    )));
                }
                Some(_) => {}
            }
        }
        if let (Some(now), Some(id)) = (life, op.id()) {
            match workload.lifetimes.insert(id, now) {
                Some(before) if before != now => {
                    return Err(TraceError::at(
                        file,
                        n,
                        TraceErrorKind::ConflictingLifetime { id, before, now },
                    ));
                }
                _ => {}
            }
        }
        workload.ops.push(op);
    }
    Ok(workload)
}

/// An op line's op, its lifetime hint and the call behind an allocation.
type Parsed = (Op, Option<u8>, Option<AllocCall>);

/// Parses an op line (keyword and the rest, comment removed): the op, its lifetime
/// hint and, for calloc and the aligned functions, the call; or what is wrong.
fn parse_op(keyword: &str, rest: &str) -> Result<Parsed, String> {
    if keyword == "phase" {
        check_label(rest).map_err(|p| format!("`phase` needs a name: {p}"))?;
        return Ok((
            Op::Phase {
                name: rest.to_string(),
            },
            None,
            None,
        ));
    }
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let arity = |usage: &str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "`{keyword}` takes {usage}, found {} field(s) after it",
                fields.len()
            ))
        }
    };
    let aligned = AlignedFn::from_name(keyword);
    if keyword == "calloc" || aligned.is_some() {
        let usage = match aligned {
            None => "an id, a count, a size and an optional lifetime \
                     (`calloc ID COUNT SIZE [life=N]`)"
                .to_string(),
            Some(f) => format!(
                "an id, an alignment, a size and an optional lifetime \
                 (`{} ID ALIGN SIZE [life=N]`)",
                f.name()
            ),
        };
        arity(&usage, fields.len() == 3 || fields.len() == 4)?;
        let life = match fields.get(3) {
            None => None,
            Some(f) => Some(lifetime(f)?),
        };
        let id = id(fields[0])?;
        let (call, bytes) = match aligned {
            None => {
                let count = size("count", fields[1])?;
                let each = size("size", fields[2])?;
                let bytes = count.checked_mul(each).ok_or_else(|| {
                    format!("calloc({count}, {each}) asks for more than 2^64 bytes")
                })?;
                (AllocCall::Calloc { count, size: each }, bytes)
            }
            Some(func) => {
                let align = size("alignment", fields[1])?;
                (AllocCall::Aligned { func, align }, size("size", fields[2])?)
            }
        };
        call.check(bytes)?;
        return Ok((Op::Malloc { id, size: bytes }, life, Some(call)));
    }
    let op = match keyword {
        "malloc" => {
            arity(
                "an id, a size and an optional lifetime (`malloc ID SIZE [life=N]`)",
                fields.len() == 2 || fields.len() == 3,
            )?;
            let life = match fields.get(2) {
                None => None,
                Some(f) => Some(lifetime(f)?),
            };
            let op = Op::Malloc {
                id: id(fields[0])?,
                size: size("size", fields[1])?,
            };
            return Ok((op, life, None));
        }
        "free" => {
            arity("an id (`free ID`)", fields.len() == 1)?;
            Op::Free { id: id(fields[0])? }
        }
        "realloc" => {
            arity("an id and a size (`realloc ID SIZE`)", fields.len() == 2)?;
            Op::Realloc {
                id: id(fields[0])?,
                size: size("size", fields[1])?,
            }
        }
        "touch" => {
            arity(
                "an id, an offset, a length and r or w (`touch ID OFFSET LEN r|w`)",
                fields.len() == 4,
            )?;
            let write = match fields[3] {
                "w" | "write" => true,
                "r" | "read" => false,
                other => {
                    return Err(format!(
                        "a touch is `r` (read) or `w` (write), found `{}`",
                        shown(other)
                    ));
                }
            };
            Op::Touch {
                id: id(fields[0])?,
                offset: size("offset", fields[1])?,
                len: size("length", fields[2])?,
                write,
            }
        }
        "trim" => {
            arity("a pad (`trim PAD`)", fields.len() == 1)?;
            Op::Trim {
                pad: size("pad", fields[0])?,
            }
        }
        other => {
            return Err(format!(
                "unknown op `{}`; expected malloc, calloc, posix_memalign, aligned_alloc, \
                 memalign, free, realloc, touch, trim or phase (or, before the first op, \
                 name, seed or touch-policy)",
                shown(other)
            ));
        }
    };
    Ok((op, None, None))
}

/// A plain non-negative integer field.
fn integer(what: &str, token: &str) -> Result<u64, String> {
    parse_decimal(token).map_err(|e| match e {
        NumberError::Invalid => format!(
            "{what} must be a non-negative integer, found `{}`",
            shown(token)
        ),
        NumberError::Overflow => format!("{what} `{}` is too large", shown(token)),
    })
}

fn id(token: &str) -> Result<BlockId, String> {
    integer("an id", token)
}

/// A byte count: digits with an optional binary suffix (`K`, `KiB`, `M`, `MiB`, `G`,
/// `GiB`). Values that fit a `u64` but exceed 2^48 pass here and are reported by the
/// validator, which knows the op.
fn size(what: &str, token: &str) -> Result<u64, String> {
    let digits_end = token
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(token.len());
    let (digits, suffix) = token.split_at(digits_end);
    let unit: u64 = match suffix {
        "" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "{what} must be a non-negative integer with an optional K, M or G suffix, \
                 found `{}`",
                shown(token)
            ));
        }
    };
    let too_large = || {
        format!(
            "{what} {} is above the limit of 2^48 = {MAX_SIZE} bytes",
            shown(token)
        )
    };
    let value = match parse_decimal(digits) {
        Ok(v) => v,
        Err(NumberError::Overflow) => return Err(too_large()),
        Err(NumberError::Invalid) => {
            return Err(format!(
                "{what} must be a non-negative integer with an optional K, M or G suffix, \
                 found `{}`",
                shown(token)
            ));
        }
    };
    value.checked_mul(unit).ok_or_else(too_large)
}

/// A `life=N` field.
fn lifetime(token: &str) -> Result<u8, String> {
    let bad = || {
        format!(
            "the third field of a malloc is a lifetime `life=N` with N from 0 to 255, \
             found `{}`",
            shown(token)
        )
    };
    let value = token.strip_prefix("life=").ok_or_else(bad)?;
    let n = parse_decimal(value).map_err(|_| bad())?;
    u8::try_from(n).map_err(|_| bad())
}

/// Writes `workload` in the native format. Reading the result back with
/// [`parse_native`] gives the same workload, for any workload that passes
/// [`crate::validate`]. A lifetime hint is written on the first malloc of its id; hints
/// for ids that no op allocates (which [`crate::validate`] rejects) are not written.
pub fn write_native(workload: &Workload) -> String {
    write_native_annotated(workload, &[])
}

/// [`write_native`] with `comments` as `#` lines right after the header: where a trace
/// came from and what a reader should know about it. A comment's line breaks become
/// separate comment lines.
pub fn write_native_annotated(workload: &Workload, comments: &[String]) -> String {
    let mut out = String::with_capacity(64 + workload.ops.len() * 16);
    // Writing to a String cannot fail, hence the ignored results.
    let _ = writeln!(out, "{NATIVE_HEADER}");
    for line in comments.iter().flat_map(|c| c.lines()) {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(
        out,
        "# ops: malloc ID SIZE [life=N] | free ID | realloc ID SIZE | touch ID OFFSET LEN r|w \
         | trim PAD | phase NAME"
    );
    if !workload.calls.is_empty() {
        let _ = writeln!(
            out,
            "#      calloc ID COUNT SIZE | posix_memalign|aligned_alloc|memalign ID ALIGN SIZE"
        );
    }
    let _ = writeln!(out, "name {}", workload.name);
    if let Some(seed) = workload.seed {
        let _ = writeln!(out, "seed {seed}");
    }
    if workload.touch == TouchPolicy::None {
        let _ = writeln!(out, "touch-policy none");
    }
    let mut hinted: HashSet<BlockId> = HashSet::new();
    for op in &workload.ops {
        let _ = match op {
            Op::Malloc { id, size } => {
                let _ = match workload.calls.get(id) {
                    Some(AllocCall::Calloc { count, size }) => {
                        write!(out, "calloc {id} {count} {size}")
                    }
                    Some(AllocCall::Aligned { func, align }) => {
                        write!(out, "{} {id} {align} {size}", func.name())
                    }
                    None => write!(out, "malloc {id} {size}"),
                };
                match workload.lifetimes.get(id) {
                    Some(class) if hinted.insert(*id) => writeln!(out, " life={class}"),
                    _ => writeln!(out),
                }
            }
            Op::Free { id } => writeln!(out, "free {id}"),
            Op::Realloc { id, size } => writeln!(out, "realloc {id} {size}"),
            Op::Touch {
                id,
                offset,
                len,
                write,
            } => writeln!(
                out,
                "touch {id} {offset} {len} {}",
                if *write { "w" } else { "r" }
            ),
            Op::Trim { pad } => writeln!(out, "trim {pad}"),
            Op::Phase { name } => writeln!(out, "phase {name}"),
        };
    }
    out
}
