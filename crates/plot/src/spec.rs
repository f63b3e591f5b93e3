//! Generic charts, described as plain data.
//!
//! Most figures are one of this crate's charts of engine results (a timeline, a heap
//! map, a cost breakdown...). A figure that plots something else (page-table bytes
//! against pages touched, VMAs over ops, outcomes of the SIGSEGV experiments) describes
//! its chart with these types: line and point series on two axes ([`XyChart`], drawn by
//! [`crate::xy_chart`]), horizontal bars ([`BarChart`], [`crate::bar_chart`]), or a grid
//! of labelled outcome cells ([`GridChart`], [`crate::grid_chart`]).

/// What the numbers on an axis are.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Bytes (labels in KiB, MiB...).
    Bytes,
    /// Whole things: ops, pages, VMAs, faults.
    Count,
    /// Simulated nanoseconds.
    Nanos,
    /// A ratio shown in percent (0.25 is 25%): for fractions of a whole (external
    /// fragmentation, a hit rate).
    Percent,
    /// A ratio shown as a plain number (0.25, 1.5): the workspace writes `frag_max`
    /// (and Johnstone & Wilson's measure, of which it is the peak value) as such a
    /// ratio everywhere.
    Ratio,
}

/// An axis of an [`XyChart`] panel.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Points joined by straight lines.
    Line,
    /// A staircase: each value holds until the next point (a break, a threshold).
    Step,
    /// Unjoined points (one per event).
    Points,
}

/// One series of an [`XyPanel`].
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// The y value.
    pub y: f64,
    /// Its label, written at the line's right end.
    pub label: String,
}

/// A vertical marker (an event) across a panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// The x value.
    pub x: f64,
    /// Its label, written above the plot.
    pub label: String,
}

/// One panel of an [`XyChart`].
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// The category, written left of the bar.
    pub label: String,
    /// One value per segment name of the panel, stacked left to right.
    pub segments: Vec<f64>,
    /// Written after the bar's end (its total, an outcome).
    pub note: String,
}

/// A panel of horizontal bars.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Its text (one short line).
    pub text: String,
    /// Its colour's meaning.
    pub tone: Tone,
}

/// One row of a [`GridChart`].
#[derive(Clone, Debug, PartialEq)]
pub struct GridRow {
    /// The row's label, left of the cells.
    pub label: String,
    /// A longer description under the label.
    pub detail: String,
    /// One cell per column.
    pub cells: Vec<Cell>,
}

/// A table-like figure: rows of experiments, columns of conditions, coloured cells.
#[derive(Clone, Debug, PartialEq)]
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
