//! The documented Sloth and OpenSLO specs under `tests/data/` load, produce the
//! expected rules, and give rule files that Pharos's parser and promtool accept.

mod common;

use std::path::Path;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

const SLI_30D: [&str; 8] = [
    "slo:sli_error:ratio_rate5m",
    "slo:sli_error:ratio_rate30m",
    "slo:sli_error:ratio_rate1h",
    "slo:sli_error:ratio_rate2h",
    "slo:sli_error:ratio_rate6h",
    "slo:sli_error:ratio_rate1d",
    "slo:sli_error:ratio_rate3d",
    "slo:sli_error:ratio_rate30d",
];

const META: [&str; 7] = [
    "slo:objective:ratio",
    "slo:error_budget:ratio",
    "slo:time_period:days",
    "slo:current_burn_rate:ratio",
    "slo:period_burn_rate:ratio",
    "slo:period_error_budget_remaining:ratio",
    "slo_info",
];

fn expected(period: &str, alerts: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = SLI_30D[..7].iter().map(|s| s.to_string()).collect();
    v.push(format!("slo:sli_error:ratio_rate{period}"));
    v.extend(META.iter().map(|s| s.to_string()));
    v.extend(alerts.iter().map(|s| s.to_string()));
    v
}

fn check(file: &str) -> (Vec<pharos_slo::Slo>, Vec<String>) {
    let path = data(file);
    let slos = pharos_slo::load_file(&path).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let text = pharos_slo::rule_file(&slos);
    let names = common::parse_rules(&text);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rules.yml");
    std::fs::write(&out, &text).unwrap();
    common::promtool_check(&out);
    (slos, names)
}

#[test]
fn sloth_getting_started() {
    let (slos, names) = check("sloth-getting-started.yml");
    assert_eq!(slos.len(), 1);
    let s = &slos[0];
    assert_eq!(s.id(), "myservice-requests-availability");
    assert_eq!(s.objective, 99.9);
    assert_eq!(s.labels["tier"], "2");
    assert_eq!(
        names,
        expected("30d", &["MyServiceHighErrorRate", "MyServiceHighErrorRate"])
    );
    assert_eq!(SLI_30D.to_vec(), names[..8].to_vec());
}

#[test]
fn sloth_raw_sli() {
    let (slos, names) = check("sloth-raw-home-wifi.yml");
    assert!(matches!(slos[0].sli, pharos_slo::model::Sli::Raw { .. }));
    assert_eq!(
        names,
        expected("30d", &["WifiClientSatisfaction", "WifiClientSatisfaction"])
    );
}

#[test]
fn openslo_ratio_with_indicator_ref() {
    let (slos, names) = check("openslo-ratio.yaml");
    assert_eq!(slos.len(), 1);
    let s = &slos[0];
    assert_eq!(s.id(), "foo-foo-slo");
    assert_eq!(s.objective, 98.0);
    assert_eq!(
        s.window,
        pharos_slo::model::TimeWindow::Rolling { days: 28 }
    );
    assert_eq!(
        names,
        expected("28d", &["FooFooSloBudgetBurn", "FooFooSloBudgetBurn"])
    );
}

#[test]
fn openslo_threshold_metric_is_latency() {
    let (slos, names) = check("openslo-latency.yaml");
    let s = &slos[0];
    assert_eq!(s.id(), "web-shop-search-slo");
    assert_eq!(s.objective, 99.0);
    match &s.sli {
        pharos_slo::model::Sli::Events { events, total, .. } => {
            assert!(events
                .0
                .contains("search_duration_milliseconds_bucket{job=\"web-shop\",le=~"));
            assert!(total
                .0
                .contains("search_duration_milliseconds_count{job=\"web-shop\"}"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        names,
        expected(
            "7d",
            &["WebShopSearchSloBudgetBurn", "WebShopSearchSloBudgetBurn"]
        )
    );
}
