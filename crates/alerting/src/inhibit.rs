//! Inhibition with Alertmanager 0.25's rules (`inhibit/inhibit.go`): an
//! alert matching a rule's target matchers is muted while some other alert
//! that matches the source matchers is firing and has the same values for
//! the `equal` labels (a label missing on both sides counts as equal).
//! When the muted alert matches the rule's source too, source alerts that
//! also match the target are not counted, so two alerts that each match
//! both sides do not silence each other.

use chrono::{DateTime, Utc};

use crate::alert::{Alert, Fingerprint, LabelMap};
use crate::config::InhibitRule;

#[derive(Clone, Debug, Default)]
pub struct Inhibitor {
    rules: Vec<InhibitRule>,
}

impl Inhibitor {
    pub fn new(rules: Vec<InhibitRule>) -> Inhibitor {
        Inhibitor { rules }
    }

    pub fn rules(&self) -> &[InhibitRule] {
        &self.rules
    }

    /// The fingerprint of an alert inhibiting `labels`, if any. `alerts`
    /// are the known alerts; only those firing at `now` can inhibit. Rules
    /// are tried in order; within a rule the lowest fingerprint wins, so
    /// the answer does not depend on iteration order.
    pub fn mutes<'a>(
        &self,
        labels: &LabelMap,
        alerts: impl Iterator<Item = &'a Alert> + Clone,
        now: DateTime<Utc>,
    ) -> Option<Fingerprint> {
        for rule in &self.rules {
            if !rule.target.matches(labels) {
                continue;
            }
            let two_sided = rule.source.matches(labels);
            let best = alerts
                .clone()
                .filter(|a| !a.resolved_at(now) && rule.source.matches(&a.labels))
                .filter(|a| {
                    rule.equal.iter().all(|n| {
                        a.labels.get(n).map(String::as_str).unwrap_or("")
                            == labels.get(n).map(String::as_str).unwrap_or("")
                    })
                })
                .filter(|a| !(two_sided && rule.target.matches(&a.labels)))
                .map(Alert::fingerprint)
                .min();
            if best.is_some() {
                return best;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InhibitRuleConfig;

    fn rule(y: &str) -> InhibitRule {
        let c: InhibitRuleConfig = serde_yaml::from_str(y).unwrap();
        let mut errs = Vec::new();
        let r = c.compile(&mut errs);
        assert!(errs.is_empty());
        r
    }

    fn alert(p: &[(&str, &str)], ends: i64) -> Alert {
        let t = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        Alert {
            labels: p
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: LabelMap::new(),
            starts_at: t(0),
            ends_at: Some(t(ends)),
            generator_url: String::new(),
            updated_at: t(0),
            timeout: false,
        }
    }

    #[test]
    fn equal_labels_firing_sources_and_two_sided_rule() {
        let now = DateTime::from_timestamp(100, 0).unwrap_or_default();
        let ih = Inhibitor::new(vec![rule(
            "source_matchers: [severity=critical]\ntarget_matchers: [severity=warning]\nequal: [cluster, zone]\n",
        )]);
        let src = alert(&[("severity", "critical"), ("cluster", "c1")], 1000);
        let tgt = alert(&[("severity", "warning"), ("cluster", "c1")], 1000);
        let other = alert(&[("severity", "warning"), ("cluster", "c2")], 1000);
        let all = [src.clone(), tgt.clone(), other.clone()];
        // `zone` is missing on both sides: equal.
        assert_eq!(
            ih.mutes(&tgt.labels, all.iter(), now),
            Some(src.fingerprint())
        );
        assert_eq!(ih.mutes(&other.labels, all.iter(), now), None);
        assert_eq!(ih.mutes(&src.labels, all.iter(), now), None);
        // A resolved source inhibits nothing.
        let resolved = [
            alert(&[("severity", "critical"), ("cluster", "c1")], 50),
            tgt.clone(),
        ];
        assert_eq!(ih.mutes(&tgt.labels, resolved.iter(), now), None);

        // Both alerts match both sides: neither inhibits the other, but an
        // alert matching only the source still inhibits them.
        let ih = Inhibitor::new(vec![rule(
            "source_matchers: ['severity=~critical|warning']\ntarget_matchers: ['severity=~warning|critical', 'team!=ops']\nequal: [cluster]\n",
        )]);
        let a = alert(&[("severity", "critical"), ("cluster", "c1")], 1000);
        let b = alert(&[("severity", "warning"), ("cluster", "c1")], 1000);
        assert_eq!(
            ih.mutes(&a.labels, [a.clone(), b.clone()].iter(), now),
            None
        );
        let ops = alert(
            &[("severity", "critical"), ("cluster", "c1"), ("team", "ops")],
            1000,
        );
        assert_eq!(
            ih.mutes(&a.labels, [a.clone(), b.clone(), ops.clone()].iter(), now),
            Some(ops.fingerprint())
        );
    }
}
