//! `sim quiz freelist --ostep`: OSTEP's `malloc.py`, reproduced to the byte.
//!
//! OSTEP's chapter on free-space management comes with a simulator, `malloc.py`, whose
//! homework questions students answer with `-c` hidden and then check. Courses have
//! years of those questions, so brkmap speaks malloc.py's language exactly: the same
//! flags (`-s -S -b -H -a -p -l -C -n -r -P -A -c`, long forms and optparse's
//! spellings included), the same random operations for the same seed, the same output,
//! byte for byte. It was compared with malloc.py of the `ostep-homework` repository at
//! commit `6c6cfc7e82c274fb7f0f068b5a75e1b42f7615b6` (the file last changed in
//! `4b15aadb85041e466064c8b31a0f59d549dde68c`), run by Python 3.11; the committed
//! outputs are in `crates/sim/tests/data/ostep/`.
//!
//! The three parts:
//! - [`pyint`]: Python's integer syntax and optparse's base rules;
//! - [`model`]: malloc.py's allocator, with its quirks (see there);
//! - this module: the command line and the printing, including two quirks of the
//!   printing: with `-A` the returned pointer is the range's address, while the
//!   random mode prints the address *plus the header size* (so a failed request prints
//!   `returned -1` with `-A` but `returned 3` with `-H 4`); and the random mode prints
//!   `List? ` with a trailing space where `-A` prints `List?`.
//!
//! What malloc.py cannot do, brkmap reports as an error instead of a traceback: an
//! unknown `-p`/`-l` value, a malformed op list, a free of an op whose allocation failed
//! (malloc.py's `KeyError`), a repeated 0-byte block (its `AssertionError`). Like
//! malloc.py, everything printed before the failure is printed; the error follows.
//! Two limits are brkmap's own: values must fit in 64 bits (the seed may be any size)
//! and the random mode runs at most [`MAX_RANDOM_OPS`] ops.
//!
//! Without `--ostep`, the `freelist` quiz asks the same kind of questions of brkmap's
//! own free-list allocator on the simulated kernel (see [`super::freelist`]): a heap
//! that grows with `sbrk`, real headers and footers, correct coalescing.

pub mod model;
pub mod pyint;

use super::mt::Mt19937;
use model::{ListOrder, Model, ModelError, Policy};
use pyint::BigInt;
use std::fmt::{self, Write as _};
use std::io;

/// Most random ops (`-n`) brkmap runs: a homework needs tens; this keeps a typo from
/// running for hours.
pub const MAX_RANDOM_OPS: i64 = 100_000;

/// What a run printed, and why it stopped early if it did ([`run_to_string`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Everything malloc.py prints on stdout (up to the failure, if any).
    pub stdout: String,
    /// Why the run stopped before the end, as one line (malloc.py would print a
    /// traceback or an optparse error there).
    pub error: Option<String>,
}

/// Why [`run`] stopped before the end.
#[derive(Debug)]
pub enum RunError {
    /// Where malloc.py stops with a traceback or an optparse error: why, in one line.
    /// Everything malloc.py prints before has been written.
    Stopped(String),
    /// The writer failed (a closed pipe, a full disk).
    Io(io::Error),
}

/// Where the output goes: a buffer handed to the writer every 64 KiB, so that a long
/// run (malloc.py prints the whole free list after every op) streams instead of piling
/// up in memory. The first write error is kept and ends the run.
struct Out<'a> {
    buf: String,
    sink: &'a mut dyn io::Write,
    error: Option<io::Error>,
}

impl Out<'_> {
    fn push_str(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    fn push(&mut self, c: char) {
        self.buf.push(c);
    }

    /// Hands the buffer over when it is big; false once the writer has failed.
    fn flow(&mut self) -> bool {
        if self.buf.len() >= 1 << 16 {
            self.flush();
        }
        self.error.is_none()
    }

    fn flush(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.sink.write_all(self.buf.as_bytes())
        {
            self.error = Some(e);
        }
        self.buf.clear();
    }
}

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

/// malloc.py's options after parsing.
#[derive(Clone, Debug)]
struct Options {
    seed: BigInt,
    heap_size: i64,
    base: i64,
    header: i64,
    alignment: i64,
    policy: String,
    order: String,
    coalesce: bool,
    num_ops: i64,
    range: i64,
    percent_alloc: i64,
    alloc_list: String,
    compute: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: BigInt::zero(),
            heap_size: 100,
            base: 1000,
            header: 0,
            alignment: -1,
            policy: "BEST".into(),
            order: "ADDRSORT".into(),
            coalesce: false,
            num_ops: 10,
            range: 10,
            percent_alloc: 50,
            alloc_list: String::new(),
            compute: false,
        }
    }
}

/// The options malloc.py declares: short name, long name, and whether a value follows.
const OPTIONS: [(char, &str, bool); 14] = [
    ('s', "--seed", true),
    ('S', "--size", true),
    ('b', "--baseAddr", true),
    ('H', "--headerSize", true),
    ('a', "--alignment", true),
    ('p', "--policy", true),
    ('l', "--listOrder", true),
    ('C', "--coalesce", false),
    ('n', "--numOps", true),
    ('r', "--range", true),
    ('P', "--percentAlloc", true),
    ('A', "--allocList", true),
    ('c', "--compute", false),
    ('h', "--help", false),
];

/// Parses malloc.py's command line as optparse does: short options (clustered, `-C -c`
/// as `-Cc`, values attached or separate: `-S100`, `-S 100`), long options with `=` or
/// a separate value and unambiguous abbreviations (`--pol FIRST`), `--` ending the
/// options. Positional arguments are accepted and ignored, as malloc.py ignores them.
/// Errors read like optparse's.
fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut rest: Vec<String> = args.to_vec();
    rest.reverse(); // pop from the end = take the next argument
    while let Some(arg) = rest.pop() {
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let (short, full, takes) = match_long(&name)?;
            let value = match (takes, value) {
                (true, Some(v)) => Some(v),
                (true, None) => Some(
                    rest.pop()
                        .ok_or_else(|| format!("{full} option requires 1 argument"))?,
                ),
                (false, Some(_)) => return Err(format!("{full} option does not take a value")),
                (false, None) => None,
            };
            apply(&mut o, short, full, value)?;
        } else if arg.len() > 1 && arg.starts_with('-') {
            let chars: Vec<char> = arg.chars().skip(1).collect();
            for (i, &ch) in chars.iter().enumerate() {
                let Some(&(short, _, takes)) = OPTIONS.iter().find(|o| o.0 == ch) else {
                    return Err(format!("no such option: -{ch}"));
                };
                let name = format!("-{short}");
                if takes {
                    let attached: String = chars[i + 1..].iter().collect();
                    let value = if attached.is_empty() {
                        rest.pop()
                            .ok_or_else(|| format!("{name} option requires 1 argument"))?
                    } else {
                        attached
                    };
                    apply(&mut o, short, &name, Some(value))?;
                    break;
                }
                apply(&mut o, short, &name, None)?;
            }
        }
        // Anything else is a positional argument: malloc.py never reads them.
    }
    Ok(o)
}

/// optparse's `_match_abbrev`: an exact long name, or the only one starting so.
fn match_long(name: &str) -> Result<(char, &'static str, bool), String> {
    if let Some(&(s, l, t)) = OPTIONS.iter().find(|o| o.1 == name) {
        return Ok((s, l, t));
    }
    let mut hits: Vec<&(char, &str, bool)> =
        OPTIONS.iter().filter(|o| o.1.starts_with(name)).collect();
    match hits.len() {
        0 => Err(format!("no such option: {name}")),
        1 => Ok(*hits[0]),
        _ => {
            hits.sort_by_key(|o| o.1);
            let names: Vec<&str> = hits.iter().map(|o| o.1).collect();
            Err(format!("ambiguous option: {name} ({}?)", names.join(", ")))
        }
    }
}

/// Stores one option's value, converting it as optparse's `int` type does.
fn apply(o: &mut Options, short: char, name: &str, value: Option<String>) -> Result<(), String> {
    let int = |v: &str| -> Result<BigInt, String> {
        pyint::optparse_int(v).ok_or_else(|| format!("option {name}: invalid integer value: '{v}'"))
    };
    let small = |v: &str| -> Result<i64, String> {
        int(v)?.to_i64().ok_or_else(|| {
            format!("option {name}: {v} does not fit in 64 bits (brkmap's model computes in 64-bit integers)")
        })
    };
    let v = value.unwrap_or_default();
    match short {
        's' => o.seed = int(&v)?,
        'S' => o.heap_size = small(&v)?,
        'b' => o.base = small(&v)?,
        'H' => o.header = small(&v)?,
        'a' => o.alignment = small(&v)?,
        'p' => o.policy = v,
        'l' => o.order = v,
        'C' => o.coalesce = true,
        'n' => o.num_ops = small(&v)?,
        'r' => o.range = small(&v)?,
        'P' => o.percent_alloc = small(&v)?,
        'A' => o.alloc_list = v,
        'c' => o.compute = true,
        _ => {
            return Err(
                "-h: malloc.py's help is not reproduced; see `sim quiz --help` and the \
                 flags -s -S -b -H -a -p -l -C -n -r -P -A -c"
                    .to_string(),
            );
        }
    }
    Ok(())
}

/// Python's `True`/`False`.
fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Runs malloc.py with these command-line arguments (as after `malloc.py` on its
/// command line), writing what it prints to `sink`. `compute` forces `-c` (brkmap's
/// `--answers`).
pub fn run(args: &[String], compute: bool, sink: &mut dyn io::Write) -> Result<(), RunError> {
    let mut out = Out {
        buf: String::new(),
        sink,
        error: None,
    };
    let stopped = match parse(args) {
        Err(e) => Some(e),
        Ok(mut o) => {
            o.compute |= compute;
            simulate(&o, &mut out).err()
        }
    };
    out.flush();
    match (out.error, stopped) {
        (Some(e), _) => Err(RunError::Io(e)),
        (None, Some(why)) => Err(RunError::Stopped(why)),
        (None, None) => Ok(()),
    }
}

/// [`run`] into a string: what malloc.py printed and why it stopped, if it did.
pub fn run_to_string(args: &[String], compute: bool) -> Outcome {
    let mut bytes = Vec::new();
    let error = match run(args, compute, &mut bytes) {
        Ok(()) => None,
        Err(RunError::Stopped(why)) => Some(why),
        Err(RunError::Io(e)) => Some(e.to_string()),
    };
    Outcome {
        stdout: String::from_utf8_lossy(&bytes).into_owned(),
        error,
    }
}

/// The main program of malloc.py: check the policy, print the settings, run the ops.
fn simulate(o: &Options, out: &mut Out) -> Result<(), String> {
    // malloc.py builds its allocator first: its assertions fire before any output.
    let policy = Policy::parse(&o.policy).ok_or_else(|| {
        format!(
            "-p {}: not a policy (BEST, WORST or FIRST); malloc.py stops with an AssertionError",
            o.policy
        )
    })?;
    let order = ListOrder::parse(&o.order).ok_or_else(|| {
        format!(
            "-l {}: not a list order (ADDRSORT, SIZESORT+, SIZESORT-, INSERT-FRONT, \
             INSERT-BACK); malloc.py stops with an AssertionError",
            o.order
        )
    })?;
    let align = match o.alignment {
        -1 => None,
        a if a > 0 => Some(a),
        a => {
            return Err(format!(
                "-a {a}: the alignment must be positive or -1 (none); malloc.py stops with \
                 an AssertionError"
            ));
        }
    };
    let mut m = Model::new(
        o.heap_size,
        o.base,
        o.header,
        policy,
        order,
        o.coalesce,
        align,
    );
    let _ = writeln!(out, "seed {}", o.seed);
    let _ = writeln!(out, "size {}", o.heap_size);
    let _ = writeln!(out, "baseAddr {}", o.base);
    let _ = writeln!(out, "headerSize {}", o.header);
    let _ = writeln!(out, "alignment {}", o.alignment);
    let _ = writeln!(out, "policy {}", o.policy);
    let _ = writeln!(out, "listOrder {}", o.order);
    let _ = writeln!(out, "coalesce {}", py_bool(o.coalesce));
    let _ = writeln!(out, "numOps {}", o.num_ops);
    let _ = writeln!(out, "range {}", o.range);
    let _ = writeln!(out, "percentAlloc {}", o.percent_alloc);
    let _ = writeln!(out, "allocList {}", o.alloc_list);
    let _ = writeln!(out, "compute {}", py_bool(o.compute));
    out.push('\n');
    let percent = o.percent_alloc as f64 / 100.0;
    if percent <= 0.0 {
        return Err(format!(
            "-P {}: the percentage of allocations must be positive; malloc.py stops with an \
             AssertionError",
            o.percent_alloc
        ));
    }
    let model_err = |e: ModelError| e.to_string();
    if o.alloc_list.is_empty() {
        if o.num_ops > MAX_RANDOM_OPS {
            return Err(format!(
                "-n {}: brkmap runs at most {MAX_RANDOM_OPS} random ops",
                o.num_ops
            ));
        }
        random_ops(o, percent, &mut m, out).map_err(model_err)
    } else {
        listed_ops(o, &mut m, out)
    }
}

/// The random mode: each step allocates with probability `-P` percent (a size from 1
/// to `-r`) or frees a random live block, drawn from Python's `random.random()`.
fn random_ops(o: &Options, percent: f64, m: &mut Model, out: &mut Out) -> Result<(), ModelError> {
    let mut rng = Mt19937::from_key(o.seed.abs_words());
    // Live blocks: (op number, address), in the order they were allocated.
    let mut live: Vec<(u64, i64)> = Vec::new();
    let mut c = 0u64;
    let mut done = 0i64;
    while done < o.num_ops {
        if rng.random() < percent {
            let size = ((rng.random() * o.range as f64) as i64)
                .checked_add(1)
                .ok_or(ModelError::Overflow)?;
            let (ptr, count) = m.malloc(size)?;
            if let Some(p) = ptr {
                live.push((c, p));
            }
            let _ = write!(out, "ptr[{c}] = Alloc({size})");
            if o.compute {
                // The pointer plus the header, even for a failed request (-1).
                let shown = ptr
                    .unwrap_or(-1)
                    .checked_add(o.header)
                    .ok_or(ModelError::Overflow)?;
                let _ = writeln!(out, " returned {shown} (searched {count} elements)");
            } else {
                out.push_str(" returned ?\n");
            }
            c += 1;
        } else if !live.is_empty() {
            let d = (rng.random() * live.len() as f64) as usize;
            let (id, addr) = live.remove(d.min(live.len() - 1));
            let rc = m.free(addr)?;
            let _ = writeln!(out, "Free(ptr[{id}])");
            if o.compute {
                let _ = writeln!(out, "returned {rc}");
            } else {
                out.push_str("returned ?\n");
            }
        } else {
            continue;
        }
        done += 1;
        if o.compute {
            out.push_str(&m.dump());
            out.push('\n');
        } else {
            out.push_str("List? \n");
        }
        out.push('\n');
        if !out.flow() {
            break;
        }
    }
    Ok(())
}

/// The `-A` mode: `+N` allocates N bytes, `-I` frees the block of the I-th allocation.
///
/// malloc.py's bookkeeping is kept as it is: only successful allocations are recorded,
/// `-I` is skipped ("Invalid Free") when I is not below their *number*, and an I below
/// it whose own allocation failed is malloc.py's `KeyError` (an error here). Blocks are
/// never forgotten, so freeing one twice frees its address again: -1, or a later block
/// that reused the address.
fn listed_ops(o: &Options, m: &mut Model, out: &mut Out) -> Result<(), String> {
    let mut ptrs: std::collections::BTreeMap<u64, i64> = Default::default();
    let mut c = 0u64;
    for (n, op) in o.alloc_list.split(',').enumerate() {
        let bad = |why: &str| format!("-A op {} (`{op}`): {why}", n + 1);
        match op.chars().next() {
            Some('+') => {
                let size = op
                    .split('+')
                    .nth(1)
                    .and_then(pyint::int)
                    .ok_or_else(|| bad("the size after + is not an integer"))?
                    .to_i64()
                    .ok_or_else(|| bad("the size does not fit in 64 bits"))?;
                let (ptr, count) = m.malloc(size).map_err(|e| bad(&e.to_string()))?;
                if let Some(p) = ptr {
                    ptrs.insert(c, p);
                }
                let _ = write!(out, "ptr[{c}] = Alloc({size})");
                if o.compute {
                    let shown = ptr.unwrap_or(-1);
                    let _ = writeln!(out, " returned {shown} (searched {count} elements)");
                } else {
                    out.push_str(" returned ?\n");
                }
                c += 1;
            }
            Some('-') => {
                let index = op
                    .split('-')
                    .nth(1)
                    .and_then(pyint::int)
                    .ok_or_else(|| bad("the index after - is not an integer"))?;
                // Only a non-negative index can follow a '-' that split() removed, but
                // one too large for 64 bits is still "not below the number of blocks".
                let index = index.to_i64().map(|i| i as u64).unwrap_or(u64::MAX);
                if index >= ptrs.len() as u64 {
                    out.push_str("Invalid Free: Skipping\n");
                    continue;
                }
                let _ = writeln!(out, "Free(ptr[{index}])");
                let Some(&addr) = ptrs.get(&index) else {
                    return Err(bad(&format!(
                        "ptr[{index}] was never set (its allocation failed); malloc.py stops \
                         here with a KeyError"
                    )));
                };
                let rc = m.free(addr).map_err(|e| bad(&e.to_string()))?;
                if o.compute {
                    let _ = writeln!(out, "returned {rc}");
                } else {
                    out.push_str("returned ?\n");
                }
            }
            _ => return Err(bad("an op is +SIZE or -INDEX")),
        }
        if o.compute {
            out.push_str(&m.dump());
            out.push('\n');
        } else {
            out.push_str("List?\n");
        }
        out.push('\n');
        if !out.flow() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn optparse_spellings() {
        let o = parse(&args("-S100 -s 010 --pol FIRST --coalesce -cC -b=5")).unwrap_err();
        // `-b=5` is the value "=5" for -b, which is no integer.
        assert_eq!(o, "option -b: invalid integer value: '=5'");
        let o = parse(&args("-S100 -s 010 --pol FIRST -Cc --size=7 x")).unwrap();
        assert_eq!((o.heap_size, o.seed.to_string()), (7, "8".to_string()));
        assert_eq!(o.policy, "FIRST");
        assert!(o.coalesce && o.compute);
        assert_eq!(
            parse(&args("--s 3")).unwrap_err(),
            "ambiguous option: --s (--seed, --size?)"
        );
        assert_eq!(parse(&args("-x")).unwrap_err(), "no such option: -x");
        assert_eq!(
            parse(&args("-S")).unwrap_err(),
            "-S option requires 1 argument"
        );
        assert_eq!(
            parse(&args("--compute=1")).unwrap_err(),
            "--compute option does not take a value"
        );
        // A value may start with a dash: it is taken as the value.
        assert_eq!(parse(&args("-s -5")).unwrap().seed.to_string(), "-5");
        // `--` ends the options.
        assert_eq!(parse(&args("-- -S 5")).unwrap().heap_size, 100);
    }

    #[test]
    fn errors_keep_what_was_printed_before() {
        let r = run_to_string(&args("-A +200,+10,-0 -c"), false);
        assert!(r.stdout.ends_with("Free(ptr[0])\n"), "{}", r.stdout);
        assert!(r.error.unwrap().contains("KeyError"));
        let r = run_to_string(&args("-p best"), false);
        assert_eq!(r.stdout, "");
        assert!(r.error.unwrap().starts_with("-p best"));
        let r = run_to_string(&args("-P 0"), false);
        assert!(r.stdout.starts_with("seed 0\n") && r.error.is_some());
        let r = run_to_string(&args("-A +10,,-0"), false);
        assert!(r.error.unwrap().starts_with("-A op 2 (``)"));
    }
}
