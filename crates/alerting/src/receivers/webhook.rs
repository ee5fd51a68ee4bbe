//! `webhook_configs`: Alertmanager's webhook message (version 4), written
//! byte for byte as Alertmanager's JSON encoder writes it: the fields of
//! `template.Data` first (`receiver`, `status`, `alerts`,
//! `notification_reason`, `groupLabels`, `commonLabels`,
//! `commonAnnotations`, `routeLabels`, `externalURL`), then `version`,
//! `groupKey` and `truncatedAlerts`, with a trailing newline.
//!
//! A `payload:` replaces that body with the given YAML structure, every
//! string rendered as a template. Pharos also accepts a body template
//! (`body_template:` in the config, or
//! [`WebhookNotifier::with_body_template`]): its output must be valid JSON
//! or the notification fails permanently.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::http::{check_status, HttpClient};
use super::{notification_data, read_file_trimmed, BuildError, ReceiverOptions, Tmpl};
use crate::alert::Alert;
use crate::config::WebhookConfig;
use crate::notify::{Notifier, NotifyContext, NotifyError};
use crate::notify_template::gojson::Json;
use crate::notify_template::{NotificationData, Templates};

/// Status codes retried besides 5xx: rate limiting.
const RETRY_CODES: [u16; 1] = [429];

pub struct WebhookNotifier {
    client: HttpClient,
    templates: Arc<Templates>,
    external_url: String,
    url: String,
    url_file: String,
    max_alerts: u64,
    timeout: Option<Duration>,
    payload: Option<serde_yaml::Value>,
    body_template: Option<String>,
}

/// Alertmanager's webhook message for `data`.
pub fn message(data: &NotificationData, group_key: &str, truncated: u64) -> Json {
    Json::Obj(vec![
        ("receiver".into(), Json::str(&data.receiver)),
        ("status".into(), Json::str(data.status)),
        (
            "alerts".into(),
            Json::Arr(data.alerts.iter().map(|a| a.to_json()).collect()),
        ),
        (
            "notification_reason".into(),
            Json::str(&data.notification_reason),
        ),
        ("groupLabels".into(), Json::string_map(&data.group_labels)),
        ("commonLabels".into(), Json::string_map(&data.common_labels)),
        (
            "commonAnnotations".into(),
            Json::string_map(&data.common_annotations),
        ),
        ("routeLabels".into(), Json::string_map(&data.route_labels)),
        ("externalURL".into(), Json::str(&data.external_url)),
        ("version".into(), Json::str("4")),
        ("groupKey".into(), Json::str(group_key)),
        ("truncatedAlerts".into(), Json::Uint(truncated)),
    ])
}

impl WebhookNotifier {
    pub fn new(c: &WebhookConfig, opts: &ReceiverOptions) -> Result<WebhookNotifier, BuildError> {
        Ok(WebhookNotifier {
            client: HttpClient::new(c.http_config.as_ref(), &opts.outbound)?,
            templates: opts.templates.clone(),
            external_url: opts.external_url.clone(),
            url: c
                .url
                .as_ref()
                .map(|u| u.expose().to_string())
                .unwrap_or_default(),
            url_file: c.url_file.clone(),
            max_alerts: c.max_alerts,
            timeout: (!c.timeout.0.is_zero()).then_some(c.timeout.0),
            payload: c.payload.clone(),
            body_template: c.body_template.clone(),
        })
    }

    /// Sends the rendered `template` as the body instead of the standard
    /// message; it is checked to be JSON before anything is sent.
    pub fn with_body_template(mut self, template: impl Into<String>) -> Self {
        self.body_template = Some(template.into());
        self
    }

    /// The URL and body to post, rendered without awaiting anything.
    fn prepare(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<(String, String), NotifyError> {
        let (alerts, truncated) = match usize::try_from(self.max_alerts) {
            Ok(max) if max > 0 && alerts.len() > max => {
                (&alerts[..max], (alerts.len() - max) as u64)
            }
            _ => (alerts, 0),
        };
        let data = notification_data(ctx, alerts, &self.external_url);
        let t = Tmpl::new(&self.templates, &data, ctx.now, "webhook");
        let body = if let Some(bt) = &self.body_template {
            let out = t.text(bt)?;
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&out) {
                return Err(NotifyError::Permanent(format!(
                    "webhook: body template did not render valid JSON: {e}"
                )));
            }
            out
        } else if let Some(p) = &self.payload {
            t.deep(p)
                .map_err(|e| {
                    NotifyError::Permanent(format!("failed to render custom payload: {e}"))
                })?
                .encode_line()
        } else {
            message(&data, &ctx.group_key, truncated).encode_line()
        };
        let raw = if self.url.is_empty() {
            read_file_trimmed(&self.url_file)?
        } else {
            self.url.clone()
        };
        let url = t
            .text(&raw)
            .map_err(|e| NotifyError::Permanent(format!("failed to template webhook URL: {e}")))?;
        if url.is_empty() {
            return Err(NotifyError::Permanent(
                "webhook URL is empty after templating".to_string(),
            ));
        }
        Ok((url, body))
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let (url, body) = self.prepare(ctx, alerts)?;
        let resp = self.client.post_json(&url, body, self.timeout).await?;
        check_status(&resp, &RETRY_CODES, None)
    }
}
