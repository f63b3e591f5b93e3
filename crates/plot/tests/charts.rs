//! Every chart: well-formed XML, the same bytes on every call, the labels a reader
//! needs, and no panic on degenerate input.

mod common;
mod xml;

use engine::{HeapSnapshot, Sample, Source, Timeline};
use plot::{ChartTitle, PlotError, Style};
use proptest::prelude::*;

/// Checks what every chart must satisfy, renders it twice, and returns the parsed
/// document.
fn check(render: impl Fn() -> Result<String, PlotError>) -> xml::Doc {
    let svg = render().unwrap_or_else(|e| panic!("chart failed: {e}"));
    let again = render().unwrap();
    assert!(svg == again, "two renders of the same data differ");
    let doc = xml::check(&svg).unwrap_or_else(|e| panic!("malformed SVG: {e}\n{svg}"));
    assert_eq!(doc.root, "svg");
    let width: u32 = doc.root_attrs["width"].parse().unwrap();
    let height: u32 = doc.root_attrs["height"].parse().unwrap();
    assert_eq!(width, Style::default().width);
    assert!((100..20_000).contains(&height), "height {height}");
    // No font file is named, only families the viewer resolves.
    assert!(!svg.contains(".ttf") && !svg.contains("@font-face"));
    // Numbers are integers or short decimals: no float noise in coordinates.
    assert!(
        !svg.contains("0000000") && !svg.contains("9999999"),
        "float noise in SVG"
    );
    assert!(
        !svg.contains("NaN") && !svg.contains("inf"),
        "non-finite value in SVG"
    );
    assert_legible(&doc, width);
    doc
}

/// The size, in pixels, of the smallest text of `doc` where the book's column shows
/// it: a wider SVG is scaled down to the column's width.
fn smallest_text_in_book(doc: &xml::Doc, width: u32) -> (f64, String) {
    let scale = (f64::from(plot::Style::BOOK_COLUMN) / f64::from(width)).min(1.0);
    doc.texts
        .iter()
        .zip(&doc.text_attrs)
        .map(|(text, attrs)| {
            let px: f64 = attrs["font-size"].parse().unwrap();
            (px * scale, text.clone())
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((f64::INFINITY, String::new()))
}

/// Every text shows at least `Style::MIN_FONT` (11) pixels tall in the book's column.
fn assert_legible(doc: &xml::Doc, width: u32) {
    let (px, text) = smallest_text_in_book(doc, width);
    assert!(
        px >= plot::Style::MIN_FONT && px >= 11.0,
        "{text:?} shows at {px:.1} px in the book's column"
    );
}

#[test]
fn the_default_style_fits_the_books_column_and_a_wider_one_would_not() {
    assert_eq!(Style::default().width, Style::BOOK_COLUMN);
    let wide = Style {
        width: 960,
        ..Style::default()
    };
    let svg = plot::timeline_chart(&title(), &common::three(50), &wide).unwrap();
    let doc = xml::check(&svg).unwrap();
    let (px, _) = smallest_text_in_book(&doc, 960);
    assert!(
        px < 11.0,
        "a 960-px chart shows its 11-px notes at {px:.1} px"
    );
}

fn title() -> ChartTitle {
    ChartTitle::new("ramp").seed(7).cost_model("default")
}

fn one_sample(name: &str) -> Timeline {
    Timeline {
        allocator: name.to_string(),
        source: Some(Source::Simulated),
        samples: vec![Sample::default()],
    }
}

#[test]
fn timeline_chart_labels_every_measure_phase_and_allocator() {
    let timelines = common::three(300);
    let doc = check(|| plot::timeline_chart(&title(), &timelines, &Style::default()));
    for label in [
        "Memory over time",
        "workload ramp (seed 7)",
        "allocators glibc, mmap, first-fit",
        "cost model default",
        "live",
        "allocated",
        "footprint",
        "mapped",
        "RSS",
        "returned by brk shrink",
        "returned by munmap",
        "returned by madvise",
        "start of a phase",
        "grow",
        "shrink",
        "glibc",
        "mmap",
        "first-fit",
        "operations executed",
        "MiB",
        "10,000",
    ] {
        assert!(doc.has_text(label), "no {label:?} in {:?}", doc.texts);
    }
}

#[test]
fn fragmentation_chart_states_each_definition() {
    let timelines = common::three(300);
    let doc = check(|| plot::fragmentation_chart(&title(), &timelines, &Style::default()));
    for label in [
        "Internal fragmentation = (allocated − live) / live",
        "External fragmentation = 1 − largest free block / free bytes in the heap",
        "Johnstone & Wilson = (footprint − live) / live",
        "%",
        "glibc",
    ] {
        assert!(doc.has_text(label), "no {label:?} in {:?}", doc.texts);
    }
}

#[test]
fn fragmentation_spikes_are_clipped_and_said_so() {
    let mut t = common::timeline("glibc", 200, 0);
    // A first sample with 16 live bytes in a 132 KiB heap: 8 000 x overhead.
    t.samples[1].live = 16;
    t.samples[1].footprint = 135_168;
    let doc =
        check(|| plot::fragmentation_chart(&title(), std::slice::from_ref(&t), &Style::default()));
    assert!(
        doc.has_text("are drawn on the top edge"),
        "no clipping note in {:?}",
        doc.texts
    );
}

#[test]
fn returned_chart_totals_each_mechanism() {
    let timelines = common::three(300);
    let doc = check(|| plot::returned_chart(&title(), &timelines, &Style::default()));
    for label in [
        "Memory returned to the OS",
        "brk shrink",
        "munmap",
        "madvise",
        "nothing returned to the OS",
    ] {
        assert!(doc.has_text(label), "no {label:?} in {:?}", doc.texts);
    }
    let last = timelines[1].samples.last().unwrap();
    let total = units::bytes_label(last.returned_munmap as f64);
    assert!(
        doc.has_text(&format!("{total} returned")),
        "{:?}",
        doc.texts
    );
}

#[test]
fn cost_chart_stacks_categories_in_order_and_counts_syscalls() {
    let summaries = vec![common::summary("glibc", 1.0), common::summary("mmap", 3.0)];
    let t = ChartTitle::from_summaries(&summaries, "default");
    let doc = check(|| plot::cost_chart(&t, &summaries, &Style::default()));
    for label in [
        "Simulated time by cost category",
        "System calls by kind",
        "mode switch",
        "page faults",
        "allocator (user space)",
        "brk",
        "munmap",
        "syscalls",
        "minor faults",
        "/op",
        "No time was charged to: context switches.",
        "workload churn (seed 42)",
    ] {
        assert!(doc.has_text(label), "no {label:?} in {:?}", doc.texts);
    }
    // Legend entries follow CostCategory::ALL.
    let pos = |s: &str| doc.texts.iter().position(|t| t == s).unwrap();
    assert!(pos("mode switch") < pos("syscall work"));
    assert!(pos("syscall work") < pos("page faults"));
    assert!(pos("unmap teardown") < pos("allocator (user space)"));
}

#[test]
fn heap_map_shows_both_regions_and_every_kind() {
    let snaps = common::snapshots(120, true);
    let doc = check(|| plot::heap_map_chart(&title(), "first-fit", &snaps, &Style::default()));
    for label in [
        "Heap map of first-fit",
        "brk heap",
        "Mappings",
        "used (brk heap)",
        "free",
        "top chunk",
        "allocator metadata",
        "used (own mapping)",
        "program break",
        "0x555555559000",
    ] {
        assert!(doc.has_text(label), "no {label:?} in {:?}", doc.texts);
    }
    let only_heap = common::snapshots(50, false);
    let doc = check(|| plot::heap_map_chart(&title(), "first-fit", &only_heap, &Style::default()));
    assert!(!doc.has_text("Mappings"));
}

/// A textbook trace on glibc: a 592-byte tcache header, a few small blocks, and the
/// 132 KiB top chunk of the first sbrk above them.
fn textbook_heap() -> Vec<HeapSnapshot> {
    use malloc::{Block, BlockKind};
    let base = common::HEAP_START;
    let brk = base + 132 * 1024;
    // (size, program id or None for a free hole) in address order, per step.
    let steps: [&[(u64, Option<u64>)]; 4] = [
        &[(48, Some(1)), (80, Some(2)), (144, Some(3))],
        &[(48, None), (80, Some(2)), (144, Some(3)), (64, Some(4))],
        &[(48, Some(7)), (80, Some(2)), (144, Some(3)), (64, Some(4))],
        &[
            (48, Some(7)),
            (80, None),
            (144, Some(3)),
            (64, Some(4)),
            (112, Some(2)),
        ],
    ];
    steps
        .iter()
        .enumerate()
        .map(|(k, chunks)| {
            let mut blocks = vec![Block {
                addr: base,
                size: 592,
                kind: BlockKind::Meta,
                mapped: false,
            }];
            let mut ids = Vec::new();
            let mut addr = base + 592;
            for &(size, id) in chunks.iter() {
                let kind = if id.is_some() {
                    BlockKind::Used
                } else {
                    BlockKind::Cached
                };
                blocks.push(Block {
                    addr,
                    size,
                    kind,
                    mapped: false,
                });
                if let Some(id) = id {
                    ids.push((addr + 16, id));
                }
                addr += size;
            }
            blocks.push(Block {
                addr,
                size: brk - addr,
                kind: BlockKind::Top,
                mapped: false,
            });
            HeapSnapshot {
                op: 2 * k as u64 + 2,
                heap_start: base,
                brk,
                blocks,
                ids,
            }
        })
        .collect()
}

#[test]
fn a_small_heap_is_zoomed_past_the_top_chunk_and_its_blocks_carry_their_ids() {
    let snaps = textbook_heap();
    let svg = plot::heap_map_chart(&title(), "glibc", &snaps, &Style::default()).unwrap();
    let doc = check(|| plot::heap_map_chart(&title(), "glibc", &snaps, &Style::default()));
    assert!(
        doc.has_text("zoomed to the blocks in use"),
        "{:?}",
        doc.texts
    );
    assert!(
        doc.has_text("the break reaches 132 KiB at most"),
        "{:?}",
        doc.texts
    );
    assert!(doc.has_text("block ids"), "{:?}", doc.texts);
    // The address axis ends near the blocks (1040 bytes), not at 132 KiB.
    assert!(
        doc.has_text("1.25 KiB") && !doc.has_text("100 KiB"),
        "{:?}",
        doc.texts
    );
    // Every id of a block that lives long enough is written on it: 1, 2, 3, 4 and 7.
    for id in ["1", "2", "3", "4", "7"] {
        assert!(
            doc.texts.iter().any(|t| t == id),
            "no id {id} in {:?}",
            doc.texts
        );
    }
    // Block by block: one rectangle per block piece, not a raster.
    assert!(doc.count("rect") < 100, "{} rects", doc.count("rect"));
    assert!(
        svg.contains("stroke=\"#FFFFFF\""),
        "blocks have white edges"
    );
}

#[test]
fn without_ids_or_with_many_live_blocks_no_ids_are_written() {
    let mut snaps = textbook_heap();
    for s in &mut snaps {
        s.ids.clear();
    }
    let doc = check(|| plot::heap_map_chart(&title(), "glibc", &snaps, &Style::default()));
    assert!(!doc.has_text("block ids"), "{:?}", doc.texts);
    assert!(!doc.texts.iter().any(|t| t == "7"));
    // A busy heap (more than 64 live blocks) is not labelled either.
    let busy = common::snapshots(120, false);
    let doc = check(|| plot::heap_map_chart(&title(), "first-fit", &busy, &Style::default()));
    assert!(!doc.has_text("block ids"), "{:?}", doc.texts);
}

#[test]
fn heap_map_stays_small_for_long_runs() {
    let snaps = common::snapshots(2000, true);
    let svg = plot::heap_map_chart(&title(), "first-fit", &snaps, &Style::default()).unwrap();
    let doc = xml::check(&svg).unwrap();
    assert!(
        doc.count("rect") <= 2 * 12_000 + 100,
        "{} rects",
        doc.count("rect")
    );
    assert!(svg.len() < 3_000_000, "{} bytes", svg.len());
}

#[test]
fn crossover_chart_marks_where_the_curves_cross() {
    let model = common::cost_points(false);
    let real = common::cost_points(true);
    let doc = check(|| plot::crossover_chart(&title(), &model, Some(&real), &Style::default()));
    for label in [
        "malloc+free (model)",
        "mmap+munmap (model)",
        "malloc+free (measured)",
        "crossover (model)",
        "Model crossover",
        "Measured crossover",
        "block size",
        "KiB",
        "µs",
    ] {
        assert!(doc.has_text(label), "no {label:?} in {:?}", doc.texts);
    }
    // Without a crossing, the chart says which is cheaper.
    let flat: Vec<_> = model.iter().map(|&(s, a, _)| (s, a, a * 2.0)).collect();
    let doc = check(|| plot::crossover_chart(&title(), &flat, None, &Style::default()));
    assert!(
        doc.has_text("malloc+free is cheaper at every size shown"),
        "{:?}",
        doc.texts
    );
}

#[test]
fn two_runs_are_overlaid_solid_and_dashed_on_shared_axes() {
    let a = common::timeline("glibc", 200, 2);
    let mut b = common::timeline("mmap", 300, 1);
    for s in &mut b.samples {
        s.time_ns *= 3.0;
    }
    let labels = ("A: glibc (run one)", "B: mmap (run two)");
    let doc = check(|| plot::compare_timelines_chart(&title(), &a, &b, labels, &Style::default()));
    for label in [
        "Two runs compared",
        "allocators glibc, mmap",
        "A: glibc (run one)",
        "B: mmap (run two)",
        "Run A is the solid line, run B the dashed one",
        "Live bytes",
        "Footprint",
        "Resident set (RSS)",
        "Memory returned to the OS",
        "Time (cumulative",
        "1.25 ms",
        "operations executed",
    ] {
        assert!(doc.has_text(label), "no {label:?} in {:?}", doc.texts);
    }
    // The op axis spans the longer run (B: 300 samples, 100 ops apart, to op 29,900).
    assert!(doc.has_text("20,000"), "{:?}", doc.texts);
    // B (mapping and unmapping) returns memory: the returned panel is drawn.
    assert!(!doc.has_text("zero throughout both runs"));
    // Two runs that return nothing say so rather than drawing flat lines.
    let never = common::timeline("glibc", 50, 2);
    let doc = check(|| {
        plot::compare_timelines_chart(&title(), &never, &never, ("A", "B"), &Style::default())
    });
    assert!(doc.has_text("zero throughout both runs"), "{:?}", doc.texts);
    let empty = engine::Timeline::default();
    assert!(matches!(
        plot::compare_timelines_chart(&title(), &a, &empty, labels, &Style::default()),
        Err(PlotError::EmptyTimeline { .. })
    ));
}

#[test]
fn model_vs_real_overlays_the_sources() {
    let sim = common::timeline("glibc", 200, 0);
    let mut real = common::timeline("glibc", 180, 0);
    real.source = Some(Source::Real);
    for s in &mut real.samples {
        s.footprint = 0;
    }
    let doc = check(|| plot::model_vs_real_chart(&title(), &sim, &real, &Style::default()));
    for label in [
        "RSS (simulated)",
        "RSS (real)",
        "mapped (real)",
        "minor faults (real)",
        "footprint: the real run did not measure it",
    ] {
        assert!(doc.has_text(label), "no {label:?} in {:?}", doc.texts);
    }
    assert!(!doc.has_text("footprint (real)"));
    let err = plot::model_vs_real_chart(&title(), &real, &sim, &Style::default()).unwrap_err();
    assert!(
        matches!(
            err,
            PlotError::WrongSource {
                expected: Source::Simulated,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn degenerate_inputs_draw_or_fail_with_a_typed_error() {
    let style = Style::default();
    let t = title();
    // Nothing at all: a typed error naming the chart.
    let err = plot::timeline_chart(&t, &[], &style).unwrap_err();
    assert_eq!(
        err,
        PlotError::NoData {
            chart: "timeline",
            what: "no timelines"
        }
    );
    assert!(err.to_string().contains("timeline chart"));
    assert!(plot::fragmentation_chart(&t, &[], &style).is_err());
    assert!(plot::returned_chart(&t, &[], &style).is_err());
    assert!(plot::cost_chart(&t, &[], &style).is_err());
    assert!(plot::heap_map_chart(&t, "x", &[], &style).is_err());
    assert!(plot::crossover_chart(&t, &[], None, &style).is_err());
    let empty = Timeline {
        allocator: "glibc".to_string(),
        ..Timeline::default()
    };
    assert!(matches!(
        plot::timeline_chart(&t, std::slice::from_ref(&empty), &style),
        Err(PlotError::EmptyTimeline { .. })
    ));

    // One sample of zeros, one allocator: drawn.
    let one = vec![one_sample("glibc")];
    check(|| plot::timeline_chart(&t, &one, &style));
    check(|| plot::fragmentation_chart(&t, &one, &style));
    check(|| plot::returned_chart(&t, &one, &style));
    let mut real = one_sample("glibc");
    real.source = Some(Source::Real);
    check(|| plot::model_vs_real_chart(&t, &one[0], &real, &style));

    // A summary with no cost and no syscalls.
    let mut s = common::summary("glibc", 0.0);
    s.minor_faults = 0;
    let doc = check(|| plot::cost_chart(&t, std::slice::from_ref(&s), &style));
    assert!(doc.has_text("no simulated time was charged"));
    let mut bad = common::summary("glibc", 1.0);
    bad.cost_ns.insert("fault".to_string(), f64::NAN);
    assert!(matches!(
        plot::cost_chart(&t, &[bad], &style),
        Err(PlotError::NonFinite { .. })
    ));

    // An empty heap, a single snapshot.
    let snap = HeapSnapshot {
        op: 0,
        heap_start: common::HEAP_START,
        brk: common::HEAP_START,
        blocks: Vec::new(),
        ids: Vec::new(),
    };
    let doc = check(|| plot::heap_map_chart(&t, "glibc", std::slice::from_ref(&snap), &style));
    assert!(doc.has_text("the brk heap was never used"));

    // Cost points: one point, zeros, NaN.
    check(|| plot::crossover_chart(&t, &[(4096, 100.0, 2000.0)], None, &style));
    let doc = check(|| plot::crossover_chart(&t, &[(0, 0.0, 0.0), (64, 10.0, 10.0)], None, &style));
    assert!(doc.has_text("not shown"));
    assert!(matches!(
        plot::crossover_chart(&t, &[(0, 0.0, 0.0)], None, &style),
        Err(PlotError::NoData { .. })
    ));
    assert!(matches!(
        plot::crossover_chart(&t, &[(64, f64::NAN, 1.0)], None, &style),
        Err(PlotError::NonFinite { .. })
    ));

    // A style the layout cannot honour.
    let tiny = Style {
        width: 20,
        ..Style::default()
    };
    assert!(matches!(
        plot::timeline_chart(&t, &one, &tiny),
        Err(PlotError::Style { field: "width", .. })
    ));
}

#[test]
fn long_titles_and_names_wrap_instead_of_leaving_the_page() {
    let mut timelines = common::three(50);
    timelines[0].allocator =
        "a-very-long-allocator-name-with-options(first-fit,lifo,immediate)".to_string();
    let t = title().note("a long note ".repeat(30));
    let doc = check(|| plot::timeline_chart(&t, &timelines, &Style::default()));
    assert_fits(&doc);
    timelines[1].allocator = "w".repeat(150);
    let doc = check(|| plot::returned_chart(&t, &timelines, &Style::default()));
    assert_fits(&doc);
    let doc = check(|| plot::fragmentation_chart(&t, &timelines, &Style::default()));
    assert_fits(&doc);
    let summaries = vec![
        common::summary(&"m".repeat(150), 1.0),
        common::summary("glibc", 2.0),
    ];
    let doc = check(|| plot::cost_chart(&t, &summaries, &Style::default()));
    assert_fits(&doc);
    assert!(doc.has_text("…"));
}

/// Every text fits the page by the layout's own width estimate.
fn assert_fits(doc: &xml::Doc) {
    let page = f64::from(Style::default().width);
    for (text, attrs) in doc.texts.iter().zip(&doc.text_attrs) {
        let size: f64 = attrs["font-size"].parse().unwrap();
        let bold = attrs.get("font-weight").is_some_and(|w| w == "bold");
        let x: f64 = attrs["x"].parse().unwrap();
        let w = plot::text_width(text, size, bold);
        let (left, right) = match attrs["text-anchor"].as_str() {
            "start" => (x, x + w),
            "end" => (x - w, x),
            _ => (x - w / 2.0, x + w / 2.0),
        };
        assert!(
            left >= 0.0 && right <= page,
            "{text:?} ({left}..{right}) leaves the page"
        );
    }
}

#[test]
fn every_chart_keeps_its_labels_on_the_page() {
    let style = Style::default();
    let t = title();
    let timelines = common::three(100);
    let summaries = vec![common::summary("glibc", 1.0), common::summary("mmap", 3.0)];
    let model = common::cost_points(false);
    let mut real = timelines[0].clone();
    real.source = Some(Source::Real);
    for svg in [
        plot::timeline_chart(&t, &timelines, &style),
        plot::fragmentation_chart(&t, &timelines, &style),
        plot::returned_chart(&t, &timelines, &style),
        plot::cost_chart(&t, &summaries, &style),
        plot::heap_map_chart(&t, "first-fit", &common::snapshots(100, true), &style),
        plot::crossover_chart(&t, &model, Some(&model), &style),
        plot::model_vs_real_chart(&t, &timelines[0], &real, &style),
    ] {
        assert_fits(&xml::check(&svg.unwrap()).unwrap());
    }
}

/// A timeline from proptest's values: any sizes, any op gaps, phases anywhere.
fn arb_timeline() -> impl Strategy<Value = Timeline> {
    let sample = (
        0u64..1_000,
        any::<[u32; 8]>(),
        proptest::option::of("[a-z]{1,12}"),
    );
    proptest::collection::vec(sample, 1..60).prop_map(|raw| {
        let mut op = 0;
        let mut returned = [0u64; 3];
        let samples = raw
            .into_iter()
            .map(|(gap, v, phase)| {
                op += gap;
                let v: Vec<u64> = v.iter().map(|&x| u64::from(x) * 17).collect();
                for (r, add) in returned.iter_mut().zip(&v[5..8]) {
                    *r += add % 3 * 4096;
                }
                Sample {
                    op,
                    live: v[0],
                    allocated: v[1],
                    footprint: v[2],
                    free_in_heap: v[2].saturating_sub(v[1]),
                    largest_free: v[3],
                    mapped: v[4],
                    rss: v[3] / 2,
                    returned_brk: returned[0],
                    returned_munmap: returned[1],
                    returned_madvise: returned[2],
                    minor_faults: v[5],
                    phase,
                    ..Sample::default()
                }
            })
            .collect();
        Timeline {
            allocator: "arb".to_string(),
            source: Some(Source::Simulated),
            samples,
        }
    })
}

fn cases() -> u32 {
    if std::env::var_os("BRKMAP_LONG").is_some() {
        512
    } else {
        24
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_timelines_always_give_well_formed_charts(
        timelines in proptest::collection::vec(arb_timeline(), 1..4)
    ) {
        let style = Style::default();
        let t = title();
        for svg in [
            plot::timeline_chart(&t, &timelines, &style),
            plot::fragmentation_chart(&t, &timelines, &style),
            plot::returned_chart(&t, &timelines, &style),
        ] {
            let svg = svg.map_err(|e| TestCaseError::fail(e.to_string()))?;
            xml::check(&svg).map_err(TestCaseError::fail)?;
        }
        let mut real = timelines[0].clone();
        real.source = Some(Source::Real);
        let svg = plot::model_vs_real_chart(&t, &timelines[0], &real, &style)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        xml::check(&svg).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn random_cost_points_never_panic(
        points in proptest::collection::vec((0u64..1 << 40, 0.0f64..1e9, 0.0f64..1e9), 1..30)
    ) {
        match plot::crossover_chart(&title(), &points, Some(&points), &Style::default()) {
            Ok(svg) => { xml::check(&svg).map_err(TestCaseError::fail)?; }
            Err(PlotError::NoData { .. }) => {}
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        }
    }
}

#[test]
fn long_series_are_reduced_to_what_the_plot_can_show() {
    // Per pixel column the first, lowest, highest and last value: once a series has
    // several samples per column, more samples add no bytes. (How fast charts render
    // is a benchmark's question, not a test's.)
    let style = Style::default();
    let size = |n: usize| {
        let timelines = common::three(n);
        [
            plot::timeline_chart(&title(), &timelines, &style).unwrap(),
            plot::fragmentation_chart(&title(), &timelines, &style).unwrap(),
            plot::returned_chart(&title(), &timelines, &style).unwrap(),
        ]
        .iter()
        .map(String::len)
        .sum::<usize>()
    };
    let saturated = size(50_000);
    let long = size(200_000);
    assert!(
        long <= saturated + saturated / 20,
        "{long} bytes for 200,000 samples against {saturated} for 50,000"
    );
    assert!(long < 1_500_000, "{long} bytes");
}

#[test]
fn a_phase_name_sits_over_the_ops_that_follow_its_marker() {
    // An Op::Phase names the ops after it: "first" covers the first 60% of the ops,
    // "second" the rest, so "first" is written left of the middle, "second" right of it.
    let mut t = common::timeline("glibc", 1000, 0);
    for s in &mut t.samples {
        s.phase = None;
    }
    let last = t.samples.last().unwrap().op;
    let at = |t: &Timeline, op: u64| t.samples.iter().position(|s| s.op >= op).unwrap();
    let (a, b) = (at(&t, 0), at(&t, last * 6 / 10));
    t.samples[a].phase = Some("first".to_string());
    t.samples[b].phase = Some("second".to_string());
    let doc = check(|| plot::timeline_chart(&title(), std::slice::from_ref(&t), &Style::default()));
    let x_of = |name: &str| -> f64 {
        let i = doc.texts.iter().position(|x| x == name).unwrap();
        doc.text_attrs[i]["x"].parse().unwrap()
    };
    let (first, second) = (x_of("first"), x_of("second"));
    assert!(first < second, "{first} {second}");
    let width = f64::from(Style::default().width);
    assert!(first < width * 0.55, "first at {first} of {width}");
    assert!(second > width * 0.65, "second at {second} of {width}");
}

#[test]
fn names_with_markup_characters_are_escaped() {
    let mut t = common::timeline("<evil & \"quoted\" 'name'>", 40, 0);
    t.samples[10].phase = Some("a<b&c".to_string());
    let title = ChartTitle::new("x&y<z>").cost_model("\"cal\"");
    let style = Style {
        font_family: "\"Odd\" <Font>, sans-serif".to_string(),
        ..Style::default()
    };
    let doc = check(|| plot::timeline_chart(&title, std::slice::from_ref(&t), &style));
    assert!(doc.has_text("<evil & \"quoted\" 'name'>"));
    assert!(doc.has_text("a<b&c"));
    assert!(doc.has_text("workload x&y<z>"));
    assert_eq!(
        doc.text_attrs[0]["font-family"],
        "\"Odd\" <Font>, sans-serif"
    );
}
