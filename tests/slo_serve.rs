//! SLOs inside `pharos serve`, with the real binary.
//!
//! `slo_burst_pages_and_exhausts_budget`: an SLO defined inline in `pharos.yml`; two
//! hours of remote-written request counters spend about 80% of its error budget, so
//! the budget engine reports "warning" (no freeze, no page). A burst of errors then
//! makes the generated burn-rate alert page through the built-in Alertmanager to a
//! webhook (labels `slo`, `severity="page"`, annotations naming the burn rate and the
//! budget left), the policy state moves to "exhausted" and the freeze flag follows,
//! in the API, the `/freeze` endpoint and the `pharos_slo_*` self-series. The SLO
//! report (JSON, markdown, and `pharos report slo`) then shows the burst.
//!
//! `slo_api_lifecycle`: SLOs created through `/api/v1/slos` in Sloth, OpenSLO and
//! Pharos shapes, their rule groups, conflicts, validation errors, replacement,
//! deletion, the refusal to change SLOs that `pharos.yml` / `slo_files` define, and
//! persistence of API-created SLOs across a restart.

mod common;

use common::{
    client, encode_write, get_json, poll, post_write, query_value, run_pharos, webhook_server,
    Server, TestSeries,
};
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEADLINE: Duration = Duration::from_secs(60);
const SLO_ID: &str = "checkout-availability";
const RUNBOOK: &str = "https://runbooks.example/checkout-availability";
/// History written before the burst: 480 steps of 15 s (two hours).
const STEP_MS: i64 = 15_000;
const STEPS: i64 = 480;
/// Requests per step (10 per second).
const PER_STEP: f64 = 150.0;
/// One failed request every this many steps: 60 of 72 000, an error ratio of
/// 0.000833 against a budget of 0.001, so 83% of the budget is spent.
const BAD_EVERY: i64 = 8;
/// Failed requests of the burst: with ~36 000 requests an hour it burns the 1h and
/// 5m windows far above the 14.4× page threshold and exhausts the budget.
const BURST: f64 = 1_200.0;

const MAIN_CONFIG: &str = r#"global:
  evaluation_interval: 1s
slos:
  - service: checkout
    name: availability
    description: Checkout requests that do not fail
    objective: 99.9
    window: 30d
    sli:
      bad_events: sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))
      total_events: sum(rate(http_requests_total{job="checkout"}[{{.window}}]))
    labels:
      team: payments
    alerting:
      page:
        runbook: https://runbooks.example/checkout-availability
alertmanager:
  route:
    receiver: pager
    group_by: [alertname, severity]
    group_wait: 1s
    group_interval: 1s
    repeat_interval: 1h
  receivers:
    - name: pager
      webhook_configs:
        - url: WEBHOOK_URL
"#;

// ---------------------------------------------------------------------------------
// Small helpers.

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Unix seconds as RFC 3339 in UTC, e.g. `2026-03-01T02:00:00Z`.
fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .expect("a representable time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 time to unix seconds.
fn parse_rfc3339(s: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("not an RFC 3339 time: {s:?}: {e}"))
        .timestamp_millis() as f64
        / 1000.0
}

fn f(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

/// Sends a request; returns the status code and the body (JSON, or the text as a
/// JSON string when it is not JSON).
fn send(req: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let r = req.send().expect("request");
    let status = r.status().as_u16();
    let text = r.text().expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn slo_view(server: &Server, id: &str, params: &str) -> Value {
    get_json(
        &client(),
        &server.url(&format!("/api/v1/slos/{id}{params}")),
    )
}

/// Polls the SLO until its status is in `state`; panics with the last answer and the
/// server log otherwise.
fn wait_for_state(server: &Server, state: &str) -> Value {
    let mut last = Value::Null;
    poll(DEADLINE, || {
        last = slo_view(server, SLO_ID, "");
        (last["data"]["status"]["policy_state"] == state).then(|| last["data"].clone())
    })
    .unwrap_or_else(|| {
        panic!(
            "{SLO_ID} did not reach {state:?} within {DEADLINE:?}; last answer: {last}\nserver log:\n{}",
            server.logs()
        )
    })
}

/// Polls `/freeze` until it reports `state`: it answers from the engine's latest
/// evaluation, which follows the data within an evaluation interval.
fn wait_for_freeze(server: &Server, state: &str) -> Value {
    let mut last = Value::Null;
    poll(DEADLINE, || {
        last = slo_view(server, SLO_ID, "/freeze");
        (last["data"]["policy_state"] == state).then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("/freeze did not report {state:?}; last answer: {last}"))
}

/// Names of the rule groups `/api/v1/rules` lists.
fn rule_groups(server: &Server) -> Vec<String> {
    let body = get_json(&client(), &server.url("/api/v1/rules"));
    body["data"]["groups"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .filter_map(|g| g["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for_groups(server: &Server, present: &[String], absent: &[String]) {
    let mut last = Vec::new();
    let ok = poll(DEADLINE, || {
        last = rule_groups(server);
        (present.iter().all(|g| last.contains(g)) && absent.iter().all(|g| !last.contains(g)))
            .then_some(())
    });
    assert!(
        ok.is_some(),
        "rule groups: want {present:?}, not {absent:?}; got {last:?}"
    );
}

fn slo_groups(id: &str) -> Vec<String> {
    ["slo-sli-recordings", "slo-meta-recordings", "slo-alerts"]
        .iter()
        .map(|g| format!("{g}-{id}"))
        .collect()
}

// ---------------------------------------------------------------------------------
// Webhook capture.

/// The first firing page alert of a notification, if it holds one.
fn page_alert(msg: &Value) -> Option<&Value> {
    msg["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["status"] == "firing" && a["labels"]["severity"] == "page")
}

// ---------------------------------------------------------------------------------
// Request counters.

/// The checkout request counters: `code="200"` and `code="500"`, as running totals.
struct Traffic {
    good: f64,
    bad: f64,
    last_t: i64,
}

impl Traffic {
    fn series(&self, samples: &[(i64, f64, f64)]) -> Vec<TestSeries> {
        let base = [("__name__", "http_requests_total"), ("job", "checkout")];
        let mut ok = base.to_vec();
        ok.push(("code", "200"));
        let mut failed = base.to_vec();
        failed.push(("code", "500"));
        vec![
            TestSeries::new(&ok, samples.iter().map(|&(t, g, _)| (t, g)).collect()),
            TestSeries::new(&failed, samples.iter().map(|&(t, _, b)| (t, b)).collect()),
        ]
    }

    fn write(&self, server: &Server, samples: &[(i64, f64, f64)]) {
        let r = post_write(
            &client(),
            &server.url(""),
            encode_write(&self.series(samples)),
        )
        .expect("remote write");
        assert!(r.status().is_success(), "write: {}", r.status());
    }

    /// Two hours of history ending now: 10 requests a second, one failure every
    /// [`BAD_EVERY`] steps. Both counters start at 0 at the same instant and share
    /// every timestamp, so rate() extrapolates them alike and the ratio is exact.
    /// Traffic runs up to now, as a live service's would: every SLI window, the 5m
    /// one included, has data before the burst arrives.
    fn history(server: &Server) -> Traffic {
        let end = now_ms() / 1000 * 1000;
        let start = end - STEPS * STEP_MS;
        let mut samples = vec![(start, 0.0, 0.0)];
        let (mut good, mut bad) = (0.0, 0.0);
        for i in 1..=STEPS {
            if i % BAD_EVERY == BAD_EVERY / 2 {
                bad += 1.0;
                good += PER_STEP - 1.0;
            } else {
                good += PER_STEP;
            }
            samples.push((start + i * STEP_MS, good, bad));
        }
        let t = Traffic {
            good,
            bad,
            last_t: end,
        };
        t.write(server, &samples);
        t
    }

    /// Traffic continues at 10 requests a second from the last sample up to now, one
    /// sample a second, and [`BURST`] failed requests arrive spread over them.
    fn burst(&mut self, server: &Server) {
        // At least three samples, so the burst is not a single step.
        while now_ms() < self.last_t + 3_000 {
            std::thread::sleep(Duration::from_millis(200));
        }
        let end = now_ms() / 1000 * 1000;
        let n = ((end - self.last_t) / 1000).max(1);
        let mut samples = Vec::new();
        for i in 1..=n {
            self.good += 10.0;
            self.bad += BURST / n as f64;
            samples.push((self.last_t + i * 1000, self.good, self.bad));
        }
        self.last_t += n * 1000;
        self.write(server, &samples);
    }
}

// ---------------------------------------------------------------------------------
// Scenario 1 and 3: burn, page, freeze, report.

/// Fields every status carries, with the values the numbers must agree on.
fn check_status_shape(s: &Value) {
    for key in [
        "evaluated_at",
        "window_start",
        "window_end",
        "sli",
        "events_known",
        "total_events",
        "bad_events",
        "error_budget",
        "consumed",
        "remaining",
        "burn_rates",
        "current_burn_rate",
        "exhaustion_seconds",
        "exhaustion_at",
        "policy_state",
        "freeze",
        "error",
    ] {
        assert!(s.get(key).is_some(), "status lacks {key:?}: {s}");
    }
    assert!(s["error"].is_null(), "{s}");
    assert_eq!(s["events_known"], true, "{s}");
    let start = parse_rfc3339(s["window_start"].as_str().unwrap());
    let end = parse_rfc3339(s["window_end"].as_str().unwrap());
    assert!(
        ((end - start) - 30.0 * 86_400.0).abs() <= 1.0,
        "a 30d window: {s}"
    );
    let evaluated = parse_rfc3339(s["evaluated_at"].as_str().unwrap());
    assert!((evaluated - end).abs() <= 1.0, "{s}");
    for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d"] {
        assert!(
            s["burn_rates"][w].is_number(),
            "burn_rates[{w:?}] missing: {s}"
        );
    }
    // Budget arithmetic: 0.1% of the events, 0.1% of 30 days.
    let eb = &s["error_budget"];
    assert!((f(&eb["ratio"]) - 0.001).abs() < 1e-9, "{s}");
    assert!(
        (f(&eb["events"]) - 0.001 * f(&s["total_events"])).abs() < 1e-6 * f(&eb["events"]),
        "{s}"
    );
    assert!((f(&eb["seconds"]) - 2_592.0).abs() < 1e-6, "{s}");
    let consumed = f(&s["consumed"]["ratio"]);
    let remaining = f(&s["remaining"]["ratio"]);
    assert!((consumed + remaining - 1.0).abs() < 1e-9, "{s}");
    let err_ratio = f(&s["bad_events"]) / f(&s["total_events"]);
    assert!((f(&s["sli"]) - (1.0 - err_ratio)).abs() < 1e-9, "{s}");
    assert!((consumed - err_ratio / 0.001).abs() < 1e-6, "{s}");
    assert!(s["remaining"].get("events").is_some(), "{s}");
    assert!(
        s["remaining"].get("seconds_at_current_traffic").is_some(),
        "{s}"
    );
    assert!(s["consumed"]["events"].is_number(), "{s}");
    assert!(s["consumed"]["seconds"].is_number(), "{s}");
}

#[test]
fn slo_burst_pages_and_exhausts_budget() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (hook, rx) = webhook_server();
    let cfg = dir.path().join("pharos.yml");
    std::fs::write(&cfg, MAIN_CONFIG.replace("WEBHOOK_URL", &hook)).unwrap();
    let server = Server::start(&dir.path().join("data"), Some(&cfg));
    let c = client();

    // The SLO from pharos.yml is listed with its definition.
    let list = get_json(&c, &server.url("/api/v1/slos"));
    assert_eq!(list["status"], "success", "{list}");
    let view = list["data"]
        .as_array()
        .and_then(|a| a.iter().find(|v| v["id"] == SLO_ID))
        .unwrap_or_else(|| panic!("{SLO_ID} not listed: {list}"))
        .clone();
    assert_eq!(view["service"], "checkout", "{view}");
    assert_eq!(view["name"], "availability", "{view}");
    assert_eq!(view["description"], "Checkout requests that do not fail");
    assert!((f(&view["objective"]) - 99.9).abs() < 1e-9, "{view}");
    assert_eq!(view["window"], "30d", "{view}");
    assert_eq!(view["source"], "config", "{view}");
    assert_eq!(view["spec_format"], "pharos/v1", "{view}");
    assert_eq!(view["labels"]["team"], "payments", "{view}");
    assert!((f(&view["policy"]["warning_below"]) - 0.25).abs() < 1e-9);
    assert!((f(&view["policy"]["exhausted_below"]) - 0.1).abs() < 1e-9);
    wait_for_groups(&server, &slo_groups(SLO_ID), &[]);

    // Phase 1: two hours at 0.083% errors spend ~83% of the budget: warning.
    let mut traffic = Traffic::history(&server);
    let warn = wait_for_state(&server, "warning");
    let s = &warn["status"];
    check_status_shape(s);
    assert_eq!(s["freeze"], false, "{s}");
    let remaining = f(&s["remaining"]["ratio"]);
    assert!((0.10..=0.25).contains(&remaining), "{s}");
    let total = f(&s["total_events"]);
    assert!((70_000.0..=75_000.0).contains(&total), "{s}");
    let bad = f(&s["bad_events"]);
    assert!((55.0..=65.0).contains(&bad), "{s}");
    assert!(f(&s["sli"]) > 0.999 && f(&s["sli"]) < 0.9995, "{s}");
    assert!(f(&s["burn_rates"]["5m"]) < 14.4, "{s}");
    // The default resolution depends on the window; it is named as a duration.
    assert!(
        warn["resolution"]
            .as_str()
            .is_some_and(|r| r.ends_with(['s', 'm', 'h', 'd', 'w'])),
        "default resolution: {warn}"
    );
    assert!(
        warn["history"].as_array().is_some_and(|h| !h.is_empty()),
        "{warn}"
    );
    let freeze = wait_for_freeze(&server, "warning");
    assert_eq!(freeze["status"], "success", "{freeze}");
    assert_eq!(freeze["data"]["id"], SLO_ID, "{freeze}");
    assert_eq!(freeze["data"]["freeze"], false, "{freeze}");
    assert_eq!(freeze["data"]["policy_state"], "warning", "{freeze}");
    let sel = format!("{{slo_id=\"{SLO_ID}\",slo_service=\"checkout\",slo_name=\"availability\"}}");
    let state = poll(DEADLINE, || {
        query_value(&c, &server, &format!("pharos_slo_policy_state{sel}")).filter(|v| *v == 1.0)
    });
    assert_eq!(state, Some(1.0), "pharos_slo_policy_state while warning");
    // Nothing pages while the budget merely runs low.
    let quiet_until = Instant::now() + Duration::from_secs(3);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        if let Ok(msg) = rx.recv_timeout(left) {
            assert!(page_alert(&msg).is_none(), "paged before the burst: {msg}");
        }
    }

    // Phase 2: a burst of errors pages and exhausts the budget.
    traffic.burst(&server);
    let burst_at = traffic.last_t / 1000;
    let deadline = Instant::now() + DEADLINE;
    let (msg, alert) = loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| {
                panic!(
                    "no page within {DEADLINE:?} of the burst; server log:\n{}",
                    server.logs()
                )
            });
        if let Ok(msg) = rx.recv_timeout(left) {
            if let Some(a) = page_alert(&msg) {
                let a = a.clone();
                break (msg, a);
            }
        }
    };
    assert_eq!(msg["version"], "4", "{msg}");
    assert_eq!(msg["status"], "firing", "{msg}");
    assert_eq!(msg["receiver"], "pager", "{msg}");
    let labels = &alert["labels"];
    assert_eq!(
        labels["alertname"], "CheckoutAvailabilityBudgetBurn",
        "{alert}"
    );
    assert_eq!(labels["slo"], "availability", "{alert}");
    assert_eq!(labels["severity"], "page", "{alert}");
    assert_eq!(labels["slo_severity"], "page", "{alert}");
    assert_eq!(labels["slo_id"], SLO_ID, "{alert}");
    assert_eq!(labels["slo_service"], "checkout", "{alert}");
    assert_eq!(labels["slo_name"], "availability", "{alert}");
    let ann = &alert["annotations"];
    let burn: f64 = ann["burn_rate"]
        .as_str()
        .and_then(|b| b.trim().parse().ok())
        .unwrap_or_else(|| panic!("burn_rate annotation is not a number: {alert}"));
    assert!(
        burn >= 6.0,
        "the long-window burn rate of a firing page: {alert}"
    );
    let left = ann["error_budget_remaining"].as_str().unwrap_or("");
    assert!(
        !left.is_empty() && left != "unknown" && left.ends_with('%'),
        "error_budget_remaining annotation: {alert}"
    );
    assert_eq!(ann["runbook_url"], RUNBOOK, "{alert}");
    assert!(
        ann["summary"].as_str().unwrap_or("").contains("99.9"),
        "{alert}"
    );
    assert!(ann["description"].is_string(), "{alert}");
    assert!(ann["title"].is_string(), "{alert}");

    let exhausted = wait_for_state(&server, "exhausted");
    let s = &exhausted["status"];
    check_status_shape(s);
    assert_eq!(s["freeze"], true, "{s}");
    assert!(f(&s["remaining"]["ratio"]) < 0.1, "{s}");
    assert!(f(&s["burn_rates"]["5m"]) > 14.4, "{s}");
    assert!(f(&s["burn_rates"]["1h"]) > 14.4, "{s}");
    assert!(f(&s["current_burn_rate"]) > 1.0, "{s}");
    assert!(f(&s["bad_events"]) > 1_000.0, "{s}");
    // Nothing left: exhausted now.
    assert_eq!(s["exhaustion_seconds"].as_f64(), Some(0.0), "{s}");
    let freeze = wait_for_freeze(&server, "exhausted");
    assert_eq!(freeze["data"]["freeze"], true, "{freeze}");
    assert_eq!(freeze["data"]["policy_state"], "exhausted", "{freeze}");
    assert!(f(&freeze["data"]["remaining_ratio"]) < 0.1, "{freeze}");

    // The engine's self-series follow.
    for (expr, ok) in [
        (
            format!("pharos_slo_policy_state{sel}"),
            (|v: f64| v == 2.0) as fn(f64) -> bool,
        ),
        (format!("pharos_slo_freeze{sel}"), |v| v == 1.0),
        (
            format!("pharos_slo_error_budget_remaining_ratio{sel}"),
            |v| v < 0.1,
        ),
        (
            format!("pharos_slo_error_budget_consumed_ratio{sel}"),
            |v| v > 0.9,
        ),
        (format!("pharos_slo_sli_ratio{sel}"), |v| v < 0.999),
        (
            format!("pharos_slo_burn_rate{{slo_id=\"{SLO_ID}\",window=\"5m\"}}"),
            |v| v > 14.4,
        ),
        (
            format!("pharos_slo_burn_rate{{slo_id=\"{SLO_ID}\",window=\"1h\"}}"),
            |v| v > 14.4,
        ),
    ] {
        let mut last = None;
        let got = poll(DEADLINE, || {
            last = query_value(&c, &server, &expr);
            last.filter(|v| ok(*v))
        });
        assert!(got.is_some(), "{expr}: last value {last:?}");
    }

    // Evaluated at a time before the burst, the budget was only running low.
    let before = burst_at - 30 * 60;
    let past = slo_view(&server, SLO_ID, &format!("?time={}", rfc3339(before)));
    let ps = &past["data"]["status"];
    assert_eq!(ps["policy_state"], "warning", "{past}");
    assert_eq!(ps["freeze"], false, "{past}");
    let at = parse_rfc3339(
        ps["evaluated_at"]
            .as_str()
            .unwrap_or_else(|| panic!("{past}")),
    );
    assert!((at - before as f64).abs() <= 1.0, "{past}");
    let past_unix = slo_view(&server, SLO_ID, &format!("?time={before}"));
    assert_eq!(past_unix["data"]["status"]["policy_state"], "warning");

    // Budget history at 15m: oldest first, ending exhausted.
    let hist = slo_view(&server, SLO_ID, "?resolution=15m");
    assert_eq!(hist["data"]["resolution"], "15m", "{hist}");
    let points = hist["data"]["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history: {hist}"));
    assert!(!points.is_empty(), "{hist}");
    for p in points {
        for key in [
            "t",
            "sli",
            "consumed_ratio",
            "remaining_ratio",
            "policy_state",
        ] {
            assert!(p.get(key).is_some(), "history point lacks {key}: {p}");
        }
    }
    assert!(
        points.windows(2).all(|w| f(&w[0]["t"]) < f(&w[1]["t"])),
        "history not in time order: {hist}"
    );
    let last = points.last().unwrap();
    assert_eq!(last["policy_state"], "exhausted", "{hist}");
    assert!(f(&last["remaining_ratio"]) < 0.1, "{last}");

    // Scenario 3: the SLO report over the last two hours.
    let to = now_ms() / 1000;
    let from = to - 2 * 3600;
    let report_url = server.url(&format!("/api/v1/reports/slo?from={from}&to={to}"));
    let mut report = Value::Null;
    // Alert counts and policy time come from what was recorded; give both a moment.
    let done = poll(DEADLINE, || {
        let to = now_ms() / 1000;
        report = get_json(
            &c,
            &server.url(&format!("/api/v1/reports/slo?from={from}&to={to}")),
        );
        let slo = report_slo(&report)?;
        (f(&slo["alerts"]["page"]) >= 1.0 && f(&slo["policy_time_seconds"]["exhausted"]) > 0.0)
            .then_some(())
    });
    assert!(
        done.is_some(),
        "report never showed the page and the exhausted time: {report}"
    );
    assert_eq!(report["status"], "success", "{report}");
    assert!(report["data"]["from"].is_string() || report["data"]["from"].is_number());
    assert!(report["data"]["to"].is_string() || report["data"]["to"].is_number());
    let slo = report_slo(&report).unwrap().clone();
    assert_eq!(slo["name"], "availability", "{slo}");
    assert!((f(&slo["objective"]) - 99.9).abs() < 1e-9, "{slo}");
    assert_eq!(slo["window"], "30d", "{slo}");
    assert!(slo["error"].is_null(), "{slo}");
    assert_eq!(slo["met"], false, "{slo}");
    assert!(f(&slo["sli"]) < 0.999, "{slo}");
    assert!(f(&slo["bad_events"]) > 0.0, "{slo}");
    assert!(f(&slo["total_events"]) > f(&slo["bad_events"]), "{slo}");
    assert!(f(&slo["budget_consumed_ratio"]) > 1.0, "{slo}");
    assert!(slo["alerts"]["ticket"].is_number(), "{slo}");
    for k in ["healthy", "warning", "exhausted", "unknown"] {
        assert!(
            slo["policy_time_seconds"][k].is_number(),
            "policy_time_seconds.{k}: {slo}"
        );
    }
    let worst = slo["worst_windows"]
        .as_array()
        .unwrap_or_else(|| panic!("{slo}"));
    assert!(!worst.is_empty(), "{slo}");
    for w in worst {
        for key in [
            "start",
            "end",
            "error_ratio",
            "bad_events",
            "total_events",
            "burn_rate",
        ] {
            assert!(w.get(key).is_some(), "worst window lacks {key}: {w}");
        }
    }
    // Worst first; the burst's window burns far above the page threshold.
    let top = f(&worst[0]["burn_rate"]);
    assert!(worst.iter().all(|w| f(&w["burn_rate"]) <= top), "{slo}");
    assert!(top > 14.4, "{slo}");

    // Markdown, by parameter and by Accept header.
    let md = c
        .get(format!("{report_url}&format=markdown"))
        .send()
        .expect("GET markdown report");
    assert_eq!(md.status().as_u16(), 200);
    let md = md.text().unwrap();
    assert!(has_table_row(&md, "availability"), "{md}");
    let md = c
        .get(&report_url)
        .header("Accept", "text/markdown")
        .send()
        .expect("GET markdown report")
        .text()
        .unwrap();
    assert!(has_table_row(&md, "availability"), "{md}");

    // The CLI prints the same report.
    let server_url = format!("http://{}", server.addr);
    let out = run_pharos(&[
        "report",
        "slo",
        "--server",
        &server_url,
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(to),
        "--format",
        "markdown",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pharos report slo: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(has_table_row(&stdout, "availability"), "{stdout}");
    let out = run_pharos(&["report", "slo", "--server", &server_url]);
    assert!(out.status.success(), "pharos report slo (defaults)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(has_table_row(&stdout, "availability"), "{stdout}");
    let out = run_pharos(&["report", "slo", "--server", &server_url, "--format", "json"]);
    assert!(out.status.success(), "pharos report slo --format json");
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert!(json.to_string().contains(SLO_ID), "{json}");

    server.stop();
    eprintln!(
        "slo_burst_pages_and_exhausts_budget: {:?}",
        started.elapsed()
    );
}

fn report_slo(report: &Value) -> Option<&Value> {
    report["data"]["services"]
        .as_array()?
        .iter()
        .find(|s| s["service"] == "checkout")?["slos"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == SLO_ID)
}

/// Whether markdown text holds a table row naming `name`.
fn has_table_row(md: &str, name: &str) -> bool {
    md.lines().any(|l| {
        let l = l.trim();
        l.starts_with('|') && l.ends_with('|') && l.contains(name)
    })
}

// ---------------------------------------------------------------------------------
// Scenario 2: the SLO API.

const API_CONFIG: &str = r#"global:
  evaluation_interval: 1s
slo_files: [slos/*.yml]
slos:
  - service: web
    name: availability
    objective: 99.5
    window: calendar-month
    sli:
      error_ratio: avg_over_time(web_error_ratio[{{.window}}])
"#;

const BATCH_SLOTH: &str = r#"version: "prometheus/v1"
service: "batch"
slos:
  - name: "jobs-success"
    objective: 99
    sli:
      events:
        error_query: sum(rate(batch_jobs_total{result="failed"}[{{.window}}]))
        total_query: sum(rate(batch_jobs_total[{{.window}}]))
"#;

/// Two SLOs in one Sloth document; the raw one has no alerts.
fn payments_sloth(objective: &str) -> String {
    format!(
        r#"version: "prometheus/v1"
service: "payments"
labels:
  owner: "payments-team"
slos:
  - name: "api-availability"
    objective: {objective}
    description: "Payment API requests that succeed."
    sli:
      events:
        error_query: sum(rate(payments_requests_total{{code=~"5.."}}[{{{{.window}}}}]))
        total_query: sum(rate(payments_requests_total[{{{{.window}}}}]))
    alerting:
      page_alert:
        labels:
          severity: page
  - name: "api-errors-raw"
    objective: 99
    sli:
      raw:
        error_ratio_query: avg_over_time(payments_error_ratio[{{{{.window}}}}])
    alerting:
      page_alert:
        disable: true
      ticket_alert:
        disable: true
"#
    )
}

const SEARCH_OPENSLO: &str = r#"{
  "apiVersion": "openslo/v1",
  "kind": "SLO",
  "metadata": {"name": "query-success", "displayName": "Search query success"},
  "spec": {
    "service": "search",
    "description": "Search queries that succeed",
    "indicator": {
      "metadata": {"name": "query-errors"},
      "spec": {
        "ratioMetric": {
          "counter": true,
          "bad": {"metricSource": {"type": "Prometheus",
            "spec": {"query": "search_queries_total{outcome=\"error\"}"}}},
          "total": {"metricSource": {"type": "Prometheus",
            "spec": {"query": "search_queries_total"}}}
        }
      }
    },
    "timeWindow": [{"duration": "7d", "isRolling": true}],
    "budgetingMethod": "Occurrences",
    "objectives": [{"displayName": "Queries", "target": 0.995}]
  }
}"#;

const LATENCY_PHAROS: &str = r#"slos:
  - service: search
    name: latency
    objective: 99
    window: 28d
    sli:
      latency:
        histogram: search_duration_seconds
        threshold: 0.3
"#;

/// Objective out of range and a label name Prometheus refuses: two problems.
const BAD_PHAROS: &str = r#"slos:
  - service: broken
    name: too-good
    objective: 120
    labels:
      "bad-label": x
    sli:
      error_ratio: avg_over_time(broken_error_ratio[{{.window}}])
"#;

fn list_ids(server: &Server) -> Vec<(String, Value)> {
    let list = get_json(&client(), &server.url("/api/v1/slos"));
    assert_eq!(list["status"], "success", "{list}");
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|v| (v["id"].as_str().unwrap_or("").to_string(), v.clone()))
        .collect()
}

fn find<'a>(list: &'a [(String, Value)], id: &str) -> &'a Value {
    list.iter()
        .find(|(i, _)| i == id)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("{id} not listed: {list:?}"))
}

fn post_spec(server: &Server, body: &str, content_type: &str) -> (u16, Value) {
    send(
        client()
            .post(server.url("/api/v1/slos"))
            .header("Content-Type", content_type)
            .body(body.to_string()),
    )
}

fn put_spec(server: &Server, id: &str, body: &str) -> (u16, Value) {
    send(
        client()
            .put(server.url(&format!("/api/v1/slos/{id}")))
            .header("Content-Type", "application/yaml")
            .body(body.to_string()),
    )
}

fn delete_slo(server: &Server, id: &str) -> (u16, Value) {
    send(client().delete(server.url(&format!("/api/v1/slos/{id}"))))
}

fn assert_error(got: &(u16, Value), status: u16, error_type: &str, what: &str) {
    let (code, body) = got;
    assert_eq!(*code, status, "{what}: {body}");
    assert_eq!(body["status"], "error", "{what}: {body}");
    assert_eq!(body["errorType"], error_type, "{what}: {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {body}"
    );
}

#[test]
fn slo_api_lifecycle() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("slos")).unwrap();
    std::fs::write(dir.path().join("slos/batch.yml"), BATCH_SLOTH).unwrap();
    let cfg = dir.path().join("pharos.yml");
    std::fs::write(&cfg, API_CONFIG).unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, Some(&cfg));

    // Config SLOs: inline and from slo_files.
    let list = list_ids(&server);
    let web = find(&list, "web-availability");
    assert_eq!(web["source"], "config", "{web}");
    assert_eq!(web["spec_format"], "pharos/v1", "{web}");
    assert_eq!(web["window"], "calendar-month", "{web}");
    let batch = find(&list, "batch-jobs-success");
    assert_eq!(batch["source"], "config", "{batch}");
    assert_eq!(batch["spec_format"], "prometheus/v1", "{batch}");
    assert_eq!(batch["window"], "30d", "{batch}");
    assert_eq!(list.len(), 2, "{list:?}");

    // POST a Sloth document with two SLOs (YAML) and an OpenSLO one (JSON).
    let (code, body) = post_spec(&server, &payments_sloth("99.5"), "application/yaml");
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"], "success", "{body}");
    let mut ids: Vec<&str> = body["data"]["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["payments-api-availability", "payments-api-errors-raw"],
        "{body}"
    );
    let (code, body) = post_spec(&server, SEARCH_OPENSLO, "application/json");
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        body["data"]["ids"],
        serde_json::json!(["search-query-success"])
    );

    let list = list_ids(&server);
    assert_eq!(list.len(), 5, "{list:?}");
    let pay = find(&list, "payments-api-availability");
    assert_eq!(pay["source"], "api", "{pay}");
    assert_eq!(pay["spec_format"], "prometheus/v1", "{pay}");
    assert_eq!(pay["service"], "payments", "{pay}");
    assert_eq!(pay["name"], "api-availability", "{pay}");
    assert!((f(&pay["objective"]) - 99.5).abs() < 1e-9, "{pay}");
    assert_eq!(pay["labels"]["owner"], "payments-team", "{pay}");
    let search = find(&list, "search-query-success");
    assert_eq!(search["source"], "api", "{search}");
    assert_eq!(search["spec_format"], "openslo/v1", "{search}");
    assert_eq!(search["window"], "7d", "{search}");
    assert!((f(&search["objective"]) - 99.5).abs() < 1e-9, "{search}");
    assert_eq!(search["description"], "Search queries that succeed");
    assert_eq!(find(&list, "payments-api-errors-raw")["source"], "api");
    let one = slo_view(&server, "search-query-success", "");
    assert_eq!(one["status"], "success", "{one}");
    assert_eq!(one["data"]["id"], "search-query-success", "{one}");

    // Their rule groups run (the raw SLO has both alerts disabled: no alert group).
    let mut present = slo_groups("payments-api-availability");
    present.extend(slo_groups("search-query-success"));
    present.extend(slo_groups("web-availability"));
    present.extend(slo_groups("batch-jobs-success"));
    present.push("slo-sli-recordings-payments-api-errors-raw".into());
    present.push("slo-meta-recordings-payments-api-errors-raw".into());
    wait_for_groups(
        &server,
        &present,
        &["slo-alerts-payments-api-errors-raw".into()],
    );

    // Conflicts: an existing API id, and a config id.
    assert_error(
        &post_spec(&server, &payments_sloth("99.5"), "application/yaml"),
        409,
        "conflict",
        "POST of existing ids",
    );
    let web_again = "slos:\n  - service: web\n    name: availability\n    objective: 99\n    sli:\n      error_ratio: avg_over_time(x[{{.window}}])\n";
    assert_error(
        &post_spec(&server, web_again, "application/yaml"),
        409,
        "conflict",
        "POST of a config id",
    );

    // Bad specs: 400 naming every problem; nothing is created.
    assert_error(
        &post_spec(&server, "this: [is not, a spec", "application/yaml"),
        400,
        "bad_data",
        "POST of invalid YAML",
    );
    assert_error(
        &post_spec(&server, "hello: world\n", "application/yaml"),
        400,
        "bad_data",
        "POST of a document that is no SLO spec",
    );
    let bad = post_spec(&server, BAD_PHAROS, "application/yaml");
    assert_error(&bad, 400, "bad_data", "POST of an invalid SLO");
    let msg = bad.1["error"].as_str().unwrap();
    assert!(msg.contains("objective"), "names the objective: {msg}");
    assert!(msg.contains("120"), "says what was wrong: {msg}");
    assert!(msg.contains("labels"), "names the labels too: {msg}");
    assert_eq!(list_ids(&server).len(), 5, "a refused spec created nothing");
    assert_eq!(
        send(client().get(server.url("/api/v1/slos/broken-too-good"))).0,
        404
    );

    // PUT replaces an API SLO, creates a new one, and refuses a mismatched id.
    let replacement = payments_sloth("99.0")
        .split("  - name: \"api-errors-raw\"")
        .next()
        .unwrap()
        .to_string();
    let (code, body) = put_spec(&server, "payments-api-availability", &replacement);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "success", "{body}");
    let pay = slo_view(&server, "payments-api-availability", "");
    assert!((f(&pay["data"]["objective"]) - 99.0).abs() < 1e-9, "{pay}");
    assert_eq!(pay["data"]["source"], "api", "{pay}");
    // The raw SLO from the same POST is untouched.
    assert!(list_ids(&server)
        .iter()
        .any(|(i, _)| i == "payments-api-errors-raw"));
    let (code, body) = put_spec(&server, "search-latency", LATENCY_PHAROS);
    assert_eq!(code, 201, "a PUT that creates answers 201 Created: {body}");
    let lat = slo_view(&server, "search-latency", "");
    assert_eq!(lat["data"]["source"], "api", "{lat}");
    assert_eq!(lat["data"]["spec_format"], "pharos/v1", "{lat}");
    assert_eq!(lat["data"]["window"], "28d", "{lat}");
    assert_error(
        &put_spec(&server, "search-other", LATENCY_PHAROS),
        400,
        "bad_data",
        "PUT of a document without the path's id",
    );
    assert_eq!(
        send(client().get(server.url("/api/v1/slos/search-other"))).0,
        404
    );

    // Config SLOs cannot be changed through the API.
    assert_error(
        &put_spec(&server, "web-availability", web_again),
        409,
        "conflict",
        "PUT of an inline config SLO",
    );
    assert_error(
        &delete_slo(&server, "web-availability"),
        409,
        "conflict",
        "DELETE of an inline config SLO",
    );
    assert_error(
        &delete_slo(&server, "batch-jobs-success"),
        409,
        "conflict",
        "DELETE of an slo_files SLO",
    );
    let list = list_ids(&server);
    assert!((f(&find(&list, "web-availability")["objective"]) - 99.5).abs() < 1e-9);

    // DELETE an API SLO: 200, then it is gone (404), and so are its rules.
    let (code, body) = delete_slo(&server, "payments-api-errors-raw");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(
        send(client().get(server.url("/api/v1/slos/payments-api-errors-raw"))).0,
        404
    );
    let (code, body) = delete_slo(&server, "payments-api-errors-raw");
    assert_eq!(code, 404, "second DELETE: {body}");
    assert_eq!(body["status"], "error", "{body}");
    wait_for_groups(
        &server,
        &slo_groups("search-query-success"),
        &[
            "slo-sli-recordings-payments-api-errors-raw".into(),
            "slo-meta-recordings-payments-api-errors-raw".into(),
        ],
    );

    // A restart keeps the API SLOs (as last written) and their rules.
    server.stop();
    let server = Server::start(&data, Some(&cfg));
    let list = list_ids(&server);
    let mut ids: Vec<&str> = list.iter().map(|(i, _)| i.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "batch-jobs-success",
            "payments-api-availability",
            "search-latency",
            "search-query-success",
            "web-availability",
        ],
        "{list:?}"
    );
    let pay = find(&list, "payments-api-availability");
    assert_eq!(pay["source"], "api", "{pay}");
    assert!((f(&pay["objective"]) - 99.0).abs() < 1e-9, "{pay}");
    assert_eq!(
        find(&list, "search-query-success")["spec_format"],
        "openslo/v1"
    );
    assert_eq!(find(&list, "web-availability")["source"], "config");
    let mut present = slo_groups("payments-api-availability");
    present.extend(slo_groups("search-query-success"));
    present.push("slo-sli-recordings-search-latency".into());
    wait_for_groups(
        &server,
        &present,
        &["slo-sli-recordings-payments-api-errors-raw".into()],
    );
    server.stop();
    eprintln!("slo_api_lifecycle: {:?}", started.elapsed());
}
