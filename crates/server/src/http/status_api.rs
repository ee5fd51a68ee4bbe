//! `/api/v1/status/*`: build and runtime information, flags, and the TSDB's cardinality,
//! in the shapes Prometheus gives them (Go's field names included, since tools read them).

use super::api_json::{self, JsonBuf, Notes};
use super::params::{go_atoi, read_form, ApiError, ErrorKind};
use super::{unavailable, AppState};
use crate::tsdb_cmd::time_arg::format_time;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Prometheus's cap on `/status/tsdb?limit=`.
const MAX_TSDB_LIMIT: usize = 10_000;
const DEFAULT_TSDB_LIMIT: usize = 10;

/// What the status endpoints report about this process, fixed at start.
#[derive(Debug, Clone, Default)]
pub struct StatusInfo {
    /// Unix milliseconds when the server started.
    pub start_time_ms: i64,
    /// Unix milliseconds when the configuration in force was loaded.
    pub config_time_ms: i64,
    /// The command-line flags in force, by name without dashes, as strings.
    pub flags: BTreeMap<String, String>,
    /// Retention as Prometheus words it: `15d`, `10GiB`, or `15d or 10GiB`.
    pub storage_retention: String,
}

/// Build details. Version comes from the package; revision, branch, user and date are
/// stamped by a release build through `PHAROS_BUILD_*` variables and are empty otherwise,
/// as in an unstamped Prometheus build.
pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
    pub branch: &'static str,
    pub build_user: &'static str,
    pub build_date: &'static str,
    pub rust_version: &'static str,
}

pub const BUILD_INFO: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    revision: env!("PHAROS_BUILD_REVISION"),
    branch: env!("PHAROS_BUILD_BRANCH"),
    build_user: env!("PHAROS_BUILD_USER"),
    build_date: env!("PHAROS_BUILD_DATE"),
    rust_version: env!("PHAROS_RUSTC_VERSION"),
};

/// `GET /api/v1/status/buildinfo`
pub async fn buildinfo() -> Response {
    let b = &BUILD_INFO;
    api_json::success(&Notes::default(), |j| {
        j.begin_object();
        j.key_string("version", b.version);
        j.key_string("revision", b.revision);
        j.key_string("branch", b.branch);
        j.key_string("buildUser", b.build_user);
        j.key_string("buildDate", b.build_date);
        j.key_string("goVersion", b.rust_version);
        j.end_object();
    })
}

/// RFC 3339 in UTC as Go's `time.Time` JSON encoding writes it: fractional seconds only
/// when non-zero, without trailing zeros.
pub(crate) fn json_time(ms: i64) -> String {
    let s = format_time(ms);
    match s.strip_suffix('Z').filter(|b| b.contains('.')) {
        Some(body) => format!("{}Z", body.trim_end_matches('0')),
        None => s,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Threads of this process: the nearest thing to Go's goroutine count.
fn thread_count() -> u64 {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count() as u64)
}

/// `GET /api/v1/status/runtimeinfo`
pub async fn runtimeinfo(State(st): State<Arc<AppState>>) -> Response {
    let info = &st.api.status;
    let corruptions = match st.store_any() {
        Some(store) => tokio::task::spawn_blocking(move || store.stats().wal_corruptions_total)
            .await
            .unwrap_or(0),
        None => 0,
    };
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = tokio::task::spawn_blocking(thread_count).await.unwrap_or(0);
    let host = tokio::task::spawn_blocking(hostname)
        .await
        .unwrap_or_default();
    api_json::success(&Notes::default(), |j| {
        j.begin_object();
        j.key_string("startTime", &json_time(info.start_time_ms));
        j.key_string("CWD", &cwd);
        j.key_string("hostname", &host);
        j.key_string("serverTime", &json_time(super::params::now_ms()));
        // Before the reloader runs, the configuration loaded at start is the one in force.
        let (reloaded, config_ms) = st.reload.get().map_or((true, info.config_time_ms), |r| {
            (r.status().successful(), r.status().last_success_ms())
        });
        j.key("reloadConfigSuccess");
        j.bool(reloaded);
        j.key_string("lastConfigTime", &json_time(config_ms));
        j.key("corruptionCount");
        j.int(corruptions);
        j.key("goroutineCount");
        j.int(threads);
        j.key("GOMAXPROCS");
        j.int(cores);
        // Go's value for "no memory limit".
        j.key("GOMEMLIMIT");
        j.int(i64::MAX);
        j.key_string("GOGC", "");
        j.key_string("GODEBUG", "");
        j.key_string("storageRetention", &info.storage_retention);
        j.end_object();
    })
}

/// `GET /api/v1/status/flags`
pub async fn flags(State(st): State<Arc<AppState>>) -> Response {
    api_json::success(&Notes::default(), |j| {
        j.begin_object();
        for (k, v) in &st.api.status.flags {
            j.key_string(k, v);
        }
        j.end_object();
    })
}

fn tsdb_limit(s: &str) -> Result<usize, ApiError> {
    if s.is_empty() {
        return Ok(DEFAULT_TSDB_LIMIT);
    }
    let n = go_atoi(s)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::bad_data("limit must be a positive number"))?;
    if n > MAX_TSDB_LIMIT {
        return Err(ApiError::bad_data(format!(
            "limit must not exceed {MAX_TSDB_LIMIT}"
        )));
    }
    Ok(n)
}

fn write_stat_list(j: &mut JsonBuf, key: &str, items: &[(String, u64)]) {
    j.key(key);
    j.begin_array();
    for (name, value) in items {
        j.begin_object();
        j.key_string("name", name);
        j.key("value");
        j.int(value);
        j.end_object();
    }
    j.end_array();
}

/// `GET /api/v1/status/tsdb`: head statistics and the top-N cardinality lists. The label
/// pair count comes from the cardinality walk, which covers blocks as well as the head.
pub async fn tsdb(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let form = match read_form(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let limit = match tsdb_limit(form.get("limit")) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let Some(store) = st.store() else {
        return unavailable();
    };
    let task = tokio::task::spawn_blocking(move || (store.stats(), store.cardinality(limit))).await;
    let (stats, card) = match task {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "tsdb status task failed");
            return ApiError::new(ErrorKind::Internal, "gathering TSDB statistics failed")
                .into_response();
        }
    };
    api_json::success(&Notes::default(), |j| {
        j.begin_object();
        j.key("headStats");
        j.begin_object();
        j.key("numSeries");
        j.int(stats.head_series);
        j.key("numLabelPairs");
        j.int(card.num_label_pairs);
        j.key("chunkCount");
        j.int(stats.head_chunks);
        j.key("minTime");
        j.int(stats.head_min_time_ms);
        j.key("maxTime");
        j.int(stats.head_max_time_ms);
        j.end_object();
        write_stat_list(
            j,
            "seriesCountByMetricName",
            &card.series_count_by_metric_name,
        );
        write_stat_list(
            j,
            "labelValueCountByLabelName",
            &card.label_value_count_by_label_name,
        );
        write_stat_list(
            j,
            "memoryInBytesByLabelName",
            &card.memory_in_bytes_by_label_name,
        );
        write_stat_list(
            j,
            "seriesCountByLabelValuePair",
            &card.series_count_by_label_value_pair,
        );
        j.end_object();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsdb_limits() {
        assert_eq!(tsdb_limit("").unwrap(), 10);
        assert_eq!(tsdb_limit("3").unwrap(), 3);
        for bad in ["0", "-1", "x"] {
            assert_eq!(
                tsdb_limit(bad).unwrap_err().msg,
                "limit must be a positive number"
            );
        }
        assert_eq!(
            tsdb_limit("10001").unwrap_err().msg,
            "limit must not exceed 10000"
        );
    }

    #[test]
    fn times_as_go_writes_them() {
        assert_eq!(json_time(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(json_time(1_700_000_000_120), "2023-11-14T22:13:20.12Z");
        assert_eq!(json_time(1_700_000_000_005), "2023-11-14T22:13:20.005Z");
    }

    #[test]
    fn build_info_names_the_compiler() {
        assert!(
            BUILD_INFO.rust_version.starts_with("rustc "),
            "{}",
            BUILD_INFO.rust_version
        );
        assert_eq!(BUILD_INFO.version, env!("CARGO_PKG_VERSION"));
    }
}
