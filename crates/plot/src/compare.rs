//! Two timelines overlaid: the model against the machine (a simulated and a real
//! timeline of the same workload), and any two runs against each other (`sim compare`).

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

/// A measure of [`compare_timelines_chart`]: panel title, unit and value at a sample.
struct Overlay {
    title: &'static str,
    unit: Unit,
    value: fn(&Sample) -> f64,
}

/// The panels of [`compare_timelines_chart`], top to bottom.
const OVERLAYS: [Overlay; 5] = [
    Overlay {
        title: "Live bytes (what the program asked for and still holds)",
        unit: Unit::Bytes,
        value: |s| s.live as f64,
    },
    Overlay {
        title: "Footprint (bytes the allocator holds from the OS)",
        unit: Unit::Bytes,
        value: |s| s.footprint as f64,
    },
    Overlay {
        title: "Resident set (RSS)",
        unit: Unit::Bytes,
        value: |s| s.rss as f64,
    },
    Overlay {
        title: "Memory returned to the OS (cumulative: brk shrink + munmap + madvise)",
        unit: Unit::Bytes,
        value: |s| (s.returned_brk + s.returned_munmap + s.returned_madvise) as f64,
    },
    Overlay {
        title: "Time (cumulative, simulated or measured)",
        unit: Unit::Nanos,
        value: |s| s.time_ns,
    },
];

/// The line of run A in [`compare_timelines_chart`]: solid, filled circles.
const RUN_A: Cue = Cue {
    colour: okabe_ito::BLUE,
    marker: Marker::Circle,
    dash: None,
    width: 2,
    hollow: false,
};

/// The line of run B: dashed, hollow triangles, another colour.
const RUN_B: Cue = Cue {
    colour: okabe_ito::VERMILLION,
    marker: Marker::Triangle,
    dash: Some((7, 4)),
    width: 2,
    hollow: true,
};

/// Draws two runs' timelines overlaid, one panel per measure (live, footprint, RSS,
/// memory returned, cumulative time): run A solid in blue with filled circles, run B
/// dashed in vermillion with hollow triangles, so the two stay apart in grey print
/// too. `labels` names them in the legend (`A: glibc (churn-seed1)`); they are written
/// as given.
///
/// Both runs share every panel's axis: that is the point of overlaying them. The op
/// axis spans the longer run. A measure that is zero throughout both runs (nothing
/// returned) says so instead of drawing two flat lines. Nanoseconds of a simulated run
/// are the cost model's; of a real one, measured.
pub fn compare_timelines_chart(
    title: &ChartTitle,
    a: &Timeline,
    b: &Timeline,
    labels: (&str, &str),
    style: &Style,
) -> Result<String, PlotError> {
    const CHART: &str = "comparison";
    let both = [a.clone(), b.clone()];
    check_timelines(CHART, &both)?;
    for t in &both {
        if let Some(s) = t.samples.iter().find(|s| !s.time_ns.is_finite()) {
            return Err(PlotError::NonFinite {
                chart: CHART,
                what: format!("time_ns of {} at op {}", t.allocator, s.op),
            });
        }
    }
    let x = op_axis(&both);
    let names: Vec<&str> = if a.allocator == b.allocator {
        vec![a.allocator.as_str()]
    } else {
        vec![a.allocator.as_str(), b.allocator.as_str()]
    };
    let mut doc = Doc::new(CHART, style, "Two runs compared");
    doc.line(title.setup_line(&names));
    doc.line(
        "Run A is the solid line, run B the dashed one; both share each panel's axis, so \
         heights compare directly.",
    );
    doc.legend(Entry::new(Swatch::Line(RUN_A), labels.0));
    doc.legend(Entry::new(Swatch::Line(RUN_B), labels.1));
    let mut axes = Vec::new();
    for (i, m) in OVERLAYS.iter().enumerate() {
        let peak = both
            .iter()
            .flat_map(|t| t.samples.iter().map(m.value))
            .fold(0.0, f64::max);
        axes.push(Axis::linear(peak, m.unit));
        doc.panel(Panel {
            title: m.title.to_string(),
            plot_height: style.panel_height as i32,
            x_labels: true,
            x_desc: (i + 1 == OVERLAYS.len()).then(|| "operations executed".to_string()),
            empty_message: (peak <= 0.0).then(|| "zero throughout both runs".to_string()),
            ..Panel::default()
        });
    }
    doc.fit_y_labels(&axes);
    let mut out = String::new();
    doc.render(&mut out, |page| {
        for (i, (m, y)) in OVERLAYS.iter().zip(&axes).enumerate() {
            let chart = page.chart(i, &x, y)?;
            for (k, (t, cue)) in [(a, RUN_A), (b, RUN_B)].into_iter().enumerate() {
                let points: Vec<(f64, f64)> = t
                    .samples
                    .iter()
                    .map(|s| (s.op as f64, (m.value)(s)))
                    .collect();
                draw::line(page, &chart, &points, cue, (k, 2))?;
            }
        }
        Ok(())
    })?;
    Ok(out)
}
