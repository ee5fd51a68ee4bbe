//! `email_configs`: SMTP delivery through lettre's connection, following
//! Alertmanager's email notifier step by step: implicit TLS on port 465 (or
//! `force_implicit_tls`), STARTTLS when `require_tls`, authentication by the
//! first mechanism the server lists that can be used (CRAM-MD5 with
//! `auth_secret`, PLAIN with `auth_identity`, LOGIN), then a
//! `multipart/alternative` message with quoted-printable text and HTML
//! parts and the configured (templated) headers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, Identity, TlsParameters};
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::ClientId;

use super::http::is_link_local;
use super::{group_key_hash, notification_data, BuildError, ReceiverOptions, Tmpl};
use crate::alert::Alert;
use crate::config::{EmailConfig, TlsConfig};
use crate::notify::{Notifier, NotifyContext, NotifyError};
use crate::notify_template::{Templates, DEFAULT_EMAIL_SUBJECT};

mod mime;

pub struct EmailNotifier {
    conf: EmailConfig,
    headers: Vec<(String, String)>,
    templates: Arc<Templates>,
    external_url: String,
    allow_link_local: bool,
    connect_timeout: Duration,
    timeout: Option<Duration>,
    hostname: String,
}

fn retry(what: &str, e: impl std::fmt::Display) -> NotifyError {
    NotifyError::Retryable(format!("{what}: {e}"))
}

fn permanent(what: &str, e: impl std::fmt::Display) -> NotifyError {
    NotifyError::Permanent(format!("{what}: {e}"))
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl EmailNotifier {
    pub fn new(c: &EmailConfig, opts: &ReceiverOptions) -> Result<EmailNotifier, BuildError> {
        let mut headers = c.headers.clone().unwrap_or_default();
        headers
            .entry("Subject".to_string())
            .or_insert_with(|| DEFAULT_EMAIL_SUBJECT.to_string());
        headers
            .entry("To".to_string())
            .or_insert_with(|| c.to.clone());
        headers
            .entry("From".to_string())
            .or_insert_with(|| c.from.clone());
        if let Some(t) = &c.tls_config {
            if !t.ca_ref.is_empty() || !t.cert_ref.is_empty() || !t.key_ref.is_empty() {
                return Err(BuildError::Unsupported("tls_config *_ref fields".into()));
            }
        }
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost.localdomain".to_string());
        Ok(EmailNotifier {
            conf: c.clone(),
            headers: headers.into_iter().collect(),
            templates: opts.templates.clone(),
            external_url: opts.external_url.clone(),
            allow_link_local: opts.outbound.allow_link_local,
            connect_timeout: opts.outbound.connect_timeout,
            timeout: opts.outbound.default_timeout,
            hostname,
        })
    }

    fn tls_parameters(&self) -> Result<TlsParameters, NotifyError> {
        let default = TlsConfig::default();
        let t = self.conf.tls_config.as_ref().unwrap_or(&default);
        let domain = if t.server_name.is_empty() {
            self.conf.smarthost.host.clone()
        } else {
            t.server_name.clone()
        };
        let read = |inline: &str, file: &str| -> Result<Option<Vec<u8>>, NotifyError> {
            if !inline.is_empty() {
                return Ok(Some(inline.as_bytes().to_vec()));
            }
            if file.is_empty() {
                return Ok(None);
            }
            std::fs::read(file)
                .map(Some)
                .map_err(|e| permanent("parse TLS configuration", format!("{file}: {e}")))
        };
        let mut b =
            TlsParameters::builder(domain).dangerous_accept_invalid_certs(t.insecure_skip_verify);
        if let Some(ca) = read(&t.ca, &t.ca_file)? {
            let cert =
                Certificate::from_pem(&ca).map_err(|e| permanent("parse TLS configuration", e))?;
            b = b.add_root_certificate(cert);
        }
        if let (Some(cert), Some(key)) = (
            read(&t.cert, &t.cert_file)?,
            read(t.key.expose(), &t.key_file)?,
        ) {
            let id = Identity::from_pem(&cert, &key)
                .map_err(|e| permanent("parse TLS configuration", e))?;
            b = b.identify_with(id);
        }
        b.build_rustls()
            .map_err(|e| permanent("parse TLS configuration", e))
    }

    async fn address(&self) -> Result<SocketAddr, NotifyError> {
        let hp = &self.conf.smarthost;
        let port: u16 = hp.port.parse().map_err(|_| {
            permanent(
                "establish connection to server",
                format!("invalid port {:?}", hp.port),
            )
        })?;
        let found: Vec<SocketAddr> = tokio::net::lookup_host((hp.host.as_str(), port))
            .await
            .map_err(|e| retry("establish connection to server", e))?
            .collect();
        found
            .iter()
            .copied()
            .find(|a| self.allow_link_local || !is_link_local(a.ip()))
            .ok_or_else(|| {
                NotifyError::Permanent(format!(
                    "establish connection to server: {} has no usable address (link-local addresses are refused)",
                    self.conf.smarthost
                ))
            })
    }

    fn secret(&self, inline: &crate::secret::Secret, file: &str) -> Result<String, String> {
        if !file.is_empty() {
            return std::fs::read_to_string(file)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("could not read {file}: {e}"));
        }
        Ok(inline.expose().to_string())
    }

    /// Authenticates with the first usable mechanism of the server's list.
    async fn authenticate(
        &self,
        conn: &mut AsyncSmtpConnection,
        mechs: &[String],
        tls: bool,
    ) -> Result<(), NotifyError> {
        let c = &self.conf;
        if c.auth_username.is_empty() {
            return Ok(());
        }
        let user = c.auth_username.as_str();
        let mut errs = Vec::new();
        for mech in mechs {
            match mech.as_str() {
                "CRAM-MD5" => match self.secret(&c.auth_secret, &c.auth_secret_file) {
                    Err(e) => errs.push(e),
                    Ok(s) if s.is_empty() => {
                        errs.push("missing secret for CRAM-MD5 auth mechanism".into())
                    }
                    Ok(secret) => {
                        let r = conn
                            .command("AUTH CRAM-MD5\r\n")
                            .await
                            .map_err(|e| retry("*smtp.cramMD5Auth auth", e))?;
                        let challenge = r.message().next().unwrap_or("").to_string();
                        let challenge = base64::engine::general_purpose::STANDARD
                            .decode(challenge.trim())
                            .map_err(|e| retry("*smtp.cramMD5Auth auth", e))?;
                        let mut mac = Hmac::<md5::Md5>::new_from_slice(secret.as_bytes())
                            .map_err(|e| retry("*smtp.cramMD5Auth auth", e))?;
                        mac.update(&challenge);
                        let digest: String = mac
                            .finalize()
                            .into_bytes()
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        conn.command(format!(
                            "{}\r\n",
                            b64(format!("{user} {digest}").as_bytes())
                        ))
                        .await
                        .map_err(|e| retry("*smtp.cramMD5Auth auth", e))?;
                        return Ok(());
                    }
                },
                "PLAIN" => match self.secret(&c.auth_password, &c.auth_password_file) {
                    Err(e) => errs.push(e),
                    Ok(p) if p.is_empty() => {
                        errs.push("missing password for PLAIN auth mechanism".into())
                    }
                    Ok(pass) => {
                        // Go's PlainAuth only sends credentials over TLS or to localhost.
                        let host = c.smarthost.host.as_str();
                        if !tls && !matches!(host, "localhost" | "127.0.0.1" | "::1") {
                            return Err(retry("*smtp.plainAuth auth", "unencrypted connection"));
                        }
                        let token = b64(format!("{}\0{user}\0{pass}", c.auth_identity).as_bytes());
                        conn.command(format!("AUTH PLAIN {token}\r\n"))
                            .await
                            .map_err(|e| retry("*smtp.plainAuth auth", e))?;
                        return Ok(());
                    }
                },
                "LOGIN" => match self.secret(&c.auth_password, &c.auth_password_file) {
                    Err(e) => errs.push(e),
                    Ok(p) if p.is_empty() => {
                        errs.push("missing password for LOGIN auth mechanism".into())
                    }
                    Ok(pass) => {
                        let step = |e| retry("*email.loginAuth auth", e);
                        conn.command("AUTH LOGIN\r\n").await.map_err(step)?;
                        conn.command(format!("{}\r\n", b64(user.as_bytes())))
                            .await
                            .map_err(step)?;
                        conn.command(format!("{}\r\n", b64(pass.as_bytes())))
                            .await
                            .map_err(step)?;
                        return Ok(());
                    }
                },
                other => errs.push(format!("unknown auth mechanism: {other}")),
            }
        }
        Err(retry("find auth mechanism", errs.join("\n")))
    }

    /// Renders sender, recipients and the whole message text.
    fn render(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<(String, Vec<String>, Vec<u8>), NotifyError> {
        let c = &self.conf;
        let data = notification_data(ctx, alerts, &self.external_url);
        let t = Tmpl::new(&self.templates, &data, ctx.now, "email");
        let from = t
            .text(&c.from)
            .map_err(|e| permanent("execute 'from' template", e))?;
        let to = t
            .text(&c.to)
            .map_err(|e| permanent("execute 'to' template", e))?;
        let from =
            mime::parse_address_list(&from).map_err(|e| permanent("parse 'from' addresses", e))?;
        if from.len() != 1 {
            return Err(NotifyError::Permanent(format!(
                "must be exactly one 'from' address (got: {})",
                from.len()
            )));
        }
        let to = mime::parse_address_list(&to).map_err(|e| permanent("parse 'to' addresses", e))?;

        let mut msg = String::new();
        for (name, tmpl) in &self.headers {
            let value = t
                .text(tmpl)
                .map_err(|e| permanent(&format!("execute {name:?} header template"), e))?;
            msg.push_str(&format!("{name}: {}\r\n", mime::q_encode(&value)));
        }
        if !self.headers.iter().any(|(k, _)| k == "Message-Id") {
            let mut r = [0u8; 8];
            getrandom::getrandom(&mut r).map_err(|e| permanent("message id", e))?;
            let nanos = ctx.now.timestamp_nanos_opt().unwrap_or_default();
            msg.push_str(&format!(
                "Message-Id: <{nanos}.{}@{}>\r\n",
                u64::from_le_bytes(r),
                self.hostname
            ));
        }
        if c.threading.enabled {
            let by = if c.threading.thread_by_date == "none" {
                String::new()
            } else {
                ctx.now.format("%Y-%m-%d").to_string()
            };
            let hash = group_key_hash(&ctx.group_key);
            let root = format!("<alert-{}-{by}@alertmanager>", &hash[..16]);
            msg.push_str(&format!("References: {root}\r\nIn-Reply-To: {root}\r\n"));
        }
        let boundary = mime::boundary().map_err(|e| permanent("boundary", e))?;
        msg.push_str(&format!(
            "Date: {}\r\n",
            ctx.now.format("%a, %d %b %Y %H:%M:%S %z")
        ));
        msg.push_str(&format!(
            "Content-Type: multipart/alternative;  boundary={boundary}\r\n"
        ));
        msg.push_str("MIME-Version: 1.0\r\n\r\n");
        let mut parts = Vec::new();
        if !c.text.is_empty() {
            let body = t
                .text(&c.text)
                .map_err(|e| permanent("execute text template", e))?;
            parts.push(("text/plain; charset=UTF-8", body));
        }
        if !c.html.is_empty() {
            let body = t
                .html(&c.html)
                .map_err(|e| permanent("execute html template", e))?;
            parts.push(("text/html; charset=UTF-8", body));
        }
        for (i, (ctype, body)) in parts.iter().enumerate() {
            if i > 0 {
                msg.push_str("\r\n");
            }
            msg.push_str(&format!(
                "--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: {ctype}\r\n\r\n"
            ));
            msg.push_str(&mime::quoted_printable(body));
        }
        // lettre ends the DATA section with CRLF "." CRLF itself, so the
        // final line break is left to it (Go's DotWriter sends one, too).
        msg.push_str(&format!("\r\n--{boundary}--"));
        let from = from.into_iter().next().unwrap_or_default();
        Ok((from, to, msg.into_bytes()))
    }

    async fn deliver(
        &self,
        from: String,
        to: Vec<String>,
        message: Vec<u8>,
    ) -> Result<(), NotifyError> {
        let c = &self.conf;
        let implicit = c.force_implicit_tls.unwrap_or(c.smarthost.port == "465");
        let addr = self.address().await?;
        let hello = ClientId::Domain(if c.hello.is_empty() {
            "localhost".to_string()
        } else {
            c.hello.clone()
        });
        let tls = if implicit {
            Some(self.tls_parameters()?)
        } else {
            None
        };
        let what = if implicit {
            "establish TLS connection to server"
        } else {
            "establish connection to server"
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            addr,
            Some(self.connect_timeout),
            &hello,
            tls,
            None,
        )
        .await
        .map_err(|e| retry(what, e))?;
        if c.require_tls.unwrap_or(true) && !implicit {
            if !conn.can_starttls() {
                conn.abort().await;
                return Err(NotifyError::Retryable(format!(
                    "'require_tls' is true (default) but {:?} does not advertise the STARTTLS extension",
                    c.smarthost.to_string()
                )));
            }
            let params = self.tls_parameters()?;
            conn.starttls(params, &hello)
                .await
                .map_err(|e| retry("send STARTTLS command", e))?;
        }
        // lettre keeps only the mechanisms it implements; Alertmanager picks
        // from the server's own list, so read it again verbatim.
        let ehlo = conn
            .command(Ehlo::new(hello.clone()))
            .await
            .map_err(|e| retry("send EHLO command", e))?;
        let mechs: Vec<String> = ehlo
            .message()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("AUTH")).then(|| w.map(str::to_string).collect())
            })
            .unwrap_or_default();
        if !mechs.is_empty() {
            let encrypted = conn.is_encrypted();
            self.authenticate(&mut conn, &mechs, encrypted).await?;
        }
        let from: Address = from.parse().map_err(|e| retry("send MAIL command", e))?;
        let to: Vec<Address> = to
            .iter()
            .map(|a| a.parse::<Address>())
            .collect::<Result<_, _>>()
            .map_err(|e| retry("send RCPT command", e))?;
        let envelope = Envelope::new(Some(from), to).map_err(|e| retry("send RCPT command", e))?;
        conn.send(&envelope, &message)
            .await
            .map_err(|e| retry("delivery failure", e))?;
        // The mail is accepted; a failing QUIT changes nothing.
        let _ = conn.quit().await;
        Ok(())
    }
}

#[async_trait]
impl Notifier for EmailNotifier {
    async fn notify(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<(), NotifyError> {
        let (from, to, message) = self.render(ctx, alerts)?;
        let send = self.deliver(from, to, message);
        match self.timeout {
            Some(t) => tokio::time::timeout(t, send)
                .await
                .map_err(|_| NotifyError::Retryable(format!("email: timed out after {t:?}")))?,
            None => send.await,
        }
    }
}
