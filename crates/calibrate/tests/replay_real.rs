//! Real replays on this machine: determinism, the mmap strategy's exact accounting,
//! samples, the memory cap, bad input, and the crash experiments of claim 3.
//!
//! Every test here needs Linux with glibc; elsewhere each one checks that the API says
//! so plainly instead.

mod replay_support;

use calibrate::replay::{
    CrashExperiment, CrashOutcome, RealRun, ReplayError, ReplayOptions, Strategy, bench_real,
    replay_real, replay_real_ops, segv_experiments,
};
use engine::Region;
use replay_support::{exe, parse_rep, read_rep};
use std::path::Path;
use workload::{Op, TouchPolicy, Workload};

const PAGE: u64 = 4096;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn opts(strategy: Strategy) -> ReplayOptions {
    ReplayOptions {
        strategy,
        ..ReplayOptions::default()
    }
}

/// Runs a replay, or checks that it is refused as unavailable off Linux/glibc and
/// returns None.
fn run(ops: &[Op], touch: TouchPolicy, opts: &ReplayOptions) -> Option<RealRun> {
    match replay_real_ops(exe(), ops, touch, opts) {
        Err(ReplayError::Unavailable(why)) => {
            assert!(unavailable_here(), "{why}");
            eprintln!("skipped: {why}");
            None
        }
        other => Some(other.unwrap()),
    }
}

/// True when this build cannot run real replays (what `Unavailable` errors must mean).
fn unavailable_here() -> bool {
    calibrate::sys::unavailable_reason().is_some()
}

fn glibc_236() -> bool {
    calibrate::sys::glibc_version() == Some("2.36")
}

#[test]
fn shipped_traces_match_glibc_236_truth() {
    if !glibc_236() {
        eprintln!("skipped: exact checks apply to glibc 2.36 only");
        return;
    }
    for name in ["make-database-head", "diff-lines-head"] {
        let workload = read_rep(&data(&format!("{name}.rep")));
        let truth = std::fs::read_to_string(data(&format!("{name}.glibc-2.36.csv"))).unwrap();
        let run = replay_real(exe(), &workload, &opts(Strategy::Glibc)).unwrap();
        assert!(
            run.csv == truth,
            "{name}: the real replay differs from the truth"
        );
    }
}

#[test]
fn replays_are_deterministic_under_both_strategies() {
    let workload = read_rep(&data("diff-lines-head.rep"));
    for strategy in [Strategy::Glibc, Strategy::Mmap] {
        let Some(first) = run(&workload.ops, workload.touch, &opts(strategy)) else {
            return;
        };
        let second = run(&workload.ops, workload.touch, &opts(strategy)).unwrap();
        assert_eq!(first.csv, second.csv, "{strategy}");
        assert_eq!(first.rows, second.rows, "{strategy}");
        assert_eq!(first.rows.len(), workload.ops.len());
        // The parsed rows are the CSV text.
        let mut again = format!("{}\n", engine::OpRow::HEADER);
        first.rows.iter().for_each(|r| r.write_csv(&mut again));
        assert_eq!(again, first.csv);
    }
}

/// The observations of GLIBC-MODEL.md's table, made again by the real replay.
#[test]
fn glibc_first_malloc_and_the_dynamic_mmap_threshold() {
    if !glibc_236() {
        eprintln!("skipped: exact checks apply to glibc 2.36 only");
        return;
    }
    let ops = [
        Op::Malloc { id: 0, size: 100 },
        Op::Malloc {
            id: 1,
            size: 200000,
        },
        Op::Phase {
            name: "mapped".into(),
        },
        Op::Free { id: 1 },
        Op::Malloc {
            id: 2,
            size: 200000,
        },
    ];
    let run = run(&ops, TouchPolicy::WriteAll, &opts(Strategy::Glibc)).unwrap();
    let r = &run.rows;
    // The tcache structure takes the first 656 bytes; the block's payload is at 672.
    assert_eq!(r[0].region, Region::Heap(672));
    assert_eq!(
        (r[0].arena, r[0].uordblks, r[0].keepcost),
        (135168, 768, 134400)
    );
    assert_eq!(r[1].region, Region::Mmap);
    assert_eq!((r[1].hblks, r[1].hblkhd), (1, 200704));
    assert_eq!((r[2].hblks, r[2].hblkhd), (0, 0));
    // Freeing the mapped chunk raised the threshold: the same request now fits the heap.
    assert!(matches!(r[3].region, Region::Heap(_)));
    assert_eq!(r[3].arena, 335872);
    let samples = &run.timeline.samples;
    assert_eq!(samples.len(), 2);
    // Resident: the heap's first page (tcache and the 100-byte block) and the 49 pages
    // the 200000 bytes cover in their own mapping, nothing else of the process.
    let mapped = &samples[0];
    assert_eq!(mapped.rss, 50 * PAGE);
    assert_eq!(mapped.mapped, 135168 + 200704);
    // Each of those pages was faulted in once; allow a few first touches of glibc's own
    // pages on other machines (none here).
    assert!((50..=54).contains(&mapped.minor_faults), "{mapped:?}");
    let last = &samples[1];
    // brk twice (first malloc, growth for the second 200000), one mmap, one munmap.
    assert_eq!(last.syscalls, [2, 1, 1, 0, 0, 0]);
    assert_eq!(last.returned_munmap, 200704);
    assert_eq!(last.live, 100 + 200000);
    assert_eq!(last.footprint, r[3].arena + r[3].hblkhd);
    assert_eq!(last.allocated, r[3].uordblks + r[3].hblkhd);
    assert_eq!(last.mapped, 335872);
    // The second block follows the first in the heap (chunk 768..200784), so heap pages
    // 0 to 49 are written; the mapping is gone.
    assert_eq!(last.rss, 50 * PAGE);
}

#[test]
fn mmap_strategy_rows_rss_and_faults_are_exact() {
    let phase = |name: &str| Op::Phase { name: name.into() };
    let ops = [
        Op::Malloc {
            id: 1,
            size: 5 * PAGE + 1,
        },
        phase("mapped"),
        Op::Touch {
            id: 1,
            offset: 0,
            len: 2 * PAGE,
            write: true,
        },
        Op::Touch {
            id: 1,
            offset: 4 * PAGE,
            len: 1,
            write: false,
        },
        phase("touched"),
        Op::Realloc {
            id: 1,
            size: 10 * PAGE,
        },
        phase("moved"),
        Op::Malloc { id: 2, size: 0 },
        Op::Free { id: 1 },
        phase("freed"),
        Op::Trim { pad: 0 },
        // Same page-rounded length: nothing to ask the kernel.
        Op::Realloc { id: 2, size: PAGE },
    ];
    let options = ReplayOptions {
        strategy: Strategy::Mmap,
        sample_interval: 0,
        ..ReplayOptions::default()
    };
    let Some(run) = run(&ops, TouchPolicy::None, &options) else {
        return;
    };
    let expected = "op,kind,id,size,region,offset,arena,hblks,hblkhd,uordblks,fordblks,keepcost\n\
                    0,a,1,20481,mmap,0,0,1,24576,24576,0,0\n\
                    5,r,1,40960,mmap,0,0,1,40960,40960,0,0\n\
                    7,a,2,0,mmap,0,0,2,45056,45056,0,0\n\
                    8,f,1,0,-,0,0,1,4096,4096,0,0\n\
                    10,t,0,0,-,0,0,1,4096,4096,0,0\n\
                    11,r,2,4096,mmap,0,0,1,4096,4096,0,0\n";
    assert_eq!(run.csv, expected);
    let s = &run.timeline.samples;
    let ops_at: Vec<u64> = s.iter().map(|s| s.op).collect();
    assert_eq!(ops_at, [2, 5, 7, 10, 12]);
    let names: Vec<Option<&str>> = s.iter().map(|s| s.phase.as_deref()).collect();
    assert_eq!(
        names,
        [
            Some("mapped"),
            Some("touched"),
            Some("moved"),
            Some("freed"),
            None
        ]
    );
    // Mapping reserves address space; only touched pages become resident. A read of a
    // fresh anonymous page faults too (it maps the shared zero page).
    let rss: Vec<u64> = s.iter().map(|s| s.rss / PAGE).collect();
    assert_eq!(rss, [0, 3, 3, 0, 0]);
    let mapped: Vec<u64> = s.iter().map(|s| s.mapped / PAGE).collect();
    assert_eq!(mapped, [6, 6, 10, 1, 1]);
    let syscalls: Vec<[u64; 6]> = s.iter().map(|s| s.syscalls).collect();
    assert_eq!(syscalls[2], [0, 1, 0, 0, 1, 0]);
    assert_eq!(syscalls[4], [0, 2, 1, 0, 1, 0]);
    assert_eq!(s[3].returned_munmap, 10 * PAGE);
    assert_eq!(s[3].live, 0);
    // mremap moves the pages with the mapping: no new faults after the touches.
    let faults: Vec<u64> = s.iter().map(|s| s.minor_faults).collect();
    assert_eq!(faults, [0, 3, 3, 3, 3]);
}

/// With every byte written, the mmap strategy faults each page of each block exactly
/// once, and at the end exactly the live blocks' pages are resident.
#[test]
fn mmap_strategy_faults_every_written_page_once() {
    let workload = read_rep(&data("make-database-head.rep"));
    let Some(run) = run(&workload.ops, TouchPolicy::WriteAll, &opts(Strategy::Mmap)) else {
        return;
    };
    let pages = |size: u64| size.div_ceil(PAGE);
    let mut sizes = std::collections::BTreeMap::new();
    let mut written = 0;
    for op in &workload.ops {
        match op {
            Op::Malloc { id, size } => {
                written += pages(*size);
                sizes.insert(*id, *size);
            }
            Op::Realloc { id, size } => {
                written += pages(*size).saturating_sub(pages(sizes[id]));
                sizes.insert(*id, *size);
            }
            Op::Free { id } => {
                sizes.remove(id);
            }
            _ => {}
        }
    }
    let live_pages: u64 = sizes.values().map(|s| pages(*s).max(1)).sum();
    let last = run.timeline.samples.last().unwrap();
    assert_eq!(last.rss, live_pages * PAGE);
    assert_eq!(last.mapped, live_pages * PAGE);
    assert_eq!(last.live, sizes.values().sum::<u64>());
    assert_eq!(last.minor_faults, written);
    assert_eq!(
        last.syscalls[1],
        workload
            .ops
            .iter()
            .filter(|o| matches!(o, Op::Malloc { .. }))
            .count() as u64
    );
}

#[test]
fn samples_follow_the_interval_phases_and_the_end() {
    let text = "0\n3\n10\n1\na 0 10\na 1 20\nf 0\na 2 30\nf 1\nr 2 300\na 0 7\nf 0\nf 2\na 0 1\n";
    let mut workload = parse_rep(text, "inline");
    workload.ops.insert(
        5,
        Op::Phase {
            name: "middle".into(),
        },
    );
    let options = ReplayOptions {
        sample_interval: 4,
        ..ReplayOptions::default()
    };
    let Some(run) = run(&workload.ops, workload.touch, &options) else {
        return;
    };
    let at: Vec<(u64, Option<&str>)> = run
        .timeline
        .samples
        .iter()
        .map(|s| (s.op, s.phase.as_deref()))
        .collect();
    assert_eq!(at, [(4, None), (6, Some("middle")), (8, None), (11, None)]);
    assert_eq!(run.timeline.allocator, "glibc");
    assert_eq!(run.timeline.source, Some(engine::Source::Real));
    // Row numbers are stream indexes: the phase marker (index 5) has no row.
    let row_ops: Vec<u64> = run.rows.iter().map(|r| r.op).collect();
    assert_eq!(row_ops, [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]);
    let live: Vec<u64> = run.timeline.samples.iter().map(|s| s.live).collect();
    assert_eq!(live, [50, 30, 307, 1]);
    // Time only grows.
    assert!(
        run.timeline
            .samples
            .windows(2)
            .all(|w| w[0].time_ns <= w[1].time_ns)
    );
    assert!(run.op_ns <= run.elapsed_ns);
}

/// A benchmark child runs the same ops: written blocks fault their pages in (one fault
/// a page under the mmap strategy, as the replay counts them), unwritten ones do not,
/// and the loop's CPU time is measured, as is that of its dry pass.
#[test]
fn bench_replays_time_the_ops_and_fault_what_they_write() {
    let mut w = Workload::new("bench");
    for id in 0..64 {
        w.ops.push(Op::Malloc { id, size: 3 * PAGE });
    }
    for id in 0..64 {
        w.ops.push(Op::Free { id });
    }
    let options = opts(Strategy::Mmap);
    let written = match bench_real(exe(), &w, &options) {
        Err(ReplayError::Unavailable(_)) => return assert!(unavailable_here()),
        other => other.unwrap(),
    };
    assert!(written.cpu_ns > 0, "{written:?}");
    assert!(written.wall_ns > 0, "{written:?}");
    // The dry pass decodes the same 128 ops without the 128 mmap and munmap calls and
    // the 192 page faults, so it takes a small part of the timed loop.
    assert!(
        written.loop_cpu_ns > 0 && written.loop_cpu_ns * 4 < written.cpu_ns,
        "{written:?}"
    );
    assert_eq!(written.calls_cpu_ns(), written.cpu_ns - written.loop_cpu_ns);
    assert!(
        (192..192 + 16).contains(&written.minor_faults),
        "64 blocks of 3 written pages: {written:?}"
    );
    w.touch = TouchPolicy::None;
    let untouched = bench_real(exe(), &w, &options).unwrap();
    assert!(untouched.minor_faults < 16, "{untouched:?}");
    if glibc_236() {
        assert_eq!(written.glibc_version, "2.36");
    }
    // glibc: the same stream through malloc and free.
    let glibc = bench_real(exe(), &w, &opts(Strategy::Glibc)).unwrap();
    assert!(glibc.cpu_ns > 0, "{glibc:?}");
}

#[test]
fn over_cap_replays_are_refused_before_the_child_starts() {
    let ops = [Op::Malloc {
        id: 0,
        size: 3 << 20,
    }];
    let options = ReplayOptions {
        strategy: Strategy::Mmap,
        cap: Some(2 << 20),
        ..ReplayOptions::default()
    };
    match replay_real_ops(exe(), &ops, TouchPolicy::WriteAll, &options) {
        Err(ReplayError::OverCap { peak, cap }) => {
            assert_eq!((peak, cap), (3 << 20, 2 << 20));
        }
        Err(ReplayError::Unavailable(_)) => assert!(unavailable_here()),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let message = ReplayError::OverCap {
        peak: 3 << 20,
        cap: 2 << 20,
    }
    .to_string();
    assert!(
        message.contains("3.0 MiB") && message.contains("cap of 2.0 MiB"),
        "{message}"
    );
}

/// The live bytes fit the cap, but the heap glibc grows around them would not: the child
/// stops before the op that would cross it and says so.
#[test]
fn the_child_stops_at_the_cap_in_flight() {
    // Five 100 KiB blocks: 500 KiB live, under the 700 KiB cap. glibc grows the heap by
    // the request plus 128 KiB of top pad, so before the fifth malloc it holds 532 KiB
    // and that malloc could take it to 764 KiB.
    let ops: Vec<Op> = (0..5)
        .map(|id| Op::Malloc {
            id,
            size: 100 * 1024,
        })
        .collect();
    let options = ReplayOptions {
        cap: Some(700 * 1024),
        ..ReplayOptions::default()
    };
    match replay_real_ops(exe(), &ops, TouchPolicy::WriteAll, &options) {
        Err(ReplayError::Child {
            code: Some(11),
            message,
            ..
        }) => {
            assert!(message.contains("memory cap"), "{message}");
            assert!(message.starts_with("replay child: op 4: "), "{message}");
        }
        Err(ReplayError::Unavailable(_)) => assert!(unavailable_here()),
        other => panic!("expected the child to stop at the cap, got {other:?}"),
    }
}

#[test]
fn invalid_streams_are_refused_with_the_op_index() {
    let ops = [
        Op::Malloc { id: 3, size: 8 },
        Op::Free { id: 3 },
        Op::Free { id: 3 },
    ];
    let err = replay_real_ops(
        exe(),
        &ops,
        TouchPolicy::WriteAll,
        &ReplayOptions::default(),
    )
    .unwrap_err();
    match err {
        ReplayError::InvalidOp { index, reason } => {
            assert_eq!(index, 2);
            assert!(reason.contains("not live"), "{reason}");
        }
        ReplayError::Unavailable(_) => assert!(unavailable_here()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_program_without_the_entry_point_is_reported_plainly() {
    let not_a_host = Path::new("/bin/true");
    if unavailable_here() || !not_a_host.exists() {
        eprintln!("skipped: needs Linux with glibc and /bin/true");
        return;
    }
    let workload = Workload {
        name: "one".into(),
        seed: None,
        touch: TouchPolicy::WriteAll,
        ops: vec![Op::Malloc { id: 0, size: 1 }],
        lifetimes: Default::default(),
        calls: Default::default(),
    };
    let err = replay_real(not_a_host, &workload, &ReplayOptions::default()).unwrap_err();
    assert!(err.to_string().contains("entry_point"), "{err}");
}

#[test]
fn crash_experiments_show_what_the_mmu_refuses() {
    let reports = match segv_experiments(exe()) {
        Err(ReplayError::Unavailable(_)) => {
            assert!(unavailable_here());
            return;
        }
        other => other.unwrap(),
    };
    assert_eq!(reports.len(), CrashExperiment::ALL.len());
    for r in &reports {
        assert!(r.as_expected(), "{r:?}");
        if let CrashOutcome::Signal(_) = r.observed {
            assert_eq!(r.address_matches, Some(true), "{r:?}");
        }
    }
    let why = |e: CrashExperiment| {
        reports
            .iter()
            .find(|r| r.experiment == e)
            .unwrap()
            .si_code_name()
    };
    assert_eq!(why(CrashExperiment::PastEnd), Some("SEGV_MAPERR"));
    assert_eq!(why(CrashExperiment::AfterMunmap), Some("SEGV_MAPERR"));
    assert_eq!(why(CrashExperiment::GuardPage), Some("SEGV_ACCERR"));
    assert_eq!(why(CrashExperiment::ReadOnly), Some("SEGV_ACCERR"));
    assert_eq!(why(CrashExperiment::PastFileEnd), Some("BUS_ADRERR"));
    assert_eq!(why(CrashExperiment::InsidePageSlack), None);
}

#[test]
fn the_host_binary_run_by_hand_explains_itself() {
    let out = std::process::Command::new(exe()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hosts real replay children"), "{stderr}");
}

/// A workload from native trace text.
fn native(body: &str) -> Workload {
    workload::parse_native(&format!("# brkmap trace v1\n{body}"), "calls.trace").unwrap()
}

#[test]
fn calloc_and_aligned_blocks_are_made_with_the_real_calls() {
    if unavailable_here() || !glibc_236() {
        eprintln!("skipped: the tcache behaviour checked here is glibc 2.36's");
        return;
    }
    // A freed 24-byte block waits in the tcache: malloc takes it back, calloc does not
    // (glibc's calloc goes to the arena directly).
    let with_calloc = native("malloc 1 24\nfree 1\ncalloc 2 3 8\n");
    let plain = native("malloc 1 24\nfree 1\nmalloc 2 24\n");
    let offset = |w: &Workload| {
        let run = replay_real(exe(), w, &opts(Strategy::Glibc)).unwrap();
        (run.rows[0].region, run.rows[2].region)
    };
    let (first, again) = offset(&plain);
    assert_eq!(first, again, "malloc reuses the tcache chunk");
    let (first, again) = offset(&with_calloc);
    assert_ne!(first, again, "calloc takes another chunk");
    // The aligned functions run (glibc checks their arguments for real) and the mmap
    // strategy maps those blocks like any other.
    let aligned = native(
        "posix_memalign 1 64 100\naligned_alloc 2 4096 8192\nmemalign 3 256 1\n\
         memalign 4 8K 300K\nfree 1\nfree 2\nfree 3\nfree 4\n",
    );
    for strategy in [Strategy::Glibc, Strategy::Mmap] {
        let run = replay_real(exe(), &aligned, &opts(strategy)).unwrap();
        assert_eq!(run.rows.len(), 8, "{strategy}");
        assert_eq!(
            run.rows[3].region,
            Region::Mmap,
            "{strategy}: 300 KiB is mapped"
        );
    }
}

#[test]
fn a_call_that_cannot_have_made_the_block_is_refused_before_running() {
    let mut w = native("calloc 1 3 8\n");
    w.ops[0] = Op::Malloc { id: 1, size: 25 };
    let err = replay_real(exe(), &w, &opts(Strategy::Glibc)).unwrap_err();
    match err {
        ReplayError::InvalidOp { index: 0, reason } => {
            assert!(
                reason.contains("does not ask for the block's 25 bytes"),
                "{reason}"
            )
        }
        ReplayError::Unavailable(_) => assert!(unavailable_here()),
        other => panic!("{other}"),
    }
}

/// A benchmark with a sample interval reads the CPU clock exactly where the replay of
/// the same ops samples (every interval, at each phase marker, at the end), so `sim
/// validate` can draw the real time line from a run that observes nothing else.
#[test]
fn bench_checkpoints_fall_where_the_replay_samples() {
    let mut w = Workload::new("checkpoints");
    for id in 0..25 {
        w.ops.push(Op::Malloc { id, size: 100 });
        if id == 12 {
            w.ops.push(Op::Phase {
                name: "half".into(),
            });
        }
    }
    let options = ReplayOptions {
        sample_interval: 10,
        ..opts(Strategy::Glibc)
    };
    let bench = match bench_real(exe(), &w, &options) {
        Err(ReplayError::Unavailable(_)) => return assert!(unavailable_here()),
        other => other.unwrap(),
    };
    let run = replay_real(exe(), &w, &options).unwrap();
    let sampled: Vec<u64> = run.timeline.samples.iter().map(|s| s.op).collect();
    let checked: Vec<u64> = bench.checkpoints.iter().map(|&(op, _)| op).collect();
    assert_eq!(checked, sampled);
    assert_eq!(checked, [10, 14, 20, 26]);
    assert!(bench.checkpoints.windows(2).all(|p| p[0].1 <= p[1].1));
    assert_eq!(bench.checkpoints.last().map(|c| c.1), Some(bench.cpu_ns));
    // Without an interval: no clock read but the loop's own.
    let plain = bench_real(
        exe(),
        &w,
        &ReplayOptions {
            sample_interval: 0,
            ..options
        },
    )
    .unwrap();
    assert!(plain.checkpoints.is_empty());
}
