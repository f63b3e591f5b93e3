//! `sim list`: what can be run.
//!
//! Everything printed comes from the registries: the workload generators, the
//! allocators, and each allocator's options straight from its family's option table
//! and default configuration (`malloc::options`), so the listing cannot drift from what
//! `--tunable` accepts.

use crate::output::{Table, emit};
use lab::registry::{self, Entry};
use malloc::options::{self, OptionDoc};

/// Prints every workload generator, every allocator with a one-line description, and
/// every allocator option with its kind, default and meaning.
pub fn run() {
    emit(&render(registry::entries()));
}

/// The text of `sim list` for these allocators.
fn render(entries: &[Entry]) -> String {
    let mut t = Table::new(&["workload", "default ops", "what it does"]).left(2);
    for g in workload::GENERATORS {
        t.row(vec![
            g.name.to_string(),
            g.default_ops.to_string(),
            g.summary.to_string(),
        ]);
    }
    let mut text = t.render();
    text.push_str(
        "\nWorkload parameters (--param NAME=VALUE; sizes as 4096 or 64K, size ranges as \
         MIN-MAX or W:MIN-MAX+W:MIN-MAX, log-uniform inside each):\n",
    );
    let mut t = Table::new(&["workload", "parameter", "default"])
        .left(1)
        .left(2);
    for g in workload::GENERATORS {
        if let Ok(p) = workload::GeneratorParams::defaults(g.name) {
            for (k, v) in p.settings() {
                t.row(vec![g.name.to_string(), k, v]);
            }
        }
    }
    text.push_str(&t.render());
    text.push('\n');
    let mut t = Table::new(&["allocator", "family", "what it is"])
        .left(1)
        .left(2);
    for e in entries {
        t.row(vec![
            e.name.to_string(),
            e.family.to_string(),
            e.summary.to_string(),
        ]);
    }
    text.push_str(&t.render());
    text.push_str(
        "\nOptions (--tunable NAME=VALUE; each goes to the allocators that take it; \
         sizes as 4096, 0x1000, 4K, 4KiB or 1.5M):\n",
    );
    // One table, so the columns line up across allocators, with a line naming the
    // allocators above each group of rows.
    let mut t = Table::new(&["option", "kind", "default", "meaning"])
        .left(1)
        .left(2)
        .left(3);
    let mut heads = Vec::new();
    for (names, docs) in groups(entries) {
        heads.push((t.row_count(), names.join(", ")));
        for row in docs {
            t.row(vec![
                format!("  {}", row.name),
                row.kind,
                row.value,
                row.help.to_string(),
            ]);
        }
    }
    let rendered = t.render();
    let mut lines = rendered.lines();
    for line in lines.by_ref().take(2) {
        text.push_str(line);
        text.push('\n');
    }
    for (i, line) in lines.enumerate() {
        for (_, names) in heads.iter().filter(|(at, _)| *at == i) {
            text.push_str(names);
            text.push_str(":\n");
        }
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(
        "\nTraces: `sim --trace FILE` reads CS:APP .rep files and brkmap's native format.\n",
    );
    text
}

/// Consecutive allocators that share one option table (the free-list presets) are
/// listed together; where their defaults differ the default column shows each
/// allocator's value in order, `first/next/best/worst`.
fn groups(entries: &[Entry]) -> Vec<(Vec<&'static str>, Vec<OptionDoc>)> {
    // (table, names, each member's docs)
    type Group = (options::Table, Vec<&'static str>, Vec<Vec<OptionDoc>>);
    let mut groups: Vec<Group> = Vec::new();
    for e in entries {
        match groups.last_mut() {
            Some((table, names, docs)) if *table == e.options => {
                names.push(e.name);
                docs.push((e.docs)());
            }
            _ => groups.push((e.options, vec![e.name], vec![(e.docs)()])),
        }
    }
    groups
        .into_iter()
        .map(|(_, names, mut members)| {
            let mut merged = members.remove(0);
            for (i, row) in merged.iter_mut().enumerate() {
                let values: Vec<&str> = std::iter::once(row.value.as_str())
                    .chain(
                        members
                            .iter()
                            .filter_map(|m| m.get(i))
                            .map(|d| d.value.as_str()),
                    )
                    .collect();
                if values.iter().any(|v| *v != values[0]) {
                    row.value = values.join("/");
                }
            }
            (names, merged)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_shows_every_option_of_every_allocator() {
        let text = render(registry::entries());
        for e in registry::entries() {
            assert!(text.contains(e.name), "{}", e.name);
            for spec in e.options.options {
                assert!(text.contains(spec.name), "{}: {}", e.name, spec.name);
            }
        }
        // The presets share a table; only the fit policy differs.
        assert!(
            text.contains("first-fit, next-fit, best-fit, worst-fit"),
            "{text}"
        );
        assert!(text.contains("\nfirst-fit, next-fit, best-fit, worst-fit:\n  fit "));
        let fit = text.lines().find(|l| l.starts_with("  fit ")).unwrap();
        assert!(fit.contains("first/next/best/worst"), "{fit}");
        let order = text.lines().find(|l| l.contains(" order ")).unwrap();
        assert!(order.contains(" address "), "{order}");
        assert!(!order.contains('/'), "one default for all four: {order}");
        let threshold = text.lines().find(|l| l.contains("mmap_threshold")).unwrap();
        assert!(threshold.contains("size ≤ 32 MiB") && threshold.contains("128K"));
    }
}
