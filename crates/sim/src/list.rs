//! `sim list`: what can be run.

use crate::output::{Table, emit};
use engine::registry;

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
    text.push_str(
        "\nTraces: `sim --trace FILE` reads CS:APP .rep files and brkmap's native format.\n",
    );
    emit(&text);
}
