//! Chapter 3: the brk heap, watched through glibc.

use super::common::{AllocatorSpec, Setup, WorkloadSpec};
use super::table::{Csv, Markdown, bytes, bytes_delta, count};
use super::{
    AxisSpec, Experiment, ExperimentError, ExperimentOutput, Figure, Inputs, Mark, Marker, Unit,
    XyChart, XyPanel, XySeries,
};
use engine::RunConfig;
use workload::{GeneratorParams, Op, RampParams};

/// `brk-heap-growth`.
pub const HEAP_GROWTH: Experiment = Experiment {
    name: "brk-heap-growth",
    chapter: "3",
    claims: &[],
    shows: "ramp through glibc: the program break over ops, growing in steps of top_pad; \
            malloc_trim returns the free pages with madvise but the break barely moves, \
            pinned first by the late block and then by glibc's per-thread cache",
    columns: &[
        (
            "kind",
            "break (the break moved at this op) or sample (a periodic sample)",
        ),
        (
            "op",
            "ops executed (the op that moved the break, counted from 1)",
        ),
        ("heap_bytes", "program break minus heap start, bytes"),
        ("delta_bytes", "how far the break moved (break rows), bytes"),
        ("live_bytes", "bytes requested by live blocks"),
        ("phase", "the workload phase the op belongs to"),
    ],
    real: None,
    setup: heap_setup,
    run: heap_growth,
};

fn heap_setup() -> Setup {
    let params = RampParams {
        ops: 6_000,
        ..RampParams::default()
    };
    let mut s = Setup::new(
        vec![WorkloadSpec::new(GeneratorParams::Ramp(params), 1)],
        vec![AllocatorSpec::named("glibc")],
    );
    s.sample_every = 20;
    s
}

fn heap_growth(setup: &Setup, _: &Inputs) -> Result<ExperimentOutput, ExperimentError> {
    let w = setup.workloads[0].generate()?;
    let spec = &setup.allocators[0];
    let config = RunConfig {
        kernel: setup.kernel.clone(),
        sample_every: setup.sample_every,
        ..RunConfig::default()
    };
    let start = setup.kernel.heap_start;
    // The break after every op, and the phase each op belongs to.
    let mut moves: Vec<(u64, u64, i64)> = Vec::new();
    let mut last = start;
    let mut phase_at: Vec<(u64, String)> = Vec::new();
    let r = engine::run_observed(&w, spec.build()?, &config, &mut |step| {
        if let Op::Phase { name } = step.op {
            phase_at.push((step.index, name.clone()));
        }
        let brk = step.kernel.program_break();
        if brk != last {
            moves.push((step.index + 1, brk - start, brk as i64 - last as i64));
            last = brk;
        }
    })
    .map_err(|error| ExperimentError::Run {
        what: format!("ramp through {}", spec.label),
        error,
    })?;
    let phase_of = |op: u64| -> String {
        phase_at
            .iter()
            .rev()
            .find(|(at, _)| *at < op)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    let live_at = |op: u64| -> u64 {
        r.timeline
            .samples
            .iter()
            .rev()
            .find(|s| s.op <= op)
            .map(|s| s.live)
            .unwrap_or(0)
    };

    let mut csv = Csv::new(&HEAP_GROWTH.columns.iter().map(|c| c.0).collect::<Vec<_>>());
    for &(op, heap, delta) in &moves {
        csv.row(&[
            "break".to_string(),
            op.to_string(),
            heap.to_string(),
            delta.to_string(),
            live_at(op).to_string(),
            phase_of(op),
        ]);
    }
    let mut heap_now = 0;
    let mut heap_line = vec![(0.0, 0.0)];
    for &(op, heap, _) in &moves {
        heap_line.push((op as f64, heap_now as f64));
        heap_line.push((op as f64, heap as f64));
        heap_now = heap;
    }
    let n = w.ops.len() as u64;
    heap_line.push((n as f64, heap_now as f64));
    let mut live_line = Vec::new();
    for s in &r.timeline.samples {
        let mut heap = 0;
        for &(op, h, _) in &moves {
            if op <= s.op {
                heap = h;
            }
        }
        csv.row(&[
            "sample".to_string(),
            s.op.to_string(),
            heap.to_string(),
            String::new(),
            s.live.to_string(),
            phase_of(s.op.max(1)),
        ]);
        live_line.push((s.op as f64, s.live as f64));
    }

    let grows: Vec<i64> = moves.iter().map(|m| m.2).filter(|d| *d > 0).collect();
    let shrinks: Vec<&(u64, u64, i64)> = moves.iter().filter(|m| m.2 < 0).collect();
    let peak = moves.iter().map(|m| m.1).max().unwrap_or(0);
    let caption = format!(
        "Experiment brk-heap-growth: ramp (seed 1, {} allocator calls: grow, pin one 32-byte \
         block, free the rest in random order, malloc_trim(0), unpin) through the glibc \
         model on a fresh simulated kernel.",
        count(w.allocator_calls())
    );
    let mut md = Markdown::new(&caption);
    let mut rows = vec![
        vec![
            "break moves up (sbrk > 0)".to_string(),
            count(grows.len() as u64),
        ],
        vec![
            "first growth".to_string(),
            grows.first().map(|d| bytes_delta(*d)).unwrap_or_default(),
        ],
        vec![
            "smallest / largest later growth".to_string(),
            match (grows.iter().skip(1).min(), grows.iter().skip(1).max()) {
                (Some(a), Some(b)) => format!("{} / {}", bytes_delta(*a), bytes_delta(*b)),
                _ => "none".to_string(),
            },
        ],
        vec!["peak heap (break − start)".to_string(), bytes(peak)],
        vec![
            "break moves down (trims)".to_string(),
            count(shrinks.len() as u64),
        ],
    ];
    for (op, heap, d) in &shrinks {
        rows.push(vec![
            format!("trim at op {op} ({})", phase_of(*op)),
            format!("{} → heap {}", bytes_delta(*d), bytes(*heap)),
        ]);
    }
    rows.push(vec![
        "returned by madvise (malloc_trim)".to_string(),
        bytes(r.summary.returned.madvise),
    ]);
    rows.push(vec!["peak live".to_string(), bytes(r.summary.peak_live)]);
    md.table(&["glibc on ramp", "value"], &rows);
    md.para(
        "glibc asks sbrk for the request plus top_pad (128 KiB) rounded up to pages, so the break \
         moves rarely and in large steps; free() shrinks it only when the free space at the top \
         exceeds trim_threshold (128 KiB).",
    );

    let markers = phase_at
        .iter()
        .filter(|(_, n)| n != "grow")
        .map(|(at, name)| Marker {
            x: *at as f64,
            label: name.clone(),
        })
        .collect();
    Ok(ExperimentOutput {
        title: setup.title(0, None),
        caption,
        csv: csv.finish(),
        table_md: md.finish(),
        figure: Figure::Xy(XyChart {
            title: "The program break of glibc's heap over a ramp".to_string(),
            lines: vec![
                "heap = program break − heap start (what sbrk moved); live = bytes the program \
                 asked for and has not freed."
                    .to_string(),
            ],
            panels: vec![XyPanel {
                title: "Heap size and live bytes".to_string(),
                x: AxisSpec::linear("ops", Unit::Count),
                y: AxisSpec::linear("bytes", Unit::Bytes),
                series: vec![
                    XySeries::new("heap (break − start)", Mark::Line, heap_line),
                    XySeries::new("live", Mark::Line, live_line),
                ],
                levels: Vec::new(),
                markers,
            }],
            notes: Vec::new(),
        }),
    })
}
