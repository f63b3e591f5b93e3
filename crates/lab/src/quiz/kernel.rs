//! The `kernel` quiz: predict what each line of a kernel script does to a process.
//!
//! A kernel script (`KERNEL-SCRIPTS.md`) is a list of memory syscalls and accesses,
//! one a line: `map a 64K rw`, `touch a 0 16K w`, `unmap a 8K 4K`, `brk +8K`... The
//! quiz writes a seeded script and asks, for every line, what the call returns, how
//! many mappings the process has afterwards, and how much anonymous memory is resident
//! (`RssAnon`), all counted from the script's start as the rows of `sim kernel` are.
//! The answers are the rows of the kernel's own script runner
//! ([`kernel::script::run_simulated`]), the runner whose rows are checked against real
//! Linux row for row; the worked answer explains each row from how it differs from the
//! row before (faults taken, pages freed, a VMA split or merged, page tables made).
//!
//! What the rows teach: `mmap` hands out addresses, not memory (no RSS until a write);
//! a read of an untouched page maps the shared zero page (a fault, no RSS); unmapping
//! or re-protecting the middle of a mapping splits its VMA; `MADV_DONTNEED` gives the
//! memory back but keeps the mapping; the program break is one more VMA that grows and
//! shrinks; an access outside every VMA or against its protection is a SIGSEGV.

use super::mt::Mt19937;
use super::{Question, Quiz, QuizError, b, t};
use kernel::script::{Outcome, Row, Script, SegvKind, run_simulated};

/// Sizes as the script writes them: `4K`, `1M`, or bytes.
fn size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{}M", n >> 20)
    } else if n.is_multiple_of(1 << 10) {
        format!("{}K", n >> 10)
    } else {
        n.to_string()
    }
}

const KB4: u64 = 4096;

/// The script of `seed`: a read-write mapping written in part, then five of the
/// episodes a course covers, in random order.
pub fn scenario(seed: u64) -> String {
    let mut rng = Mt19937::from_seed(i128::from(seed));
    let pages = *rng.pick(&[8u64, 16, 32]);
    let len = pages * KB4;
    let written = 2 + rng.below(pages / 2);
    let mut lines = vec![
        format!("map a {} rw", size(len)),
        format!("touch a 0 {} w", size(written * KB4)),
    ];
    let mut episodes: Vec<u64> = (0..7).collect();
    for i in (1..episodes.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        episodes.swap(i, j);
    }
    // `a` keeps its first `written` pages mapped and resident through every episode
    // below except the ones that say otherwise; each works on pages it owns.
    let hole = written + 1 + rng.below(pages - written - 2);
    for e in episodes.into_iter().take(5) {
        match e {
            0 => {
                // A read of pages never written: the zero page.
                lines.push(format!(
                    "touch a {} 8K r",
                    size(hole.saturating_sub(1) * KB4)
                ));
            }
            1 => {
                // A page unmapped in the middle, then touched.
                lines.push(format!("unmap a {} 4K", size(hole * KB4)));
                lines.push(format!("touch a {} 4K r", size(hole * KB4)));
            }
            2 => {
                // The first page made read-only, then written.
                lines.push("protect a 0 4K r".to_string());
                lines.push("touch a 0 4K w".to_string());
            }
            3 => {
                // Written pages given back, mapping kept; then written again.
                let n = 1 + rng.below(written - 1);
                lines.push(format!("advise a {} {} dontneed", size(KB4), size(n * KB4)));
                lines.push(format!("touch a {} 4K w", size(KB4)));
            }
            4 => {
                // A second, read-only mapping: below the first, top-down.
                lines.push("map b 8K r".to_string());
                lines.push("touch b 0 8K r".to_string());
            }
            5 => {
                // The heap: grow the break, write it, shrink it.
                let grow = *rng.pick(&[8u64, 12, 16]) * KB4;
                let shrink = *rng.pick(&[4u64, 8]) * KB4;
                lines.push(format!("brk +{}", size(grow)));
                lines.push(format!("touch brk0 0 {} w", size(grow)));
                lines.push(format!("brk -{}", size(shrink)));
            }
            _ => {
                // A mapping of its own, written and unmapped whole.
                lines.push("map c 1M rw".to_string());
                lines.push(format!("touch c 0 {} w", size((1 + rng.below(8)) * KB4)));
                lines.push("unmap c 0 1M".to_string());
            }
        }
    }
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    text
}

/// How a row differs from the one before, in words.
fn explain(prev: &Row, row: &Row) -> Vec<String> {
    let mut out = Vec::new();
    match row.result {
        Outcome::At(d) => out.push(format!(
            "The new mapping starts {:#x} bytes below the floor: top-down, in the \
             highest free gap that fits.",
            d.unsigned_abs()
        )),
        Outcome::Break(d) => out.push(format!("The break is now {d:#x} bytes above brk0.")),
        Outcome::Errno(e) => out.push(format!("The call fails with {e}.")),
        Outcome::Segv(SegvKind::MapErr, off) => out.push(format!(
            "SIGSEGV at +{off:#x}: no VMA covers that page (SEGV_MAPERR)."
        )),
        Outcome::Segv(SegvKind::AccErr, off) => out.push(format!(
            "SIGSEGV at +{off:#x}: the VMA's protection forbids the access (SEGV_ACCERR)."
        )),
        Outcome::Ok => {}
    }
    let (faults, anon, vmas, pte) = (
        row.minflt - prev.minflt,
        row.anon_kb - prev.anon_kb,
        row.vmas - prev.vmas,
        row.pte_kb - prev.pte_kb,
    );
    if faults > 0 {
        out.push(format!(
            "{faults} minor fault{}: {}",
            if faults == 1 { "" } else { "s" },
            if anon > 0 {
                "each first write of a page takes a zeroed frame"
            } else {
                "a first read maps the shared zero page (no RSS)"
            }
        ));
    }
    if anon < 0 {
        out.push(format!(
            "{} KiB of resident memory go back to the kernel.",
            -anon
        ));
    } else if anon > 0 && faults == 0 {
        out.push(format!("{anon} KiB more resident."));
    }
    match (vmas, row.op) {
        (0, "map") if matches!(row.result, Outcome::At(_)) => out.push(
            "It lies next to a mapping with the same protection: the two VMAs merge, \
             still one mapping."
                .to_string(),
        ),
        (0, _) => {}
        (1, "map") => out.push("One mapping more: a new VMA.".to_string()),
        (1, "brk") => out.push("The break's first growth creates the heap's VMA.".to_string()),
        (1, "unmap" | "protect") => out.push(
            "The range lies inside one VMA, which is split in two: one mapping more.".to_string(),
        ),
        (-1, "unmap") => out.push("A whole VMA goes: one mapping less.".to_string()),
        (-1, "brk") => out.push("The heap is empty again: its VMA goes.".to_string()),
        (d, _) => out.push(format!("{d:+} mappings.")),
    }
    if row.op == "advise" && anon < 0 {
        out.push(
            "MADV_DONTNEED drops the frames but keeps the mapping: the next access \
             faults a zeroed page in."
                .to_string(),
        );
    }
    if pte > 0 {
        out.push(format!(
            "{pte} KiB of new page tables (4 KiB per PT, PD or PDPT page)."
        ));
    } else if pte < 0 {
        out.push(format!("{} KiB of page tables freed.", -pte));
    }
    if out.is_empty() {
        out.push("Nothing the counters see changes.".to_string());
    }
    out
}

/// Generates the quiz for `seed`.
pub fn generate(seed: u64) -> Result<Quiz, QuizError> {
    let text = scenario(seed);
    let script = Script::parse(&text)
        .map_err(|e| QuizError::Internal(format!("the generated script: {e}")))?;
    let rows = run_simulated(&script)
        .map_err(|e| QuizError::Internal(format!("running the script: {e}")))?;
    let mut setup = vec![
        "A fresh process runs this kernel script (KERNEL-SCRIPTS.md), one syscall or \
         memory access a line:"
            .to_string(),
    ];
    for (i, l) in text.lines().enumerate() {
        setup.push(format!("  {:2}  {l}", i + 1));
    }
    setup.push(
        "map binds a NAME to the address it returns; touch reads (r) or writes (w) one \
         byte of every page of the range; brk0 is the break before the first line."
            .to_string(),
    );
    setup.push(
        "For each line: the result (@OFFSET of a new mapping, below the floor where \
         mappings start; brk0+N for brk; ok; an errno; segv:maperr or segv:accerr and \
         the page), the number of mappings and the resident anonymous memory (RssAnon), \
         both counted from the start."
            .to_string(),
    );
    let zero = Row {
        line: 0,
        op: "",
        result: kernel::script::Outcome::Ok,
        vmas: 0,
        anon_kb: 0,
        pte_kb: 0,
        minflt: 0,
        majflt: 0,
    };
    let mut questions = Vec::new();
    let mut prev = zero;
    for (line, row) in script.lines.iter().zip(&rows) {
        let mut q = Question::new();
        q.line(vec![t(line.text.clone())]);
        q.line(vec![
            t("result "),
            b("result", row.result),
            t("   mappings "),
            b("mappings", row.vmas),
            t("   RssAnon "),
            b("RssAnon", format!("{} KiB", row.anon_kb)),
        ]);
        for w in explain(&prev, row) {
            q.worked(w);
        }
        questions.push(q);
        prev = *row;
    }
    Ok(Quiz {
        kind: super::Kind::Kernel,
        seed,
        title: "A kernel script, line by line: results, mappings and resident memory.".into(),
        setup,
        questions,
    })
}
