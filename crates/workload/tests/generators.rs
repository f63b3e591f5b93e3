//! The generators' promises: exact call counts, valid streams, determinism, shapes.

use std::collections::BTreeSet;
use workload::{
    ChurnParams, GENERATORS, GenError, GeneratorParams, LargeParams, LifetimesParams, MAX_OPS, Op,
    RampParams, SizeDist, SwissCheeseParams, TouchPolicy, Workload, generate, stats, validate,
};

fn phases(w: &Workload) -> Vec<&str> {
    w.ops
        .iter()
        .filter_map(|op| match op {
            Op::Phase { name } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// The ops between phase marker `name` and the next marker.
fn phase_ops<'a>(w: &'a Workload, name: &str) -> Vec<&'a Op> {
    let start = w
        .ops
        .iter()
        .position(|op| matches!(op, Op::Phase { name: n } if n == name))
        .unwrap_or_else(|| panic!("no phase {name}"));
    w.ops[start + 1..]
        .iter()
        .take_while(|op| !matches!(op, Op::Phase { .. }))
        .collect()
}

#[test]
fn every_generator_makes_exactly_its_default_ops_and_a_valid_balanced_stream() {
    for g in GENERATORS {
        let w = generate(g.name, 1, None).unwrap();
        assert_eq!(w.name, g.name);
        assert_eq!(w.seed, Some(1));
        assert_eq!(w.allocator_calls(), g.default_ops, "{}", g.name);
        let s = stats(&w).unwrap_or_else(|e| panic!("{}: {e}", g.name));
        assert_eq!(
            s.live_at_end, 0,
            "{}: every block is freed by the end",
            g.name
        );
        assert!(s.phases >= 2, "{}: has phase markers", g.name);
        assert!(!phases(&w).is_empty());
        // Ids are fresh: never reused.
        assert_eq!(s.distinct_ids, s.mallocs, "{}", g.name);
    }
}

#[test]
fn small_and_odd_op_counts_are_exact_and_valid() {
    let mut counts: Vec<u64> = (0..=40).collect();
    counts.extend([97, 101, 1_000, 1_001, 4_999]);
    for g in GENERATORS {
        for seed in 0..3 {
            for &ops in &counts {
                match generate(g.name, seed, Some(ops)) {
                    Ok(w) => {
                        assert_eq!(w.allocator_calls(), ops, "{} ops={ops} seed={seed}", g.name);
                        let s = stats(&w)
                            .unwrap_or_else(|e| panic!("{} ops={ops} seed={seed}: {e}", g.name));
                        // Only a stream too short to free its last block leaves one live.
                        assert!(s.live_at_end <= 1, "{} ops={ops}", g.name);
                        if ops >= 100 {
                            assert_eq!(s.live_at_end, 0, "{} ops={ops}", g.name);
                        }
                    }
                    Err(GenError::TooFewOps { min, .. }) => {
                        assert!(ops < min && min <= 4, "{} ops={ops} min={min}", g.name)
                    }
                    Err(e) => panic!("{} ops={ops}: {e}", g.name),
                }
            }
        }
    }
}

#[test]
fn same_seed_same_ops_and_other_seeds_differ() {
    for g in GENERATORS {
        let a = generate(g.name, 42, Some(3_000)).unwrap();
        let b = generate(g.name, 42, Some(3_000)).unwrap();
        let c = generate(g.name, 43, Some(3_000)).unwrap();
        assert_eq!(a, b, "{}", g.name);
        assert_ne!(a.ops, c.ops, "{}", g.name);
    }
}

#[test]
fn the_list_matches_the_params_and_is_complete() {
    let names: Vec<&str> = GENERATORS.iter().map(|g| g.name).collect();
    assert_eq!(
        names,
        [
            "churn",
            "ramp",
            "sawtooth",
            "swiss-cheese",
            "large",
            "realloc-growth",
            "lifetimes"
        ]
    );
    for g in GENERATORS {
        let p = GeneratorParams::defaults(g.name).unwrap();
        assert_eq!(p.name(), g.name);
        assert_eq!(p.ops(), g.default_ops);
        assert!(!g.summary.is_empty() && !g.summary.contains('\n'));
        assert!(g.claims.iter().all(|c| (1..=12).contains(c)));
        assert_eq!(workload::generator_info(g.name), Some(g));
    }
}

#[test]
fn errors_say_what_is_wrong() {
    let e = generate("chrun", 1, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown generator `chrun`; known generators: churn, ramp, sawtooth, swiss-cheese, \
         large, realloc-growth, lifetimes"
    );
    assert_eq!(
        generate("ramp", 1, Some(3)).unwrap_err().to_string(),
        "ramp: 3 ops is too few; it needs at least 4"
    );
    assert_eq!(
        generate("churn", 1, Some(MAX_OPS + 1))
            .unwrap_err()
            .to_string(),
        "churn: 10000001 ops is too many; generators stop at 10000000"
    );
    let p = ChurnParams {
        sizes: SizeDist::log_uniform(10, 5),
        ..ChurnParams::default()
    };
    assert_eq!(
        p.generate(1).unwrap_err().to_string(),
        "churn: parameter `sizes`: range 10..=5 must have 1 <= min <= max <= 2^48"
    );
    let p = LifetimesParams {
        short_permille: 800,
        request_permille: 300,
        ..LifetimesParams::default()
    };
    assert!(matches!(
        p.generate(1),
        Err(GenError::BadParam {
            param: "request_permille",
            ..
        })
    ));
}

#[test]
fn params_deserialize_with_defaults_and_reject_unknown_fields() {
    let p: GeneratorParams =
        serde_json::from_str(r#"{"generator": "churn", "ops": 1000, "live_blocks": 50}"#).unwrap();
    let expected = ChurnParams {
        ops: 1000,
        live_blocks: 50,
        ..ChurnParams::default()
    };
    assert_eq!(p, GeneratorParams::Churn(expected));
    let p: GeneratorParams = serde_json::from_str(
        r#"{"generator": "swiss-cheese", "sizes": [{"weight": 1, "min": 8192, "max": 65536}]}"#,
    )
    .unwrap();
    assert_eq!(p.generate(3).unwrap().allocator_calls(), 20_000);
    assert!(
        serde_json::from_str::<GeneratorParams>(r#"{"generator": "ramp", "pins": false}"#).is_err()
    );
    // Serialization round-trips.
    let p = GeneratorParams::defaults("realloc-growth").unwrap();
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<GeneratorParams>(&json).unwrap(), p);
}

#[test]
fn churn_default_is_a_few_mib_and_hovers_around_its_live_target() {
    let w = generate("churn", 1, None).unwrap();
    let s = stats(&w).unwrap();
    assert!(
        (1 << 20..8 << 20).contains(&s.peak_live_bytes),
        "peak live {}",
        s.peak_live_bytes
    );
    assert!(
        (3_900..4_600).contains(&s.peak_live_blocks),
        "{}",
        s.peak_live_blocks
    );
    assert_eq!(phases(&w), ["warm-up", "steady", "drain"]);
    assert!(s.reallocs > 500, "some strings grow: {}", s.reallocs);
    assert_eq!(w.touch, TouchPolicy::WriteAll);
    // No request reaches the mmap threshold: this is a small-object workload.
    assert!(s.max_request < 128 << 10);
}

#[test]
fn default_sizes_are_mostly_small_with_a_long_tail() {
    let w = generate("churn", 5, Some(200_000)).unwrap();
    let sizes: Vec<u64> = w
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::Malloc { size, .. } => Some(*size),
            _ => None,
        })
        .collect();
    let n = sizes.len() as u64;
    let count = |lo: u64, hi: u64| sizes.iter().filter(|&&s| lo <= s && s <= hi).count() as u64;
    // 93 % by construction, allow sampling noise.
    let small = count(16, 512) * 1000 / n;
    assert!(
        (915..=945).contains(&small),
        "{small} per mille in 16..=512"
    );
    let tail = count(4097, 65536) * 1000 / n;
    assert!((12..=28).contains(&tail), "{tail} per mille above 4 KiB");
    assert!(sizes.iter().all(|&s| (16..=65536).contains(&s)));
    // Log-uniform inside a range: 33..=64 and 65..=128 are about equally likely.
    let (a, b) = (count(33, 64), count(65, 128));
    assert!(a * 10 > b * 8 && b * 10 > a * 8, "{a} vs {b}");
}

#[test]
fn ramp_pins_the_top_then_frees_it_last() {
    let w = generate("ramp", 2, None).unwrap();
    assert_eq!(phases(&w), ["grow", "pin", "shrink", "trim", "unpin"]);
    let grown: Vec<&Op> = phase_ops(&w, "grow");
    let max_grown = grown.iter().filter_map(|op| op.id()).max().unwrap();
    let pin = phase_ops(&w, "pin");
    assert_eq!(pin.len(), 1);
    let pin_id = pin[0].id().unwrap();
    assert!(
        pin_id > max_grown,
        "the pin is allocated after every grown block"
    );
    assert!(matches!(pin[0], Op::Malloc { size: 32, .. }));
    assert_eq!(phase_ops(&w, "trim"), [&Op::Trim { pad: 0 }]);
    assert_eq!(phase_ops(&w, "unpin"), [&Op::Free { id: pin_id }]);
    let shrink = phase_ops(&w, "shrink");
    assert_eq!(shrink.len(), 9_999);
    assert!(shrink.iter().all(|op| matches!(op, Op::Free { .. })));

    let unpinned = RampParams {
        pin: false,
        ..RampParams::default()
    }
    .generate(2)
    .unwrap();
    assert_eq!(phases(&unpinned), ["grow", "shrink", "trim"]);
    assert_eq!(unpinned.allocator_calls(), 20_000);
}

#[test]
fn swiss_cheese_keeps_every_other_block_and_asks_for_bigger_ones() {
    let w = generate("swiss-cheese", 3, None).unwrap();
    assert_eq!(
        phases(&w),
        ["fill", "free-every-other", "trim", "big-requests", "drain"]
    );
    let fill: Vec<u64> = phase_ops(&w, "fill")
        .iter()
        .filter_map(|op| op.id())
        .collect();
    let freed: BTreeSet<u64> = phase_ops(&w, "free-every-other")
        .iter()
        .filter_map(|op| op.id())
        .collect();
    assert_eq!(freed.len(), fill.len() / 2);
    // Alternating: of each pair of neighbours exactly one is freed, and the top one stays.
    for pair in fill.chunks(2) {
        assert_eq!(pair.iter().filter(|id| freed.contains(id)).count(), 1);
    }
    assert!(!freed.contains(fill.last().unwrap()));
    let max_fill = phase_ops(&w, "fill")
        .iter()
        .filter_map(|op| match op {
            Op::Malloc { size, .. } => Some(*size),
            _ => None,
        })
        .max()
        .unwrap();
    let big = phase_ops(&w, "big-requests");
    assert!(big.len() > 1_000);
    assert!(
        big.iter()
            .all(|op| matches!(op, Op::Malloc { size, .. } if *size > max_fill))
    );
    let p = SwissCheeseParams {
        keep_every: 1,
        ..SwissCheeseParams::default()
    };
    assert!(p.generate(1).is_err());
}

#[test]
fn large_straddles_the_mmap_threshold() {
    let w = generate("large", 4, None).unwrap();
    let sizes: Vec<u64> = w
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::Malloc { size, .. } => Some(*size),
            _ => None,
        })
        .collect();
    let below = sizes
        .iter()
        .filter(|&&s| (64 << 10..128 << 10).contains(&s))
        .count();
    let above = sizes.iter().filter(|&&s| s >= 128 << 10).count();
    assert!(
        below >= 5 && above >= 30,
        "{below} below, {above} above 128 KiB"
    );
    assert!(sizes.iter().all(|&s| s <= 4 << 20));
}

#[test]
fn large_can_touch_only_part_of_each_block() {
    let p = LargeParams {
        touch_percent: 25,
        ..LargeParams::default()
    };
    let w = p.generate(1).unwrap();
    assert_eq!(w.touch, TouchPolicy::None);
    validate(&w).unwrap();
    let mut touches = 0;
    for pair in w.ops.windows(2) {
        if let (Op::Malloc { id, size }, next) = (&pair[0], &pair[1]) {
            let len = size * 25 / 100;
            if len > 0 {
                assert_eq!(
                    next,
                    &Op::Touch {
                        id: *id,
                        offset: 0,
                        len: size * 25 / 100,
                        write: true
                    }
                );
                touches += 1;
            }
        }
    }
    assert_eq!(touches, stats(&w).unwrap().touches);
    assert_eq!(w.allocator_calls(), LargeParams::DEFAULT_OPS);
}

#[test]
fn realloc_growth_grows_buffers_by_its_factor() {
    let w = generate("realloc-growth", 6, None).unwrap();
    let s = stats(&w).unwrap();
    assert!(s.reallocs > s.mallocs, "{s:?}");
    assert_eq!(s.max_request, 1 << 20);
    // Doubling: a realloc of a buffer goes to twice its size (up to 1 MiB).
    let mut sizes = std::collections::HashMap::new();
    let mut doubled = 0;
    for op in &w.ops {
        match *op {
            Op::Malloc { id, size } => {
                sizes.insert(id, size);
            }
            Op::Realloc { id, size } => {
                let old = sizes.insert(id, size).unwrap();
                if size == (old * 2).min(1 << 20) {
                    doubled += 1;
                }
            }
            _ => {}
        }
    }
    assert!(
        doubled * 10 >= s.reallocs * 9,
        "{doubled} of {}",
        s.reallocs
    );
}

#[test]
fn lifetimes_hints_cover_every_block_and_match_behaviour() {
    let w = generate("lifetimes", 7, None).unwrap();
    let s = stats(&w).unwrap();
    assert_eq!(w.lifetimes.len() as u64, s.mallocs);
    let classes: BTreeSet<u8> = w.lifetimes.values().copied().collect();
    assert_eq!(
        classes,
        [
            workload::lifetime::SHORT,
            workload::lifetime::REQUEST,
            workload::lifetime::LONG
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(phases(&w).len(), 21);
    assert_eq!(phases(&w).last(), Some(&"shutdown"));
    // Long-lived blocks are freed only at shutdown; the others within their request.
    let shutdown: BTreeSet<u64> = phase_ops(&w, "shutdown")
        .iter()
        .filter_map(|op| op.id())
        .collect();
    for (id, class) in &w.lifetimes {
        assert_eq!(
            shutdown.contains(id),
            *class == workload::lifetime::LONG,
            "id {id} class {class}"
        );
    }
    for ops in [2, 3, 5, 7, 41, 43] {
        let p = LifetimesParams {
            ops,
            requests: 1,
            ..LifetimesParams::default()
        };
        let w = p.generate(9).unwrap();
        assert_eq!(w.lifetimes.len() as u64, stats(&w).unwrap().mallocs);
    }
}
