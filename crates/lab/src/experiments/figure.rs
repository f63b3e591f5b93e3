//! Which chart shows an experiment's result, with its input.
//!
//! An experiment does not draw: it names one of the `plot` crate's charts and hands
//! over the values, and [`Figure::draw`] turns them into SVG.

use engine::{HeapSnapshot, Summary, Timeline};
use plot::{BarChart, ChartTitle, GridChart, PlotError, Style, XyChart};

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

impl Figure {
    /// Draws the figure with the chart it names, under `title`, in the book's style.
    pub fn draw(&self, title: &ChartTitle) -> Result<String, PlotError> {
        let style = Style::default();
        // Charts with many panels get shorter ones, so the figure fits a page.
        let compact = Style {
            panel_height: 120,
            ..Style::default()
        };
        match self {
            Figure::Timeline(t) => plot::timeline_chart(title, t, &style),
            Figure::Fragmentation(t) => plot::fragmentation_chart(title, t, &style),
            Figure::Returned(t) => {
                plot::returned_chart(title, t, if t.len() > 3 { &compact } else { &style })
            }
            Figure::Cost(s) => plot::cost_chart(title, s, &style),
            Figure::HeapMap {
                allocator,
                snapshots,
            } => plot::heap_map_chart(title, allocator, snapshots, &style),
            Figure::Crossover { model, measured } => {
                plot::crossover_chart(title, model, measured.as_deref(), &style)
            }
            Figure::ModelVsReal { simulated, real } => {
                plot::model_vs_real_chart(title, simulated, real, &style)
            }
            Figure::Xy(c) => {
                // One panel gets the room of two; several get a little more than usual.
                let tall = Style {
                    panel_height: if c.panels.len() == 1 { 320 } else { 230 },
                    ..Style::default()
                };
                plot::xy_chart(title, c, &tall)
            }
            Figure::Bars(c) => plot::bar_chart(title, c, &style),
            Figure::Grid(c) => plot::grid_chart(title, c, &style),
        }
    }
}
