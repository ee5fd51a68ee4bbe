//! WAL record framing and payloads.
//!
//! Frame: `len: u32 LE | crc32(payload): u32 LE | payload`. Payload starts with a type byte:
//! - `1` series: count, then per series `ref, nlabels, (name, value)*` (varints, strings);
//! - `2` samples: count, base time (zigzag), then per sample `ref, t - base (zigzag), value bits u64 LE`;
//! - `3` exemplars: count, then per exemplar `ref, t (zigzag), value bits u64 LE, nlabels, (name, value)*`.

use crate::encoding::{put_str, put_uvarint, put_varint, Decbuf, DecodeError};

pub const FRAME_HEADER: usize = 8;
const T_SERIES: u8 = 1;
const T_SAMPLES: u8 = 2;
const T_EXEMPLARS: u8 = 3;
/// A frame longer than this is treated as corruption rather than allocated.
pub const MAX_RECORD_BYTES: usize = 256 << 20;

pub type SeriesRecord<'a> = (u32, Vec<(&'a str, &'a str)>);
pub type ExemplarRecord<'a> = (u32, i64, f64, Vec<(&'a str, &'a str)>);

#[derive(Debug, PartialEq)]
pub enum Record<'a> {
    Series(Vec<SeriesRecord<'a>>),
    Samples(Vec<(u32, i64, f64)>),
    Exemplars(Vec<ExemplarRecord<'a>>),
}

/// Builds framed records in one buffer so a whole append becomes one `write` call.
#[derive(Default)]
pub struct RecordBuf {
    pub buf: Vec<u8>,
}

impl RecordBuf {
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn frame(&mut self, write_payload: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; FRAME_HEADER]);
        write_payload(&mut self.buf);
        let payload = &self.buf[start + FRAME_HEADER..];
        let len = payload.len() as u32;
        let crc = crc32fast::hash(payload);
        self.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        self.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    pub fn series<'s, L>(&mut self, series: impl ExactSizeIterator<Item = (u32, L)>)
    where
        L: ExactSizeIterator<Item = (&'s str, &'s str)>,
    {
        self.frame(|out| {
            out.push(T_SERIES);
            put_uvarint(out, series.len() as u64);
            for (r, labels) in series {
                put_uvarint(out, u64::from(r));
                put_uvarint(out, labels.len() as u64);
                for (n, v) in labels {
                    put_str(out, n);
                    put_str(out, v);
                }
            }
        });
    }

    pub fn samples(&mut self, samples: &[(u32, i64, f64)]) {
        if samples.is_empty() {
            return;
        }
        self.frame(|out| {
            out.push(T_SAMPLES);
            put_uvarint(out, samples.len() as u64);
            let base = samples[0].1;
            put_varint(out, base);
            for &(r, t, v) in samples {
                put_uvarint(out, u64::from(r));
                put_varint(out, t.wrapping_sub(base));
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        });
    }

    pub fn exemplars(&mut self, exemplars: &[ExemplarRecord<'_>]) {
        if exemplars.is_empty() {
            return;
        }
        self.frame(|out| {
            out.push(T_EXEMPLARS);
            put_uvarint(out, exemplars.len() as u64);
            for (r, t, v, labels) in exemplars {
                put_uvarint(out, u64::from(*r));
                put_varint(out, *t);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
                put_uvarint(out, labels.len() as u64);
                for (n, v) in labels {
                    put_str(out, n);
                    put_str(out, v);
                }
            }
        });
    }
}

fn labels<'a>(d: &mut Decbuf<'a>) -> Result<Vec<(&'a str, &'a str)>, DecodeError> {
    let n = d.len_prefix(2)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push((d.str()?, d.str()?));
    }
    Ok(out)
}

fn series_ref(d: &mut Decbuf<'_>) -> Result<u32, DecodeError> {
    u32::try_from(d.uvarint()?).map_err(|_| DecodeError("series reference out of range"))
}

/// Decodes one record payload (after the frame header).
pub fn decode(payload: &[u8]) -> Result<Record<'_>, DecodeError> {
    let mut d = Decbuf::new(payload);
    let rec = match d.u8()? {
        T_SERIES => {
            let n = d.len_prefix(2)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let r = series_ref(&mut d)?;
                out.push((r, labels(&mut d)?));
            }
            Record::Series(out)
        }
        T_SAMPLES => {
            let n = d.len_prefix(10)?;
            let base = d.varint()?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let r = series_ref(&mut d)?;
                let t = base.wrapping_add(d.varint()?);
                let v = f64::from_bits(d.u64()?);
                out.push((r, t, v));
            }
            Record::Samples(out)
        }
        T_EXEMPLARS => {
            let n = d.len_prefix(11)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let r = series_ref(&mut d)?;
                let t = d.varint()?;
                let v = f64::from_bits(d.u64()?);
                out.push((r, t, v, labels(&mut d)?));
            }
            Record::Exemplars(out)
        }
        _ => return Err(DecodeError("unknown record type")),
    };
    if !d.is_empty() {
        return Err(DecodeError("trailing bytes after record"));
    }
    Ok(rec)
}

/// Checks a frame header against the bytes available after it; `Err` is the reason the
/// frame is not valid (the payload checksum is checked separately).
fn check_header(len: usize, crc: u32, available: usize) -> Result<(), &'static str> {
    if len == 0 && crc == 0 {
        return Err("zeroed bytes where a frame was expected");
    }
    if len > MAX_RECORD_BYTES || available < len {
        return Err("torn or oversized frame");
    }
    Ok(())
}

fn parse_header(h: &[u8]) -> (usize, u32) {
    (
        u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize,
        u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
    )
}

/// What a frame scan found at one position.
pub enum Frame<'a> {
    Record(&'a [u8]),
    /// Bytes from this offset on are not a valid frame (torn write or corruption).
    Corrupt {
        offset: usize,
        reason: &'static str,
    },
}

/// Walks the frames of a segment's bytes.
pub struct FrameReader<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> FrameReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        FrameReader {
            data,
            pos: 0,
            done: false,
        }
    }

    /// Offset just past the last valid frame returned so far.
    pub fn valid_len(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for FrameReader<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let corrupt = |reason| Frame::Corrupt {
            offset: self.pos,
            reason,
        };
        if rest.len() < FRAME_HEADER {
            self.done = true;
            return Some(corrupt("torn frame header"));
        }
        let (len, crc) = parse_header(rest);
        if let Err(reason) = check_header(len, crc, rest.len() - FRAME_HEADER) {
            self.done = true;
            return Some(corrupt(reason));
        }
        let payload = &rest[FRAME_HEADER..FRAME_HEADER + len];
        if crc32fast::hash(payload) != crc {
            self.done = true;
            return Some(corrupt("checksum mismatch"));
        }
        self.pos += FRAME_HEADER + len;
        Some(Frame::Record(payload))
    }
}

/// What [`FrameStream::next_into`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamFrame {
    /// A valid frame; its payload is in the caller's buffer.
    Record,
    /// Bytes from this offset on are not a valid frame.
    Corrupt {
        offset: u64,
        reason: &'static str,
    },
    End,
}

/// Reads frames from a file one at a time into a reused buffer, so replaying or
/// checkpointing a large segment costs memory for one record, not for the segment.
pub struct FrameStream<R> {
    r: R,
    pos: u64,
}

impl<R: std::io::Read> FrameStream<R> {
    pub fn new(r: R) -> Self {
        FrameStream { r, pos: 0 }
    }

    pub fn next_into(&mut self, payload: &mut Vec<u8>) -> std::io::Result<StreamFrame> {
        use std::io::Read;
        let corrupt = |offset, reason| Ok(StreamFrame::Corrupt { offset, reason });
        let mut header = Vec::with_capacity(FRAME_HEADER);
        (&mut self.r)
            .take(FRAME_HEADER as u64)
            .read_to_end(&mut header)?;
        match header.len() {
            0 => return Ok(StreamFrame::End),
            n if n < FRAME_HEADER => return corrupt(self.pos, "torn frame header"),
            _ => {}
        }
        let (len, crc) = parse_header(&header);
        if let Err(reason) = check_header(len, crc, MAX_RECORD_BYTES) {
            return corrupt(self.pos, reason);
        }
        payload.clear();
        // Grows with the bytes really present, so a corrupt length cannot force a huge allocation.
        (&mut self.r).take(len as u64).read_to_end(payload)?;
        if payload.len() < len {
            return corrupt(self.pos, "torn or oversized frame");
        }
        if crc32fast::hash(payload) != crc {
            return corrupt(self.pos, "checksum mismatch");
        }
        self.pos += (FRAME_HEADER + len) as u64;
        Ok(StreamFrame::Record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_all_record_types() {
        let mut b = RecordBuf::default();
        let labels = [("__name__", "up"), ("job", "a")];
        b.series([(7u32, labels.iter().copied())].into_iter());
        let samples = vec![
            (7, 1000, 1.5),
            (7, 2000, f64::from_bits(0x7ff0000000000002)),
            (3, -5, -0.0),
        ];
        b.samples(&samples);
        b.exemplars(&[(7, 1500, 2.0, vec![("trace_id", "abc")])]);
        let recs: Vec<Record> = FrameReader::new(&b.buf)
            .map(|f| match f {
                Frame::Record(p) => decode(p).unwrap(),
                Frame::Corrupt { reason, .. } => panic!("{reason}"),
            })
            .collect();
        assert_eq!(recs[0], Record::Series(vec![(7, labels.to_vec())]));
        match &recs[1] {
            Record::Samples(s) => {
                assert_eq!(s.len(), 3);
                for (a, b) in s.iter().zip(&samples) {
                    assert_eq!((a.0, a.1, a.2.to_bits()), (b.0, b.1, b.2.to_bits()));
                }
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            recs[2],
            Record::Exemplars(vec![(7, 1500, 2.0, vec![("trace_id", "abc")])])
        );
    }

    #[test]
    fn torn_tail_is_detected_at_the_right_offset() {
        let mut b = RecordBuf::default();
        b.samples(&[(1, 1, 1.0)]);
        let first = b.buf.len();
        b.samples(&[(1, 2, 2.0)]);
        for cut in first + 1..b.buf.len() {
            let mut r = FrameReader::new(&b.buf[..cut]);
            assert!(matches!(r.next(), Some(Frame::Record(_))));
            assert!(matches!(r.next(), Some(Frame::Corrupt { offset, .. }) if offset == first));
            assert_eq!(r.valid_len(), first);
        }
    }

    proptest! {
        /// The streaming reader finds exactly the frames the slice reader finds.
        #[test]
        fn stream_matches_slice_reader(data in prop::collection::vec(any::<u8>(), 0..300), cut in 0usize..300) {
            let mut b = RecordBuf::default();
            b.samples(&[(1, 1, 1.0), (2, 5, 2.0)]);
            b.series([(3u32, [("a", "b")].into_iter())].into_iter());
            let mut bytes = b.buf.clone();
            bytes.extend_from_slice(&data);
            bytes.truncate(cut.max(b.buf.len() / 2));
            let from_slice: Vec<Result<Vec<u8>, usize>> = FrameReader::new(&bytes)
                .map(|f| match f { Frame::Record(p) => Ok(p.to_vec()), Frame::Corrupt { offset, .. } => Err(offset) })
                .collect();
            let mut stream = FrameStream::new(&bytes[..]);
            let mut from_stream = Vec::new();
            let mut buf = Vec::new();
            loop {
                match stream.next_into(&mut buf).unwrap() {
                    StreamFrame::Record => from_stream.push(Ok(buf.clone())),
                    StreamFrame::Corrupt { offset, .. } => { from_stream.push(Err(offset as usize)); break; }
                    StreamFrame::End => break,
                }
            }
            prop_assert_eq!(from_slice, from_stream);
        }

        #[test]
        fn garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..256)) {
            for f in FrameReader::new(&data) {
                if let Frame::Record(p) = f { let _ = decode(p); }
            }
            let _ = decode(&data);
        }
    }
}
