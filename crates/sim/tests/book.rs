//! The book's links hold together: every image a chapter shows exists, every generated
//! figure is shown somewhere, every `{{#include}}` names a file and anchor that exist
//! (mdBook silently includes nothing for a missing anchor), every chapter is in
//! `SUMMARY.md`, and links between chapters point at real files.
//!
//! The book lives in `book/src` at the workspace root. Figures (`book/src/figures`)
//! and the tables beside them (`book/src/generated`) are written by
//! `cargo run -p sim -- figures`; when they are missing, the messages say so.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// `book/src`.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../book/src")
}

/// Every `.md` file under `dir`, recursively, sorted.
fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `path` relative to `book/src`, with `/` separators, for messages and comparisons.
fn rel(path: &Path) -> String {
    let root = normalize(&src());
    let p = normalize(path);
    p.strip_prefix(&root)
        .unwrap_or(&p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Resolves `.` and `..` without touching the file system (the file may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The text with fenced code blocks and inline code spans blanked out, so that an
/// example of Markdown syntax inside code is not taken for a real image or link.
/// (Includes are found in the raw text: mdBook expands them inside code too.)
fn prose(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut fence: Option<&str> = None;
    for line in md.lines() {
        let t = line.trim_start();
        match fence {
            Some(f) => {
                if t.starts_with(f) {
                    fence = None;
                }
                out.push('\n');
                continue;
            }
            None => {
                if let Some(f) = ["```", "~~~"].into_iter().find(|f| t.starts_with(f)) {
                    fence = Some(f);
                    out.push('\n');
                    continue;
                }
            }
        }
        // Inline code: drop everything between pairs of backticks.
        let mut in_code = false;
        for ch in line.chars() {
            if ch == '`' {
                in_code = !in_code;
            } else if !in_code {
                out.push(ch);
            }
        }
        out.push('\n');
    }
    out
}

/// Targets of Markdown links and images in `text`: `(target)` right after `]`, with
/// an optional title after a space dropped. `images` selects images (`![..](..)`),
/// otherwise plain links.
fn link_targets(text: &str, images: bool) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find("](") {
        let close = i + off;
        let start = close + 2;
        let Some(len) = text[start..].find(')') else {
            break;
        };
        // Find the matching '[' to tell an image from a link.
        let open = text[..close].rfind('[');
        let is_image = open.is_some_and(|o| o > 0 && bytes[o - 1] == b'!');
        if is_image == images {
            let target = text[start..start + len]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_matches(|c| c == '<' || c == '>');
            if !target.is_empty() {
                out.push(target.to_string());
            }
        }
        i = start + len;
    }
    out
}

/// `src` attributes of HTML `<img>` tags.
fn html_images(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (pos, _) in text.match_indices("<img") {
        let tag = &text[pos..text[pos..].find('>').map_or(text.len(), |e| pos + e)];
        if let Some(s) = tag.find("src=") {
            let v = &tag[s + 4..];
            let q = v.chars().next().unwrap_or('"');
            let v = v.trim_start_matches(q);
            if let Some(end) = v.find(q) {
                out.push(v[..end].to_string());
            }
        }
    }
    out
}

/// True for targets outside the book (web addresses, mail, in-page anchors).
fn external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:") || target.starts_with('#')
}

/// One `{{#include ...}}` or `{{#rustdoc_include ...}}`: the file and what follows
/// its first `:` (an anchor name or a line range), if anything.
#[derive(Debug)]
struct Include {
    file: String,
    selector: Option<String>,
}

/// The includes of a chapter, in the raw text; `\{{#include}}` (escaped) is skipped.
fn includes(md: &str) -> Vec<Include> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = md[i..].find("{{#") {
        let at = i + off;
        i = at + 3;
        if at > 0 && md.as_bytes()[at - 1] == b'\\' {
            continue;
        }
        let Some(end) = md[at..].find("}}") else {
            break;
        };
        let body = md[at + 3..at + end].trim();
        let Some(rest) = body
            .strip_prefix("include ")
            .or_else(|| body.strip_prefix("rustdoc_include "))
        else {
            continue;
        };
        let arg = rest.trim();
        let (file, selector) = match arg.split_once(':') {
            Some((f, s)) => (f.to_string(), Some(s.to_string())),
            None => (arg.to_string(), None),
        };
        out.push(Include { file, selector });
    }
    out
}

/// Checks an anchor or line-range selector against the included file's text.
fn check_selector(text: &str, selector: &str) -> Result<(), String> {
    let lines = text.lines().count();
    let is_range = selector
        .split(':')
        .all(|p| p.is_empty() || p.chars().all(|c| c.is_ascii_digit()));
    if is_range {
        for p in selector.split(':').filter(|p| !p.is_empty()) {
            let n: usize = p.parse().map_err(|_| format!("bad line number `{p}`"))?;
            if n == 0 || n > lines {
                return Err(format!("line {n} is outside the file's {lines} lines"));
            }
        }
        return Ok(());
    }
    // mdBook's anchors: a line containing `ANCHOR: name`, later one with `ANCHOR_END: name`.
    let is_marker = |line: &str, tag: &str| {
        line.split(tag)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|name| name == selector)
    };
    let start = text.lines().position(|l| is_marker(l, "ANCHOR:"));
    let end = text.lines().position(|l| is_marker(l, "ANCHOR_END:"));
    match (start, end) {
        (Some(s), Some(e)) if s < e => {
            if e == s + 1 {
                Err(format!("anchor `{selector}` is empty"))
            } else {
                Ok(())
            }
        }
        (Some(_), Some(_)) => Err(format!("ANCHOR_END: {selector} comes before ANCHOR")),
        (None, _) => Err(format!("no `ANCHOR: {selector}` line")),
        (_, None) => Err(format!("no `ANCHOR_END: {selector}` line")),
    }
}

/// Fails with every problem at once, one per line.
fn report(what: &str, problems: &[String], hint: &str) {
    if !problems.is_empty() {
        panic!(
            "{what}:\n  {}\n{hint}",
            problems.join("\n  "),
            hint = if hint.is_empty() {
                String::new()
            } else {
                format!("({hint})")
            }
        );
    }
}

#[test]
fn every_image_the_book_shows_exists() {
    let mut missing = Vec::new();
    for md in markdown_files(&src()) {
        let text = fs::read_to_string(&md).unwrap();
        let p = prose(&text);
        let mut targets = link_targets(&p, true);
        targets.extend(html_images(&p));
        for t in targets.into_iter().filter(|t| !external(t)) {
            let path = md.parent().unwrap().join(&t);
            if !path.is_file() {
                missing.push(format!("{}: image `{t}` not found", rel(&md)));
            }
        }
    }
    report(
        "images the book shows but that do not exist",
        &missing,
        "figures are generated: run `cargo run -p sim -- figures`",
    );
}

#[test]
fn every_generated_figure_is_shown_by_a_chapter() {
    let figures = src().join("figures");
    let Ok(entries) = fs::read_dir(&figures) else {
        panic!(
            "{} does not exist (run `cargo run -p sim -- figures`)",
            figures.display()
        );
    };
    let mut shown = BTreeSet::new();
    for md in markdown_files(&src()) {
        let text = fs::read_to_string(&md).unwrap();
        let p = prose(&text);
        let mut targets = link_targets(&p, true);
        targets.extend(html_images(&p));
        targets.extend(link_targets(&p, false));
        for t in targets.into_iter().filter(|t| !external(t)) {
            shown.insert(rel(&md.parent().unwrap().join(t)));
        }
    }
    let mut unshown: Vec<String> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| rel(&p))
        .filter(|r| !shown.contains(r))
        .collect();
    unshown.sort();
    report(
        "figures no chapter shows (embed them with ![caption](figures/NAME.svg), or drop them from the pipeline)",
        &unshown,
        "",
    );
}

#[test]
fn every_include_names_an_existing_file_and_anchor() {
    let mut problems = Vec::new();
    let mut count = 0;
    for md in markdown_files(&src()) {
        let text = fs::read_to_string(&md).unwrap();
        for inc in includes(&text) {
            count += 1;
            let path = md.parent().unwrap().join(&inc.file);
            let Ok(target) = fs::read_to_string(&path) else {
                let hint = if inc.file.starts_with("generated/") {
                    " (generated: run `cargo run -p sim -- figures`)"
                } else {
                    ""
                };
                problems.push(format!(
                    "{}: included file `{}` not found{hint}",
                    rel(&md),
                    inc.file
                ));
                continue;
            };
            if let Some(sel) = &inc.selector
                && let Err(e) = check_selector(&target, sel)
            {
                problems.push(format!("{}: `{}:{sel}`: {e}", rel(&md), inc.file));
            }
        }
    }
    assert!(count > 0, "the book includes no code at all");
    report("broken includes", &problems, "");
}

#[test]
fn summary_lists_every_chapter_and_only_existing_ones() {
    let root = src();
    let summary = fs::read_to_string(root.join("SUMMARY.md")).expect("book/src/SUMMARY.md");
    let listed: BTreeSet<String> = link_targets(&prose(&summary), false)
        .into_iter()
        .filter(|t| !external(t))
        .map(|t| t.split('#').next().unwrap_or("").to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let mut problems = Vec::new();
    for t in &listed {
        if !root.join(t).is_file() {
            problems.push(format!("SUMMARY.md lists `{t}`, which does not exist"));
        }
    }
    // Chapters are the Markdown files outside the generated folders; the generated
    // tables are included into chapters, not chapters themselves.
    for md in markdown_files(&root) {
        let r = rel(&md);
        if r == "SUMMARY.md" || r.starts_with("generated/") || r.starts_with("figures/") {
            continue;
        }
        if !listed.contains(&r) {
            problems.push(format!("`{r}` is not listed in SUMMARY.md"));
        }
    }
    report("SUMMARY.md and the chapter files disagree", &problems, "");
}

#[test]
fn links_between_chapters_point_at_real_files() {
    let mut problems = Vec::new();
    for md in markdown_files(&src()) {
        let text = fs::read_to_string(&md).unwrap();
        for t in link_targets(&prose(&text), false) {
            if external(&t) {
                continue;
            }
            let file = t.split('#').next().unwrap_or("");
            if file.is_empty() {
                continue;
            }
            if !md.parent().unwrap().join(file).exists() {
                problems.push(format!("{}: link to `{t}`: no such file", rel(&md)));
            }
        }
    }
    report("broken links between chapters", &problems, "");
}

/// The parsers the checks rely on.
#[test]
fn the_markdown_scanners_find_what_mdbook_sees() {
    let md = "Text ![a fig](figures/x.svg \"title\") and [a link](ch.md#part).\n\
              `![not](inline.svg)`\n\
              ```\n![not](fenced.svg)\n{{#include ../code.rs:anchor}}\n```\n\
              \\{{#include escaped.md}} {{#include generated/t.md}}\n\
              <img src=\"figures/y.svg\" alt=\"y\">\n";
    let p = prose(md);
    assert_eq!(link_targets(&p, true), ["figures/x.svg"]);
    assert_eq!(link_targets(&p, false), ["ch.md#part"]);
    assert_eq!(html_images(&p), ["figures/y.svg"]);
    let inc = includes(md);
    assert_eq!(inc.len(), 2, "{inc:?}");
    assert_eq!(inc[0].file, "../code.rs");
    assert_eq!(inc[0].selector.as_deref(), Some("anchor"));
    assert_eq!(inc[1].file, "generated/t.md");
    assert_eq!(inc[1].selector, None);

    let code =
        "a\n// ANCHOR: walk\nb\n// ANCHOR_END: walk\n// ANCHOR: empty\n// ANCHOR_END: empty\n";
    assert!(check_selector(code, "walk").is_ok());
    assert!(
        check_selector(code, "wal").is_err(),
        "names match whole words"
    );
    assert!(check_selector(code, "empty").is_err());
    assert!(check_selector(code, "missing").is_err());
    assert!(check_selector(code, "2:4").is_ok());
    assert!(check_selector(code, "2:40").is_err());
    assert_eq!(
        normalize(Path::new("/a/b/../c/./d.md")),
        PathBuf::from("/a/c/d.md")
    );
}
