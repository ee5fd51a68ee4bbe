//! Scraping over HTTPS with the real binary: certificates made at test time (a CA, a
//! second CA nobody trusts, a server and a client certificate), HTTPS endpoints from
//! `tests/python/tls_metrics_server.py`, and one Pharos job per case: CA verification,
//! a wrong CA, `insecure_skip_verify`, client certificates, bearer token file and basic
//! auth over TLS, `min_version` against a server that stops at TLS 1.2, and
//! `enable_http2` as the protocol offered by ALPN.

mod common;

use common::{client, poll, targets, Server};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(90);

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn make_ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A leaf certificate signed by `ca`, written as `<name>.pem` and `<name>.key`.
fn make_leaf(
    dir: &Path,
    name: &str,
    ca: &Ca,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (PathBuf, PathBuf) {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut p = CertificateParams::new(sans).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// Kills the HTTPS server when the test ends, however it ends.
struct Endpoint {
    child: Child,
    port: u16,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_endpoint(dir: &Path, name: &str, cert: &Path, key: &Path, extra: &[&str]) -> Endpoint {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tls_metrics_server.py");
    let port_file = dir.join(format!("{name}.port"));
    let child = Command::new("python3")
        .arg(script)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg("--port-file")
        .arg(&port_file)
        .arg("--name")
        .arg(name)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run python3 for the HTTPS endpoint");
    let mut ep = Endpoint { child, port: 0 };
    ep.port = poll(Duration::from_secs(30), || {
        std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    })
    .unwrap_or_else(|| panic!("HTTPS endpoint {name} did not start"));
    ep
}

#[test]
fn scrapes_over_tls_with_verification_client_certs_and_auth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = make_ca("Pharos test CA");
    let stranger = make_ca("Untrusted CA");
    let ca_pem = d.join("ca.pem");
    let stranger_pem = d.join("stranger.pem");
    std::fs::write(&ca_pem, ca.cert.pem()).unwrap();
    std::fs::write(&stranger_pem, stranger.cert.pem()).unwrap();
    let (srv_cert, srv_key) = make_leaf(
        d,
        "server",
        &ca,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (cli_cert, cli_key) = make_leaf(
        d,
        "client",
        &ca,
        &["pharos-client"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let token = d.join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let password = d.join("password");
    std::fs::write(&password, "hunter2\n").unwrap();

    let plain = start_endpoint(
        d,
        "plain",
        &srv_cert,
        &srv_key,
        &["--bearer", "s3cret-token", "--basic", "alice:hunter2"],
    );
    let ca_str = d.join("ca.pem").display().to_string();
    let mtls = start_endpoint(d, "mtls", &srv_cert, &srv_key, &["--client-ca", &ca_str]);
    let old_tls = start_endpoint(d, "tls12", &srv_cert, &srv_key, &["--max-tls12"]);
    let h2_log = d.join("h2.alpn");
    let h1_log = d.join("h1.alpn");
    let h2_log_arg = h2_log.display().to_string();
    let h1_log_arg = h1_log.display().to_string();
    let alpn_h2 = start_endpoint(
        d,
        "alpn-h2",
        &srv_cert,
        &srv_key,
        &["--alpn-log", &h2_log_arg],
    );
    let alpn_h1 = start_endpoint(
        d,
        "alpn-h1",
        &srv_cert,
        &srv_key,
        &["--alpn-log", &h1_log_arg],
    );

    let job = |name: &str, port: u16, path: &str, extra: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    metrics_path: {path}\n    static_configs:\n      - targets: ['localhost:{port}']\n{extra}"
        )
    };
    let ca_tls = format!("    tls_config:\n      ca_file: {}\n", ca_pem.display());
    let jobs = [
        job("ca_ok", plain.port, "/metrics", &ca_tls),
        job(
            "wrong_ca",
            plain.port,
            "/metrics",
            &format!(
                "    tls_config:\n      ca_file: {}\n",
                stranger_pem.display()
            ),
        ),
        job(
            "insecure",
            plain.port,
            "/metrics",
            "    tls_config:\n      insecure_skip_verify: true\n",
        ),
        job(
            "client_cert",
            mtls.port,
            "/metrics",
            &format!(
                "{ca_tls}      cert_file: {}\n      key_file: {}\n",
                cli_cert.display(),
                cli_key.display()
            ),
        ),
        job("no_client_cert", mtls.port, "/metrics", &ca_tls),
        job(
            "bearer",
            plain.port,
            "/bearer",
            &format!("{ca_tls}    bearer_token_file: {}\n", token.display()),
        ),
        job(
            "basic",
            plain.port,
            "/basic",
            &format!(
                "{ca_tls}    basic_auth:\n      username: alice\n      password_file: {}\n",
                password.display()
            ),
        ),
        job("no_auth", plain.port, "/basic", &ca_tls),
        job(
            "tls13_only",
            old_tls.port,
            "/metrics",
            &format!("{ca_tls}      min_version: TLS13\n"),
        ),
        // HTTP/2 is offered by default; the test server cannot speak it and hangs up.
        job("http2_default", alpn_h2.port, "/metrics", &ca_tls),
        job(
            "http1_only",
            alpn_h1.port,
            "/metrics",
            &format!("{ca_tls}    enable_http2: false\n"),
        ),
        job(
            "tls12_ok",
            old_tls.port,
            "/metrics",
            &format!("{ca_tls}      min_version: TLS12\n"),
        ),
    ];
    let config = d.join("pharos.yml");
    std::fs::write(
        &config,
        format!("self_scrape: false\nscrape_configs:\n{}", jobs.concat()),
    )
    .unwrap();
    let server = Server::start(&d.join("data"), Some(&config));
    let c = client();

    let t = poll(DEADLINE, || {
        let t = targets(&c, &server);
        let ready = t["data"]["activeTargets"]
            .as_array()
            .is_some_and(|a| a.len() == jobs.len() && a.iter().all(|x| x["health"] != "unknown"));
        ready.then_some(t)
    })
    .unwrap_or_else(|| panic!("every target scraped; server log:\n{}", server.logs()));
    let active = t["data"]["activeTargets"].as_array().unwrap();
    let target = |job: &str| {
        let a = active
            .iter()
            .find(|a| a["scrapePool"] == job)
            .unwrap_or_else(|| panic!("no {job} target in {t}"));
        (
            a["health"].as_str().unwrap().to_owned(),
            a["lastError"].as_str().unwrap().to_owned(),
        )
    };
    for job in [
        "ca_ok",
        "insecure",
        "client_cert",
        "bearer",
        "basic",
        "tls12_ok",
        "http1_only",
    ] {
        let (health, err) = target(job);
        assert_eq!(health, "up", "{job}: {err}");
    }
    let (health, err) = target("wrong_ca");
    assert_eq!(health, "down");
    assert!(
        err.contains("certificate") && err.contains("UnknownIssuer"),
        "wrong_ca: {err}"
    );
    let (health, err) = target("no_client_cert");
    assert_eq!(health, "down", "no_client_cert: {err}");
    let (health, err) = target("no_auth");
    assert_eq!(health, "down");
    assert!(err.contains("401"), "no_auth: {err}");
    let (health, err) = target("tls13_only");
    assert_eq!(health, "down");
    assert!(
        err.to_lowercase().contains("protocol") || err.to_lowercase().contains("version"),
        "tls13_only: {err}"
    );

    let alpn = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    assert!(
        alpn(&h2_log).lines().any(|l| l == "h2"),
        "{}",
        alpn(&h2_log)
    );
    assert_eq!(target("http2_default").0, "down");
    assert!(
        alpn(&h1_log).lines().all(|l| l == "http/1.1") && !alpn(&h1_log).is_empty(),
        "{}",
        alpn(&h1_log)
    );

    // The scraped samples are stored with the job's labels.
    let stored = poll(DEADLINE, || {
        common::query_value(
            &c,
            &server,
            r#"count(tls_test_info{job=~"ca_ok|client_cert|bearer|basic"})"#,
        )
        .filter(|v| *v == 4.0)
    });
    assert_eq!(stored, Some(4.0), "server log:\n{}", server.logs());
    server.stop();
}
