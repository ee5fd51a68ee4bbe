//! Feeds arbitrary bytes to the remote_write decoder twice: as an already decompressed
//! protobuf body, and as a snappy block that is decompressed first. Beyond "no panic",
//! every accepted request must uphold the invariants storage relies on.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::remote_write::{decode_write_request, decompress_snappy, DecodedRequest};

/// Small enough that a lying snappy header cannot make each run allocate much.
const MAX_DECOMPRESSED: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = decode_write_request(data) {
        check(&req);
    }
    if let Ok(raw) = decompress_snappy(data, MAX_DECOMPRESSED) {
        assert!(raw.len() <= MAX_DECOMPRESSED);
        if let Ok(req) = decode_write_request(&raw) {
            check(&req);
        }
    }
});

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn check(req: &DecodedRequest<'_>) {
    let b = &req.batch;
    for s in &b.series {
        // The accessors index with the ranges, so an out-of-bounds range panics here.
        let labels = b.series_labels(s);
        assert!(!labels.is_empty());
        assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        assert!(labels
            .iter()
            .all(|l| valid_name(l.name) && !l.value.is_empty()));
        let samples = b.series_samples(s);
        let exemplars = b.series_exemplars(s);
        assert!(!samples.is_empty() || !exemplars.is_empty());
        for e in exemplars {
            assert!(b.exemplar_labels(e).iter().all(|l| valid_name(l.name)));
        }
    }
    let samples: usize = b.series.iter().map(|s| s.samples.len()).sum();
    assert_eq!(samples, b.samples.len());
    let exemplars: usize = b.series.iter().map(|s| s.exemplars.len()).sum();
    assert_eq!(exemplars, b.exemplars.len());
}
