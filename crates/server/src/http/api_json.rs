//! JSON as the Prometheus HTTP API writes it, byte for byte where clients could notice:
//! sample values as strings (`"NaN"`, `"+Inf"`, `"1e+21"`), timestamps as seconds with
//! millisecond precision, label sets as objects in label order, the
//! `{"status":…,"data":…,"warnings":…,"infos":…}` envelope and the error shape.
//!
//! Written by hand rather than through serde: the number formats differ per place in
//! Prometheus (its jsoniter encoders for vectors and matrices, Go's `encoding/json` for
//! scalars), and query results can be large enough that building a value tree first
//! would double their memory.

use super::params::{ApiError, ErrorKind};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pharos_model::Labels;
use pharos_promql::{InstantSample, QueryStats, RangeSeries, Value};
use std::fmt::Write as _;
use std::time::Duration;

/// Prometheus caps each list in a response at this many, then says how many it left out.
const MAX_ANNOTATIONS: usize = 10;

/// A JSON text being written, tracking where commas go.
pub struct JsonBuf {
    out: String,
    /// True right after an opening bracket or a key: the next value needs no comma.
    fresh: bool,
}

impl Default for JsonBuf {
    fn default() -> Self {
        JsonBuf::new()
    }
}

impl JsonBuf {
    pub fn new() -> Self {
        JsonBuf {
            out: String::with_capacity(256),
            fresh: true,
        }
    }

    fn sep(&mut self) {
        if !self.fresh {
            self.out.push(',');
        }
        self.fresh = false;
    }

    pub fn begin_object(&mut self) {
        self.sep();
        self.out.push('{');
        self.fresh = true;
    }

    pub fn end_object(&mut self) {
        self.out.push('}');
        self.fresh = false;
    }

    pub fn begin_array(&mut self) {
        self.sep();
        self.out.push('[');
        self.fresh = true;
    }

    pub fn end_array(&mut self) {
        self.out.push(']');
        self.fresh = false;
    }

    pub fn key(&mut self, k: &str) {
        self.sep();
        write_json_string(&mut self.out, k);
        self.out.push(':');
        self.fresh = true;
    }

    pub fn string(&mut self, v: &str) {
        self.sep();
        write_json_string(&mut self.out, v);
    }

    /// A value already in JSON syntax (a number, `true`, `null`).
    pub fn raw(&mut self, v: &str) {
        self.sep();
        self.out.push_str(v);
    }

    pub fn int(&mut self, v: impl std::fmt::Display) {
        self.sep();
        let _ = write!(self.out, "{v}");
    }

    pub fn bool(&mut self, v: bool) {
        self.raw(if v { "true" } else { "false" });
    }

    /// A float as jsoniter writes an `f64` field (timings): finite values only.
    pub fn float(&mut self, v: f64) {
        let v = if v.is_finite() { v } else { 0.0 };
        self.raw(&format_go_float(v, true));
    }

    pub fn key_string(&mut self, k: &str, v: &str) {
        self.key(k);
        self.string(v);
    }

    /// A timestamp the way Prometheus's `jsonutil.MarshalTimestamp` writes it: seconds,
    /// then up to three fractional digits kept as written (`1435781451.780`).
    pub fn timestamp(&mut self, t_ms: i64) {
        self.sep();
        write_timestamp(&mut self.out, t_ms);
    }

    pub fn labels(&mut self, labels: &Labels) {
        self.begin_object();
        for l in labels.iter() {
            self.key_string(&l.name, &l.value);
        }
        self.end_object();
    }

    pub fn into_string(self) -> String {
        self.out
    }
}

fn write_timestamp(out: &mut String, t_ms: i64) {
    if t_ms < 0 {
        out.push('-');
    }
    let t = t_ms.unsigned_abs();
    let _ = write!(out, "{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

/// A JSON string with the escaping of Go's JSON encoders: `<`, `>` and `&` as `\u003c`…
/// (HTML-safe), U+2028/U+2029 escaped, control characters as `\u00XX` except `\n`, `\r`
/// and `\t`.
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let needs_hex = matches!(
            c,
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}'
        );
        if esc.is_none() && !needs_hex {
            continue;
        }
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Go's `strconv.FormatFloat(v, fmt, -1, 64)` where `fmt` is 'e' for magnitudes below 1e-6
/// or from 1e21 on (when `exponent_for_extremes`) and 'f' otherwise: the shortest
/// decimal that parses back to the same float.
fn format_go_float(v: f64, exponent_for_extremes: bool) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let a = v.abs();
    if exponent_for_extremes && a != 0.0 && !(1e-6..1e21).contains(&a) {
        // Rust writes `1.5e-7`; Go writes the exponent signed, at least two digits: `1.5e-07`.
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        let pad = if digits.len() < 2 { "0" } else { "" };
        return format!("{mantissa}e{sign}{pad}{digits}");
    }
    // Rust's `Display` for f64 is the shortest round-trip decimal, never with an exponent.
    format!("{v}")
}

/// A sample value in a vector, matrix or exemplar (`jsonutil.MarshalFloat`): exponent
/// form outside [1e-6, 1e21), as Prometheus writes them.
pub fn format_sample_value(v: f64) -> String {
    format_go_float(v, true)
}

/// A scalar's value (`promql.Scalar.MarshalJSON`: `FormatFloat(v, 'f', -1, 64)`): never an
/// exponent, so 1e21 is written out in full.
pub fn format_scalar_value(v: f64) -> String {
    format_go_float(v, false)
}

/// Seconds as Go's `encoding/json` writes `float64(t)/1000` for scalar and string results.
fn scalar_time(t_ms: i64) -> String {
    format_go_float(t_ms as f64 / 1000.0, true)
}

fn write_sample(j: &mut JsonBuf, s: &InstantSample) {
    j.begin_object();
    j.key("metric");
    j.labels(&s.labels);
    j.key("value");
    j.begin_array();
    j.timestamp(s.t);
    j.string(&format_sample_value(s.v));
    j.end_array();
    j.end_object();
}

fn write_series(j: &mut JsonBuf, s: &RangeSeries) {
    j.begin_object();
    j.key("metric");
    j.labels(&s.labels);
    // Prometheus leaves the key out for a series without float points.
    if !s.points.is_empty() {
        j.key("values");
        j.begin_array();
        for p in &s.points {
            j.begin_array();
            j.timestamp(p.t);
            j.string(&format_sample_value(p.v));
            j.end_array();
        }
        j.end_array();
    }
    j.end_object();
}

/// The `result` of a query.
pub fn write_result(j: &mut JsonBuf, v: &Value) {
    match v {
        Value::Vector(samples) => {
            j.begin_array();
            for s in samples {
                write_sample(j, s);
            }
            j.end_array();
        }
        Value::Matrix(series) => {
            j.begin_array();
            for s in series {
                write_series(j, s);
            }
            j.end_array();
        }
        Value::Scalar { t, v } => {
            j.begin_array();
            j.raw(&scalar_time(*t));
            j.string(&format_scalar_value(*v));
            j.end_array();
        }
        Value::String { t, v } => {
            j.begin_array();
            j.raw(&scalar_time(*t));
            j.string(v);
            j.end_array();
        }
    }
}

/// What the API measured around an evaluation, for `stats=…`.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Waiting for a thread to evaluate on.
    pub queue: Duration,
    /// Inside the engine.
    pub eval: Duration,
    /// From the request's parameters being checked to the result being ready.
    pub total: Duration,
}

/// Prometheus's `stats` object. The engine does not split its time into preparation,
/// inner evaluation and sorting, so its whole time is reported as evaluation and the
/// parts it cannot tell apart as 0.
pub fn write_stats(j: &mut JsonBuf, stats: &QueryStats, timings: &Timings) {
    j.begin_object();
    j.key("timings");
    j.begin_object();
    j.key("evalTotalTime");
    j.float(timings.eval.as_secs_f64());
    j.key("resultSortTime");
    j.float(0.0);
    j.key("queryPreparationTime");
    j.float(0.0);
    j.key("innerEvalTime");
    j.float(timings.eval.as_secs_f64());
    j.key("execQueueTime");
    j.float(timings.queue.as_secs_f64());
    j.key("execTotalTime");
    j.float(timings.total.as_secs_f64());
    j.end_object();
    j.key("samples");
    j.begin_object();
    j.key("totalQueryableSamples");
    j.int(stats.samples_loaded);
    j.key("peakSamples");
    j.int(stats.peak_samples);
    j.end_object();
    j.end_object();
}

/// Warnings and infos as Prometheus lists them: at most ten each, then a count of the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notes {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

fn capped(items: &[String], what: &str) -> Vec<String> {
    let mut out: Vec<String> = items.iter().take(MAX_ANNOTATIONS).cloned().collect();
    if items.len() > MAX_ANNOTATIONS {
        out.push(format!(
            "{} more {what} annotations omitted",
            items.len() - MAX_ANNOTATIONS
        ));
    }
    out
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `{"status":"success","data":<data>}` plus the non-empty note lists; `write_data`
/// writes the data value.
pub fn success(notes: &Notes, write_data: impl FnOnce(&mut JsonBuf)) -> Response {
    let mut j = JsonBuf::new();
    j.begin_object();
    j.key_string("status", "success");
    j.key("data");
    write_data(&mut j);
    for (key, items, what) in [
        ("warnings", &notes.warnings, "warning"),
        ("infos", &notes.infos, "info"),
    ] {
        if items.is_empty() {
            continue;
        }
        j.key(key);
        j.begin_array();
        for w in capped(items, what) {
            j.string(&w);
        }
        j.end_array();
    }
    j.end_object();
    json_response(StatusCode::OK, j.into_string())
}

/// `{"status":"error","errorType":…,"error":…}` with Prometheus's status code.
pub fn error(e: &ApiError) -> Response {
    let mut j = JsonBuf::new();
    j.begin_object();
    j.key_string("status", "error");
    j.key_string("errorType", e.kind.as_str());
    j.key_string("error", &e.msg);
    j.end_object();
    let status = StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(status, j.into_string());
    if e.kind == ErrorKind::Unavailable {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1u32));
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_promql::Point;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn sample_values_as_prometheus_writes_them() {
        let cases = [
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (0.1, "0.1"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (-2e21, "-2e+21"),
            (1e-6, "0.000001"),
            (1e-7, "1e-07"),
            (1.25e-10, "1.25e-10"),
            (5e-324, "5e-324"),
            (123456789.125, "123456789.125"),
            (f64::NAN, "NaN"),
            (pharos_model::STALE_NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (v, want) in cases {
            assert_eq!(format_sample_value(v), want, "{v:e}");
        }
    }

    #[test]
    fn scalar_values_never_use_an_exponent() {
        assert_eq!(format_scalar_value(1e21), "1000000000000000000000");
        assert_eq!(format_scalar_value(1e-7), "0.0000001");
        assert_eq!(format_scalar_value(42.0), "42");
        assert_eq!(format_scalar_value(f64::NAN), "NaN");
        assert_eq!(format_scalar_value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn timestamps() {
        let ts = |t| {
            let mut s = String::new();
            write_timestamp(&mut s, t);
            s
        };
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(1_435_781_451_780), "1435781451.780");
        assert_eq!(ts(1_435_781_451_005), "1435781451.005");
        assert_eq!(ts(1_435_781_451_000), "1435781451");
        assert_eq!(ts(0), "0");
        assert_eq!(ts(-1_500), "-1.500");
        assert_eq!(ts(i64::MIN), "-9223372036854775.808");
        assert_eq!(scalar_time(1_435_781_451_780), "1435781451.78");
        assert_eq!(scalar_time(1_435_781_451_000), "1435781451");
    }

    #[test]
    fn strings_escape_like_go() {
        let mut s = String::new();
        write_json_string(&mut s, "a\"b\\c\nd\te<f>&g\u{1}h\u{2028}é😀");
        assert_eq!(s, r#""a\"b\\c\nd\te\u003cf\u003e\u0026g\u0001h\u2028é😀""#);
    }

    fn render(v: &Value) -> String {
        let mut j = JsonBuf::new();
        write_result(&mut j, v);
        j.into_string()
    }

    #[test]
    fn results() {
        let vector = Value::Vector(vec![
            InstantSample {
                labels: labels(&[("__name__", "up"), ("job", "a")]),
                t: 1_435_781_451_781,
                v: 1.0,
            },
            InstantSample {
                labels: Labels::empty(),
                t: 1000,
                v: f64::NAN,
            },
        ]);
        assert_eq!(
            render(&vector),
            r#"[{"metric":{"__name__":"up","job":"a"},"value":[1435781451.781,"1"]},{"metric":{},"value":[1,"NaN"]}]"#
        );
        let matrix = Value::Matrix(vec![
            RangeSeries {
                labels: labels(&[("job", "a")]),
                points: vec![Point { t: 1000, v: 1.0 }, Point { t: 2500, v: 1e21 }],
            },
            RangeSeries {
                labels: labels(&[("job", "b")]),
                points: vec![],
            },
        ]);
        assert_eq!(
            render(&matrix),
            r#"[{"metric":{"job":"a"},"values":[[1,"1"],[2.500,"1e+21"]]},{"metric":{"job":"b"}}]"#
        );
        assert_eq!(render(&Value::Vector(vec![])), "[]");
        assert_eq!(render(&Value::Matrix(vec![])), "[]");
        assert_eq!(
            render(&Value::Scalar {
                t: 1_435_781_451_780,
                v: 1e21
            }),
            r#"[1435781451.78,"1000000000000000000000"]"#
        );
        assert_eq!(
            render(&Value::String {
                t: 1000,
                v: "a<b".into()
            }),
            r#"[1,"a\u003cb"]"#
        );
    }

    #[test]
    fn stats_object() {
        let mut j = JsonBuf::new();
        write_stats(
            &mut j,
            &QueryStats {
                samples_loaded: 12,
                peak_samples: 4,
            },
            &Timings {
                queue: Duration::from_nanos(100),
                eval: Duration::from_millis(250),
                total: Duration::from_millis(251),
            },
        );
        assert_eq!(
            j.into_string(),
            r#"{"timings":{"evalTotalTime":0.25,"resultSortTime":0,"queryPreparationTime":0,"innerEvalTime":0.25,"execQueueTime":1e-07,"execTotalTime":0.251},"samples":{"totalQueryableSamples":12,"peakSamples":4}}"#
        );
    }

    async fn body_of(r: Response) -> (u16, String) {
        let status = r.status().as_u16();
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(b.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn envelopes() {
        let (status, body) = body_of(success(&Notes::default(), |j| j.string("x"))).await;
        assert_eq!(status, 200);
        assert_eq!(body, r#"{"status":"success","data":"x"}"#);

        let notes = Notes {
            warnings: (0..12).map(|i| format!("w{i}")).collect(),
            infos: vec!["i".into()],
        };
        let (_, body) = body_of(success(&notes, |j| {
            j.begin_array();
            j.end_array()
        }))
        .await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"], serde_json::json!([]));
        let w = v["warnings"].as_array().unwrap();
        assert_eq!(w.len(), 11);
        assert_eq!(w[10], "2 more warning annotations omitted");
        assert_eq!(v["infos"], serde_json::json!(["i"]));

        for (kind, code) in [
            (ErrorKind::BadData, 400),
            (ErrorKind::Execution, 422),
            (ErrorKind::Timeout, 503),
            (ErrorKind::Canceled, 499),
            (ErrorKind::Internal, 500),
            (ErrorKind::Unavailable, 503),
        ] {
            let (status, body) = body_of(error(&ApiError::new(kind, "boom \"x\""))).await;
            assert_eq!(status, code);
            assert_eq!(
                body,
                format!(
                    r#"{{"status":"error","errorType":"{}","error":"boom \"x\""}}"#,
                    kind.as_str()
                )
            );
        }
    }
}
