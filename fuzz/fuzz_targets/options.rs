//! Allocator options as a user types them (`--tunable key=value`): any text, split into
//! `key=value` settings, given to every registered allocator through
//! `lab::registry::build` and to every family's configuration through
//! `Options::from_settings`; every value also goes through `units::parse_size`.
//!
//! No input may panic. A configuration that is accepted must validate, must be written
//! back by `settings_line` as settings that read back to it, and must build an
//! allocator that keeps the contract on a short program.
#![no_main]

use libfuzzer_sys::fuzz_target;
use malloc::contract::Contract;
use malloc::options::{Options, docs, settings_line};

type Settings = Vec<(String, String)>;

fn split(text: &str) -> Settings {
    text.split_whitespace()
        .take(16)
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (w.to_string(), String::new()),
        })
        .collect()
}

/// `C` from the settings it takes; if accepted, the round trip through
/// `settings_line`.
fn family<C: Options + PartialEq + std::fmt::Debug>(base: C, all: &Settings) {
    let mine: Settings = all
        .iter()
        .filter(|(k, _)| C::TABLE.takes(k))
        .cloned()
        .collect();
    let Ok((config, _notes)) = base.clone().apply(&mine) else {
        return;
    };
    if let Err(e) = config.validate() {
        panic!("{mine:?} was accepted but does not validate: {e}");
    }
    let _ = docs(&config);
    let line = settings_line(&config);
    match base.apply(&split(&line)) {
        Ok((back, _)) => assert_eq!(
            back, config,
            "settings_line `{line}` reads back differently"
        ),
        Err(e) => panic!("settings_line wrote `{line}`, which is refused: {e}"),
    }
}

fn size(text: &str) {
    if let Ok(n) = units::parse_size(text) {
        assert_eq!(units::parse_size(&n.to_string()), Ok(n), "{text}");
        assert_eq!(units::parse_size(&format!("{n:#x}")), Ok(n), "{text}");
        let _ = units::bytes(n);
        let _ = units::bytes_label(n as f64);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    size(text);
    let all = split(text);
    for (_, v) in &all {
        size(v);
    }

    family(malloc::glibc::Tunables::default(), &all);
    family(malloc::freelist::FreeListConfig::default(), &all);
    family(malloc::segregated::SegregatedConfig::default(), &all);
    family(mmap::MmapConfig::default(), &all);
    family(mmap::GuardConfig::default(), &all);
    family(mmap::MmapCacheConfig::default(), &all);
    family(mmap::RegionConfig::default(), &all);
    family(mmap::LifetimeConfig::default(), &all);

    for entry in lab::registry::entries() {
        let Ok(a) = entry.build(&all) else {
            continue;
        };
        // The defaults are the `allocators` target's: run only what the settings change.
        if !all.iter().any(|(k, _)| entry.takes(k)) {
            continue;
        }
        let overhang = if entry.name == "glibc" { 8 } else { 0 };
        let kernel = kernel::Kernel::new(kernel::KernelConfig::default());
        let mut c = Contract::new(a, kernel).overhang(overhang);
        let run = (|| {
            let mut live = Vec::new();
            for size in [0, 1, 24, 100, 1000, 5000, 70_000, 200_000] {
                if let Some(b) = c.malloc(size)? {
                    live.push(b.ptr);
                }
            }
            for &p in live.iter().step_by(2) {
                c.free(p)?;
            }
            if let Some(&p) = live.get(1) {
                c.realloc(p, 300_000)?;
            }
            c.trim(0)?;
            c.free_all()
        })();
        if let Err(v) = run {
            panic!("{} built from {all:?}: {v}", entry.name);
        }
    }
});
