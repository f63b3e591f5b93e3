//! The per-op CSV format: one row per op of a replay, simulated or real.
//!
//! `op,kind,id,size,region,offset,arena,hblks,hblkhd,uordblks,fordblks,keepcost`
//!
//! `region` is `heap` (with `offset` from the program break before the first malloc),
//! `mmap` (with offset 0) or `-` for frees (offset 0). The last six columns are the
//! allocator's `mallinfo2` figures after the op.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Where a returned block lives.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Region {
    /// In the brk heap, at this offset from the initial program break.
    Heap(u64),
    /// In a mapping of its own (or of the allocator's).
    Mmap,
    /// No block (a free, a trim).
    None,
}

/// One op's outcome.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRow {
    /// Index of the op in the stream (phase markers and touches are not rows).
    pub op: u64,
    /// `a` (malloc), `r` (realloc), `f` (free), `t` (trim).
    pub kind: char,
    /// Block id (0 for a trim).
    pub id: u64,
    /// Requested size (0 for a free; the pad for a trim).
    pub size: u64,
    /// Where the returned pointer lives.
    pub region: Region,
    /// mallinfo2 `arena`.
    pub arena: u64,
    /// mallinfo2 `hblks`.
    pub hblks: u64,
    /// mallinfo2 `hblkhd`.
    pub hblkhd: u64,
    /// mallinfo2 `uordblks`.
    pub uordblks: u64,
    /// mallinfo2 `fordblks`.
    pub fordblks: u64,
    /// mallinfo2 `keepcost`.
    pub keepcost: u64,
}

impl OpRow {
    /// The CSV header line, without a newline.
    pub const HEADER: &'static str =
        "op,kind,id,size,region,offset,arena,hblks,hblkhd,uordblks,fordblks,keepcost";

    /// Appends the row as one CSV line (with a newline) to `out`.
    pub fn write_csv(&self, out: &mut String) {
        let (region, offset) = match self.region {
            Region::Heap(off) => ("heap", off),
            Region::Mmap => ("mmap", 0),
            Region::None => ("-", 0),
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            self.op,
            self.kind,
            self.id,
            self.size,
            region,
            offset,
            self.arena,
            self.hblks,
            self.hblkhd,
            self.uordblks,
            self.fordblks,
            self.keepcost
        );
    }
}
