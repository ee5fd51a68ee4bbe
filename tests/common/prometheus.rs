//! Starting Debian's `prometheus` (2.42) on a free loopback port for differential tests.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The directory on PATH holding `name`, as a full path.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A running Prometheus, killed on drop.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    log_path: PathBuf,
}

impl Prometheus {
    /// Writes `config` to `dir/prometheus.yml` and starts Prometheus on it with its data
    /// under `dir`, plus `extra_args`; waits until `/-/ready` answers. Panics with a
    /// clear message when the binary is missing, since a differential test cannot say
    /// anything without it.
    pub fn start(dir: &Path, config: &str, extra_args: &[&str]) -> Prometheus {
        let bin = find_on_path("prometheus").unwrap_or_else(|| {
            panic!(
                "the `prometheus` binary is not on PATH: this test compares Pharos with a real \
                 Prometheus; install Debian's `prometheus` package \
                 (apt-get install --no-install-recommends prometheus; .ci/run does this in CI)"
            )
        });
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus config");
        // Another process may take the port between probing and binding; try again then.
        for attempt in 0..5 {
            let port = free_port();
            let log_path = dir.join(format!("prometheus-{attempt}.log"));
            let log = std::fs::File::create(&log_path).expect("create prometheus log");
            let child = Command::new(&bin)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("prometheus-data-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .args(extra_args)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
            let mut p = Prometheus {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log_path,
            };
            match p.wait_ready() {
                Ok(()) => return p,
                Err(log) if log.contains("address already in use") => continue,
                Err(log) => panic!("prometheus did not become ready; its log:\n{log}"),
            }
        }
        panic!("could not find a free port for prometheus");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("(exited with {status})\n{}", self.log()));
            }
            if let Ok(r) = client.get(format!("{}/-/ready", self.url)).send() {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "(not ready after {READY_TIMEOUT:?})\n{}",
            self.log()
        ))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
