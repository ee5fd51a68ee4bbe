//! The five integrations Pharos implements (webhook, email, Slack,
//! PagerDuty, OpsGenie): every field Alertmanager accepts, the defaults it
//! fills in (`send_resolved`, default templates, PagerDuty details) and the
//! checks it runs while decoding each entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::common::{
    check_template_delims, GoDuration, HostPort, HttpUrl, SecretTemplateUrl, SecretUrl,
};
use super::http::{HttpClientConfig, TlsConfig};
use crate::duration::PromDuration;
use crate::error::ValidationError;
use crate::secret::Secret;

fn yes() -> bool {
    true
}

fn tmpl(name: &str) -> String {
    format!("{{{{ template \"{name}\" . }}}}")
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default = "yes")]
    pub send_resolved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<SecretTemplateUrl>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub url_file: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub max_alerts: u64,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub timeout: GoDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_yaml::Value>,
    /// Pharos extension: a Go template whose output is the request body
    /// (it must render JSON). Excludes `payload:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_template: Option<String>,
}

/// Pharos extension on a receiver, `pharos_page_budget:`: at most
/// `max_notifications` notifications per `per` (a sliding window); the
/// overflow is held and sent as one summary when the budget refills.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageBudgetConfig {
    pub max_notifications: u32,
    pub per: PromDuration,
}

impl PageBudgetConfig {
    pub(crate) fn validate(&self, errs: &mut Vec<ValidationError>) {
        if self.max_notifications == 0 {
            errs.push(ValidationError::Required(
                "pharos_page_budget: max_notifications must be at least 1",
            ));
        }
        if self.per.is_zero() {
            errs.push(ValidationError::Required(
                "pharos_page_budget: per must be greater than zero",
            ));
        }
    }
}

/// Pharos extension on a receiver, `pharos_flapping:`: an alert changing
/// between firing and resolved more than `max_changes` times within
/// `window` is notified once as flapping, then held until it has been
/// stable for `window`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlappingConfig {
    pub max_changes: u32,
    pub window: PromDuration,
}

impl FlappingConfig {
    pub(crate) fn validate(&self, errs: &mut Vec<ValidationError>) {
        if self.max_changes == 0 {
            errs.push(ValidationError::Required(
                "pharos_flapping: max_changes must be at least 1",
            ));
        }
        if self.window.is_zero() {
            errs.push(ValidationError::Required(
                "pharos_flapping: window must be greater than zero",
            ));
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailThreading {
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default)]
    pub enabled: bool,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub thread_by_date: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default)]
    pub send_resolved: bool,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub to: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub from: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub hello: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub smarthost: HostPort,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub auth_username: String,
    #[serde(default)]
    pub auth_password: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub auth_password_file: String,
    #[serde(default)]
    pub auth_secret: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub auth_secret_file: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub auth_identity: String,
    /// Header names are canonicalised (`subject` → `Subject`).
    #[serde(default, deserialize_with = "super::common::string_map")]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "email_html"
    )]
    pub html: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub text: String,
    #[serde(deserialize_with = "crate::config::common::opt_yaml_bool", default)]
    pub require_tls: Option<bool>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    #[serde(deserialize_with = "crate::config::common::opt_yaml_bool", default)]
    pub force_implicit_tls: Option<bool>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub threading: EmailThreading,
}

fn email_html() -> String {
    tmpl("email.default.html")
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub title: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub value: String,
    #[serde(deserialize_with = "crate::config::common::opt_yaml_bool", default)]
    pub short: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfirm {
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub text: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub title: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub ok_text: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub dismiss_text: String,
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackAction {
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        rename = "type"
    )]
    pub kind: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub text: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub url: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub style: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub name: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub value: String,
    #[serde(default)]
    pub confirm: Option<SlackConfirm>,
}

macro_rules! slack_default {
    ($($f:ident => $t:literal),* $(,)?) => {
        $(fn $f() -> String { tmpl($t) })*
    };
}
slack_default! {
    slack_color => "slack.default.color",
    slack_username => "slack.default.username",
    slack_title => "slack.default.title",
    slack_title_link => "slack.default.titlelink",
    slack_icon_emoji => "slack.default.iconemoji",
    slack_icon_url => "slack.default.iconurl",
    slack_pretext => "slack.default.pretext",
    slack_text => "slack.default.text",
    slack_fallback => "slack.default.fallback",
    slack_callback_id => "slack.default.callbackid",
    slack_footer => "slack.default.footer",
    pd_description => "pagerduty.default.description",
    pd_client => "pagerduty.default.client",
    pd_client_url => "pagerduty.default.clientURL",
    og_message => "opsgenie.default.message",
    og_description => "opsgenie.default.description",
    og_source => "opsgenie.default.source",
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default)]
    pub send_resolved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<SecretUrl>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub api_url_file: String,
    #[serde(default)]
    pub app_token: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub app_token_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_url: Option<HttpUrl>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub channel: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_username"
    )]
    pub username: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_color"
    )]
    pub color: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_title"
    )]
    pub title: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_title_link"
    )]
    pub title_link: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_pretext"
    )]
    pub pretext: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_text"
    )]
    pub text: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub message_text: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub fields: Vec<SlackField>,
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default)]
    pub short_fields: bool,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_footer"
    )]
    pub footer: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_fallback"
    )]
    pub fallback: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_callback_id"
    )]
    pub callback_id: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_icon_emoji"
    )]
    pub icon_emoji: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "slack_icon_url"
    )]
    pub icon_url: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub image_url: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub thumb_url: String,
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default)]
    pub link_names: bool,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub mrkdwn_in: Vec<String>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub actions: Vec<SlackAction>,
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default)]
    pub update_message: bool,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub timeout: GoDuration,
}

impl Default for SlackConfig {
    /// What an empty `- {}` entry decodes to.
    fn default() -> Self {
        SlackConfig {
            send_resolved: false,
            http_config: None,
            api_url: None,
            api_url_file: String::new(),
            app_token: Secret::default(),
            app_token_file: String::new(),
            app_url: None,
            channel: String::new(),
            username: slack_username(),
            color: slack_color(),
            title: slack_title(),
            title_link: slack_title_link(),
            pretext: slack_pretext(),
            text: slack_text(),
            message_text: String::new(),
            fields: Vec::new(),
            short_fields: false,
            footer: slack_footer(),
            fallback: slack_fallback(),
            callback_id: slack_callback_id(),
            icon_emoji: slack_icon_emoji(),
            icon_url: slack_icon_url(),
            image_url: String::new(),
            thumb_url: String::new(),
            link_names: false,
            mrkdwn_in: Vec::new(),
            actions: Vec::new(),
            update_message: false,
            timeout: GoDuration::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyLink {
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub href: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyImage {
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub src: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub alt: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub href: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default = "yes")]
    pub send_resolved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default)]
    pub service_key: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub service_key_file: String,
    #[serde(default)]
    pub routing_key: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub routing_key_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<HttpUrl>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "pd_client"
    )]
    pub client: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "pd_client_url"
    )]
    pub client_url: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "pd_description"
    )]
    pub description: String,
    /// Values may be any YAML; the four summary keys are added when absent.
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub details: BTreeMap<String, serde_yaml::Value>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub images: Vec<PagerdutyImage>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub links: Vec<PagerdutyLink>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub source: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub severity: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub class: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub component: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub group: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub timeout: GoDuration,
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpsGenieResponder {
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub id: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub name: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub username: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        rename = "type"
    )]
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpsGenieConfig {
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default = "yes")]
    pub send_resolved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default)]
    pub api_key: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub api_key_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<HttpUrl>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "og_message"
    )]
    pub message: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "og_description"
    )]
    pub description: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default = "og_source"
    )]
    pub source: String,
    #[serde(default, deserialize_with = "super::common::string_map")]
    pub details: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub entity: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub responders: Vec<OpsGenieResponder>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub actions: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub tags: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub note: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub priority: String,
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default)]
    pub update_alerts: bool,
}

impl Default for OpsGenieConfig {
    fn default() -> Self {
        OpsGenieConfig {
            send_resolved: true,
            http_config: None,
            api_key: Secret::default(),
            api_key_file: String::new(),
            api_url: None,
            message: og_message(),
            description: og_description(),
            source: og_source(),
            details: None,
            entity: String::new(),
            responders: Vec::new(),
            actions: String::new(),
            tags: String::new(),
            note: String::new(),
            priority: String::new(),
            update_alerts: false,
        }
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey` for ASCII header names.
fn canonical_header(h: &str) -> String {
    if !h
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return h.to_string();
    }
    let mut upper = true;
    h.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

impl WebhookConfig {
    pub(crate) fn validate_item(&mut self, errs: &mut Vec<ValidationError>) {
        let url = self.url.as_ref().is_some_and(|u| !u.is_empty());
        if !url && self.url_file.is_empty() {
            errs.push(ValidationError::Required(
                "one of url or url_file must be configured",
            ));
        }
        if url && !self.url_file.is_empty() {
            errs.push(ValidationError::AtMostOne {
                a: "url",
                b: "url_file",
            });
        }
        if let Some(bt) = &self.body_template {
            if self.payload.is_some() {
                errs.push(ValidationError::AtMostOne {
                    a: "payload",
                    b: "body_template",
                });
            }
            // Parsed with the notification function set so that a typo is
            // reported at load rather than on the first page.
            let mut check = crate::notify_template::Templates::default();
            if let Err(e) = check.add(std::path::Path::new("body_template"), bt.clone()) {
                errs.push(ValidationError::TemplateSyntax(e.to_string()));
            }
        }
        if let Some(h) = &mut self.http_config {
            h.validate(errs);
        }
    }
}

impl EmailConfig {
    pub(crate) fn validate_item(&mut self, errs: &mut Vec<ValidationError>) {
        if self.to.is_empty() {
            errs.push(ValidationError::Required(
                "missing to address in email config",
            ));
        }
        let mut normalized = BTreeMap::new();
        for (h, v) in self.headers.take().unwrap_or_default() {
            let key = canonical_header(&h);
            if normalized.insert(key.clone(), v).is_some() {
                errs.push(ValidationError::DuplicateEmailHeader(key));
            }
        }
        if self.threading.enabled {
            if normalized.contains_key("References") {
                errs.push(ValidationError::Conflict(
                    "conflicting configuration: threading.enabled conflicts with custom References header",
                ));
            }
            if normalized.contains_key("In-Reply-To") {
                errs.push(ValidationError::Conflict(
                    "conflicting configuration: threading.enabled conflicts with custom In-Reply-To header",
                ));
            }
            if !matches!(self.threading.thread_by_date.as_str(), "none" | "daily") {
                errs.push(ValidationError::Conflict(
                    "threading.thread_by_date must be either 'none' or 'daily'",
                ));
            }
        }
        self.headers = Some(normalized);
        if let Some(t) = &self.tls_config {
            t.validate(errs);
        }
    }
}

impl SlackConfig {
    pub(crate) fn validate_item(&mut self, errs: &mut Vec<ValidationError>) {
        use ValidationError::{AtMostOne, Conflict};
        if self.api_url.is_some() && !self.api_url_file.is_empty() {
            errs.push(AtMostOne {
                a: "api_url",
                b: "api_url_file",
            });
        }
        if !self.app_token.is_empty() && !self.app_token_file.is_empty() {
            errs.push(AtMostOne {
                a: "app_token",
                b: "app_token_file",
            });
        }
        let url = self.api_url.is_some() || !self.api_url_file.is_empty();
        let token = !self.app_token.is_empty() || !self.app_token_file.is_empty();
        if url && token {
            errs.push(AtMostOne {
                a: "api_url/api_url_file",
                b: "app_token/app_token_file",
            });
        }
        if self.update_message
            && self.api_url.as_ref().map(|u| u.expose().as_str())
                != Some("https://slack.com/api/chat.postMessage")
        {
            errs.push(Conflict(
                "update_message can only be used with bot tokens. api_url must be set to https://slack.com/api/chat.postMessage",
            ));
        }
        for f in &self.fields {
            if f.title.is_empty() {
                errs.push(Conflict("missing title in Slack field configuration"));
            }
            if f.value.is_empty() {
                errs.push(Conflict("missing value in Slack field configuration"));
            }
        }
        for a in &mut self.actions {
            if a.kind.is_empty() {
                errs.push(Conflict("missing type in Slack action configuration"));
            }
            if a.text.is_empty() {
                errs.push(Conflict("missing text in Slack action configuration"));
            }
            if let Some(c) = &a.confirm {
                if c.text.is_empty() {
                    errs.push(Conflict("missing text in Slack confirmation configuration"));
                }
            }
            // A URL button ignores the interactive-message fields.
            if !a.url.is_empty() {
                a.name.clear();
                a.value.clear();
                a.confirm = None;
            } else if a.name.is_empty() {
                errs.push(Conflict(
                    "missing name or url in Slack action configuration",
                ));
            }
        }
        if let Some(h) = &mut self.http_config {
            h.validate(errs);
        }
    }
}

impl PagerdutyConfig {
    pub(crate) fn validate_item(&mut self, errs: &mut Vec<ValidationError>) {
        if self.routing_key.is_empty()
            && self.service_key.is_empty()
            && self.routing_key_file.is_empty()
            && self.service_key_file.is_empty()
        {
            errs.push(ValidationError::Required(
                "missing service or routing key in PagerDuty config",
            ));
        }
        if !self.routing_key.is_empty() && !self.routing_key_file.is_empty() {
            errs.push(ValidationError::AtMostOne {
                a: "routing_key",
                b: "routing_key_file",
            });
        }
        if !self.service_key.is_empty() && !self.service_key_file.is_empty() {
            errs.push(ValidationError::AtMostOne {
                a: "service_key",
                b: "service_key_file",
            });
        }
        if self.source.is_empty() {
            self.source = self.client.clone();
        }
        for (k, v) in [
            ("firing", "{{ .Alerts.Firing | toJson }}"),
            ("resolved", "{{ .Alerts.Resolved | toJson }}"),
            ("num_firing", "{{ .Alerts.Firing | len }}"),
            ("num_resolved", "{{ .Alerts.Resolved | len }}"),
        ] {
            self.details
                .entry(k.to_string())
                .or_insert_with(|| serde_yaml::Value::String(v.to_string()));
        }
        if let Some(h) = &mut self.http_config {
            h.validate(errs);
        }
    }
}

impl OpsGenieConfig {
    pub(crate) fn validate_item(&mut self, errs: &mut Vec<ValidationError>) {
        if !self.api_key.is_empty() && !self.api_key_file.is_empty() {
            errs.push(ValidationError::AtMostOne {
                a: "api_key",
                b: "api_key_file",
            });
        }
        for r in &mut self.responders {
            let shown = format!("{{{} {} {} {}}}", r.id, r.name, r.username, r.kind);
            if r.id.is_empty() && r.username.is_empty() && r.name.is_empty() {
                errs.push(ValidationError::OpsGenieResponderEmpty {
                    responder: shown.clone(),
                });
            }
            if r.kind.contains("{{") {
                if let Err(e) = check_template_delims(&r.kind) {
                    errs.push(ValidationError::TemplateSyntax(e));
                }
            } else {
                r.kind = r.kind.to_lowercase();
                if !matches!(
                    r.kind.as_str(),
                    "team" | "teams" | "user" | "escalation" | "schedule"
                ) {
                    errs.push(ValidationError::OpsGenieResponderType { responder: shown });
                }
            }
        }
        if let Some(h) = &mut self.http_config {
            h.validate(errs);
        }
    }
}
