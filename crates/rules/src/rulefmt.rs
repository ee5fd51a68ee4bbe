//! Prometheus rule files: decoding, validation and the duplicate-rule lint, with
//! upstream's error texts (`5:15: group "yolo", rule 1, "yolo": could not parse
//! expression: …`) so that `pharos check rules` reads like `promtool check rules`.
//!
//! Only the first YAML document of a file is used (later ones are logged and ignored,
//! as upstream does). Unknown fields are errors unless the caller opts out.

use crate::format::prom_duration;
use crate::template::Templates;
use crate::yaml::{self, Decoder, Kind, Node};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// How label and metric names are validated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NameValidation {
    /// Prometheus 3's default: any non-empty UTF-8 name.
    #[default]
    Utf8,
    /// Prometheus 2's `[a-zA-Z_][a-zA-Z0-9_]*` (metric names may also hold `:`).
    Legacy,
}

impl NameValidation {
    fn label_name_ok(self, n: &str) -> bool {
        match self {
            NameValidation::Utf8 => !n.is_empty(),
            NameValidation::Legacy => pharos_model::labels::is_valid_label_name(n),
        }
    }

    fn metric_name_ok(self, n: &str) -> bool {
        match self {
            NameValidation::Utf8 => !n.is_empty(),
            NameValidation::Legacy => pharos_model::labels::is_valid_metric_name(n),
        }
    }
}

/// Options of [`parse`].
#[derive(Clone, Copy, Default)]
pub struct ParseOptions<'a> {
    pub ignore_unknown_fields: bool,
    pub validation: NameValidation,
    /// Checks that label and annotation templates parse; `None` skips the check.
    pub templates: Option<&'a dyn Templates>,
}

/// Where a node was written; `0:0` when absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn of(n: &Node) -> Pos {
        Pos {
            line: n.line,
            col: n.col,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleGroups {
    pub groups: Vec<RuleGroup>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    /// Evaluation interval in ms; 0 means the global one.
    pub interval_ms: i64,
    /// How far back every rule of the group queries, in ms; `None` means the default.
    pub query_offset_ms: Option<i64>,
    /// Most alerts or series a rule may produce; 0 means no limit.
    pub limit: i64,
    pub rules: Vec<Rule>,
    /// Labels added to every rule of the group (a rule's own labels win).
    pub labels: BTreeMap<String, String>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rule {
    pub record: String,
    pub alert: String,
    pub expr: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub record_pos: Pos,
    pub alert_pos: Pos,
    pub expr_pos: Pos,
}

impl Rule {
    /// The alert name, else the recorded metric name.
    pub fn name(&self) -> &str {
        if self.alert.is_empty() {
            &self.record
        } else {
            &self.alert
        }
    }
}

/// One problem with a rule file, worded as upstream words it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleFileError {
    #[error("{0}")]
    Read(String),
    #[error("{0}")]
    Syntax(#[from] yaml::SyntaxError),
    /// Go's `yaml: unmarshal errors:` block (unknown fields, wrong types).
    #[error("{0}")]
    Decode(String),
    #[error("{pos}: Groupname must not be empty")]
    EmptyGroupName { pos: Pos },
    #[error("{pos}: groupname: \"{name}\" is repeated in the same file")]
    DuplicateGroup { pos: Pos, name: String },
    #[error("invalid label name: {0}")]
    GroupLabelName(String),
    #[error("{}", rule_error_text(.pos, .alt, .group, *.index, .rule, .message))]
    Rule {
        group: String,
        /// 1-based position of the rule in its group.
        index: usize,
        rule: String,
        pos: Option<Pos>,
        alt: Option<Pos>,
        message: String,
    },
    #[error("{file}: {source}")]
    InFile {
        file: String,
        source: Box<RuleFileError>,
    },
}

fn rule_error_text(
    pos: &Option<Pos>,
    alt: &Option<Pos>,
    group: &str,
    index: usize,
    rule: &str,
    message: &str,
) -> String {
    let mut s = String::new();
    if let Some(p) = pos {
        s.push_str(&format!("{p}: "));
        if let Some(a) = alt {
            s.push_str(&format!("{a}: "));
        }
    }
    s.push_str(&format!(
        "group {}, rule {index}, {}: {message}",
        crate::format::go_quote(group),
        crate::format::go_quote(rule)
    ));
    s
}

/// Reads and validates a rule file; every error is prefixed with the file name.
pub fn parse_file(path: &Path, opts: ParseOptions<'_>) -> Result<RuleGroups, Vec<RuleFileError>> {
    let file = path.display().to_string();
    let wrap = |e: RuleFileError| RuleFileError::InFile {
        file: file.clone(),
        source: Box::new(e),
    };
    let text = std::fs::read(path).map_err(|e| vec![wrap(RuleFileError::Read(io_text(&e)))])?;
    let text = String::from_utf8(text).map_err(|_| {
        vec![wrap(RuleFileError::Read(
            "yaml: invalid leading UTF-8 octet".into(),
        ))]
    })?;
    parse(&text, opts).map_err(|errs| errs.into_iter().map(wrap).collect())
}

/// Go's wording of the common I/O errors.
pub(crate) fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "open: no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "open: permission denied".into(),
        _ => e.to_string(),
    }
}

/// Parses and validates the text of a rule file.
pub fn parse(text: &str, opts: ParseOptions<'_>) -> Result<RuleGroups, Vec<RuleFileError>> {
    let docs = yaml::load(text).map_err(|e| vec![RuleFileError::Syntax(e)])?;
    if docs.len() > 1 {
        tracing::warn!(
            "Multiple document yaml rules files are not supported, only the first document is processed"
        );
    }
    let Some(doc) = docs.into_iter().next() else {
        return Ok(RuleGroups::default());
    };
    let mut dec = Decoder {
        ignore_unknown: opts.ignore_unknown_fields,
        ..Decoder::default()
    };
    let groups = decode_groups(&mut dec, &doc);
    if let Some(msg) = dec.finish() {
        return Err(vec![RuleFileError::Decode(msg)]);
    }
    let errs = validate(&groups, &opts);
    if errs.is_empty() {
        Ok(groups)
    } else {
        Err(errs)
    }
}

fn decode_duration(dec: &mut Decoder, node: &Node) -> i64 {
    let s = dec.string(node);
    if s.is_empty() {
        return 0;
    }
    match pharos_promql::promqltest::parse::parse_duration(&s) {
        Ok(ms) => ms,
        Err(_) => {
            dec.errors.push(format!(
                "line {}: not a valid duration string: {s:?}",
                node.line
            ));
            0
        }
    }
}

fn decode_groups(dec: &mut Decoder, doc: &Node) -> RuleGroups {
    let mut out = RuleGroups::default();
    for (name, v) in dec.fields(doc, "rulefmt.RuleGroups", &["groups"]) {
        if name == "groups" {
            for g in dec.seq(v, "[]rulefmt.RuleGroup") {
                out.groups.push(decode_group(dec, g));
            }
        }
    }
    out
}

fn decode_group(dec: &mut Decoder, node: &Node) -> RuleGroup {
    let mut g = RuleGroup {
        pos: Pos::of(node),
        ..RuleGroup::default()
    };
    const FIELDS: &[&str] = &[
        "name",
        "interval",
        "query_offset",
        "limit",
        "rules",
        "labels",
    ];
    for (name, v) in dec.fields(node, "rulefmt.RuleGroup", FIELDS) {
        match name {
            "name" => g.name = dec.string(v),
            "interval" => g.interval_ms = decode_duration(dec, v),
            "query_offset" if !v.is_null() => g.query_offset_ms = Some(decode_duration(dec, v)),
            "limit" => g.limit = dec.int(v),
            "rules" => {
                for r in dec.seq(v, "[]rulefmt.Rule") {
                    g.rules.push(decode_rule(dec, r));
                }
            }
            "labels" => g.labels = dec.string_map(v).into_iter().collect(),
            _ => {}
        }
    }
    g
}

fn decode_rule(dec: &mut Decoder, node: &Node) -> Rule {
    let mut r = Rule::default();
    const FIELDS: &[&str] = &[
        "record",
        "alert",
        "expr",
        "for",
        "keep_firing_for",
        "labels",
        "annotations",
    ];
    for (name, v) in dec.fields(node, "rulefmt.Rule", FIELDS) {
        match name {
            "record" => {
                r.record = dec.string(v);
                r.record_pos = Pos::of(v);
            }
            "alert" => {
                r.alert = dec.string(v);
                r.alert_pos = Pos::of(v);
            }
            "expr" => {
                // Go decodes a number here as its text too.
                r.expr = match &v.kind {
                    Kind::Scalar(s, _) => s.clone(),
                    _ => dec.string(v),
                };
                r.expr_pos = Pos::of(v);
            }
            "for" => r.for_ms = decode_duration(dec, v),
            "keep_firing_for" => r.keep_firing_for_ms = decode_duration(dec, v),
            "labels" => r.labels = dec.string_map(v).into_iter().collect(),
            "annotations" => r.annotations = dec.string_map(v).into_iter().collect(),
            _ => {}
        }
    }
    r
}

/// Checks that an expression parses, as the engine will parse it.
pub fn check_expr(expr: &str) -> Result<(), String> {
    pharos_promql::format_query(expr)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn validate(groups: &RuleGroups, opts: &ParseOptions<'_>) -> Vec<RuleFileError> {
    let mut errs = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for g in &groups.groups {
        if g.name.is_empty() {
            errs.push(RuleFileError::EmptyGroupName { pos: g.pos });
        }
        if seen.contains(&g.name.as_str()) {
            errs.push(RuleFileError::DuplicateGroup {
                pos: g.pos,
                name: g.name.clone(),
            });
        }
        seen.push(&g.name);
        for k in g.labels.keys() {
            if !opts.validation.label_name_ok(k) || k == pharos_model::METRIC_NAME {
                errs.push(RuleFileError::GroupLabelName(k.clone()));
            }
        }
        for (i, r) in g.rules.iter().enumerate() {
            for (pos, alt, message) in validate_rule(r, opts) {
                errs.push(RuleFileError::Rule {
                    group: g.name.clone(),
                    index: i + 1,
                    rule: r.name().to_string(),
                    pos,
                    alt,
                    message,
                });
            }
        }
    }
    errs
}

type RuleProblem = (Option<Pos>, Option<Pos>, String);

fn validate_rule(r: &Rule, opts: &ParseOptions<'_>) -> Vec<RuleProblem> {
    let mut out: Vec<RuleProblem> = Vec::new();
    let at = |p: Pos| Some(p);
    if !r.record.is_empty() && !r.alert.is_empty() {
        out.push((
            at(r.record_pos),
            at(r.alert_pos),
            "only one of 'record' and 'alert' must be set".into(),
        ));
    }
    if r.record.is_empty() && r.alert.is_empty() {
        out.push((
            at(r.record_pos),
            at(r.alert_pos),
            "one of 'record' or 'alert' must be set".into(),
        ));
    }
    if r.expr.is_empty() {
        out.push((
            at(r.expr_pos),
            None,
            "field 'expr' must be set in rule".into(),
        ));
    } else if let Err(e) = check_expr(&r.expr) {
        out.push((
            at(r.expr_pos),
            None,
            format!("could not parse expression: {e}"),
        ));
    }
    if !r.record.is_empty() {
        if !r.annotations.is_empty() {
            out.push((
                at(r.record_pos),
                None,
                "invalid field 'annotations' in recording rule".into(),
            ));
        }
        if r.for_ms != 0 {
            out.push((
                at(r.record_pos),
                None,
                "invalid field 'for' in recording rule".into(),
            ));
        }
        if r.keep_firing_for_ms != 0 {
            out.push((
                at(r.record_pos),
                None,
                "invalid field 'keep_firing_for' in recording rule".into(),
            ));
        }
        if !opts.validation.metric_name_ok(&r.record) {
            out.push((
                at(r.record_pos),
                None,
                format!("invalid recording rule name: {}", r.record),
            ));
        }
        // A valid UTF-8 name, but usually a selector pasted into the wrong field.
        if r.record.contains(['{', '}']) {
            out.push((
                at(r.record_pos),
                None,
                format!(
                    "braces present in the recording rule name; should it be in expr?: {}",
                    r.record
                ),
            ));
        }
    }
    for k in r.labels.keys() {
        if !opts.validation.label_name_ok(k) || k == pharos_model::METRIC_NAME {
            out.push((None, None, format!("invalid label name: {k}")));
        }
    }
    for k in r.annotations.keys() {
        if !opts.validation.label_name_ok(k) {
            out.push((None, None, format!("invalid annotation name: {k}")));
        }
    }
    if let (Some(t), false) = (opts.templates, r.alert.is_empty()) {
        for (k, v) in &r.labels {
            if let Err(e) = t.check(&r.alert, v) {
                out.push((
                    None,
                    None,
                    format!("label {}: {e}", crate::format::go_quote(k)),
                ));
            }
        }
        for (k, v) in &r.annotations {
            if let Err(e) = t.check(&r.alert, v) {
                out.push((
                    None,
                    None,
                    format!("annotation {}: {e}", crate::format::go_quote(k)),
                ));
            }
        }
    }
    out
}

/// A rule that appears more than once with the same name and labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DuplicateRule {
    pub metric: String,
    pub labels: BTreeMap<String, String>,
}

/// Rules sharing name and labels (group labels included), each reported once.
pub fn duplicate_rules(groups: &RuleGroups) -> Vec<DuplicateRule> {
    let mut all: Vec<DuplicateRule> = groups
        .groups
        .iter()
        .flat_map(|g| {
            g.rules.iter().map(|r| {
                let mut labels = g.labels.clone();
                labels.extend(r.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                DuplicateRule {
                    metric: r.name().to_string(),
                    labels,
                }
            })
        })
        .collect();
    all.sort_by(|a, b| {
        a.metric
            .cmp(&b.metric)
            .then_with(|| compare_label_maps(&a.labels, &b.labels))
    });
    let mut dups: Vec<DuplicateRule> = Vec::new();
    for w in all.windows(2) {
        if w[0] == w[1] && dups.last() != Some(&w[1]) {
            dups.push(w[1].clone());
        }
    }
    dups
}

/// `labels.Compare` on sorted maps: pairwise, then the shorter first.
fn compare_label_maps(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> std::cmp::Ordering {
    for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
        let c = an.cmp(bn).then_with(|| av.cmp(bv));
        if c.is_ne() {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

/// The lint message `promtool check rules` prints for duplicates.
pub fn duplicate_rules_message(dups: &[DuplicateRule]) -> String {
    let mut s = format!("lint error {} duplicate rule(s) found.\n", dups.len());
    for d in dups {
        s.push_str(&format!("Metric: {}\nLabel(s):\n", d.metric));
        for (k, v) in &d.labels {
            s.push_str(&format!("\t{k}: {v}\n"));
        }
    }
    s.push_str("Might cause inconsistency while recording expressions");
    s
}

impl RuleGroup {
    /// The group's `interval` as written, for messages and the API.
    pub fn interval_text(&self) -> String {
        prom_duration(self.interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(text: &str) -> Vec<String> {
        parse(text, ParseOptions::default())
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn positions_in_rule_errors() {
        let e = errs("groups:\n  - name: yolo\n    rules:\n      - record: Hi\n        alert: Hello\n        expr: 1\n");
        assert_eq!(
            e,
            vec!["4:17: 5:16: group \"yolo\", rule 1, \"Hello\": only one of 'record' and 'alert' must be set"]
        );
    }

    #[test]
    fn absent_nodes_print_zero() {
        let e = errs("groups:\n  - name: yolo\n    rules:\n      - record: ylo\n");
        assert_eq!(
            e,
            vec!["0:0: group \"yolo\", rule 1, \"ylo\": field 'expr' must be set in rule"]
        );
    }

    #[test]
    fn group_fields() {
        let g = parse(
            "groups:\n- name: a\n  interval: 30s\n  query_offset: 1m\n  limit: 3\n  labels: {team: x}\n  rules: []\n",
            ParseOptions::default(),
        )
        .unwrap();
        let g = &g.groups[0];
        assert_eq!(
            (g.interval_ms, g.query_offset_ms, g.limit),
            (30_000, Some(60_000), 3)
        );
        assert_eq!(g.labels.get("team").map(String::as_str), Some("x"));
    }

    #[test]
    fn bad_duration() {
        let e = errs("groups:\n- name: a\n  interval: 5x\n");
        assert_eq!(
            e,
            vec!["yaml: unmarshal errors:\n  line 3: not a valid duration string: \"5x\""]
        );
    }

    #[test]
    fn duplicates() {
        let g = parse(
            "groups:\n- name: a\n  rules:\n  - record: x\n    expr: 1\n  - record: x\n    expr: 2\n",
            ParseOptions::default(),
        )
        .unwrap();
        let d = duplicate_rules(&g);
        assert_eq!(d.len(), 1);
        assert!(duplicate_rules_message(&d)
            .starts_with("lint error 1 duplicate rule(s) found.\nMetric: x\n"));
    }
}
