//! A YAML document tree that remembers where every node was written, so validation
//! errors can name a line and column as Prometheus's do (`5:15: group "x", rule 1, …`).
//!
//! Anchors, aliases and `<<` merge keys are resolved while loading; explicit keys win
//! over merged ones, as in Go's yaml packages. Decoding into typed structs is done by
//! hand with the helpers at the bottom, which reject unknown fields with the texts of
//! Go's strict decoders (`line 8: field annotation not found in type rulefmt.Rule`).

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One node with its 1-based position (0:0 stands for "absent", as upstream prints it).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub line: usize,
    pub col: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Null,
    /// A scalar and whether it was written plain (unquoted), which decides whether
    /// `null`, `~`, `true` or `1` are typed values or strings.
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn absent() -> Node {
        Node {
            kind: Kind::Null,
            line: 0,
            col: 0,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The tag Go's decoders name in type errors (`!!seq`, `!!map`, `!!str`…).
    pub fn tag(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "!!null",
            Kind::Seq(_) => "!!seq",
            Kind::Map(_) => "!!map",
            Kind::Scalar(s, true) if parse_int(s).is_some() => "!!int",
            Kind::Scalar(s, true) if parse_float(s).is_some() => "!!float",
            Kind::Scalar(s, true) if parse_bool(s).is_some() => "!!bool",
            Kind::Scalar(..) => "!!str",
        }
    }

    /// Where the node is, as `line:col`.
    pub fn pos(&self) -> String {
        format!("{}:{}", self.line, self.col)
    }
}

/// A document that is not YAML at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("yaml: line {line}: {message}")]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Loads every document of a stream (an empty stream gives no documents).
pub fn load(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        line: e.marker().line(),
        message: e.info().to_string(),
    })?;
    if let Some(message) = builder.error {
        return Err(SyntaxError {
            line: builder.error_line,
            message,
        });
    }
    Ok(builder.docs)
}

enum Open {
    Seq(Node, usize, Vec<Node>),
    Map(Node, usize, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    error: Option<String>,
    error_line: usize,
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = |kind| Node {
            kind,
            line: mark.line(),
            col: mark.col() + 1,
        };
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let plain = style == TScalarStyle::Plain && tag.is_none();
                let kind = if plain && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Kind::Null
                } else {
                    Kind::Scalar(value, plain)
                };
                self.push_value(at(kind), anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let n = n.clone();
                    self.push_value(n, 0);
                }
                None => {
                    if self.error.is_none() {
                        self.error = Some("unknown anchor referenced".into());
                        self.error_line = mark.line();
                    }
                    self.push_value(at(Kind::Null), 0);
                }
            },
            Event::SequenceStart(anchor, _) => {
                self.stack
                    .push(Open::Seq(at(Kind::Null), anchor, Vec::new()));
            }
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Open::Map(at(Kind::Null), anchor, Vec::new(), None));
            }
            Event::SequenceEnd => {
                if let Some(Open::Seq(mut node, anchor, items)) = self.stack.pop() {
                    node.kind = Kind::Seq(items);
                    self.push_value(node, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Open::Map(mut node, anchor, entries, _)) = self.stack.pop() {
                    node.kind = Kind::Map(apply_merges(entries));
                    self.push_value(node, anchor);
                }
            }
            _ => {}
        }
    }
}

/// Resolves `<<: *anchor` (or a list of anchors): merged keys fill in only what the
/// mapping does not set itself.
fn apply_merges(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge = |k: &Node| matches!(&k.kind, Kind::Scalar(s, true) if s == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return entries;
    }
    let mut own: Vec<(Node, Node)> = Vec::new();
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        if !is_merge(&k) {
            own.push((k, v));
            continue;
        }
        let sources = match v.kind {
            Kind::Seq(items) => items,
            _ => vec![v],
        };
        for src in sources {
            if let Kind::Map(m) = src.kind {
                merged.extend(m);
            }
        }
    }
    for (k, v) in merged {
        let present = own.iter().any(|(ok, _)| ok.kind == k.kind);
        if !present {
            own.push((k, v));
        }
    }
    own
}

pub fn parse_int(s: &str) -> Option<i64> {
    let t = s.replace('_', "");
    if let Some(h) = t.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok();
    }
    t.parse().ok()
}

pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
    {
        return None;
    }
    s.replace('_', "").parse().ok()
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Collects decoding errors the way Go's yaml decoders report them: all at once, under
/// `yaml: unmarshal errors:`.
#[derive(Debug, Default)]
pub struct Decoder {
    pub errors: Vec<String>,
    /// Whether fields that no type declares are accepted (`--ignore-unknown-fields`).
    pub ignore_unknown: bool,
}

impl Decoder {
    pub fn type_error(&mut self, node: &Node, target: &str) {
        let shown = match &node.kind {
            Kind::Scalar(s, _) => format!("{} `{}`", node.tag(), s),
            _ => node.tag().to_string(),
        };
        self.errors.push(format!(
            "line {}: cannot unmarshal {shown} into {target}",
            node.line
        ));
    }

    /// The entries of a mapping node; reports fields outside `known` under `type_name`.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        type_name: &str,
        known: &[&str],
    ) -> Vec<(&'n str, &'n Node)> {
        let entries = match &node.kind {
            Kind::Map(e) => e,
            Kind::Null => return Vec::new(),
            _ => {
                self.type_error(node, type_name);
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(entries.len());
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in entries {
            let name = match &k.kind {
                Kind::Scalar(s, _) => s.as_str(),
                _ => {
                    self.type_error(k, "string");
                    continue;
                }
            };
            if !known.contains(&name) {
                if !self.ignore_unknown {
                    self.errors.push(format!(
                        "line {}: field {name} not found in type {type_name}",
                        k.line
                    ));
                }
                continue;
            }
            if seen.contains(&name) {
                self.errors.push(format!(
                    "line {}: field {name} already set in type {type_name}",
                    k.line
                ));
                continue;
            }
            seen.push(name);
            out.push((name, v));
        }
        out
    }

    pub fn string(&mut self, node: &Node) -> String {
        match &node.kind {
            Kind::Scalar(s, _) => s.clone(),
            Kind::Null => String::new(),
            _ => {
                self.type_error(node, "string");
                String::new()
            }
        }
    }

    pub fn bool(&mut self, node: &Node) -> bool {
        match &node.kind {
            Kind::Scalar(s, _) => match parse_bool(s) {
                Some(b) => b,
                None => {
                    self.type_error(node, "bool");
                    false
                }
            },
            Kind::Null => false,
            _ => {
                self.type_error(node, "bool");
                false
            }
        }
    }

    pub fn int(&mut self, node: &Node) -> i64 {
        match &node.kind {
            Kind::Scalar(s, _) => match parse_int(s) {
                Some(i) => i,
                None => {
                    self.type_error(node, "int");
                    0
                }
            },
            Kind::Null => 0,
            _ => {
                self.type_error(node, "int");
                0
            }
        }
    }

    pub fn float(&mut self, node: &Node) -> f64 {
        match &node.kind {
            Kind::Scalar(s, _) => match parse_float(s) {
                Some(f) => f,
                None => {
                    self.type_error(node, "float64");
                    0.0
                }
            },
            Kind::Null => 0.0,
            _ => {
                self.type_error(node, "float64");
                0.0
            }
        }
    }

    /// A mapping of strings to strings, in file order.
    pub fn string_map(&mut self, node: &Node) -> Vec<(String, String)> {
        match &node.kind {
            Kind::Map(entries) => entries
                .iter()
                .map(|(k, v)| (self.string(k), self.string(v)))
                .collect(),
            Kind::Null => Vec::new(),
            _ => {
                self.type_error(node, "map[string]string");
                Vec::new()
            }
        }
    }

    /// The items of a sequence (a null node is an empty sequence).
    pub fn seq<'n>(&mut self, node: &'n Node, target: &str) -> &'n [Node] {
        match &node.kind {
            Kind::Seq(items) => items,
            Kind::Null => &[],
            _ => {
                self.type_error(node, target);
                &[]
            }
        }
    }

    /// All collected errors as one message, or `None` when decoding went well.
    pub fn finish(&mut self) -> Option<String> {
        if self.errors.is_empty() {
            return None;
        }
        let mut msg = String::from("yaml: unmarshal errors:");
        for e in self.errors.drain(..) {
            msg.push_str("\n  ");
            msg.push_str(&e);
        }
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let docs = load("a:\n  b: x\n").unwrap();
        let Kind::Map(m) = &docs[0].kind else {
            panic!("not a map")
        };
        let Kind::Map(inner) = &m[0].1.kind else {
            panic!("not a map")
        };
        assert_eq!((inner[0].1.line, inner[0].1.col), (2, 6));
    }

    #[test]
    fn merge_keys_fill_in_missing_fields() {
        let docs = load("x: &a {p: 1, q: 2}\ny:\n  <<: *a\n  q: 3\n").unwrap();
        let Kind::Map(m) = &docs[0].kind else {
            panic!("not a map")
        };
        let Kind::Map(y) = &m[1].1.kind else {
            panic!("not a map")
        };
        let vals: Vec<_> = y
            .iter()
            .map(|(k, v)| match (&k.kind, &v.kind) {
                (Kind::Scalar(k, _), Kind::Scalar(v, _)) => format!("{k}={v}"),
                _ => String::new(),
            })
            .collect();
        assert_eq!(vals, vec!["q=3", "p=1"]);
    }

    #[test]
    fn unknown_fields_are_reported_with_lines() {
        let docs = load("a: 1\nb: 2\n").unwrap();
        let mut d = Decoder::default();
        let f = d.fields(&docs[0], "x.T", &["a"]);
        assert_eq!(f.len(), 1);
        assert_eq!(
            d.finish().unwrap(),
            "yaml: unmarshal errors:\n  line 2: field b not found in type x.T"
        );
    }

    #[test]
    fn syntax_errors_are_errors() {
        assert!(load("a: [1, 2\n").is_err());
        assert!(load("").unwrap().is_empty());
    }
}
