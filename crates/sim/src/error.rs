//! Errors the command reports: one line, and an exit code.
//!
//! Exit code 2 means the user asked for something impossible (bad flag, unknown name,
//! malformed trace, nonexistent file); 1 means the work itself failed (a write error,
//! a broken allocator).

use std::fmt;

/// An error that ends the command.
#[derive(Debug)]
pub struct CliError {
    /// The process exit code.
    pub code: i32,
    /// One line saying what went wrong and where.
    pub message: String,
}

impl CliError {
    /// Bad usage or bad input: exit code 2.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    /// The work failed: exit code 1.
    pub fn failed(message: impl Into<String>) -> CliError {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result type of every command.
pub type CliResult<T = ()> = Result<T, CliError>;
