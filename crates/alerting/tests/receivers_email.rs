//! The email integration against a small SMTP sink on loopback: the SMTP
//! dialogue (EHLO name, AUTH mechanism chosen from the server's list,
//! MAIL / RCPT), the message headers and both multipart bodies.

#[path = "receivers_support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine;
use pharos_alerting::notify::NotifyError;
use support::*;

#[derive(Default, Clone, Debug)]
struct Session {
    /// Every command line received, without CRLF (DATA content excluded).
    lines: Vec<String>,
    data: String,
}

/// Serves SMTP sessions, advertising `auth` (e.g. `PLAIN LOGIN`).
fn smtp_sink(auth: &'static str) -> (u16, Arc<Mutex<Vec<Session>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let sessions = Arc::new(Mutex::new(Vec::new()));
    let seen = sessions.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut out) = stream else { continue };
            let mut input = BufReader::new(out.try_clone().expect("clone"));
            let mut s = Session::default();
            let reply = |out: &mut std::net::TcpStream, text: &str| {
                let _ = out.write_all(text.as_bytes());
            };
            reply(&mut out, "220 sink ESMTP\r\n");
            let mut pending_auth: Vec<&str> = Vec::new();
            loop {
                let mut line = String::new();
                if input.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end().to_string();
                s.lines.push(line.clone());
                let upper = line.to_ascii_uppercase();
                if let Some(next) = pending_auth.pop() {
                    reply(&mut out, next);
                } else if upper.starts_with("EHLO") {
                    reply(
                        &mut out,
                        &format!("250-sink\r\n250-8BITMIME\r\n250 AUTH {auth}\r\n"),
                    );
                } else if upper.starts_with("AUTH LOGIN") {
                    pending_auth = vec!["235 ok\r\n", "334 UGFzc3dvcmQ6\r\n"];
                    reply(&mut out, "334 VXNlcm5hbWU6\r\n");
                } else if upper.starts_with("AUTH CRAM-MD5") {
                    pending_auth = vec!["235 ok\r\n"];
                    // RFC 2195's example challenge.
                    let ch = base64::engine::general_purpose::STANDARD
                        .encode("<1896.697170952@postoffice.reston.mci.net>");
                    reply(&mut out, &format!("334 {ch}\r\n"));
                } else if upper.starts_with("AUTH") {
                    reply(&mut out, "235 ok\r\n");
                } else if upper.starts_with("DATA") {
                    reply(&mut out, "354 go on\r\n");
                    loop {
                        let mut l = String::new();
                        if input.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                            break;
                        }
                        s.data.push_str(&l);
                    }
                    reply(&mut out, "250 queued\r\n");
                } else if upper.starts_with("QUIT") {
                    // Recorded before the reply so the client never sees
                    // the end of the dialogue ahead of the test.
                    seen.lock().expect("lock").push(std::mem::take(&mut s));
                    reply(&mut out, "221 bye\r\n");
                    break;
                } else {
                    reply(&mut out, "250 ok\r\n");
                }
            }
            if !s.lines.is_empty() {
                seen.lock().expect("lock").push(s);
            }
        }
    });
    (port, sessions)
}

fn config(port: u16, extra: &str) -> String {
    format!(
        concat!(
            "global:\n  smtp_smarthost: 127.0.0.1:{port}\n  smtp_from: pharos@example.org\n  smtp_require_tls: false\n",
            "route:\n  receiver: team-x\n",
            "receivers:\n- name: team-x\n  email_configs:\n  - to: 'a@example.org, Bee <b@example.org>'\n",
            "    hello: pharos.test\n",
            "    text: '{{{{ template \"__text_alert_list\" .Alerts }}}}'\n",
            "    headers: {{x-custom: 'grp {{{{ .GroupLabels.alertname }}}}'}}\n{extra}"
        ),
        port = port,
        extra = extra
    )
}

async fn send(cfg: &str, resolved: bool) -> Result<(), NotifyError> {
    let ints = integrations(cfg, "team-x");
    ints[0]
        .notifier
        .notify(&ctx("team-x", "email", resolved), &alerts(resolved))
        .await
}

fn qp_decode(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() + 1 {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap().replace("\r\n", "\n")
}

#[tokio::test]
async fn email_is_delivered_with_headers_and_both_parts() {
    let (port, sessions) = smtp_sink("PLAIN LOGIN");
    let cfg = config(port, "    auth_username: user\n    auth_password: pass\n");
    send(&cfg, false).await.unwrap();
    let s = sessions.lock().unwrap()[0].clone();
    assert_eq!(s.lines[0], "EHLO pharos.test");
    let plain = base64::engine::general_purpose::STANDARD.encode("\0user\0pass");
    assert!(
        s.lines.contains(&format!("AUTH PLAIN {plain}")),
        "{:?}",
        s.lines
    );
    assert!(
        s.lines
            .iter()
            .any(|l| l.starts_with("MAIL FROM:<pharos@example.org>")),
        "{:?}",
        s.lines
    );
    let rcpt: Vec<&String> = s
        .lines
        .iter()
        .filter(|l| l.starts_with("RCPT TO:"))
        .collect();
    assert_eq!(rcpt, ["RCPT TO:<a@example.org>", "RCPT TO:<b@example.org>"]);

    let (head, body) = s.data.split_once("\r\n\r\n").unwrap();
    let headers: Vec<&str> = head.split("\r\n").collect();
    assert!(
        headers.contains(&"Subject: [FIRING:2] HighCPU (node critical)"),
        "{headers:?}"
    );
    assert!(headers.contains(&"To: a@example.org, Bee <b@example.org>"));
    assert!(headers.contains(&"From: pharos@example.org"));
    assert!(headers.contains(&"X-Custom: grp HighCPU"));
    assert!(headers.contains(&"MIME-Version: 1.0"));
    assert!(headers.iter().any(|h| h.starts_with("Message-Id: <")));
    assert!(
        headers.contains(&"Date: Tue, 02 Jan 2024 03:14:05 +0000"),
        "{headers:?}"
    );
    let ct = headers
        .iter()
        .find(|h| h.starts_with("Content-Type: multipart/alternative;  boundary="))
        .unwrap();
    let boundary = ct.rsplit('=').next().unwrap();
    assert_eq!(boundary.len(), 60);

    let parts: Vec<&str> = body.split(&format!("--{boundary}")).collect();
    // Preamble, text, html, closing `--`.
    assert_eq!(parts.len(), 4, "{body}");
    let text = parts[1]
        .strip_prefix("\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n")
        .unwrap();
    let fx = fixture("default_templates_firing.tsv");
    assert_eq!(
        qp_decode(text.strip_suffix("\r\n").unwrap()),
        fx["__text_alert_list"]
    );
    let html = qp_decode(
        parts[2]
            .strip_prefix("\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n")
            .unwrap(),
    );
    assert!(
        html.contains("<title>[FIRING:2] HighCPU (node critical)</title>"),
        "{html}"
    );
    assert!(html.contains("b is &lt;hot&gt;"));
    assert_eq!(parts[3], "--\r\n");
}

#[tokio::test]
async fn cram_md5_is_used_when_listed_first_and_a_secret_is_set() {
    let (port, sessions) = smtp_sink("CRAM-MD5 PLAIN");
    let cfg = config(
        port,
        "    auth_username: tim\n    auth_secret: tanstaaftanstaaf\n    auth_password: p\n",
    );
    send(&cfg, true).await.unwrap();
    let s = sessions.lock().unwrap()[0].clone();
    let i = s.lines.iter().position(|l| l == "AUTH CRAM-MD5").unwrap();
    // RFC 2195's expected answer for this secret and challenge.
    let want =
        base64::engine::general_purpose::STANDARD.encode("tim b913a602c7eda7a495b4e6e7334d3890");
    assert_eq!(s.lines[i + 1], want);
    assert!(s
        .data
        .contains("Subject: [RESOLVED] HighCPU (node critical)"));
}

#[tokio::test]
async fn login_auth_and_missing_mechanisms() {
    let (port, sessions) = smtp_sink("LOGIN");
    let cfg = config(port, "    auth_username: user\n    auth_password: pass\n");
    send(&cfg, false).await.unwrap();
    let s = sessions.lock().unwrap()[0].clone();
    let i = s.lines.iter().position(|l| l == "AUTH LOGIN").unwrap();
    let enc = |x: &str| base64::engine::general_purpose::STANDARD.encode(x);
    assert_eq!(s.lines[i + 1..i + 3], [enc("user"), enc("pass")]);

    // CRAM-MD5 only, and no secret: nothing usable.
    let (port, _) = smtp_sink("CRAM-MD5");
    let cfg = config(port, "    auth_username: user\n    auth_password: pass\n");
    let e = send(&cfg, false).await.unwrap_err();
    assert_eq!(
        e,
        NotifyError::Retryable(
            "find auth mechanism: missing secret for CRAM-MD5 auth mechanism".into()
        )
    );
}

#[tokio::test]
async fn require_tls_without_starttls_fails_and_refused_connections_retry() {
    let (port, _) = smtp_sink("PLAIN");
    let cfg = config(port, "    require_tls: true\n");
    let e = send(&cfg, false).await.unwrap_err();
    assert_eq!(
        e,
        NotifyError::Retryable(format!(
            "'require_tls' is true (default) but \"127.0.0.1:{port}\" does not advertise the STARTTLS extension"
        ))
    );
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = send(&config(closed, ""), false).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(
        e.to_string().starts_with("establish connection to server"),
        "{e}"
    );
}
