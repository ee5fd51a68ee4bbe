//! How alert labels and annotations are templated. The evaluator and the rule-file
//! checker see only the [`Templates`] trait, so they can be tested without a template
//! engine; [`GoTemplates`] is the real one, backed by `pharos_template`.

use std::collections::BTreeMap;

/// The data one alert's templates see: `$labels`, `$externalLabels`, `$externalURL`,
/// `$value`.
#[derive(Clone, Debug)]
pub struct AlertContext<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub value: f64,
}

/// One sample a template's `query` function returns.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateSample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The `query` function templates may call: an instant query at a millisecond time.
pub type TemplateQuery<'a> = &'a dyn Fn(&str, i64) -> Result<Vec<TemplateSample>, String>;

/// A template language for alert labels and annotations.
pub trait Templates: Send + Sync {
    /// Whether `text` parses; `rule` is the alert's name (for messages).
    fn check(&self, rule: &str, text: &str) -> Result<(), String>;

    /// Expands `text` for one alert at `ts_ms`.
    fn expand(
        &self,
        rule: &str,
        text: &str,
        ctx: &AlertContext<'_>,
        ts_ms: i64,
        query: TemplateQuery<'_>,
    ) -> Result<String, String>;
}

/// Takes every text as written: for rule sets whose labels and annotations hold no
/// template actions, and for tests of the evaluator itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Verbatim;

impl Templates for Verbatim {
    fn check(&self, _rule: &str, _text: &str) -> Result<(), String> {
        Ok(())
    }

    fn expand(
        &self,
        _rule: &str,
        text: &str,
        _ctx: &AlertContext<'_>,
        _ts_ms: i64,
        _query: TemplateQuery<'_>,
    ) -> Result<String, String> {
        Ok(text.to_string())
    }
}

/// Go templates as Prometheus runs them, through `pharos_template`: the usual
/// `$labels`, `$externalLabels`, `$externalURL` and `$value` variables and Prometheus's
/// function set (`humanize`, `query`, …). Template names are `__alert_<rule>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GoTemplates;

/// The variable definitions Prometheus puts before every alert template.
const ALERT_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

impl Templates for GoTemplates {
    fn check(&self, rule: &str, text: &str) -> Result<(), String> {
        let name = format!("__alert_{rule}");
        let mut t = pharos_template::Template::new(&name);
        t.funcs(pharos_template::prometheus::funcs(0, "", None));
        t.parse(&format!("{ALERT_DEFS}{text}"))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn expand(
        &self,
        rule: &str,
        text: &str,
        ctx: &AlertContext<'_>,
        ts_ms: i64,
        query: TemplateQuery<'_>,
    ) -> Result<String, String> {
        let data = pharos_template::prometheus::AlertData {
            labels: ctx.labels,
            external_labels: ctx.external_labels,
            external_url: ctx.external_url,
            value: ctx.value,
        };
        let q =
            |expr: &str, t: i64| -> Result<Vec<pharos_template::prometheus::QuerySample>, String> {
                query(expr, t).map(|v| {
                    v.into_iter()
                        .map(|s| pharos_template::prometheus::QuerySample {
                            labels: s.labels,
                            value: s.value,
                        })
                        .collect()
                })
            };
        pharos_template::prometheus::expand_alert_field(
            &format!("__alert_{rule}"),
            text,
            &data,
            ts_ms,
            &q,
        )
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_templates_expand_labels_and_value() {
        let labels: BTreeMap<String, String> = [("instance".to_string(), "a:1".to_string())].into();
        let ext = BTreeMap::new();
        let ctx = AlertContext {
            labels: &labels,
            external_labels: &ext,
            external_url: "http://x",
            value: 0.5,
        };
        let none = |_: &str, _: i64| -> Result<Vec<TemplateSample>, String> { Ok(Vec::new()) };
        let out = GoTemplates
            .expand(
                "A",
                "{{ $labels.instance }} at {{ $value | humanizePercentage }}",
                &ctx,
                0,
                &none,
            )
            .unwrap();
        assert_eq!(out, "a:1 at 50%");
        assert!(GoTemplates.check("A", "{{ $label.foo }}").is_err());
        assert!(GoTemplates.check("A", "{{ $labels.foo }}").is_ok());
    }
}
