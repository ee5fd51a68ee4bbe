//! Reading SLO spec files: each YAML document is recognised by its shape (Sloth's
//! `version: prometheus/v1`, OpenSLO's `apiVersion: openslo/v1`, or Pharos's
//! `slos:` list), translated by its module into [`Slo`]s, and validated. Errors name
//! the file, the SLO and the field.

pub mod openslo;
pub mod pharos;
pub mod sloth;

use crate::model::{validate, Slo, SpecError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Reads and translates one spec file.
pub fn load_file(path: &Path) -> Result<Vec<Slo>, Vec<SpecError>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![SpecError::new(&name, None, "", format!("cannot read: {e}"))])?;
    load_str(&text, &name)
}

/// Translates the text of a spec file; `source` names it in errors.
pub fn load_str(text: &str, source: &str) -> Result<Vec<Slo>, Vec<SpecError>> {
    let mut docs = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        match Value::deserialize(de) {
            Ok(Value::Null) => {}
            Ok(v) => docs.push(v),
            Err(e) => {
                return Err(vec![SpecError::new(
                    source,
                    None,
                    &format!("document {}", i + 1),
                    format!("invalid YAML: {e}"),
                )])
            }
        }
    }
    if docs.is_empty() {
        return Err(vec![SpecError::new(source, None, "", "no SLO spec found")]);
    }
    let mut slos = Vec::new();
    let mut errs = Vec::new();
    let mut openslo_docs = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        let get = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        if let Some(v) = get("version") {
            if v != "prometheus/v1" {
                errs.push(SpecError::new(
                    source,
                    None,
                    "version",
                    format!("unsupported Sloth spec version {v:?} (only \"prometheus/v1\")"),
                ));
                continue;
            }
            match sloth::translate(doc, source) {
                Ok(s) => slos.extend(s),
                Err(e) => errs.extend(e),
            }
        } else if let Some(v) = get("apiVersion") {
            if v == "openslo/v1" {
                openslo_docs.push(doc);
            } else if v.starts_with("openslo/") {
                errs.push(SpecError::new(
                    source,
                    None,
                    "apiVersion",
                    format!("unsupported OpenSLO version {v:?} (only \"openslo/v1\")"),
                ));
            } else {
                errs.push(SpecError::new(
                    source,
                    None,
                    "apiVersion",
                    format!(
                        "unsupported apiVersion {v:?}: expected openslo/v1, a Sloth \
                         prometheus/v1 spec or a Pharos `slos:` list"
                    ),
                ));
            }
        } else if let Some(list) = doc.get("slos") {
            match pharos::translate(list, source) {
                Ok(s) => slos.extend(s),
                Err(e) => errs.extend(e),
            }
        } else {
            errs.push(SpecError::new(
                source,
                None,
                &format!("document {}", i + 1),
                "not an SLO spec: expected `version: prometheus/v1` (Sloth), \
                 `apiVersion: openslo/v1` (OpenSLO) or a `slos:` list (Pharos)",
            ));
        }
    }
    if !openslo_docs.is_empty() {
        match openslo::translate(openslo_docs, source) {
            Ok(s) => slos.extend(s),
            Err(e) => errs.extend(e),
        }
    }
    for s in &slos {
        errs.extend(validate(s));
    }
    errs.extend(duplicate_ids(&slos));
    if errs.is_empty() {
        Ok(slos)
    } else {
        Err(errs)
    }
}

/// Translates and validates the `slos:` section of `pharos.yml` (Pharos's own
/// shape); `source` names the config file in errors.
pub fn load_config_section(slos: &Value, source: &str) -> Result<Vec<Slo>, Vec<SpecError>> {
    let slos = pharos::translate(slos, source)?;
    let mut errs: Vec<SpecError> = slos.iter().flat_map(validate).collect();
    errs.extend(duplicate_ids(&slos));
    if errs.is_empty() {
        Ok(slos)
    } else {
        Err(errs)
    }
}

/// Two SLOs with one id would record into the same series.
pub fn duplicate_ids(slos: &[Slo]) -> Vec<SpecError> {
    let mut seen = std::collections::BTreeSet::new();
    slos.iter()
        .filter(|s| !seen.insert(s.id()))
        .map(|s| {
            SpecError::new(
                &s.source,
                Some(&s.name),
                "name",
                format!("duplicate SLO id {:?} (service-name)", s.id()),
            )
        })
        .collect()
}

/// Decodes a YAML value into `T`, with the failing field's path in the error.
pub(crate) fn decode<T: DeserializeOwned>(
    v: Value,
    source: &str,
    slo: Option<&str>,
    prefix: &str,
) -> Result<T, SpecError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let field = match (prefix.is_empty(), path.as_str()) {
            (true, p) => p.to_string(),
            (false, ".") => prefix.to_string(),
            (false, p) => format!("{prefix}.{p}"),
        };
        SpecError::new(source, slo, &field, e.into_inner().to_string())
    })
}

/// A label map whose values may be written as YAML numbers or booleans
/// (`tier: 2`), which Prometheus label values take as text.
pub(crate) fn labels<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (k, v) in raw.unwrap_or_default() {
        let s = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "label {k:?}: value must be a string"
                )))
            }
        };
        out.insert(k, s);
    }
    Ok(out)
}
