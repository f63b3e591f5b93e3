//! SVG charts of engine results.
//!
//! # Brief overview
//! Timelines, fragmentation, memory returned, cost breakdowns and heap maps, drawn with
//! plotters' SVG backend and no system fonts, so the same data gives the same bytes on
//! every machine. This crate only turns data into SVG; it never runs a simulation.
