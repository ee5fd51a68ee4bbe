//! The `# TYPE`, `# HELP` and `# UNIT` lines of a target's recent scrapes, kept for the
//! metadata APIs the way Prometheus's scrape cache keeps them: an entry lives until its
//! family has been absent for more than [`KEEP_SCRAPES`] successful scrapes.

use crate::exposition::MetricKind;
use std::collections::HashMap;

/// Successful scrapes a family's metadata outlives its last appearance, as in Prometheus.
pub const KEEP_SCRAPES: u64 = 10;

/// At most this many families per target are remembered; an exposer that keeps inventing
/// family names cannot grow the server's memory without bound.
pub const MAX_FAMILIES_PER_TARGET: usize = 20_000;

/// At most this many bytes of names, help and unit text per target, for the same reason.
pub const MAX_BYTES_PER_TARGET: usize = 8 << 20;

/// One family's metadata, as the metadata APIs report it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricMetadata {
    pub family: String,
    /// Prometheus's spelling: `counter`, `gauge`, …, `unknown`.
    pub kind: &'static str,
    pub help: String,
    pub unit: String,
}

/// A metadata line of one scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataLine<'a> {
    Type(MetricKind),
    Help(&'a str),
    Unit(&'a str),
}

struct Entry {
    kind: MetricKind,
    help: String,
    unit: String,
    last_scrape: u64,
}

impl Entry {
    fn bytes(&self, family: &str) -> usize {
        family.len() + self.help.len() + self.unit.len()
    }
}

/// The metadata of one target.
#[derive(Default)]
pub struct TargetMetadata {
    entries: HashMap<String, Entry>,
    /// Counts successful scrapes.
    scrapes: u64,
    bytes: usize,
}

impl TargetMetadata {
    /// Records one scrape's metadata lines and ends the scrape: families absent for more
    /// than [`KEEP_SCRAPES`] scrapes are forgotten.
    pub fn record<'a>(&mut self, lines: impl IntoIterator<Item = (&'a str, MetadataLine<'a>)>) {
        for (family, line) in lines {
            self.set(family, line);
        }
        let now = self.scrapes;
        let mut freed = 0;
        self.entries.retain(|family, e| {
            let keep = now - e.last_scrape <= KEEP_SCRAPES;
            if !keep {
                freed += e.bytes(family);
            }
            keep
        });
        self.bytes -= freed;
        self.scrapes += 1;
    }

    fn set(&mut self, family: &str, line: MetadataLine<'_>) {
        let now = self.scrapes;
        let e = match self.entries.get_mut(family) {
            Some(e) => e,
            None => {
                if self.entries.len() >= MAX_FAMILIES_PER_TARGET
                    || self.bytes + family.len() > MAX_BYTES_PER_TARGET
                {
                    return;
                }
                self.bytes += family.len();
                self.entries.entry(family.to_owned()).or_insert(Entry {
                    kind: MetricKind::Unknown,
                    help: String::new(),
                    unit: String::new(),
                    last_scrape: now,
                })
            }
        };
        e.last_scrape = now;
        let (slot, text) = match line {
            MetadataLine::Type(kind) => {
                e.kind = kind;
                return;
            }
            MetadataLine::Help(h) => (&mut e.help, h),
            MetadataLine::Unit(u) => (&mut e.unit, u),
        };
        if slot == text {
            return;
        }
        let grown = text.len().saturating_sub(slot.len());
        if self.bytes + grown > MAX_BYTES_PER_TARGET {
            return;
        }
        self.bytes = self.bytes + text.len() - slot.len();
        text.clone_into(slot);
    }

    /// The metadata of one family.
    pub fn get(&self, family: &str) -> Option<MetricMetadata> {
        self.entries.get(family).map(|e| to_public(family, e))
    }

    /// Every family's metadata, by family name.
    pub fn list(&self) -> Vec<MetricMetadata> {
        let mut out: Vec<MetricMetadata> =
            self.entries.iter().map(|(f, e)| to_public(f, e)).collect();
        out.sort_unstable_by(|a, b| a.family.cmp(&b.family));
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn to_public(family: &str, e: &Entry) -> MetricMetadata {
    MetricMetadata {
        family: family.to_owned(),
        kind: e.kind.as_str(),
        help: e.help.clone(),
        unit: e.unit.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_outlive_their_family_by_ten_scrapes() {
        let mut m = TargetMetadata::default();
        m.record([
            ("a", MetadataLine::Type(MetricKind::Counter)),
            ("a", MetadataLine::Help("A things.")),
            ("b", MetadataLine::Unit("seconds")),
        ]);
        assert_eq!(
            m.get("a").unwrap(),
            MetricMetadata {
                family: "a".into(),
                kind: "counter",
                help: "A things.".into(),
                unit: String::new(),
            }
        );
        assert_eq!(m.get("b").unwrap().kind, "unknown");
        for _ in 0..KEEP_SCRAPES {
            m.record([("a", MetadataLine::Type(MetricKind::Counter))]);
        }
        assert!(m.get("b").is_some());
        m.record([("a", MetadataLine::Type(MetricKind::Counter))]);
        assert!(m.get("b").is_none());
        assert_eq!(m.list().len(), 1);
        // Help text is kept from earlier scrapes when a later one only repeats TYPE.
        assert_eq!(m.get("a").unwrap().help, "A things.");
    }

    #[test]
    fn memory_is_bounded() {
        let mut m = TargetMetadata::default();
        let names: Vec<String> = (0..MAX_FAMILIES_PER_TARGET + 10)
            .map(|i| format!("f{i}"))
            .collect();
        m.record(
            names
                .iter()
                .map(|n| (n.as_str(), MetadataLine::Type(MetricKind::Gauge))),
        );
        assert_eq!(m.len(), MAX_FAMILIES_PER_TARGET);
        let big = "x".repeat(MAX_BYTES_PER_TARGET);
        m.record([("f0", MetadataLine::Help(&big))]);
        assert_eq!(m.get("f0").unwrap().help, "");
        assert!(m.bytes <= MAX_BYTES_PER_TARGET);
    }
}
