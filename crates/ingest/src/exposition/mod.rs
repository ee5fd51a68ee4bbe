//! Scrape bodies: the Prometheus text format 0.0.4 and OpenMetrics 1.0 text format.
//!
//! A scraper sends [`ACCEPT_HEADER`] (and `Accept-Encoding: gzip`), picks the format
//! from the response's `Content-Type` with [`format_from_content_type`], undoes the
//! compression with [`decode_body`], and then either streams the body through a
//! [`Parser`] (borrowing, no allocation per sample) or converts it whole with
//! [`parse_body`] into owned model types. Any error fails the whole scrape: both
//! formats define a partial or invalid exposition as erroneous in its entirety.
//!
//! What each format defines, and where this parser follows Prometheus rather than the
//! letter of a document, is listed in the [`parser`] module's table.

mod body;
mod number;
mod owned;
pub mod parser;

#[cfg(test)]
mod tests;

pub use body::{decode_body, BodyError};
pub use owned::{parse_body, FamilyMetadata, ParsedBody};
pub use parser::{
    Entry, Escaped, MetricKind, ParseError, Parser, RawExemplar, RawLabel, RawLabels,
    RawLabelsIter, SampleLine, MAX_EXEMPLAR_LABEL_CHARS,
};

/// The `Accept` header Prometheus sends on scrapes: OpenMetrics 1.0.0 preferred, then
/// OpenMetrics 0.0.1, then the text format 0.0.4, then anything (which is parsed as
/// the text format).
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// The `Accept-Encoding` header to send with [`ACCEPT_HEADER`]: gzip is the only
/// compression [`decode_body`] undoes, as for Prometheus.
pub const ACCEPT_ENCODING_HEADER: &str = "gzip";

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text format (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` an exposer of this format sends.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format a `Content-Type` names, or `None` for any other media type. Only the
    /// media type decides: OpenMetrics 0.0.1 and 1.0.0 share one grammar, and the text
    /// format's `version` parameter has had only one value since 2014.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            Some(Format::OpenMetrics)
        } else if media_type.eq_ignore_ascii_case("text/plain") {
            Some(Format::PrometheusText)
        } else {
            None
        }
    }
}

/// The format to parse a response with: as [`Format::from_content_type`], falling back
/// to the text format for a missing or unknown type, as Prometheus 2 does (many
/// exporters send no `Content-Type` or a generic one, and their bodies are text).
pub fn format_from_content_type(content_type: &str) -> Format {
    Format::from_content_type(content_type).unwrap_or(Format::PrometheusText)
}
