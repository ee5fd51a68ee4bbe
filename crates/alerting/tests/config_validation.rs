//! Conformance runner over Alertmanager's config-validation cases
//! (`shared/conformance/alertmanager/config-validation-cases.yaml` and the
//! fixtures in `config-testdata/`). Scores the accept/reject verdict for
//! every case that uses only what Pharos supports; cases that need an
//! unsupported integration or section are counted apart and listed (Pharos
//! must refuse those with a "not supported" message). Also reports how many
//! error texts agree with upstream's, as a secondary score.

use std::path::PathBuf;

use pharos_alerting::config::{UNSUPPORTED_INTEGRATIONS, UNSUPPORTED_SECTIONS};
use pharos_alerting::Config;
use serde_yaml::Value;

fn conformance_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/alertmanager"
    ))
}

/// Names the unsupported parts a config uses, if any.
fn unsupported_parts(text: &str) -> Vec<String> {
    let Ok(doc) = serde_yaml::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(m) = doc.as_mapping() {
        for k in m.keys().filter_map(Value::as_str) {
            if UNSUPPORTED_SECTIONS.contains(&k) {
                out.push(k.to_string());
            }
        }
    }
    for r in doc["receivers"].as_sequence().into_iter().flatten() {
        for k in r
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.keys())
            .filter_map(Value::as_str)
        {
            if UNSUPPORTED_INTEGRATIONS.contains(&k) && !out.iter().any(|o| o == k) {
                out.push(k.to_string());
            }
        }
    }
    out
}

#[test]
fn config_validation_conformance() {
    let dir = conformance_dir();
    let text = std::fs::read_to_string(dir.join("config-validation-cases.yaml"))
        .expect("config-validation-cases.yaml must exist under shared/conformance/alertmanager");
    let doc: Value = serde_yaml::from_str(&text).expect("cases parse");
    let cases = doc["cases"].as_sequence().expect("cases list");
    let (mut pass, mut total, mut msg_same, mut msg_total) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    let mut msg_misses = Vec::new();
    let mut unsupported = Vec::new();
    for case in cases {
        let id = case["id"].as_str().unwrap_or("?");
        let test = case["upstream_test"].as_str().unwrap_or("?");
        let (config, result) = match (case["config"].as_str(), case["file"].as_str()) {
            (Some(c), _) => (c.to_string(), Config::load(c)),
            (None, Some(f)) => {
                let path = dir.join(f);
                let c = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{id}: {path:?}: {e}"));
                (c, Config::load_file(&path))
            }
            _ => panic!("{id}: neither config nor file"),
        };
        let expect_ok = case["expect"].as_str() == Some("ok");
        let parts = unsupported_parts(&config);
        if !parts.is_empty() {
            let refused_clearly = match &result {
                Err(e) => e.to_string().contains("not supported by Pharos"),
                Ok(_) => false,
            };
            unsupported.push(format!(
                "{id} {test} [{}] upstream={} pharos={}",
                parts.join(","),
                if expect_ok { "ok" } else { "error" },
                if refused_clearly {
                    "refused as unsupported"
                } else {
                    "NOT refused as unsupported"
                }
            ));
            assert!(
                refused_clearly,
                "{id}: a config using {parts:?} must be refused as unsupported, got {result:?}"
            );
            continue;
        }
        total += 1;
        match (&result, expect_ok) {
            (Ok(_), true) => pass += 1,
            (Err(e), false) => {
                pass += 1;
                let want = case["error"].as_str().unwrap_or("");
                let got = e.first_message();
                let same = match case["error_match"].as_str() {
                    Some("contains") => got.contains(want),
                    _ => got == want,
                };
                msg_total += 1;
                if same {
                    msg_same += 1;
                } else {
                    msg_misses.push(format!("{id} {test}: got {got:?}, upstream {want:?}"));
                }
            }
            (Ok(_), false) => misses.push(format!(
                "{id} {test}: accepted, upstream rejects with {:?}",
                case["error"].as_str().unwrap_or("")
            )),
            (Err(e), true) => misses.push(format!("{id} {test}: rejected ({e}), upstream accepts")),
        }
    }
    println!("config validation (supported integrations): {pass}/{total} verdicts agree");
    println!("  error texts equal to upstream: {msg_same}/{msg_total}");
    for m in &msg_misses {
        println!("    text differs: {m}");
    }
    println!(
        "  cases needing unsupported parts (counted apart): {}",
        unsupported.len()
    );
    for u in &unsupported {
        println!("    {u}");
    }
    for m in &misses {
        println!("  MISS {m}");
    }
    assert!(total > 0, "no cases found");
    assert!(
        misses.is_empty(),
        "{} of {total} verdicts differ:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

/// `TestHideConfigSecrets` uses conf.good.yml, which includes two
/// unsupported receivers; with those removed the rest must load and must
/// not reveal any secret when printed.
#[test]
fn good_config_hides_secrets() {
    let path = conformance_dir().join("config-testdata/conf.good.yml");
    let text = std::fs::read_to_string(&path).expect("conf.good.yml");
    let mut doc: Value = serde_yaml::from_str(&text).expect("yaml");
    let receivers = doc["receivers"].as_sequence_mut().expect("receivers");
    receivers.retain(|r| {
        !r.as_mapping()
            .into_iter()
            .flat_map(|m| m.keys())
            .filter_map(Value::as_str)
            .any(|k| UNSUPPORTED_INTEGRATIONS.contains(&k))
    });
    let cfg = Config::load(&serde_yaml::to_string(&doc).expect("yaml"))
        .expect("supported part of conf.good.yml loads");
    for shown in [cfg.to_string(), format!("{cfg:?}")] {
        assert!(!shown.contains("mysecret"), "secret leaked:\n{shown}");
        assert!(shown.contains("<secret>"));
    }
    let r = cfg.receiver("team-X-pager").expect("receiver");
    assert_eq!(
        r.pagerduty_configs[0]
            .as_ref()
            .map(|p| p.routing_key.expose()),
        Some("mysecret")
    );
}
