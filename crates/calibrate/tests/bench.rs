//! The cost microbenchmarks, run at smoke effort (five short samples each, well under
//! a second in all). These tests check that every benchmark runs and yields sane
//! numbers, and that the cost model built from them is complete and loads back; they
//! assert no speed, only what physics guarantees on any machine.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    use std::sync::OnceLock;

    use calibrate::bench::{
        BenchError, BenchOptions, Calibration, Effort, MAX_SIZE, calibrate, cost_by_size, keys,
        machine,
    };
    use kernel::CostModel;

    /// One smoke calibration shared by the tests that only read it.
    fn smoke() -> &'static Calibration {
        static CAL: OnceLock<Calibration> = OnceLock::new();
        CAL.get_or_init(|| {
            calibrate(&BenchOptions::smoke(), None, &mut |_, _, _| {})
                .unwrap_or_else(|e| panic!("smoke calibration failed: {e}"))
        })
    }

    /// Measurements that are differences of two others and may be near zero or even
    /// slightly negative on a noisy machine.
    const DIFFERENCES: &[&str] = &[keys::PAGE_TABLE_PAGE, keys::TLB_MISS];

    #[test]
    fn every_benchmark_yields_a_sane_measurement() {
        let cal = smoke();
        let mut expected = vec![
            keys::TIMER_READ,
            keys::NULL_SYSCALL,
            keys::BRK_PAIR_UNTOUCHED,
            keys::BRK_PAIR_TOUCHED,
            keys::MMAP_CALL,
            keys::MUNMAP_CALL,
            keys::MMAP_CALL_ISOLATED,
            keys::MUNMAP_CALL_ISOLATED,
            keys::MPROTECT_CALL,
            keys::MREMAP_CALL,
            keys::STEADY_MMAP,
            keys::STEADY_MUNMAP,
            keys::STEADY_TOUCHED_MMAP,
            keys::STEADY_TOUCHED_WRITE,
            keys::STEADY_TOUCHED_MUNMAP,
            keys::STEADY_TOUCHED_CYCLE,
            keys::FAULT_WRITE,
            keys::FAULT_WRITE_LARGE,
            keys::FAULT_READ,
            keys::FAULT_AFTER_MPROTECT,
            keys::FAULT_AFTER_INVALIDATION,
            keys::POPULATE_PAGE,
            keys::DONTNEED_PAGE,
            keys::ZERO_PAGE,
            keys::FAULT_FIRST_IN_TABLE,
            keys::FAULT_NEXT_TO_RESIDENT,
            keys::PAGE_TABLE_PAGE,
            keys::CHASE_ONE_PAGE,
            keys::CHASE_DENSE,
            keys::CHASE_SPARSE,
            keys::TLB_MISS,
            keys::LOOP_OVERHEAD,
            keys::MALLOC_FREE_TCACHE,
            keys::MALLOC_FREE_BATCH,
            keys::MALLOC_FREE_STEADY,
            keys::MALLOC_FREE_ARENA,
            keys::MALLOC_FREE_ARENA_ONE,
            keys::STEADY_WRITTEN,
            keys::STEADY_LARGE,
            keys::STEADY_LARGE_WRITTEN,
            keys::PIPE_SAME_PROCESS,
            keys::PIPE_HOP_PROCESSES,
            keys::PIPE_HOP_THREADS,
            keys::SCHED_YIELD,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        for size in [4 << 10, 1 << 20] {
            expected.push(keys::mmap_munmap_untouched(size));
            expected.push(keys::mmap_munmap_touched(size));
        }
        for key in &expected {
            let m = cal
                .get(key)
                .unwrap_or_else(|| panic!("no measurement '{key}'"));
            let s = &m.spread;
            assert!(m.median_ns.is_finite(), "{key}: {}", m.median_ns);
            assert!(
                s.min <= s.p25 && s.p25 <= m.median_ns && m.median_ns <= s.p75 && s.p75 <= s.max,
                "{key}: spread out of order: {s:?} around {}",
                m.median_ns
            );
            assert!(s.mad >= 0.0, "{key}");
            assert_eq!(m.reps, 5, "{key}: smoke effort takes 5 samples");
            assert!(m.inner >= 1, "{key}");
            assert!(
                !m.method.is_empty() && !m.label.is_empty() && !m.unit.is_empty(),
                "{key}"
            );
            if !DIFFERENCES.contains(&key.as_str()) {
                assert!(m.median_ns > 0.0, "{key}: {} ns", m.median_ns);
            }
        }
        // Keys are unique.
        let mut keys_seen: Vec<&str> = cal.measurements.iter().map(|m| m.key.as_str()).collect();
        keys_seen.sort_unstable();
        keys_seen.dedup();
        assert_eq!(keys_seen.len(), cal.measurements.len());
    }

    #[test]
    fn a_null_syscall_costs_tens_to_thousands_of_nanoseconds() {
        let m = smoke().get(keys::NULL_SYSCALL).unwrap();
        assert!(
            (20.0..20_000.0).contains(&m.median_ns),
            "{} ns",
            m.median_ns
        );
        assert_eq!(m.reference_ns, Some(120.0));
        assert!(m.ratio_to_reference().is_some());
    }

    #[test]
    fn touching_every_page_of_a_mapping_costs_more_than_not_touching_it() {
        // 256 page faults (each allocating, zeroing and later freeing a frame) cannot
        // cost less than none.
        let cal = smoke();
        let untouched = cal
            .get(&keys::mmap_munmap_untouched(1 << 20))
            .unwrap()
            .median_ns;
        let touched = cal
            .get(&keys::mmap_munmap_touched(1 << 20))
            .unwrap()
            .median_ns;
        assert!(
            touched > untouched,
            "touched {touched} ns, untouched {untouched} ns"
        );
    }

    #[test]
    fn in_the_steady_state_a_written_block_costs_more_to_unmap_than_an_untouched_one() {
        // Unmapping a resident page frees its frame and invalidates its TLB entry on
        // top of the VMA work that an untouched page needs.
        let cal = smoke();
        let get = |k: &str| cal.get(k).unwrap().median_ns;
        let (untouched, touched) = (get(keys::STEADY_MUNMAP), get(keys::STEADY_TOUCHED_MUNMAP));
        assert!(
            touched > untouched,
            "touched {touched} ns, untouched {untouched} ns"
        );
        // The cycle is mmap + first write + munmap: more than its unmap alone.
        let cycle = cal.get(keys::STEADY_TOUCHED_CYCLE).unwrap();
        assert!(
            cycle.median_ns > touched,
            "{} vs {touched}",
            cycle.median_ns
        );
        // The model's one-page block of a steady state (its fault follows an unmap)
        // costs exactly the measured cycle: the mapping fields are derived from it.
        let c = &cal.cost;
        let block = 2.0 * c.mode_switch_ns
            + c.mmap_ns
            + c.munmap_ns
            + c.fault_ns
            + c.zero_page_ns
            + c.fault_after_unmap_ns
            + c.free_page_ns
            + c.unmap_teardown_ns;
        // (Unless noise drove one of them below zero and it was clamped.)
        let parts = [
            "mmap_ns",
            "munmap_ns",
            "fault_ns",
            "zero_page_ns",
            "fault_after_unmap_ns",
            "free_page_ns",
            "unmap_teardown_ns",
        ];
        if !cal
            .notes
            .iter()
            .any(|n| parts.iter().any(|p| n.starts_with(p)))
        {
            assert!(
                (block - cycle.median_ns).abs() < 0.1,
                "{block} vs {}",
                cycle.median_ns
            );
        }
    }

    #[test]
    fn the_cost_model_is_complete_and_round_trips_through_json() {
        let cal = smoke();
        let json = cal.cost.to_json();
        let back = CostModel::from_json(&json).unwrap();
        assert_eq!(back, cal.cost);
        // Every field is a usable cost, and each was derived (none left at a default
        // silently): the derivation list names all of them with the stored value.
        let fields = serde_json::to_value(&cal.cost).unwrap();
        let fields = fields.as_object().unwrap();
        assert_eq!(cal.derivations.len(), fields.len());
        for d in &cal.derivations {
            let v = fields[&d.field].as_f64().unwrap();
            assert_eq!(v, d.value, "{}", d.field);
            assert!(v.is_finite() && v >= 0.0, "{} = {v}", d.field);
            assert!(d.formula.contains('='), "{}: {}", d.field, d.formula);
        }
        // The mode switch is the null syscall itself, rounded to the hundredth of a ns:
        // at most half a hundredth away (and a hair more where the median sits on the
        // half and binary fractions round it up, as 171.045 did).
        let null = cal.get(keys::NULL_SYSCALL).unwrap().median_ns;
        assert!(
            (cal.cost.mode_switch_ns - null).abs() <= 0.005 + 1e-9,
            "{null}"
        );
    }

    #[test]
    fn the_whole_calibration_round_trips_through_json() {
        let cal = smoke();
        let back = Calibration::from_json(&cal.to_json()).unwrap();
        assert_eq!(&back, cal);
        assert_eq!(back.effort, Effort::Smoke);
    }

    #[test]
    fn progress_reports_each_group_in_order_then_done() {
        let mut calls: Vec<(usize, usize, String)> = Vec::new();
        let cal = calibrate(&BenchOptions::smoke(), None, &mut |done, total, name| {
            calls.push((done, total, name.to_string()))
        })
        .unwrap();
        let total = calls[0].1;
        assert!(total >= 10, "{total} groups");
        assert_eq!(calls.len(), total + 1);
        for (i, (done, t, name)) in calls.iter().enumerate() {
            assert_eq!((*done, *t), (i, total));
            assert!(!name.is_empty());
        }
        assert_eq!(calls[total].2, "done");
        assert!(!cal.machine.summary().is_empty());
    }

    #[test]
    fn an_explicit_cpu_is_used_and_one_outside_the_mask_is_refused() {
        let cpu = smoke().cpu;
        let opts = BenchOptions {
            effort: Effort::Smoke,
            cpu: Some(cpu),
        };
        assert_eq!(calibrate(&opts, None, &mut |_, _, _| {}).unwrap().cpu, cpu);

        let opts = BenchOptions {
            effort: Effort::Smoke,
            cpu: Some(1 << 20),
        };
        match calibrate(&opts, None, &mut |_, _, _| {}) {
            Err(BenchError::BadCpu { cpu, allowed }) => {
                assert_eq!(cpu, 1 << 20);
                assert!(allowed.contains(&smoke().cpu));
            }
            other => panic!("expected BadCpu, got {other:?}"),
        }
    }

    #[test]
    fn cost_by_size_measures_each_size_both_ways() {
        let sizes = [64, 4096, 1 << 20];
        let mut steps = 0;
        let rows = cost_by_size(&BenchOptions::smoke(), &sizes, &mut |_, _, _| steps += 1).unwrap();
        assert_eq!(steps, sizes.len() + 1);
        assert_eq!(rows.iter().map(|r| r.size).collect::<Vec<_>>(), sizes);
        for r in &rows {
            for v in [r.malloc_free_ns, r.mmap_munmap_ns] {
                assert!(v.is_finite() && v > 0.0, "{r:?}");
            }
        }
        // Mapping and writing 256 pages faults 256 times; one page faults once.
        assert!(rows[2].mmap_munmap_ns > rows[1].mmap_munmap_ns, "{rows:?}");
    }

    #[test]
    fn cost_by_size_rejects_sizes_out_of_range() {
        for bad in [0, MAX_SIZE + 1] {
            let err = cost_by_size(&BenchOptions::smoke(), &[64, bad], &mut |_, _, _| {});
            assert!(
                matches!(err, Err(BenchError::InvalidInput(_))),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn the_machine_is_described() {
        let m = machine().unwrap();
        assert_eq!(m, smoke().machine);
        assert!(m.summary().contains(&m.glibc));
        assert!(m.cpus >= 1 && m.page_size >= 4096);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
#[test]
fn elsewhere_the_benchmarks_say_they_are_unavailable() {
    use calibrate::bench::{BenchError, BenchOptions, calibrate};
    let err = calibrate(&BenchOptions::smoke(), None, &mut |_, _, _| {}).unwrap_err();
    assert!(matches!(err, BenchError::Unavailable(_)), "{err}");
}
