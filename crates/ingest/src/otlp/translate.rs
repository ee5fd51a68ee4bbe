//! OTLP metrics to Prometheus series, per the OpenTelemetry ↔ Prometheus compatibility
//! specification and Prometheus's own OTLP translator.

use super::batch::{BatchBuilder, OwnedBatch};
use super::delta::DeltaState;
use super::hist::{self, Classic};
use super::naming::{self, attribute_value, float_label, label_name, metric_name, MetricKind};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, DataPointFlags, Exemplar,
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use pharos_model::{Labels, METRIC_NAME, STALE_NAN};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Limits and choices of a [`Translator`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslatorConfig {
    /// Most delta series whose running totals are kept; points of further new delta
    /// series are rejected (and counted in the partial-success response).
    pub max_delta_series: usize,
    /// A delta series not updated for this long is forgotten; if it returns, its total
    /// starts over, which Prometheus reads as a counter reset.
    pub delta_series_ttl_ms: i64,
    /// Exponential histograms above this scale are downscaled to it before becoming
    /// classic buckets (clamped to 0..=20). See the `hist` module for the mapping.
    pub max_exponential_scale: i32,
    /// Most classic buckets one histogram point may produce; larger points are rejected
    /// rather than creating that many series.
    pub max_buckets_per_point: usize,
}

impl Default for TranslatorConfig {
    fn default() -> Self {
        TranslatorConfig {
            max_delta_series: 100_000,
            delta_series_ttl_ms: 60 * 60 * 1000,
            max_exponential_scale: 2,
            max_buckets_per_point: 1024,
        }
    }
}

/// The result of translating one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Translation {
    /// Everything that was accepted, ready for storage.
    pub batch: OwnedBatch,
    /// OTLP data points that were not translated.
    pub rejected_points: u64,
    /// Why, in words, when anything was rejected.
    pub error_message: Option<String>,
}

impl Translation {
    /// The partial-success part of the OTLP response: set when points were rejected,
    /// and left unset on full success, as the OTLP specification requires.
    pub fn partial_success(&self) -> Option<ExportMetricsPartialSuccess> {
        if self.rejected_points == 0 && self.error_message.is_none() {
            return None;
        }
        Some(ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(self.rejected_points).unwrap_or(i64::MAX),
            error_message: self.error_message.clone().unwrap_or_default(),
        })
    }

    /// The response to send once the batch is stored.
    pub fn response(&self) -> ExportMetricsServiceResponse {
        ExportMetricsServiceResponse {
            partial_success: self.partial_success(),
        }
    }
}

/// Translates OTLP metric requests into Prometheus series. It holds the running totals
/// of delta series, so one translator should see every request of a sender, in order.
#[derive(Debug)]
pub struct Translator {
    config: TranslatorConfig,
    delta: DeltaState,
}

impl Default for Translator {
    fn default() -> Self {
        Translator::new()
    }
}

/// Resource attributes that become `job` and `instance` rather than `target_info` labels.
const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// Longest exemplar label set, in characters of names and values together: the
/// OpenMetrics limit, which Prometheus's exemplar storage enforces.
const EXEMPLAR_MAX_LABEL_CHARS: usize = 128;

/// Distinct rejection reasons spelled out in the message; the rest are summed.
const MAX_REASONS: usize = 5;

impl Translator {
    pub fn new() -> Self {
        Translator::with_config(TranslatorConfig::default())
    }

    pub fn with_config(config: TranslatorConfig) -> Self {
        let delta = DeltaState::new(config.max_delta_series, config.delta_series_ttl_ms);
        Translator { config, delta }
    }

    pub fn config(&self) -> &TranslatorConfig {
        &self.config
    }

    /// Delta series whose running totals are currently kept.
    pub fn tracked_delta_series(&self) -> usize {
        self.delta.len()
    }

    /// Translates a request. `now_ms` is the receive time: it stamps points that carry
    /// no timestamp and drives the expiry of delta state.
    ///
    /// Start timestamps are ignored for cumulative points (Prometheus finds counter
    /// resets from the values, and no `_created` series are written); for delta points
    /// they only serve to detect overlapping intervals.
    pub fn translate(&mut self, req: &ExportMetricsServiceRequest, now_ms: i64) -> Translation {
        self.delta.expire(now_ms, false);
        let mut run = Run {
            config: &self.config,
            delta: &mut self.delta,
            now_ms,
            out: BatchBuilder::default(),
            target_info: HashMap::new(),
            rejected: Rejections::default(),
            points: 0,
        };
        for rm in &req.resource_metrics {
            let resource = ResourceLabels::new(rm.resource.as_ref());
            let mut times = BTreeSet::new();
            for sm in &rm.scope_metrics {
                let common = resource.with_scope(sm.scope.as_ref());
                for m in &sm.metrics {
                    run.metric(m, &common, &mut times);
                }
            }
            if let Some(info) = resource.target_info {
                if !times.is_empty() {
                    run.target_info.entry(info).or_default().extend(times);
                }
            }
        }
        run.finish()
    }
}

/// The labels a resource gives every series, and its `target_info` labels.
struct ResourceLabels {
    /// `job` and `instance`, when the resource has them.
    identity: Vec<(String, String)>,
    target_info: Option<Labels>,
}

impl ResourceLabels {
    fn new(resource: Option<&Resource>) -> Self {
        let attrs: &[KeyValue] = resource.map_or(&[], |r| &r.attributes);
        let get = |key: &str| {
            attrs
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| attribute_value(kv.value.as_ref()))
                .filter(|v| !v.is_empty())
        };
        let mut identity = Vec::new();
        if let Some(name) = get(SERVICE_NAME) {
            let job = match get(SERVICE_NAMESPACE) {
                Some(ns) => format!("{ns}/{name}"),
                None => name,
            };
            identity.push(("job".to_owned(), job));
        }
        if let Some(id) = get(SERVICE_INSTANCE_ID) {
            identity.push(("instance".to_owned(), id));
        }
        let others: Vec<&KeyValue> = attrs
            .iter()
            .filter(|kv| {
                ![SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID].contains(&kv.key.as_str())
            })
            .collect();
        // A resource with nothing beyond job and instance would make a target_info that
        // says nothing, so Prometheus writes none; neither does this.
        let target_info = (!others.is_empty()).then(|| {
            let mut map = attribute_labels(others.into_iter());
            for (k, v) in &identity {
                map.insert(k.clone(), v.clone());
            }
            map.insert(METRIC_NAME.to_owned(), "target_info".to_owned());
            labels_from_map(map)
        });
        ResourceLabels {
            identity,
            target_info,
        }
    }

    /// Labels that override point attributes: scope name and version, then job and
    /// instance, which win over everything as in Prometheus.
    fn with_scope(&self, scope: Option<&InstrumentationScope>) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(self.identity.len() + 2);
        if let Some(s) = scope {
            if !s.name.is_empty() {
                out.push(("otel_scope_name".to_owned(), s.name.clone()));
            }
            if !s.version.is_empty() {
                out.push(("otel_scope_version".to_owned(), s.version.clone()));
            }
        }
        out.extend(self.identity.iter().cloned());
        out
    }
}

/// Attributes as labels: keys sanitized, and values of keys that sanitize alike joined
/// with `;` in the order of their original keys, as the compatibility spec says. Empty
/// values are dropped (an empty label is no label).
fn attribute_labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>) -> BTreeMap<String, String> {
    let mut sorted: Vec<&KeyValue> = attrs.collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for kv in sorted {
        let Some(name) = label_name(&kv.key) else {
            continue;
        };
        let value = attribute_value(kv.value.as_ref());
        if value.is_empty() {
            continue;
        }
        match map.get_mut(&name) {
            Some(existing) => {
                existing.push(';');
                existing.push_str(&value);
            }
            None => {
                map.insert(name, value);
            }
        }
    }
    map
}

fn labels_from_map(map: BTreeMap<String, String>) -> Labels {
    Labels::from_sorted(
        map.into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| pharos_model::Label::new(n, v))
            .collect(),
    )
}

fn ns_to_ms(ns: u64) -> i64 {
    // u64::MAX / 10^6 fits an i64 comfortably.
    (ns / 1_000_000) as i64
}

fn no_recorded_value(flags: u32) -> bool {
    flags & DataPointFlags::NoRecordedValueMask as u32 != 0
}

/// Rejected points, grouped by reason for the partial-success message.
#[derive(Default)]
struct Rejections {
    total: u64,
    reasons: Vec<(String, u64)>,
    other: u64,
}

impl Rejections {
    fn add(&mut self, n: u64, metric: &str, why: impl std::fmt::Display) {
        if n == 0 {
            return;
        }
        self.total += n;
        let reason = format!("metric {}: {why}", shown(metric));
        if let Some(r) = self.reasons.iter_mut().find(|r| r.0 == reason) {
            r.1 += n;
        } else if self.reasons.len() < MAX_REASONS {
            self.reasons.push((reason, n));
        } else {
            self.other += n;
        }
    }

    fn message(&self, points: u64) -> Option<String> {
        if self.total == 0 {
            return None;
        }
        let plural = |n: u64| if n == 1 { "point" } else { "points" };
        let mut msg = format!(
            "rejected {} of {points} data {}: ",
            self.total,
            plural(points)
        );
        for (i, (reason, n)) in self.reasons.iter().enumerate() {
            if i > 0 {
                msg.push_str("; ");
            }
            msg.push_str(&format!("{reason} ({n} {})", plural(*n)));
        }
        if self.other > 0 {
            msg.push_str(&format!(
                "; {} more {} for other reasons",
                self.other,
                plural(self.other)
            ));
        }
        Some(msg)
    }
}

/// A metric name for a message, bounded so a huge name cannot make a huge response.
fn shown(name: &str) -> String {
    match name.char_indices().nth(100) {
        Some((i, _)) => format!("{:?}...", &name[..i]),
        None => format!("{name:?}"),
    }
}

/// How a sum or histogram's points are turned into cumulative values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Temporality {
    Cumulative,
    Delta,
}

fn temporality(v: i32) -> Option<Temporality> {
    match AggregationTemporality::try_from(v) {
        Ok(AggregationTemporality::Cumulative) => Some(Temporality::Cumulative),
        Ok(AggregationTemporality::Delta) => Some(Temporality::Delta),
        _ => None,
    }
}

/// One translation in progress.
struct Run<'a> {
    config: &'a TranslatorConfig,
    delta: &'a mut DeltaState,
    now_ms: i64,
    out: BatchBuilder,
    /// `target_info` series and the timestamps of their resources' samples.
    target_info: HashMap<Labels, BTreeSet<i64>>,
    rejected: Rejections,
    points: u64,
}

/// The labels of one data point, before the metric name and `le`/`quantile`.
struct Base(BTreeMap<String, String>);

impl Base {
    fn new(attrs: &[KeyValue], common: &[(String, String)]) -> Self {
        let mut map = attribute_labels(attrs.iter());
        for (k, v) in common {
            map.insert(k.clone(), v.clone());
        }
        Base(map)
    }

    fn series(&self, name: &str, extra: Option<(&str, String)>) -> Labels {
        let mut map = self.0.clone();
        if let Some((k, v)) = extra {
            map.insert(k.to_owned(), v);
        }
        map.insert(METRIC_NAME.to_owned(), name.to_owned());
        labels_from_map(map)
    }
}

impl Run<'_> {
    fn finish(mut self) -> Translation {
        for (labels, times) in std::mem::take(&mut self.target_info) {
            for t in times {
                self.out.push(labels.clone(), t, 1.0, Vec::new());
            }
        }
        Translation {
            error_message: self.rejected.message(self.points),
            rejected_points: self.rejected.total,
            batch: self.out.finish(),
        }
    }

    fn time(&self, ns: u64) -> i64 {
        if ns == 0 {
            self.now_ms
        } else {
            ns_to_ms(ns)
        }
    }

    /// The nanosecond time used to order delta points: a missing time is the receive time.
    fn time_ns(&self, ns: u64) -> u64 {
        if ns == 0 {
            u64::try_from(self.now_ms)
                .unwrap_or(0)
                .saturating_mul(1_000_000)
        } else {
            ns
        }
    }

    fn push(
        &mut self,
        labels: Labels,
        t: i64,
        v: f64,
        ex: Vec<pharos_model::Exemplar>,
        times: &mut BTreeSet<i64>,
    ) {
        times.insert(t);
        self.out.push(labels, t, v, ex);
    }

    fn metric(&mut self, m: &Metric, common: &[(String, String)], times: &mut BTreeSet<i64>) {
        let Some(data) = &m.data else {
            return;
        };
        let (points, kind, temp) = match data {
            metric::Data::Gauge(g) => (g.data_points.len(), MetricKind::Gauge, None),
            metric::Data::Sum(s) => {
                let kind = if s.is_monotonic {
                    MetricKind::Counter
                } else {
                    MetricKind::NonMonotonicSum
                };
                (s.data_points.len(), kind, Some(s.aggregation_temporality))
            }
            metric::Data::Histogram(h) => (
                h.data_points.len(),
                MetricKind::Histogram,
                Some(h.aggregation_temporality),
            ),
            metric::Data::ExponentialHistogram(h) => (
                h.data_points.len(),
                MetricKind::Histogram,
                Some(h.aggregation_temporality),
            ),
            metric::Data::Summary(s) => (s.data_points.len(), MetricKind::Summary, None),
        };
        let points = points as u64;
        self.points += points;
        let Some(name) = metric_name(&m.name, &m.unit, kind) else {
            self.rejected.add(
                points,
                &m.name,
                "the name has no character valid in a metric name",
            );
            return;
        };
        let temp = match temp {
            None => Temporality::Cumulative,
            Some(t) => {
                match temporality(t) {
                    Some(t) => t,
                    None => {
                        self.rejected.add(
                        points,
                        &m.name,
                        format!("aggregation temporality {t} is neither delta (1) nor cumulative (2)"),
                    );
                        return;
                    }
                }
            }
        };
        match data {
            metric::Data::Gauge(g) => {
                self.numbers(m, &name, &g.data_points, false, temp, common, times)
            }
            metric::Data::Sum(s) => {
                if temp == Temporality::Delta && !s.is_monotonic {
                    // Its running total would be a gauge whose absolute value depends
                    // on having seen every delta since the stream began, which nothing
                    // here can know (the spec says to drop these).
                    self.rejected.add(
                        points,
                        &m.name,
                        "non-monotonic sums with delta temporality cannot be converted to cumulative",
                    );
                    return;
                }
                self.numbers(
                    m,
                    &name,
                    &s.data_points,
                    s.is_monotonic,
                    temp,
                    common,
                    times,
                )
            }
            metric::Data::Histogram(h) => {
                for p in &h.data_points {
                    self.histogram(m, &name, p, temp, common, times);
                }
            }
            metric::Data::ExponentialHistogram(h) => {
                for p in &h.data_points {
                    self.exponential(m, &name, p, temp, common, times);
                }
            }
            metric::Data::Summary(s) => {
                for p in &s.data_points {
                    self.summary(m, &name, p, common, times);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn numbers(
        &mut self,
        m: &Metric,
        name: &str,
        points: &[NumberDataPoint],
        counter: bool,
        temp: Temporality,
        common: &[(String, String)],
        times: &mut BTreeSet<i64>,
    ) {
        for p in points {
            let t = self.time(p.time_unix_nano);
            let labels = Base::new(&p.attributes, common).series(name, None);
            if no_recorded_value(p.flags) {
                self.push(labels, t, STALE_NAN, Vec::new(), times);
                continue;
            }
            let value = match p.value {
                Some(number_data_point::Value::AsDouble(d)) => d,
                Some(number_data_point::Value::AsInt(i)) => i as f64,
                None => {
                    self.rejected.add(1, &m.name, "data point has no value");
                    continue;
                }
            };
            let value = if temp == Temporality::Delta {
                let time_ns = self.time_ns(p.time_unix_nano);
                match self.delta.add_sum(
                    &labels,
                    p.start_time_unix_nano,
                    time_ns,
                    self.now_ms,
                    value,
                ) {
                    Ok(v) => v,
                    Err(why) => {
                        self.rejected.add(1, &m.name, why);
                        continue;
                    }
                }
            } else {
                value
            };
            // Exemplars belong on counters only; the spec drops those of gauges.
            let exemplars = if counter {
                p.exemplars.iter().filter_map(|e| exemplar(e, t)).collect()
            } else {
                Vec::new()
            };
            self.push(labels, t, value, exemplars, times);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_histogram(
        &mut self,
        name: &str,
        base: &Base,
        t: i64,
        h: &Classic,
        exemplars: &[Exemplar],
        times: &mut BTreeSet<i64>,
    ) {
        let mut per_bucket: Vec<Vec<pharos_model::Exemplar>> = Vec::new();
        if !exemplars.is_empty() {
            per_bucket.resize(h.bounds.len() + 1, Vec::new());
            for e in exemplars {
                if let Some(e) = exemplar(e, t) {
                    let i = h.bucket_of(e.value);
                    if let Some(slot) = per_bucket.get_mut(i) {
                        slot.push(e);
                    }
                }
            }
        }
        let bucket = format!("{name}_bucket");
        for (i, (le, v)) in h.cumulative().enumerate() {
            let ex = per_bucket
                .get_mut(i)
                .map(std::mem::take)
                .unwrap_or_default();
            self.push(base.series(&bucket, Some(("le", le))), t, v, ex, times);
        }
        self.push(
            base.series(&format!("{name}_count"), None),
            t,
            h.count as f64,
            Vec::new(),
            times,
        );
        if let Some(sum) = h.sum {
            self.push(
                base.series(&format!("{name}_sum"), None),
                t,
                sum,
                Vec::new(),
                times,
            );
        }
    }

    /// Staleness markers for every series a histogram point would have written.
    fn stale_histogram(
        &mut self,
        name: &str,
        base: &Base,
        t: i64,
        les: impl Iterator<Item = String>,
        has_sum: bool,
        times: &mut BTreeSet<i64>,
    ) {
        let bucket = format!("{name}_bucket");
        for le in les {
            self.push(
                base.series(&bucket, Some(("le", le))),
                t,
                STALE_NAN,
                Vec::new(),
                times,
            );
        }
        self.push(
            base.series(&format!("{name}_count"), None),
            t,
            STALE_NAN,
            Vec::new(),
            times,
        );
        if has_sum {
            self.push(
                base.series(&format!("{name}_sum"), None),
                t,
                STALE_NAN,
                Vec::new(),
                times,
            );
        }
    }

    /// Converts delta histograms to cumulative; `None` when the point was refused.
    #[allow(clippy::too_many_arguments)]
    fn cumulative(
        &mut self,
        m: &Metric,
        name: &str,
        base: &Base,
        start_ns: u64,
        time_ns: u64,
        h: Classic,
        layout: Option<Vec<u64>>,
        temp: Temporality,
    ) -> Option<Classic> {
        if temp == Temporality::Cumulative {
            return Some(h);
        }
        let key = base.series(name, None);
        let time_ns = self.time_ns(time_ns);
        match self
            .delta
            .add_histogram(&key, start_ns, time_ns, self.now_ms, h, layout)
        {
            Ok(h) => Some(h),
            Err(why) => {
                self.rejected.add(1, &m.name, why);
                None
            }
        }
    }

    fn histogram(
        &mut self,
        m: &Metric,
        name: &str,
        p: &HistogramDataPoint,
        temp: Temporality,
        common: &[(String, String)],
        times: &mut BTreeSet<i64>,
    ) {
        let t = self.time(p.time_unix_nano);
        let base = Base::new(&p.attributes, common);
        if no_recorded_value(p.flags) {
            let les = p
                .explicit_bounds
                .iter()
                .filter(|b| b.is_finite() || **b == f64::NEG_INFINITY)
                .map(|b| float_label(*b))
                .chain(std::iter::once("+Inf".to_owned()));
            self.stale_histogram(name, &base, t, les, p.sum.is_some(), times);
            return;
        }
        let h = match hist::from_explicit(p, self.config.max_buckets_per_point) {
            Ok(h) => h,
            Err(why) => {
                self.rejected.add(1, &m.name, why);
                return;
            }
        };
        let layout = Some(p.explicit_bounds.iter().map(|b| b.to_bits()).collect());
        let Some(h) = self.cumulative(
            m,
            name,
            &base,
            p.start_time_unix_nano,
            p.time_unix_nano,
            h,
            layout,
            temp,
        ) else {
            return;
        };
        self.emit_histogram(name, &base, t, &h, &p.exemplars, times);
    }

    fn exponential(
        &mut self,
        m: &Metric,
        name: &str,
        p: &ExponentialHistogramDataPoint,
        temp: Temporality,
        common: &[(String, String)],
        times: &mut BTreeSet<i64>,
    ) {
        let t = self.time(p.time_unix_nano);
        let base = Base::new(&p.attributes, common);
        let converted = hist::from_exponential(
            p,
            self.config.max_exponential_scale,
            self.config.max_buckets_per_point,
        );
        if no_recorded_value(p.flags) {
            let les: Vec<String> = match &converted {
                Ok(h) => h.les().collect(),
                Err(_) => vec!["+Inf".to_owned()],
            };
            self.stale_histogram(name, &base, t, les.into_iter(), p.sum.is_some(), times);
            return;
        }
        let h = match converted {
            Ok(h) => h,
            Err(why) => {
                self.rejected.add(1, &m.name, why);
                return;
            }
        };
        let Some(h) = self.cumulative(
            m,
            name,
            &base,
            p.start_time_unix_nano,
            p.time_unix_nano,
            h,
            None,
            temp,
        ) else {
            return;
        };
        self.emit_histogram(name, &base, t, &h, &p.exemplars, times);
    }

    fn summary(
        &mut self,
        m: &Metric,
        name: &str,
        p: &SummaryDataPoint,
        common: &[(String, String)],
        times: &mut BTreeSet<i64>,
    ) {
        let t = self.time(p.time_unix_nano);
        let base = Base::new(&p.attributes, common);
        let stale = no_recorded_value(p.flags);
        if !stale
            && p.quantile_values
                .iter()
                .any(|q| !(0.0..=1.0).contains(&q.quantile))
        {
            self.rejected
                .add(1, &m.name, "summary quantile outside [0, 1]");
            return;
        }
        let value = |v: f64| if stale { STALE_NAN } else { v };
        for q in &p.quantile_values {
            let labels = base.series(name, Some(("quantile", float_label(q.quantile))));
            self.push(labels, t, value(q.value), Vec::new(), times);
        }
        self.push(
            base.series(&format!("{name}_sum"), None),
            t,
            value(p.sum),
            Vec::new(),
            times,
        );
        self.push(
            base.series(&format!("{name}_count"), None),
            t,
            value(p.count as f64),
            Vec::new(),
            times,
        );
    }
}

/// Converts an exemplar; `None` when it has no value. Trace and span ids become
/// `trace_id`/`span_id` labels in lowercase hex; filtered attributes follow, as many as
/// fit the OpenMetrics limit of 128 characters (ids first: they are what makes an
/// exemplar useful).
fn exemplar(e: &Exemplar, point_t: i64) -> Option<pharos_model::Exemplar> {
    let value = match e.value? {
        exemplar::Value::AsDouble(d) => d,
        exemplar::Value::AsInt(i) => i as f64,
    };
    let t = if e.time_unix_nano == 0 {
        point_t
    } else {
        ns_to_ms(e.time_unix_nano)
    };
    let mut budget = EXEMPLAR_MAX_LABEL_CHARS;
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut add = |name: String, value: String, pairs: &mut Vec<(String, String)>| {
        let cost = name.chars().count() + value.chars().count();
        if cost <= budget {
            budget -= cost;
            pairs.push((name, value));
        }
    };
    for (name, id) in [("trace_id", &e.trace_id), ("span_id", &e.span_id)] {
        if id.iter().any(|b| *b != 0) {
            add(name.to_owned(), naming::hex(id), &mut pairs);
        }
    }
    for (name, value) in attribute_labels(e.filtered_attributes.iter()) {
        if name != "trace_id" && name != "span_id" {
            add(name, value, &mut pairs);
        }
    }
    Some(pharos_model::Exemplar {
        labels: Labels::from_pairs(pairs),
        value,
        t,
    })
}
