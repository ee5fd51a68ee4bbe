//! Relabeling tests. Expected results are Prometheus's: the cases from its
//! `model/relabel` tests transcribed as data, plus cases for each default and option.

use std::collections::HashSet;

use pharos_model::labels::is_valid_label_name;
use pharos_model::Labels;
use proptest::prelude::*;

use super::*;

type Pairs = &'static [(&'static str, &'static str)];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn parse(yaml: &str) -> Vec<RelabelConfig> {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("rules do not parse: {e}\n{yaml}"))
}

/// One relabeling case: rules in prometheus.yml syntax, `want: None` = dropped.
struct Case {
    name: &'static str,
    input: Pairs,
    rules: &'static str,
    want: Option<Pairs>,
}

const CASES: &[Case] = &[
    // ---- replace ----
    Case {
        name: "replace with ${1} twice",
        input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
        rules: r#"
- source_labels: [a]
  regex: f(.*)
  target_label: d
  separator: ";"
  replacement: ch${1}-ch${1}
"#,
        want: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
    },
    Case {
        name: "replace chains: second step sees the first's output",
        input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
        rules: r#"
- source_labels: [a, b]
  regex: f(.*);(.*)r
  target_label: a
  replacement: b${1}${2}m
- source_labels: [c, a]
  regex: (b).*b(.*)ba(.*)
  target_label: d
  replacement: $1$2$2$3
"#,
        want: Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
    },
    Case {
        name: "replace with a group in the middle",
        input: &[("a", "abc")],
        rules: r#"
- source_labels: [a]
  regex: .*(b).*
  target_label: d
"#,
        want: Some(&[("a", "abc"), ("d", "b")]),
    },
    Case {
        name: "replace does nothing without a match",
        input: &[("a", "boo")],
        rules: r#"
- source_labels: [a]
  regex: f
  target_label: b
  replacement: bar
"#,
        want: Some(&[("a", "boo")]),
    },
    Case {
        name: "replace with an empty expansion deletes the templated target",
        input: &[("a", "foo"), ("f", "baz")],
        rules: r#"
- source_labels: [a]
  regex: (f).*
  target_label: $1
  replacement: $2
"#,
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "replace with templated target and value",
        input: &[("a", "some-name-value")],
        rules: r#"
- source_labels: [a]
  regex: some-([^-]+)-([^,]+)
  replacement: ${2}
  target_label: ${1}
"#,
        want: Some(&[("a", "some-name-value"), ("name", "value")]),
    },
    Case {
        name: "replace with a replacement naming an absent group writes nothing",
        input: &[("a", "some-name-value")],
        rules: r#"
- source_labels: [a]
  regex: some-([^-]+)-([^,]+)
  replacement: ${3}
  target_label: ${1}
"#,
        want: Some(&[("a", "some-name-value")]),
    },
    Case {
        name: "replace skips targets that expand to invalid names",
        input: &[("a", "some-name-0")],
        rules: r#"
- source_labels: [a]
  regex: some-([^-]+)-([^,]+)
  replacement: ${1}
  target_label: ${3}
- source_labels: [a]
  regex: some-([^-]+)-([^,]+)
  replacement: ${1}
  target_label: ${2}
- source_labels: [a]
  regex: some-([^-]+)(-[^,]+)
  replacement: ${1}
  target_label: ${3}
"#,
        want: Some(&[("a", "some-name-0")]),
    },
    Case {
        name: "replace: real-life tag parsing into __metrics_path__, job and a dynamic label",
        input: &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
        rules: r#"
- source_labels: [__meta_sd_tags]
  regex: "(?:.+,|^)path:(/[^,]+).*"
  replacement: ${1}
  target_label: __metrics_path__
- source_labels: [__meta_sd_tags]
  regex: "(?:.+,|^)job:([^,]+).*"
  replacement: ${1}
  target_label: job
- source_labels: [__meta_sd_tags]
  regex: "(?:.+,|^)label:([^=]+)=([^,]+).*"
  replacement: ${2}
  target_label: ${1}
"#,
        want: Some(&[
            ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
            ("__metrics_path__", "/secret"),
            ("foo", "bar"),
            ("job", "some-job"),
        ]),
    },
    Case {
        name: "replace: `.` matches newlines (regex is wrapped in (?s:))",
        input: &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
        rules: r#"
- source_labels: [a]
  regex: line1.*line2
  target_label: d
  replacement: match${1}
"#,
        want: Some(&[
            ("a", "line1\nline2"),
            ("b", "bar"),
            ("c", "baz"),
            ("d", "match"),
        ]),
    },
    Case {
        name: "replace with named groups in both $name and ${name} form",
        input: &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
        rules: r#"
- source_labels: [a]
  regex: (line1).*(?<second>line2)
  target_label: label1_${1}
  replacement: val_${second}
- source_labels: [a]
  regex: (line1).*(?P<second>line2)
  target_label: label2_$1
  replacement: val_$second
"#,
        want: Some(&[
            ("a", "line1\nline2"),
            ("b", "bar"),
            ("c", "baz"),
            ("label1_line1", "val_line2"),
            ("label2_line1", "val_line2"),
        ]),
    },
    Case {
        name: "replace defaults: regex (.*), replacement $1 copy the source value",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [a]
  target_label: b
"#,
        want: Some(&[("a", "foo"), ("b", "foo")]),
    },
    Case {
        name: "replace defaults: copying an absent label deletes the target",
        input: &[("a", "foo"), ("b", "old")],
        rules: r#"
- source_labels: [missing]
  target_label: b
"#,
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "replace without source labels sets a static value",
        input: &[("a", "foo")],
        rules: r#"
- target_label: env
  replacement: prod
"#,
        want: Some(&[("a", "foo"), ("env", "prod")]),
    },
    Case {
        name: "replace overwrites an existing value",
        input: &[("env", "dev")],
        rules: r#"
- target_label: env
  replacement: prod
"#,
        want: Some(&[("env", "prod")]),
    },
    Case {
        name: "replace on an empty label set",
        input: &[],
        rules: r#"
- target_label: cluster
  replacement: dev-us-central-0
"#,
        want: Some(&[("cluster", "dev-us-central-0")]),
    },
    Case {
        name: "default separator is ; and absent labels join as empty",
        input: &[("a", "foo"), ("b", "bar")],
        rules: r#"
- source_labels: [a, b]
  target_label: ab
- source_labels: [a, missing, b]
  target_label: amb
"#,
        want: Some(&[
            ("a", "foo"),
            ("ab", "foo;bar"),
            ("amb", "foo;;bar"),
            ("b", "bar"),
        ]),
    },
    Case {
        name: "custom and empty separators",
        input: &[("a", "foo"), ("b", "bar")],
        rules: r#"
- source_labels: [a, b]
  separator: /
  target_label: slash
- source_labels: [a, b]
  separator: ""
  target_label: glued
"#,
        want: Some(&[
            ("a", "foo"),
            ("b", "bar"),
            ("glued", "foobar"),
            ("slash", "foo/bar"),
        ]),
    },
    Case {
        name: "$1x names group `1x` (absent, so the target is deleted); ${1}x does not",
        input: &[("a", "foo"), ("x", "old")],
        rules: r#"
- source_labels: [a]
  target_label: x
  replacement: $1x
- source_labels: [a]
  target_label: y
  replacement: ${1}x
"#,
        want: Some(&[("a", "foo"), ("y", "foox")]),
    },
    Case {
        name: "$$ is a literal dollar and a stray $ is kept",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [a]
  target_label: b
  replacement: $$1-$-${
"#,
        want: Some(&[("a", "foo"), ("b", "$1-$-${")]),
    },
    Case {
        name: "$0 is the whole match",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [a]
  regex: f(o)o
  target_label: b
  replacement: <$0|$1>
"#,
        want: Some(&[("a", "foo"), ("b", "<foo|o>")]),
    },
    Case {
        name: "regex is anchored: a partial match is no match",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [a]
  regex: o+
  target_label: b
  replacement: matched
"#,
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "explicit empty regex matches only the empty value",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [missing]
  regex: ""
  target_label: b
  replacement: was-empty
- source_labels: [a]
  regex: ""
  target_label: c
  replacement: never
"#,
        want: Some(&[("a", "foo"), ("b", "was-empty")]),
    },
    Case {
        name: "inline flags work inside the anchoring",
        input: &[("a", "FOO")],
        rules: r#"
- source_labels: [a]
  regex: (?i)f(o+)
  target_label: b
"#,
        want: Some(&[("a", "FOO"), ("b", "OO")]),
    },
    Case {
        name: "rewrite __address__ to another port",
        input: &[("__address__", "10.0.0.1:8080")],
        rules: r#"
- source_labels: [__address__]
  regex: '([^:]+)(?::\d+)?'
  replacement: ${1}:9100
  target_label: __address__
"#,
        want: Some(&[("__address__", "10.0.0.1:9100")]),
    },
    Case {
        name: "scheme, path and port from pod annotations (kubernetes example)",
        input: &[
            ("__address__", "10.132.183.40:80"),
            ("__meta_kubernetes_pod_annotation_prometheus_io_path", "/m"),
            (
                "__meta_kubernetes_pod_annotation_prometheus_io_port",
                "9102",
            ),
            (
                "__meta_kubernetes_pod_annotation_prometheus_io_scheme",
                "https",
            ),
            ("__metrics_path__", "/metrics"),
            ("__scheme__", "http"),
        ],
        rules: r#"
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scheme]
  target_label: __scheme__
  regex: (https?)
  replacement: $1
  action: replace
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
  target_label: __metrics_path__
  regex: (.+)
- source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
  target_label: __address__
  regex: (.+?)(\:\d+)?;(\d+)
  replacement: $1:$3
"#,
        want: Some(&[
            ("__address__", "10.132.183.40:9102"),
            ("__meta_kubernetes_pod_annotation_prometheus_io_path", "/m"),
            (
                "__meta_kubernetes_pod_annotation_prometheus_io_port",
                "9102",
            ),
            (
                "__meta_kubernetes_pod_annotation_prometheus_io_scheme",
                "https",
            ),
            ("__metrics_path__", "/m"),
            ("__scheme__", "https"),
        ]),
    },
    Case {
        name: "no rules: the input comes back unchanged",
        input: &[("__address__", "h:1"), ("a", "foo")],
        rules: "[]",
        want: Some(&[("__address__", "h:1"), ("a", "foo")]),
    },
    Case {
        name: "input labels with empty values are removed",
        input: &[("a", "foo"), ("empty", "")],
        rules: r#"
- source_labels: [empty]
  regex: ""
  action: keep
"#,
        want: Some(&[("a", "foo")]),
    },
    // ---- keep / drop ----
    Case {
        name: "drop on match stops processing",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [a]
  regex: .*o.*
  action: drop
- source_labels: [a]
  regex: f(.*)
  target_label: d
  replacement: ch$1-ch$1
"#,
        want: None,
    },
    Case {
        name: "drop on match",
        input: &[("a", "foo"), ("b", "bar")],
        rules: r#"
- source_labels: [a]
  regex: .*o.*
  action: drop
"#,
        want: None,
    },
    Case {
        name: "drop without a match keeps",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [a]
  regex: no-match
  action: drop
"#,
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "drop: alternation is anchored as a whole",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [a]
  regex: f|o
  action: drop
"#,
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "drop with the default regex drops everything",
        input: &[("a", "foo")],
        rules: "- action: drop\n",
        want: None,
    },
    Case {
        name: "drop on an empty value (absent label) with regex \"\"",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [missing]
  regex: ""
  action: drop
"#,
        want: None,
    },
    Case {
        name: "keep without a match drops",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [a]
  regex: no-match
  action: keep
"#,
        want: None,
    },
    Case {
        name: "keep with a match keeps",
        input: &[("a", "foo")],
        rules: r#"
- source_labels: [a]
  regex: f.*
  action: keep
"#,
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "keep matches the joined values",
        input: &[("a", "foo"), ("b", "bar")],
        rules: r#"
- source_labels: [a, b]
  regex: foo;bar
  action: keep
- source_labels: [a, b]
  separator: "-"
  regex: foo-bar
  action: Keep
"#,
        want: Some(&[("a", "foo"), ("b", "bar")]),
    },
    Case {
        name: "labeldrop, then replace recreates the label, then keep (prometheus#12283)",
        input: &[
            ("__meta_kubernetes_pod_container_port_name", "foo"),
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
        ],
        rules: r#"
- regex: ^__meta_kubernetes_pod_container_port_name$
  action: labeldrop
- source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port]
  regex: (.+)
  replacement: metrics
  target_label: __meta_kubernetes_pod_container_port_name
- source_labels: [__meta_kubernetes_pod_container_port_name]
  regex: ^metrics$
  action: keep
"#,
        want: Some(&[
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ("__meta_kubernetes_pod_container_port_name", "metrics"),
        ]),
    },
    // ---- keepequal / dropequal ----
    Case {
        name: "keepequal with equal values keeps",
        input: &[
            ("__tmp_port", "1234"),
            ("__port1", "1234"),
            ("__port2", "5678"),
        ],
        rules: r#"
- source_labels: [__tmp_port]
  action: keepequal
  target_label: __port1
"#,
        want: Some(&[
            ("__port1", "1234"),
            ("__port2", "5678"),
            ("__tmp_port", "1234"),
        ]),
    },
    Case {
        name: "keepequal with different values drops",
        input: &[
            ("__tmp_port", "1234"),
            ("__port1", "1234"),
            ("__port2", "5678"),
        ],
        rules: r#"
- source_labels: [__tmp_port]
  action: keepequal
  target_label: __port2
"#,
        want: None,
    },
    Case {
        name: "dropequal with equal values drops",
        input: &[
            ("__tmp_port", "1234"),
            ("__port1", "1234"),
            ("__port2", "5678"),
        ],
        rules: r#"
- source_labels: [__tmp_port]
  action: dropequal
  target_label: __port1
"#,
        want: None,
    },
    Case {
        name: "dropequal with different values keeps",
        input: &[
            ("__tmp_port", "1234"),
            ("__port1", "1234"),
            ("__port2", "5678"),
        ],
        rules: r#"
- source_labels: [__tmp_port]
  action: dropequal
  target_label: __port2
"#,
        want: Some(&[
            ("__port1", "1234"),
            ("__port2", "5678"),
            ("__tmp_port", "1234"),
        ]),
    },
    Case {
        name: "keepequal compares the ;-joined sources; absent equals empty",
        input: &[("a", "x"), ("b", "y"), ("ab", "x;y")],
        rules: r#"
- source_labels: [a, b]
  action: keepequal
  target_label: ab
- source_labels: [missing]
  action: keepequal
  target_label: also_missing
"#,
        want: Some(&[("a", "x"), ("ab", "x;y"), ("b", "y")]),
    },
    Case {
        name: "dropequal: absent source and absent target are equal",
        input: &[("a", "x")],
        rules: r#"
- source_labels: [missing]
  action: dropequal
  target_label: also_missing
"#,
        want: None,
    },
    // ---- hashmod ----
    Case {
        name: "hashmod",
        input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
        rules: r#"
- source_labels: [c]
  target_label: d
  action: hashmod
  modulus: 1000
"#,
        want: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
    },
    Case {
        name: "hashmod of a value with a newline",
        input: &[("a", "foo\nbar")],
        rules: r#"
- source_labels: [a]
  target_label: b
  action: hashmod
  modulus: 1000
"#,
        want: Some(&[("a", "foo\nbar"), ("b", "734")]),
    },
    Case {
        name: "hashmod hashes the joined values, with the configured separator",
        input: &[("a", "foo"), ("b", "bar")],
        rules: r#"
- source_labels: [a, b]
  target_label: h
  action: hashmod
  modulus: 7
- source_labels: [missing]
  target_label: empty
  action: hashmod
  modulus: 1000
- source_labels: [a]
  target_label: one
  action: HashMod
  modulus: 1
"#,
        want: Some(&[
            ("a", "foo"),
            ("b", "bar"),
            ("empty", "958"),
            ("h", "6"),
            ("one", "0"),
        ]),
    },
    Case {
        name: "hashmod with the largest modulus",
        input: &[("a", "x")],
        rules: r#"
- source_labels: [a]
  target_label: h
  action: hashmod
  modulus: 18446744073709551615
"#,
        want: Some(&[("a", "x"), ("h", "17710500428000290726")]),
    },
    Case {
        name: "sharding with __tmp_hash: keep shard 0, then drop the scratch label",
        input: &[("__address__", "a:2"), ("job", "j")],
        rules: r#"
- source_labels: [__address__]
  target_label: __tmp_hash
  modulus: 3
  action: hashmod
- source_labels: [__tmp_hash]
  regex: ^0$
  action: keep
- regex: __tmp_hash
  action: labeldrop
"#,
        want: Some(&[("__address__", "a:2"), ("job", "j")]),
    },
    Case {
        name: "sharding: other shards are dropped",
        input: &[("__address__", "10.132.183.40:80")],
        rules: r#"
- source_labels: [__address__]
  target_label: __tmp_hash
  modulus: 3
  action: hashmod
- source_labels: [__tmp_hash]
  regex: ^0$
  action: keep
"#,
        want: None,
    },
    // ---- labelmap ----
    Case {
        name: "labelmap with a prefix",
        input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        rules: r#"
- regex: (b.*)
  replacement: bar_${1}
  action: labelmap
"#,
        want: Some(&[
            ("a", "foo"),
            ("b1", "bar"),
            ("b2", "baz"),
            ("bar_b1", "bar"),
            ("bar_b2", "baz"),
        ]),
    },
    Case {
        name: "labelmap strips a __meta_ prefix",
        input: &[
            ("a", "foo"),
            ("__meta_my_bar", "aaa"),
            ("__meta_my_baz", "bbb"),
            ("__meta_other", "ccc"),
        ],
        rules: r#"
- regex: __meta_(my.*)
  replacement: ${1}
  action: labelmap
"#,
        want: Some(&[
            ("__meta_my_bar", "aaa"),
            ("__meta_my_baz", "bbb"),
            ("__meta_other", "ccc"),
            ("a", "foo"),
            ("my_bar", "aaa"),
            ("my_baz", "bbb"),
        ]),
    },
    Case {
        name: "labelmap with the default replacement $1",
        input: &[("__meta_kubernetes_pod_label_app", "web"), ("job", "j")],
        rules: r#"
- regex: __meta_kubernetes_pod_label_(.+)
  action: labelmap
"#,
        want: Some(&[
            ("__meta_kubernetes_pod_label_app", "web"),
            ("app", "web"),
            ("job", "j"),
        ]),
    },
    Case {
        name: "labelmap into __param_ labels",
        input: &[(
            "__meta_kubernetes_pod_annotation_prometheus_io_param_module",
            "http_2xx",
        )],
        rules: r#"
- regex: __meta_kubernetes_pod_annotation_prometheus_io_param_(.+)
  replacement: __param_$1
  action: labelmap
"#,
        want: Some(&[
            (
                "__meta_kubernetes_pod_annotation_prometheus_io_param_module",
                "http_2xx",
            ),
            ("__param_module", "http_2xx"),
        ]),
    },
    Case {
        name: "labelmap collisions: the label visited last (by name) wins",
        input: &[("x_a", "1"), ("y_a", "2")],
        rules: r#"
- regex: .*_(a)
  action: labelmap
"#,
        want: Some(&[("a", "2"), ("x_a", "1"), ("y_a", "2")]),
    },
    Case {
        // Current Prometheus (one label builder for all steps); 2.4x gives a=2.
        name: "labelmap visits labels written by earlier steps last",
        input: &[("x_a", "1"), ("y_a", "2")],
        rules: r#"
- source_labels: [x_a]
  target_label: x_a
- regex: .*_(a)
  action: labelmap
"#,
        want: Some(&[("a", "1"), ("x_a", "1"), ("y_a", "2")]),
    },
    Case {
        name: "labelmap skips expansions that are not label names",
        input: &[("x_1abc", "v"), ("x_ok", "w")],
        rules: r#"
- regex: x_(.*)
  action: labelmap
"#,
        want: Some(&[("ok", "w"), ("x_1abc", "v"), ("x_ok", "w")]),
    },
    Case {
        name: "labelmap overwrites an existing label",
        input: &[("__meta_job", "new"), ("job", "old")],
        rules: r#"
- regex: __meta_(job)
  action: labelmap
"#,
        want: Some(&[("__meta_job", "new"), ("job", "new")]),
    },
    // ---- labeldrop / labelkeep ----
    Case {
        name: "labeldrop",
        input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        rules: r#"
- regex: (b.*)
  action: labeldrop
"#,
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "labeldrop is anchored",
        input: &[("b", "x"), ("b1", "y"), ("ab", "z")],
        rules: r#"
- regex: b
  action: labeldrop
"#,
        want: Some(&[("ab", "z"), ("b1", "y")]),
    },
    Case {
        name: "labeldrop of every label leaves an empty set (not a drop)",
        input: &[("a", "1"), ("b", "2")],
        rules: r#"
- regex: .*
  action: labeldrop
"#,
        want: Some(&[]),
    },
    Case {
        name: "labelkeep",
        input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        rules: r#"
- regex: (b.*)
  action: labelkeep
"#,
        want: Some(&[("b1", "bar"), ("b2", "baz")]),
    },
    Case {
        name: "labelkeep for metric relabeling keeps __name__ only if listed",
        input: &[("__name__", "up"), ("instance", "i"), ("job", "j")],
        rules: r#"
- regex: __name__|job
  action: labelkeep
"#,
        want: Some(&[("__name__", "up"), ("job", "j")]),
    },
    Case {
        name: "labelkeep with the default regex keeps everything",
        input: &[("a", "1"), ("b", "2")],
        rules: "- action: labelkeep\n",
        want: Some(&[("a", "1"), ("b", "2")]),
    },
    // ---- lowercase / uppercase ----
    Case {
        name: "uppercase and lowercase",
        input: &[("foo", "bAr123Foo")],
        rules: r#"
- source_labels: [foo]
  action: uppercase
  target_label: foo_uppercase
- source_labels: [foo]
  action: lowercase
  target_label: foo_lowercase
"#,
        want: Some(&[
            ("foo", "bAr123Foo"),
            ("foo_lowercase", "bar123foo"),
            ("foo_uppercase", "BAR123FOO"),
        ]),
    },
    Case {
        name: "case mapping is per character, like Go's (ß stays, İ lowers to i)",
        input: &[("a", "Straße ÀÉ"), ("b", "İSTANBUL")],
        rules: r#"
- source_labels: [a]
  action: uppercase
  target_label: up
- source_labels: [b]
  action: lowercase
  target_label: low
"#,
        want: Some(&[
            ("a", "Straße ÀÉ"),
            ("b", "İSTANBUL"),
            ("low", "istanbul"),
            ("up", "STRAßE ÀÉ"),
        ]),
    },
    Case {
        name: "lowercase of joined values; an empty result deletes the target",
        input: &[("a", "X"), ("b", "Y"), ("gone", "old")],
        rules: r#"
- source_labels: [a, b]
  action: lowercase
  target_label: ab
- source_labels: [missing]
  action: lowercase
  target_label: gone
"#,
        want: Some(&[("a", "X"), ("ab", "x;y"), ("b", "Y")]),
    },
];

#[test]
fn relabel_table() {
    for case in CASES {
        let rules = parse(case.rules);
        for r in &rules {
            assert_eq!(r.validate(), Ok(()), "{}: rule must be valid", case.name);
        }
        let got = process(&labels(case.input), &rules);
        let want = case.want.map(labels);
        assert_eq!(got, want, "case {:?}", case.name);
    }
}

/// The table must exercise every action and every default.
#[test]
fn relabel_table_covers_every_action_and_default() {
    let mut actions = HashSet::new();
    let (mut default_regex, mut default_sep, mut default_repl, mut default_action) =
        (false, false, false, false);
    for case in CASES {
        for (raw, cfg) in serde_yaml::from_str::<Vec<serde_yaml::Value>>(case.rules)
            .unwrap()
            .iter()
            .zip(parse(case.rules))
        {
            actions.insert(cfg.action);
            let has = |k: &str| raw.get(k).is_some();
            default_regex |= !has("regex") && cfg.regex.is_default();
            default_sep |= !has("separator") && cfg.source_labels.len() > 1;
            default_repl |=
                !has("replacement") && matches!(cfg.action, Action::Replace | Action::LabelMap);
            default_action |= !has("action");
        }
    }
    for a in Action::ALL {
        assert!(actions.contains(&a), "no table case for {a}");
    }
    assert!(default_regex && default_sep && default_repl && default_action);
}

// ---- parsing and validation ----

#[test]
fn defaults_when_keys_are_absent() {
    let cfg = &parse("- target_label: x\n")[0];
    assert_eq!(
        cfg,
        &RelabelConfig {
            target_label: "x".into(),
            ..RelabelConfig::default()
        }
    );
    assert_eq!(cfg.action, Action::Replace);
    assert_eq!(cfg.separator, ";");
    assert_eq!(cfg.regex.as_str(), "(.*)");
    assert!(cfg.regex.is_default());
    assert_eq!(cfg.regex.regex().as_str(), "^(?s:(.*))$");
    assert_eq!(cfg.replacement, "$1");
    assert_eq!(cfg.modulus, 0);
    assert!(cfg.source_labels.is_empty());
}

/// Configs Prometheus accepts, with what they parse to.
#[test]
fn good_configs() {
    let one = |yaml: &str| parse(yaml).remove(0);

    let c = one("- {source_labels: [a, b], separator: '', regex: 'x(.*)', target_label: y, replacement: 'v$1', action: replace}");
    assert_eq!(c.source_labels, ["a", "b"]);
    assert_eq!(c.separator, "");
    assert_eq!(c.regex.as_str(), "x(.*)");
    assert!(!c.regex.is_default());

    // Action names are case-insensitive.
    assert_eq!(
        one("- {action: LabelDrop, regex: x}").action,
        Action::LabelDrop
    );
    assert_eq!(one("- {action: KEEP}").action, Action::Keep);

    // Explicit nulls take the zero value, not the default.
    let c = one(
        "- {target_label: x, separator: ~, regex: ~, replacement: ~, modulus: ~, source_labels: ~}",
    );
    assert_eq!(c.separator, "");
    assert_eq!(c.regex.as_str(), "");
    assert!(c.regex.is_match("") && !c.regex.is_match("a"));
    assert_eq!(c.replacement, "");
    assert!(c.source_labels.is_empty());
    assert_eq!(
        one("- {action: labeldrop, source_labels: ~}").action,
        Action::LabelDrop
    );

    // Non-string scalars are read as their text.
    let c = one("- {target_label: x, regex: 123, replacement: 1.50, separator: true}");
    assert_eq!(
        (
            c.regex.as_str(),
            c.replacement.as_str(),
            c.separator.as_str()
        ),
        ("123", "1.50", "true")
    );

    // keepequal/dropequal accept the other fields spelled as their defaults, except
    // regex (Prometheus compares the regex by identity).
    one("- {action: keepequal, source_labels: [a], target_label: b, separator: ';', replacement: $1}");
    one("- {action: dropequal, source_labels: [a], target_label: b}");

    // Templated targets.
    for t in [
        "${1}",
        "$1",
        "label${1}",
        "${1}label",
        "asd$2asd",
        "_${1}_",
        "foo${bar}foo",
    ] {
        assert_eq!(one(&format!("- {{target_label: '{t}'}}")).target_label, t);
    }
    one("- {action: labelmap, regex: 'x_(.*)', replacement: 'y_${1}'}");
    one("- {action: hashmod, target_label: h, modulus: 18446744073709551615}");
    // keep/drop have no restrictions on the other fields.
    one("- {action: keep, target_label: whatever, replacement: z, modulus: 3}");
    one("- {action: labelmap, source_labels: [a], separator: x}");
    one("- {action: uppercase, target_label: u}");
}

/// Configs Prometheus rejects, with its error text.
#[test]
fn bad_configs() {
    let cases: &[(&str, &str)] = &[
        ("{action: foo}", r#"unknown relabel action "foo""#),
        ("{action: ''}", r#"unknown relabel action """#),
        ("{action: ~, target_label: x}", "relabel action cannot be empty"),
        ("{}", "relabel configuration for replace action requires 'target_label' value"),
        ("{action: replace, source_labels: [a]}", "relabel configuration for replace action requires 'target_label' value"),
        ("{action: lowercase}", "relabel configuration for lowercase action requires 'target_label' value"),
        ("{action: uppercase}", "relabel configuration for uppercase action requires 'target_label' value"),
        ("{action: keepequal, source_labels: [a]}", "relabel configuration for keepequal action requires 'target_label' value"),
        ("{action: dropequal, source_labels: [a]}", "relabel configuration for dropequal action requires 'target_label' value"),
        ("{action: hashmod, target_label: h}", "relabel configuration for hashmod requires non-zero modulus"),
        ("{action: hashmod, target_label: h, modulus: 0}", "relabel configuration for hashmod requires non-zero modulus"),
        ("{action: hashmod, modulus: 3}", "relabel configuration for hashmod action requires 'target_label' value"),
        ("{action: hashmod, modulus: 3, target_label: '${1}'}", r#""${1}" is invalid 'target_label' for hashmod action"#),
        ("{target_label: 1abc}", r#""1abc" is invalid 'target_label' for replace action"#),
        ("{target_label: a-b}", r#""a-b" is invalid 'target_label' for replace action"#),
        ("{target_label: '-${1}'}", r#""-${1}" is invalid 'target_label' for replace action"#),
        ("{target_label: '0${3}'}", r#""0${3}" is invalid 'target_label' for replace action"#),
        ("{target_label: 'utf-8.label${1}'}", r#""utf-8.label${1}" is invalid 'target_label' for replace action"#),
        ("{target_label: '${'}", r#""${" is invalid 'target_label' for replace action"#),
        ("{target_label: '$'}", r#""$" is invalid 'target_label' for replace action"#),
        ("{target_label: '${}'}", r#""${}" is invalid 'target_label' for replace action"#),
        ("{target_label: 'foo${'}", r#""foo${" is invalid 'target_label' for replace action"#),
        ("{action: lowercase, target_label: '${3}'}", r#""${3}" is invalid 'target_label' for lowercase action"#),
        ("{action: uppercase, target_label: 'a b'}", r#""a b" is invalid 'target_label' for uppercase action"#),
        ("{action: keepequal, target_label: '1'}", r#""1" is invalid 'target_label' for keepequal action"#),
        ("{action: uppercase, target_label: u, replacement: x}", "'replacement' can not be set for uppercase action"),
        ("{action: lowercase, target_label: u, replacement: ''}", "'replacement' can not be set for lowercase action"),
        ("{action: keepequal, target_label: t, replacement: x}", "'replacement' can not be set for keepequal action"),
        ("{action: dropequal, target_label: t, regex: x}", "dropequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("{action: keepequal, target_label: t, regex: (.*)}", "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("{action: keepequal, target_label: t, separator: ','}", "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("{action: dropequal, target_label: t, modulus: 2}", "dropequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("{action: labelmap, replacement: '-bad'}", r#""-bad" is invalid 'replacement' for labelmap action"#),
        ("{action: labelmap, replacement: ''}", r#""" is invalid 'replacement' for labelmap action"#),
        ("{action: labelmap, replacement: 'x${'}", r#""x${" is invalid 'replacement' for labelmap action"#),
        ("{action: labeldrop, source_labels: [a]}", "labeldrop action requires only 'regex', and no other fields"),
        ("{action: labeldrop, source_labels: []}", "labeldrop action requires only 'regex', and no other fields"),
        ("{action: labelkeep, target_label: t}", "labelkeep action requires only 'regex', and no other fields"),
        ("{action: labelkeep, separator: ','}", "labelkeep action requires only 'regex', and no other fields"),
        ("{action: labelkeep, replacement: x}", "labelkeep action requires only 'regex', and no other fields"),
        ("{action: labeldrop, modulus: 1}", "labeldrop action requires only 'regex', and no other fields"),
        ("{source_labels: [foo-bar], target_label: x}", r#""foo-bar" is not a valid label name"#),
        ("{source_labels: [1], target_label: x}", r#""1" is not a valid label name"#),
        ("{regex: '(abc', target_label: x}", r#"error parsing regexp "(abc": unclosed group"#),
        ("{regex: 'a{2,1}', target_label: x}", r#"error parsing regexp "a{2,1}""#),
        ("{regexp: x, target_label: x}", "unknown field `regexp`"),
        ("{target_label: x, target_label: y}", "duplicate field `target_label`"),
        ("{action: hashmod, target_label: h, modulus: -1}", "modulus"),
        ("{source_labels: a, target_label: x}", "source_labels"),
    ];
    for (yaml, want) in cases {
        let err = serde_yaml::from_str::<Vec<RelabelConfig>>(&format!("- {yaml}\n"))
            .expect_err(yaml)
            .to_string();
        assert!(err.contains(want), "{yaml}: error {err:?} lacks {want:?}");
    }
}

#[test]
fn validate_reports_programmatic_mistakes() {
    let cfg = |action, target: &str| RelabelConfig {
        action,
        target_label: target.into(),
        ..RelabelConfig::default()
    };
    assert_eq!(cfg(Action::Replace, "ok").validate(), Ok(()));
    assert_eq!(
        cfg(Action::Replace, "").validate(),
        Err(ConfigError::MissingTargetLabel(Action::Replace))
    );
    assert_eq!(
        cfg(Action::HashMod, "h").validate(),
        Err(ConfigError::ZeroModulus)
    );
    // A default regex passes keepequal; the same text compiled explicitly does not.
    let mut c = cfg(Action::KeepEqual, "t");
    assert_eq!(c.validate(), Ok(()));
    c.regex = RelabelRegex::new(DEFAULT_REGEX).unwrap();
    assert_eq!(
        c.validate(),
        Err(ConfigError::EqualActionExtraFields(Action::KeepEqual))
    );
    let mut c = cfg(Action::LabelDrop, "");
    c.source_labels = vec!["a".into()];
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "labeldrop action requires only 'regex', and no other fields"
    );
}

/// Prometheus's `relabelTargetLegacy` cases.
#[test]
fn templated_target_validity() {
    for (s, valid) in [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("bar.foo${1}bar", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
        ("1abc", false),
        ("a1", true),
        ("$1$2", true),
        ("${a}${b}", true),
        ("$é", false),
        ("", false),
    ] {
        let c = RelabelConfig {
            target_label: s.into(),
            ..RelabelConfig::default()
        };
        let ok = c.validate().is_ok();
        // Without `$`, plain label-name rules apply, which agree on these inputs.
        assert_eq!(ok, valid, "{s:?}");
    }
}

#[test]
fn serialize_round_trip() {
    let yaml = r#"
- source_labels: [a, b]
  separator: /
  regex: x(.*)
  target_label: y
  replacement: v$1
- source_labels: [a]
  target_label: h
  modulus: 3
  action: hashmod
- source_labels: [a]
  target_label: b
  action: keepequal
"#;
    let rules = parse(yaml);
    let text = serde_yaml::to_string(&rules).unwrap();
    assert_eq!(parse(&text), rules);
    // As Prometheus, an unset regex is not written out.
    assert_eq!(text.matches("regex:").count(), 1, "{text}");
}

#[test]
fn error_quoting_is_go_style() {
    let e = "x\"y\\z\n\u{1}é".parse::<Action>().unwrap_err();
    assert_eq!(e.to_string(), r#"unknown relabel action "x\"y\\z\n\x01é""#);
}

// ---- reserved label helpers ----

#[test]
fn reserved_label_helpers() {
    let l = labels(&[
        ("__address__", "h:1"),
        ("__meta_x", "m"),
        ("__metrics_path__", "/p"),
        ("__name__", "up"),
        ("__param_", "empty-name"),
        ("__param_module", "http_2xx"),
        ("__param_target", "example.com"),
        ("__scheme__", "https"),
        ("__tmp_t", "t"),
        ("_single", "s"),
        ("job", "j"),
    ]);
    assert_eq!(
        drop_meta_labels(&l),
        labels(&[
            ("__address__", "h:1"),
            ("__metrics_path__", "/p"),
            ("__name__", "up"),
            ("__param_", "empty-name"),
            ("__param_module", "http_2xx"),
            ("__param_target", "example.com"),
            ("__scheme__", "https"),
            ("__tmp_t", "t"),
            ("_single", "s"),
            ("job", "j"),
        ])
    );
    assert_eq!(
        drop_meta_and_tmp(&l),
        labels(&[("_single", "s"), ("job", "j")])
    );
    assert_eq!(
        scrape_params(&l),
        vec![
            (String::new(), "empty-name".to_string()),
            ("module".to_string(), "http_2xx".to_string()),
            ("target".to_string(), "example.com".to_string()),
        ]
    );
}

// ---- never panics ----

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "a",
            "b",
            "c",
            "x_a",
            "y_a",
            "__name__",
            "__meta_x",
            "__tmp_y",
            "__param_p",
            "__address__",
            "job",
            "1bad",
            "",
            "é",
            "a-b",
        ])
        .prop_map(String::from),
        "[a-z_]{1,4}",
    ]
}

fn arb_template() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "$1",
            "${1}",
            "$1x",
            "${1}x",
            "$0",
            "$01",
            "$$",
            "$",
            "${",
            "${}",
            "${n}_x",
            "$n",
            "a",
            "__tmp_t",
            "1x",
            "é",
            "${2}${1}",
            "$99999999999",
            "x-$1",
        ])
        .prop_map(String::from),
        "[a-z0-9_${}é-]{0,8}",
    ]
}

fn arb_regex() -> impl Strategy<Value = RelabelRegex> {
    prop_oneof![
        Just(RelabelRegex::default()),
        prop::sample::select(vec![
            "",
            "(.*)",
            "(a)|(b)",
            "a)|(b",
            "a)|(?s:b",
            "(?P<n>.)(.*)",
            "(b.*)",
            "__meta_(.+)",
            ".*_(a)",
            "x*",
            "(?i)A(.)?",
            "(é|\\d)+",
            "()",
            ".",
        ])
        .prop_map(|p| RelabelRegex::new(p).unwrap_or_default()),
        "[a-z().*|?$\\\\{}é]{0,8}".prop_map(|p| RelabelRegex::new(&p).unwrap_or_default()),
    ]
}

fn arb_config() -> impl Strategy<Value = RelabelConfig> {
    (
        prop::sample::select(Action::ALL.to_vec()),
        prop::collection::vec(arb_name(), 0..4),
        prop::sample::select(vec![";", "", "/", "$1", "é"]),
        arb_regex(),
        prop_oneof![Just(0u64), 1u64..5, Just(u64::MAX)],
        prop_oneof![arb_name(), arb_template()],
        arb_template(),
    )
        .prop_map(
            |(action, source_labels, sep, regex, modulus, target_label, replacement)| {
                RelabelConfig {
                    source_labels,
                    separator: sep.to_string(),
                    regex,
                    modulus,
                    target_label,
                    replacement,
                    action,
                }
            },
        )
}

fn arb_labels() -> impl Strategy<Value = Labels> {
    prop::collection::vec(
        (arb_name(), prop_oneof![Just(String::new()), ".{0,6}"]),
        0..8,
    )
    .prop_map(Labels::from_pairs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any labels, any (even invalid) configs: no panic, a sorted unique result, no
    /// empty values, and every label not in the input has a valid name.
    #[test]
    fn process_never_panics(input in arb_labels(), configs in prop::collection::vec(arb_config(), 0..5)) {
        if let Some(out) = process(&input, &configs) {
            // `from_sorted` asserts order in debug builds; check it here explicitly too.
            prop_assert!(out.as_slice().windows(2).all(|w| w[0].name < w[1].name));
            for l in out.iter() {
                let from_input = input.get(&l.name) == Some(l.value.as_str());
                prop_assert!(!l.value.is_empty(), "empty value in {:?}", l);
                prop_assert!(from_input || is_valid_label_name(&l.name), "unexpected label {:?}", l);
            }
        } else {
            prop_assert!(configs.iter().any(|c| matches!(
                c.action,
                Action::Keep | Action::Drop | Action::KeepEqual | Action::DropEqual
            )));
        }
    }

    /// YAML assembled from arbitrary field values never panics the loader, and whatever
    /// it accepts also passes `validate`.
    #[test]
    fn parsing_never_panics(
        action in prop::sample::select(vec!["replace", "keep", "drop", "keepequal", "dropequal",
            "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase", "Nope", "~"]),
        sources in prop::option::of(prop::collection::vec(arb_name(), 0..3)),
        target in prop::option::of(arb_template()),
        replacement in prop::option::of(arb_template()),
        regex in prop::option::of("[a-z().*|?\\\\{}]{0,6}"),
        modulus in prop::option::of(0u64..4),
    ) {
        let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let mut yaml = format!("- action: {action}\n");
        if let Some(s) = &sources {
            let items: Vec<String> = s.iter().map(|n| q(n)).collect();
            yaml += &format!("  source_labels: [{}]\n", items.join(", "));
        }
        if let Some(t) = &target { yaml += &format!("  target_label: {}\n", q(t)); }
        if let Some(r) = &replacement { yaml += &format!("  replacement: {}\n", q(r)); }
        if let Some(r) = &regex { yaml += &format!("  regex: {}\n", q(r)); }
        if let Some(m) = modulus { yaml += &format!("  modulus: {m}\n"); }
        if let Ok(cfgs) = serde_yaml::from_str::<Vec<RelabelConfig>>(&yaml) {
            for c in &cfgs {
                prop_assert_eq!(c.validate(), Ok(()));
            }
            let input = Labels::from_pairs([("a", "1"), ("x_a", "2")]);
            let _ = process(&input, &cfgs);
        }
    }
}
