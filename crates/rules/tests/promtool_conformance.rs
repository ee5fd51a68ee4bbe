//! Upstream's `cmd/promtool/testdata` through our `test rules` and `check rules`, with
//! the exit codes from `expectations.yaml`; and a differential run against the real
//! `promtool` (Debian's 2.42) when it is installed.

mod common;

use common::{expectations, field, items, rules_dir, text};
use pharos_rules::check::{check_rule_files, CheckOptions};
use pharos_rules::rulefmt::ParseOptions;
use pharos_rules::template::GoTemplates;
use pharos_rules::unittest::{run_files, UnitTestOptions};
use regex::Regex;
use std::path::{Path, PathBuf};

fn test_rules(file: &Path, run: Option<&str>, ignore_unknown: bool) -> (i32, String) {
    let re = run.map(|r| Regex::new(r).expect("run pattern"));
    let opts = UnitTestOptions {
        run: re.as_ref(),
        ignore_unknown_fields: ignore_unknown,
        templates: &GoTemplates,
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run_files(&[file.to_path_buf()], &opts, &mut out, &mut err);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    (code, text)
}

#[test]
fn promtool_test_rules_fixtures() {
    let exp = expectations();
    let dir = rules_dir().join("promtool-testdata");
    let mut total = 0;
    let mut misses = Vec::new();
    for case in items(field(&exp, "promtool_test_rules")) {
        let file = text(field(&case, "file")).expect("file");
        let want: i32 = text(field(&case, "exit"))
            .and_then(|s| s.parse().ok())
            .expect("exit");
        let flags = text(field(&case, "flags")).unwrap_or_default();
        let note = text(field(&case, "note")).unwrap_or_default();
        let run = note.starts_with("with --run correct").then_some("correct");
        total += 1;
        let (code, output) = test_rules(
            &dir.join(&file),
            run,
            flags.contains("--ignore-unknown-fields"),
        );
        if code != want {
            misses.push(format!("{file}: exit {code}, want {want}\n{output}"));
        }
    }
    // The `--run` variants the notes describe.
    for (file, run, want) in [
        ("rules_run.yml", "correct", 0),
        ("rules_run.yml", "wrong", 1),
        ("rules_run_fuzzy.yml", "wrong", 1),
    ] {
        total += 1;
        let (code, output) = test_rules(&dir.join(file), Some(run), false);
        if code != want {
            misses.push(format!(
                "{file} --run {run}: exit {code}, want {want}\n{output}"
            ));
        }
    }
    println!(
        "promtool test rules conformance: {}/{total} pass",
        total - misses.len()
    );
    for m in &misses {
        println!("  MISS {m}");
    }
    assert!(
        misses.len() <= KNOWN_MISSES.len(),
        "{} of {total} missed",
        misses.len()
    );
    for m in &misses {
        assert!(
            KNOWN_MISSES.iter().any(|k| m.starts_with(k)),
            "unexpected miss: {m}"
        );
    }
}

/// Fixtures that need what the engine does not model: native-histogram samples.
const KNOWN_MISSES: &[&str] = &["unittest.yml:"];

#[test]
fn promtool_check_rules_fixtures() {
    let exp = expectations();
    let dir = rules_dir().join("promtool-testdata");
    let mut total = 0;
    let mut misses = Vec::new();
    for case in items(field(&exp, "promtool_check_rules")) {
        let file = text(field(&case, "file")).expect("file");
        let Some(want) = text(field(&case, "exit")).and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let flags = text(field(&case, "flags")).unwrap_or_default();
        total += 1;
        let opts = CheckOptions {
            parse: ParseOptions {
                templates: Some(&GoTemplates),
                ..ParseOptions::default()
            },
            lint_duplicates: true,
            lint_fatal: flags.contains("--lint-fatal"),
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = check_rule_files(&[dir.join(&file)], &opts, &mut out, &mut err);
        if code != want {
            misses.push(format!(
                "{file}: exit {code}, want {want}: {}",
                String::from_utf8_lossy(&err)
            ));
        }
    }
    // Unknown fields: rejected by default, accepted when asked to ignore them.
    total += 2;
    for (ignore, want) in [(false, 1), (true, 0)] {
        let opts = CheckOptions {
            parse: ParseOptions {
                ignore_unknown_fields: ignore,
                ..ParseOptions::default()
            },
            lint_duplicates: true,
            lint_fatal: false,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = check_rule_files(
            &[dir.join("rules_extrafields.yml")],
            &opts,
            &mut out,
            &mut err,
        );
        if code != want {
            misses.push(format!(
                "rules_extrafields.yml ignore={ignore}: exit {code}"
            ));
        }
    }
    println!(
        "promtool check rules conformance: {}/{total} pass",
        total - misses.len()
    );
    for m in &misses {
        println!("  MISS {m}");
    }
    for m in &misses {
        assert!(
            CHECK_KNOWN_MISSES.iter().any(|k| m.starts_with(k)),
            "unexpected miss: {m}"
        );
    }
}

/// None: every verdict is expected to match.
const CHECK_KNOWN_MISSES: &[&str] = &[];

/// Same verdicts as the real promtool on files both versions agree on.
#[test]
fn differential_against_promtool() {
    let promtool = PathBuf::from("/usr/bin/promtool");
    if !promtool.exists() {
        println!("promtool not installed; differential run skipped");
        return;
    }
    let dir = rules_dir().join("promtool-testdata");
    let files = [
        "long-period.yml",
        "failing.yml",
        "bad-input-series.yml",
        "bad-promql.yml",
        "bad-rules-syntax-test.yml",
        "bad-rules-error-test.yml",
        "at-modifier-test.yml",
        "negative-offset-test.yml",
        "rules_run.yml",
    ];
    let mut agree = 0;
    let mut differ = Vec::new();
    for f in files {
        let real = std::process::Command::new(&promtool)
            .args(["test", "rules", f])
            .current_dir(&dir)
            .output()
            .expect("promtool runs");
        let real_code = real.status.code().unwrap_or(-1);
        let (ours, _) = test_rules(&dir.join(f), None, false);
        if ours == real_code {
            agree += 1;
        } else {
            differ.push(format!("{f}: ours {ours}, promtool {real_code}"));
        }
    }
    println!("differential vs promtool: {agree}/{} agree", files.len());
    assert!(differ.is_empty(), "{differ:#?}");
}

/// `unittest.yml` minus its native-histogram series and checks must pass in full: the
/// alerts, annotations, staleness, lookback and interval cases it covers.
#[test]
fn unittest_without_histograms() {
    let dir = rules_dir().join("promtool-testdata");
    let text = std::fs::read_to_string(dir.join("unittest.yml")).expect("unittest.yml");
    let mut kept = Vec::new();
    let mut lines = text.lines().peekable();
    let mut skipping_block = false;
    while let Some(l) = lines.next() {
        if l.trim() == "# Histograms" {
            skipping_block = true;
            continue;
        }
        if skipping_block {
            if l.trim_start().starts_with("# Ensure a value is stale") {
                skipping_block = false;
            } else {
                continue;
            }
        }
        if l.contains("- series: test_histogram") {
            lines.next();
            continue;
        }
        kept.push(l);
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::copy(dir.join("rules.yml"), tmp.path().join("rules.yml")).expect("copy rules");
    let test = tmp.path().join("unittest.yml");
    std::fs::write(&test, kept.join("\n")).expect("write test");
    let (code, output) = test_rules(&test, None, false);
    assert_eq!(code, 0, "{output}");
}
