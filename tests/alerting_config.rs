//! The alertmanager part of `pharos.yml` with the real binary: `pharos check config`
//! reports its errors with file, line and field path (inline or in a standalone file);
//! `/-/reload` applies a new one and refuses a bad one while the old one keeps running.

mod common;

use common::{client, get_json, run_pharos, Server};

#[test]
fn check_config_names_alertmanager_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let inline = tmp.path().join("inline.yml");
    std::fs::write(
        &inline,
        "self_scrape: false\nalertmanager:\n  route:\n    receiver: team\n    grop_by: [a]\n  receivers:\n    - name: team\n",
    )
    .unwrap();
    let out = run_pharos(&["check", "config", inline.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(":3:3: alertmanager.route: unknown field `grop_by`"),
        "{stderr}"
    );

    let semantic = tmp.path().join("semantic.yml");
    std::fs::write(
        &semantic,
        "alertmanager:\n  route:\n    receiver: nobody\n  receivers:\n    - name: team\n",
    )
    .unwrap();
    let out = run_pharos(&["check", "config", semantic.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":1:1: alertmanager: undefined receiver \"nobody\" used in route"),
        "{stderr}"
    );

    let both = tmp.path().join("both.yml");
    std::fs::write(
        &both,
        "alertmanager:\n  route:\n    receiver: a\n  receivers:\n    - name: a\nalertmanager_config_file: am.yml\n",
    )
    .unwrap();
    let out = run_pharos(&["check", "config", both.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":6:1: alertmanager_config_file: cannot be set together with alertmanager"),
        "{stderr}"
    );

    // A standalone file, relative to pharos.yml's directory.
    std::fs::write(
        tmp.path().join("am.yml"),
        "route:\n  receiver: a\nreceivers:\n  - name: b\n",
    )
    .unwrap();
    let file = tmp.path().join("file.yml");
    std::fs::write(&file, "alertmanager_config_file: am.yml\n").unwrap();
    let out = run_pharos(&["check", "config", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(":1:1: alertmanager_config_file: ")
            && stderr.contains("am.yml: undefined receiver \"a\" used in route"),
        "{stderr}"
    );
    std::fs::write(
        tmp.path().join("am.yml"),
        "route:\n  receiver: a\nreceivers:\n  - name: a\n",
    )
    .unwrap();
    let out = run_pharos(&["check", "config", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn reload_swaps_or_refuses_the_alertmanager_config() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("pharos.yml");
    let am = |name: &str| {
        format!("self_scrape: false\nalertmanager:\n  route:\n    receiver: {name}\n  receivers:\n    - name: {name}\n")
    };
    std::fs::write(&cfg, am("first")).unwrap();
    let server = Server::start(&tmp.path().join("data"), Some(&cfg));
    let http = client();
    let names = || -> Vec<String> {
        get_json(&http, &server.url("/api/v2/receivers"))
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(), ["first"]);

    std::fs::write(&cfg, am("second")).unwrap();
    let r = http.post(server.url("/-/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", server.logs());
    assert_eq!(names(), ["second"]);

    // A route to an undefined receiver: refused, the running config stays.
    std::fs::write(
        &cfg,
        "self_scrape: false\nalertmanager:\n  route:\n    receiver: ghost\n  receivers:\n    - name: second\n",
    )
    .unwrap();
    let r = http.post(server.url("/-/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let body = r.text().unwrap();
    assert!(body.contains("undefined receiver"), "{body}");
    assert_eq!(names(), ["second"]);
    server.stop();
}
