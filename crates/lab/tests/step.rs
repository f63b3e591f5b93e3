//! The classroom step-through: every registered allocator over every generator, with
//! output that fits an 80-column terminal, and a `peak` that stops where the engine's
//! own run finds the peak footprint.

use engine::RunConfig;
use kernel::KernelConfig;
use lab::quiz::WIDTH;
use lab::quiz::step::{Command, Session, parse_command};
use lab::registry;

fn fits(out: &str, what: &str) {
    for line in out.lines() {
        assert!(
            line.chars().count() <= WIDTH,
            "{what}: {} columns: {line:?}",
            line.chars().count()
        );
    }
}

#[test]
fn every_allocator_over_every_generator_fits_80_columns_and_peaks_where_the_engine_does() {
    for g in workload::GENERATORS {
        let w = workload::generate(g.name, 2, Some(300)).unwrap();
        for e in registry::entries() {
            let what = format!("{} on {}", e.name, g.name);
            let summary = engine::run(
                &w,
                registry::build(e.name, &[]).unwrap(),
                &RunConfig::default(),
            )
            .unwrap()
            .summary;
            let mut s = Session::new(w.clone(), e.name, &[], KernelConfig::default()).unwrap();
            assert_eq!(s.peak().1, summary.peak_footprint, "{what}");
            let mut out = s.intro();
            for cmd in ["", "n 3", "peak", "until 250", "n 1000", "n"] {
                out.push_str(&s.run(parse_command(cmd).unwrap()));
            }
            fits(&out, &what);
            assert!(s.done(), "{what}: ran to the end");
            assert!(out.contains("end of the workload"), "{what}");
            // The peak command stopped at the op the engine's run peaks at.
            let mut s = Session::new(w.clone(), e.name, &[], KernelConfig::default()).unwrap();
            if s.peak().0 > 0 {
                let out = s.run(Command::Peak);
                assert_eq!(s.position(), s.peak().0, "{what}");
                assert!(
                    out.contains(&format!("footprint {}", units::bytes(s.peak().1))),
                    "{what}: {out}"
                );
            }
        }
    }
}

#[test]
fn a_session_is_deterministic_and_bad_names_are_errors() {
    let w = workload::generate("ramp", 1, Some(200)).unwrap();
    let run = || {
        let mut s = Session::new(w.clone(), "best-fit", &[], KernelConfig::default()).unwrap();
        let mut out = s.intro();
        out.push_str(&s.run(Command::Next(7)));
        out.push_str(&s.run(Command::Until(150)));
        out
    };
    assert_eq!(run(), run());
    assert!(Session::new(w.clone(), "nope", &[], KernelConfig::default()).is_err());
    let bad = vec![("mmap_threshold".to_string(), "lots".to_string())];
    assert!(Session::new(w, "glibc", &bad, KernelConfig::default()).is_err());
}
