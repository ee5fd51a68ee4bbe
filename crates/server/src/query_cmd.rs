//! `pharos query instant|range`: PromQL against a running server's HTTP API, printed the
//! way `promtool query` prints it (`{labels} => value @[time]`), so the output reads the
//! same whichever tool produced it.

use crate::http::api_json::format_scalar_value;
use anyhow::Context as _;
use serde_json::Value as Json;
use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// Default window of a range query without `--start`, as promtool uses.
const DEFAULT_RANGE_MS: i64 = 5 * 60_000;
/// A step chosen for a range query gives about this many points, as promtool does.
const AUTO_STEP_POINTS: i64 = 250;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to ask the server.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryRequest {
    Instant {
        expr: String,
        /// Unix milliseconds; `None` lets the server use its current time.
        time: Option<i64>,
    },
    Range {
        expr: String,
        start: i64,
        end: i64,
        step_ms: i64,
    },
}

/// Fills in promtool's defaults for a range query: end now, start five minutes earlier,
/// a step giving ~250 points (at least 1s).
pub fn range_request(
    expr: String,
    start: Option<i64>,
    end: Option<i64>,
    step_ms: Option<i64>,
    now_ms: i64,
) -> Result<QueryRequest, String> {
    let end = end.unwrap_or(now_ms);
    let start = start.unwrap_or(end.saturating_sub(DEFAULT_RANGE_MS));
    if start >= end {
        return Err("start time is not before end time".to_owned());
    }
    let step_ms = step_ms.unwrap_or_else(|| {
        let secs = (end - start) / 1000 / AUTO_STEP_POINTS;
        secs.max(1) * 1000
    });
    Ok(QueryRequest::Range {
        expr,
        start,
        end,
        step_ms,
    })
}

/// Milliseconds as the seconds string the API parses back exactly.
fn seconds_param(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

impl QueryRequest {
    fn path(&self) -> &'static str {
        match self {
            QueryRequest::Instant { .. } => "/api/v1/query",
            QueryRequest::Range { .. } => "/api/v1/query_range",
        }
    }

    fn form(&self) -> Vec<(&'static str, String)> {
        match self {
            QueryRequest::Instant { expr, time } => {
                let mut f = vec![("query", expr.clone())];
                if let Some(t) = time {
                    f.push(("time", seconds_param(*t)));
                }
                f
            }
            QueryRequest::Range {
                expr,
                start,
                end,
                step_ms,
            } => vec![
                ("query", expr.clone()),
                ("start", seconds_param(*start)),
                ("end", seconds_param(*end)),
                ("step", seconds_param(*step_ms)),
            ],
        }
    }
}

/// Sends the query, prints the result on `out` (warnings and errors on `err`), and says
/// how the process should exit: 1 when the server refused or failed the query.
pub fn run(
    server: &str,
    req: &QueryRequest,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let url = format!("{}{}", server.trim_end_matches('/'), req.path());
    // No overall timeout: the server bounds evaluation by its own query timeout.
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(None)
        .build()
        .context("building the HTTP client")?;
    let resp = client
        .post(&url)
        .form(&req.form())
        .send()
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let body = resp
        .text()
        .with_context(|| format!("reading the answer of {url}"))?;
    match interpret(status.as_u16(), &body) {
        Ok((text, warnings)) => {
            for w in warnings {
                writeln!(err, "warning: {w}")?;
            }
            out.write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(msg) => {
            writeln!(err, "query error: {msg}")?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The printed result and warnings of a response, or the error to report.
fn interpret(status: u16, body: &str) -> Result<(String, Vec<String>), String> {
    let Ok(doc) = serde_json::from_str::<Json>(body) else {
        return Err(format!(
            "server answered HTTP {status} with a non-API body: {}",
            body.trim()
        ));
    };
    if doc["status"] != "success" {
        let kind = doc["errorType"].as_str().unwrap_or("unknown");
        let msg = doc["error"].as_str().unwrap_or("(no message)");
        return Err(format!("{kind}: {msg}"));
    }
    let warnings = doc["warnings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((render(&doc["data"])?, warnings))
}

/// Prints `data` like client_golang's `model.Value.String()`, which promtool prints.
pub fn render(data: &Json) -> Result<String, String> {
    let result = &data["result"];
    let mut out = String::new();
    match data["resultType"].as_str() {
        Some("vector") => {
            for s in array(result)? {
                let (t, v) = pair(&s["value"])?;
                let _ = writeln!(out, "{} => {v} @[{t}]", metric(&s["metric"]));
            }
        }
        Some("matrix") => {
            for s in array(result)? {
                let _ = writeln!(out, "{} =>", metric(&s["metric"]));
                for p in s["values"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    let (t, v) = pair(p)?;
                    let _ = writeln!(out, "{v} @[{t}]");
                }
            }
        }
        Some("scalar") => {
            let (t, v) = pair(result)?;
            let _ = writeln!(out, "scalar: {v} @[{t}]");
        }
        Some("string") => {
            let s = result
                .get(1)
                .and_then(Json::as_str)
                .ok_or("malformed string result")?;
            let _ = writeln!(out, "{s}");
        }
        other => return Err(format!("unknown result type {other:?}")),
    }
    Ok(out)
}

fn array(v: &Json) -> Result<&Vec<Json>, String> {
    v.as_array().ok_or_else(|| "malformed result".to_owned())
}

/// `[seconds, "value"]` as promtool prints the two: shortest decimals, no exponent.
fn pair(p: &Json) -> Result<(String, String), String> {
    let t = p
        .get(0)
        .and_then(Json::as_f64)
        .ok_or("malformed sample timestamp")?;
    let v = p
        .get(1)
        .and_then(Json::as_str)
        .ok_or("malformed sample value")?;
    // client_golang keeps milliseconds exactly, then prints them as seconds.
    let ms = (t * 1000.0).round();
    let v = parse_value(v).ok_or_else(|| format!("malformed sample value {v:?}"))?;
    Ok((format_scalar_value(ms / 1000.0), format_scalar_value(v)))
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        other => other.parse().ok(),
    }
}

/// `name{a="1", b="2"}`; just `name` without other labels, `{}` for no labels at all.
fn metric(m: &Json) -> String {
    let Some(obj) = m.as_object() else {
        return "{}".to_owned();
    };
    let name = obj.get("__name__").and_then(Json::as_str).unwrap_or("");
    let mut labels: Vec<String> = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
        .collect();
    if labels.is_empty() {
        return if name.is_empty() {
            "{}".to_owned()
        } else {
            name.to_owned()
        };
    }
    labels.sort();
    format!("{name}{{{}}}", labels.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vectors_print_like_promtool() {
        let data = json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "a", "instance": "x:1"}, "value": [1435781451.781, "1"]},
            {"metric": {"__name__": "up"}, "value": [1435781451, "1e+21"]},
            {"metric": {}, "value": [1.5, "NaN"]},
        ]});
        assert_eq!(
            render(&data).unwrap(),
            "up{instance=\"x:1\", job=\"a\"} => 1 @[1435781451.781]\n\
             up => 1000000000000000000000 @[1435781451]\n\
             {} => NaN @[1.5]\n"
        );
    }

    #[test]
    fn matrices_scalars_strings() {
        let data = json!({"resultType": "matrix", "result": [
            {"metric": {"job": "a"}, "values": [[1, "1"], [2.5, "-Inf"]]},
        ]});
        assert_eq!(
            render(&data).unwrap(),
            "{job=\"a\"} =>\n1 @[1]\n-Inf @[2.5]\n"
        );
        let data = json!({"resultType": "scalar", "result": [10, "0.5"]});
        assert_eq!(render(&data).unwrap(), "scalar: 0.5 @[10]\n");
        let data = json!({"resultType": "string", "result": [10, "hi"]});
        assert_eq!(render(&data).unwrap(), "hi\n");
        assert!(render(&json!({"resultType": "vector", "result": [{"value": 1}]})).is_err());
    }

    #[test]
    fn errors_name_their_type() {
        let err = interpret(
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": oops"}"#,
        )
        .unwrap_err();
        assert_eq!(err, r#"bad_data: invalid parameter "query": oops"#);
        assert!(interpret(404, "not found\n")
            .unwrap_err()
            .contains("HTTP 404"));
        let (text, warnings) = interpret(
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["w"]}"#,
        )
        .unwrap();
        assert_eq!((text.as_str(), warnings), ("", vec!["w".to_owned()]));
    }

    #[test]
    fn range_defaults_follow_promtool() {
        let now = 1_000_000_000;
        assert_eq!(
            range_request("up".into(), None, None, None, now).unwrap(),
            QueryRequest::Range {
                expr: "up".into(),
                start: now - 300_000,
                end: now,
                step_ms: 1000,
            }
        );
        let QueryRequest::Range { step_ms, .. } =
            range_request("up".into(), Some(0), Some(86_400_000), None, now).unwrap()
        else {
            panic!()
        };
        assert_eq!(step_ms, 345_000);
        assert!(range_request("up".into(), Some(5), Some(5), None, now).is_err());
    }

    #[test]
    fn forms() {
        let r = QueryRequest::Instant {
            expr: "up".into(),
            time: Some(-1_500),
        };
        assert_eq!(
            r.form(),
            vec![("query", "up".to_owned()), ("time", "-1.500".to_owned())]
        );
        let r = QueryRequest::Range {
            expr: "up".into(),
            start: 1_000,
            end: 61_000,
            step_ms: 15_000,
        };
        assert_eq!(r.path(), "/api/v1/query_range");
        assert_eq!(r.form()[3], ("step", "15.000".to_owned()));
    }
}
