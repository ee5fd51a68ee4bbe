//! The HTTP client every HTTP integration uses: prometheus/common's
//! `http_config` (basic auth, authorization, TLS, proxy, redirects, extra
//! headers) on top of reqwest, Alertmanager's rule for which failures are
//! worth retrying, and the outbound guard that keeps notifications away
//! from link-local addresses (cloud metadata endpoints) unless the server
//! allows them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{redirect, Method};

use super::{read_file_trimmed, BuildError};
use crate::config::HttpClientConfig;
use crate::notify::NotifyError;
use crate::secret::Secret;

/// Sent as `User-Agent` on every notification request.
pub const USER_AGENT: &str = concat!("Pharos/", env!("CARGO_PKG_VERSION"));

/// Largest response body read back (for error messages and Slack's reply).
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Server-wide rules for outbound notification traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboundPolicy {
    /// Allow sending to (and being redirected to) link-local addresses:
    /// 169.254.0.0/16 and fe80::/10, where cloud metadata services live.
    pub allow_link_local: bool,
    /// Request timeout for integrations without a `timeout` of their own.
    pub default_timeout: Option<Duration>,
    pub connect_timeout: Duration,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy {
            allow_link_local: false,
            default_timeout: Some(Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Whether `ip` is link-local (IPv4-mapped IPv6 addresses included).
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4.is_link_local();
            }
            (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn literal_host_ip(u: &url::Url) -> Option<IpAddr> {
    match u.host()? {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    }
}

/// Resolves names with the system resolver and drops link-local answers,
/// so a hostname pointing at a metadata address cannot be used either.
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| !is_link_local(a.ip()))
                .collect();
            if allowed.is_empty() && !found.is_empty() {
                return Err(format!(
                    "refusing to connect to {host}: it resolves only to link-local addresses"
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[derive(Clone, Debug)]
enum Auth {
    None,
    Basic {
        username: String,
        username_file: String,
        password: Secret,
        password_file: String,
    },
    Header {
        kind: String,
        credentials: Secret,
        credentials_file: String,
    },
}

/// A configured client for one integration.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    auth: Auth,
    /// Fixed extra headers, and headers whose values are read from files
    /// at each request (so rotated secrets are picked up).
    headers: Vec<(HeaderName, HeaderValue)>,
    header_files: Vec<(HeaderName, String)>,
    allow_link_local: bool,
    default_timeout: Option<Duration>,
}

/// A received response: status, content type and (bounded) body.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

fn unsupported(what: &str) -> BuildError {
    BuildError::Unsupported(what.to_string())
}

impl HttpClient {
    pub fn new(
        cfg: Option<&HttpClientConfig>,
        policy: &OutboundPolicy,
    ) -> Result<HttpClient, BuildError> {
        let default_cfg = HttpClientConfig::default();
        let cfg = cfg.unwrap_or(&default_cfg);
        if cfg.oauth2.is_some() {
            return Err(unsupported("http_config.oauth2"));
        }
        if !cfg.proxy_connect_header.is_empty() {
            return Err(unsupported("http_config.proxy_connect_header"));
        }
        let tls = &cfg.tls_config;
        if !tls.ca_ref.is_empty() || !tls.cert_ref.is_empty() || !tls.key_ref.is_empty() {
            return Err(unsupported("tls_config *_ref fields"));
        }
        if !tls.server_name.is_empty() {
            return Err(unsupported("tls_config.server_name"));
        }
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(USER_AGENT)
            .connect_timeout(policy.connect_timeout)
            .danger_accept_invalid_certs(tls.insecure_skip_verify);
        if !policy.allow_link_local {
            b = b.dns_resolver(Arc::new(GuardedResolver));
        }
        let ca = pem_source(&tls.ca, &tls.ca_file, "ca")?;
        if let Some(pem) = ca {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| BuildError::Tls(format!("ca: {e}")))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let cert = pem_source(&tls.cert, &tls.cert_file, "cert")?;
        let key = pem_source(tls.key.expose(), &tls.key_file, "key")?;
        if let (Some(cert), Some(key)) = (cert, key) {
            let id = reqwest::Identity::from_pem(format!("{key}\n{cert}").as_bytes())
                .map_err(|e| BuildError::Tls(format!("client certificate: {e}")))?;
            b = b.identity(id);
        }
        if let Some(v) = &tls.min_version {
            let v = match v.as_str() {
                "TLS10" => reqwest::tls::Version::TLS_1_0,
                "TLS11" => reqwest::tls::Version::TLS_1_1,
                "TLS12" => reqwest::tls::Version::TLS_1_2,
                _ => reqwest::tls::Version::TLS_1_3,
            };
            b = b.min_tls_version(v);
        }
        if let Some(v) = &tls.max_version {
            let v = match v.as_str() {
                "TLS10" => reqwest::tls::Version::TLS_1_0,
                "TLS11" => reqwest::tls::Version::TLS_1_1,
                "TLS12" => reqwest::tls::Version::TLS_1_2,
                _ => reqwest::tls::Version::TLS_1_3,
            };
            b = b.max_tls_version(v);
        }
        if !cfg.proxy_from_environment {
            b = b.no_proxy();
        }
        if let Some(p) = cfg.proxy_url.as_ref().filter(|p| !p.0.is_empty()) {
            let mut proxy = reqwest::Proxy::all(&p.0)
                .map_err(|e| BuildError::Proxy(format!("proxy_url: {}", e.without_url())))?;
            if !cfg.no_proxy.is_empty() {
                proxy = proxy.no_proxy(reqwest::NoProxy::from_string(&cfg.no_proxy));
            }
            b = b.proxy(proxy);
        }
        if !cfg.enable_http2 {
            b = b.http1_only();
        }
        let allow_ll = policy.allow_link_local;
        b = b.redirect(if cfg.follow_redirects {
            redirect::Policy::custom(move |attempt| {
                // Go's client stops after 10 redirects.
                if attempt.previous().len() >= 10 {
                    return attempt.error("stopped after 10 redirects");
                }
                if !allow_ll {
                    if let Some(ip) = literal_host_ip(attempt.url()) {
                        if is_link_local(ip) {
                            return attempt
                                .error(format!("refusing redirect to link-local address {ip}"));
                        }
                    }
                }
                attempt.follow()
            })
        } else {
            redirect::Policy::none()
        });
        let client = b
            .build()
            .map_err(|e| BuildError::Tls(format!("building HTTP client: {e}")))?;

        let auth = if let Some(a) = &cfg.authorization {
            Auth::Header {
                kind: if a.kind.is_empty() {
                    "Bearer".to_string()
                } else {
                    a.kind.clone()
                },
                credentials: a.credentials.clone(),
                credentials_file: a.credentials_file.clone(),
            }
        } else if !cfg.bearer_token.is_empty() || !cfg.bearer_token_file.is_empty() {
            Auth::Header {
                kind: "Bearer".to_string(),
                credentials: cfg.bearer_token.clone(),
                credentials_file: cfg.bearer_token_file.clone(),
            }
        } else if let Some(ba) = &cfg.basic_auth {
            Auth::Basic {
                username: ba.username.clone(),
                username_file: ba.username_file.clone(),
                password: ba.password.clone(),
                password_file: ba.password_file.clone(),
            }
        } else {
            Auth::None
        };

        let mut headers = Vec::new();
        let mut header_files = Vec::new();
        for (name, h) in cfg.http_headers.iter().flatten() {
            let hn = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| BuildError::Header(name.clone()))?;
            let values = h.values.iter().map(String::as_str);
            let secrets = h.secrets.iter().map(Secret::expose);
            for v in values.chain(secrets) {
                let hv = HeaderValue::from_str(v).map_err(|_| BuildError::Header(name.clone()))?;
                headers.push((hn.clone(), hv));
            }
            for f in &h.files {
                header_files.push((hn.clone(), f.clone()));
            }
        }
        Ok(HttpClient {
            client,
            auth,
            headers,
            header_files,
            allow_link_local: policy.allow_link_local,
            default_timeout: policy.default_timeout,
        })
    }

    /// Sends one request. Transport failures (connection refused, reset,
    /// timeout) are retryable; a URL that is invalid or refused by the
    /// outbound guard is not. The URL never appears in errors since it may
    /// carry secrets.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        content_type: &str,
        body: String,
        extra_headers: &[(&str, String)],
        timeout: Option<Duration>,
    ) -> Result<HttpResponse, NotifyError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| NotifyError::Permanent(format!("invalid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(NotifyError::Permanent(format!(
                "unsupported URL scheme {:?}",
                parsed.scheme()
            )));
        }
        if !self.allow_link_local {
            if let Some(ip) = literal_host_ip(&parsed) {
                if is_link_local(ip) {
                    return Err(NotifyError::Permanent(format!(
                        "refusing to send to link-local address {ip}"
                    )));
                }
            }
        }
        let mut req = self
            .client
            .request(method, parsed)
            .header(CONTENT_TYPE, content_type)
            .body(body);
        for (k, v) in &self.headers {
            req = req.header(k.clone(), v.clone());
        }
        for (k, f) in &self.header_files {
            let v = read_file_trimmed(f)?;
            let hv = HeaderValue::from_str(&v).map_err(|_| {
                NotifyError::Permanent(format!("invalid value for header {k} read from file"))
            })?;
            req = req.header(k.clone(), hv);
        }
        // An integration's own Authorization (OpsGenie's GenieKey) replaces
        // the http_config one, as Go's Header.Set does.
        let own_auth = extra_headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        match if own_auth { &Auth::None } else { &self.auth } {
            Auth::None => {}
            Auth::Basic {
                username,
                username_file,
                password,
                password_file,
            } => {
                let user = if username_file.is_empty() {
                    username.clone()
                } else {
                    read_file_trimmed(username_file)?
                };
                let pass = if password_file.is_empty() {
                    password.expose().to_string()
                } else {
                    read_file_trimmed(password_file)?
                };
                req = req.basic_auth(user, Some(pass));
            }
            Auth::Header {
                kind,
                credentials,
                credentials_file,
            } => {
                let cred = if credentials_file.is_empty() {
                    credentials.expose().to_string()
                } else {
                    read_file_trimmed(credentials_file)?
                };
                let hv = HeaderValue::from_str(&format!("{kind} {cred}")).map_err(|_| {
                    NotifyError::Permanent("invalid authorization credentials".to_string())
                })?;
                req = req.header(reqwest::header::AUTHORIZATION, hv);
            }
        }
        for (k, v) in extra_headers {
            req = req.header(*k, v.as_str());
        }
        if let Some(t) = timeout.or(self.default_timeout) {
            req = req.timeout(t);
        }
        let mut resp = req.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut body = Vec::new();
        while body.len() < MAX_RESPONSE_BODY {
            match resp.chunk().await {
                Ok(Some(c)) => body.extend_from_slice(&c),
                Ok(None) => break,
                // The status is known; a broken body only loses detail.
                Err(_) => break,
            }
        }
        body.truncate(MAX_RESPONSE_BODY);
        Ok(HttpResponse {
            status,
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    pub async fn post_json(
        &self,
        url: &str,
        body: String,
        timeout: Option<Duration>,
    ) -> Result<HttpResponse, NotifyError> {
        self.send(Method::POST, url, "application/json", body, &[], timeout)
            .await
    }
}

fn transport_error(e: reqwest::Error) -> NotifyError {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    // A refused redirect (link-local target, too many hops) will be refused
    // again on every retry.
    if e.is_builder() || e.is_redirect() {
        NotifyError::Permanent(msg)
    } else {
        NotifyError::Retryable(msg)
    }
}

fn pem_source(inline: &str, file: &str, what: &str) -> Result<Option<String>, BuildError> {
    if !inline.is_empty() {
        return Ok(Some(inline.to_string()));
    }
    if file.is_empty() {
        return Ok(None);
    }
    std::fs::read_to_string(file)
        .map(Some)
        .map_err(|e| BuildError::Tls(format!("read {what} file {file}: {e}")))
}

/// Alertmanager's `Retrier.Check`: 2xx succeeds; 5xx and the integration's
/// extra `retry_codes` are retryable; anything else is permanent. The
/// response body (or `details`, when given) is added to the message.
pub fn check_status(
    resp: &HttpResponse,
    retry_codes: &[u16],
    details: Option<String>,
) -> Result<(), NotifyError> {
    if resp.status / 100 == 2 {
        return Ok(());
    }
    let mut msg = format!("unexpected status code {}", resp.status);
    let details = details.unwrap_or_else(|| resp.body.clone());
    if !details.is_empty() {
        msg.push_str(": ");
        msg.push_str(&details);
    }
    if resp.status / 100 == 5 || retry_codes.contains(&resp.status) {
        Err(NotifyError::Retryable(msg))
    } else {
        Err(NotifyError::Permanent(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_ranges() {
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "::ffff:169.254.1.1",
            "febf::1",
        ] {
            assert!(is_link_local(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.1", "10.0.0.1", "fec0::1", "::1", "169.253.0.1"] {
            assert!(!is_link_local(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn status_classification() {
        let r = |status| HttpResponse {
            status,
            content_type: String::new(),
            body: "nope".into(),
        };
        assert!(check_status(&r(204), &[], None).is_ok());
        assert_eq!(
            check_status(&r(503), &[], None),
            Err(NotifyError::Retryable(
                "unexpected status code 503: nope".into()
            ))
        );
        assert!(check_status(&r(429), &[429], None)
            .unwrap_err()
            .is_retryable());
        assert_eq!(
            check_status(&r(400), &[429], None),
            Err(NotifyError::Permanent(
                "unexpected status code 400: nope".into()
            ))
        );
    }
}
