//! Differential test of config validation against Debian's amtool 0.25
//! (`amtool check-config`): tricky matcher spellings, legacy regexes, route
//! and time-interval mistakes and receiver checks. Accept/reject must agree
//! on every case; Alertmanager's error text must appear in Pharos's first
//! error, except for regex syntax errors (Go's and Rust's regex parsers word
//! them differently; only the `error parsing regexp:` prefix is compared).
//! Fails (does not skip) when amtool is missing.

use std::path::Path;
use std::process::Command;

use pharos_alerting::Config;

const AMTOOL: &str = "/usr/bin/amtool";

/// Cases whose error text legitimately differs from 0.25's, with the
/// reason; their verdicts must still agree.
const KNOWN_TEXT_DIFFERENCES: [(&str, &str); 3] = [
    (
        "unknown route field",
        "Go names its internal type (`config.plain`); Pharos names the field path, line and valid keys",
    ),
    ("slack no url", "wording of Alertmanager after 0.25 (app tokens), which Pharos follows"),
    ("inhibit bad equal", "wording of Alertmanager after 0.25, which Pharos follows"),
];

fn with_matcher(m: &str) -> String {
    format!(
        "route:\n  receiver: d\n  routes:\n  - matchers: ['{}']\nreceivers:\n- name: d\n",
        m.replace('\'', "''")
    )
}

fn with_route(extra: &str) -> String {
    format!("route:\n  receiver: d\n  routes:\n  - receiver: d\n{extra}receivers:\n- name: d\n")
}

fn with_interval(ti: &str) -> String {
    format!(
        "route:\n  receiver: d\n  routes:\n  - receiver: d\n    mute_time_intervals: [t]\ntime_intervals:\n- name: t\n  time_intervals:\n  - {ti}\nreceivers:\n- name: d\n"
    )
}

fn cases() -> Vec<(String, String)> {
    let matchers = [
        r#"foo="bar"#,
        r#"foo=bar""#,
        r#"foo="bar""#,
        r#"{foo="bar", baz!~"x.*"}"#,
        r#"foo=~"(bar""#,
        "foo bar",
        "-foo=bar",
        "foo:bar=baz",
        r#"foo="a,b""#,
        "foo=a,b=c,",
        "foo=a,,b=c",
        r#"foo="\"quoted\"""#,
        "foo=~~~",
        "",
        "{}",
        "foo!=",
        r#"foo=\\"#,
        r#"{foo="bar""#,
        r#"foo="bar"}"#,
        "föö=bar",
        r#"foo="bär""#,
        r#" foo = "bar" , "#,
        r#"foo=="x""#,
        r#"foo="a\nb\tc""#,
        "foo=~[",
        r#"a="1",b!~"2|3",c=~".+""#,
    ];
    let mut out: Vec<(String, String)> = matchers
        .iter()
        .map(|m| (format!("matchers {m:?}"), with_matcher(m)))
        .collect();
    let routes = [
        ("match_re bad regex", "    match_re: {foo: '(bar'}\n"),
        ("match_re null", "    match_re: {foo: }\n"),
        ("match bad name", "    match: {'foo-bar': x}\n"),
        ("match numeric value", "    match: {code: 500}\n"),
        ("group_by duplicate", "    group_by: [a, b, a]\n"),
        ("group_by wildcard", "    group_by: ['...']\n"),
        ("group_by invalid", "    group_by: ['a.b']\n"),
        ("zero group_interval", "    group_interval: 0s\n"),
        ("zero repeat_interval", "    repeat_interval: 0\n"),
        ("bad duration", "    group_wait: 5 minutes\n"),
        ("undefined receiver", "    routes: [{receiver: nobody}]\n"),
        ("undefined interval", "    active_time_intervals: [nope]\n"),
        ("unknown route field", "    recevier: d\n"),
    ];
    out.extend(routes.iter().map(|(n, r)| (n.to_string(), with_route(r))));
    let intervals = [
        "times: [{start_time: '09:00', end_time: '17:00'}]",
        "times: [{start_time: '17:00', end_time: '09:00'}]",
        "times: [{start_time: '09:00', end_time: '24:00'}]",
        "times: [{start_time: '9:00', end_time: '10:00'}]",
        "times: [{start_time: '09:00'}]",
        "weekdays: ['monday:friday', saturday]",
        "weekdays: ['friday:monday']",
        "weekdays: ['someday']",
        "days_of_month: ['1:5', '-3:-1']",
        "days_of_month: ['0']",
        "days_of_month: ['-3:5']",
        "days_of_month: ['10:-25']",
        "days_of_month: ['32']",
        "months: ['january:march', 'dec']",
        "months: ['march:january']",
        "years: ['2020:2030']",
        "years: ['2030:2020']",
        "location: Europe/Paris",
        "location: Mars/Phobos",
    ];
    out.extend(
        intervals
            .iter()
            .map(|t| (format!("interval {t}"), with_interval(t))),
    );
    let whole = [
        ("root continue", "route: {receiver: d, continue: true}\nreceivers: [{name: d}]\n"),
        ("root matchers", "route: {receiver: d, matchers: [a=b]}\nreceivers: [{name: d}]\n"),
        ("no root receiver", "route: {group_wait: 1s}\nreceivers: [{name: d}]\n"),
        ("duplicate receiver", "route: {receiver: d}\nreceivers: [{name: d}, {name: d}]\n"),
        ("email without to", "route: {receiver: d}\nreceivers: [{name: d, email_configs: [{from: a@b}]}]\n"),
        ("email no smarthost", "route: {receiver: d}\nreceivers: [{name: d, email_configs: [{to: a@b}]}]\n"),
        ("email ok", "global: {smtp_smarthost: 'h:25', smtp_from: a@b}\nroute: {receiver: d}\nreceivers: [{name: d, email_configs: [{to: a@b}]}]\n"),
        ("pagerduty no key", "route: {receiver: d}\nreceivers: [{name: d, pagerduty_configs: [{client: x}]}]\n"),
        ("slack no url", "route: {receiver: d}\nreceivers: [{name: d, slack_configs: [{channel: x}]}]\n"),
        ("slack bad scheme", "route: {receiver: d}\nreceivers: [{name: d, slack_configs: [{api_url: 'ftp://x/'}]}]\n"),
        ("opsgenie no key", "route: {receiver: d}\nreceivers: [{name: d, opsgenie_configs: [{message: x}]}]\n"),
        ("opsgenie bad responder", "route: {receiver: d}\nreceivers: [{name: d, opsgenie_configs: [{api_key: k, responders: [{id: x, type: robot}]}]}]\n"),
        ("webhook ok", "route: {receiver: d}\nreceivers: [{name: d, webhook_configs: [{url: 'http://h:1/x', max_alerts: 5}]}]\n"),
        ("webhook bad url", "route: {receiver: d}\nreceivers: [{name: d, webhook_configs: [{url: 'h:1/x'}]}]\n"),
        ("http both bearer", "route: {receiver: d}\nreceivers: [{name: d, webhook_configs: [{url: 'http://h/', http_config: {bearer_token: a, bearer_token_file: b}}]}]\n"),
        ("inhibit bad equal", "route: {receiver: d}\nreceivers: [{name: d}]\ninhibit_rules: [{source_matchers: [a=b], target_matchers: [c=d], equal: ['x-y']}]\n"),
        ("inhibit ok", "route: {receiver: d}\nreceivers: [{name: d}]\ninhibit_rules: [{source_match: {a: b}, target_match_re: {c: 'd|e'}, equal: [x]}]\n"),
        ("global smarthost no port", "global: {smtp_smarthost: 'mail'}\nroute: {receiver: d}\nreceivers: [{name: d}]\n"),
        ("mute interval duplicate", "route: {receiver: d}\nreceivers: [{name: d}]\nmute_time_intervals: [{name: a}, {name: a}]\n"),
    ];
    out.extend(whole.iter().map(|(n, y)| (n.to_string(), y.to_string())));
    out
}

/// `Ok(())` or `Err(message)` from `amtool check-config`.
fn amtool_check(path: &Path) -> Result<(), String> {
    let out = Command::new(AMTOOL)
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("running {AMTOOL}: {e}"));
    if out.status.success() {
        return Ok(());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let msg = stdout
        .split_once("FAILED: ")
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| stdout.trim().to_string());
    Err(msg)
}

#[test]
fn check_config_agrees_with_amtool_0_25() {
    assert!(
        Path::new(AMTOOL).exists(),
        "{AMTOOL} not found: install Debian's amtool with `apt-get install prometheus-alertmanager`"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut verdicts, mut texts, mut text_total, mut total) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    let mut known_diffs = Vec::new();
    for (i, (name, yaml)) in cases().into_iter().enumerate() {
        let path = dir.path().join(format!("check-{i:02}.yml"));
        std::fs::write(&path, &yaml).expect("write");
        let theirs = amtool_check(&path);
        let ours = Config::load(&yaml)
            .map(|_| ())
            .map_err(|e| e.first_message());
        total += 1;
        match (&ours, &theirs) {
            (Ok(()), Ok(())) => verdicts += 1,
            (Err(o), Err(t)) => {
                verdicts += 1;
                text_total += 1;
                let same = if t.starts_with("error parsing regexp:") {
                    o.contains("error parsing regexp:")
                } else {
                    o.contains(t.as_str())
                };
                let known = KNOWN_TEXT_DIFFERENCES.iter().find(|(n, _)| *n == name);
                if same {
                    texts += 1;
                } else if let Some((_, why)) = known {
                    known_diffs.push(format!(
                        "{name}: {why}\n      pharos {o:?}\n      amtool {t:?}"
                    ));
                } else {
                    misses.push(format!("{name}: text differs: pharos {o:?}, amtool {t:?}"));
                }
            }
            _ => misses.push(format!("{name}: pharos {ours:?}, amtool {theirs:?}")),
        }
    }
    println!("amtool 0.25 check-config differential: {verdicts}/{total} verdicts agree, {texts}/{text_total} error texts agree");
    for k in &known_diffs {
        println!("  known text difference, {k}");
    }
    for m in &misses {
        println!("  MISS {m}");
    }
    assert!(
        misses.is_empty(),
        "{} disagreements:\n{}",
        misses.len(),
        misses.join("\n")
    );
}
