//! Starting, flushing, measuring and stopping the three systems under test.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::util::{self, dir_size, interrupted, tail, url_encode};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Pharos,
    Prometheus,
    #[value(name = "victoriametrics", alias = "vm")]
    VictoriaMetrics,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pharos => "Pharos",
            Kind::Prometheus => "Prometheus",
            Kind::VictoriaMetrics => "VictoriaMetrics",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Kind::Pharos => "pharos",
            Kind::Prometheus => "prometheus",
            Kind::VictoriaMetrics => "victoriametrics",
        }
    }

    fn ready_path(self) -> &'static str {
        match self {
            Kind::VictoriaMetrics => "/health",
            _ => "/-/ready",
        }
    }

    /// What the disk figure counts, for the report.
    pub fn disk_scope(self) -> &'static str {
        match self {
            Kind::Pharos => "`<data>/blocks` after `POST /api/v1/admin/tsdb/flush` (WAL excluded)",
            Kind::Prometheus => {
                "the snapshot dir from `POST /api/v1/admin/tsdb/snapshot` (all blocks incl. the head written as a block; WAL excluded)"
            }
            Kind::VictoriaMetrics => {
                "`<data>/data` + `<data>/indexdb` after `/internal/force_flush`, `/internal/force_merge` and merges settling"
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Timeouts {
    pub ready: Duration,
    pub flush: Duration,
    pub settle: Duration,
}

/// A running server with its own data directory. Dropping it stops the
/// process (SIGTERM, then SIGKILL) and deletes the directory unless asked to
/// keep it.
pub struct Server {
    pub kind: Kind,
    child: Child,
    pub pid: u32,
    pub base_url: String,
    /// Parent of `data_dir`; also holds the log and any config file.
    root: PathBuf,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    keep: bool,
}

impl Server {
    pub fn start(
        kind: Kind,
        bin: &Path,
        root: PathBuf,
        retention_days: u64,
        keep: bool,
    ) -> Result<Server> {
        std::fs::create_dir_all(&root)?;
        let data_dir = root.join("data");
        std::fs::create_dir_all(&data_dir)?;
        let port = util::free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let log_path = root.join("server.log");
        let log = File::create(&log_path)?;

        let mut cmd = Command::new(bin);
        match kind {
            Kind::Pharos => {
                cmd.arg("serve")
                    .arg("--data-dir")
                    .arg(&data_dir)
                    .arg("--listen")
                    .arg(&listen);
            }
            Kind::Prometheus => {
                // No scrape jobs: Prometheus must only ingest what we send.
                let config = root.join("prometheus.yml");
                std::fs::write(
                    &config,
                    "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
                )?;
                cmd.arg(format!("--config.file={}", config.display()))
                    .arg(format!("--storage.tsdb.path={}", data_dir.display()))
                    .arg(format!("--web.listen-address={listen}"))
                    .arg("--web.enable-remote-write-receiver")
                    .arg("--web.enable-admin-api")
                    .arg("--log.level=warn");
            }
            Kind::VictoriaMetrics => {
                cmd.arg(format!("-storageDataPath={}", data_dir.display()))
                    .arg(format!("-httpListenAddr={listen}"))
                    .arg(format!("-retentionPeriod={retention_days}d"))
                    .arg("-loggerLevel=WARN");
            }
        }
        let child = cmd
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Server {
            kind,
            pid: child.id(),
            child,
            base_url: format!("http://{listen}"),
            root,
            data_dir,
            log_path,
            keep,
        })
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn died(&mut self, when: &str) -> anyhow::Error {
        let status = self
            .child
            .try_wait()
            .ok()
            .flatten()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "still running".into());
        anyhow!(
            "{} {when} ({status}); last log lines:\n{}",
            self.kind.name(),
            tail(&self.log_path, 15)
        )
    }

    pub fn wait_ready(
        &mut self,
        client: &reqwest::blocking::Client,
        limit: Duration,
    ) -> Result<()> {
        let url = format!("{}{}", self.base_url, self.kind.ready_path());
        let deadline = Instant::now() + limit;
        loop {
            if !self.alive() {
                return Err(self.died("exited before becoming ready"));
            }
            if let Ok(r) = client.get(&url).timeout(Duration::from_secs(2)).send() {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(self.died(&format!("not ready after {limit:?}")));
            }
            util::sleep(Duration::from_millis(100))?;
        }
    }

    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url)
    }

    /// Makes the target persist what it ingested and returns the bytes it
    /// occupies on disk, with a note if something was off.
    pub fn persist(
        &mut self,
        client: &reqwest::blocking::Client,
        t: &Timeouts,
    ) -> Result<(u64, Option<String>)> {
        match self.kind {
            Kind::Pharos => {
                let url = format!("{}/api/v1/admin/tsdb/flush", self.base_url);
                let r = client
                    .post(&url)
                    .timeout(t.flush)
                    .send()
                    .with_context(|| format!("POST {url}"))?;
                let status = r.status();
                if !status.is_success() {
                    bail!(
                        "flush returned HTTP {status}: {}",
                        r.text().unwrap_or_default()
                    );
                }
                Ok((dir_size(&self.data_dir.join("blocks")), None))
            }
            Kind::Prometheus => {
                let url = format!("{}/api/v1/admin/tsdb/snapshot", self.base_url);
                let r = client
                    .post(&url)
                    .timeout(t.flush)
                    .send()
                    .with_context(|| format!("POST {url}"))?;
                let status = r.status();
                let body = r.text().unwrap_or_default();
                if !status.is_success() {
                    bail!("snapshot returned HTTP {status}: {body}");
                }
                let v: serde_json::Value =
                    serde_json::from_str(&body).context("parsing snapshot response")?;
                let name = v["data"]["name"]
                    .as_str()
                    .ok_or_else(|| anyhow!("snapshot response without a name: {body}"))?;
                Ok((dir_size(&self.data_dir.join("snapshots").join(name)), None))
            }
            Kind::VictoriaMetrics => {
                for path in ["/internal/force_flush", "/internal/force_merge"] {
                    let url = format!("{}{path}", self.base_url);
                    let r = client
                        .get(&url)
                        .timeout(t.flush)
                        .send()
                        .with_context(|| format!("GET {url}"))?;
                    if !r.status().is_success() {
                        bail!("{path} returned HTTP {}", r.status());
                    }
                }
                let note = self.settle_vm(client, t.settle)?;
                let size = dir_size(&self.data_dir.join("data"))
                    + dir_size(&self.data_dir.join("indexdb"));
                Ok((size, note))
            }
        }
    }

    /// force_merge only starts the merge, so poll until VictoriaMetrics
    /// reports no active merges and the directories stop changing.
    fn settle_vm(
        &mut self,
        client: &reqwest::blocking::Client,
        limit: Duration,
    ) -> Result<Option<String>> {
        let deadline = Instant::now() + limit;
        let metrics_url = format!("{}/metrics", self.base_url);
        let mut last_size = u64::MAX;
        let mut stable = 0;
        loop {
            if !self.alive() {
                return Err(self.died("exited while merging"));
            }
            let active = client
                .get(&metrics_url)
                .timeout(Duration::from_secs(10))
                .send()
                .and_then(|r| r.text())
                .map(|text| active_merges(&text))
                .unwrap_or(1.0);
            let size =
                dir_size(&self.data_dir.join("data")) + dir_size(&self.data_dir.join("indexdb"));
            if active == 0.0 && size == last_size {
                stable += 1;
            } else {
                stable = 0;
            }
            last_size = size;
            if stable >= 3 {
                return Ok(None);
            }
            if Instant::now() > deadline {
                return Ok(Some(format!(
                    "merges had not settled after {limit:?}; disk measured anyway"
                )));
            }
            util::sleep(Duration::from_secs(1))?;
        }
    }

    /// Runs an instant query and returns the single scalar it yields, or
    /// `Ok(None)` if the target has no query API.
    pub fn query_scalar(
        &self,
        client: &reqwest::blocking::Client,
        query: &str,
        at_ms: i64,
    ) -> Result<Option<f64>> {
        let url = format!(
            "{}/api/v1/query?query={}&time={:.3}&nocache=1",
            self.base_url,
            url_encode(query),
            at_ms as f64 / 1000.0
        );
        let r = client
            .get(&url)
            .timeout(Duration::from_secs(120))
            .send()
            .with_context(|| format!("GET {url}"))?;
        if r.status().as_u16() == 404 || r.status().as_u16() == 405 {
            return Ok(None);
        }
        let status = r.status();
        let body = r.text().unwrap_or_default();
        if !status.is_success() {
            bail!("query returned HTTP {status}: {}", body.trim());
        }
        let v: serde_json::Value = serde_json::from_str(&body).context("parsing query response")?;
        let result = &v["data"]["result"];
        let value = match result.as_array() {
            Some(a) if a.is_empty() => return Ok(Some(0.0)),
            Some(a) => &a[0]["value"][1],
            None => &result[1],
        };
        value
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .map(Some)
            .ok_or_else(|| anyhow!("unexpected query response: {body}"))
    }

    /// Samples recorded in the `meta.json` of every persisted block, for
    /// targets whose blocks carry Prometheus-style stats. Lets the run check
    /// completeness when the target has no query API.
    pub fn block_samples(&self) -> Option<u64> {
        if self.kind != Kind::Pharos {
            return None;
        }
        let entries = std::fs::read_dir(self.data_dir.join("blocks")).ok()?;
        let mut total = 0;
        for e in entries.filter_map(|e| e.ok()) {
            let Ok(text) = std::fs::read_to_string(e.path().join("meta.json")) else {
                continue;
            };
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            total += v["stats"]["numSamples"].as_u64()?;
        }
        Some(total)
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // A graceful stop lets the peers release their locks; a server that
        // ignores SIGTERM is killed after a bounded wait.
        // SAFETY: plain kill(2) on a child we spawned and have not reaped.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.root);
        } else if !interrupted() {
            eprintln!("    kept {}", self.root.display());
        }
    }
}

/// Sum of `vm_active_force_merges` and all `vm_active_merges{...}` gauges.
fn active_merges(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("vm_active_force_merges") || l.starts_with("vm_active_merges"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_active_merges() {
        let m = "vm_active_force_merges 0\nvm_active_merges{type=\"indexdb\"} 2\n\
                 vm_active_merges{type=\"storage/big\"} 1\nvm_merges_total 7\n";
        assert_eq!(active_merges(m), 3.0);
        assert_eq!(active_merges("vm_active_force_merges 0\n"), 0.0);
    }
}
