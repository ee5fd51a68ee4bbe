//! Conformance against Prometheus's template test data (`template-functions.tsv` and
//! `template-expansion-cases.yaml` under the shared conformance folder).

use std::collections::BTreeMap;
use std::rc::Rc;

use pharos_template::prometheus::{Expander, Sample, SampleValue};
use pharos_template::value::List;
use pharos_template::{Histogram, Value};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/prometheus-templates"
);

const NOW_MS: i64 = 1_353_755_652_000;
const EXTERNAL_URL: &str = "http://testhost:9090/path/prefix";

/// Splits one tab-separated line, honouring CSV-style double quotes.
fn split_tsv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in line.split('\t') {
        if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
            out.push(raw[1..raw.len() - 1].replace("\"\"", "\""));
        } else {
            out.push(raw.to_string());
        }
    }
    out
}

fn typed_input(ty: &str, input: &str) -> Value {
    match ty {
        "float64" => Value::Float(input.parse::<f64>().unwrap_or(f64::NAN)),
        "int" | "int64" => Value::Int(input.parse().unwrap_or(0)),
        "uint" | "uint64" => Value::Uint(input.parse().unwrap_or(0)),
        _ => Value::str(input),
    }
}

fn substitute_x(tpl: &str) -> String {
    let re = regex::Regex::new(r"\bX\b").unwrap();
    re.replace_all(tpl, ".").into_owned()
}

fn function_case(cols: &[String]) -> (String, Value) {
    let (func, ty, input, notes) = (
        &cols[0],
        &cols[1],
        &cols[2],
        cols.get(4).cloned().unwrap_or_default(),
    );
    if let (Some(a), Some(b)) = (notes.find("{{"), notes.rfind("}}")) {
        return (substitute_x(&notes[a..b + 2]), typed_input(ty, input));
    }
    if notes.contains("piped in") {
        return (format!("{{{{ {input} | {func} }}}}"), Value::Nil);
    }
    if input == "-" {
        return (format!("{{{{ {func} }}}}"), Value::Nil);
    }
    (format!("{{{{ {func} . }}}}"), typed_input(ty, input))
}

#[test]
fn template_functions_tsv() {
    let text = std::fs::read_to_string(format!("{DIR}/template-functions.tsv")).expect("read tsv");
    let mut header_seen = false;
    let (mut pass, mut total) = (0, 0);
    let mut misses = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header_seen {
            header_seen = true;
            continue;
        }
        let cols = split_tsv(line);
        total += 1;
        let (tpl, data) = function_case(&cols);
        let expected = &cols[3];
        let got = Expander::new("test", &tpl, data, NOW_MS, EXTERNAL_URL).expand();
        let good = match (expected.strip_prefix("ERROR: "), &got) {
            (Some(want), Err(e)) => e.to_string().contains(want),
            (None, Ok(out)) => out == expected,
            _ => false,
        };
        if good {
            pass += 1;
        } else {
            misses.push(format!(
                "{tpl} [{}={}]: want {expected:?}, got {got:?}",
                cols[1], cols[2]
            ));
        }
    }
    println!("template-functions.tsv: {pass}/{total}");
    assert!(misses.is_empty(), "misses:\n{}", misses.join("\n"));
}

fn yaml_f64(v: &serde_yaml::Value) -> f64 {
    match v {
        serde_yaml::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        serde_yaml::Value::String(s) => match s.as_str() {
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            _ => s.parse().unwrap_or(f64::NAN),
        },
        _ => f64::NAN,
    }
}

fn yaml_histogram(v: &serde_yaml::Value) -> Histogram {
    Histogram {
        count: yaml_f64(&v["count"]),
        sum: yaml_f64(&v["sum"]),
        buckets: Vec::new(),
    }
}

fn yaml_labels(v: &serde_yaml::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let serde_yaml::Value::Mapping(m) = v {
        for (k, val) in m {
            let k = k.as_str().unwrap_or("").to_string();
            let val = match val {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            out.insert(k, val);
        }
    }
    out
}

fn case_data(v: &serde_yaml::Value) -> Value {
    if let Some(h) = v.get("sample_value_histogram") {
        return Value::record(
            "*template.sample",
            vec![
                ("Labels", Value::string_map(BTreeMap::new())),
                ("Value", Value::Histogram(Rc::new(yaml_histogram(h)))),
            ],
        );
    }
    if let Some(serde_yaml::Value::Sequence(items)) = v.get("float64_list") {
        return Value::List(Rc::new(List {
            type_name: "[]float64".into(),
            items: items.iter().map(|x| Value::Float(yaml_f64(x))).collect(),
        }));
    }
    Value::Nil
}

fn case_samples(v: &serde_yaml::Value) -> Vec<Sample> {
    let serde_yaml::Value::Sequence(rows) = v else {
        return Vec::new();
    };
    rows.iter()
        .map(|r| Sample {
            labels: yaml_labels(&r["labels"]),
            value: match r.get("histogram") {
                Some(h) => SampleValue::Histogram(yaml_histogram(h)),
                None => SampleValue::Float(yaml_f64(&r["value"])),
            },
            timestamp_ms: r.get("t").and_then(serde_yaml::Value::as_i64),
        })
        .collect()
}

#[test]
fn template_expansion_cases_yaml() {
    let text =
        std::fs::read_to_string(format!("{DIR}/template-expansion-cases.yaml")).expect("read yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("parse yaml");
    let defaults = &doc["defaults"];
    let now = defaults["expansion_time_ms"].as_i64().unwrap_or(NOW_MS);
    let url = defaults["external_url"]
        .as_str()
        .unwrap_or(EXTERNAL_URL)
        .to_string();
    let name = defaults["template_name"]
        .as_str()
        .unwrap_or("test")
        .to_string();
    let cases = doc["cases"].as_sequence().cloned().unwrap_or_default();
    let (mut pass, total) = (0, cases.len());
    let mut misses = Vec::new();
    for c in &cases {
        let id = c["id"].as_str().unwrap_or("?");
        let text = c["text"].as_str().unwrap_or("");
        let data = c.get("data").map(case_data).unwrap_or(Value::Nil);
        let rows = c.get("query_result").map(case_samples).unwrap_or_default();
        let query = move |_: &str, _: i64| -> Result<Vec<Sample>, String> { Ok(rows.clone()) };
        let options: Vec<String> = c
            .get("options")
            .and_then(|o| o.as_sequence())
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let opt_refs: Vec<&str> = options.iter().map(String::as_str).collect();
        let exp = Expander::new(&name, text, data, now, &url)
            .with_query(&query)
            .with_options(&opt_refs);
        let got = if c["mode"].as_str() == Some("html") {
            exp.expand_html(&[])
        } else {
            exp.expand()
        };
        let good = match (
            c.get("output").and_then(|o| o.as_str()),
            c.get("error").and_then(|e| e.as_str()),
            &got,
        ) {
            (Some(want), _, Ok(out)) => out == want,
            (_, Some(want), Err(e)) => e.to_string() == want,
            _ => false,
        };
        if good {
            pass += 1;
        } else {
            misses.push(format!(
                "{id}: {text:?}: want output={:?} error={:?}, got {got:?}",
                c.get("output"),
                c.get("error")
            ));
        }
    }
    println!("template-expansion-cases.yaml: {pass}/{total}");
    assert!(misses.is_empty(), "misses:\n{}", misses.join("\n"));
}
