//! The `route:` tree, `inhibit_rules:` and named time intervals as written
//! in alertmanager.yml, with the checks Alertmanager applies while decoding
//! them. The compiled, ready-to-match tree lives in [`crate::route`].

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::common::{is_valid_label_name, nullable_string_map, string_map};
use crate::duration::PromDuration;
use crate::error::ValidationError;
use crate::matcher::{anchored_regex, parse_matchers, MatchType, Matcher, Matchers};
use crate::timeinterval::TimeInterval;

#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub receiver: String,
    /// `None` inherits the parent's; `Some([])` groups everything together;
    /// `['...']` groups by all labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// Legacy equality matchers.
    #[serde(
        rename = "match",
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub match_eq: Option<BTreeMap<String, String>>,
    /// Legacy regex matchers (anchored).
    #[serde(
        default,
        deserialize_with = "nullable_string_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub match_re: Option<BTreeMap<String, Option<String>>>,
    /// Matcher expressions, each possibly a `{…}` list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Option<Vec<String>>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mute_time_intervals: Vec<String>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub active_time_intervals: Vec<String>,
    #[serde(
        deserialize_with = "crate::config::common::yaml_bool",
        rename = "continue",
        default
    )]
    pub continue_matching: bool,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub routes: Vec<RouteConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<PromDuration>,
    /// Labels added to alerts routed here (merged down the tree).
    #[serde(
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub labels: Option<BTreeMap<String, String>>,
}

/// How a route groups alerts, from its `group_by`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// Not set: inherit from the parent.
    Inherit,
    /// `['...']`: every label.
    All,
    /// An explicit list (possibly empty).
    Labels(Vec<String>),
}

fn legacy_matchers(
    eq: &Option<BTreeMap<String, String>>,
    re: &Option<BTreeMap<String, Option<String>>>,
    errs: &mut Vec<ValidationError>,
) -> Vec<Matcher> {
    let mut out = Vec::new();
    for (k, v) in eq.iter().flatten() {
        if !is_valid_label_name(k) {
            errs.push(ValidationError::InvalidLabelName(k.clone()));
            continue;
        }
        match Matcher::new(MatchType::Equal, k.as_str(), v.as_str()) {
            Ok(m) => out.push(m),
            Err(e) => errs.push(ValidationError::BadMatcher(e.to_string())),
        }
    }
    for (k, v) in re.iter().flatten() {
        if !is_valid_label_name(k) {
            errs.push(ValidationError::InvalidLabelName(k.clone()));
            continue;
        }
        let Some(v) = v else {
            errs.push(ValidationError::NullRegexp(k.clone()));
            continue;
        };
        // Alertmanager builds the matcher from the compiled regex's source,
        // so the value (and the route key) carries the anchors.
        match anchored_regex(v)
            .and_then(|re| Matcher::new(MatchType::Regexp, k.as_str(), re.as_str()))
        {
            Ok(m) => out.push(m),
            Err(e) => errs.push(ValidationError::BadMatcher(e.to_string())),
        }
    }
    out
}

fn parsed_matchers(lines: &Option<Vec<String>>, errs: &mut Vec<ValidationError>) -> Vec<Matcher> {
    let mut out = Vec::new();
    for line in lines.iter().flatten() {
        match parse_matchers(line) {
            Ok(ms) => out.extend(ms),
            Err(e) => errs.push(ValidationError::BadMatcher(e.to_string())),
        }
    }
    out
}

impl RouteConfig {
    /// All of the route's matchers (legacy and new), sorted as Alertmanager
    /// sorts them; problems are appended to `errs`.
    pub fn compile_matchers(&self, errs: &mut Vec<ValidationError>) -> Matchers {
        let mut ms = legacy_matchers(&self.match_eq, &self.match_re, errs);
        ms.extend(parsed_matchers(&self.matchers, errs));
        let mut ms = Matchers(ms);
        ms.sort();
        ms
    }

    pub fn has_matchers(&self) -> bool {
        self.match_eq.as_ref().is_some_and(|m| !m.is_empty())
            || self.match_re.as_ref().is_some_and(|m| !m.is_empty())
            || self.matchers.as_ref().is_some_and(|m| !m.is_empty())
    }

    pub fn group_by_mode(&self) -> GroupBy {
        match &self.group_by {
            // Alertmanager fills its label list from the YAML one, so an empty list is
            // indistinguishable from an absent one and inherits the parent's grouping.
            None => GroupBy::Inherit,
            Some(v) if v.is_empty() => GroupBy::Inherit,
            Some(v) if v.iter().any(|l| l == "...") => GroupBy::All,
            Some(v) => GroupBy::Labels(v.clone()),
        }
    }

    /// Decoding-time checks, children first as Alertmanager decodes them.
    pub(crate) fn validate_item(&self, errs: &mut Vec<ValidationError>) {
        self.compile_matchers(errs);
        for r in &self.routes {
            r.validate_item(errs);
        }
        for k in self.labels.iter().flat_map(|m| m.keys()) {
            if !is_valid_label_name(k) {
                errs.push(ValidationError::InvalidRouteLabel(k.clone()));
            }
        }
        let mut wildcard = false;
        let mut plain: Vec<&String> = Vec::new();
        for l in self.group_by.iter().flatten() {
            if l == "..." {
                wildcard = true;
            } else if !is_valid_label_name(l) {
                errs.push(ValidationError::InvalidGroupByLabel(l.clone()));
                return;
            } else {
                plain.push(l);
            }
        }
        if wildcard && !plain.is_empty() {
            errs.push(ValidationError::WildcardGroupByWithOthers);
        }
        let mut seen = HashSet::new();
        for l in plain {
            if !seen.insert(l) {
                errs.push(ValidationError::DuplicateGroupBy(l.clone()));
                break;
            }
        }
        if self.group_interval.is_some_and(PromDuration::is_zero) {
            errs.push(ValidationError::ZeroGroupInterval);
        }
        if self.repeat_interval.is_some_and(PromDuration::is_zero) {
            errs.push(ValidationError::ZeroRepeatInterval);
        }
    }

    /// Reports receivers used in the tree that are not declared (children
    /// first, as Alertmanager walks).
    pub(crate) fn check_receivers(&self, names: &HashSet<&str>, errs: &mut Vec<ValidationError>) {
        for r in &self.routes {
            r.check_receivers(names, errs);
        }
        if !self.receiver.is_empty() && !names.contains(self.receiver.as_str()) {
            errs.push(ValidationError::UndefinedReceiver(self.receiver.clone()));
        }
    }

    pub(crate) fn check_intervals(&self, names: &HashSet<&str>, errs: &mut Vec<ValidationError>) {
        for r in &self.routes {
            r.check_intervals(names, errs);
        }
        for n in self
            .active_time_intervals
            .iter()
            .chain(&self.mute_time_intervals)
        {
            if !names.contains(n.as_str()) {
                errs.push(ValidationError::UndefinedTimeInterval(n.clone()));
            }
        }
    }
}

/// An inhibition rule as written. Matching alerts (`target`) are muted while
/// an alert matching `source` fires with equal values for the `equal` labels.
#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_match: Option<BTreeMap<String, String>>,
    #[serde(
        default,
        deserialize_with = "nullable_string_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_match_re: Option<BTreeMap<String, Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_matchers: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_match: Option<BTreeMap<String, String>>,
    #[serde(
        default,
        deserialize_with = "nullable_string_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_match_re: Option<BTreeMap<String, Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_matchers: Option<Vec<String>>,
    #[serde(
        deserialize_with = "crate::config::common::nullable",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub equal: Vec<String>,
}

/// An inhibition rule ready for evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct InhibitRule {
    pub name: String,
    pub source: Matchers,
    pub target: Matchers,
    pub equal: Vec<String>,
}

impl InhibitRuleConfig {
    /// Compiles both sides; legacy and new matchers combine.
    pub fn compile(&self, errs: &mut Vec<ValidationError>) -> InhibitRule {
        let mut source = legacy_matchers(&self.source_match, &self.source_match_re, errs);
        source.extend(parsed_matchers(&self.source_matchers, errs));
        let mut target = legacy_matchers(&self.target_match, &self.target_match_re, errs);
        target.extend(parsed_matchers(&self.target_matchers, errs));
        InhibitRule {
            name: self.name.clone(),
            source: Matchers(source),
            target: Matchers(target),
            equal: self.equal.clone(),
        }
    }

    pub(crate) fn validate_item(&self, errs: &mut Vec<ValidationError>) {
        self.compile(errs);
        for l in &self.equal {
            if !is_valid_label_name(l) {
                errs.push(ValidationError::InvalidEqualLabel(l.clone()));
            }
        }
    }
}

/// A named list of time intervals (`time_intervals:` or the legacy
/// `mute_time_intervals:` section).
#[derive(Clone, Debug, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NamedTimeInterval {
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub name: String,
    #[serde(deserialize_with = "crate::config::common::nullable", default)]
    pub time_intervals: Vec<TimeInterval>,
}
