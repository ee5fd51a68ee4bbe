//! Index lookups of the Prometheus API, answered from storage without the query engine:
//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`, `/api/v1/metadata`.

use super::api_json::{self, Notes};
use super::params::{
    self, limit_param, parse_match_params, time_param, unescape_label_name, ApiError, ErrorKind,
    Form, MAX_TIME_MS, MIN_TIME_MS,
};
use super::{unavailable, AppState, Store};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use pharos_model::{Labels, Matcher, StorageError};
use std::collections::BTreeSet;
use std::sync::Arc;

const TRUNCATED: &str = "results truncated due to limit";

/// Storage failures while listing are internal errors, as Prometheus's `returnAPIError`
/// classifies them.
fn storage_error(e: StorageError) -> ApiError {
    ApiError::new(ErrorKind::Internal, e.to_string())
}

/// Runs a listing on the blocking pool (index walks can be long) and renders its strings
/// or label sets.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "index lookup task failed");
        Err(ApiError::new(
            ErrorKind::Internal,
            "index lookup failed unexpectedly",
        ))
    })
}

/// `start`, `end` (defaulting to all time) and the `match[]` selectors.
struct Range {
    start: i64,
    end: i64,
    sets: Vec<Vec<Matcher>>,
}

fn range_and_matchers(form: &Form, match_error_is_param: bool) -> Result<Range, ApiError> {
    let start = time_param(form, "start", MIN_TIME_MS)?;
    let end = time_param(form, "end", MAX_TIME_MS)?;
    // Prometheus reports a bad selector with the parameter name only on `/series`.
    let sets = parse_match_params(&form.all("match[]")).map_err(|e| {
        if match_error_is_param {
            ApiError::invalid_param("match[]", e)
        } else {
            ApiError::bad_data(e)
        }
    })?;
    Ok(Range { start, end, sets })
}

/// `GET|POST /api/v1/series`
pub async fn series(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let form = match params::read_form(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let parsed = (|| {
        if form.all("match[]").is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let limit = limit_param(&form)?;
        Ok((limit, range_and_matchers(&form, true)?))
    })();
    let (limit, range) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(store) = st.store() else {
        return unavailable();
    };
    match run_blocking(move || list_series(store.as_ref(), &range, limit)).await {
        Ok((series, truncated)) => {
            let notes = truncation_notes(truncated);
            api_json::success(&notes, |j| {
                j.begin_array();
                for s in &series {
                    j.labels(s);
                }
                j.end_array();
            })
        }
        Err(e) => e.into_response(),
    }
}

/// The distinct series any set selects, in label order; with a limit, at most that many
/// and whether more existed.
fn list_series(
    store: &dyn Store,
    range: &Range,
    limit: usize,
) -> Result<(Vec<Labels>, bool), ApiError> {
    let querier = store
        .queryable()
        .querier(range.start, range.end)
        .map_err(storage_error)?;
    // Several selectors can select the same series; a sorted set merges them.
    let mut found: BTreeSet<Labels> = BTreeSet::new();
    for set in &range.sets {
        for series in querier.select(set).map_err(storage_error)? {
            found.insert(series.map_err(storage_error)?.labels);
            // One selector's series arrive sorted, so past the limit the rest cannot
            // come before what is kept.
            if range.sets.len() == 1 && limit > 0 && found.len() > limit {
                break;
            }
        }
    }
    let truncated = limit > 0 && found.len() > limit;
    let mut series: Vec<Labels> = found.into_iter().collect();
    if truncated {
        series.truncate(limit);
    }
    Ok((series, truncated))
}

fn truncation_notes(truncated: bool) -> Notes {
    Notes {
        warnings: if truncated {
            vec![TRUNCATED.to_owned()]
        } else {
            vec![]
        },
        infos: vec![],
    }
}

fn respond_strings(result: Result<Vec<String>, ApiError>, limit: usize) -> Response {
    match result {
        Ok(mut items) => {
            let truncated = limit > 0 && items.len() > limit;
            if truncated {
                items.truncate(limit);
            }
            api_json::success(&truncation_notes(truncated), |j| {
                j.begin_array();
                for s in &items {
                    j.string(s);
                }
                j.end_array();
            })
        }
        Err(e) => e.into_response(),
    }
}

/// The union of `lookup` over the selector sets (all series without any), sorted.
fn union_over_sets(
    sets: &[Vec<Matcher>],
    mut lookup: impl FnMut(&[Matcher]) -> Result<Vec<String>, StorageError>,
) -> Result<Vec<String>, ApiError> {
    if sets.len() <= 1 {
        let matchers = sets.first().map_or(&[][..], Vec::as_slice);
        let mut v = lookup(matchers).map_err(storage_error)?;
        v.sort();
        v.dedup();
        return Ok(v);
    }
    let mut all = BTreeSet::new();
    for set in sets {
        all.extend(lookup(set).map_err(storage_error)?);
    }
    Ok(all.into_iter().collect())
}

/// `GET|POST /api/v1/labels`
pub async fn label_names(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let form = match params::read_form(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let parsed = (|| Ok::<_, ApiError>((limit_param(&form)?, range_and_matchers(&form, false)?)))();
    let (limit, range) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(store) = st.store() else {
        return unavailable();
    };
    let result = run_blocking(move || {
        let querier = store
            .queryable()
            .querier(range.start, range.end)
            .map_err(storage_error)?;
        union_over_sets(&range.sets, |m| querier.label_names(m))
    })
    .await;
    respond_strings(result, limit)
}

/// `GET|POST /api/v1/label/<name>/values`
pub async fn label_values(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let form = match params::read_form(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let name = unescape_label_name(&name);
    let parsed = (|| {
        // Prometheus 3 accepts any UTF-8 label name; only the empty one is invalid.
        if name.is_empty() {
            return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
        }
        Ok((limit_param(&form)?, range_and_matchers(&form, false)?))
    })();
    let (limit, range) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(store) = st.store() else {
        return unavailable();
    };
    let result = run_blocking(move || {
        let querier = store
            .queryable()
            .querier(range.start, range.end)
            .map_err(storage_error)?;
        union_over_sets(&range.sets, |m| querier.label_values(&name, m))
    })
    .await;
    respond_strings(result, limit)
}

/// `GET|POST /api/v1/metadata?metric=…&limit=…&limit_per_metric=…`: the metadata of the
/// running targets' recent scrapes, deduplicated across targets, as Prometheus answers
/// it (the report series such as `up` have none, since no exposer describes them).
pub async fn metadata(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let form = match params::read_form(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let limits = super::targets_api::limit_or_unlimited(&form, "limit").and_then(|l| {
        super::targets_api::limit_or_unlimited(&form, "limit_per_metric").map(|p| (l, p))
    });
    let (limit, per_metric) = match limits {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let targets = st
        .scrape
        .get()
        .map(|v| v.running_targets())
        .unwrap_or_default();
    let families =
        super::targets_api::merge_metadata(&targets, form.get("metric"), limit, per_metric);
    api_json::success(&Notes::default(), |j| {
        j.begin_object();
        for (name, variants) in &families {
            j.key(name);
            j.begin_array();
            for (kind, help, unit) in variants {
                j.begin_object();
                j.key_string("type", kind);
                j.key_string("help", help);
                j.key_string("unit", unit);
                j.end_object();
            }
            j.end_array();
        }
        j.end_object();
    })
}
