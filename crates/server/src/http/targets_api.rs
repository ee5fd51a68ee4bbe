//! `GET /api/v1/targets` and `GET|POST /api/v1/targets/metadata`, shaped as Prometheus
//! answers them.

use super::api_json::{self, Notes};
use super::params::{go_atoi, parse_match_params, read_form, ApiError, Form};
use super::AppState;
use crate::http::status_api::json_time;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pharos_ingest::scrape::Health;
use pharos_ingest::scrape::{MetricMetadata, TargetShared};
use pharos_model::{Labels, Matcher};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|x| (x.name.clone(), Value::String(x.value.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// `GET /api/v1/targets?state=active|dropped|any&scrapePool=…`, as Prometheus answers
/// it: pools in name order; a `state` other than those three (case-insensitive) lists
/// nothing rather than failing; `droppedTargetCounts` counts every dropped target, also
/// those `keep_dropped_targets` leaves out of the list, and is null unless dropped
/// targets are asked for.
pub async fn targets(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = q.get("state").map(|s| s.to_lowercase()).unwrap_or_default();
    let pool = q.get("scrapePool").map(String::as_str).unwrap_or("");
    let want_active = matches!(state.as_str(), "" | "any" | "active");
    let want_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let in_pool = |job: &str| pool.is_empty() || job == pool;
    let view = st.scrape.get();
    let mut active = Vec::new();
    if let (true, Some(view)) = (want_active, view) {
        let mut targets = view.active();
        targets.sort_by(|a, b| a.config.job_name.cmp(&b.config.job_name));
        for t in targets.iter().filter(|t| in_pool(&t.config.job_name)) {
            let (health, last_error, last_scrape, duration) = match &t.health {
                Some(h) if h.last_scrape_ms > 0 => (
                    match h.health {
                        Health::Up => "up",
                        Health::Down => "down",
                        Health::Unknown => "unknown",
                    },
                    h.last_error.clone(),
                    json_time(h.last_scrape_ms),
                    h.last_scrape_duration.as_secs_f64(),
                ),
                // Go's zero time, which Prometheus reports before the first scrape.
                _ => (
                    "unknown",
                    String::new(),
                    "0001-01-01T00:00:00Z".to_owned(),
                    0.0,
                ),
            };
            active.push(json!({
                "discoveredLabels": labels_json(&t.target.discovered),
                "labels": labels_json(&t.target.labels),
                "scrapePool": t.config.job_name,
                "scrapeUrl": t.target.url,
                "globalUrl": t.target.url,
                "lastError": last_error,
                "lastScrape": last_scrape,
                "lastScrapeDuration": duration,
                "health": health,
                "scrapeInterval": pharos_ingest::scrape::PromDuration(t.target.interval).to_string(),
                "scrapeTimeout": pharos_ingest::scrape::PromDuration(t.target.timeout).to_string(),
            }));
        }
    }
    let mut dropped = Vec::new();
    let mut counts = Value::Null;
    if want_dropped {
        let mut count_map = Map::new();
        if let Some(view) = view {
            let mut list = view.dropped();
            list.sort_by(|a, b| a.0.cmp(&b.0));
            for (job, d) in list.iter().filter(|(job, _)| in_pool(job)) {
                dropped.push(json!({
                    "discoveredLabels": labels_json(&d.discovered),
                    "scrapePool": job,
                }));
            }
            for (job, n) in view.dropped_counts() {
                count_map.insert(job, Value::from(n));
            }
        }
        counts = Value::Object(count_map);
    }
    Json(json!({
        "status": "success",
        "data": {
            "activeTargets": active,
            "droppedTargets": dropped,
            "droppedTargetCounts": counts,
        },
    }))
    .into_response()
}

/// A `limit`-style parameter: absent means no limit (-1), as in Prometheus.
pub(crate) fn limit_or_unlimited(form: &Form, name: &str) -> Result<i64, ApiError> {
    match form.get(name) {
        "" => Ok(-1),
        v => go_atoi(v).map_err(|_| ApiError::bad_data(format!("{name} must be a number"))),
    }
}

fn matches_target(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

/// `GET|POST /api/v1/targets/metadata?match_target=…&metric=…&limit=…`: the metadata of
/// each running target's recent scrapes.
pub async fn target_metadata(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let form = match read_form(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let limit = match limit_or_unlimited(&form, "limit") {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let match_target = form.get("match_target");
    let matchers: Vec<Matcher> = if match_target.is_empty() {
        Vec::new()
    } else {
        match parse_match_params(&[match_target]) {
            Ok(mut sets) if sets.len() == 1 => sets.pop().unwrap_or_default(),
            Ok(_) => {
                return ApiError::invalid_param("match_target", "expected one selector")
                    .into_response()
            }
            Err(e) => return ApiError::invalid_param("match_target", e).into_response(),
        }
    };
    let metric = form.get("metric");
    let targets = st
        .scrape
        .get()
        .map(|v| v.running_targets())
        .unwrap_or_default();
    let entries = select_target_metadata(&targets, &matchers, metric, limit);
    api_json::success(&Notes::default(), |j| {
        j.begin_array();
        for (labels, md) in &entries {
            j.begin_object();
            j.key("target");
            j.labels(labels);
            if metric.is_empty() {
                j.key_string("metric", &md.family);
            }
            j.key_string("type", md.kind);
            j.key_string("help", &md.help);
            j.key_string("unit", &md.unit);
            j.end_object();
        }
        j.end_array();
    })
}

/// The entries of `/api/v1/targets/metadata`. As in Prometheus, `limit` is checked
/// before each target, so the last target taken contributes all its entries; a negative
/// limit means none.
pub(crate) fn select_target_metadata(
    targets: &[(Labels, Arc<TargetShared>)],
    matchers: &[Matcher],
    metric: &str,
    limit: i64,
) -> Vec<(Labels, MetricMetadata)> {
    let mut entries = Vec::new();
    for (labels, shared) in targets {
        if limit >= 0 && entries.len() as i64 >= limit {
            break;
        }
        if !matches_target(labels, matchers) {
            continue;
        }
        let found = shared.with_metadata(|m| {
            if metric.is_empty() {
                m.list()
            } else {
                m.get(metric).into_iter().collect()
            }
        });
        entries.extend(found.into_iter().map(|md| (labels.clone(), md)));
    }
    entries
}

/// One family's distinct `(type, help, unit)` variants across targets.
pub(crate) type Variants = Vec<(&'static str, String, String)>;

/// The families of `/api/v1/metadata`: each target's metadata (of `metric` only, when
/// given) merged, at most `per_metric` variants a family when positive, at most `limit`
/// families when not negative. Families come in name order and variants in first-seen
/// order: Prometheus leaves both to Go's map order, so a fixed order is as faithful.
pub(crate) fn merge_metadata(
    targets: &[(Labels, Arc<TargetShared>)],
    metric: &str,
    limit: i64,
    per_metric: i64,
) -> Vec<(String, Variants)> {
    let mut families: BTreeMap<String, Variants> = BTreeMap::new();
    for (_, shared) in targets {
        let found = shared.with_metadata(|m| {
            if metric.is_empty() {
                m.list()
            } else {
                m.get(metric).into_iter().collect()
            }
        });
        for md in found {
            let variants = families.entry(md.family).or_default();
            if per_metric > 0 && variants.len() as i64 >= per_metric {
                continue;
            }
            let v = (md.kind, md.help, md.unit);
            if !variants.contains(&v) {
                variants.push(v);
            }
        }
    }
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    families.into_iter().take(take).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_ingest::exposition::MetricKind;
    use pharos_ingest::scrape::metadata::MetadataLine;
    use pharos_ingest::scrape::TargetMetadata;
    use pharos_model::MatchOp;

    fn target(job: &str, lines: &[(&str, MetadataLine<'_>)]) -> (Labels, Arc<TargetShared>) {
        let mut m = TargetMetadata::default();
        m.record(lines.iter().copied());
        (
            Labels::from_pairs([("job", job), ("instance", "h:1")]),
            Arc::new(TargetShared::with_known_metadata(m)),
        )
    }

    fn sample_targets() -> Vec<(Labels, Arc<TargetShared>)> {
        let gauge = MetadataLine::Type(MetricKind::Gauge);
        vec![
            target(
                "a",
                &[
                    ("x", gauge),
                    ("x", MetadataLine::Help("X.")),
                    ("y", MetadataLine::Type(MetricKind::Counter)),
                ],
            ),
            target("b", &[("x", gauge), ("x", MetadataLine::Help("X."))]),
            target("c", &[("x", gauge), ("x", MetadataLine::Help("Other X."))]),
        ]
    }

    #[test]
    fn target_metadata_filters_and_limits_per_target() {
        let t = sample_targets();
        let all = select_target_metadata(&t, &[], "", -1);
        assert_eq!(all.len(), 4);
        // The limit is checked before each target: the first one brings both entries.
        assert_eq!(select_target_metadata(&t, &[], "", 1).len(), 2);
        assert_eq!(select_target_metadata(&t, &[], "", 0).len(), 0);
        let only_b = [Matcher::new(MatchOp::Equal, "job", "b").unwrap()];
        let b = select_target_metadata(&t, &only_b, "", -1);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].0.get("job"), Some("b"));
        let y = select_target_metadata(&t, &[], "y", -1);
        assert_eq!(y.len(), 1);
        assert_eq!(y[0].1.kind, "counter");
        assert!(select_target_metadata(&t, &[], "nope", -1).is_empty());
    }

    #[test]
    fn metadata_is_merged_across_targets() {
        let t = sample_targets();
        let merged = merge_metadata(&t, "", -1, -1);
        let names: Vec<&str> = merged.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["x", "y"]);
        // Identical variants from targets a and b count once.
        assert_eq!(
            merged[0].1,
            vec![
                ("gauge", "X.".to_owned(), String::new()),
                ("gauge", "Other X.".to_owned(), String::new())
            ]
        );
        assert_eq!(merge_metadata(&t, "", -1, 1)[0].1.len(), 1);
        assert_eq!(merge_metadata(&t, "", 1, -1).len(), 1);
        assert!(merge_metadata(&t, "", 0, -1).is_empty());
        let y = merge_metadata(&t, "y", -1, -1);
        assert_eq!(y.len(), 1);
        assert_eq!(y[0].1, vec![("counter", String::new(), String::new())]);
    }
}
