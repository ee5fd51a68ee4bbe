//! Parser of the promqltest script language: `load`, `clear` and `eval` blocks, series
//! descriptions (`metric{l="v"} <values>`) and the expanding value notation.
//!
//! The parser follows upstream's line-oriented grammar closely, because the expectations in
//! the scripts were validated against that grammar: a quirk here (e.g. how `a+bxn`
//! accumulates) would show up as a wrong expected value there.

use pharos_model::{Labels, METRIC_NAME, STALE_NAN};
use regex::Regex;
use std::sync::OnceLock;

/// A parsed script. Blocks that do not parse are kept as [`Command::Invalid`] so the rest of
/// the file still runs and a broken eval is still counted (as failed).
#[derive(Debug, Default)]
pub struct Script {
    pub commands: Vec<Command>,
}

#[derive(Debug)]
pub enum Command {
    Load(Load),
    Clear {
        line: usize,
    },
    Eval(Box<Eval>),
    Invalid {
        line: usize,
        /// Whether the block was an `eval…` (it then counts as a failed eval).
        is_eval: bool,
        /// The command line as written, for reports.
        text: String,
        error: String,
    },
}

#[derive(Debug)]
pub struct Load {
    pub line: usize,
    pub interval_ms: i64,
    /// `load_with_nhcb`: classic histogram series also become native histograms.
    pub with_nhcb: bool,
    /// One entry per distinct label set; a later line for the same set replaces the earlier.
    pub series: Vec<SeriesDesc>,
}

/// A series line: labels plus the expanded value sequence.
#[derive(Debug, Clone)]
pub struct SeriesDesc {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

/// One slot of an expanded value sequence.
#[derive(Debug, Clone, Copy)]
pub enum SeqValue {
    /// `_`: no sample in this slot.
    Omitted,
    Float(f64),
    /// A native histogram (`{{…}}`); the runner does not model them, only counts them.
    Histogram,
}

impl SeqValue {
    pub fn is_histogram(&self) -> bool {
        matches!(self, SeqValue::Histogram)
    }
}

/// `start`, `end` and `step` in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSpec {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

/// How an error or annotation text is checked.
#[derive(Debug, Clone)]
pub enum TextMatch {
    /// `expect fail` / `expect warn` without `msg:` or `regex:`.
    Any,
    Exact(String),
    /// Unanchored, as Go's `regexp.MatchString`.
    Regex(Regex),
}

impl TextMatch {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(m) => m == s,
            TextMatch::Regex(re) => re.is_match(s),
        }
    }

    /// Whether the check constrains the text at all.
    pub fn is_specific(&self) -> bool {
        !matches!(self, TextMatch::Any)
    }
}

impl std::fmt::Display for TextMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextMatch::Any => f.write_str("(any)"),
            TextMatch::Exact(m) => write!(f, "msg {m:?}"),
            TextMatch::Regex(re) => write!(f, "regex {:?}", re.as_str()),
        }
    }
}

/// An expected series of an eval block.
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
    /// 1-based position among the block's series lines (checked with `ordered`).
    pub pos: usize,
}

#[derive(Debug)]
pub struct Eval {
    pub line: usize,
    pub query: String,
    /// Set for `eval range`; `None` for an instant eval.
    pub range: Option<RangeSpec>,
    /// Evaluation time of an instant eval (the end of `expect range vector` if present).
    pub at_ms: i64,
    /// The query must fail.
    pub fail: bool,
    /// Checks on the error text; all must hold.
    pub fail_checks: Vec<TextMatch>,
    pub warn: Vec<TextMatch>,
    pub info: Vec<TextMatch>,
    pub no_warn: bool,
    pub no_info: bool,
    /// `eval_warn` / `eval_info`: at least one annotation of that kind.
    pub legacy_warn: bool,
    pub legacy_info: bool,
    pub ordered: bool,
    /// `expect range vector from … to … step …`: an instant query returning a matrix.
    pub range_vector: Option<RangeSpec>,
    /// `expect string "…"`.
    pub expected_string: Option<String>,
    /// A bare number line: the result must be a scalar.
    pub expected_scalar: Option<f64>,
    /// Expected series (an empty list with no scalar/string means an empty result).
    pub expected: Vec<ExpectedSeries>,
}

impl Eval {
    pub fn is_instant(&self) -> bool {
        self.range.is_none()
    }

    /// Whether any expected value is a native histogram.
    pub fn expects_histograms(&self) -> bool {
        self.expected
            .iter()
            .any(|s| s.values.iter().any(SeqValue::is_histogram))
    }

    /// Upstream skips the range-mode re-check for these: their result is not an instant
    /// vector or scalar.
    pub fn excluded_from_range_mode(&self) -> bool {
        self.range_vector.is_some() || self.expected_string.is_some()
    }
}

struct Patterns {
    load: Regex,
    eval_instant: Regex,
    eval_range: Regex,
    expect: Regex,
    expect_range: Regex,
    duration: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        load: Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").unwrap(),
        eval_instant: Regex::new(
            r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$",
        )
        .unwrap(),
        eval_range: Regex::new(
            r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
        )
        .unwrap(),
        expect: Regex::new(
            r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$",
        )
        .unwrap(),
        expect_range: Regex::new(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
            .unwrap(),
        duration: Regex::new(
            r"^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$",
        )
        .unwrap(),
    })
}

/// Parses a Prometheus duration (`0`, `1h30m`, `500ms`) into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    let caps = patterns()
        .duration
        .captures(s)
        .filter(|_| !s.is_empty())
        .ok_or_else(|| format!("not a valid duration string: {s:?}"))?;
    const UNITS: [i64; 7] = [
        365 * 86_400_000,
        7 * 86_400_000,
        86_400_000,
        3_600_000,
        60_000,
        1_000,
        1,
    ];
    let mut total: i64 = 0;
    for (i, unit) in UNITS.iter().enumerate() {
        if let Some(m) = caps.get(i + 1) {
            let n: i64 = m
                .as_str()
                .parse()
                .map_err(|_| format!("duration out of range: {s:?}"))?;
            total = n
                .checked_mul(*unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        }
    }
    Ok(total)
}

/// Parses a number line as upstream does: an integer in Go syntax (`0x1f`, `0o17`, `017`),
/// else a float (`1e3`, `.5`, `Inf`, `-inf`, `NaN`).
pub fn parse_number(s: &str) -> Option<f64> {
    if let Some(i) = parse_go_int(s) {
        return Some(i as f64);
    }
    parse_go_float(s)
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    // Go allows `_` between digits only when the base comes from a prefix.
    let digits = if prefixed {
        let trimmed = digits.strip_prefix('_').unwrap_or(&digits);
        if trimmed.ends_with('_') || trimmed.contains("__") {
            return None;
        }
        trimmed.replace('_', "")
    } else {
        digits
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    let neg = s.starts_with('-');
    match lower.as_str() {
        "inf" | "infinity" => {
            return Some(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    // Rust's float grammar is close to Go's decimal one; reject what Go would reject
    // (stray letters such as `1f`) by allowing only the decimal alphabet.
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Undoes Go/PromQL string quoting: `"…"` and `'…'` with escapes, `` `…` `` raw.
pub fn unquote(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    if bytes.len() < 2 {
        return Err(format!("invalid quoted string {s:?}"));
    }
    let q = bytes[0];
    if bytes[bytes.len() - 1] != q || !matches!(q, b'"' | b'\'' | b'`') {
        return Err(format!("invalid quoted string {s:?}"));
    }
    let inner = &s[1..s.len() - 1];
    if q == b'`' {
        if inner.contains('`') {
            return Err(format!("invalid raw string {s:?}"));
        }
        return Ok(inner.to_string());
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut chars = inner.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c as u32 == q as u32 {
            return Err(format!("unescaped quote in {s:?}"));
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let (_, e) = chars
            .next()
            .ok_or_else(|| format!("trailing backslash in {s:?}"))?;
        let mut take_hex = |n: usize| -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..n {
                let (_, h) = chars
                    .next()
                    .ok_or_else(|| format!("short escape in {s:?}"))?;
                v = v * 16
                    + h.to_digit(16)
                        .ok_or_else(|| format!("bad hex escape in {s:?}"))?;
            }
            Ok(v)
        };
        match e {
            'a' => out.push(7),
            'b' => out.push(8),
            'f' => out.push(12),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(11),
            '\\' => out.push(b'\\'),
            '"' | '\'' => out.push(e as u8),
            // \x and octal escapes produce raw bytes, which may not be valid UTF-8 alone.
            'x' => out.push(take_hex(2)? as u8),
            'u' | 'U' => {
                let v = take_hex(if e == 'u' { 4 } else { 8 })?;
                let ch = char::from_u32(v).ok_or_else(|| format!("bad unicode escape in {s:?}"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap();
                for _ in 0..2 {
                    let (_, d) = chars
                        .next()
                        .ok_or_else(|| format!("short octal escape in {s:?}"))?;
                    v = v * 8
                        + d.to_digit(8)
                            .ok_or_else(|| format!("bad octal escape in {s:?}"))?;
                }
                if v > 255 {
                    return Err(format!("octal escape out of range in {s:?}"));
                }
                out.push(v as u8);
            }
            other => return Err(format!("unknown escape \\{other} in {s:?}")),
        }
    }
    String::from_utf8(out).map_err(|_| format!("invalid UTF-8 in {s:?}"))
}

/// Length of the quoted string starting at `s[0]` (including both quotes).
fn quoted_len(s: &str) -> Result<usize, String> {
    let bytes = s.as_bytes();
    let q = bytes[0];
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if q != b'`' => i += 2,
            b if b == q => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(format!("unterminated string in {s:?}"))
}

fn is_name_start(c: u8, metric: bool) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || (metric && c == b':')
}

fn is_name_char(c: u8, metric: bool) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || (metric && c == b':')
}

/// Parses the `name{…}` part at the start of `line`; returns the labels and the rest.
pub fn parse_metric(line: &str) -> Result<(Labels, &str), String> {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut pairs: Vec<(String, String)> = Vec::new();
    if i < bytes.len() && is_name_start(bytes[i], true) {
        while i < bytes.len() && is_name_char(bytes[i], true) {
            i += 1;
        }
        pairs.push((METRIC_NAME.to_string(), line[..i].to_string()));
    }
    if i < bytes.len() && bytes[i] == b'{' {
        i += 1;
        loop {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= bytes.len() {
                return Err(format!("unterminated label set in {line:?}"));
            }
            if bytes[i] == b'}' {
                i += 1;
                break;
            }
            // A label name, or a quoted name, which stands alone for the metric name.
            let quoted = matches!(bytes[i], b'"' | b'\'' | b'`');
            let name = if quoted {
                let n = quoted_len(&line[i..])?;
                let name = unquote(&line[i..i + n])?;
                i += n;
                name
            } else if is_name_start(bytes[i], false) {
                let start = i;
                while i < bytes.len() && is_name_char(bytes[i], false) {
                    i += 1;
                }
                line[start..i].to_string()
            } else {
                return Err(format!(
                    "unexpected {:?} in label set of {line:?}",
                    bytes[i] as char
                ));
            };
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && bytes[i] == b'=' {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i >= bytes.len() || !matches!(bytes[i], b'"' | b'\'' | b'`') {
                    return Err(format!("label value must be a quoted string in {line:?}"));
                }
                let n = quoted_len(&line[i..])?;
                let value = unquote(&line[i..i + n])?;
                i += n;
                pairs.push((name, value));
            } else if quoted {
                pairs.push((METRIC_NAME.to_string(), name));
            } else {
                return Err(format!(
                    "series descriptions allow only `=` matchers: {line:?}"
                ));
            }
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            match bytes.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {}
                _ => return Err(format!("expected `,` or `}}` in label set of {line:?}")),
            }
        }
    }
    if i == 0 {
        return Err(format!("expected a metric name or label set in {line:?}"));
    }
    // Prometheus treats an empty label value as an absent label, and storage refuses to
    // keep empty values, so drop them on both the load and the expectation side.
    pairs.retain(|(_, v)| !v.is_empty());
    Ok((Labels::from_pairs(pairs), &line[i..]))
}

/// Parses a full series description line: `metric{…} <values>`.
pub fn parse_series_desc(line: &str) -> Result<SeriesDesc, String> {
    let (labels, rest) = parse_metric(line)?;
    if !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(format!("expected whitespace after the series in {line:?}"));
    }
    let values = parse_values(rest)?;
    Ok(SeriesDesc { labels, values })
}

/// Expands a value sequence: `1 2+3x2 _ _x3 stale -Inf 4x2 {{…}}`.
pub fn parse_values(s: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let consumed = if rest.starts_with("{{") {
            parse_histogram_item(rest, &mut out)?
        } else {
            let end = rest
                .find(|c: char| c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            parse_item(&rest[..end], &mut out)?;
            end
        };
        rest = rest[consumed..].trim_start();
    }
    Ok(out)
}

/// A histogram item: `{{…}}`, `{{…}}xN` or `{{…}}+{{…}}xN`. Only the number of slots it
/// fills matters here, since the runner skips everything that depends on histograms.
fn parse_histogram_item(s: &str, out: &mut Vec<SeqValue>) -> Result<usize, String> {
    let close = |from: usize| -> Result<usize, String> {
        s[from..]
            .find("}}")
            .map(|p| from + p + 2)
            .ok_or_else(|| format!("unterminated histogram in {s:?}"))
    };
    let mut i = close(2)?;
    if s[i..].starts_with("+{{") || s[i..].starts_with("-{{") {
        i = close(i + 3)?;
        let (n, len) = repeat_count(&s[i..])
            .ok_or_else(|| format!("histogram increment needs `xN` in {s:?}"))?;
        out.extend(std::iter::repeat_n(SeqValue::Histogram, n + 1));
        return Ok(i + len);
    }
    if let Some((n, len)) = repeat_count(&s[i..]) {
        out.extend(std::iter::repeat_n(SeqValue::Histogram, n + 1));
        return Ok(i + len);
    }
    if !s[i..].is_empty() && !s[i..].starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(format!("unexpected text after histogram in {s:?}"));
    }
    out.push(SeqValue::Histogram);
    Ok(i)
}

/// `xN` at the start of `s`, followed by the end or whitespace: `(N, consumed)`.
fn repeat_count(s: &str) -> Option<(usize, usize)> {
    let digits = s.strip_prefix('x')?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let after = &digits[end..];
    if !after.is_empty() && !after.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    Some((digits[..end].parse().ok()?, end + 1))
}

/// Length of the series-description number at the start of `s` (sign included):
/// decimal with optional fraction and exponent, or `Inf`/`NaN`. Hex is not accepted here,
/// as upstream's lexer does not accept it in series descriptions (`0x5` means five more 0s).
fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && matches!(b[i], b'+' | b'-') {
        i += 1;
    }
    let word_end = |from: usize| {
        let mut j = from;
        while j < b.len() && b[j].is_ascii_alphabetic() {
            j += 1;
        }
        j
    };
    let w = word_end(i);
    if w > i {
        let word = s[i..w].to_ascii_lowercase();
        return if word == "inf" || word == "nan" { w } else { 0 };
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i == start || (i == start + 1 && b[start] == b'.') {
        return 0;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        let mut j = i + 1;
        if j < b.len() && matches!(b[j], b'+' | b'-') {
            j += 1;
        }
        let digits = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > digits {
            i = j;
        }
    }
    i
}

fn parse_series_number(s: &str) -> Result<f64, String> {
    parse_go_float(s).ok_or_else(|| format!("invalid number {s:?}"))
}

/// One whitespace-free item of a value sequence.
fn parse_item(tok: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    if tok == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n
            .parse()
            .map_err(|_| format!("invalid repeat count in {tok:?}"))?;
        out.extend(std::iter::repeat_n(SeqValue::Omitted, n));
        return Ok(());
    }
    let (base, rest) = if let Some(rest) = tok.strip_prefix("stale") {
        (STALE_NAN, rest)
    } else {
        let n = number_len(tok);
        if n == 0 {
            return Err(format!("invalid value {tok:?}"));
        }
        (parse_series_number(&tok[..n])?, &tok[n..])
    };
    if rest.is_empty() {
        out.push(SeqValue::Float(base));
        return Ok(());
    }
    if let Some(count) = rest.strip_prefix('x') {
        let n: usize = count
            .parse()
            .map_err(|_| format!("invalid repeat count in {tok:?}"))?;
        out.extend(std::iter::repeat_n(SeqValue::Float(base), n + 1));
        return Ok(());
    }
    if rest.starts_with(['+', '-']) {
        let n = number_len(rest);
        if n == 0 {
            return Err(format!("invalid increment in {tok:?}"));
        }
        let step = parse_series_number(&rest[..n])?;
        let count = rest[n..]
            .strip_prefix('x')
            .ok_or_else(|| format!("increment needs `xN` in {tok:?}"))?;
        let count: usize = count
            .parse()
            .map_err(|_| format!("invalid repeat count in {tok:?}"))?;
        // Accumulate rather than computing `a + i*b`: upstream sums step by step, and the
        // expected values were produced with that rounding.
        let mut v = base;
        for _ in 0..=count {
            out.push(SeqValue::Float(v));
            v += step;
        }
        return Ok(());
    }
    Err(format!("invalid value {tok:?}"))
}

/// The value sequence of a `…@st` start-timestamp line is durations, not numbers; the runner
/// does not model start timestamps, so only the line's shape is recognised.
fn is_start_timestamp_line(line: &str) -> bool {
    let head = line.split([' ', '\t']).next().unwrap_or("");
    line.contains([' ', '\t']) && head.ends_with("@st")
}

/// Trimmed lines with comments blanked, as upstream prepares them.
fn script_lines(text: &str) -> Vec<&str> {
    text.split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect()
}

/// Parses a whole script. Never fails as a whole: a bad block becomes [`Command::Invalid`]
/// and parsing resumes after the next blank line.
pub fn parse_script(text: &str) -> Script {
    let lines = script_lines(text);
    let mut script = Script::default();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l
            .split([' ', '\t'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let result = if word == "clear" {
            Ok((Command::Clear { line: i + 1 }, i + 1))
        } else if word.starts_with("load") {
            parse_load(&lines, i).map(|(c, next)| (Command::Load(c), next))
        } else if word.starts_with("eval") {
            parse_eval(&lines, i).map(|(c, next)| (Command::Eval(Box::new(c)), next))
        } else {
            Err(format!("invalid command {l:?}"))
        };
        match result {
            Ok((cmd, next)) => {
                script.commands.push(cmd);
                i = next;
            }
            Err(error) => {
                script.commands.push(Command::Invalid {
                    line: i + 1,
                    is_eval: word.starts_with("eval"),
                    text: l.to_string(),
                    error,
                });
                i += 1;
                while i < lines.len() && !lines[i].is_empty() {
                    i += 1;
                }
            }
        }
    }
    script
}

/// Parses the `load` block starting at `lines[i]`; returns it and the index after it.
fn parse_load(lines: &[&str], mut i: usize) -> Result<(Load, usize), String> {
    let caps = patterns()
        .load
        .captures(lines[i])
        .ok_or_else(|| "invalid load command (load[_with_nhcb] <step:duration>)".to_string())?;
    let with_nhcb = caps.get(1).is_some();
    let interval_ms = parse_duration(&caps[2]).map_err(|e| format!("invalid step: {e}"))?;
    let mut load = Load {
        line: i + 1,
        interval_ms,
        with_nhcb,
        series: Vec::new(),
    };
    i += 1;
    while i < lines.len() && !lines[i].is_empty() {
        let l = lines[i];
        if !is_start_timestamp_line(l) {
            let desc = parse_series_desc(l).map_err(|e| format!("line {}: {e}", i + 1))?;
            match load.series.iter_mut().find(|s| s.labels == desc.labels) {
                Some(existing) => *existing = desc,
                None => load.series.push(desc),
            }
        }
        i += 1;
    }
    Ok((load, i))
}

fn parse_range_spec(from: &str, to: &str, step: &str) -> Result<RangeSpec, String> {
    let start_ms = parse_duration(from).map_err(|e| format!("invalid start: {e}"))?;
    let end_ms = parse_duration(to).map_err(|e| format!("invalid end: {e}"))?;
    if end_ms < start_ms {
        return Err(format!("end {to} is before start {from}"));
    }
    let step_ms = parse_duration(step).map_err(|e| format!("invalid step: {e}"))?;
    Ok(RangeSpec {
        start_ms,
        end_ms,
        step_ms,
    })
}

fn parse_text_match(kind: Option<&str>, text: Option<&str>) -> Result<TextMatch, String> {
    match (kind, text) {
        (Some("msg"), Some(t)) => Ok(TextMatch::Exact(t.trim().to_string())),
        (Some("regex"), Some(t)) => Regex::new(t.trim())
            .map(TextMatch::Regex)
            .map_err(|e| format!("invalid regex {:?}: {e}", t.trim())),
        _ => Ok(TextMatch::Any),
    }
}

/// Parses the `eval` block starting at `lines[i]`; returns it and the index after it.
fn parse_eval(lines: &[&str], mut i: usize) -> Result<(Eval, usize), String> {
    let p = patterns();
    let head = lines[i];
    let line = i + 1;
    let (modifier, query, range, at_ms) = if let Some(c) = p.eval_instant.captures(head) {
        let at = c.get(2).map_or("", |m| m.as_str());
        let at_ms = parse_duration(at).map_err(|e| format!("invalid timestamp definition: {e}"))?;
        (
            c.get(1).map(|m| m.as_str().to_string()),
            c[3].to_string(),
            None,
            at_ms,
        )
    } else if let Some(c) = p.eval_range.captures(head) {
        let spec = parse_range_spec(&c[2], &c[3], &c[4])?;
        (
            c.get(1).map(|m| m.as_str().to_string()),
            c[5].to_string(),
            Some(spec),
            0,
        )
    } else {
        return Err("invalid evaluation command".to_string());
    };
    let mut ev = Eval {
        line,
        query,
        range,
        at_ms,
        fail: false,
        fail_checks: Vec::new(),
        warn: Vec::new(),
        info: Vec::new(),
        no_warn: false,
        no_info: false,
        legacy_warn: false,
        legacy_info: false,
        ordered: false,
        range_vector: None,
        expected_string: None,
        expected_scalar: None,
        expected: Vec::new(),
    };
    match modifier.as_deref() {
        Some("fail") => ev.fail = true,
        Some("warn") => ev.legacy_warn = true,
        Some("info") => ev.legacy_info = true,
        Some("ordered") => ev.ordered = true,
        _ => {}
    }
    let mut fail_lines = 0;
    i += 1;
    while i < lines.len() && !lines[i].is_empty() {
        let l = lines[i];
        i += 1;
        if ev.fail && l.starts_with("expected_fail_message") {
            let msg = l["expected_fail_message".len()..].trim().to_string();
            ev.fail_checks.push(TextMatch::Exact(msg));
            // Upstream ends the block here; what follows is parsed as commands.
            return Ok((ev, i));
        }
        if ev.fail && l.starts_with("expected_fail_regexp") {
            let pat = l["expected_fail_regexp".len()..].trim();
            let re = Regex::new(pat).map_err(|e| format!("invalid regexp {pat:?}: {e}"))?;
            ev.fail_checks.push(TextMatch::Regex(re));
            return Ok((ev, i));
        }
        if l.starts_with("expect range vector") {
            let c = p
                .expect_range
                .captures(l)
                .ok_or_else(|| format!("invalid range vector definition {l:?}"))?;
            let spec = parse_range_spec(&c[1], &c[2], &c[3])?;
            ev.at_ms = spec.end_ms;
            ev.range_vector = Some(spec);
            continue;
        }
        if l.starts_with("expect string") {
            let rest = l
                .strip_prefix("expect string ")
                .filter(|r| !r.is_empty())
                .ok_or("expected string literal not valid - a quoted string literal is required")?;
            let s = unquote(rest).map_err(|_| {
                "expected string literal not valid - check that the string is correctly quoted"
                    .to_string()
            })?;
            ev.expected_string = Some(s);
            continue;
        }
        // A metric named `expect` can still be written as `expect{}`.
        if l.split(' ').next() == Some("expect") {
            let c = p
                .expect
                .captures(l.trim())
                .ok_or_else(|| format!("invalid expect statement {l:?}"))?;
            let tm = parse_text_match(c.get(2).map(|m| m.as_str()), c.get(3).map(|m| m.as_str()))?;
            match &c[1] {
                "ordered" => ev.ordered = true,
                "fail" => {
                    fail_lines += 1;
                    ev.fail = true;
                    ev.fail_checks.push(tm);
                }
                "warn" => ev.warn.push(tm),
                "info" => ev.info.push(tm),
                "no_warn" => ev.no_warn = true,
                "no_info" => ev.no_info = true,
                _ => unreachable!("the pattern lists every kind"),
            }
            if !ev.info.is_empty() && ev.no_info {
                return Err("info and no_info cannot be used together".into());
            }
            if !ev.warn.is_empty() && ev.no_warn {
                return Err("warn and no_warn cannot be used together".into());
            }
            if fail_lines > 1 {
                return Err("multiple expect fail lines are not allowed".into());
            }
            continue;
        }
        if let Some(v) = parse_number(l) {
            ev.expected_scalar = Some(v);
            // A scalar ends the block, as upstream.
            return Ok((ev, i));
        }
        let desc = parse_series_desc(l).map_err(|e| format!("line {}: {e}", i))?;
        if desc.values.len() > 1 && ev.is_instant() && ev.range_vector.is_none() {
            return Err(
                "expecting multiple values in instant evaluation not allowed; use 'expect range vector'"
                    .into(),
            );
        }
        let pos = ev.expected.len() + 1;
        match ev.expected.iter_mut().find(|s| s.labels == desc.labels) {
            Some(existing) => {
                existing.values = desc.values;
                existing.pos = pos;
            }
            None => ev.expected.push(ExpectedSeries {
                labels: desc.labels,
                values: desc.values,
                pos,
            }),
        }
    }
    Ok((ev, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::is_stale_nan;

    fn floats(v: &[SeqValue]) -> Vec<Option<f64>> {
        v.iter()
            .map(|x| match x {
                SeqValue::Float(f) => Some(*f),
                SeqValue::Omitted => None,
                SeqValue::Histogram => Some(f64::MIN),
            })
            .collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("0s").unwrap(), 0);
        assert_eq!(parse_duration("1ms").unwrap(), 1);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("20s500ms").unwrap(), 20_500);
        assert_eq!(parse_duration("1d").unwrap(), 86_400_000);
        assert_eq!(parse_duration("1y").unwrap(), 365 * 86_400_000);
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("1m1h").is_err());
        assert!(parse_duration("-1m").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0x1f"), Some(31.0));
        assert_eq!(parse_number("-0x10"), Some(-16.0));
        assert_eq!(parse_number("010"), Some(8.0));
        assert_eq!(parse_number("12"), Some(12.0));
        assert_eq!(parse_number("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_number("-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_number("NaN").unwrap().is_nan());
        assert_eq!(parse_number("1.5e3"), Some(1500.0));
        assert_eq!(parse_number(".5"), Some(0.5));
        assert_eq!(parse_number("-0.0000002"), Some(-0.0000002));
        assert_eq!(
            parse_number("3.141592653589793"),
            Some(std::f64::consts::PI)
        );
        assert_eq!(parse_number("{} 1"), None);
        assert_eq!(parse_number("foo"), None);
        assert_eq!(parse_number("1f"), None);
    }

    #[test]
    fn value_expansion() {
        let v = parse_values("1+1x3").unwrap();
        assert_eq!(floats(&v), vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)]);
        let v = parse_values("0-2x2").unwrap();
        assert_eq!(floats(&v), vec![Some(0.0), Some(-2.0), Some(-4.0)]);
        let v = parse_values("-1-1x1").unwrap();
        assert_eq!(floats(&v), vec![Some(-1.0), Some(-2.0)]);
        let v = parse_values("5x2").unwrap();
        assert_eq!(floats(&v), vec![Some(5.0); 3]);
        // Not hex: `0x3` is 0 repeated.
        let v = parse_values("0x3").unwrap();
        assert_eq!(floats(&v), vec![Some(0.0); 4]);
        let v = parse_values("_ _x3 1").unwrap();
        assert_eq!(floats(&v), vec![None, None, None, None, Some(1.0)]);
        let v = parse_values("1e3 1.5E+2 -2.5e-1 .5").unwrap();
        assert_eq!(
            floats(&v),
            vec![Some(1000.0), Some(150.0), Some(-0.25), Some(0.5)]
        );
        let v = parse_values("1e+3+1e+3x1").unwrap();
        assert_eq!(floats(&v), vec![Some(1000.0), Some(2000.0)]);
        let v = parse_values("Inf -Inf +Inf inf NaN").unwrap();
        assert_eq!(v.len(), 5);
        assert!(matches!(v[0], SeqValue::Float(f) if f == f64::INFINITY));
        assert!(matches!(v[1], SeqValue::Float(f) if f == f64::NEG_INFINITY));
        assert!(matches!(v[4], SeqValue::Float(f) if f.is_nan() && !is_stale_nan(f)));
        let v = parse_values("stale 1").unwrap();
        assert!(matches!(v[0], SeqValue::Float(f) if is_stale_nan(f)));
        let v = parse_values("1+0.1x3").unwrap();
        // Accumulated, not multiplied.
        let mut acc = 1.0f64;
        for x in &v {
            assert!(matches!(x, SeqValue::Float(f) if f.to_bits() == acc.to_bits()));
            acc += 0.1;
        }
        assert!(parse_values("1+x3").is_err());
        assert!(parse_values("abc").is_err());
        assert!(parse_values("1+2").is_err());
        assert!(parse_values("1x").is_err());
    }

    #[test]
    fn histogram_slots() {
        let v = parse_values("1 {{schema:1 sum:3 count:22 buckets:[5 10 7]}} 2").unwrap();
        assert_eq!(v.len(), 3);
        assert!(v[1].is_histogram());
        let v = parse_values("{{schema:0 sum:1 count:1}}x3 _").unwrap();
        assert_eq!(v.len(), 5);
        let v = parse_values("{{schema:0 sum:1 count:1}}+{{schema:0 sum:2 count:2}}x2 5").unwrap();
        assert_eq!(v.len(), 4);
        assert!(matches!(v[3], SeqValue::Float(f) if f == 5.0));
        assert!(parse_values("{{schema:0").is_err());
    }

    #[test]
    fn series_descriptions() {
        let d = parse_series_desc(r#"http_requests{job="api", instance="0"} 1 2"#).unwrap();
        assert_eq!(
            d.labels,
            Labels::from_pairs([
                ("__name__", "http_requests"),
                ("job", "api"),
                ("instance", "0")
            ])
        );
        assert_eq!(d.values.len(), 2);

        let d = parse_series_desc("{} 5").unwrap();
        assert!(d.labels.is_empty());

        let d = parse_series_desc("up 1").unwrap();
        assert_eq!(d.labels, Labels::from_pairs([("__name__", "up")]));

        let d = parse_series_desc(r#"{__name__="a:b", x='y',} 1"#).unwrap();
        assert_eq!(
            d.labels,
            Labels::from_pairs([("__name__", "a:b"), ("x", "y")])
        );

        let d = parse_series_desc(r#"{"some.metric", "a.b"="c\n\"d\""} 1"#).unwrap();
        assert_eq!(
            d.labels,
            Labels::from_pairs([("__name__", "some.metric"), ("a.b", "c\n\"d\"")])
        );

        // Empty values are dropped: Prometheus treats them as absent.
        let d = parse_series_desc(r#"m{a="", b="1"} 1"#).unwrap();
        assert_eq!(
            d.labels,
            Labels::from_pairs([("__name__", "m"), ("b", "1")])
        );

        let d = parse_series_desc("m{a=\"}\"}\t1").unwrap();
        assert_eq!(d.labels.get("a"), Some("}"));

        assert!(parse_series_desc(r#"m{a!="b"} 1"#).is_err());
        assert!(parse_series_desc(r#"m{a="b" 1"#).is_err());
        assert!(parse_series_desc("5 1").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(unquote(r#""a\tb""#).unwrap(), "a\tb");
        assert_eq!(unquote(r#"'it\'s'"#).unwrap(), "it's");
        assert_eq!(unquote(r"`raw\n`").unwrap(), "raw\\n");
        assert_eq!(unquote(r#""\u00e9\x41\101""#).unwrap(), "éAA");
        assert!(unquote(r#""\xc5""#).is_err());
        assert!(unquote("\"abc").is_err());
    }

    fn only_eval(text: &str) -> Eval {
        let s = parse_script(text);
        assert_eq!(s.commands.len(), 1, "{:?}", s.commands);
        match s.commands.into_iter().next().unwrap() {
            Command::Eval(e) => *e,
            other => panic!("not an eval: {other:?}"),
        }
    }

    #[test]
    fn eval_instant_with_expects() {
        let e = only_eval(
            "eval instant at 1m sum by (env) (my_metric)\n  expect warn\n  expect no_info\n  {env=\"prod\"} 5\n  {env=\"test\"} 20\n",
        );
        assert_eq!(e.at_ms, 60_000);
        assert_eq!(e.query, "sum by (env) (my_metric)");
        assert!(e.is_instant());
        assert_eq!(e.warn.len(), 1);
        assert!(!e.warn[0].is_specific());
        assert!(e.no_info);
        assert_eq!(e.expected.len(), 2);
        assert_eq!(e.expected[1].pos, 2);
    }

    #[test]
    fn eval_range_and_messages() {
        let e = only_eval(
            "eval range from 0 to 3m step 1m sum(x)\n  expect warn msg: PromQL warning: boom (1:15)\n  expect info regex: PromQL info: (a|b) \\(1:15\\)\n  {} 2 _ 10 20\n",
        );
        assert_eq!(
            e.range,
            Some(RangeSpec {
                start_ms: 0,
                end_ms: 180_000,
                step_ms: 60_000
            })
        );
        assert!(e.warn[0].matches("PromQL warning: boom (1:15)"));
        assert!(!e.warn[0].matches("PromQL warning: boom (1:16)"));
        assert!(e.info[0].matches("PromQL info: b (1:15)"));
        assert_eq!(floats(&e.expected[0].values)[1], None);
    }

    #[test]
    fn eval_fail_forms() {
        let e =
            only_eval("eval instant at 0 foo\n  expect fail msg:vector cannot contain metrics\n");
        assert!(e.fail);
        assert!(e.fail_checks[0].matches("vector cannot contain metrics"));
        let e = only_eval("eval_fail instant at 0 -{job=\"api\"}\n");
        assert!(e.fail);
        assert!(e.fail_checks.is_empty());
        let e = only_eval("eval instant at 0 foo\n  expect fail regex: conflicting label\n");
        assert!(e.fail_checks[0].matches("x conflicting label y"));
        let e = only_eval("eval_ordered instant at 50m sort(x)\n  {a=\"1\"} 1\n");
        assert!(e.ordered);
        let e = only_eval("eval_warn instant at 50m x\n");
        assert!(e.legacy_warn);
    }

    #[test]
    fn eval_scalar_string_and_range_vector() {
        let e = only_eval("eval instant at 50m 1 % 0\n\tNaN\n");
        assert!(e.expected_scalar.unwrap().is_nan());
        let e = only_eval("eval instant at 50m \" Foo \"\n    expect string \" Foo \"\n");
        assert_eq!(e.expected_string.as_deref(), Some(" Foo "));
        assert!(e.excluded_from_range_mode());
        let e = only_eval("eval instant at 50m (\"Foo\")\n\texpect string `Foo`\n");
        assert_eq!(e.expected_string.as_deref(), Some("Foo"));
        let e = only_eval(
            "eval instant at 1m some_metric[1m]\n  expect range vector from 10s to 1m step 10s\n  some_metric{env=\"a\"} 2 3 4 5 6\n",
        );
        assert_eq!(e.at_ms, 60_000);
        assert_eq!(e.range_vector.unwrap().start_ms, 10_000);
        assert_eq!(e.expected[0].values.len(), 5);
    }

    #[test]
    fn invalid_blocks_are_kept_and_parsing_resumes() {
        let s = parse_script(
            "eval instant at 1m foo\n  {} 1 2\n\nbogus line\n\nload 1m\n  a{b=\"c\"} 1 2\n\nclear\n",
        );
        assert_eq!(s.commands.len(), 4);
        assert!(matches!(
            &s.commands[0],
            Command::Invalid {
                is_eval: true,
                line: 1,
                ..
            }
        ));
        assert!(matches!(
            &s.commands[1],
            Command::Invalid {
                is_eval: false,
                line: 4,
                ..
            }
        ));
        assert!(
            matches!(&s.commands[2], Command::Load(l) if l.series.len() == 1 && l.interval_ms == 60_000)
        );
        assert!(matches!(&s.commands[3], Command::Clear { line: 9 }));
    }

    #[test]
    fn load_blocks() {
        let s = parse_script(
            "# comment\nload 5m\n  a{x=\"1\"} 1 2\n  a{x=\"1\"} 3\n  # inline comment ends the block\n  b 1\n\nload_with_nhcb 1m\n  h_bucket{le=\"1\"} 1\n  series@st _ -1m\n",
        );
        let loads: Vec<&Load> = s
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Load(l) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(loads.len(), 2);
        assert_eq!(loads[0].series.len(), 1);
        assert_eq!(floats(&loads[0].series[0].values), vec![Some(3.0)]);
        assert!(loads[1].with_nhcb);
        assert_eq!(loads[1].series.len(), 1);
        // The line after the comment is a new (invalid) command, as upstream reads it.
        assert!(s
            .commands
            .iter()
            .any(|c| matches!(c, Command::Invalid { line: 6, .. })));
    }

    #[test]
    fn expect_validation() {
        let s = parse_script("eval instant at 0 x\n  expect warn\n  expect no_warn\n");
        assert!(matches!(
            &s.commands[0],
            Command::Invalid { is_eval: true, .. }
        ));
        let s = parse_script("eval instant at 0 x\n  expect fail\n  expect fail\n");
        assert!(matches!(
            &s.commands[0],
            Command::Invalid { is_eval: true, .. }
        ));
        let s = parse_script("eval instant at 0 x\n  expect bogus\n");
        assert!(matches!(
            &s.commands[0],
            Command::Invalid { is_eval: true, .. }
        ));
    }
}
