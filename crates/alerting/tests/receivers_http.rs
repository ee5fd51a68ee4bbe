//! HTTP integrations against a capturing server on loopback: exact bodies
//! (webhook bytes from Go's encoder, Slack / PagerDuty / OpsGenie field
//! sets and order from Alertmanager's notifier types), auth headers,
//! retryable versus permanent failures, and the link-local guard.

#[path = "receivers_support/mod.rs"]
mod support;

use pharos_alerting::notify::{Notifier, NotifyError};
use pharos_alerting::receivers::group_key_hash;
use pharos_alerting::receivers::webhook::WebhookNotifier;
use pharos_alerting::Config;
use support::*;

fn ok() -> Reply {
    Reply::new(200, "text/plain", "ok")
}

fn yaml(receivers: &str) -> String {
    format!("route:\n  receiver: team-x\nreceivers:\n- name: team-x\n{receivers}")
}

async fn send_one(cfg: &str, kind: &str, resolved: bool) -> Result<(), NotifyError> {
    let ints = integrations(cfg, "team-x");
    let i = ints.iter().find(|i| i.name == kind).expect("integration");
    i.notifier
        .notify(&ctx("team-x", kind, resolved), &alerts(resolved))
        .await
}

#[tokio::test]
async fn webhook_sends_alertmanagers_exact_json_with_basic_auth() {
    let sink = Sink::start(vec![ok()]);
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url: {}\n    http_config:\n      basic_auth: {{username: u, password: p}}\n      http_headers: {{X-Team: {{values: [infra]}}}}\n",
        sink.url("/hook")
    ));
    send_one(&cfg, "webhook", false).await.unwrap();
    let got = sink.taken();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("authorization"), Some("Basic dTpw"));
    assert_eq!(r.header("x-team"), Some("infra"));
    assert!(r.header("user-agent").unwrap().starts_with("Pharos/"));
    // Go's encoder output for the same group, receiver name aside.
    let want = with_fingerprints(&fixture("default_templates_firing.tsv")["webhook"])
        .replace("team\\\\.x", "team-x");
    assert_eq!(r.body, format!("{want}\n"));
}

#[tokio::test]
async fn webhook_resolved_payload_and_max_alerts() {
    let sink = Sink::start(vec![ok()]);
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url: {}\n    max_alerts: 1\n    http_config:\n      authorization: {{credentials: tok}}\n",
        sink.url("/hook")
    ));
    send_one(&cfg, "webhook", true).await.unwrap();
    let r = &sink.taken()[0];
    assert_eq!(r.header("authorization"), Some("Bearer tok"));
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["truncatedAlerts"], 1);
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(v["alerts"][0]["endsAt"], "2024-01-02T04:04:05Z");
    assert_eq!(v["groupKey"], GROUP_KEY);
}

#[tokio::test]
async fn webhook_custom_payload_and_body_template() {
    let sink = Sink::start(vec![ok()]);
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url: {}\n    payload:\n      text: '{{{{ .Status }}}}'\n      count: '{{{{ len .Alerts }}}}'\n      nested: ['{{{{ .GroupLabels.alertname }}}}']\n",
        sink.url("/p")
    ));
    send_one(&cfg, "webhook", false).await.unwrap();
    assert_eq!(
        sink.taken()[0].body,
        "{\"count\":2,\"nested\":[\"HighCPU\"],\"text\":\"firing\"}\n"
    );

    let parsed = Config::load(&cfg).unwrap();
    let wc = parsed.receivers[0].webhook_configs[0].clone().unwrap();
    let bad = WebhookNotifier::new(&wc, &options())
        .unwrap()
        .with_body_template("{{ .Status }} is not JSON");
    let err = bad
        .notify(&ctx("team-x", "webhook", false), &alerts(false))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("did not render valid JSON"),
        "{err}"
    );
    let good = WebhookNotifier::new(&wc, &options())
        .unwrap()
        .with_body_template("{\"s\": {{ .Status | toJson }}, \"n\": {{ len .Alerts }}}");
    good.notify(&ctx("team-x", "webhook", false), &alerts(false))
        .await
        .unwrap();
    let taken = sink.taken();
    assert_eq!(taken.len(), 2, "the bad body must not be sent");
    assert_eq!(taken[1].body, "{\"s\": \"firing\", \"n\": 2}");
}

#[tokio::test]
async fn webhook_body_template_from_config_is_the_body() {
    let sink = Sink::start(vec![ok()]);
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url: {}\n    body_template: '{{\"status\": {{{{ .Status | toJson }}}}, \"alerts\": [{{{{ range $i, $a := .Alerts }}}}{{{{ if $i }}}},{{{{ end }}}}{{{{ $a.Labels.instance | toJson }}}}{{{{ end }}}}], \"reason\": {{{{ .NotificationReason | toJson }}}}}}'\n",
        sink.url("/t")
    ));
    send_one(&cfg, "webhook", false).await.unwrap();
    let got = sink.taken();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/t");
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(
        got[0].body,
        "{\"status\": \"firing\", \"alerts\": [\"a:9100\",\"b:9100\"], \"reason\": \"unknown\"}"
    );
}

#[tokio::test]
async fn webhook_message_carries_reason_and_route_labels() {
    let sink = Sink::start(vec![ok()]);
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url: {}\n",
        sink.url("/r")
    ));
    let ints = integrations(&cfg, "team-x");
    let mut c = ctx("team-x", "webhook", false);
    c.notification_reason = "new alerts added".to_string();
    c.route_labels = [("team".to_string(), "db".to_string())]
        .into_iter()
        .collect();
    ints[0].notifier.notify(&c, &alerts(false)).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&sink.taken()[0].body).unwrap();
    assert_eq!(v["notification_reason"], "new alerts added");
    assert_eq!(v["routeLabels"], serde_json::json!({"team": "db"}));
}

#[tokio::test]
async fn failures_are_classified_as_alertmanager_does() {
    let sink = Sink::start(vec![
        Reply::new(500, "text/plain", "boom"),
        Reply::new(429, "text/plain", "slow down"),
        Reply::new(400, "text/plain", "bad"),
        Reply::new(404, "text/plain", ""),
        ok(),
    ]);
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url: {}\n",
        sink.url("/h")
    ));
    let e = send_one(&cfg, "webhook", false).await.unwrap_err();
    assert_eq!(
        e,
        NotifyError::Retryable("unexpected status code 500: boom".into())
    );
    let e = send_one(&cfg, "webhook", false).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let e = send_one(&cfg, "webhook", false).await.unwrap_err();
    assert_eq!(
        e,
        NotifyError::Permanent("unexpected status code 400: bad".into())
    );
    let e = send_one(&cfg, "webhook", false).await.unwrap_err();
    assert_eq!(
        e,
        NotifyError::Permanent("unexpected status code 404".into())
    );
    send_one(&cfg, "webhook", false).await.unwrap();

    // Nothing listening: a connection error, worth retrying.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url: http://127.0.0.1:{port}/x\n"
    ));
    let e = send_one(&cfg, "webhook", false).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
}

#[tokio::test]
async fn link_local_targets_and_redirects_are_refused() {
    let cfg = yaml("  webhook_configs:\n  - url: http://169.254.169.254/latest/meta-data\n");
    let e = send_one(&cfg, "webhook", false).await.unwrap_err();
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("link-local"), "{e}");
    let cfg = yaml("  webhook_configs:\n  - url: http://[fe80::1]:80/x\n");
    let e = send_one(&cfg, "webhook", false).await.unwrap_err();
    assert!(e.to_string().contains("link-local"), "{e}");

    let mut to_metadata = Reply::new(302, "text/plain", "");
    to_metadata
        .extra
        .push(("Location".into(), "http://169.254.169.254/latest".into()));
    let sink = Sink::start(vec![to_metadata]);
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url: {}\n",
        sink.url("/r")
    ));
    let e = send_one(&cfg, "webhook", false).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("link-local"), "{e}");

    // An ordinary redirect is followed, as with Alertmanager's default.
    let mut moved = Reply::new(307, "text/plain", "");
    moved.extra.push(("Location".into(), "/moved".into()));
    let sink = Sink::start(vec![moved, ok()]);
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url: {}\n",
        sink.url("/r")
    ));
    send_one(&cfg, "webhook", false).await.unwrap();
    let taken = sink.taken();
    assert_eq!(taken.len(), 2);
    assert_eq!(taken[1].path, "/moved");
}

#[tokio::test]
async fn slack_payload_matches_alertmanagers_fields() {
    let sink = Sink::start(vec![ok()]);
    let cfg = yaml(&format!(
        "  slack_configs:\n  - api_url: {}\n    channel: '#alerts'\n",
        sink.url("/services/T/B/X")
    ));
    send_one(&cfg, "slack", false).await.unwrap();
    let r = &sink.taken()[0];
    assert_eq!(r.path, "/services/T/B/X");
    let want = concat!(
        r##"{"channel":"#alerts","username":"Alertmanager","attachments":[{"##,
        r#""title":"[FIRING:2] HighCPU (node critical)","#,
        r#""title_link":"http://pharos:9700/#/alerts?receiver=team-x","#,
        r#""text":"","#,
        r#""fallback":"[FIRING:2] HighCPU (node critical) | http://pharos:9700/#/alerts?receiver=team-x","#,
        r#""callback_id":"","footer":"","color":"danger","mrkdwn_in":["fallback","pretext","text"]}]}"#,
        "\n"
    );
    assert_eq!(r.body, want);
}

#[tokio::test]
async fn slack_fields_actions_and_error_replies() {
    let sink = Sink::start(vec![
        Reply::new(
            200,
            "application/json",
            r#"{"ok":false,"error":"channel_not_found"}"#,
        ),
        Reply::new(200, "text/plain", "invalid_token"),
    ]);
    let cfg = yaml(&format!(
        concat!(
            "  slack_configs:\n  - api_url: {}\n    channel: '#c'\n    short_fields: true\n",
            "    icon_emoji: ':fire:'\n    link_names: true\n    text: '{{{{ .CommonAnnotations.summary }}}}'\n",
            "    fields: [{{title: sev, value: '{{{{ .CommonLabels.severity }}}}'}}, {{title: t, value: v, short: false}}]\n",
            "    actions: [{{type: button, text: Runbook, url: 'http://rb/{{{{ .GroupLabels.alertname }}}}'}}]\n"
        ),
        sink.url("/s")
    ));
    let e = send_one(&cfg, "slack", true).await.unwrap_err();
    assert_eq!(
        e,
        NotifyError::Permanent(
            "channel \"#c\": error response from Slack: channel_not_found".into()
        )
    );
    let e = send_one(&cfg, "slack", true).await.unwrap_err();
    assert!(e
        .to_string()
        .contains("received an error response from Slack: invalid_token"));
    let body = &sink.taken()[0].body;
    let want = concat!(
        r##"{"channel":"#c","username":"Alertmanager","icon_emoji":":fire:","link_names":true,"attachments":[{"##,
        r#""title":"[RESOLVED] HighCPU (node critical)","title_link":"http://pharos:9700/#/alerts?receiver=team-x","#,
        r#""text":"CPU high","fallback":"[RESOLVED] HighCPU (node critical) | http://pharos:9700/#/alerts?receiver=team-x","#,
        r#""callback_id":"","fields":[{"title":"sev","value":"critical","short":true},{"title":"t","value":"v","short":false}],"#,
        r#""actions":[{"type":"button","text":"Runbook","url":"http://rb/HighCPU"}],"#,
        r#""footer":"","color":"good","mrkdwn_in":["fallback","pretext","text"]}]}"#,
        "\n"
    );
    assert_eq!(body, want);
}

fn firing_details() -> String {
    let a = r#"{"annotations":{"summary":"CPU high"},"endsAt":"0001-01-01T00:00:00Z","fingerprint":"fp1","generatorURL":"http://prom/graph?g0.expr=up","labels":{"alertname":"HighCPU","instance":"a:9100","job":"node","severity":"critical"},"startsAt":"2024-01-02T03:04:05Z","status":"firing"}"#;
    let b = r#"{"annotations":{"description":"b is \u003chot\u003e","summary":"CPU high"},"endsAt":"0001-01-01T00:00:00Z","fingerprint":"fp2","generatorURL":"http://prom/graph?g0.expr=up","labels":{"alertname":"HighCPU","instance":"b:9100","job":"node","severity":"critical"},"startsAt":"2024-01-02T03:04:06.5Z","status":"firing"}"#;
    with_fingerprints(&format!("[{a},{b}]"))
}

#[tokio::test]
async fn pagerduty_events_v2_trigger_and_resolve() {
    let sink = Sink::start(vec![
        Reply::new(202, "application/json", r#"{"status":"success"}"#),
        Reply::new(202, "application/json", r#"{"status":"success"}"#),
        Reply::new(
            400,
            "application/json",
            r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect"]}"#,
        ),
        Reply::new(429, "application/json", "{}"),
    ]);
    let cfg = yaml(&format!(
        "  pagerduty_configs:\n  - routing_key: rk\n    url: {}\n    class: cpu\n    links: [{{href: 'http://rb', text: runbook}}, {{href: ''}}]\n",
        sink.url("/v2/enqueue")
    ));
    send_one(&cfg, "pagerduty", false).await.unwrap();
    send_one(&cfg, "pagerduty", true).await.unwrap();
    let hash = group_key_hash(GROUP_KEY);
    let taken = sink.taken();
    let want = format!(
        concat!(
            r#"{{"routing_key":"rk","dedup_key":"{hash}","event_action":"trigger","payload":{{"#,
            r#""summary":"[FIRING:2] HighCPU (node critical)","source":"Alertmanager","severity":"error","class":"cpu","#,
            r#""custom_details":{{"firing":{details},"num_firing":2,"num_resolved":0,"resolved":[]}}}},"#,
            r#""client":"Alertmanager","client_url":"http://pharos:9700/#/alerts?receiver=team-x","#,
            r#""links":[{{"href":"http://rb","text":"runbook"}}]}}"#,
            "\n"
        ),
        hash = hash,
        details = firing_details()
    );
    assert_eq!(taken[0].body, want);
    let resolved: serde_json::Value = serde_json::from_str(&taken[1].body).unwrap();
    assert_eq!(resolved["event_action"], "resolve");
    assert_eq!(resolved["dedup_key"], hash.as_str());
    assert_eq!(
        resolved["payload"]["summary"],
        "[RESOLVED] HighCPU (node critical)"
    );
    assert_eq!(resolved["payload"]["custom_details"]["num_resolved"], 2);
    assert_eq!(
        resolved["payload"]["custom_details"]["firing"],
        serde_json::json!([])
    );

    let e = send_one(&cfg, "pagerduty", false).await.unwrap_err();
    assert_eq!(
        e,
        NotifyError::Permanent(
            "unexpected status code 400: Event object is invalid: Length of 'routing_key' is incorrect".into()
        )
    );
    let e = send_one(&cfg, "pagerduty", false).await.unwrap_err();
    assert_eq!(
        e,
        NotifyError::Retryable("unexpected status code 429".into())
    );
}

#[tokio::test]
async fn pagerduty_summary_is_truncated_to_1024_characters() {
    let sink = Sink::start(vec![Reply::new(202, "application/json", "{}")]);
    let cfg = yaml(&format!(
        "  pagerduty_configs:\n  - routing_key: rk\n    url: {}\n    description: '{}'\n",
        sink.url("/e"),
        "é".repeat(1100)
    ));
    send_one(&cfg, "pagerduty", false).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&sink.taken()[0].body).unwrap();
    let s = v["payload"]["summary"].as_str().unwrap();
    assert_eq!(s.chars().count(), 1024);
    assert!(s.ends_with("é…"));
}

#[tokio::test]
async fn opsgenie_creates_then_closes_by_alias() {
    let sink = Sink::start(vec![Reply::new(202, "application/json", "{}")]);
    let cfg = yaml(&format!(
        concat!(
            "  opsgenie_configs:\n  - api_key: key\n    api_url: {}\n    tags: 'a, b'\n    priority: P1\n",
            "    note: n\n    responders: [{{name: ops, type: team}}, {{name: 'x,y', type: teams}}]\n",
            "    details: {{extra: '{{{{ .Status }}}}'}}\n"
        ),
        sink.url("/")
    ));
    send_one(&cfg, "opsgenie", false).await.unwrap();
    send_one(&cfg, "opsgenie", true).await.unwrap();
    let hash = group_key_hash(GROUP_KEY);
    let taken = sink.taken();
    assert_eq!(taken[0].path, "/v2/alerts");
    assert_eq!(taken[0].header("authorization"), Some("GenieKey key"));
    let fx = fixture("default_templates_firing.tsv");
    let description = serde_json::to_string(&fx["opsgenie.default.description"])
        .unwrap()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e");
    let want = format!(
        concat!(
            r#"{{"alias":"{hash}","message":"[FIRING:2] HighCPU (node critical)","description":{description},"#,
            r#""details":{{"alertname":"HighCPU","extra":"firing","job":"node","severity":"critical"}},"#,
            r#""source":"http://pharos:9700/#/alerts?receiver=team-x","#,
            r#""responders":[{{"name":"ops","type":"team"}},{{"name":"x","type":"team"}},{{"name":"y","type":"team"}}],"#,
            r#""tags":["a"," b"],"note":"n","priority":"P1"}}"#,
            "\n"
        ),
        hash = hash,
        description = description
    );
    assert_eq!(taken[0].body, want);
    assert_eq!(
        taken[1].path,
        format!("/v2/alerts/{hash}/close?identifierType=alias")
    );
    assert_eq!(
        taken[1].body,
        "{\"source\":\"http://pharos:9700/#/alerts?receiver=team-x\"}\n"
    );
}

#[tokio::test]
async fn opsgenie_message_truncation_and_update_alerts() {
    let sink = Sink::start(vec![Reply::new(202, "application/json", "{}")]);
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "  filekey\n").unwrap();
    let cfg = yaml(&format!(
        "  opsgenie_configs:\n  - api_key_file: {}\n    api_url: {}\n    message: '{}'\n    update_alerts: true\n",
        key_file.display(),
        sink.url("/"),
        "m".repeat(140)
    ));
    send_one(&cfg, "opsgenie", false).await.unwrap();
    let taken = sink.taken();
    assert_eq!(taken.len(), 3);
    let create: serde_json::Value = serde_json::from_str(&taken[0].body).unwrap();
    let msg = create["message"].as_str().unwrap();
    assert_eq!(msg, format!("{}…", "m".repeat(129)));
    assert_eq!(taken[0].header("authorization"), Some("GenieKey filekey"));
    let hash = group_key_hash(GROUP_KEY);
    assert_eq!(taken[1].method, "PUT");
    assert_eq!(
        taken[1].path,
        format!("/v2/alerts/{hash}/message?identifierType=alias")
    );
    assert_eq!(taken[1].body, format!("{{\"message\":\"{msg}\"}}\n"));
    assert_eq!(
        taken[2].path,
        format!("/v2/alerts/{hash}/description?identifierType=alias")
    );
}

#[tokio::test]
async fn proxy_url_files_and_timeouts() {
    // Through an HTTP proxy the request line carries the absolute URL.
    let proxy = Sink::start(vec![ok()]);
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("url");
    std::fs::write(
        &url_file,
        " http://hooks.example.invalid/{{ .GroupLabels.alertname }}\n",
    )
    .unwrap();
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url_file: {}\n    http_config:\n      proxy_url: {}\n",
        url_file.display(),
        proxy.url("")
    ));
    send_one(&cfg, "webhook", false).await.unwrap();
    assert_eq!(
        proxy.taken()[0].path,
        "http://hooks.example.invalid/HighCPU"
    );

    // Slack's URL from a file.
    let sink = Sink::start(vec![ok()]);
    let api_file = dir.path().join("slack");
    std::fs::write(&api_file, format!("{}\n", sink.url("/from-file"))).unwrap();
    let cfg = yaml(&format!(
        "  slack_configs:\n  - api_url_file: {}\n",
        api_file.display()
    ));
    send_one(&cfg, "slack", false).await.unwrap();
    assert_eq!(sink.taken()[0].path, "/from-file");

    // A server that never answers: the configured timeout ends the attempt,
    // which is worth retrying.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let cfg = yaml(&format!(
        "  webhook_configs:\n  - url: http://{addr}/slow\n    timeout: 300ms\n"
    ));
    let started = std::time::Instant::now();
    let e = send_one(&cfg, "webhook", false).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn payload_strings_that_read_as_yaml_become_structure() {
    let sink = Sink::start(vec![ok()]);
    let cfg = yaml(&format!(
        concat!(
            "  webhook_configs:\n  - url: {}\n    payload:\n",
            "      empty: '{{{{ \"\" }}}}'\n      num: '1.5'\n      flag: 'true'\n",
            "      '{{{{ .Status }}}}_key': '{{{{ .CommonLabels.job }}}}'\n",
            "      list: '{{{{ .Alerts.Firing | len }}}}'\n",
            "      obj: '{{{{ .CommonLabels | toJson }}}}'\n"
        ),
        sink.url("/p")
    ));
    send_one(&cfg, "webhook", false).await.unwrap();
    assert_eq!(
        sink.taken()[0].body,
        concat!(
            r#"{"empty":null,"firing_key":"node","flag":true,"list":2,"num":1.5,"#,
            r#""obj":{"alertname":"HighCPU","job":"node","severity":"critical"}}"#,
            "\n"
        )
    );
}

#[test]
fn unsupported_http_settings_are_refused_when_building() {
    let cfg = yaml(concat!(
        "  webhook_configs:\n  - url: http://127.0.0.1:1/x\n",
        "    http_config:\n      oauth2: {client_id: a, client_secret: b, token_url: 'http://t/'}\n"
    ));
    let parsed = Config::load(&cfg).unwrap();
    let err = pharos_alerting::receivers::build_receivers(&parsed, &options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "receiver \"team-x\": webhook[0]: http_config.oauth2 is not supported by Pharos"
    );
}
