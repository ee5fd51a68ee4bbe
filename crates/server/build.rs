//! Stamps build details into the binary for `/api/v1/status/buildinfo`: the compiler's
//! version, and revision/branch/user/date when a release build sets `PHAROS_BUILD_*`
//! (left empty otherwise, so development builds do not rebuild on every commit).

use std::process::Command;

fn main() {
    for var in [
        "PHAROS_BUILD_REVISION",
        "PHAROS_BUILD_BRANCH",
        "PHAROS_BUILD_USER",
        "PHAROS_BUILD_DATE",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
        let value = std::env::var(var).unwrap_or_default();
        println!("cargo:rustc-env={var}={value}");
    }
    println!("cargo:rerun-if-env-changed=RUSTC");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "rustc (unknown version)".to_owned());
    println!("cargo:rustc-env=PHAROS_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
