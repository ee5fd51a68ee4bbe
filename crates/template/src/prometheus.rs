//! Prometheus's template functions and expander: what alert labels/annotations and console
//! templates can call (`humanize`, `query`, `first`, `label`, …), with Prometheus's output
//! and error texts, plus the rule manager's alert-field expansion.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::func::{FuncMap, Function, Ty};
use crate::template::{Limits, Mode, Template};
use crate::value::{Histogram, Value};
use crate::TemplateError;

mod functions;
#[cfg(test)]
mod tests;

pub use functions::{funcs, humanize_duration};
pub(crate) use functions::{go_quote_regexp, go_regex, to_float};

/// One instant-query result row in the shape the rules engine produces.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Runs a PromQL instant query at the given time (ms since epoch).
pub type QueryFn<'a> = &'a dyn Fn(&str, i64) -> Result<Vec<QuerySample>, String>;

/// The value of a query result sample: a float or a native histogram.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    Float(f64),
    Histogram(Histogram),
}

/// A query result row as templates see it (`.Labels`, `.Value`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: SampleValue,
    pub timestamp_ms: Option<i64>,
}

impl From<QuerySample> for Sample {
    fn from(q: QuerySample) -> Self {
        Sample {
            labels: q.labels,
            value: SampleValue::Float(q.value),
            timestamp_ms: None,
        }
    }
}

/// A query function returning full samples (histograms included).
pub type SampleQueryFn<'a> = &'a dyn Fn(&str, i64) -> Result<Vec<Sample>, String>;

/// What an alerting rule exposes to its label and annotation templates.
pub struct AlertData<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub value: f64,
}

pub(crate) const ALERT_DATA_TYPE: &str =
    "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";
pub(crate) const SAMPLE_TYPE: &str = "*template.sample";
pub(crate) const QUERY_RESULT_TYPE: &str = "template.queryResult";

impl AlertData<'_> {
    /// The value bound to `.` in alert templates.
    pub fn to_value(&self) -> Value {
        Value::record(
            ALERT_DATA_TYPE,
            vec![
                ("Labels", Value::string_map(self.labels.clone())),
                (
                    "ExternalLabels",
                    Value::string_map(self.external_labels.clone()),
                ),
                ("ExternalURL", Value::str(self.external_url)),
                ("Value", Value::Float(self.value)),
            ],
        )
    }
}

/// Expands one alert label or annotation as Prometheus's rule manager does: prefixes
/// `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
/// and executes in text mode at `ts_ms`. `name` is the template name used in error texts
/// (Prometheus uses `__alert_<rule name>`).
pub fn expand_alert_field(
    name: &str,
    text: &str,
    data: &AlertData<'_>,
    ts_ms: i64,
    query: QueryFn<'_>,
) -> Result<String, TemplateError> {
    let full = format!(
        "{{{{$labels := .Labels}}}}{{{{$externalLabels := .ExternalLabels}}}}{{{{$externalURL := .ExternalURL}}}}{{{{$value := .Value}}}}{text}"
    );
    let adapt = |q: &str, t: i64| -> Result<Vec<Sample>, String> {
        query(q, t).map(|v| v.into_iter().map(Sample::from).collect())
    };
    Expander::new(name, &full, data.to_value(), ts_ms, data.external_url)
        .with_query(&adapt)
        .expand()
}

/// Like [`expand_alert_field`], but a failure becomes the text Prometheus stores in its
/// place: `<error expanding template: …>`.
pub fn expand_alert_field_lossy(
    name: &str,
    text: &str,
    data: &AlertData<'_>,
    ts_ms: i64,
    query: QueryFn<'_>,
) -> String {
    expand_alert_field(name, text, data, ts_ms, query)
        .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
}

/// Prometheus's `template.Expander`: one template text, its data, the expansion time and
/// external URL, and optionally a query function.
pub struct Expander<'a> {
    name: String,
    text: String,
    data: Value,
    now_ms: i64,
    external_url: String,
    query: Option<SampleQueryFn<'a>>,
    options: Vec<String>,
    limits: Limits,
}

impl<'a> Expander<'a> {
    pub fn new(name: &str, text: &str, data: Value, now_ms: i64, external_url: &str) -> Self {
        Expander {
            name: name.to_string(),
            text: text.to_string(),
            data,
            now_ms,
            external_url: external_url.to_string(),
            query: None,
            options: Vec::new(),
            limits: Limits::default(),
        }
    }

    pub fn with_query(mut self, q: SampleQueryFn<'a>) -> Self {
        self.query = Some(q);
        self
    }

    /// Go template options such as `missingkey=error`.
    pub fn with_options(mut self, options: &[&str]) -> Self {
        self.options = options.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The functions Prometheus registers for this expansion.
    pub fn func_map(&self) -> FuncMap<'a> {
        funcs(self.now_ms, &self.external_url, self.query)
    }

    fn build(&self, mode: Mode) -> Result<Template<'a>, TemplateError> {
        let mut t = Template::new(&self.name);
        t.funcs(self.func_map()).mode(mode).limits(self.limits);
        if mode == Mode::Html {
            let mut extra = FuncMap::new();
            extra.insert(
                "tmpl",
                Function::new(&[Ty::Str, Ty::Any], None, |ctx, a| {
                    let name = a[0].as_str().unwrap_or("");
                    ctx.execute_template(name, a[1].clone())
                        .map(|s| Value::Html(Rc::from(s)))
                }),
            );
            t.funcs(extra);
        }
        for o in &self.options {
            t.option(o)?;
        }
        Ok(t)
    }

    fn wrap_parse(&self, e: TemplateError) -> TemplateError {
        TemplateError::ExpandParse {
            name: self.name.clone(),
            source: Box::new(e),
        }
    }

    fn wrap_exec(&self, e: TemplateError) -> TemplateError {
        TemplateError::ExpandExec {
            name: self.name.clone(),
            source: Box::new(e),
        }
    }

    /// Expands in text mode (`Expand`).
    pub fn expand(&self) -> Result<String, TemplateError> {
        let mut t = self.build(Mode::Text)?;
        t.parse(&self.text).map_err(|e| self.wrap_parse(e))?;
        t.execute(self.data.clone()).map_err(|e| self.wrap_exec(e))
    }

    /// Expands in HTML mode (`ExpandHTML`), with extra named template sources available
    /// to `{{template}}` and `tmpl`.
    pub fn expand_html(&self, extra_templates: &[(&str, &str)]) -> Result<String, TemplateError> {
        let mut t = self.build(Mode::Html)?;
        t.parse(&self.text).map_err(|e| self.wrap_parse(e))?;
        for (name, src) in extra_templates {
            let mut sub = self.build(Mode::Html)?;
            sub.name = name.to_string();
            sub.parse(src).map_err(|e| self.wrap_parse(e))?;
            t.trees.extend(sub.trees);
        }
        t.execute(self.data.clone()).map_err(|e| self.wrap_exec(e))
    }
}
