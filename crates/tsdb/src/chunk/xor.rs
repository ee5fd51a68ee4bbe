//! Appendable head chunk: delta-of-delta timestamps and Gorilla-style XOR values, extended
//! with a scaled-integer value mode.
//!
//! Layout: sample count (u32 LE), first timestamp (i64 LE), then an MSB-first bitstream.
//! The first value is coded like every other one against a previous value of +0.0.
//! Later timestamps are a delta-of-delta in [`TS_WIDTHS`] buckets. Each value starts with
//! a code:
//!
//! | code   | meaning |
//! |--------|---------|
//! | `0`    | same bits as the previous value |
//! | `10`   | scaled: `m = round(prev·10^s) + prediction + residual`, value `m / 10^s` |
//! | `110`  | XOR with the previous value, inside the previous window of meaningful bits |
//! | `1110` | XOR with a new window: 6 bits leading zeros, 6 bits length − 1, the bits |
//! | `1111` | set the scale `s` (4 bits), then `m = round(prev·10^s) + residual` |
//!
//! Plain Gorilla spends 10–50 bits per value on counters and on decimal gauges because the
//! binary mantissa of a decimal changes almost everywhere; as scaled integers those are
//! small deltas. The prediction is either 0 (delta coding) or the previous scaled delta
//! (delta-of-delta coding, which suits steadily rising counters); encoder and decoder
//! both switch between the two from a score of which would have been cheaper recently,
//! so the choice costs no bits.

use super::bits::{bucket_cost, push_bits, push_bucketed, read_bucketed, BitReader};
use super::{scaled_exact, scaled_round, unscale, ChunkError, MAX_SCALE};

const HEADER_LEN: usize = 12;

/// Delta-of-delta buckets: exact (1 bit), scrape jitter of a few ms (6 and 9 bits), an
/// interval change of up to ~30 s, ~24 days, anything.
const TS_WIDTHS: &[u32] = &[0, 4, 6, 16, 32, 64];
/// Scaled-value residual buckets: counter increments and small gauge steps first.
const VAL_WIDTHS: &[u32] = &[7, 10, 16, 32, 64];

const NO_WINDOW: u8 = u8::MAX;
const NO_SCALE: u8 = u8::MAX;
const SCORE_LIMIT: i8 = 2;
/// After a value that fits no scale, how many further such values skip the scale search,
/// which costs up to ten float divisions.
const SCALE_SEARCH_BACKOFF: u8 = 16;

/// Worst case for one sample: 5+64 timestamp bits and 4+6+6+64 value bits.
const MAX_SAMPLE_BYTES: usize = 19;
/// Also covers the header plus the first sample, so the first append allocates once.
const MIN_GROWTH: usize = 32;

/// Codec state after a sample, identical on both sides except for the encoder-only fields.
#[derive(Clone, Copy, Debug)]
struct State {
    t: i64,
    delta: i64,
    vbits: u64,
    /// Scaled delta of the previous sample, 0 unless it was coded scaled.
    prev_dm: i64,
    leading: u8,
    trailing: u8,
    scale: u8,
    /// > 0: predict the scaled delta to repeat; otherwise predict no change.
    score: i8,
    /// Encoder only: unused low bits in the last byte.
    free: u8,
    /// Encoder only: remaining appends without a scale search.
    backoff: u8,
}

impl State {
    const INITIAL: State = State {
        t: 0,
        delta: 0,
        vbits: 0,
        prev_dm: 0,
        leading: NO_WINDOW,
        trailing: 0,
        scale: NO_SCALE,
        score: 0,
        free: 0,
        backoff: 0,
    };

    #[inline]
    fn prev_value(&self) -> f64 {
        f64::from_bits(self.vbits)
    }

    #[inline]
    fn prediction(&self) -> i64 {
        if self.score > 0 {
            self.prev_dm
        } else {
            0
        }
    }

    #[inline]
    fn after_same(&mut self) {
        self.prev_dm = 0;
    }

    #[inline]
    fn after_scaled(&mut self, dm: i64, bits: u64) {
        let as_delta = bucket_cost(dm, VAL_WIDTHS);
        let as_dod = bucket_cost(dm.wrapping_sub(self.prev_dm), VAL_WIDTHS);
        if as_dod < as_delta {
            self.score = (self.score + 1).min(SCORE_LIMIT);
        } else if as_dod > as_delta {
            self.score = (self.score - 1).max(-SCORE_LIMIT);
        }
        self.prev_dm = dm;
        self.vbits = bits;
    }

    #[inline]
    fn after_set_scale(&mut self, scale: u8, bits: u64) {
        self.scale = scale;
        self.score = 0;
        self.prev_dm = 0;
        self.vbits = bits;
    }

    #[inline]
    fn after_xor(&mut self, leading: u8, trailing: u8, bits: u64) {
        self.leading = leading;
        self.trailing = trailing;
        self.prev_dm = 0;
        self.vbits = bits;
    }
}

/// The open chunk of one head series.
#[derive(Clone, Debug)]
pub struct XorAppender {
    buf: Vec<u8>,
    st: State,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    pub fn new() -> Self {
        XorAppender {
            buf: Vec::new(),
            st: State::INITIAL,
        }
    }

    /// Appends a sample. `t` must be greater than the previous timestamp; the encoding
    /// itself would round-trip any sequence, but `last_time` and readers rely on order.
    pub fn append(&mut self, t: i64, v: f64) {
        let n = self.len();
        debug_assert!(n == 0 || t > self.st.t, "timestamps must increase");
        assert!(n < u32::MAX as usize, "chunk sample count overflow");
        self.reserve();
        if n == 0 {
            self.buf.extend_from_slice(&1u32.to_le_bytes());
            self.buf.extend_from_slice(&t.to_le_bytes());
            self.st.free = 0;
            self.st.t = t;
        } else {
            let delta = t.wrapping_sub(self.st.t);
            let dod = delta.wrapping_sub(self.st.delta);
            push_bucketed(&mut self.buf, &mut self.st.free, dod, TS_WIDTHS);
            self.st.t = t;
            self.st.delta = delta;
            self.buf[..4].copy_from_slice(&(n as u32 + 1).to_le_bytes());
        }
        self.push_value(v);
    }

    fn reserve(&mut self) {
        let len = self.buf.len();
        if self.buf.capacity() - len < MAX_SAMPLE_BYTES {
            // Small steps instead of doubling: a sealed head chunk is ~120 samples, and
            // doubling would leave up to half of every series' buffer unused.
            self.buf.reserve_exact((len / 4).max(MIN_GROWTH));
        }
    }

    fn push_value(&mut self, v: f64) {
        let bits = v.to_bits();
        let st = &mut self.st;
        let buf = &mut self.buf;
        if bits == st.vbits {
            push_bits(buf, &mut st.free, 0b0, 1);
            st.after_same();
            return;
        }
        let prev = st.prev_value();
        if st.scale != NO_SCALE {
            if let (Some(base), Some(m)) = (scaled_round(prev, st.scale), scaled_exact(v, st.scale))
            {
                let dm = m.wrapping_sub(base);
                let residual = dm.wrapping_sub(st.prediction());
                push_bits(buf, &mut st.free, 0b10, 2);
                push_bucketed(buf, &mut st.free, residual, VAL_WIDTHS);
                st.after_scaled(dm, bits);
                return;
            }
        }

        let xor = bits ^ st.vbits;
        let lz = xor.leading_zeros() as u8;
        let tz = xor.trailing_zeros() as u8;
        let new_cost = 4 + 12 + u32::from(64 - lz - tz);
        let reuse_cost = if st.leading != NO_WINDOW && lz >= st.leading && tz >= st.trailing {
            3 + u32::from(64 - st.leading - st.trailing)
        } else {
            u32::MAX
        };
        let xor_cost = new_cost.min(reuse_cost);

        let rescale = if st.backoff > 0 {
            st.backoff -= 1;
            None
        } else {
            let found = (0..=MAX_SCALE).find_map(|s| Some((s, scaled_exact(v, s)?)));
            if found.is_none() {
                st.backoff = SCALE_SEARCH_BACKOFF;
            }
            found
        };
        if let Some((s, m)) = rescale {
            let residual = m.wrapping_sub(scaled_round(prev, s).unwrap_or(0));
            if 8 + bucket_cost(residual, VAL_WIDTHS) < xor_cost {
                push_bits(buf, &mut st.free, 0b1111, 4);
                push_bits(buf, &mut st.free, u64::from(s), 4);
                push_bucketed(buf, &mut st.free, residual, VAL_WIDTHS);
                st.after_set_scale(s, bits);
                return;
            }
        }

        if reuse_cost <= new_cost {
            let width = 64 - st.leading - st.trailing;
            push_bits(buf, &mut st.free, 0b110, 3);
            push_bits(buf, &mut st.free, xor >> st.trailing, u32::from(width));
            let (l, t) = (st.leading, st.trailing);
            st.after_xor(l, t, bits);
        } else {
            let width = 64 - lz - tz;
            push_bits(buf, &mut st.free, 0b1110, 4);
            push_bits(buf, &mut st.free, u64::from(lz), 6);
            push_bits(buf, &mut st.free, u64::from(width - 1), 6);
            push_bits(buf, &mut st.free, xor >> tz, u32::from(width));
            st.after_xor(lz, tz, bits);
        }
    }

    pub fn len(&self) -> usize {
        read_count(&self.buf).map_or(0, |c| c as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn first_time(&self) -> Option<i64> {
        read_first_time(&self.buf)
    }

    pub fn last_time(&self) -> Option<i64> {
        (!self.buf.is_empty()).then_some(self.st.t)
    }

    /// The complete encoding of all samples so far, readable by [`XorIter`].
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Heap capacity plus the struct itself.
    pub fn memory_bytes(&self) -> usize {
        self.buf.capacity() + std::mem::size_of::<Self>()
    }

    pub fn into_bytes(mut self) -> Vec<u8> {
        self.buf.shrink_to_fit();
        self.buf
    }
}

fn read_count(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(0..4)?.try_into().ok()?))
}

fn read_first_time(b: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(b.get(4..HEADER_LEN)?.try_into().ok()?))
}

/// Decodes the samples of an encoded chunk. Iteration ends early, with [`XorIter::error`]
/// set, if the bytes are truncated or corrupt.
#[derive(Clone, Debug)]
pub struct XorIter<B: AsRef<[u8]>> {
    bytes: B,
    reader: BitReader,
    remaining: u32,
    started: bool,
    st: State,
    error: Option<ChunkError>,
}

impl<B: AsRef<[u8]>> XorIter<B> {
    pub fn new(bytes: B) -> Self {
        let data = bytes.as_ref();
        let header = (read_count(data), read_first_time(data), data.is_empty());
        let mut it = XorIter {
            reader: BitReader::at_byte(HEADER_LEN),
            remaining: 0,
            started: false,
            st: State::INITIAL,
            error: None,
            bytes,
        };
        match header {
            (_, _, true) => {}
            (Some(n), Some(t), false) => {
                it.remaining = n;
                it.st.t = t;
            }
            _ => it.error = Some(ChunkError::Truncated("xor chunk header")),
        }
        it
    }

    /// Why iteration stopped early, if it did.
    pub fn error(&self) -> Option<&ChunkError> {
        self.error.as_ref()
    }

    fn decode_time(&mut self) -> Result<i64, ChunkError> {
        if !self.started {
            self.started = true;
            return Ok(self.st.t);
        }
        let data = self.bytes.as_ref();
        let dod = read_bucketed(&mut self.reader, data, TS_WIDTHS)
            .ok_or(ChunkError::Truncated("xor timestamp"))?;
        let delta = self.st.delta.wrapping_add(dod);
        self.st.delta = delta;
        self.st.t = self.st.t.wrapping_add(delta);
        Ok(self.st.t)
    }

    fn decode_value(&mut self) -> Result<f64, ChunkError> {
        const TRUNCATED: ChunkError = ChunkError::Truncated("xor value");
        let data = self.bytes.as_ref();
        let r = &mut self.reader;
        let st = &mut self.st;
        match r.read_unary(data, 4).ok_or(TRUNCATED)? {
            0 => st.after_same(),
            1 => {
                let base = if st.scale == NO_SCALE {
                    None
                } else {
                    scaled_round(st.prev_value(), st.scale)
                }
                .ok_or_else(|| corrupt("scaled value without a usable scale"))?;
                let residual = read_bucketed(r, data, VAL_WIDTHS).ok_or(TRUNCATED)?;
                let dm = st.prediction().wrapping_add(residual);
                let v = unscale(base.wrapping_add(dm), st.scale);
                st.after_scaled(dm, v.to_bits());
            }
            2 => {
                if st.leading == NO_WINDOW {
                    return Err(corrupt("XOR window reused before one was set"));
                }
                let width = 64 - u32::from(st.leading) - u32::from(st.trailing);
                let x = r.read_bits(data, width).ok_or(TRUNCATED)?;
                let bits = st.vbits ^ (x << st.trailing);
                let (l, t) = (st.leading, st.trailing);
                st.after_xor(l, t, bits);
            }
            3 => {
                let lz = r.read_bits(data, 6).ok_or(TRUNCATED)? as u32;
                let width = r.read_bits(data, 6).ok_or(TRUNCATED)? as u32 + 1;
                if lz + width > 64 {
                    return Err(corrupt("XOR window exceeds 64 bits"));
                }
                let tz = 64 - lz - width;
                let x = r.read_bits(data, width).ok_or(TRUNCATED)?;
                let bits = st.vbits ^ (x << tz);
                st.after_xor(lz as u8, tz as u8, bits);
            }
            _ => {
                let s = r.read_bits(data, 4).ok_or(TRUNCATED)? as u8;
                if s > MAX_SCALE {
                    return Err(corrupt("decimal scale out of range"));
                }
                let residual = read_bucketed(r, data, VAL_WIDTHS).ok_or(TRUNCATED)?;
                let base = scaled_round(st.prev_value(), s).unwrap_or(0);
                let v = unscale(base.wrapping_add(residual), s);
                st.after_set_scale(s, v.to_bits());
            }
        }
        Ok(f64::from_bits(st.vbits))
    }
}

fn corrupt(what: &str) -> ChunkError {
    ChunkError::Corrupt(what.to_string())
}

impl<B: AsRef<[u8]>> Iterator for XorIter<B> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.remaining == 0 {
            return None;
        }
        let sample = self
            .decode_time()
            .and_then(|t| Ok((t, self.decode_value()?)));
        match sample {
            Ok(s) => {
                self.remaining -= 1;
                Some(s)
            }
            Err(e) => {
                self.error = Some(e);
                self.remaining = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{samples, STALE_NAN};
    use super::*;
    use proptest::prelude::*;

    fn encode(ts: &[i64], vs: &[f64]) -> XorAppender {
        let mut a = XorAppender::new();
        for (&t, &v) in ts.iter().zip(vs) {
            a.append(t, v);
        }
        a
    }

    fn assert_same(got: &[(i64, f64)], ts: &[i64], vs: &[f64]) {
        assert_eq!(got.len(), ts.len());
        for (i, (&(t, v), (&et, &ev))) in got.iter().zip(ts.iter().zip(vs)).enumerate() {
            assert_eq!(t, et, "timestamp {i}");
            assert_eq!(v.to_bits(), ev.to_bits(), "value {i}: {v} vs {ev}");
        }
    }

    #[test]
    fn struct_is_small() {
        assert!(std::mem::size_of::<XorAppender>() <= 64);
    }

    #[test]
    fn empty_chunk() {
        let a = XorAppender::new();
        assert!(a.is_empty());
        assert_eq!(a.len(), 0);
        assert_eq!(a.first_time(), None);
        assert_eq!(a.last_time(), None);
        let mut it = XorIter::new(a.bytes());
        assert_eq!(it.next(), None);
        assert!(it.error().is_none());
        assert!(a.into_bytes().is_empty());
    }

    #[test]
    fn special_values_and_extreme_times() {
        let ts = [i64::MIN, -5, 0, 1, i64::MAX - 1, i64::MAX];
        let vs = [
            f64::from_bits(STALE_NAN),
            -0.0,
            0.0,
            f64::INFINITY,
            f64::from_bits(1),
            f64::NEG_INFINITY,
        ];
        let a = encode(&ts, &vs);
        assert_eq!(a.len(), 6);
        assert_eq!(a.first_time(), Some(i64::MIN));
        assert_eq!(a.last_time(), Some(i64::MAX));
        let got: Vec<_> = XorIter::new(a.bytes()).collect();
        assert_same(&got, &ts, &vs);
    }

    #[test]
    fn truncation_is_reported() {
        let ts: Vec<i64> = (0..50).map(|i| i * 15_000 + (i * 7) % 5).collect();
        let vs: Vec<f64> = (0..50).map(|i| (i * i) as f64 * 0.37).collect();
        let a = encode(&ts, &vs);
        let bytes = a.bytes();
        for cut in 1..bytes.len() {
            let mut it = XorIter::new(&bytes[..cut]);
            let n = it.by_ref().count();
            if cut < bytes.len() - 1 {
                assert!(n < 50, "cut {cut}");
                assert!(it.error().is_some(), "cut {cut}");
            }
        }
    }

    #[test]
    fn steady_counters_predict_the_increment() {
        // ~1000 requests/s scraped every 15 s: increments near 15000 that vary by a few
        // dozen cost a 7-bit residual instead of a 16-bit delta.
        let mut a = XorAppender::new();
        let mut c = 0.0;
        for i in 0..120i64 {
            c += (15_000 + (i * 37) % 41 - 20) as f64;
            a.append(i * 15_000, c);
        }
        assert!(
            a.bytes().len() < 12 + 10 + 120 * 12 / 8,
            "{}",
            a.bytes().len()
        );
        let got: Vec<_> = XorIter::new(a.bytes()).collect();
        assert_eq!(got.len(), 120);
    }

    #[test]
    fn memory_stays_close_to_the_encoded_size() {
        let mut a = XorAppender::new();
        for i in 0..120i64 {
            a.append(i * 15_000 + (i * 3) % 5, (i * 17 % 40) as f64 + 1000.0);
        }
        let slack = a.memory_bytes() - a.bytes().len() - std::mem::size_of::<XorAppender>();
        assert!(slack <= a.bytes().len() / 4 + MIN_GROWTH, "slack {slack}");
        let len = a.bytes().len();
        assert_eq!(a.into_bytes().len(), len);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn round_trips_bit_exactly((ts, vs) in samples(300)) {
            let a = encode(&ts, &vs);
            prop_assert_eq!(a.len(), ts.len());
            prop_assert_eq!(a.first_time(), ts.first().copied());
            prop_assert_eq!(a.last_time(), ts.last().copied());
            let mut it = XorIter::new(a.bytes());
            let got: Vec<_> = it.by_ref().collect();
            prop_assert!(it.error().is_none(), "{:?}", it.error());
            assert_same(&got, &ts, &vs);
            let owned = a.into_bytes();
            let again: Vec<_> = XorIter::new(owned).collect();
            assert_same(&again, &ts, &vs);
        }

        #[test]
        fn every_prefix_is_decodable((ts, vs) in samples(80)) {
            let mut a = XorAppender::new();
            for i in 0..ts.len() {
                a.append(ts[i], vs[i]);
                let mut it = XorIter::new(a.bytes());
                let got: Vec<_> = it.by_ref().collect();
                prop_assert!(it.error().is_none());
                assert_same(&got, &ts[..=i], &vs[..=i]);
            }
        }

        #[test]
        fn arbitrary_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut it = XorIter::new(&bytes);
            let n = it.by_ref().take(10_000).count();
            let _ = (n, it.error());
        }

        #[test]
        fn corrupted_chunks_do_not_panic(
            (ts, vs) in samples(100),
            flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = encode(&ts, &vs).into_bytes();
            if !bytes.is_empty() {
                for (at, x) in flips {
                    let i = at % bytes.len();
                    bytes[i] ^= x;
                }
            }
            let mut it = XorIter::new(&bytes);
            let _ = it.by_ref().take(10_000).count();
        }
    }
}
