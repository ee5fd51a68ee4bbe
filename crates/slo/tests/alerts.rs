//! The generated rules evaluated over known data, with Pharos's rule unit-test
//! runner (PromQL engine over an in-memory store) and with promtool: the issue's
//! known answers for burn-rate alerts, other SLO windows, no traffic, low traffic
//! and maintenance windows.

mod common;

use std::path::Path;

/// Writes the rules for `spec` and a unit-test file with `tests` (YAML list items
/// under `tests:`), then runs it with both runners.
fn run(spec: &str, tests: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rules = common::write_rules(dir.path(), spec);
    common::promtool_check(&rules);
    let text = format!("rule_files:\n  - rules.yml\nevaluation_interval: 1m\ntests:\n{tests}");
    let test = dir.path().join("test.yml");
    std::fs::write(&test, text).unwrap();
    common::run_unit_tests(Path::new(&test));
}

/// One SLO over `http_requests_total{job="api"}` with 5xx as bad events.
fn api_spec(extra: &str) -> String {
    format!(
        r#"slos:
  - service: api
    name: availability
    objective: 99.9
    sli:
      bad_events: sum(rate(http_requests_total{{job="api",code=~"5.."}}[{{{{.window}}}}]))
      total_events: sum(rate(http_requests_total{{job="api"}}[{{{{.window}}}}]))
    labels: {{team: core}}
    alerting:
      page: {{runbook: "https://runbooks.example/api"}}
{extra}"#
    )
}

/// Input series: `ok` and `err` are promtool value sequences, one sample a minute.
fn series(ok: &str, err: &str) -> String {
    format!(
        r#"    input_series:
      - series: 'http_requests_total{{job="api",code="200"}}'
        values: '{ok}'
      - series: 'http_requests_total{{job="api",code="500"}}'
        values: '{err}'
"#
    )
}

/// A PromQL expectation that the firing alerts, counted by `by`, are `samples`.
fn firing(at: &str, by: &str, samples: &[&str]) -> String {
    let mut s = format!(
        "      - expr: count by ({by}) (ALERTS{{alertstate=\"firing\"}})\n        eval_time: {at}\n        exp_samples:\n"
    );
    if samples.is_empty() {
        s = s.replace("exp_samples:\n", "exp_samples: []\n");
    }
    for l in samples {
        s.push_str(&format!(
            "          - labels: '{l}'\n            value: 1\n"
        ));
    }
    s
}

const REMAINING: &str = "{{ with query `pharos_slo_error_budget_remaining_ratio{slo_id=\"api-availability\"} or slo:period_error_budget_remaining:ratio{slo_id=\"api-availability\"}` }}{{ . | first | value | humanizePercentage }}{{ else }}unknown{{ end }}";

#[test]
fn a_constant_1_44_percent_error_rate_pages() {
    let _ = REMAINING;
    let tests = format!(
        r#"  - interval: 1m
{series}    alert_rule_test:
      - eval_time: 70m
        alertname: ApiAvailabilityBudgetBurn
        exp_alerts:
          - exp_labels:
              severity: page
              slo: availability
              slo_severity: page
              slo_id: api-availability
              slo_name: availability
              slo_service: api
              team: core
            exp_annotations:
              burn_rate: "14.4"
              error_budget_remaining: "-1340%"
              runbook_url: "https://runbooks.example/api"
              summary: "api availability SLO (99.9%): error budget burn rate is too fast"
              title: "(page) api availability SLO error budget burn rate is too fast."
              description: "Burn rate 14.4x over the long window (page fires at 14.4x over 1h and 5m, or 6x over 6h and 30m); error budget remaining over 30d: -1340%."
          - exp_labels:
              severity: ticket
              slo: availability
              slo_severity: ticket
              slo_id: api-availability
              slo_name: availability
              slo_service: api
              team: core
            exp_annotations:
              burn_rate: "14.4"
              error_budget_remaining: "-1340%"
              summary: "api availability SLO (99.9%): error budget burn rate is too fast"
              title: "(ticket) api availability SLO error budget burn rate is too fast."
              description: "Burn rate 14.4x over the long window (ticket fires at 3x over 1d and 2h, or 1x over 3d and 6h); error budget remaining over 30d: -1340%."
    promql_expr_test:
      - expr: round(slo:sli_error:ratio_rate1h * 10000)
        eval_time: 70m
        exp_samples:
          - labels: '{{slo_id="api-availability", slo_name="availability", slo_service="api", slo_window="1h", team="core"}}'
            value: 144
      - expr: round(slo:current_burn_rate:ratio * 10)
        eval_time: 70m
        exp_samples:
          - labels: '{{slo_id="api-availability", slo_name="availability", slo_service="api", slo_window="5m", team="core"}}'
            value: 144
      - expr: slo:objective:ratio
        eval_time: 70m
        exp_samples:
          - labels: 'slo:objective:ratio{{slo_id="api-availability", slo_name="availability", slo_service="api", team="core"}}'
            value: 0.999
"#,
        series = series("0+9856x100", "0+144x100")
    );
    run(&api_spec(""), &tests);
}

#[test]
fn a_0_05_percent_error_rate_fires_nothing() {
    let tests = format!(
        "  - interval: 1m\n{}    promql_expr_test:\n{}{}",
        series("0+9995x400", "0+5x400"),
        firing("70m", "slo_severity", &[]),
        firing("370m", "slo_severity", &[]),
    );
    run(&api_spec(""), &tests);
}

#[test]
fn no_traffic_records_a_zero_error_ratio_and_alerts_nothing() {
    let tests = format!(
        r#"  - interval: 1m
{}    promql_expr_test:
{}      - expr: slo:sli_error:ratio_rate1h
        eval_time: 70m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate1h{{slo_id="api-availability", slo_name="availability", slo_service="api", slo_window="1h", team="core"}}'
            value: 0
      - expr: slo:period_error_budget_remaining:ratio
        eval_time: 70m
        exp_samples:
          - labels: 'slo:period_error_budget_remaining:ratio{{slo_id="api-availability", slo_name="availability", slo_service="api", slo_window="30d", team="core"}}'
            value: 1
"#,
        series("0x100", "0x100"),
        firing("70m", "slo_severity", &[]),
    );
    run(&api_spec(""), &tests);
}

#[test]
fn low_traffic_needs_the_minimum_event_count() {
    let spec = api_spec("    min_events: 10\n");
    // 3 requests in the last hour, 1 failing: a 33% error ratio, but too few events.
    let few = format!(
        "  - interval: 1m\n{}    promql_expr_test:\n{}",
        series("0x56 1 2 2 2", "0x58 1 1"),
        firing("60m", "slo_severity", &[]),
    );
    run(&spec, &few);
    // The same ratio over 30 events reaches the minimum: page (and ticket).
    let enough = format!(
        "  - interval: 1m\n{}    promql_expr_test:\n{}",
        series("0x50 2+2x9", "0x50 1+1x9"),
        firing(
            "60m",
            "slo_severity",
            &["{slo_severity=\"page\"}", "{slo_severity=\"ticket\"}"]
        ),
    );
    run(&spec, &enough);
}

/// Three SLOs on the same data, differing only in their window.
fn windows_spec() -> String {
    let mut s = String::from("slos:\n");
    for (name, window) in [("w30", "30d"), ("w28", "28d"), ("w7", "7d")] {
        s.push_str(&format!(
            r#"  - service: api
    name: {name}
    objective: 99.9
    window: {window}
    sli:
      bad_events: sum(rate(http_requests_total{{job="api",code=~"5.."}}[{{{{.window}}}}]))
      total_events: sum(rate(http_requests_total{{job="api"}}[{{{{.window}}}}]))
"#
        ));
    }
    s
}

#[test]
fn other_slo_windows_scale_the_burn_factors() {
    // After 6h of clean traffic, 70 minutes of 1.4% errors burn at 14x over 1h and
    // 5m: under 30d's 14.4x page factor, over the 13.44x that 28d and 7d page at.
    // The 6h window burns at 2.7x, under every slow page factor; the 3d/6h ticket
    // pair (1x, 0.93x, 0.98x) fires for all three.
    let quick = format!(
        "  - interval: 1m\n{}    promql_expr_test:\n{}",
        series("0+10000x360 3609860+9860x69", "0x360 140+140x69"),
        firing(
            "430m",
            "slo, slo_severity",
            &[
                "{slo=\"w28\", slo_severity=\"page\"}",
                "{slo=\"w28\", slo_severity=\"ticket\"}",
                "{slo=\"w30\", slo_severity=\"ticket\"}",
                "{slo=\"w7\", slo_severity=\"page\"}",
                "{slo=\"w7\", slo_severity=\"ticket\"}",
            ]
        ),
    );
    run(&windows_spec(), &quick);
    // 0.4% errors burn at 4x for 6h: 7d's slow page factor is 3.5x, 28d's 5.6x and
    // 30d's 6x; every ticket factor (3x, 2.8x, 1.4x over 1d/2h) is exceeded.
    let slow = format!(
        "  - interval: 1m\n{}    promql_expr_test:\n{}",
        series("0+9960x400", "0+40x400"),
        firing(
            "370m",
            "slo, slo_severity",
            &[
                "{slo=\"w28\", slo_severity=\"ticket\"}",
                "{slo=\"w30\", slo_severity=\"ticket\"}",
                "{slo=\"w7\", slo_severity=\"page\"}",
                "{slo=\"w7\", slo_severity=\"ticket\"}",
            ]
        ),
    );
    run(&windows_spec(), &slow);
}

#[test]
fn maintenance_windows_leave_the_budget_untouched() {
    // Errors only between 00:10 and 00:40, which is maintenance for `api` and not
    // for `other` (same data).
    let spec = format!(
        "{}    maintenance:\n      - {{start: \"1970-01-01T00:10:00Z\", end: \"1970-01-01T00:40:00Z\"}}\n  - service: other\n    name: availability\n    objective: 99.9\n    sli:\n      bad_events: sum(rate(http_requests_total{{job=\"api\",code=~\"5..\"}}[{{{{.window}}}}]))\n      total_events: sum(rate(http_requests_total{{job=\"api\"}}[{{{{.window}}}}]))\n",
        api_spec("")
    );
    let tests = format!(
        r#"  - interval: 1m
{}    promql_expr_test:
{}      - expr: slo:period_error_budget_remaining:ratio{{slo_service="api"}}
        eval_time: 120m
        exp_samples:
          - labels: 'slo:period_error_budget_remaining:ratio{{slo_id="api-availability", slo_name="availability", slo_service="api", slo_window="30d", team="core"}}'
            value: 1
      - expr: count(slo:period_error_budget_remaining:ratio{{slo_service="other"}} < 0)
        eval_time: 120m
        exp_samples:
          - labels: '{{}}'
            value: 1
"#,
        series("0+100x130", "0x10 50+50x29 1500x90"),
        firing(
            "30m",
            "slo_service, slo_severity",
            &[
                "{slo_service=\"other\", slo_severity=\"page\"}",
                "{slo_service=\"other\", slo_severity=\"ticket\"}",
            ]
        ),
    );
    run(&spec, &tests);
}

#[test]
fn latency_from_histogram_buckets() {
    // 2% of requests slower than 250ms against a 99% objective: burn rate 2, which
    // only the slow ticket pair (3d/6h at 1x) alerts on.
    let spec = r#"slos:
  - service: web
    name: latency
    objective: 99
    sli:
      latency: {histogram: http_request_duration_seconds, matchers: 'job="web"', threshold: 0.25}
  - service: idle
    name: latency
    objective: 99
    sli:
      latency: {histogram: idle_request_duration_seconds, threshold: 0.25}
"#;
    let tests = format!(
        r#"  - interval: 1m
    input_series:
      - series: 'http_request_duration_seconds_bucket{{job="web",le="0.25"}}'
        values: '0+980x100'
      - series: 'http_request_duration_seconds_bucket{{job="web",le="+Inf"}}'
        values: '0+1000x100'
      - series: 'http_request_duration_seconds_count{{job="web"}}'
        values: '0+1000x100'
      - series: 'idle_request_duration_seconds_bucket{{le="0.25"}}'
        values: '0x100'
      - series: 'idle_request_duration_seconds_count'
        values: '0x100'
    promql_expr_test:
      - expr: round(slo:sli_error:ratio_rate1h * 1000)
        eval_time: 70m
        exp_samples:
          - labels: '{{slo_id="idle-latency", slo_name="latency", slo_service="idle", slo_window="1h"}}'
            value: 0
          - labels: '{{slo_id="web-latency", slo_name="latency", slo_service="web", slo_window="1h"}}'
            value: 20
{}"#,
        firing(
            "70m",
            "slo_service, slo_severity",
            &["{slo_service=\"web\", slo_severity=\"ticket\"}"]
        ),
    );
    run(spec, &tests);
}

#[test]
fn exactly_the_budget_spends_all_of_it() {
    // 0.1% bad events against 99.9%: burn rate 1 over the window, nothing left;
    // no page (1x is far below 14.4x and 6x), but the slow ticket pair (3d/6h at
    // 1x) fires: the budget is being spent exactly as fast as it accrues.
    let tests = format!(
        r#"  - interval: 1m
{}    promql_expr_test:
      - expr: round(slo:period_burn_rate:ratio * 1000)
        eval_time: 70m
        exp_samples:
          - labels: '{{slo_id="api-availability", slo_name="availability", slo_service="api", slo_window="30d", team="core"}}'
            value: 1000
      - expr: round(slo:period_error_budget_remaining:ratio * 1000)
        eval_time: 70m
        exp_samples:
          - labels: '{{slo_id="api-availability", slo_name="availability", slo_service="api", slo_window="30d", team="core"}}'
            value: 0
{}"#,
        series("0+9990x100", "0+10x100"),
        firing("70m", "slo_severity", &["{slo_severity=\"ticket\"}"]),
    );
    run(&api_spec(""), &tests);
}
