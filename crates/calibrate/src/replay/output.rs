//! Reading a replay child's answer (parent side).

use super::plan::Plan;
use super::wire::{self, smp};
use super::{RealBench, RealRun, ReplayError, Strategy};
use engine::{OpRow, Region, Sample, Source, Timeline};

fn bad(detail: String) -> ReplayError {
    ReplayError::Protocol { detail }
}

/// A CSV reader over `text` that leaves field counts to the caller (so that a short row
/// is reported with its line rather than as a generic CSV error).
fn reader(text: &str, headers: bool) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(headers)
        .flexible(true)
        .from_reader(text.as_bytes())
}

/// A record as the line it came from, for messages.
fn joined(record: &csv::StringRecord) -> String {
    record.iter().collect::<Vec<_>>().join(",")
}

/// The 1-based line a record started on.
fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

fn csv_error(what: &str, e: csv::Error) -> ReplayError {
    bad(format!("{what}: {e}"))
}

/// Parses one per-op CSV record (`line_no` counts from 1, the header being line 1).
pub(crate) fn parse_row(record: &csv::StringRecord, line_no: u64) -> Result<OpRow, ReplayError> {
    if record.len() != 12 {
        return Err(bad(format!(
            "CSV line {line_no}: expected 12 fields, found {}: {:?}",
            record.len(),
            joined(record)
        )));
    }
    let field = |i: usize| record.get(i).unwrap_or("");
    let num = |i: usize| -> Result<u64, ReplayError> {
        field(i).parse().map_err(|_| {
            bad(format!(
                "CSV line {line_no}, field {}: {:?} is not a number",
                i + 1,
                field(i)
            ))
        })
    };
    let kind = match field(1) {
        "a" => 'a',
        "f" => 'f',
        "r" => 'r',
        "t" => 't',
        other => return Err(bad(format!("CSV line {line_no}: unknown kind {other:?}"))),
    };
    let region = match field(4) {
        "heap" => Region::Heap(num(5)?),
        "mmap" => Region::Mmap,
        "-" => Region::None,
        other => return Err(bad(format!("CSV line {line_no}: unknown region {other:?}"))),
    };
    Ok(OpRow {
        op: num(0)?,
        kind,
        id: num(2)?,
        size: num(3)?,
        region,
        arena: num(6)?,
        hblks: num(7)?,
        hblkhd: num(8)?,
        uordblks: num(9)?,
        fordblks: num(10)?,
        keepcost: num(11)?,
    })
}

/// Parses the per-op CSV the child wrote (header line included).
fn parse_rows(csv_part: &str) -> Result<Vec<OpRow>, ReplayError> {
    let mut rdr = reader(csv_part, true);
    let header = rdr
        .headers()
        .map_err(|e| csv_error("the CSV header", e))?
        .clone();
    if !header.iter().eq(OpRow::HEADER.split(',')) {
        return Err(bad(format!(
            "CSV header expected, found {:?}",
            joined(&header)
        )));
    }
    let mut rows = Vec::new();
    for record in rdr.records() {
        let record = record.map_err(|e| csv_error("the per-op CSV", e))?;
        rows.push(parse_row(&record, line_of(&record))?);
    }
    Ok(rows)
}

/// Splits and parses everything the child wrote on stdout.
pub(crate) fn parse(
    stdout: String,
    strategy: Strategy,
    plan: &Plan,
) -> Result<RealRun, ReplayError> {
    let Some(split) = stdout.find(wire::SAMPLES_LINE) else {
        return Err(bad("no `#samples` line: the output is truncated".into()));
    };
    let (csv_part, rest) = stdout.split_at(split);
    let rest = &rest[wire::SAMPLES_LINE.len()..];
    if csv_part.is_empty() {
        return Err(bad("CSV header expected, found None".into()));
    }
    let rows = parse_rows(csv_part)?;

    // The samples are CSV too (numbers only, no header); the `#end` line follows them.
    let end_at = if rest.starts_with(wire::END_PREFIX) {
        Some(0)
    } else {
        rest.find(&format!("\n{}", wire::END_PREFIX)).map(|i| i + 1)
    };
    let Some(end_at) = end_at else {
        return Err(bad("no `#end` line: the output is truncated".into()));
    };
    let mut samples = Vec::new();
    for record in reader(&rest[..end_at], false).records() {
        let record = record.map_err(|e| csv_error("the samples", e))?;
        samples.push(parse_sample(&record, plan)?);
    }
    let end = rest[end_at + wire::END_PREFIX.len()..]
        .lines()
        .next()
        .unwrap_or("");
    let mut words = end.split(' ');
    let mut end_num = |what: &str| -> Result<u64, ReplayError> {
        words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| bad(format!("`#end` line without {what}: {end:?}")))
    };
    let elapsed_ns = end_num("the elapsed time")?;
    let op_ns = end_num("the op time")?;
    let glibc_version = words.next().unwrap_or("unknown").to_string();

    let mut csv = stdout;
    csv.truncate(split);
    Ok(RealRun {
        strategy,
        rows,
        csv,
        timeline: Timeline {
            allocator: strategy.name().to_string(),
            source: Some(Source::Real),
            samples,
        },
        elapsed_ns,
        op_ns,
        glibc_version,
    })
}

/// Parses a benchmark child's answer: one
/// `#bench <cpu_ns> <wall_ns> <faults> <loop_cpu_ns> <version>` line (`exe` names the child in the message for an empty answer).
pub(crate) fn parse_bench(stdout: &str, exe: &std::path::Path) -> Result<RealBench, ReplayError> {
    if stdout.is_empty() {
        return Err(bad(format!(
            "{} wrote nothing: is it a program built with calibrate::entry_point!?",
            exe.display()
        )));
    }
    let Some(line) = stdout
        .lines()
        .find_map(|l| l.strip_prefix(wire::BENCH_PREFIX))
    else {
        return Err(bad(format!("no `#bench` line in {:?}", first_line(stdout))));
    };
    let mut words = line.split(' ');
    let mut num = |what: &str| -> Result<u64, ReplayError> {
        words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| bad(format!("`#bench` line without {what}: {line:?}")))
    };
    let (cpu_ns, wall_ns, minor_faults, loop_cpu_ns) = (
        num("the CPU time")?,
        num("the wall time")?,
        num("the fault count")?,
        num("the dry pass's CPU time")?,
    );
    let mut checkpoints = Vec::new();
    let mut lines = stdout.lines();
    if lines.any(|l| l == wire::CHECKPOINTS_LINE.trim_end()) {
        for l in lines.take_while(|l| !l.starts_with(wire::BENCH_PREFIX)) {
            let pair = l
                .split_once(',')
                .and_then(|(op, ns)| Some((op.parse().ok()?, ns.parse().ok()?)));
            match pair {
                Some(p) => checkpoints.push(p),
                None => return Err(bad(format!("checkpoint line that is not op,ns: {l:?}"))),
            }
        }
    }
    Ok(RealBench {
        cpu_ns,
        wall_ns,
        minor_faults,
        loop_cpu_ns,
        checkpoints,
        glibc_version: words.next().unwrap_or("unknown").to_string(),
    })
}

/// The first line of `text`, cut short, for a message.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").chars().take(80).collect()
}

fn parse_sample(record: &csv::StringRecord, plan: &Plan) -> Result<Sample, ReplayError> {
    let line = || joined(record);
    if record.len() > wire::SAMPLE_WORDS {
        return Err(bad(format!(
            "sample line with too many fields: {:?}",
            line()
        )));
    }
    let mut w = [0u64; wire::SAMPLE_WORDS];
    for (slot, field) in w.iter_mut().zip(record.iter()) {
        *slot = field.parse().map_err(|_| {
            bad(format!(
                "sample line with a non-number {field:?}: {:?}",
                line()
            ))
        })?;
    }
    if record.len() != wire::SAMPLE_WORDS {
        return Err(bad(format!(
            "sample line with {} fields instead of {}: {:?}",
            record.len(),
            wire::SAMPLE_WORDS,
            line()
        )));
    }
    let mut syscalls = [0u64; 6];
    syscalls.copy_from_slice(&w[smp::SYSCALLS..smp::SYSCALLS + 6]);
    let phase = if w[smp::PHASE] == 1 {
        Some(plan.phases.get(&w[smp::OP]).cloned().ok_or_else(|| {
            bad(format!(
                "phase sample after op {} which is no phase marker",
                w[smp::OP]
            ))
        })?)
    } else {
        None
    };
    Ok(Sample {
        op: w[smp::OP],
        time_ns: w[smp::TIME_NS] as f64,
        live: w[smp::LIVE],
        allocated: w[smp::ALLOCATED],
        footprint: w[smp::FOOTPRINT],
        free_in_heap: w[smp::FREE_IN_HEAP],
        largest_free: 0,
        mapped: w[smp::MAPPED],
        rss: w[smp::RSS],
        pt_bytes: 0,
        returned_brk: w[smp::RETURNED_BRK],
        returned_munmap: w[smp::RETURNED_MUNMAP],
        returned_madvise: w[smp::RETURNED_MADVISE],
        syscalls,
        minor_faults: w[smp::MINOR_FAULTS],
        tlb_misses: 0,
        phase,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `line` read as one CSV record.
    fn record(line: &str) -> csv::StringRecord {
        reader(line, false).records().next().unwrap().unwrap()
    }

    #[test]
    fn rows_round_trip_through_the_engine_format() {
        let line = "6,r,4,2048,heap,6912,135168,0,0,8960,126208,126208";
        let row = parse_row(&record(line), 2).unwrap();
        assert_eq!(row.region, Region::Heap(6912));
        let mut out = String::new();
        row.write_csv(&mut out);
        assert_eq!(out, format!("{line}\n"));
        let free = parse_row(&record("1,f,0,0,-,0,135168,0,0,688,134480,134480"), 3).unwrap();
        assert_eq!(free.region, Region::None);
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let err = parse_row(&record("1,f,0,0,-,0,135168,0,0,688,134480"), 7).unwrap_err();
        assert!(err.to_string().contains("CSV line 7"), "{err}");
        let err = parse_row(&record("1,x,0,0,-,0,1,0,0,688,134480,1"), 9).unwrap_err();
        assert!(err.to_string().contains("unknown kind"), "{err}");
    }

    fn plan() -> Plan {
        Plan {
            input: Vec::new(),
            phases: Default::default(),
        }
    }

    #[test]
    fn a_whole_answer_parses_and_keeps_the_csv_as_written() {
        // Word i holds i, except the phase flag (not a phase sample).
        let sample = (0..wire::SAMPLE_WORDS)
            .map(|i| if i == smp::PHASE { 0 } else { i }.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let csv = format!(
            "{}\n0,a,1,10,heap,0,135168,0,0,32,135136,135136\n",
            OpRow::HEADER
        );
        let out = format!("{csv}#samples\n{sample}\n#end 100 40 2.36\n");
        let run = parse(out, Strategy::Glibc, &plan()).unwrap();
        assert_eq!(run.csv, csv);
        assert_eq!(run.rows.len(), 1);
        assert_eq!(run.timeline.samples.len(), 1);
        assert_eq!(run.timeline.samples[0].live, 3);
        assert_eq!((run.elapsed_ns, run.op_ns), (100, 40));
        assert_eq!(run.glibc_version, "2.36");
    }

    #[test]
    fn a_bench_answer_gives_cpu_wall_faults_and_the_dry_pass() {
        let exe = std::path::Path::new("sim");
        let b = parse_bench("#bench 1200 1500 7 300 2.36\n", exe).unwrap();
        assert_eq!((b.cpu_ns, b.wall_ns, b.minor_faults), (1200, 1500, 7));
        assert_eq!((b.loop_cpu_ns, b.calls_cpu_ns()), (300, 900));
        assert_eq!(b.glibc_version, "2.36");
        assert!(b.checkpoints.is_empty());
        let b = parse_bench(
            "#checkpoints\n2,500\n3,1200\n#bench 1200 1500 7 0 2.36\n",
            exe,
        );
        assert_eq!(b.unwrap().checkpoints, [(2, 500), (3, 1200)]);
        let err = parse_bench("#checkpoints\n2;5\n#bench 1 1 1 0 2.36\n", exe).unwrap_err();
        assert!(err.to_string().contains("not op,ns"), "{err}");
        let err = parse_bench("#bench 12 x\n", exe).unwrap_err();
        assert!(err.to_string().contains("without the wall time"), "{err}");
        // An answer of the previous protocol (no dry pass) is refused, not misread.
        let err = parse_bench("#bench 1200 1500 7 2.36\n", exe).unwrap_err();
        assert!(err.to_string().contains("dry pass"), "{err}");
        let err = parse_bench("hello\n", exe).unwrap_err();
        assert!(err.to_string().contains("no `#bench` line"), "{err}");
        let err = parse_bench("", exe).unwrap_err();
        assert!(err.to_string().contains("wrote nothing"), "{err}");
    }

    #[test]
    fn truncated_or_malformed_answers_say_what_is_wrong() {
        let head = format!("{}\n", OpRow::HEADER);
        let err = parse(head.clone(), Strategy::Glibc, &plan()).unwrap_err();
        assert!(err.to_string().contains("no `#samples` line"), "{err}");
        let err = parse(format!("{head}#samples\n"), Strategy::Glibc, &plan()).unwrap_err();
        assert!(err.to_string().contains("no `#end` line"), "{err}");
        let err = parse(
            format!("{head}#samples\n1,2\n#end 1 1 x\n"),
            Strategy::Glibc,
            &plan(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("2 fields instead of 19"), "{err}");
        let err = parse(
            "op,kind\n#samples\n#end 1 1 x\n".to_string(),
            Strategy::Glibc,
            &plan(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("CSV header expected"), "{err}");
    }
}
