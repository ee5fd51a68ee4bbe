//! Prometheus expansion behaviours beyond the shared conformance data.

use std::collections::BTreeMap;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn no_query(_: &str, _: i64) -> Result<Vec<QuerySample>, String> {
    Ok(Vec::new())
}

#[test]
fn alert_fields_see_labels_value_and_external_data() {
    let l = labels(&[("instance", "host:9100"), ("job", "node")]);
    let ext = labels(&[("cluster", "eu1")]);
    let data = AlertData {
        labels: &l,
        external_labels: &ext,
        external_url: "http://prom.example/x",
        value: 0.8734,
    };
    let text = "{{ $labels.instance | stripPort }} of {{ $labels.job }} at {{ $value | humanizePercentage }} \
                in {{ $externalLabels.cluster }} ({{ $externalURL }}){{ $labels.missing }}";
    let out = expand_alert_field("__alert_X", text, &data, 0, &no_query).unwrap();
    assert_eq!(out, "host of node at 87.34% in eu1 (http://prom.example/x)");
    assert_eq!(
        expand_alert_field("__alert_X", "{{ .Value }}", &data, 0, &no_query).unwrap(),
        "0.8734"
    );
}

#[test]
fn alert_fields_run_queries_at_the_evaluation_time() {
    let l = BTreeMap::new();
    let data = AlertData {
        labels: &l,
        external_labels: &l,
        external_url: "",
        value: 1.0,
    };
    let q = |expr: &str, ts: i64| -> Result<Vec<QuerySample>, String> {
        if expr == "bad" {
            return Err("parse error".into());
        }
        Ok(vec![QuerySample {
            labels: labels(&[("q", expr)]),
            value: ts as f64,
        }])
    };
    let out = expand_alert_field(
        "a",
        "{{ with query \"up\" }}{{ . | first | value }} {{ (index . 0).Labels.q }}{{ end }}",
        &data,
        42,
        &q,
    );
    assert_eq!(out.unwrap(), "42 up");
    let e = expand_alert_field("a", "{{ query \"bad\" }}", &data, 42, &q).unwrap_err();
    assert!(
        e.to_string().ends_with("error calling query: parse error"),
        "{e}"
    );
    let lossy = expand_alert_field_lossy("a", "{{ query \"bad\" }}", &data, 42, &q);
    assert!(
        lossy.starts_with("<error expanding template: error executing template a: template: a:"),
        "{lossy}"
    );
}

#[test]
fn parse_errors_are_wrapped_like_prometheus() {
    let e = Expander::new("t", "{{ nosuch }}", Value::Nil, 0, "")
        .expand()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "error parsing template t: template: t:1: function \"nosuch\" not defined"
    );
    let e = Expander::new("t", "{{ tmpl \"x\" . }}", Value::Nil, 0, "")
        .expand()
        .unwrap_err();
    assert!(
        e.to_string().contains("function \"tmpl\" not defined"),
        "tmpl exists only in HTML mode"
    );
}

#[test]
fn html_mode_with_extra_templates() {
    let exp = Expander::new(
        "page",
        "{{ template \"head\" \"<T>\" }}|{{ tmpl \"head\" \"<U>\" }}",
        Value::Nil,
        0,
        "",
    );
    let out = exp
        .expand_html(&[("lib.html", "{{ define \"head\" }}<h1>{{ . }}</h1>{{ end }}")])
        .unwrap();
    assert_eq!(out, "<h1>&lt;T&gt;</h1>|<h1>&lt;U&gt;</h1>");
}

#[test]
fn function_details() {
    let run =
        |t: &str| Expander::new("t", t, Value::Nil, 1_353_755_652_000, "https://h/p?x=1").expand();
    assert_eq!(run("{{ parseDuration \"1y2w\" }}").unwrap(), "3.27456e+07");
    assert!(run("{{ parseDuration \"1m1h\" }}")
        .unwrap_err()
        .to_string()
        .ends_with("not a valid duration string: \"1m1h\""));
    assert_eq!(run("{{ pathPrefix }}").unwrap(), "/p");
    assert_eq!(
        run("{{ graphLink \"rate(x[5m])\" }}").unwrap(),
        "/graph?g0.expr=rate%28x%5B5m%5D%29&g0.tab=0"
    );
    assert_eq!(
        run("{{ reReplaceAll \"\\\\d+\" \"#\" \"a1b22\" }}").unwrap(),
        "a#b#"
    );
    assert!(run("{{ reReplaceAll \"(\" \"\" \"\" }}")
        .unwrap_err()
        .to_string()
        .contains("error calling reReplaceAll: regexp: Compile(`(`)"));
    assert_eq!(
        run("{{ humanize1024 1023 }} {{ humanize 0.000001234 }} {{ humanizeDuration 0.5 }}")
            .unwrap(),
        "1023 1.234u 500ms"
    );
    assert_eq!(
        run("{{ title \"hello go-world_x\" }}").unwrap(),
        "Hello Go-World_x"
    );
    assert!(run("{{ humanize . }}")
        .unwrap_err()
        .to_string()
        .ends_with("can't convert <nil> to float"));
    assert!(run("{{ first \"x\" }}")
        .unwrap_err()
        .to_string()
        .ends_with("can't handle \"x\" for arg of type template.queryResult"));
}

#[test]
fn recursion_through_tmpl_is_bounded() {
    let text = "{{ define \"a\" }}{{ tmpl \"a\" ((((((.)))))) }}{{ end }}{{ tmpl \"a\" . }}";
    let e = Expander::new("t", text, Value::Nil, 0, "")
        .expand_html(&[])
        .unwrap_err();
    assert!(
        e.to_string().contains("exceeded maximum template depth"),
        "{e}"
    );
}
