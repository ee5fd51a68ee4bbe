//! Command-line interface: `pharos serve`, `pharos check config|rules`, `pharos test rules`,
//! `pharos tsdb analyze|dump`, `pharos query instant|range`.

use crate::tsdb_cmd::selector::{parse_selector, SelectorError};
use crate::tsdb_cmd::time_arg::{parse_time, TimeError, TIME_HELP};
use clap::{Args, Parser, Subcommand};
use pharos_model::Matcher;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "pharos",
    version,
    about = "Pharos: production monitoring and incident response in one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: ingest, storage and HTTP APIs on one port.
    Serve(ServeArgs),
    /// Validate files without starting anything.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Inspect a data directory offline (stop the server first).
    #[command(subcommand)]
    Tsdb(TsdbCommand),
    /// Evaluate PromQL on a running server and print the result.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Run unit tests.
    #[command(subcommand)]
    Test(TestCommand),
    /// Service level objectives: generate rules from SLO specs.
    #[command(subcommand)]
    Slo(crate::slo_cmd::SloCommand),
    /// Reports from a running server.
    #[command(subcommand)]
    Report(crate::report_cmd::ReportCommand),
}

#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Unit-test Prometheus rule files (promtool's test format).
    Rules(crate::rules_cmd::TestRulesArgs),
}

#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Evaluate an expression at one instant.
    Instant(InstantQueryArgs),
    /// Evaluate an expression at every step of a time range.
    Range(RangeQueryArgs),
}

#[derive(Debug, Args)]
pub struct ServerArg {
    /// Base URL of the Pharos (or Prometheus) server.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9700")]
    pub server: String,
}

/// Times on the query command line are read as the HTTP API reads them.
const QUERY_TIME_HELP: &str = "RFC 3339 (2023-11-14T22:13:20Z) or Unix seconds (1700000000.5)";

#[derive(Debug, Args)]
pub struct InstantQueryArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// Evaluation time; default: the server's current time.
    #[arg(long, value_name = "TIME", value_parser = api_time, long_help = query_time_help("Evaluation time; default: the server's current time."))]
    pub time: Option<i64>,
    /// PromQL expression.
    #[arg(value_name = "EXPR")]
    pub expr: String,
}

#[derive(Debug, Args)]
pub struct RangeQueryArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// Start of the range; default: five minutes before the end.
    #[arg(long, value_name = "TIME", value_parser = api_time, long_help = query_time_help("Start of the range; default: five minutes before the end."))]
    pub start: Option<i64>,
    /// End of the range; default: now.
    #[arg(long, value_name = "TIME", value_parser = api_time, long_help = query_time_help("End of the range; default: now."))]
    pub end: Option<i64>,
    /// Resolution step such as 15s, 1m or 0.5 (seconds); default: about 250 points.
    #[arg(long, value_name = "DURATION", value_parser = api_step)]
    pub step: Option<i64>,
    /// PromQL expression.
    #[arg(value_name = "EXPR")]
    pub expr: String,
}

fn query_time_help(first: &str) -> String {
    format!("{first}\nAccepted forms: {QUERY_TIME_HELP}.")
}

fn api_time(s: &str) -> Result<i64, String> {
    crate::http::params::parse_time(s).map_err(|e| format!("{e}; expected {QUERY_TIME_HELP}"))
}

/// A step in milliseconds, at least 1ms.
fn api_step(s: &str) -> Result<i64, String> {
    let ns = crate::http::params::parse_duration_ns(s)?;
    match ns / 1_000_000 {
        ms if ms > 0 => Ok(ms),
        _ => Err(format!("step {s:?} must be at least 1ms")),
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (pharos.yml); built-in defaults apply when omitted.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory holding all stored data.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Control-plane database (silences, notification log, alert history):
    /// `sqlite:PATH` or `postgres://user:pass@host/db`; default SQLite `<data-dir>/pharos.db`.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Address to serve HTTP on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9700")]
    pub listen: String,
    /// Address to serve OTLP/gRPC metrics on; an empty value turns it off.
    #[arg(long, value_name = "ADDR", default_value = crate::otlp::DEFAULT_GRPC_LISTEN)]
    pub otlp_grpc_listen: String,
    /// Address to serve OTLP/HTTP metrics (POST /v1/metrics) on, besides the main port;
    /// an empty value turns it off.
    #[arg(long, value_name = "ADDR", default_value = crate::otlp::DEFAULT_HTTP_LISTEN)]
    pub otlp_http_listen: String,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log verbosity: error, warn, info, debug or trace, or a filter such as
    /// "info,pharos_tsdb=debug".
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check configuration files; exits 1 listing every problem found.
    Config {
        /// pharos.yml files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check Prometheus rule files, as `promtool check rules` does.
    Rules(crate::rules_cmd::CheckRulesArgs),
}

#[derive(Debug, Subcommand)]
pub enum TsdbCommand {
    /// Report series cardinality: top metrics, label names and label pairs.
    Analyze {
        /// Data directory of a stopped server.
        #[arg(long, value_name = "DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// Entries shown per list.
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
    },
    /// Print every sample as `labels value timestamp_ms`, one per line.
    Dump(DumpArgs),
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Data directory of a stopped server.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Earliest sample time to print (inclusive); default: the beginning.
    #[arg(long, value_name = "TIME", value_parser = time_value, long_help = time_long_help("Earliest sample time to print (inclusive); default: the beginning."))]
    pub min_time: Option<i64>,
    /// Latest sample time to print (inclusive); default: the end.
    #[arg(long, value_name = "TIME", value_parser = time_value, long_help = time_long_help("Latest sample time to print (inclusive); default: the end."))]
    pub max_time: Option<i64>,
    /// Series selector such as 'up{job="x",instance=~"a.*"}'; repeat for a union.
    /// Default: every series.
    #[arg(long = "match", value_name = "SELECTOR", value_parser = selector_value)]
    pub matchers: Vec<Vec<Matcher>>,
}

fn time_long_help(first: &str) -> String {
    format!("{first}\nAccepted forms: {TIME_HELP}.")
}

fn time_value(s: &str) -> Result<i64, TimeError> {
    parse_time(s)
}

fn selector_value(s: &str) -> Result<Vec<Matcher>, SelectorError> {
    parse_selector(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults() {
        let cli = Cli::try_parse_from(["pharos", "serve"]).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.data_dir, PathBuf::from("./data"));
        assert_eq!(a.listen, "127.0.0.1:9700");
        assert_eq!(a.otlp_grpc_listen, "127.0.0.1:4317");
        assert_eq!(a.otlp_http_listen, "127.0.0.1:4318");
        assert!(a.config.is_none());
        let cli = Cli::try_parse_from(["pharos", "serve", "--otlp-grpc-listen", ""]).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.otlp_grpc_listen, "");
        assert_eq!(a.log.log_level, "info");
    }

    #[test]
    fn dump_flags() {
        let cli = Cli::try_parse_from([
            "pharos",
            "tsdb",
            "dump",
            "--min-time",
            "1700000000.5",
            "--max-time",
            "2023-11-14T22:13:20Z",
            "--match",
            "up",
            "--match",
            "{job=\"x\"}",
        ])
        .unwrap();
        let Command::Tsdb(TsdbCommand::Dump(d)) = cli.command else {
            panic!()
        };
        assert_eq!(d.min_time, Some(1_700_000_000_500));
        assert_eq!(d.max_time, Some(1_700_000_000_000));
        assert_eq!(d.matchers.len(), 2);
    }

    #[test]
    fn query_flags() {
        let cli = Cli::try_parse_from([
            "pharos",
            "query",
            "instant",
            "--time",
            "1700000000.5",
            "sum(up)",
        ])
        .unwrap();
        let Command::Query(QueryCommand::Instant(a)) = cli.command else {
            panic!()
        };
        assert_eq!(a.time, Some(1_700_000_000_500));
        assert_eq!(a.server.server, "http://127.0.0.1:9700");
        assert_eq!(a.expr, "sum(up)");

        let cli = Cli::try_parse_from([
            "pharos",
            "query",
            "range",
            "--server",
            "http://h:1",
            "--start",
            "2023-11-14T22:13:20Z",
            "--end",
            "1700000600",
            "--step",
            "1m",
            "up",
        ])
        .unwrap();
        let Command::Query(QueryCommand::Range(r)) = cli.command else {
            panic!()
        };
        assert_eq!(
            (r.start, r.end, r.step),
            (
                Some(1_700_000_000_000),
                Some(1_700_000_600_000),
                Some(60_000)
            )
        );
        assert_eq!(r.server.server, "http://h:1");

        let e = Cli::try_parse_from(["pharos", "query", "instant", "--time", "soon", "up"])
            .unwrap_err();
        assert!(e.to_string().contains("cannot parse \"soon\""), "{e}");
        let e = Cli::try_parse_from(["pharos", "query", "range", "--step", "0", "up"]).unwrap_err();
        assert!(e.to_string().contains("at least 1ms"), "{e}");
        assert!(Cli::try_parse_from(["pharos", "query", "instant"]).is_err());
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let e = Cli::try_parse_from(["pharos", "tsdb", "dump", "--match", "up{"]).unwrap_err();
        assert!(e.to_string().contains("unclosed"), "{e}");
        let e = Cli::try_parse_from(["pharos", "tsdb", "dump", "--min-time", "soon"]).unwrap_err();
        assert!(e.to_string().contains("RFC 3339"), "{e}");
        assert!(Cli::try_parse_from(["pharos", "check", "config"]).is_err());
    }
}
