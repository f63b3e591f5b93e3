//! The quizzes over 200 seeds each: they fit 80 columns, they are deterministic, and
//! their answers agree with the simulator driven another way (through the engine's op
//! loop and the registry, or the kernel with another access path) than the quiz used.

use engine::{Program, Stepped};
use kernel::{Access, Fault, Kernel, KernelConfig, MapFlags, PAGE_SIZE, PageState, Prot};
use kernel::{SegvReason, Syscall, TlbConfig};
use lab::quiz::freelist::Call;
use lab::quiz::mt::Mt19937;
use lab::quiz::{self, Kind, Question, Quiz, WIDTH};
use lab::registry;
use malloc::freelist::Fit;
use workload::{Op, TouchPolicy, Workload};

const SEEDS: u64 = 200;
const KINDS: [Kind; 5] = Kind::ALL;

/// The answer named `name` of a question.
fn answer<'a>(q: &'a Question, name: &str) -> &'a str {
    q.answers()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no answer `{name}` in {:?}", q.prompt(true)))
}

fn quiz(kind: Kind, seed: u64) -> Quiz {
    quiz::generate(kind, seed).unwrap_or_else(|e| panic!("{kind} seed {seed}: {e}"))
}

#[test]
fn every_kind_fits_80_columns_and_is_deterministic_over_200_seeds() {
    for kind in KINDS {
        for seed in 0..SEEDS {
            let q = quiz(kind, seed);
            assert_eq!(q, quiz(kind, seed), "{kind} seed {seed} is deterministic");
            assert!(!q.questions.is_empty());
            for answers in [false, true] {
                let text = q.render(answers);
                for line in text.lines() {
                    assert!(
                        line.chars().count() <= WIDTH,
                        "{kind} seed {seed}: {} columns: {line:?}",
                        line.chars().count()
                    );
                }
            }
            let questions = q.render(false);
            let blanks: usize = q.questions.iter().map(|x| x.answers().len()).sum();
            assert!(questions.matches('?').count() >= blanks);
            for (i, x) in q.questions.iter().enumerate() {
                assert!(
                    !x.answers().is_empty(),
                    "{kind} {seed} question {i} asks something"
                );
                for (name, value) in x.answers() {
                    assert!(
                        !value.trim().is_empty() && value != "?",
                        "{kind} seed {seed}: answer {name} is {value:?}"
                    );
                }
                // The question text is the answer text with `?` in the blanks.
                assert_eq!(x.prompt(false).len(), x.prompt(true).len());
            }
        }
    }
}

#[test]
fn json_has_the_documented_shape() {
    for kind in KINDS {
        let q = quiz(kind, 7);
        let hidden: serde_json::Value = serde_json::from_str(&q.to_json(false)).unwrap();
        let shown: serde_json::Value = serde_json::from_str(&q.to_json(true)).unwrap();
        assert_eq!(hidden["schema"], "brkmap-quiz/1");
        assert_eq!(hidden["kind"], kind.name());
        assert_eq!(hidden["seed"], 7);
        let (hq, sq) = (
            hidden["questions"].as_array().unwrap(),
            shown["questions"].as_array().unwrap(),
        );
        assert_eq!(hq.len(), q.questions.len());
        for (i, (h, s)) in hq.iter().zip(sq).enumerate() {
            assert_eq!(h["number"], i + 1);
            assert!(h["answers"].is_null() && h["worked"].is_null());
            assert_eq!(h["prompt"], s["prompt"], "the prompt never shows answers");
            let answers = s["answers"].as_array().unwrap();
            assert_eq!(answers.len(), q.questions[i].answers().len());
            assert!(answers[0]["name"].is_string() && answers[0]["value"].is_string());
        }
    }
}

#[test]
fn kernel_answers_are_the_rows_of_the_script_the_quiz_prints() {
    use kernel::script::{Script, run_simulated};
    for seed in 0..SEEDS {
        let q = quiz(Kind::Kernel, seed);
        // The script as printed in the setup ("  12  touch a 0 4K w"), read back.
        let printed: String = q
            .setup
            .iter()
            .filter_map(|l| {
                let (n, rest) = l.trim_start().split_once("  ")?;
                n.parse::<usize>().ok().map(|_| format!("{rest}\n"))
            })
            .collect();
        assert_eq!(printed, quiz::kernel::scenario(seed), "seed {seed}");
        let script = Script::parse(&printed).unwrap();
        let rows = run_simulated(&script).unwrap();
        assert_eq!(q.questions.len(), rows.len(), "seed {seed}");
        for (x, row) in q.questions.iter().zip(&rows) {
            assert_eq!(answer(x, "result"), row.result.to_string(), "seed {seed}");
            assert_eq!(answer(x, "mappings"), row.vmas.to_string(), "seed {seed}");
            assert_eq!(answer(x, "RssAnon"), format!("{} KiB", row.anon_kb));
        }
    }
}

#[test]
fn kernel_quizzes_show_every_kind_of_result() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..SEEDS {
        for x in &quiz(Kind::Kernel, seed).questions {
            let r = answer(x, "result");
            seen.insert(r.split(['+', '-', '0']).next().unwrap_or("").to_string());
        }
    }
    for want in ["ok", "@", "brk", "segv:maperr", "segv:accerr"] {
        assert!(seen.contains(want), "{want} never happens: {seen:?}");
    }
}

/// A workload of quiz calls (blocks are not written: the allocator's own metadata
/// writes are all the kernel sees, as in the quiz).
fn workload_of(calls: &[Call]) -> Workload {
    let mut w = Workload::new("quiz");
    w.touch = TouchPolicy::None;
    for c in calls {
        w.ops.push(match *c {
            Call::Malloc { id, size } => Op::Malloc {
                id: id as u64,
                size,
            },
            Call::Free { id } => Op::Free { id: id as u64 },
        });
    }
    w
}

fn run_op(p: &mut Program, k: &mut Kernel, a: &mut dyn malloc::Allocator) -> Option<u64> {
    match p.step(k, a).unwrap() {
        Stepped::Ran { ptr, .. } => ptr,
        other => panic!("{other:?}"),
    }
}

#[test]
fn freelist_answers_agree_with_the_registry_allocator_through_the_engine() {
    for seed in 0..SEEDS {
        let sc = quiz::freelist::scenario(seed);
        let q = quiz(Kind::Freelist, seed);
        assert_eq!(q.questions.len(), sc.calls.len() + 1);
        let preset = match sc.config.fit {
            Fit::First => "first-fit",
            Fit::Next => "next-fit",
            Fit::Best => "best-fit",
            Fit::Worst => "worst-fit",
        };
        let settings: Vec<(String, String)> = sc
            .config
            .to_string()
            .split(' ')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut a = registry::build(preset, &settings).unwrap();
        let mut k = Kernel::new(KernelConfig::default());
        let base = k.program_break();
        let mut p = Program::new(workload_of(&sc.calls));
        for (i, call) in sc.calls.iter().enumerate() {
            let brk = k.program_break();
            let ptr = run_op(&mut p, &mut k, a.as_mut());
            let x = &q.questions[i];
            if let Call::Malloc { .. } = call {
                let want = (ptr.unwrap() - base).to_string();
                assert_eq!(answer(x, "returned offset"), want, "seed {seed} call {i}");
            }
            let sbrk = match k.program_break() as i64 - brk as i64 {
                0 => "none".to_string(),
                d if d > 0 => format!("+{d}"),
                d => d.to_string(),
            };
            assert_eq!(answer(x, "sbrk"), sbrk, "seed {seed} call {i}");
            // The quiz's [offset:size] list is describe()'s list, written shorter.
            let list = answer(x, "free list");
            let entries: Vec<&str> = if list == "empty" {
                Vec::new()
            } else {
                list.split(' ').collect()
            };
            let mut described = format!("Free List [ Size {} ]:", entries.len());
            for e in entries {
                let (o, s) = e.trim_matches(['[', ']']).split_once(':').unwrap();
                described.push_str(&format!(" [ addr:{o} sz:{s} ]"));
            }
            assert_eq!(a.describe().unwrap(), described, "seed {seed} call {i}");
        }
        let last = q.questions.last().unwrap();
        let s = a.stats();
        assert_eq!(answer(last, "heap size"), s.arena.to_string());
        assert_eq!(answer(last, "free bytes"), s.fordblks.to_string());
        assert_eq!(
            answer(last, "largest free block"),
            s.largest_free.to_string()
        );
    }
}

#[test]
fn paging_answers_agree_with_the_kernel() {
    use lab::quiz::paging::{Split, build, scenario};
    for seed in 0..SEEDS {
        let sc = scenario(seed);
        let q = quiz(Kind::Paging, seed);
        let k = build(&sc).unwrap();
        assert_eq!(q.questions.len(), sc.asks.len() + 1);
        for (x, &(va, access)) in q.questions.iter().zip(&sc.asks) {
            let s = Split::of(va);
            assert_eq!(answer(x, "PML4 index"), s.pml4.to_string());
            assert_eq!(answer(x, "PDPT index"), s.pdpt.to_string());
            assert_eq!(answer(x, "PD index"), s.pd.to_string());
            assert_eq!(answer(x, "PT index"), s.pt.to_string());
            assert_eq!(answer(x, "offset"), format!("{:#x}", s.offset));
            // The access itself, on a copy.
            let mut c = k.clone();
            let faults = c.counters().minor_faults;
            let got = c.touch(va, 1, access);
            let result = answer(x, "result");
            match got {
                Ok(()) if c.counters().minor_faults == faults => {
                    assert!(result.starts_with("no fault"), "seed {seed}: {result}");
                    if let PageState::Resident { frame, .. } = k.page_state(va) {
                        let pa = (frame << 12) | s.offset;
                        assert!(result.ends_with(&format!("{pa:#x}")), "{result}");
                    }
                }
                Ok(()) => assert!(result.starts_with("minor fault"), "seed {seed}: {result}"),
                Err(Fault::Segv { reason, .. }) => {
                    let code = match reason {
                        SegvReason::Unmapped => "SIGSEGV (SEGV_MAPERR)",
                        SegvReason::Protection => "SIGSEGV (SEGV_ACCERR)",
                    };
                    assert!(result.starts_with(code), "seed {seed}: {result}");
                }
                Err(e) => panic!("{e}"),
            }
            // Where the walk ends, by the kernel's own count of table pages: mapping
            // and writing the page creates exactly the tables the walk found missing.
            let mut c = k.clone();
            let before = c.mem().pt_bytes / PAGE_SIZE;
            let page = va & !(PAGE_SIZE - 1);
            c.mmap(page, PAGE_SIZE, Prot::RW, MapFlags::FIXED).unwrap();
            c.touch(page, 1, Access::Write).unwrap();
            let created = c.mem().pt_bytes / PAGE_SIZE - before;
            let walk = answer(x, "walk");
            let expected = if walk.starts_with("PML4[") {
                3
            } else if walk.starts_with("PDPT ") {
                2
            } else if walk.starts_with("PD ") {
                1
            } else {
                0
            };
            assert_eq!(created, expected, "seed {seed}: {walk}");
            assert!(walk.ends_with("is not present") || walk.starts_with("PT "));
        }
        let last = q.questions.last().unwrap();
        assert_eq!(
            answer(last, "page-table pages"),
            (k.mem().pt_bytes / PAGE_SIZE).to_string()
        );
    }
}

/// Hits of `pages` on a kernel TLB of this shape, reached another way than the quiz:
/// the pages are faulted in by writes (which fill the TLB), then the TLB is flushed by
/// a context switch to another process and back (no PCID), then each page is read.
fn hits_after_flush(entries: u64, ways: u64, pages: &[u64]) -> Vec<bool> {
    let mut k = Kernel::try_new(KernelConfig {
        tlb: TlbConfig {
            entries: entries as u32,
            ways: ways as u32,
            pcid: false,
            // One level: the quiz is about one set-associative TLB.
            l2_entries: 0,
            ..TlbConfig::default()
        },
        ..KernelConfig::default()
    })
    .unwrap();
    let n = pages.iter().max().unwrap() + 1;
    let base = 0x2000_0000_0000;
    k.mmap(base, n * PAGE_SIZE, Prot::RW, MapFlags::FIXED)
        .unwrap();
    k.touch(base, n * PAGE_SIZE, Access::Write).unwrap();
    let me = k.current();
    let other = k.spawn();
    k.switch_to(other).unwrap();
    k.switch_to(me).unwrap();
    pages
        .iter()
        .map(|&p| {
            let hits = k.counters().tlb_hits;
            k.touch(base + p * PAGE_SIZE + 100, 1, Access::Read)
                .unwrap();
            k.counters().tlb_hits > hits
        })
        .collect()
}

#[test]
fn tlb_answers_agree_with_the_kernel_tlb() {
    for seed in 0..SEEDS {
        let sc = quiz::tlb::scenario(seed);
        let q = quiz(Kind::Tlb, seed);
        let hits = hits_after_flush(sc.entries, sc.ways, &sc.pages);
        for (i, &h) in hits.iter().enumerate() {
            let got = answer(&q.questions[0], &format!("access {} result", i + 1));
            assert_eq!(
                got.trim(),
                if h { "hit" } else { "miss" },
                "seed {seed} #{i}"
            );
        }
        let n = hits.iter().filter(|&&h| h).count();
        assert_eq!(answer(&q.questions[1], "hits"), n.to_string());
        assert_eq!(
            answer(&q.questions[1], "misses"),
            (sc.pages.len() - n).to_string()
        );
        if sc.ways < sc.entries {
            let full = hits_after_flush(sc.entries, sc.entries, &sc.pages);
            let n = full.iter().filter(|&&h| h).count();
            assert_eq!(
                answer(&q.questions[2], "fully associative hits"),
                n.to_string()
            );
        } else {
            assert_eq!(q.questions.len(), 2);
        }
    }
}

#[test]
fn tlb_lru_model_agrees_with_the_kernel_on_random_patterns() {
    use lab::quiz::tlb::LruTlb;
    let mut rng = Mt19937::from_seed(99);
    for (entries, ways) in [(4, 1), (4, 2), (4, 4), (8, 2), (8, 8), (16, 4)] {
        for _ in 0..20 {
            let pages: Vec<u64> = (0..40).map(|_| rng.below(3 * entries)).collect();
            let mut m = LruTlb::new(entries as usize, ways as usize);
            let model: Vec<bool> = pages.iter().map(|&p| m.access(p).0).collect();
            assert_eq!(model, hits_after_flush(entries, ways, &pages));
        }
    }
}

#[test]
fn glibc_answers_agree_with_the_registry_glibc_through_the_engine() {
    for seed in 0..SEEDS {
        let calls = quiz::glibc::scenario(seed);
        let q = quiz(Kind::Glibc, seed);
        assert_eq!(q.questions.len(), calls.len() + 1);
        let mut a = registry::build("glibc", &[]).unwrap();
        let mut k = Kernel::new(KernelConfig::default());
        let base = k.program_break();
        let mut p = Program::new(workload_of(&calls));
        for (i, call) in calls.iter().enumerate() {
            let before = k.counters().clone();
            let ptr = run_op(&mut p, &mut k, a.as_mut());
            let x = &q.questions[i];
            let after = k.counters();
            let syscalls = answer(x, "syscalls");
            for (call, text) in [
                (Syscall::Brk, "brk("),
                (Syscall::Mmap, "mmap("),
                (Syscall::Munmap, "munmap("),
            ] {
                let n = after.syscall(call) - before.syscall(call);
                // ("munmap(" does not contain "mmap(".)
                let said = syscalls.matches(text).count() as u64;
                assert_eq!(said, n, "seed {seed} call {i}: {syscalls}");
            }
            if let Call::Malloc { .. } = call {
                let c = ptr.unwrap() - 16;
                let at = answer(x, "chunk address");
                if answer(x, "from") == "a mapping of its own" {
                    assert_eq!(at, format!("{c:#x}"));
                    assert!(k.vma_at(c).is_some_and(|v| !v.heap));
                } else {
                    assert_eq!(at, format!("heap+{:#x}", c - base), "seed {seed} call {i}");
                }
            }
        }
        let last = q.questions.last().unwrap();
        let s = a.stats();
        for (name, v) in [
            ("arena", s.arena),
            ("hblks", s.hblks),
            ("hblkhd", s.hblkhd),
            ("uordblks", s.uordblks),
            ("fordblks", s.fordblks),
            ("keepcost", s.keepcost),
        ] {
            assert_eq!(answer(last, name), v.to_string(), "seed {seed}: {name}");
        }
    }
}

#[test]
fn glibc_quizzes_reach_every_destination_of_a_free() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..SEEDS {
        let q = quiz(Kind::Glibc, seed);
        for x in &q.questions {
            for (name, v) in x.answers() {
                if name == "goes to" || name == "from" {
                    seen.insert(v.split(' ').take(2).collect::<Vec<_>>().join(" "));
                }
            }
        }
    }
    for want in [
        "the tcache",
        "a fastbin",
        "the unsorted",
        "top (merged",
        "munmap: back",
        "a bin",
        "a mapping",
        "top",
    ] {
        assert!(seen.contains(want), "{want} never happens: {seen:?}");
    }
}

#[test]
fn mersenne_twister_matches_cpython() {
    let text = include_str!("data/mt19937.tsv");
    let mut cases = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let seed = quiz::ostep::pyint::int(cols[0]).unwrap();
        let mut mt = Mt19937::from_key(seed.abs_words());
        let nums = |c: &str| -> Vec<u64> { c.split(' ').map(|x| x.parse().unwrap()).collect() };
        let first: Vec<u64> = (0..8).map(|_| u64::from(mt.next_u32())).collect();
        assert_eq!(first, nums(cols[1]), "seed {}", cols[0]);
        for _ in 0..612 {
            mt.next_u32();
        }
        let next: Vec<u64> = (0..8).map(|_| u64::from(mt.next_u32())).collect();
        assert_eq!(next, nums(cols[2]), "seed {} after a twist", cols[0]);
        let floats: Vec<u64> = (0..8).map(|_| mt.random().to_bits()).collect();
        assert_eq!(floats, nums(cols[3]), "seed {} random()", cols[0]);
        cases += 1;
    }
    assert_eq!(cases, 11);
}
