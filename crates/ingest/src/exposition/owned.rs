//! A whole body converted to owned model types, for callers that do not need the
//! streaming parser's zero-copy form (tests, tools, low-volume receivers).

use super::parser::{Entry, MetricKind, ParseError, Parser};
use super::Format;
use pharos_model::{Exemplar, Labels, Sample};
use std::collections::HashMap;

/// Metadata of one metric family, from its `# TYPE`, `# HELP` and `# UNIT` lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyMetadata {
    pub family: String,
    /// [`MetricKind::Unknown`] when no `# TYPE` line names the family.
    pub kind: MetricKind,
    /// Unescaped. In OpenMetrics an empty help counts as none, as the format says.
    pub help: Option<String>,
    /// OpenMetrics only; empty counts as none.
    pub unit: Option<String>,
}

/// Everything a body says, owned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedBody {
    /// Samples in document order, with their exemplar if any. Labels include
    /// `__name__`, have unescaped values, and keep empty values as written.
    pub samples: Vec<(Labels, Sample, Option<Exemplar>)>,
    /// OpenMetrics `_created` samples, kept apart because their value is the series'
    /// creation time in seconds rather than a measurement (a scraper stores them as
    /// ordinary series, as Prometheus 2.x does).
    pub created: Vec<(Labels, Sample)>,
    /// One entry per family with any metadata line, in order of first appearance.
    pub metadata: Vec<FamilyMetadata>,
}

/// Parses a whole (decompressed) body. Samples without a timestamp, and exemplars
/// without one, get `default_timestamp_ms` (the scrape time, for a scraper).
pub fn parse_body(
    body: &[u8],
    format: Format,
    default_timestamp_ms: i64,
) -> Result<ParsedBody, ParseError> {
    let mut out = ParsedBody::default();
    let mut families: HashMap<String, usize> = HashMap::new();
    let om = format == Format::OpenMetrics;
    for entry in Parser::new(body, format) {
        match entry? {
            Entry::Sample(s) => {
                let t = s.timestamp_ms.unwrap_or(default_timestamp_ms);
                let sample = Sample { t, v: s.value };
                if s.created {
                    out.created.push((s.to_labels(), sample));
                } else {
                    let exemplar = s.exemplar.map(|e| e.to_exemplar(t));
                    out.samples.push((s.to_labels(), sample, exemplar));
                }
            }
            Entry::Type { family, kind } => meta(&mut out, &mut families, family).kind = kind,
            Entry::Help { family, text } => {
                let text = text.unescape().into_owned();
                let help = if om && text.is_empty() {
                    None
                } else {
                    Some(text)
                };
                meta(&mut out, &mut families, family).help = help;
            }
            Entry::Unit { family, unit } => {
                let unit = (!unit.is_empty()).then(|| unit.to_owned());
                meta(&mut out, &mut families, family).unit = unit;
            }
            Entry::Eof => {}
        }
    }
    Ok(out)
}

fn meta<'m>(
    out: &'m mut ParsedBody,
    index: &mut HashMap<String, usize>,
    family: &str,
) -> &'m mut FamilyMetadata {
    let i = *index.entry(family.to_owned()).or_insert_with(|| {
        out.metadata.push(FamilyMetadata {
            family: family.to_owned(),
            kind: MetricKind::Unknown,
            help: None,
            unit: None,
        });
        out.metadata.len() - 1
    });
    &mut out.metadata[i]
}
