//! Feeds arbitrary bytes to the WAL segment reader the way replay does: frames are
//! checked, decoded records must be well-formed, and nothing may panic. Valid frames
//! inside the input must be found up to the first corrupt one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_tsdb::wal::record::{decode, Frame, FrameReader, Record};

fuzz_target!(|data: &[u8]| {
    let mut reader = FrameReader::new(data);
    let mut last_valid = 0;
    for frame in reader.by_ref() {
        match frame {
            Frame::Record(payload) => {
                if let Ok(rec) = decode(payload) {
                    match rec {
                        Record::Series(s) => assert!(s.iter().all(|(_, l)| l.len() <= payload.len())),
                        Record::Samples(s) => assert!(s.len() * 10 <= payload.len()),
                        Record::Exemplars(e) => assert!(e.len() * 11 <= payload.len()),
                    }
                }
            }
            Frame::Corrupt { offset, .. } => {
                assert!(offset <= data.len());
                assert_eq!(offset, last_valid);
            }
        }
        last_valid = reader_pos_hint(data, last_valid);
    }
    assert!(reader.valid_len() <= data.len());
});

/// Offset just past the frame starting at `pos`, when that frame is complete.
fn reader_pos_hint(data: &[u8], pos: usize) -> usize {
    let rest = &data[pos.min(data.len())..];
    if rest.len() < 8 {
        return pos;
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    if rest.len() - 8 < len {
        return pos;
    }
    pos + 8 + len
}
