//! Chapter 6, claim 3: "memory from mmap cannot cause a segmentation fault".
//!
//! The same accesses the real-machine experiments make (in `calibrate`, each in a child
//! process), made on the simulated kernel, plus the allocator-level cases of
//! `crate::scenarios::segv_probes` (overflows and uses after free through the mmap
//! allocators). The real outcomes come from a committed snapshot.

use super::common::Setup;
use super::real::{SegvRealRow, parse_segv_real};
use super::table::{Csv, Markdown};
use super::{
    Cell, ChartTitle, Experiment, ExperimentError, ExperimentOutput, Figure, GridChart, GridRow,
    Inputs, RealInput, RealSource, Tone,
};
use kernel::{Access, Fault, Kernel, KernelConfig, MapFlags, PAGE_SIZE, Prot, SegvReason};

/// `mmap-segv`.
pub const SEGV: Experiment = Experiment {
    name: "mmap-segv",
    chapter: "6",
    claims: &[3],
    shows: "the SIGSEGV experiments: past the end of a mapping, after munmap, a guard page, a \
            read-only page, and controls that do not fault; simulated, and real when measured",
    columns: &[
        ("case", "the experiment"),
        (
            "source",
            "simulated (the model) or real (a child process on a real machine)",
        ),
        (
            "allocator",
            "kernel (raw syscalls) or the allocator that produced the memory",
        ),
        ("access", "read or write"),
        ("outcome", "SIGSEGV, SIGBUS, no fault, or not modelled"),
        (
            "reason",
            "SEGV_MAPERR (nothing mapped), SEGV_ACCERR (protection forbids it), or empty",
        ),
        ("description", "what the access does"),
    ],
    real: Some(RealInput {
        what: "the outcome of each experiment run in its own child process on this machine \
               (calibrate::replay::segv_experiments), refreshed by `sim figures --real`",
        columns: super::real::SEGV_REAL_COLUMNS,
        optional: true,
        source: RealSource::SegvProbes,
    }),
    setup: || Setup::driver(KernelConfig::default()),
    run: segv,
};

/// What one simulated access gave.
struct Probe {
    case: &'static str,
    allocator: String,
    access: Access,
    outcome: Option<Result<(), Fault>>,
    description: &'static str,
}

fn outcome_words(o: &Option<Result<(), Fault>>) -> (&'static str, &'static str) {
    match o {
        None => ("not modelled", ""),
        Some(Ok(())) => ("no fault", ""),
        Some(Err(Fault::Segv { reason, .. })) => (
            "SIGSEGV",
            match reason {
                SegvReason::Unmapped => "SEGV_MAPERR",
                SegvReason::Protection => "SEGV_ACCERR",
            },
        ),
        Some(Err(Fault::OutOfMemory { .. })) => ("out of memory", ""),
    }
}

fn driver_error(case: &str, e: impl std::fmt::Display) -> ExperimentError {
    ExperimentError::Driver {
        what: format!("mmap-segv: {case}"),
        detail: e.to_string(),
    }
}

/// The kernel-level experiments, named as the real ones are.
fn kernel_probes(cfg: &KernelConfig) -> Result<Vec<Probe>, ExperimentError> {
    let mut out = Vec::new();
    let mut add = |case, access, outcome, description| {
        out.push(Probe {
            case,
            allocator: "kernel".to_string(),
            access,
            outcome,
            description,
        })
    };
    let rw = Prot::RW;
    let none = MapFlags::NONE;
    {
        let case = "past-end";
        let mut k = Kernel::new(cfg.clone());
        let a = k
            .mmap(0, 2 * PAGE_SIZE, rw, none)
            .map_err(|e| driver_error(case, e))?;
        k.munmap(a + PAGE_SIZE, PAGE_SIZE)
            .map_err(|e| driver_error(case, e))?;
        add(
            case,
            Access::Write,
            Some(k.touch(a + PAGE_SIZE, 1, Access::Write)),
            "write the byte after a one-page mapping (nothing mapped there)",
        );
    }
    {
        let case = "after-munmap";
        let mut k = Kernel::new(cfg.clone());
        let a = k
            .mmap(0, PAGE_SIZE, rw, none)
            .map_err(|e| driver_error(case, e))?;
        k.touch(a, 1, Access::Write)
            .map_err(|e| driver_error(case, e))?;
        k.munmap(a, PAGE_SIZE).map_err(|e| driver_error(case, e))?;
        add(
            case,
            Access::Read,
            Some(k.touch(a, 1, Access::Read)),
            "read a byte of a mapping after munmap",
        );
    }
    {
        let case = "guard-page";
        let mut k = Kernel::new(cfg.clone());
        let a = k
            .mmap(0, 2 * PAGE_SIZE, rw, none)
            .map_err(|e| driver_error(case, e))?;
        k.mprotect(a + PAGE_SIZE, PAGE_SIZE, Prot::NONE)
            .map_err(|e| driver_error(case, e))?;
        add(
            case,
            Access::Write,
            Some(k.touch(a + PAGE_SIZE, 1, Access::Write)),
            "write to a PROT_NONE guard page after a mapping",
        );
    }
    {
        let case = "read-only";
        let mut k = Kernel::new(cfg.clone());
        let a = k
            .mmap(0, PAGE_SIZE, Prot::READ, none)
            .map_err(|e| driver_error(case, e))?;
        add(
            case,
            Access::Write,
            Some(k.touch(a, 1, Access::Write)),
            "write to a page mapped PROT_READ",
        );
    }
    {
        let case = "inside-page-slack";
        let mut k = Kernel::new(cfg.clone());
        let a = k
            .mmap(0, PAGE_SIZE, rw, none)
            .map_err(|e| driver_error(case, e))?;
        add(
            case,
            Access::Write,
            Some(k.touch(a + 100, 100, Access::Write)),
            "write past a 100-byte block's end but inside its page (control)",
        );
    }
    add(
        "past-file-end",
        Access::Read,
        None,
        "read a mapped page past the end of a 100-byte file (the model has no files)",
    );
    Ok(out)
}

/// The allocator-level probes of the mmap crate.
fn allocator_probes(cfg: &KernelConfig) -> Result<Vec<Probe>, ExperimentError> {
    let probes = crate::scenarios::segv_probes(cfg).map_err(|e| driver_error("probes", e))?;
    Ok(probes
        .into_iter()
        .map(|p| Probe {
            case: p.case,
            allocator: p.allocator,
            access: p.access,
            outcome: Some(p.outcome),
            description: p.description,
        })
        .collect())
}

fn tone(outcome: &str) -> Tone {
    match outcome {
        "SIGSEGV" => Tone::Fault,
        "no fault" => Tone::Fine,
        "SIGBUS" => Tone::Other,
        _ => Tone::Missing,
    }
}

fn cell_text(outcome: &str, reason: &str) -> String {
    if reason.is_empty() {
        outcome.to_string()
    } else {
        format!("{outcome} ({reason})")
    }
}

/// The same, short enough for a cell of the figure (`SEGV_MAPERR` as `MAPERR`).
fn short_text(outcome: &str, reason: &str) -> String {
    let reason = reason
        .strip_prefix("SEGV_")
        .or_else(|| reason.strip_prefix("BUS_"))
        .unwrap_or(reason);
    cell_text(outcome, reason)
}

fn segv(setup: &Setup, inputs: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let (comments, real): (Vec<String>, Vec<SegvRealRow>) = match inputs.real {
        Some(text) => {
            parse_segv_real(text).map_err(|(line, detail)| ExperimentError::BadSnapshot {
                experiment: "mmap-segv",
                line,
                detail,
            })?
        }
        None => (Vec::new(), Vec::new()),
    };
    let measured_on = Some(comments.join("; "))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "a real machine".to_string());
    let kernel = kernel_probes(&setup.kernel)?;
    let alloc = allocator_probes(&setup.kernel)?;
    let mut csv = Csv::new(&SEGV.columns.iter().map(|c| c.0).collect::<Vec<_>>());
    let access_word = |a: Access| match a {
        Access::Read => "read",
        Access::Write => "write",
    };
    let mut grid_rows = Vec::new();
    let mut md_rows = Vec::new();
    for p in &kernel {
        let (outcome, reason) = outcome_words(&p.outcome);
        csv.row(&[
            p.case,
            "simulated",
            &p.allocator,
            access_word(p.access),
            outcome,
            reason,
            p.description,
        ]);
        let measured = real.iter().find(|r| r.experiment == p.case);
        if let Some(r) = measured {
            csv.row(&[
                p.case,
                "real",
                "kernel",
                access_word(p.access),
                &r.outcome,
                &r.reason,
                p.description,
            ]);
        }
        let real_cell = match measured {
            Some(r) => Cell {
                text: short_text(&r.outcome, &r.reason),
                tone: tone(&r.outcome),
            },
            None => Cell {
                text: "not measured".to_string(),
                tone: Tone::Missing,
            },
        };
        md_rows.push(vec![
            p.case.to_string(),
            p.description.to_string(),
            cell_text(outcome, reason),
            measured
                .map(|r| cell_text(&r.outcome, &r.reason))
                .unwrap_or_else(|| "not measured".to_string()),
        ]);
        grid_rows.push(GridRow {
            label: p.case.to_string(),
            detail: p.description.to_string(),
            cells: vec![
                Cell {
                    text: short_text(outcome, reason),
                    tone: tone(outcome),
                },
                real_cell,
            ],
        });
    }
    let mut alloc_rows = Vec::new();
    for p in &alloc {
        let (outcome, reason) = outcome_words(&p.outcome);
        csv.row(&[
            p.case,
            "simulated",
            &p.allocator,
            access_word(p.access),
            outcome,
            reason,
            p.description,
        ]);
        alloc_rows.push(vec![
            p.allocator.clone(),
            p.case.to_string(),
            p.description.to_string(),
            cell_text(outcome, reason),
        ]);
        grid_rows.push(GridRow {
            label: format!("{}: {}", p.allocator, p.case),
            detail: p.description.to_string(),
            cells: vec![
                Cell {
                    text: short_text(outcome, reason),
                    tone: tone(outcome),
                },
                Cell {
                    text: "—".to_string(),
                    tone: Tone::Missing,
                },
            ],
        });
    }
    let caption = if real.is_empty() {
        "Experiment mmap-segv: each access on a fresh simulated kernel (4 KiB pages); no real \
         outcomes (no snapshot: run `cargo run -p sim -- figures --real`)."
            .to_string()
    } else {
        format!(
            "Experiment mmap-segv: each access on a fresh simulated kernel (4 KiB pages), and {} \
             real outcomes from child processes, each doing one access ({measured_on}; snapshot \
             mmap-segv.real.csv).",
            real.len()
        )
    };
    let mut md = Markdown::new(&caption);
    md.table(
        &["experiment", "what", "simulated", "real machine"],
        &md_rows,
    );
    md.table(&["allocator", "case", "what", "simulated"], &alloc_rows);
    md.para(
        "A mapping is a range of whole pages with one protection: an access outside every \
         mapping (SEGV_MAPERR) or against its protection (SEGV_ACCERR) is a segmentation \
         fault however the memory was obtained, while an overrun that stays inside a mapped \
         page is not caught.",
    );
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "SIGSEGV experiments".to_string(),
            seed: None,
            allocators: Vec::new(),
            cost_model: String::new(),
            note: Some("4 KiB pages".to_string()),
        },
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure: Figure::Grid(GridChart {
            title: "Can memory from mmap cause a segmentation fault?".to_string(),
            lines: vec![
                "Each row is one access. The kernel checks every access against the page \
                 tables: nothing mapped, or a protection that forbids it, is a SIGSEGV."
                    .to_string(),
            ],
            columns: vec!["simulated".to_string(), "real machine".to_string()],
            rows: grid_rows,
            legend: vec![
                (Tone::Fault, "SIGSEGV".to_string()),
                (Tone::Fine, "no fault".to_string()),
                (Tone::Other, "SIGBUS".to_string()),
                (Tone::Missing, "not modelled / not measured".to_string()),
            ],
            notes: vec![
                "MAPERR: no mapping at the address; ACCERR: the mapping's protection forbids the \
                 access; ADRERR: a mapped page with nothing behind it (past the end of the file)."
                    .to_string(),
            ],
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_faults_outside_mappings_and_against_protection_only() {
        let probes = kernel_probes(&KernelConfig::default()).unwrap();
        let get = |case: &str| {
            let p = probes.iter().find(|p| p.case == case).unwrap();
            outcome_words(&p.outcome)
        };
        assert_eq!(get("past-end"), ("SIGSEGV", "SEGV_MAPERR"));
        assert_eq!(get("after-munmap"), ("SIGSEGV", "SEGV_MAPERR"));
        assert_eq!(get("guard-page"), ("SIGSEGV", "SEGV_ACCERR"));
        assert_eq!(get("read-only"), ("SIGSEGV", "SEGV_ACCERR"));
        assert_eq!(get("inside-page-slack"), ("no fault", ""));
        assert_eq!(get("past-file-end"), ("not modelled", ""));
    }

    #[test]
    fn real_outcomes_join_the_simulated_ones() {
        let rows = vec![SegvRealRow {
            experiment: "guard-page".to_string(),
            outcome: "SIGSEGV".to_string(),
            reason: "SEGV_ACCERR".to_string(),
            address_matches: "yes".to_string(),
        }];
        let snap = super::super::encode_segv_real(&["test machine".to_string()], &rows);
        let out = SEGV.produce(&Inputs { real: Some(&snap) }).unwrap();
        assert!(
            out.csv
                .contains("guard-page,real,kernel,write,SIGSEGV,SEGV_ACCERR")
        );
        assert!(out.caption.contains("test machine"));
        let Figure::Grid(g) = out.figure else {
            panic!("a grid")
        };
        let row = g.rows.iter().find(|r| r.label == "guard-page").unwrap();
        assert_eq!(row.cells[1].tone, Tone::Fault);
        let row = g.rows.iter().find(|r| r.label == "past-end").unwrap();
        assert_eq!(row.cells[1].tone, Tone::Missing, "not in the snapshot");
    }
}
