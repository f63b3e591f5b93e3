//! The book's experiments: every figure is a named, seeded experiment.
//!
//! # Brief overview
//! - [`Experiment`]: one figure of the book: its name (the file name of the SVG, the
//!   CSV and the table), chapter, the claims of the fact-check chapter it helps decide
//!   (CLAIMS.md), what it shows, its [`Setup`] (workloads with their seeds, allocators
//!   with their settings, the kernel configuration) and the columns of its CSV.
//! - [`all`] and [`find`]: the registry, in book order.
//! - [`Experiment::produce`] runs it and returns an [`ExperimentOutput`]: a caption, the
//!   CSV of the data behind the figure, a small Markdown table of the key numbers, and
//!   the [`Figure`] to draw (which chart, with which values; [`Figure::draw`] draws it).
//!
//! Experiments run their workloads through the engine's one op loop: [`engine::run`]
//! for whole runs, [`engine::Program`] where they look inside an allocator between
//! ops, [`engine::run_system`] for several processes on one kernel. The real-machine
//! snapshots they read are CSV files with `#` comments, all read by one reader.
//!
//! Experiments are pure, like the engine: no files, no clocks, no threads.
//! Two experiments take measurements of a real machine ([`Inputs::real`]); the `sim`
//! binary reads them from committed snapshot files and refreshes those only when asked
//! (`sim figures --real`), so the figures are the same on every machine.
//!
//! Sizes are kept small (a few thousand ops per run, small kernels where a limit must
//! be reached) so that the whole set regenerates in seconds; each caption states them.

mod common;
mod figure;
mod snapshot;
mod table;

mod brk;
mod cost;
mod freelist;
mod glibc;
mod intro;
mod lifetimes;
mod mmap_figs;
mod multiproc;
mod real;
mod returned;
mod segv;
mod vm;

pub use figure::Figure;
// The chart descriptions the experiments fill in, for `super::` imports.
pub use common::{
    AllocatorSpec, Setup, TIMELINE_COLUMNS, WorkloadSpec, parse_timeline_csv, timelines_csv,
};
pub use cost::{COST_REAL_COLUMNS, CROSSOVER_SIZES, CostRealRow, encode_cost_real};
use plot::{
    AxisSpec, Bar, BarChart, BarPanel, Cell, ChartTitle, GridChart, GridRow, Level, Mark, Marker,
    Tone, Unit, XyChart, XyPanel, XySeries,
};
pub use real::{SEGV_REAL_COLUMNS, SegvRealRow, encode_segv_real, encode_timeline_real};
pub use table::{Csv, Markdown, fixed};

use crate::registry::RegistryError;
use engine::RunError;
use std::fmt;

/// A column of an experiment's CSV: its name and what it holds (with its unit).
pub type Column = (&'static str, &'static str);

/// A measurement of the real machine an experiment can show next to the model.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RealInput {
    /// What the snapshot holds and how `sim figures --real` measures it.
    pub what: &'static str,
    /// The snapshot's columns.
    pub columns: &'static [Column],
    /// Whether the figure can be drawn without it (the model alone); when false, a
    /// missing snapshot is an error.
    pub optional: bool,
    /// How `sim figures --real` measures it.
    pub source: RealSource,
}

/// How a real-machine snapshot is measured (by `sim`, which may run real programs;
/// the engine only reads the result).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RealSource {
    /// A real replay of the experiment's first workload in a pristine child process
    /// (`calibrate::replay::replay_real`), written as a timeline CSV
    /// ([`TIMELINE_COLUMNS`]).
    Replay {
        /// The replay strategy: `glibc` or `mmap`.
        strategy: &'static str,
        /// Sample every this many ops.
        sample_every: u64,
    },
    /// The crash experiments of claim 3, each in a child process
    /// (`calibrate::replay::segv_experiments`), written with [`encode_segv_real`].
    SegvProbes,
    /// malloc+free against mmap+munmap timed at each block size
    /// (`calibrate::bench::cost_by_size`), written with [`encode_cost_real`].
    CostBySize,
}

/// What an experiment may read besides its setup.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs<'a> {
    /// The text of the experiment's real-machine snapshot (`<name>.real.csv`), when
    /// the experiment has one ([`Experiment::real`]) and it exists.
    pub real: Option<&'a str>,
}

/// Everything an experiment produces.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentOutput {
    /// What the chart's setup line says.
    pub title: ChartTitle,
    /// One sentence naming the experiment, its seed, sizes and cost model; the first
    /// line of the generated table.
    pub caption: String,
    /// The data behind the figure; its header is [`Experiment::columns`].
    pub csv: String,
    /// The key numbers, as a Markdown table under the caption.
    pub table_md: String,
    /// The chart to draw.
    pub figure: Figure,
}

/// One figure of the book.
#[derive(Copy, Clone)]
pub struct Experiment {
    /// The figure's name: `book/src/figures/<name>.svg`, `notebooks-data/<name>.csv`,
    /// `book/src/generated/<name>.md`. Fixed once the book uses it.
    pub name: &'static str,
    /// The book chapter (`1`, `2`, ..., `appendix`).
    pub chapter: &'static str,
    /// Numbers of the claims (CLAIMS.md) it helps decide; empty for illustrations.
    pub claims: &'static [u32],
    /// What the figure shows, in one line.
    pub shows: &'static str,
    /// The CSV's columns.
    pub columns: &'static [Column],
    /// The real-machine snapshot it reads, if any.
    pub real: Option<RealInput>,
    /// The setup: workloads, seeds, allocators, kernel.
    pub setup: fn() -> Setup,
    /// Runs the setup.
    run: fn(&Setup, &Inputs) -> Result<ExperimentOutput, ExperimentError>,
}

impl fmt::Debug for Experiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Experiment")
            .field("name", &self.name)
            .finish()
    }
}

impl Experiment {
    /// Runs the experiment on its own setup.
    pub fn produce(&self, inputs: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
        if self.real.is_some_and(|r| !r.optional) && inputs.real.is_none() {
            return Err(ExperimentError::MissingReal {
                experiment: self.name,
            });
        }
        let out = (self.run)(&(self.setup)(), inputs)?;
        let header = out.csv.lines().next().unwrap_or("");
        let declared: Vec<&str> = self.columns.iter().map(|c| c.0).collect();
        if header != declared.join(",") {
            return Err(ExperimentError::Schema {
                experiment: self.name,
                header: header.to_string(),
            });
        }
        Ok(out)
    }

    /// The file name of its real-machine snapshot, if it has one.
    pub fn real_file(&self) -> Option<String> {
        self.real.map(|_| format!("{}.real.csv", self.name))
    }
}

/// Why an experiment could not produce its figure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExperimentError {
    /// A run of the engine failed (a broken workload or allocator).
    Run {
        /// The experiment's run that failed.
        what: String,
        /// The engine's error.
        error: RunError,
    },
    /// An allocator of the setup could not be built.
    Registry(RegistryError),
    /// A workload of the setup could not be generated.
    Workload(String),
    /// A custom driver met something it cannot continue from (a syscall that must
    /// succeed failed, an allocator broke its contract).
    Driver {
        /// Which step of which experiment.
        what: String,
        /// What happened.
        detail: String,
    },
    /// The experiment needs a real-machine snapshot and none was given.
    MissingReal {
        /// The experiment.
        experiment: &'static str,
    },
    /// A real-machine snapshot could not be read.
    BadSnapshot {
        /// The experiment.
        experiment: &'static str,
        /// The 1-based line of the snapshot.
        line: usize,
        /// What is wrong there.
        detail: String,
    },
    /// The CSV an experiment produced does not have its declared columns (a bug of the
    /// experiment).
    Schema {
        /// The experiment.
        experiment: &'static str,
        /// The header it wrote.
        header: String,
    },
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExperimentError::Run { what, error } => write!(f, "{what}: {error}"),
            ExperimentError::Registry(e) => write!(f, "{e}"),
            ExperimentError::Workload(e) => write!(f, "workload: {e}"),
            ExperimentError::Driver { what, detail } => write!(f, "{what}: {detail}"),
            ExperimentError::MissingReal { experiment } => write!(
                f,
                "experiment {experiment} needs its real-machine snapshot {experiment}.real.csv"
            ),
            ExperimentError::BadSnapshot {
                experiment,
                line,
                detail,
            } => write!(f, "{experiment}.real.csv line {line}: {detail}"),
            ExperimentError::Schema { experiment, header } => write!(
                f,
                "experiment {experiment} wrote CSV columns {header:?}, not the declared ones"
            ),
        }
    }
}

impl std::error::Error for ExperimentError {}

impl From<RunError> for ExperimentError {
    fn from(error: RunError) -> Self {
        ExperimentError::Run {
            what: "a program step".to_string(),
            error,
        }
    }
}

impl From<RegistryError> for ExperimentError {
    fn from(e: RegistryError) -> Self {
        ExperimentError::Registry(e)
    }
}

/// Every experiment, in book order (chapter, then the order of FIGURES.md).
pub fn all() -> &'static [Experiment] {
    EXPERIMENTS
}

/// The experiment named `name`.
pub fn find(name: &str) -> Option<&'static Experiment> {
    EXPERIMENTS.iter().find(|e| e.name == name)
}

static EXPERIMENTS: &[Experiment] = &[
    intro::CHURN_TIMELINE,
    vm::DEMAND_PAGING,
    vm::PAGE_TABLES,
    vm::PLACEMENT,
    brk::HEAP_GROWTH,
    freelist::FIT_COMPARE,
    freelist::HEAPMAP_FIRST_FIT,
    freelist::HEAPMAP_BEST_FIT,
    freelist::FRAGMENTATION,
    glibc::HEAPMAP,
    glibc::MMAP_THRESHOLD,
    glibc::TRIM,
    mmap_figs::PAGE_ROUNDING,
    mmap_figs::CHURN_COST,
    mmap_figs::MAP_COUNT,
    segv::SEGV,
    returned::BY_MECHANISM,
    returned::PINNED_TOP,
    cost::CROSSOVER,
    cost::BREAKDOWN,
    multiproc::MULTIPROC_MEMORY,
    lifetimes::ARENAS,
    real::MODEL_VS_REAL,
];

/// The command lines of every experiment, as Appendix A lists them: a Markdown table
/// of the command that regenerates each figure and, where the command line can say
/// the setup, the `sim` runs that give the same results. A test runs every one.
pub fn commands_md() -> String {
    let mut s = String::from(
        "*How to reproduce each figure: `figures --only` regenerates the figure itself; where \
         the experiment's setup is workloads run through allocators on the default machine, \
         the `sim` command that makes those runs (a test checks that its summary numbers are \
         the experiment's; a few figures then add steps of their own, which only `figures \
         --only` shows).*\n\n\
         | figure | regenerate it | its setup's runs from the command line |\n\
         | :--- | :--- | :--- |\n",
    );
    for e in all() {
        let runs = match (e.setup)().cli_commands() {
            Some(cmds) => cmds
                .iter()
                .map(|c| format!("`cargo run -p sim -- {}`", c.trim_start_matches("sim ")))
                .collect::<Vec<_>>()
                .join("<br>"),
            None => "a driver of its own (see its chapter)".to_string(),
        };
        s.push_str(&format!(
            "| `{}` | `cargo run -p sim -- figures --only {}` | {} |\n",
            e.name,
            e.name,
            runs.replace('|', "\\|")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_file_safe() {
        let mut names: Vec<&str> = all().iter().map(|e| e.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate experiment names");
        for name in names {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(find(name).is_some());
        }
    }

    #[test]
    fn every_claim_has_an_experiment() {
        for claim in 1..=12 {
            assert!(
                all().iter().any(|e| e.claims.contains(&claim)),
                "no experiment decides claim {claim}"
            );
        }
    }

    #[test]
    fn every_figure_of_the_book_contract_is_registered() {
        // The names FIGURES.md fixes; the pipeline may add others, never rename these.
        for name in [
            "intro-churn-timeline",
            "vm-demand-paging",
            "vm-page-tables",
            "brk-heap-growth",
            "freelist-fit-compare",
            "freelist-heapmap-first-fit",
            "freelist-heapmap-best-fit",
            "freelist-fragmentation",
            "glibc-heapmap",
            "glibc-mmap-threshold",
            "glibc-trim",
            "mmap-page-rounding",
            "mmap-churn-cost",
            "mmap-map-count",
            "mmap-segv",
            "returned-by-mechanism",
            "pinned-top",
            "cost-crossover",
            "cost-breakdown",
            "multiproc-memory",
            "lifetimes-arenas",
            "model-vs-real",
        ] {
            assert!(find(name).is_some(), "{name} is missing");
        }
    }

    #[test]
    fn columns_are_described() {
        for e in all() {
            assert!(!e.columns.is_empty(), "{}", e.name);
            for (name, meaning) in e.columns {
                assert!(!name.is_empty() && !meaning.is_empty(), "{}", e.name);
                assert!(!name.contains([',', ' ']), "{}: {name}", e.name);
            }
            assert!(!e.shows.is_empty());
        }
    }

    /// Splits a CSV line into cells, honouring quotes.
    fn cells(line: &str) -> usize {
        let (mut n, mut quoted) = (1, false);
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => n += 1,
                _ => {}
            }
        }
        n
    }

    /// A stand-in for a real snapshot: the simulated timeline of the experiment's own
    /// workload, written as `sim figures --real` writes a replay.
    fn synthetic_snapshot(e: &Experiment) -> String {
        let setup = (e.setup)();
        let r = setup.run_workload(0).unwrap();
        let mut t = r[0].timeline.clone();
        t.source = Some(engine::Source::Real);
        encode_timeline_real(&["synthetic".to_string()], &[&t])
    }

    #[test]
    fn every_experiment_produces_its_columns_and_the_same_output_twice() {
        for e in all() {
            let snapshot = match e.real {
                Some(r) if !r.optional => Some(synthetic_snapshot(e)),
                _ => None,
            };
            let inputs = Inputs {
                real: snapshot.as_deref(),
            };
            let a = e
                .produce(&inputs)
                .unwrap_or_else(|err| panic!("{}: {err}", e.name));
            let b = e.produce(&inputs).unwrap();
            assert_eq!(a, b, "{} is not deterministic", e.name);
            let width = e.columns.len();
            let mut lines = a.csv.lines();
            assert!(lines.next().is_some());
            let mut rows = 0;
            for (i, line) in lines.enumerate() {
                assert_eq!(cells(line), width, "{} CSV line {}: {line}", e.name, i + 2);
                rows += 1;
            }
            assert!(rows > 0, "{} wrote no data", e.name);
            assert!(a.table_md.starts_with(&format!("*Experiment {}:", e.name)));
            assert!(a.caption.contains(e.name));
        }
    }

    #[test]
    fn a_required_snapshot_is_asked_for() {
        let e = find("model-vs-real").unwrap();
        assert_eq!(
            e.produce(&Inputs::default()),
            Err(ExperimentError::MissingReal {
                experiment: "model-vs-real"
            })
        );
    }
}
