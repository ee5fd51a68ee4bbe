//! `pharos slo generate SPEC…`: SLO specs (Sloth `prometheus/v1`, OpenSLO v1 or
//! Pharos's `slos:` shape) turned into one Prometheus rule file, so teams on plain
//! Prometheus can use Pharos as their SLO rule generator. Every spec is read before
//! anything is written: one bad spec fails the command (exit 1) and lists all
//! problems instead of producing a partial rule file.

use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SloCommand {
    /// Print recording rules and burn-rate alerts for SLO specs as a rule file.
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Write the rule file here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// SLO spec files.
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
}

/// Runs a `pharos slo` subcommand.
pub fn run(cmd: &SloCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SloCommand::Generate(args) => {
            let stdout = std::io::stdout();
            let stderr = std::io::stderr();
            generate(args, &mut stdout.lock(), &mut stderr.lock())
        }
    }
}

/// `pharos slo generate`; errors go to `err`, the rule file to `out` or `-o`.
pub fn generate(
    args: &GenerateArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let mut slos = Vec::new();
    let mut errors = Vec::new();
    for path in &args.specs {
        match pharos_slo::load_file(path) {
            Ok(s) => slos.extend(s),
            Err(e) => errors.extend(e),
        }
    }
    // Ids must be unique across files too: two SLOs would record into one series.
    errors.extend(pharos_slo::spec::duplicate_ids(&slos));
    if !errors.is_empty() {
        for e in &errors {
            writeln!(err, "{e}")?;
        }
        return Ok(ExitCode::FAILURE);
    }
    let text = pharos_slo::rule_file(&slos);
    match &args.output {
        Some(path) => write_file(path, &text)?,
        None => out.write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
slos:
  - service: api
    name: availability
    objective: 99.9
    sli:
      bad_events: sum(rate(req{code=~"5.."}[{{.window}}]))
      total_events: sum(rate(req[{{.window}}]))
"#;

    #[test]
    fn generates_to_stdout_and_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("slo.yml");
        std::fs::write(&spec, SPEC).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let args = GenerateArgs {
            output: None,
            specs: vec![spec.clone()],
        };
        let code = generate(&args, &mut out, &mut err).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("record: \"slo:sli_error:ratio_rate5m\""));
        assert!(text.contains("alert: \"ApiAvailabilityBudgetBurn\""));

        let file = dir.path().join("rules.yml");
        let args = GenerateArgs {
            output: Some(file.clone()),
            specs: vec![spec],
        };
        let mut out = Vec::new();
        generate(&args, &mut out, &mut err).unwrap();
        assert!(out.is_empty());
        assert_eq!(std::fs::read_to_string(file).unwrap(), text);
    }

    #[test]
    fn bad_specs_exit_1_with_every_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.yml");
        std::fs::write(&bad, SPEC.replace("99.9", "120")).unwrap();
        let good = dir.path().join("good.yml");
        std::fs::write(&good, SPEC).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let args = GenerateArgs {
            output: None,
            specs: vec![good, bad.clone(), dir.path().join("missing.yml")],
        };
        let code = generate(&args, &mut out, &mut err).unwrap();
        assert_eq!(code, ExitCode::FAILURE);
        assert!(out.is_empty());
        let err = String::from_utf8(err).unwrap();
        assert!(
            err.contains(&format!(
                "{}: slo \"availability\": objective: must be above 0 and below 100",
                bad.display()
            )),
            "{err}"
        );
        assert!(err.contains("missing.yml: cannot read"), "{err}");
    }
}
