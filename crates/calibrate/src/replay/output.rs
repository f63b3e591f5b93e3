//! Reading a replay child's answer (parent side).

use super::plan::Plan;
use super::wire::{self, smp};
use super::{RealRun, ReplayError, Strategy};
use engine::{OpRow, Region, Sample, Source, Timeline};

fn bad(detail: String) -> ReplayError {
    ReplayError::Protocol { detail }
}

/// Parses one per-op CSV line (`line_no` counts from 1, the header being line 1).
pub(crate) fn parse_row(line: &str, line_no: usize) -> Result<OpRow, ReplayError> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != 12 {
        return Err(bad(format!(
            "CSV line {line_no}: expected 12 fields, found {}: {line:?}",
            fields.len()
        )));
    }
    let num = |i: usize| -> Result<u64, ReplayError> {
        fields[i].parse().map_err(|_| {
            bad(format!(
                "CSV line {line_no}, field {}: {:?} is not a number",
                i + 1,
                fields[i]
            ))
        })
    };
    let kind = match fields[1] {
        "a" => 'a',
        "f" => 'f',
        "r" => 'r',
        "t" => 't',
        other => return Err(bad(format!("CSV line {line_no}: unknown kind {other:?}"))),
    };
    let region = match fields[4] {
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

    let mut lines = csv_part.lines();
    match lines.next() {
        Some(OpRow::HEADER) => {}
        other => return Err(bad(format!("CSV header expected, found {other:?}"))),
    }
    let rows = lines
        .enumerate()
        .map(|(i, line)| parse_row(line, i + 2))
        .collect::<Result<Vec<_>, _>>()?;

    let mut samples = Vec::new();
    let mut end = None;
    for line in rest.lines() {
        if let Some(tail) = line.strip_prefix(wire::END_PREFIX) {
            end = Some(tail);
            break;
        }
        samples.push(parse_sample(line, plan)?);
    }
    let Some(end) = end else {
        return Err(bad("no `#end` line: the output is truncated".into()));
    };
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

fn parse_sample(line: &str, plan: &Plan) -> Result<Sample, ReplayError> {
    let mut w = [0u64; wire::SAMPLE_WORDS];
    let mut n = 0;
    for field in line.split(',') {
        let slot = w
            .get_mut(n)
            .ok_or_else(|| bad(format!("sample line with too many fields: {line:?}")))?;
        *slot = field
            .parse()
            .map_err(|_| bad(format!("sample line with a non-number {field:?}: {line:?}")))?;
        n += 1;
    }
    if n != wire::SAMPLE_WORDS {
        return Err(bad(format!(
            "sample line with {n} fields instead of {}: {line:?}",
            wire::SAMPLE_WORDS
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

    #[test]
    fn rows_round_trip_through_the_engine_format() {
        let line = "6,r,4,2048,heap,6912,135168,0,0,8960,126208,126208";
        let row = parse_row(line, 2).unwrap();
        assert_eq!(row.region, Region::Heap(6912));
        let mut out = String::new();
        row.write_csv(&mut out);
        assert_eq!(out, format!("{line}\n"));
        let free = parse_row("1,f,0,0,-,0,135168,0,0,688,134480,134480", 3).unwrap();
        assert_eq!(free.region, Region::None);
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let err = parse_row("1,f,0,0,-,0,135168,0,0,688,134480", 7).unwrap_err();
        assert!(err.to_string().contains("CSV line 7"), "{err}");
        let err = parse_row("1,x,0,0,-,0,1,0,0,688,134480,1", 9).unwrap_err();
        assert!(err.to_string().contains("unknown kind"), "{err}");
    }
}
