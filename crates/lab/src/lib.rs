//! The laboratory: every allocator by name, and every experiment of the book.
//!
//! # Brief overview
//! - [`registry`]: every allocator `sim` can run, by name ([`registry::Entry`]), with
//!   its family, a one-line summary and its options; [`registry::build`] makes a fresh
//!   instance from `key=value` settings. Adding an allocator to `sim` is one line here
//!   (see ARCHITECTURE.md).
//! - [`experiments`]: every figure of the book as a named, seeded
//!   [`experiments::Experiment`] that returns its data (CSV, a Markdown table, and the
//!   [`experiments::Figure`] to draw) for `sim figures`.
//! - [`quiz`]: seeded quizzes whose answers the simulator computes (free lists,
//!   paging, TLB, glibc), OSTEP's `malloc.py` reproduced byte for byte, and a
//!   step-through session for the classroom.
//! - [`scenarios`]: the mmap-specific probes of the fact-check chapter (SIGSEGV from
//!   mapped memory, `vm.max_map_count`), as data.
//!
//! The lab sits on top: it names allocators (`malloc`, `mmap`), runs them through the
//! `engine`, and describes charts for `plot`. Like the engine it is pure: no files, no
//! clocks, no threads; `sim` does the I/O and the real-machine measurements.

pub mod experiments;
pub mod quiz;
pub mod registry;
pub mod scenarios;
