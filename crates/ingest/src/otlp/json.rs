//! OTLP/JSON: the proto3 JSON mapping with OTLP's deviations, decoded into the same
//! prost messages the binary decoder produces.
//!
//! The body is parsed into a `serde_json::Value` (whose parser stops at 128 levels of
//! nesting, so no body can exhaust the stack) and then walked by hand. Walking by hand,
//! rather than deriving, is what lets the decoder take every form senders use:
//! - 64-bit integers as decimal strings or as numbers (proto3 JSON accepts both), and
//!   any integer field as an integral number written like `5.0` or `1e3`;
//! - doubles as numbers or as strings, including `"NaN"`, `"Infinity"`, `"-Infinity"`;
//! - `traceId`/`spanId` as case-insensitive hex (OTLP's deviation from base64);
//! - enums as integers (what OTLP requires) or as their names (what proto3 JSON allows,
//!   and what some senders still write);
//! - keys in lowerCamelCase as OTLP requires, and also the original snake_case names the
//!   OpenTelemetry Collector's decoder accepts;
//! - `null` anywhere meaning the field's default, and unknown keys ignored, as OTLP
//!   requires of receivers.
//!
//! Errors carry the path of the offending value (`resourceMetrics[0].scopeMetrics[1]…`)
//! so a sender can find it.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point, metric, number_data_point, summary_data_point,
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Why an OTLP/JSON body could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Where in the document, as `a.b[2].c`; empty for the document itself.
    pub path: String,
    pub message: String,
}

type Result<T> = std::result::Result<T, JsonError>;

/// One step from the document root. Paths are kept as a chain of stack frames and only
/// turned into a string when an error is reported, so decoding allocates nothing for them.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

struct Node<'a> {
    parent: At<'a>,
    seg: Seg<'a>,
}

#[derive(Clone, Copy)]
struct At<'a>(Option<&'a Node<'a>>);

impl<'a> At<'a> {
    const ROOT: At<'static> = At(None);

    fn render(self) -> String {
        let mut segs = Vec::new();
        let mut cur = self.0;
        while let Some(n) = cur {
            segs.push(n.seg);
            cur = n.parent.0;
        }
        let mut out = String::new();
        for seg in segs.iter().rev() {
            match seg {
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        out
    }

    fn err<T>(self, message: impl Into<String>) -> Result<T> {
        Err(JsonError {
            path: self.render(),
            message: message.into(),
        })
    }
}

/// Runs `f` one step deeper in the path.
fn step<R>(at: At<'_>, seg: Seg<'_>, f: impl FnOnce(At<'_>) -> R) -> R {
    let node = Node { parent: at, seg };
    f(At(Some(&node)))
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object being decoded, with the path that leads to it.
struct Obj<'v, 'p> {
    map: &'v Map<String, Value>,
    at: At<'p>,
}

impl<'v, 'p> Obj<'v, 'p> {
    /// `Ok(None)` for `null`, which proto3 JSON reads as "the default message".
    fn of(v: &'v Value, at: At<'p>) -> Result<Option<Self>> {
        match v {
            Value::Null => Ok(None),
            Value::Object(map) => Ok(Some(Obj { map, at })),
            other => at.err(format!("expected an object, found {}", describe(other))),
        }
    }

    /// The value under the camelCase key or else the snake_case one, skipping `null`s.
    fn get(&self, camel: &'static str, snake: &'static str) -> Option<(&'static str, &'v Value)> {
        let found = |k: &'static str| self.map.get(k).filter(|v| !v.is_null()).map(|v| (k, v));
        found(camel).or_else(|| if snake != camel { found(snake) } else { None })
    }

    fn field<T>(
        &self,
        camel: &'static str,
        snake: &'static str,
        f: impl FnOnce(&'v Value, At<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self.get(camel, snake) {
            Some((key, v)) => step(self.at, Seg::Key(key), |at| f(v, at)).map(Some),
            None => Ok(None),
        }
    }

    fn scalar<T: Default>(
        &self,
        camel: &'static str,
        snake: &'static str,
        f: impl FnOnce(&'v Value, At<'_>) -> Result<T>,
    ) -> Result<T> {
        Ok(self.field(camel, snake, f)?.unwrap_or_default())
    }

    fn list<T>(
        &self,
        camel: &'static str,
        snake: &'static str,
        f: impl Fn(&'v Value, At<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let Some((key, v)) = self.get(camel, snake) else {
            return Ok(Vec::new());
        };
        step(self.at, Seg::Key(key), |at| {
            let Value::Array(items) = v else {
                return at.err(format!("expected an array, found {}", describe(v)));
            };
            items
                .iter()
                .enumerate()
                .map(|(i, item)| step(at, Seg::Index(i), |at| f(item, at)))
                .collect()
        })
    }

    /// Which of a oneof's keys are set; more than one is an error, as in proto3 JSON.
    fn oneof(&self, keys: &[(&'static str, &'static str)]) -> Result<Option<usize>> {
        let mut found = None;
        for (i, (camel, snake)) in keys.iter().enumerate() {
            if self.get(camel, snake).is_some() {
                if let Some(prev) = found {
                    let prev: &(&str, &str) = &keys[prev];
                    return self.at.err(format!(
                        "both {:?} and {:?} are set; only one may be",
                        prev.0, camel
                    ));
                }
                found = Some(i);
            }
        }
        Ok(found)
    }

    fn message<T: Default>(
        &self,
        camel: &'static str,
        snake: &'static str,
        f: impl FnOnce(Obj<'v, '_>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.field(camel, snake, |v, at| match Obj::of(v, at)? {
            Some(o) => f(o),
            None => Ok(T::default()),
        })
    }
}

/// An integer in any form proto3 JSON allows: a number, possibly written with a
/// fraction or exponent as long as its value is integral, or a string holding one.
fn integer(v: &Value, at: At<'_>, what: &str, min: i128, max: i128) -> Result<i128> {
    let parsed = match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| n.as_f64().and_then(integral)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i128>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(integral))
        }
        other => return at.err(format!("expected {what}, found {}", describe(other))),
    };
    match parsed {
        Some(i) if (min..=max).contains(&i) => Ok(i),
        Some(_) => at.err(format!("{} is out of range for {what}", show(v))),
        None => at.err(format!("expected {what}, found {}", show(v))),
    }
}

fn integral(f: f64) -> Option<i128> {
    // 2^127 bounds the cast; anything that large is out of every field's range anyway.
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 1.7e38).then_some(f as i128)
}

/// A value for an error message, bounded so a huge string cannot make a huge response.
fn show(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

fn u64_v(v: &Value, at: At<'_>) -> Result<u64> {
    integer(v, at, "an unsigned 64-bit integer", 0, u64::MAX.into()).map(|i| i as u64)
}

fn i64_v(v: &Value, at: At<'_>) -> Result<i64> {
    integer(v, at, "a 64-bit integer", i64::MIN.into(), i64::MAX.into()).map(|i| i as i64)
}

fn i32_v(v: &Value, at: At<'_>) -> Result<i32> {
    integer(v, at, "a 32-bit integer", i32::MIN.into(), i32::MAX.into()).map(|i| i as i32)
}

fn u32_v(v: &Value, at: At<'_>) -> Result<u32> {
    integer(v, at, "an unsigned 32-bit integer", 0, u32::MAX.into()).map(|i| i as u32)
}

fn f64_v(v: &Value, at: At<'_>) -> Result<f64> {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) => Ok(f),
            None => at.err(format!("expected a double, found {}", show(v))),
        },
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => match other.trim().parse::<f64>() {
                Ok(f) => Ok(f),
                Err(_) => at.err(format!("expected a double, found {}", show(v))),
            },
        },
        other => at.err(format!("expected a double, found {}", describe(other))),
    }
}

fn bool_v(v: &Value, at: At<'_>) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => at.err(format!("expected a boolean, found {}", describe(other))),
    }
}

fn string_v(v: &Value, at: At<'_>) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => at.err(format!("expected a string, found {}", describe(other))),
    }
}

/// Trace and span ids: hex, either case, as OTLP/JSON writes them.
fn hex_v(v: &Value, at: At<'_>) -> Result<Vec<u8>> {
    let Value::String(s) = v else {
        return at.err(format!("expected a hex string, found {}", describe(v)));
    };
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return at.err(format!(
            "hex string {} has an odd number of digits",
            show(v)
        ));
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    b.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect::<Option<Vec<u8>>>()
        .map_or_else(|| at.err(format!("{} is not a hex string", show(v))), Ok)
}

/// Bytes values: base64, standard or URL-safe alphabet, padding optional, as proto3
/// JSON parsers accept.
fn base64_v(v: &Value, at: At<'_>) -> Result<Vec<u8>> {
    let Value::String(s) = v else {
        return at.err(format!("expected a base64 string, found {}", describe(v)));
    };
    let sextet = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let body = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in body.as_bytes() {
        let Some(x) = sextet(c) else {
            return at.err(format!("{} is not base64", show(v)));
        };
        acc = (acc << 6) | u32::from(x);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover character carries fewer than 8 bits: not a valid encoding.
    if bits >= 6 {
        return at.err(format!("{} is not base64 (truncated)", show(v)));
    }
    Ok(out)
}

/// `aggregationTemporality`: an integer, or the enum value's name.
fn temporality_v(v: &Value, at: At<'_>) -> Result<i32> {
    if let Value::String(s) = v {
        if let Some(t) = AggregationTemporality::from_str_name(s) {
            return Ok(t as i32);
        }
        if s.trim().parse::<f64>().is_err() {
            return at.err(format!(
                "unknown aggregation temporality {}; expected 0, 1, 2 or an \
                 AGGREGATION_TEMPORALITY_* name",
                show(v)
            ));
        }
    }
    i32_v(v, at)
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest`.
pub fn decode(bytes: &[u8]) -> Result<ExportMetricsServiceRequest> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| JsonError {
        path: String::new(),
        message: format!("not valid JSON: {e}"),
    })?;
    let Some(o) = Obj::of(&v, At::ROOT)? else {
        return At::ROOT.err("expected an object, found null");
    };
    Ok(ExportMetricsServiceRequest {
        resource_metrics: o.list("resourceMetrics", "resource_metrics", |v, at| {
            with_obj(v, at, resource_metrics)
        })?,
    })
}

/// Decodes an element of a repeated message field (`null` gives the default message).
fn with_obj<T: Default>(
    v: &Value,
    at: At<'_>,
    f: impl FnOnce(Obj<'_, '_>) -> Result<T>,
) -> Result<T> {
    match Obj::of(v, at)? {
        Some(o) => f(o),
        None => Ok(T::default()),
    }
}

fn resource_metrics(o: Obj<'_, '_>) -> Result<ResourceMetrics> {
    Ok(ResourceMetrics {
        resource: o.message("resource", "resource", resource)?,
        scope_metrics: o.list("scopeMetrics", "scope_metrics", |v, at| {
            with_obj(v, at, scope_metrics)
        })?,
        schema_url: o.scalar("schemaUrl", "schema_url", string_v)?,
    })
}

fn resource(o: Obj<'_, '_>) -> Result<Resource> {
    Ok(Resource {
        attributes: o.list("attributes", "attributes", key_value)?,
        dropped_attributes_count: o.scalar(
            "droppedAttributesCount",
            "dropped_attributes_count",
            u32_v,
        )?,
        // Entity references describe the resource for other consumers; the
        // translation does not use them.
        entity_refs: Vec::new(),
    })
}

fn scope_metrics(o: Obj<'_, '_>) -> Result<ScopeMetrics> {
    Ok(ScopeMetrics {
        scope: o.message("scope", "scope", scope)?,
        metrics: o.list("metrics", "metrics", |v, at| with_obj(v, at, metric))?,
        schema_url: o.scalar("schemaUrl", "schema_url", string_v)?,
    })
}

fn scope(o: Obj<'_, '_>) -> Result<InstrumentationScope> {
    Ok(InstrumentationScope {
        name: o.scalar("name", "name", string_v)?,
        version: o.scalar("version", "version", string_v)?,
        attributes: o.list("attributes", "attributes", key_value)?,
        dropped_attributes_count: o.scalar(
            "droppedAttributesCount",
            "dropped_attributes_count",
            u32_v,
        )?,
    })
}

fn key_value(v: &Value, at: At<'_>) -> Result<KeyValue> {
    with_obj(v, at, |o| {
        Ok(KeyValue {
            key: o.scalar("key", "key", string_v)?,
            value: o.message("value", "value", any_value)?,
            key_strindex: 0,
        })
    })
}

fn any_value(o: Obj<'_, '_>) -> Result<AnyValue> {
    const KEYS: [(&str, &str); 7] = [
        ("stringValue", "string_value"),
        ("boolValue", "bool_value"),
        ("intValue", "int_value"),
        ("doubleValue", "double_value"),
        ("arrayValue", "array_value"),
        ("kvlistValue", "kvlist_value"),
        ("bytesValue", "bytes_value"),
    ];
    let Some(which) = o.oneof(&KEYS)? else {
        return Ok(AnyValue { value: None });
    };
    let (camel, snake) = KEYS[which];
    use any_value::Value as V;
    let value = match which {
        0 => o.field(camel, snake, string_v)?.map(V::StringValue),
        1 => o.field(camel, snake, bool_v)?.map(V::BoolValue),
        2 => o.field(camel, snake, i64_v)?.map(V::IntValue),
        3 => o.field(camel, snake, f64_v)?.map(V::DoubleValue),
        4 => o
            .message(camel, snake, |o| {
                Ok(ArrayValue {
                    values: o.list("values", "values", |v, at| with_obj(v, at, any_value))?,
                })
            })?
            .map(V::ArrayValue),
        5 => o
            .message(camel, snake, |o| {
                Ok(KeyValueList {
                    values: o.list("values", "values", key_value)?,
                })
            })?
            .map(V::KvlistValue),
        _ => o.field(camel, snake, base64_v)?.map(V::BytesValue),
    };
    Ok(AnyValue { value })
}

fn metric(o: Obj<'_, '_>) -> Result<Metric> {
    const KEYS: [(&str, &str); 5] = [
        ("gauge", "gauge"),
        ("sum", "sum"),
        ("histogram", "histogram"),
        ("exponentialHistogram", "exponential_histogram"),
        ("summary", "summary"),
    ];
    let data = match o.oneof(&KEYS)? {
        None => None,
        Some(which) => {
            let (camel, snake) = KEYS[which];
            match which {
                0 => o.message(camel, snake, gauge)?.map(metric::Data::Gauge),
                1 => o.message(camel, snake, sum)?.map(metric::Data::Sum),
                2 => o
                    .message(camel, snake, histogram)?
                    .map(metric::Data::Histogram),
                3 => o
                    .message(camel, snake, exponential_histogram)?
                    .map(metric::Data::ExponentialHistogram),
                _ => o.message(camel, snake, summary)?.map(metric::Data::Summary),
            }
        }
    };
    Ok(Metric {
        name: o.scalar("name", "name", string_v)?,
        description: o.scalar("description", "description", string_v)?,
        unit: o.scalar("unit", "unit", string_v)?,
        metadata: o.list("metadata", "metadata", key_value)?,
        data,
    })
}

fn gauge(o: Obj<'_, '_>) -> Result<Gauge> {
    Ok(Gauge {
        data_points: o.list("dataPoints", "data_points", |v, at| {
            with_obj(v, at, number_point)
        })?,
    })
}

fn sum(o: Obj<'_, '_>) -> Result<Sum> {
    Ok(Sum {
        data_points: o.list("dataPoints", "data_points", |v, at| {
            with_obj(v, at, number_point)
        })?,
        aggregation_temporality: o.scalar(
            "aggregationTemporality",
            "aggregation_temporality",
            temporality_v,
        )?,
        is_monotonic: o.scalar("isMonotonic", "is_monotonic", bool_v)?,
    })
}

fn histogram(o: Obj<'_, '_>) -> Result<Histogram> {
    Ok(Histogram {
        data_points: o.list("dataPoints", "data_points", |v, at| {
            with_obj(v, at, histogram_point)
        })?,
        aggregation_temporality: o.scalar(
            "aggregationTemporality",
            "aggregation_temporality",
            temporality_v,
        )?,
    })
}

fn exponential_histogram(o: Obj<'_, '_>) -> Result<ExponentialHistogram> {
    Ok(ExponentialHistogram {
        data_points: o.list("dataPoints", "data_points", |v, at| {
            with_obj(v, at, exponential_point)
        })?,
        aggregation_temporality: o.scalar(
            "aggregationTemporality",
            "aggregation_temporality",
            temporality_v,
        )?,
    })
}

fn summary(o: Obj<'_, '_>) -> Result<Summary> {
    Ok(Summary {
        data_points: o.list("dataPoints", "data_points", |v, at| {
            with_obj(v, at, summary_point)
        })?,
    })
}

fn number_point(o: Obj<'_, '_>) -> Result<NumberDataPoint> {
    const KEYS: [(&str, &str); 2] = [("asDouble", "as_double"), ("asInt", "as_int")];
    let value = match o.oneof(&KEYS)? {
        None => None,
        Some(0) => o
            .field("asDouble", "as_double", f64_v)?
            .map(number_data_point::Value::AsDouble),
        Some(_) => o
            .field("asInt", "as_int", i64_v)?
            .map(number_data_point::Value::AsInt),
    };
    Ok(NumberDataPoint {
        attributes: o.list("attributes", "attributes", key_value)?,
        start_time_unix_nano: o.scalar("startTimeUnixNano", "start_time_unix_nano", u64_v)?,
        time_unix_nano: o.scalar("timeUnixNano", "time_unix_nano", u64_v)?,
        exemplars: o.list("exemplars", "exemplars", |v, at| with_obj(v, at, exemplar))?,
        flags: o.scalar("flags", "flags", u32_v)?,
        value,
    })
}

fn histogram_point(o: Obj<'_, '_>) -> Result<HistogramDataPoint> {
    Ok(HistogramDataPoint {
        attributes: o.list("attributes", "attributes", key_value)?,
        start_time_unix_nano: o.scalar("startTimeUnixNano", "start_time_unix_nano", u64_v)?,
        time_unix_nano: o.scalar("timeUnixNano", "time_unix_nano", u64_v)?,
        count: o.scalar("count", "count", u64_v)?,
        sum: o.field("sum", "sum", f64_v)?,
        bucket_counts: o.list("bucketCounts", "bucket_counts", u64_v)?,
        explicit_bounds: o.list("explicitBounds", "explicit_bounds", f64_v)?,
        exemplars: o.list("exemplars", "exemplars", |v, at| with_obj(v, at, exemplar))?,
        flags: o.scalar("flags", "flags", u32_v)?,
        min: o.field("min", "min", f64_v)?,
        max: o.field("max", "max", f64_v)?,
    })
}

fn exponential_point(o: Obj<'_, '_>) -> Result<ExponentialHistogramDataPoint> {
    let buckets = |o: Obj<'_, '_>| {
        Ok(exponential_histogram_data_point::Buckets {
            offset: o.scalar("offset", "offset", i32_v)?,
            bucket_counts: o.list("bucketCounts", "bucket_counts", u64_v)?,
        })
    };
    Ok(ExponentialHistogramDataPoint {
        attributes: o.list("attributes", "attributes", key_value)?,
        start_time_unix_nano: o.scalar("startTimeUnixNano", "start_time_unix_nano", u64_v)?,
        time_unix_nano: o.scalar("timeUnixNano", "time_unix_nano", u64_v)?,
        count: o.scalar("count", "count", u64_v)?,
        sum: o.field("sum", "sum", f64_v)?,
        scale: o.scalar("scale", "scale", i32_v)?,
        zero_count: o.scalar("zeroCount", "zero_count", u64_v)?,
        positive: o.message("positive", "positive", buckets)?,
        negative: o.message("negative", "negative", buckets)?,
        flags: o.scalar("flags", "flags", u32_v)?,
        exemplars: o.list("exemplars", "exemplars", |v, at| with_obj(v, at, exemplar))?,
        min: o.field("min", "min", f64_v)?,
        max: o.field("max", "max", f64_v)?,
        zero_threshold: o.scalar("zeroThreshold", "zero_threshold", f64_v)?,
    })
}

fn summary_point(o: Obj<'_, '_>) -> Result<SummaryDataPoint> {
    Ok(SummaryDataPoint {
        attributes: o.list("attributes", "attributes", key_value)?,
        start_time_unix_nano: o.scalar("startTimeUnixNano", "start_time_unix_nano", u64_v)?,
        time_unix_nano: o.scalar("timeUnixNano", "time_unix_nano", u64_v)?,
        count: o.scalar("count", "count", u64_v)?,
        sum: o.scalar("sum", "sum", f64_v)?,
        quantile_values: o.list("quantileValues", "quantile_values", |v, at| {
            with_obj(v, at, |o| {
                Ok(summary_data_point::ValueAtQuantile {
                    quantile: o.scalar("quantile", "quantile", f64_v)?,
                    value: o.scalar("value", "value", f64_v)?,
                })
            })
        })?,
        flags: o.scalar("flags", "flags", u32_v)?,
    })
}

fn exemplar(o: Obj<'_, '_>) -> Result<Exemplar> {
    const KEYS: [(&str, &str); 2] = [("asDouble", "as_double"), ("asInt", "as_int")];
    let value = match o.oneof(&KEYS)? {
        None => None,
        Some(0) => o
            .field("asDouble", "as_double", f64_v)?
            .map(exemplar::Value::AsDouble),
        Some(_) => o
            .field("asInt", "as_int", i64_v)?
            .map(exemplar::Value::AsInt),
    };
    Ok(Exemplar {
        filtered_attributes: o.list("filteredAttributes", "filtered_attributes", key_value)?,
        time_unix_nano: o.scalar("timeUnixNano", "time_unix_nano", u64_v)?,
        span_id: o.scalar("spanId", "span_id", hex_v)?,
        trace_id: o.scalar("traceId", "trace_id", hex_v)?,
        value,
    })
}
