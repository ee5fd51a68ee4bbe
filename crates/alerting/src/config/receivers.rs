//! Receivers: their name and labels, the integrations they list, and the
//! inheritance of `global:` settings into those integrations as
//! Alertmanager performs it after decoding. Integrations Pharos does not
//! implement are recognised by name and refused as unsupported.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::common::SecretUrl;
use super::global::GlobalConfig;
use super::http::Authorization;
use super::integrations::{
    EmailConfig, FlappingConfig, OpsGenieConfig, PageBudgetConfig, PagerdutyConfig, SlackConfig,
    WebhookConfig,
};
use crate::error::ValidationError;

/// Integration keys Alertmanager knows and Pharos does not implement.
pub const UNSUPPORTED_INTEGRATIONS: [&str; 13] = [
    "discord_configs",
    "incidentio_configs",
    "wechat_configs",
    "pushover_configs",
    "victorops_configs",
    "sns_configs",
    "telegram_configs",
    "webex_configs",
    "msteams_configs",
    "msteamsv2_configs",
    "jira_configs",
    "rocketchat_configs",
    "mattermost_configs",
];

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub name: String,
    /// Receiver labels; `name` is always set to the receiver's name.
    #[serde(
        default,
        deserialize_with = "super::common::string_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub webhook_configs: Vec<Option<WebhookConfig>>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub email_configs: Vec<Option<EmailConfig>>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub slack_configs: Vec<Option<SlackConfig>>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pagerduty_configs: Vec<Option<PagerdutyConfig>>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub opsgenie_configs: Vec<Option<OpsGenieConfig>>,
    /// Pharos extensions against alert fatigue (unknown to Alertmanager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pharos_page_budget: Option<PageBudgetConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pharos_flapping: Option<FlappingConfig>,
    // Integrations Pharos refuses, decoded only to be named in the error (a
    // null value counts as absent, as in Alertmanager). They are plain
    // fields rather than a flattened map so that serde still rejects unknown
    // keys with their line and decodes the supported ones without buffering.
    #[serde(default, skip_serializing)]
    pub discord_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub incidentio_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub wechat_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub pushover_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub victorops_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub sns_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub telegram_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub webex_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub msteams_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub msteamsv2_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub jira_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub rocketchat_configs: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing)]
    pub mattermost_configs: Option<serde_yaml::Value>,
}

impl Receiver {
    /// The unsupported integrations this receiver lists, in
    /// [`UNSUPPORTED_INTEGRATIONS`] order.
    pub fn unsupported_integrations(&self) -> Vec<&'static str> {
        let all = [
            &self.discord_configs,
            &self.incidentio_configs,
            &self.wechat_configs,
            &self.pushover_configs,
            &self.victorops_configs,
            &self.sns_configs,
            &self.telegram_configs,
            &self.webex_configs,
            &self.msteams_configs,
            &self.msteamsv2_configs,
            &self.jira_configs,
            &self.rocketchat_configs,
            &self.mattermost_configs,
        ];
        UNSUPPORTED_INTEGRATIONS
            .iter()
            .zip(all)
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| *k)
            .collect()
    }
}

impl Receiver {
    /// Checks Alertmanager runs while decoding one receiver.
    pub(crate) fn validate_item(&mut self, errs: &mut Vec<ValidationError>) {
        if self.name.is_empty() {
            errs.push(ValidationError::ReceiverWithoutName);
        }
        let labels = self.labels.get_or_insert_with(BTreeMap::new);
        if let Some(v) = labels.get("name") {
            if *v != self.name {
                errs.push(ValidationError::ReceiverNameLabel {
                    name: self.name.clone(),
                    got: v.clone(),
                });
            }
        }
        labels.insert("name".to_string(), self.name.clone());
        if let Some(b) = &self.pharos_page_budget {
            b.validate(errs);
        }
        if let Some(f) = &self.pharos_flapping {
            f.validate(errs);
        }
        for c in self.webhook_configs.iter_mut().flatten() {
            c.validate_item(errs);
        }
        for c in self.email_configs.iter_mut().flatten() {
            c.validate_item(errs);
        }
        for c in self.slack_configs.iter_mut().flatten() {
            c.validate_item(errs);
        }
        for c in self.pagerduty_configs.iter_mut().flatten() {
            c.validate_item(errs);
        }
        for c in self.opsgenie_configs.iter_mut().flatten() {
            c.validate_item(errs);
        }
    }

    /// Fills inherited `global:` settings in, as Alertmanager does after
    /// decoding the whole file, and reports what is still missing.
    pub(crate) fn resolve(&mut self, g: &GlobalConfig, errs: &mut Vec<ValidationError>) {
        use ValidationError::{EmptyIntegration, Required};
        let http = || Some(g.http_config.clone());
        for c in &mut self.webhook_configs {
            match c {
                None => errs.push(EmptyIntegration("webhook")),
                Some(c) => {
                    if c.http_config.is_none() {
                        c.http_config = http();
                    }
                }
            }
        }
        for c in &mut self.email_configs {
            let Some(c) = c else {
                errs.push(EmptyIntegration("email"));
                continue;
            };
            if c.tls_config.is_none() {
                c.tls_config = Some(g.smtp_tls_config.clone());
            }
            if c.smarthost.host.is_empty() && c.smarthost.port.is_empty() {
                c.smarthost = g.smtp_smarthost.clone();
            }
            if c.smarthost.host.is_empty() && c.smarthost.port.is_empty() {
                errs.push(Required("no global SMTP smarthost set"));
            }
            if c.from.is_empty() {
                c.from = g.smtp_from.clone();
            }
            if c.from.is_empty() {
                errs.push(Required("no global SMTP from set"));
            }
            if c.hello.is_empty() {
                c.hello = g.smtp_hello.clone();
            }
            if c.auth_username.is_empty() {
                c.auth_username = g.smtp_auth_username.clone();
            }
            if c.auth_password.is_empty() && c.auth_password_file.is_empty() {
                c.auth_password = g.smtp_auth_password.clone();
                c.auth_password_file = g.smtp_auth_password_file.clone();
            }
            if c.auth_secret.is_empty() && c.auth_secret_file.is_empty() {
                c.auth_secret = g.smtp_auth_secret.clone();
                c.auth_secret_file = g.smtp_auth_secret_file.clone();
            }
            if c.auth_identity.is_empty() {
                c.auth_identity = g.smtp_auth_identity.clone();
            }
            if c.require_tls.is_none() {
                c.require_tls = Some(g.smtp_require_tls);
            }
            if c.force_implicit_tls.is_none() {
                c.force_implicit_tls = g.smtp_force_implicit_tls;
            }
        }
        for c in &mut self.slack_configs {
            // An empty entry behaves like `{}`: everything from `global`.
            let c = c.get_or_insert_with(SlackConfig::default);
            if c.app_url.is_none() {
                c.app_url = g.slack_app_url.clone();
            }
            let Some(app_url) = c.app_url.clone() else {
                errs.push(Required("no global Slack App URL set"));
                continue;
            };
            let local_auth = c
                .http_config
                .as_ref()
                .is_some_and(|h| h.authorization.is_some());
            if c.app_token.is_empty()
                && c.app_token_file.is_empty()
                && !local_auth
                && c.api_url.is_none()
            {
                c.app_token = g.slack_app_token.clone();
                c.app_token_file = g.slack_app_token_file.clone();
            }
            if c.api_url.is_none() && c.api_url_file.is_empty() {
                c.api_url = g.slack_api_url.clone();
                c.api_url_file = g.slack_api_url_file.clone();
            }
            let token = !c.app_token.is_empty() || !c.app_token_file.is_empty();
            if c.api_url.is_none() && c.api_url_file.is_empty() && !token {
                errs.push(Required(
                    "no Slack API URL nor App token set either inline or in a file",
                ));
                continue;
            }
            let h = c.http_config.get_or_insert_with(|| g.http_config.clone());
            if token {
                if h.authorization.is_some() {
                    errs.push(ValidationError::Conflict(
                        "http authorization can't be set when using Slack App tokens",
                    ));
                    continue;
                }
                h.authorization = Some(Authorization {
                    kind: "Bearer".to_string(),
                    credentials: c.app_token.clone(),
                    credentials_file: c.app_token_file.clone(),
                    credentials_ref: String::new(),
                });
                c.api_url = Some(SecretUrl::from_http(&app_url));
            }
        }
        for c in &mut self.pagerduty_configs {
            let Some(c) = c else {
                errs.push(EmptyIntegration("pagerduty"));
                continue;
            };
            if c.http_config.is_none() {
                c.http_config = http();
            }
            if c.url.is_none() {
                c.url = g.pagerduty_url.clone();
            }
            if c.url.is_none() {
                errs.push(Required("no global PagerDuty URL set"));
            }
        }
        for c in &mut self.opsgenie_configs {
            let c = c.get_or_insert_with(OpsGenieConfig::default);
            if c.http_config.is_none() {
                c.http_config = http();
            }
            match c.api_url.as_ref().or(g.opsgenie_api_url.as_ref()) {
                Some(u) => c.api_url = Some(u.with_trailing_slash()),
                None => {
                    errs.push(Required("no global OpsGenie URL set"));
                    continue;
                }
            }
            if c.api_key.is_empty() {
                c.api_key = g.opsgenie_api_key.clone();
            }
            if c.api_key_file.is_empty() {
                c.api_key_file = g.opsgenie_api_key_file.clone();
            }
            if c.api_key.is_empty() && c.api_key_file.is_empty() {
                errs.push(Required(
                    "no global OpsGenie API Key set either inline or in a file",
                ));
            }
        }
        for kind in self.unsupported_integrations() {
            errs.push(ValidationError::UnsupportedIntegration {
                receiver: self.name.clone(),
                kind: kind.to_string(),
            });
        }
    }
}
