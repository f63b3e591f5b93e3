//! The C `main` of a binary that can host replay children, and its arguments.
//!
//! A Rust `main` runs after Rust's runtime has set things up, and that setup calls
//! `malloc` a few times. A replay child must start with a heap nothing has touched, so
//! the binaries that host one (`sim`, calibrate's test host) have no Rust `main`: the
//! [`entry_point!`](crate::entry_point) macro gives them the C `main` itself, which the
//! C runtime calls with the raw argument vector. [`CArgs`] reads that vector in place,
//! without copying it into `String`s.

use std::ffi::{CStr, c_char, c_int};

/// The arguments C's `main` received, read in place (nothing is allocated).
#[derive(Copy, Clone, Debug)]
pub struct CArgs {
    argc: usize,
    argv: *const *const c_char,
}

impl CArgs {
    /// Wraps what C's `main` received.
    ///
    /// # Safety
    /// `argv` must be null or hold `argc` valid NUL-terminated strings that live as long
    /// as the process, as the arguments of C's `main` do.
    pub unsafe fn from_main(argc: c_int, argv: *const *const c_char) -> CArgs {
        CArgs {
            argc: usize::try_from(argc).unwrap_or(0),
            argv,
        }
    }

    /// `argv[i]` as bytes, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&'static [u8]> {
        if self.argv.is_null() || i >= self.argc {
            return None;
        }
        // SAFETY: i < argc, so argv[i] is inside the argument vector (the contract of
        // `from_main`).
        let p = unsafe { *self.argv.add(i) };
        if p.is_null() {
            return None;
        }
        // SAFETY: argv[i] is a NUL-terminated string that lives as long as the process.
        Some(unsafe { CStr::from_ptr(p) }.to_bytes())
    }
}

/// Ignores `SIGPIPE`, so that writing to a closed pipe is an `EPIPE` error instead of a
/// silent death: what Rust's runtime does before a Rust `main`, and so what a C `main`
/// standing in for it must do. (Nothing to do where there are no Unix signals.)
pub fn ignore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Expands to the C `main` of a binary that can host replay children.
///
/// Use it in a `#![no_main]` binary, with the program's real main (`fn() -> i32`,
/// returning the exit code):
///
/// ```text
/// // In the unit-test build of the binary libtest provides `main`: keep ours out of it.
/// #![cfg_attr(not(test), no_main)]
/// #[cfg(not(test))]
/// calibrate::entry_point!(run);
/// fn run() -> i32 { /* ... */ 0 }
/// ```
///
/// With `exe __brkmap-replay-child ...` as its arguments the binary becomes a replay
/// child (and never reaches `run`); otherwise it calls `run` (see
/// [`replay::dispatch`](crate::replay::dispatch)). A C `main` rather than Rust's is what
/// keeps the child's heap pristine: Rust's runtime allocates a few kilobytes before a
/// Rust `main` starts.
#[macro_export]
macro_rules! entry_point {
    ($main:path) => {
        /// The C entry point: a replay child or the program's main (see
        /// `calibrate::entry_point!`).
        #[unsafe(no_mangle)]
        #[allow(clippy::not_unsafe_ptr_arg_deref)]
        pub extern "C" fn main(
            argc: ::core::ffi::c_int,
            argv: *const *const ::core::ffi::c_char,
        ) -> ::core::ffi::c_int {
            // SAFETY: argc and argv are exactly what the C runtime passed to main.
            let args = unsafe { $crate::sys::CArgs::from_main(argc, argv) };
            $crate::replay::dispatch(&args, $main)
        }
    };
}
