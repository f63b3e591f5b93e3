//! `brkmap-replay`: a host for replay children, for calibrate's own tests.
//!
//! Programs that run real replays start a copy of themselves as the child (see
//! `calibrate::entry_point!`); this tiny binary is such a program with nothing else in
//! it, so that calibrate's tests have an executable to start
//! (`env!("CARGO_BIN_EXE_brkmap-replay")`). Run by hand, it only explains itself.

// The C `main` comes from `entry_point!`, except in the unit-test build of this file,
// where libtest provides `main`.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
calibrate::entry_point!(usage);

#[cfg_attr(test, allow(dead_code))]
fn usage() -> i32 {
    eprintln!(
        "brkmap-replay hosts real replay children for brkmap's calibrate crate; it is \
         started by `sim replay --real` and by calibrate's tests, not by hand."
    );
    2
}
