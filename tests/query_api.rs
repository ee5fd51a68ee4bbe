//! The Prometheus query API of a running `pharos serve`: series written over remote_write
//! are read back through `/api/v1/query`, `query_range`, `series`, `labels`,
//! `label/<name>/values`, the status endpoints and `pharos query`, with Prometheus's
//! JSON shapes and error answers.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const STEP_MS: i64 = 15_000;
const POINTS: i64 = 40;

/// A start ten minutes ago on a whole 15s, so every sample is recent enough for the head.
fn t0() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now - 10 * 60_000) / STEP_MS * STEP_MS
}

fn series(t0: i64) -> Vec<TestSeries> {
    let times = (0..POINTS).map(|i| t0 + i * STEP_MS);
    vec![
        TestSeries::new(
            &[("__name__", "up"), ("job", "api"), ("instance", "a")],
            times.clone().map(|t| (t, 1.0)).collect(),
        ),
        TestSeries::new(
            &[("__name__", "up"), ("job", "db"), ("instance", "b")],
            times.clone().map(|t| (t, 0.0)).collect(),
        ),
        TestSeries::new(
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "200"),
            ],
            times
                .enumerate()
                .map(|(i, t)| (t, 10.0 * i as f64))
                .collect(),
        ),
    ]
}

/// Unix milliseconds as the seconds the API takes and returns.
fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A timestamp as the API writes it: whole seconds as an integer, else three decimals.
fn secs_json(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        serde_json::from_str(&secs(ms)).unwrap()
    }
}

struct Api {
    server: Server,
    client: reqwest::blocking::Client,
    t0: i64,
    _tmp: tempfile::TempDir,
}

impl Api {
    fn start() -> Api {
        let tmp = tempfile::tempdir().unwrap();
        let server = Server::start(&tmp.path().join("data"), None);
        let client = client();
        let t0 = t0();
        let resp = post_write(&client, &server.url(""), encode_write(&series(t0))).unwrap();
        assert_eq!(resp.status().as_u16(), 204, "{}", resp.text().unwrap());
        Api {
            server,
            client,
            t0,
            _tmp: tmp,
        }
    }

    fn last(&self) -> i64 {
        self.t0 + (POINTS - 1) * STEP_MS
    }

    fn get(&self, path_and_query: &str) -> (u16, Value) {
        let resp = self
            .client
            .get(self.server.url(path_and_query))
            .send()
            .unwrap();
        decode(resp)
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .client
            .post(self.server.url(path))
            .form(form)
            .send()
            .unwrap();
        decode(resp)
    }
}

fn decode(resp: reqwest::blocking::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().unwrap();
    assert_eq!(ct.as_deref(), Some("application/json"), "{text}");
    (status, serde_json::from_str(&text).unwrap())
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[test]
fn instant_and_range_queries() {
    let api = Api::start();
    let t = api.last();

    let (status, body) = api.get(&format!("/api/v1/query?query=up&time={}", secs(t)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "instance": "a", "job": "api"}, "value": [secs_json(t), "1"]},
            {"metric": {"__name__": "up", "instance": "b", "job": "db"}, "value": [secs_json(t), "0"]},
        ]}})
    );

    // POST with a form body, RFC 3339 time, and an aggregation.
    let rfc3339 = format_rfc3339(t);
    let (status, body) = api.post(
        "/api/v1/query",
        &[("query", "sum by (job) (up)"), ("time", &rfc3339)],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["result"],
        json!([
            {"metric": {"job": "api"}, "value": [secs_json(t), "1"]},
            {"metric": {"job": "db"}, "value": [secs_json(t), "0"]},
        ])
    );

    let (_, body) = api.get(&format!("/api/v1/query?query=1%2B1&time={}", secs(t)));
    assert_eq!(
        body["data"],
        json!({"resultType": "scalar", "result": [secs_json(t), "2"]})
    );

    let (status, body) = api.get(&format!(
        "/api/v1/query_range?query={}&start={}&end={}&step=15s",
        enc(r#"http_requests_total{code="200"}"#),
        secs(api.t0),
        secs(api.t0 + 4 * STEP_MS),
    ));
    assert_eq!(status, 200, "{body}");
    let values: Vec<Value> = (0..5)
        .map(|i| json!([secs_json(api.t0 + i * STEP_MS), format!("{}", 10 * i)]))
        .collect();
    assert_eq!(
        body["data"],
        json!({"resultType": "matrix", "result": [{
            "metric": {"__name__": "http_requests_total", "code": "200", "job": "api"},
            "values": values,
        }]})
    );

    let (status, body) = api.post(
        "/api/v1/query_range",
        &[
            ("query", "sum(up)"),
            ("start", &secs(api.t0)),
            ("end", &secs(api.t0 + 30_000)),
            ("step", "15"),
            ("stats", "all"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["result"][0]["values"],
        json!([
            [secs_json(api.t0), "1"],
            [secs_json(api.t0 + 15_000), "1"],
            [secs_json(api.t0 + 30_000), "1"]
        ])
    );
    assert!(body["data"]["stats"]["samples"]["totalQueryableSamples"].is_u64());
    assert!(body["data"]["stats"]["timings"]["execTotalTime"].is_number());
}

/// `2023-11-14T22:13:20.5Z`-style text for Unix milliseconds (UTC).
fn format_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

#[test]
fn parameter_and_expression_errors() {
    let api = Api::start();
    let cases = [
        (
            "/api/v1/query?query=up&time=x".to_owned(),
            r#"invalid parameter "time": invalid time value for 'time': cannot parse "x" to a valid timestamp"#,
        ),
        (
            "/api/v1/query_range?query=up&start=x&end=1&step=1".to_owned(),
            r#"invalid parameter "start": cannot parse "x" to a valid timestamp"#,
        ),
        (
            "/api/v1/query_range?query=up&start=10&end=1&step=1".to_owned(),
            r#"invalid parameter "end": end timestamp must not be before start time"#,
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=10&step=0".to_owned(),
            r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#,
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=10&step=soon".to_owned(),
            r#"invalid parameter "step": cannot parse "soon" to a valid duration"#,
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=86400&step=1".to_owned(),
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
    ];
    for (uri, msg) in cases {
        let (status, body) = api.get(&uri);
        assert_eq!(status, 400, "{uri}: {body}");
        assert_eq!(
            body,
            json!({"status": "error", "errorType": "bad_data", "error": msg}),
            "{uri}"
        );
    }
    // A syntax error is reported against the `query` parameter, with the parser's text.
    for query in ["sum(up", "up{", "1 +"] {
        let (status, body) = api.get(&format!("/api/v1/query?query={}", enc(query)));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["errorType"], "bad_data");
        let err = body["error"].as_str().unwrap();
        assert!(
            err.starts_with(r#"invalid parameter "query": "#) && err.len() > 28,
            "{query}: {err}"
        );
    }
}

#[test]
fn series_labels_and_status() {
    let api = Api::start();

    let (status, body) = api.get("/api/v1/series?match[]=up");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "success", "data": [
            {"__name__": "up", "instance": "a", "job": "api"},
            {"__name__": "up", "instance": "b", "job": "db"},
        ]})
    );
    let (_, body) = api.post(
        "/api/v1/series",
        &[("match[]", r#"{job="api"}"#), ("match[]", "up")],
    );
    assert_eq!(body["data"].as_array().unwrap().len(), 3, "{body}");
    let (status, body) = api.get("/api/v1/series");
    assert_eq!(status, 400);
    assert_eq!(body["error"], "no match[] parameter provided");
    let (status, body) = api.get(&format!("/api/v1/series?match[]={}", enc(r#"{job=~".*"}"#)));
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#
    );

    let (_, body) = api.get("/api/v1/labels");
    assert_eq!(
        body,
        json!({"status": "success", "data": ["__name__", "code", "instance", "job"]})
    );
    let (_, body) = api.get("/api/v1/labels?match[]=http_requests_total");
    assert_eq!(body["data"], json!(["__name__", "code", "job"]));
    let (_, body) = api.get("/api/v1/label/job/values");
    assert_eq!(body, json!({"status": "success", "data": ["api", "db"]}));
    let (_, body) = api.get("/api/v1/label/__name__/values?limit=1");
    assert_eq!(body["data"], json!(["http_requests_total"]));
    assert_eq!(body["warnings"], json!(["results truncated due to limit"]));
    let (_, body) = api.get("/api/v1/metadata");
    assert_eq!(body, json!({"status": "success", "data": {}}));

    let (status, body) = api.get("/api/v1/status/buildinfo");
    assert_eq!(status, 200);
    let d = &body["data"];
    assert_eq!(d["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        d["goVersion"].as_str().unwrap().starts_with("rustc "),
        "{d}"
    );
    for k in ["revision", "branch", "buildUser", "buildDate"] {
        assert!(d[k].is_string(), "{k}");
    }

    let (_, body) = api.get("/api/v1/status/tsdb");
    let d = &body["data"];
    assert_eq!(d["headStats"]["numSeries"], 3, "{d}");
    assert_eq!(d["headStats"]["minTime"], api.t0);
    assert_eq!(d["headStats"]["maxTime"], api.last());
    assert_eq!(
        d["seriesCountByMetricName"],
        json!([{"name": "up", "value": 2}, {"name": "http_requests_total", "value": 1}])
    );
    assert_eq!(d["labelValueCountByLabelName"][0]["value"], 2);
    assert!(d["memoryInBytesByLabelName"].is_array());
    assert!(d["seriesCountByLabelValuePair"].is_array());

    let (_, body) = api.get("/api/v1/status/runtimeinfo");
    assert_eq!(body["data"]["storageRetention"], "15d");
    let (_, body) = api.get("/api/v1/status/flags");
    assert_eq!(body["data"]["listen"], api.server.addr.as_str());

    let (status, body) = api.get(&format!(
        "/api/v1/format_query?query={}",
        enc("sum(rate(http_requests_total[5m]))by(job)")
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "success", "data": "sum by (job) (rate(http_requests_total[5m]))"})
    );
    let (status, body) = api.post("/api/v1/format_query", &[("query", "sum(")]);
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "bad_data");
}

#[test]
fn query_command_line() {
    let api = Api::start();
    let server = api.server.url("");
    let t = secs(api.last());
    let out = run_pharos(&[
        "query",
        "instant",
        "--server",
        &server,
        "--time",
        &t,
        r#"up{job="api"}"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = format!("{}", api.last() as f64 / 1000.0);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("up{{instance=\"a\", job=\"api\"}} => 1 @[{shown}]\n")
    );

    let out = run_pharos(&[
        "query",
        "range",
        "--server",
        &server,
        "--start",
        &secs(api.t0),
        "--end",
        &secs(api.t0 + STEP_MS),
        "--step",
        "15s",
        r#"http_requests_total"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at = |ms: i64| format!("{}", ms as f64 / 1000.0);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "http_requests_total{{code=\"200\", job=\"api\"}} =>\n0 @[{}]\n10 @[{}]\n",
            at(api.t0),
            at(api.t0 + STEP_MS)
        )
    );

    let out = run_pharos(&["query", "instant", "--server", &server, "sum(up"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(r#"query error: bad_data: invalid parameter "query": "#),
        "{stderr}"
    );
}
