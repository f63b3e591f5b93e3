//! Where the simulated time went, and how often each allocator entered the kernel:
//! stacked bars per allocator.

use crate::canvas::{Chart, Doc, Entry, Page, Panel, Swatch};
use crate::error::{OrBackend, PlotError};
use crate::format::{Axis, Unit};
use crate::style::{GREY, INK, Style, okabe_ito, size, text_on, text_width};
use crate::title::ChartTitle;
use engine::Summary;
use kernel::{CostCategory, Syscall};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const CHART: &str = "cost";

/// The colour of TLB shootdowns, the one category beyond the Okabe–Ito palette and
/// the allocator's grey (charged only when other CPUs run an address space).
const LIGHT_GREY: RGBColor = RGBColor(0xCC, 0xCC, 0xCC);

/// The colour of the program's own writes into its blocks: not the allocator's work
/// (grey), but beside it.
const DARK_GREY: RGBColor = RGBColor(0x55, 0x55, 0x55);

/// A cost category's name in the legend and inside its bar segments, and its colour.
/// Eleven categories: eight Okabe–Ito colours and three greys.
fn category_look(c: CostCategory) -> (&'static str, RGBColor) {
    match c {
        CostCategory::ModeSwitch => ("mode switch", okabe_ito::BLUE),
        CostCategory::Syscall => ("syscall work", okabe_ito::SKY_BLUE),
        CostCategory::Fault => ("page faults", okabe_ito::VERMILLION),
        CostCategory::Zeroing => ("page zeroing", okabe_ito::ORANGE),
        CostCategory::PageTable => ("page tables", okabe_ito::REDDISH_PURPLE),
        CostCategory::Tlb => ("TLB misses", okabe_ito::BLUISH_GREEN),
        CostCategory::Teardown => ("unmap teardown", okabe_ito::YELLOW),
        CostCategory::Shootdown => ("TLB shootdowns", LIGHT_GREY),
        CostCategory::ContextSwitch => ("context switches", okabe_ito::BLACK),
        CostCategory::User => ("allocator (user space)", GREY),
        CostCategory::Writes => ("program's writes", DARK_GREY),
    }
}

/// A cost category's name as the cost chart's legend writes it (also for tables that
/// should use the chart's words).
pub fn cost_category_label(c: CostCategory) -> &'static str {
    category_look(c).0
}

/// A syscall's colour.
fn syscall_colour(s: Syscall) -> RGBColor {
    match s {
        Syscall::Brk => okabe_ito::BLUE,
        Syscall::Mmap => okabe_ito::ORANGE,
        Syscall::Munmap => okabe_ito::VERMILLION,
        Syscall::Mprotect => okabe_ito::REDDISH_PURPLE,
        Syscall::Mremap => okabe_ito::SKY_BLUE,
        Syscall::Madvise => okabe_ito::BLUISH_GREEN,
    }
}

/// Height of one bar's row.
const ROW: i32 = 30;

/// One bar: its segments (value, colour, name) in stacking order and the label written
/// after it.
struct Bar {
    segments: Vec<(f64, RGBColor, &'static str)>,
    label: String,
}

/// An axis from 0 that leaves room, after the longest bar, for the longest end label.
fn bar_axis(bars: &[Bar], unit: Unit, plot_width: f64) -> Axis {
    let longest = bars
        .iter()
        .map(|b| b.segments.iter().map(|s| s.0).sum::<f64>())
        .fold(0.0, f64::max);
    let label = bars
        .iter()
        .map(|b| text_width(&b.label, size::NOTE, false))
        .fold(0.0, f64::max)
        + 12.0;
    let room = (plot_width - label).max(plot_width / 3.0);
    Axis::linear(longest * plot_width / room, unit)
}

/// Draws `bars` on `chart`: category `i` at `y.category(i)`, each segment labelled
/// with its name where it is wide enough, the bar's label after it.
fn draw_bars(
    page: &Page<'_, '_>,
    chart: &Chart<'_, '_>,
    y: &Axis,
    bars: &[Bar],
) -> Result<(), PlotError> {
    let name = page.name();
    for (i, bar) in bars.iter().enumerate() {
        let c = y.category(i);
        let mut start = 0.0;
        for &(value, colour, label) in &bar.segments {
            if value <= 0.0 {
                continue;
            }
            let end = start + value;
            let (x0, y0) = chart.backend_coord(&(start, c + 0.32));
            let (x1, y1) = chart.backend_coord(&(end, c - 0.32));
            let rect = [(x0, y0), (x1.max(x0 + 1), y1)];
            page.root()
                .draw(&Rectangle::new(rect, colour.filled()))
                .or_backend(name)?;
            // A white edge between segments, so neighbours of similar colour separate.
            page.root()
                .draw(&Rectangle::new(
                    rect,
                    ShapeStyle::from(&WHITE).stroke_width(1),
                ))
                .or_backend(name)?;
            if f64::from(x1 - x0) > text_width(label, size::NOTE, false) + 8.0 {
                let ink = text_on(colour);
                let ink: &'static RGBColor = if ink == INK { &INK } else { &WHITE };
                page.text(
                    label,
                    ((x0 + x1) / 2, (y0 + y1) / 2),
                    size::NOTE,
                    false,
                    ink,
                    Pos::new(HPos::Center, VPos::Center),
                )?;
            }
            start = end;
        }
        let (xe, ye) = chart.backend_coord(&(start, c));
        page.text(
            &bar.label,
            (xe + 6, ye),
            size::NOTE,
            false,
            &INK,
            Pos::new(HPos::Left, VPos::Center),
        )?;
    }
    Ok(())
}

/// Draws two panels of horizontal stacked bars, one bar per allocator: the simulated
/// time by cost category (in [`CostCategory::ALL`] order, each bar labelled with its
/// total and time per op), and the syscalls by kind (labelled with the count and the
/// minor faults, which enter the kernel too but are not syscalls).
///
/// Categories no allocator spent time on are left out of the legend, and a note names
/// them, so an absent colour is never a mystery.
pub fn cost_chart(
    title: &ChartTitle,
    summaries: &[Summary],
    style: &Style,
) -> Result<String, PlotError> {
    if summaries.is_empty() {
        return Err(PlotError::NoData {
            chart: CHART,
            what: "no summaries",
        });
    }
    for s in summaries {
        for c in CostCategory::ALL {
            let v = s.cost(c);
            if !v.is_finite() || v < 0.0 {
                return Err(PlotError::NonFinite {
                    chart: CHART,
                    what: format!("cost {} of {} ({v})", c.name(), s.allocator),
                });
            }
        }
        if !s.ns_per_op.is_finite() {
            return Err(PlotError::NonFinite {
                chart: CHART,
                what: format!("ns_per_op of {}", s.allocator),
            });
        }
    }
    let names: Vec<String> = summaries.iter().map(|s| s.allocator.clone()).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let y = Axis::categories(&names);

    let used: Vec<CostCategory> = CostCategory::ALL
        .into_iter()
        .filter(|&c| summaries.iter().any(|s| s.cost(c) > 0.0))
        .collect();
    let unused: Vec<&str> = CostCategory::ALL
        .into_iter()
        .filter(|c| !used.contains(c))
        .map(|c| category_look(c).0)
        .collect();
    let time_bars: Vec<Bar> = summaries
        .iter()
        .map(|s| Bar {
            segments: used
                .iter()
                .map(|&c| {
                    let (label, colour) = category_look(c);
                    (s.cost(c), colour, label)
                })
                .collect(),
            label: format!(
                "{} · {}/op",
                units::nanos_label(used.iter().map(|&c| s.cost(c)).sum()),
                units::nanos_label(s.ns_per_op)
            ),
        })
        .collect();
    let calls: Vec<Syscall> = Syscall::ALL
        .into_iter()
        .filter(|&c| summaries.iter().any(|s| s.syscall(c) > 0))
        .collect();
    let call_bars: Vec<Bar> = summaries
        .iter()
        .map(|s| {
            let total: u64 = Syscall::ALL.iter().map(|&c| s.syscall(c)).sum();
            Bar {
                segments: calls
                    .iter()
                    .map(|&c| (s.syscall(c) as f64, syscall_colour(c), c.name()))
                    .collect(),
                label: format!(
                    "{} syscalls · {} minor faults",
                    units::count(total),
                    units::count(s.minor_faults)
                ),
            }
        })
        .collect();

    let mut doc = Doc::new(CHART, style, "Simulated cost and system calls");
    doc.line(title.setup_line(&name_refs));
    doc.line(
        "A mode switch is entering and leaving the kernel (every syscall and fault trap); \
         a context switch is the CPU changing processes. Time is the simulator's, from the \
         cost model.",
    );
    doc.fit_y_labels([&y]);
    let (x0, x1) = doc.plot_x_span();
    let plot_width = f64::from(x1 - x0);
    let time_axis = bar_axis(&time_bars, Unit::Nanos, plot_width);
    let call_axis = bar_axis(&call_bars, Unit::Count, plot_width);
    let height = ROW * summaries.len() as i32;
    doc.panel(Panel {
        title: "Simulated time by cost category".to_string(),
        legend: used
            .iter()
            .map(|&c| {
                let (label, colour) = category_look(c);
                Entry::new(Swatch::Box(colour), label)
            })
            .collect(),
        plot_height: height,
        x_labels: true,
        x_desc: Some("simulated time".to_string()),
        empty_message: used
            .is_empty()
            .then(|| "no simulated time was charged".to_string()),
        ..Panel::default()
    });
    doc.panel(Panel {
        title: "System calls by kind".to_string(),
        legend: calls
            .iter()
            .map(|&c| Entry::new(Swatch::Box(syscall_colour(c)), c.name()))
            .collect(),
        plot_height: height,
        x_labels: true,
        x_desc: Some("syscalls made".to_string()),
        empty_message: calls
            .is_empty()
            .then(|| "no syscalls were made".to_string()),
        ..Panel::default()
    });
    if !unused.is_empty() {
        doc.note(format!("No time was charged to: {}.", unused.join(", ")));
    }

    let mut out = String::new();
    doc.render(&mut out, |page| {
        let chart = page.chart(0, &time_axis, &y)?;
        draw_bars(page, &chart, &y, &time_bars)?;
        let chart = page.chart(1, &call_axis, &y)?;
        draw_bars(page, &chart, &y, &call_bars)
    })?;
    Ok(out)
}
