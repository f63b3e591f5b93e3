//! Reading a kernel script: one line, one call.
//!
//! ```text
//! map NAME LEN PROT [populate] [noreserve] [fixed=NAME+OFF] [noreplace=NAME+OFF]
//! unmap NAME OFF LEN
//! protect NAME OFF LEN PROT          PROT: none, r or rw
//! advise NAME OFF LEN dontneed|free
//! remap NAME OLDLEN NEWLEN [maymove]
//! touch NAME OFF LEN r|w
//! brk +N | brk -N
//! limit data N | limit as N
//! assume ram=SIZE
//! ```
//!
//! `#` starts a comment; blank lines are ignored. Sizes go through
//! [`units::parse_size`] (`4096`, `0x1000`, `4K`, `1M`, `2G`). A NAME is a word
//! `[a-z][a-z0-9_]*` that a `map` binds; `brk0` is bound from the start and no `map` or
//! `remap` may rebind it. Everything that makes a line malformed is found here, with
//! its line number, before anything runs; so is a NAME used before any `map` line
//! binds it.

use super::ScriptError;
use crate::config::MAX_PHYS_BYTES;
use crate::types::{Access, Advice, PAGE_SIZE, Prot};

/// A NAME of the script: an index into [`Script::names`]. `brk0` is [`Name::BRK0`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(pub usize);

impl Name {
    /// The predefined `brk0`: the program break before the first line.
    pub const BRK0: Name = Name(0);
}

/// `NAME+OFF`: an address relative to a bound NAME.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The NAME.
    pub name: Name,
    /// The offset in bytes.
    pub off: u64,
}

/// Where a `map` must go.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// `fixed=NAME+OFF`: `MAP_FIXED`, replacing what is there.
    Fixed(Target),
    /// `noreplace=NAME+OFF`: `MAP_FIXED_NOREPLACE`, EEXIST if anything is there.
    NoReplace(Target),
}

/// What one line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `mmap(NULL or NAME+OFF, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags)`; on
    /// success `name` is bound to the result.
    Map {
        /// The NAME to bind.
        name: Name,
        /// Length in bytes.
        len: u64,
        /// Protection (`none`, `r` or `rw`).
        prot: Prot,
        /// `MAP_POPULATE`.
        populate: bool,
        /// `MAP_NORESERVE`.
        noreserve: bool,
        /// `MAP_FIXED` or `MAP_FIXED_NOREPLACE` at an address.
        at: Option<Placement>,
    },
    /// `munmap(NAME+OFF, LEN)`.
    Unmap {
        /// Where.
        at: Target,
        /// Length in bytes.
        len: u64,
    },
    /// `mprotect(NAME+OFF, LEN, PROT)`.
    Protect {
        /// Where.
        at: Target,
        /// Length in bytes.
        len: u64,
        /// The new protection.
        prot: Prot,
    },
    /// `madvise(NAME+OFF, LEN, MADV_DONTNEED or MADV_FREE)`.
    Advise {
        /// Where.
        at: Target,
        /// Length in bytes.
        len: u64,
        /// The advice.
        advice: Advice,
    },
    /// `mremap(NAME, OLDLEN, NEWLEN, [MREMAP_MAYMOVE])`; on success `name` is rebound.
    Remap {
        /// The mapping.
        name: Name,
        /// Its old length.
        old_len: u64,
        /// Its new length.
        new_len: u64,
        /// `MREMAP_MAYMOVE`.
        maymove: bool,
    },
    /// A read or write of one byte in every page of `[NAME+OFF, NAME+OFF+LEN)`.
    Touch {
        /// Where.
        at: Target,
        /// Length in bytes.
        len: u64,
        /// Read or write.
        access: Access,
    },
    /// `brk(current break + delta)`.
    Brk {
        /// The change of the break in bytes (negative: shrink).
        delta: i128,
    },
    /// `setrlimit` of `RLIMIT_DATA` (`data`) or `RLIMIT_AS` (`as`) to `bytes` more than
    /// the process had at the script's start.
    Limit {
        /// `RLIMIT_DATA` when true, `RLIMIT_AS` when false.
        data: bool,
        /// The limit, counted from the start.
        bytes: u64,
    },
    /// `assume ram=SIZE`: physical memory of the simulated machine.
    Assume {
        /// Bytes of RAM.
        ram: u64,
    },
}

impl Op {
    /// The line's first word, as the `op` column shows it.
    pub fn word(&self) -> &'static str {
        match self {
            Op::Map { .. } => "map",
            Op::Unmap { .. } => "unmap",
            Op::Protect { .. } => "protect",
            Op::Advise { .. } => "advise",
            Op::Remap { .. } => "remap",
            Op::Touch { .. } => "touch",
            Op::Brk { .. } => "brk",
            Op::Limit { .. } => "limit",
            Op::Assume { .. } => "assume",
        }
    }
}

/// One line that does something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Its number in the file (1-based).
    pub number: usize,
    /// Its text without the comment, words separated by one space.
    pub text: String,
    /// What it asks for.
    pub op: Op,
}

/// A parsed kernel script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The lines that do something, in order.
    pub lines: Vec<Line>,
    /// The NAMEs, indexed by [`Name`]; `names[0]` is `brk0`.
    pub names: Vec<String>,
    /// Physical memory from `assume ram=`, if the script says.
    pub ram: Option<u64>,
}

impl Script {
    /// Parses a script. Every malformed line is an error naming the line and what is
    /// wrong, and so is a NAME used before any `map` line binds it.
    pub fn parse(text: &str) -> Result<Script, ScriptError> {
        let mut p = Parser {
            names: vec!["brk0".to_string()],
            bound: vec![true],
            line: 0,
        };
        let mut lines: Vec<Line> = Vec::new();
        let mut ram = None;
        for (i, raw) in text.lines().enumerate() {
            p.line = i + 1;
            let code = raw.split('#').next().unwrap_or("");
            let words: Vec<&str> = code.split_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            let op = p.op(&words)?;
            if let Op::Assume { ram: r } = op {
                if !lines.iter().all(|l| matches!(l.op, Op::Assume { .. })) {
                    return Err(p.err("`assume` must come before every other line"));
                }
                if ram.replace(r).is_some() {
                    return Err(p.err("`assume ram=` is given twice"));
                }
            }
            lines.push(Line {
                number: p.line,
                text: words.join(" "),
                op,
            });
        }
        Ok(Script {
            lines,
            names: p.names,
            ram,
        })
    }

    /// The spelling of `name`.
    pub fn name(&self, name: Name) -> &str {
        &self.names[name.0]
    }
}

/// The parser's state: the NAMEs seen and which of them a `map` line has bound.
struct Parser {
    names: Vec<String>,
    bound: Vec<bool>,
    line: usize,
}

/// What each line looks like, for error messages.
const USAGE: [(&str, &str); 9] = [
    (
        "map",
        "map NAME LEN PROT [populate] [noreserve] [fixed=NAME+OFF] [noreplace=NAME+OFF]",
    ),
    ("unmap", "unmap NAME OFF LEN"),
    ("protect", "protect NAME OFF LEN none|r|rw"),
    ("advise", "advise NAME OFF LEN dontneed|free"),
    ("remap", "remap NAME OLDLEN NEWLEN [maymove]"),
    ("touch", "touch NAME OFF LEN r|w"),
    ("brk", "brk +N or brk -N"),
    ("limit", "limit data N or limit as N"),
    ("assume", "assume ram=SIZE"),
];

impl Parser {
    fn err(&self, message: impl Into<String>) -> ScriptError {
        ScriptError::at(self.line, message)
    }

    fn usage(&self, op: &str) -> ScriptError {
        let form = USAGE.iter().find(|(w, _)| *w == op).map_or("", |(_, f)| *f);
        self.err(format!("expected `{form}`"))
    }

    fn op(&mut self, w: &[&str]) -> Result<Op, ScriptError> {
        let n = w.len();
        let arity = |ok: bool| if ok { Ok(()) } else { Err(self.usage(w[0])) };
        Ok(match w[0] {
            "map" => {
                arity(n >= 4)?;
                let len = self.size(w[2], "LEN")?;
                let prot = self.prot(w[3])?;
                let (mut populate, mut noreserve, mut at) = (false, false, None);
                for &opt in &w[4..] {
                    let seen = |b: bool| {
                        if b {
                            Err(self.err(format!("map option `{opt}` is given twice")))
                        } else {
                            Ok(())
                        }
                    };
                    if opt == "populate" {
                        seen(populate)?;
                        populate = true;
                    } else if opt == "noreserve" {
                        seen(noreserve)?;
                        noreserve = true;
                    } else if let Some(t) = opt.strip_prefix("fixed=") {
                        if at.is_some() {
                            return Err(self.at_twice());
                        }
                        at = Some(Placement::Fixed(self.target(t)?));
                    } else if let Some(t) = opt.strip_prefix("noreplace=") {
                        if at.is_some() {
                            return Err(self.at_twice());
                        }
                        at = Some(Placement::NoReplace(self.target(t)?));
                    } else {
                        return Err(self.err(format!(
                            "unknown map option `{opt}` (populate, noreserve, fixed=NAME+OFF, \
                             noreplace=NAME+OFF)"
                        )));
                    }
                }
                // Bound after its own options are read: `fixed=a+0` on `map a` needs an
                // earlier `a`.
                let name = self.bind(w[1], "map")?;
                Op::Map {
                    name,
                    len,
                    prot,
                    populate,
                    noreserve,
                    at,
                }
            }
            "unmap" => {
                arity(n == 4)?;
                Op::Unmap {
                    at: self.place(w[1], w[2])?,
                    len: self.size(w[3], "LEN")?,
                }
            }
            "protect" => {
                arity(n == 5)?;
                Op::Protect {
                    at: self.place(w[1], w[2])?,
                    len: self.size(w[3], "LEN")?,
                    prot: self.prot(w[4])?,
                }
            }
            "advise" => {
                arity(n == 5)?;
                let advice = match w[4] {
                    "dontneed" => Advice::DontNeed,
                    "free" => Advice::Free,
                    other => {
                        return Err(
                            self.err(format!("unknown advice `{other}` (dontneed or free)"))
                        );
                    }
                };
                Op::Advise {
                    at: self.place(w[1], w[2])?,
                    len: self.size(w[3], "LEN")?,
                    advice,
                }
            }
            "remap" => {
                arity(n == 4 || n == 5)?;
                let maymove = match w.get(4) {
                    None => false,
                    Some(&"maymove") => true,
                    Some(other) => {
                        return Err(self.err(format!("unknown remap option `{other}` (maymove)")));
                    }
                };
                let name = self.name(w[1])?;
                if name == Name::BRK0 {
                    return Err(self.err("`brk0` cannot be rebound by `remap`"));
                }
                Op::Remap {
                    name,
                    old_len: self.size(w[2], "OLDLEN")?,
                    new_len: self.size(w[3], "NEWLEN")?,
                    maymove,
                }
            }
            "touch" => {
                arity(n == 5)?;
                let access = match w[4] {
                    "r" => Access::Read,
                    "w" => Access::Write,
                    other => return Err(self.err(format!("unknown access `{other}` (r or w)"))),
                };
                Op::Touch {
                    at: self.place(w[1], w[2])?,
                    len: self.size(w[3], "LEN")?,
                    access,
                }
            }
            "brk" => {
                arity(n == 2)?;
                let (sign, amount) = match w[1].split_at_checked(1) {
                    Some(("+", a)) => (1, a),
                    Some(("-", a)) => (-1, a),
                    _ => {
                        return Err(self.err(format!(
                            "`brk {}`: the change needs a sign (`brk +4K`, `brk -4K`)",
                            w[1]
                        )));
                    }
                };
                Op::Brk {
                    delta: sign * i128::from(self.size(amount, "N")?),
                }
            }
            "limit" => {
                arity(n == 3)?;
                let data = match w[1] {
                    "data" => true,
                    "as" => false,
                    other => {
                        return Err(self.err(format!("unknown limit `{other}` (data or as)")));
                    }
                };
                Op::Limit {
                    data,
                    bytes: self.size(w[2], "N")?,
                }
            }
            "assume" => {
                arity(n == 2)?;
                let Some(v) = w[1].strip_prefix("ram=") else {
                    return Err(self.usage("assume"));
                };
                let ram = self.size(v, "ram")?;
                if ram < 1 << 20 || !ram.is_multiple_of(PAGE_SIZE) || ram > MAX_PHYS_BYTES {
                    return Err(self.err(format!(
                        "`ram={v}` must be whole pages, at least 1M and at most 16T"
                    )));
                }
                Op::Assume { ram }
            }
            other => {
                return Err(self.err(format!(
                    "unknown line `{other}` (map, unmap, protect, advise, remap, touch, brk, \
                     limit or assume)"
                )));
            }
        })
    }

    fn at_twice(&self) -> ScriptError {
        self.err("a map takes at most one of `fixed=` and `noreplace=`")
    }

    fn size(&self, text: &str, what: &str) -> Result<u64, ScriptError> {
        units::parse_size(text).map_err(|e| self.err(format!("{what}: {e}")))
    }

    fn prot(&self, text: &str) -> Result<Prot, ScriptError> {
        match text {
            "none" => Ok(Prot::NONE),
            "r" => Ok(Prot::READ),
            "rw" => Ok(Prot::RW),
            other => Err(self.err(format!("unknown protection `{other}` (none, r or rw)"))),
        }
    }

    /// A NAME's index, creating it if new.
    fn intern(&mut self, word: &str) -> Result<Name, ScriptError> {
        let mut chars = word.chars();
        let good = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !good {
            return Err(self.err(format!(
                "`{word}` is not a NAME (a lower-case letter, then letters, digits or _)"
            )));
        }
        if let Some(i) = self.names.iter().position(|n| n == word) {
            return Ok(Name(i));
        }
        self.names.push(word.to_string());
        self.bound.push(false);
        Ok(Name(self.names.len() - 1))
    }

    /// A NAME used by this line: some earlier `map` must have bound it.
    fn name(&mut self, word: &str) -> Result<Name, ScriptError> {
        let n = self.intern(word)?;
        if !self.bound[n.0] {
            return Err(self.err(format!("`{word}` is used before any `map` binds it")));
        }
        Ok(n)
    }

    /// A NAME a `map` binds.
    fn bind(&mut self, word: &str, op: &str) -> Result<Name, ScriptError> {
        let n = self.intern(word)?;
        if n == Name::BRK0 {
            return Err(self.err(format!("`brk0` cannot be rebound by `{op}`")));
        }
        self.bound[n.0] = true;
        Ok(n)
    }

    /// `NAME OFF` as two words.
    fn place(&mut self, name: &str, off: &str) -> Result<Target, ScriptError> {
        Ok(Target {
            name: self.name(name)?,
            off: self.size(off, "OFF")?,
        })
    }

    /// `NAME+OFF` as one word.
    fn target(&mut self, text: &str) -> Result<Target, ScriptError> {
        let Some((name, off)) = text.split_once('+') else {
            return Err(self.err(format!(
                "`{text}` is not NAME+OFF (write `a+0` for the address of `a`)"
            )));
        };
        self.place(name, off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ScriptError {
        Script::parse(text).unwrap_err()
    }

    #[test]
    fn a_script_parses_into_numbered_lines() {
        let s = Script::parse(
            "# demo\n\nassume ram=1G\nmap a 1M rw populate  # one MiB\ntouch a 0 64K w\n\
             map b 8K r noreplace=a+1M\nremap a 1M 2M maymove\nbrk -4K\nlimit as 0x1000\n",
        )
        .unwrap();
        assert_eq!(s.ram, Some(1 << 30));
        let numbers: Vec<usize> = s.lines.iter().map(|l| l.number).collect();
        assert_eq!(numbers, [3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(s.lines[1].text, "map a 1M rw populate");
        assert_eq!(
            s.lines[1].op,
            Op::Map {
                name: Name(1),
                len: 1 << 20,
                prot: Prot::RW,
                populate: true,
                noreserve: false,
                at: None
            }
        );
        assert_eq!(
            s.lines[3].op,
            Op::Map {
                name: Name(2),
                len: 8192,
                prot: Prot::READ,
                populate: false,
                noreserve: false,
                at: Some(Placement::NoReplace(Target {
                    name: Name(1),
                    off: 1 << 20
                }))
            }
        );
        assert_eq!(s.lines[5].op, Op::Brk { delta: -4096 });
        assert_eq!(
            s.lines[6].op,
            Op::Limit {
                data: false,
                bytes: 4096
            }
        );
        assert_eq!(s.name(Name(2)), "b");
        assert_eq!(s.name(Name::BRK0), "brk0");
    }

    #[test]
    fn brk0_is_bound_from_the_start() {
        let s = Script::parse("touch brk0 0 4K w\nbrk +0\n").unwrap();
        assert_eq!(s.lines.len(), 2);
        assert_eq!(s.lines[1].op, Op::Brk { delta: 0 });
    }

    #[test]
    fn every_malformed_line_is_an_error_with_its_line_number() {
        let cases: &[(&str, &str)] = &[
            ("frob a\n", "unknown line `frob`"),
            ("map a 1M\n", "expected `map NAME LEN PROT"),
            ("map a 1M rwx\n", "unknown protection `rwx`"),
            ("map a 1Q rw\n", "LEN: `1Q` is not a size"),
            ("map A 1M rw\n", "`A` is not a NAME"),
            ("map 1a 1M rw\n", "`1a` is not a NAME"),
            ("map a 1M rw huge\n", "unknown map option `huge`"),
            (
                "map a 1M rw populate populate\n",
                "`populate` is given twice",
            ),
            (
                "map a 1M rw noreserve noreserve\n",
                "`noreserve` is given twice",
            ),
            (
                "map a 1M rw\nmap b 1M rw fixed=a+0 noreplace=a+0\n",
                "at most one of `fixed=` and `noreplace=`",
            ),
            (
                "map a 1M rw\nmap b 1M rw fixed=a+0 fixed=a+0\n",
                "at most one of `fixed=` and `noreplace=`",
            ),
            ("map a 1M rw\nmap b 4K rw fixed=a\n", "`a` is not NAME+OFF"),
            (
                "map a 1M rw\nmap b 4K rw fixed=a+x\n",
                "OFF: `x` is not a size",
            ),
            (
                "map b 4K rw fixed=a+0\n",
                "`a` is used before any `map` binds it",
            ),
            ("map brk0 4K rw\n", "`brk0` cannot be rebound by `map`"),
            ("remap brk0 4K 8K\n", "`brk0` cannot be rebound by `remap`"),
            ("unmap a 0 4K\n", "`a` is used before any `map` binds it"),
            ("map a 4K rw\nunmap a 0\n", "expected `unmap NAME OFF LEN`"),
            (
                "map a 4K rw\nunmap a 0 4K 4K\n",
                "expected `unmap NAME OFF LEN`",
            ),
            ("map a 4K rw\nprotect a 0 4K x\n", "unknown protection `x`"),
            (
                "map a 4K rw\nadvise a 0 4K willneed\n",
                "unknown advice `willneed`",
            ),
            (
                "map a 4K rw\nremap a 4K 8K move\n",
                "unknown remap option `move`",
            ),
            (
                "map a 4K rw\nremap a 4K\n",
                "expected `remap NAME OLDLEN NEWLEN",
            ),
            ("map a 4K rw\ntouch a 0 4K x\n", "unknown access `x`"),
            (
                "map a 4K rw\ntouch a 0 4K\n",
                "expected `touch NAME OFF LEN r|w`",
            ),
            ("brk 4K\n", "the change needs a sign"),
            ("brk +\n", "N: `` is not a size"),
            ("brk +1 +2\n", "expected `brk +N or brk -N`"),
            ("limit stack 1M\n", "unknown limit `stack`"),
            ("limit data\n", "expected `limit data N or limit as N`"),
            ("assume 24G\n", "expected `assume ram=SIZE`"),
            ("assume ram=1000\n", "must be whole pages"),
            ("assume ram=0\n", "must be whole pages"),
            (
                "assume ram=1.5G\nassume ram=1G\n",
                "`assume ram=` is given twice",
            ),
            (
                "brk +0\nassume ram=1G\n",
                "`assume` must come before every other line",
            ),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(
                e.message.contains(want),
                "{text:?}: got `{}`, want `{want}`",
                e.message
            );
            assert_eq!(
                e.line,
                text.lines().count(),
                "{text:?}: the last line is bad"
            );
            assert!(e.to_string().starts_with(&format!("line {}: ", e.line)));
            assert!(!e.to_string().contains('\n'), "one line");
        }
    }

    #[test]
    fn a_map_binds_its_name_for_later_lines_only() {
        assert!(Script::parse("map a 4K rw fixed=a+0\n").is_err());
        assert!(Script::parse("map a 4K rw\nmap a 4K rw fixed=a+8K\n").is_ok());
        assert!(Script::parse("touch a 0 1 r\nmap a 4K rw\n").is_err());
    }
}
