//! Helpers shared by the integration tests: generating a rule file from a spec,
//! and running rule unit tests with Pharos's runner and with promtool.

#![allow(dead_code)]

use pharos_rules::rulefmt::{self, NameValidation, ParseOptions};
use pharos_rules::template::GoTemplates;
use pharos_rules::unittest::{run_file, UnitTestOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PROMTOOL: &str = "/usr/bin/promtool";

/// Generates the rule file for a spec text into `dir/rules.yml`.
pub fn write_rules(dir: &Path, spec: &str) -> PathBuf {
    let slos = pharos_slo::load_str(spec, "spec.yml").unwrap_or_else(|e| {
        panic!(
            "spec errors: {}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        )
    });
    let path = dir.join("rules.yml");
    std::fs::write(&path, pharos_slo::rule_file(&slos)).unwrap();
    path
}

/// Parses a rule file as Pharos's rule manager would (Prometheus 2 names, Go
/// templates checked) and returns the rule names in order.
pub fn parse_rules(text: &str) -> Vec<String> {
    let opts = ParseOptions {
        ignore_unknown_fields: false,
        validation: NameValidation::Legacy,
        templates: Some(&GoTemplates),
    };
    let groups = rulefmt::parse(text, opts).unwrap_or_else(|e| {
        panic!(
            "rulefmt errors: {}\n{text}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    groups
        .groups
        .iter()
        .flat_map(|g| g.rules.iter().map(|r| r.name().to_string()))
        .collect()
}

/// The comparison with promtool is half of what these tests show, so a missing promtool
/// fails them rather than letting them pass on Pharos's runner alone.
pub fn have_promtool() -> bool {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} not found: install Debian's `prometheus` package (.ci/run does this in CI)"
    );
    true
}

/// `promtool check rules FILE`; panics with its output on failure.
pub fn promtool_check(path: &Path) {
    if !have_promtool() {
        return;
    }
    let out = Command::new(PROMTOOL)
        .args(["check", "rules"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a rule unit-test file with Pharos's runner and with promtool; both must
/// pass.
pub fn run_unit_tests(test: &Path) {
    let mut warn = Vec::new();
    let errs = run_file(
        test,
        &UnitTestOptions {
            run: None,
            ignore_unknown_fields: false,
            templates: &GoTemplates,
        },
        &mut warn,
    );
    assert!(
        errs.is_empty(),
        "pharos test rules failed:\n{}",
        errs.join("\n")
    );
    if !have_promtool() {
        return;
    }
    let out = Command::new(PROMTOOL)
        .args(["test", "rules"])
        .arg(test)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
