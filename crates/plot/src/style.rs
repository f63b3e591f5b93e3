//! The one visual style every chart shares: page size, fonts, colours and series cues.
//!
//! Colours come from the Okabe–Ito palette, chosen so that the common forms of colour
//! blindness still tell them apart. Colour is never the only cue: every line series also
//! gets its own marker shape (and a dash pattern where the chart compares a model with a
//! measurement), and stacked bars carry their category's name inside each segment wide
//! enough to hold it.

use crate::error::PlotError;
use plotters::style::RGBColor;

/// Page size and font of the charts.
///
/// The default width is the book's content column ([`Style::BOOK_COLUMN`], 750 px in
/// mdBook's default theme), so a figure shows there at its own size and every text keeps
/// the size it was drawn at: never below [`Style::MIN_FONT`] (11 px). A wider chart is
/// scaled down to fit the column, and its text with it (a 960-px chart shows 11-px text
/// at 8.6 px); a narrower one is shown as drawn. Every chart computes its height from
/// the number of panels it draws.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Style {
    /// Width of the SVG in pixels.
    pub width: u32,
    /// Height of one panel's plotting area in pixels (labels and titles come on top).
    pub panel_height: u32,
    /// The CSS font-family list written into every `<text>` element. The viewer's
    /// browser picks the first font it has; no font file is read when drawing.
    pub font_family: String,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            width: Style::BOOK_COLUMN,
            panel_height: 200,
            font_family: "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif".to_string(),
        }
    }
}

impl Style {
    /// The width of the book's content column in CSS pixels (mdBook's default theme sets
    /// `--content-max-width: 750px`; an image wider than the column is scaled to fit).
    pub const BOOK_COLUMN: u32 = 750;
    /// The smallest font size any chart text is drawn at, in pixels.
    pub const MIN_FONT: f64 = size::NOTE;
    /// The supported range of [`Style::width`].
    pub const WIDTH_RANGE: (u32, u32) = (480, 4000);
    /// The supported range of [`Style::panel_height`].
    pub const PANEL_HEIGHT_RANGE: (u32, u32) = (80, 2000);

    /// Checks that the layout can fit labels and legends in this size.
    pub fn validate(&self) -> Result<(), PlotError> {
        let check = |field, value: u32, (min, max): (u32, u32)| {
            if value < min || value > max {
                Err(PlotError::Style {
                    field,
                    value,
                    min,
                    max,
                })
            } else {
                Ok(())
            }
        };
        check("width", self.width, Self::WIDTH_RANGE)?;
        check("panel_height", self.panel_height, Self::PANEL_HEIGHT_RANGE)
    }
}

/// Okabe & Ito's colour-blind-safe palette (2008), in their order.
pub(crate) mod okabe_ito {
    use plotters::style::RGBColor;
    /// Black.
    pub const BLACK: RGBColor = RGBColor(0x00, 0x00, 0x00);
    /// Orange.
    pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
    /// Sky blue.
    pub const SKY_BLUE: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
    /// Bluish green.
    pub const BLUISH_GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
    /// Yellow (for fills only: too light for a thin line on white).
    pub const YELLOW: RGBColor = RGBColor(0xF0, 0xE4, 0x42);
    /// Blue.
    pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
    /// Vermillion.
    pub const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
    /// Reddish purple.
    pub const REDDISH_PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
}

/// A neutral grey, the ninth colour where nine categories need one each.
pub(crate) const GREY: RGBColor = RGBColor(0x99, 0x99, 0x99);
/// Text of titles and labels.
pub(crate) const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Secondary text (setup line, notes).
pub(crate) const MUTED: RGBColor = RGBColor(0x55, 0x55, 0x55);
/// Axis lines and tick marks.
pub(crate) const AXIS: RGBColor = RGBColor(0x66, 0x66, 0x66);
/// Grid lines.
pub(crate) const GRID: RGBColor = RGBColor(0xE2, 0xE2, 0xE2);
/// Page background.
pub(crate) const PAPER: RGBColor = RGBColor(0xFF, 0xFF, 0xFF);

/// Line colours for series that are told apart only by index (allocators), in order.
/// Yellow is left out: a thin yellow line on white is hard to see for everyone.
pub(crate) const LINE_COLOURS: [RGBColor; 7] = [
    okabe_ito::BLUE,
    okabe_ito::VERMILLION,
    okabe_ito::BLUISH_GREEN,
    okabe_ito::REDDISH_PURPLE,
    okabe_ito::ORANGE,
    okabe_ito::SKY_BLUE,
    okabe_ito::BLACK,
];

/// A marker shape, the second cue of a line series.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Marker {
    /// A filled circle.
    Circle,
    /// A filled square.
    Square,
    /// A filled triangle pointing up.
    Triangle,
    /// A filled diamond.
    Diamond,
    /// An x-shaped cross.
    Cross,
    /// A plus sign.
    Plus,
}

/// Marker shapes in the order series get them.
pub(crate) const MARKERS: [Marker; 6] = [
    Marker::Circle,
    Marker::Square,
    Marker::Triangle,
    Marker::Diamond,
    Marker::Cross,
    Marker::Plus,
];

/// How one line series is drawn: colour, marker and dash pattern.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) struct Cue {
    /// Line and marker colour.
    pub colour: RGBColor,
    /// Marker shape.
    pub marker: Marker,
    /// Dash and gap lengths in pixels; `None` draws a solid line.
    pub dash: Option<(u32, u32)>,
    /// Line width in pixels.
    pub width: u32,
    /// Whether the marker is drawn as an outline (measurements) rather than filled.
    pub hollow: bool,
}

impl Cue {
    /// The cue of the `i`-th series of a chart whose series are told apart only by
    /// index.
    pub fn nth(i: usize) -> Cue {
        Cue {
            colour: LINE_COLOURS[i % LINE_COLOURS.len()],
            marker: MARKERS[i % MARKERS.len()],
            dash: None,
            width: 2,
            hollow: false,
        }
    }

    /// A solid cue with a given colour and marker.
    pub fn new(colour: RGBColor, marker: Marker) -> Cue {
        Cue {
            colour,
            marker,
            dash: None,
            width: 2,
            hollow: false,
        }
    }

    /// The same cue with a dash pattern and hollow markers: how a chart draws a
    /// measurement next to the model's solid line of the same colour and shape.
    pub fn dashed(self) -> Cue {
        Cue {
            dash: Some((7, 4)),
            hollow: true,
            ..self
        }
    }
}

/// Font sizes in pixels, chosen so that plotters' SVG output (which writes the size it
/// is given divided by 1.24) prints them exactly. The smallest, [`NOTE`], is the
/// legibility floor of [`Style::MIN_FONT`]: 11 px where the chart is shown at its own
/// size (the book's column, at the default width).
pub(crate) mod size {
    /// The chart's title.
    pub const TITLE: f64 = 16.0;
    /// The setup line and definitions under the title.
    pub const SUBTITLE: f64 = 12.0;
    /// A panel's title.
    pub const PANEL: f64 = 12.5;
    /// Tick labels and legend entries.
    pub const LABEL: f64 = 11.5;
    /// Notes under the chart, labels inside bars and blocks.
    pub const NOTE: f64 = 11.0;
}

/// The width, in pixels, a browser will probably give `text` at `font_size` pixels.
///
/// The SVG holds text, not glyph outlines, so the exact width depends on the viewer's
/// font. Layout only needs an upper estimate, to keep labels from overlapping or leaving
/// the page: the per-character advances below are those of DejaVu Sans (the widest of
/// the usual sans-serif faces, and the first in [`Style::font_family`]) rounded up, in
/// units of the font size. `bold` adds the extra width of a bold face.
pub fn text_width(text: &str, font_size: f64, bold: bool) -> f64 {
    let em: f64 = text.chars().map(advance).sum();
    em * font_size * if bold { 1.1 } else { 1.0 }
}

/// One character's advance in ems (DejaVu Sans, rounded up).
fn advance(c: char) -> f64 {
    match c {
        ' ' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | 'i' | 'j' | 'l' | '·' => 0.32,
        'I' | 'f' | '/' | '\\' | '(' | ')' | '[' | ']' | '-' | 't' => 0.40,
        'r' => 0.42,
        '0'..='9' | '$' | '#' | '_' | 'µ' | '–' => 0.64,
        'm' => 0.98,
        'w' | '%' => 0.96,
        'M' | 'W' | '—' => 1.0,
        '+' | '=' | '<' | '>' | '×' | '−' | '≈' | '≤' | '≥' | '~' => 0.84,
        'a'..='z' => 0.63,
        'A'..='Z' => 0.75,
        _ => 0.8,
    }
}

/// Splits a word wider than `max_width` into pieces that fit (at least one character
/// each).
fn split_word(word: &str, font_size: f64, bold: bool, max_width: f64) -> Vec<String> {
    let mut pieces = vec![String::new()];
    for c in word.chars() {
        let mut piece = pieces.pop().unwrap_or_default();
        piece.push(c);
        if piece.chars().count() > 1 && text_width(&piece, font_size, bold) > max_width {
            piece.pop();
            pieces.push(piece);
            pieces.push(c.to_string());
        } else {
            pieces.push(piece);
        }
    }
    pieces
}

/// Splits `text` into lines no wider than `max_width` pixels at `font_size`, breaking
/// at spaces, and inside a word only when the word alone is wider than a line.
pub(crate) fn wrap(text: &str, font_size: f64, bold: bool, max_width: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let words = text.split(' ').flat_map(|w| {
        if text_width(w, font_size, bold) > max_width {
            split_word(w, font_size, bold, max_width)
        } else {
            vec![w.to_string()]
        }
    });
    for word in words {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && text_width(&candidate, font_size, bold) > max_width {
            lines.push(std::mem::take(&mut line));
            line = word;
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `text`, cut short with an ellipsis if it is wider than `max_width` pixels at
/// `font_size` (for single-line labels such as legend entries).
pub(crate) fn shorten(text: &str, font_size: f64, max_width: f64) -> String {
    if text_width(text, font_size, false) <= max_width {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if text_width(&out, font_size, false) + text_width("…", font_size, false) > max_width {
            out.pop();
            break;
        }
    }
    out.push('…');
    out
}

/// Black or white, whichever reads better on `fill` (by its relative luminance).
pub(crate) fn text_on(fill: RGBColor) -> RGBColor {
    let lum = 0.2126 * f64::from(fill.0) + 0.7152 * f64::from(fill.1) + 0.0722 * f64::from(fill.2);
    if lum > 140.0 { INK } else { PAPER }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_style_is_valid_and_limits_are_checked() {
        assert!(Style::default().validate().is_ok());
        let narrow = Style {
            width: 10,
            ..Style::default()
        };
        assert!(matches!(
            narrow.validate(),
            Err(PlotError::Style { field: "width", .. })
        ));
        let flat = Style {
            panel_height: 0,
            ..Style::default()
        };
        assert!(flat.validate().is_err());
    }

    #[test]
    fn text_width_grows_with_text_and_size() {
        assert_eq!(text_width("", 12.0, false), 0.0);
        assert!(text_width("mmmm", 12.0, false) > text_width("iiii", 12.0, false));
        assert!(text_width("abc", 16.0, false) > text_width("abc", 12.0, false));
        assert!(text_width("abc", 12.0, true) > text_width("abc", 12.0, false));
        // "1.5 MiB" at 11 px is about 45 px wide in DejaVu Sans.
        let w = text_width("1.5 MiB", 11.0, false);
        assert!((40.0..60.0).contains(&w), "{w}");
    }

    #[test]
    fn wrap_breaks_at_spaces_within_the_width() {
        let lines = wrap("one two three four five six", 12.0, false, 80.0);
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(text_width(l, 12.0, false) <= 80.0 || !l.contains(' '));
        }
        assert_eq!(lines.join(" "), "one two three four five six");
        assert_eq!(wrap("", 12.0, false, 80.0), vec![String::new()]);
        let long = format!("a {} b", "w".repeat(40));
        let lines = wrap(&long, 12.0, false, 80.0);
        assert!(
            lines.iter().all(|l| text_width(l, 12.0, false) <= 80.0),
            "{lines:?}"
        );
        assert_eq!(lines.concat().replace(' ', ""), long.replace(' ', ""));
    }

    #[test]
    fn shorten_keeps_short_labels_and_cuts_long_ones() {
        assert_eq!(shorten("glibc", 11.0, 100.0), "glibc");
        let long = "x".repeat(200);
        let cut = shorten(&long, 11.0, 100.0);
        assert!(cut.ends_with('…'));
        assert!(text_width(&cut, 11.0, false) <= 100.0);
    }

    #[test]
    fn cues_differ_by_marker_as_well_as_colour() {
        for i in 0..MARKERS.len() {
            for j in 0..MARKERS.len() {
                if i != j {
                    let (a, b) = (Cue::nth(i), Cue::nth(j));
                    assert!(a.colour != b.colour && a.marker != b.marker);
                }
            }
        }
    }
}
