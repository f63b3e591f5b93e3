//! An allocator defined outside the workspace's allocator crates, registered and run
//! exactly like a built-in one: its options go through `malloc::options`, it is
//! built by a [`Registry`], checked call by call by `malloc::contract`, and run by the
//! engine. This is all a student's or a test's allocator needs.

#[path = "../../malloc/tests/strategies/mod.rs"]
mod strategies;

use engine::{Outcome, RunConfig, run};
use kernel::{Addr, Kernel, KernelConfig, MapFlags, PAGE_SIZE, Prot, Syscall};
use lab::registry::{Entry, Registry, RegistryError, settings};
use malloc::contract::Contract;
use malloc::options::{Configurable, Kind, OptionError, Options, Spec, Table};
use malloc::{AllocError, Allocator, Block, BlockKind, HeapStats};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Options of [`Stack`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StackConfig {
    /// Bytes of the one arena.
    arena_size: u64,
    /// Unmap the arena whenever the last block is freed.
    unmap_when_empty: bool,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            arena_size: 1 << 20,
            unmap_when_empty: false,
        }
    }
}

impl Options for StackConfig {
    const TABLE: Table = Table {
        prefix: "",
        options: &[
            Spec::new(
                "arena_size",
                Kind::Size {
                    min: PAGE_SIZE,
                    max: 64 << 20,
                    off: &[],
                },
                "bytes of the arena",
            ),
            Spec::new(
                "unmap_when_empty",
                Kind::Bool,
                "unmap the arena when the last block is freed",
            ),
        ],
    };

    fn check(&self) -> Result<(), OptionError> {
        if !self.arena_size.is_multiple_of(PAGE_SIZE) {
            return Err(OptionError::invalid("arena_size", "must be whole pages"));
        }
        Ok(())
    }
}

/// A stack allocator: one mapped arena, blocks bumped in order, only the topmost
/// block's bytes reused when it is freed; everything resets when the arena empties.
#[derive(Debug)]
struct Stack {
    config: StackConfig,
    /// The arena's start, once mapped.
    base: Option<Addr>,
    /// Bytes bumped so far.
    top: u64,
    /// Live block -> its span (16-byte granules).
    live: BTreeMap<Addr, u64>,
}

impl Stack {
    fn new(config: StackConfig) -> Result<Stack, OptionError> {
        config.validate()?;
        Ok(Stack {
            config,
            base: None,
            top: 0,
            live: BTreeMap::new(),
        })
    }
}

impl Allocator for Stack {
    fn name(&self) -> &str {
        "stack"
    }

    fn malloc(&mut self, k: &mut Kernel, size: u64) -> Result<Addr, AllocError> {
        k.charge_user(k.config().cost.alloc_op_ns);
        let oom = AllocError::OutOfMemory { size };
        let span = size
            .max(1)
            .checked_next_multiple_of(16)
            .ok_or(oom.clone())?;
        if span > self.config.arena_size - self.top {
            return Err(oom);
        }
        let base = match self.base {
            Some(b) => b,
            None => {
                let b = k
                    .mmap(0, self.config.arena_size, Prot::RW, MapFlags::NONE)
                    .map_err(|_| oom.clone())?;
                self.base = Some(b);
                b
            }
        };
        let p = base + self.top;
        self.top += span;
        self.live.insert(p, span);
        Ok(p)
    }

    fn free(&mut self, k: &mut Kernel, ptr: Addr) -> Result<(), AllocError> {
        let span = self
            .live
            .remove(&ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        k.charge_user(k.config().cost.alloc_op_ns);
        let base = self.base.unwrap_or(0);
        if ptr + span == base + self.top {
            // The topmost block: its bytes (and the dead ones below it) are free again.
            self.top = self
                .live
                .last_key_value()
                .map_or(0, |(&p, &s)| p + s - base);
        }
        if self.live.is_empty() && self.config.unmap_when_empty {
            k.munmap(base, self.config.arena_size)
                .map_err(AllocError::Syscall)?;
            self.base = None;
        }
        Ok(())
    }

    fn realloc(&mut self, k: &mut Kernel, ptr: Addr, size: u64) -> Result<Addr, AllocError> {
        let span = *self
            .live
            .get(&ptr)
            .ok_or(AllocError::InvalidPointer { ptr })?;
        let new = self.malloc(k, size)?;
        k.touch(ptr, span.min(size.max(1)), kernel::Access::Read)?;
        k.touch(new, span.min(size.max(1)), kernel::Access::Write)?;
        self.free(k, ptr)?;
        Ok(new)
    }

    fn stats(&self) -> HeapStats {
        let footprint = if self.base.is_some() {
            self.config.arena_size
        } else {
            0
        };
        let allocated: u64 = self.live.values().sum();
        let mut map = Vec::new();
        self.blocks(&mut map);
        HeapStats {
            hblks: u64::from(self.base.is_some()),
            hblkhd: footprint,
            uordblks: allocated,
            fordblks: footprint - allocated,
            allocated,
            footprint,
            largest_free: map
                .iter()
                .filter(|b| b.kind != BlockKind::Used)
                .map(|b| b.size)
                .max()
                .unwrap_or(0),
            ..HeapStats::default()
        }
    }

    fn blocks(&self, out: &mut Vec<Block>) {
        let Some(base) = self.base else {
            return;
        };
        let block = |addr, size, kind| Block {
            addr,
            size,
            kind,
            mapped: true,
        };
        let mut at = base;
        for (&p, &span) in &self.live {
            if p > at {
                out.push(block(at, p - at, BlockKind::Free));
            }
            out.push(block(p, span, BlockKind::Used));
            at = p + span;
        }
        let end = base + self.config.arena_size;
        if base + self.top > at {
            out.push(block(at, base + self.top - at, BlockKind::Free));
            at = base + self.top;
        }
        if end > at {
            out.push(block(at, end - at, BlockKind::Top));
        }
    }
}

impl Configurable for Stack {
    type Config = StackConfig;

    fn from_config(config: StackConfig) -> Result<Stack, OptionError> {
        Stack::new(config)
    }
}

/// The entry: all a registry needs to list, check and build the allocator.
const STACK: Entry = Entry::of::<Stack>(
    "stack",
    "test",
    "one mapped arena, blocks bumped in order, the top block reused",
);

fn registry() -> Registry {
    Registry::builtin().with(STACK).unwrap()
}

#[test]
fn the_registry_lists_checks_and_builds_it() {
    let r = registry();
    assert_eq!(r.entries().last().map(|e| e.name), Some("stack"));
    let docs = (r.find("stack").unwrap().docs)();
    let shown: Vec<(&str, &str)> = docs.iter().map(|d| (d.name, d.value.as_str())).collect();
    assert_eq!(shown, [("arena_size", "1M"), ("unmap_when_empty", "false")]);

    // Options meant for other allocators pass it by; unknown ones are reported; old
    // spellings are noted.
    let s = settings(&[
        ("arena-size", "64K"),
        ("mmap_threshold", "64K"),
        ("colour", "red"),
    ]);
    assert_eq!(r.unknown_keys(&["stack", "glibc"], &s), ["colour"]);
    let notes: Vec<String> = r
        .notes(&["stack", "glibc"], &s)
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(notes, ["option `arena-size` is now spelled `arena_size`"]);
    let mut k = Kernel::new(KernelConfig::default());
    let mut a = r.build("stack", &s).unwrap();
    a.malloc(&mut k, 10).unwrap();
    assert_eq!(
        k.mem().mapped,
        64 * 1024,
        "the option reached the allocator"
    );

    let e = r
        .build("stack", &settings(&[("arena_size", "1G")]))
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "allocator stack: option arena_size: `1G` is over the limit of 64 MiB"
    );
    assert!(matches!(
        r.build("stack", &settings(&[("arena_size", "5000")])),
        Err(RegistryError::BadSetting { .. })
    ));
}

#[test]
fn the_engine_runs_it_like_a_built_in_one() {
    let w = workload::generate("ramp", 3, Some(2_000)).unwrap();
    let built = registry()
        .build("stack", &settings(&[("unmap_when_empty", "true")]))
        .unwrap();
    let direct = Box::new(
        Stack::new(StackConfig {
            unmap_when_empty: true,
            ..StackConfig::default()
        })
        .unwrap(),
    );
    let a = run(&w, built, &RunConfig::default()).unwrap();
    let b = run(&w, direct, &RunConfig::default()).unwrap();
    assert_eq!(a.summary.outcome, Outcome::Completed);
    assert_eq!(
        a.summary, b.summary,
        "built by the registry or by hand: the same run"
    );
    assert_eq!(
        a.summary.syscall(Syscall::Munmap),
        1,
        "the emptied arena went back"
    );
    assert_eq!(a.summary.final_footprint, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(strategies::cases()))]

    /// Built by the registry, the allocator keeps the contract on random programs.
    #[test]
    fn it_keeps_the_allocator_contract(
        ops in strategies::program(strategies::heap_sizes(), false, 120),
        unmap in any::<bool>(),
    ) {
        let s = settings(&[("unmap_when_empty", if unmap { "true" } else { "false" })]);
        let a = registry().build("stack", &s).unwrap();
        let mut c = Contract::new(a, Kernel::new(KernelConfig::default()));
        c.run(&ops).map_err(strategies::fail)?;
        c.free_all().map_err(strategies::fail)?;
        prop_assert_eq!(c.allocator().stats().allocated, 0);
        if unmap {
            prop_assert_eq!(c.kernel().mem().mapped, 0);
        }
    }
}
