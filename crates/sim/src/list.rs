//! `sim list`: what can be run.

use crate::output::{Table, emit};
use lab::registry;

/// An allocator's options: (key, help) pairs.
type Options = &'static [(&'static str, &'static str)];

/// Prints every workload generator and every allocator with a one-line description.
pub fn run() {
    let mut t = Table::new(&["workload", "default ops", "what it does"]).left(2);
    for g in workload::GENERATORS {
        t.row(vec![
            g.name.to_string(),
            g.default_ops.to_string(),
            g.summary.to_string(),
        ]);
    }
    let mut text = t.render();
    text.push('\n');
    let mut t = Table::new(&["allocator", "family", "what it is"])
        .left(1)
        .left(2);
    for e in registry::entries() {
        t.row(vec![
            e.name.to_string(),
            e.family.to_string(),
            e.summary.to_string(),
        ]);
    }
    text.push_str(&t.render());
    text.push_str("\nOptions (--tunable NAME=VALUE; each goes to the allocators that take it):\n");
    let mut t = Table::new(&["allocator", "option", "meaning"])
        .left(1)
        .left(2);
    // Allocators that share one option list (the free-list presets) are listed together.
    let mut groups: Vec<(Vec<&str>, Options)> = Vec::new();
    for e in registry::entries() {
        match groups.last_mut() {
            Some((names, opts)) if *opts == e.options => names.push(e.name),
            _ => groups.push((vec![e.name], e.options)),
        }
    }
    for (names, opts) in groups {
        for (i, (key, help)) in opts.iter().enumerate() {
            let name = if i == 0 {
                names.join(", ")
            } else {
                String::new()
            };
            t.row(vec![name, key.to_string(), help.to_string()]);
        }
    }
    text.push_str(&t.render());
    text.push_str(
        "\nTraces: `sim --trace FILE` reads CS:APP .rep files and brkmap's native format.\n",
    );
    emit(&text);
}
