//! Sizes and durations as people write and read them.
//!
//! # Brief overview
//! - [`parse_size`]: the one parser of byte counts in the workspace: `4096`, `0x1000`,
//!   `4K`, `4KiB`, `1M`, `1.5M` (when exact), `2G`, `1T`. Every option, tunable, trace
//!   header and kernel-script size goes through it, so a spelling that works in one
//!   place works in all of them. Errors are a [`SizeError`].
//! - [`bytes`], [`bytes_delta`], [`nanos`], [`percent`], [`ratio`], [`count`]: the one formatter of
//!   numbers for tables, terminal output and messages (`132.0 KiB`, `950 ns`, `3.40 µs`).
//! - [`bytes_label`], [`nanos_label`], [`ratio_label`]: the same quantities with about three significant
//!   digits and no trailing zeros, for chart ticks and labels (`1.5 KiB`, `12 µs`);
//!   [`byte_unit`] and [`time_unit`] pick the unit an axis labels all its ticks in.
//!
//! Memory sizes use binary units (1 KiB = 1024 bytes) because pages, chunks and mappings
//! are powers of two; durations use decimal units. No function depends on a locale or on
//! float `Debug` output, so the same number always prints the same bytes.
//!
//! ```
//! assert_eq!(units::parse_size("1.5M"), Ok(1_572_864));
//! assert_eq!(units::bytes(135_168), "132.0 KiB");
//! assert_eq!(units::nanos(3_400.0), "3.40 µs");
//! ```

mod format;
mod parse;

pub use format::{
    byte_unit, bytes, bytes_delta, bytes_label, count, nanos, nanos_label, percent, percent_label,
    ratio, ratio_label, time_unit,
};
pub use parse::{SizeError, parse_size};
