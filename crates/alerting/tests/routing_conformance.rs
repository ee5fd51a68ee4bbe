//! Conformance runner for Alertmanager's routing-tree tests, transcribed as
//! data in `shared/conformance/alertmanager/routing-cases.yaml`: receivers,
//! effective options, route keys, walk order, route IDs, route labels and
//! amtool's CLI routing cases. Prints pass/total and fails on any miss.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pharos_alerting::{Config, PromDuration, Route, RouteConfig};
use serde_yaml::Value;

fn conformance_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/alertmanager"
    ))
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(m) = v.as_mapping() {
        for (k, v) in m {
            let val = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => String::new(),
            };
            out.insert(k.as_str().unwrap_or_default().to_string(), val);
        }
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn dur(v: &Value) -> std::time::Duration {
    PromDuration::parse(v.as_str().unwrap_or(""))
        .map(|d| d.as_duration())
        .unwrap_or_default()
}

fn tree_from(route_yaml: &str) -> Result<Route, String> {
    let cfg: RouteConfig = serde_yaml::from_str(route_yaml).map_err(|e| e.to_string())?;
    Route::from_config(&cfg).map_err(|e| format!("{e:?}"))
}

/// Compares one `expected` entry with a matched route's options.
fn check_opts(route: &Route, exp: &Value) -> Result<(), String> {
    let o = &route.opts;
    let want_recv = exp["receiver"].as_str().unwrap_or("");
    let want_gb = strings(&exp["group_by"]);
    let want_all = exp["group_by_all"].as_bool().unwrap_or(false);
    let got = (
        o.receiver.as_str(),
        &o.group_by,
        o.group_by_all,
        o.group_wait,
        o.group_interval,
        o.repeat_interval,
    );
    let want = (
        want_recv,
        &want_gb,
        want_all,
        dur(&exp["group_wait"]),
        dur(&exp["group_interval"]),
        dur(&exp["repeat_interval"]),
    );
    if got != want {
        return Err(format!("options: got {got:?}, want {want:?}"));
    }
    Ok(())
}

fn run_case(tree: &Route, case: &Value) -> Result<(), String> {
    let ls = labels(&case["labels"]);
    let matched = tree.match_labels(&ls);
    if let Some(exp) = case["expected"].as_sequence() {
        if matched.len() != exp.len() {
            let got: Vec<&str> = matched.iter().map(|r| r.opts.receiver.as_str()).collect();
            return Err(format!(
                "{} routes matched ({got:?}), want {}",
                matched.len(),
                exp.len()
            ));
        }
        for (r, e) in matched.iter().zip(exp) {
            check_opts(r, e)?;
        }
    }
    if case["keys"].is_sequence() {
        let want = strings(&case["keys"]);
        let got: Vec<String> = matched.iter().map(|r| r.key().to_string()).collect();
        if got != want {
            return Err(format!("keys: got {got:?}, want {want:?}"));
        }
    }
    if let Some(want) = case["expected_route_labels"].as_mapping() {
        let want = labels(&Value::Mapping(want.clone()));
        if matched.len() != 1 || matched[0].opts.labels != want {
            let got: Vec<_> = matched.iter().map(|r| &r.opts.labels).collect();
            return Err(format!("route labels: got {got:?}, want {want:?}"));
        }
    }
    if let Some(want) = case["debian_amtool_0_25_receivers"].as_str() {
        let got = tree.receivers(&ls).join(",");
        if got != want {
            return Err(format!(
                "amtool 0.25 cross-check: got {got:?}, want {want:?}"
            ));
        }
    }
    Ok(())
}

/// `TestInheritParentGroupByAll` states its expectation in prose; this is
/// that statement as code.
fn check_group_by_all_inheritance(tree: &Route) -> Result<(), String> {
    let parent = tree.routes.first().ok_or("no routes[0]")?;
    let (c1, c2) = (
        parent.routes.first().ok_or("no child 1")?,
        parent.routes.get(1).ok_or("no child 2")?,
    );
    let got = (
        parent.opts.group_by_all,
        c1.opts.group_by_all,
        c2.opts.group_by_all,
        c2.opts.group_by.clone(),
    );
    let want = (true, true, false, vec!["foo".to_string()]);
    if got != want {
        return Err(format!(
            "group_by_all inheritance: got {got:?}, want {want:?}"
        ));
    }
    Ok(())
}

#[test]
fn routing_conformance() {
    let dir = conformance_dir();
    let text = std::fs::read_to_string(dir.join("routing-cases.yaml"))
        .expect("routing-cases.yaml must exist under shared/conformance/alertmanager");
    let doc: Value = serde_yaml::from_str(&text).expect("routing-cases.yaml parses");
    let suites = doc["suites"].as_sequence().expect("suites list");
    let (mut pass, mut total) = (0usize, 0usize);
    let mut misses = Vec::new();
    let mut record = |name: String, r: Result<(), String>| {
        total += 1;
        match r {
            Ok(()) => pass += 1,
            Err(e) => misses.push(format!("{name}: {e}")),
        }
    };
    for suite in suites {
        let name = suite["upstream_test"].as_str().unwrap_or("?").to_string();
        let tree = suite["route"].as_str().map(tree_from);
        match (&tree, suite["cases"].as_sequence()) {
            (Some(Err(e)), _) => record(format!("{name} (tree)"), Err(e.clone())),
            (Some(Ok(t)), Some(cases)) => {
                for (i, c) in cases.iter().enumerate() {
                    record(
                        format!("{name}[{i}] {:?}", labels(&c["labels"])),
                        run_case(t, c),
                    );
                }
            }
            (None, Some(cases)) => {
                // CLI cases: whole config files, as amtool loads them.
                for (i, c) in cases.iter().enumerate() {
                    let file = dir.join(c["config_file"].as_str().unwrap_or(""));
                    let r = Config::load_file(&file)
                        .map_err(|e| e.to_string())
                        .and_then(|cfg| cfg.routing_tree().map_err(|e| e.to_string()))
                        .and_then(|t| {
                            let ls = labels(&c["labels"]);
                            let got: Vec<String> =
                                t.receivers(&ls).iter().map(|s| s.to_string()).collect();
                            let want = strings(&c["expected_receivers"]);
                            if got == want {
                                Ok(())
                            } else {
                                Err(format!("receivers: got {got:?}, want {want:?}"))
                            }
                        });
                    record(format!("{name}[{i}]"), r);
                }
            }
            _ => {}
        }
        if let (Some(Ok(t)), Some(want)) = (&tree, suite["walk_receivers_preorder"].as_sequence()) {
            let mut got = Vec::new();
            t.walk(&mut |r| got.push(r.opts.receiver.clone()));
            let want = strings(&Value::Sequence(want.clone()));
            let r = if got == want {
                Ok(())
            } else {
                Err(format!("walk: got {got:?}, want {want:?}"))
            };
            record(format!("{name} walk"), r);
        }
        if let (Some(Ok(t)), Some(want)) = (&tree, suite["route_ids_any_order"].as_sequence()) {
            let mut got = Vec::new();
            t.walk(&mut |r| got.push(r.id().to_string()));
            let mut want = strings(&Value::Sequence(want.clone()));
            got.sort();
            want.sort();
            let r = if got == want {
                Ok(())
            } else {
                Err(format!("ids: got {got:?}, want {want:?}"))
            };
            record(format!("{name} ids"), r);
        }
        if name == "TestInheritParentGroupByAll" {
            if let Some(Ok(t)) = &tree {
                record(name.clone(), check_group_by_all_inheritance(t));
            }
        }
    }
    println!("routing conformance: {pass}/{total} passed");
    for m in &misses {
        println!("  MISS {m}");
    }
    assert!(total > 0, "no routing cases found");
    assert!(
        misses.is_empty(),
        "{} of {total} routing cases failed:\n{}",
        misses.len(),
        misses.join("\n")
    );
}
