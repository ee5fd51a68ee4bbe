//! The functions Prometheus registers in every expansion (`template.NewTemplateExpander`),
//! with its output formats and error texts.

use std::rc::Rc;

use super::{Sample, SampleQueryFn, SampleValue, QUERY_RESULT_TYPE, SAMPLE_TYPE};
use crate::func::{query_escape, FuncMap, Function, Ty};
use crate::goconv::{self, parse_float, parse_float_error_text};
use crate::gofmt::sprintf;
use crate::value::{GoTime, List, Value};

fn sample_value(s: &Sample) -> Value {
    let value = match &s.value {
        SampleValue::Float(f) => Value::Float(*f),
        SampleValue::Histogram(h) => Value::Histogram(Rc::new(h.clone())),
    };
    Value::record(
        SAMPLE_TYPE,
        vec![
            ("Labels", Value::string_map(s.labels.clone())),
            ("Value", value),
        ],
    )
}

fn query_result(items: Vec<Value>) -> Value {
    Value::List(Rc::new(List {
        type_name: QUERY_RESULT_TYPE.into(),
        items,
    }))
}

fn field<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    match v {
        Value::Record(r) => r.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
        _ => None,
    }
}

fn label_of(s: &Value, name: &str) -> Result<String, String> {
    if let Value::Nil = s {
        return Err("runtime error: invalid memory address or nil pointer dereference".into());
    }
    Ok(match field(s, "Labels") {
        Some(Value::Map(m)) => m
            .entries
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    })
}

/// Prometheus's `convertToFloat`.
pub(crate) fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Uint(u) => Ok(*u as f64),
        Value::Str(s) => parse_float(s).map_err(|e| parse_float_error_text(s, &e)),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

fn g4(v: f64) -> String {
    sprintf("%.4g", &[Value::Float(v)])
}

pub(crate) fn humanize(v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

pub(crate) fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus's `humanizeDuration` (seconds in, `1d 2h 3m 4s` / `1.5ms` out).
pub fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let d = if v >= 9.223_372_036_854_776e18 {
            i64::MIN
        } else {
            v as i64
        };
        let (seconds, minutes, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Prometheus's `floatToTime`: seconds to a UTC time truncated to milliseconds.
fn float_to_time(v: f64) -> Result<GoTime, String> {
    if v.is_nan() || v.is_infinite() {
        return Err("value is NaN or Inf".into());
    }
    let ts = v * 1e9;
    if ts > i64::MAX as f64 || ts < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            crate::gofmt::format_float(v, 'g', None)
        ));
    }
    let ns = ts as i64;
    let ms = ns / 1_000_000;
    Ok(GoTime::utc(ms as i128 * 1_000_000))
}

/// Prometheus's `model.ParseDuration` with a leading `-` allowed; returns milliseconds.
pub(crate) fn parse_prom_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("not a valid duration string: {}", goconv::quote(s));
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    if body == "0" {
        return Ok(0);
    }
    if body.is_empty() {
        return Err(bad());
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = body;
    let mut next_unit = 0usize;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let ndig = rest.bytes().take_while(u8::is_ascii_digit).count();
        if ndig == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..ndig]
            .parse()
            .map_err(|_| "duration out of range".to_string())?;
        rest = &rest[ndig..];
        let unit_len = if rest.starts_with("ms") {
            2
        } else {
            rest.chars().next().map_or(0, char::len_utf8)
        };
        let unit = &rest[..unit_len];
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(bad());
        };
        if idx < next_unit {
            return Err(bad());
        }
        next_unit = idx + 1;
        rest = &rest[unit_len..];
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|x| total.checked_add(x))
            .filter(|x| x.checked_mul(1_000_000).is_some())
            .ok_or_else(|| "duration out of range".to_string())?;
    }
    Ok(if neg { -total } else { total })
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
pub(crate) fn title(s: &str) -> String {
    let is_sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        }
    };
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_sep(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Translates Go RE2 syntax to the `regex` crate's, keeping Go's ASCII-only `\d \w \s`.
pub(crate) fn go_regex(pattern: &str) -> Result<regex::Regex, String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let rep = match e {
                    'd' => Some(("[0-9]", "0-9")),
                    'D' => Some(("[^0-9]", "")),
                    'w' => Some(("[0-9A-Za-z_]", "0-9A-Za-z_")),
                    'W' => Some(("[^0-9A-Za-z_]", "")),
                    's' => Some(("[\\t\\n\\f\\r ]", "\\t\\n\\f\\r ")),
                    'S' => Some(("[^\\t\\n\\f\\r ]", "")),
                    _ => None,
                };
                match rep {
                    Some((outside, inside)) if !in_class || !inside.is_empty() => {
                        out.push_str(if in_class { inside } else { outside });
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                out.push('[');
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str("\\["),
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    regex::RegexBuilder::new(&out)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            format!(
                "error parsing regexp: {}: `{pattern}`",
                first_line(&e.to_string())
            )
        })
}

/// How Go's `regexp.MustCompile` quotes a pattern in its panic message.
pub(crate) fn go_quote_regexp(p: &str) -> String {
    if goconv::can_backquote(p) {
        format!("`{p}`")
    } else {
        goconv::quote(p)
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

fn host_port_split(hp: &str) -> Option<(String, String)> {
    let i = hp.rfind(':')?;
    let (host, j, k);
    if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 == hp.len() || end + 1 != i {
            return None;
        }
        host = hp[1..end].to_string();
        j = 1;
        k = end + 1;
    } else {
        host = hp[..i].to_string();
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, hp[i + 1..].to_string()))
}

fn url_path(u: &str) -> String {
    let rest = match u.find("://") {
        Some(i) => &u[i + 3..],
        None => return u.split(['?', '#']).next().unwrap_or("").to_string(),
    };
    match rest.find('/') {
        Some(i) => rest[i..].split(['?', '#']).next().unwrap_or("").to_string(),
        None => String::new(),
    }
}

fn str_fn<'a>(f: fn(&str) -> String) -> Function<'a> {
    Function::new(&[Ty::Str], None, move |_, a| {
        Ok(Value::str(f(a[0].as_str().unwrap_or(""))))
    })
}

fn float_fn<'a>(f: fn(f64) -> Result<Value, String>) -> Function<'a> {
    Function::new(&[Ty::Any], None, move |_, a| f(to_float(&a[0])?))
}

/// Prometheus's function map for an expansion at `now_ms` with the given external URL.
pub fn funcs<'a>(now_ms: i64, external_url: &str, query: Option<SampleQueryFn<'a>>) -> FuncMap<'a> {
    let mut m = FuncMap::new();
    m.insert(
        "query",
        Function::new(&[Ty::Str], None, move |_, a| {
            let Some(q) = query else {
                return Err("no query function configured".into());
            };
            let rows = q(a[0].as_str().unwrap_or(""), now_ms)?;
            Ok(query_result(rows.iter().map(sample_value).collect()))
        }),
    );
    m.insert(
        "first",
        Function::new(&[Ty::Named(QUERY_RESULT_TYPE)], None, |_, a| match &a[0] {
            Value::List(l) if !l.items.is_empty() => Ok(l.items[0].clone()),
            _ => Err("first() called on vector with no elements".into()),
        }),
    );
    m.insert(
        "label",
        Function::new(&[Ty::Str, Ty::Named(SAMPLE_TYPE)], None, |_, a| {
            label_of(&a[1], a[0].as_str().unwrap_or("")).map(Value::str)
        }),
    );
    m.insert(
        "value",
        Function::new(&[Ty::Named(SAMPLE_TYPE)], None, |_, a| match &a[0] {
            Value::Nil => {
                Err("runtime error: invalid memory address or nil pointer dereference".into())
            }
            s => Ok(field(s, "Value").cloned().unwrap_or(Value::Nil)),
        }),
    );
    m.insert(
        "strvalue",
        Function::new(&[Ty::Named(SAMPLE_TYPE)], None, |_, a| {
            label_of(&a[0], "__value__").map(Value::str)
        }),
    );
    m.insert(
        "args",
        Function::new(&[], Some(Ty::Any), |_, a| {
            Ok(Value::any_map(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| (format!("arg{i}"), v.clone()))
                    .collect(),
            ))
        }),
    );
    m.insert(
        "reReplaceAll",
        Function::new(&[Ty::Str, Ty::Str, Ty::Str], None, |_, a| {
            let pattern = a[0].as_str().unwrap_or("");
            let re = go_regex(pattern)
                .map_err(|e| format!("regexp: Compile({}): {e}", go_quote_regexp(pattern)))?;
            Ok(Value::str(re.replace_all(
                a[2].as_str().unwrap_or(""),
                a[1].as_str().unwrap_or(""),
            )))
        }),
    );
    m.insert(
        "safeHtml",
        Function::new(&[Ty::Str], None, |_, a| {
            Ok(Value::Html(Rc::from(a[0].as_str().unwrap_or(""))))
        }),
    );
    m.insert(
        "match",
        Function::new(&[Ty::Str, Ty::Str], None, |_, a| {
            let re = go_regex(a[0].as_str().unwrap_or(""))?;
            Ok(Value::Bool(re.is_match(a[1].as_str().unwrap_or(""))))
        }),
    );
    m.insert("title", str_fn(title));
    m.insert("toUpper", str_fn(|s| s.to_uppercase()));
    m.insert("toLower", str_fn(|s| s.to_lowercase()));
    m.insert(
        "graphLink",
        str_fn(|s| format!("/graph?g0.expr={}&g0.tab=0", query_escape(s))),
    );
    m.insert(
        "tableLink",
        str_fn(|s| format!("/graph?g0.expr={}&g0.tab=1", query_escape(s))),
    );
    m.insert(
        "sortByLabel",
        Function::new(&[Ty::Str, Ty::Named(QUERY_RESULT_TYPE)], None, |_, a| {
            let label = a[0].as_str().unwrap_or("");
            let Value::List(l) = &a[1] else {
                return Ok(query_result(Vec::new()));
            };
            let mut items: Vec<(String, Value)> = l
                .items
                .iter()
                .map(|s| (label_of(s, label).unwrap_or_default(), s.clone()))
                .collect();
            items.sort_by(|x, y| x.0.cmp(&y.0));
            Ok(query_result(items.into_iter().map(|(_, v)| v).collect()))
        }),
    );
    m.insert("humanize", float_fn(|v| Ok(Value::str(humanize(v)))));
    m.insert(
        "humanize1024",
        float_fn(|v| Ok(Value::str(humanize1024(v)))),
    );
    m.insert(
        "humanizeDuration",
        float_fn(|v| Ok(Value::str(humanize_duration(v)))),
    );
    m.insert(
        "humanizePercentage",
        float_fn(|v| Ok(Value::str(format!("{}%", g4(v * 100.0))))),
    );
    m.insert(
        "humanizeTimestamp",
        float_fn(|v| {
            if v.is_nan() || v.is_infinite() {
                return Ok(Value::str(g4(v)));
            }
            Ok(Value::str(crate::gotime::time_string(&float_to_time(v)?)))
        }),
    );
    m.insert("toTime", float_fn(|v| Ok(Value::Time(float_to_time(v)?))));
    m.insert(
        "toDuration",
        float_fn(|v| {
            let ns = v * 1e9;
            // Go on amd64 turns out-of-range conversions into the minimum int64.
            let d = if ns.is_nan()
                || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&ns)
            {
                i64::MIN
            } else {
                ns as i64
            };
            Ok(Value::Duration(d))
        }),
    );
    let path = url_path(external_url);
    m.insert(
        "pathPrefix",
        Function::new(&[], None, move |_, _| Ok(Value::str(&path))),
    );
    let url = external_url.to_string();
    m.insert(
        "externalURL",
        Function::new(&[], None, move |_, _| Ok(Value::str(&url))),
    );
    m.insert(
        "parseDuration",
        Function::new(&[Ty::Str], None, |_, a| {
            let ms = parse_prom_duration(a[0].as_str().unwrap_or(""))?;
            Ok(Value::Float((ms as f64 * 1e6) / 1e9))
        }),
    );
    m.insert(
        "now",
        Function::new(&[], None, move |_, _| {
            Ok(Value::Float(now_ms as f64 / 1000.0))
        }),
    );
    m.insert(
        "stripPort",
        str_fn(|hp| match host_port_split(hp) {
            Some((h, _)) => h,
            None => hp.to_string(),
        }),
    );
    m.insert(
        "stripDomain",
        str_fn(|hp| {
            let (host, port) =
                host_port_split(hp).unwrap_or_else(|| (hp.to_string(), String::new()));
            if host.parse::<std::net::IpAddr>().is_ok() {
                return hp.to_string();
            }
            let short = host.split('.').next().unwrap_or("").to_string();
            if port.is_empty() {
                short
            } else if short.contains(':') {
                format!("[{short}]:{port}")
            } else {
                format!("{short}:{port}")
            }
        }),
    );
    m
}
