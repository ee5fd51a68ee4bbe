//! Helpers for the receiver tests: the alert group the fixtures were made
//! from, notify contexts, a capturing HTTP server on loopback, and the
//! fixture reader.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_alerting::alert::{Alert, LabelMap};
use pharos_alerting::nflog::ReceiverKey;
use pharos_alerting::notify::NotifyContext;
use pharos_alerting::notify_template::Templates;
use pharos_alerting::receivers::{build_receivers, OutboundPolicy, ReceiverOptions};
use pharos_alerting::Config;

pub const GROUP_KEY: &str = "{}:{alertname=\"HighCPU\"}";

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-01-02T03:04:05Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn ls(p: &[(&str, &str)]) -> LabelMap {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The two alerts of the fixture group, firing or resolved an hour in.
pub fn alerts(resolved: bool) -> Vec<Alert> {
    let end = resolved.then(|| t0() + chrono::Duration::hours(1));
    let mk = |instance: &str, ann: LabelMap, start: DateTime<Utc>| Alert {
        labels: ls(&[
            ("alertname", "HighCPU"),
            ("instance", instance),
            ("job", "node"),
            ("severity", "critical"),
        ]),
        annotations: ann,
        starts_at: start,
        ends_at: end,
        generator_url: "http://prom/graph?g0.expr=up".to_string(),
        updated_at: start,
        timeout: false,
    };
    vec![
        mk("a:9100", ls(&[("summary", "CPU high")]), t0()),
        mk(
            "b:9100",
            ls(&[("summary", "CPU high"), ("description", "b is <hot>")]),
            t0() + chrono::Duration::milliseconds(1500),
        ),
    ]
}

pub fn ctx(receiver: &str, integration: &str, resolved: bool) -> NotifyContext {
    NotifyContext {
        group_key: GROUP_KEY.to_string(),
        group_labels: ls(&[("alertname", "HighCPU")]),
        receiver: ReceiverKey {
            receiver: receiver.to_string(),
            integration: integration.to_string(),
            index: 0,
        },
        repeat_interval: Duration::from_secs(3600),
        now: t0()
            + chrono::Duration::hours(if resolved { 2 } else { 0 })
            + chrono::Duration::minutes(10),
        // Left empty: notifications then say "unknown", as the fixtures
        // generated with Alertmanager's template package do.
        notification_reason: String::new(),
        route_labels: BTreeMap::new(),
    }
}

/// Reads a fixture made by `gen_default_templates.go`: name, tab, Go-quoted
/// string (or raw JSON for `webhook`).
pub fn fixture(file: &str) -> BTreeMap<String, String> {
    let path = format!(
        "{}/tests/receivers_fixtures/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| {
            let v = if k == "webhook" {
                v.to_string()
            } else {
                serde_json::from_str::<String>(v).unwrap_or_else(|e| panic!("{k}: {e}"))
            };
            (k.to_string(), v)
        })
        .collect()
}

/// The fixture alerts' fingerprints stood in as `fp1` / `fp2`.
pub fn with_fingerprints(s: &str) -> String {
    let a = alerts(false);
    s.replace("\"fp1\"", &format!("\"{}\"", a[0].fingerprint()))
        .replace("\"fp2\"", &format!("\"{}\"", a[1].fingerprint()))
}

/// One request as the capture server saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Captured {
    pub method: String,
    pub path: String,
    /// Lower-cased names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A canned reply.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub extra: Vec<(String, String)>,
}

impl Reply {
    pub fn new(status: u16, content_type: &'static str, body: &str) -> Reply {
        Reply {
            status,
            content_type,
            body: body.to_string(),
            extra: Vec::new(),
        }
    }
}

/// An HTTP/1.1 server on 127.0.0.1 answering each connection's single
/// request with the next reply (the last one repeats).
pub struct Sink {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Captured>>>,
}

impl Sink {
    pub fn start(replies: Vec<Reply>) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let reply = replies[n.min(replies.len() - 1)].clone();
                n += 1;
                let mut r = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                let mut headers = Vec::new();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        let k = k.trim().to_ascii_lowercase();
                        let v = v.trim().to_string();
                        if k == "content-length" {
                            len = v.parse().unwrap_or(0);
                        }
                        headers.push((k, v));
                    }
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                seen.lock().expect("lock").push(Captured {
                    method,
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let mut resp = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    reply.content_type,
                    reply.body.len()
                );
                for (k, v) in &reply.extra {
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                resp.push_str("\r\n");
                resp.push_str(&reply.body);
                let _ = stream.write_all(resp.as_bytes());
            }
        });
        Sink { addr, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn taken(&self) -> Vec<Captured> {
        self.requests.lock().expect("lock").clone()
    }
}

/// Options as the server would pass them.
pub fn options() -> ReceiverOptions {
    ReceiverOptions {
        templates: Arc::new(Templates::default()),
        external_url: "http://pharos:9700".to_string(),
        outbound: OutboundPolicy::default(),
    }
}

/// Builds the integrations of `yaml`'s receiver `name`.
pub fn integrations(yaml: &str, name: &str) -> Vec<pharos_alerting::notify::Integration> {
    let cfg = Config::load(yaml).unwrap_or_else(|e| panic!("config: {e}"));
    let mut all = build_receivers(&cfg, &options()).unwrap_or_else(|e| panic!("build: {e}"));
    all.remove(name).unwrap_or_default()
}
