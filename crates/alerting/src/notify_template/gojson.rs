//! JSON written the way Go's `encoding/json` writes it, so that payloads are
//! byte-compatible with Alertmanager's: object fields in declaration order,
//! map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u…`, Go's
//! float formatting, and `time.Time` as RFC 3339 with trimmed nanoseconds.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Timelike, Utc};

/// A JSON value whose object fields keep the order they were pushed in.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// A Go `map[string]string`: keys come out sorted.
    pub fn string_map(m: &BTreeMap<String, String>) -> Json {
        Json::Obj(
            m.iter()
                .map(|(k, v)| (k.clone(), Json::Str(v.clone())))
                .collect(),
        )
    }

    /// A Go `time.Time`; `None` is the zero time.
    pub fn time(t: Option<DateTime<Utc>>) -> Json {
        Json::Str(rfc3339_nano(t))
    }

    /// The text `json.Marshal` would produce.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// The text `json.NewEncoder(w).Encode` would produce: with a newline.
    pub fn encode_line(&self) -> String {
        let mut out = self.encode();
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Uint(u) => {
                let _ = write!(out, "{u}");
            }
            Json::Float(f) => write_float(*f, out),
            Json::Str(s) => write_str(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// Converts a YAML value as Alertmanager's template deep copy does:
    /// string keys only, other scalars as they are.
    pub fn from_yaml(v: &serde_yaml::Value) -> Json {
        match v {
            serde_yaml::Value::Null => Json::Null,
            serde_yaml::Value::Bool(b) => Json::Bool(*b),
            serde_yaml::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Json::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Json::Uint(u)
                } else {
                    Json::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_yaml::Value::String(s) => Json::Str(s.clone()),
            serde_yaml::Value::Sequence(a) => Json::Arr(a.iter().map(Json::from_yaml).collect()),
            serde_yaml::Value::Mapping(m) => {
                let sorted: BTreeMap<&str, &serde_yaml::Value> = m
                    .iter()
                    .filter_map(|(k, v)| k.as_str().map(|k| (k, v)))
                    .collect();
                Json::Obj(
                    sorted
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), Json::from_yaml(v)))
                        .collect(),
                )
            }
            serde_yaml::Value::Tagged(t) => Json::from_yaml(&t.value),
        }
    }
}

/// Go's `time.RFC3339Nano` for a UTC time, `0001-01-01T00:00:00Z` for zero.
pub fn rfc3339_nano(t: Option<DateTime<Utc>>) -> String {
    let Some(t) = t else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go escapes these so that JSON can be embedded in HTML and
            // JavaScript unchanged.
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's float encoding: shortest representation, plain decimal between
/// 1e-6 and 1e21, exponent form (`1e+21`, `1e-7`) outside. Go refuses NaN and
/// infinities; they are written as null here so that a payload still goes
/// out.
fn write_float(f: f64, out: &mut String) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{f:e}");
        match e.split_once('e') {
            Some((m, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{m}e+{exp}");
            }
            _ => out.push_str(&e),
        }
    } else {
        let _ = write!(out, "{f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escaping_and_numbers() {
        let v = Json::Obj(vec![
            ("b".into(), Json::str("<a & b>\n\u{1}\u{2028}")),
            (
                "a".into(),
                Json::Arr(vec![Json::Float(1.5), Json::Float(1e21)]),
            ),
            ("c".into(), Json::Float(1e-7)),
        ]);
        assert_eq!(
            v.encode(),
            r#"{"b":"\u003ca \u0026 b\u003e\n\u0001\u2028","a":[1.5,1e+21],"c":1e-7}"#
        );
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339_nano(None), "0001-01-01T00:00:00Z");
        let t = DateTime::from_timestamp(1_700_000_000, 120_000_000).unwrap_or_default();
        assert_eq!(rfc3339_nano(Some(t)), "2023-11-14T22:13:20.12Z");
    }
}
