//! The `global:` section: defaults that receivers inherit (SMTP, Slack,
//! PagerDuty, OpsGenie, the HTTP client) plus `resolve_timeout`. Settings
//! for integrations Pharos does not implement are still accepted here so a
//! stock alertmanager.yml keeps loading; they are validated and unused.

use serde::{Deserialize, Serialize};

use super::common::{HostPort, HttpUrl, SecretUrl};
use super::http::{HttpClientConfig, TlsConfig};
use crate::duration::PromDuration;
use crate::error::ValidationError;
use crate::secret::Secret;

fn url(s: &str) -> Option<HttpUrl> {
    HttpUrl::parse(s).ok()
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub resolve_timeout: PromDuration,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub http_config: HttpClientConfig,

    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub smtp_from: String,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub smtp_hello: String,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub smtp_smarthost: HostPort,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub smtp_auth_username: String,
    pub smtp_auth_password: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub smtp_auth_password_file: String,
    pub smtp_auth_secret: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub smtp_auth_secret_file: String,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub smtp_auth_identity: String,
    #[serde(deserialize_with = "crate::config::common::yaml_bool")]
    pub smtp_require_tls: bool,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub smtp_tls_config: TlsConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "crate::config::common::opt_yaml_bool")]
    pub smtp_force_implicit_tls: Option<bool>,

    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_api_url: Option<SecretUrl>,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub slack_api_url_file: String,
    pub slack_app_token: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub slack_app_token_file: String,
    pub slack_app_url: Option<HttpUrl>,

    pub pagerduty_url: Option<HttpUrl>,

    pub opsgenie_api_url: Option<HttpUrl>,
    pub opsgenie_api_key: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub opsgenie_api_key_file: String,

    // Integrations Pharos does not implement; kept for compatibility.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jira_api_url: Option<HttpUrl>,
    pub wechat_api_url: Option<HttpUrl>,
    pub wechat_api_secret: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub wechat_api_secret_file: String,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub wechat_api_corp_id: String,
    pub victorops_api_url: Option<HttpUrl>,
    pub victorops_api_key: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub victorops_api_key_file: String,
    pub telegram_api_url: Option<HttpUrl>,
    pub telegram_bot_token: Secret,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub telegram_bot_token_file: String,
    pub webex_api_url: Option<HttpUrl>,
    pub rocketchat_api_url: Option<HttpUrl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rocketchat_token: Option<Secret>,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub rocketchat_token_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_id: Option<Secret>,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub rocketchat_token_id_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mattermost_webhook_url: Option<SecretUrl>,
    #[serde(deserialize_with = "crate::config::common::nullable")]
    pub mattermost_webhook_url_file: String,
}

impl Default for GlobalConfig {
    /// Alertmanager's `DefaultGlobalConfig`.
    fn default() -> Self {
        GlobalConfig {
            resolve_timeout: PromDuration::from_secs(300),
            http_config: HttpClientConfig::default(),
            smtp_from: String::new(),
            smtp_hello: "localhost".to_string(),
            smtp_smarthost: HostPort::default(),
            smtp_auth_username: String::new(),
            smtp_auth_password: Secret::default(),
            smtp_auth_password_file: String::new(),
            smtp_auth_secret: Secret::default(),
            smtp_auth_secret_file: String::new(),
            smtp_auth_identity: String::new(),
            smtp_require_tls: true,
            smtp_tls_config: TlsConfig::default(),
            smtp_force_implicit_tls: None,
            slack_api_url: None,
            slack_api_url_file: String::new(),
            slack_app_token: Secret::default(),
            slack_app_token_file: String::new(),
            slack_app_url: url("https://slack.com/api/chat.postMessage"),
            pagerduty_url: url("https://events.pagerduty.com/v2/enqueue"),
            opsgenie_api_url: url("https://api.opsgenie.com/"),
            opsgenie_api_key: Secret::default(),
            opsgenie_api_key_file: String::new(),
            jira_api_url: None,
            wechat_api_url: url("https://qyapi.weixin.qq.com/cgi-bin/"),
            wechat_api_secret: Secret::default(),
            wechat_api_secret_file: String::new(),
            wechat_api_corp_id: String::new(),
            victorops_api_url: url(
                "https://alert.victorops.com/integrations/generic/20131114/alert/",
            ),
            victorops_api_key: Secret::default(),
            victorops_api_key_file: String::new(),
            telegram_api_url: url("https://api.telegram.org"),
            telegram_bot_token: Secret::default(),
            telegram_bot_token_file: String::new(),
            webex_api_url: url("https://webexapis.com/v1/messages"),
            rocketchat_api_url: url("https://open.rocket.chat/"),
            rocketchat_token: None,
            rocketchat_token_file: String::new(),
            rocketchat_token_id: None,
            rocketchat_token_id_file: String::new(),
            mattermost_webhook_url: None,
            mattermost_webhook_url_file: String::new(),
        }
    }
}

impl GlobalConfig {
    /// Checks that belong to the section itself (its HTTP client).
    pub(crate) fn validate_item(&mut self, errs: &mut Vec<ValidationError>) {
        self.http_config.validate(errs);
        self.smtp_tls_config.validate(errs);
    }

    /// The "value or file, not both" rules Alertmanager checks before
    /// looking at receivers, in its order.
    pub(crate) fn validate_exclusive(&self, errs: &mut Vec<ValidationError>) {
        use ValidationError::AtMostOne;
        let app_token = !self.slack_app_token.is_empty() || !self.slack_app_token_file.is_empty();
        let api_url = self.slack_api_url.is_some() || !self.slack_api_url_file.is_empty();
        if !self.slack_app_token.is_empty() && !self.slack_app_token_file.is_empty() {
            errs.push(AtMostOne {
                a: "slack_app_token",
                b: "slack_app_token_file",
            });
        }
        if self.slack_api_url.is_some() && !self.slack_api_url_file.is_empty() {
            errs.push(AtMostOne {
                a: "slack_api_url",
                b: "slack_api_url_file",
            });
        }
        if app_token && api_url {
            // Allowed only when the webhook URL is the app URL itself.
            let same = match (&self.slack_api_url, &self.slack_app_url) {
                (Some(a), Some(b)) => a.expose() == &b.0,
                _ => false,
            };
            if !same {
                errs.push(AtMostOne {
                    a: "slack_app_token/slack_app_token_file",
                    b: "slack_api_url/slack_api_url_file",
                });
            }
        }
        let pairs: [(bool, bool, &'static str, &'static str); 9] = [
            (
                !self.opsgenie_api_key.is_empty(),
                !self.opsgenie_api_key_file.is_empty(),
                "opsgenie_api_key",
                "opsgenie_api_key_file",
            ),
            (
                !self.victorops_api_key.is_empty(),
                !self.victorops_api_key_file.is_empty(),
                "victorops_api_key",
                "victorops_api_key_file",
            ),
            (
                !self.telegram_bot_token.is_empty(),
                !self.telegram_bot_token_file.is_empty(),
                "telegram_bot_token",
                "telegram_bot_token_file",
            ),
            (
                !self.smtp_auth_password.is_empty(),
                !self.smtp_auth_password_file.is_empty(),
                "smtp_auth_password",
                "smtp_auth_password_file",
            ),
            (
                self.rocketchat_token.is_some(),
                !self.rocketchat_token_file.is_empty(),
                "rocketchat_token",
                "rocketchat_token_file",
            ),
            (
                self.rocketchat_token_id.is_some(),
                !self.rocketchat_token_id_file.is_empty(),
                "rocketchat_token_id",
                "rocketchat_token_id_file",
            ),
            (
                !self.smtp_auth_secret.is_empty(),
                !self.smtp_auth_secret_file.is_empty(),
                "smtp_auth_secret",
                "smtp_auth_secret_file",
            ),
            (
                !self.wechat_api_secret.is_empty(),
                !self.wechat_api_secret_file.is_empty(),
                "wechat_api_secret",
                "wechat_api_secret_file",
            ),
            (
                self.mattermost_webhook_url.is_some(),
                !self.mattermost_webhook_url_file.is_empty(),
                "mattermost_webhook_url",
                "mattermost_webhook_url_file",
            ),
        ];
        for (x, y, a, b) in pairs {
            if x && y {
                errs.push(AtMostOne { a, b });
            }
        }
    }
}
