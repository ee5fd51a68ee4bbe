//! Value types shared by the config sections: URLs (plain and secret),
//! `host:port` addresses, Go-style durations, label maps that tolerate
//! numeric or empty YAML values, and prometheus/common's HTTP client config.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::ValidationError;
use crate::secret::{Secret, SECRET_TOKEN};

/// Checks a notification endpoint the way Alertmanager's `ParseURL` does:
/// it must parse, use http or https, and name a host.
pub fn parse_http_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| format!("parse {s:?}: {e}"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!("unsupported scheme {:?} for URL", u.scheme()));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("missing host for URL".to_string());
    }
    Ok(u)
}

/// An http(s) URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl(pub url::Url);

impl HttpUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_http_url(s).map(HttpUrl)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Appends `/` to the path unless present; Alertmanager does this for
    /// API base URLs that get endpoint paths joined onto them.
    pub fn with_trailing_slash(&self) -> HttpUrl {
        let mut u = self.0.clone();
        if !u.path().ends_with('/') {
            let p = format!("{}/", u.path());
            u.set_path(&p);
        }
        HttpUrl(u)
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HttpUrl::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for HttpUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

/// Removes a secret value from an error text.
fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "[REDACTED]")
    }
}

/// An http(s) URL that embeds a credential (Slack webhooks): validated like
/// [`HttpUrl`], but printed and serialized as `<secret>`, and the error
/// text never repeats the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(url::Url);

impl SecretUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_http_url(s).map(SecretUrl).map_err(|e| redact(&e, s))
    }

    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    pub(crate) fn from_http(u: &HttpUrl) -> Self {
        SecretUrl(u.0.clone())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_TOKEN)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_TOKEN)
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SecretUrl::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(SECRET_TOKEN)
    }
}

/// Checks Go `text/template` delimiters well enough to catch the usual
/// mistakes (unclosed or stray `{{ }}`) without a template engine.
pub fn check_template_delims(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| "template: :1: unclosed action".to_string())?;
        if after[..close].contains("{{") {
            return Err("template: :1: unexpected \"{\" in command".to_string());
        }
        rest = &after[close + 2..];
    }
    Ok(())
}

/// The webhook `url`: secret, and either a literal http(s) URL or a Go
/// template that is only checked for syntax.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretTemplateUrl(Secret);

impl SecretTemplateUrl {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if !s.is_empty() && s != SECRET_TOKEN {
            if s.contains("{{") {
                check_template_delims(s).map_err(ValidationError::TemplateSyntax)?;
            } else {
                parse_http_url(s).map_err(|e| ValidationError::InvalidUrl(redact(&e, s)))?;
            }
        }
        Ok(SecretTemplateUrl(Secret::new(s)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretTemplateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_TOKEN)
    }
}

impl<'de> Deserialize<'de> for SecretTemplateUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        SecretTemplateUrl::parse(&s.unwrap_or_default()).map_err(de::Error::custom)
    }
}

impl Serialize for SecretTemplateUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(SECRET_TOKEN)
    }
}

/// A proxy URL. Go's `url.Parse` accepts nearly anything (even `foo`), and
/// so does Alertmanager here; only malformed escapes, control characters
/// and a missing scheme before `:` are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ProxyUrl(pub String);

impl<'de> Deserialize<'de> for ProxyUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.chars().any(|c| c.is_control()) {
            return Err(de::Error::custom(format!(
                "parse {s:?}: net/url: invalid control character in URL"
            )));
        }
        if s.starts_with(':') {
            return Err(de::Error::custom(format!(
                "parse {s:?}: missing protocol scheme"
            )));
        }
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
                if !ok {
                    return Err(de::Error::custom(format!(
                        "parse {s:?}: invalid URL escape"
                    )));
                }
                i += 3;
            } else {
                i += 1;
            }
        }
        Ok(ProxyUrl(s))
    }
}

/// `host:port` as Go's `net.SplitHostPort` reads it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HostPort {
    pub host: String,
    pub port: String,
}

impl HostPort {
    pub fn parse(s: &str) -> Result<Option<Self>, ValidationError> {
        if s.is_empty() {
            return Ok(None);
        }
        let bad = |reason: &str| ValidationError::BadAddress {
            address: s.to_string(),
            reason: reason.to_string(),
        };
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| bad("missing ']' in address"))?;
            let after = &rest[end + 1..];
            let port = after.strip_prefix(':').ok_or_else(|| {
                if after.is_empty() {
                    bad("missing port in address")
                } else {
                    bad("too many colons in address")
                }
            })?;
            (&rest[..end], port)
        } else {
            let i = s.rfind(':').ok_or_else(|| bad("missing port in address"))?;
            if s[..i].contains(':') {
                return Err(bad("too many colons in address"));
            }
            (&s[..i], &s[i + 1..])
        };
        if port.is_empty() {
            return Err(ValidationError::EmptyPort(s.to_string()));
        }
        Ok(Some(HostPort {
            host: host.to_string(),
            port: port.to_string(),
        }))
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match HostPort::parse(&s) {
            Ok(Some(hp)) => Ok(hp),
            Ok(None) => Ok(HostPort::default()),
            Err(e) => Err(de::Error::custom(e)),
        }
    }
}

impl Serialize for HostPort {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.host.is_empty() && self.port.is_empty() {
            s.serialize_str("")
        } else {
            s.collect_str(self)
        }
    }
}

/// A duration in Go's `time.ParseDuration` syntax (`1.5s`, `300ms`), used by
/// the notifier `timeout` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || format!("time: invalid duration {s:?}");
        if s == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        if s.is_empty() || s.starts_with('-') {
            return Err(err());
        }
        let s2 = s.strip_prefix('+').unwrap_or(s);
        let mut total = 0f64;
        let mut rest = s2;
        while !rest.is_empty() {
            let n = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(err)?;
            let num: f64 = rest[..n].parse().map_err(|_| err())?;
            rest = &rest[n..];
            let u = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let scale = match &rest[..u] {
                "ns" => 1e-9,
                "us" | "µs" | "μs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return Err(err()),
            };
            total += num * scale;
            rest = &rest[u..];
        }
        if !total.is_finite() || total > 9.2e9 {
            return Err(err());
        }
        Ok(GoDuration(Duration::from_secs_f64(total)))
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = crate::timeinterval::scalar_text(d)?;
        GoDuration::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format!("{:?}", self.0))
    }
}

/// Go's YAML decoder turns an explicit null (`key:` with no value) into the
/// field's zero value; serde would reject it. Applied to every non-`Option`
/// field so that such configs load as they do in Alertmanager.
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A `map[string]string` as Go decodes it: numbers and booleans become their
/// text, a null value becomes "".
pub fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    #[derive(Deserialize)]
    struct Text(#[serde(deserialize_with = "nullable_text")] String);
    let m: Option<BTreeMap<String, Text>> = Option::deserialize(d)?;
    Ok(m.map(|m| m.into_iter().map(|(k, v)| (k, v.0)).collect()))
}

/// Like [`string_map`] but keeps nulls apart (legacy `match_re`, where a null
/// regex is an error of its own).
pub fn nullable_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, Option<String>>>, D::Error> {
    #[derive(Deserialize)]
    struct Text(#[serde(deserialize_with = "opt_text")] Option<String>);
    let m: Option<BTreeMap<String, Text>> = Option::deserialize(d)?;
    Ok(m.map(|m| m.into_iter().map(|(k, v)| (k, v.0)).collect()))
}

fn nullable_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_text(d)?.unwrap_or_default())
}

fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    // serde_yaml hands any scalar's source text to a string visitor, which
    // is what Go does too (`code: 010` stays "010", `a: True` stays "True").
    Option::<String>::deserialize(d)
}

/// A YAML 1.1 boolean as Go's decoder reads it (`yes`, `on`, `True`, …);
/// null reads as false.
pub(crate) fn yaml_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(opt_yaml_bool(d)?.unwrap_or(false))
}

pub(crate) fn opt_yaml_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    match s.as_str() {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            Ok(Some(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            Ok(Some(false))
        }
        _ => Err(de::Error::custom(format!(
            "cannot unmarshal {s:?} into a boolean"
        ))),
    }
}

pub(crate) fn is_valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        assert_eq!(
            HostPort::parse("localhost:25")
                .unwrap()
                .unwrap()
                .to_string(),
            "localhost:25"
        );
        assert_eq!(HostPort::parse("[::1]:25").unwrap().unwrap().host, "::1");
        assert!(HostPort::parse("").unwrap().is_none());
        assert_eq!(
            HostPort::parse("localhost:").unwrap_err().to_string(),
            "address \"localhost:\": port cannot be empty"
        );
        assert_eq!(
            HostPort::parse("localhost").unwrap_err().to_string(),
            "address localhost: missing port in address"
        );
    }

    #[test]
    fn urls() {
        assert!(HttpUrl::parse("https://events.pagerduty.com/v2/enqueue").is_ok());
        assert_eq!(
            HttpUrl::parse("ftp://x").unwrap_err(),
            "unsupported scheme \"ftp\" for URL"
        );
        assert_eq!(
            HttpUrl::parse("https://api.opsgenie.com")
                .unwrap()
                .with_trailing_slash()
                .as_str(),
            "https://api.opsgenie.com/"
        );
        let s = SecretUrl::parse("https://hooks.slack.com/services/XYZ").unwrap();
        assert_eq!(s.to_string(), "<secret>");
        assert_eq!(format!("{s:?}"), "<secret>");
        assert!(SecretTemplateUrl::parse("http://{{ .GroupLabels.x }}/").is_ok());
        assert!(SecretTemplateUrl::parse("http://{{ .GroupLabels.x /").is_err());
        let e = SecretTemplateUrl::parse("mailto:secret-token")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret-token"), "{e}");
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            GoDuration::parse("1.5s").unwrap().0,
            Duration::from_millis(1500)
        );
        assert_eq!(
            GoDuration::parse("1h2m").unwrap().0,
            Duration::from_secs(3720)
        );
        assert!(GoDuration::parse("5x").is_err());
        assert!(GoDuration::parse("").is_err());
    }
}
