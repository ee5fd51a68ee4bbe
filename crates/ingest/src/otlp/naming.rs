//! Metric names, label names and label values for OTLP data, as Prometheus's OTLP
//! translator builds them under its default `UnderscoreEscapingWithSuffixes` strategy.
//!
//! Users move dashboards and alerts between Prometheus and Pharos, so a metric must get
//! the same name here as Prometheus would give it; where the two would differ the
//! difference is named on the function that makes it.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use std::fmt::Write as _;

/// What a metric becomes in Prometheus, which decides its type suffixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A gauge; unit `1` adds `_ratio`.
    Gauge,
    /// A non-monotonic sum, exported as a gauge but without `_ratio`: a sum of `1` is a
    /// count of things, not a fraction.
    NonMonotonicSum,
    /// A monotonic sum: a counter, named with `_total`.
    Counter,
    /// The base name of a histogram, before `_bucket`, `_sum` and `_count`.
    Histogram,
    /// The base name of a summary, before `_sum` and `_count`.
    Summary,
}

/// UCUM units with a Prometheus base-unit word, as Prometheus maps them. Units not
/// listed are kept as written (after character escaping).
fn main_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

/// The singular words used after `per`, as in `bytes_per_second`.
fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Characters kept inside a metric-name token; everything else separates tokens.
/// Underscore separates too, which is what collapses runs of underscores and drops
/// leading and trailing ones.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !is_name_char(c))
        .filter(|t| !t.is_empty())
}

/// The unit's suffix tokens: the main unit's word, then `per` and the per-unit's word.
///
/// A part that contains a `{…}` annotation is dropped whole, as Prometheus does: an
/// annotated unit such as `{packet}` is a count, which Prometheus names without a unit.
fn unit_tokens(unit: &str) -> (Vec<String>, Vec<String>) {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (unit.trim(), None),
    };
    let annotated = |u: &str| u.contains(['{', '}']);
    let mut main_tokens = Vec::new();
    if !main.is_empty() && !annotated(main) {
        let word = main_unit_word(main).unwrap_or(main);
        main_tokens.extend(tokens(word).map(str::to_owned));
    }
    let mut per_tokens = Vec::new();
    if let Some(per) = per {
        if !per.is_empty() && !annotated(per) {
            let word = per_unit_word(per).unwrap_or(per);
            let t: Vec<String> = tokens(word).map(str::to_owned).collect();
            if !t.is_empty() {
                per_tokens.push("per".to_owned());
                per_tokens.extend(t);
            }
        }
    }
    (main_tokens, per_tokens)
}

/// Whether `needle` occurs as a contiguous run of whole tokens in `hay`.
fn contains_run(hay: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Builds the Prometheus name of an OTLP metric; `None` when nothing valid is left.
///
/// The rules, in order:
/// 1. The name is split into tokens of `[a-zA-Z0-9:]`; every other character (including
///    `_`) separates tokens, so invalid characters become `_` and runs of `_` collapse.
/// 2. Unit suffixes are appended: the main unit's word (`s` → `seconds`, `By` → `bytes`,
///    `1` → none, unknown units as written) and, for `X/Y`, `per_` and Y's word
///    (`By/s` → `bytes_per_second`). A suffix already present in the name as whole tokens
///    is not added again. Prometheus checks the `per_…` part only as one token, which
///    never matches, and so can produce `…_per_second_per_second`; this checks the run
///    of tokens instead, so suffixes are never doubled.
/// 3. Counters get `_total` (any `total` token elsewhere is removed first, as Prometheus
///    does); gauges with unit `1` get `_ratio` likewise.
/// 4. A leading digit gets a `_` prefix.
pub fn metric_name(name: &str, unit: &str, kind: MetricKind) -> Option<String> {
    let mut toks: Vec<String> = tokens(name).map(str::to_owned).collect();
    let (main, per) = unit_tokens(unit);
    if !contains_run(&toks, &main) {
        toks.extend(main);
    }
    if !contains_run(&toks, &per) {
        toks.extend(per);
    }
    let mut push_last = |word: &str| {
        toks.retain(|t| t != word);
        toks.push(word.to_owned());
    };
    match kind {
        MetricKind::Counter => push_last("total"),
        MetricKind::Gauge if unit == "1" => push_last("ratio"),
        _ => {}
    }
    let mut out = toks.join("_");
    if out.is_empty() {
        return None;
    }
    if out.as_bytes()[0].is_ascii_digit() {
        out.insert(0, '_');
    }
    Some(out)
}

/// Turns an attribute key into a valid label name; `None` for an empty key (such an
/// attribute is dropped).
///
/// Characters outside `[a-zA-Z0-9_]` become `_`, and a leading digit gets `key_`, as in
/// Prometheus. A leading `_` gets `key` in front too, and here that includes a leading
/// `__`: Prometheus passes `__…` names through, but those are reserved for the server
/// (`__name__` above all), so a sender must not be able to set them. Runs of `_` are
/// kept, as Prometheus keeps them (the compatibility spec asks to collapse them, which
/// makes distinct attributes collide more often).
pub fn label_name(key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    let first = out.as_bytes()[0];
    if first.is_ascii_digit() {
        out.insert_str(0, "key_");
    } else if first == b'_' {
        out.insert_str(0, "key");
    }
    Some(out)
}

/// A bucket bound or quantile as a label value: shortest round-trip digits, never an
/// exponent, `+Inf`/`-Inf`/`NaN` spelled as Prometheus spells them. This is Go's
/// `FormatFloat(v, 'f', -1, 64)`, which Prometheus's translator uses for `le` and
/// `quantile`, so the label values match.
pub fn float_label(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

/// The string form of an attribute value, following the OpenTelemetry attribute
/// specification for non-OTLP protocols: strings as they are, booleans `true`/`false`,
/// integers in decimal, doubles as JSON numbers, bytes in base64, arrays and maps as
/// JSON. An empty value gives an empty string (and so no label).
pub fn attribute_value(v: Option<&AnyValue>) -> String {
    let Some(value) = v.and_then(|v| v.value.as_ref()) else {
        return String::new();
    };
    match value {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::DoubleValue(d) => json_number(*d),
        any_value::Value::BytesValue(b) => base64(b),
        any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_) => {
            let mut out = String::new();
            write_json(&mut out, value);
            out
        }
        // A profiling-only reference into a string table metrics do not have; the
        // OTLP spec says to treat it as absent.
        any_value::Value::StringValueStrindex(_) => String::new(),
    }
}

/// Writes a value as JSON. Nesting is bounded by the decoders (prost's recursion limit,
/// serde_json's depth limit), so the recursion is too.
fn write_json(out: &mut String, v: &any_value::Value) {
    match v {
        any_value::Value::StringValue(s) => json_string(out, s),
        any_value::Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        any_value::Value::IntValue(i) => {
            let _ = write!(out, "{i}");
        }
        any_value::Value::DoubleValue(d) if d.is_finite() => out.push_str(&json_number(*d)),
        // JSON has no NaN or infinity; the attribute spec spells them as strings.
        any_value::Value::DoubleValue(d) => json_string(out, &json_number(*d)),
        any_value::Value::BytesValue(b) => json_string(out, &base64(b)),
        any_value::Value::ArrayValue(a) => {
            out.push('[');
            for (i, item) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_opt(out, item.value.as_ref());
            }
            out.push(']');
        }
        any_value::Value::KvlistValue(kv) => {
            out.push('{');
            for (i, item) in kv.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, &item.key);
                out.push(':');
                write_json_opt(out, item.value.as_ref().and_then(|v| v.value.as_ref()));
            }
            out.push('}');
        }
        any_value::Value::StringValueStrindex(_) => out.push_str("null"),
    }
}

fn write_json_opt(out: &mut String, v: Option<&any_value::Value>) {
    match v {
        Some(v) => write_json(out, v),
        None => out.push_str("null"),
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A double as JavaScript (and so JSON generators, and Go's pdata) prints it: shortest
/// round-trip digits, plain notation for magnitudes in [1e-6, 1e21), exponent notation
/// outside, `-0` as `0`. Non-finite values are spelled `NaN`, `Infinity`, `-Infinity`.
pub fn json_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`; re-lay them out.
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i32;
    let n = exp + 1;
    let mut out = String::new();
    if v < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e >= 0 { "+" } else { "-" }, e.abs());
    }
    out
}

/// Standard base64 with padding, as the attribute spec asks for byte values.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Lowercase hex, as Prometheus writes trace and span ids into exemplar labels.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue as Array, KeyValue, KeyValueList};
    use MetricKind::*;

    fn name(n: &str, unit: &str, kind: MetricKind) -> String {
        metric_name(n, unit, kind).unwrap()
    }

    #[test]
    fn invalid_characters_and_underscores() {
        assert_eq!(
            name("http.server.duration", "", Gauge),
            "http_server_duration"
        );
        assert_eq!(name("a-b/c d", "", Gauge), "a_b_c_d");
        assert_eq!(name("foo__bar___baz", "", Gauge), "foo_bar_baz");
        assert_eq!(name("_foo_", "", Gauge), "foo");
        assert_eq!(name("ns:metric", "", Gauge), "ns:metric");
        assert_eq!(name("résumé", "", Gauge), "r_sum");
        assert_eq!(name("2xx.count", "", Gauge), "_2xx_count");
        assert_eq!(metric_name("...", "", Gauge), None);
        assert_eq!(metric_name("", "", Gauge), None);
    }

    #[test]
    fn unit_suffixes() {
        assert_eq!(
            name("http.server.duration", "s", Histogram),
            "http_server_duration_seconds"
        );
        assert_eq!(name("latency", "ms", Gauge), "latency_milliseconds");
        assert_eq!(name("memory.usage", "By", Gauge), "memory_usage_bytes");
        assert_eq!(name("heap", "KiBy", Gauge), "heap_kibibytes");
        assert_eq!(name("temp", "Cel", Gauge), "temp_celsius");
        assert_eq!(name("cpu", "%", Gauge), "cpu_percent");
        assert_eq!(name("widgets", "wd", Gauge), "widgets_wd");
        assert_eq!(name("x", " s ", Gauge), "x_seconds");
    }

    #[test]
    fn per_units() {
        assert_eq!(
            name("network.io", "By/s", Gauge),
            "network_io_bytes_per_second"
        );
        assert_eq!(name("rate", "1/s", Gauge), "rate_per_second");
        assert_eq!(name("rate", "{packet}/s", Gauge), "rate_per_second");
        assert_eq!(name("speed", "m/h", Gauge), "speed_meters_per_hour");
        assert_eq!(name("x", "By/", Gauge), "x_bytes");
        assert_eq!(name("x", "By/{req}", Gauge), "x_bytes");
        assert_eq!(name("x", "/s", Gauge), "x_per_second");
        assert_eq!(name("x", "By/fortnight", Gauge), "x_bytes_per_fortnight");
    }

    #[test]
    fn annotations_dropped() {
        assert_eq!(name("packets", "{packet}", Counter), "packets_total");
        assert_eq!(name("requests", "{request}", Gauge), "requests");
        assert_eq!(name("x", "By{compressed}", Gauge), "x");
    }

    #[test]
    fn type_suffixes() {
        assert_eq!(name("requests", "", Counter), "requests_total");
        assert_eq!(name("requests_total", "", Counter), "requests_total");
        assert_eq!(name("requests.total", "", Counter), "requests_total");
        assert_eq!(name("total.requests", "", Counter), "requests_total");
        assert_eq!(
            name("process.cpu.time", "s", Counter),
            "process_cpu_time_seconds_total"
        );
        assert_eq!(name("requests_total", "", Gauge), "requests_total");
        assert_eq!(name("utilization", "1", Gauge), "utilization_ratio");
        assert_eq!(name("utilization_ratio", "1", Gauge), "utilization_ratio");
        assert_eq!(name("queue.size", "1", NonMonotonicSum), "queue_size");
        assert_eq!(name("items", "1", Counter), "items_total");
        assert_eq!(name("x", "1", Summary), "x");
    }

    #[test]
    fn suffixes_not_doubled() {
        assert_eq!(name("duration_seconds", "s", Histogram), "duration_seconds");
        assert_eq!(name("seconds.elapsed", "s", Gauge), "seconds_elapsed");
        assert_eq!(
            name("io_bytes_per_second", "By/s", Gauge),
            "io_bytes_per_second"
        );
        assert_eq!(
            name("hits.per.second", "1/s", Counter),
            "hits_per_second_total"
        );
        assert_eq!(name("sent_bytes_total", "By", Counter), "sent_bytes_total");
    }

    #[test]
    fn label_names() {
        assert_eq!(label_name("http.method").unwrap(), "http_method");
        assert_eq!(label_name("k8s-pod/name").unwrap(), "k8s_pod_name");
        assert_eq!(label_name("123abc").unwrap(), "key_123abc");
        assert_eq!(label_name("_private").unwrap(), "key_private");
        assert_eq!(label_name("__name__").unwrap(), "key__name__");
        assert_eq!(label_name(".x").unwrap(), "key_x");
        assert_eq!(label_name("a..b").unwrap(), "a__b");
        assert_eq!(label_name("ünï").unwrap(), "key_n_");
        assert_eq!(label_name(""), None);
        for k in ["http.method", "123", "__x", "é", "a b"] {
            assert!(pharos_model::labels::is_valid_label_name(
                &label_name(k).unwrap()
            ));
        }
    }

    #[test]
    fn float_labels() {
        assert_eq!(float_label(0.005), "0.005");
        assert_eq!(float_label(1.0), "1");
        assert_eq!(float_label(1e6), "1000000");
        assert_eq!(float_label(1e-7), "0.0000001");
        assert_eq!(float_label(-2.5), "-2.5");
        assert_eq!(float_label(f64::INFINITY), "+Inf");
        assert_eq!(float_label(0.99), "0.99");
    }

    #[test]
    fn json_numbers() {
        assert_eq!(json_number(1.0), "1");
        assert_eq!(json_number(-0.0), "0");
        assert_eq!(json_number(1.5), "1.5");
        assert_eq!(json_number(123456.789), "123456.789");
        assert_eq!(json_number(1e21), "1e+21");
        assert_eq!(json_number(1e20), "100000000000000000000");
        assert_eq!(json_number(1.5e-7), "1.5e-7");
        assert_eq!(json_number(0.000001), "0.000001");
        assert_eq!(json_number(-0.1), "-0.1");
        assert_eq!(json_number(f64::NAN), "NaN");
        assert_eq!(json_number(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(json_number(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(json_number(5e-324), "5e-324");
    }

    fn any(v: any_value::Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn attribute_values() {
        use any_value::Value::*;
        assert_eq!(
            attribute_value(Some(&any(StringValue("a b".into())))),
            "a b"
        );
        assert_eq!(attribute_value(Some(&any(BoolValue(true)))), "true");
        assert_eq!(attribute_value(Some(&any(IntValue(-42)))), "-42");
        assert_eq!(attribute_value(Some(&any(DoubleValue(2.0)))), "2");
        assert_eq!(attribute_value(Some(&any(DoubleValue(0.25)))), "0.25");
        assert_eq!(
            attribute_value(Some(&any(BytesValue(b"hi!?".to_vec())))),
            "aGkhPw=="
        );
        assert_eq!(attribute_value(None), "");
        assert_eq!(attribute_value(Some(&AnyValue { value: None })), "");
        let arr = any(ArrayValue(Array {
            values: vec![
                any(StringValue("x\"y".into())),
                any(IntValue(1)),
                any(DoubleValue(f64::NAN)),
                any(BoolValue(false)),
                AnyValue { value: None },
            ],
        }));
        assert_eq!(
            attribute_value(Some(&arr)),
            r#"["x\"y",1,"NaN",false,null]"#
        );
        let map = any(KvlistValue(KeyValueList {
            values: vec![
                KeyValue {
                    key: "b".into(),
                    value: Some(any(DoubleValue(1.5))),
                    key_strindex: 0,
                },
                KeyValue {
                    key: "a".into(),
                    value: Some(arr),
                    key_strindex: 0,
                },
            ],
        }));
        assert_eq!(
            attribute_value(Some(&map)),
            r#"{"b":1.5,"a":["x\"y",1,"NaN",false,null]}"#
        );
    }

    #[test]
    fn base64_and_hex() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
        assert_eq!(hex(&[0x5b, 0x8e, 0x00, 0xff]), "5b8e00ff");
    }
}
