//! Borrowing decoder for remote_write v1 bodies.
//!
//! The protobuf wire format is parsed by hand rather than through prost so that label
//! strings stay slices of the request buffer: at a million samples per second, two
//! `String` allocations per label would dominate the receive path. Every read is
//! bounds-checked through `get`, and every length is compared against the bytes left
//! before use, so no input can make the decoder panic or over-allocate.

use pharos_model::labels::is_valid_label_name;
use pharos_model::{ExemplarRef, LabelRef, Sample, SeriesEntry, WriteBatch};
use std::str;

/// Largest decompressed body [`decompress_snappy`] accepts by default.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// Why a remote_write body was rejected. Messages are returned to the sender, so they
/// name the offending series (its index in the request, counted from 0) and label.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error(
        "snappy block declares {declared} decompressed bytes, more than the limit of {limit} bytes"
    )]
    DecompressedTooLarge { declared: usize, limit: usize },

    #[error(
        "snappy block declares {declared} decompressed bytes, more than a {body_len}-byte block can hold"
    )]
    SnappyLengthImpossible { declared: usize, body_len: usize },

    #[error(
        "body uses the snappy framed (stream) format; remote_write requires the snappy block format"
    )]
    SnappyFramed,

    #[error("body is not a valid snappy block ({0})")]
    Snappy(#[source] snap::Error),

    #[error("request of {len} bytes is too large to decode")]
    RequestTooLarge { len: usize },

    #[error("malformed protobuf at byte {offset} of the decompressed body{}: {what}", in_series(.series))]
    Malformed {
        /// Offset into the decompressed body of the element that could not be read.
        offset: usize,
        /// Index of the enclosing series, when the error is inside one.
        series: Option<usize>,
        what: &'static str,
    },

    #[error("series {series}: invalid label name {name:?} (must match [a-zA-Z_][a-zA-Z0-9_]*)")]
    InvalidLabelName { series: usize, name: String },

    #[error("series {series}: duplicate label name {name:?}")]
    DuplicateLabelName { series: usize, name: String },

    #[error("series {series}: labels not sorted by name ({name:?} comes after {previous:?})")]
    LabelsNotSorted {
        series: usize,
        previous: String,
        name: String,
    },

    #[error("series {series}: value of label {name:?} is not valid UTF-8")]
    InvalidLabelValue { series: usize, name: String },

    #[error("series {series}: no labels (every label is missing or has an empty value)")]
    NoLabels { series: usize },

    #[error(
        "series {series}, exemplar {exemplar}: invalid label name {name:?} (must match [a-zA-Z_][a-zA-Z0-9_]*)"
    )]
    InvalidExemplarLabelName {
        series: usize,
        exemplar: usize,
        name: String,
    },

    #[error("series {series}, exemplar {exemplar}: value of label {name:?} is not valid UTF-8")]
    InvalidExemplarLabelValue {
        series: usize,
        exemplar: usize,
        name: String,
    },
}

fn in_series(series: &Option<usize>) -> String {
    match series {
        Some(i) => format!(" (in series {i})"),
        None => String::new(),
    }
}

/// The decoder's internal error: boxed so that the `Result`s of the hot per-byte
/// readers stay two words wide and are returned in registers.
type Fail = Box<RemoteWriteError>;

impl RemoteWriteError {
    fn in_series(mut self: Box<Self>, index: usize) -> Box<Self> {
        if let RemoteWriteError::Malformed { series, .. } = &mut *self {
            series.get_or_insert(index);
        }
        self
    }
}

/// Stream identifier chunk that opens every snappy framed stream.
const SNAPPY_FRAMED_MAGIC: &[u8] = b"\xff\x06\x00\x00sNaPpY";

/// The most output a snappy block can produce per input byte: a 3-byte copy element
/// (2-byte offset) emits at most 64 bytes, and no element does better.
const SNAPPY_MAX_EXPANSION: usize = 22;

/// Decompresses a snappy *block* (not the framed format), as remote_write v1 sends.
///
/// The declared decompressed length is read first and checked against `max_len` (and
/// against what the body could possibly expand to) before anything is allocated.
pub fn decompress_snappy(body: &[u8], max_len: usize) -> Result<Vec<u8>, RemoteWriteError> {
    if body.starts_with(SNAPPY_FRAMED_MAGIC) {
        return Err(RemoteWriteError::SnappyFramed);
    }
    let declared = snap::raw::decompress_len(body).map_err(RemoteWriteError::Snappy)?;
    if declared > max_len {
        return Err(RemoteWriteError::DecompressedTooLarge {
            declared,
            limit: max_len,
        });
    }
    // A tiny body declaring a large length would otherwise cost a large allocation
    // before the decoder notices the body is short.
    if declared > body.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
        return Err(RemoteWriteError::SnappyLengthImpossible {
            declared,
            body_len: body.len(),
        });
    }
    let mut out = vec![0u8; declared];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut out)
        .map_err(RemoteWriteError::Snappy)?;
    out.truncate(n);
    Ok(out)
}

/// A decoded `WriteRequest`.
#[derive(Clone, Debug, Default)]
pub struct DecodedRequest<'a> {
    /// Series that carry samples or exemplars, with validated labels.
    pub batch: WriteBatch<'a>,
    /// `MetricMetadata` entries seen; accepted and ignored.
    pub metadata: usize,
    /// Native histogram samples seen (field 4 of `TimeSeries`); not stored.
    pub histograms: usize,
}

/// Decodes a protobuf `WriteRequest` without copying strings: labels borrow from `buf`.
///
/// Series labels are validated as sent (names, strict ascending order) and then those
/// with an empty value are dropped. Exemplar label names are validated too, but exemplar
/// labels are otherwise kept exactly as sent. Series with neither samples nor exemplars
/// are skipped. Unknown fields of any wire type, groups included, are skipped.
pub fn decode_write_request(buf: &[u8]) -> Result<DecodedRequest<'_>, RemoteWriteError> {
    // Every label, sample, exemplar and series occupies at least two bytes on the wire,
    // so below this size every count and offset fits the batch's u32 ranges.
    if buf.len() > u32::MAX as usize {
        return Err(RemoteWriteError::RequestTooLarge { len: buf.len() });
    }
    decode(buf).map_err(|e| *e)
}

fn decode(buf: &[u8]) -> Result<DecodedRequest<'_>, Fail> {
    let mut d = Decoder::with_capacity_for(buf);
    let mut r = Reader::new(buf, 0);
    let mut series = 0usize;
    while !r.is_empty() {
        let (field, wt) = r.tag()?;
        match (field, wt) {
            (1, LEN) => {
                let m = r.message()?;
                d.series(m, series).map_err(|e| e.in_series(series))?;
                series += 1;
            }
            (3, LEN) => {
                r.bytes()?;
                d.metadata += 1;
            }
            (1, _) => {
                return Err(
                    r.wrong_type("WriteRequest.timeseries (field 1) must be length-delimited")
                )
            }
            (3, _) => {
                return Err(r.wrong_type("WriteRequest.metadata (field 3) must be length-delimited"))
            }
            _ => r.skip(field, wt)?,
        }
    }
    Ok(d.finish())
}

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const SGROUP: u8 = 3;
const EGROUP: u8 = 4;
const I32: u8 = 5;

/// Nesting limit for unknown groups, which are skipped recursively.
const MAX_GROUP_DEPTH: u32 = 32;

/// A cursor over one protobuf message. `base` is the offset of `buf` within the whole
/// body, kept only so errors can point at the right byte.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    tag_at: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Reader {
            buf,
            pos: 0,
            base,
            tag_at: 0,
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[cold]
    fn err_at(&self, pos: usize, what: &'static str) -> Fail {
        Box::new(RemoteWriteError::Malformed {
            offset: self.base + pos,
            series: None,
            what,
        })
    }

    /// A known field arrived with a wire type its schema does not allow.
    #[cold]
    fn wrong_type(&self, what: &'static str) -> Fail {
        self.err_at(self.tag_at, what)
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, Fail> {
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            Some(_) => self.varint_slow(),
            None => Err(self.err_at(self.pos, "truncated varint")),
        }
    }

    fn varint_slow(&mut self) -> Result<u64, Fail> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos + i) else {
                return Err(self.err_at(self.pos, "truncated varint"));
            };
            // The tenth byte holds only bit 63; anything more overflows 64 bits (and a
            // continuation bit there would make the varint longer than ten bytes).
            if i == 9 && b > 1 {
                return Err(self.err_at(self.pos, "varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(v);
            }
        }
        Err(self.err_at(self.pos, "varint overflows 64 bits"))
    }

    /// Reads a field key and returns its field number and wire type.
    #[inline(always)]
    fn tag(&mut self) -> Result<(u32, u8), Fail> {
        self.tag_at = self.pos;
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return Err(self.err_at(self.tag_at, "field key does not fit in 32 bits"));
        }
        let field = (key >> 3) as u32;
        let wt = (key & 7) as u8;
        if field == 0 {
            return Err(self.err_at(self.tag_at, "field number 0 is not allowed"));
        }
        if wt > I32 {
            return Err(self.err_at(self.tag_at, "invalid wire type (6 or 7)"));
        }
        Ok((field, wt))
    }

    /// Reads a length prefix and returns the bytes it covers and their offset in `buf`.
    #[inline(always)]
    fn bytes_at(&mut self) -> Result<(&'a [u8], usize), Fail> {
        let len = self.varint()?;
        let start = self.pos;
        // A length beyond the buffer fails every step here, so huge or lying lengths are
        // rejected without any arithmetic wrapping.
        let s = usize::try_from(len)
            .ok()
            .and_then(|n| start.checked_add(n))
            .and_then(|end| self.buf.get(start..end));
        let Some(s) = s else {
            return Err(self.err_at(
                self.tag_at,
                "length-delimited field runs past the end of its message",
            ));
        };
        self.pos = start + s.len();
        Ok((s, start))
    }

    #[inline(always)]
    fn bytes(&mut self) -> Result<&'a [u8], Fail> {
        self.bytes_at().map(|(s, _)| s)
    }

    #[inline(always)]
    fn message(&mut self) -> Result<Reader<'a>, Fail> {
        let (s, start) = self.bytes_at()?;
        Ok(Reader::new(s, self.base + start))
    }

    #[inline(always)]
    fn fixed64(&mut self) -> Result<u64, Fail> {
        let bytes: Option<[u8; 8]> = self
            .buf
            .get(self.pos..self.pos + 8)
            .and_then(|s| s.try_into().ok());
        match bytes {
            Some(b) => {
                self.pos += 8;
                Ok(u64::from_le_bytes(b))
            }
            None => Err(self.err_at(self.tag_at, "truncated fixed64 field")),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), Fail> {
        if self.buf.len().saturating_sub(self.pos) < n {
            return Err(self.err_at(self.tag_at, "truncated fixed-width field"));
        }
        self.pos += n;
        Ok(())
    }

    /// Skips the value of an unknown field whose key was just read.
    fn skip(&mut self, field: u32, wt: u8) -> Result<(), Fail> {
        self.skip_nested(field, wt, 0)
    }

    fn skip_nested(&mut self, field: u32, wt: u8, depth: u32) -> Result<(), Fail> {
        match wt {
            VARINT => self.varint().map(drop),
            I64 => self.advance(8),
            LEN => self.bytes().map(drop),
            I32 => self.advance(4),
            SGROUP => {
                if depth >= MAX_GROUP_DEPTH {
                    return Err(self.err_at(self.tag_at, "groups nested too deeply"));
                }
                let start = self.tag_at;
                loop {
                    if self.is_empty() {
                        return Err(self.err_at(start, "group has no end-group"));
                    }
                    let (f, w) = self.tag()?;
                    if w == EGROUP {
                        if f == field {
                            return Ok(());
                        }
                        return Err(
                            self.err_at(self.tag_at, "end-group does not match its start-group")
                        );
                    }
                    self.skip_nested(f, w, depth + 1)?;
                }
            }
            _ => Err(self.err_at(self.tag_at, "end-group without a start-group")),
        }
    }
}

/// A series label or exemplar label as read off the wire, not yet validated.
struct RawLabel<'a> {
    name: &'a [u8],
    value: &'a [u8],
}

#[inline]
fn read_label<'a>(mut r: Reader<'a>) -> Result<RawLabel<'a>, Fail> {
    let mut l = RawLabel {
        name: &[],
        value: &[],
    };
    while !r.is_empty() {
        let (field, wt) = r.tag()?;
        match (field, wt) {
            (1, LEN) => l.name = r.bytes()?,
            (2, LEN) => l.value = r.bytes()?,
            (1, _) => return Err(r.wrong_type("Label.name (field 1) must be length-delimited")),
            (2, _) => return Err(r.wrong_type("Label.value (field 2) must be length-delimited")),
            _ => r.skip(field, wt)?,
        }
    }
    Ok(l)
}

fn read_sample(mut r: Reader<'_>) -> Result<Sample, Fail> {
    let mut s = Sample { t: 0, v: 0.0 };
    while !r.is_empty() {
        let (field, wt) = r.tag()?;
        match (field, wt) {
            (1, I64) => s.v = f64::from_bits(r.fixed64()?),
            (2, VARINT) => s.t = r.varint()? as i64,
            (1, _) => return Err(r.wrong_type("Sample.value (field 1) must be a fixed64 double")),
            (2, _) => return Err(r.wrong_type("Sample.timestamp (field 2) must be a varint")),
            _ => r.skip(field, wt)?,
        }
    }
    Ok(s)
}

/// Client-supplied text for an error message, bounded so a huge label name cannot
/// produce a huge response.
fn shown(bytes: &[u8]) -> String {
    const MAX: usize = 128;
    match bytes.get(..MAX) {
        Some(head) if bytes.len() > MAX => format!("{}...", String::from_utf8_lossy(head)),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Whether `name` sorts strictly after `prev`, bytewise as Prometheus orders labels.
/// Names are short and usually differ in their first bytes, where a plain loop beats
/// a call into `memcmp`.
#[inline]
fn name_follows(prev: &str, name: &str) -> bool {
    let (a, b) = (prev.as_bytes(), name.as_bytes());
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

fn label_name(raw: &[u8]) -> Option<&str> {
    let valid = match raw.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_')
                && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        None => false,
    };
    if !valid {
        return None;
    }
    // SAFETY: every byte was just checked to be an ASCII letter, digit or underscore,
    // and ASCII is valid UTF-8. Names are on the hot path; a second scan would cost.
    let name = unsafe { str::from_utf8_unchecked(raw) };
    debug_assert!(is_valid_label_name(name));
    Some(name)
}

struct Decoder<'a> {
    batch: WriteBatch<'a>,
    /// Exemplar labels are collected apart and appended after all series labels at the
    /// end, so a series' own labels stay contiguous even when the sender interleaves
    /// label and exemplar fields.
    exemplar_labels: Vec<LabelRef<'a>>,
    metadata: usize,
    histograms: usize,
}

impl<'a> Decoder<'a> {
    /// Sizes the vectors from a scan of the top-level fields only (one key and length
    /// per series), which is cheap next to the full decode and saves most regrowth.
    fn with_capacity_for(buf: &[u8]) -> Self {
        let mut r = Reader::new(buf, 0);
        let mut series = 0usize;
        while !r.is_empty() {
            let Ok((field, wt)) = r.tag() else { break };
            if r.skip(field, wt).is_err() {
                break;
            }
            if field == 1 && wt == LEN {
                series += 1;
            }
        }
        let mut batch = WriteBatch::default();
        batch.series.reserve(series);
        // Senders usually put one sample in each series. Labels are sized at about 24
        // wire bytes each, typical of Prometheus label sets: longer labels leave spare
        // capacity, shorter ones cost one regrowth.
        batch.samples.reserve(series);
        batch.labels.reserve(buf.len() / 24);
        Decoder {
            batch,
            exemplar_labels: Vec::new(),
            metadata: 0,
            histograms: 0,
        }
    }

    fn series(&mut self, mut r: Reader<'a>, series: usize) -> Result<(), Fail> {
        let l0 = self.batch.labels.len();
        let s0 = self.batch.samples.len();
        let e0 = self.batch.exemplars.len();
        let mut previous: Option<&'a str> = None;
        while !r.is_empty() {
            let (field, wt) = r.tag()?;
            match (field, wt) {
                (1, LEN) => {
                    let raw = read_label(r.message()?)?;
                    self.series_label(raw, series, &mut previous)?;
                }
                (2, LEN) => {
                    let s = read_sample(r.message()?)?;
                    self.batch.samples.push(s);
                }
                (3, LEN) => {
                    let exemplar = self.batch.exemplars.len() - e0;
                    self.exemplar(r.message()?, series, exemplar)?;
                }
                (4, LEN) => {
                    r.bytes()?;
                    self.histograms += 1;
                }
                (1, _) => {
                    return Err(r.wrong_type("TimeSeries.labels (field 1) must be length-delimited"))
                }
                (2, _) => {
                    return Err(
                        r.wrong_type("TimeSeries.samples (field 2) must be length-delimited")
                    )
                }
                (3, _) => {
                    return Err(
                        r.wrong_type("TimeSeries.exemplars (field 3) must be length-delimited")
                    )
                }
                (4, _) => {
                    return Err(
                        r.wrong_type("TimeSeries.histograms (field 4) must be length-delimited")
                    )
                }
                _ => r.skip(field, wt)?,
            }
        }
        let l1 = self.batch.labels.len();
        let s1 = self.batch.samples.len();
        let e1 = self.batch.exemplars.len();
        if s1 == s0 && e1 == e0 {
            self.batch.labels.truncate(l0);
            return Ok(());
        }
        if l1 == l0 {
            return Err(Box::new(RemoteWriteError::NoLabels { series }));
        }
        self.batch.series.push(SeriesEntry {
            labels: l0 as u32..l1 as u32,
            samples: s0 as u32..s1 as u32,
            exemplars: e0 as u32..e1 as u32,
        });
        Ok(())
    }

    #[inline]
    fn series_label(
        &mut self,
        raw: RawLabel<'a>,
        series: usize,
        previous: &mut Option<&'a str>,
    ) -> Result<(), Fail> {
        let Some(name) = label_name(raw.name) else {
            return Err(Box::new(RemoteWriteError::InvalidLabelName {
                series,
                name: shown(raw.name),
            }));
        };
        // Order is checked on every label as sent, including those about to be dropped
        // for an empty value, so a request is judged by what the sender wrote.
        if let Some(prev) = *previous {
            if !name_follows(prev, name) {
                return Err(Box::new(if name == prev {
                    RemoteWriteError::DuplicateLabelName {
                        series,
                        name: shown(name.as_bytes()),
                    }
                } else {
                    RemoteWriteError::LabelsNotSorted {
                        series,
                        previous: shown(prev.as_bytes()),
                        name: shown(name.as_bytes()),
                    }
                }));
            }
        }
        *previous = Some(name);
        if raw.value.is_empty() {
            return Ok(());
        }
        let Ok(value) = str::from_utf8(raw.value) else {
            return Err(Box::new(RemoteWriteError::InvalidLabelValue {
                series,
                name: shown(name.as_bytes()),
            }));
        };
        self.batch.labels.push(LabelRef { name, value });
        Ok(())
    }

    fn exemplar(&mut self, mut r: Reader<'a>, series: usize, exemplar: usize) -> Result<(), Fail> {
        let l0 = self.exemplar_labels.len();
        let mut value = 0u64;
        let mut t = 0i64;
        while !r.is_empty() {
            let (field, wt) = r.tag()?;
            match (field, wt) {
                (1, LEN) => {
                    let raw = read_label(r.message()?)?;
                    let Some(name) = label_name(raw.name) else {
                        return Err(Box::new(RemoteWriteError::InvalidExemplarLabelName {
                            series,
                            exemplar,
                            name: shown(raw.name),
                        }));
                    };
                    let Ok(value) = str::from_utf8(raw.value) else {
                        return Err(Box::new(RemoteWriteError::InvalidExemplarLabelValue {
                            series,
                            exemplar,
                            name: shown(name.as_bytes()),
                        }));
                    };
                    self.exemplar_labels.push(LabelRef { name, value });
                }
                (2, I64) => value = r.fixed64()?,
                (3, VARINT) => t = r.varint()? as i64,
                (1, _) => {
                    return Err(r.wrong_type("Exemplar.labels (field 1) must be length-delimited"))
                }
                (2, _) => {
                    return Err(r.wrong_type("Exemplar.value (field 2) must be a fixed64 double"))
                }
                (3, _) => return Err(r.wrong_type("Exemplar.timestamp (field 3) must be a varint")),
                _ => r.skip(field, wt)?,
            }
        }
        self.batch.exemplars.push(ExemplarRef {
            labels: l0 as u32..self.exemplar_labels.len() as u32,
            value: f64::from_bits(value),
            t,
        });
        Ok(())
    }

    fn finish(mut self) -> DecodedRequest<'a> {
        if !self.exemplar_labels.is_empty() {
            let shift = self.batch.labels.len() as u32;
            for e in &mut self.batch.exemplars {
                e.labels = e.labels.start + shift..e.labels.end + shift;
            }
            self.batch.labels.extend_from_slice(&self.exemplar_labels);
        }
        DecodedRequest {
            batch: self.batch,
            metadata: self.metadata,
            histograms: self.histograms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::proto;
    use pharos_model::STALE_NAN;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;
    use prost::Message;

    fn compress(raw: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(raw).unwrap()
    }

    // --- hand encoding, for inputs prost cannot produce ---

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn put_key(out: &mut Vec<u8>, field: u32, wt: u8) {
        put_varint(out, (u64::from(field) << 3) | u64::from(wt));
    }

    fn put_len(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
        put_key(out, field, LEN);
        put_varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    fn label_bytes(name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut l = Vec::new();
        put_len(&mut l, 1, name);
        put_len(&mut l, 2, value);
        l
    }

    fn sample_bytes(v: f64, t: i64) -> Vec<u8> {
        let mut s = Vec::new();
        put_key(&mut s, 1, I64);
        s.extend_from_slice(&v.to_bits().to_le_bytes());
        put_key(&mut s, 2, VARINT);
        put_varint(&mut s, t as u64);
        s
    }

    /// A request of one series holding `series` as its body.
    fn request_of(series: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        put_len(&mut r, 1, series);
        r
    }

    fn label(name: &str, value: &str) -> proto::Label {
        proto::Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn sample(v: f64, t: i64) -> proto::Sample {
        proto::Sample {
            value: v,
            timestamp: t,
        }
    }

    fn series(labels: &[(&str, &str)], samples: Vec<proto::Sample>) -> proto::TimeSeries {
        proto::TimeSeries {
            labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
            samples,
            exemplars: vec![],
        }
    }

    fn request(timeseries: Vec<proto::TimeSeries>) -> Vec<u8> {
        proto::WriteRequest {
            timeseries,
            metadata: vec![],
        }
        .encode_to_vec()
    }

    fn err_of(buf: &[u8]) -> RemoteWriteError {
        match decode_write_request(buf) {
            Ok(d) => panic!("expected an error, decoded {:?}", d.batch),
            Err(e) => e,
        }
    }

    fn owned(labels: &[LabelRef<'_>]) -> Vec<(String, String)> {
        labels
            .iter()
            .map(|l| (l.name.to_owned(), l.value.to_owned()))
            .collect()
    }

    type OwnedLabels = Vec<(String, String)>;
    /// Exemplar labels, value bits, timestamp.
    type OwnedExemplar = (OwnedLabels, u64, i64);
    type OwnedSeries = (OwnedLabels, Vec<Sample>, Vec<OwnedExemplar>);

    /// What the decoder must produce for a valid request: per kept series, its labels
    /// without empty values, samples, and exemplars as sent.
    fn expected(req: &proto::WriteRequest) -> Vec<OwnedSeries> {
        req.timeseries
            .iter()
            .filter(|ts| !ts.samples.is_empty() || !ts.exemplars.is_empty())
            .map(|ts| {
                let labels = ts
                    .labels
                    .iter()
                    .filter(|l| !l.value.is_empty())
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                let samples = ts
                    .samples
                    .iter()
                    .map(|s| Sample {
                        t: s.timestamp,
                        v: s.value,
                    })
                    .collect();
                let exemplars = ts
                    .exemplars
                    .iter()
                    .map(|e| {
                        let labels = e
                            .labels
                            .iter()
                            .map(|l| (l.name.clone(), l.value.clone()))
                            .collect();
                        (labels, e.value.to_bits(), e.timestamp)
                    })
                    .collect();
                (labels, samples, exemplars)
            })
            .collect()
    }

    fn actual(batch: &WriteBatch<'_>) -> Vec<OwnedSeries> {
        batch
            .series
            .iter()
            .map(|s| {
                let exemplars = batch
                    .series_exemplars(s)
                    .iter()
                    .map(|e| (owned(batch.exemplar_labels(e)), e.value.to_bits(), e.t))
                    .collect();
                (
                    owned(batch.series_labels(s)),
                    batch.series_samples(s).to_vec(),
                    exemplars,
                )
            })
            .collect()
    }

    // --- strategies ---

    fn arb_name() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => Just("__name__".to_owned()),
            6 => "[a-zA-Z_][a-zA-Z0-9_]{0,10}",
        ]
    }

    fn arb_value() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => Just(String::new()),
            3 => "[a-z0-9_./:-]{1,12}",
            3 => any::<String>(),
        ]
    }

    fn arb_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            any::<f64>(),
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(STALE_NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(0.0),
        ]
    }

    fn arb_sample() -> impl Strategy<Value = proto::Sample> {
        (arb_f64(), any::<i64>()).prop_map(|(v, t)| sample(v, t))
    }

    fn arb_exemplar() -> impl Strategy<Value = proto::Exemplar> {
        (
            vec((arb_name(), arb_value()), 0..4),
            arb_f64(),
            any::<i64>(),
        )
            .prop_map(|(labels, value, timestamp)| proto::Exemplar {
                labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
                value,
                timestamp,
            })
    }

    fn arb_series() -> impl Strategy<Value = proto::TimeSeries> {
        (
            btree_map(arb_name(), arb_value(), 0..8),
            vec(arb_sample(), 0..4),
            vec(arb_exemplar(), 0..3),
        )
            .prop_filter(
                "a kept series needs a label with a value",
                |(labels, samples, exemplars)| {
                    labels.values().any(|v| !v.is_empty())
                        || (samples.is_empty() && exemplars.is_empty())
                },
            )
            .prop_map(|(labels, samples, exemplars)| proto::TimeSeries {
                labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
                samples,
                exemplars,
            })
    }

    fn arb_metadata() -> impl Strategy<Value = proto::MetricMetadata> {
        (
            any::<i32>(),
            any::<String>(),
            any::<String>(),
            any::<String>(),
        )
            .prop_map(|(t, name, help, unit)| proto::MetricMetadata {
                r#type: t,
                metric_family_name: name,
                help,
                unit,
            })
    }

    fn arb_request() -> impl Strategy<Value = proto::WriteRequest> {
        (vec(arb_series(), 0..12), vec(arb_metadata(), 0..3)).prop_map(|(timeseries, metadata)| {
            proto::WriteRequest {
                timeseries,
                metadata,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn valid_requests_round_trip(req in arb_request()) {
            let body = compress(&req.encode_to_vec());
            let raw = decompress_snappy(&body, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
            let decoded = decode_write_request(&raw).unwrap();
            // prost's encoder drops a -0.0 value (it equals the 0.0 default), so the
            // reference is what prost itself reads back; NaN payloads and infinities
            // do reach the wire and are compared bit for bit.
            let sent = proto::WriteRequest::decode(raw.as_slice()).unwrap();
            prop_assert_eq!(actual(&decoded.batch), expected(&sent));
            let zeroes_normalised = |r: &proto::WriteRequest| {
                let mut r = r.clone();
                for ts in &mut r.timeseries {
                    for s in &mut ts.samples {
                        if s.value.to_bits() == (-0.0f64).to_bits() {
                            s.value = 0.0;
                        }
                    }
                    for e in &mut ts.exemplars {
                        if e.value.to_bits() == (-0.0f64).to_bits() {
                            e.value = 0.0;
                        }
                    }
                }
                expected(&r)
            };
            prop_assert_eq!(expected(&sent), zeroes_normalised(&req));
            prop_assert_eq!(decoded.metadata, req.metadata.len());
            prop_assert_eq!(decoded.histograms, 0);
            for s in &decoded.batch.series {
                let labels = decoded.batch.series_labels(s);
                prop_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048)) {
            let _ = decode_write_request(&bytes);
            if let Ok(raw) = decompress_snappy(&bytes, 1 << 20) {
                let _ = decode_write_request(&raw);
            }
        }

        #[test]
        fn corrupted_requests_never_panic(
            req in arb_request(),
            edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut raw = req.encode_to_vec();
            if raw.is_empty() {
                return Ok(());
            }
            for (at, byte) in &edits {
                let i = at.index(raw.len());
                raw[i] = *byte;
            }
            let _ = decode_write_request(&raw);
            let _ = decode_write_request(&raw[..cut.index(raw.len())]);
            let mut body = compress(&raw);
            let i = edits[0].0.index(body.len());
            body[i] ^= edits[0].1;
            if let Ok(raw) = decompress_snappy(&body, 1 << 20) {
                let _ = decode_write_request(&raw);
            }
        }
    }

    // --- validation ---

    #[test]
    fn invalid_label_names_are_rejected() {
        for bad in ["", "1abc", "a-b", "a.b", "é", "a b", "__name__:x"] {
            let buf = request(vec![series(&[(bad, "v")], vec![sample(1.0, 1)])]);
            match err_of(&buf) {
                RemoteWriteError::InvalidLabelName { series: 0, name } => assert_eq!(name, bad),
                e => panic!("{bad:?}: unexpected {e:?}"),
            }
        }
        let buf = request(vec![
            series(&[("a", "1")], vec![sample(1.0, 1)]),
            series(&[("a", "1"), ("b-c", "2")], vec![sample(1.0, 1)]),
        ]);
        assert_eq!(
            err_of(&buf).to_string(),
            "series 1: invalid label name \"b-c\" (must match [a-zA-Z_][a-zA-Z0-9_]*)"
        );
    }

    #[test]
    fn invalid_utf8_name_is_an_invalid_name() {
        let mut s = Vec::new();
        put_len(&mut s, 1, &label_bytes(b"a\xff", b"v"));
        put_len(&mut s, 2, &sample_bytes(1.0, 1));
        match err_of(&request_of(&s)) {
            RemoteWriteError::InvalidLabelName { series: 0, name } => assert_eq!(name, "a\u{fffd}"),
            e => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn invalid_utf8_value_is_rejected() {
        let mut s = Vec::new();
        put_len(&mut s, 1, &label_bytes(b"job", b"\xc3\x28"));
        put_len(&mut s, 2, &sample_bytes(1.0, 1));
        let e = err_of(&request_of(&s));
        assert!(
            matches!(&e, RemoteWriteError::InvalidLabelValue { series: 0, name } if name == "job")
        );
        assert_eq!(
            e.to_string(),
            "series 0: value of label \"job\" is not valid UTF-8"
        );
    }

    #[test]
    fn duplicate_and_unsorted_labels_are_distinguished() {
        let dup = request(vec![series(
            &[("__name__", "up"), ("job", "a"), ("job", "b")],
            vec![sample(1.0, 1)],
        )]);
        let e = err_of(&dup);
        assert!(
            matches!(&e, RemoteWriteError::DuplicateLabelName { series: 0, name } if name == "job")
        );
        assert_eq!(e.to_string(), "series 0: duplicate label name \"job\"");

        let unsorted = request(vec![
            series(&[("a", "1")], vec![sample(1.0, 1)]),
            series(&[("job", "a"), ("instance", "b")], vec![sample(1.0, 1)]),
        ]);
        let e = err_of(&unsorted);
        assert!(matches!(
            &e,
            RemoteWriteError::LabelsNotSorted { series: 1, previous, name }
                if previous == "job" && name == "instance"
        ));
        assert_eq!(
            e.to_string(),
            "series 1: labels not sorted by name (\"instance\" comes after \"job\")"
        );

        // Uppercase sorts before lowercase, bytewise, as Prometheus orders labels.
        let buf = request(vec![series(
            &[("B", "1"), ("a", "2")],
            vec![sample(1.0, 1)],
        )]);
        assert!(decode_write_request(&buf).is_ok());
        let buf = request(vec![series(
            &[("a", "1"), ("B", "2")],
            vec![sample(1.0, 1)],
        )]);
        assert!(matches!(
            err_of(&buf),
            RemoteWriteError::LabelsNotSorted { .. }
        ));
    }

    #[test]
    fn empty_values_are_dropped_but_still_validated() {
        let buf = request(vec![series(
            &[("__name__", "up"), ("env", ""), ("job", "api")],
            vec![sample(1.0, 1)],
        )]);
        let d = decode_write_request(&buf).unwrap();
        let s = &d.batch.series[0];
        assert_eq!(
            owned(d.batch.series_labels(s)),
            vec![
                ("__name__".into(), "up".into()),
                ("job".into(), "api".into())
            ]
        );

        let dup_empty = request(vec![series(
            &[("job", ""), ("job", "a")],
            vec![sample(1.0, 1)],
        )]);
        assert!(matches!(
            err_of(&dup_empty),
            RemoteWriteError::DuplicateLabelName { .. }
        ));
        let bad_empty = request(vec![series(
            &[("a-b", ""), ("job", "a")],
            vec![sample(1.0, 1)],
        )]);
        assert!(matches!(
            err_of(&bad_empty),
            RemoteWriteError::InvalidLabelName { .. }
        ));
    }

    #[test]
    fn series_left_without_labels_is_rejected() {
        let buf = request(vec![
            series(&[("a", "1")], vec![sample(1.0, 1)]),
            series(&[("a", "1")], vec![]),
            series(&[("env", ""), ("job", "")], vec![sample(1.0, 1)]),
        ]);
        let e = err_of(&buf);
        assert!(matches!(e, RemoteWriteError::NoLabels { series: 2 }));
        assert_eq!(
            e.to_string(),
            "series 2: no labels (every label is missing or has an empty value)"
        );
        let buf = request(vec![series(&[], vec![sample(1.0, 1)])]);
        assert!(matches!(
            err_of(&buf),
            RemoteWriteError::NoLabels { series: 0 }
        ));
    }

    #[test]
    fn series_without_metric_name_is_allowed() {
        let buf = request(vec![series(&[("job", "api")], vec![sample(2.5, 10)])]);
        let d = decode_write_request(&buf).unwrap();
        assert_eq!(d.batch.series.len(), 1);
        assert_eq!(d.batch.samples, vec![Sample { t: 10, v: 2.5 }]);
    }

    #[test]
    fn series_without_samples_or_exemplars_are_skipped() {
        let buf = request(vec![
            series(&[("a", "1")], vec![]),
            series(&[("b", "2")], vec![sample(1.0, 1)]),
            series(&[], vec![]),
            series(&[("c", "3")], vec![]),
        ]);
        let d = decode_write_request(&buf).unwrap();
        assert_eq!(d.batch.series.len(), 1);
        assert_eq!(owned(&d.batch.labels), vec![("b".into(), "2".into())]);
    }

    #[test]
    fn exemplar_labels_are_validated_and_kept_as_sent() {
        let mut ts = series(&[("job", "api")], vec![]);
        ts.exemplars.push(proto::Exemplar {
            labels: vec![
                label("trace_id", "abc"),
                label("span_id", ""),
                label("a", "x"),
            ],
            value: 1.5,
            timestamp: 7,
        });
        let buf = request(vec![ts.clone()]);
        let d = decode_write_request(&buf).unwrap();
        let s = &d.batch.series[0];
        assert!(d.batch.series_samples(s).is_empty());
        let e = &d.batch.series_exemplars(s)[0];
        assert_eq!((e.value, e.t), (1.5, 7));
        assert_eq!(
            owned(d.batch.exemplar_labels(e)),
            vec![
                ("trace_id".into(), "abc".into()),
                ("span_id".into(), "".into()),
                ("a".into(), "x".into())
            ]
        );

        ts.exemplars.push(proto::Exemplar {
            labels: vec![label("trace-id", "abc")],
            value: 1.0,
            timestamp: 8,
        });
        let e = err_of(&request(vec![
            series(&[("a", "1")], vec![sample(1.0, 1)]),
            ts,
        ]));
        assert!(matches!(
            &e,
            RemoteWriteError::InvalidExemplarLabelName { series: 1, exemplar: 1, name }
                if name == "trace-id"
        ));
        assert_eq!(
            e.to_string(),
            "series 1, exemplar 1: invalid label name \"trace-id\" (must match [a-zA-Z_][a-zA-Z0-9_]*)"
        );
    }

    #[test]
    fn exemplar_value_must_be_utf8() {
        let mut ex = Vec::new();
        put_len(&mut ex, 1, &label_bytes(b"trace_id", b"\xff"));
        let mut s = Vec::new();
        put_len(&mut s, 1, &label_bytes(b"job", b"a"));
        put_len(&mut s, 3, &ex);
        assert!(matches!(
            err_of(&request_of(&s)),
            RemoteWriteError::InvalidExemplarLabelValue {
                series: 0,
                exemplar: 0,
                ..
            }
        ));
    }

    #[test]
    fn interleaved_fields_keep_series_labels_contiguous() {
        let mut ex = Vec::new();
        put_len(&mut ex, 1, &label_bytes(b"trace_id", b"t1"));
        put_key(&mut ex, 2, I64);
        ex.extend_from_slice(&3.0f64.to_bits().to_le_bytes());
        let mut s = Vec::new();
        put_len(&mut s, 1, &label_bytes(b"a", b"1"));
        put_len(&mut s, 3, &ex);
        put_len(&mut s, 2, &sample_bytes(1.0, 5));
        put_len(&mut s, 1, &label_bytes(b"b", b"2"));
        let mut buf = request_of(&s);
        buf.extend(request(vec![series(&[("c", "3")], vec![sample(2.0, 6)])]));
        let d = decode_write_request(&buf).unwrap();
        let got = actual(&d.batch);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].0,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(
            got[0].2,
            vec![(vec![("trace_id".into(), "t1".into())], 3.0f64.to_bits(), 0)]
        );
        assert_eq!(got[1].0, vec![("c".into(), "3".into())]);
    }

    #[test]
    fn nan_bit_patterns_survive() {
        // Encoded by hand: prost, like the Go senders, omits a value equal to 0.0 and so
        // never sends -0.0, but the decoder must keep whatever bits arrive.
        let payload_nan = f64::from_bits(0x7ff8_dead_beef_0001);
        let values = [
            STALE_NAN,
            payload_nan,
            -0.0,
            f64::NEG_INFINITY,
            f64::INFINITY,
        ];
        let mut s = Vec::new();
        put_len(&mut s, 1, &label_bytes(b"a", b"1"));
        for (i, v) in values.iter().enumerate() {
            put_len(&mut s, 2, &sample_bytes(*v, i64::MIN + i as i64));
        }
        let buf = request_of(&s);
        let d = decode_write_request(&buf).unwrap();
        let got: Vec<(u64, i64)> = d
            .batch
            .samples
            .iter()
            .map(|s| (s.v.to_bits(), s.t))
            .collect();
        let want: Vec<(u64, i64)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.to_bits(), i64::MIN + i as i64))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn metadata_and_histograms_are_counted_not_stored() {
        let mut s = Vec::new();
        put_len(&mut s, 1, &label_bytes(b"a", b"1"));
        put_len(&mut s, 4, b"\x08\x01");
        put_len(&mut s, 4, b"");
        let mut buf = request_of(&s);
        buf.extend(
            proto::WriteRequest {
                timeseries: vec![],
                metadata: vec![proto::MetricMetadata {
                    r#type: 1,
                    metric_family_name: "up".into(),
                    help: "h".into(),
                    unit: String::new(),
                }],
            }
            .encode_to_vec(),
        );
        let d = decode_write_request(&buf).unwrap();
        assert_eq!((d.metadata, d.histograms), (1, 2));
        // Histograms alone do not keep a series: nothing stores them yet.
        assert!(d.batch.series.is_empty());
    }

    // --- wire format ---

    /// Appends one unknown field of every wire type, including a nested group.
    fn put_unknowns(out: &mut Vec<u8>, field: u32) {
        put_key(out, field, VARINT);
        put_varint(out, u64::MAX);
        put_key(out, field + 1, I64);
        out.extend_from_slice(&[1; 8]);
        put_len(out, field + 2, b"\x0a\x03abc");
        put_key(out, field + 3, I32);
        out.extend_from_slice(&[2; 4]);
        put_key(out, field + 4, SGROUP);
        put_key(out, 1, VARINT);
        put_varint(out, 300);
        put_key(out, 2, SGROUP);
        put_len(out, 3, b"xyz");
        put_key(out, 2, EGROUP);
        put_key(out, field + 4, EGROUP);
    }

    #[test]
    fn unknown_fields_are_skipped_at_every_level() {
        let mut lab = label_bytes(b"job", b"api");
        put_unknowns(&mut lab, 3);
        let mut smp = sample_bytes(4.25, 99);
        put_unknowns(&mut smp, 3);
        let mut exl = label_bytes(b"trace_id", b"t");
        put_unknowns(&mut exl, 5);
        let mut ex = Vec::new();
        put_len(&mut ex, 1, &exl);
        put_unknowns(&mut ex, 4);
        let mut s = Vec::new();
        put_unknowns(&mut s, 5);
        put_len(&mut s, 1, &lab);
        put_len(&mut s, 2, &smp);
        put_len(&mut s, 3, &ex);
        let mut buf = Vec::new();
        put_unknowns(&mut buf, 4);
        put_len(&mut buf, 1, &s);
        put_unknowns(&mut buf, 100);

        let d = decode_write_request(&buf).unwrap();
        let got = actual(&d.batch);
        assert_eq!(
            got,
            vec![(
                vec![("job".into(), "api".into())],
                vec![Sample { t: 99, v: 4.25 }],
                vec![(vec![("trace_id".into(), "t".into())], 0, 0)]
            )]
        );
    }

    #[test]
    fn last_scalar_wins() {
        let mut smp = sample_bytes(1.0, 1);
        smp.extend(sample_bytes(2.0, 2));
        let mut s = Vec::new();
        put_len(&mut s, 1, &label_bytes(b"a", b"x"));
        put_len(&mut s, 2, &smp);
        let buf = request_of(&s);
        let d = decode_write_request(&buf).unwrap();
        assert_eq!(d.batch.samples, vec![Sample { t: 2, v: 2.0 }]);
    }

    #[test]
    fn malformed_wire_data_is_rejected() {
        let ok_series = {
            let mut s = Vec::new();
            put_len(&mut s, 1, &label_bytes(b"a", b"1"));
            put_len(&mut s, 2, &sample_bytes(1.0, 1));
            s
        };
        let with_series_tail = |tail: &[u8]| {
            let mut s = ok_series.clone();
            s.extend_from_slice(tail);
            request_of(&s)
        };
        let deep_group = {
            let mut g = Vec::new();
            for _ in 0..40 {
                put_key(&mut g, 9, SGROUP);
            }
            for _ in 0..40 {
                put_key(&mut g, 9, EGROUP);
            }
            g
        };
        let cases: Vec<(&str, Vec<u8>, &str, Option<usize>)> = vec![
            ("truncated key", vec![0x80], "truncated varint", None),
            (
                "length past end",
                vec![0x0a, 0x05, 0x00],
                "length-delimited field runs past the end of its message",
                None,
            ),
            (
                "huge length",
                {
                    let mut b = vec![0x0a];
                    put_varint(&mut b, u64::MAX);
                    b
                },
                "length-delimited field runs past the end of its message",
                None,
            ),
            (
                "eleven-byte varint",
                {
                    let mut b = vec![0x10];
                    b.extend_from_slice(&[0xff; 10]);
                    b.push(0x01);
                    b
                },
                "varint overflows 64 bits",
                None,
            ),
            (
                "field zero",
                vec![0x00, 0x00],
                "field number 0 is not allowed",
                None,
            ),
            (
                "wire type 7",
                vec![0x0f],
                "invalid wire type (6 or 7)",
                None,
            ),
            (
                "key over 32 bits",
                {
                    let mut b = Vec::new();
                    put_varint(&mut b, 1 << 35);
                    b
                },
                "field key does not fit in 32 bits",
                None,
            ),
            (
                "stray end-group",
                vec![0x14],
                "end-group without a start-group",
                None,
            ),
            (
                "unterminated group",
                vec![0x13, 0x08, 0x01],
                "group has no end-group",
                None,
            ),
            (
                "mismatched end-group",
                vec![0x13, 0x1c],
                "end-group does not match its start-group",
                None,
            ),
            ("deep groups", deep_group, "groups nested too deeply", None),
            (
                "timeseries as varint",
                vec![0x08, 0x01],
                "WriteRequest.timeseries (field 1) must be length-delimited",
                None,
            ),
            (
                "metadata as varint",
                vec![0x18, 0x01],
                "WriteRequest.metadata (field 3) must be length-delimited",
                None,
            ),
            (
                "truncated fixed64",
                vec![0x11, 1, 2, 3],
                "truncated fixed-width field",
                None,
            ),
            (
                "truncated fixed32",
                vec![0x15, 1, 2, 3],
                "truncated fixed-width field",
                None,
            ),
            (
                "sample value as varint",
                with_series_tail(&{
                    let mut s = Vec::new();
                    put_len(&mut s, 2, &[0x08, 0x01]);
                    s
                }),
                "Sample.value (field 1) must be a fixed64 double",
                Some(0),
            ),
            (
                "sample timestamp as fixed64",
                with_series_tail(&{
                    let mut s = Vec::new();
                    put_len(&mut s, 2, &[0x11, 0, 0, 0, 0, 0, 0, 0, 0]);
                    s
                }),
                "Sample.timestamp (field 2) must be a varint",
                Some(0),
            ),
            (
                "truncated sample value",
                with_series_tail(&{
                    let mut s = Vec::new();
                    put_len(&mut s, 2, &[0x09, 0, 0]);
                    s
                }),
                "truncated fixed64 field",
                Some(0),
            ),
            (
                "label name as varint",
                with_series_tail(&{
                    let mut s = Vec::new();
                    put_len(&mut s, 1, &[0x08, 0x01]);
                    s
                }),
                "Label.name (field 1) must be length-delimited",
                Some(0),
            ),
            (
                "labels as fixed32",
                with_series_tail(&[0x0d, 0, 0, 0, 0]),
                "TimeSeries.labels (field 1) must be length-delimited",
                Some(0),
            ),
            (
                "exemplar timestamp as fixed64",
                with_series_tail(&{
                    let mut s = Vec::new();
                    put_len(&mut s, 3, &[0x19, 0, 0, 0, 0, 0, 0, 0, 0]);
                    s
                }),
                "Exemplar.timestamp (field 3) must be a varint",
                Some(0),
            ),
            (
                "histogram as varint",
                with_series_tail(&[0x20, 0x01]),
                "TimeSeries.histograms (field 4) must be length-delimited",
                Some(0),
            ),
        ];
        for (case, buf, want, want_series) in cases {
            match decode_write_request(&buf) {
                Err(RemoteWriteError::Malformed { what, series, .. }) => {
                    assert_eq!(what, want, "{case}");
                    assert_eq!(series, want_series, "{case}");
                }
                other => panic!("{case}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_message_names_offset_and_series() {
        let good = request(vec![series(&[("a", "1")], vec![sample(1.0, 1)])]);
        let mut s = Vec::new();
        put_len(&mut s, 1, &label_bytes(b"a", b"1"));
        put_key(&mut s, 2, LEN);
        put_varint(&mut s, 50);
        let mut buf = good.clone();
        buf.extend(request_of(&s));
        let e = err_of(&buf);
        // The bad key sits after the first series, the second series' header, and its label.
        let offset = good.len() + 2 + 2 + label_bytes(b"a", b"1").len();
        assert_eq!(
            e.to_string(),
            format!(
                "malformed protobuf at byte {offset} of the decompressed body (in series 1): \
                 length-delimited field runs past the end of its message"
            )
        );
    }

    #[test]
    fn empty_request_is_empty() {
        let d = decode_write_request(&[]).unwrap();
        assert!(d.batch.series.is_empty());
        assert_eq!((d.metadata, d.histograms), (0, 0));
    }

    #[test]
    fn long_names_are_truncated_in_errors() {
        let name = format!("1{}", "x".repeat(1000));
        let buf = request(vec![series(&[(&name, "v")], vec![sample(1.0, 1)])]);
        let msg = err_of(&buf).to_string();
        assert!(msg.len() < 300, "{msg}");
    }

    // --- snappy ---

    #[test]
    fn snappy_limits_and_formats() {
        let raw = request(vec![series(&[("a", "1")], vec![sample(1.0, 1)])]);
        let body = compress(&raw);
        assert_eq!(decompress_snappy(&body, raw.len()).unwrap(), raw);
        match decompress_snappy(&body, raw.len() - 1) {
            Err(RemoteWriteError::DecompressedTooLarge { declared, limit }) => {
                assert_eq!((declared, limit), (raw.len(), raw.len() - 1));
            }
            other => panic!("unexpected {other:?}"),
        }

        // A header declaring 2^32-1 bytes must be refused before any allocation.
        let huge = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(matches!(
            decompress_snappy(&huge, DEFAULT_MAX_DECOMPRESSED_BYTES),
            Err(RemoteWriteError::DecompressedTooLarge { .. })
        ));
        // Within the limit, but more than four bytes could ever expand to.
        let mut short = Vec::new();
        put_varint(&mut short, 1 << 20);
        short.push(0x00);
        let e = decompress_snappy(&short, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap_err();
        assert!(matches!(e, RemoteWriteError::SnappyLengthImpossible { .. }));
        assert_eq!(
            e.to_string(),
            "snappy block declares 1048576 decompressed bytes, more than a 4-byte block can hold"
        );

        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(&mut enc, &raw).unwrap();
        let framed = enc.into_inner().unwrap();
        assert!(matches!(
            decompress_snappy(&framed, DEFAULT_MAX_DECOMPRESSED_BYTES),
            Err(RemoteWriteError::SnappyFramed)
        ));

        assert!(matches!(
            decompress_snappy(&[], DEFAULT_MAX_DECOMPRESSED_BYTES),
            Err(RemoteWriteError::Snappy(_))
        ));
        assert_eq!(
            decompress_snappy(&compress(&[]), 0).unwrap(),
            Vec::<u8>::new()
        );
        assert!(matches!(
            decompress_snappy(&[0x05, 0x00, 0x01], DEFAULT_MAX_DECOMPRESSED_BYTES),
            Err(RemoteWriteError::Snappy(_))
        ));
    }

    #[test]
    fn expansion_bound_admits_the_most_compressible_input() {
        for len in [1usize, 64, 65, 1000, 1 << 20, 4 << 20] {
            let raw = vec![0u8; len];
            let body = compress(&raw);
            assert_eq!(decompress_snappy(&body, len).unwrap(), raw, "len {len}");
        }
    }
}
