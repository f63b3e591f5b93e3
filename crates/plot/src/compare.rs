//! The model against the machine: a simulated and a real timeline of the same
//! workload, overlaid.

use crate::canvas::{Doc, Entry, Panel, Swatch};
use crate::draw;
use crate::error::{PlotError, source_name};
use crate::format::{Axis, Unit};
use crate::style::{Cue, Marker, Style, okabe_ito};
use crate::timeline::{check_timelines, op_axis};
use crate::title::ChartTitle;
use engine::{Sample, Source, Timeline};
use plotters::style::RGBColor;

const CHART: &str = "model against real";

/// A measure compared: name, value, unit, colour and marker (the source is the dash:
/// simulated solid, real dashed).
type Measure = (&'static str, fn(&Sample) -> u64, RGBColor, Marker);

const RSS: Measure = ("RSS", |s| s.rss, okabe_ito::VERMILLION, Marker::Cross);
const FOOTPRINT: Measure = (
    "footprint",
    |s| s.footprint,
    okabe_ito::BLUE,
    Marker::Triangle,
);
const MAPPED: Measure = (
    "mapped",
    |s| s.mapped,
    okabe_ito::REDDISH_PURPLE,
    Marker::Diamond,
);
const FAULTS: Measure = (
    "minor faults",
    |s| s.minor_faults,
    okabe_ito::BLUISH_GREEN,
    Marker::Square,
);

/// The panels: title, unit, measures.
const PANELS: [(&str, Unit, &[Measure]); 3] = [
    ("Resident set (RSS)", Unit::Bytes, &[RSS]),
    (
        "Footprint and mapped memory",
        Unit::Bytes,
        &[FOOTPRINT, MAPPED],
    ),
    ("Minor page faults (cumulative)", Unit::Count, &[FAULTS]),
];

/// Checks a timeline's source against the one its argument stands for (a timeline
/// without a source is taken at its word).
fn check_source(t: &Timeline, expected: Source) -> Result<(), PlotError> {
    match t.source {
        Some(found) if found != expected => Err(PlotError::WrongSource {
            chart: CHART,
            expected,
            found,
            allocator: t.allocator.clone(),
        }),
        _ => Ok(()),
    }
}

/// Draws a simulated and a real timeline of the same workload overlaid, in three
/// panels: RSS; footprint and mapped; cumulative minor faults. Simulated lines are
/// solid, real ones dashed, each measure in its own colour and marker.
///
/// A real run leaves at 0 what it cannot measure; a measure that is 0 throughout the
/// real timeline is not drawn for it, and a note says so (a flat zero line would read
/// as a measurement).
pub fn model_vs_real_chart(
    title: &ChartTitle,
    simulated: &Timeline,
    real: &Timeline,
    style: &Style,
) -> Result<String, PlotError> {
    let both = [simulated.clone(), real.clone()];
    check_timelines(CHART, &both)?;
    check_source(simulated, Source::Simulated)?;
    check_source(real, Source::Real)?;
    let x = op_axis(&both);
    let measured = |m: &Measure, t: &Timeline| t.samples.iter().any(|s| (m.1)(s) > 0);

    let mut doc = Doc::new(CHART, style, "Model against the real machine");
    let names = if simulated.allocator == real.allocator {
        vec![simulated.allocator.as_str()]
    } else {
        vec![simulated.allocator.as_str(), real.allocator.as_str()]
    };
    doc.line(title.setup_line(&names));
    doc.line(format!(
        "Solid: {} ({}). Dashed: {} ({}). Same workload, same ops.",
        source_name(Source::Simulated),
        simulated.allocator,
        source_name(Source::Real),
        real.allocator
    ));
    let mut axes = Vec::new();
    for (i, (name, unit, measures)) in PANELS.iter().enumerate() {
        let peak = measures
            .iter()
            .flat_map(|m| both.iter().flat_map(|t| t.samples.iter().map(m.1)))
            .max()
            .unwrap_or(0);
        axes.push(Axis::linear(peak as f64, *unit));
        let mut legend = Vec::new();
        for m in measures.iter() {
            let cue = Cue::new(m.2, m.3);
            legend.push(Entry::new(
                Swatch::Line(cue),
                format!("{} (simulated)", m.0),
            ));
            if measured(m, real) {
                legend.push(Entry::new(
                    Swatch::Line(cue.dashed()),
                    format!("{} (real)", m.0),
                ));
            } else {
                doc.note(format!(
                    "{}: the real run did not measure it, so only the model is drawn.",
                    m.0
                ));
            }
        }
        doc.panel(Panel {
            title: name.to_string(),
            legend,
            plot_height: style.panel_height as i32,
            x_labels: true,
            x_desc: (i + 1 == PANELS.len()).then(|| "operations executed".to_string()),
            ..Panel::default()
        });
    }
    doc.fit_y_labels(&axes);

    let mut out = String::new();
    doc.render(&mut out, |page| {
        for (i, ((_, _, measures), y)) in PANELS.iter().zip(&axes).enumerate() {
            let chart = page.chart(i, &x, y)?;
            let n = measures.len() * 2;
            for (k, m) in measures.iter().enumerate() {
                let cue = Cue::new(m.2, m.3);
                let line = |t: &Timeline| -> Vec<(f64, f64)> {
                    t.samples
                        .iter()
                        .map(|s| (s.op as f64, (m.1)(s) as f64))
                        .collect()
                };
                draw::line(page, &chart, &line(simulated), cue, (2 * k, n))?;
                if measured(m, real) {
                    draw::line(page, &chart, &line(real), cue.dashed(), (2 * k + 1, n))?;
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}
