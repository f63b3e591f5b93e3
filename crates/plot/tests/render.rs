//! Every chart, in the default and a narrow style, written to files a person can open
//! in a browser: `$BRKMAP_PLOT_DIR` when set, else a folder under the target
//! directory (printed with `--nocapture`). Each file must read back as the same
//! well-formed SVG of the style's width.

mod common;
mod xml;

use plot::{ChartTitle, Style};
use std::path::PathBuf;

#[test]
fn every_chart_renders_to_a_file_a_browser_can_open() {
    let dir = std::env::var_os("BRKMAP_PLOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plot-render"));
    std::fs::create_dir_all(&dir).unwrap();
    eprintln!("charts written to {}", dir.display());
    let style = Style::default();
    let timelines = common::three(300);
    let title = ChartTitle::new("ramp").seed(7).cost_model("default");
    let mut written = 0;
    let mut write = |name: &str, svg: String| {
        let path = dir.join(name);
        std::fs::write(&path, &svg).unwrap();
        let back = std::fs::read_to_string(&path).unwrap();
        assert_eq!(back, svg, "{name} reads back as written");
        let doc = xml::check(&back).unwrap_or_else(|e| panic!("{name}: malformed SVG: {e}"));
        assert_eq!(doc.root, "svg", "{name}");
        let width: u32 = doc.root_attrs["width"].parse().unwrap();
        let narrow = name.starts_with("narrow-");
        assert_eq!(
            width,
            if narrow { 480 } else { Style::default().width },
            "{name}"
        );
        written += 1;
    };
    write(
        "timeline.svg",
        plot::timeline_chart(&title, &timelines, &style).unwrap(),
    );
    write(
        "fragmentation.svg",
        plot::fragmentation_chart(&title, &timelines, &style).unwrap(),
    );
    write(
        "returned.svg",
        plot::returned_chart(&title, &timelines, &style).unwrap(),
    );
    let summaries = vec![
        common::summary("glibc", 1.0),
        common::summary("mmap", 3.0),
        common::summary("first-fit", 0.2),
    ];
    let stitle = ChartTitle::from_summaries(&summaries, "default");
    write(
        "cost.svg",
        plot::cost_chart(&stitle, &summaries, &style).unwrap(),
    );
    write(
        "heapmap.svg",
        plot::heap_map_chart(&title, "first-fit", &common::snapshots(200, true), &style).unwrap(),
    );
    let model = common::cost_points(false);
    let real = common::cost_points(true);
    write(
        "crossover.svg",
        plot::crossover_chart(&ChartTitle::new("sizes"), &model, Some(&real), &style).unwrap(),
    );
    let narrow = Style {
        width: 480,
        panel_height: 120,
        ..Style::default()
    };
    write(
        "narrow-timeline.svg",
        plot::timeline_chart(&title, &timelines, &narrow).unwrap(),
    );
    write(
        "narrow-cost.svg",
        plot::cost_chart(&stitle, &summaries, &narrow).unwrap(),
    );
    let mut real_t = common::timeline("glibc", 300, 0);
    real_t.source = Some(engine::Source::Real);
    for s in &mut real_t.samples {
        s.rss += s.rss / 8;
        s.footprint = 0;
    }
    write(
        "compare.svg",
        plot::model_vs_real_chart(&title, &timelines[0], &real_t, &style).unwrap(),
    );
    let other = common::timeline("mmap", 250, 1);
    write(
        "compare-runs.svg",
        plot::compare_timelines_chart(
            &title,
            &timelines[0],
            &other,
            ("A: glibc", "B: mmap"),
            &style,
        )
        .unwrap(),
    );
    assert_eq!(written, 10, "every chart kind was written");
}
