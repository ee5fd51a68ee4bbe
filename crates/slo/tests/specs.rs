//! Spec translation: the three formats map to the same model, and bad specs are
//! refused with the file, SLO and field named.

use pharos_slo::model::{EventKind, Sli, TimeWindow};
use pharos_slo::{load_str, Slo};

fn errors(text: &str) -> Vec<String> {
    match load_str(text, "bad.yml") {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

fn one(text: &str) -> Slo {
    let mut v = load_str(text, "ok.yml").unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert_eq!(v.len(), 1);
    v.remove(0)
}

const SLOTH: &str = r#"
version: prometheus/v1
service: api
slos:
  - name: availability
    objective: 99.5
    sli:
      events:
        error_query: sum(rate(req{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(req[{{.window}}]))
    alerting:
      name: ApiAvailability
      page_alert: {disable: true}
"#;

const OPENSLO: &str = r#"
apiVersion: openslo/v1
kind: SLO
metadata: {name: availability}
spec:
  service: api
  budgetingMethod: Occurrences
  timeWindow: [{duration: 30d, isRolling: true}]
  indicator:
    metadata: {name: errors}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'sum(req{code=~"5.."})'}}}
        total: {metricSource: {type: Prometheus, spec: {query: sum(req)}}}
  objectives: [{target: 0.995}]
"#;

const PHAROS: &str = r#"
slos:
  - service: api
    name: availability
    objective: 99.5
    sli:
      bad_events: sum(rate(req{code=~"5.."}[{{.window}}]))
      total_events: sum(rate(req[{{.window}}]))
"#;

#[test]
fn the_three_formats_meet_in_one_model() {
    for text in [SLOTH, OPENSLO, PHAROS] {
        let s = one(text);
        assert_eq!(s.id(), "api-availability");
        assert_eq!(s.objective, 99.5);
        assert_eq!(s.window, TimeWindow::Rolling { days: 30 });
        match &s.sli {
            Sli::Events {
                kind,
                events,
                total,
            } => {
                assert_eq!(*kind, EventKind::Bad);
                assert_eq!(
                    events.render("5m").replace(' ', ""),
                    r#"sum(rate(req{code=~"5.."}[5m]))"#
                );
                assert_eq!(total.render("1h").replace(' ', ""), "sum(rate(req[1h]))");
            }
            other => panic!("{other:?}"),
        }
    }
    let sloth = one(SLOTH);
    assert!(sloth.alerting.page.disabled);
    assert_eq!(sloth.alerting.name.as_deref(), Some("ApiAvailability"));
    let groups = pharos_slo::generate(&[sloth]);
    let alerts: Vec<_> = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| r.alert.is_some())
        .collect();
    assert_eq!(alerts.len(), 1, "only the ticket alert");
    assert_eq!(alerts[0].labels["severity"], "ticket");
}

#[test]
fn pharos_shape_options() {
    let s = one(r#"
slos:
  - service: web
    name: latency
    objective: 99
    window: calendar-month
    sli:
      latency: {histogram: http_request_duration_seconds, matchers: 'job="web"', threshold: 0.25}
    alerting:
      page: {runbook: "https://runbooks/web", labels: {team: web}}
    budget_policy: {warning_below: 50, exhausted_below: 20}
    min_events: 100
    maintenance:
      - {start: "2026-03-01T02:00:00Z", end: "2026-03-01T04:00:00+00:00"}
"#);
    assert_eq!(s.window, TimeWindow::CalendarMonth);
    assert_eq!(s.policy.warning_below, 0.5);
    assert_eq!(s.policy.exhausted_below, 0.2);
    assert_eq!(s.min_events, 100);
    assert_eq!(s.maintenance[0].end - s.maintenance[0].start, 7_200);
    assert_eq!(
        s.alerting.page.runbook.as_deref(),
        Some("https://runbooks/web")
    );
    let text = pharos_slo::rule_file(&[s]);
    assert!(text.contains("runbook_url: \"https://runbooks/web\""));
    assert!(text.contains("slo:sli_error:ratio_rate30d"));
    assert!(text.contains("slo:sli_total:rate1h"));
    assert!(text.contains(r#"le=~"0\\.25""#), "{text}");
    assert!(text.contains("vector(time()) > 1772330400 < 1772337900"));
}

#[test]
fn sloth_plugins_are_refused() {
    let e = errors(
        r#"
version: prometheus/v1
service: api
slos:
  - name: availability
    objective: 99.9
    sli:
      plugin:
        id: sloth-common/kubernetes/apiserver/availability
"#,
    );
    assert_eq!(
        e,
        vec![
            r#"bad.yml: slo "availability": slos[0].sli.plugin: Sloth SLI plugins are not supported; use `events` or `raw`"#
        ]
    );
}

#[test]
fn errors_name_file_slo_and_field() {
    let e = errors(
        r#"
slos:
  - service: api
    name: availability
    objective: 99.9
    windw: 30d
    sli: {bad_events: "x[{{.window}}]", total_events: "y[{{.window}}]"}
"#,
    );
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(r#"bad.yml: slo "availability": slos[0]"#),
        "{e:?}"
    );
    assert!(e[0].contains("unknown field `windw`"), "{e:?}");

    let e = errors(
        r#"
slos:
  - service: api
    name: availability
    objective: 100
    sli: {bad_events: "sum(rate(x[5m]))", total_events: "y[{{.window}}]"}
"#,
    );
    assert_eq!(
        e,
        vec![
            r#"bad.yml: slo "availability": slos[0].sli.bad_events: must contain the {{.window}} placeholder (e.g. rate(x[{{.window}}]))"#
        ]
    );

    let e = errors(
        r#"
slos:
  - service: api
    name: availability
    objective: 100
    sli: {error_ratio: "rate(x[{{.window}}]) /"}
    min_events: 5
"#,
    );
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].starts_with(r#"bad.yml: slo "availability": objective: must be above 0"#));
    assert!(e[1].starts_with(r#"bad.yml: slo "availability": min_events: "#));
    assert!(e[2].starts_with(r#"bad.yml: slo "availability": sli.error_ratio: invalid PromQL"#));

    let e = errors(
        r#"
slos:
  - service: api
    name: a
    objective: 99
    window: 14d
    sli: {error_ratio: "x[{{.window}}]"}
"#,
    );
    assert!(
        e[0].contains("slos[0].window: unsupported window \"14d\""),
        "{e:?}"
    );
}

#[test]
fn openslo_refusals_are_clear() {
    let base = OPENSLO.to_string();
    let cases = [
        (
            "budgetingMethod: Occurrences",
            "budgetingMethod: Timeslices",
            "spec.budgetingMethod: \"Timeslices\" is not supported",
        ),
        (
            "[{duration: 30d, isRolling: true}]",
            "[{duration: 1Q, calendar: {startTime: '2020-01-01 00:00:00', timeZone: UTC}}]",
            "spec.timeWindow[0]: calendar window \"1Q\" is not supported",
        ),
        (
            "[{duration: 30d, isRolling: true}]",
            "[{duration: 2w, isRolling: true}]",
            "rolling window \"2w\" is not supported",
        ),
        (
            "{type: Prometheus, spec: {query: sum(req)}}",
            "{type: Datadog, spec: {query: sum(req)}}",
            "indicator.spec.ratioMetric.total.metricSource.type: metric source \"Datadog\" is not supported",
        ),
    ];
    for (from, to, want) in cases {
        let e = errors(&base.replace(from, to));
        assert!(
            e.len() == 1
                && e[0].contains(want)
                && e[0].starts_with("bad.yml: slo \"availability\": "),
            "{e:?}"
        );
    }
    let calendar = one(&base.replace(
        "[{duration: 30d, isRolling: true}]",
        "[{duration: 1M, calendar: {startTime: '2020-01-01 00:00:00', timeZone: UTC}}]",
    ));
    assert_eq!(calendar.window, TimeWindow::CalendarMonth);
    let e = errors("apiVersion: openslo/v2alpha\nkind: SLO\n");
    assert!(e[0].contains("unsupported OpenSLO version"), "{e:?}");
    let e = errors("foo: bar\n");
    assert!(e[0].contains("not an SLO spec"), "{e:?}");
    let e = errors(&format!("{PHAROS}---{PHAROS}"));
    assert!(
        e[0].contains("duplicate SLO id \"api-availability\""),
        "{e:?}"
    );
}

#[test]
fn pharos_yml_section() {
    let cfg: serde_yaml::Value = serde_yaml::from_str(PHAROS).unwrap();
    let slos = pharos_slo::load_config_section(&cfg["slos"], "pharos.yml").unwrap();
    assert_eq!(slos[0].id(), "api-availability");
    let bad: serde_yaml::Value = serde_yaml::from_str(&PHAROS.replace("99.5", "0")).unwrap();
    let e = pharos_slo::load_config_section(&bad["slos"], "pharos.yml").unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "pharos.yml: slo \"availability\": objective: must be above 0 and below 100 (percent), got 0"
    );
}
