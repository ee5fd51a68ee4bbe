//! Alertmanager label matchers: `name="value"`, `!=`, `=~`, `!~`, and lists of
//! them as in `{a="b", c=~"d.*"}`. Parsing follows the classic matcher parser
//! of Alertmanager 0.25 (`pkg/labels/parse.go`), which amtool 0.25 and the
//! `matchers:` fields of its config use; regexes are anchored (`^(?:…)$`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

use crate::error::MatcherError;

/// Read access to an alert's label set. A missing label reads as the empty
/// string when matching, as Alertmanager's map lookups do.
///
/// Implemented for `BTreeMap<String, String>` (the crate's own choice, as
/// Alertmanager's label sets are maps), `HashMap` and `pharos_model::Labels`.
pub trait LabelSet {
    fn label(&self, name: &str) -> Option<&str>;
    /// Every label, for grouping by all labels.
    fn label_pairs(&self) -> Vec<(&str, &str)>;
}

impl LabelSet for BTreeMap<String, String> {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
    fn label_pairs(&self) -> Vec<(&str, &str)> {
        self.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

impl<S: std::hash::BuildHasher> LabelSet for HashMap<String, String, S> {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
    fn label_pairs(&self) -> Vec<(&str, &str)> {
        self.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

impl LabelSet for pharos_model::Labels {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
    fn label_pairs(&self) -> Vec<(&str, &str)> {
        self.iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regexp,
    NotRegexp,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One matcher. Regex matchers carry their compiled, anchored regex.
#[derive(Clone, Debug)]
pub struct Matcher {
    kind: MatchType,
    name: String,
    value: String,
    re: Option<Regex>,
}

/// Compiles `^(?:v)$`, the anchoring Alertmanager applies to every regex.
pub(crate) fn anchored_regex(v: &str) -> Result<Regex, MatcherError> {
    Regex::new(&format!("^(?:{v})$")).map_err(|e| MatcherError::Regex {
        pattern: v.to_string(),
        reason: e.to_string(),
    })
}

impl Matcher {
    pub fn new(
        kind: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let value = value.into();
        let re = match kind {
            MatchType::Regexp | MatchType::NotRegexp => Some(anchored_regex(&value)?),
            _ => None,
        };
        Ok(Matcher {
            kind,
            name: name.into(),
            value,
            re,
        })
    }

    pub fn kind(&self) -> MatchType {
        self.kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn matches(&self, v: &str) -> bool {
        match (&self.kind, &self.re) {
            (MatchType::Equal, _) => v == self.value,
            (MatchType::NotEqual, _) => v != self.value,
            (MatchType::Regexp, Some(re)) => re.is_match(v),
            (MatchType::NotRegexp, Some(re)) => !re.is_match(v),
            // Regex kinds always carry a regex (see `new`); an absent one can
            // only mean "matches nothing", never a panic.
            (MatchType::Regexp, None) => false,
            (MatchType::NotRegexp, None) => true,
        }
    }

    /// Whether the alert's labels satisfy this matcher (missing label = "").
    pub fn matches_labels<L: LabelSet + ?Sized>(&self, labels: &L) -> bool {
        self.matches(labels.label(&self.name).unwrap_or(""))
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.name == other.name && self.value == other.value
    }
}

impl Eq for Matcher {}

impl PartialOrd for Matcher {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Name, then value, then type: the order Alertmanager sorts matchers in,
/// which fixes how route keys print.
impl Ord for Matcher {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name
            .cmp(&other.name)
            .then_with(|| self.value.cmp(&other.value))
            .then_with(|| self.kind.cmp(&other.kind))
    }
}

fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}\"{}\"",
            self.name,
            self.kind,
            escape_value(&self.value)
        )
    }
}

/// A conjunction of matchers, printed as `{a="b",c!="d"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    pub fn matches<L: LabelSet + ?Sized>(&self, labels: &L) -> bool {
        self.0.iter().all(|m| m.matches_labels(labels))
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Matcher> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn sort(&mut self) {
        self.0.sort();
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

fn matcher_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Go's `\s` is ASCII-only, hence the explicit class. `=~` comes before
    // `=` so that the `~` is not taken as part of the value.
    RE.get_or_init(|| {
        Regex::new(r"^[\t\n\x0C\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\x0C\r ]*(=~|=|!=|!~)[\t\n\x0C\r ]*((?s).*?)[\t\n\x0C\r ]*$")
            .expect("static matcher regex is valid")
    })
}

/// Parses one matcher such as `foo = "bar"` or `job=~api.*`. The value may be
/// quoted; inside it `\"`, `\n` and `\\` are escapes and any other backslash
/// is literal.
pub fn parse_matcher(s: &str) -> Result<Matcher, MatcherError> {
    let caps = matcher_re()
        .captures(s)
        .ok_or_else(|| MatcherError::BadFormat(s.to_string()))?;
    let (name, op, raw_full) = match (caps.get(1), caps.get(2), caps.get(3)) {
        (Some(n), Some(o), Some(v)) => (n.as_str(), o.as_str(), v.as_str()),
        _ => return Err(MatcherError::BadFormat(s.to_string())),
    };
    let kind = match op {
        "=" => MatchType::Equal,
        "!=" => MatchType::NotEqual,
        "=~" => MatchType::Regexp,
        _ => MatchType::NotRegexp,
    };
    let (raw, mut expect_trailing_quote) = match raw_full.strip_prefix('"') {
        Some(rest) => (rest, true),
        None => (raw_full, false),
    };
    let unquoted = || MatcherError::UnescapedQuote(raw_full.to_string());
    let mut value = String::with_capacity(raw.len());
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        let is_last = i + c.len_utf8() == raw.len();
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                _ => {
                    value.push('\\');
                    value.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' if !is_last => escaped = true,
            '\\' => value.push('\\'),
            '"' => {
                if !expect_trailing_quote || !is_last {
                    return Err(unquoted());
                }
                expect_trailing_quote = false;
            }
            c => value.push(c),
        }
    }
    if expect_trailing_quote {
        return Err(unquoted());
    }
    Matcher::new(kind, name, value)
}

/// Parses a comma-separated list of matchers with optional surrounding `{}`
/// and an optional trailing comma. Commas inside double quotes do not split.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    let s = s.strip_prefix('{').unwrap_or(s);
    let s = s.strip_suffix('}').unwrap_or(s);
    let mut tokens: Vec<String> = Vec::new();
    let mut token = String::new();
    let mut inside_quotes = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            ',' if !inside_quotes => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            // A comma inside quotes leaves the escape state alone, as the
            // reference parser does.
            ',' => {}
            '"' => {
                if escaped {
                    escaped = false;
                } else {
                    inside_quotes = !inside_quotes;
                }
            }
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    let last = token.trim_matches(|c: char| c.is_whitespace());
    if !last.is_empty() {
        tokens.push(last.to_string());
    }
    tokens.iter().map(|t| parse_matcher(t)).collect()
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
