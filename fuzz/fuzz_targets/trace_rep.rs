//! The `.rep` reader (CS:APP malloc-lab traces): any bytes, through `parse_trace` with
//! a `.rep` name and through `parse_rep` directly. No input may panic; a trace that
//! loads must be valid and survive being written back ([`brkmap_fuzz::check_loaded`]).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    const FILE: &str = "fuzz.rep";
    if let Ok(w) = workload::parse_trace(data, FILE) {
        brkmap_fuzz::check_loaded(&w, FILE);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(w) = workload::parse_rep(text, FILE)
    {
        brkmap_fuzz::check_loaded(&w, FILE);
    }
});
