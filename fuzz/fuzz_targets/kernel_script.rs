//! Kernel scripts: the parser on any text, then every script that parses run on the
//! simulated kernel, whose consistency audit must pass afterwards. No input may panic,
//! in the parser or in the runner; a parsed script written back as its lines' text
//! must parse to the same script.
#![no_main]

use kernel::script::{Script, SimMachine, run};
use libfuzzer_sys::fuzz_target;

/// Physical memory of the fuzzed machine at most (a script's `assume ram=` is capped
/// to it). The model works page by page, so a line's time grows with the pages it
/// maps in, and memory bounds those: written pages by the frames, zero-page reads
/// (`map f 1T r populate`, `touch f 0 1T r`) by the page tables, 2 MiB of reach per
/// frame. 16 MiB keeps the worst line at a few million pages, well under a second.
const MAX_RAM: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(script) = Script::parse(text) else {
        return;
    };

    // The text of the lines is normalized (comments and extra blanks gone): it reads
    // back to the same ops and names.
    let normalized: Vec<&str> = script.lines.iter().map(|l| l.text.as_str()).collect();
    match Script::parse(&normalized.join("\n")) {
        Ok(again) => {
            let ops = |s: &Script| s.lines.iter().map(|l| l.op.clone()).collect::<Vec<_>>();
            assert_eq!(
                ops(&again),
                ops(&script),
                "normalized text parses differently"
            );
            assert_eq!(again.names, script.names);
            assert_eq!(again.ram, script.ram);
        }
        Err(e) => panic!("the normalized text of a script does not parse: {e}"),
    }

    let ram = script.ram.unwrap_or(MAX_RAM).min(MAX_RAM);
    let mut machine = SimMachine::new(ram);
    // A run may stop with an error (an unbound name, a range at the floor, out of
    // memory); it may not panic, and the kernel must be consistent wherever it stopped.
    let _ = run(&script, &mut machine);
    if let Err(e) = machine.kernel().check_consistency() {
        panic!("after the script: {e}");
    }
});
