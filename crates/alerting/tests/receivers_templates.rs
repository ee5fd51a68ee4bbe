//! Default notification templates and the template data model, checked
//! against output of Alertmanager's own `default.tmpl` run by Go's
//! `text/template` (fixtures made by `gen_default_templates.go`).

#[path = "receivers_support/mod.rs"]
mod support;

use pharos_alerting::notify_template::{NotificationData, Templates};
use pharos_alerting::receivers::webhook;
use support::*;

fn data(resolved: bool) -> NotificationData {
    let c = ctx("team.x", "webhook", resolved);
    NotificationData::new(
        "team.x",
        &c.group_labels,
        &alerts(resolved),
        c.now,
        "http://pharos:9700",
    )
}

fn check_defaults(resolved: bool, file: &str) {
    let fx = fixture(file);
    let d = data(resolved);
    let t = Templates::default();
    let r = t.renderer(&d, ctx("team.x", "x", resolved).now);
    let mut checked = 0;
    for (name, want) in &fx {
        let got = match name.as_str() {
            "webhook" => webhook::message(&d, GROUP_KEY, 0).encode(),
            "toJson" => r.text("{{ .Alerts.Firing | toJson }}").unwrap(),
            "email.default.html" => r.html("{{ template \"email.default.html\" . }}").unwrap(),
            "__text_alert_list" => r
                .text("{{ template \"__text_alert_list\" .Alerts }}")
                .unwrap(),
            n => r.text(&format!("{{{{ template \"{n}\" . }}}}")).unwrap(),
        };
        assert!(got == with_fingerprints(want), "{name} differs");
        checked += 1;
    }
    assert_eq!(checked, 15);
}

#[test]
fn default_templates_firing_group() {
    check_defaults(false, "default_templates_firing.tsv");
}

#[test]
fn default_templates_resolved_group() {
    check_defaults(true, "default_templates_resolved.tsv");
}

#[test]
fn kv_and_alert_methods() {
    let d = data(false);
    let t = Templates::default();
    let r = t.renderer(&d, ctx("team.x", "x", false).now);
    let out = r
        .text(concat!(
            "{{ .CommonLabels.Names | join \",\" }}|",
            "{{ .CommonLabels.Values.Join \"/\" }}|",
            "{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}|",
            "{{ (.CommonLabels.Remove (stringSlice \"job\")).Names | join \",\" }}|",
            "{{ len .Alerts.Firing }}/{{ len .Alerts.Resolved }}|",
            "{{ (index .Alerts 0).StartsAt }}|{{ (index .Alerts 0).EndsAt.IsZero }}|",
            "{{ .Receiver }}|{{ .ExternalURL }}|{{ .CommonAnnotations.summary }}|{{ .GroupLabels.missing }}."
        ))
        .unwrap();
    assert_eq!(
        out,
        "alertname,job,severity|HighCPU/node/critical|alertname=HighCPU;job=node;severity=critical;|\
         alertname,severity|2/0|2024-01-02 03:04:05 +0000 UTC|true|team\\.x|http://pharos:9700|CPU high|."
    );
}

#[test]
fn user_templates_load_from_globs_and_override_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.tmpl"),
        "{{ define \"slack.default.title\" }}custom {{ .Status }}{{ end }}\n{{ define \"mine\" }}{{ .GroupLabels.alertname }}!{{ end }}",
    )
    .unwrap();
    let glob = format!("{}/*.tmpl", dir.path().display());
    let none = format!("{}/nothing/*.tmpl", dir.path().display());
    let t = Templates::from_globs(&[glob, none]).unwrap();
    let d = data(false);
    let r = t.renderer(&d, ctx("team.x", "x", false).now);
    assert_eq!(
        r.text("{{ template \"slack.default.title\" . }}").unwrap(),
        "custom firing"
    );
    assert_eq!(r.text("{{ template \"mine\" . }}").unwrap(), "HighCPU!");
    // Defaults not overridden stay available.
    assert_eq!(
        r.text("{{ template \"__subject\" . }}").unwrap(),
        "[FIRING:2] HighCPU (node critical)"
    );

    std::fs::write(dir.path().join("b.tmpl"), "{{ define \"x\" }}{{ .Foo ").unwrap();
    let err = Templates::from_globs(&[format!("{}/b.tmpl", dir.path().display())]).unwrap_err();
    assert!(err.to_string().starts_with("template: b.tmpl:1:"), "{err}");
}

#[test]
fn email_html_default_renders_escaped() {
    let d = data(false);
    let t = Templates::default();
    let r = t.renderer(&d, ctx("team.x", "x", false).now);
    let html = r.html("{{ template \"email.default.html\" . }}").unwrap();
    assert!(
        html.contains("<title>[FIRING:2] HighCPU (node critical)</title>"),
        "{html}"
    );
    assert!(html.contains("description = b is &lt;hot&gt;"), "{html}");
    assert!(html.contains("[2] Firing"));
    assert!(!html.contains("Resolved</h3>"));
}
