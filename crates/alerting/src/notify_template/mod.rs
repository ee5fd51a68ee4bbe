//! The data notification templates see and the templates they run against,
//! modelled on Alertmanager's `template.Data`: `.Receiver`, `.Status`,
//! `.Alerts` (with `.Firing` / `.Resolved`), `.GroupLabels`,
//! `.CommonLabels`, `.CommonAnnotations` (`template.KV` with `.SortedPairs`,
//! `.Names`, `.Values`, `.Remove`), `.ExternalURL`, plus the user's
//! `templates:` files loaded on top of the built-in defaults
//! (`default.tmpl`), whose names and output match Alertmanager's.
//!
//! Parsed templates and values are reference-counted and not `Send`, so a
//! notifier keeps only the sources ([`Templates`]) and renders inside a
//! synchronous step ([`Renderer`]) before it awaits any I/O.

pub mod gojson;

use std::path::Path;
use std::rc::Rc;

use chrono::{DateTime, FixedOffset, Utc};
use pharos_template::alertmanager;
use pharos_template::value::{List, Map, MapKind};
use pharos_template::{
    FuncMap, Function, GoTime, MissingKey, Mode, Template, TemplateError, Ty, Value,
};
use thiserror::Error;

use crate::alert::{Alert, LabelMap};
use gojson::Json;

/// Alertmanager's built-in templates, written for Pharos with the same names
/// and the same rendered text.
pub const DEFAULT_TEMPLATES: &str = include_str!("default.tmpl");

/// `email_configs` `headers.Subject` when none is configured.
pub const DEFAULT_EMAIL_SUBJECT: &str = "{{ template \"email.default.subject\" . }}";

/// Problems loading the `templates:` files.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TemplateLoadError {
    #[error("invalid template glob {glob:?}: {msg}")]
    Glob { glob: String, msg: String },
    #[error("read template file {path}: {msg}")]
    Read { path: String, msg: String },
    #[error("{0}")]
    Parse(#[from] TemplateError),
}

/// Template sources: the defaults followed by the user's files in glob
/// order, as Alertmanager's `FromGlobs` parses them (later definitions win).
#[derive(Clone, Debug, PartialEq)]
pub struct Templates {
    sources: Vec<(String, String)>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            sources: vec![("default.tmpl".to_string(), DEFAULT_TEMPLATES.to_string())],
        }
    }
}

impl Templates {
    /// Loads the files matched by `globs` (a glob matching nothing is fine,
    /// as in Alertmanager) and checks that everything parses.
    pub fn from_globs(globs: &[String]) -> Result<Templates, TemplateLoadError> {
        let mut t = Templates::default();
        for g in globs {
            let paths = glob::glob(g).map_err(|e| TemplateLoadError::Glob {
                glob: g.clone(),
                msg: e.to_string(),
            })?;
            let mut files: Vec<_> = paths.filter_map(Result::ok).collect();
            files.sort();
            for p in files {
                let text = std::fs::read_to_string(&p).map_err(|e| TemplateLoadError::Read {
                    path: p.display().to_string(),
                    msg: e.to_string(),
                })?;
                t.add(&p, text)?;
            }
        }
        Ok(t)
    }

    /// Adds one template file's text, checking its syntax.
    pub fn add(&mut self, path: &Path, text: String) -> Result<(), TemplateLoadError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut check = Template::new(&name);
        install(&mut check, 0);
        check.parse(&text)?;
        self.sources.push((name, text));
        Ok(())
    }

    /// A renderer for one notification's data; `now` feeds `since`.
    pub fn renderer(&self, data: &NotificationData, now: DateTime<Utc>) -> Renderer<'_> {
        Renderer {
            templates: self,
            data: data.to_value(),
            now_ms: now.timestamp_millis(),
        }
    }
}

/// Executes configuration strings (`{{ template "slack.default.title" . }}`)
/// against one notification's data, as Alertmanager's `ExecuteTextString` /
/// `ExecuteHTMLString` do.
pub struct Renderer<'a> {
    templates: &'a Templates,
    data: Value,
    now_ms: i64,
}

impl Renderer<'_> {
    pub fn text(&self, text: &str) -> Result<String, TemplateError> {
        self.exec(text, Mode::Text)
    }

    /// HTML mode: values are escaped for their HTML context.
    pub fn html(&self, text: &str) -> Result<String, TemplateError> {
        self.exec(text, Mode::Html)
    }

    fn exec(&self, text: &str, mode: Mode) -> Result<String, TemplateError> {
        // Text without actions renders as itself; skipping the parse keeps
        // literal fields (URLs, keys) cheap.
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let mut t = Template::new("");
        install(&mut t, self.now_ms);
        t.mode(mode);
        for (_, src) in &self.templates.sources {
            t.parse(src)?;
        }
        t.parse(text)?;
        t.execute(self.data.clone())
    }
}

/// The Go zero time, shown as a firing alert's end.
const ZERO_TIME_SECS: i64 = -62_135_596_800;

/// One alert as templates see it (`template.Alert`).
#[derive(Clone, Debug, PartialEq)]
pub struct AlertData {
    pub status: &'static str,
    pub labels: LabelMap,
    pub annotations: LabelMap,
    pub starts_at: DateTime<Utc>,
    /// `None` is Go's zero time.
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
    pub fingerprint: String,
}

impl AlertData {
    /// The alert's JSON object, in `template.Alert`'s field order.
    pub fn to_json(&self) -> Json {
        Json::Obj(vec![
            ("status".into(), Json::str(self.status)),
            ("labels".into(), Json::string_map(&self.labels)),
            ("annotations".into(), Json::string_map(&self.annotations)),
            ("startsAt".into(), Json::time(Some(self.starts_at))),
            ("endsAt".into(), Json::time(self.ends_at)),
            ("generatorURL".into(), Json::str(&self.generator_url)),
            ("fingerprint".into(), Json::str(&self.fingerprint)),
        ])
    }
}

/// The data of one notification (`template.Data`).
#[derive(Clone, Debug, PartialEq)]
pub struct NotificationData {
    /// The receiver name, regex-quoted as Alertmanager does.
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<AlertData>,
    /// Why the notification is sent ("first notification", …); "unknown"
    /// when the dispatcher does not say.
    pub notification_reason: String,
    pub group_labels: LabelMap,
    pub common_labels: LabelMap,
    pub common_annotations: LabelMap,
    pub route_labels: LabelMap,
    pub external_url: String,
}

impl NotificationData {
    /// Builds the data for `alerts` sent at `now`: an alert whose end time
    /// is at or before `now` is resolved, the group is firing while any
    /// alert is.
    pub fn new(
        receiver: &str,
        group_labels: &LabelMap,
        alerts: &[Alert],
        now: DateTime<Utc>,
        external_url: &str,
    ) -> NotificationData {
        let items: Vec<AlertData> = alerts
            .iter()
            .map(|a| AlertData {
                status: if a.resolved_at(now) {
                    "resolved"
                } else {
                    "firing"
                },
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                generator_url: a.generator_url.clone(),
                fingerprint: a.fingerprint().to_string(),
            })
            .collect();
        let status = if items.iter().any(|a| a.status == "firing") {
            "firing"
        } else {
            "resolved"
        };
        let mut common_labels = alerts.first().map(|a| a.labels.clone()).unwrap_or_default();
        let mut common_annotations = alerts
            .first()
            .map(|a| a.annotations.clone())
            .unwrap_or_default();
        for a in alerts.iter().skip(1) {
            common_labels.retain(|k, v| a.labels.get(k) == Some(v));
            common_annotations.retain(|k, v| a.annotations.get(k) == Some(v));
        }
        NotificationData {
            receiver: quote_meta(receiver),
            status,
            alerts: items,
            notification_reason: "unknown".to_string(),
            group_labels: group_labels.clone(),
            common_labels,
            common_annotations,
            route_labels: LabelMap::new(),
            external_url: external_url.to_string(),
        }
    }

    pub fn firing(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "firing")
    }

    pub fn resolved(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "resolved")
    }

    /// The template value (`*template.Data`).
    pub fn to_value(&self) -> Value {
        let alerts = self.alerts.iter().map(alert_value).collect();
        Value::record(
            "*template.Data",
            vec![
                ("Receiver", Value::str(&self.receiver)),
                ("Status", Value::str(self.status)),
                ("Alerts", named_list("template.Alerts", alerts)),
                ("NotificationReason", Value::str(&self.notification_reason)),
                ("GroupLabels", kv(&self.group_labels)),
                ("CommonLabels", kv(&self.common_labels)),
                ("CommonAnnotations", kv(&self.common_annotations)),
                ("RouteLabels", kv(&self.route_labels)),
                ("ExternalURL", Value::str(&self.external_url)),
            ],
        )
    }
}

/// Go's `regexp.QuoteMeta`.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn time_value(t: Option<DateTime<Utc>>) -> Value {
    let nanos = match t {
        Some(t) => {
            i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
        }
        None => i128::from(ZERO_TIME_SECS) * 1_000_000_000,
    };
    Value::Time(GoTime::utc(nanos))
}

fn alert_value(a: &AlertData) -> Value {
    Value::record(
        "template.Alert",
        vec![
            ("Status", Value::str(a.status)),
            ("Labels", kv(&a.labels)),
            ("Annotations", kv(&a.annotations)),
            ("StartsAt", time_value(Some(a.starts_at))),
            ("EndsAt", time_value(a.ends_at)),
            ("GeneratorURL", Value::str(&a.generator_url)),
            ("Fingerprint", Value::str(&a.fingerprint)),
        ],
    )
}

fn named_list(type_name: &str, items: Vec<Value>) -> Value {
    Value::List(Rc::new(List {
        type_name: type_name.to_string(),
        items,
    }))
}

fn kv(m: &LabelMap) -> Value {
    Value::Map(Rc::new(Map {
        kind: MapKind::Strings,
        entries: m.iter().map(|(k, v)| (k.clone(), Value::str(v))).collect(),
        type_name: Some("template.KV".to_string()),
    }))
}

fn kv_entries(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Map(m) => m
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect(),
        _ => Vec::new(),
    }
}

/// `KV.SortedPairs`: `alertname` first, then the other names sorted.
fn sorted_pairs(v: &Value) -> Vec<(String, String)> {
    let mut pairs = kv_entries(v);
    if let Some(i) = pairs.iter().position(|(k, _)| k == "alertname") {
        let p = pairs.remove(i);
        pairs.insert(0, p);
    }
    pairs
}

fn strings(items: impl Iterator<Item = String>) -> Value {
    named_list("template.Strings", items.map(Value::str).collect())
}

fn pairs_value(pairs: Vec<(String, String)>) -> Value {
    let items = pairs
        .into_iter()
        .map(|(k, v)| {
            Value::record(
                "template.Pair",
                vec![("Name", Value::str(k)), ("Value", Value::str(v))],
            )
        })
        .collect();
    named_list("template.Pairs", items)
}

fn pair_field(v: &Value, field: &str) -> String {
    match v {
        Value::Record(r) => r
            .fields
            .iter()
            .find(|(k, _)| k == field)
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

fn list_items(v: &Value) -> Vec<Value> {
    match v {
        Value::List(l) => l.items.clone(),
        _ => Vec::new(),
    }
}

/// The string items of a `[]string`-like list, refusing anything else as Go
/// refuses a non-assignable argument.
fn string_items(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::List(l) => l
            .items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    format!(
                        "wrong type for value; expected []string; got {}",
                        l.type_name
                    )
                })
            })
            .collect(),
        Value::Nil => Ok(Vec::new()),
        other => Err(format!(
            "wrong type for value; expected []string; got {}",
            other.type_name()
        )),
    }
}

fn alerts_with_status(v: &Value, status: &str) -> Value {
    let items = list_items(v)
        .into_iter()
        .filter(|a| pair_field(a, "Status") == status)
        .collect();
    named_list("[]template.Alert", items)
}

/// Functions and methods of Alertmanager's template environment.
fn install(t: &mut Template<'static>, now_ms: i64) {
    t.funcs(alertmanager::funcs(now_ms));
    t.funcs(extra_funcs());
    t.missing_key(MissingKey::Zero);
    let kv_t = "template.KV";
    t.method(
        kv_t,
        "SortedPairs",
        Function::new(&[], None, |_, a| Ok(pairs_value(sorted_pairs(&a[0])))),
    );
    t.method(
        kv_t,
        "Names",
        Function::new(&[], None, |_, a| {
            Ok(strings(sorted_pairs(&a[0]).into_iter().map(|p| p.0)))
        }),
    );
    t.method(
        kv_t,
        "Values",
        Function::new(&[], None, |_, a| {
            Ok(strings(sorted_pairs(&a[0]).into_iter().map(|p| p.1)))
        }),
    );
    t.method(
        kv_t,
        "Remove",
        Function::new(&[Ty::Any], None, |_, a| {
            let drop = string_items(&a[1])?;
            let kept: LabelMap = kv_entries(&a[0])
                .into_iter()
                .filter(|(k, _)| !drop.contains(k))
                .collect();
            Ok(kv(&kept))
        }),
    );
    t.method(
        "template.Pairs",
        "Names",
        Function::new(&[], None, |_, a| {
            Ok(strings(
                list_items(&a[0]).iter().map(|p| pair_field(p, "Name")),
            ))
        }),
    );
    t.method(
        "template.Pairs",
        "Values",
        Function::new(&[], None, |_, a| {
            Ok(strings(
                list_items(&a[0]).iter().map(|p| pair_field(p, "Value")),
            ))
        }),
    );
    t.method(
        "template.Strings",
        "Join",
        Function::new(&[Ty::Str], None, |_, a| {
            let sep = a[1].as_str().unwrap_or("");
            Ok(Value::str(string_items(&a[0])?.join(sep)))
        }),
    );
    t.method(
        "template.Alerts",
        "Firing",
        Function::new(&[], None, |_, a| Ok(alerts_with_status(&a[0], "firing"))),
    );
    t.method(
        "template.Alerts",
        "Resolved",
        Function::new(&[], None, |_, a| Ok(alerts_with_status(&a[0], "resolved"))),
    );
}

/// Functions Alertmanager has beyond the shared set: `join` taking any
/// string list (`template.Strings` is assignable to `[]string` in Go) and
/// `toJson`.
fn extra_funcs() -> FuncMap<'static> {
    let mut m = FuncMap::new();
    m.insert(
        "join",
        Function::new(&[Ty::Str, Ty::Any], None, |_, a| {
            let sep = a[0].as_str().unwrap_or("");
            Ok(Value::str(string_items(&a[1])?.join(sep)))
        }),
    );
    m.insert(
        "toJson",
        Function::new(&[Ty::Any], None, |_, a| {
            Ok(Value::str(value_json(&a[0]).encode()))
        }),
    );
    m
}

/// The JSON tag Alertmanager's types give a field.
fn json_tag(type_name: &str, field: &str) -> String {
    if type_name == "template.Pair" {
        return field.to_string();
    }
    if field == "NotificationReason" {
        return "notification_reason".to_string();
    }
    let mut c = field.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Go's `json.Marshal` of a template value.
pub fn value_json(v: &Value) -> Json {
    match v {
        Value::Nil | Value::Func(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) | Value::Duration(i) => Json::Int(*i),
        Value::Uint(u) => Json::Uint(*u),
        Value::Float(f) => Json::Float(*f),
        Value::Str(s) | Value::Html(s) => Json::str(s.as_ref()),
        Value::List(l) => Json::Arr(l.items.iter().map(value_json).collect()),
        Value::Map(m) => Json::Obj(
            m.entries
                .iter()
                .map(|(k, v)| (k.clone(), value_json(v)))
                .collect(),
        ),
        Value::Record(r) => Json::Obj(
            r.fields
                .iter()
                .map(|(k, v)| {
                    (
                        json_tag(r.type_name.trim_start_matches('*'), k),
                        value_json(v),
                    )
                })
                .collect(),
        ),
        Value::Time(t) => Json::Str(go_time_json(t)),
        Value::Histogram(h) => Json::str(h.to_string()),
    }
}

fn go_time_json(t: &GoTime) -> String {
    let secs = t.unix_nanos.div_euclid(1_000_000_000);
    let nanos = t.unix_nanos.rem_euclid(1_000_000_000);
    let utc = i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, u32::try_from(nanos).unwrap_or(0)));
    let Some(utc) = utc else {
        return String::new();
    };
    if t.offset_secs == 0 {
        return gojson::rfc3339_nano(Some(utc));
    }
    let Some(off) = FixedOffset::east_opt(t.offset_secs) else {
        return gojson::rfc3339_nano(Some(utc));
    };
    let local = utc.with_timezone(&off);
    let mut s = local.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos > 0 {
        s.push('.');
        s.push_str(format!("{nanos:09}").trim_end_matches('0'));
    }
    s.push_str(&local.format("%:z").to_string());
    s
}
