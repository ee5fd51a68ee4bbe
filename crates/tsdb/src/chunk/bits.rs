//! MSB-first bit packing for the head chunk encoding.
//!
//! The writer does not own its buffer: the head appender keeps the byte vector and the
//! count of unused bits in its last byte as two separate fields so that its struct stays
//! small, and the reader keeps only a position because the iterator owns the bytes.

/// Appends the low `n` bits of `value` (n ≤ 64), most significant first. `free` is the
/// number of still unused low bits of the last byte of `buf`.
#[inline]
pub(crate) fn push_bits(buf: &mut Vec<u8>, free: &mut u8, value: u64, n: u32) {
    debug_assert!(n <= 64);
    if n == 0 {
        return;
    }
    let mut n = n;
    let mut value = if n == 64 {
        value
    } else {
        value & ((1u64 << n) - 1)
    };
    let f = u32::from(*free);
    if f > 0 {
        if let Some(last) = buf.last_mut() {
            if n <= f {
                *last |= (value << (f - n)) as u8;
                *free -= n as u8;
                return;
            }
            n -= f;
            *last |= (value >> n) as u8;
            value &= (1u64 << n) - 1;
        }
    }
    // Byte aligned now: append the rest as whole bytes, left-aligned in the last one.
    let bytes = n.div_ceil(8);
    let spare = bytes * 8 - n;
    let word = (value << spare).to_be_bytes();
    buf.extend_from_slice(&word[8 - bytes as usize..]);
    *free = spare as u8;
}

#[inline]
fn low_mask8(n: u32) -> u8 {
    if n >= 8 {
        0xFF
    } else {
        (1u8 << n) - 1
    }
}

/// Position of a reader within a byte slice that it does not own.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BitReader {
    pos: usize,
}

impl BitReader {
    pub(crate) fn at_byte(byte: usize) -> Self {
        BitReader {
            pos: byte.saturating_mul(8),
        }
    }

    #[inline]
    pub(crate) fn read_bit(&mut self, data: &[u8]) -> Option<bool> {
        let byte = *data.get(self.pos >> 3)?;
        let bit = (byte >> (7 - (self.pos & 7))) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Counts and consumes one bits up to `max`, plus the terminating zero bit when fewer
    /// than `max` ones come first.
    #[inline]
    pub(crate) fn read_unary(&mut self, data: &[u8], max: u32) -> Option<u32> {
        debug_assert!(max < 32);
        let byte = self.pos >> 3;
        if let Some(word) = data.get(byte..byte + 8) {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(word);
            let w = u64::from_be_bytes(raw) << (self.pos & 7);
            let ones = (!w).leading_zeros().min(max);
            self.pos += (ones + u32::from(ones < max)) as usize;
            return Some(ones);
        }
        let mut ones = 0;
        while ones < max && self.read_bit(data)? {
            ones += 1;
        }
        Some(ones)
    }

    /// Reads `n` bits (n ≤ 64) as the low bits of the result; `None` when the data ends
    /// first, in which case the position is left unchanged.
    #[inline]
    pub(crate) fn read_bits(&mut self, data: &[u8], n: u32) -> Option<u64> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Some(0);
        }
        let end = self.pos.checked_add(n as usize)?;
        if end > data.len().saturating_mul(8) {
            return None;
        }
        let byte = self.pos >> 3;
        let skip = (self.pos & 7) as u32;
        // A single unaligned 8-byte load covers the common case.
        if skip + n <= 64 {
            if let Some(word) = data.get(byte..byte + 8) {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(word);
                let w = u64::from_be_bytes(raw) << skip;
                self.pos = end;
                return Some(w >> (64 - n));
            }
        }
        let mut out = 0u64;
        let mut left = n;
        let mut pos = self.pos;
        while left > 0 {
            let b = *data.get(pos >> 3)?;
            let avail = 8 - (pos & 7) as u32;
            let take = avail.min(left);
            let chunk = (b >> (avail - take)) & low_mask8(take);
            out = (out << take) | u64::from(chunk);
            pos += take as usize;
            left -= take;
        }
        self.pos = pos;
        Some(out)
    }
}

/// Variable-width signed integers: bucket `i` is announced by `i` one bits followed by a
/// zero bit (the last bucket omits the zero), then the value in `widths[i]` bits two's
/// complement. A width of 0 encodes only the value 0. The last width must be 64 so that
/// every value has a bucket.
#[inline]
fn fits(v: i64, width: u32) -> bool {
    match width {
        0 => v == 0,
        64.. => true,
        w => {
            let half = 1i64 << (w - 1);
            (-half..half).contains(&v)
        }
    }
}

#[inline]
fn bucket_of(v: i64, widths: &[u32]) -> usize {
    widths
        .iter()
        .position(|&w| fits(v, w))
        .unwrap_or(widths.len() - 1)
}

/// Number of bits [`push_bucketed`] would write for `v`.
#[inline]
pub(crate) fn bucket_cost(v: i64, widths: &[u32]) -> u32 {
    let i = bucket_of(v, widths);
    let prefix = if i + 1 == widths.len() { i } else { i + 1 };
    prefix as u32 + widths[i]
}

#[inline]
pub(crate) fn push_bucketed(buf: &mut Vec<u8>, free: &mut u8, v: i64, widths: &[u32]) {
    let i = bucket_of(v, widths);
    let ones = (1u64 << i) - 1;
    if i + 1 == widths.len() {
        push_bits(buf, free, ones, i as u32);
    } else {
        push_bits(buf, free, ones << 1, i as u32 + 1);
    }
    let w = widths[i];
    let payload = if w >= 64 {
        v as u64
    } else {
        (v as u64) & ((1u64 << w) - 1)
    };
    push_bits(buf, free, payload, w);
}

#[inline]
pub(crate) fn read_bucketed(r: &mut BitReader, data: &[u8], widths: &[u32]) -> Option<i64> {
    let i = r.read_unary(data, widths.len() as u32 - 1)? as usize;
    let w = widths[i];
    let raw = r.read_bits(data, w)?;
    Some(match w {
        0 => 0,
        64.. => raw as i64,
        w => ((raw << (64 - w)) as i64) >> (64 - w),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_at_every_alignment() {
        let mut buf = Vec::new();
        let mut free = 0u8;
        let items: Vec<(u64, u32)> = (0..200u64)
            .map(|i| {
                let n = (i * 7 % 65) as u32;
                let v = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
                (v, n)
            })
            .collect();
        for &(v, n) in &items {
            push_bits(&mut buf, &mut free, v, n);
        }
        let mut r = BitReader::default();
        for &(v, n) in &items {
            assert_eq!(r.read_bits(&buf, n), Some(v), "n={n}");
        }
        let spare = u32::from(free);
        assert_eq!(r.read_bits(&buf, spare), Some(0));
        assert_eq!(r.read_bits(&buf, 1), None);
        assert_eq!(r.read_bit(&buf), None);
    }

    #[test]
    fn unary_prefixes_near_the_end_of_data() {
        let mut buf = Vec::new();
        let mut free = 0u8;
        for ones in [0u32, 1, 3, 4, 2, 4, 0] {
            let code = if ones == 4 {
                0b1111
            } else {
                ((1u64 << ones) - 1) << 1
            };
            push_bits(
                &mut buf,
                &mut free,
                code,
                if ones == 4 { 4 } else { ones + 1 },
            );
        }
        for pad in [0usize, 9] {
            let mut data = buf.clone();
            data.resize(buf.len() + pad, 0);
            let mut r = BitReader::default();
            for ones in [0u32, 1, 3, 4, 2, 4, 0] {
                assert_eq!(r.read_unary(&data, 4), Some(ones), "pad {pad}");
            }
        }
        let mut r = BitReader::at_byte(buf.len());
        assert_eq!(r.read_unary(&buf, 4), None);
    }

    #[test]
    fn buckets_round_trip_edges() {
        let widths = [0, 5, 16, 32, 64];
        let values = [
            0,
            1,
            -1,
            15,
            -16,
            16,
            -17,
            32767,
            -32768,
            32768,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ];
        let mut buf = Vec::new();
        let mut free = 0u8;
        let mut total = 0;
        for &v in &values {
            push_bucketed(&mut buf, &mut free, v, &widths);
            total += bucket_cost(v, &widths) as usize;
        }
        assert_eq!(buf.len() * 8 - usize::from(free), total);
        let mut r = BitReader::default();
        for &v in &values {
            assert_eq!(read_bucketed(&mut r, &buf, &widths), Some(v));
        }
    }
}
