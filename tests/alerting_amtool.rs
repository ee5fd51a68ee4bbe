//! Debian's `amtool` (Alertmanager 0.25's CLI) against Pharos's Alertmanager API v2:
//! silences added, listed and expired, alerts posted and queried, the configuration
//! shown; silences survive a restart through the control-plane database.

mod common;

use common::{client, Server};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn amtool_bin() -> std::path::PathBuf {
    common::prometheus::find_on_path("amtool").unwrap_or_else(|| {
        panic!(
            "the `amtool` binary is not on PATH: this test drives Pharos with Alertmanager's \
             CLI; install Debian's `prometheus-alertmanager` package (.ci/run does this in CI)"
        )
    })
}

/// Runs amtool against `server`; returns stdout, panicking with both streams on failure.
/// HOME points at an empty directory so a user's amtool config cannot interfere.
fn amtool(server: &Server, home: &Path, args: &[&str]) -> String {
    let out = Command::new(amtool_bin())
        .env("HOME", home)
        .arg(format!("--alertmanager.url=http://{}", server.addr))
        .args(args)
        .output()
        .expect("run amtool");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "amtool {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
    stdout
}

const CONFIG: &str = "\
alertmanager:
  route:
    receiver: team
    group_by: [alertname]
  receivers:
    - name: team
";

/// The whole amtool session against a server started with `extra` arguments.
pub fn silence_and_alert_session(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let cfg = dir.path().join("pharos.yml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_args(&data, Some(&cfg), extra);
    let backend = if extra.contains(&"--database-url") {
        "backend=Postgres"
    } else {
        "backend=Sqlite"
    };
    assert!(server.logs().contains(backend), "{}", server.logs());

    let id = amtool(
        &server,
        &home,
        &[
            "silence",
            "add",
            "alertname=X",
            "--comment=maintenance window",
            "--duration=1h",
            "--author=tester",
        ],
    )
    .trim()
    .to_owned();
    assert_eq!(id.len(), 36, "silence ID should be a UUID: {id:?}");

    let listed = amtool(&server, &home, &["silence", "query"]);
    assert!(listed.contains(&id), "{listed}");
    assert!(listed.contains("alertname=\"X\""), "{listed}");
    assert!(listed.contains("tester"), "{listed}");
    assert!(listed.contains("maintenance window"), "{listed}");
    let quiet = amtool(&server, &home, &["silence", "query", "-q", "alertname=X"]);
    assert_eq!(quiet.trim(), id);

    // An alert posted with amtool and one posted with curl-style JSON both show up;
    // the silenced one is suppressed.
    amtool(
        &server,
        &home,
        &[
            "alert",
            "add",
            "alertname=X",
            "severity=page",
            "--annotation=summary=disk full",
        ],
    );
    let r = client()
        .post(server.url("/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(r#"[{"labels":{"alertname":"Y","severity":"ticket"},"annotations":{"summary":"slow"}}]"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let alerts = amtool(&server, &home, &["alert", "query"]);
    assert!(alerts.contains('Y') && alerts.contains("slow"), "{alerts}");
    // amtool's default query hides silenced alerts.
    assert!(!alerts.contains("disk full"), "{alerts}");
    let all = amtool(
        &server,
        &home,
        &["-o", "json", "alert", "query", "--silenced"],
    );
    let v: serde_json::Value = serde_json::from_str(&all).unwrap();
    let x = v
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "X")
        .unwrap_or_else(|| panic!("alert X missing: {all}"));
    assert_eq!(x["status"]["state"], "suppressed");
    assert_eq!(x["status"]["silencedBy"][0], id.as_str());
    assert_eq!(x["receivers"][0]["name"], "team");

    let cluster = amtool(&server, &home, &["cluster", "show"]);
    assert!(cluster.contains("Cluster Status:  disabled"), "{cluster}");
    let shown = amtool(&server, &home, &["config", "show"]);
    assert!(shown.contains("receiver: team"), "{shown}");

    // Silences are in the control-plane database: a restart keeps them.
    server.stop();
    let server = Server::start_with_args(&data, Some(&cfg), extra);
    let listed = amtool(&server, &home, &["silence", "query", "-q"]);
    assert_eq!(listed.trim(), id, "silence lost across restart");

    amtool(&server, &home, &["silence", "expire", &id]);
    let active = amtool(&server, &home, &["silence", "query", "-q"]);
    assert_eq!(active.trim(), "", "expired silence still listed as active");
    let expired = amtool(&server, &home, &["silence", "query", "--expired", "-q"]);
    assert_eq!(expired.trim(), id);
    std::thread::sleep(Duration::from_millis(10));
    server.stop();
}

#[test]
fn amtool_silences_alerts_and_config() {
    silence_and_alert_session(&[]);
}

/// The same session with the control-plane database on PostgreSQL (`--database-url`).
#[test]
fn amtool_session_on_postgresql() {
    let pg = pg::PgServer::start();
    let url = pg.url();
    silence_and_alert_session(&["--database-url", &url]);
    drop(pg);
}

/// A throwaway PostgreSQL server from Debian's server binaries, in a temp directory on
/// a free loopback port with trust authentication. initdb and postgres refuse to run
/// as root, so as root the server runs as the `postgres` user Debian's package creates.
mod pg {
    use std::os::unix::process::CommandExt;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    pub struct PgServer {
        dir: tempfile::TempDir,
        port: u16,
        child: Child,
    }

    fn bin_dir() -> PathBuf {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let version: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, b)| b).expect(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin; \
             install Debian's `postgresql` package",
        )
    }

    fn server_user() -> Option<(u32, u32)> {
        // SAFETY: plain libc calls; getpwnam's result is read before any other call.
        unsafe {
            if libc::geteuid() != 0 {
                return None;
            }
            let name = std::ffi::CString::new("postgres").unwrap();
            let pw = libc::getpwnam(name.as_ptr());
            assert!(!pw.is_null(), "running as root without a `postgres` user");
            Some(((*pw).pw_uid, (*pw).pw_gid))
        }
    }

    impl PgServer {
        pub fn start() -> PgServer {
            let bin = bin_dir();
            let user = server_user();
            let dir = tempfile::Builder::new()
                .prefix("pharos-alerting-pg-")
                .tempdir()
                .unwrap();
            if let Some((uid, gid)) = user {
                std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
            }
            let command = |program: &str| {
                let mut cmd = Command::new(bin.join(program));
                cmd.current_dir(dir.path())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                if let Some((uid, gid)) = user {
                    cmd.uid(uid).gid(gid).env("HOME", dir.path());
                }
                cmd
            };
            let ok = command("initdb")
                .args(["-D", "data", "-U", "pharos", "-A", "trust", "-E", "UTF8"])
                .args(["--no-locale", "--no-sync"])
                .status()
                .expect("run initdb")
                .success();
            assert!(ok, "initdb failed");
            let port = super::common::free_port();
            let socket_dir = dir.path().display().to_string();
            let child = command("postgres")
                .args(["-D", "data", "-p", &port.to_string(), "-k", &socket_dir])
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
                .spawn()
                .expect("start postgres");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let ready = Command::new(bin.join("pg_isready"))
                    .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "pharos"])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ready {
                    break;
                }
                assert!(Instant::now() < deadline, "postgres not ready after 60 s");
                std::thread::sleep(Duration::from_millis(100));
            }
            PgServer { dir, port, child }
        }

        pub fn url(&self) -> String {
            format!("postgres://pharos@127.0.0.1:{}/postgres", self.port)
        }
    }

    impl Drop for PgServer {
        fn drop(&mut self) {
            // Fast shutdown; the directory goes with `dir`.
            super::common::send_signal(self.child.id() as i32, libc::SIGINT);
            let _ = self.child.wait();
            let _ = &self.dir;
        }
    }
}
