//! The streaming parser: one [`Entry`] per meaningful line, borrowing from the body.
//!
//! Both formats are line oriented, so the parser cuts the body at line feeds and parses
//! each line on its own; that keeps error positions exact and lets a bad line stop the
//! scrape without any lookahead. Labels are not copied out of the line: a sample
//! carries its label block as a [`RawLabels`] slice (validated once, iterated as often
//! as the caller likes), and escape sequences are resolved only when a caller asks for
//! a value that contains a backslash. The only allocations are the error message on
//! failure and, in OpenMetrics, one map entry per metric family for the contiguity
//! check.
//!
//! Where the two formats differ:
//!
//! | | Prometheus text 0.0.4 | OpenMetrics 1.0 |
//! |---|---|---|
//! | whitespace between tokens | any run of blanks and tabs, also around label tokens | exactly one space, none inside braces |
//! | blank lines, leading whitespace | ignored | rejected |
//! | comments | `# HELP`, `# TYPE`; others ignored | only `# HELP`, `# TYPE`, `# UNIT`, `# EOF`; others rejected |
//! | types | counter, gauge, histogram, summary, untyped | counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown |
//! | timestamps | integer milliseconds | seconds, possibly fractional, truncated to milliseconds |
//! | exemplars | none | counter `_total` and (gauge)histogram `_bucket` samples, label set ≤ 128 characters |
//! | end | end of body | `# EOF`, then nothing |
//! | families | not checked (Prometheus does not either) | must be contiguous, metadata first; sample names must fit the family's type |
//!
//! In both formats a trailing comma inside braces is accepted (Prometheus accepts it in
//! both), label names must be unique (`__name__` counts, as the metric name sets it),
//! and a line ending in a carriage return is rejected, since neither format allows one
//! and Prometheus fails such lines too. Quoted UTF-8 metric and label names (a later
//! extension of the text format) are not supported and say so in the error.

use super::number::{self, NumberError};
use super::Format;
use pharos_model::{Exemplar, Label, Labels, METRIC_NAME};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::str;

/// Longest exemplar label set OpenMetrics allows: names plus (unescaped) values, in
/// Unicode code points.
pub const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

/// A metric family type as `# TYPE` declares it. The text format's `untyped` is
/// [`MetricKind::Unknown`], as in OpenMetrics and Prometheus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricKind {
    /// The OpenMetrics spelling (`unknown` for an untyped family).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::GaugeHistogram => "gaugehistogram",
            MetricKind::Summary => "summary",
            MetricKind::Info => "info",
            MetricKind::StateSet => "stateset",
            MetricKind::Unknown => "unknown",
        }
    }

    fn from_text(s: &str) -> Option<Self> {
        Some(match s {
            "counter" => MetricKind::Counter,
            "gauge" => MetricKind::Gauge,
            "histogram" => MetricKind::Histogram,
            "summary" => MetricKind::Summary,
            "untyped" => MetricKind::Unknown,
            _ => return None,
        })
    }

    fn from_openmetrics(s: &str) -> Option<Self> {
        Some(match s {
            "counter" => MetricKind::Counter,
            "gauge" => MetricKind::Gauge,
            "histogram" => MetricKind::Histogram,
            "gaugehistogram" => MetricKind::GaugeHistogram,
            "summary" => MetricKind::Summary,
            "info" => MetricKind::Info,
            "stateset" => MetricKind::StateSet,
            "unknown" => MetricKind::Unknown,
            _ => return None,
        })
    }

    /// What OpenMetrics appends to a family's name to name its samples.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricKind::Counter => &["_total", "_created"],
            MetricKind::Summary => &["", "_count", "_sum", "_created"],
            MetricKind::Histogram => &["_bucket", "_count", "_sum", "_created"],
            MetricKind::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            MetricKind::Info => &["_info"],
            MetricKind::Gauge | MetricKind::StateSet | MetricKind::Unknown => &[""],
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every suffix any type uses, for recognising a sample of a family that already ended.
const ALL_SUFFIXES: [&str; 9] = [
    "", "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
];

/// A string as written on the wire, escapes unresolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Escaped<'a> {
    raw: &'a str,
    /// Whether `\"` is an escape (label values, OpenMetrics help) or literal text
    /// (text-format help, where only `\\` and `\n` are escapes).
    quote_escape: bool,
    backslash: bool,
}

impl<'a> Escaped<'a> {
    fn new(raw: &'a str, quote_escape: bool) -> Self {
        Escaped {
            raw,
            quote_escape,
            backslash: raw.as_bytes().contains(&b'\\'),
        }
    }

    /// The text exactly as it appears in the body.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the raw text contains a backslash, i.e. whether [`Escaped::unescape`]
    /// has to allocate.
    pub fn has_escapes(&self) -> bool {
        self.backslash
    }

    /// The text with `\\`, `\n` (and, where it is an escape, `\"`) resolved. A
    /// backslash before any other character stays as written, as Prometheus keeps it.
    pub fn unescape(&self) -> Cow<'a, str> {
        if !self.backslash {
            return Cow::Borrowed(self.raw);
        }
        let mut out = String::with_capacity(self.raw.len());
        let mut chars = self.raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if self.quote_escape => out.push('"'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        Cow::Owned(out)
    }
}

/// One label of a [`RawLabels`] block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLabel<'a> {
    pub name: &'a str,
    pub value: Escaped<'a>,
}

/// A validated label block: the text between `{` and `}`, in document order. Names
/// are valid and unique; values are valid UTF-8 and may be empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RawLabels<'a> {
    inner: &'a str,
    len: u32,
}

impl<'a> RawLabels<'a> {
    /// Number of labels (the metric name is not one of them).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block as written, without its braces.
    pub fn as_str(&self) -> &'a str {
        self.inner
    }

    pub fn iter(&self) -> RawLabelsIter<'a> {
        RawLabelsIter {
            rest: self.inner,
            remaining: self.len,
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<Escaped<'a>> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }
}

impl<'a> IntoIterator for RawLabels<'a> {
    type Item = RawLabel<'a>;
    type IntoIter = RawLabelsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &RawLabels<'a> {
    type Item = RawLabel<'a>;
    type IntoIter = RawLabelsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Walks a label block the parser already validated. It re-reads the same syntax
/// (which costs less than storing offsets per label would), and gives up quietly on
/// anything unexpected instead of trusting that validation happened.
#[derive(Clone, Debug)]
pub struct RawLabelsIter<'a> {
    rest: &'a str,
    remaining: u32,
}

impl<'a> Iterator for RawLabelsIter<'a> {
    type Item = RawLabel<'a>;

    fn next(&mut self) -> Option<RawLabel<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let s = self.rest;
        let b = s.as_bytes();
        let ns = skip_blanks(b, 0);
        let ne = scan_label_name(b, ns);
        if ne == ns {
            self.remaining = 0;
            return None;
        }
        let mut i = skip_blanks(b, ne);
        if b.get(i) != Some(&b'=') {
            self.remaining = 0;
            return None;
        }
        i = skip_blanks(b, i + 1);
        if b.get(i) != Some(&b'"') {
            self.remaining = 0;
            return None;
        }
        let Some((ve, backslash)) = scan_quoted(b, i + 1) else {
            self.remaining = 0;
            return None;
        };
        let (Some(name), Some(raw)) = (s.get(ns..ne), s.get(i + 1..ve)) else {
            self.remaining = 0;
            return None;
        };
        let mut next = skip_blanks(b, ve + 1);
        if b.get(next) == Some(&b',') {
            next += 1;
        }
        self.rest = s.get(next..).unwrap_or("");
        self.remaining -= 1;
        Some(RawLabel {
            name,
            value: Escaped {
                raw,
                quote_escape: true,
                backslash,
            },
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

/// An OpenMetrics exemplar, borrowed from its line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawExemplar<'a> {
    pub labels: RawLabels<'a>,
    pub value: f64,
    /// Milliseconds since the epoch, converted from the seconds on the wire.
    pub timestamp_ms: Option<i64>,
}

impl RawExemplar<'_> {
    /// An owned exemplar; one without a timestamp takes `default_ms` (Prometheus gives
    /// it the timestamp of the sample it is attached to).
    pub fn to_exemplar(&self, default_ms: i64) -> Exemplar {
        Exemplar {
            labels: Labels::from_pairs(
                self.labels
                    .iter()
                    .map(|l| (l.name.to_owned(), l.value.unescape().into_owned())),
            ),
            value: self.value,
            t: self.timestamp_ms.unwrap_or(default_ms),
        }
    }
}

/// One sample line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleLine<'a> {
    /// The metric name as written, e.g. `http_requests_total` or `foo_bucket`.
    pub name: &'a str,
    pub labels: RawLabels<'a>,
    /// The metric name and label block exactly as written (e.g. `foo{a="b"}`): equal
    /// text means an equal series, which makes it a cheap per-target cache key.
    pub series: &'a str,
    /// NaN is always the canonical `f64::NAN`, never the staleness marker.
    pub value: f64,
    /// Milliseconds since the epoch, in either format.
    pub timestamp_ms: Option<i64>,
    /// Only in OpenMetrics, only on counter `_total` and histogram `_bucket` samples.
    pub exemplar: Option<RawExemplar<'a>>,
    /// An OpenMetrics `_created` sample of a counter, histogram or summary: its value
    /// is the series' creation time in seconds, not a measurement. Prometheus 2.x
    /// stores these as ordinary series (later versions can skip them behind a feature
    /// flag). Always false in the text format, where `_created` series (as
    /// client_python exposes them there) are ordinary gauges.
    pub created: bool,
}

impl SampleLine<'_> {
    /// The owned, sorted label set including `__name__`, values unescaped and empty
    /// values kept.
    pub fn to_labels(&self) -> Labels {
        let mut v = Vec::with_capacity(self.labels.len() + 1);
        v.push(Label::new(METRIC_NAME, self.name));
        v.extend(
            self.labels
                .iter()
                .map(|l| Label::new(l.name, l.value.unescape().into_owned())),
        );
        v.sort_by(|a, b| a.name.cmp(&b.name));
        // Unique names are guaranteed by the parser, which rejects duplicates.
        Labels::from_sorted(v)
    }
}

/// What a meaningful line of an exposition says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Entry<'a> {
    Type {
        family: &'a str,
        kind: MetricKind,
    },
    Help {
        family: &'a str,
        text: Escaped<'a>,
    },
    /// OpenMetrics only. An empty unit means none.
    Unit {
        family: &'a str,
        unit: &'a str,
    },
    Sample(SampleLine<'a>),
    /// OpenMetrics `# EOF`; always the last entry, and nothing follows it in the body.
    Eof,
}

/// Why an exposition was rejected. A scrape must treat the whole body as failed, as
/// both formats require of partial or invalid expositions.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {message}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters, where the problem starts (absent when the
    /// problem is the line as a whole, or the end of the body).
    pub column: Option<usize>,
    pub message: String,
}

/// A failure inside one line: a byte offset within it and the message.
struct Fail {
    at: Option<usize>,
    message: String,
}

type LineResult<T> = Result<T, Fail>;

#[cold]
fn fail(at: usize, message: String) -> Fail {
    Fail {
        at: Some(at),
        message,
    }
}

impl Fail {
    fn into_error(self, line: &[u8], line_no: usize) -> ParseError {
        let column = self.at.map(|at| {
            let prefix = &line[..at.min(line.len())];
            String::from_utf8_lossy(prefix).chars().count() + 1
        });
        ParseError {
            line: line_no,
            column,
            message: self.message,
        }
    }
}

/// How the rest of a line reads in an error message: a short quoted excerpt.
fn got(rest: &str) -> String {
    const MAX_CHARS: usize = 24;
    if rest.is_empty() {
        return "end of line".to_owned();
    }
    match rest.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => format!("{:?}…", &rest[..i]),
        None => format!("{rest:?}"),
    }
}

fn got_at(line: &str, at: usize) -> String {
    got(line.get(at..).unwrap_or(""))
}

fn utf8(line: &[u8]) -> LineResult<&str> {
    str::from_utf8(line).map_err(|e| {
        let at = e.valid_up_to();
        let message = match (e.error_len(), line.get(at)) {
            (Some(_), Some(b)) => format!("invalid UTF-8: byte 0x{b:02x} does not belong here"),
            _ => "invalid UTF-8: the line ends inside a multi-byte character".to_owned(),
        };
        fail(at, message)
    })
}

#[inline]
fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

const METRIC_START: u8 = 1;
const METRIC_CHAR: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CHAR: u8 = 8;

/// Which name grammars each byte may appear in; one load replaces a chain of range
/// comparisons in the loops that scan every name of every line.
static CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c.is_ascii_alphabetic() || c == b'_' {
            METRIC_START | METRIC_CHAR | LABEL_START | LABEL_CHAR
        } else if c.is_ascii_digit() {
            METRIC_CHAR | LABEL_CHAR
        } else if c == b':' {
            METRIC_START | METRIC_CHAR
        } else {
            0
        };
        i += 1;
    }
    t
};

#[inline]
fn scan_name(b: &[u8], i: usize, start: u8, rest: u8) -> usize {
    match b.get(i) {
        Some(&c) if CLASSES[usize::from(c)] & start != 0 => {}
        _ => return i,
    }
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        if CLASSES[usize::from(c)] & rest == 0 {
            break;
        }
        j += 1;
    }
    j
}

/// End of a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) starting at `i`; `i` if none.
#[inline]
fn scan_metric_name(b: &[u8], i: usize) -> usize {
    scan_name(b, i, METRIC_START, METRIC_CHAR)
}

/// End of a label name (`[a-zA-Z_][a-zA-Z0-9_]*`) starting at `i`; `i` if none.
#[inline]
fn scan_label_name(b: &[u8], i: usize) -> usize {
    scan_name(b, i, LABEL_START, LABEL_CHAR)
}

/// From just after an opening quote, the index of the closing quote and whether a
/// backslash occurred; `None` if the line ends first.
#[inline]
fn scan_quoted(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut backslash = false;
    loop {
        let j = i + find_either(b.get(i..)?, b'"', b'\\')?;
        if b.get(j) == Some(&b'"') {
            return Some((j, backslash));
        }
        // Whatever follows a backslash is escaped, a quote included.
        backslash = true;
        i = j + 2;
    }
}

/// End of a token that runs until a space (or, in the text format, a tab).
#[inline]
fn scan_token(b: &[u8], mut i: usize, tabs: bool) -> usize {
    while let Some(&c) = b.get(i) {
        if c == b' ' || (tabs && c == b'\t') {
            break;
        }
        i += 1;
    }
    i
}

/// Which label block is being read: a series' own (whose metric name counts as the
/// `__name__` label) or an exemplar's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Series,
    Exemplar,
}

/// Streaming parser over a whole (decompressed) body.
///
/// Iterating yields entries in document order; the first error ends the iteration
/// (the error is the last item). In OpenMetrics, a body that ends without `# EOF`
/// yields an error as its last item.
pub struct Parser<'a> {
    buf: &'a [u8],
    /// `buf` as text when all of it is valid UTF-8, which is checked once up front:
    /// one pass over the body costs less than one per line. When it is not (a stray
    /// byte in a comment is legal in the text format), lines are checked one by one.
    text: Option<&'a str>,
    pos: usize,
    /// Number of the line starting at `pos`.
    line: usize,
    format: Format,
    done: bool,
    /// Label names of the block being read, with their offsets, for the duplicate
    /// check; kept to reuse its allocation.
    names: Vec<(&'a str, usize)>,
    families: Families<'a>,
}

impl<'a> Parser<'a> {
    /// A parser over a whole decompressed body. Construction checks the body's UTF-8
    /// in one pass (the only work done before the first entry).
    pub fn new(buf: &'a [u8], format: Format) -> Self {
        Parser {
            buf,
            text: str::from_utf8(buf).ok(),
            pos: 0,
            line: 1,
            format,
            done: false,
            names: Vec::new(),
            families: Families::default(),
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    // Inlined into `next` so that the entry is built where the caller receives it
    // rather than copied out through each return.
    #[inline(always)]
    fn line_entry(
        &mut self,
        line: &'a [u8],
        text: Option<&'a str>,
    ) -> LineResult<Option<Entry<'a>>> {
        let as_text = |line: &'a [u8]| match text {
            Some(t) => Ok(t),
            None => utf8(line),
        };
        if line.last() == Some(&b'\r') {
            return Err(fail(
                line.len() - 1,
                "carriage return at end of line; lines must end with a bare line feed".into(),
            ));
        }
        match self.format {
            Format::PrometheusText => {
                let i = skip_blanks(line, 0);
                match line.get(i) {
                    None => Ok(None),
                    Some(b'#') => self.text_comment(line, i + 1),
                    Some(_) => self.sample(as_text(line)?, i).map(Some),
                }
            }
            Format::OpenMetrics => match line.first() {
                None => Err(Fail {
                    at: None,
                    message: "empty line; OpenMetrics does not allow blank lines".into(),
                }),
                Some(b'#') => self.om_descriptor(line).map(Some),
                Some(_) => self.sample(as_text(line)?, 0).map(Some),
            },
        }
    }

    /// A text-format line starting with `#`: `# HELP` and `# TYPE` are metadata,
    /// anything else is a comment and ignored (unvalidated, as Prometheus does).
    fn text_comment(&mut self, line: &'a [u8], after_hash: usize) -> LineResult<Option<Entry<'a>>> {
        let kw_at = skip_blanks(line, after_hash);
        if kw_at == after_hash {
            return Ok(None);
        }
        let is_help = match line.get(kw_at..kw_at + 4) {
            Some(b"HELP") => true,
            Some(b"TYPE") => false,
            _ => return Ok(None),
        };
        let name_at = skip_blanks(line, kw_at + 4);
        if name_at == kw_at + 4 {
            // "# HELPER …" or a bare "# HELP": a comment to Prometheus too.
            return Ok(None);
        }
        let line = utf8(line)?;
        let b = line.as_bytes();
        let keyword = if is_help { "HELP" } else { "TYPE" };
        let name_end = scan_metric_name(b, name_at);
        if name_end == name_at {
            return Err(fail(
                name_at,
                format!(
                    "expected metric name after {keyword}, got {}",
                    got_at(line, name_at)
                ),
            ));
        }
        let family = &line[name_at..name_end];
        if !matches!(b.get(name_end), None | Some(b' ' | b'\t')) {
            let got = got_at(line, name_end);
            let message = format!(
                "expected whitespace after metric name {family:?} in {keyword} line, got {got}"
            );
            return Err(fail(name_end, message));
        }
        if is_help {
            // The docstring is everything after the one separating blank, verbatim.
            let text = line.get(name_end + 1..).unwrap_or("");
            return Ok(Some(Entry::Help {
                family,
                text: Escaped::new(text, false),
            }));
        }
        let type_at = skip_blanks(b, name_end);
        let word = line
            .get(type_at..)
            .unwrap_or("")
            .trim_end_matches([' ', '\t']);
        if word.is_empty() {
            return Err(fail(
                type_at,
                format!("expected metric type after {family:?} in TYPE line, got end of line"),
            ));
        }
        let kind = MetricKind::from_text(word).ok_or_else(|| {
            fail(
                type_at,
                format!(
                    "invalid metric type {word:?} (expected counter, gauge, histogram, summary or untyped)"
                ),
            )
        })?;
        Ok(Some(Entry::Type { family, kind }))
    }

    /// An OpenMetrics line starting with `#`: a metric descriptor or `# EOF`.
    fn om_descriptor(&mut self, line: &'a [u8]) -> LineResult<Entry<'a>> {
        if line == b"# EOF" {
            return Ok(Entry::Eof);
        }
        let meta = match line.get(..7) {
            Some(b"# HELP ") => Meta::Help,
            Some(b"# TYPE ") => Meta::Type,
            Some(b"# UNIT ") => Meta::Unit,
            _ => {
                return Err(fail(
                    0,
                    format!(
                        "unexpected comment {}; OpenMetrics allows only \"# HELP\", \"# TYPE\", \"# UNIT\" and \"# EOF\" lines to start with #",
                        got(&String::from_utf8_lossy(line))
                    ),
                ))
            }
        };
        let line = utf8(line)?;
        let b = line.as_bytes();
        let keyword = meta.keyword();
        let name_end = scan_metric_name(b, 7);
        if name_end == 7 {
            return Err(fail(
                7,
                format!(
                    "expected metric name after {keyword}, got {}",
                    got_at(line, 7)
                ),
            ));
        }
        let family = &line[7..name_end];
        if b.get(name_end) != Some(&b' ') {
            let what = match meta {
                Meta::Help => "the help text",
                Meta::Type => "the metric type",
                Meta::Unit => "the unit",
            };
            return Err(fail(
                name_end,
                format!(
                    "expected a space and {what} after metric name {family:?}, got {}",
                    got_at(line, name_end)
                ),
            ));
        }
        let text_at = name_end + 1;
        let text = line.get(text_at..).unwrap_or("");
        let entry = match meta {
            Meta::Help => Entry::Help {
                family,
                text: Escaped::new(text, true),
            },
            Meta::Type => {
                let kind = MetricKind::from_openmetrics(text).ok_or_else(|| {
                    fail(
                        text_at,
                        format!(
                            "invalid metric type {text:?} (expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown)"
                        ),
                    )
                })?;
                Entry::Type { family, kind }
            }
            Meta::Unit => {
                if let Some(bad) = text
                    .bytes()
                    .position(|c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b':'))
                {
                    return Err(fail(
                        text_at + bad,
                        format!("invalid unit {text:?} (units use the characters of metric names)"),
                    ));
                }
                let is_suffix = family
                    .strip_suffix(text)
                    .is_some_and(|head| head.ends_with('_'));
                if !text.is_empty() && !is_suffix {
                    return Err(fail(
                        text_at,
                        format!(
                            "unit {text:?} is not a suffix of metric family {family:?} (its name must end in \"_{text}\")"
                        ),
                    ));
                }
                Entry::Unit { family, unit: text }
            }
        };
        let kind = match entry {
            Entry::Type { kind, .. } => Some(kind),
            _ => None,
        };
        self.families
            .descriptor(family, meta, kind)
            .map_err(|m| fail(7, m))?;
        Ok(entry)
    }

    /// A sample line whose metric name starts at `start`.
    #[inline(always)]
    fn sample(&mut self, line: &'a str, start: usize) -> LineResult<Entry<'a>> {
        let b = line.as_bytes();
        let om = self.format == Format::OpenMetrics;
        let name_end = scan_metric_name(b, start);
        if name_end == start {
            let hint = match b.get(start) {
                Some(b'{') => " (quoted UTF-8 metric names are not supported)",
                _ => "",
            };
            return Err(fail(
                start,
                format!("expected metric name, got {}{hint}", got_at(line, start)),
            ));
        }
        let name = &line[start..name_end];
        let brace_at = if om {
            name_end
        } else {
            skip_blanks(b, name_end)
        };
        let mut i = name_end;
        let mut labels = RawLabels::default();
        let mut series_end = name_end;
        if b.get(brace_at) == Some(&b'{') {
            let (l, end) = self.label_block(line, brace_at, Block::Series)?;
            labels = l;
            series_end = end;
            i = end;
        }
        let series = &line[start..series_end];

        // The value, after whitespace: one space in OpenMetrics, any blanks in text.
        let value_at = if om {
            match (b.get(i), b.get(i + 1)) {
                (Some(b' '), Some(c)) if *c != b' ' => i + 1,
                _ => {
                    return Err(fail(
                        i,
                        format!(
                            "expected a single space and the value after the metric, got {}",
                            got_at(line, i)
                        ),
                    ))
                }
            }
        } else {
            let v = skip_blanks(b, i);
            if v == i || v == b.len() {
                return Err(fail(
                    i,
                    format!(
                        "expected whitespace and the value after the metric, got {}",
                        got_at(line, i)
                    ),
                ));
            }
            v
        };
        let value_end = scan_token(b, value_at, !om);
        let value_text = &line[value_at..value_end];
        let value = number::parse_value(value_text).map_err(|e| {
            fail(
                value_at,
                match e {
                    NumberError::OutOfRange => {
                        format!("value {value_text:?} is out of range for a 64-bit float")
                    }
                    _ => format!(
                        "invalid value {value_text:?} (expected a float, NaN, +Inf or -Inf)"
                    ),
                },
            )
        })?;

        let (timestamp_ms, exemplar) = if om {
            self.om_sample_tail(line, value_end)?
        } else {
            (text_sample_tail(line, value_end)?, None)
        };

        let mut created = false;
        if om {
            let role = self.families.sample(name).map_err(|m| fail(start, m))?;
            created = role.created;
            if exemplar.is_some() && !role.exemplar_ok {
                return Err(fail(
                    value_end,
                    format!(
                        "exemplar on sample {name:?} of {} family {:?}; OpenMetrics allows exemplars only on counter _total and histogram _bucket samples",
                        role.kind, role.family
                    ),
                ));
            }
        }
        Ok(Entry::Sample(SampleLine {
            name,
            labels,
            series,
            value,
            timestamp_ms,
            exemplar,
            created,
        }))
    }

    /// After an OpenMetrics value: nothing, a timestamp, an exemplar, or both.
    fn om_sample_tail(
        &mut self,
        line: &'a str,
        value_end: usize,
    ) -> LineResult<(Option<i64>, Option<RawExemplar<'a>>)> {
        let b = line.as_bytes();
        let mut i = value_end;
        let mut timestamp = None;
        if i == b.len() {
            return Ok((None, None));
        }
        // scan_token stopped at a space; exactly one may separate tokens.
        i += 1;
        if matches!(b.get(i), None | Some(b' ')) {
            return Err(fail(
                value_end,
                format!(
                    "expected a single space and a timestamp or exemplar after the value, got {}",
                    got_at(line, value_end)
                ),
            ));
        }
        if b.get(i) != Some(&b'#') {
            let ts_end = scan_token(b, i, false);
            timestamp = Some(om_timestamp(line, i, ts_end)?);
            if ts_end == b.len() {
                return Ok((timestamp, None));
            }
            i = ts_end + 1;
            if b.get(i) != Some(&b'#') {
                return Err(fail(
                    ts_end,
                    format!(
                        "expected end of line or an exemplar after the timestamp, got {}",
                        got_at(line, ts_end)
                    ),
                ));
            }
        }
        // An exemplar: "# {labels} value [timestamp]".
        if b.get(i + 1) != Some(&b' ') || b.get(i + 2) != Some(&b'{') {
            return Err(fail(
                i,
                format!(
                    "expected \"# {{\" to start an exemplar, got {}",
                    got_at(line, i)
                ),
            ));
        }
        let (labels, after) = self.label_block(line, i + 2, Block::Exemplar)?;
        let value_at = match (b.get(after), b.get(after + 1)) {
            (Some(b' '), Some(c)) if *c != b' ' => after + 1,
            _ => {
                return Err(fail(
                    after,
                    format!(
                        "expected a single space and the exemplar value after its labels, got {}",
                        got_at(line, after)
                    ),
                ))
            }
        };
        let value_end = scan_token(b, value_at, false);
        let value_text = &line[value_at..value_end];
        let value = number::parse_value(value_text).map_err(|_| {
            fail(
                value_at,
                format!(
                    "invalid exemplar value {value_text:?} (expected a float, NaN, +Inf or -Inf)"
                ),
            )
        })?;
        let mut ex_ts = None;
        if value_end < b.len() {
            let ts_at = value_end + 1;
            if matches!(b.get(ts_at), None | Some(b' ')) {
                return Err(fail(
                    value_end,
                    format!(
                        "expected a single space and the exemplar timestamp after its value, got {}",
                        got_at(line, value_end)
                    ),
                ));
            }
            let ts_end = scan_token(b, ts_at, false);
            ex_ts = Some(om_timestamp(line, ts_at, ts_end)?);
            if ts_end < b.len() {
                return Err(fail(
                    ts_end,
                    format!(
                        "expected end of line after the exemplar timestamp, got {}",
                        got_at(line, ts_end)
                    ),
                ));
            }
        }
        Ok((
            timestamp,
            Some(RawExemplar {
                labels,
                value,
                timestamp_ms: ex_ts,
            }),
        ))
    }

    /// Reads the label block whose `{` is at `open`; returns it and the index after
    /// its `}`.
    fn label_block(
        &mut self,
        line: &'a str,
        open: usize,
        block: Block,
    ) -> LineResult<(RawLabels<'a>, usize)> {
        let b = line.as_bytes();
        let blanks = self.format == Format::PrometheusText;
        let skip = |i: usize| if blanks { skip_blanks(b, i) } else { i };
        self.names.clear();
        if block == Block::Series {
            self.names.push((METRIC_NAME, open));
        }
        let mut count: u32 = 0;
        let mut chars = 0usize;
        let mut i = open + 1;
        loop {
            i = skip(i);
            if b.get(i) == Some(&b'}') {
                break;
            }
            let name_end = scan_label_name(b, i);
            if name_end == i {
                let hint = match b.get(i) {
                    Some(b'"') if block == Block::Series => {
                        " (quoted UTF-8 names are not supported)"
                    }
                    _ => "",
                };
                return Err(fail(
                    i,
                    format!("expected label name, got {}{hint}", got_at(line, i)),
                ));
            }
            let name = &line[i..name_end];
            self.names.push((name, i));
            i = skip(name_end);
            if b.get(i) != Some(&b'=') {
                return Err(fail(
                    i,
                    format!(
                        "expected \"=\" after label name {name:?}, got {}",
                        got_at(line, i)
                    ),
                ));
            }
            i = skip(i + 1);
            if b.get(i) != Some(&b'"') {
                return Err(fail(
                    i,
                    format!(
                        "expected label value in double quotes after {name}=, got {}",
                        got_at(line, i)
                    ),
                ));
            }
            let Some((close, backslash)) = scan_quoted(b, i + 1) else {
                return Err(fail(
                    i,
                    format!(
                        "unterminated value of label {name:?} (a line feed in a value must be written as \\n)"
                    ),
                ));
            };
            if block == Block::Exemplar {
                let raw = line.get(i + 1..close).unwrap_or("");
                let value = Escaped {
                    raw,
                    quote_escape: true,
                    backslash,
                };
                chars += name.len() + value.unescape().chars().count();
            }
            count = count.saturating_add(1);
            i = skip(close + 1);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => break,
                _ => {
                    return Err(fail(
                        i,
                        format!(
                            "expected \",\" or \"}}\" after the value of label {name:?}, got {}",
                            got_at(line, i)
                        ),
                    ))
                }
            }
        }
        if let Some((dup, at)) = find_duplicate(&mut self.names) {
            let hint = if dup == METRIC_NAME {
                " (the metric name already sets it)"
            } else {
                ""
            };
            return Err(fail(at, format!("duplicate label name {dup:?}{hint}")));
        }
        if chars > MAX_EXEMPLAR_LABEL_CHARS {
            return Err(fail(
                open,
                format!(
                    "exemplar labels are {chars} characters long, more than the {MAX_EXEMPLAR_LABEL_CHARS} OpenMetrics allows (names and values counted)"
                ),
            ));
        }
        let inner = line.get(open + 1..i).unwrap_or("");
        Ok((RawLabels { inner, len: count }, i + 1))
    }
}

/// After a text-format value: optional blanks, an optional integer timestamp, blanks.
fn text_sample_tail(line: &str, value_end: usize) -> LineResult<Option<i64>> {
    let b = line.as_bytes();
    let ts_at = skip_blanks(b, value_end);
    if ts_at == b.len() {
        return Ok(None);
    }
    if b[ts_at] == b'#' {
        return Err(fail(
            ts_at,
            format!(
                "expected timestamp or end of line, got {} (exemplars need the OpenMetrics format)",
                got_at(line, ts_at)
            ),
        ));
    }
    let ts_end = scan_token(b, ts_at, true);
    let text = &line[ts_at..ts_end];
    let ts = number::parse_timestamp_ms(text).map_err(|e| {
        fail(
            ts_at,
            match e {
                NumberError::OutOfRange => {
                    format!("timestamp {text:?} is out of range for 64-bit milliseconds")
                }
                _ => format!("invalid timestamp {text:?} (expected integer milliseconds)"),
            },
        )
    })?;
    let end = skip_blanks(b, ts_end);
    if end != b.len() {
        return Err(fail(
            end,
            format!(
                "expected end of line after the timestamp, got {}",
                got_at(line, end)
            ),
        ));
    }
    Ok(Some(ts))
}

fn om_timestamp(line: &str, at: usize, end: usize) -> LineResult<i64> {
    let text = line.get(at..end).unwrap_or("");
    number::parse_timestamp_seconds(text).map_err(|e| {
        fail(
            at,
            match e {
                NumberError::OutOfRange => {
                    format!("timestamp {text:?} is out of range for 64-bit milliseconds")
                }
                NumberError::NotFinite => format!("timestamp {text:?} is not a finite number"),
                NumberError::Syntax => {
                    format!("invalid timestamp {text:?} (expected seconds since the epoch)")
                }
            },
        )
    })
}

/// The first label name (by position) that repeats an earlier one. Blocks are small,
/// so pairwise comparison beats hashing; long ones are sorted instead.
fn find_duplicate<'a>(names: &mut [(&'a str, usize)]) -> Option<(&'a str, usize)> {
    // Label names are short and mostly differ in length; an inline comparison beats
    // a call into `memcmp` for each pair.
    fn same(a: &str, b: &str) -> bool {
        a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
    }
    if names.len() <= 16 {
        for j in 1..names.len() {
            if names[..j].iter().any(|(n, _)| same(n, names[j].0)) {
                return Some(names[j]);
            }
        }
        return None;
    }
    names.sort_unstable();
    names
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| w[1])
        .min_by_key(|&(_, at)| at)
}

/// Index of the first line feed.
#[inline]
fn find_newline(b: &[u8]) -> Option<usize> {
    find_either(b, b'\n', b'\n')
}

/// Index of the first byte equal to `x` or `y`, eight bytes at a time: lines (a
/// hundred bytes is typical) and label values are long enough for a byte-wise search
/// to dominate profiles.
#[inline]
fn find_either(b: &[u8], x: u8, y: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let (xs, ys) = (ONES * u64::from(x), ONES * u64::from(y));
    let mut chunks = b.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // Bytes equal to the target become zero, and the classic zero-byte test flags
        // them. It may also flag bytes above a true zero (a borrow runs upward), never
        // below one, so the lowest flag of either test is the first match.
        let (a, c) = (w ^ xs, w ^ ys);
        let zero = (a.wrapping_sub(ONES) & !a | c.wrapping_sub(ONES) & !c) & HIGHS;
        if zero != 0 {
            return Some(base + (zero.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == x || c == y)
        .map(|i| base + i)
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let start = self.pos;
            let Some(rest) = self.buf.get(start..).filter(|r| !r.is_empty()) else {
                self.done = true;
                if self.format == Format::OpenMetrics {
                    return Some(Err(ParseError {
                        line: self.line,
                        column: None,
                        message: "data does not end with \"# EOF\"".into(),
                    }));
                }
                return None;
            };
            let (line, next) = match find_newline(rest) {
                Some(n) => (&rest[..n], start + n + 1),
                None => (rest, self.buf.len()),
            };
            // Line boundaries are at line feeds, so they are character boundaries.
            let text = self.text.and_then(|t| t.get(start..start + line.len()));
            let line_no = self.line;
            self.pos = next;
            self.line += 1;
            match self.line_entry(line, text) {
                Ok(None) => continue,
                Ok(Some(Entry::Eof)) => {
                    self.done = true;
                    if self.pos < self.buf.len() {
                        return Some(Err(ParseError {
                            line: self.line,
                            column: Some(1),
                            message: "unexpected data after \"# EOF\"".into(),
                        }));
                    }
                    return Some(Ok(Entry::Eof));
                }
                Ok(Some(entry)) => return Some(Ok(entry)),
                Err(f) => {
                    self.done = true;
                    return Some(Err(f.into_error(line, line_no)));
                }
            }
        }
        None
    }
}

impl std::iter::FusedIterator for Parser<'_> {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Meta {
    Type,
    Help,
    Unit,
}

impl Meta {
    fn keyword(self) -> &'static str {
        match self {
            Meta::Type => "TYPE",
            Meta::Help => "HELP",
            Meta::Unit => "UNIT",
        }
    }
}

/// The family an OpenMetrics line belongs to, and what that implies for it.
struct Role<'a> {
    family: &'a str,
    kind: MetricKind,
    created: bool,
    exemplar_ok: bool,
}

struct Family<'a> {
    name: &'a str,
    kind: MetricKind,
    seen_type: bool,
    seen_help: bool,
    seen_unit: bool,
    has_samples: bool,
}

/// OpenMetrics family tracking: which family the current line belongs to, and which
/// families already ended (a family may not resume).
#[derive(Default)]
struct Families<'a> {
    current: Option<Family<'a>>,
    ended: HashMap<&'a str, MetricKind>,
}

impl<'a> Families<'a> {
    fn descriptor(
        &mut self,
        name: &'a str,
        meta: Meta,
        kind: Option<MetricKind>,
    ) -> Result<(), String> {
        let f = match &mut self.current {
            Some(f) if f.name == name => {
                if f.has_samples {
                    return Err(format!(
                        "{} line for metric family {name:?} after its samples; a family's metadata must come first",
                        meta.keyword()
                    ));
                }
                f
            }
            _ => self.start(name, MetricKind::Unknown)?,
        };
        let seen = match meta {
            Meta::Type => &mut f.seen_type,
            Meta::Help => &mut f.seen_help,
            Meta::Unit => &mut f.seen_unit,
        };
        if *seen {
            return Err(format!(
                "second {} line for metric family {name:?}",
                meta.keyword()
            ));
        }
        *seen = true;
        if let Some(kind) = kind {
            f.kind = kind;
        }
        Ok(())
    }

    fn sample(&mut self, name: &'a str) -> Result<Role<'a>, String> {
        if let Some(f) = &mut self.current {
            if let Some(suffix) = name.strip_prefix(f.name) {
                if f.kind.suffixes().contains(&suffix) {
                    f.has_samples = true;
                    return Ok(role(f.name, f.kind, suffix));
                }
                if suffix.is_empty() {
                    let expected: Vec<String> = f
                        .kind
                        .suffixes()
                        .iter()
                        .map(|s| format!("{name}{s}"))
                        .collect();
                    return Err(format!(
                        "sample {name:?} does not fit {} family {name:?}, whose samples are named {}",
                        f.kind,
                        expected.join(", ")
                    ));
                }
            }
        }
        // A name that cannot belong to the current family starts a new one, typed
        // only by its samples, unless it belongs to a family that already ended.
        if !self.ended.is_empty() {
            for suffix in ALL_SUFFIXES {
                let Some(base) = name.strip_suffix(suffix) else {
                    continue;
                };
                if let Some((&family, &kind)) = self.ended.get_key_value(base) {
                    if kind.suffixes().contains(&suffix) || suffix.is_empty() {
                        return Err(format!(
                            "sample {name:?} belongs to metric family {family:?}, which ended earlier; OpenMetrics requires a family's lines to be contiguous"
                        ));
                    }
                }
            }
        }
        let f = self.start(name, MetricKind::Unknown)?;
        f.has_samples = true;
        Ok(role(name, MetricKind::Unknown, ""))
    }

    fn start(&mut self, name: &'a str, kind: MetricKind) -> Result<&mut Family<'a>, String> {
        if self.ended.contains_key(name) {
            return Err(format!(
                "metric family {name:?} appears a second time; OpenMetrics requires a family's lines to be contiguous"
            ));
        }
        if let Some(prev) = self.current.take() {
            self.ended.insert(prev.name, prev.kind);
        }
        Ok(self.current.insert(Family {
            name,
            kind,
            seen_type: false,
            seen_help: false,
            seen_unit: false,
            has_samples: false,
        }))
    }
}

fn role<'a>(family: &'a str, kind: MetricKind, suffix: &str) -> Role<'a> {
    Role {
        family,
        kind,
        created: suffix == "_created",
        exemplar_ok: matches!(
            (kind, suffix),
            (MetricKind::Counter, "_total")
                | (
                    MetricKind::Histogram | MetricKind::GaugeHistogram,
                    "_bucket"
                )
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn find_newline_at_every_offset() {
        // Bytes next to '\n' in value, and ones whose high bit tempts false positives.
        for filler in [0u8, 0x09, 0x0b, 0x8a, 0xff, b'a'] {
            for len in 0..40 {
                assert_eq!(find_newline(&vec![filler; len]), None);
                for at in 0..len {
                    let mut b = vec![filler; len];
                    b[at] = b'\n';
                    assert_eq!(find_newline(&b), Some(at), "{filler:#x} {len} {at}");
                    if at + 1 < len {
                        b[len - 1] = b'\n';
                        assert_eq!(find_newline(&b), Some(at));
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn find_either_matches_position(
            b in prop::collection::vec(
                prop_oneof![Just(b'"'), Just(b'\\'), Just(0x21u8), Just(0xa2), any::<u8>()],
                0..100,
            )
        ) {
            prop_assert_eq!(
                find_either(&b, b'"', b'\\'),
                b.iter().position(|&c| c == b'"' || c == b'\\')
            );
        }

        #[test]
        fn find_newline_matches_position(b in prop::collection::vec(
            prop_oneof![Just(b'\n'), Just(0x0bu8), Just(0x8a), any::<u8>()], 0..100)
        ) {
            prop_assert_eq!(find_newline(&b), b.iter().position(|&c| c == b'\n'));
        }
    }
}
