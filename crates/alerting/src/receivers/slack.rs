//! `slack_configs`: one attachment per notification, posted to an incoming
//! webhook (`api_url` / `api_url_file`) or to `chat.postMessage` with an app
//! token, with the fields, omissions and reply checks of Alertmanager's
//! Slack notifier.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::http::{check_status, HttpClient, HttpResponse};
use super::{
    notification_data, read_file_trimmed, truncate_runes, BuildError, ReceiverOptions, Tmpl,
};
use crate::alert::Alert;
use crate::config::SlackConfig;
use crate::notify::{Notifier, NotifyContext, NotifyError};
use crate::notify_template::gojson::Json;
use crate::notify_template::Templates;

const MAX_TITLE_RUNES: usize = 1024;
const RETRY_CODES: [u16; 1] = [429];

pub struct SlackNotifier {
    client: HttpClient,
    templates: Arc<Templates>,
    external_url: String,
    conf: SlackConfig,
    timeout: Option<Duration>,
}

/// Pushes `key: value` unless the value is empty (Go's `omitempty`).
fn opt(fields: &mut Vec<(String, Json)>, key: &str, value: String) {
    if !value.is_empty() {
        fields.push((key.to_string(), Json::Str(value)));
    }
}

impl SlackNotifier {
    pub fn new(c: &SlackConfig, opts: &ReceiverOptions) -> Result<SlackNotifier, BuildError> {
        Ok(SlackNotifier {
            client: HttpClient::new(c.http_config.as_ref(), &opts.outbound)?,
            templates: opts.templates.clone(),
            external_url: opts.external_url.clone(),
            conf: c.clone(),
            timeout: (!c.timeout.0.is_zero()).then_some(c.timeout.0),
        })
    }

    /// The request body and the rendered channel (for error messages).
    pub(crate) fn payload(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<(Json, String), NotifyError> {
        let c = &self.conf;
        let data = notification_data(ctx, alerts, &self.external_url);
        let t = Tmpl::new(&self.templates, &data, ctx.now, "slack");
        let mrkdwn_in = if c.mrkdwn_in.is_empty() {
            vec![
                "fallback".to_string(),
                "pretext".to_string(),
                "text".to_string(),
            ]
        } else {
            c.mrkdwn_in.clone()
        };
        let (title, _) = truncate_runes(&t.text(&c.title)?, MAX_TITLE_RUNES);

        let mut att = Vec::new();
        opt(&mut att, "title", title);
        opt(&mut att, "title_link", t.text(&c.title_link)?);
        opt(&mut att, "pretext", t.text(&c.pretext)?);
        att.push(("text".into(), Json::Str(t.text(&c.text)?)));
        att.push(("fallback".into(), Json::Str(t.text(&c.fallback)?)));
        att.push(("callback_id".into(), Json::Str(t.text(&c.callback_id)?)));
        if !c.fields.is_empty() {
            let mut fields = Vec::new();
            for f in &c.fields {
                let mut o = Vec::new();
                opt(&mut o, "title", t.text(&f.title)?);
                opt(&mut o, "value", t.text(&f.value)?);
                o.push((
                    "short".into(),
                    Json::Bool(f.short.unwrap_or(c.short_fields)),
                ));
                fields.push(Json::Obj(o));
            }
            att.push(("fields".into(), Json::Arr(fields)));
        }
        if !c.actions.is_empty() {
            let mut actions = Vec::new();
            for a in &c.actions {
                let mut o = Vec::new();
                opt(&mut o, "type", t.text(&a.kind)?);
                opt(&mut o, "text", t.text(&a.text)?);
                opt(&mut o, "url", t.text(&a.url)?);
                opt(&mut o, "style", t.text(&a.style)?);
                opt(&mut o, "name", t.text(&a.name)?);
                opt(&mut o, "value", t.text(&a.value)?);
                if let Some(cf) = &a.confirm {
                    let mut co = Vec::new();
                    opt(&mut co, "text", t.text(&cf.text)?);
                    opt(&mut co, "title", t.text(&cf.title)?);
                    opt(&mut co, "ok_text", t.text(&cf.ok_text)?);
                    opt(&mut co, "dismiss_text", t.text(&cf.dismiss_text)?);
                    o.push(("confirm".into(), Json::Obj(co)));
                }
                actions.push(Json::Obj(o));
            }
            att.push(("actions".into(), Json::Arr(actions)));
        }
        opt(&mut att, "image_url", t.text(&c.image_url)?);
        opt(&mut att, "thumb_url", t.text(&c.thumb_url)?);
        att.push(("footer".into(), Json::Str(t.text(&c.footer)?)));
        opt(&mut att, "color", t.text(&c.color)?);
        att.push((
            "mrkdwn_in".into(),
            Json::Arr(mrkdwn_in.into_iter().map(Json::Str).collect()),
        ));

        let channel = t.text(&c.channel)?;
        let mut req = Vec::new();
        opt(&mut req, "channel", channel.clone());
        opt(&mut req, "username", t.text(&c.username)?);
        opt(&mut req, "icon_emoji", t.text(&c.icon_emoji)?);
        opt(&mut req, "icon_url", t.text(&c.icon_url)?);
        if c.link_names {
            req.push(("link_names".into(), Json::Bool(true)));
        }
        opt(&mut req, "text", t.text(&c.message_text)?);
        req.push(("attachments".into(), Json::Arr(vec![Json::Obj(att)])));
        Ok((Json::Obj(req), channel))
    }

    fn url(&self) -> Result<String, NotifyError> {
        match &self.conf.api_url {
            Some(u) => Ok(u.expose().to_string()),
            None => read_file_trimmed(&self.conf.api_url_file),
        }
    }
}

/// Slack's reply: a JSON `{"ok": …}` from the Web API, or the text `ok`
/// from an incoming webhook.
fn check_reply(resp: &HttpResponse) -> Result<(), NotifyError> {
    if !resp.content_type.starts_with("application/json") {
        if resp.body == "ok" {
            return Ok(());
        }
        return Err(NotifyError::Permanent(format!(
            "received an error response from Slack: {}",
            resp.body
        )));
    }
    let v: serde_json::Value = serde_json::from_str(&resp.body).map_err(|e| {
        NotifyError::Retryable(format!(
            "could not unmarshal JSON response {:?}: {e}",
            resp.body
        ))
    })?;
    if v.get("ok").and_then(serde_json::Value::as_bool) == Some(true) {
        return Ok(());
    }
    let err = v.get("error").and_then(|e| e.as_str()).unwrap_or("");
    Err(NotifyError::Permanent(format!(
        "error response from Slack: {err}"
    )))
}

fn in_channel(channel: &str, e: NotifyError) -> NotifyError {
    match e {
        NotifyError::Retryable(m) => NotifyError::Retryable(format!("channel {channel:?}: {m}")),
        NotifyError::Permanent(m) => NotifyError::Permanent(format!("channel {channel:?}: {m}")),
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn notify(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let (body, channel) = self.payload(ctx, alerts)?;
        let url = self.url()?;
        let resp = self
            .client
            .post_json(&url, body.encode_line(), self.timeout)
            .await?;
        check_status(&resp, &RETRY_CODES, None).map_err(|e| in_channel(&channel, e))?;
        check_reply(&resp).map_err(|e| in_channel(&channel, e))
    }
}
