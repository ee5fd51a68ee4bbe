//! Alerts as the dispatcher sees them, with Alertmanager's identity
//! (fingerprint), ingestion defaults, merge rule, ordering and status marker.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

/// A label or annotation set. Alertmanager's sets are maps, so a sorted map
/// gives the same iteration order its sorted printing uses.
pub type LabelMap = BTreeMap<String, String>;

/// Prometheus' `model.Fingerprint` of a label set: FNV-1a 64 over the sorted
/// names and values, each followed by a 0xff byte. Printed as 16 hex digits,
/// so API v2 fingerprints equal Alertmanager's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fingerprint(pub u64);

const FNV_OFFSET: u64 = 14695981039346656037;
const FNV_PRIME: u64 = 1099511628211;
const SEPARATOR: u8 = 0xff;

impl Fingerprint {
    pub fn of(labels: &LabelMap) -> Fingerprint {
        let mut h = FNV_OFFSET;
        let mut add = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(FNV_PRIME);
            }
        };
        for (k, v) in labels {
            add(k.as_bytes());
            add(&[SEPARATOR]);
            add(v.as_bytes());
            add(&[SEPARATOR]);
        }
        Fingerprint(h)
    }

    /// Parses the 16-hex-digit form.
    pub fn parse(s: &str) -> Option<Fingerprint> {
        u64::from_str_radix(s, 16).ok().map(Fingerprint)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Prints a label set as Prometheus' `LabelSet.String` does
/// (`{a="1", b="2"}`); group keys embed this form.
pub fn label_set_string(labels: &LabelMap) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Prometheus' `LabelSet.Before`: fewer labels first, then the first
/// differing label in name order decides (a set missing that name first).
pub fn label_set_cmp(a: &LabelMap, b: &LabelMap) -> Ordering {
    match a.len().cmp(&b.len()) {
        Ordering::Equal => {}
        o => return o,
    }
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    for n in names {
        match (a.get(n), b.get(n)) {
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    Ordering::Equal
}

/// An alert as received and stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: LabelMap,
    pub annotations: LabelMap,
    pub starts_at: DateTime<Utc>,
    /// `None` is Go's zero time: shown to receivers for firing alerts.
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
    pub updated_at: DateTime<Utc>,
    /// Set when `ends_at` came from `resolve_timeout` rather than the sender.
    pub timeout: bool,
}

/// An alert as a client posts it (API v2 `postableAlert`, or the rule
/// manager): times are optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PostableAlert {
    pub labels: LabelMap,
    pub annotations: LabelMap,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
}

/// Why a posted alert was refused; texts are those of Prometheus'
/// `model.Alert.Validate`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AlertError {
    #[error("start time missing")]
    StartMissing,
    #[error("start time must be before end time")]
    EndBeforeStart,
    #[error("invalid label set: invalid name {0:?}")]
    InvalidLabelName(String),
    #[error("at least one label pair required")]
    NoLabels,
    #[error("invalid annotations: invalid name {0:?}")]
    InvalidAnnotationName(String),
}

/// Every alert refused in one post, joined as Alertmanager's `MultiError`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct AlertErrors(pub Vec<AlertError>);

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl PostableAlert {
    /// Applies API v2's ingestion defaults (missing start = now or the end;
    /// missing end = now + `resolve_timeout`, flagged as a timeout), drops
    /// empty-valued labels and validates.
    pub fn into_alert(
        self,
        now: DateTime<Utc>,
        resolve_timeout: Duration,
    ) -> Result<Alert, AlertError> {
        let starts_at = match (self.starts_at, self.ends_at) {
            (Some(s), _) => s,
            (None, Some(e)) => e,
            (None, None) => now,
        };
        let (ends_at, timeout) = match self.ends_at {
            Some(e) => (e, false),
            None => (add_dur(now, resolve_timeout), true),
        };
        let labels: LabelMap = self
            .labels
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if ends_at < starts_at {
            return Err(AlertError::EndBeforeStart);
        }
        if let Some(n) = labels.keys().find(|n| !valid_label_name(n)) {
            return Err(AlertError::InvalidLabelName(n.clone()));
        }
        if labels.is_empty() {
            return Err(AlertError::NoLabels);
        }
        if let Some(n) = self.annotations.keys().find(|n| !valid_label_name(n)) {
            return Err(AlertError::InvalidAnnotationName(n.clone()));
        }
        Ok(Alert {
            labels,
            annotations: self.annotations,
            starts_at,
            ends_at: Some(ends_at),
            generator_url: self.generator_url,
            updated_at: now,
            timeout,
        })
    }
}

/// Converts a std duration, saturating instead of failing on absurd values.
pub(crate) fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// `t + d`, saturating at the latest representable time: times come from
/// clients and durations from configuration, so overflow must not panic.
pub(crate) fn add_dur(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(chrono_dur(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - d`, saturating at the earliest representable time.
pub(crate) fn sub_dur(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_sub_signed(chrono_dur(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Alert {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.labels)
    }

    /// `alertname`, as Alertmanager's `Alert.Name`.
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Resolved at `t`: an end time at or before `t`.
    pub fn resolved_at(&self, t: DateTime<Utc>) -> bool {
        self.ends_at.is_some_and(|e| e <= t)
    }

    /// Alertmanager's `Merge`: combines the stored alert with a re-sent one
    /// (either argument order), keeping the younger one's content, the
    /// earliest start, and an end time chosen so that a timeout never
    /// overrides an explicit end. "Resolved" is judged at `now`.
    pub fn merge(&self, other: &Alert, now: DateTime<Utc>) -> Alert {
        if other.updated_at < self.updated_at {
            return other.merge(self, now);
        }
        let (old, young) = (self, other);
        let mut res = young.clone();
        if old.starts_at < young.starts_at {
            res.starts_at = old.starts_at;
        }
        let now_res = |a: &Alert| a.resolved_at(now);
        if now_res(young) {
            if now_res(old) && old.ends_at > young.ends_at {
                res.ends_at = old.ends_at;
            }
        } else if old.ends_at > young.ends_at && !old.timeout {
            res.ends_at = old.ends_at;
        }
        res
    }

    /// Whether a re-sent alert overlaps the stored one's activity range,
    /// the condition under which Alertmanager's alert provider merges them
    /// (otherwise the new alert replaces the old one).
    pub fn overlaps(&self, stored: &Alert) -> bool {
        let (Some(new_end), Some(old_end)) = (self.ends_at, stored.ends_at) else {
            return true;
        };
        (new_end > stored.starts_at && new_end < old_end)
            || (self.starts_at > stored.starts_at && self.starts_at < old_end)
    }
}

/// The order of Alertmanager's `AlertSlice`: by `job`, then `instance`
/// (alerts having the label first), then by label set.
pub fn alert_order(a: &Alert, b: &Alert) -> Ordering {
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    label_set_cmp(&a.labels, &b.labels)
}

/// API v2's alert state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AlertState {
    /// Received but not yet checked against silences and inhibitions.
    #[default]
    Unprocessed,
    Active,
    Suppressed,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unprocessed => "unprocessed",
            AlertState::Active => "active",
            AlertState::Suppressed => "suppressed",
        }
    }
}

/// Per-alert status as API v2 reports it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AlertStatus {
    pub state: AlertState,
    /// IDs of active silences muting the alert, sorted.
    pub silenced_by: Vec<String>,
    /// Fingerprints of the alerts inhibiting it.
    pub inhibited_by: Vec<String>,
}

impl AlertStatus {
    /// The status after a silence and inhibition check, with the state
    /// rule of Alertmanager's marker: suppressed when anything mutes it.
    pub fn checked(silenced_by: Vec<String>, inhibited_by: Vec<String>) -> AlertStatus {
        let state = if silenced_by.is_empty() && inhibited_by.is_empty() {
            AlertState::Active
        } else {
            AlertState::Suppressed
        };
        AlertStatus {
            state,
            silenced_by,
            inhibited_by,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(p: &[(&str, &str)]) -> LabelMap {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn fingerprints_match_alertmanager() {
        // Values recorded from a real Alertmanager 0.25.
        let disk = ls(&[("alertname", "Disk"), ("team", "infrastructure")]);
        assert_eq!(Fingerprint::of(&disk).to_string(), "7cc1f8d0e35209c1");
        let cpu = ls(&[
            ("alertname", "HighCPU"),
            ("cluster", "c1"),
            ("service", "api"),
            ("severity", "critical"),
        ]);
        assert_eq!(Fingerprint::of(&cpu).to_string(), "89b35983972b395f");
        assert_eq!(Fingerprint::of(&LabelMap::new()).0, FNV_OFFSET);
        assert_eq!(
            Fingerprint::parse("89b35983972b395f"),
            Some(Fingerprint::of(&cpu))
        );
    }

    #[test]
    fn ingestion_defaults_and_validation() {
        let now = t(0);
        let a = PostableAlert {
            labels: ls(&[("alertname", "A"), ("empty", "")]),
            ..Default::default()
        }
        .into_alert(now, Duration::from_secs(300))
        .unwrap();
        assert_eq!(
            (a.starts_at, a.ends_at, a.timeout),
            (now, Some(t(300)), true)
        );
        assert_eq!(a.labels, ls(&[("alertname", "A")]));
        let bad = |p: PostableAlert| p.into_alert(now, Duration::from_secs(300)).unwrap_err();
        assert_eq!(
            bad(PostableAlert::default()).to_string(),
            "at least one label pair required"
        );
        let e = bad(PostableAlert {
            labels: ls(&[("a", "1")]),
            starts_at: Some(t(10)),
            ends_at: Some(t(5)),
            ..Default::default()
        });
        assert_eq!(e.to_string(), "start time must be before end time");
        let e = bad(PostableAlert {
            labels: ls(&[("1a", "1")]),
            ..Default::default()
        });
        assert_eq!(e.to_string(), "invalid label set: invalid name \"1a\"");
    }

    #[test]
    fn merge_rules() {
        let base = Alert {
            labels: ls(&[("a", "1")]),
            annotations: LabelMap::new(),
            starts_at: t(0),
            ends_at: Some(t(3600)),
            generator_url: String::new(),
            updated_at: t(0),
            timeout: false,
        };
        // A younger timeout end does not shorten an explicit end.
        let younger = Alert {
            starts_at: t(60),
            ends_at: Some(t(360)),
            updated_at: t(60),
            timeout: true,
            annotations: ls(&[("x", "y")]),
            ..base.clone()
        };
        let m = base.merge(&younger, t(60));
        assert_eq!(m.starts_at, t(0));
        assert_eq!(m.ends_at, base.ends_at);
        assert_eq!(m.annotations, younger.annotations);
        assert_eq!(younger.merge(&base, t(60)), m);
        // An explicit resolve wins over a later timeout end.
        let resolved = Alert {
            ends_at: Some(t(120)),
            updated_at: t(120),
            timeout: false,
            ..base.clone()
        };
        assert_eq!(base.merge(&resolved, t(130)).ends_at, Some(t(120)));
    }

    #[test]
    fn ordering() {
        let mk = |p: &[(&str, &str)]| Alert {
            labels: ls(p),
            annotations: LabelMap::new(),
            starts_at: t(0),
            ends_at: None,
            generator_url: String::new(),
            updated_at: t(0),
            timeout: false,
        };
        let mut v = [
            mk(&[("a", "1"), ("b", "2")]),
            mk(&[("z", "1")]),
            mk(&[("job", "b")]),
            mk(&[("job", "a"), ("x", "1")]),
        ];
        v.sort_by(alert_order);
        let names: Vec<String> = v.iter().map(|a| label_set_string(&a.labels)).collect();
        assert_eq!(
            names,
            [
                "{job=\"a\", x=\"1\"}",
                "{job=\"b\"}",
                "{z=\"1\"}",
                "{a=\"1\", b=\"2\"}"
            ]
        );
    }
}
