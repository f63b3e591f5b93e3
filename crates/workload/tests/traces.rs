//! Reading and writing trace files: the project's own traces, every invalid case, and
//! the messages users see.

use std::path::PathBuf;
use workload::{
    NATIVE_HEADER, Op, RepWriteError, TouchPolicy, TraceErrorKind, Workload, generate,
    lossy_for_rep, parse_native, parse_rep, parse_trace, read_trace, stats, write_native,
    write_rep,
};

fn project_trace(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("traces")
        .join(name)
}

/// Parses `text` as the file `file` (format sniffed) and returns the error message,
/// or "ok".
fn check(file: &str, text: &str) -> String {
    match parse_trace(text.as_bytes(), file) {
        Ok(w) => {
            workload::validate(&w).expect("a trace that loads is valid");
            "ok".to_string()
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.contains('\n'), "one line: {message}");
            message
        }
    }
}

const REP_HEADER: &str = "0\n10\n";

/// A `.rep` text with a correct header around `body` (one op a line).
fn rep(body: &str) -> String {
    let ops = body.lines().filter(|l| !l.trim().is_empty()).count();
    format!("{REP_HEADER}{ops}\n1\n{body}")
}

fn native(body: &str) -> String {
    format!("{NATIVE_HEADER}\n{body}")
}

#[test]
fn the_project_traces_load() {
    let w = read_trace(project_trace("textbook.trace")).unwrap();
    assert_eq!(w.name, "textbook");
    let s = stats(&w).unwrap();
    assert_eq!((s.mallocs, s.frees, s.reallocs, s.phases), (8, 8, 1, 4));
    assert_eq!(s.live_at_end, 0);
    assert_eq!(w.touch, TouchPolicy::WriteAll);

    let w = read_trace(project_trace("pinned-top.trace")).unwrap();
    let s = stats(&w).unwrap();
    assert_eq!((s.mallocs, s.frees, s.trims), (17, 17, 1));
    assert_eq!(s.peak_live_bytes, 16 * 8192 + 16);

    let w = read_trace(project_trace("lazy-touch.trace")).unwrap();
    assert_eq!(w.touch, TouchPolicy::None);
    assert_eq!(w.seed, Some(0));
    assert_eq!(
        w.lifetimes.into_iter().collect::<Vec<_>>(),
        [(1, 2), (2, 0)]
    );
    assert!(w.ops.contains(&Op::Touch {
        id: 1,
        offset: 512 << 10,
        len: 4096,
        write: false
    }));

    let w = read_trace(project_trace("small.rep")).unwrap();
    assert_eq!(w.name, "small");
    assert_eq!(w.ops.len(), 12);
    assert_eq!(w.ops[5], Op::Realloc { id: 2, size: 4096 });
    assert_eq!(w.touch, TouchPolicy::WriteAll);
    assert!(w.lifetimes.is_empty() && w.seed.is_none());
    assert_eq!(stats(&w).unwrap().live_at_end, 1);
}

#[test]
fn the_project_traces_survive_a_write_and_read() {
    for name in ["textbook.trace", "pinned-top.trace", "lazy-touch.trace"] {
        let w = read_trace(project_trace(name)).unwrap();
        assert_eq!(
            parse_native(&write_native(&w), "other.trace").unwrap(),
            w,
            "{name}"
        );
    }
    let w = read_trace(project_trace("small.rep")).unwrap();
    let text = write_rep(&w).unwrap();
    assert!(text.starts_with("0\n4\n12\n1\na 0 2040\n"), "{text}");
    assert_eq!(parse_rep(&text, "small.rep").unwrap(), w);
}

#[test]
fn a_missing_file_is_an_error_naming_the_path() {
    let e = read_trace("no/such/dir/x.rep").unwrap_err();
    assert_eq!(e.file, "no/such/dir/x.rep");
    assert_eq!(e.line, None);
    assert!(matches!(
        e.kind,
        TraceErrorKind::Io {
            kind: std::io::ErrorKind::NotFound,
            ..
        }
    ));
    assert!(
        e.to_string()
            .starts_with("no/such/dir/x.rep: cannot read the file: ")
    );
}

#[test]
fn rep_invalid_ops_name_the_file_and_line() {
    let cases = [
        ("f 3\n", "x.rep:5: free of unknown id 3"),
        ("r 3 8\n", "x.rep:5: realloc of unknown id 3"),
        (
            "a 1 8\nf 1\nf 1\n",
            "x.rep:7: free of id 1, whose block was already freed at line 6 (a double free)",
        ),
        (
            "a 1 8\nf 1\nr 1 16\n",
            "x.rep:7: realloc of id 1, whose block was already freed at line 6 (a use after free)",
        ),
        (
            "a 1 8\na 1 8\n",
            "x.rep:6: malloc of id 1, which names a live block (allocated at line 5); \
             free it first or use a new id",
        ),
        ("a 1 8\nf 1\na 1 8\n", "ok"),
        (
            "a 1 8\nr 1 0\n",
            "x.rep:6: realloc of id 1 to 0 bytes: glibc's realloc(p, 0) frees the block and \
             returns NULL; write a free of id 1 instead",
        ),
        (
            "a 1 281474976710657\n",
            "x.rep:5: malloc of 281474976710657 bytes: sizes are limited to 2^48 = \
             281474976710656 bytes",
        ),
        ("a 1 281474976710656\n", "ok"),
        (
            "a 1 99999999999999999999999\n",
            "x.rep:5: size 99999999999999999999999 is above the limit of 2^48 = \
             281474976710656 bytes",
        ),
        (
            "a 1\n",
            "x.rep:5: `a` takes an id and a size (`a ID SIZE`), found 2 field(s) in `a 1`",
        ),
        (
            "a 1 8 9\n",
            "x.rep:5: `a` takes an id and a size (`a ID SIZE`), found 4 field(s) in `a 1 8 9`",
        ),
        (
            "a 1 8\nf\n",
            "x.rep:6: `f` takes an id (`f ID`), found 1 field(s) in `f`",
        ),
        (
            "m 1 8\n",
            "x.rep:5: unknown op `m`; a .rep line is `a ID SIZE`, `r ID SIZE` or `f ID`",
        ),
        (
            "a -1 8\n",
            "x.rep:5: id must be a non-negative integer, found `-1`",
        ),
        (
            "a 1 8.5\n",
            "x.rep:5: size must be a non-negative integer, found `8.5`",
        ),
        (
            "a 10 8\n",
            "x.rep:5: id 10 is not below the header's number of ids (10)",
        ),
        ("a 9 8\n", "ok"),
        (
            "# a comment\n",
            "x.rep:5: unknown op `#`; a .rep line is `a ID SIZE`, `r ID SIZE` or `f ID`",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(check("x.rep", &rep(body)), expected, "body {body:?}");
    }
}

#[test]
fn rep_header_must_agree_with_the_body() {
    let cases = [
        (
            "0\n10\n3\n1\na 1 8\nf 1\n",
            "x.rep:3: the header says 3 ops but the body has 2",
        ),
        (
            "0\n10\n1\n1\na 1 8\nf 1\n",
            "x.rep:3: the header says 1 ops but the body has 2",
        ),
        ("0\n10\n0\n1\n", "ok"),
        (
            "0\nten\n0\n1\n",
            "x.rep:2: header line 2 (number of ids) must be a non-negative integer, found `ten`",
        ),
        (
            "0\n10 2\n0\n1\n",
            "x.rep:2: header line 2 (number of ids) must hold one number, found `10 2`",
        ),
        (
            "0\n10\n",
            "x.rep:3: the file ends inside the 4-line header: number of ops is missing",
        ),
        (
            "",
            "x.rep:1: the file ends inside the 4-line header: suggested heap size is missing",
        ),
        (
            "0\n10\n-2\n1\n",
            "x.rep:3: header line 3 (number of ops) must be a non-negative integer, found `-2`",
        ),
        // A header announcing 10^18 ops must not make the reader allocate for them.
        (
            "0\n10\n1000000000000000000\n1\na 1 8\n",
            "x.rep:3: the header says 1000000000000000000 ops but the body has 1",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(check("x.rep", text), expected, "text {text:?}");
    }
}

#[test]
fn rep_blank_lines_crlf_and_tabs_are_tolerated_and_lines_still_count() {
    let text = "\n0\r\n\r\n10\n2\n1\n\na\t1   8  \r\n\nf 2\n";
    assert_eq!(check("x.rep", text), "x.rep:10: free of unknown id 2");
    let text = "0\r\n10\r\n2\r\n1\r\na 1 8\r\n\r\nf 1\r\n";
    let w = parse_rep(text, "dir/x.rep").unwrap();
    assert_eq!(w.name, "x");
    assert_eq!(w.ops, [Op::Malloc { id: 1, size: 8 }, Op::Free { id: 1 }]);
}

#[test]
fn native_invalid_lines_name_the_file_and_line() {
    let cases = [
        ("malloc 1 8\nfree 2\n", "t.trace:3: free of unknown id 2"),
        (
            "malloc 1 8\nfree 1\nfree 1\n",
            "t.trace:4: free of id 1, whose block was already freed at line 3 (a double free)",
        ),
        (
            "malloc 1 8\nmalloc 1 8\n",
            "t.trace:3: malloc of id 1, which names a live block (allocated at line 2); \
             free it first or use a new id",
        ),
        ("realloc 4 8\n", "t.trace:2: realloc of unknown id 4"),
        (
            "malloc 1 8\nrealloc 1 0\n",
            "t.trace:3: realloc of id 1 to 0 bytes: glibc's realloc(p, 0) frees the block and \
             returns NULL; write a free of id 1 instead",
        ),
        (
            "malloc 1 262145G\n",
            "t.trace:2: malloc of 281476050452480 bytes: sizes are limited to 2^48 = \
             281474976710656 bytes",
        ),
        (
            "malloc 1 256T\n",
            "t.trace:2: size must be a non-negative integer with an optional K, M or G suffix, found `256T`",
        ),
        (
            "malloc 1 99999999999999999999G\n",
            "t.trace:2: size 99999999999999999999G is above the limit of 2^48 = 281474976710656 bytes",
        ),
        (
            "malloc 1 8\ntouch 1 4 8 w\n",
            "t.trace:3: touch of 8 bytes at offset 4 of id 1 goes past the block's 8 bytes",
        ),
        (
            "malloc 1 8\ntouch 1 0 8 x\n",
            "t.trace:3: a touch is `r` (read) or `w` (write), found `x`",
        ),
        (
            "malloc 1 8\ntouch 1 0 8\n",
            "t.trace:3: `touch` takes an id, an offset, a length and r or w \
             (`touch ID OFFSET LEN r|w`), found 3 field(s) after it",
        ),
        (
            "mallco 1 8\n",
            "t.trace:2: unknown op `mallco`; expected malloc, calloc, posix_memalign, \
             aligned_alloc, memalign, free, realloc, touch, trim or phase (or, before the \
             first op, name, seed or touch-policy)",
        ),
        (
            "malloc 1 8 life=300\n",
            "t.trace:2: the third field of a malloc is a lifetime `life=N` with N from 0 to \
             255, found `life=300`",
        ),
        (
            "malloc 1 8 life=1\nfree 1\nmalloc 1 8 life=2\n",
            "t.trace:4: id 1 gets lifetime class 2, but an earlier line gave it 1",
        ),
        (
            "malloc 1 8 life=1\nfree 1\nmalloc 1 8\nmalloc 2 8 life=1\n",
            "ok",
        ),
        (
            "malloc 1 8\nname late\n",
            "t.trace:3: `name` must come before the first op",
        ),
        ("seed 1\nseed 2\n", "t.trace:3: `seed` is given twice"),
        (
            "touch-policy some\n",
            "t.trace:2: `touch-policy` is `write-all` or `none`, found `some`",
        ),
        (
            "phase\n",
            "t.trace:2: `phase` needs a name: a name must not be empty",
        ),
        ("phase  two words   # comment\n", "ok"),
        (
            "free -1\n",
            "t.trace:2: an id must be a non-negative integer, found `-1`",
        ),
        (
            "trim\n",
            "t.trace:2: `trim` takes a pad (`trim PAD`), found 0 field(s) after it",
        ),
        ("  # only comments\n\n\t\n", "ok"),
        ("malloc 1 4K # trailing\r\ntouch 1 4095 1 r\r\n", "ok"),
    ];
    for (body, expected) in cases {
        assert_eq!(check("t.trace", &native(body)), expected, "body {body:?}");
    }
}

#[test]
fn native_header_and_settings() {
    assert_eq!(
        check("t.trace", "# brkmap trace v2\nmalloc 1 8\n"),
        "t.trace:1: unsupported native trace version `# brkmap trace v2`; this brkmap reads \
         `# brkmap trace v1`"
    );
    assert_eq!(
        parse_native("malloc 1 8\n", "t.trace")
            .unwrap_err()
            .to_string(),
        "t.trace:1: a native trace must start with the line `# brkmap trace v1`"
    );
    let w = parse_native(
        &native("name my demo\nseed 9\ntouch-policy none\nmalloc 1 1M life=3\n"),
        "dir/file.trace",
    )
    .unwrap();
    assert_eq!(w.name, "my demo");
    assert_eq!(w.seed, Some(9));
    assert_eq!(w.touch, TouchPolicy::None);
    assert_eq!(
        w.ops,
        [Op::Malloc {
            id: 1,
            size: 1 << 20
        }]
    );
    assert_eq!(w.lifetimes.get(&1), Some(&3));
    // Without a name line the file stem names the workload.
    assert_eq!(parse_native(&native(""), "a/b/c.trace").unwrap().name, "c");
}

#[test]
fn the_format_is_sniffed_from_content_first() {
    // A native trace in a file called .rep is still native.
    let w = parse_trace(native("malloc 1 8\n").as_bytes(), "odd.rep").unwrap();
    assert_eq!(w.ops, [Op::Malloc { id: 1, size: 8 }]);
    // A .rep trace under another name is recognised by its numeric header.
    let w = parse_trace(rep("a 1 8\n").as_bytes(), "trace.txt").unwrap();
    assert_eq!(w.ops, [Op::Malloc { id: 1, size: 8 }]);
    // A native header after blank lines is reported as misplaced, not as an unknown format.
    assert_eq!(
        check("late.trace", &format!("\n{}", native("malloc 1 8\n"))),
        "late.trace:1: a native trace must start with the line `# brkmap trace v1`"
    );
    // A byte-order mark is skipped.
    let with_bom = format!("\u{feff}{}", native("malloc 1 8\n"));
    assert!(parse_trace(with_bom.as_bytes(), "bom.trace").is_ok());
    assert_eq!(
        check("notes.txt", "hello\n"),
        "notes.txt:1: not a trace: a native trace starts with `# brkmap trace v1`, a CS:APP \
         .rep trace with a number (its 4-line header)"
    );
    assert_eq!(
        check("empty.trace", ""),
        "empty.trace:1: not a trace: a native trace starts with `# brkmap trace v1`, a CS:APP \
         .rep trace with a number (its 4-line header)"
    );
    let bytes = b"0\n1\n1\n1\na 0 \xff\n";
    let e = parse_trace(bytes, "bin.rep").unwrap_err();
    assert_eq!(e.kind, TraceErrorKind::NotUtf8);
    assert_eq!(
        e.to_string(),
        "bin.rep:5: not UTF-8 text; a trace is a text file"
    );
}

#[test]
fn messages_quote_bad_tokens_on_one_line() {
    let long = "x".repeat(100);
    let message = check("x.rep", &rep(&format!("a 1 {long}\n")));
    assert!(
        message.ends_with("found `xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...`"),
        "{message}"
    );
    let message = check("t.trace", &native("free 1\u{7}\n"));
    assert!(message.contains("`1\\u{7}`"), "{message}");
}

#[test]
fn write_rep_refuses_what_it_cannot_hold() {
    let w = generate("ramp", 1, Some(100)).unwrap();
    assert_eq!(
        write_rep(&w).unwrap_err(),
        RepWriteError::UnsupportedOp {
            index: 0,
            kind: workload::OpKind::Phase
        }
    );
    assert_eq!(
        write_rep(&w).unwrap_err().to_string(),
        "op 0: a .rep trace cannot hold a phase (only malloc, realloc and free); write the \
         native format, or drop such ops first"
    );
    let lossy = lossy_for_rep(&w);
    assert_eq!(lossy.allocator_calls(), 100);
    assert_eq!(lossy.ops.len(), 100);
    let back = parse_rep(&write_rep(&lossy).unwrap(), "ramp.rep").unwrap();
    assert_eq!(back.ops, lossy.ops);

    let w = generate("lifetimes", 1, Some(100)).unwrap();
    let mut hinted = lossy_for_rep(&w);
    assert!(hinted.lifetimes.is_empty());
    hinted.lifetimes = w.lifetimes.clone();
    assert_eq!(
        write_rep(&hinted).unwrap_err(),
        RepWriteError::LifetimeHints
    );
    let mut untouched = Workload::new("u");
    untouched.touch = TouchPolicy::None;
    assert_eq!(
        write_rep(&untouched).unwrap_err(),
        RepWriteError::TouchPolicy
    );
    assert_eq!(write_rep(&Workload::new("empty")).unwrap(), "0\n0\n0\n1\n");
}

#[test]
fn every_generator_survives_a_native_write_and_read() {
    for g in workload::GENERATORS {
        let w = generate(g.name, 11, Some(1_500)).unwrap();
        let text = write_native(&w);
        assert!(text.starts_with(NATIVE_HEADER));
        assert_eq!(parse_native(&text, "x.trace").unwrap(), w, "{}", g.name);
    }
}

#[test]
fn calloc_and_aligned_allocations_are_kept_and_survive_a_write_and_read() {
    use workload::{AlignedFn, AllocCall};
    let text = native(
        "calloc 1 3 8\nposix_memalign 2 64 100 life=1\naligned_alloc 3 4K 4K\nmemalign 4 32 7\n\
         realloc 1 48\nfree 1\nfree 2\nfree 3\nfree 4\n",
    );
    let w = parse_native(&text, "calls.trace").unwrap();
    assert_eq!(w.ops[0], Op::Malloc { id: 1, size: 24 });
    assert_eq!(w.ops[1], Op::Malloc { id: 2, size: 100 });
    assert_eq!(w.calls[&1], AllocCall::Calloc { count: 3, size: 8 });
    assert_eq!(
        w.calls[&2],
        AllocCall::Aligned {
            func: AlignedFn::PosixMemalign,
            align: 64
        }
    );
    assert_eq!(w.calls.len(), 4);
    assert_eq!(w.lifetimes[&2], 1);
    workload::validate(&w).unwrap();
    let again = write_native(&w);
    assert!(again.contains("\ncalloc 1 3 8\n"), "{again}");
    assert!(
        again.contains("\nposix_memalign 2 64 100 life=1\n"),
        "{again}"
    );
    assert_eq!(parse_native(&again, "calls.trace").unwrap(), w);
    // A .rep trace cannot say it: refused, or dropped on request.
    let mut unhinted = w.clone();
    unhinted.lifetimes.clear();
    assert_eq!(write_rep(&unhinted), Err(RepWriteError::AllocCalls));
    let lossy = lossy_for_rep(&w);
    assert!(lossy.calls.is_empty());
    assert!(write_rep(&lossy).unwrap().contains("a 1 24\n"));
}

#[test]
fn bad_calls_name_the_line() {
    let cases = [
        ("calloc 1 3\n", "`calloc` takes an id, a count, a size"),
        ("memalign 1 48 10\n", "alignment 48 is not a power of two"),
        ("posix_memalign 1 4 10\n", "is not a multiple of 8"),
        (
            "calloc 1 18446744073709551615 2\n",
            "asks for more than 2^64 bytes",
        ),
        (
            "calloc 1 2 8\nfree 1\nmalloc 1 16\n",
            "id 1 is allocated by malloc here but by calloc on line 2",
        ),
    ];
    for (body, expected) in cases {
        let message = check("x.trace", &native(body));
        assert!(message.contains(expected), "{body:?}: {message}");
    }
    let mut w = parse_native(&native("calloc 1 2 8\n"), "x.trace").unwrap();
    w.ops[0] = Op::Malloc { id: 1, size: 15 };
    assert!(
        workload::validate(&w)
            .unwrap_err()
            .to_string()
            .contains("does not ask for the block's 15 bytes")
    );
    w.calls
        .insert(9, workload::AllocCall::Calloc { count: 1, size: 1 });
    w.ops[0] = Op::Malloc { id: 1, size: 16 };
    assert!(
        workload::validate(&w)
            .unwrap_err()
            .to_string()
            .contains("for id 9, but no op allocates")
    );
}

#[test]
fn the_recorded_traces_load_say_where_they_come_from_and_survive_a_write_and_read() {
    let recorded = [
        ("ls-zoneinfo.trace", "ls -R /usr/share/zoneinfo", "ls"),
        ("sort-services.trace", "sort /etc/services", "sort"),
        ("cat-services.trace", "cat /etc/services", "cat"),
        (
            "python3-json.trace",
            "/usr/bin/python3 -c import json",
            "python3",
        ),
        ("gcc-version.trace", "gcc --version", "gcc"),
    ];
    for (file, command, name) in recorded {
        let path = project_trace(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("# recorded by `sim record` from: {command}")),
            "{file}"
        );
        let w = read_trace(&path).unwrap();
        assert_eq!(w.name, name);
        let s = stats(&w).unwrap();
        assert!(
            s.mallocs > 100 && w.ops.len() < 5000,
            "{file}: {} ops",
            w.ops.len()
        );
        assert_eq!(parse_native(&write_native(&w), file).unwrap(), w, "{file}");
    }
    // cat's I/O buffer is page-aligned; python and gcc use calloc.
    let cat = read_trace(project_trace("cat-services.trace")).unwrap();
    assert!(cat.calls.values().any(|c| c.name() == "aligned_alloc"));
    let py = read_trace(project_trace("python3-json.trace")).unwrap();
    assert!(py.calls.values().filter(|c| c.name() == "calloc").count() > 50);
}
