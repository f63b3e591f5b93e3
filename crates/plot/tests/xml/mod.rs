//! A small XML well-formedness checker for the charts' SVG: tag nesting, attribute
//! syntax and quoting, escaping of `<` and `&`, one root element. It returns what the
//! tests look at: the text of every `<text>` element (unescaped), and element counts.

#![allow(dead_code)]

use std::collections::BTreeMap;

/// What a well-formed document contained.
#[derive(Debug, Default)]
pub struct Doc {
    /// The root element's name.
    pub root: String,
    /// The root element's attributes.
    pub root_attrs: BTreeMap<String, String>,
    /// The content of every `<text>` element, unescaped and trimmed, in order.
    pub texts: Vec<String>,
    /// The attributes of every `<text>` element, in the same order.
    pub text_attrs: Vec<BTreeMap<String, String>>,
    /// How many elements of each name.
    pub counts: BTreeMap<String, usize>,
}

impl Doc {
    /// Whether some `<text>` contains `needle`.
    pub fn has_text(&self, needle: &str) -> bool {
        self.texts.iter().any(|t| t.contains(needle))
    }

    /// The number of `name` elements.
    pub fn count(&self, name: &str) -> usize {
        self.counts.get(name).copied().unwrap_or(0)
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.'
}

/// Unescapes the five predefined entities and numeric references; errors on a bare `&`
/// or an unknown entity.
fn unescape(s: &str, at: usize) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| format!("byte {at}: `&` without `;`"))?;
        let entity = &after[..end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("byte {at}: bad reference &{e};"))?,
            e if e.starts_with('#') => e[1..]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("byte {at}: bad reference &{e};"))?,
            e => return Err(format!("byte {at}: unknown entity &{e};")),
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses one start or empty-element tag's inside (`name attr="v" ...`, without the
/// angle brackets and the closing slash).
fn parse_tag(inner: &str, at: usize) -> Result<(String, BTreeMap<String, String>), String> {
    let mut chars = inner.char_indices().peekable();
    let mut name = String::new();
    while let Some(&(_, c)) = chars.peek() {
        if c.is_whitespace() {
            break;
        }
        if (name.is_empty() && !is_name_start(c)) || !is_name_char(c) {
            return Err(format!("byte {at}: bad character {c:?} in tag name"));
        }
        name.push(c);
        chars.next();
    }
    if name.is_empty() {
        return Err(format!("byte {at}: empty tag name"));
    }
    let mut attrs = BTreeMap::new();
    loop {
        let mut saw_space = false;
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
            saw_space = true;
        }
        let Some(&(_, c)) = chars.peek() else { break };
        if !saw_space {
            return Err(format!("byte {at}: attributes must be separated by space"));
        }
        if !is_name_start(c) {
            return Err(format!("byte {at}: bad attribute start {c:?} in <{name}>"));
        }
        let mut key = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            if !is_name_char(c) {
                return Err(format!("byte {at}: bad character {c:?} in attribute name"));
            }
            key.push(c);
            chars.next();
        }
        if chars.next().map(|p| p.1) != Some('=') {
            return Err(format!("byte {at}: attribute {key} of <{name}> has no `=`"));
        }
        let quote = match chars.next().map(|p| p.1) {
            Some(q @ ('"' | '\'')) => q,
            _ => {
                return Err(format!(
                    "byte {at}: attribute {key} of <{name}> is not quoted"
                ));
            }
        };
        let mut raw = String::new();
        loop {
            match chars.next().map(|p| p.1) {
                Some(c) if c == quote => break,
                Some('<') => return Err(format!("byte {at}: `<` in attribute {key}")),
                Some(c) => raw.push(c),
                None => {
                    return Err(format!(
                        "byte {at}: attribute {key} of <{name}> is not closed"
                    ));
                }
            }
        }
        let value = unescape(&raw, at)?;
        if attrs.insert(key.clone(), value).is_some() {
            return Err(format!("byte {at}: attribute {key} repeated in <{name}>"));
        }
    }
    Ok((name, attrs))
}

/// Checks that `svg` is a well-formed XML document with one root element.
pub fn check(svg: &str) -> Result<Doc, String> {
    let mut doc = Doc::default();
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut closed_root = false;
    let mut i = 0;
    let bytes = svg.as_bytes();
    while i < svg.len() {
        if bytes[i] == b'<' {
            let end = svg[i..]
                .find('>')
                .map(|e| i + e)
                .ok_or_else(|| format!("byte {i}: `<` never closed"))?;
            let inner = &svg[i + 1..end];
            if let Some(name) = inner.strip_prefix('/') {
                let open = stack
                    .pop()
                    .ok_or_else(|| format!("byte {i}: </{name}> closes nothing"))?;
                if open != name.trim_end() {
                    return Err(format!("byte {i}: </{name}> closes <{open}>"));
                }
                if open == "text" {
                    doc.texts.push(unescape(text.trim(), i)?);
                }
                if stack.is_empty() {
                    closed_root = true;
                }
            } else if inner.starts_with('?') || inner.starts_with('!') {
                // A declaration or comment: not produced, but legal.
            } else {
                if closed_root || (stack.is_empty() && !doc.root.is_empty()) {
                    return Err(format!("byte {i}: a second root element"));
                }
                let (body, empty) = match inner.strip_suffix('/') {
                    Some(b) => (b, true),
                    None => (inner, false),
                };
                let (name, attrs) = parse_tag(body, i)?;
                if stack.iter().any(|s| s == "text") {
                    return Err(format!("byte {i}: <{name}> inside <text>"));
                }
                if doc.root.is_empty() {
                    doc.root = name.clone();
                    doc.root_attrs = attrs.clone();
                }
                *doc.counts.entry(name.clone()).or_default() += 1;
                if !empty {
                    if name == "text" {
                        text.clear();
                        doc.text_attrs.push(attrs.clone());
                    }
                    stack.push(name);
                } else if stack.is_empty() {
                    closed_root = true;
                }
            }
            i = end + 1;
        } else {
            let next = svg[i..].find('<').map_or(svg.len(), |e| i + e);
            let chunk = &svg[i..next];
            if stack.is_empty() && !chunk.trim().is_empty() {
                return Err(format!("byte {i}: text outside the root element"));
            }
            unescape(chunk, i)?;
            if stack.last().is_some_and(|s| s == "text") {
                text.push_str(chunk);
            }
            i = next;
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> never closed"));
    }
    if doc.root.is_empty() {
        return Err("no root element".to_string());
    }
    Ok(doc)
}

#[test]
fn the_checker_rejects_broken_documents() {
    assert!(check("<svg><text>a &amp; b</text></svg>").is_ok());
    assert_eq!(
        check("<svg><text>a &amp; b</text></svg>").unwrap().texts,
        ["a & b"]
    );
    for bad in [
        "<svg><g></svg>",
        "<svg></g>",
        "<svg><rect x=1/></svg>",
        "<svg><rect x=\"1/></svg>",
        "<svg><rect x=\"1\"y=\"2\"/></svg>",
        "<svg><text>a & b</text></svg>",
        "<svg><text>a &nbsp; b</text></svg>",
        "<svg/><svg/>",
        "<svg>",
        "",
        "text<svg/>",
        "<svg><rect x=\"1\" x=\"2\"/></svg>",
        "<svg><text><rect/></text></svg>",
    ] {
        assert!(check(bad).is_err(), "{bad:?} accepted");
    }
}
