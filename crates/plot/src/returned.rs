//! Memory given back to the OS, cumulatively, by mechanism, one panel per allocator.

use crate::canvas::{Doc, Entry, Panel, Swatch};
use crate::draw;
use crate::error::PlotError;
use crate::format::{Unit, panel_scales};
use crate::style::Style;
use crate::timeline::{MECHANISMS, check_timelines, op_axis, panel_name};
use crate::title::ChartTitle;
use engine::Timeline;

const CHART: &str = "returned";

/// Draws the cumulative bytes of address range each allocator gave back to the OS,
/// split by mechanism: lowering the program break (brk shrink), unmapping (munmap), and
/// telling the kernel the pages' contents are no longer needed (madvise, the range stays
/// mapped). One panel per allocator, on one byte scale unless the panels' ranges differ
/// by more than 20× (then each has its own; a line under the title says which); a panel
/// whose allocator returned nothing says so.
pub fn returned_chart(
    title: &ChartTitle,
    timelines: &[Timeline],
    style: &Style,
) -> Result<String, PlotError> {
    check_timelines(CHART, timelines)?;
    let names: Vec<&str> = timelines.iter().map(|t| t.allocator.as_str()).collect();
    let x = op_axis(timelines);
    let peaks: Vec<f64> = timelines
        .iter()
        .map(|t| {
            t.samples
                .iter()
                .flat_map(|s| MECHANISMS.iter().map(move |m| (m.measure.value)(s)))
                .max()
                .unwrap_or(0) as f64
        })
        .collect();
    let scales = panel_scales(&peaks, Unit::Bytes, units::bytes_label);

    let mut doc = Doc::new(CHART, style, "Memory returned to the OS");
    doc.line(title.setup_line(&names));
    doc.line(
        "Cumulative bytes of address range given back. brk shrink: the program break moved \
         down · munmap: a mapping was removed · madvise: pages released, the range stays \
         mapped.",
    );
    if let Some(line) = &scales.statement {
        doc.line(line.clone());
    }
    for m in &MECHANISMS {
        doc.legend(Entry::new(Swatch::Line(m.measure.cue()), m.label));
    }
    doc.fit_y_labels(&scales.axes);
    for (i, t) in timelines.iter().enumerate() {
        let last = t.samples.last();
        let totals: Vec<String> = MECHANISMS
            .iter()
            .map(|m| {
                format!(
                    "{} {}",
                    m.lane,
                    units::bytes_label(last.map_or(0, m.measure.value) as f64)
                )
            })
            .collect();
        let total: u64 = MECHANISMS
            .iter()
            .map(|m| last.map_or(0, m.measure.value))
            .sum();
        doc.panel(Panel {
            title: format!(
                "{} — {} returned ({})",
                panel_name(t),
                units::bytes_label(total as f64),
                totals.join(", ")
            ),
            plot_height: style.panel_height as i32,
            x_labels: true,
            x_desc: (i + 1 == timelines.len()).then(|| "operations executed".to_string()),
            empty_message: (total == 0).then(|| "nothing returned to the OS".to_string()),
            ..Panel::default()
        });
    }

    let mut out = String::new();
    doc.render(&mut out, |page| {
        for (i, (t, y)) in timelines.iter().zip(&scales.axes).enumerate() {
            let chart = page.chart(i, &x, y)?;
            for (k, m) in MECHANISMS.iter().enumerate() {
                let cue = m.measure.cue();
                draw::line(
                    page,
                    &chart,
                    &m.measure.points(t),
                    cue,
                    (k, MECHANISMS.len()),
                )?;
            }
        }
        Ok(())
    })?;
    Ok(out)
}
