//! Chapter 5: glibc's malloc, its heap, its mmap threshold and how it gives memory back
//! (claims 1 and 9).

use super::common::{
    AllocatorSpec, Setup, TIMELINE_COLUMNS, WorkloadSpec, concat, hold_then_release, timelines_csv,
};
use super::freelist::{HEAP_MAP_COLUMNS, heap_map_csv, kind_name, kind_totals};
use super::table::{Csv, Markdown, bytes, count};
use super::{
    AxisSpec, ChartTitle, Experiment, ExperimentError, ExperimentOutput, Figure, Inputs, Mark,
    Unit, XyChart, XyPanel, XySeries,
};
use engine::{Program, Stepped};
use kernel::{Kernel, KernelConfig, Syscall};
use malloc::glibc::{Glibc, SyscallEvent};
use workload::{
    ChurnParams, FreeOrder, GeneratorParams, LargeParams, Op, RampParams, SizeDist, Workload,
};

/// `glibc-heapmap`.
pub const HEAPMAP: Experiment = Experiment {
    name: "glibc-heapmap",
    chapter: "5",
    claims: &[],
    shows: "heap map of glibc on a small churn run: used chunks, free chunks in bins, \
            tcache/fastbin chunks (cached), top and the tcache structure",
    columns: HEAP_MAP_COLUMNS,
    real: None,
    setup: || {
        let params = ChurnParams {
            ops: 800,
            live_blocks: 100,
            ..ChurnParams::default()
        };
        let mut s = Setup::new(
            vec![WorkloadSpec::new(GeneratorParams::Churn(params), 1)],
            vec![AllocatorSpec::named("glibc")],
        );
        s.heap_maps = true;
        s.sample_every = 16;
        s
    },
    run: heapmap,
};

fn heapmap(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let mut results = setup.run_workload(0)?;
    let r = results.remove(0);
    let caption = format!(
        "Experiment glibc-heapmap: churn (seed 1, {} allocator calls around 100 live blocks of \
         16 B to 4 KiB) through the glibc model, a heap map every {} ops; fresh simulated kernel.",
        count(setup.workloads[0].params.ops()),
        setup.sample_every
    );
    let mut md = Markdown::new(&caption);
    let mut rows = Vec::new();
    // The snapshot in the middle of the steady phase.
    if let Some(snap) = r.heap_maps.get(r.heap_maps.len() / 2) {
        for (k, n, b) in kind_totals(snap) {
            rows.push(vec![
                format!("op {}", snap.op),
                kind_name(k).to_string(),
                count(n),
                bytes(b),
            ]);
        }
    }
    md.table(&["snapshot", "kind", "chunks", "bytes"], &rows);
    md.para(
        "cached = chunks in the tcache or a fastbin: free for the program, in use for the heap \
         (never coalesced until a consolidation); meta = glibc's own tcache structure (a \
         656-byte chunk at the heap's start).",
    );
    Ok(ExperimentOutput {
        title: setup.title(
            0,
            Some(format!("a snapshot every {} ops", setup.sample_every)),
        ),
        caption,
        csv: heap_map_csv(&r.heap_maps),
        table_md: md.finish(),
        figure: Figure::HeapMap {
            allocator: "glibc".to_string(),
            snapshots: r.heap_maps,
        },
    })
}

/// `glibc-mmap-threshold`.
pub const MMAP_THRESHOLD: Experiment = Experiment {
    name: "glibc-mmap-threshold",
    chapter: "5",
    claims: &[1],
    shows: "the large workload through glibc: which requests got their own mapping as the \
            dynamic mmap threshold rises; when the break runs into a mapping, the heap \
            continues in a mapping",
    columns: &[
        (
            "run",
            "large (the large workload) or brk-limit (heap growth up to a mapping)",
        ),
        ("op", "index of the op in the workload"),
        ("kind", "malloc or realloc"),
        ("size", "requested bytes"),
        (
            "region",
            "heap (brk heap), mmap (its own mapping) or heap-mapping (heap continued in a mapping)",
        ),
        ("threshold_before", "glibc's mmap threshold before the call"),
        ("threshold_after", "glibc's mmap threshold after the call"),
    ],
    real: None,
    setup: || {
        let mut s = Setup::new(
            vec![WorkloadSpec::new(
                GeneratorParams::Large(LargeParams::default()),
                1,
            )],
            vec![AllocatorSpec::named("glibc")],
        );
        s.kernel = KernelConfig::default();
        s
    },
    run: mmap_threshold,
};

/// Requests at least this big are plotted (the small objects are served from the heap
/// throughout and would hide the large ones).
const PLOT_MIN: u64 = 32 * 1024;

/// How far the heap of the brk-fallback run can grow: a mapping sits one guard page
/// above that. (Not `RLIMIT_DATA`: since Linux 4.7 it limits private writable mappings
/// too, so glibc's fallback mapping would be refused as well.)
const FALLBACK_LIMIT: u64 = 512 * 1024;

fn mmap_threshold(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let name = "glibc-mmap-threshold";
    let w = setup.workloads[0].generate()?;
    let mut k = Kernel::new(setup.kernel.clone());
    let mut g = Glibc::new();
    let start = setup.kernel.heap_start;
    let mut p = Program::new(w.clone());
    let mut csv = Csv::new(
        &MMAP_THRESHOLD
            .columns
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>(),
    );
    let (mut heap_pts, mut mmap_pts, mut threshold) = (Vec::new(), Vec::new(), Vec::new());
    let mut rises: Vec<(usize, u64)> = Vec::new();
    let (mut big_heap, mut big_mmap, mut over_default_heap) = (0u64, 0u64, 0u64);
    threshold.push((0.0, g.mmap_threshold() as f64));
    loop {
        let before = g.mmap_threshold();
        let op = p.workload().ops.get(p.position()).cloned();
        match p.step(&mut k, &mut g)? {
            Stepped::Finished => break,
            Stepped::Ran { index, ptr } => {
                let after = g.mmap_threshold();
                if after != before {
                    rises.push((index, after));
                    threshold.push((index as f64, before as f64));
                    threshold.push((index as f64, after as f64));
                }
                let (kind, size) = match op {
                    Some(Op::Malloc { size, .. }) => ("malloc", size),
                    Some(Op::Realloc { size, .. }) => ("realloc", size),
                    _ => continue,
                };
                let Some(ptr) = ptr else { continue };
                let in_heap = ptr >= start && ptr < k.program_break();
                let region = if in_heap { "heap" } else { "mmap" };
                if size >= PLOT_MIN {
                    let pt = (index as f64, size as f64);
                    if in_heap {
                        heap_pts.push(pt);
                        big_heap += 1;
                        if size >= 128 * 1024 {
                            over_default_heap += 1;
                        }
                    } else {
                        mmap_pts.push(pt);
                        big_mmap += 1;
                    }
                    csv.row(&[
                        "large".to_string(),
                        index.to_string(),
                        kind.to_string(),
                        size.to_string(),
                        region.to_string(),
                        before.to_string(),
                        after.to_string(),
                    ]);
                }
            }
            other => {
                return Err(ExperimentError::Driver {
                    what: format!("{name}: the large workload through glibc"),
                    detail: format!("{other:?}"),
                });
            }
        }
    }
    threshold.push((w.ops.len() as f64, g.mmap_threshold() as f64));

    // Claim 1's second half: when brk fails, malloc carries on in a mapping.
    let fallback = brk_fallback(&mut csv)?;

    let caption = format!(
        "Experiment glibc-mmap-threshold: large (seed 1, {} allocator calls: 256 small objects \
         and 4 buffers of 64 KiB–4 MiB live) through the glibc model with its dynamic mmap \
         threshold; then 64 KiB mallocs with a mapping {} above the heap's start, where \
         the break runs into it; fresh simulated kernels.",
        count(w.allocator_calls()),
        bytes(FALLBACK_LIMIT)
    );
    let mut md = Markdown::new(&caption);
    let mut rows = vec![
        vec![
            format!("requests ≥ {} from the heap", bytes(PLOT_MIN)),
            count(big_heap),
        ],
        vec![
            format!("requests ≥ {} given their own mapping", bytes(PLOT_MIN)),
            count(big_mmap),
        ],
        vec![
            "requests ≥ 128 KiB served from the heap (threshold raised)".to_string(),
            count(over_default_heap),
        ],
        vec!["mmap threshold at start".to_string(), bytes(128 * 1024)],
    ];
    for (i, (op, t)) in rises.iter().enumerate() {
        rows.push(vec![
            format!("threshold rise {} (free at op {op})", i + 1),
            bytes(*t),
        ]);
    }
    rows.push(vec![
        "mmap threshold at the end".to_string(),
        bytes(g.mmap_threshold()),
    ]);
    md.table(&["glibc on large", "value"], &rows);
    md.para(
        "Freeing a mapped chunk bigger than the threshold (and at most 32 MiB) raises the \
         threshold to that chunk's size, so later requests of that size come from the heap.",
    );
    md.table(
        &["64 KiB malloc", "served from", "syscalls it made"],
        &fallback,
    );

    let figure = Figure::Xy(XyChart {
        title: "glibc's mmap threshold: which requests get their own mapping".to_string(),
        lines: vec![format!(
            "Each point is a malloc or realloc of at least {} (smaller ones always come from the \
             heap). A request at or above the threshold gets its own mapping; freeing one raises \
             the threshold to its size.",
            bytes(PLOT_MIN)
        )],
        panels: vec![XyPanel {
            title: "Request size against op, and the threshold".to_string(),
            x: AxisSpec::linear("ops", Unit::Count),
            y: AxisSpec::log("request size", Unit::Bytes),
            series: vec![
                XySeries::new("mmap threshold", Mark::Step, threshold),
                XySeries::new("from the brk heap", Mark::Points, heap_pts),
                XySeries::new("own mapping (mmap)", Mark::Points, mmap_pts),
            ],
            levels: Vec::new(),
            markers: Vec::new(),
        }],
        notes: Vec::new(),
    });
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "large".to_string(),
            seed: Some(1),
            allocators: vec!["glibc".to_string()],
            cost_model: String::new(),
            note: Some("dynamic mmap threshold on".to_string()),
        },
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure,
    })
}

/// Mallocs of 64 KiB until the break runs into a mapping, one comes from a mapping and
/// a few more after; returns the table rows and writes the CSV rows.
fn brk_fallback(csv: &mut Csv) -> Result<Vec<Vec<String>>, ExperimentError> {
    let cfg = KernelConfig::default();
    let mut k = Kernel::new(cfg.clone());
    let wall = cfg.heap_start + FALLBACK_LIMIT + kernel::PAGE_SIZE;
    k.mmap(
        wall,
        kernel::PAGE_SIZE,
        kernel::Prot::NONE,
        kernel::MapFlags::FIXED,
    )
    .map_err(|e| ExperimentError::Driver {
        what: "glibc-mmap-threshold: the mapping above the heap".to_string(),
        detail: e.to_string(),
    })?;
    let mut g = Glibc::new();
    g.record_syscalls(true);
    let size = 64 * 1024;
    let mut w = Workload::new("brk-limit");
    for id in 0..12 {
        w.ops.push(Op::Malloc { id, size });
    }
    let mut p = Program::new(w);
    let mut rows = Vec::new();
    let mut heap_mappings: Vec<(u64, u64)> = Vec::new();
    loop {
        let t = g.mmap_threshold();
        match p.step(&mut k, &mut g)? {
            Stepped::Finished => break,
            Stepped::Ran { index, ptr } => {
                let calls = g.take_syscalls();
                for c in &calls {
                    if let SyscallEvent::Mmap { len, addr: Some(a) } = c {
                        heap_mappings.push((*a, *len));
                    }
                }
                let ptr = ptr.unwrap_or(0);
                let region = if ptr >= cfg.heap_start && ptr < k.program_break() {
                    "heap"
                } else if heap_mappings.iter().any(|(a, l)| ptr >= *a && ptr < a + l) {
                    "heap-mapping"
                } else {
                    "mmap"
                };
                csv.row(&[
                    "brk-limit".to_string(),
                    index.to_string(),
                    "malloc".to_string(),
                    size.to_string(),
                    region.to_string(),
                    t.to_string(),
                    g.mmap_threshold().to_string(),
                ]);
                let words: Vec<String> = calls.iter().map(event_words).collect();
                rows.push(vec![
                    format!("#{}", index + 1),
                    match region {
                        "heap" => "brk heap".to_string(),
                        "heap-mapping" => "heap continued in a mapping".to_string(),
                        _ => "own mapping".to_string(),
                    },
                    if words.is_empty() {
                        "none".to_string()
                    } else {
                        words.join("; ")
                    },
                ]);
            }
            other => {
                return Err(ExperimentError::Driver {
                    what: "glibc-mmap-threshold: mallocs up to a mapping".to_string(),
                    detail: format!("{other:?}"),
                });
            }
        }
    }
    Ok(rows)
}

fn event_words(e: &SyscallEvent) -> String {
    match e {
        SyscallEvent::BrkQuery { .. } => "brk(0)".to_string(),
        SyscallEvent::Sbrk { increment, ok } => format!(
            "sbrk({}){}",
            super::table::bytes_delta(*increment),
            if *ok { "" } else { " fails" }
        ),
        SyscallEvent::Mmap { len, addr } => format!(
            "mmap({}){}",
            bytes(*len),
            if addr.is_some() { "" } else { " fails" }
        ),
        SyscallEvent::Munmap { len, .. } => format!("munmap({})", bytes(*len)),
        SyscallEvent::Mremap { new_len, .. } => format!("mremap(→ {})", bytes(*new_len)),
        SyscallEvent::MadviseDontNeed { len, .. } => format!("madvise({})", bytes(*len)),
    }
}

/// `glibc-trim`.
pub const TRIM: Experiment = Experiment {
    name: "glibc-trim",
    chapter: "5",
    claims: &[9],
    shows: "glibc giving memory back by each of its three mechanisms: trim of the top on \
            free (brk), munmap of mapped chunks, malloc_trim's madvise of free pages below a \
            live block",
    columns: TIMELINE_COLUMNS,
    real: None,
    setup: || {
        let mut s = Setup::new(Vec::new(), vec![AllocatorSpec::named("glibc")]);
        s.sample_every = 20;
        s
    },
    run: trim,
};

/// The three parts of the glibc-trim program.
fn trim_program() -> Result<Workload, ExperimentError> {
    let make = |p: GeneratorParams| {
        p.generate(1)
            .map_err(|e| ExperimentError::Workload(e.to_string()))
    };
    // Blocks of 2–16 KiB are too big for the tcache and the fastbins, so each free
    // merges into top at once and glibc can trim on free.
    let build = make(GeneratorParams::Ramp(RampParams {
        ops: 600,
        pin: false,
        trim: false,
        free_order: FreeOrder::Reverse,
        sizes: SizeDist::log_uniform(2 * 1024, 16 * 1024),
        ..RampParams::default()
    }))?;
    let large = make(GeneratorParams::Large(LargeParams {
        ops: 400,
        ..LargeParams::default()
    }))?;
    let pinned = make(GeneratorParams::Ramp(RampParams {
        ops: 2_000,
        ..RampParams::default()
    }))?;
    // The program runs on for a while with the pinned block live, so the figure shows
    // the heap between malloc_trim and the final free.
    let idle = make(GeneratorParams::Churn(ChurnParams {
        ops: 400,
        live_blocks: 20,
        ..ChurnParams::default()
    }))?;
    let pinned = hold_then_release(pinned, "unpin", idle);
    Ok(concat(
        "glibc-trim",
        vec![
            ("1 build and free".to_string(), build),
            ("2 large buffers".to_string(), large),
            ("3 pinned, malloc_trim".to_string(), pinned),
        ],
    ))
}

fn trim(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let w = trim_program()?;
    let spec = &setup.allocators[0];
    let config = engine::RunConfig {
        kernel: setup.kernel.clone(),
        sample_every: setup.sample_every,
        ..engine::RunConfig::default()
    };
    // Which calls gave memory back: a lower break, fewer mapped bytes, a madvise.
    let (mut shrinks, mut last_brk, mut last_madvise) = (0u64, setup.kernel.heap_start, 0u64);
    let (mut unmaps, mut advises) = (0u64, 0u64);
    let mut last_munmap = 0u64;
    let r = engine::run_observed(&w, spec.build()?, &config, &mut |step| {
        let brk = step.kernel.program_break();
        if brk < last_brk {
            shrinks += 1;
        }
        last_brk = brk;
        let c = step.kernel.counters();
        if c.syscall(Syscall::Munmap) > last_munmap {
            unmaps += c.syscall(Syscall::Munmap) - last_munmap;
            last_munmap = c.syscall(Syscall::Munmap);
        }
        if c.syscall(Syscall::Madvise) > last_madvise {
            advises += c.syscall(Syscall::Madvise) - last_madvise;
            last_madvise = c.syscall(Syscall::Madvise);
        }
    })
    .map_err(|error| ExperimentError::Run {
        what: format!("glibc-trim through {}", spec.label),
        error,
    })?;
    let s = &r.summary;
    let caption = format!(
        "Experiment glibc-trim: one program in three parts, all seed 1 — (1) ramp of 600 calls \
         with 2–16 KiB blocks freed in reverse order, (2) large with 400 calls, (3) ramp of \
         2,000 calls with one block pinned at the top and malloc_trim(0), then 400 calls of \
         small churn before the pinned block is freed — through the glibc model on a fresh \
         simulated kernel ({} allocator calls in all).",
        count(w.allocator_calls())
    );
    let mut md = Markdown::new(&caption);
    md.table(
        &[
            "mechanism",
            "calls",
            "bytes returned",
            "resident bytes freed",
        ],
        &[
            vec![
                "brk shrink (trim of top on free)".to_string(),
                count(shrinks),
                bytes(s.returned.brk),
                bytes(s.returned_resident.brk),
            ],
            vec![
                "munmap (mapped chunks)".to_string(),
                count(unmaps),
                bytes(s.returned.munmap),
                bytes(s.returned_resident.munmap),
            ],
            vec![
                "madvise(DONTNEED) (malloc_trim)".to_string(),
                count(advises),
                bytes(s.returned.madvise),
                bytes(s.returned_resident.madvise),
            ],
        ],
    );
    md.para(&format!(
        "calls = syscalls that gave memory back ({} brk calls in all, growths included). Peak \
         footprint {}, final footprint {}, final RSS {}.",
        count(s.syscall(Syscall::Brk)),
        bytes(s.peak_footprint),
        bytes(s.final_footprint),
        bytes(s.final_rss)
    ));
    Ok(ExperimentOutput {
        title: ChartTitle {
            workload: "ramp + large + pinned ramp".to_string(),
            seed: Some(1),
            allocators: vec!["glibc".to_string()],
            cost_model: String::new(),
            note: None,
        },
        caption,
        csv: timelines_csv(&[&r.timeline]),
        table_md: md.finish(),
        figure: Figure::Returned(vec![r.timeline]),
    })
}
