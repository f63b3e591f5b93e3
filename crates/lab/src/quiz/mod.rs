//! Seeded quizzes whose answers the simulator computes, and a step-through for class.
//!
//! OSTEP's homework simulators taught a generation of students with one trick: every
//! exercise is generated from a seed and can print its own answers (`-c`). brkmap's
//! quizzes do the same for the parts of memory management it simulates, and the answers
//! are never typed in: each is read off the simulated kernel or allocator after the
//! operation in question ran.
//!
//! # Brief overview
//! - [`generate`] makes a [`Quiz`] of a [`Kind`] from a seed: a title, the setup, and
//!   [`Question`]s whose answers are [`Seg::Blank`]s. [`Quiz::render`] prints it for an
//!   80-column terminal with `?` in every blank, or with the answers and their worked
//!   explanations; [`Quiz::to_json`] gives the same as JSON (schema below).
//! - The kinds: [`freelist`] (brkmap's free-list allocator on the simulated kernel),
//!   [`paging`] (4-level translation with the kernel's page tables), [`tlb`] (hits and
//!   misses of a set-associative LRU TLB), [`glibc`] (syscalls, tcache and bins of the
//!   glibc 2.36 model), [`kernel`] (a kernel script's rows: results, mappings, RSS).
//! - [`ostep`]: OSTEP's `malloc.py`, reproduced byte for byte (`sim quiz freelist
//!   --ostep`), with [`mt`], CPython's Mersenne Twister, which also seeds every quiz.
//! - [`step`]: a workload run one op at a time in front of a class (`sim step`).
//!
//! Like the rest of the lab this module is pure: no I/O, no clocks; the same seed gives
//! the same bytes.
//!
//! # JSON schema (`brkmap-quiz/1`)
//! ```text
//! { "schema": "brkmap-quiz/1", "kind": "tlb", "seed": 3, "title": "...",
//!   "setup": ["line", ...],
//!   "questions": [ { "number": 1,
//!                    "prompt": ["line with ? for each blank", ...],
//!                    "answers": [ { "name": "...", "value": "..." }, ... ] | null,
//!                    "worked": ["line", ...] | null } ] }
//! ```
//! `answers` and `worked` are `null` unless answers were asked for; `answers` lists the
//! blanks of the prompt in reading order. A field is only ever added to this schema;
//! a change of meaning gets a new schema name.

pub mod freelist;
pub mod glibc;
pub mod kernel;
pub mod mt;
pub mod ostep;
pub mod paging;
pub mod step;
pub mod tlb;

use serde::Serialize;
use std::fmt;

/// The width every quiz line fits in.
pub const WIDTH: usize = 80;

/// The kinds of quiz.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A free-list allocator: returned addresses, the free list, heap growth.
    Freelist,
    /// 4-level page-table walks.
    Paging,
    /// TLB hits and misses.
    Tlb,
    /// glibc malloc: syscalls, tcache, bins, mallinfo2.
    Glibc,
    /// A kernel script's rows: results, mappings, resident memory.
    Kernel,
}

impl Kind {
    /// Every kind, in the order `sim quiz --help` lists them.
    pub const ALL: [Kind; 5] = [
        Kind::Freelist,
        Kind::Paging,
        Kind::Tlb,
        Kind::Glibc,
        Kind::Kernel,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Freelist => "freelist",
            Kind::Paging => "paging",
            Kind::Tlb => "tlb",
            Kind::Glibc => "glibc",
            Kind::Kernel => "kernel",
        }
    }

    /// The kind of a command-line name.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why no quiz could be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuizError {
    /// The simulator did something the quiz cannot explain (a bug: two models that
    /// must agree did not, or a simulated run failed). Never expected.
    Internal(String),
}

impl fmt::Display for QuizError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuizError::Internal(what) => write!(f, "quiz generation failed: {what}"),
        }
    }
}

impl std::error::Error for QuizError {}

/// A piece of a prompt line: text, or a blank to fill in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// Printed as is.
    Text(String),
    /// An answer: `?` in the question, the value in the answers.
    Blank {
        /// What is asked, in a few words (for JSON and for graders).
        name: String,
        /// The answer, as computed by the simulator.
        value: String,
    },
}

/// Text of a prompt line.
pub fn t(text: impl Into<String>) -> Seg {
    Seg::Text(text.into())
}

/// A blank of a prompt line.
pub fn b(name: impl Into<String>, value: impl fmt::Display) -> Seg {
    Seg::Blank {
        name: name.into(),
        value: value.to_string(),
    }
}

/// One question: prompt lines with blanks, and the worked explanation of its answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Question {
    /// The prompt, line by line.
    pub lines: Vec<Vec<Seg>>,
    /// How the answers come about, line by line (shown with the answers).
    pub worked: Vec<String>,
}

impl Question {
    /// An empty question.
    pub fn new() -> Question {
        Question::default()
    }

    /// Adds a prompt line.
    pub fn line(&mut self, segs: Vec<Seg>) -> &mut Question {
        self.lines.push(segs);
        self
    }

    /// Adds a line of the worked answer.
    pub fn worked(&mut self, text: impl Into<String>) -> &mut Question {
        self.worked.push(text.into());
        self
    }

    /// The blanks of the prompt, in reading order: (name, value).
    pub fn answers(&self) -> Vec<(&str, &str)> {
        self.lines
            .iter()
            .flatten()
            .filter_map(|s| match s {
                Seg::Blank { name, value } => Some((name.as_str(), value.as_str())),
                Seg::Text(_) => None,
            })
            .collect()
    }

    /// The prompt's lines with `?` or the answers in the blanks.
    pub fn prompt(&self, answers: bool) -> Vec<String> {
        self.lines
            .iter()
            .map(|segs| {
                segs.iter()
                    .map(|s| match s {
                        Seg::Text(x) => x.as_str(),
                        Seg::Blank { value, .. } if answers => value.as_str(),
                        Seg::Blank { .. } => "?",
                    })
                    .collect::<String>()
            })
            .collect()
    }
}

/// A generated quiz.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quiz {
    /// The kind.
    pub kind: Kind,
    /// The seed it was generated from.
    pub seed: u64,
    /// One line saying what it is about.
    pub title: String,
    /// The situation every question refers to (no blanks).
    pub setup: Vec<String>,
    /// The questions.
    pub questions: Vec<Question>,
}

/// The JSON form (see the module documentation).
#[derive(Serialize)]
struct JsonQuiz<'a> {
    schema: &'static str,
    kind: &'static str,
    seed: u64,
    title: &'a str,
    setup: &'a [String],
    questions: Vec<JsonQuestion<'a>>,
}

#[derive(Serialize)]
struct JsonQuestion<'a> {
    number: usize,
    prompt: Vec<String>,
    answers: Option<Vec<JsonAnswer<'a>>>,
    worked: Option<&'a [String]>,
}

#[derive(Serialize)]
struct JsonAnswer<'a> {
    name: &'a str,
    value: &'a str,
}

impl Quiz {
    /// The quiz as text for an 80-column terminal: the questions with `?` in every
    /// blank, or (with `answers`) filled in and followed by the worked answers.
    pub fn render(&self, answers: bool) -> String {
        let mut out = String::new();
        let head = format!("brkmap quiz: {} (seed {})", self.kind, self.seed);
        push_wrapped(&mut out, &head, -2);
        push_wrapped(&mut out, &self.title, -2);
        out.push('\n');
        for line in &self.setup {
            push_wrapped(&mut out, line, -2);
        }
        for (i, q) in self.questions.iter().enumerate() {
            out.push('\n');
            let number = format!("{}. ", i + 1);
            let pad = " ".repeat(number.len());
            let indent = number.len() as isize;
            for (j, line) in q.prompt(answers).iter().enumerate() {
                let lead = if j == 0 { &number } else { &pad };
                push_wrapped(&mut out, &format!("{lead}{line}"), indent);
            }
            if answers {
                for w in &q.worked {
                    push_wrapped(&mut out, &format!("{pad}| {w}"), indent - 2);
                }
            }
        }
        out.push('\n');
        if !answers {
            push_wrapped(
                &mut out,
                &format!(
                    "Answers: sim quiz {} --seed {} --answers",
                    self.kind, self.seed
                ),
                -2,
            );
        }
        out
    }

    /// The quiz as JSON (schema `brkmap-quiz/1`), answers included only when asked.
    pub fn to_json(&self, answers: bool) -> String {
        let j = JsonQuiz {
            schema: "brkmap-quiz/1",
            kind: self.kind.name(),
            seed: self.seed,
            title: &self.title,
            setup: &self.setup,
            questions: self
                .questions
                .iter()
                .enumerate()
                .map(|(i, q)| JsonQuestion {
                    number: i + 1,
                    prompt: q.prompt(false),
                    answers: answers.then(|| {
                        q.answers()
                            .into_iter()
                            .map(|(name, value)| JsonAnswer { name, value })
                            .collect()
                    }),
                    worked: answers.then_some(q.worked.as_slice()),
                })
                .collect(),
        };
        let mut s = serde_json::to_string_pretty(&j).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Appends `line` to `out`, wrapped at [`WIDTH`] columns on spaces; continuation lines
/// are indented by `indent + 4` columns (2 for text at the margin: `indent` -2). A word
/// longer than a line is left whole.
pub(crate) fn push_wrapped(out: &mut String, line: &str, indent: isize) {
    let cont = " ".repeat((indent + 4).max(0) as usize);
    let mut rest = line.trim_end();
    let mut first = true;
    loop {
        let lead = if first { "" } else { cont.as_str() };
        let room = WIDTH - lead.len();
        if rest.chars().count() <= room {
            out.push_str(lead);
            out.push_str(rest);
            out.push('\n');
            return;
        }
        // The last space at or before the edge (not in the leading indentation).
        let lead_spaces = rest.len() - rest.trim_start().len();
        let cut = rest
            .char_indices()
            .take_while(|&(i, _)| i <= room)
            .filter(|&(i, c)| c == ' ' && i > lead_spaces)
            .map(|(i, _)| i)
            .last()
            .or_else(|| rest[lead_spaces..].find(' ').map(|i| i + lead_spaces));
        let Some(cut) = cut else {
            out.push_str(lead);
            out.push_str(rest);
            out.push('\n');
            return;
        };
        out.push_str(lead);
        out.push_str(rest[..cut].trim_end());
        out.push('\n');
        rest = rest[cut..].trim_start();
        first = false;
    }
}

/// Generates the quiz of `kind` for `seed`.
pub fn generate(kind: Kind, seed: u64) -> Result<Quiz, QuizError> {
    match kind {
        Kind::Freelist => freelist::generate(seed),
        Kind::Paging => paging::generate(seed),
        Kind::Tlb => tlb::generate(seed),
        Kind::Glibc => glibc::generate(seed),
        Kind::Kernel => kernel::generate(seed),
    }
}

/// A byte count as quiz answers write it: exact, with a binary unit when it is a whole
/// number of KiB or MiB (`4096` is `4 KiB`, `135168` is `132 KiB`, `100` is `100 B`).
pub fn exact_bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_lines_within_the_width() {
        let long = format!("1. free list: {}", "[1234:5678] ".repeat(12));
        let mut out = String::new();
        push_wrapped(&mut out, &long, 3);
        assert!(out.lines().count() > 1);
        for l in out.lines() {
            assert!(l.len() <= WIDTH, "{l:?}");
        }
        assert!(out.lines().nth(1).unwrap().starts_with("       ["));
    }

    #[test]
    fn blanks_become_question_marks_or_answers() {
        let mut q = Question::new();
        q.line(vec![t("x = "), b("x", 42), t(", y = "), b("y", "7")]);
        assert_eq!(q.prompt(false), vec!["x = ?, y = ?"]);
        assert_eq!(q.prompt(true), vec!["x = 42, y = 7"]);
        assert_eq!(q.answers(), vec![("x", "42"), ("y", "7")]);
    }

    #[test]
    fn exact_bytes_uses_a_unit_only_when_exact() {
        assert_eq!(exact_bytes(100), "100 B");
        assert_eq!(exact_bytes(4096), "4 KiB");
        assert_eq!(exact_bytes(135_168), "132 KiB");
        assert_eq!(exact_bytes(4100), "4100 B");
        assert_eq!(exact_bytes(2 << 20), "2 MiB");
    }
}
