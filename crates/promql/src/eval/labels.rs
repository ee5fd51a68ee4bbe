//! Label-set and number formatting helpers with Prometheus's exact conventions.

use pharos_model::{Label, Labels, METRIC_NAME};
use std::cmp::Ordering;
use std::fmt::Write;

/// The labels that describe what a series measures (its name, and the type and unit
/// labels of Prometheus's type-and-unit feature); they go when a value is transformed.
const METADATA_LABELS: [&str; 3] = [METRIC_NAME, "__type__", "__unit__"];

pub(crate) fn without_name(ls: &Labels) -> Labels {
    Labels::from_sorted(
        ls.iter()
            .filter(|l| !METADATA_LABELS.contains(&l.name.as_str()))
            .cloned()
            .collect(),
    )
}

/// [`without_name`] for a label set the caller owns: no label is copied.
pub(crate) fn into_without_name(ls: Labels) -> Labels {
    let mut v = ls.into_vec();
    v.retain(|l| !METADATA_LABELS.contains(&l.name.as_str()));
    Labels::from_sorted(v)
}

pub(crate) fn has_metadata(ls: &Labels) -> bool {
    ls.iter()
        .any(|l| METADATA_LABELS.contains(&l.name.as_str()))
}

/// The labels of `ls` except `names` (and except `__name__` when `drop_name`).
pub(crate) fn without(ls: &Labels, names: &[String], drop_name: bool) -> Labels {
    Labels::from_sorted(
        ls.iter()
            .filter(|l| !(names.contains(&l.name) || drop_name && l.name == METRIC_NAME))
            .cloned()
            .collect(),
    )
}

/// Only the labels of `ls` named in `names`.
/// Numbers group keys in order of first appearance. Keys are looked up as borrowed
/// labels, so a series joining an existing group copies no label.
#[derive(Default)]
pub(crate) struct KeyIndex<'a> {
    index: std::collections::HashMap<Vec<&'a Label>, usize>,
    /// The keys, by number.
    pub keys: Vec<Labels>,
}

impl<'a> KeyIndex<'a> {
    /// The number of the group `key` (labels in name order) belongs to.
    pub fn id(&mut self, key: Vec<&'a Label>) -> usize {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.keys.len();
        self.keys.push(Labels::from_sorted(
            key.iter().map(|l| (*l).clone()).collect(),
        ));
        self.index.insert(key, i);
        i
    }
}

pub(crate) fn keep(ls: &Labels, names: &[String]) -> Labels {
    Labels::from_sorted(
        ls.iter()
            .filter(|l| names.contains(&l.name))
            .cloned()
            .collect(),
    )
}

/// `ls` with `name` set to `value`; an empty value removes the label, as Prometheus's
/// label builder does.
pub(crate) fn with_label(ls: &Labels, name: &str, value: &str) -> Labels {
    let mut v: Vec<Label> = ls.iter().filter(|l| l.name != name).cloned().collect();
    if !value.is_empty() {
        let at = v.partition_point(|l| l.name.as_str() < name);
        v.insert(at, Label::new(name, value));
    }
    Labels::from_sorted(v)
}

/// The key that decides which series match in a binary operation: the values of the
/// `on` labels, or all labels but `__name__` and the `ignoring` ones.
pub(crate) fn signature(ls: &Labels, on: bool, names: &[String]) -> String {
    let mut key = String::new();
    let mut add = |name: &str, value: &str| {
        // Length prefixes keep the key unambiguous whatever the values contain.
        let _ = write!(key, "{}:{}{}:{}", name.len(), name, value.len(), value);
    };
    if on {
        let mut sorted: Vec<&String> = names.iter().collect();
        sorted.sort();
        sorted.dedup();
        for n in sorted {
            add(n, ls.get(n).unwrap_or(""));
        }
    } else {
        for l in ls.iter() {
            if l.name != METRIC_NAME && !names.contains(&l.name) {
                add(&l.name, &l.value);
            }
        }
    }
    key
}

/// The label set Prometheus prints for a match group: the `on` labels, or all but
/// `__name__` and the `ignoring` ones.
pub(crate) fn match_labels(ls: &Labels, on: bool, names: &[String]) -> Labels {
    if on {
        keep(ls, names)
    } else {
        without(ls, names, true)
    }
}

/// Prometheus's `labels.String()`: `{__name__="x", a="b"}`, names quoted when they are
/// not plain identifiers.
pub(crate) fn prom_string(ls: &Labels) -> String {
    let mut out = String::from("{");
    for (i, l) in ls.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if pharos_model::labels::is_valid_metric_name(&l.name) {
            out.push_str(&l.name);
        } else {
            out.push_str(&go_quote(&l.name));
        }
        out.push('=');
        out.push_str(&go_quote(&l.value));
    }
    out.push('}');
    out
}

/// A string quoted as Go's `strconv.Quote` does for printable text.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a label name is acceptable (Prometheus 3.x accepts any non-empty UTF-8).
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// The string literals of a query that Go would decode to invalid UTF-8 (`"\xff"` is
/// one byte in Go, but the parser decodes it to the character U+00FF), each as the
/// parser decoded it and as Go's `strconv.Quote` would print it. Prometheus rejects
/// such strings as label names; knowing them lets this engine do the same.
pub(crate) fn non_utf8_literals(query: &str) -> Vec<(String, String)> {
    let b = query.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let q = b[i];
        if q != b'"' && q != b'\'' {
            if q == b'`' {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            i += 1;
            continue;
        }
        i += 1;
        let mut go: Vec<u8> = Vec::new();
        let mut parsed = String::new();
        let mut raw_byte = false;
        while i < b.len() && b[i] != q {
            if b[i] == b'\\' && i + 1 < b.len() {
                let e = b[i + 1];
                i += 2;
                if e == b'x' && i + 2 <= b.len() {
                    let v = std::str::from_utf8(&b[i..i + 2])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    if let Some(v) = v {
                        go.push(v);
                        parsed.push(char::from(v));
                        raw_byte |= v >= 0x80;
                        i += 2;
                        continue;
                    }
                }
                // Other escapes decode to the same text in both; only their bytes matter.
                let c = match e {
                    b'n' => '\n',
                    b't' => '\t',
                    b'r' => '\r',
                    other => char::from(other),
                };
                let mut buf = [0u8; 4];
                go.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                parsed.push(c);
                continue;
            }
            let len = utf8_len(b[i]);
            let end = (i + len).min(b.len());
            go.extend_from_slice(&b[i..end]);
            parsed.push_str(std::str::from_utf8(&b[i..end]).unwrap_or(""));
            i = end;
        }
        i += 1;
        if raw_byte && std::str::from_utf8(&go).is_err() {
            out.push((parsed, go_quote_bytes(&go)));
        }
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Go's `strconv.Quote` of bytes that may not be valid UTF-8: invalid bytes as `\xNN`.
fn go_quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                let q = go_quote(s);
                out.push_str(&q[1..q.len() - 1]);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                let q = go_quote(std::str::from_utf8(valid).unwrap_or(""));
                out.push_str(&q[1..q.len() - 1]);
                let bad = e.error_len().unwrap_or(after.len()).max(1).min(after.len());
                for byte in &after[..bad] {
                    let _ = write!(out, "\\x{byte:02x}");
                }
                rest = &after[bad..];
            }
        }
    }
    out.push('"');
    out
}

/// Natural ordering of label values as `sort_by_label` uses it: runs of digits compare
/// as numbers, other runs as strings.
pub(crate) fn natural_less(a: &str, b: &str) -> bool {
    let ca = chunks(a);
    let cb = chunks(b);
    for (i, x) in ca.iter().enumerate() {
        let Some(y) = cb.get(i) else {
            return false;
        };
        let last_a = i + 1 == ca.len();
        let last_b = i + 1 == cb.len();
        match (parse_int(x), parse_int(y)) {
            (Some(xi), Some(yi)) => {
                if xi != yi {
                    return xi < yi;
                }
            }
            _ => {
                if x != y {
                    return x < y;
                }
            }
        }
        if last_a {
            return true;
        }
        if last_b {
            return false;
        }
    }
    false
}

fn parse_int(s: &str) -> Option<i64> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut digits: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let d = c.is_ascii_digit();
        match digits {
            Some(prev) if prev != d => {
                out.push(&s[start..i]);
                start = i;
            }
            _ => {}
        }
        digits = Some(d);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// `sort_by_label` ordering of two label values.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    if a == b {
        Ordering::Equal
    } else if natural_less(a, b) {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that round-trips,
/// never in exponent form.
pub(crate) fn go_format_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// Go's `%g` (and `%v`) for a float64: the shortest digits that round-trip, in
/// exponent form when the decimal exponent is below -4 or at least 6.
pub(crate) fn go_format_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert!(natural_less("a2", "a10"));
        assert!(!natural_less("a10", "a2"));
        assert!(natural_less("abc", "abd"));
        assert!(natural_less("1", "1a"));
        assert!(!natural_less("", "a"));
    }

    #[test]
    fn go_floats() {
        assert_eq!(go_format_f(1e20), "100000000000000000000");
        assert_eq!(go_format_f(0.1), "0.1");
        assert_eq!(go_format_f(f64::INFINITY), "+Inf");
        assert_eq!(go_format_g(9.223372036854776e18), "9.223372036854776e+18");
        assert_eq!(go_format_g(1.5), "1.5");
        assert_eq!(go_format_g(1e6), "1e+06");
        assert_eq!(go_format_g(123456.0), "123456");
        assert_eq!(go_format_g(1e-5), "1e-05");
        assert_eq!(go_format_g(-0.5), "-0.5");
        assert_eq!(go_format_g(f64::NAN), "NaN");
    }

    #[test]
    fn go_invalid_literals() {
        let found = non_utf8_literals(r#"label_replace(x, "\xff", "", "a\xc5z", "\x41")"#);
        assert_eq!(
            found,
            vec![
                ("\u{ff}".to_string(), r#""\xff""#.to_string()),
                ("a\u{c5}z".to_string(), r#""a\xc5z""#.to_string())
            ]
        );
    }

    #[test]
    fn set_and_remove() {
        let l = Labels::from_pairs([("a", "1"), ("c", "3")]);
        assert_eq!(
            with_label(&l, "b", "2"),
            Labels::from_pairs([("a", "1"), ("b", "2"), ("c", "3")])
        );
        assert_eq!(with_label(&l, "a", ""), Labels::from_pairs([("c", "3")]));
    }

    #[test]
    fn prometheus_label_text() {
        let l = Labels::from_pairs([("__name__", "x"), ("a", "b\"")]);
        assert_eq!(prom_string(&l), r#"{__name__="x", a="b\""}"#);
    }
}
