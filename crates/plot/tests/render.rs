//! Writes every chart to `$BRKMAP_PLOT_DIR` (when set) for a look in a browser.

mod common;

use plot::{ChartTitle, Style};
use std::path::PathBuf;

#[test]
fn render_to_dir_when_asked() {
    let Some(dir) = std::env::var_os("BRKMAP_PLOT_DIR").map(PathBuf::from) else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    let style = Style::default();
    let timelines = common::three(300);
    let title = ChartTitle::new("ramp").seed(7).cost_model("default");
    let write = |name: &str, svg: String| std::fs::write(dir.join(name), svg).unwrap();
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
}
