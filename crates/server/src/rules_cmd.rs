//! `pharos check rules` and `pharos test rules`: Prometheus rule files checked and
//! unit-tested as `promtool check rules` / `promtool test rules` do, same output and
//! exit codes (0 ok, 1 failure, 3 lint findings with `--lint-fatal`).

use clap::{Args, ValueEnum};
use pharos_rules::check::{check_rule_files, CheckOptions};
use pharos_rules::rulefmt::ParseOptions;
use pharos_rules::template::GoTemplates;
use pharos_rules::unittest::{run_files, UnitTestOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RulesLint {
    All,
    DuplicateRules,
    None,
}

#[derive(Debug, Args)]
pub struct CheckRulesArgs {
    /// Linting checks to apply.
    #[arg(long, value_enum, default_value = "duplicate-rules")]
    pub lint: RulesLint,
    /// Make lint findings exit with code 3.
    #[arg(long)]
    pub lint_fatal: bool,
    /// Accept fields the rule-file format does not define.
    #[arg(long)]
    pub ignore_unknown_fields: bool,
    /// Rule files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TestRulesArgs {
    /// Run only test groups whose name matches this regular expression (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub run: Vec<String>,
    /// Accept fields the rule-file format does not define.
    #[arg(long)]
    pub ignore_unknown_fields: bool,
    /// Unit-test files.
    #[arg(required = true, value_name = "TEST_FILE")]
    pub files: Vec<PathBuf>,
}

pub fn check_rules(args: &CheckRulesArgs) -> ExitCode {
    let opts = CheckOptions {
        parse: ParseOptions {
            ignore_unknown_fields: args.ignore_unknown_fields,
            templates: Some(&GoTemplates),
            ..ParseOptions::default()
        },
        lint_duplicates: args.lint != RulesLint::None,
        lint_fatal: args.lint_fatal,
    };
    let code = check_rule_files(
        &args.files,
        &opts,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code as u8)
}

pub fn test_rules(args: &TestRulesArgs) -> anyhow::Result<ExitCode> {
    let run = if args.run.is_empty() {
        None
    } else {
        Some(
            regex::Regex::new(&args.run.join("|"))
                .map_err(|e| anyhow::anyhow!("invalid --run pattern: {e}"))?,
        )
    };
    let opts = UnitTestOptions {
        run: run.as_ref(),
        ignore_unknown_fields: args.ignore_unknown_fields,
        templates: &GoTemplates,
    };
    let code = run_files(
        &args.files,
        &opts,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    Ok(ExitCode::from(code as u8))
}
