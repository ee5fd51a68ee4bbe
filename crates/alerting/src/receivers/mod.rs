//! Receivers that send: one [`Notifier`] per integration kind (webhook,
//! Slack, PagerDuty, OpsGenie, email), built from the validated
//! `receivers:` config, rendering Alertmanager's payloads with the
//! notification templates of [`crate::notify_template`].
//!
//! | module | role |
//! |---|---|
//! | [`http`] | `http_config` client, retry classification, link-local guard |
//! | [`webhook`] | Alertmanager's webhook JSON (version 4), `payload`, `max_alerts` |
//! | [`slack`] | incoming-webhook / `chat.postMessage` payload and reply checks |
//! | [`pagerduty`] | Events API v2 (and v1 for `service_key`) |
//! | [`opsgenie`] | alert create / close (and update) API |
//! | [`email`] | SMTP with STARTTLS, PLAIN / LOGIN / CRAM-MD5, multipart mail |
//!
//! Building: [`ReceiverOptions::from_config`] (loads `templates:`), then
//! [`build_receivers`] for the whole config (what
//! `DispatcherConfig::from_config` takes) or [`build_integrations`] for one
//! receiver. Sending: the dispatcher calls [`Notifier::notify`]; each
//! notifier renders everything synchronously (templates are not `Send`),
//! then awaits the network, and maps failures to retryable or permanent
//! [`NotifyError`]s the way Alertmanager does.

pub mod email;
pub mod http;
pub mod opsgenie;
pub mod pagerduty;
pub mod slack;
pub mod webhook;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::alert::Alert;
use crate::config::{Config, Receiver};
use crate::notify::{Integration, Notifier, NotifyContext, NotifyError, Receivers};
use crate::notify_template::gojson::Json;
use crate::notify_template::{NotificationData, Renderer, TemplateLoadError, Templates};

pub use http::{HttpClient, OutboundPolicy};

/// Why integrations could not be built from a (validated) config.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BuildError {
    #[error("loading templates: {0}")]
    Templates(#[from] TemplateLoadError),
    #[error("{0} is not supported by Pharos")]
    Unsupported(String),
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("proxy configuration: {0}")]
    Proxy(String),
    #[error("invalid HTTP header {0:?}")]
    Header(String),
    #[error("receiver {receiver:?}: {integration}[{index}]: {source}")]
    Integration {
        receiver: String,
        integration: &'static str,
        index: u32,
        source: Box<BuildError>,
    },
    #[error("receiver {receiver:?}: empty {integration} entry")]
    Empty {
        receiver: String,
        integration: &'static str,
    },
}

/// What the server supplies besides the config.
#[derive(Clone, Debug)]
pub struct ReceiverOptions {
    /// Defaults plus the config's `templates:` files.
    pub templates: Arc<Templates>,
    /// `.ExternalURL`: the URL users reach Pharos's alerting UI at.
    pub external_url: String,
    pub outbound: OutboundPolicy,
}

impl ReceiverOptions {
    /// Loads the config's `templates:` globs on top of the defaults.
    pub fn from_config(
        cfg: &Config,
        external_url: &str,
        outbound: OutboundPolicy,
    ) -> Result<ReceiverOptions, BuildError> {
        Ok(ReceiverOptions {
            templates: Arc::new(Templates::from_globs(&cfg.templates)?),
            external_url: external_url.trim_end_matches('/').to_string(),
            outbound,
        })
    }
}

/// Integrations of every receiver in `cfg`, keyed by receiver name.
pub fn build_receivers(cfg: &Config, opts: &ReceiverOptions) -> Result<Receivers, BuildError> {
    let mut out = Receivers::new();
    for r in &cfg.receivers {
        out.insert(r.name.clone(), build_integrations(r, opts)?);
    }
    Ok(out)
}

fn wrap(receiver: &str, integration: &'static str, index: usize, e: BuildError) -> BuildError {
    BuildError::Integration {
        receiver: receiver.to_string(),
        integration,
        index: u32::try_from(index).unwrap_or(u32::MAX),
        source: Box::new(e),
    }
}

fn integration(name: &str, index: usize, send_resolved: bool, n: Arc<dyn Notifier>) -> Integration {
    Integration {
        name: name.to_string(),
        index: u32::try_from(index).unwrap_or(u32::MAX),
        send_resolved,
        notifier: n,
    }
}

/// One receiver's integrations in Alertmanager's order (webhook, email,
/// PagerDuty, OpsGenie, Slack), each indexed within its kind.
pub fn build_integrations(
    r: &Receiver,
    opts: &ReceiverOptions,
) -> Result<Vec<Integration>, BuildError> {
    let name = r.name.as_str();
    let mut out = Vec::new();
    let empty = |integration| BuildError::Empty {
        receiver: name.to_string(),
        integration,
    };
    for (i, c) in r.webhook_configs.iter().enumerate() {
        let c = c.as_ref().ok_or_else(|| empty("webhook"))?;
        let n = webhook::WebhookNotifier::new(c, opts).map_err(|e| wrap(name, "webhook", i, e))?;
        out.push(integration("webhook", i, c.send_resolved, Arc::new(n)));
    }
    for (i, c) in r.email_configs.iter().enumerate() {
        let c = c.as_ref().ok_or_else(|| empty("email"))?;
        let n = email::EmailNotifier::new(c, opts).map_err(|e| wrap(name, "email", i, e))?;
        out.push(integration("email", i, c.send_resolved, Arc::new(n)));
    }
    for (i, c) in r.pagerduty_configs.iter().enumerate() {
        let c = c.as_ref().ok_or_else(|| empty("pagerduty"))?;
        let n = pagerduty::PagerdutyNotifier::new(c, opts)
            .map_err(|e| wrap(name, "pagerduty", i, e))?;
        out.push(integration("pagerduty", i, c.send_resolved, Arc::new(n)));
    }
    for (i, c) in r.opsgenie_configs.iter().enumerate() {
        let c = c.as_ref().ok_or_else(|| empty("opsgenie"))?;
        let n =
            opsgenie::OpsGenieNotifier::new(c, opts).map_err(|e| wrap(name, "opsgenie", i, e))?;
        out.push(integration("opsgenie", i, c.send_resolved, Arc::new(n)));
    }
    for (i, c) in r.slack_configs.iter().enumerate() {
        let c = c.as_ref().ok_or_else(|| empty("slack"))?;
        let n = slack::SlackNotifier::new(c, opts).map_err(|e| wrap(name, "slack", i, e))?;
        out.push(integration("slack", i, c.send_resolved, Arc::new(n)));
    }
    Ok(out)
}

/// Alertmanager's `Key.Hash`: the SHA-256 of the group key, in hex; used as
/// PagerDuty's dedup key and OpsGenie's alias.
pub fn group_key_hash(group_key: &str) -> String {
    let d = Sha256::digest(group_key.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Alertmanager's `TruncateInRunes`: at most `n` characters, the last one
/// replaced by `…` when something was cut.
pub fn truncate_runes(s: &str, n: usize) -> (String, bool) {
    if s.chars().count() <= n {
        return (s.to_string(), false);
    }
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    (out, true)
}

/// A secret file's content without surrounding whitespace.
pub(crate) fn read_file_trimmed(path: &str) -> Result<String, NotifyError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| NotifyError::Permanent(format!("read file {path}: {e}")))
}

/// The template data for one notification, as every notifier builds it.
pub(crate) fn notification_data(
    ctx: &NotifyContext,
    alerts: &[Alert],
    opts_url: &str,
) -> NotificationData {
    let mut data = NotificationData::new(
        &ctx.receiver.receiver,
        &ctx.group_labels,
        alerts,
        ctx.now,
        opts_url,
    );
    if !ctx.notification_reason.is_empty() {
        data.notification_reason = ctx.notification_reason.clone();
    }
    data.route_labels = ctx.route_labels.clone();
    data
}

/// Renders configuration strings, stopping at the first template error as
/// Alertmanager's `TmplText` does; `what` names the integration in the
/// error, which is permanent since retrying cannot fix a template.
pub(crate) struct Tmpl<'a> {
    pub r: Renderer<'a>,
    pub what: &'static str,
}

impl<'a> Tmpl<'a> {
    pub fn new(
        templates: &'a Templates,
        data: &NotificationData,
        now: DateTime<Utc>,
        what: &'static str,
    ) -> Tmpl<'a> {
        Tmpl {
            r: templates.renderer(data, now),
            what,
        }
    }

    pub fn text(&self, s: &str) -> Result<String, NotifyError> {
        self.r
            .text(s)
            .map_err(|e| NotifyError::Permanent(format!("{}: template error: {e}", self.what)))
    }

    pub fn html(&self, s: &str) -> Result<String, NotifyError> {
        self.r
            .html(s)
            .map_err(|e| NotifyError::Permanent(format!("{}: template error: {e}", self.what)))
    }

    /// Alertmanager's `DeepCopyWithTemplate`: renders every string key and
    /// value; a rendered string that reads as YAML structure (a map, list,
    /// number, boolean or null) is sent as that structure.
    pub fn deep(&self, v: &serde_yaml::Value) -> Result<Json, NotifyError> {
        Ok(match v {
            serde_yaml::Value::String(s) => {
                let out = self.text(s)?;
                match serde_yaml::from_str::<serde_yaml::Value>(&out) {
                    Ok(serde_yaml::Value::String(_)) | Err(_) => Json::Str(out),
                    Ok(parsed) => Json::from_yaml(&parsed),
                }
            }
            serde_yaml::Value::Sequence(items) => Json::Arr(
                items
                    .iter()
                    .map(|i| self.deep(i))
                    .collect::<Result<_, _>>()?,
            ),
            serde_yaml::Value::Mapping(m) => {
                let mut fields = std::collections::BTreeMap::new();
                for (k, v) in m {
                    let Some(k) = k.as_str() else { continue };
                    fields.insert(self.text(k)?, self.deep(v)?);
                }
                Json::Obj(fields.into_iter().collect())
            }
            serde_yaml::Value::Tagged(t) => self.deep(&t.value)?,
            other => Json::from_yaml(other),
        })
    }
}

/// Splits on `sep`, trimming the whole string first and dropping empty
/// parts (Alertmanager's `safeSplit` for OpsGenie tags and actions).
pub(crate) fn safe_split(s: &str, sep: char) -> Vec<String> {
    s.trim()
        .split(sep)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_and_hash() {
        assert_eq!(truncate_runes("abcdef", 4), ("abc…".to_string(), true));
        assert_eq!(truncate_runes("abc", 4), ("abc".to_string(), false));
        assert_eq!(truncate_runes("abcdef", 2), ("ab".to_string(), true));
        assert_eq!(
            group_key_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(safe_split(" a,,b ,", ','), ["a", "b "]);
    }
}
