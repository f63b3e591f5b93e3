//! The page every chart is drawn on: title block, legend band, panels, notes.
//!
//! A chart first describes its page ([`Doc`]: title, definitions, legend, panels with
//! their heights, notes), which fixes the SVG's height; then [`Doc::render`] creates the
//! plotters SVG backend of that size, draws the fixed parts (texts, legends, panel
//! frames) and hands each panel to the chart as a plotters [`ChartContext`] whose axes
//! carry our own tick positions and labels.
//!
//! Legends never sit on the data: the chart-wide legend gets a band of its own under the
//! title, and a panel's legend sits between its title and its plotting area.

use crate::error::{OrBackend, PlotError};
use crate::format::Axis;
use crate::style::{self, Cue, GRID, INK, MUTED, Marker, PAPER, Style, size, text_width};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;

/// One axis as plotters sees it: a linear f64 range whose grid lines and labels sit at
/// our ticks rather than at plotters' own choice.
#[derive(Clone, Debug)]
pub(crate) struct Ticked {
    min: f64,
    max: f64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(axis: &Axis) -> Ticked {
        Ticked {
            min: axis.min,
            max: axis.max,
            ticks: axis.positions(),
        }
    }
}

impl Ranged for Ticked {
    // The labels come from our own formatter; this only satisfies plotters' bound.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.max - self.min;
        if span <= 0.0 || !span.is_finite() || !v.is_finite() {
            return limit.0;
        }
        let t = ((v - self.min) / span).clamp(-4.0, 5.0);
        limit.0 + (f64::from(limit.1 - limit.0) * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Only bold grid lines: at the ticks.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.min..self.max
    }
}

/// The coordinate system of every panel: f64 on both axes, ticks where we put them.
pub(crate) type Coords = Cartesian2d<Ticked, Ticked>;

/// A panel's plotters chart.
pub(crate) type Chart<'p, 'a> = ChartContext<'p, SVGBackend<'a>, Coords>;

/// The whole page, in pixels.
pub(crate) type Root<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Left and right page margins.
const MARGIN_X: i32 = 16;
/// Top and bottom page margins.
const MARGIN_Y: i32 = 14;
/// Height of the title line.
const TITLE_LINE: i32 = 22;
/// Height of a setup or definition line.
const SUBTITLE_LINE: i32 = 17;
/// Height of a legend row.
const LEGEND_ROW: i32 = 18;
/// Width of a legend swatch.
const SWATCH: i32 = 28;
/// Height of a panel's title row.
const PANEL_TITLE: i32 = 18;
/// Height of the tick-label area under a plot.
const X_LABELS: i32 = 22;
/// Height of an axis description line under the tick labels.
const X_DESC: i32 = 17;
/// Space after a panel.
const PANEL_GAP: i32 = 14;
/// Height of a note line.
const NOTE_LINE: i32 = 15;
/// Space a y tick label needs besides its text: tick mark and gaps.
const Y_LABEL_PAD: i32 = 16;
/// Space between the plotting area's right edge and the page margin, where the last
/// x tick label overhangs.
const PLOT_RIGHT: i32 = 18;

/// What a legend entry shows in front of its label.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Swatch {
    /// A short line with the series' marker.
    Line(Cue),
    /// A short plain line, no marker (a single reference line such as the break).
    Plain(RGBColor),
    /// A filled box (bars, heap-map kinds).
    Box(RGBColor),
    /// A vertical dashed rule (phase boundaries, crossovers).
    Rule(RGBColor),
    /// A short vertical tick (events in a rug lane).
    Tick(RGBColor),
}

/// One legend entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    /// The swatch.
    pub swatch: Swatch,
    /// The label.
    pub label: String,
}

impl Entry {
    /// An entry.
    pub fn new(swatch: Swatch, label: impl Into<String>) -> Entry {
        Entry {
            swatch,
            label: label.into(),
        }
    }
}

/// One panel of a page.
#[derive(Clone, Debug, Default)]
pub(crate) struct Panel {
    /// Bold title at the panel's top left.
    pub title: String,
    /// Entries of the panel's own legend, under its title.
    pub legend: Vec<Entry>,
    /// Pixels reserved between the legend and the plot (for labels such as phase
    /// names), handed back by [`Page::band`].
    pub band: i32,
    /// Height of the plotting area.
    pub plot_height: i32,
    /// Whether the x tick labels are drawn under this panel.
    pub x_labels: bool,
    /// A description of the x axis under the tick labels.
    pub x_desc: Option<String>,
    /// A message shown in the middle of a plot with nothing to show ("nothing
    /// returned").
    pub empty_message: Option<String>,
    /// Pixels between this panel and the next (a rug lane sits right under its plot);
    /// `None` for the usual gap.
    pub gap_after: Option<i32>,
}

/// Where a panel's parts landed.
#[derive(Clone, Debug)]
struct PanelBox {
    title: Vec<(i32, String)>,
    legend: Vec<(i32, i32, Entry)>,
    band_y: i32,
    plot_top: i32,
    area_bottom: i32,
    x_desc_y: i32,
}

/// A page under construction.
#[derive(Clone)]
pub(crate) struct Doc<'s> {
    chart: &'static str,
    style: &'s Style,
    title: String,
    lines: Vec<String>,
    legend: Vec<Entry>,
    panels: Vec<Panel>,
    notes: Vec<String>,
    y_label_width: i32,
}

/// The page's measured layout.
struct Layout {
    height: i32,
    lines: Vec<(i32, String, bool)>,
    legend: Vec<(i32, i32, Entry)>,
    panels: Vec<PanelBox>,
    notes: Vec<(i32, String)>,
}

impl<'s> Doc<'s> {
    /// A page for chart `chart` (its name in errors) with a bold title.
    pub fn new(chart: &'static str, style: &'s Style, title: impl Into<String>) -> Doc<'s> {
        Doc {
            chart,
            style,
            title: title.into(),
            lines: Vec::new(),
            legend: Vec::new(),
            panels: Vec::new(),
            notes: Vec::new(),
            y_label_width: 40,
        }
    }

    /// Adds a line under the title (the setup, a definition); long lines wrap.
    pub fn line(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }

    /// Adds an entry to the chart-wide legend band.
    pub fn legend(&mut self, entry: Entry) {
        self.legend.push(entry);
    }

    /// Adds a panel; returns its index.
    pub fn panel(&mut self, panel: Panel) -> usize {
        self.panels.push(panel);
        self.panels.len() - 1
    }

    /// Adds a note under the panels; long notes wrap.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Makes the y tick-label area wide enough for every label of `axes` (the same
    /// width for all panels, so their plotting areas line up), up to a third of the
    /// page; longer labels (allocator names on a bar chart) are shortened to fit.
    pub fn fit_y_labels<'x>(&mut self, axes: impl IntoIterator<Item = &'x Axis>) {
        let cap = self.style.width as i32 / 3;
        for axis in axes {
            for (_, label) in &axis.ticks {
                let w = text_width(label, size::LABEL, false).ceil() as i32 + Y_LABEL_PAD;
                self.y_label_width = self.y_label_width.max(w.min(cap));
            }
        }
    }

    /// The pixel x range every panel's plotting area will have (known once the y
    /// labels are fitted).
    pub fn plot_x_span(&self) -> (i32, i32) {
        (
            MARGIN_X + self.y_label_width,
            self.style.width as i32 - MARGIN_X - PLOT_RIGHT,
        )
    }

    fn inner_width(&self) -> f64 {
        f64::from(self.style.width) - 2.0 * f64::from(MARGIN_X)
    }

    /// Places legend entries in rows from `y`, wrapping at the page width; returns the
    /// placements and the y after the last row.
    fn flow(&self, entries: &[Entry], x0: i32, mut y: i32) -> (Vec<(i32, i32, Entry)>, i32) {
        let right = self.style.width as i32 - MARGIN_X;
        let mut x = x0;
        let mut placed = Vec::new();
        if entries.is_empty() {
            return (placed, y);
        }
        let room = f64::from(right - x0 - SWATCH - 6);
        for e in entries {
            let mut e = e.clone();
            e.label = style::shorten(&e.label, size::LABEL, room);
            let w = SWATCH + 6 + text_width(&e.label, size::LABEL, false).ceil() as i32 + 18;
            if x > x0 && x + w > right {
                x = x0;
                y += LEGEND_ROW;
            }
            placed.push((x, y, e));
            x += w;
        }
        (placed, y + LEGEND_ROW)
    }

    fn layout(&self) -> Layout {
        let width = self.inner_width();
        let mut y = MARGIN_Y;
        let mut lines = Vec::new();
        for l in style::wrap(&self.title, size::TITLE, true, width) {
            lines.push((y, l, true));
            y += TITLE_LINE;
        }
        for text in &self.lines {
            for l in style::wrap(text, size::SUBTITLE, false, width) {
                lines.push((y, l, false));
                y += SUBTITLE_LINE;
            }
        }
        y += 4;
        let (legend, after) = self.flow(&self.legend, MARGIN_X, y);
        y = after + 4;
        let mut panels = Vec::new();
        for p in &self.panels {
            let mut title = Vec::new();
            if !p.title.is_empty() {
                for line in style::wrap(&p.title, size::PANEL, true, width) {
                    title.push((y, line));
                    y += PANEL_TITLE;
                }
            }
            let (legend, after) = self.flow(&p.legend, MARGIN_X + 8, y);
            y = after;
            let band_y = y;
            y += p.band;
            // Room for the top tick label, which is centred on the plot's top edge.
            y += 6;
            let plot_top = y;
            y += p.plot_height;
            if p.x_labels {
                y += X_LABELS;
            } else {
                y += 1;
            }
            let area_bottom = y;
            let x_desc_y = y;
            if p.x_desc.is_some() {
                y += X_DESC;
            }
            y += p.gap_after.unwrap_or(PANEL_GAP);
            panels.push(PanelBox {
                title,
                legend,
                band_y,
                plot_top,
                area_bottom,
                x_desc_y,
            });
        }
        let mut notes = Vec::new();
        for text in &self.notes {
            for l in style::wrap(text, size::NOTE, false, width) {
                notes.push((y, l));
                y += NOTE_LINE;
            }
        }
        Layout {
            height: y + MARGIN_Y,
            lines,
            legend,
            panels,
            notes,
        }
    }

    /// Draws the page into `out` (replacing its contents): the fixed parts here, then
    /// `draw` for the panels' data.
    pub fn render(
        self,
        out: &mut String,
        draw: impl FnOnce(&Page<'_, '_>) -> Result<(), PlotError>,
    ) -> Result<(), PlotError> {
        self.style.validate()?;
        out.clear();
        let layout = self.layout();
        let chart = self.chart;
        let height = layout.height.max(1) as u32;
        {
            let root = SVGBackend::with_string(out, (self.style.width, height)).into_drawing_area();
            root.fill(&PAPER).or_backend(chart)?;
            let page = Page {
                doc: &self,
                root,
                layout,
                areas: Vec::new(),
            };
            let page = page.with_areas();
            page.draw_fixed()?;
            draw(&page)?;
            page.root.present().or_backend(chart)?;
        }
        Ok(())
    }
}

/// A page being drawn.
pub(crate) struct Page<'d, 'a> {
    doc: &'d Doc<'d>,
    root: Root<'a>,
    layout: Layout,
    areas: Vec<Root<'a>>,
}

impl<'d, 'a> Page<'d, 'a> {
    fn with_areas(mut self) -> Self {
        let w = self.doc.style.width as i32 - 2 * MARGIN_X;
        self.areas = self
            .layout
            .panels
            .iter()
            .map(|b| {
                let h = (b.area_bottom - b.plot_top).max(1);
                self.root
                    .clone()
                    .shrink((MARGIN_X, b.plot_top), (w.max(1) as u32, h as u32))
            })
            .collect();
        self
    }

    /// The chart's name, for errors.
    pub fn name(&self) -> &'static str {
        self.doc.chart
    }

    /// The whole page, in pixels, for drawing outside the panels' coordinates.
    pub fn root(&self) -> &Root<'a> {
        &self.root
    }

    /// A text style of the page's font.
    pub fn font(&self, px: f64, bold: bool, colour: &'static RGBColor, pos: Pos) -> TextStyle<'_> {
        let weight = if bold {
            FontStyle::Bold
        } else {
            FontStyle::Normal
        };
        // plotters' SVG backend writes `font-size` as the given size divided by 1.24
        // (its em-box convention); multiplying here makes the SVG say `px`.
        TextStyle::from((
            FontFamily::Name(&self.doc.style.font_family),
            px * 1.24,
            weight,
        ))
        .color(colour)
        .pos(pos)
    }

    /// Draws `text` at pixel `(x, y)`, anchored by `pos`.
    pub fn text(
        &self,
        text: &str,
        (x, y): (i32, i32),
        px: f64,
        bold: bool,
        colour: &'static RGBColor,
        pos: Pos,
    ) -> Result<(), PlotError> {
        let style = self.font(px, bold, colour, pos);
        self.root
            .draw(&Text::new(text.to_string(), (x, y), style))
            .or_backend(self.doc.chart)
    }

    fn draw_fixed(&self) -> Result<(), PlotError> {
        let top_left = Pos::new(HPos::Left, VPos::Top);
        for (y, line, title) in &self.layout.lines {
            let (px, colour) = if *title {
                (size::TITLE, &INK)
            } else {
                (size::SUBTITLE, &MUTED)
            };
            self.text(line, (MARGIN_X, *y), px, *title, colour, top_left)?;
        }
        for (x, y, e) in &self.layout.legend {
            self.legend_entry(*x, *y, e)?;
        }
        for b in &self.layout.panels {
            for (y, line) in &b.title {
                self.text(line, (MARGIN_X, *y), size::PANEL, true, &INK, top_left)?;
            }
            for (x, y, e) in &b.legend {
                self.legend_entry(*x, *y, e)?;
            }
        }
        for (y, note) in &self.layout.notes {
            self.text(note, (MARGIN_X, *y), size::NOTE, false, &MUTED, top_left)?;
        }
        Ok(())
    }

    fn legend_entry(&self, x: i32, y: i32, e: &Entry) -> Result<(), PlotError> {
        let mid = y + LEGEND_ROW / 2;
        let chart = self.doc.chart;
        match e.swatch {
            Swatch::Line(cue) => {
                let style = ShapeStyle::from(&cue.colour).stroke_width(cue.width);
                match cue.dash {
                    None => self
                        .root
                        .draw(&PathElement::new(vec![(x, mid), (x + SWATCH, mid)], style))
                        .or_backend(chart)?,
                    Some((on, off)) => {
                        let mut sx = x;
                        while sx < x + SWATCH {
                            let ex = (sx + on as i32).min(x + SWATCH);
                            self.root
                                .draw(&PathElement::new(vec![(sx, mid), (ex, mid)], style))
                                .or_backend(chart)?;
                            sx = ex + off as i32;
                        }
                    }
                }
                self.marker((x + SWATCH / 2, mid), cue)?;
            }
            Swatch::Plain(colour) => {
                let style = ShapeStyle::from(&colour).stroke_width(2);
                self.root
                    .draw(&PathElement::new(vec![(x, mid), (x + SWATCH, mid)], style))
                    .or_backend(chart)?;
            }
            Swatch::Box(colour) => {
                self.root
                    .draw(&Rectangle::new(
                        [(x + 4, mid - 6), (x + SWATCH - 4, mid + 6)],
                        colour.filled(),
                    ))
                    .or_backend(chart)?;
                self.root
                    .draw(&Rectangle::new(
                        [(x + 4, mid - 6), (x + SWATCH - 4, mid + 6)],
                        ShapeStyle::from(&style::AXIS).stroke_width(1),
                    ))
                    .or_backend(chart)?;
            }
            Swatch::Rule(colour) => {
                let style = ShapeStyle::from(&colour).stroke_width(1);
                let cx = x + SWATCH / 2;
                let mut sy = y + 2;
                while sy < y + LEGEND_ROW - 2 {
                    self.root
                        .draw(&PathElement::new(vec![(cx, sy), (cx, sy + 3)], style))
                        .or_backend(chart)?;
                    sy += 5;
                }
            }
            Swatch::Tick(colour) => {
                let style = ShapeStyle::from(&colour).stroke_width(2);
                let cx = x + SWATCH / 2;
                self.root
                    .draw(&PathElement::new(vec![(cx, mid - 5), (cx, mid + 5)], style))
                    .or_backend(chart)?;
            }
        }
        self.text(
            &e.label,
            (x + SWATCH + 6, mid),
            size::LABEL,
            false,
            &INK,
            Pos::new(HPos::Left, VPos::Center),
        )
    }

    /// Draws `cue`'s marker centred on pixel `(x, y)`: filled, or as an outline over
    /// a white fill when the cue is hollow.
    pub fn marker(&self, (x, y): (i32, i32), cue: Cue) -> Result<(), PlotError> {
        let chart = self.doc.chart;
        let colour = cue.colour;
        let line = ShapeStyle::from(&colour).stroke_width(2);
        let fill = if cue.hollow {
            PAPER.filled()
        } else {
            colour.filled()
        };
        let r = &self.root;
        let outline = |points: Vec<(i32, i32)>| -> Result<(), PlotError> {
            r.draw(&Polygon::new(points.clone(), fill))
                .or_backend(chart)?;
            if cue.hollow {
                let mut closed = points;
                closed.push(closed[0]);
                r.draw(&PathElement::new(closed, line)).or_backend(chart)?;
            }
            Ok(())
        };
        // A cross has no inside to leave hollow: a measurement's cross is upright.
        let shape = match (cue.marker, cue.hollow) {
            (Marker::Cross, true) => Marker::Plus,
            (Marker::Plus, true) => Marker::Cross,
            (m, _) => m,
        };
        match shape {
            Marker::Circle => {
                r.draw(&Circle::new((x, y), 4, fill)).or_backend(chart)?;
                if cue.hollow {
                    r.draw(&Circle::new((x, y), 4, line)).or_backend(chart)?;
                }
                Ok(())
            }
            Marker::Square => outline(vec![
                (x - 4, y - 4),
                (x + 4, y - 4),
                (x + 4, y + 4),
                (x - 4, y + 4),
            ]),
            Marker::Triangle => outline(vec![(x, y - 5), (x + 5, y + 4), (x - 5, y + 4)]),
            Marker::Diamond => outline(vec![(x, y - 5), (x + 5, y), (x, y + 5), (x - 5, y)]),
            Marker::Cross => r
                .draw(&PathElement::new(
                    vec![(x - 4, y - 4), (x + 4, y + 4)],
                    line,
                ))
                .and_then(|_| {
                    r.draw(&PathElement::new(
                        vec![(x - 4, y + 4), (x + 4, y - 4)],
                        line,
                    ))
                })
                .or_backend(chart),
            Marker::Plus => r
                .draw(&PathElement::new(vec![(x - 5, y), (x + 5, y)], line))
                .and_then(|_| r.draw(&PathElement::new(vec![(x, y - 5), (x, y + 5)], line)))
                .or_backend(chart),
        }
    }

    /// The pixel rectangle `(x0, y0, x1, y1)` of panel `i`'s reserved band.
    pub fn band(&self, i: usize) -> (i32, i32, i32, i32) {
        let b = &self.layout.panels[i];
        let p = &self.doc.panels[i];
        (
            MARGIN_X + self.doc.y_label_width,
            b.band_y,
            self.doc.style.width as i32 - MARGIN_X - PLOT_RIGHT,
            b.band_y + p.band,
        )
    }

    /// Builds panel `i`'s chart with axes `x` and `y` and draws its grid, axes and tick
    /// labels (and its x description and empty-plot message, if any).
    pub fn chart(&self, i: usize, x: &Axis, y: &Axis) -> Result<Chart<'_, 'a>, PlotError> {
        let chart_name = self.doc.chart;
        let p = &self.doc.panels[i];
        let b = &self.layout.panels[i];
        let x_area = if p.x_labels { X_LABELS } else { 0 };
        let mut chart = ChartBuilder::on(&self.areas[i])
            .x_label_area_size(x_area)
            .y_label_area_size(self.doc.y_label_width)
            .margin_right(PLOT_RIGHT)
            .build_cartesian_2d(Ticked::new(x), Ticked::new(y))
            .or_backend(chart_name)?;
        let x_fmt = |v: &f64| x.label(*v);
        let room = f64::from(self.doc.y_label_width - Y_LABEL_PAD);
        let y_fmt = |v: &f64| style::shorten(&y.label(*v), size::LABEL, room);
        let label_style = self.font(size::LABEL, false, &MUTED, Pos::new(HPos::Left, VPos::Top));
        let mut mesh = chart.configure_mesh();
        mesh.bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(style::AXIS)
            .label_style(label_style)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .set_all_tick_mark_size(4);
        mesh.draw().or_backend(chart_name)?;
        let (x0, x1) = self.plot_x_span();
        if !p.x_labels {
            // Without a label area plotters draws no x axis line; close the plot.
            let yb = b.plot_top + p.plot_height;
            self.root
                .draw(&PathElement::new(
                    vec![(x0, yb), (x1, yb)],
                    ShapeStyle::from(&style::AXIS).stroke_width(1),
                ))
                .or_backend(chart_name)?;
        }
        if let Some(desc) = &p.x_desc {
            self.text(
                desc,
                ((x0 + x1) / 2, b.x_desc_y),
                size::LABEL,
                false,
                &INK,
                Pos::new(HPos::Center, VPos::Top),
            )?;
        }
        if let Some(msg) = &p.empty_message {
            self.text(
                msg,
                ((x0 + x1) / 2, b.plot_top + p.plot_height / 2),
                size::SUBTITLE,
                false,
                &MUTED,
                Pos::new(HPos::Center, VPos::Center),
            )?;
        }
        Ok(chart)
    }

    /// The pixel x range of every panel's plotting area.
    pub fn plot_x_span(&self) -> (i32, i32) {
        self.doc.plot_x_span()
    }
}
