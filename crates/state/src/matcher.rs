//! Label matchers as stored in silences and used to filter history.
//!
//! The record has Alertmanager API v2's shape (`name`, `value`, `isRegex`,
//! `isEqual`) so silences round-trip through the API unchanged. This crate sits
//! below `pharos-alerting`, so it keeps its own small type instead of that crate's
//! matcher; the semantics are Prometheus's: regexes are anchored at both ends and a
//! missing label matches as the empty string.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StateError};
use crate::Labels;

/// One label matcher: `name="v"`, `name!="v"`, `name=~"re"` or `name!~"re"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    /// Absent in silences written by Alertmanager before 0.22, where every matcher
    /// was positive.
    #[serde(default = "default_true")]
    pub is_equal: bool,
}

fn default_true() -> bool {
    true
}

impl Matcher {
    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, value, false, true)
    }

    /// `name!="value"`.
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, value, false, false)
    }

    /// `name=~"regex"`.
    pub fn regex(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, value, true, true)
    }

    /// `name!~"regex"`.
    pub fn not_regex(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, value, true, false)
    }

    fn new(
        name: impl Into<String>,
        value: impl Into<String>,
        is_regex: bool,
        is_equal: bool,
    ) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            is_regex,
            is_equal,
        }
    }

    /// Compiles the matcher once so it can be applied to many label sets.
    pub fn compile(&self) -> Result<CompiledMatcher> {
        let test = if self.is_regex {
            let re = Regex::new(&format!("^(?:{})$", self.value)).map_err(|source| {
                StateError::Regex {
                    name: self.name.clone(),
                    value: self.value.clone(),
                    source,
                }
            })?;
            Test::Regex(re)
        } else {
            Test::Equal(self.value.clone())
        };
        Ok(CompiledMatcher {
            name: self.name.clone(),
            test,
            negate: !self.is_equal,
        })
    }
}

/// A [`Matcher`] ready to apply.
#[derive(Debug, Clone)]
pub struct CompiledMatcher {
    name: String,
    test: Test,
    negate: bool,
}

#[derive(Debug, Clone)]
enum Test {
    Equal(String),
    Regex(Regex),
}

impl CompiledMatcher {
    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.name).map(String::as_str).unwrap_or("");
        let hit = match &self.test {
            Test::Equal(v) => v == value,
            Test::Regex(re) => re.is_match(value),
        };
        hit != self.negate
    }
}

/// Compiles a list of matchers, all of which must match.
pub(crate) fn compile_all(matchers: &[Matcher]) -> Result<Vec<CompiledMatcher>> {
    matchers.iter().map(Matcher::compile).collect()
}

pub(crate) fn all_match(matchers: &[CompiledMatcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_four_operators() {
        let l = labels(&[("job", "api"), ("env", "prod")]);
        let m = |m: Matcher| m.compile().unwrap().matches(&l);
        assert!(m(Matcher::equal("job", "api")));
        assert!(!m(Matcher::equal("job", "ap")));
        assert!(m(Matcher::not_equal("job", "db")));
        assert!(m(Matcher::regex("env", "pr.*")));
        assert!(!m(Matcher::regex("env", "pr")), "regex is anchored");
        assert!(m(Matcher::not_regex("env", "dev|staging")));
    }

    #[test]
    fn missing_label_is_empty() {
        let l = labels(&[("job", "api")]);
        assert!(Matcher::equal("team", "").compile().unwrap().matches(&l));
        assert!(Matcher::regex("team", ".*").compile().unwrap().matches(&l));
        assert!(!Matcher::regex("team", ".+").compile().unwrap().matches(&l));
        assert!(Matcher::not_equal("team", "x")
            .compile()
            .unwrap()
            .matches(&l));
    }

    #[test]
    fn bad_regex_is_an_error() {
        let err = Matcher::regex("a", "(").compile().unwrap_err();
        assert!(matches!(err, StateError::Regex { .. }));
    }

    #[test]
    fn json_shape_is_alertmanagers() {
        let json = serde_json::to_string(&Matcher::not_regex("a", "b")).unwrap();
        assert_eq!(
            json,
            r#"{"name":"a","value":"b","isRegex":true,"isEqual":false}"#
        );
        let old: Matcher =
            serde_json::from_str(r#"{"name":"a","value":"b","isRegex":false}"#).unwrap();
        assert_eq!(old, Matcher::equal("a", "b"));
    }
}
