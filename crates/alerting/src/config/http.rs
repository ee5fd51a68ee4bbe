//! prometheus/common's `http_config` block (basic auth, authorization,
//! bearer token, OAuth2, TLS, proxy, redirects) and its validation rules,
//! which Alertmanager applies to every receiver's HTTP client.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::ProxyUrl;
use crate::error::ValidationError;
use crate::secret::Secret;

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    /// Legacy form of `authorization: {credentials: …}`; moved there by
    /// [`HttpClientConfig::validate`].
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub bearer_token: Secret,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub bearer_token_file: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub tls_config: TlsConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<ProxyUrl>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub no_proxy: String,
    #[serde(
        deserialize_with = "crate::config::common::yaml_bool",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub proxy_from_environment: bool,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default = "yes")]
    pub follow_redirects: bool,
    #[serde(
        deserialize_with = "crate::config::common::yaml_bool",
        default = "yes",
        skip_serializing_if = "is_true"
    )]
    pub enable_http2: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_headers: Option<BTreeMap<String, HttpHeader>>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: Secret::default(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            proxy_url: None,
            no_proxy: String::new(),
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            follow_redirects: true,
            enable_http2: true,
            http_headers: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub username: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub username_file: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub username_ref: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub password_file: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub password_ref: String,
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        rename = "type"
    )]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub credentials: Secret,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub credentials_file: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub credentials_ref: String,
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub client_secret: Secret,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub client_secret_file: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub client_secret_ref: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub scopes: Vec<String>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub token_url: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub endpoint_params: BTreeMap<String, String>,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub tls_config: TlsConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<ProxyUrl>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub no_proxy: String,
    #[serde(
        deserialize_with = "crate::config::common::yaml_bool",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub proxy_from_environment: bool,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpHeader {
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<String>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub secrets: Vec<Secret>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub files: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ca: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ca_file: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ca_ref: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cert: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cert_file: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cert_ref: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub key: Secret,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub key_file: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub key_ref: String,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub server_name: String,
    #[serde(deserialize_with = "crate::config::common::yaml_bool", default)]
    pub insecure_skip_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

fn count(flags: &[bool]) -> usize {
    flags.iter().filter(|b| **b).count()
}

const TLS_VERSIONS: [&str; 4] = ["TLS10", "TLS11", "TLS12", "TLS13"];

impl TlsConfig {
    pub fn validate(&self, errs: &mut Vec<ValidationError>) {
        use ValidationError::Conflict;
        if count(&[
            !self.ca.is_empty(),
            !self.ca_file.is_empty(),
            !self.ca_ref.is_empty(),
        ]) > 1
        {
            errs.push(Conflict(
                "at most one of ca, ca_file & ca_ref must be configured",
            ));
        }
        let cert = count(&[
            !self.cert.is_empty(),
            !self.cert_file.is_empty(),
            !self.cert_ref.is_empty(),
        ]);
        let key = count(&[
            !self.key.is_empty(),
            !self.key_file.is_empty(),
            !self.key_ref.is_empty(),
        ]);
        if cert > 1 {
            errs.push(Conflict(
                "at most one of cert, cert_file & cert_ref must be configured",
            ));
        }
        if key > 1 {
            errs.push(Conflict(
                "at most one of key and key_file must be configured",
            ));
        }
        if cert > 0 && key == 0 {
            errs.push(Conflict(
                "exactly one of key or key_file must be configured when a client certificate is configured",
            ));
        }
        if key > 0 && cert == 0 {
            errs.push(Conflict(
                "exactly one of cert or cert_file must be configured when a client key is configured",
            ));
        }
        for v in [&self.min_version, &self.max_version].into_iter().flatten() {
            if !TLS_VERSIONS.contains(&v.as_str()) {
                errs.push(ValidationError::TlsVersion(v.clone()));
            }
        }
    }
}

fn validate_proxy(
    proxy_url: &Option<ProxyUrl>,
    no_proxy: &str,
    from_env: bool,
    connect_header: &BTreeMap<String, Vec<Secret>>,
    errs: &mut Vec<ValidationError>,
) {
    use ValidationError::Conflict;
    let has_url = proxy_url.as_ref().is_some_and(|u| !u.0.is_empty());
    if !connect_header.is_empty() && !from_env && !has_url {
        errs.push(Conflict(
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
        ));
    }
    if from_env && has_url {
        errs.push(Conflict(
            "if proxy_from_environment is configured, proxy_url must not be configured",
        ));
    }
    if from_env && !no_proxy.is_empty() {
        errs.push(Conflict(
            "if proxy_from_environment is configured, no_proxy must not be configured",
        ));
    }
    if !has_url && !no_proxy.is_empty() {
        errs.push(Conflict(
            "if no_proxy is configured, proxy_url must also be configured",
        ));
    }
}

/// Makes a relative file path relative to `base` (the config's directory).
fn join(base: &Path, p: &mut String) {
    if !p.is_empty() && Path::new(p.as_str()).is_relative() {
        *p = base.join(p.as_str()).display().to_string();
    }
}

impl TlsConfig {
    pub fn set_directory(&mut self, base: &Path) {
        join(base, &mut self.ca_file);
        join(base, &mut self.cert_file);
        join(base, &mut self.key_file);
    }
}

impl HttpClientConfig {
    /// Resolves the credential and certificate file paths against the
    /// directory of the config file, as prometheus/common does.
    pub fn set_directory(&mut self, base: &Path) {
        if let Some(b) = &mut self.basic_auth {
            join(base, &mut b.username_file);
            join(base, &mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join(base, &mut a.credentials_file);
        }
        if let Some(o) = &mut self.oauth2 {
            join(base, &mut o.client_secret_file);
            o.tls_config.set_directory(base);
        }
        join(base, &mut self.bearer_token_file);
        self.tls_config.set_directory(base);
    }

    /// Applies prometheus/common's rules, and moves a legacy `bearer_token`
    /// into `authorization` as it does.
    pub fn validate(&mut self, errs: &mut Vec<ValidationError>) {
        use ValidationError::Conflict;
        let bearer = !self.bearer_token.is_empty();
        let bearer_file = !self.bearer_token_file.is_empty();
        if bearer && bearer_file {
            errs.push(Conflict(
                "at most one of bearer_token & bearer_token_file must be configured",
            ));
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && (bearer || bearer_file) {
            errs.push(Conflict(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ));
        }
        if let Some(b) = &self.basic_auth {
            if count(&[
                !b.username.is_empty(),
                !b.username_file.is_empty(),
                !b.username_ref.is_empty(),
            ]) > 1
            {
                errs.push(Conflict(
                    "at most one of basic_auth username, username_file & username_ref must be configured",
                ));
            }
            if count(&[
                !b.password.is_empty(),
                !b.password_file.is_empty(),
                !b.password_ref.is_empty(),
            ]) > 1
            {
                errs.push(Conflict(
                    "at most one of basic_auth password, password_file & password_ref must be configured",
                ));
            }
        }
        if let Some(a) = &mut self.authorization {
            if bearer || bearer_file {
                errs.push(Conflict(
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            if count(&[
                !a.credentials.is_empty(),
                !a.credentials_file.is_empty(),
                !a.credentials_ref.is_empty(),
            ]) > 1
            {
                errs.push(Conflict("at most one of authorization credentials & credentials_file must be configured"));
            }
            a.kind = a.kind.trim().to_string();
            if a.kind.is_empty() {
                a.kind = "Bearer".to_string();
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                errs.push(Conflict(
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                ));
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                errs.push(Conflict(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
        } else if bearer != bearer_file {
            self.authorization = Some(Authorization {
                kind: "Bearer".to_string(),
                credentials: std::mem::take(&mut self.bearer_token),
                credentials_file: std::mem::take(&mut self.bearer_token_file),
                credentials_ref: String::new(),
            });
        }
        if let Some(o) = &self.oauth2 {
            if self.basic_auth.is_some() {
                errs.push(Conflict(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
            if o.client_id.is_empty() {
                errs.push(ValidationError::Required(
                    "oauth2 client_id must be configured",
                ));
            }
            if o.token_url.is_empty() {
                errs.push(ValidationError::Required(
                    "oauth2 token_url must be configured",
                ));
            }
            if count(&[
                !o.client_secret.is_empty(),
                !o.client_secret_file.is_empty(),
                !o.client_secret_ref.is_empty(),
            ]) > 1
            {
                errs.push(Conflict(
                    "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured",
                ));
            }
            o.tls_config.validate(errs);
            validate_proxy(
                &o.proxy_url,
                &o.no_proxy,
                o.proxy_from_environment,
                &o.proxy_connect_header,
                errs,
            );
        }
        self.tls_config.validate(errs);
        validate_proxy(
            &self.proxy_url,
            &self.no_proxy,
            self.proxy_from_environment,
            &self.proxy_connect_header,
            errs,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(y: &str) -> (HttpClientConfig, Vec<String>) {
        let mut c: HttpClientConfig = serde_yaml::from_str(y).unwrap();
        let mut errs = Vec::new();
        c.validate(&mut errs);
        (c, errs.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn bearer_token_moves_to_authorization() {
        let (c, errs) = check("bearer_token: abc");
        assert!(errs.is_empty());
        let a = c.authorization.unwrap();
        assert_eq!((a.kind.as_str(), a.credentials.expose()), ("Bearer", "abc"));
    }

    #[test]
    fn conflicts_are_reported() {
        let (_, errs) = check("bearer_token: a\nbearer_token_file: b");
        assert_eq!(
            errs[0],
            "at most one of bearer_token & bearer_token_file must be configured"
        );
        let (_, errs) = check("basic_auth: {username: u}\nauthorization: {credentials: x}");
        assert_eq!(
            errs,
            ["at most one of basic_auth, oauth2 & authorization must be configured"]
        );
        let (_, errs) = check("authorization: {type: Basic, credentials: x}");
        assert_eq!(
            errs,
            ["authorization type cannot be set to \"basic\", use \"basic_auth\" instead"]
        );
        let (_, errs) = check("proxy_from_environment: true\nproxy_url: http://p:1");
        assert_eq!(
            errs,
            ["if proxy_from_environment is configured, proxy_url must not be configured"]
        );
        let (_, errs) = check("tls_config: {min_version: TLS9}");
        assert_eq!(errs, ["unknown TLS version: TLS9"]);
    }

    #[test]
    fn secrets_are_not_serialized() {
        let (c, _) =
            check("basic_auth: {username: u, password: hunter2}\ntls_config: {cert: c, key: k3y}");
        let out = serde_yaml::to_string(&c).unwrap();
        assert!(!out.contains("hunter2") && !out.contains("k3y"), "{out}");
        assert!(out.contains("<secret>"));
    }
}
