//! SLOs the configuration defines: `slos:` inline in pharos.yml (Pharos's shape) and
//! `slo_files:` (any spec format), checked by `pharos check config`, at startup and
//! before a reload is applied.

use crate::config::{Config, ConfigError, ConfigErrors};
use pharos_slo::{Slo, SpecError};
use std::path::Path;

/// Every SLO `config` defines, or every problem with them. Ids must be unique across
/// the inline section and all files.
pub fn config_slos(
    config: &Config,
    config_file: Option<&Path>,
) -> Result<Vec<Slo>, Vec<SpecError>> {
    let source = config_file
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "configuration".into());
    let mut slos = Vec::new();
    let mut errors = Vec::new();
    if let Some(section) = &config.slos {
        match pharos_slo::load_config_section(section, &source) {
            Ok(s) => slos.extend(s),
            Err(e) => errors.extend(e),
        }
    }
    let dir = crate::rules::config_dir(config_file);
    let (files, unmatched) = crate::rules::glob_paths(&config.slo_files, &dir);
    for pattern in unmatched {
        tracing::warn!(pattern, "slo_files pattern matches no file");
    }
    for f in files {
        match pharos_slo::load_file(&f) {
            Ok(s) => slos.extend(s),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        errors.extend(pharos_slo::spec::duplicate_ids(&slos));
    }
    if errors.is_empty() {
        Ok(slos)
    } else {
        Err(errors)
    }
}

/// `pharos check config`'s SLO step.
pub fn check_config(file: &Path, config: &Config) -> Result<(), ConfigErrors> {
    let errs = match config_slos(config, Some(file)) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let inline = file.display().to_string();
    Err(ConfigErrors(
        errs.into_iter()
            .map(|e| {
                let path = if e.file == inline {
                    "slos"
                } else {
                    "slo_files"
                };
                ConfigError {
                    file: file.display().to_string(),
                    position: crate::config::locate(&text, path),
                    path: path.into(),
                    message: e.to_string(),
                }
            })
            .collect(),
    ))
}

/// Refuses to start with SLOs that do not load.
pub fn check_startup(config: &Config, config_file: Option<&Path>) -> anyhow::Result<()> {
    config_slos(config, config_file)
        .map(|_| ())
        .map_err(|errs| {
            anyhow::anyhow!(
                "invalid SLO specs:\n  {}",
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_file_slos_load_together_and_ids_stay_unique() {
        let dir = tempfile::tempdir().unwrap();
        let spec = "slos:\n  - service: api\n    name: availability\n    objective: 99.9\n    sli:\n      error_ratio: sum(rate(e[{{.window}}])) / sum(rate(t[{{.window}}]))\n";
        std::fs::create_dir(dir.path().join("slos")).unwrap();
        std::fs::write(dir.path().join("slos/a.yml"), spec).unwrap();
        let file = dir.path().join("pharos.yml");
        let text = format!(
            "slo_files: ['slos/*.yml']\n{}",
            spec.replace("availability", "latency")
        );
        std::fs::write(&file, &text).unwrap();
        let config = crate::config::parse("pharos.yml", &text).unwrap();
        let slos = config_slos(&config, Some(&file)).unwrap();
        let ids: Vec<String> = slos.iter().map(Slo::id).collect();
        assert_eq!(ids, ["api-latency", "api-availability"]);
        assert!(check_config(&file, &config).is_ok());

        let dup = text.replace("latency", "availability");
        std::fs::write(&file, &dup).unwrap();
        let config = crate::config::parse("pharos.yml", &dup).unwrap();
        let errs = check_config(&file, &config).unwrap_err();
        assert!(
            errs.0[0]
                .message
                .contains("duplicate SLO id \"api-availability\""),
            "{}",
            errs.0[0]
        );
        let bad = text.replace("99.9", "100");
        std::fs::write(&file, &bad).unwrap();
        std::fs::write(dir.path().join("slos/a.yml"), spec.replace("99.9", "0")).unwrap();
        let config = crate::config::parse("pharos.yml", &bad).unwrap();
        let errs = check_config(&file, &config).unwrap_err();
        assert_eq!(errs.0.len(), 2, "{errs:?}");
        assert!(errs
            .0
            .iter()
            .any(|e| e.path == "slos" && e.position == Some((2, 1))));
        assert!(errs.0.iter().any(|e| e.path == "slo_files"));
        assert!(check_startup(&config, Some(&file))
            .unwrap_err()
            .to_string()
            .contains("objective: must be above 0 and below 100"));
    }
}
