//! What a figure draws, as plain data.
//!
//! An experiment does not draw: it says *which* chart shows its result and hands over
//! the values, and the `plot` crate turns them into SVG. Most figures use one of
//! plot's engine-result charts (a timeline, a heap map, a cost breakdown...); the
//! figures that plot something else (page-table bytes against pages touched, VMAs over
//! ops, outcomes of the SIGSEGV experiments) describe a generic chart here: line and
//! point series on two axes ([`XyChart`]), horizontal bars ([`BarChart`]), or a grid of
//! labelled outcome cells ([`GridChart`]).

use crate::{HeapSnapshot, Summary, Timeline};
use serde::{Deserialize, Serialize};

/// The setup line every chart prints under its title, so a figure cut out of the book
/// still says what produced it (mirrors `plot::ChartTitle`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FigureTitle {
    /// Workload, trace or driver name (`churn`, `demand paging`).
    pub workload: String,
    /// The generator's seed, when there is one.
    pub seed: Option<u64>,
    /// Allocator names, in the order the figure shows them.
    pub allocators: Vec<String>,
    /// The cost model's name (`default`), empty when no time is shown.
    pub cost_model: String,
    /// Anything else the reader must know: sizes, kernel limits.
    pub note: Option<String>,
}

/// One of plot's charts with its input.
#[derive(Clone, Debug, PartialEq)]
pub enum Figure {
    /// `plot::timeline_chart`: memory over ops, one panel per timeline.
    Timeline(Vec<Timeline>),
    /// `plot::fragmentation_chart`: fragmentation measures over ops.
    Fragmentation(Vec<Timeline>),
    /// `plot::returned_chart`: bytes given back, by mechanism, one panel per timeline.
    Returned(Vec<Timeline>),
    /// `plot::cost_chart`: simulated time by category and syscalls, one bar each.
    Cost(Vec<Summary>),
    /// `plot::heap_map_chart` of one allocator's snapshots.
    HeapMap {
        /// The allocator.
        allocator: String,
        /// Its heap over time.
        snapshots: Vec<HeapSnapshot>,
    },
    /// `plot::crossover_chart`: ns per pair of calls against block size.
    Crossover {
        /// `(size, malloc+free ns, mmap+munmap ns)` from the cost model.
        model: Vec<(u64, f64, f64)>,
        /// The same, measured on a real machine, when a snapshot is available.
        measured: Option<Vec<(u64, f64, f64)>>,
    },
    /// `plot::model_vs_real_chart`.
    ModelVsReal {
        /// The simulator's timeline.
        simulated: Timeline,
        /// The real run's timeline.
        real: Timeline,
    },
    /// A generic line/point chart.
    Xy(XyChart),
    /// A generic horizontal bar chart.
    Bars(BarChart),
    /// A grid of outcome cells.
    Grid(GridChart),
}

impl Figure {
    /// The chart's kind, as the notebooks README names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Figure::Timeline(_) => "timeline",
            Figure::Fragmentation(_) => "fragmentation",
            Figure::Returned(_) => "returned",
            Figure::Cost(_) => "cost",
            Figure::HeapMap { .. } => "heap map",
            Figure::Crossover { .. } => "crossover",
            Figure::ModelVsReal { .. } => "model vs real",
            Figure::Xy(_) => "lines",
            Figure::Bars(_) => "bars",
            Figure::Grid(_) => "outcome grid",
        }
    }
}

/// What the numbers on an axis are.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    /// Bytes (labels in KiB, MiB...).
    Bytes,
    /// Whole things: ops, pages, VMAs, faults.
    Count,
    /// Simulated nanoseconds.
    Nanos,
    /// A ratio shown in percent (0.25 is 25%).
    Percent,
}

/// An axis of an [`XyChart`] panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AxisSpec {
    /// What the axis measures, written under (x) or beside (y) it.
    pub label: String,
    /// Its unit.
    pub unit: Unit,
    /// Logarithmic (only for bytes, base 2, and nanoseconds, base 10).
    pub log: bool,
}

impl AxisSpec {
    /// A linear axis.
    pub fn linear(label: impl Into<String>, unit: Unit) -> AxisSpec {
        AxisSpec {
            label: label.into(),
            unit,
            log: false,
        }
    }

    /// A logarithmic axis.
    pub fn log(label: impl Into<String>, unit: Unit) -> AxisSpec {
        AxisSpec {
            label: label.into(),
            unit,
            log: true,
        }
    }
}

/// How a series is drawn.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mark {
    /// Points joined by straight lines.
    Line,
    /// A staircase: each value holds until the next point (a break, a threshold).
    Step,
    /// Unjoined points (one per event).
    Points,
}

/// One series of an [`XyPanel`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XySeries {
    /// Its legend entry.
    pub name: String,
    /// `(x, y)` in data units, in x order for lines and steps.
    pub points: Vec<(f64, f64)>,
    /// How it is drawn.
    pub mark: Mark,
}

impl XySeries {
    /// A series.
    pub fn new(name: impl Into<String>, mark: Mark, points: Vec<(f64, f64)>) -> XySeries {
        XySeries {
            name: name.into(),
            points,
            mark,
        }
    }
}

/// A horizontal reference line (a limit) across a panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// The y value.
    pub y: f64,
    /// Its label, written at the line's right end.
    pub label: String,
}

/// A vertical marker (an event) across a panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// The x value.
    pub x: f64,
    /// Its label, written above the plot.
    pub label: String,
}

/// One panel of an [`XyChart`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XyPanel {
    /// Bold title over the panel.
    pub title: String,
    /// The x axis.
    pub x: AxisSpec,
    /// The y axis.
    pub y: AxisSpec,
    /// The series; each gets the next colour and marker shape of the palette, so the
    /// same series index looks the same in every panel.
    pub series: Vec<XySeries>,
    /// Horizontal reference lines.
    pub levels: Vec<Level>,
    /// Vertical event markers.
    pub markers: Vec<Marker>,
}

/// A chart of line and point series, one or more panels stacked vertically.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XyChart {
    /// The chart's title.
    pub title: String,
    /// Lines under the setup line: what is drawn, definitions.
    pub lines: Vec<String>,
    /// The panels, top to bottom.
    pub panels: Vec<XyPanel>,
    /// Notes under the panels.
    pub notes: Vec<String>,
}

/// One bar of a [`BarPanel`]: stacked segments and a label after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// The category, written left of the bar.
    pub label: String,
    /// One value per segment name of the panel, stacked left to right.
    pub segments: Vec<f64>,
    /// Written after the bar's end (its total, an outcome).
    pub note: String,
}

/// A panel of horizontal bars.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BarPanel {
    /// Bold title over the panel.
    pub title: String,
    /// The unit of the bar lengths.
    pub unit: Unit,
    /// The x axis description.
    pub axis: String,
    /// The names of the stacked segments (one name: plain bars).
    pub segments: Vec<String>,
    /// The bars, top to bottom.
    pub bars: Vec<Bar>,
}

/// A chart of horizontal bar panels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BarChart {
    /// The chart's title.
    pub title: String,
    /// Lines under the setup line.
    pub lines: Vec<String>,
    /// The panels, top to bottom.
    pub panels: Vec<BarPanel>,
    /// Notes under the panels.
    pub notes: Vec<String>,
}

/// What a grid cell's colour says.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tone {
    /// A fault or failure (a SIGSEGV, an OOM).
    Fault,
    /// No fault: the access went through, the run completed.
    Fine,
    /// A different signal or outcome worth telling apart (SIGBUS).
    Other,
    /// Nothing to show (not measured).
    Missing,
}

/// One cell of a [`GridChart`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Its text (one short line).
    pub text: String,
    /// Its colour's meaning.
    pub tone: Tone,
}

/// One row of a [`GridChart`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridRow {
    /// The row's label, left of the cells.
    pub label: String,
    /// A longer description under the label.
    pub detail: String,
    /// One cell per column.
    pub cells: Vec<Cell>,
}

/// A table-like figure: rows of experiments, columns of conditions, coloured cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridChart {
    /// The chart's title.
    pub title: String,
    /// Lines under the setup line.
    pub lines: Vec<String>,
    /// Column headings.
    pub columns: Vec<String>,
    /// The rows, top to bottom.
    pub rows: Vec<GridRow>,
    /// The legend: what each tone means here.
    pub legend: Vec<(Tone, String)>,
    /// Notes under the grid.
    pub notes: Vec<String>,
}
