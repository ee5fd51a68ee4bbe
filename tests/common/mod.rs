//! Shared helpers of the end-to-end tests: start the real `pharos` binary on a free
//! loopback port with a temporary data directory, talk remote_write to it, and read the
//! stored data back with `pharos tsdb dump`.
#![allow(dead_code)]

pub mod prometheus;

use pharos_ingest::remote_write::proto;
use pharos_model::Labels;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_pharos");

/// Generous: a debug-build server replaying a WAL on a shared, busy machine.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A running `pharos serve`; killed on drop if the test did not stop it.
pub struct Server {
    child: Option<Child>,
    pub addr: String,
    pub data_dir: PathBuf,
    log_path: PathBuf,
}

static START_COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Server {
    /// Starts a server on `data_dir` (optionally with a config file) and waits until it
    /// reports ready. Logs go to a file next to the data directory.
    pub fn start(data_dir: &Path, config: Option<&Path>) -> Server {
        Server::start_with_args(data_dir, config, &[])
    }

    /// [`Server::start`] with extra `pharos serve` arguments. The OTLP listeners are off
    /// (so parallel tests never compete for 4317/4318) unless `extra` sets their flags.
    pub fn start_with_args(data_dir: &Path, config: Option<&Path>, extra: &[&str]) -> Server {
        // Another process may take the port between probing and binding; try again then.
        for _ in 0..5 {
            let mut s = Server::spawn(data_dir, config, extra);
            match s.wait_ready(READY_TIMEOUT) {
                Ok(()) => return s,
                Err(logs) if logs.contains("cannot listen") => continue,
                Err(logs) => panic!("server did not become ready; its log:\n{logs}"),
            }
        }
        panic!("could not find a free port for the server");
    }

    fn spawn(data_dir: &Path, config: Option<&Path>, extra: &[&str]) -> Server {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let n = START_COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log_path = data_dir
            .parent()
            .unwrap_or(data_dir)
            .join(format!("server-{}-{n}.log", std::process::id()));
        let log = std::fs::File::create(&log_path).expect("create server log");
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(&addr)
            .arg("--log-level")
            .arg("info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        for flag in ["--otlp-grpc-listen", "--otlp-http-listen"] {
            if !extra.contains(&flag) {
                cmd.arg(flag).arg("");
            }
        }
        cmd.args(extra);
        // Tests count stored series and set series limits; the self-scrape job would add
        // series of its own at a random moment, so it is off unless a config names it.
        let text = config
            .map(|c| std::fs::read_to_string(c).expect("read test config"))
            .unwrap_or_default();
        match config {
            Some(c) if text.contains("self_scrape") => {
                cmd.arg("--config").arg(c);
            }
            _ => {
                let quiet = data_dir
                    .parent()
                    .unwrap_or(data_dir)
                    .join(format!("no-self-scrape-{}-{n}.yml", std::process::id()));
                std::fs::write(&quiet, format!("{text}\nself_scrape: false\n"))
                    .expect("write test config");
                cmd.arg("--config").arg(quiet);
            }
        }
        let child = cmd.spawn().expect("start pharos serve");
        Server {
            child: Some(child),
            addr,
            data_dir: data_dir.to_owned(),
            log_path,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("server running").id() as i32
    }

    pub fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Polls `/-/ready` until 200; on timeout or early exit returns the server's log.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("(exited with {status})\n{}", self.logs()));
            }
            if let Ok(r) = client.get(self.url("/-/ready")).send() {
                if r.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("(not ready after {timeout:?})\n{}", self.logs()))
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("server running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait for server") {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                panic!(
                    "server did not exit within {timeout:?}; its log:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for a clean exit (status 0).
    pub fn stop(mut self) {
        send_signal(self.pid(), libc::SIGTERM);
        let status = self.wait_exit(STOP_TIMEOUT);
        assert!(
            status.success(),
            "server exited with {status}; its log:\n{}",
            self.logs()
        );
    }

    /// SIGKILL: no chance to flush or close anything.
    pub fn kill9(mut self) {
        send_signal(self.pid(), libc::SIGKILL);
        self.wait_exit(STOP_TIMEOUT);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn send_signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) only sends a signal to a process id we started.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}) failed: {}",
        std::io::Error::last_os_error()
    );
}

/// One series of a remote_write request as the tests build them.
#[derive(Clone, Debug)]
pub struct TestSeries {
    /// Sorted by name, as remote_write requires.
    pub labels: Vec<(String, String)>,
    pub samples: Vec<(i64, f64)>,
}

impl TestSeries {
    pub fn new(labels: &[(&str, &str)], samples: Vec<(i64, f64)>) -> Self {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        labels.sort();
        TestSeries { labels, samples }
    }

    /// The label set as `pharos tsdb dump` prints it.
    pub fn key(&self) -> String {
        Labels::from_pairs(self.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))).to_string()
    }
}

/// Encodes a snappy-compressed remote_write v1 `WriteRequest`.
///
/// Labels go through the `proto` messages; samples are written field by field because
/// protobuf encoders (prost here, Go's in Prometheus) omit a double equal to 0.0, which
/// would turn -0.0 into +0.0 before the server ever sees it.
pub fn encode_write(series: &[TestSeries]) -> Vec<u8> {
    use prost::encoding::{double, encode_key, encode_varint, int64, message, WireType};
    let mut req = Vec::new();
    for s in series {
        let mut ts = Vec::new();
        for (name, value) in &s.labels {
            message::encode(
                1,
                &proto::Label {
                    name: name.clone(),
                    value: value.clone(),
                },
                &mut ts,
            );
        }
        for &(t, v) in &s.samples {
            let mut sample = Vec::with_capacity(20);
            double::encode(1, &v, &mut sample);
            int64::encode(2, &t, &mut sample);
            encode_key(2, WireType::LengthDelimited, &mut ts);
            encode_varint(sample.len() as u64, &mut ts);
            ts.extend_from_slice(&sample);
        }
        encode_key(1, WireType::LengthDelimited, &mut req);
        encode_varint(ts.len() as u64, &mut req);
        req.extend_from_slice(&ts);
    }
    snappy(&req)
}

/// Encodes through the generated messages only (for requests without -0.0).
pub fn encode_proto(req: &proto::WriteRequest) -> Vec<u8> {
    use prost::Message;
    snappy(&req.encode_to_vec())
}

pub fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).expect("snappy")
}

/// POSTs a remote_write body with the headers Prometheus sends.
pub fn post_write(
    client: &reqwest::blocking::Client,
    server_url: &str,
    body: Vec<u8>,
) -> reqwest::Result<reqwest::blocking::Response> {
    client
        .post(format!("{server_url}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
}

/// Runs the binary to completion with the given arguments.
pub fn run_pharos(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pharos")
}

/// One line of `pharos tsdb dump`.
#[derive(Clone, Debug, PartialEq)]
pub struct DumpedSample {
    pub series: String,
    pub value: String,
    pub t: i64,
}

/// `pharos tsdb dump` on `data_dir` with extra flags; panics if it fails.
pub fn dump(data_dir: &Path, extra: &[&str]) -> Vec<DumpedSample> {
    let dir = data_dir.to_str().expect("utf-8 path");
    let mut args = vec!["tsdb", "dump", "--data-dir", dir];
    args.extend_from_slice(extra);
    let out = run_pharos(&args);
    assert!(
        out.status.success(),
        "pharos tsdb dump failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("dump output is UTF-8");
    text.lines()
        .map(|line| {
            // Labels may hold spaces; value and timestamp never do.
            let mut parts = line.rsplitn(3, ' ');
            let t = parts.next().and_then(|t| t.parse().ok());
            let value = parts.next();
            let series = parts.next();
            match (series, value, t) {
                (Some(series), Some(value), Some(t)) => DumpedSample {
                    series: series.to_owned(),
                    value: value.to_owned(),
                    t,
                },
                _ => panic!("unparseable dump line {line:?}"),
            }
        })
        .collect()
}

/// Whether a dumped value is exactly `want`: bit for bit, except that every NaN
/// (the staleness marker included) is printed as `NaN`.
pub fn value_matches(printed: &str, want: f64) -> bool {
    if want.is_nan() {
        return printed == "NaN";
    }
    let got = match printed {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => return false,
        s => match s.parse::<f64>() {
            Ok(v) => v,
            Err(_) => return false,
        },
    };
    got.to_bits() == want.to_bits()
}

/// Fetches `/metrics` and returns the value of the first line starting with `series `.
pub fn metric_value(
    client: &reqwest::blocking::Client,
    server: &Server,
    series: &str,
) -> Option<f64> {
    let text = client
        .get(server.url("/metrics"))
        .send()
        .ok()?
        .text()
        .ok()?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
}

/// Evaluates `expr` via `/api/v1/query` and returns the value of its first result, if any.
pub fn query_value(client: &reqwest::blocking::Client, server: &Server, expr: &str) -> Option<f64> {
    let text = client
        .get(server.url("/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .ok()?
        .text()
        .ok()?;
    let body: serde_json::Value = serde_json::from_str(&text).ok()?;
    body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
}

/// Fetches `/api/v1/targets` (all states).
pub fn targets(client: &reqwest::blocking::Client, server: &Server) -> serde_json::Value {
    get_json(client, &server.url("/api/v1/targets"))
}

/// GETs `url` and parses the answer as JSON.
pub fn get_json(client: &reqwest::blocking::Client, url: &str) -> serde_json::Value {
    let text = client.get(url).send().expect("GET").text().expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

/// Calls `f` until it returns `Some`, at most `timeout`; scrapes run on their own clock,
/// so tests wait for the outcome instead of sleeping a fixed time.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A one-route HTTP server standing in for a webhook receiver: every request's JSON
/// body goes to the channel, answered 200.
pub fn webhook_server() -> (String, std::sync::mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(body) = read_request(stream) {
                if let Ok(v) = serde_json::from_slice(&body) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        }
    });
    (url, rx)
}

fn read_request(mut stream: std::net::TcpStream) -> Option<Vec<u8>> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let _ = std::io::Write::write_all(
        &mut stream,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    Some(buf[header_end..].to_vec())
}

/// Remote-writes `data` from `span.0` to `span.1` (inclusive) in slices of
/// `slice_ms`, each holding every series that has samples in it, so a server's head
/// sees all series advance together; panics on a non-2xx answer.
pub fn write_in_time_slices(
    client: &reqwest::blocking::Client,
    name: &str,
    url: &str,
    data: &[TestSeries],
    span: (i64, i64),
    slice_ms: i64,
) {
    let mut from = span.0;
    while from <= span.1 {
        let to = from + slice_ms;
        let part: Vec<TestSeries> = data
            .iter()
            .map(|s| TestSeries {
                labels: s.labels.clone(),
                samples: s
                    .samples
                    .iter()
                    .copied()
                    .filter(|&(t, _)| t >= from && t < to)
                    .collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .collect();
        let resp = post_write(client, url, encode_write(&part))
            .unwrap_or_else(|e| panic!("remote_write to {name}: {e}"));
        let status = resp.status();
        assert!(
            status.is_success(),
            "remote_write to {name} answered {status}: {}",
            resp.text().unwrap_or_default()
        );
        from = to;
    }
}
