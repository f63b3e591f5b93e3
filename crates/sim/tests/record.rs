//! `sim record` end to end: real programs traced through the preloaded tracer, and the
//! traces replayed through the glibc model and the real glibc.
//!
//! Skips (saying why) off Linux with glibc; the exact model-against-real comparison
//! also needs glibc 2.36, the version the model follows; the C program test needs a C
//! compiler (`cc`).

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

/// Why this machine cannot run the test, if it cannot.
fn skip_reason(exact: bool) -> Option<String> {
    if let Some(why) = calibrate::sys::unavailable_reason() {
        return Some(why.to_string());
    }
    match calibrate::sys::glibc_version() {
        Some("2.36") => None,
        _ if !exact => None,
        other => Some(format!(
            "exact checks apply to glibc 2.36, this is {other:?}"
        )),
    }
}

/// Records `command` into `out` and returns sim's report.
fn record(out: &Path, command: &[&str]) -> String {
    let mut args = vec!["record", "--out", out.to_str().unwrap(), "--"];
    args.extend_from_slice(command);
    let o = sim(&args);
    assert!(o.status.success(), "sim record failed: {}", stderr(&o));
    stderr(&o)
}

/// The per-op CSV of `sim replay` of `trace`, through the model or the real glibc.
fn replay(trace: &Path, real: bool, csv: &Path) -> String {
    let trace = trace.to_str().unwrap();
    let csv_arg = csv.to_str().unwrap();
    let mut args = vec!["replay", "--trace", trace, "--emit-ops", csv_arg];
    if real {
        args.push("--real");
    } else {
        args.extend(["--allocator", "glibc"]);
    }
    let o = sim(&args);
    assert!(o.status.success(), "sim replay failed: {}", stderr(&o));
    std::fs::read_to_string(csv).unwrap()
}

/// The acceptance check of `sim record`: a trace of `ls -R` replays through the glibc
/// model exactly as through the real glibc, row for row.
#[test]
fn a_recorded_ls_replays_through_the_model_exactly_as_through_real_glibc() {
    if let Some(why) = skip_reason(true) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = scratch("ls");
    let trace = dir.join("ls.trace");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let report = record(&trace, &["ls", "-R", src.to_str().unwrap()]);
    assert!(report.contains("ops of ls into"), "{report}");
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.starts_with("# brkmap trace v1\n# recorded by `sim record` from: ls -R"));
    let w = workload::read_trace(&trace).unwrap();
    assert!(
        w.ops.len() > 100,
        "ls makes hundreds of calls: {}",
        w.ops.len()
    );
    let model = replay(&trace, false, &dir.join("model.csv"));
    let real = replay(&trace, true, &dir.join("real.csv"));
    assert_eq!(model.lines().count(), w.ops.len() + 1);
    if let Some((i, (m, r))) = model
        .lines()
        .zip(real.lines())
        .enumerate()
        .find(|(_, (m, r))| m != r)
    {
        panic!("row {i}: model {m} | real {r}");
    }
    assert_eq!(model, real);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A C program that calls every traced function, from four threads, and forks a child
/// that allocates too (the child must not be recorded).
const PROGRAM: &str = r#"
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        char *p = malloc(16 + i % 100);
        memset(p, 1, 16);
        free(p);
    }
    return NULL;
}

int main(void) {
    void *a = malloc(100);
    void *b = calloc(3, 8);
    a = realloc(a, 200);
    b = reallocarray(b, 10, 8);
    void *c = NULL;
    if (posix_memalign(&c, 64, 100) != 0) return 1;
    void *d = aligned_alloc(4096, 8192);
    void *e = memalign(32, 7);
    void *f = valloc(10);
    void *g = pvalloc(5000);
    free(NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 50; i++) free(malloc(7777));
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    free(a); free(b); free(c); free(d); free(e); free(f); free(g);
    void *z = realloc(malloc(8), 0);
    (void)z;
    return 0;
}
"#;

#[test]
fn every_traced_function_threads_and_fork_come_out_right() {
    if let Some(why) = skip_reason(false) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = scratch("c");
    let source = dir.join("calls.c");
    let exe = dir.join("calls");
    std::fs::write(&source, PROGRAM).unwrap();
    let cc = Command::new("cc")
        .args(["-O0", "-fno-builtin"])
        .arg("-pthread")
        .arg("-o")
        .arg(&exe)
        .arg(&source)
        .output();
    match cc {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("cc failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("skipped: no C compiler (cc): {e}");
            return;
        }
    }
    let trace = dir.join("calls.trace");
    record(&trace, &[exe.to_str().unwrap()]);
    let text = std::fs::read_to_string(&trace).unwrap();
    let w = workload::read_trace(&trace).unwrap();
    // The main thread's calls, in order, are in the trace as the program made them.
    for line in [
        "\nmalloc 0 100\n",
        "\ncalloc 1 3 8\n",
        "\nrealloc 0 200\n",
        "\nrealloc 1 80\n",
        "\nposix_memalign 2 64 100\n",
        "\naligned_alloc 3 4096 8192\n",
        "\nmemalign 4 32 7\n",
        "\nmemalign 5 4096 10\n",
        "\nmemalign 6 4096 8192\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    // The threads' 4 000 blocks (and whatever glibc allocates for the threads
    // themselves); nothing of the forked child, whose blocks are 7777 bytes.
    let s = workload::stats(&w).unwrap();
    let expected = 9 + 4000 + 1;
    assert!(s.mallocs >= expected, "{} mallocs", s.mallocs);
    assert_eq!(s.reallocs, 2);
    assert!(!text.contains(" 7777\n"), "the forked child was recorded");
    assert!(
        text.contains("\nfree 3\n") && text.contains("\nfree 6\n"),
        "{text}"
    );
    assert!(
        text.contains("# the program exited with status 0\n"),
        "{text}"
    );
    // Replayed for real, the aligned requests are made with the real functions.
    replay(&trace, true, &dir.join("real.csv"));
    // A .rep file says malloc for all of them.
    let rep = dir.join("calls.rep");
    let report = record(&rep, &[exe.to_str().unwrap()]);
    assert!(
        report.contains("calloc or aligned blocks written as plain mallocs"),
        "{report}"
    );
    let w = workload::read_trace(&rep).unwrap();
    assert!(w.calls.is_empty());
    assert_eq!(workload::stats(&w).unwrap().mallocs, s.mallocs);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_program_that_cannot_run_is_a_one_line_usage_error() {
    if skip_reason(false).is_some() {
        return;
    }
    let o = sim(&["record", "--", "/no/such/program"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot run /no/such/program"), "{err}");
    let o = sim(&["record"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
