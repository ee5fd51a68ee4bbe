//! Syntax of Prometheus 3.x that the parser does not know, resolved on the query text
//! before parsing: duration expressions (`x[5m+30s]`, `x offset (step()*2)`, with
//! `step()`, `range()`, `min_of()`, `max_of()`), a zero `offset`, and the `anchored` /
//! `smoothed` range-selector modifiers, which are cut out and reported by position.
//!
//! Rewritten parts are padded with spaces to their original length where possible, so
//! that positions in the rewritten text (used for annotations) match the original.

/// An extended range-selector modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extension {
    Anchored,
    Smoothed,
}

impl Extension {
    pub fn name(self) -> &'static str {
        match self {
            Extension::Anchored => "anchored",
            Extension::Smoothed => "smoothed",
        }
    }
}

pub(crate) struct Prepared {
    pub text: String,
    /// Offsets in `text` where a modifier was cut out; it belongs to the selector that
    /// starts last before it.
    pub extensions: Vec<(usize, Extension)>,
}

/// Query-level values that duration expressions may refer to, in milliseconds.
#[derive(Clone, Copy)]
pub(crate) struct QueryTimes {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

/// A matcher added to the label selector of `info()`, which may consist of matchers
/// that all match the empty string (the parser rejects such selectors elsewhere); the
/// evaluator ignores it.
pub(crate) const INFO_PLACEHOLDER: &str = "__info_selector_placeholder__";

pub(crate) fn prepare(query: &str, times: QueryTimes) -> Result<Prepared, String> {
    let b = query.as_bytes();
    let mut out = String::with_capacity(query.len());
    let mut extensions = Vec::new();
    // Per open parenthesis: whether it opens a call of `info`.
    let mut calls: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                let end = string_end(b, i);
                out.push_str(&query[i..end]);
                i = end;
            }
            b'#' => {
                let end = query[i..].find('\n').map_or(b.len(), |n| i + n);
                out.push_str(&query[i..end]);
                i = end;
            }
            b'{' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'}' {
                    j = if matches!(b[j], b'"' | b'\'' | b'`') {
                        string_end(b, j)
                    } else {
                        j + 1
                    };
                }
                let end = (j + 1).min(b.len());
                let info_selector = calls.last() == Some(&true) && out.trim_end().ends_with(',');
                if info_selector && j < b.len() {
                    let inner = query[i + 1..j].trim();
                    out.push('{');
                    out.push_str(inner);
                    if !inner.is_empty() && !inner.ends_with(',') {
                        out.push(',');
                    }
                    out.push_str(INFO_PLACEHOLDER);
                    out.push_str("=~\".+\"}");
                } else {
                    out.push_str(&query[i..end]);
                }
                i = end;
            }
            b'[' => {
                let Some(close) = query[i..].find(']').map(|n| i + n) else {
                    out.push_str(&query[i..]);
                    break;
                };
                let inner = &query[i + 1..close];
                out.push('[');
                // What cannot be read as a duration is left for the parser to reject.
                out.push_str(&rewrite_brackets(inner, times).unwrap_or_else(|_| inner.to_string()));
                out.push(']');
                i = close + 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':')
                {
                    j += 1;
                }
                let word = &query[i..j];
                let ext = if word.eq_ignore_ascii_case("anchored") {
                    Some(Extension::Anchored)
                } else if word.eq_ignore_ascii_case("smoothed") {
                    Some(Extension::Smoothed)
                } else {
                    None
                };
                match ext {
                    Some(e) if follows_operand(&out) => {
                        extensions.push((out.len(), e));
                        out.push_str(&" ".repeat(word.len()));
                        i = j;
                    }
                    _ if word.eq_ignore_ascii_case("offset") => {
                        out.push_str(word);
                        i = rewrite_offset(query, j, times, &mut out).unwrap_or(j);
                    }
                    _ => {
                        out.push_str(word);
                        i = j;
                    }
                }
            }
            c if c.is_ascii_digit() || c == b'.' => {
                // Numbers may contain letters (`1e5`, `0x1f`, `5m`); copy them whole so
                // their letters are not taken for keywords.
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'.') {
                    j += 1;
                }
                out.push_str(&query[i..j]);
                i = j;
            }
            _ => {
                if c == b'(' {
                    let before = out.trim_end();
                    let is_info = before.ends_with("info")
                        && !before[..before.len() - 4]
                            .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':');
                    calls.push(is_info);
                } else if c == b')' {
                    calls.pop();
                }
                let len = query[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&query[i..i + len]);
                i += len;
            }
        }
    }
    Ok(Prepared {
        text: out,
        extensions,
    })
}

/// The end (exclusive) of the string literal starting at `i`.
fn string_end(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() && b[j] != q {
        if b[j] == b'\\' && q != b'`' {
            j += 1;
        }
        j += 1;
    }
    (j + 1).min(b.len())
}

/// Whether the text so far ends with something a modifier can follow: a selector,
/// a range, or an `offset`/`@` argument.
fn follows_operand(out: &str) -> bool {
    out.trim_end()
        .chars()
        .last()
        .is_some_and(|c| c == ']' || c == '}' || c == ')' || c.is_ascii_alphanumeric() || c == '_')
}

/// Rewrites the contents of `[…]`: a range, or a subquery's `range:step`.
fn rewrite_brackets(inner: &str, times: QueryTimes) -> Result<String, String> {
    let mut depth = 0i32;
    let mut colon = None;
    for (i, c) in inner.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ':' if depth == 0 => colon = Some(i),
            _ => {}
        }
    }
    let mut out = String::with_capacity(inner.len());
    match colon {
        Some(c) => {
            out.push_str(&rewrite_duration(&inner[..c], times)?);
            out.push(':');
            out.push_str(&rewrite_duration(&inner[c + 1..], times)?);
        }
        None => out.push_str(&rewrite_duration(inner, times)?),
    }
    Ok(out)
}

/// A duration written as an expression becomes a literal, padded to its length.
fn rewrite_duration(text: &str, times: QueryTimes) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() || is_literal(t) {
        return Ok(text.to_string());
    }
    let secs = DurationExpr::new(t, times).parse_all()?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!(
            "invalid duration expression {t:?}: must be positive"
        ));
    }
    Ok(pad(format_ms(to_ms(secs)), text.len()))
}

/// Handles what follows `offset`: a literal stays (a zero one is dropped), an
/// expression is evaluated. Returns where scanning continues.
fn rewrite_offset(
    query: &str,
    from: usize,
    times: QueryTimes,
    out: &mut String,
) -> Result<usize, String> {
    let b = query.as_bytes();
    let mut i = from;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let mut p = DurationExpr::new(&query[i..], times);
    let value = p.parse_offset()?;
    let end = i + p.pos;
    let written = &query[i..end];
    let literal = is_literal(written.trim_start_matches(['+', '-']).trim());
    if literal && value != 0.0 {
        out.push_str(&query[from..end]);
        return Ok(end);
    }
    if value == 0.0 {
        // `offset 0` is a no-op the parser would reject; drop the keyword too.
        let keyword_start = out.len().saturating_sub("offset".len());
        out.truncate(keyword_start);
        out.push_str(&" ".repeat("offset".len() + end - from));
        return Ok(end);
    }
    out.push_str(&query[from..i]);
    let ms = to_ms(value);
    let lit = if ms < 0 {
        format!("-{}", format_ms(ms.saturating_neg()))
    } else {
        format_ms(ms)
    };
    out.push_str(&pad(lit, end - i));
    Ok(end)
}

fn to_ms(secs: f64) -> i64 {
    let ms = (secs * 1000.0).round();
    if ms >= i64::MAX as f64 {
        i64::MAX
    } else if ms <= i64::MIN as f64 {
        i64::MIN
    } else {
        ms as i64
    }
}

fn pad(mut s: String, len: usize) -> String {
    while s.len() < len {
        s.push(' ');
    }
    s
}

/// A duration literal the parser reads itself: a number or `1h30m`-style units.
fn is_literal(s: &str) -> bool {
    s.parse::<f64>().is_ok() || units_ms(s).is_some()
}

/// `1h30m`-style durations in milliseconds.
fn units_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    let mut any = false;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let n: i64 = s[start..i].parse().ok()?;
        let unit_ms: i64 = if s[i..].starts_with("ms") {
            i += 2;
            1
        } else {
            let u = *b.get(i)?;
            i += 1;
            match u {
                b'y' => 365 * 86_400_000,
                b'w' => 7 * 86_400_000,
                b'd' => 86_400_000,
                b'h' => 3_600_000,
                b'm' => 60_000,
                b's' => 1000,
                _ => return None,
            }
        };
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
        any = true;
    }
    any.then_some(total)
}

/// A duration in the parser's literal syntax.
fn format_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// A recursive-descent reader of duration arithmetic, in seconds.
struct DurationExpr<'s> {
    s: &'s str,
    pos: usize,
    times: QueryTimes,
}

impl<'s> DurationExpr<'s> {
    fn new(s: &'s str, times: QueryTimes) -> DurationExpr<'s> {
        DurationExpr { s, pos: 0, times }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("invalid duration expression {:?}: {what}", self.s))
    }

    fn skip_ws(&mut self) {
        while self.s[self.pos..].starts_with(|c: char| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.s[self.pos..].chars().next()
    }

    fn parse_all(&mut self) -> Result<f64, String> {
        let v = self.sum()?;
        if self.peek().is_some() {
            return self.err("unexpected text");
        }
        Ok(v)
    }

    /// `offset` takes a signed primary only: `offset 5m + 1` adds to the selector.
    fn parse_offset(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some('-') => {
                self.pos += 1;
                Ok(-self.primary()?)
            }
            Some('+') => {
                self.pos += 1;
                self.primary()
            }
            _ => self.primary(),
        }
    }

    fn sum(&mut self) -> Result<f64, String> {
        let mut v = self.product()?;
        loop {
            match self.peek() {
                Some('+') => {
                    self.pos += 1;
                    v += self.product()?;
                }
                Some('-') => {
                    self.pos += 1;
                    v -= self.product()?;
                }
                _ => return Ok(v),
            }
        }
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut v = self.unary()?;
        loop {
            match self.peek() {
                Some('*') => {
                    self.pos += 1;
                    v *= self.unary()?;
                }
                Some('/') => {
                    self.pos += 1;
                    v /= self.unary()?;
                }
                Some('%') => {
                    self.pos += 1;
                    v %= self.unary()?;
                }
                _ => return Ok(v),
            }
        }
    }

    /// A sign binds more loosely than `^`: `-2^2` is -4.
    fn unary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some('-') => {
                self.pos += 1;
                Ok(-self.unary()?)
            }
            Some('+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<f64, String> {
        let base = self.primary()?;
        if self.peek() == Some('^') {
            self.pos += 1;
            let exp = self.unary()?;
            return Ok(base.powf(exp));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                let v = self.sum()?;
                if self.peek() != Some(')') {
                    return self.err("missing ')'");
                }
                self.pos += 1;
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let rest = &self.s[self.pos..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                    .unwrap_or(rest.len());
                let tok = &rest[..len];
                self.pos += len;
                if let Ok(v) = tok.parse::<f64>() {
                    return Ok(v);
                }
                match units_ms(tok) {
                    Some(ms) => Ok(ms as f64 / 1000.0),
                    None => self.err("bad number"),
                }
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let rest = &self.s[self.pos..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let name = rest[..len].to_ascii_lowercase();
                self.pos += len;
                if self.peek() != Some('(') {
                    return self.err("expected '('");
                }
                self.pos += 1;
                let mut args = Vec::new();
                if self.peek() != Some(')') {
                    loop {
                        args.push(self.sum()?);
                        match self.peek() {
                            Some(',') => self.pos += 1,
                            Some(')') => break,
                            _ => return self.err("expected ',' or ')'"),
                        }
                    }
                }
                self.pos += 1;
                let secs = |ms: i64| ms as f64 / 1000.0;
                match (name.as_str(), args.as_slice()) {
                    ("step", []) => Ok(secs(self.times.step)),
                    ("range", []) => Ok(secs(self.times.end.saturating_sub(self.times.start))),
                    ("min_of", [a, b]) => Ok(a.min(*b)),
                    ("max_of", [a, b]) => Ok(a.max(*b)),
                    _ => self.err("unknown function"),
                }
            }
            _ => self.err("expected a duration"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: QueryTimes = QueryTimes {
        start: 50_000,
        end: 60_000,
        step: 5_000,
    };

    fn text(q: &str) -> String {
        prepare(q, T).unwrap().text
    }

    #[test]
    fn bracket_expressions() {
        assert_eq!(text("changes(x[26m+4m])"), "changes(x[30m   ])");
        assert_eq!(text("x[1h/2]"), "x[30m ]");
        assert_eq!(text("x[29s+1s:5s+5s]"), "x[30s   :10s  ]");
        assert_eq!(text("x[step()+1ms]"), "x[5s1ms     ]");
        assert_eq!(text("x[5m]"), "x[5m]");
        assert_eq!(text("x[5m:]"), "x[5m:]");
    }

    #[test]
    fn offsets() {
        assert_eq!(text("x offset (100 + 2)"), "x offset 1m42s    ");
        assert_eq!(text("x offset 100 + 2"), "x offset 100 + 2");
        assert_eq!(text("x offset -step()*2"), "x offset -5s    *2");
        assert_eq!(text("x offset -2 ^ 2"), "x offset -2 ^ 2");
        assert_eq!(
            text("x offset range() + 1").trim_end(),
            "x offset 10s     + 1"
        );
        let zero = QueryTimes {
            start: 0,
            end: 0,
            step: 0,
        };
        assert_eq!(
            prepare("x offset range()", zero).unwrap().text.trim_end(),
            "x"
        );
    }

    #[test]
    fn info_selector_gets_a_placeholder() {
        assert_eq!(
            text(r#"info(x, {a=~".*"})"#),
            format!(r#"info(x, {{a=~".*",{INFO_PLACEHOLDER}=~".+"}})"#)
        );
        assert_eq!(text(r#"f(x, {a=~".*"})"#), r#"f(x, {a=~".*"})"#);
    }

    #[test]
    fn modifiers_are_cut_out() {
        let p = prepare("rate(x[1m] anchored) + y smoothed", T).unwrap();
        assert_eq!(p.text, "rate(x[1m]         ) + y         ");
        assert_eq!(
            p.extensions,
            vec![(11, Extension::Anchored), (25, Extension::Smoothed)]
        );
        assert!(prepare("smoothed", T).unwrap().extensions.is_empty());
        assert!(prepare(r#"x{a="smoothed"}"#, T)
            .unwrap()
            .extensions
            .is_empty());
    }
}
