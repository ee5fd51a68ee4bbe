//! SLO rules differential: the same SLI data in Debian's Prometheus 2.42, evaluating the
//! rule file that `pharos slo generate` emits, and in Pharos, evaluating the same SLO
//! specs from `slo_files`; the recorded error ratios (burn rates) and the alert states
//! must agree at several evaluation times while the windows slide past a burst.
//!
//! The SLOs are `tests/data/slo_differential/slos.yml`: bad/total events (30d window),
//! good/total events (7d) and a latency histogram with a minimum event count (28d).
//!
//! Data. Counters `http_requests_total{code=…}` on two instances and a latency
//! histogram, every series sampled at the same timestamps: multiples of 15 s covering
//! seven hours and ending at the last 15 s boundary before the writes (`end`). The error
//! profile has phases (quiet, moderate, a burst of 5xx ending 2.5 min before `end`, and
//! a slow-request spike in the last 1.75 min), so that while the windows slide past the
//! end of the data the availability page alert resolves (its 5m burn rate drops under
//! 14.4 about 100 s after `end`) and the latency page alert starts firing (its 5m burn
//! rate rises over 13.44 about 65 s after `end`), while the ticket alerts keep firing
//! and the success page alert never fires. Comparisons start at the first 15 s
//! interval after both servers run their rules (some 15 s after `end`) and cover nine
//! intervals.
//!
//! Both servers first get the data without any rules: a rule that records a sample at
//! the current time would make either head refuse the hours-old samples written after
//! it. Then Prometheus reloads its configuration with the generated rule file (SIGHUP)
//! and Pharos restarts with `slo_files`, both evaluating every second.
//!
//! Comparing live evaluations. The two servers evaluate at different instants. Bad and
//! total series share their sample timestamps, so the rate extrapolation factors cancel
//! in an error ratio, and a ratio over a window changes only when the window's left edge
//! crosses a sample timestamp, that is at multiples of 15 s (every comparison is after
//! `end`, so no sample enters at the right edge). At a comparison time `T = B + 13.5 s`
//! (`B` a multiple of 15 s, from `end` on) both servers are queried at `T`, and the
//! returned samples count only when `timestamp(…)` shows they were evaluated after `B`:
//! from the same data then, whichever instant each server picked. (Strictly after: at
//! `B` itself Prometheus 2.42's closed window still holds the sample on its left edge,
//! Pharos's left-open one does not.) For the alerts (their own
//! group) and `slo:current_burn_rate:ratio` (the meta group), which read the recorded
//! ratios, the recorded ratios visible half a second before their evaluation must also
//! be from after `B`. A point that fails this on either side is skipped and counted.
//!
//! Compared per SLO and time: `slo:sli_error:ratio_rate<w>` for w in 5m … 3d (relative
//! tolerance 1e-9, shown as burn rates), `slo:current_burn_rate:ratio`, and the exact
//! label sets of `ALERTS`. Not compared: the SLO-window ratio (`ratio_rate30d` etc.),
//! which is the mean of each server's own past 5m evaluations (since each server's own
//! rule start) and legitimately differs, with everything derived from it (period burn
//! rate, budget remaining); and `slo:sli_total:rate<w>`, a plain rate whose
//! extrapolation changes with the exact evaluation instant.
//!
//! The `prometheus` binary must be on PATH (Debian's `prometheus` package; CI installs
//! it).

mod common;

use common::prometheus::Prometheus;
use common::{client, get_json, run_pharos, send_signal, write_in_time_slices, Server};
use common::{poll, TestSeries};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SPEC: &str = include_str!("data/slo_differential/slos.yml");

/// The SLOs of the spec: id, error budget, alert name.
const SLOS: [(&str, f64, &str); 3] = [
    (
        "checkout-availability",
        0.001,
        "CheckoutAvailabilityBudgetBurn",
    ),
    ("checkout-success", 0.005, "CheckoutSuccessBudgetBurn"),
    ("checkout-latency", 0.01, "CheckoutLatencyBudgetBurn"),
];

/// The compared ratio windows: every recorded one but the SLO window.
const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

const STEP_MS: i64 = 15_000;
/// Seven hours of samples: the 6h window still slides through the data.
const STEPS: i64 = 7 * 240;
/// Requests hold this many steps of every series, in time order.
const STEPS_PER_REQUEST: i64 = 40;
/// Successive 15 s intervals compared.
const INTERVALS: i64 = 9;
/// Comparison time within an interval.
const COMPARE_AT_MS: i64 = 13_500;
/// How far before its evaluation a dependent rule's input must already be fresh.
const INPUT_MARGIN_MS: i64 = 500;
const REL_TOL: f64 = 1e-9;
/// Requests per step of instances a and b.
const REQUESTS: [(&str, f64); 2] = [("a", 600.0), ("b", 400.0)];
const LATENCY_REQUESTS: f64 = 300.0;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Milliseconds as the API's decimal seconds.
fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Share of 5xx responses in the step that ends `age` steps before the end.
fn error_share(age: i64) -> f64 {
    match age {
        0..=9 => 0.0,       // the last 2.5 min: recovered
        10..=99 => 0.06,    // a burst of 22.5 min (60x the 99.9% budget)
        100..=599 => 0.004, // moderate, 2 h 5 min
        _ => 0.0003,        // quiet
    }
}

/// Share of requests slower than 0.3 s in the step that ends `age` steps before the end.
fn slow_share(age: i64) -> f64 {
    match age {
        0..=6 => 0.3,    // a spike in the last 1.75 min
        7..=23 => 0.0,   // calm for 4.25 min
        24..=219 => 0.2, // a long slow period of 49 min
        _ => 0.005,
    }
}

/// Whole events of a step from a running fractional total, so that small shares still
/// produce occasional events.
fn take(acc: &mut f64, add: f64) -> f64 {
    let before = acc.floor();
    *acc += add;
    acc.floor() - before
}

/// Every series, sampled at `end - STEPS * 15 s … end`. Counters start high, so that
/// the counter zero-point never limits the extrapolation of `rate` (where Prometheus
/// 2.42 and 3.x differ) and the extrapolation is the same for every series.
fn generate(end: i64) -> Vec<TestSeries> {
    let start = end - STEPS * STEP_MS;
    let times: Vec<i64> = (0..=STEPS).map(|i| start + i * STEP_MS).collect();
    let mut out = Vec::new();
    let counter = |labels: &[(&str, &str)], first: f64, incs: &[f64]| {
        let mut v = first;
        let samples = times
            .iter()
            .zip(std::iter::once(&0.0).chain(incs.iter()))
            .map(|(&t, inc)| {
                v += inc;
                (t, v)
            })
            .collect();
        TestSeries::new(labels, samples)
    };
    for (n, (instance, total)) in REQUESTS.iter().enumerate() {
        let (mut ok, mut bad, mut missing) = (Vec::new(), Vec::new(), Vec::new());
        let mut acc = 0.0;
        for i in 1..=STEPS {
            let e = take(&mut acc, total * error_share(STEPS - i));
            // One 404 a step on instance a: good for availability, bad for success.
            let m = if n == 0 { 1.0 } else { 0.0 };
            bad.push(e);
            missing.push(m);
            ok.push(total - e - m);
        }
        let base = (n as f64 + 1.0) * 1e6;
        for (code, incs, first) in [
            ("200", &ok, base),
            ("500", &bad, base / 50.0),
            ("404", &missing, base / 20.0),
        ] {
            if n == 1 && code == "404" {
                continue;
            }
            out.push(counter(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "checkout"),
                    ("instance", instance),
                    ("code", code),
                ],
                first,
                incs,
            ));
        }
    }
    let (mut fast, mut all) = (Vec::new(), Vec::new());
    let mut acc = 0.0;
    for i in 1..=STEPS {
        let slow = take(&mut acc, LATENCY_REQUESTS * slow_share(STEPS - i));
        fast.push(LATENCY_REQUESTS - slow);
        all.push(LATENCY_REQUESTS);
    }
    let hist = |name: &str, le: Option<&str>, first: f64, incs: &[f64]| {
        let mut l = vec![("__name__", name), ("job", "checkout"), ("instance", "a")];
        if let Some(le) = le {
            l.push(("le", le));
        }
        counter(&l, first, incs)
    };
    out.push(hist(
        "http_request_duration_seconds_bucket",
        Some("0.3"),
        9e5,
        &fast,
    ));
    out.push(hist(
        "http_request_duration_seconds_bucket",
        Some("+Inf"),
        1e6,
        &all,
    ));
    out.push(hist("http_request_duration_seconds_count", None, 1e6, &all));
    out
}

/// A label set without `__name__`.
type Labels = BTreeMap<String, String>;

/// One instant-query answer: labels (without `__name__`) → (name, value).
type Answer = BTreeMap<Labels, (String, f64)>;

fn parse_value(v: &Value) -> f64 {
    match v.as_str() {
        Some("NaN") => f64::NAN,
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(s) => s.parse().unwrap_or(f64::NAN),
        None => f64::NAN,
    }
}

/// An instant query of a vector expression at `at` (ms).
fn query(http: &reqwest::blocking::Client, base: &str, expr: &str, at: i64) -> Answer {
    let text = http
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", expr), ("time", &secs(at))])
        .send()
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("{base}: query {expr}: {e}"));
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{base}: {expr}: {e}: {text}"));
    assert_eq!(body["status"], "success", "{base}: {expr}: {text}");
    let mut out = Answer::new();
    for r in body["data"]["result"].as_array().into_iter().flatten() {
        let mut labels: Labels = r["metric"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let name = labels.remove("__name__").unwrap_or_default();
        out.insert(labels, (name, parse_value(&r["value"][1])));
    }
    out
}

/// `timestamp(expr)` at `at`, in ms, keyed like [`query`].
fn stamps(
    http: &reqwest::blocking::Client,
    base: &str,
    expr: &str,
    at: i64,
) -> BTreeMap<Labels, i64> {
    query(http, base, &format!("timestamp({expr})"), at)
        .into_iter()
        .map(|(l, (_, v))| (l, (v * 1000.0).round() as i64))
        .collect()
}

fn ratio_selector(slo: &str) -> String {
    format!(
        "{{__name__=~\"slo:sli_error:ratio_rate({})\", slo_id=\"{slo}\"}}",
        WINDOWS.join("|")
    )
}

/// One recorded ratio as a server answered: its labels and value, or `None` when the
/// series is absent although the server's rules ran in the interval.
type Ratio = Option<(Labels, f64)>;

/// What one server showed for one SLO at one comparison time; `None` where it could not
/// be shown to come from the interval's data.
#[derive(Default)]
struct Seen {
    /// Window → recorded error ratio.
    ratios: BTreeMap<&'static str, Option<Ratio>>,
    /// `slo:current_burn_rate:ratio` (`Some(None)`: absent).
    current: Option<Option<f64>>,
    /// The label sets of `ALERTS`.
    alerts: Option<BTreeSet<Labels>>,
    /// Why something was left out.
    notes: Vec<String>,
}

/// Reads one server's view of `slo` at `at`, with the 15 s interval starting at `from`.
fn observe(http: &reqwest::blocking::Client, base: &str, slo: &str, from: i64, at: i64) -> Seen {
    let mut seen = Seen::default();
    let fresh = |t: i64| t > from && t <= at;
    let sel = ratio_selector(slo);
    let ratios = query(http, base, &sel, at);
    let ratio_ts = stamps(http, base, &sel, at);
    // Whether this server's SLI recording rules ran within the interval: then a series
    // it does not show is really absent.
    let rules_ran = ratio_ts.values().any(|&t| fresh(t));
    for w in WINDOWS {
        let want = format!("slo:sli_error:ratio_rate{w}");
        let entry = ratios.iter().find(|(l, (name, _))| {
            *name == want && l.get("slo_window").map(String::as_str) == Some(w)
        });
        let value = match entry {
            None if rules_ran => Some(None),
            None => None,
            Some((labels, (_, v))) => {
                let t = ratio_ts.get(labels).copied().unwrap_or(i64::MIN);
                if fresh(t) {
                    Some(Some((labels.clone(), *v)))
                } else {
                    seen.notes
                        .push(format!("{w} evaluated at {}: not fresh", secs(t)));
                    None
                }
            }
        };
        seen.ratios.insert(w, value);
    }
    // Whether the ratios that a rule of another group evaluated at `t` read were from
    // the interval: so if they already were at `t - INPUT_MARGIN_MS`.
    let inputs_fresh = |t: i64| -> bool {
        let ts = stamps(http, base, &sel, t - INPUT_MARGIN_MS);
        !ts.is_empty() && ts.values().all(|&x| x > from)
    };

    let cur_sel = format!("slo:current_burn_rate:ratio{{slo_id=\"{slo}\"}}");
    let cur = query(http, base, &cur_sel, at);
    let cur_ts = stamps(http, base, &cur_sel, at);
    match (cur.iter().next(), cur_ts.values().next()) {
        (Some((_, (_, v))), Some(&t)) if fresh(t) && inputs_fresh(t) => {
            seen.current = Some(Some(*v));
        }
        (Some(_), t) => seen
            .notes
            .push(format!("current burn rate evaluated at {t:?}: not fresh")),
        (None, _) if rules_ran => seen.current = Some(None),
        (None, _) => seen
            .notes
            .push("no current burn rate and no fresh ratios".into()),
    }

    let alert_sel = format!("ALERTS{{slo_id=\"{slo}\"}}");
    let alerts = query(http, base, &alert_sel, at);
    let alert_ts = stamps(http, base, &alert_sel, at);
    let times: BTreeSet<i64> = alert_ts.values().copied().collect();
    let set: BTreeSet<Labels> = alerts.keys().cloned().collect();
    if times.is_empty() {
        // Nothing active: only meaningful when this server's rules are running.
        if rules_ran {
            seen.alerts = Some(set);
        } else {
            seen.notes.push("no alerts and no fresh ratios".into());
        }
    } else if times.len() == 1 {
        let t = *times.iter().next().unwrap();
        if fresh(t) && inputs_fresh(t) {
            seen.alerts = Some(set);
        } else {
            seen.notes
                .push(format!("alerts evaluated at {}: not fresh", secs(t)));
        }
    } else {
        seen.notes
            .push(format!("alerts of several evaluations: {times:?}"));
    }
    seen
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    a == b || (a - b).abs() <= REL_TOL * a.abs().max(b.abs())
}

fn show(v: f64) -> String {
    if v.is_nan() {
        "absent".into()
    } else {
        format!("{v}")
    }
}

fn show_labels(l: &Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn show_ratio(r: &Ratio, budget: f64) -> String {
    match r {
        Some((l, v)) => format!("{v} (burn {}) {}", v / budget, show_labels(l)),
        None => "absent".into(),
    }
}

fn show_alerts(set: &BTreeSet<Labels>) -> String {
    let items: Vec<String> = set.iter().map(show_labels).collect();
    format!("[{}]", items.join(" "))
}

/// Whether a page alert fires in the set.
fn page_firing(set: &BTreeSet<Labels>) -> bool {
    set.iter().any(|l| {
        l.get("slo_severity").map(String::as_str) == Some("page")
            && l.get("alertstate").map(String::as_str) == Some("firing")
    })
}

/// Whether a ticket alert fires in the set.
fn ticket_firing(set: &BTreeSet<Labels>) -> bool {
    set.iter().any(|l| {
        l.get("slo_severity").map(String::as_str) == Some("ticket")
            && l.get("alertstate").map(String::as_str) == Some("firing")
    })
}

/// Polls until every SLO has a recorded 5m ratio at the server.
fn wait_for_rules(http: &reqwest::blocking::Client, name: &str, base: &str) {
    let ok = poll(Duration::from_secs(60), || {
        let a = query(http, base, "slo:sli_error:ratio_rate5m", now_ms());
        let ids: BTreeSet<&str> = a
            .keys()
            .filter_map(|l| l.get("slo_id"))
            .map(String::as_str)
            .collect();
        (ids.len() == SLOS.len()).then_some(())
    });
    assert!(ok.is_some(), "{name} records no SLO ratios after 60s");
}

#[test]
fn slo_differential() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = dir.join("slos.yml");
    std::fs::write(&spec, SPEC).unwrap();

    // The rule file Prometheus runs, from the real binary.
    let rules = dir.join("prometheus").join("slo-rules.yml");
    std::fs::create_dir_all(rules.parent().unwrap()).unwrap();
    let out = run_pharos(&[
        "slo",
        "generate",
        spec.to_str().unwrap(),
        "-o",
        rules.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "pharos slo generate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Both start without rules; see the module notes.
    let prom_dir = dir.join("prometheus");
    let prom_config = "global:\n  evaluation_interval: 1s\n";
    let prometheus = Prometheus::start(
        &prom_dir,
        prom_config,
        &["--web.enable-remote-write-receiver"],
    );
    let pharos_config = dir.join("pharos.yml");
    let pharos_base = "self_scrape: false\nglobal:\n  evaluation_interval: 1s\n";
    std::fs::write(&pharos_config, pharos_base).unwrap();
    let data_dir = dir.join("pharos-data");
    let pharos = Server::start(&data_dir, Some(&pharos_config));
    let http = client();

    let end = now_ms() / STEP_MS * STEP_MS;
    let data = generate(end);
    let span = (
        data[0].samples[0].0,
        data[0].samples[data[0].samples.len() - 1].0,
    );
    let slice = STEPS_PER_REQUEST * STEP_MS;
    write_in_time_slices(&http, "prometheus", &prometheus.url, &data, span, slice);
    write_in_time_slices(&http, "pharos", &pharos.url(""), &data, span, slice);
    let written = ((STEPS + 1) as usize * data.len()) as f64;
    for (name, base) in [
        ("prometheus", prometheus.url.clone()),
        ("pharos", pharos.url("")),
    ] {
        let mut held = 0.0;
        for metric in [
            "http_requests_total",
            "http_request_duration_seconds_bucket",
            "http_request_duration_seconds_count",
        ] {
            let q = format!("sum(count_over_time({metric}[8h]))");
            held += query(&http, &base, &q, end + 1000)
                .values()
                .map(|v| v.1)
                .sum::<f64>();
        }
        assert_eq!(held, written, "{name} does not hold every sample written");
    }

    // Rules on: Prometheus reloads its configuration, Pharos restarts with `slo_files`.
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!("{prom_config}rule_files:\n  - slo-rules.yml\n"),
    )
    .unwrap();
    send_signal(prometheus.pid() as i32, libc::SIGHUP);
    pharos.stop();
    std::fs::write(
        &pharos_config,
        format!("{pharos_base}slo_files:\n  - slos.yml\n"),
    )
    .unwrap();
    let pharos = Server::start(&data_dir, Some(&pharos_config));
    wait_for_rules(&http, "prometheus", &prometheus.url);
    wait_for_rules(&http, "pharos", &pharos.url(""));
    let groups = get_json(&http, &format!("{}/api/v1/rules", prometheus.url));
    let n_groups = groups["data"]["groups"].as_array().map_or(0, Vec::len);
    assert_eq!(n_groups, 9, "prometheus loaded {n_groups} rule groups");

    // The first interval is the current one unless too little of it is left; any
    // interval from `end` on holds no sample newer than its start.
    let now = now_ms();
    let current = now / STEP_MS * STEP_MS;
    let first = if now - current < COMPARE_AT_MS - 3000 {
        current
    } else {
        current + STEP_MS
    };
    assert!(first >= end);
    let (mut compared, mut agreed, mut skipped) = (0usize, 0usize, 0usize);
    let mut diffs = String::new();
    let mut table = String::new();
    // SLO → page states seen (compared points only).
    let mut page_states: BTreeMap<&str, BTreeSet<bool>> = BTreeMap::new();
    let mut all_tickets = true;
    // (SLO, window) → values seen.
    let mut values: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for k in 0..INTERVALS {
        let from = first + k * STEP_MS;
        let at = from + COMPARE_AT_MS;
        let wake = at + 1000;
        let now = now_ms();
        if wake > now {
            std::thread::sleep(Duration::from_millis((wake - now) as u64));
        }
        let since = (at - end) as f64 / 1000.0;
        for &(slo, budget, alert) in &SLOS {
            let p = observe(&http, &prometheus.url, slo, from, at);
            let o = observe(&http, &pharos.url(""), slo, from, at);
            let mut line = format!("end+{since:.1}s {slo}:");
            for w in WINDOWS {
                match (&p.ratios[w], &o.ratios[w]) {
                    (Some(a), Some(b)) => {
                        compared += 1;
                        if let Some((_, v)) = a {
                            let _ = write!(line, " {w}={:.3}", v / budget);
                            values.entry((slo, w)).or_default().push(*v);
                        } else {
                            let _ = write!(line, " {w}=absent");
                        }
                        let same = match (a, b) {
                            (Some((la, va)), Some((lb, vb))) => la == lb && close(*va, *vb),
                            (None, None) => true,
                            _ => false,
                        };
                        if same {
                            agreed += 1;
                        } else {
                            let _ = writeln!(
                                diffs,
                                "DISAGREE end+{since:.1}s (time {}) slo:sli_error:ratio_rate{w}{{slo_id=\"{slo}\"}}:\n  \
                                 prometheus {}\n  pharos     {}",
                                secs(at),
                                show_ratio(a, budget),
                                show_ratio(b, budget)
                            );
                        }
                    }
                    _ => {
                        skipped += 1;
                        let _ = write!(line, " {w}=skipped");
                    }
                }
            }
            match (p.current, o.current) {
                (Some(a), Some(b)) => {
                    compared += 1;
                    let (a, b) = (a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN));
                    if close(a, b) {
                        agreed += 1;
                    } else {
                        let _ = writeln!(
                            diffs,
                            "DISAGREE end+{since:.1}s (time {}) slo:current_burn_rate:ratio{{slo_id=\"{slo}\"}}: \
                             prometheus {}, pharos {}",
                            secs(at),
                            show(a),
                            show(b)
                        );
                    }
                }
                _ => skipped += 1,
            }
            match (&p.alerts, &o.alerts) {
                (Some(a), Some(b)) => {
                    compared += 1;
                    let page = page_firing(a);
                    page_states.entry(slo).or_default().insert(page);
                    all_tickets &= ticket_firing(a);
                    let _ = write!(
                        line,
                        " {alert}: page {} ticket {}",
                        if page { "firing" } else { "inactive" },
                        if ticket_firing(a) {
                            "firing"
                        } else {
                            "inactive"
                        }
                    );
                    if a == b {
                        agreed += 1;
                    } else {
                        let _ = writeln!(
                            diffs,
                            "DISAGREE end+{since:.1}s (time {}) ALERTS{{slo_id=\"{slo}\"}}:\n  \
                             prometheus {}\n  pharos     {}",
                            secs(at),
                            show_alerts(a),
                            show_alerts(b)
                        );
                    }
                }
                _ => {
                    skipped += 1;
                    let _ = write!(line, " alerts skipped");
                }
            }
            for (who, seen) in [("prometheus", &p), ("pharos", &o)] {
                for n in &seen.notes {
                    let _ = write!(line, " [{who}: {n}]");
                }
            }
            let _ = writeln!(table, "{line}");
        }
    }

    let total = compared + skipped;
    // Changed beyond rounding: the extrapolation factor, which varies with the
    // evaluation instant, can move the last bit.
    let changed = values
        .values()
        .filter(|v| {
            let (lo, hi) = v
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(x), hi.max(x))
                });
            hi - lo > 1e-6 * hi.abs()
        })
        .count();
    let summary = format!(
        "{table}{diffs}slo differential: {total} points, {compared} compared, {agreed} agreed, \
         {skipped} skipped; {changed} (SLO, window) series changed over {INTERVALS} times; \
         {:.1}s\n",
        started.elapsed().as_secs_f64()
    );
    // Past the test harness's output capture, so that the log of a passing run shows the
    // counts too.
    let _ = std::io::stdout().write_all(summary.as_bytes());
    assert_eq!(
        agreed, compared,
        "disagreements with prometheus (see above)"
    );
    assert!(
        compared * 10 >= total * 8,
        "only {compared} of {total} points could be compared"
    );
    assert!(
        page_states.values().any(|s| s.len() == 2),
        "no page alert was seen both firing and inactive: {page_states:?}"
    );
    assert!(all_tickets, "a ticket alert was not firing at some time");
    assert!(changed > 0, "no ratio changed across the comparison times");
    drop(prometheus);
    pharos.stop();
}
