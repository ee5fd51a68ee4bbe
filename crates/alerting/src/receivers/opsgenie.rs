//! `opsgenie_configs`: creates an alert (alias = SHA-256 of the group key)
//! while the group fires, closes it by alias once it is resolved, and with
//! `update_alerts` also updates message and description, as Alertmanager's
//! OpsGenie notifier does.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;

use super::http::{check_status, HttpClient};
use super::{
    group_key_hash, notification_data, read_file_trimmed, safe_split, truncate_runes, BuildError,
    ReceiverOptions, Tmpl,
};
use crate::alert::Alert;
use crate::config::OpsGenieConfig;
use crate::notify::{Notifier, NotifyContext, NotifyError};
use crate::notify_template::gojson::Json;
use crate::notify_template::Templates;

const MAX_MESSAGE_RUNES: usize = 130;
const RETRY_CODES: [u16; 1] = [429];

pub struct OpsGenieNotifier {
    client: HttpClient,
    templates: Arc<Templates>,
    external_url: String,
    conf: OpsGenieConfig,
}

/// One API call of a notification.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Call {
    pub method: Method,
    pub url: String,
    pub body: String,
}

fn opt(fields: &mut Vec<(String, Json)>, key: &str, value: String) {
    if !value.is_empty() {
        fields.push((key.to_string(), Json::Str(value)));
    }
}

fn str_list(items: Vec<String>) -> Json {
    Json::Arr(items.into_iter().map(Json::Str).collect())
}

impl OpsGenieNotifier {
    pub fn new(c: &OpsGenieConfig, opts: &ReceiverOptions) -> Result<OpsGenieNotifier, BuildError> {
        Ok(OpsGenieNotifier {
            client: HttpClient::new(c.http_config.as_ref(), &opts.outbound)?,
            templates: opts.templates.clone(),
            external_url: opts.external_url.clone(),
            conf: c.clone(),
        })
    }

    /// The calls to make, in order, and the API key.
    pub(crate) fn calls(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<(Vec<Call>, String), NotifyError> {
        let c = &self.conf;
        let data = notification_data(ctx, alerts, &self.external_url);
        let t = Tmpl::new(&self.templates, &data, ctx.now, "opsgenie");
        let base = c
            .api_url
            .as_ref()
            .map(|u| u.as_str().to_string())
            .ok_or_else(|| NotifyError::Permanent("no OpsGenie API URL configured".into()))?;
        let alias = group_key_hash(&ctx.group_key);
        let by_alias = |path: &str| format!("{base}v2/alerts/{alias}/{path}?identifierType=alias");
        let mut calls = Vec::new();
        if data.status == "resolved" {
            let body = Json::Obj(vec![("source".into(), Json::Str(t.text(&c.source)?))]);
            calls.push(Call {
                method: Method::POST,
                url: by_alias("close"),
                body: body.encode_line(),
            });
        } else {
            let mut details = data.common_labels.clone();
            for (k, v) in c.details.iter().flatten() {
                details.insert(k.clone(), t.text(v)?);
            }
            let (message, _) = truncate_runes(&t.text(&c.message)?, MAX_MESSAGE_RUNES);
            let description = t.text(&c.description)?;
            let mut responders = Vec::new();
            for r in &c.responders {
                let (id, name, username, kind) = (
                    t.text(&r.id)?,
                    t.text(&r.name)?,
                    t.text(&r.username)?,
                    t.text(&r.kind)?,
                );
                if id.is_empty() && name.is_empty() && username.is_empty() && kind.is_empty() {
                    continue;
                }
                if kind == "teams" {
                    for team in safe_split(&name, ',') {
                        responders.push(Json::Obj(vec![
                            ("name".into(), Json::Str(t.text(&team)?)),
                            ("type".into(), Json::str("team")),
                        ]));
                    }
                    continue;
                }
                let mut o = Vec::new();
                opt(&mut o, "id", id);
                opt(&mut o, "name", name);
                opt(&mut o, "username", username);
                o.push(("type".into(), Json::Str(kind)));
                responders.push(Json::Obj(o));
            }
            let mut m = vec![
                ("alias".to_string(), Json::Str(alias.clone())),
                ("message".to_string(), Json::Str(message.clone())),
            ];
            opt(&mut m, "description", description.clone());
            m.push(("details".into(), Json::string_map(&details)));
            m.push(("source".into(), Json::Str(t.text(&c.source)?)));
            if !responders.is_empty() {
                m.push(("responders".into(), Json::Arr(responders)));
            }
            let tags = safe_split(&t.text(&c.tags)?, ',');
            if !tags.is_empty() {
                m.push(("tags".into(), str_list(tags)));
            }
            opt(&mut m, "note", t.text(&c.note)?);
            opt(&mut m, "priority", t.text(&c.priority)?);
            opt(&mut m, "entity", t.text(&c.entity)?);
            let actions = safe_split(&t.text(&c.actions)?, ',');
            if !actions.is_empty() {
                m.push(("actions".into(), str_list(actions)));
            }
            calls.push(Call {
                method: Method::POST,
                url: format!("{base}v2/alerts"),
                body: Json::Obj(m).encode_line(),
            });
            if c.update_alerts {
                let mut um = Vec::new();
                opt(&mut um, "message", message);
                calls.push(Call {
                    method: Method::PUT,
                    url: by_alias("message"),
                    body: Json::Obj(um).encode_line(),
                });
                let mut ud = Vec::new();
                opt(&mut ud, "description", description);
                calls.push(Call {
                    method: Method::PUT,
                    url: by_alias("description"),
                    body: Json::Obj(ud).encode_line(),
                });
            }
        }
        let key = if c.api_key.is_empty() {
            t.text(&read_file_trimmed(&c.api_key_file)?)?
                .trim()
                .to_string()
        } else {
            t.text(c.api_key.expose())?
        };
        Ok((calls, key))
    }
}

#[async_trait]
impl Notifier for OpsGenieNotifier {
    async fn notify(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let (calls, key) = self.calls(ctx, alerts)?;
        let auth = [("Authorization", format!("GenieKey {key}"))];
        for call in calls {
            let resp = self
                .client
                .send(
                    call.method,
                    &call.url,
                    "application/json",
                    call.body,
                    &auth,
                    None,
                )
                .await?;
            check_status(&resp, &RETRY_CODES, None)?;
        }
        Ok(())
    }
}
