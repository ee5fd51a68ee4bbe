//! Config loading: defaults, inheritance, secrets, unsupported parts.

use super::*;

fn load(y: &str) -> Config {
    Config::load(y).unwrap_or_else(|e| panic!("{e}"))
}

fn first_err(y: &str) -> String {
    Config::load(y).unwrap_err().first_message()
}

#[test]
fn globals_are_inherited() {
    let c = load(
        r#"
global:
  smtp_smarthost: 'mail:25'
  smtp_from: 'am@example.org'
  smtp_auth_password: pw
  slack_api_url: https://hooks.slack.com/services/T/B/X
  opsgenie_api_key: ogkey
  opsgenie_api_url: https://api.eu.opsgenie.com
  http_config:
    proxy_url: http://proxy:3128
route: {receiver: r}
receivers:
- name: r
  email_configs: [{to: a@b.c}]
  slack_configs: [{channel: '#x'}]
  opsgenie_configs: [{}]
  pagerduty_configs: [{routing_key: k}]
  webhook_configs: [{url: 'http://hook:9/'}]
"#,
    );
    let r = c.receiver("r").unwrap();
    let e = r.email_configs[0].as_ref().unwrap();
    assert_eq!(e.smarthost.to_string(), "mail:25");
    assert_eq!(e.from, "am@example.org");
    assert_eq!(e.hello, "localhost");
    assert_eq!(e.auth_password.expose(), "pw");
    assert_eq!(e.require_tls, Some(true));
    assert!(!e.send_resolved);
    let s = r.slack_configs[0].as_ref().unwrap();
    assert!(s.api_url.is_some());
    assert_eq!(s.title, "{{ template \"slack.default.title\" . }}");
    let o = r.opsgenie_configs[0].as_ref().unwrap();
    assert_eq!(o.api_key.expose(), "ogkey");
    assert_eq!(
        o.api_url.as_ref().unwrap().as_str(),
        "https://api.eu.opsgenie.com/"
    );
    assert!(o.send_resolved);
    let p = r.pagerduty_configs[0].as_ref().unwrap();
    assert_eq!(
        p.url.as_ref().unwrap().as_str(),
        "https://events.pagerduty.com/v2/enqueue"
    );
    assert!(p.details.contains_key("num_firing"));
    let w = r.webhook_configs[0].as_ref().unwrap();
    assert!(w.send_resolved);
    assert_eq!(
        w.http_config
            .as_ref()
            .unwrap()
            .proxy_url
            .as_ref()
            .unwrap()
            .0,
        "http://proxy:3128"
    );
    assert_eq!(r.labels.as_ref().unwrap()["name"], "r");
}

#[test]
fn secrets_never_printed() {
    let c = load(
        r#"
global:
  smtp_auth_password: s3cr3t-smtp
  slack_api_url: https://hooks.slack.com/services/s3cr3t-slack
route: {receiver: r}
receivers:
- name: r
  pagerduty_configs: [{routing_key: s3cr3t-pd}]
  webhook_configs:
  - url: http://hook/s3cr3t-hook
    http_config: {basic_auth: {username: u, password: s3cr3t-basic}}
  opsgenie_configs: [{api_key: s3cr3t-og}]
"#,
    );
    for out in [c.to_string(), format!("{c:?}")] {
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(out.contains("<secret>"));
    }
}

#[test]
fn alertmanager_messages() {
    let base = "route: {receiver: r}\nreceivers:\n- name: r\n";
    assert_eq!(
        first_err(&format!("{base}  email_configs: [{{from: x}}]")),
        "missing to address in email config"
    );
    assert_eq!(
        first_err(&format!("{base}  email_configs: [{{to: x}}]")),
        "no global SMTP smarthost set"
    );
    assert_eq!(
        first_err(&format!(
            "{base}  webhook_configs: [{{url: 'http://a/', url_file: f}}]"
        )),
        "at most one of url & url_file must be configured"
    );
    assert_eq!(
        first_err(&format!("{base}  pagerduty_configs: [{{client: x}}]")),
        "missing service or routing key in PagerDuty config"
    );
    assert_eq!(
        first_err(&format!(
            "{base}  opsgenie_configs: [{{api_key: a, api_key_file: b}}]"
        )),
        "at most one of api_key & api_key_file must be configured"
    );
    assert_eq!(
        first_err("route: {receiver: x}\nreceivers: [{name: y}]"),
        "undefined receiver \"x\" used in route"
    );
    assert!(
        first_err(&format!("{base}  victorops_configs: [{{api_key: k}}]"))
            .contains("not supported by Pharos")
    );
    let typo = first_err(&format!("{base}  webhok_configs: []"));
    assert!(
        typo.contains("unknown field `webhok_configs`") && typo.contains("line 4"),
        "{typo}"
    );
    let e = Config::load("route: {receiver: r, grup_by: [a]}\nreceivers: [{name: r}]").unwrap_err();
    assert!(
        matches!(e, ConfigError::Yaml { line: Some(1), .. }),
        "{e:?}"
    );
}

#[test]
fn all_errors_are_listed() {
    let e = Config::load(
        "route:\n  receiver: x\n  continue: true\n  routes: [{receiver: y, group_interval: 0s}]\nreceivers: [{name: a}, {name: a}]",
    )
    .unwrap_err();
    let ConfigError::Invalid(v) = e else {
        panic!("{e}")
    };
    let texts: Vec<String> = v.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        texts,
        [
            "group_interval cannot be zero",
            "notification config name \"a\" is not unique",
            "undefined receiver \"y\" used in route",
            "undefined receiver \"x\" used in route",
            "cannot have continue in root route",
        ]
    );
}

#[test]
fn explicit_nulls_read_as_zero_values() {
    // Go's YAML decoder gives zero values for `key:` with nothing after it.
    let c = load(
        "global:\n  smtp_hello:\n  http_config:\nroute:\n  receiver: r\n  group_by:\n  routes:\n  continue:\nreceivers:\n- name: r\n  webhook_configs:\n  - url: http://h/\n    send_resolved:\n    max_alerts:\n  email_configs:\ninhibit_rules:\ntemplates:\n",
    );
    assert_eq!(c.global.smtp_hello, "");
    let w = c.receivers[0].webhook_configs[0].as_ref().unwrap();
    assert!(!w.send_resolved);
    assert_eq!(w.max_alerts, 0);
    assert!(c.route.routes.is_empty() && c.route.group_by.is_none());
}

#[test]
fn scalars_keep_their_source_text() {
    // Checked against amtool 0.25: `continue: yes` is true and match values
    // keep their spelling.
    let c = load(
        "route:\n  receiver: r\n  routes:\n  - receiver: s\n    continue: yes\n    match: {a: True, b: 010, c: 1e3, d: on, e: 0x1F, h: ~}\nreceivers: [{name: r}, {name: s}]\n",
    );
    let child = &c.route.routes[0];
    assert!(child.continue_matching);
    let m = child.match_eq.as_ref().unwrap();
    let got: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        got,
        [
            ("a", "True"),
            ("b", "010"),
            ("c", "1e3"),
            ("d", "on"),
            ("e", "0x1F"),
            ("h", "")
        ]
    );
    assert!(Config::load("route: {receiver: r, continue: maybe}\nreceivers: [{name: r}]").is_err());
    let c = load(
        "route: {receiver: r}\nreceivers:\n- name: r\n  webhook_configs: [{url: 'http://h/', send_resolved: False, max_alerts: 3}]\n  email_configs: [{to: 1, hello: 010, smarthost: 'h:25', from: x, require_tls: no}]\n",
    );
    let r = &c.receivers[0];
    assert!(!r.webhook_configs[0].as_ref().unwrap().send_resolved);
    let e = r.email_configs[0].as_ref().unwrap();
    assert_eq!(
        (e.to.as_str(), e.hello.as_str(), e.require_tls),
        ("1", "010", Some(false))
    );
}

#[test]
fn load_file_resolves_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("am.yml");
    std::fs::write(
        &path,
        "templates: ['t/*.tmpl', '/abs/*.tmpl']\nroute: {receiver: r}\nreceivers:\n- name: r\n  webhook_configs:\n  - url: http://h/\n    http_config: {bearer_token_file: tok, tls_config: {ca_file: /etc/ca.pem}}\n",
    )
    .unwrap();
    let c = Config::load_file(&path).unwrap();
    let base = dir.path().display().to_string();
    assert_eq!(
        c.templates,
        [format!("{base}/t/*.tmpl"), "/abs/*.tmpl".to_string()]
    );
    let h = c.receivers[0].webhook_configs[0]
        .as_ref()
        .unwrap()
        .http_config
        .as_ref()
        .unwrap();
    assert_eq!(
        h.authorization.as_ref().unwrap().credentials_file,
        format!("{base}/tok")
    );
    assert_eq!(h.tls_config.ca_file, "/etc/ca.pem");
    let missing = Config::load_file(dir.path().join("nope.yml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Io { .. }));
}
