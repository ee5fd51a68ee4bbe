//! Throwaway PostgreSQL servers for the PostgreSQL suite, run from Debian's server
//! binaries (`/usr/lib/postgresql/<version>/bin`) in temp directories on free
//! loopback ports with trust authentication.
//!
//! Most tests share one server and get a fresh database each; the server is started
//! from a thread that lives as long as the test process, so the parent-death signal
//! set on it fires only when the process dies, and an exit handler shuts it down and
//! removes its directory on a normal exit. The restart test runs its own server so it
//! can stop and start it.
//!
//! initdb and postgres refuse to run as root, so when the tests run as root the
//! server runs as the `postgres` user that Debian's package creates.

use std::ffi::CString;
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

const MISSING: &str = "PostgreSQL server binaries (initdb, postgres) not found under \
     /usr/lib/postgresql/<version>/bin: the PostgreSQL suite needs them and does not skip; \
     install them with `apt-get install postgresql` (Debian package `postgresql`)";

const SUPERUSER: &str = "pharos";

/// The newest installed server's bin directory.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).expect(MISSING)
}

/// The (uid, gid) to run the server as when we are root.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: plain libc calls; getpwnam's result is read before any other call.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let name = CString::new("postgres").unwrap();
        let pw = libc::getpwnam(name.as_ptr());
        assert!(
            !pw.is_null(),
            "running as root, and there is no `postgres` user to run the test server as \
             (initdb refuses root); install Debian's `postgresql` package, which creates it"
        );
        Some(((*pw).pw_uid, (*pw).pw_gid))
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free loopback port")
        .port()
}

/// A running (or stopped) server in its own directory.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: Option<(u32, u32)>,
    port: u16,
    child: Option<Child>,
}

impl PgServer {
    /// initdb's a temp directory and starts a server on a free loopback port.
    pub fn start() -> Self {
        let bin = bin_dir();
        let user = server_user();
        let dir = tempfile::Builder::new()
            .prefix("pharos-state-pg-")
            .tempdir()
            .expect("creating the server directory");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("handing the server directory to the postgres user");
        }
        let mut server = Self {
            dir,
            bin,
            user,
            port: free_port(),
            child: None,
        };
        let status = server
            .command("initdb")
            .args(["-D", "data", "-U", SUPERUSER, "-A", "trust", "-E", "UTF8"])
            .args(["--no-locale", "--no-sync"])
            .stdout(server.log_file())
            .stderr(server.log_file())
            .status()
            .expect("running initdb");
        assert!(status.success(), "initdb failed:\n{}", server.log());
        server.launch();
        server
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(self.dir.path()).stdin(Stdio::null());
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid).env("HOME", self.dir.path());
        }
        cmd
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn log_file(&self) -> File {
        let file = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("opening the server log");
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(self.log_path(), Some(uid), Some(gid))
                .expect("handing the log to the postgres user");
        }
        file
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts the postmaster on the existing data directory.
    fn launch(&mut self) {
        let port = self.port.to_string();
        let socket_dir = self.dir.path().display().to_string();
        let mut cmd = self.command("postgres");
        cmd.args(["-D", "data", "-p", &port, "-k", &socket_dir])
            .args(["-c", "listen_addresses=127.0.0.1"])
            // Durability of a throwaway server does not matter; speed does.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .stdout(self.log_file())
            .stderr(self.log_file());
        // SAFETY: prctl is async-signal-safe. It runs after the uid switch, which
        // would otherwise clear the setting.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().expect("starting postgres"));
    }

    /// URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Waits until the server accepts connections.
    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(conn) = PgConnection::connect(&self.url("postgres")).await {
                let _ = conn.close().await;
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("postgres exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "postgres not ready after 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fast shutdown: the postmaster waits for its backends and checkpoints.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops and starts the server on the same directory and port.
    pub async fn restart(&mut self) {
        self.stop();
        self.launch();
        self.wait_ready().await;
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

static SHARED: OnceLock<Mutex<Option<PgServer>>> = OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(cell) = SHARED.get() {
        if let Ok(mut server) = cell.lock() {
            server.take();
        }
    }
}

/// A fresh, empty database on the shared server; returns its URL.
pub async fn fresh_database() -> String {
    static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    static NEXT: AtomicU32 = AtomicU32::new(0);
    {
        let _guard = STARTING.lock().await;
        if SHARED.get().is_none() {
            // Fail here, on the test's thread, so the message is the test's failure.
            bin_dir();
            server_user();
            // Started from a thread that never ends: see the module doc.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                tx.send(PgServer::start()).expect("handing over the server");
                loop {
                    std::thread::park();
                }
            });
            let mut server = rx.recv().expect("test server thread panicked");
            server.wait_ready().await;
            SHARED.get_or_init(|| Mutex::new(Some(server)));
            // SAFETY: registering a plain extern "C" function.
            unsafe {
                libc::atexit(stop_shared);
            }
        }
    }
    let name = format!(
        "pharos_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = {
        let shared = SHARED.get().unwrap().lock().unwrap();
        shared
            .as_ref()
            .expect("test server already stopped")
            .url("postgres")
    };
    create_database(&admin, &name).await
}

/// Creates database `name` through the `postgres` database at `admin_url`; returns
/// the new database's URL.
pub async fn create_database(admin_url: &str, name: &str) -> String {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .expect("connecting to the test server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    conn.close().await.expect("closing the admin connection");
    let (server, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    format!("{server}/{name}")
}
