//! `check rules`: validates rule files and prints what `promtool check rules` prints.
//! Exit codes: 0 success, 1 any file failed, 3 only lint findings with `lint_fatal`.

use crate::rulefmt::{duplicate_rules, duplicate_rules_message, parse_file, ParseOptions};
use std::io::Write;
use std::path::PathBuf;

#[derive(Clone, Copy)]
pub struct CheckOptions<'a> {
    pub parse: ParseOptions<'a>,
    /// `--lint=duplicate-rules` (the default) rather than `--lint=none`.
    pub lint_duplicates: bool,
    /// `--lint-fatal`: lint findings make the exit code 3.
    pub lint_fatal: bool,
}

/// Checks every file, printing as promtool does; returns the exit code.
pub fn check_rule_files(
    files: &[PathBuf],
    opts: &CheckOptions<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut failed = false;
    let mut has_errors = false;
    for f in files {
        let _ = writeln!(out, "Checking {}", f.display());
        let groups = match parse_file(f, opts.parse) {
            Ok(g) => g,
            Err(errs) => {
                failed = true;
                has_errors = true;
                let _ = writeln!(err, "  FAILED:");
                for e in errs {
                    let _ = writeln!(err, "{e}");
                }
                let _ = writeln!(out);
                continue;
            }
        };
        let dups = if opts.lint_duplicates {
            duplicate_rules(&groups)
        } else {
            Vec::new()
        };
        if dups.is_empty() {
            let n: usize = groups.groups.iter().map(|g| g.rules.len()).sum();
            let _ = writeln!(out, "  SUCCESS: {n} rules found");
        } else {
            failed = true;
            let _ = writeln!(err, "  FAILED:");
            let _ = writeln!(err, "{}", duplicate_rules_message(&dups));
        }
        let _ = writeln!(out);
    }
    match (failed, has_errors) {
        (true, true) => 1,
        (true, false) if opts.lint_fatal => 3,
        _ => 0,
    }
}
