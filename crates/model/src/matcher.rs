//! Label matchers with Prometheus semantics: a missing label matches as the empty
//! string, regexes are fully anchored, and `.` matches newlines (Prometheus 3.x).

use regex::Regex;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    #[error("invalid regular expression {pattern:?} for label {name:?}: {source}")]
    BadRegex {
        name: String,
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub op: MatchOp,
    regex: Option<Regex>,
    /// For regexes that are an alternation of literals (`a|b|c`), the literals, so an
    /// index can look them up instead of scanning every value.
    literal_set: Option<Vec<String>>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.value == other.value && self.op == other.op
    }
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let (regex, literal_set) = match op {
            MatchOp::Equal | MatchOp::NotEqual => (None, None),
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                let re =
                    Regex::new(&format!("^(?s:{value})$")).map_err(|e| MatcherError::BadRegex {
                        name: name.clone(),
                        pattern: value.clone(),
                        source: Box::new(e),
                    })?;
                (Some(re), literal_alternatives(&value))
            }
        };
        Ok(Matcher {
            name,
            value,
            op,
            regex,
            literal_set,
        })
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            value: value.into(),
            op: MatchOp::Equal,
            regex: None,
            literal_set: None,
        }
    }

    /// Whether a label value (the empty string when the label is absent) matches.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => self.value == v,
            MatchOp::NotEqual => self.value != v,
            MatchOp::RegexMatch => self.regex_matches(v),
            MatchOp::RegexNoMatch => !self.regex_matches(v),
        }
    }

    fn regex_matches(&self, v: &str) -> bool {
        if let Some(set) = &self.literal_set {
            return set.iter().any(|s| s == v);
        }
        self.regex.as_ref().is_some_and(|re| re.is_match(v))
    }

    /// Whether a series lacking this label is selected by the matcher.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For `=` with a non-empty value and for literal alternations under `=~`, the exact
    /// values that match, so an index can answer with direct lookups.
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        match self.op {
            MatchOp::Equal if !self.value.is_empty() => Some(vec![self.value.as_str()]),
            MatchOp::RegexMatch => self
                .literal_set
                .as_ref()
                .filter(|s| s.iter().all(|v| !v.is_empty()))
                .map(|s| s.iter().map(String::as_str).collect()),
            _ => None,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// Returns the literals of a regex made only of `|`-separated plain literals.
fn literal_alternatives(pattern: &str) -> Option<Vec<String>> {
    const META: &[char] = &[
        '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$',
    ];
    if pattern.contains(META) {
        return None;
    }
    Some(pattern.split('|').map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, "l", v).unwrap()
    }

    #[test]
    fn regex_is_anchored() {
        assert!(m(MatchOp::RegexMatch, "fo.").matches("foo"));
        assert!(!m(MatchOp::RegexMatch, "fo").matches("foo"));
        assert!(!m(MatchOp::RegexMatch, "oo").matches("foo"));
        assert!(m(MatchOp::RegexNoMatch, "oo").matches("foo"));
    }

    #[test]
    fn dot_matches_newline() {
        assert!(m(MatchOp::RegexMatch, "a.b").matches("a\nb"));
    }

    #[test]
    fn empty_semantics() {
        assert!(m(MatchOp::Equal, "").matches_empty());
        assert!(m(MatchOp::NotEqual, "x").matches_empty());
        assert!(m(MatchOp::RegexMatch, "x|").matches_empty());
        assert!(m(MatchOp::RegexMatch, ".*").matches_empty());
        assert!(!m(MatchOp::RegexMatch, ".+").matches_empty());
        assert!(!m(MatchOp::NotEqual, "").matches_empty());
    }

    #[test]
    fn literal_sets() {
        let a = m(MatchOp::RegexMatch, "a|bb|c");
        assert_eq!(a.set_matches().unwrap(), vec!["a", "bb", "c"]);
        assert!(a.matches("bb"));
        assert!(!a.matches("b"));
        assert!(m(MatchOp::RegexMatch, "a.*").set_matches().is_none());
        assert!(m(MatchOp::RegexMatch, "a|").set_matches().is_none());
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Matcher::new(MatchOp::RegexMatch, "l", "(").is_err());
    }
}
