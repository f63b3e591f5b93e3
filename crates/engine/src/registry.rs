//! Every allocator by name: what `--allocator` accepts and `sim list` shows.
//!
//! An entry names the allocator, says in one line what it is, and builds a fresh
//! instance from `key=value` options (glibc tunables, free-list policies, ...).

use malloc::Allocator;
use std::fmt;

/// An option the user gave as `key=value`.
pub type Setting = (String, String);

/// Builds an allocator from its settings.
pub type Builder = fn(&[Setting]) -> Result<Box<dyn Allocator>, String>;

/// One allocator of the registry.
#[derive(Copy, Clone)]
pub struct Entry {
    /// The name `--allocator` takes.
    pub name: &'static str,
    /// The family: `glibc`, `free list`, `size classes`, `mmap`.
    pub family: &'static str,
    /// One line for `sim list`.
    pub summary: &'static str,
    /// Builds an instance.
    pub build: Builder,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish()
    }
}

/// Every allocator, in the order `sim list` shows them.
pub fn entries() -> &'static [Entry] {
    ENTRIES
}

/// Why an allocator could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// No allocator has this name.
    Unknown(String),
    /// The allocator rejected a setting.
    BadSetting {
        /// The allocator.
        allocator: String,
        /// Its message.
        detail: String,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Unknown(name) => {
                let names: Vec<&str> = ENTRIES.iter().map(|e| e.name).collect();
                write!(
                    f,
                    "unknown allocator '{name}' (known: {})",
                    names.join(", ")
                )
            }
            RegistryError::BadSetting { allocator, detail } => {
                write!(f, "allocator {allocator}: {detail}")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

/// Looks an allocator up by name.
pub fn find(name: &str) -> Result<&'static Entry, RegistryError> {
    ENTRIES
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| RegistryError::Unknown(name.to_string()))
}

/// Builds the allocator `name` with `settings`.
pub fn build(name: &str, settings: &[Setting]) -> Result<Box<dyn Allocator>, RegistryError> {
    let entry = find(name)?;
    (entry.build)(settings).map_err(|detail| RegistryError::BadSetting {
        allocator: name.to_string(),
        detail,
    })
}

static ENTRIES: &[Entry] = &[];
