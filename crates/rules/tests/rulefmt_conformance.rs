//! Every fixture of upstream's `model/rulefmt/testdata` against the verdicts in
//! `expectations.yaml`: good files must parse, bad ones must fail with the expected
//! text in their first error.

mod common;

use common::{expectations, field, items, rules_dir, text};
use pharos_rules::rulefmt::{parse_file, NameValidation, ParseOptions};
use pharos_rules::template::GoTemplates;

#[test]
fn rulefmt_fixtures() {
    let exp = expectations();
    let section = field(&exp, "rule_file_parsing").expect("rule_file_parsing section");
    let dir = rules_dir().join("rulefmt-testdata");
    let mut total = 0;
    let mut misses = Vec::new();
    for case in items(field(section, "must_parse")) {
        total += 1;
        let file = text(field(&case, "file")).expect("file");
        let opts = ParseOptions {
            templates: Some(&GoTemplates),
            ..ParseOptions::default()
        };
        if let Err(errs) = parse_file(&dir.join(&file), opts) {
            misses.push(format!(
                "{file}: should parse, got {:?}",
                errs[0].to_string()
            ));
        }
    }
    for case in items(field(section, "must_fail")) {
        total += 1;
        let file = text(field(&case, "file")).expect("file");
        let want = text(field(&case, "error_contains")).expect("error_contains");
        let validation = match text(field(&case, "validation")).as_deref() {
            Some("legacy") => NameValidation::Legacy,
            _ => NameValidation::Utf8,
        };
        let opts = ParseOptions {
            validation,
            templates: Some(&GoTemplates),
            ..ParseOptions::default()
        };
        match parse_file(&dir.join(&file), opts) {
            Ok(_) => misses.push(format!("{file}: should fail with {want:?}, parsed")),
            Err(errs) => {
                let first = errs[0].to_string();
                if !first.contains(&want) {
                    misses.push(format!("{file}: want {want:?} in {first:?}"));
                }
            }
        }
    }
    println!("rulefmt conformance: {}/{total} pass", total - misses.len());
    for m in &misses {
        println!("  MISS {m}");
    }
    assert!(
        misses.is_empty(),
        "{} of {total} fixtures missed",
        misses.len()
    );
}

/// Upstream's rules-manager fixtures are all valid except `invalid_rules.yaml`.
#[test]
fn rules_manager_fixtures() {
    let dir = rules_dir().join("rules-fixtures");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    let mut misses = Vec::new();
    for p in &names {
        let bad = p.file_name().is_some_and(|n| n == "invalid_rules.yaml");
        let res = parse_file(p, ParseOptions::default());
        if res.is_ok() == bad {
            misses.push(format!("{}: {:?}", p.display(), res.err()));
        }
    }
    println!(
        "rules-fixtures: {}/{} pass",
        names.len() - misses.len(),
        names.len()
    );
    assert!(misses.is_empty(), "{misses:#?}");
}
