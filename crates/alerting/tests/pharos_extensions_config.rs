//! Pharos's extensions to alertmanager.yml: a webhook `body_template:` and
//! the per-receiver `pharos_page_budget:` / `pharos_flapping:` settings,
//! each checked at load.

use std::time::Duration;

use pharos_alerting::dispatch::fatigue::{from_config, Budget, Flapping};
use pharos_alerting::Config;

fn receiver(body: &str) -> String {
    format!("route:\n  receiver: r\nreceivers:\n- name: r\n{body}")
}

fn errors(yaml: &str) -> String {
    match Config::load(yaml) {
        Ok(_) => panic!("config should be rejected:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn webhook_body_template_is_loaded_and_checked() {
    let ok = receiver(
        "  webhook_configs:\n  - url: http://h/x\n    body_template: '{\"s\": {{ .Status | toJson }}}'\n",
    );
    let cfg = Config::load(&ok).unwrap();
    let wc = cfg.receivers[0].webhook_configs[0].clone().unwrap();
    assert_eq!(
        wc.body_template.as_deref(),
        Some("{\"s\": {{ .Status | toJson }}}")
    );

    let both = receiver(
        "  webhook_configs:\n  - url: http://h/x\n    payload: {a: b}\n    body_template: '{}'\n",
    );
    assert!(
        errors(&both).contains("at most one of payload & body_template must be configured"),
        "{}",
        errors(&both)
    );

    let unclosed = receiver(
        "  webhook_configs:\n  - url: http://h/x\n    body_template: '{\"s\": {{ .Status }'\n",
    );
    assert!(
        errors(&unclosed).contains("invalid template syntax"),
        "{}",
        errors(&unclosed)
    );
    let unknown_fn = receiver(
        "  webhook_configs:\n  - url: http://h/x\n    body_template: '{{ nosuchfunc .Status }}'\n",
    );
    assert!(
        errors(&unknown_fn).contains("\"nosuchfunc\" not defined"),
        "{}",
        errors(&unknown_fn)
    );
}

#[test]
fn fatigue_settings_are_per_receiver_and_strict() {
    let yaml = receiver(
        "  pharos_page_budget: {max_notifications: 5, per: 1h}\n  pharos_flapping: {max_changes: 4, window: 30m}\n",
    );
    let cfg = Config::load(&yaml).unwrap();
    let f = from_config(&cfg);
    assert_eq!(
        f["r"].budget,
        Some(Budget {
            max: 5,
            per: Duration::from_secs(3600)
        })
    );
    assert_eq!(
        f["r"].flapping,
        Some(Flapping {
            max_changes: 4,
            window: Duration::from_secs(1800)
        })
    );
    // Absent settings: nothing configured, and nothing printed back.
    let plain = Config::load(&receiver("  webhook_configs: [{url: http://h/x}]\n")).unwrap();
    assert!(from_config(&plain).is_empty());
    assert!(!serde_yaml::to_string(&plain).unwrap().contains("pharos_"));

    let unknown = receiver("  pharos_page_budget: {max_notifications: 5, per: 1h, burst: 2}\n");
    assert!(
        errors(&unknown).contains("unknown field `burst`"),
        "{}",
        errors(&unknown)
    );
    let zero = receiver("  pharos_page_budget: {max_notifications: 0, per: 0s}\n");
    let e = errors(&zero);
    assert!(e.contains("max_notifications must be at least 1"), "{e}");
    assert!(e.contains("per must be greater than zero"), "{e}");
    let bad = receiver("  pharos_flapping: {max_changes: 0, window: 0s}\n");
    let e = errors(&bad);
    assert!(e.contains("max_changes must be at least 1"), "{e}");
    assert!(e.contains("window must be greater than zero"), "{e}");
    let missing = receiver("  pharos_flapping: {max_changes: 3}\n");
    assert!(
        errors(&missing).contains("missing field `window`"),
        "{}",
        errors(&missing)
    );
}
