//! Memory over time: live, allocated, footprint, mapped and RSS, one panel per
//! allocator, with the moments memory went back to the OS and the workload's phases.

use crate::canvas::{Doc, Entry, Panel, Swatch};
use crate::draw;
use crate::error::PlotError;
use crate::format::{Axis, Unit, panel_scales};
use crate::style::{Cue, GREY, INK, Marker, Style, okabe_ito, size, text_width};
use crate::title::ChartTitle;
use engine::{Sample, Source, Timeline};
use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const CHART: &str = "timeline";

/// A byte measure of a [`Sample`] and how its line looks.
pub(crate) struct Measure {
    /// Legend name.
    pub name: &'static str,
    /// The value at a sample.
    pub value: fn(&Sample) -> u64,
    /// Line colour.
    pub colour: RGBColor,
    /// Marker shape.
    pub marker: Marker,
}

impl Measure {
    /// The line's cue.
    pub fn cue(&self) -> Cue {
        Cue::new(self.colour, self.marker)
    }

    /// The measure at every sample of `t`, as (op, bytes) points.
    pub fn points(&self, t: &Timeline) -> Vec<(f64, f64)> {
        t.samples
            .iter()
            .map(|s| (s.op as f64, (self.value)(s) as f64))
            .collect()
    }
}

/// The memory measures a timeline panel draws, back to front (live last, on top).
const MEASURES: [Measure; 5] = [
    Measure {
        name: "mapped",
        value: |s| s.mapped,
        colour: okabe_ito::REDDISH_PURPLE,
        marker: Marker::Diamond,
    },
    Measure {
        name: "footprint",
        value: |s| s.footprint,
        colour: okabe_ito::BLUE,
        marker: Marker::Triangle,
    },
    Measure {
        name: "RSS",
        value: |s| s.rss,
        colour: okabe_ito::VERMILLION,
        marker: Marker::Cross,
    },
    Measure {
        name: "allocated",
        value: |s| s.allocated,
        colour: okabe_ito::BLUISH_GREEN,
        marker: Marker::Square,
    },
    Measure {
        name: "live",
        value: |s| s.live,
        colour: okabe_ito::BLACK,
        marker: Marker::Circle,
    },
];

/// A way memory goes back to the OS.
pub(crate) struct Mechanism {
    /// Short name (a rug lane's label).
    pub lane: &'static str,
    /// Name in legends.
    pub label: &'static str,
    /// The cumulative bytes returned this way, with colour and marker.
    pub measure: Measure,
}

/// The ways memory goes back to the OS (the same colours in [`crate::returned_chart`]).
pub(crate) const MECHANISMS: [Mechanism; 3] = [
    Mechanism {
        lane: "brk",
        label: "brk shrink",
        measure: Measure {
            name: "brk shrink",
            value: |s| s.returned_brk,
            colour: okabe_ito::BLUE,
            marker: Marker::Circle,
        },
    },
    Mechanism {
        lane: "munmap",
        label: "munmap",
        measure: Measure {
            name: "munmap",
            value: |s| s.returned_munmap,
            colour: okabe_ito::VERMILLION,
            marker: Marker::Triangle,
        },
    },
    Mechanism {
        lane: "madvise",
        label: "madvise",
        measure: Measure {
            name: "madvise",
            value: |s| s.returned_madvise,
            colour: okabe_ito::BLUISH_GREEN,
            marker: Marker::Square,
        },
    },
];

/// Height of one lane of the returned-memory rug.
const LANE: i32 = 13;

/// Checks what every timeline chart needs: at least one timeline, each with samples.
/// (Every value drawn from a sample is an integer, so nothing else can be wrong.)
pub(crate) fn check_timelines(
    chart: &'static str,
    timelines: &[Timeline],
) -> Result<(), PlotError> {
    if timelines.is_empty() {
        return Err(PlotError::NoData {
            chart,
            what: "no timelines",
        });
    }
    for t in timelines {
        if t.samples.is_empty() {
            return Err(PlotError::EmptyTimeline {
                chart,
                allocator: t.allocator.clone(),
            });
        }
    }
    Ok(())
}

/// The op axis shared by the panels of a chart: 0 to the last sampled op, exactly.
pub(crate) fn op_axis(timelines: &[Timeline]) -> Axis {
    let last = timelines
        .iter()
        .filter_map(|t| t.samples.last())
        .map(|s| s.op)
        .max()
        .unwrap_or(0);
    Axis::linear_to(last as f64, Unit::Count)
}

/// A panel title naming the allocator and, for real runs, the source.
pub(crate) fn panel_name(t: &Timeline) -> String {
    match t.source {
        Some(Source::Real) => format!("{} (real run)", t.allocator),
        _ => t.allocator.clone(),
    }
}

/// The phases of the workload: `(op where the phase starts, name)`, in op order,
/// without repeats (every allocator ran the same ops, so their markers coincide).
fn phases(timelines: &[Timeline]) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = timelines
        .iter()
        .flat_map(|t| {
            t.samples
                .iter()
                .filter_map(|s| s.phase.as_ref().map(|p| (s.op, p.clone())))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Draws memory over time: one panel per allocator with live, allocated, footprint,
/// mapped and RSS (one byte scale for every panel, so heights compare, unless the
/// panels' ranges differ by more than 20×: then each panel has its own, and a line
/// under the title says which it is), a rug of lanes
/// under each panel marking the samples at which memory went back to the OS (one lane
/// per mechanism: brk shrink, munmap, madvise), and the workload's phase boundaries as
/// dashed rules with the phase names above the first panel.
///
/// A phase marker in a [`Timeline`] starts the phase it names (an `Op::Phase` names the
/// ops that follow it), so each name is written over the stretch of ops from its own
/// marker to the next one (or to the end of the run).
pub fn timeline_chart(
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
                .flat_map(|s| MEASURES.iter().map(move |m| (m.value)(s)))
                .max()
                .unwrap_or(0) as f64
        })
        .collect();
    let scales = panel_scales(&peaks, Unit::Bytes, units::bytes_label);
    let lanes = Axis::categories(
        &MECHANISMS
            .iter()
            .map(|m| m.lane.to_string())
            .collect::<Vec<_>>(),
    );
    let phases = phases(timelines);

    let mut doc = Doc::new(CHART, style, "Memory over time");
    doc.line(title.setup_line(&names));
    doc.line(
        "live: bytes the program asked for and still holds · allocated: chunks handed out, \
         headers and padding included · footprint: bytes the allocator holds from the OS · \
         mapped: the process's anonymous virtual memory · RSS: pages resident in RAM",
    );
    if let Some(line) = &scales.statement {
        doc.line(line.clone());
    }
    for m in MEASURES.iter().rev() {
        doc.legend(Entry::new(Swatch::Line(m.cue()), m.name));
    }
    if !phases.is_empty() {
        doc.legend(Entry::new(Swatch::Rule(GREY), "start of a phase"));
    }
    for m in &MECHANISMS {
        doc.legend(Entry::new(
            Swatch::Tick(m.measure.colour),
            format!("returned by {}", m.label),
        ));
    }
    doc.fit_y_labels(scales.axes.iter().chain([&lanes]));
    let phase_band = if phases.is_empty() { 0 } else { 30 };
    let mut panels = Vec::new();
    for (i, t) in timelines.iter().enumerate() {
        let main = doc.panel(Panel {
            title: panel_name(t),
            band: if i == 0 { phase_band } else { 0 },
            plot_height: style.panel_height as i32,
            gap_after: Some(4),
            ..Panel::default()
        });
        let rug = doc.panel(Panel {
            plot_height: LANE * 3,
            x_labels: true,
            x_desc: (i + 1 == timelines.len()).then(|| "operations executed".to_string()),
            ..Panel::default()
        });
        panels.push((main, rug));
    }
    doc.note(
        "Rug lanes under each panel: a mark at every sample where that mechanism's \
         cumulative count of returned bytes grew since the previous sample.",
    );
    let (labels, skipped) = place_phase_labels(&phases, &x, doc.plot_x_span());
    if skipped > 0 {
        doc.note(format!(
            "{skipped} of {} phase names are not written for lack of room (their rules are drawn).",
            phases.len()
        ));
    }

    let mut out = String::new();
    doc.render(&mut out, |page| {
        for ((t, &(main, rug)), y) in timelines.iter().zip(&panels).zip(&scales.axes) {
            let chart = page.chart(main, &x, y)?;
            for (op, _) in &phases {
                draw::vrule(page, &chart, *op as f64, GREY)?;
            }
            if main == 0 {
                let (_, band_top, _, _) = page.band(main);
                for l in &labels {
                    page.text(
                        &l.name,
                        (l.centre, band_top + 2 + l.row * 14),
                        size::LABEL,
                        false,
                        &INK,
                        Pos::new(HPos::Center, VPos::Top),
                    )?;
                }
            }
            for (k, m) in MEASURES.iter().enumerate() {
                draw::line(page, &chart, &m.points(t), m.cue(), (k, MEASURES.len()))?;
            }
            let lane_chart = page.chart(rug, &x, &lanes)?;
            for (lane, m) in MECHANISMS.iter().enumerate() {
                let counter = m.measure.value;
                let events: Vec<f64> = t
                    .samples
                    .windows(2)
                    .filter(|w| counter(&w[1]) > counter(&w[0]))
                    .map(|w| w[1].op as f64)
                    .collect();
                draw::ticks(
                    page,
                    &lane_chart,
                    &events,
                    lanes.category(lane),
                    m.measure.colour,
                )?;
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// A phase name's place in the band above the first panel.
struct PhaseLabel {
    centre: i32,
    row: i32,
    name: String,
}

/// Places the phase names, each centred over the ops its phase covers (from its
/// marker to the next one, the last to the end of the axis), in two staggered rows; a
/// name that fits in neither row is left out (its rule is still drawn). Returns the
/// placed labels and how many were left out.
fn place_phase_labels(
    phases: &[(u64, String)],
    x: &Axis,
    (x0, x1): (i32, i32),
) -> (Vec<PhaseLabel>, usize) {
    let to_px = |op: f64| x0 + ((op - x.min) / (x.max - x.min) * f64::from(x1 - x0)).round() as i32;
    let mut row_end = [i32::MIN; 2];
    let mut placed = Vec::new();
    let mut skipped = 0;
    for (k, (op, name)) in phases.iter().enumerate() {
        let start = to_px(*op as f64);
        let end = phases
            .get(k + 1)
            .map_or(x1, |(next, _)| to_px(*next as f64));
        let w = text_width(name, size::LABEL, false).ceil() as i32;
        let centre = ((start + end) / 2).clamp(x0 + w / 2, (x1 - w / 2).max(x0 + w / 2));
        let left = centre - w / 2;
        match (0..2).find(|&r| left > row_end[r] + 6) {
            Some(row) => {
                row_end[row] = left + w;
                placed.push(PhaseLabel {
                    centre,
                    row: row as i32,
                    name: name.clone(),
                });
            }
            None => skipped += 1,
        }
    }
    (placed, skipped)
}
