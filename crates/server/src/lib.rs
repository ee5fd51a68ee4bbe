//! The `pharos` binary's library: command line, configuration, HTTP APIs, wiring and the
//! process lifecycle.
//!
//! This crate owns everything between the operator and the stages: parsing flags, loading
//! and validating `pharos.yml` (every error with file, line and field), mapping it onto
//! each stage's options, serving the HTTP APIs on one port, exposing self-metrics, and
//! starting and stopping cleanly. It must not hold storage, decoding or query logic of
//! its own: handlers decode with `pharos-ingest`, store and read through `pharos-tsdb`,
//! and only translate between HTTP and those calls.
//!
//! | module | job |
//! |---|---|
//! | [`cli`] | clap definitions of every subcommand |
//! | [`alerting`] | the Alertmanager stage: config section, dispatcher, SQL store, rule alerts in |
//! | [`config`] | `pharos.yml` types, defaults, parsing with all errors, validation, units |
//! | [`http`] | axum router, shared state, write/admin/health handlers |
//! | [`otlp`] | OTLP metrics receivers: listeners and the export step both protocols share |
//! | [`otlp_grpc`] | OTLP/gRPC `MetricsService/Export` |
//! | [`self_metrics`] | `/metrics` rendering: process, storage and HTTP metrics |
//! | [`scrape`] | scraping the configured targets into the storage |
//! | [`reload`] | `/-/reload` and SIGHUP: re-read, validate and apply the config file |
//! | [`report_cmd`] | `pharos report slo`: a running server's SLO report |
//! | [`rules`] | `rule_files` evaluated on the storage and engine; their reload applier |
//! | [`serve`] | `pharos serve`: bind, open storage, serve, graceful shutdown |
//! | [`tsdb_cmd`] | `pharos tsdb analyze|dump`, series selectors, time arguments |
//! | [`rules_cmd`] | `pharos check rules` and `pharos test rules` (promtool's rule checks and unit tests) |
//! | [`slo`] | SLOs in `serve`: registry (config + API), generated rules, budget engine, report |
//! | [`slo_cmd`] | `pharos slo generate`: SLO specs to a Prometheus rule file |
//! | [`query_cmd`] | `pharos query instant|range` against a server's HTTP API |
//! | [`float_fmt`] | sample values as text that parses back exactly |
//!
//! Write path: `POST /api/v1/write` → concurrency permit → body (size limit) → blocking
//! thread: snappy → protobuf decode → `Db::append` → status from the append outcome.
//!
//! Read path: `GET|POST /api/v1/query…` → parameters checked as Prometheus checks them →
//! blocking thread: `pharos_promql::Engine` over the `Db`'s querier → Prometheus JSON.
//! Offline: `pharos tsdb dump` → `Db::open_read_only` → querier → series in label order →
//! one line per sample.

pub mod alerting;
pub mod cli;
pub mod config;
pub mod float_fmt;
pub mod http;
pub mod otlp;
pub mod otlp_grpc;
pub mod query_cmd;
pub mod reload;
pub mod report_cmd;
pub mod rules;
pub mod rules_cmd;
pub mod scrape;
pub mod self_metrics;
pub mod serve;
pub mod slo;
pub mod slo_cmd;
pub mod tsdb_cmd;

use clap::Parser;
use cli::{CheckCommand, Cli, Command, QueryCommand, TestCommand, TsdbCommand};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Runs the command line; every failure becomes a message on stderr and exit code 1.
pub fn main_entry() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("invalid --log-level {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            init_logging(&args.log.log_level)?;
            let config = match &args.config {
                Some(path) => config::load_file(path)?,
                None => config::Config::default(),
            };
            rules::check_startup(&config, args.config.as_deref())?;
            alerting::check_startup(&config, args.config.as_deref())?;
            slo::specs::check_startup(&config, args.config.as_deref())?;
            let flags = serve_flags(&args);
            serve::run(serve::ServeOptions {
                config,
                config_file: args.config.clone(),
                data_dir: args.data_dir,
                database_url: args.database_url,
                listen: args.listen,
                otlp: otlp::OtlpListen {
                    grpc: args.otlp_grpc_listen,
                    http: args.otlp_http_listen,
                },
                flags,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(CheckCommand::Config { files }) => Ok(check_config(&files)),
        Command::Check(CheckCommand::Rules(args)) => Ok(rules_cmd::check_rules(&args)),
        Command::Test(TestCommand::Rules(args)) => rules_cmd::test_rules(&args),
        Command::Slo(cmd) => slo_cmd::run(&cmd),
        Command::Report(cmd) => report_cmd::run(&cmd),
        Command::Tsdb(cmd) => {
            // The storage logs what it repairs while opening (torn WAL tails); show that.
            init_logging("warn")?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match cmd {
                TsdbCommand::Analyze { data_dir, limit } => {
                    tsdb_cmd::analyze(&data_dir, limit, &mut out)?
                }
                TsdbCommand::Dump(d) => tsdb_cmd::dump(
                    tsdb_cmd::DumpArgs {
                        data_dir: &d.data_dir,
                        min_time: d.min_time.unwrap_or(i64::MIN),
                        max_time: d.max_time.unwrap_or(i64::MAX),
                        selectors: d.matchers,
                    },
                    &mut out,
                )?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Query(cmd) => {
            let (server, req) = match cmd {
                QueryCommand::Instant(a) => (
                    a.server.server,
                    query_cmd::QueryRequest::Instant {
                        expr: a.expr,
                        time: a.time,
                    },
                ),
                QueryCommand::Range(a) => (
                    a.server.server,
                    query_cmd::range_request(
                        a.expr,
                        a.start,
                        a.end,
                        a.step,
                        http::params::now_ms(),
                    )
                    .map_err(anyhow::Error::msg)?,
                ),
            };
            let stdout = std::io::stdout();
            let stderr = std::io::stderr();
            query_cmd::run(&server, &req, &mut stdout.lock(), &mut stderr.lock())
        }
    }
}

/// The effective command line of `pharos serve`, as `/api/v1/status/flags` shows it.
fn serve_flags(args: &cli::ServeArgs) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "config".to_owned(),
            args.config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("data-dir".to_owned(), args.data_dir.display().to_string()),
        (
            "database-url".to_owned(),
            // Only the scheme: a PostgreSQL URL may carry a password.
            args.database_url
                .as_deref()
                .map(|u| u.split(':').next().unwrap_or_default().to_owned() + ":…")
                .unwrap_or_default(),
        ),
        ("listen".to_owned(), args.listen.clone()),
        ("log-level".to_owned(), args.log.log_level.clone()),
        ("otlp-grpc-listen".to_owned(), args.otlp_grpc_listen.clone()),
        ("otlp-http-listen".to_owned(), args.otlp_http_listen.clone()),
    ])
}

fn check_config(files: &[std::path::PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        // Rule files are part of the configuration: a broken one fails the check too.
        let loaded = config::load_file(file).and_then(|c| {
            alerting::check_config(file, &c).map_err(config::LoadError::Invalid)?;
            slo::specs::check_config(file, &c).map_err(config::LoadError::Invalid)?;
            rules::check_config_rule_files(file, &c).map_err(config::LoadError::Invalid)
        });
        match loaded {
            Ok(warnings) => {
                for w in warnings {
                    eprintln!("  WARNING: {w}");
                }
                println!("SUCCESS: {} is valid", file.display())
            }
            Err(config::LoadError::Invalid(errs)) => {
                failed = true;
                let n = errs.0.len();
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "FAILED: {} has {n} error{}:",
                    file.display(),
                    if n == 1 { "" } else { "s" }
                );
                for e in &errs.0 {
                    let _ = writeln!(err, "  {e}");
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("FAILED: {e}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
