//! Chapter 2: virtual memory as the allocators see it (claim 2: "mmap asks the kernel
//! for an unused contiguous range of virtual addresses, large enough for whole pages").
//!
//! Three small drivers on the kernel alone, no allocator: demand paging of one big
//! mapping, page-table cost of dense and sparse touching, and where mappings land in
//! the address space and in physical memory.

use super::common::Setup;
use super::table::{Csv, Markdown, bytes, count, fixed, nanos};
use super::{
    AxisSpec, ChartTitle, Experiment, ExperimentError, ExperimentOutput, Figure, Inputs, Mark,
    Unit, XyChart, XyPanel, XySeries,
};
use kernel::{Access, Addr, Kernel, KernelConfig, MapFlags, PAGE_SIZE, PageState, Prot};

const MIB: u64 = 1 << 20;

/// A kernel call that must succeed in these drivers; a failure is reported, not
/// unwrapped.
fn must<T, E: std::fmt::Display>(
    experiment: &str,
    what: &str,
    r: Result<T, E>,
) -> Result<T, ExperimentError> {
    r.map_err(|e| ExperimentError::Driver {
        what: format!("{experiment}: {what}"),
        detail: e.to_string(),
    })
}

/// `vm-demand-paging`.
pub const DEMAND_PAGING: Experiment = Experiment {
    name: "vm-demand-paging",
    chapter: "2",
    claims: &[2],
    shows: "one 64 MiB mmap touched 1 MiB at a time: mapped jumps at once, RSS grows with the \
            pages written; reading maps the shared zero page and adds no RSS",
    columns: &[
        (
            "access",
            "write (every page written) or read (every page read, never written)",
        ),
        ("touched_bytes", "bytes of the mapping touched so far"),
        ("mapped", "mapped bytes of the process (VSZ)"),
        ("rss", "resident bytes"),
        ("minor_faults", "cumulative minor faults"),
        (
            "zero_page_maps",
            "cumulative read faults that mapped the shared zero page",
        ),
        ("pt_bytes", "bytes of page-table pages"),
        (
            "time_ns",
            "simulated nanoseconds so far (default cost model)",
        ),
    ],
    real: None,
    setup: || Setup::driver(KernelConfig::default()),
    run: demand_paging,
};

const DP_LEN: u64 = 64 * MIB;
const DP_STEP: u64 = MIB;

struct DpPoint {
    touched: u64,
    mapped: u64,
    rss: u64,
    faults: u64,
    zero: u64,
    pt: u64,
    ns: f64,
}

fn demand_run(cfg: &KernelConfig, access: Access) -> Result<Vec<DpPoint>, ExperimentError> {
    let name = "vm-demand-paging";
    let mut k = Kernel::new(cfg.clone());
    let point = |k: &Kernel, touched: u64| {
        let m = k.mem();
        let c = k.counters();
        DpPoint {
            touched,
            mapped: m.mapped,
            rss: m.rss,
            faults: c.minor_faults,
            zero: c.zero_page_maps,
            pt: m.pt_bytes,
            ns: k.ledger().total(),
        }
    };
    let base = must(
        name,
        "mmap 64 MiB",
        k.mmap(0, DP_LEN, Prot::RW, MapFlags::NONE),
    )?;
    let mut out = vec![point(&k, 0)];
    let mut off = 0;
    while off < DP_LEN {
        must(name, "touch", k.touch(base + off, DP_STEP, access))?;
        off += DP_STEP;
        out.push(point(&k, off));
    }
    Ok(out)
}

fn demand_paging(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let writes = demand_run(&setup.kernel, Access::Write)?;
    let reads = demand_run(&setup.kernel, Access::Read)?;
    let mut csv = Csv::new(
        &DEMAND_PAGING
            .columns
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>(),
    );
    for (label, pts) in [("write", &writes), ("read", &reads)] {
        for p in pts {
            csv.row(&[
                label.to_string(),
                p.touched.to_string(),
                p.mapped.to_string(),
                p.rss.to_string(),
                p.faults.to_string(),
                p.zero.to_string(),
                p.pt.to_string(),
                fixed(p.ns, 1),
            ]);
        }
    }
    let caption = "Experiment vm-demand-paging: one anonymous 64 MiB mmap on a fresh simulated \
                   kernel, touched in 1 MiB steps, once writing every page and once only \
                   reading; default cost model."
        .to_string();
    let mut md = Markdown::new(&caption);
    let first = |pts: &[DpPoint]| pts.first().map(|p| (p.mapped, p.rss)).unwrap_or((0, 0));
    let (m0, r0) = first(&writes);
    md.para(&format!(
        "Right after mmap: mapped {}, RSS {}.",
        bytes(m0),
        bytes(r0)
    ));
    let rows: Vec<Vec<String>> = [("write every page", &writes), ("read every page", &reads)]
        .iter()
        .filter_map(|(label, pts)| pts.last().map(|p| (label, p)))
        .map(|(label, p)| {
            vec![
                label.to_string(),
                bytes(p.mapped),
                bytes(p.rss),
                count(p.faults),
                count(p.zero),
                bytes(p.pt),
                nanos(p.ns),
            ]
        })
        .collect();
    md.table(
        &[
            "after touching all 64 MiB",
            "mapped",
            "RSS",
            "minor faults",
            "zero-page maps",
            "page tables",
            "simulated time",
        ],
        &rows,
    );
    let line = |pts: &[DpPoint], f: fn(&DpPoint) -> f64| -> Vec<(f64, f64)> {
        pts.iter().map(|p| (p.touched as f64, f(p))).collect()
    };
    let figure = Figure::Xy(XyChart {
        title: "Demand paging: mapped at once, resident page by page".to_string(),
        lines: vec![
            "mapped = virtual memory the process has (VSZ); RSS = pages backed by a physical \
             frame. A first write faults in a zeroed frame; a first read maps the shared zero \
             page instead."
                .to_string(),
        ],
        panels: vec![
            XyPanel {
                title: "Memory of the process while the mapping is touched".to_string(),
                x: AxisSpec::linear("bytes of the mapping touched", Unit::Bytes),
                y: AxisSpec::linear("bytes", Unit::Bytes),
                series: vec![
                    XySeries::new("mapped", Mark::Line, line(&writes, |p| p.mapped as f64)),
                    XySeries::new(
                        "RSS, writing each page",
                        Mark::Line,
                        line(&writes, |p| p.rss as f64),
                    ),
                    XySeries::new(
                        "RSS, only reading",
                        Mark::Line,
                        line(&reads, |p| p.rss as f64),
                    ),
                ],
                levels: Vec::new(),
                markers: Vec::new(),
            },
            XyPanel {
                title: "Simulated time spent in page faults so far".to_string(),
                x: AxisSpec::linear("bytes of the mapping touched", Unit::Bytes),
                y: AxisSpec::linear("simulated time", Unit::Nanos),
                series: vec![
                    XySeries::new("writes", Mark::Line, line(&writes, |p| p.ns)),
                    XySeries::new("reads (zero page)", Mark::Line, line(&reads, |p| p.ns)),
                ],
                levels: Vec::new(),
                markers: Vec::new(),
            },
        ],
        notes: vec![
            "The mapped line jumps to 64 MiB at the mmap call, before any page is touched."
                .to_string(),
        ],
    });
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "demand paging driver".to_string(),
            seed: None,
            allocators: Vec::new(),
            cost_model: "default".to_string(),
            note: Some("one 64 MiB mmap, 1 MiB steps".to_string()),
        },
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure,
    })
}

/// `vm-page-tables`.
pub const PAGE_TABLES: Experiment = Experiment {
    name: "vm-page-tables",
    chapter: "2",
    claims: &[2],
    shows: "page-table bytes for the same number of pages touched densely, one per 2 MiB, \
            and one per 1 GiB",
    columns: &[
        (
            "pattern",
            "dense (consecutive pages), 2MiB-apart or 1GiB-apart (one page per stride)",
        ),
        ("stride_bytes", "distance between two touched pages"),
        ("pages_touched", "pages written so far"),
        ("pt_bytes", "bytes of page-table pages of the process"),
        ("rss", "resident bytes of data pages"),
        (
            "time_ns",
            "simulated nanoseconds so far (default cost model)",
        ),
    ],
    real: None,
    setup: || Setup::driver(KernelConfig::default()),
    run: page_tables,
};

const PT_PAGES: u64 = 512;
const PT_EVERY: u64 = 8;
const PATTERNS: [(&str, u64); 3] = [
    ("dense", PAGE_SIZE),
    ("2MiB-apart", 2 * MIB),
    ("1GiB-apart", 1024 * MIB),
];

fn page_tables(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let name = "vm-page-tables";
    let mut csv = Csv::new(&PAGE_TABLES.columns.iter().map(|c| c.0).collect::<Vec<_>>());
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for (pattern, stride) in PATTERNS {
        let mut k = Kernel::new(setup.kernel.clone());
        let len = stride * PT_PAGES;
        // MAP_NORESERVE: the 512 GiB range is only address space; nothing is taken
        // until a page is touched.
        let base = must(name, "mmap", k.mmap(0, len, Prot::RW, MapFlags::NORESERVE))?;
        let mut pts = Vec::new();
        for i in 0..=PT_PAGES {
            if i > 0 {
                must(
                    name,
                    "touch",
                    k.touch(base + (i - 1) * stride, 1, Access::Write),
                )?;
            }
            if i % PT_EVERY == 0 {
                let m = k.mem();
                csv.row(&[
                    pattern.to_string(),
                    stride.to_string(),
                    i.to_string(),
                    m.pt_bytes.to_string(),
                    m.rss.to_string(),
                    fixed(k.ledger().total(), 1),
                ]);
                pts.push((i as f64, m.pt_bytes as f64));
            }
        }
        let m = k.mem();
        rows.push(vec![
            pattern.to_string(),
            bytes(stride),
            bytes(m.rss),
            bytes(m.pt_bytes),
            format!("{:.2}", m.pt_bytes as f64 / m.rss.max(1) as f64),
            nanos(k.ledger().total() / PT_PAGES as f64),
        ]);
        series.push(XySeries::new(
            format!("{pattern} ({} stride)", bytes(stride)),
            Mark::Line,
            pts,
        ));
    }
    let caption = format!(
        "Experiment vm-page-tables: {PT_PAGES} pages written one byte each, consecutively, \
         one per 2 MiB and one per 1 GiB of a MAP_NORESERVE mapping, each on a fresh \
         simulated kernel with 4-level x86-64 page tables; default cost model."
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "pattern",
            "stride",
            "data resident",
            "page tables",
            "page tables / data",
            "time per page",
        ],
        &rows,
    );
    md.para(
        "Page-table bytes include the process's PML4 page. A page table (PT) maps 2 MiB, a page \
         directory (PD) 1 GiB: a page alone in its 2 MiB needs its own PT page, alone in its 1 GiB \
         its own PD page too.",
    );
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "page-table driver".to_string(),
            seed: None,
            allocators: Vec::new(),
            cost_model: "default".to_string(),
            note: Some(format!("{PT_PAGES} pages per pattern")),
        },
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure: Figure::Xy(XyChart {
            title: "Page tables cost memory too: dense versus sparse touching".to_string(),
            lines: vec![
                "The same number of 4 KiB pages written, at three distances apart. Each 4 KiB \
                 page-table page maps 512 entries of the level below."
                    .to_string(),
            ],
            panels: vec![XyPanel {
                title: "Page-table bytes against pages touched".to_string(),
                x: AxisSpec::linear("pages touched", Unit::Count),
                y: AxisSpec::linear("page-table bytes", Unit::Bytes),
                series,
                levels: Vec::new(),
                markers: Vec::new(),
            }],
            notes: Vec::new(),
        }),
    })
}

/// `vm-placement`.
pub const PLACEMENT: Experiment = Experiment {
    name: "vm-placement",
    chapter: "2",
    claims: &[2],
    shows: "mappings placed top-down below mmap_base, a freed gap reused, and mappings \
            contiguous in virtual memory whose pages sit in scattered physical frames",
    columns: &[
        (
            "step",
            "what the driver did: an mmap or munmap of a named mapping, or a touched page",
        ),
        (
            "name",
            "the mapping (A, B, C, D; P and Q for the frame experiment)",
        ),
        ("address", "virtual address (hex)"),
        ("length", "bytes of the mapping, or 4096 for a page"),
        ("below_base", "bytes from the address to mmap_base"),
        ("page", "index of the page inside its mapping (frame rows)"),
        (
            "frame",
            "physical frame number backing the page (frame rows)",
        ),
    ],
    real: None,
    setup: || Setup::driver(KernelConfig::default()),
    run: placement,
};

const FRAME_PAGES: u64 = 32;

/// The order in which the driver first touches mapping P's pages: a fixed shuffle
/// (multiplying by 13 permutes 0..32, since 13 and 32 are coprime), as a program that
/// fills a table in hash order would.
fn shuffled(i: u64) -> u64 {
    (i * 13 + 7) % FRAME_PAGES
}

fn placement(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let name = "vm-placement";
    let mut k = Kernel::new(setup.kernel.clone());
    let base = setup.kernel.mmap_base;
    let mut csv = Csv::new(&PLACEMENT.columns.iter().map(|c| c.0).collect::<Vec<_>>());
    let mut rows = Vec::new();
    let mut log = |step: &str, who: &str, addr: Addr, len: u64, csv: &mut Csv| {
        csv.row(&[
            step.to_string(),
            who.to_string(),
            format!("{addr:#x}"),
            len.to_string(),
            base.saturating_sub(addr).to_string(),
            String::new(),
            String::new(),
        ]);
        rows.push(vec![
            step.to_string(),
            who.to_string(),
            bytes(len),
            format!("{addr:#x}"),
            bytes(base.saturating_sub(addr)),
        ]);
    };
    let mut maps = Vec::new();
    for (who, len) in [("A", 64 * 1024), ("B", MIB), ("C", 16 * 1024)] {
        let a = must(name, "mmap", k.mmap(0, len, Prot::RW, MapFlags::NONE))?;
        log("mmap", who, a, len, &mut csv);
        maps.push((who, a, len));
    }
    let (_, b_addr, b_len) = maps[1];
    must(name, "munmap B", k.munmap(b_addr, b_len))?;
    log("munmap", "B", b_addr, b_len, &mut csv);
    let d_len = 256 * 1024;
    let d = must(name, "mmap D", k.mmap(0, d_len, Prot::RW, MapFlags::NONE))?;
    log("mmap", "D", d, d_len, &mut csv);
    let vmas_after = k.mem().vmas;

    // Two mappings, touched one page of each in turn: their frames interleave.
    let mut k = Kernel::new(setup.kernel.clone());
    let len = FRAME_PAGES * PAGE_SIZE;
    let p = must(name, "mmap P", k.mmap(0, len, Prot::RW, MapFlags::NONE))?;
    // A one-page PROT_NONE gap keeps P and Q two separate VMAs (anonymous neighbours
    // of the same protection would merge into one).
    let _gap = must(
        name,
        "mmap gap",
        k.mmap(0, PAGE_SIZE, Prot::NONE, MapFlags::NONE),
    )?;
    let q = must(name, "mmap Q", k.mmap(0, len, Prot::RW, MapFlags::NONE))?;
    for i in 0..FRAME_PAGES {
        for page in [p + shuffled(i) * PAGE_SIZE, q + i * PAGE_SIZE] {
            must(name, "touch", k.touch(page, 1, Access::Write))?;
        }
    }
    let mut frames: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    let mut frame_rows = Vec::new();
    for (who, m) in [("P", p), ("Q", q)] {
        let mut pts = Vec::new();
        let mut list = Vec::new();
        for i in 0..FRAME_PAGES {
            let addr = m + i * PAGE_SIZE;
            let frame = match k.page_state(addr) {
                PageState::Resident { frame, .. } | PageState::Huge { frame, .. } => frame,
                other => {
                    return Err(ExperimentError::Driver {
                        what: format!("{name}: page {i} of {who}"),
                        detail: format!("expected a resident page, found {other:?}"),
                    });
                }
            };
            csv.row(&[
                "touch".to_string(),
                who.to_string(),
                format!("{addr:#x}"),
                PAGE_SIZE.to_string(),
                base.saturating_sub(addr).to_string(),
                i.to_string(),
                frame.to_string(),
            ]);
            pts.push((i as f64, frame as f64));
            list.push(frame.to_string());
        }
        frame_rows.push(vec![
            who.to_string(),
            format!("{m:#x}"),
            list[..8].join(", ") + ", …",
        ]);
        frames.push((who, pts));
    }

    let caption = format!(
        "Experiment vm-placement: anonymous mmaps on a fresh simulated kernel (mmap_base \
         {base:#x}, heap at {:#x}); then two {FRAME_PAGES}-page mappings written one page of \
         each in turn, P's pages in a shuffled order, Q's in order.",
        setup.kernel.heap_start
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &["call", "mapping", "length", "address", "below mmap_base"],
        &rows,
    );
    md.para(&format!(
        "D reuses the top of the gap B left (first fit, top-down); the process then has {vmas_after} \
         VMA(s), since adjacent anonymous mappings of the same protection merge."
    ));
    md.table(
        &["mapping", "virtual start", "frames of pages 0–7"],
        &frame_rows,
    );
    let series = frames
        .into_iter()
        .map(|(who, pts)| XySeries::new(format!("mapping {who}"), Mark::Points, pts))
        .collect();
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "placement driver".to_string(),
            seed: None,
            allocators: Vec::new(),
            cost_model: String::new(),
            note: Some(format!("two mappings of {FRAME_PAGES} pages")),
        },
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure: Figure::Xy(XyChart {
            title: "Contiguous in virtual memory, scattered in physical memory".to_string(),
            lines: vec![
                "Each mapping is one contiguous range of virtual pages; the kernel backs each \
                 page, at its first touch, with whatever frame is free. The program touched \
                 the two mappings in turn, P's pages in a shuffled order, Q's in order."
                    .to_string(),
            ],
            panels: vec![XyPanel {
                title: "Physical frame of each virtual page".to_string(),
                x: AxisSpec::linear("page index inside the mapping", Unit::Count),
                y: AxisSpec::linear("physical frame number", Unit::Count),
                series,
                levels: Vec::new(),
                markers: Vec::new(),
            }],
            notes: Vec::new(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_maps_the_zero_page_and_writing_takes_frames() {
        let cfg = KernelConfig::default();
        let w = demand_run(&cfg, Access::Write).unwrap();
        let r = demand_run(&cfg, Access::Read).unwrap();
        let (w0, wn, rn) = (&w[0], w.last().unwrap(), r.last().unwrap());
        assert_eq!(
            (w0.mapped, w0.rss),
            (DP_LEN, 0),
            "mapped at once, nothing resident"
        );
        assert_eq!(wn.rss, DP_LEN);
        assert_eq!(wn.faults, DP_LEN / PAGE_SIZE);
        assert_eq!(rn.rss, 0);
        assert_eq!(rn.zero, DP_LEN / PAGE_SIZE);
    }

    #[test]
    fn sparse_pages_cost_a_page_table_page_each() {
        let out = PAGE_TABLES.produce(&Inputs::default()).unwrap();
        let last = |pattern: &str| -> u64 {
            out.csv
                .lines()
                .rfind(|l| l.starts_with(&format!("{pattern},")))
                .and_then(|l| l.split(',').nth(3))
                .and_then(|v| v.parse().ok())
                .unwrap()
        };
        let (dense, pt, pd) = (last("dense"), last("2MiB-apart"), last("1GiB-apart"));
        assert!(dense <= 6 * PAGE_SIZE, "{dense}");
        // One PT page per touched page (plus the levels above).
        assert!((PT_PAGES * PAGE_SIZE..(PT_PAGES + 8) * PAGE_SIZE).contains(&pt));
        // One PD and one PT page per touched page.
        assert!(pd >= 2 * PT_PAGES * PAGE_SIZE);
    }
}
