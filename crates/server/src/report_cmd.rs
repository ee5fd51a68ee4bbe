//! `pharos report slo`: the SLO report of a running server
//! (`GET /api/v1/reports/slo`), printed as Markdown for a chat or wiki page, or as
//! the API's JSON for further processing.

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Per service and SLO: objective vs actual, budget used, alerts fired, time in
    /// each policy state and the worst windows of a period (default: the last 7 days).
    Slo(SloReportArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct SloReportArgs {
    #[command(flatten)]
    pub server: crate::cli::ServerArg,
    /// Start of the period: RFC 3339 or Unix seconds; default: 7 days before the end.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the period: RFC 3339 or Unix seconds; default: now.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: ReportFormat,
}

/// Runs a `pharos report` subcommand.
pub fn run(cmd: &ReportCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ReportCommand::Slo(args) => {
            let stdout = std::io::stdout();
            let stderr = std::io::stderr();
            slo_report(args, &mut stdout.lock(), &mut stderr.lock())
        }
    }
}

fn request_url(args: &SloReportArgs) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair(
        "format",
        match args.format {
            ReportFormat::Markdown => "markdown",
            ReportFormat::Json => "json",
        },
    );
    if let Some(f) = &args.from {
        q.append_pair("from", f);
    }
    if let Some(t) = &args.to {
        q.append_pair("to", t);
    }
    format!(
        "{}/api/v1/reports/slo?{}",
        args.server.server.trim_end_matches('/'),
        q.finish()
    )
}

/// Fetches and prints the report; exit 1 when the server refused the request.
pub fn slo_report(
    args: &SloReportArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let url = request_url(args);
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(None)
        .build()
        .context("building the HTTP client")?;
    let resp = client
        .get(&url)
        .send()
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let body = resp
        .text()
        .with_context(|| format!("reading the answer of {url}"))?;
    if !status.is_success() {
        let msg = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(body);
        writeln!(err, "report error: {} {}", status.as_u16(), msg.trim())?;
        return Ok(ExitCode::FAILURE);
    }
    out.write_all(body.as_bytes())?;
    if !body.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_the_period_and_format() {
        let args = SloReportArgs {
            server: crate::cli::ServerArg {
                server: "http://h:9700/".into(),
            },
            from: Some("2026-11-14T00:00:00Z".into()),
            to: None,
            format: ReportFormat::Json,
        };
        assert_eq!(
            request_url(&args),
            "http://h:9700/api/v1/reports/slo?format=json&from=2026-11-14T00%3A00%3A00Z"
        );
    }

    #[test]
    fn an_unreachable_server_is_an_error() {
        let args = SloReportArgs {
            server: crate::cli::ServerArg {
                server: "http://127.0.0.1:1".into(),
            },
            from: None,
            to: None,
            format: ReportFormat::Markdown,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(slo_report(&args, &mut out, &mut err).is_err());
    }
}
