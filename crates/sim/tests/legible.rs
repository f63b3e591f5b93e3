//! The book's figures can be read where the book shows them: every text of every
//! committed figure is at least 11 px tall in mdBook's 750-px content column (which
//! scales a wider image down to its width).

use std::path::Path;

/// The number in the first ` name="..."` attribute of `text`.
fn attr(text: &str, name: &str) -> Option<f64> {
    let key = format!(" {name}=\"");
    let at = text.find(&key)? + key.len();
    let end = text[at..].find('"')? + at;
    text[at..end].parse().ok()
}

#[test]
fn every_figure_text_is_at_least_11_px_in_the_books_column() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../book/src/figures");
    let mut problems = Vec::new();
    let mut figures = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .collect();
    entries.sort();
    for path in entries {
        figures += 1;
        let svg = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let root = &svg[..svg.find('>').unwrap()];
        let width = attr(root, "width").expect("the SVG has a width");
        let scale = (plot::Style::BOOK_COLUMN as f64 / width).min(1.0);
        let mut texts = 0;
        for element in svg.split("<text").skip(1) {
            let tag = &element[..element.find('>').unwrap()];
            let size = attr(tag, "font-size").expect("every text has a font-size");
            texts += 1;
            if size * scale < 11.0 {
                problems.push(format!(
                    "{name}: a {size} px text shows at {:.1} px",
                    size * scale
                ));
                break;
            }
        }
        assert!(texts > 0, "{name} has no text");
    }
    assert!(figures >= 10, "only {figures} figures in {}", dir.display());
    assert!(
        problems.is_empty(),
        "figures too small to read in the book (run `cargo run -p sim -- figures`):\n{}",
        problems.join("\n")
    );
}
