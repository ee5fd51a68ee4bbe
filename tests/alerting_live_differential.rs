//! Pharos's Alertmanager API v2 against a live Alertmanager 0.25 (Debian's
//! `prometheus-alertmanager`): both run the same alertmanager.yml (Pharos under
//! `alertmanager:` in pharos.yml), get the same alerts and silences, and must then show
//! the same alert groups, alerts (with `filter`, `receiver`, `active`, `silenced` and
//! `inhibited`) and silences.
//!
//! Answers are compared normalised: groups as a set keyed by (receiver, group labels),
//! each with the set of its alerts (fingerprint, labels, annotations, state, silencedBy,
//! inhibitedBy, startsAt, endsAt); alerts keyed by fingerprint (with their receivers);
//! silences keyed by their position in the scenario (matchers, state, comment,
//! createdBy); receivers by name. Silence IDs differ between the two servers, so
//! `silencedBy` is mapped to those positions too. Alertmanager sorts its answers, so
//! their order is one more compared item per query. `updatedAt` and the times of
//! silences are each server's own clock and not compared; nor are notifications:
//! receivers are webhooks pointing at a closed local port. Refused writes and
//! `/api/v2/silence/{id}` answers (status and error text, with the regex engine's own
//! wording cut off) count as compared items too.
//!
//! Each scenario prints `agreed/total` per stage and must agree fully.

mod common;

use common::{client, free_port, Server};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ALERTMANAGER_BIN: &str = "/usr/bin/prometheus-alertmanager";

/// How long the two servers get to agree after the last write: both process posted
/// alerts asynchronously (dispatcher, inhibitor), so the first look may be early.
const SETTLE: Duration = Duration::from_millis(1500);
const AGREE_TIMEOUT: Duration = Duration::from_secs(10);

fn alertmanager_bin() -> &'static Path {
    let bin = Path::new(ALERTMANAGER_BIN);
    assert!(
        bin.exists(),
        "{ALERTMANAGER_BIN} is missing: this test compares Pharos with a live Alertmanager \
         0.25; install Debian's `prometheus-alertmanager` package \
         (apt-get install --no-install-recommends prometheus-alertmanager; .ci/run does \
         this in CI)"
    );
    bin
}

/// A running `prometheus-alertmanager` without clustering; killed on drop.
struct Alertmanager {
    child: Child,
    addr: String,
    log_path: PathBuf,
}

impl Alertmanager {
    fn start(dir: &Path, config: &Path) -> Alertmanager {
        let bin = alertmanager_bin();
        for attempt in 0..5 {
            let storage = dir.join(format!("am-storage-{attempt}"));
            std::fs::create_dir_all(&storage).expect("create alertmanager storage");
            let addr = format!("127.0.0.1:{}", free_port());
            let log_path = dir.join(format!("alertmanager-{attempt}.log"));
            let log = std::fs::File::create(&log_path).expect("create alertmanager log");
            let child = Command::new(bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", storage.display()))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--cluster.listen-address=")
                .arg("--log.level=info")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .expect("start prometheus-alertmanager");
            let mut am = Alertmanager {
                child,
                addr,
                log_path,
            };
            match am.wait_ready() {
                Ok(()) => return am,
                Err(logs) if logs.contains("address already in use") => continue,
                Err(logs) => panic!("Alertmanager did not become ready; its log:\n{logs}"),
            }
        }
        panic!("could not find a free port for Alertmanager");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("(exited with {status})\n{}", self.logs()));
            }
            if let Ok(r) = http.get(self.url("/-/ready")).send() {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("(not ready after 60s)\n{}", self.logs()))
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// RFC 3339 in UTC with milliseconds, as Alertmanager's clients send times.
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// One query of a scenario: a path and its parameters.
struct Query {
    path: &'static str,
    params: Vec<(&'static str, &'static str)>,
}

fn q(path: &'static str, params: &[(&'static str, &'static str)]) -> Query {
    Query {
        path,
        params: params.to_vec(),
    }
}

/// The queries every scenario asks, before its own.
fn common_queries() -> Vec<Query> {
    vec![
        q("/api/v2/alerts/groups", &[]),
        q(
            "/api/v2/alerts/groups",
            &[("silenced", "false"), ("inhibited", "false")],
        ),
        q("/api/v2/alerts/groups", &[("active", "false")]),
        q("/api/v2/alerts", &[]),
        q("/api/v2/alerts", &[("silenced", "false")]),
        q("/api/v2/alerts", &[("inhibited", "false")]),
        q("/api/v2/alerts", &[("active", "false")]),
        q(
            "/api/v2/alerts",
            &[
                ("active", "false"),
                ("silenced", "false"),
                ("inhibited", "false"),
            ],
        ),
        q("/api/v2/alerts", &[("filter", "severity=\"critical\"")]),
        q("/api/v2/alerts", &[("filter", "severity!=\"critical\"")]),
        q("/api/v2/alerts", &[("unprocessed", "false")]),
        q("/api/v2/silences", &[]),
        q("/api/v2/receivers", &[]),
    ]
}

/// Both servers running one scenario's configuration.
struct Pair {
    name: &'static str,
    am: Alertmanager,
    pharos: Server,
    http: reqwest::blocking::Client,
    /// The scenario's start; alert and silence times are offsets from it.
    t0: i64,
    /// Silence ID → position in the scenario, per server.
    am_ids: HashMap<String, usize>,
    pharos_ids: HashMap<String, usize>,
    /// Per position: (Alertmanager's ID, Pharos's ID).
    silences: Vec<(String, String)>,
    /// (agreed, total, differences) of the writes since the last comparison.
    writes: std::cell::RefCell<(usize, usize, Vec<String>)>,
    _dir: tempfile::TempDir,
}

/// A matcher of a posted silence: name, operator (`=`, `!=`, `=~`, `!~`), value.
type M = (&'static str, &'static str, &'static str);

impl Pair {
    /// Starts both servers on `am_config` (an alertmanager.yml in which `{SINK}` is the
    /// webhook URL).
    fn start(name: &'static str, am_config: &str) -> Pair {
        alertmanager_bin();
        let dir = tempfile::tempdir().expect("temp dir");
        // Bound and released: nothing listens there, so notifications fail fast.
        let sink = format!("http://127.0.0.1:{}/", free_port());
        let am_config = am_config.replace("{SINK}", &sink);
        let am_path = dir.path().join("alertmanager.yml");
        std::fs::write(&am_path, &am_config).expect("write alertmanager.yml");
        let indented: String = am_config
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect::<String>();
        let pharos_path = dir.path().join("pharos.yml");
        std::fs::write(
            &pharos_path,
            format!("self_scrape: false\nalertmanager:\n{indented}"),
        )
        .expect("write pharos.yml");
        let am = Alertmanager::start(dir.path(), &am_path);
        let pharos = Server::start(&dir.path().join("data"), Some(&pharos_path));
        Pair {
            name,
            am,
            pharos,
            http: client(),
            t0: now_ms(),
            am_ids: HashMap::new(),
            pharos_ids: HashMap::new(),
            silences: Vec::new(),
            writes: Default::default(),
            _dir: dir,
        }
    }

    fn urls(&self, path: &str) -> (String, String) {
        (self.am.url(path), self.pharos.url(path))
    }

    fn at(&self, offset_s: i64) -> String {
        rfc3339(self.t0 + offset_s * 1000)
    }

    /// An alert starting `starts` and ending `ends` seconds from the scenario's start.
    fn alert(
        &self,
        labels: &[(&str, &str)],
        annotations: &[(&str, &str)],
        starts: i64,
        ends: i64,
    ) -> Value {
        let map = |kv: &[(&str, &str)]| -> Value {
            Value::Object(
                kv.iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                    .collect(),
            )
        };
        json!({
            "labels": map(labels),
            "annotations": map(annotations),
            "startsAt": self.at(starts),
            "endsAt": self.at(ends),
            "generatorURL": "http://prometheus.example/graph",
        })
    }

    /// A firing alert: started five minutes ago, valid for an hour.
    fn firing(&self, labels: &[(&str, &str)]) -> Value {
        self.alert(labels, &[], -300, 3600)
    }

    /// POSTs the same body to both; both must answer with the same status.
    fn post(&self, path: &str, body: &Value) -> (u16, Value, Value) {
        let (a, p) = self.urls(path);
        let send = |url: &str| {
            let r = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .unwrap_or_else(|e| panic!("POST {url}: {e}"));
            let status = r.status().as_u16();
            let text = r.text().unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        };
        let (sa, ba) = send(&a);
        let (sp, bp) = send(&p);
        assert_eq!(
            sa, sp,
            "[{}] POST {path} {body}: Alertmanager answered {sa} {ba}, Pharos {sp} {bp}",
            self.name
        );
        // A refusal is compared too, and counted with the next comparison.
        let mut writes = self.writes.borrow_mut();
        writes.1 += 1;
        if sa == 200 || norm_error(&ba) == norm_error(&bp) {
            writes.0 += 1;
        } else {
            writes.2.push(format!(
                "POST {path} {}: error {sa}:\n    Alertmanager: {ba}\n    Pharos:       {bp}",
                short(body)
            ));
        }
        (sa, ba, bp)
    }

    fn post_alerts(&self, alerts: Vec<Value>) {
        let (status, a, p) = self.post("/api/v2/alerts", &Value::Array(alerts));
        assert_eq!(status, 200, "[{}] alerts refused: {a} / {p}", self.name);
    }

    fn silence_body(&self, matchers: &[M], starts: i64, ends: i64, comment: &str) -> Value {
        let matchers: Vec<Value> = matchers
            .iter()
            .map(|(name, op, value)| {
                let (is_regex, is_equal) = match *op {
                    "=" => (false, true),
                    "!=" => (false, false),
                    "=~" => (true, true),
                    "!~" => (true, false),
                    other => panic!("unknown matcher operator {other}"),
                };
                json!({"name": name, "value": value, "isRegex": is_regex, "isEqual": is_equal})
            })
            .collect();
        json!({
            "matchers": matchers,
            "startsAt": self.at(starts),
            "endsAt": self.at(ends),
            "createdBy": "differential",
            "comment": comment,
        })
    }

    fn record_silence(&mut self, a: &Value, p: &Value) -> usize {
        let pos = self.silences.len();
        let id = |v: &Value| {
            v["silenceID"]
                .as_str()
                .unwrap_or_else(|| panic!("no silenceID in {v}"))
                .to_owned()
        };
        let (ia, ip) = (id(a), id(p));
        self.am_ids.insert(ia.clone(), pos);
        self.pharos_ids.insert(ip.clone(), pos);
        self.silences.push((ia, ip));
        pos
    }

    /// Posts a new silence to both; returns its position in the scenario.
    fn silence(&mut self, matchers: &[M], starts: i64, ends: i64, comment: &str) -> usize {
        let body = self.silence_body(matchers, starts, ends, comment);
        let (status, a, p) = self.post("/api/v2/silences", &body);
        assert_eq!(status, 200, "[{}] silence refused: {a} / {p}", self.name);
        self.record_silence(&a, &p)
    }

    /// Re-posts the silence at `pos` (its ID in the body) with new content; returns the
    /// position the answer's ID is recorded under.
    fn update_silence(
        &mut self,
        pos: usize,
        matchers: &[M],
        starts: i64,
        ends: i64,
        comment: &str,
    ) -> usize {
        let (ia, ip) = self.silences[pos].clone();
        let body = self.silence_body(matchers, starts, ends, comment);
        let send = |url: String, id: &str| {
            let mut b = body.clone();
            b["id"] = Value::String(id.to_owned());
            let r = self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(b.to_string())
                .send()
                .unwrap_or_else(|e| panic!("POST {url}: {e}"));
            let status = r.status().as_u16();
            let v: Value = serde_json::from_str(&r.text().unwrap_or_default()).unwrap_or_default();
            (status, v)
        };
        let (a_url, p_url) = self.urls("/api/v2/silences");
        let (sa, a) = send(a_url, &ia);
        let (sp, p) = send(p_url, &ip);
        assert_eq!(
            (sa, sp),
            (200, 200),
            "[{}] silence update: Alertmanager {a}, Pharos {p}",
            self.name
        );
        self.record_silence(&a, &p)
    }

    /// `GET` or `DELETE` of `/api/v2/silence/{id}` on both, the silence at `pos` (or
    /// the same literal ID on both); the answers are compared with the IDs replaced by
    /// positions and counted with the next comparison.
    fn silence_by_id(&self, method: &str, pos: Result<usize, &str>) {
        let (ia, ip) = match pos {
            Ok(p) => self.silences[p].clone(),
            Err(id) => (id.to_owned(), id.to_owned()),
        };
        let call = |base: String, id: &str, ids: &HashMap<String, usize>| {
            let url = format!("{base}/api/v2/silence/{id}");
            let req = match method {
                "GET" => self.http.get(&url),
                _ => self.http.delete(&url),
            };
            let r = req.send().unwrap_or_else(|e| panic!("{method} {url}: {e}"));
            let status = r.status().as_u16();
            let text = r.text().unwrap_or_default();
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            let shown = match &v {
                Value::Object(o) if !o.contains_key("code") => {
                    norm_silences(&Value::Array(vec![v.clone()]), ids)
                        .into_iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<String>()
                }
                other => norm_error(other).to_string().replace(id, "<id>"),
            };
            (status, shown)
        };
        let a = call(self.am.url(""), &ia, &self.am_ids);
        let p = call(self.pharos.url(""), &ip, &self.pharos_ids);
        let mut writes = self.writes.borrow_mut();
        writes.1 += 1;
        if a == p {
            writes.0 += 1;
        } else {
            writes.2.push(format!(
                "{method} /api/v2/silence/{{{pos:?}}}:\n    Alertmanager: {a:?}\n    Pharos:       {p:?}"
            ));
        }
    }

    /// Expires the silence at `pos` on both (`DELETE /api/v2/silence/{id}`).
    fn expire_silence(&self, pos: usize) {
        let (ia, ip) = &self.silences[pos];
        for (url, id) in [(self.am.url(""), ia), (self.pharos.url(""), ip)] {
            let url = format!("{url}/api/v2/silence/{id}");
            let r = self
                .http
                .delete(&url)
                .send()
                .unwrap_or_else(|e| panic!("DELETE {url}: {e}"));
            assert_eq!(r.status().as_u16(), 200, "[{}] DELETE {url}", self.name);
        }
    }

    fn get(&self, url: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .get(url)
            .query(params)
            .send()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Compares every query once; returns (agreed, total, disagreements).
    fn compare_once(&self, queries: &[Query]) -> (usize, usize, Vec<String>) {
        let (mut agreed, mut total, mut diffs) = (0, 0, Vec::new());
        for query in queries {
            let (a_url, p_url) = self.urls(query.path);
            let (sa, va) = self.get(&a_url, &query.params);
            let (sp, vp) = self.get(&p_url, &query.params);
            let shown = format!("GET {} {:?}", query.path, query.params);
            if sa != sp {
                total += 1;
                diffs.push(format!(
                    "{shown}: status Alertmanager {sa} {}, Pharos {sp} {}",
                    short(&va),
                    short(&vp)
                ));
                continue;
            }
            if sa != 200 {
                // Both refused: the error answers must be the same too.
                total += 1;
                if norm_error(&va) == norm_error(&vp) {
                    agreed += 1;
                } else {
                    diffs.push(format!(
                        "{shown}: error {sa}:\n    Alertmanager: {va}\n    Pharos:       {vp}"
                    ));
                }
                continue;
            }
            let norm = |v: &Value, ids: &HashMap<String, usize>| {
                if query.path.ends_with("/groups") {
                    norm_groups(v, ids)
                } else if query.path.ends_with("/silences") {
                    norm_silences(v, ids)
                } else if query.path.ends_with("/receivers") {
                    norm_receivers(v)
                } else {
                    norm_alerts(v, ids)
                }
            };
            let (oa, op) = (norm(&va, &self.am_ids), norm(&vp, &self.pharos_ids));
            // The order of the answer, where Alertmanager sorts it.
            if !query.path.ends_with("/receivers") {
                let order = |o: &[(String, String)]| -> Vec<String> {
                    o.iter().map(|(k, _)| k.clone()).collect()
                };
                total += 1;
                if order(&oa) == order(&op) {
                    agreed += 1;
                } else {
                    diffs.push(format!(
                        "{shown} order:\n    Alertmanager: {:?}\n    Pharos:       {:?}",
                        order(&oa),
                        order(&op)
                    ));
                }
            }
            let (na, np) = (keyed(oa), keyed(op));
            let keys: BTreeSet<&String> = na.keys().chain(np.keys()).collect();
            if keys.is_empty() {
                // Both empty: the query still agreed.
                total += 1;
                agreed += 1;
                continue;
            }
            for k in keys {
                total += 1;
                let (a, p) = (na.get(k), np.get(k));
                if a == p {
                    agreed += 1;
                } else {
                    let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(absent)".into());
                    diffs.push(format!(
                        "{shown} {k}:\n    Alertmanager: {}\n    Pharos:       {}",
                        show(a),
                        show(p)
                    ));
                }
            }
        }
        (agreed, total, diffs)
    }

    /// Waits a moment, compares (again until both agree or the time is up), prints
    /// `agreed/total` and asserts full agreement.
    fn assert_agree(&self, stage: &str, extra: Vec<Query>) {
        let mut queries = common_queries();
        queries.extend(extra);
        std::thread::sleep(SETTLE);
        let deadline = Instant::now() + AGREE_TIMEOUT;
        let (mut agreed, mut total, mut diffs) = loop {
            let r = self.compare_once(&queries);
            if r.0 == r.1 || Instant::now() >= deadline {
                break r;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        let (wa, wt, wd) = self.writes.take();
        agreed += wa;
        total += wt;
        diffs.extend(wd);
        println!("{} [{stage}]: {agreed}/{total} agreed", self.name);
        for d in &diffs {
            println!("  DIFF {d}");
        }
        assert_eq!(
            agreed,
            total,
            "{} [{stage}]: Pharos and Alertmanager 0.25 disagree on {} of {total}:\n{}",
            self.name,
            total - agreed,
            diffs.join("\n")
        );
    }
}

impl Pair {
    /// Alertmanager's count of alerts in each state, so a scenario can check that it
    /// exercises what it means to (two servers agreeing on nothing happening proves
    /// little).
    fn expect_states(&self, active: usize, suppressed: usize) {
        let (_, v) = self.get(&self.am.url("/api/v2/alerts"), &[]);
        let count = |state: &str| {
            v.as_array()
                .map(|a| a.iter().filter(|a| a["status"]["state"] == state).count())
                .unwrap_or_default()
        };
        assert_eq!(
            (count("active"), count("suppressed")),
            (active, suppressed),
            "[{}] Alertmanager's (active, suppressed) alerts; the scenario does not test \
             what it should: {v}",
            self.name
        );
    }
}

/// An error answer without the regex engine's own wording of a bad regex (Go's
/// `regexp` and Rust's `regex` explain the same mistake differently).
fn norm_error(v: &Value) -> Value {
    let cut = |s: &str| -> String {
        for marker in ["error parsing regexp: ", "regex parse error"] {
            if let Some(i) = s.find(marker) {
                return format!("{}<bad regex>", &s[..i]);
            }
        }
        s.to_owned()
    };
    match v {
        Value::String(s) => Value::String(cut(s)),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k.clone(), Value::String(cut(s))),
                    other => (k.clone(), other.clone()),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A JSON answer cut to a readable length.
fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

fn sorted_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn silence_pos(id: &Value, ids: &HashMap<String, usize>) -> String {
    let id = id.as_str().unwrap_or_default();
    match ids.get(id) {
        Some(p) => format!("silence#{p}"),
        None => format!("unknown-silence {id}"),
    }
}

/// An alert's compared fields, as one canonical string.
fn norm_alert(a: &Value, ids: &HashMap<String, usize>, with_receivers: bool) -> String {
    let list = |v: &Value| -> Vec<Value> { v.as_array().cloned().unwrap_or_default() };
    let mut silenced: Vec<String> = list(&a["status"]["silencedBy"])
        .iter()
        .map(|id| silence_pos(id, ids))
        .collect();
    silenced.sort();
    let mut inhibited: Vec<String> = list(&a["status"]["inhibitedBy"])
        .iter()
        .map(|f| f.as_str().unwrap_or_default().to_owned())
        .collect();
    inhibited.sort();
    // Start and end were sent explicitly, so they are compared too (merging of
    // re-posted alerts decides them); `updatedAt` is each server's own clock.
    let mut s = format!(
        "fp={} labels={:?} annotations={:?} state={} silencedBy={silenced:?} inhibitedBy={inhibited:?} startsAt={} endsAt={}",
        a["fingerprint"].as_str().unwrap_or_default(),
        sorted_map(&a["labels"]),
        sorted_map(&a["annotations"]),
        a["status"]["state"].as_str().unwrap_or_default(),
        a["startsAt"].as_str().unwrap_or_default(),
        a["endsAt"].as_str().unwrap_or_default(),
    );
    if with_receivers {
        let mut receivers: Vec<String> = list(&a["receivers"])
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        receivers.sort();
        s.push_str(&format!(" receivers={receivers:?}"));
    }
    s
}

/// Groups keyed by (receiver, group labels), each with the set of its alerts.
fn norm_groups(v: &Value, ids: &HashMap<String, usize>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in v.as_array().cloned().unwrap_or_default() {
        let key = format!(
            "group receiver={} labels={:?}",
            g["receiver"]["name"].as_str().unwrap_or_default(),
            sorted_map(&g["labels"])
        );
        let alerts: BTreeSet<String> = g["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| norm_alert(a, ids, false))
            .collect();
        let value = alerts.into_iter().collect::<Vec<_>>().join("\n      ");
        out.push((key, value));
    }
    out
}

/// Alerts keyed by fingerprint.
fn norm_alerts(v: &Value, ids: &HashMap<String, usize>) -> Vec<(String, String)> {
    v.as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let key = format!("alert {}", a["fingerprint"].as_str().unwrap_or_default());
            (key, norm_alert(a, ids, true))
        })
        .collect()
}

/// Receivers by name (Alertmanager 0.25's receivers have nothing else).
fn norm_receivers(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default();
            (format!("receiver {name}"), String::new())
        })
        .collect()
}

/// Keyed answers; a key seen twice is marked, which is a difference unless both
/// servers repeat it.
fn keyed(items: Vec<(String, String)>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in items {
        out.entry(k)
            .and_modify(|e: &mut String| {
                e.push_str(" + AGAIN: ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

/// Silences keyed by their position in the scenario.
fn norm_silences(v: &Value, ids: &HashMap<String, usize>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in v.as_array().cloned().unwrap_or_default() {
        let mut matchers: Vec<String> = s["matchers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let op = match (m["isRegex"].as_bool(), m["isEqual"].as_bool()) {
                    (Some(false), Some(true) | None) => "=",
                    (Some(false), Some(false)) => "!=",
                    (Some(true), Some(true) | None) => "=~",
                    (Some(true), Some(false)) => "!~",
                    _ => "?",
                };
                format!(
                    "{}{op}{:?}",
                    m["name"].as_str().unwrap_or_default(),
                    m["value"].as_str().unwrap_or_default()
                )
            })
            .collect();
        matchers.sort();
        let key = silence_pos(&s["id"], ids);
        let value = format!(
            "matchers={matchers:?} state={} comment={:?} createdBy={:?}",
            s["status"]["state"].as_str().unwrap_or_default(),
            s["comment"].as_str().unwrap_or_default(),
            s["createdBy"].as_str().unwrap_or_default(),
        );
        out.push((key, value));
    }
    out
}

/// Grouping by labels: `group_by` per route, alerts missing some of the labels, an
/// alert re-posted with new annotations, an explicitly empty `group_by` (inherits).
#[test]
fn grouping_by_labels() {
    let cfg = r#"route:
  receiver: default
  group_by: [alertname, cluster]
  group_wait: 30s
  routes:
    - matchers: [team="db"]
      receiver: db
      group_by: [alertname]
    - matchers: ['service=~"api|web"']
      receiver: frontend
      group_by: [service, region]
    - match:
        team: storage
      receiver: storage
      group_by: []
receivers:
  - name: default
    webhook_configs: [{url: '{SINK}'}]
  - name: db
    webhook_configs: [{url: '{SINK}'}]
  - name: frontend
    webhook_configs: [{url: '{SINK}'}]
  - name: storage
    webhook_configs: [{url: '{SINK}'}]
"#;
    let p = Pair::start("grouping_by_labels", cfg);
    let alerts = vec![
        p.firing(&[
            ("alertname", "HighCPU"),
            ("cluster", "c1"),
            ("severity", "critical"),
        ]),
        p.firing(&[
            ("alertname", "HighCPU"),
            ("cluster", "c1"),
            ("instance", "h2"),
            ("severity", "warning"),
        ]),
        p.firing(&[
            ("alertname", "HighCPU"),
            ("cluster", "c2"),
            ("severity", "warning"),
        ]),
        p.firing(&[("alertname", "HighCPU"), ("severity", "critical")]),
        p.firing(&[
            ("alertname", "Replication"),
            ("team", "db"),
            ("cluster", "c1"),
        ]),
        p.firing(&[
            ("alertname", "Replication"),
            ("team", "db"),
            ("cluster", "c2"),
        ]),
        p.firing(&[
            ("alertname", "Latency"),
            ("service", "api"),
            ("region", "eu"),
            ("severity", "critical"),
        ]),
        p.firing(&[
            ("alertname", "Errors"),
            ("service", "api"),
            ("region", "eu"),
        ]),
        p.firing(&[("alertname", "Errors"), ("service", "web")]),
        p.firing(&[("alertname", "Errors"), ("service", "apigw")]),
        p.firing(&[
            ("alertname", "Disk"),
            ("team", "storage"),
            ("cluster", "c3"),
        ]),
        p.alert(
            &[
                ("alertname", "Disk"),
                ("team", "storage"),
                ("cluster", "c4"),
            ],
            &[("summary", "first")],
            -300,
            3600,
        ),
    ];
    p.post_alerts(alerts);
    // The same alert again, with new annotations: the newer ones are shown.
    p.post_alerts(vec![p.alert(
        &[
            ("alertname", "Disk"),
            ("team", "storage"),
            ("cluster", "c4"),
        ],
        &[("summary", "second"), ("runbook", "http://runbooks/disk")],
        -300,
        3600,
    )]);
    p.assert_agree(
        "grouped",
        vec![
            q("/api/v2/alerts/groups", &[("receiver", "db")]),
            q("/api/v2/alerts/groups", &[("receiver", "front.*")]),
            q("/api/v2/alerts/groups", &[("filter", "cluster=\"c1\"")]),
            q("/api/v2/alerts", &[("receiver", "frontend")]),
            q("/api/v2/alerts", &[("receiver", "front")]),
            q(
                "/api/v2/alerts",
                &[
                    ("filter", "alertname=~\"High.*\""),
                    ("filter", "cluster!=\"c2\""),
                ],
            ),
            q("/api/v2/alerts", &[("filter", "instance=\"\"")]),
            q("/api/v2/alerts", &[("filter", "service=~\"api\"")]),
        ],
    );
}

/// `group_by: ['...']`: every alert is a group of its own, also below a route that
/// groups by a label.
#[test]
fn group_by_all_labels() {
    let cfg = r#"route:
  receiver: everything
  group_by: ['...']
  routes:
    - matchers: [team="web"]
      receiver: web
      group_by: [alertname]
    - matchers: [team="db"]
      receiver: db
receivers:
  - name: everything
    webhook_configs: [{url: '{SINK}'}]
  - name: web
    webhook_configs: [{url: '{SINK}'}]
  - name: db
    webhook_configs: [{url: '{SINK}'}]
"#;
    let p = Pair::start("group_by_all_labels", cfg);
    p.post_alerts(vec![
        p.firing(&[("alertname", "A"), ("instance", "i1")]),
        p.firing(&[("alertname", "A"), ("instance", "i2")]),
        p.firing(&[
            ("alertname", "B"),
            ("instance", "i1"),
            ("severity", "critical"),
        ]),
        p.firing(&[("alertname", "W"), ("team", "web"), ("instance", "i1")]),
        p.firing(&[("alertname", "W"), ("team", "web"), ("instance", "i2")]),
        p.firing(&[("alertname", "D"), ("team", "db"), ("instance", "i1")]),
        p.firing(&[("alertname", "D"), ("team", "db"), ("instance", "i2")]),
        // Values that need quoting and escaping in filters.
        p.firing(&[("alertname", "Q"), ("path", "/a \"b\"")]),
        p.firing(&[("alertname", "Q"), ("path", "x,y=z")]),
        p.firing(&[("alertname", "Q"), ("path", "ünï\\code")]),
    ]);
    p.assert_agree(
        "grouped",
        vec![
            q("/api/v2/alerts/groups", &[("receiver", "everything")]),
            q("/api/v2/alerts/groups", &[("filter", "instance=\"i1\"")]),
            q("/api/v2/alerts", &[("receiver", "db|web")]),
            q("/api/v2/alerts", &[("filter", "path=\"/a \\\"b\\\"\"")]),
            q("/api/v2/alerts", &[("filter", "path=\"x,y=z\"")]),
            q("/api/v2/alerts", &[("filter", "path=~\"ü.*\\\\\\\\code\"")]),
            q(
                "/api/v2/alerts/groups",
                &[("filter", "path!~\".*[,\\\"].*\"")],
            ),
        ],
    );
}

/// Nested routes with `continue`: an alert can reach several receivers (and groups),
/// first match wins otherwise, a parent catches what no child takes.
#[test]
fn nested_routes_with_continue() {
    let cfg = r#"route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: [team="ops"]
      receiver: ops
      continue: true
      routes:
        - matchers: [severity="critical"]
          receiver: ops-pager
          continue: true
        - matchers: ['severity=~"critical|warning"']
          receiver: ops-chat
          group_by: [alertname, severity]
        - matchers: [severity="info"]
          receiver: ops-chat
    - matchers: [env="prod"]
      receiver: prod
      group_by: [env, alertname]
    - matchers: [env="prod"]
      receiver: prod-audit
    - match_re:
        env: stag.*
      receiver: staging
      continue: true
    - matchers: [dup="yes"]
      receiver: not-dev
      continue: true
    - matchers: ['env!="dev"']
      receiver: not-dev
receivers:
  - name: default
    webhook_configs: [{url: '{SINK}'}]
  - name: ops
    webhook_configs: [{url: '{SINK}'}]
  - name: ops-pager
    webhook_configs: [{url: '{SINK}'}]
  - name: ops-chat
    webhook_configs: [{url: '{SINK}'}]
  - name: prod
    webhook_configs: [{url: '{SINK}'}]
  - name: prod-audit
    webhook_configs: [{url: '{SINK}'}]
  - name: staging
    webhook_configs: [{url: '{SINK}'}]
  - name: not-dev
    webhook_configs: [{url: '{SINK}'}]
"#;
    let p = Pair::start("nested_routes_with_continue", cfg);
    p.post_alerts(vec![
        p.firing(&[
            ("alertname", "Down"),
            ("team", "ops"),
            ("severity", "critical"),
            ("env", "prod"),
        ]),
        p.firing(&[
            ("alertname", "Down"),
            ("team", "ops"),
            ("severity", "warning"),
            ("env", "dev"),
        ]),
        p.firing(&[("alertname", "Slow"), ("team", "ops"), ("severity", "info")]),
        p.firing(&[
            ("alertname", "Slow"),
            ("team", "ops"),
            ("severity", "debug"),
            ("env", "dev"),
        ]),
        p.firing(&[("alertname", "Slow"), ("env", "prod")]),
        p.firing(&[("alertname", "Slow"), ("env", "staging")]),
        p.firing(&[("alertname", "Slow"), ("env", "stage-2")]),
        p.firing(&[("alertname", "Slow"), ("env", "dev")]),
        p.firing(&[("alertname", "Misc")]),
        // Reaches `not-dev` by two routes: two groups of one receiver.
        p.firing(&[("alertname", "Dup"), ("dup", "yes")]),
    ]);
    p.assert_agree(
        "routed",
        vec![
            q("/api/v2/alerts/groups", &[("receiver", "ops-chat")]),
            q("/api/v2/alerts/groups", &[("receiver", "ops.*")]),
            q(
                "/api/v2/alerts/groups",
                &[("receiver", "prod"), ("filter", "team=\"ops\"")],
            ),
            q("/api/v2/alerts", &[("receiver", "ops")]),
            q("/api/v2/alerts", &[("receiver", "ops-pager")]),
            q("/api/v2/alerts", &[("receiver", "prod|staging")]),
            q("/api/v2/alerts", &[("receiver", "not-dev")]),
            q("/api/v2/alerts", &[("receiver", "default")]),
            q("/api/v2/alerts", &[("receiver", "nobody")]),
            // Bad parameters: both refuse them alike.
            q("/api/v2/alerts", &[("receiver", "ops(")]),
            q("/api/v2/alerts", &[("filter", "severity")]),
            // go-swagger's booleans: `yes`, `on`, … are true, any other word false.
            q("/api/v2/alerts", &[("active", "maybe")]),
            q("/api/v2/alerts", &[("active", "yes")]),
            q("/api/v2/alerts/groups", &[("active", "off")]),
            q("/api/v2/alerts", &[("active", "")]),
            q("/api/v2/alerts/groups", &[("filter", "a=~\"(\"")]),
            q("/api/v2/silences", &[("filter", "{}")]),
            // Matcher syntax variants.
            q("/api/v2/alerts", &[("filter", "severity=critical")]),
            q("/api/v2/alerts", &[("filter", "{team=\"ops\"}")]),
            q("/api/v2/alerts", &[("filter", "env =~ \"prod|dev\"")]),
            q(
                "/api/v2/alerts",
                &[("filter", "env=~\"stag.*\""), ("receiver", "staging")],
            ),
        ],
    );
}

/// Inhibition with `equal`: labels missing on both sides count as equal, an alert
/// matching both sides does not inhibit another such alert, the first rule that
/// inhibits names the source, a silenced source still inhibits.
#[test]
fn inhibit_rule_with_equal() {
    let cfg = r#"route:
  receiver: default
  group_by: [alertname, cluster]
receivers:
  - name: default
    webhook_configs: [{url: '{SINK}'}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster]
  - source_match:
      alertname: NodeDown
    target_match_re:
      alertname: '.+'
    equal: [node]
"#;
    let mut p = Pair::start("inhibit_rule_with_equal", cfg);
    p.post_alerts(vec![
        // Rule 1.
        p.firing(&[
            ("alertname", "HighCPU"),
            ("cluster", "c1"),
            ("severity", "critical"),
        ]),
        p.firing(&[
            ("alertname", "HighCPU"),
            ("cluster", "c1"),
            ("severity", "warning"),
        ]),
        p.firing(&[
            ("alertname", "HighCPU"),
            ("cluster", "c2"),
            ("severity", "warning"),
        ]),
        p.firing(&[
            ("alertname", "HighLatency"),
            ("cluster", "c1"),
            ("severity", "warning"),
        ]),
        p.firing(&[("alertname", "Disk"), ("severity", "critical")]),
        p.firing(&[("alertname", "Disk"), ("severity", "warning")]),
        p.firing(&[
            ("alertname", "Disk"),
            ("cluster", "c9"),
            ("severity", "warning"),
        ]),
        // Rule 2; NodeDown alerts match both sides.
        p.firing(&[("alertname", "NodeDown"), ("node", "n1")]),
        p.firing(&[("alertname", "Whatever"), ("node", "n1")]),
        p.firing(&[("alertname", "NodeDown"), ("node", "n3"), ("dc", "x")]),
        p.firing(&[("alertname", "NodeDown"), ("node", "n3"), ("dc", "y")]),
        p.firing(&[("alertname", "Whatever"), ("node", "n2")]),
        // Both rules inhibit it; the first one's source is named.
        p.firing(&[
            ("alertname", "HighCPU"),
            ("cluster", "c1"),
            ("severity", "warning"),
            ("node", "n1"),
        ]),
        // A silenced source still inhibits.
        p.firing(&[
            ("alertname", "Mem"),
            ("cluster", "c5"),
            ("severity", "critical"),
        ]),
        p.firing(&[
            ("alertname", "Mem"),
            ("cluster", "c5"),
            ("severity", "warning"),
        ]),
    ]);
    p.silence(
        &[("alertname", "=", "Mem"), ("severity", "=", "critical")],
        -60,
        3600,
        "silence the source",
    );
    // Inhibited and silenced at once.
    p.silence(
        &[
            ("alertname", "=", "HighCPU"),
            ("cluster", "=", "c1"),
            ("severity", "=", "warning"),
        ],
        -60,
        3000,
        "silence inhibited ones",
    );
    p.assert_agree(
        "inhibited",
        vec![
            q(
                "/api/v2/alerts",
                &[("inhibited", "false"), ("silenced", "false")],
            ),
            q(
                "/api/v2/alerts",
                &[("inhibited", "true"), ("active", "false")],
            ),
            q(
                "/api/v2/alerts",
                &[("filter", "severity=\"warning\""), ("inhibited", "false")],
            ),
            q("/api/v2/alerts/groups", &[("inhibited", "false")]),
            q("/api/v2/alerts/groups", &[("filter", "node=~\"n.*\"")]),
            q(
                "/api/v2/alerts",
                &[("silenced", "false"), ("active", "false")],
            ),
        ],
    );
    p.expect_states(9, 6);
}

/// Silences with regex and negative matchers (anchored regexes, `!=` matching a
/// missing label), a pending silence, an alert under two silences, silence filters.
#[test]
fn silence_with_regex_matchers() {
    let cfg = r#"route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['job=~"api.*"']
      receiver: api
receivers:
  - name: default
    webhook_configs: [{url: '{SINK}'}]
  - name: api
    webhook_configs: [{url: '{SINK}'}]
"#;
    let mut p = Pair::start("silence_with_regex_matchers", cfg);
    p.post_alerts(vec![
        p.firing(&[
            ("alertname", "Web"),
            ("instance", "web-1"),
            ("severity", "warning"),
        ]),
        p.firing(&[
            ("alertname", "Web"),
            ("instance", "web-1"),
            ("severity", "info"),
        ]),
        p.firing(&[("alertname", "Web"), ("instance", "web-12")]),
        p.firing(&[
            ("alertname", "Web"),
            ("instance", "webx-1"),
            ("severity", "warning"),
        ]),
        p.firing(&[
            ("alertname", "Web"),
            ("instance", "pre-web-1"),
            ("severity", "warning"),
        ]),
        p.firing(&[("alertname", "Disk"), ("mount", "/")]),
        p.firing(&[("alertname", "Disk"), ("mount", "/boot")]),
        p.firing(&[("alertname", "Disk"), ("mount", "/boot/efi")]),
        p.firing(&[("alertname", "Disk")]),
        p.firing(&[("alertname", "Api"), ("job", "api")]),
        p.firing(&[("alertname", "Api"), ("job", "api-gw")]),
        p.firing(&[
            ("alertname", "Api"),
            ("job", "api"),
            ("instance", "web-2"),
            ("severity", "critical"),
        ]),
        p.firing(&[("alertname", "Db"), ("instance", "db-7")]),
        p.firing(&[("alertname", "Db"), ("instance", "DB-8.example")]),
        p.firing(&[("alertname", "Db"), ("instance", "xdb-9")]),
    ]);
    p.silence(
        &[("instance", "=~", "web-[0-9]+"), ("severity", "!=", "info")],
        -60,
        3600,
        "web maintenance",
    );
    p.silence(
        &[("alertname", "=", "Disk"), ("mount", "!~", "/boot|/tmp")],
        -60,
        7200,
        "disks except boot",
    );
    p.silence(&[("job", "=~", "api")], -60, 1800, "anchored regex");
    p.silence(
        &[("alertname", "=~", ".+")],
        3600,
        7200,
        "pending: starts in an hour",
    );
    p.silence(
        &[("instance", "=~", "(?i)db-\\d+.*")],
        -60,
        5400,
        "case-insensitive",
    );
    // Refused alike: only matchers matching the empty string, end before start.
    let (status, am, ph) = p.post(
        "/api/v2/silences",
        &p.silence_body(&[("foo", "=~", ".*")], -60, 3600, "matches everything"),
    );
    assert_eq!(status, 400, "{am} / {ph}");
    let (status, am, ph) = p.post(
        "/api/v2/silences",
        &p.silence_body(&[("foo", "=", "bar")], 3600, 60, "ends before it starts"),
    );
    assert_eq!(status, 400, "{am} / {ph}");
    p.assert_agree(
        "silenced",
        vec![
            q(
                "/api/v2/alerts",
                &[("silenced", "false"), ("filter", "alertname=\"Web\"")],
            ),
            q("/api/v2/alerts", &[("filter", "instance=~\"web-.*\"")]),
            q("/api/v2/alerts", &[("filter", "mount!~\"/boot.*\"")]),
            q(
                "/api/v2/alerts",
                &[("receiver", "api"), ("silenced", "false")],
            ),
            q("/api/v2/alerts/groups", &[("silenced", "false")]),
            q("/api/v2/alerts/groups", &[("receiver", "api")]),
            q("/api/v2/silences", &[("filter", "alertname=\"Disk\"")]),
            q("/api/v2/silences", &[("filter", "instance=~\"web.*\"")]),
            q("/api/v2/silences", &[("filter", "severity!=\"info\"")]),
            q("/api/v2/silences", &[("filter", "instance=\"\"")]),
        ],
    );
    p.expect_states(6, 9);
}

/// Expired silences: one expired by `DELETE`, one replaced by re-posting it with other
/// matchers (Alertmanager expires the old one and creates a new ID), one whose
/// comment only changes; a silence already over is refused by both.
#[test]
fn expired_silence() {
    let cfg = r#"route:
  receiver: default
  group_by: [alertname]
receivers:
  - name: default
    webhook_configs: [{url: '{SINK}'}]
"#;
    let mut p = Pair::start("expired_silence", cfg);
    p.post_alerts(vec![
        p.firing(&[("alertname", "A")]),
        p.firing(&[("alertname", "B")]),
        p.firing(&[("alertname", "C")]),
        p.firing(&[("alertname", "D")]),
        p.firing(&[("alertname", "E")]),
    ]);
    let a = p.silence(&[("alertname", "=", "A")], -60, 3600, "expired by DELETE");
    let b = p.silence(&[("alertname", "=", "B")], -60, 3000, "stays active");
    let f = p.silence(
        &[("alertname", "=", "F")],
        600,
        4100,
        "pending, then updated",
    );
    let c = p.silence(&[("alertname", "=", "C")], -60, 3300, "replaced");
    let e = p.silence(
        &[("alertname", "=", "E")],
        600,
        4000,
        "pending, then expired",
    );
    p.assert_agree("before expiry", vec![]);
    p.expect_states(2, 3);
    p.expire_silence(a);
    p.expire_silence(e);
    p.update_silence(c, &[("alertname", "=", "D")], -60, 3400, "replacement");
    // Only the comment changes, but the start sent is not the stored one (the past
    // start was moved to the time of creation).
    p.update_silence(b, &[("alertname", "=", "B")], -60, 3000, "comment changed");
    // A pending silence updated while still pending.
    p.update_silence(f, &[("alertname", "=", "F")], 900, 4200, "pending, moved");
    for pos in 0..p.silences.len() {
        p.silence_by_id("GET", Ok(pos));
    }
    // Expired already; unknown; not a UUID.
    p.silence_by_id("DELETE", Ok(a));
    p.silence_by_id("GET", Err("9b3c2d4e-0000-4000-8000-000000000000"));
    p.silence_by_id("DELETE", Err("9b3c2d4e-0000-4000-8000-000000000000"));
    p.silence_by_id("GET", Err("not-a-uuid"));
    p.silence_by_id("DELETE", Err("not-a-uuid"));
    let (status, am, ph) = p.post(
        "/api/v2/silences",
        &p.silence_body(&[("alertname", "=", "A")], -600, -60, "already over"),
    );
    assert_eq!(status, 400, "silence ending in the past: {am} / {ph}");
    p.assert_agree(
        "after expiry",
        vec![
            q("/api/v2/silences", &[("filter", "alertname=\"A\"")]),
            q("/api/v2/alerts", &[("silenced", "false")]),
        ],
    );
    p.expect_states(3, 2);
}

/// Resolved alerts: posted resolved, resolved after firing, a resolved inhibition
/// source (inhibits nothing), a resolved alert firing again.
#[test]
fn resolved_alert() {
    let cfg = r#"route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: [team="ops"]
      receiver: ops
receivers:
  - name: default
    webhook_configs: [{url: '{SINK}'}]
  - name: ops
    webhook_configs: [{url: '{SINK}'}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
"#;
    let p = Pair::start("resolved_alert", cfg);
    p.post_alerts(vec![
        p.firing(&[("alertname", "Firing"), ("team", "ops")]),
        p.alert(
            &[("alertname", "PostedResolved"), ("team", "ops")],
            &[],
            -600,
            -60,
        ),
        p.firing(&[("alertname", "ResolvesLater")]),
        p.firing(&[("alertname", "ResolvesLater"), ("instance", "i2")]),
        p.alert(
            &[("alertname", "Mem"), ("severity", "critical")],
            &[],
            -600,
            -60,
        ),
        p.firing(&[("alertname", "Mem"), ("severity", "warning")]),
        p.firing(&[("alertname", "Cpu"), ("severity", "critical")]),
        p.firing(&[("alertname", "Cpu"), ("severity", "warning")]),
        p.alert(&[("alertname", "Again")], &[("try", "1")], -900, -120),
        // Re-posted below with other times: how the two posts merge.
        p.firing(&[("alertname", "Shorter")]),
        p.firing(&[("alertname", "Longer")]),
        p.firing(&[("alertname", "EarlierStart")]),
        // Starts in ten minutes.
        p.firing(&[("alertname", "Later")]),
        p.alert(
            &[("alertname", "Later"), ("instance", "i2")],
            &[],
            600,
            3600,
        ),
    ]);
    p.assert_agree("posted", vec![q("/api/v2/alerts", &[("receiver", "ops")])]);
    p.expect_states(10, 1);
    // Refused batches: the valid alerts of a batch are kept all the same.
    let bad = p.alert(&[("alertname", "Backwards")], &[], 600, 60);
    let (status, _, _) = p.post(
        "/api/v2/alerts",
        &json!([p.firing(&[("alertname", "Partial"), ("team", "ops")]), bad]),
    );
    assert_eq!(status, 400);
    let (status, _, _) = p.post("/api/v2/alerts", &json!([p.firing(&[("bad-name", "x")])]));
    assert_eq!(status, 400);
    let (status, _, _) = p.post("/api/v2/alerts", &json!([p.firing(&[])]));
    assert_eq!(status, 400);
    p.post_alerts(vec![
        p.alert(&[("alertname", "ResolvesLater")], &[], -300, -1),
        p.alert(
            &[("alertname", "Cpu"), ("severity", "critical")],
            &[],
            -300,
            -1,
        ),
        p.alert(&[("alertname", "Again")], &[("try", "2")], -30, 3600),
        p.alert(&[("alertname", "Shorter")], &[], -100, 1800),
        p.alert(&[("alertname", "Longer")], &[], -100, 7200),
        p.alert(&[("alertname", "EarlierStart")], &[], -600, 3000),
    ]);
    p.assert_agree(
        "resolved",
        vec![
            q("/api/v2/alerts", &[("receiver", "ops")]),
            q("/api/v2/alerts", &[("filter", "alertname=~\"Resolves.*\"")]),
            q("/api/v2/alerts/groups", &[("receiver", "ops")]),
        ],
    );
    p.expect_states(11, 0);
}
