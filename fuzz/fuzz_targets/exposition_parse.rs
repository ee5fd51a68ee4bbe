//! Feeds arbitrary bytes to the scrape-body parser in both formats, as they are and
//! after gzip decoding. Beyond "no panic", everything the parser accepts must uphold
//! what a scraper relies on, and the owned conversion must agree with the stream.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::exposition::{
    decode_body, parse_body, Entry, Format, Parser, MAX_EXEMPLAR_LABEL_CHARS,
};

/// Small enough that a gzip bomb cannot make each run allocate much.
const MAX_DECOMPRESSED: usize = 1 << 20;

/// Prometheus's staleness marker: no parsed value may carry it.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

fuzz_target!(|data: &[u8]| {
    check(data, Format::PrometheusText);
    check(data, Format::OpenMetrics);
    if let Ok(raw) = decode_body(data, Some("gzip"), MAX_DECOMPRESSED) {
        assert!(raw.len() <= MAX_DECOMPRESSED);
        check(&raw, Format::PrometheusText);
        check(&raw, Format::OpenMetrics);
    }
});

fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn check(body: &[u8], format: Format) {
    let om = format == Format::OpenMetrics;
    let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut parser = Parser::new(body, format);
    let mut samples = 0usize;
    let mut error = None;
    let mut last_was_eof = false;
    for entry in parser.by_ref() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                // An error points into the body (or just past its last line).
                assert!(e.line >= 1 && e.line <= lines + 1, "{e}");
                assert!(e.column.is_none_or(|c| c >= 1));
                assert!(!e.message.is_empty());
                error = Some(e);
                break;
            }
        };
        last_was_eof = matches!(entry, Entry::Eof);
        match entry {
            Entry::Sample(s) => {
                samples += 1;
                assert!(valid_metric_name(s.name));
                assert!(s.series.starts_with(s.name));
                assert_ne!(s.value.to_bits(), STALE_NAN_BITS);
                assert!(om || !s.created);
                let mut names: Vec<&str> = Vec::with_capacity(s.labels.len());
                for l in s.labels.iter() {
                    assert!(valid_label_name(l.name) && l.name != "__name__");
                    let _ = l.value.unescape();
                    names.push(l.name);
                }
                assert_eq!(names.len(), s.labels.len());
                names.sort_unstable();
                assert!(names.windows(2).all(|w| w[0] != w[1]));
                if let Some(e) = s.exemplar {
                    assert!(om);
                    assert!(s.name.ends_with("_total") || s.name.ends_with("_bucket"));
                    let mut chars = 0;
                    let mut n = 0;
                    for l in e.labels.iter() {
                        assert!(valid_label_name(l.name));
                        chars += l.name.chars().count() + l.value.unescape().chars().count();
                        n += 1;
                    }
                    assert_eq!(n, e.labels.len());
                    assert!(chars <= MAX_EXEMPLAR_LABEL_CHARS);
                }
                let labels = s.to_labels();
                assert_eq!(labels.len(), s.labels.len() + 1);
            }
            Entry::Unit { .. } => assert!(om),
            Entry::Eof => assert!(om),
            Entry::Type { family, .. } | Entry::Help { family, .. } => {
                assert!(valid_metric_name(family))
            }
        }
    }
    // The first error ends the stream for good.
    assert!(parser.next().is_none());
    // A complete OpenMetrics exposition ends with # EOF, and nothing follows it.
    if om && error.is_none() {
        assert!(last_was_eof);
    }
    match parse_body(body, format, 0) {
        Ok(parsed) => {
            assert!(error.is_none());
            assert_eq!(parsed.samples.len() + parsed.created.len(), samples);
        }
        Err(e) => assert_eq!(Some(e), error),
    }
}
