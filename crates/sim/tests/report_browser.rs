//! report.html in a real browser: headless Chromium loads the page of a real run,
//! the page's own self-test (report.html#test) moves the slider, presses an arrow
//! key, clicks the buttons and checks the view followed, and a screenshot shows
//! something rather than a blank page.
//!
//! Needs Chromium, so it is `#[ignore]`d in a plain `cargo test` (which lists it as
//! ignored, with the reason). `.ci/run` installs Chromium when it is missing and runs
//! it with `cargo test -p sim --test report_browser -- --ignored`. The browser is
//! found as `$BRKMAP_CHROMIUM`, else `chromium`, `chromium-browser` or
//! `google-chrome` on the PATH; run explicitly without one, the test fails saying so.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brkmap-browser-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The browser to run, if there is one.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BRKMAP_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// What a browser run printed.
struct Printed {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium with `args` on `url`, in a profile of its own; kills it if
/// it has not finished after two minutes (a hung browser fails the test, it does not
/// hang it). Its output goes to files (a pipe nobody reads while it runs would fill
/// up and stop it).
fn browse(browser: &Path, profile: &Path, args: &[&str], url: &str) -> Printed {
    std::fs::create_dir_all(profile).unwrap();
    let (out, err) = (profile.join("stdout.txt"), profile.join("stderr.txt"));
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    while child.try_wait().expect("chromium runs").is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within two minutes on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    Printed {
        stdout: read(&out),
        stderr: read(&err),
    }
}

/// The attributes of the first `<tag ...>` of `dom`.
fn attributes<'d>(dom: &'d str, tag: &str) -> &'d str {
    let open = format!("<{tag}");
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in the DOM"))
        + open.len();
    let end = dom[start..].find('>').unwrap() + start;
    &dom[start..end]
}

/// Makes a report with `sim args --out DIR`; returns its file URL.
fn make_report(name: &str, args: &[&str]) -> (PathBuf, String) {
    let dir = scratch(name);
    let o = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .args(["--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let page = dir.join("report.html");
    (dir, format!("file://{}", page.display()))
}

/// Loads `url#test`: the page drives every control and reports in the DOM.
fn self_test(browser: &Path, dir: &Path, url: &str) {
    let profile = dir.join("profile-test");
    let o = browse(
        browser,
        &profile,
        &[
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            "--virtual-time-budget=5000",
        ],
        &format!("{url}#test"),
    );
    let (dom, err) = (&o.stdout, &o.stderr);
    let html = attributes(dom, "html");
    let body = attributes(dom, "body");
    assert!(
        !html.contains("data-error"),
        "the page reported an error: {html}"
    );
    assert!(
        body.contains("data-ok=\"1\""),
        "the self-test did not finish (body:{body}); browser said:\n{err}"
    );
    // The page logs nothing when it works: any console line is a problem.
    let console: Vec<&str> = err.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console output: {console:?}");
}

#[test]
#[ignore = "needs chromium; .ci/run installs it and runs this with --ignored"]
fn the_report_works_in_a_real_browser() {
    let Some(browser) = chromium() else {
        panic!(
            "no chromium: install it (apt-get install chromium) or set BRKMAP_CHROMIUM to a \
             Chromium or Chrome binary"
        );
    };
    let textbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workload/traces/textbook.trace");
    // A short trace (every state, ids, an allocator without a brk heap) and a longer
    // generated run (merged states, thinned to the size bound).
    let (small_dir, small) = make_report(
        "small",
        &[
            "--trace",
            textbook.to_str().unwrap(),
            "-a",
            "glibc,first-fit,mmap",
        ],
    );
    self_test(&browser, &small_dir, &small);
    let (long_dir, long) = make_report("long", &["-w", "churn", "--ops", "20000"]);
    self_test(&browser, &long_dir, &long);

    // A screenshot of the page, against one of a blank page of the same size: a page
    // that shows nothing compresses to almost nothing.
    let shot = |url: &str, name: &str| -> u64 {
        let png = small_dir.join(name);
        let o = browse(
            &browser,
            &small_dir.join(format!("profile-{name}")),
            &[
                &format!("--screenshot={}", png.display()),
                "--window-size=1000,1400",
                "--virtual-time-budget=3000",
            ],
            url,
        );
        assert!(png.is_file(), "no screenshot: {}", o.stderr);
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{name} is a PNG");
        bytes.len() as u64
    };
    let blank_page = small_dir.join("blank.html");
    std::fs::write(&blank_page, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank = shot(&format!("file://{}", blank_page.display()), "blank.png");
    let page = shot(&format!("{small}#glibc:13"), "report.png");
    eprintln!("screenshots: blank {blank} bytes, report {page} bytes");
    assert!(
        page > 10 * blank && page > 30_000,
        "the screenshot looks blank: {page} bytes against {blank} for an empty page"
    );
}
