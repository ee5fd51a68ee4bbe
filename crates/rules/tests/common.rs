//! Shared by the conformance runners: where the upstream fixtures and expectations live.

#![allow(dead_code)]

use std::path::PathBuf;

pub fn rules_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/prometheus-rules"
    ))
}

/// The expectations file as a YAML tree.
pub fn expectations() -> pharos_rules::yaml::Node {
    let text = std::fs::read_to_string(rules_dir().join("expectations.yaml"))
        .expect("expectations.yaml is readable");
    pharos_rules::yaml::load(&text)
        .expect("expectations.yaml parses")
        .remove(0)
}

/// Field `name` of a mapping node.
pub fn field<'a>(
    n: &'a pharos_rules::yaml::Node,
    name: &str,
) -> Option<&'a pharos_rules::yaml::Node> {
    match &n.kind {
        pharos_rules::yaml::Kind::Map(m) => m
            .iter()
            .find(|(k, _)| matches!(&k.kind, pharos_rules::yaml::Kind::Scalar(s, _) if s == name))
            .map(|(_, v)| v),
        _ => None,
    }
}

pub fn text(n: Option<&pharos_rules::yaml::Node>) -> Option<String> {
    match &n?.kind {
        pharos_rules::yaml::Kind::Scalar(s, _) => Some(s.clone()),
        _ => None,
    }
}

pub fn items(n: Option<&pharos_rules::yaml::Node>) -> Vec<pharos_rules::yaml::Node> {
    match n.map(|n| &n.kind) {
        Some(pharos_rules::yaml::Kind::Seq(v)) => v.clone(),
        _ => Vec::new(),
    }
}
