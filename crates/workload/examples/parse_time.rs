//! Times reading a trace file: `cargo run --release -p workload --example parse_time --
//! ../shared/traces/awk-fields.rep`.
//!
//! Reads the file once to warm the page cache, then parses it five times and prints
//! the fastest and the slowest run (reading and validation included).

use std::time::{Duration, Instant};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: parse_time TRACE_FILE");
        std::process::exit(2);
    };
    let mut times: Vec<Duration> = Vec::new();
    let mut ops = 0;
    for _ in 0..6 {
        let start = Instant::now();
        match workload::read_trace(&path) {
            Ok(w) => ops = w.ops.len(),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
        times.push(start.elapsed());
    }
    times.remove(0);
    times.sort();
    println!(
        "{path}: {ops} ops, parsed in {:.1} ms (fastest of 5), {:.1} ms (slowest)",
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}
