//! Loading and validating alertmanager.yml.
//!
//! Loading runs in three steps, mirroring where Alertmanager reports each
//! kind of problem so that the first error listed is the one it would give:
//! 1. YAML decoding into the section types (syntax, unknown fields, values
//!    that do not parse: durations, URLs, time ranges);
//! 2. per-item checks in document order (receivers, routes, inhibit rules,
//!    time intervals);
//! 3. whole-file checks: `global:` conflicts, inheritance of global settings
//!    into receivers, the root route, undefined receivers and intervals.
//!
//! Every problem found in steps 2 and 3 is reported, not just the first.

mod common;
mod global;
mod http;
mod integrations;
mod receivers;
mod route;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use common::{GoDuration, HostPort, HttpUrl, ProxyUrl, SecretTemplateUrl, SecretUrl};
pub use global::GlobalConfig;
pub use http::{Authorization, BasicAuth, HttpClientConfig, HttpHeader, OAuth2, TlsConfig};
pub use integrations::{
    EmailConfig, EmailThreading, FlappingConfig, OpsGenieConfig, OpsGenieResponder,
    PageBudgetConfig, PagerdutyConfig, PagerdutyImage, PagerdutyLink, SlackAction, SlackConfig,
    SlackConfirm, SlackField, WebhookConfig,
};
pub use receivers::{Receiver, UNSUPPORTED_INTEGRATIONS};
pub use route::{GroupBy, InhibitRule, InhibitRuleConfig, NamedTimeInterval, RouteConfig};

use crate::error::{ConfigError, ValidationError};
use crate::route::Route;
use crate::timeinterval::{Intervener, TimeInterval};

/// Top-level sections Alertmanager has and Pharos does not implement.
pub const UNSUPPORTED_SECTIONS: [&str; 2] = ["tracing", "event_recorder"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<GlobalConfig>,
    #[serde(default)]
    route: Option<RouteConfig>,
    #[serde(default)]
    inhibit_rules: Option<Vec<InhibitRuleConfig>>,
    #[serde(default)]
    receivers: Option<Vec<Receiver>>,
    #[serde(default)]
    templates: Option<Vec<String>>,
    #[serde(default)]
    mute_time_intervals: Option<Vec<NamedTimeInterval>>,
    #[serde(default)]
    time_intervals: Option<Vec<NamedTimeInterval>>,
    // Decoded only to be refused with a clear message.
    #[serde(default)]
    tracing: Option<serde_yaml::Value>,
    #[serde(default)]
    event_recorder: Option<serde_yaml::Value>,
}

/// A validated alertmanager.yml, with `global:` defaults already copied into
/// the receivers. Serializing it (or printing it with `{}`) never reveals a
/// secret.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    pub global: GlobalConfig,
    pub route: RouteConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<Receiver>,
    pub templates: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<NamedTimeInterval>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub time_intervals: Vec<NamedTimeInterval>,
}

fn yaml_error(e: serde_yaml::Error) -> ConfigError {
    let loc = e.location();
    ConfigError::Yaml {
        message: e.to_string(),
        line: loc.as_ref().map(|l| l.line()),
        column: loc.as_ref().map(|l| l.column()),
    }
}

impl Config {
    /// Parses and validates the text of an alertmanager.yml.
    pub fn load(text: &str) -> Result<Config, ConfigError> {
        // The generic parse gives the order of the top-level keys (item
        // checks follow it) and detects an empty document.
        let doc: serde_yaml::Value = serde_yaml::from_str(text).map_err(yaml_error)?;
        if doc.is_null() {
            return Err(ConfigError::Invalid(vec![ValidationError::NoRouteInConfig]));
        }
        let raw: RawConfig = serde_yaml::from_str(text).map_err(yaml_error)?;
        let order: Vec<String> = match &doc {
            serde_yaml::Value::Mapping(m) => m
                .keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        validate(raw, &order)
    }

    /// Reads and validates a file. Relative template paths and HTTP client
    /// credential files are resolved against the file's directory, as
    /// Alertmanager does. Files named by `*_file` settings are not opened
    /// here (Alertmanager reads them when notifying).
    pub fn load_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut cfg = Config::load(&text)?;
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        for t in &mut cfg.templates {
            if !t.is_empty() && Path::new(t.as_str()).is_relative() {
                *t = base.join(t.as_str()).display().to_string();
            }
        }
        // Alertmanager resolves only the HTTP clients' files this way; other
        // `*_file` settings stay relative to the working directory.
        cfg.global.http_config.set_directory(base);
        for r in &mut cfg.receivers {
            let clients = r
                .webhook_configs
                .iter_mut()
                .flatten()
                .map(|c| &mut c.http_config)
                .chain(
                    r.slack_configs
                        .iter_mut()
                        .flatten()
                        .map(|c| &mut c.http_config),
                )
                .chain(
                    r.pagerduty_configs
                        .iter_mut()
                        .flatten()
                        .map(|c| &mut c.http_config),
                )
                .chain(
                    r.opsgenie_configs
                        .iter_mut()
                        .flatten()
                        .map(|c| &mut c.http_config),
                );
            for h in clients.flatten() {
                h.set_directory(base);
            }
        }
        Ok(cfg)
    }

    /// The compiled routing tree.
    pub fn routing_tree(&self) -> Result<Route, ConfigError> {
        Route::from_config(&self.route).map_err(ConfigError::Invalid)
    }

    /// All named intervals (`time_intervals` and `mute_time_intervals`).
    pub fn intervener(&self) -> Intervener {
        let map: HashMap<String, Vec<TimeInterval>> = self
            .mute_time_intervals
            .iter()
            .chain(&self.time_intervals)
            .map(|n| (n.name.clone(), n.time_intervals.clone()))
            .collect();
        Intervener::new(map)
    }

    /// Compiled inhibition rules.
    pub fn inhibit_rules(&self) -> Result<Vec<InhibitRule>, ConfigError> {
        let mut errs = Vec::new();
        let rules = self
            .inhibit_rules
            .iter()
            .map(|r| r.compile(&mut errs))
            .collect();
        if errs.is_empty() {
            Ok(rules)
        } else {
            Err(ConfigError::Invalid(errs))
        }
    }

    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The configuration as YAML, secrets shown as `<secret>`.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self)
            .unwrap_or_else(|e| format!("<error creating config string: {e}>"))
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yaml())
    }
}

fn validate(raw: RawConfig, order: &[String]) -> Result<Config, ConfigError> {
    let mut errs = Vec::new();
    let mut global = raw.global.unwrap_or_default();
    let mut receivers = raw.receivers.unwrap_or_default();
    let inhibit_rules = raw.inhibit_rules.unwrap_or_default();
    let templates = raw.templates.unwrap_or_default();
    let mute_time_intervals = raw.mute_time_intervals.unwrap_or_default();
    let time_intervals = raw.time_intervals.unwrap_or_default();

    // Step 2: per-item checks, in the order the sections appear.
    for key in order {
        match key.as_str() {
            "global" => global.validate_item(&mut errs),
            "route" => {
                if let Some(r) = &raw.route {
                    r.validate_item(&mut errs);
                }
            }
            "receivers" => receivers
                .iter_mut()
                .for_each(|r| r.validate_item(&mut errs)),
            "inhibit_rules" => inhibit_rules
                .iter()
                .for_each(|r| r.validate_item(&mut errs)),
            "mute_time_intervals" => {
                for t in &mute_time_intervals {
                    if t.name.is_empty() {
                        errs.push(ValidationError::MuteTimeIntervalWithoutName);
                    }
                }
            }
            "time_intervals" => {
                for t in &time_intervals {
                    if t.name.is_empty() {
                        errs.push(ValidationError::TimeIntervalWithoutName);
                    }
                }
            }
            "templates" => {
                for t in &templates {
                    if let Err(e) = glob::Pattern::new(t) {
                        errs.push(ValidationError::TemplateGlob {
                            pattern: t.clone(),
                            reason: e.msg.to_string(),
                        });
                    }
                }
            }
            s if UNSUPPORTED_SECTIONS.contains(&s) => {
                errs.push(ValidationError::UnsupportedSection(s.to_string()));
            }
            _ => {}
        }
    }
    // Null sections are absent from `raw` but still name a section above.
    let _ = (&raw.tracing, &raw.event_recorder);

    // Step 3: whole-file checks.
    global.validate_exclusive(&mut errs);
    let mut names: HashSet<String> = HashSet::new();
    for r in &mut receivers {
        if names.contains(&r.name) {
            errs.push(ValidationError::DuplicateReceiver(r.name.clone()));
        }
        r.resolve(&global, &mut errs);
        names.insert(r.name.clone());
    }
    let route = match raw.route {
        None => {
            errs.push(ValidationError::NoRoutes);
            None
        }
        Some(route) => {
            if route.receiver.is_empty() {
                errs.push(ValidationError::RootWithoutReceiver);
            }
            if route.has_matchers() {
                errs.push(ValidationError::RootWithMatchers);
            }
            if !route.mute_time_intervals.is_empty() {
                errs.push(ValidationError::RootWithMuteTimes);
            }
            if !route.active_time_intervals.is_empty() {
                errs.push(ValidationError::RootWithActiveTimes);
            }
            let name_refs: HashSet<&str> = names.iter().map(String::as_str).collect();
            route.check_receivers(&name_refs, &mut errs);
            Some(route)
        }
    };
    let mut interval_names: HashSet<&str> = HashSet::new();
    for t in &mute_time_intervals {
        if !interval_names.insert(&t.name) {
            errs.push(ValidationError::DuplicateMuteTimeInterval(t.name.clone()));
        }
    }
    for t in &time_intervals {
        if !interval_names.insert(&t.name) {
            errs.push(ValidationError::DuplicateTimeInterval(t.name.clone()));
        }
    }
    if let Some(r) = &route {
        r.check_intervals(&interval_names, &mut errs);
        // Alertmanager checks this last, after decoding succeeded.
        if r.continue_matching {
            errs.push(ValidationError::RootContinue);
        }
    }
    match route {
        Some(route) if errs.is_empty() => Ok(Config {
            global,
            route,
            inhibit_rules,
            receivers,
            templates,
            mute_time_intervals,
            time_intervals,
        }),
        _ => Err(ConfigError::Invalid(errs)),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
