//! SVG charts of engine results.
//!
//! # Brief overview
//! One function per chart, each taking a [`ChartTitle`] (what experiment the figure
//! shows), the engine's result values and a [`Style`], and returning the SVG document as
//! a `String` or a [`PlotError`]:
//!
//! | function | shows | input |
//! | --- | --- | --- |
//! | [`timeline_chart`] | live, allocated, footprint, mapped, RSS over ops; memory returned; phases | `&[Timeline]` |
//! | [`fragmentation_chart`] | internal, external and Johnstone & Wilson fragmentation over ops | `&[Timeline]` |
//! | [`returned_chart`] | cumulative bytes given back, by brk shrink, munmap, madvise | `&[Timeline]` |
//! | [`cost_chart`] | simulated time by cost category; syscalls by kind | `&[Summary]` |
//! | [`heap_map_chart`] | which addresses held used, free, cached, top, meta, mapped blocks over ops | `&[HeapSnapshot]` |
//! | [`crossover_chart`] | ns per malloc+free and per mmap+munmap against block size, log–log | `&[CostPoint]` |
//! | [`model_vs_real_chart`] | a simulated and a real timeline overlaid: RSS, footprint/mapped, faults | two `Timeline`s |
//! | [`compare_timelines_chart`] | two runs overlaid, A solid and B dashed: live, footprint, RSS, returned, time | two `Timeline`s |
//! | [`xy_chart`] | any line, staircase or point series on linear or log axes, with limits and event markers | `&XyChart` ([`spec`]) |
//! | [`bar_chart`] | horizontal bars, plain or stacked, one panel per measure | `&BarChart` |
//! | [`grid_chart`] | a table of outcome cells coloured by what happened (faults, no fault) | `&GridChart` |
//!
//! [`spec`] holds the plain-data descriptions of the generic charts ([`XyChart`],
//! [`BarChart`], [`GridChart`]). Labels are formatted by the workspace's one number
//! formatter, the `units` crate (bytes in KiB/MiB, durations in ns/µs/ms, counts with
//! thousands separators); a private `format` module chooses axis ranges and round ticks.
//!
//! This crate only turns data into SVG; it never runs a simulation.
//!
//! # Text without fonts
//!
//! plotters is built with its SVG backend only (no `ttf`, no `ab_glyph`), so it never
//! opens a font file. What that means, from plotters 0.3.7's source:
//!
//! - *Drawing* text works: the SVG backend writes each label as a `<text>` element with
//!   a `font-family`, a `font-size` and an anchor (`text-anchor`, and a `dy` of
//!   `0.76em`/`0.5ex`/`-0.5ex` for top/centre/bottom). The viewer's browser lays the
//!   glyphs out with whatever font it has, so the output does not depend on the fonts of
//!   the machine that drew it.
//! - *Measuring* text is a guess: without a font backend plotters estimates every
//!   character as 0.7 em wide (and counts UTF-8 bytes, not characters). plotters uses
//!   that estimate only to right-align labels on a right-hand axis and to size
//!   captions, neither of which these charts use.
//!
//! The layout here never depends on plotters' estimate. Labels are positioned by their
//! anchor (centred tick labels, right-aligned y labels, left-aligned legend text), which
//! the browser honours whatever the font, and where the layout needs a width (legend
//! rows, the y label area, wrapping long lines, deciding whether a name fits inside a
//! bar or beside its neighbour) it uses [`text_width`]: per-character advances of DejaVu
//! Sans, the widest common sans-serif face and the first one the SVG asks for, rounded
//! up. Any other sans-serif face is narrower, so the estimate errs on the side of room.
//! plotters writes `font-size` as the size it is given divided by 1.24; the page helper
//! compensates, and the sizes used print exactly.
//!
//! # Determinism
//!
//! The same data and style give the same bytes: no clocks, no hash-map iteration, every
//! number formatted by a fixed rule (the `units` crate), pixel coordinates rounded to integers
//! by plotters. Long series are reduced to what the plot can show (per pixel column, the
//! first, lowest, highest and last value), and heap maps with more blocks than can be
//! drawn one by one are rasterised to the plot's pixels, so the SVG stays small however
//! long the run.
//!
//! # Visual style
//!
//! One style for all charts: a bold title, a setup line from the [`ChartTitle`]
//! (workload, seed, allocators, cost model), then the definitions of what is drawn;
//! legends in a band of their own, never over data; the Okabe–Ito colour-blind-safe
//! palette, with a marker shape per series as a second cue (and dashes with hollow
//! markers for measurements against the model's solid lines); axis labels with units.
//!
//! Charts are made to be read where they are shown: the default width is the book's
//! 750-px column, so no text is smaller than 11 px there ([`Style::MIN_FONT`]). Panels
//! that show the same measures for several runs share one y-axis, so heights compare,
//! unless their ranges differ by more than 20×; then each gets its own, and a line under
//! the title says which it is. `frag_max` and the measure it is the peak value of
//! (Johnstone & Wilson's) are plain ratios, as in every table of the workspace.

mod bars;
mod canvas;
mod compare;
mod cost;
mod crossover;
mod draw;
mod error;
mod format;
mod fragmentation;
mod grid;
mod heapmap;
mod returned;
pub mod spec;
mod style;
mod timeline;
mod title;
mod xy;

pub use bars::bar_chart;
pub use compare::{compare_timelines_chart, model_vs_real_chart};
pub use cost::{cost_category_label, cost_chart};
pub use crossover::{CostPoint, crossover_chart};
pub use error::PlotError;
pub use fragmentation::fragmentation_chart;
pub use grid::grid_chart;
pub use heapmap::heap_map_chart;
pub use returned::returned_chart;
pub use spec::{
    AxisSpec, Bar, BarChart, BarPanel, Cell, GridChart, GridRow, Level, Mark, Marker, Tone, Unit,
    XyChart, XyPanel, XySeries,
};
pub use style::{Style, text_width};
pub use timeline::timeline_chart;
pub use title::ChartTitle;
pub use xy::xy_chart;
