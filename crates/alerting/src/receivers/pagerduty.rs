//! `pagerduty_configs`: PagerDuty Events API v2 (`routing_key`), or the v1
//! generic API when a `service_key` is configured, with Alertmanager's
//! event fields, dedup key (SHA-256 of the group key), summary truncation
//! and oversized-event handling.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::http::{check_status, HttpClient, HttpResponse};
use super::{
    group_key_hash, notification_data, read_file_trimmed, truncate_runes, BuildError,
    ReceiverOptions, Tmpl,
};
use crate::alert::Alert;
use crate::config::PagerdutyConfig;
use crate::notify::{Notifier, NotifyContext, NotifyError};
use crate::notify_template::gojson::Json;
use crate::notify_template::Templates;

/// PagerDuty refuses events above this size.
const MAX_EVENT_SIZE: usize = 512_000;
const MAX_SUMMARY_RUNES: usize = 1024;
const V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
const TOO_BIG: &str =
    "Custom details have been removed because the original event exceeds the maximum size of 512kB";

pub struct PagerdutyNotifier {
    client: HttpClient,
    templates: Arc<Templates>,
    external_url: String,
    conf: PagerdutyConfig,
    timeout: Option<Duration>,
    v1: bool,
}

fn opt(fields: &mut Vec<(String, Json)>, key: &str, value: String) {
    if !value.is_empty() {
        fields.push((key.to_string(), Json::Str(value)));
    }
}

impl PagerdutyNotifier {
    pub fn new(
        c: &PagerdutyConfig,
        opts: &ReceiverOptions,
    ) -> Result<PagerdutyNotifier, BuildError> {
        Ok(PagerdutyNotifier {
            client: HttpClient::new(c.http_config.as_ref(), &opts.outbound)?,
            templates: opts.templates.clone(),
            external_url: opts.external_url.clone(),
            conf: c.clone(),
            timeout: (!c.timeout.0.is_zero()).then_some(c.timeout.0),
            v1: !c.service_key.is_empty() || !c.service_key_file.is_empty(),
        })
    }

    /// The URL and the encoded event.
    pub(crate) fn event(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<(String, String), NotifyError> {
        let c = &self.conf;
        let data = notification_data(ctx, alerts, &self.external_url);
        let t = Tmpl::new(&self.templates, &data, ctx.now, "pagerduty");
        let action = if data.status == "resolved" {
            "resolve"
        } else {
            "trigger"
        };
        let mut details = Vec::new();
        for (k, v) in &c.details {
            details.push((k.clone(), t.deep(v)?));
        }
        details.sort_by(|a, b| a.0.cmp(&b.0));
        let key = group_key_hash(&ctx.group_key);
        let (summary, _) = truncate_runes(&t.text(&c.description)?, MAX_SUMMARY_RUNES);

        let build = |details: Vec<(String, Json)>| -> Result<String, NotifyError> {
            let mut m = Vec::new();
            if self.v1 {
                let sk = if c.service_key.is_empty() {
                    read_file_trimmed(&c.service_key_file)?
                } else {
                    c.service_key.expose().to_string()
                };
                let sk = t.text(&sk)?;
                if sk.is_empty() {
                    return Err(NotifyError::Permanent("service key cannot be empty".into()));
                }
                m.push(("service_key".into(), Json::Str(sk)));
                m.push(("incident_key".into(), Json::Str(key.clone())));
                m.push(("event_type".into(), Json::str(action)));
                opt(&mut m, "description", summary.clone());
                m.push(("event_action".into(), Json::str("")));
                m.push(("payload".into(), Json::Null));
                if action == "trigger" {
                    opt(&mut m, "client", t.text(&c.client)?);
                    opt(&mut m, "client_url", t.text(&c.client_url)?);
                }
                if !details.is_empty() {
                    m.push(("details".into(), Json::Obj(details)));
                }
                return Ok(Json::Obj(m).encode_line());
            }
            let rk = if c.routing_key.is_empty() {
                read_file_trimmed(&c.routing_key_file)?
            } else {
                c.routing_key.expose().to_string()
            };
            let rk = t.text(&rk)?;
            if rk.is_empty() {
                return Err(NotifyError::Permanent("routing key cannot be empty".into()));
            }
            let severity = if c.severity.is_empty() {
                "error"
            } else {
                c.severity.as_str()
            };
            m.push(("routing_key".into(), Json::Str(rk)));
            m.push(("dedup_key".into(), Json::Str(key.clone())));
            m.push(("event_action".into(), Json::str(action)));
            let mut p = vec![
                ("summary".to_string(), Json::Str(summary.clone())),
                ("source".to_string(), Json::Str(t.text(&c.source)?)),
                ("severity".to_string(), Json::Str(t.text(severity)?)),
            ];
            opt(&mut p, "class", t.text(&c.class)?);
            opt(&mut p, "component", t.text(&c.component)?);
            opt(&mut p, "group", t.text(&c.group)?);
            if !details.is_empty() {
                p.push(("custom_details".into(), Json::Obj(details)));
            }
            m.push(("payload".into(), Json::Obj(p)));
            opt(&mut m, "client", t.text(&c.client)?);
            opt(&mut m, "client_url", t.text(&c.client_url)?);
            let mut images = Vec::new();
            for i in &c.images {
                let src = t.text(&i.src)?;
                if !src.is_empty() {
                    images.push(Json::Obj(vec![
                        ("src".into(), Json::Str(src)),
                        ("alt".into(), Json::Str(t.text(&i.alt)?)),
                        ("href".into(), Json::Str(t.text(&i.href)?)),
                    ]));
                }
            }
            let mut links = Vec::new();
            for l in &c.links {
                let href = t.text(&l.href)?;
                if !href.is_empty() {
                    links.push(Json::Obj(vec![
                        ("href".into(), Json::Str(href)),
                        ("text".into(), Json::Str(t.text(&l.text)?)),
                    ]));
                }
            }
            if !images.is_empty() {
                m.push(("images".into(), Json::Arr(images)));
            }
            if !links.is_empty() {
                m.push(("links".into(), Json::Arr(links)));
            }
            Ok(Json::Obj(m).encode_line())
        };
        let mut body = build(details)?;
        if body.len() > MAX_EVENT_SIZE {
            body = build(vec![("error".to_string(), Json::str(TOO_BIG))])?;
        }
        let url = if self.v1 {
            V1_URL.to_string()
        } else {
            c.url
                .as_ref()
                .map(|u| u.as_str().to_string())
                .ok_or_else(|| NotifyError::Permanent("no PagerDuty URL configured".into()))?
        };
        Ok((url, body))
    }
}

/// PagerDuty's 400 reply explains itself in `message` and `errors`.
fn error_details(resp: &HttpResponse) -> Option<String> {
    if resp.status != 400 {
        return Some(String::new());
    }
    let v: serde_json::Value = serde_json::from_str(&resp.body).ok()?;
    let msg = v.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let errs: Vec<&str> = v
        .get("errors")
        .and_then(|e| e.as_array())
        .map(|a| a.iter().filter_map(|e| e.as_str()).collect())
        .unwrap_or_default();
    Some(format!("{msg}: {}", errs.join(",")))
}

#[async_trait]
impl Notifier for PagerdutyNotifier {
    async fn notify(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let (url, body) = self.event(ctx, alerts)?;
        let resp = self
            .client
            .post_json(&url, body, self.timeout)
            .await
            .map_err(|e| match e {
                NotifyError::Retryable(m) => {
                    NotifyError::Retryable(format!("failed to post message to PagerDuty: {m}"))
                }
                other => other,
            })?;
        // v1 answers 403 when rate limited, v2 answers 429.
        let retry: &[u16] = if self.v1 { &[403] } else { &[429] };
        check_status(&resp, retry, Some(error_details(&resp).unwrap_or_default()))
    }
}
