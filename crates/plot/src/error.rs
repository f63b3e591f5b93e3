//! Why a chart could not be drawn.

use engine::Source;
use std::fmt;

/// A chart that could not be drawn, saying which chart and what was wrong with its input.
///
/// Degenerate but meaningful data (a single sample, all zeros, one allocator) is drawn,
/// not rejected; these errors are for input that has nothing to show or that cannot be
/// placed on an axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlotError {
    /// The chart was given nothing to draw (no timelines, no summaries, no points...).
    NoData {
        /// The chart's name.
        chart: &'static str,
        /// What was missing, in words.
        what: &'static str,
    },
    /// A timeline has no samples (a run always has at least the one at op 0).
    EmptyTimeline {
        /// The chart's name.
        chart: &'static str,
        /// The timeline's allocator.
        allocator: String,
    },
    /// A value is NaN or infinite and cannot be placed on an axis.
    NonFinite {
        /// The chart's name.
        chart: &'static str,
        /// Which value, and where (allocator, sample or point).
        what: String,
    },
    /// A model-against-real chart got a timeline from the wrong source.
    WrongSource {
        /// The chart's name.
        chart: &'static str,
        /// The source the argument must come from.
        expected: Source,
        /// The source the timeline says it comes from.
        found: Source,
        /// The timeline's allocator.
        allocator: String,
    },
    /// A [`Style`](crate::Style) field is outside the range the layout supports.
    Style {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u32,
        /// The smallest allowed value.
        min: u32,
        /// The largest allowed value.
        max: u32,
    },
    /// plotters' SVG backend reported an error (it writes to a `String`, so this means a
    /// bug in the layout rather than bad input).
    Backend {
        /// The chart's name.
        chart: &'static str,
        /// plotters' message.
        detail: String,
    },
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::NoData { chart, what } => write!(f, "{chart} chart: no data ({what})"),
            PlotError::EmptyTimeline { chart, allocator } => {
                write!(
                    f,
                    "{chart} chart: the timeline of {allocator} has no samples"
                )
            }
            PlotError::NonFinite { chart, what } => {
                write!(f, "{chart} chart: {what} is not a finite number")
            }
            PlotError::WrongSource {
                chart,
                expected,
                found,
                allocator,
            } => write!(
                f,
                "{chart} chart: expected a {} timeline, got a {} one (allocator {allocator})",
                source_name(*expected),
                source_name(*found)
            ),
            PlotError::Style {
                field,
                value,
                min,
                max,
            } => write!(
                f,
                "chart style: {field} = {value} is outside the supported range {min}..={max}"
            ),
            PlotError::Backend { chart, detail } => {
                write!(f, "{chart} chart: SVG backend error: {detail}")
            }
        }
    }
}

impl std::error::Error for PlotError {}

/// A source's name in messages and legends.
pub(crate) fn source_name(source: Source) -> &'static str {
    match source {
        Source::Simulated => "simulated",
        Source::Real => "real",
    }
}

/// Turns plotters' errors into [`PlotError::Backend`] naming the chart.
pub(crate) trait OrBackend<T> {
    /// The result, with a backend error converted.
    fn or_backend(self, chart: &'static str) -> Result<T, PlotError>;
}

impl<T, E: fmt::Display> OrBackend<T> for Result<T, E> {
    fn or_backend(self, chart: &'static str) -> Result<T, PlotError> {
        self.map_err(|e| PlotError::Backend {
            chart,
            detail: e.to_string(),
        })
    }
}
