//! Byte-aligned chunk encoding for immutable blocks.
//!
//! Blocks compress pages of many concatenated chunks with zstd, which finds repeats and
//! entropy-codes bytes but cannot see through a bitstream. So everything here is whole
//! bytes, with the timestamps and the values of a chunk in two separate runs. The encoder
//! tries the variants below and keeps the one with the smallest estimated compressed size
//! (the empirical entropy of the bytes it would write, see [`ByteEntropy`]).
//!
//! Layout:
//!
//! ```text
//! varint n                   sample count; nothing follows when 0
//! u8     ts mode             0x01 grid, 0x02 planes
//! zz     t0
//! [zz D, zz P]               grid mode: interval and phase
//! ints   n-1 timestamps:     dod mode:  first delta, then delta-of-deltas
//!                            grid mode: offset of each sample from the grid point D
//!                            after the previous sample's grid point, which is the
//!                            point of the grid {t0 - P + k·D} nearest to that sample
//! u8     value mode          0x80: xor; otherwise decimal: scale s (0..=9)
//!                            | 0x10 delta-of-delta | 0x20 exceptions | 0x40 planes
//! xor:      n tag bytes, then the meaningful bytes of each XOR with the previous value
//!           (the first against +0.0); tag = leading_zero_bytes << 4 | trailing_zero_bytes,
//!           0x80 when the XOR is zero
//! decimal:  [varint k, then k × (varint index gap, f64 bits LE)]   exceptions
//!           zz m0, then ints: n-k-1 deltas (or first delta and delta-of-deltas) of the
//!           integers m of the other values, each value being m / 10^s
//!
//! ints:     either zigzag LEB128 varints, or in planes mode a width byte w (1..=8)
//!           followed by w planes, plane p holding byte p (LE) of every zigzag value
//! ```
//!
//! Planes keep values of 8–16 bits cheap: the low plane is entropy coded like any other
//! byte and the nearly constant high plane costs next to nothing, whereas a varint
//! spreads the value's bits over two bytes that both look random.
//!
//! Exceptions keep a counter decimal even when it holds a staleness marker or a stray
//! value with more digits; they are only chosen when cheaper than the XOR mode.

use super::{scaled_exact, unscale, ChunkError, MAX_SCALE};

const TS_GRID: u8 = 0x01;
const TS_PLANES: u8 = 0x02;
const VAL_XOR: u8 = 0x80;
const VAL_SCALE_MASK: u8 = 0x0F;
const VAL_DOD: u8 = 0x10;
const VAL_EXCEPTIONS: u8 = 0x20;
const VAL_PLANES: u8 = 0x40;
const XOR_ZERO_TAG: u8 = 0x80;

/// Appends one self-delimiting encoded chunk of samples to `out`. `ts` must be strictly
/// increasing (the encoding round-trips any order, but readers rely on it) and as long as
/// `vs`.
pub fn encode(ts: &[i64], vs: &[f64], out: &mut Vec<u8>) {
    assert_eq!(ts.len(), vs.len(), "timestamps and values differ in length");
    put_uvarint(out, ts.len() as u64);
    if ts.is_empty() {
        return;
    }

    let dods = dods(ts);
    let dod_cost = IntCost::of(&dods);
    let grid = Grid::choose(ts).filter(|(_, _, cost)| cost.bits < dod_cost.bits);
    match grid {
        Some((grid, offsets, cost)) => {
            out.push(TS_GRID | if cost.planes { TS_PLANES } else { 0 });
            put_zigzag(out, ts[0]);
            put_zigzag(out, grid.d);
            put_zigzag(out, grid.phase);
            put_ints(out, &offsets, cost.planes);
        }
        None => {
            out.push(if dod_cost.planes { TS_PLANES } else { 0 });
            put_zigzag(out, ts[0]);
            put_ints(out, &dods, dod_cost.planes);
        }
    }

    match choose_values(vs) {
        None => {
            out.push(VAL_XOR);
            put_xor_values(vs, out);
        }
        Some(plan) => plan.put(vs, out),
    }
}

/// Decodes one chunk from the start of `data`, appending to `ts` and `vs`; returns the
/// number of bytes consumed. On error nothing is appended.
pub fn decode(data: &[u8], ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<usize, ChunkError> {
    let (ts_len, vs_len) = (ts.len(), vs.len());
    let res = decode_into(data, ts, vs);
    if res.is_err() {
        ts.truncate(ts_len);
        vs.truncate(vs_len);
    }
    res
}

fn decode_into(data: &[u8], ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<usize, ChunkError> {
    let mut r = Reader { data, pos: 0 };
    let n = r.uvarint()?;
    if n == 0 {
        return Ok(r.pos);
    }
    // Every sample takes at least one timestamp byte, which bounds what a corrupt
    // count can make us reserve.
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n <= r.remaining())
        .ok_or_else(|| corrupt("sample count exceeds the data"))?;
    ts.reserve(n);
    vs.reserve(n);
    get_times(&mut r, n, ts)?;
    let vmode = r.byte()?;
    if vmode == VAL_XOR {
        get_xor_values(&mut r, n, vs)?;
    } else {
        get_decimal_values(&mut r, n, vmode, vs)?;
    }
    Ok(r.pos)
}

// ---- timestamps ----

fn get_times(r: &mut Reader<'_>, n: usize, ts: &mut Vec<i64>) -> Result<u8, ChunkError> {
    let ts_mode = r.byte()?;
    if ts_mode & !(TS_GRID | TS_PLANES) != 0 {
        return Err(corrupt(format!("unknown timestamp mode {ts_mode:#04x}")));
    }

    let mut t = r.zigzag()?;
    ts.push(t);
    if ts_mode & TS_GRID != 0 {
        let grid = Grid {
            d: r.zigzag()?,
            phase: r.zigzag()?,
        };
        if grid.d <= 0 {
            return Err(corrupt("non-positive grid interval"));
        }
        let mut ints = IntReader::open(r, ts_mode & TS_PLANES != 0, n - 1)?;
        let mut point = t.wrapping_sub(grid.phase);
        for _ in 1..n {
            let expected = point.wrapping_add(grid.d);
            t = expected.wrapping_add(ints.next(r)?);
            point = grid.snap(expected, t);
            ts.push(t);
        }
    } else {
        let mut ints = IntReader::open(r, ts_mode & TS_PLANES != 0, n - 1)?;
        let mut delta = 0i64;
        for _ in 1..n {
            delta = delta.wrapping_add(ints.next(r)?);
            t = t.wrapping_add(delta);
            ts.push(t);
        }
    }

    Ok(ts_mode)
}

fn dods(ts: &[i64]) -> Vec<i64> {
    let mut prev_delta = 0i64;
    ts.windows(2)
        .map(|w| {
            let delta = w[1].wrapping_sub(w[0]);
            let dod = delta.wrapping_sub(prev_delta);
            prev_delta = delta;
            dod
        })
        .collect()
}

/// Timestamps as offsets from a regular grid of interval `d` (> 0) whose first point is
/// `phase` before the first sample.
#[derive(Clone, Copy, Debug)]
struct Grid {
    d: i64,
    phase: i64,
}

impl Grid {
    /// The grid point nearest to `t`, given that `expected` is a grid point. Snapping to
    /// the grid (instead of restarting it at each sample, as a delta-of-delta does) keeps
    /// the jitter of one sample out of the next sample's offset, and missed scrapes only
    /// shift by whole intervals.
    #[inline]
    fn snap(&self, expected: i64, t: i64) -> i64 {
        let mut r = t.wrapping_sub(expected).rem_euclid(self.d);
        if r > self.d / 2 {
            r -= self.d;
        }
        t.wrapping_sub(r)
    }

    fn offsets(&self, ts: &[i64]) -> Vec<i64> {
        let mut point = ts[0].wrapping_sub(self.phase);
        ts[1..]
            .iter()
            .map(|&t| {
                let expected = point.wrapping_add(self.d);
                point = self.snap(expected, t);
                t.wrapping_sub(expected)
            })
            .collect()
    }

    /// The cheapest grid for `ts`, if any fits: the interval is the most frequent delta or
    /// the average over the whole chunk (for intervals that are not whole milliseconds or
    /// jitter that makes the mode miss), and the phase makes the smallest offset zero so
    /// that all series with similar jitter produce the same few offset bytes.
    fn choose(ts: &[i64]) -> Option<(Grid, Vec<i64>, IntCost)> {
        if ts.len() < 4 {
            return None;
        }
        let mode = most_frequent_delta(ts)?;
        let span = ts[ts.len() - 1].wrapping_sub(ts[0]);
        let intervals = (span as f64 / mode as f64).round();
        let mean = (span as f64 / intervals).round() as i64;
        let mut best: Option<(Grid, Vec<i64>, IntCost)> = None;
        for d in [mode, mean] {
            if d <= 0 || best.as_ref().is_some_and(|(g, _, _)| g.d == d) {
                continue;
            }
            let mut grid = Grid { d, phase: 0 };
            let lowest = grid.offsets(ts).into_iter().min().unwrap_or(0).min(0);
            grid.phase = lowest.wrapping_neg();
            let offsets = grid.offsets(ts);
            let mut cost = IntCost::of(&offsets);
            cost.bits += varint_bits(grid.d) + varint_bits(grid.phase);
            if best.as_ref().is_none_or(|(_, _, c)| cost.bits < c.bits) {
                best = Some((grid, offsets, cost));
            }
        }
        best
    }
}

fn most_frequent_delta(ts: &[i64]) -> Option<i64> {
    let mut deltas: Vec<i64> = ts.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    deltas.sort_unstable();
    let mut best = (0usize, 0i64);
    let mut i = 0;
    while i < deltas.len() {
        let run = deltas[i..].iter().take_while(|&&d| d == deltas[i]).count();
        if run > best.0 {
            best = (run, deltas[i]);
        }
        i += run;
    }
    Some(best.1).filter(|&d| d > 0)
}

// ---- values ----

struct DecimalPlan {
    scale: u8,
    dod: bool,
    planes: bool,
    /// Scaled integers, `None` for exceptions.
    ms: Vec<Option<i64>>,
    /// What follows m0: deltas or delta-of-deltas of the non-exception integers.
    ints: Vec<i64>,
}

/// The cheapest decimal plan, or `None` when the XOR mode is cheaper.
fn choose_values(vs: &[f64]) -> Option<DecimalPlan> {
    let mut present = [false; MAX_SCALE as usize + 1];
    for &v in vs {
        if let Some(s) = (0..=MAX_SCALE).find(|&s| scaled_exact(v, s).is_some()) {
            present[usize::from(s)] = true;
        }
    }
    let mut best = None;
    let mut best_cost = xor_cost(vs);
    for s in (0..=MAX_SCALE).filter(|&s| present[usize::from(s)]) {
        let ms: Vec<Option<i64>> = vs.iter().map(|&v| scaled_exact(v, s)).collect();
        let (mut fixed_cost, mut gap) = (0u64, 0i64);
        for m in &ms {
            if m.is_none() {
                fixed_cost += 64 + varint_bits(gap);
                gap = 0;
            } else {
                gap += 1;
            }
        }
        let mut good = ms.iter().flatten();
        fixed_cost += good.next().map_or(0, |&m0| varint_bits(m0));
        let deltas: Vec<i64> = ms
            .iter()
            .flatten()
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| w[1].wrapping_sub(*w[0]))
            .collect();
        let mut prev = 0i64;
        let dods: Vec<i64> = deltas
            .iter()
            .map(|&d| {
                let dod = d.wrapping_sub(prev);
                prev = d;
                dod
            })
            .collect();
        let (delta_cost, dod_cost) = (IntCost::of(&deltas), IntCost::of(&dods));
        let (dod, cost, ints) = if dod_cost.bits < delta_cost.bits {
            (true, dod_cost, dods)
        } else {
            (false, delta_cost, deltas)
        };
        if fixed_cost + cost.bits < best_cost {
            best_cost = fixed_cost + cost.bits;
            best = Some(DecimalPlan {
                scale: s,
                dod,
                planes: cost.planes,
                ms,
                ints,
            });
        }
    }
    best
}

impl DecimalPlan {
    fn put(&self, vs: &[f64], out: &mut Vec<u8>) {
        let mut mode = self.scale;
        if self.dod {
            mode |= VAL_DOD;
        }
        if self.planes {
            mode |= VAL_PLANES;
        }
        let exceptions = self.ms.iter().filter(|m| m.is_none()).count();
        if exceptions > 0 {
            mode |= VAL_EXCEPTIONS;
        }
        out.push(mode);
        if exceptions > 0 {
            put_uvarint(out, exceptions as u64);
            let mut next = 0usize;
            for (i, (m, v)) in self.ms.iter().zip(vs).enumerate() {
                if m.is_none() {
                    put_uvarint(out, (i - next) as u64);
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                    next = i + 1;
                }
            }
        }
        if let Some(&m0) = self.ms.iter().flatten().next() {
            put_zigzag(out, m0);
            put_ints(out, &self.ints, self.planes);
        }
    }
}

fn get_decimal_values(
    r: &mut Reader<'_>,
    n: usize,
    mode: u8,
    vs: &mut Vec<f64>,
) -> Result<(), ChunkError> {
    let scale = mode & VAL_SCALE_MASK;
    if mode & VAL_XOR != 0 || scale > MAX_SCALE {
        return Err(corrupt(format!("unknown value mode {mode:#04x}")));
    }
    let dod = mode & VAL_DOD != 0;

    // The exception list comes first; walk it once to validate it and find where the
    // integers start, then read both side by side.
    let mut exc = Reader {
        data: r.data,
        pos: r.pos,
    };
    let mut k = 0usize;
    if mode & VAL_EXCEPTIONS != 0 {
        k = usize::try_from(r.uvarint()?)
            .ok()
            .filter(|&k| k <= n)
            .ok_or_else(|| corrupt("more exceptions than samples"))?;
        exc.pos = r.pos;
        let mut next = 0usize;
        for _ in 0..k {
            let gap = usize::try_from(r.uvarint()?).unwrap_or(usize::MAX);
            next = next
                .checked_add(gap)
                .filter(|&i| i < n)
                .ok_or_else(|| corrupt("exception index out of range"))?
                + 1;
            r.skip(8)?;
        }
    }

    let mut m = 0i64;
    let mut delta = 0i64;
    let mut ints = None;
    if k < n {
        m = r.zigzag()?;
        ints = Some(IntReader::open(r, mode & VAL_PLANES != 0, n - k - 1)?);
    }
    let mut next_exc = if k > 0 {
        exc.uvarint()? as usize
    } else {
        usize::MAX
    };
    let mut exc_left = k;
    let mut first = true;
    for i in 0..n {
        if i == next_exc {
            vs.push(f64::from_bits(exc.u64_le()?));
            exc_left -= 1;
            next_exc = if exc_left > 0 {
                i + 1 + exc.uvarint()? as usize
            } else {
                usize::MAX
            };
            continue;
        }
        if !first {
            let x = match ints.as_mut() {
                Some(ints) => ints.next(r)?,
                None => return Err(corrupt("scaled value without integers")),
            };
            delta = if dod { delta.wrapping_add(x) } else { x };
            m = m.wrapping_add(delta);
        }
        first = false;
        vs.push(unscale(m, scale));
    }
    Ok(())
}

fn xor_parts(prev: u64, bits: u64) -> (u8, u8, u64) {
    let x = prev ^ bits;
    if x == 0 {
        return (8, 0, 0);
    }
    let lead = (x.leading_zeros() / 8) as u8;
    let trail = (x.trailing_zeros() / 8) as u8;
    (lead, trail, x >> (8 * u32::from(trail)))
}

fn xor_cost(vs: &[f64]) -> u64 {
    let mut prev = 0u64;
    let mut cost = 0u64;
    for &v in vs {
        let (lead, trail, _) = xor_parts(prev, v.to_bits());
        // The tag byte compresses to a few bits; the meaningful bytes hardly at all.
        cost += 4 + 8 * u64::from(8 - lead - trail);
        prev = v.to_bits();
    }
    cost
}

fn put_xor_values(vs: &[f64], out: &mut Vec<u8>) {
    let mut prev = 0u64;
    for &v in vs {
        let (lead, trail, _) = xor_parts(prev, v.to_bits());
        out.push(if lead == 8 {
            XOR_ZERO_TAG
        } else {
            (lead << 4) | trail
        });
        prev = v.to_bits();
    }
    prev = 0;
    for &v in vs {
        let (lead, trail, x) = xor_parts(prev, v.to_bits());
        let len = usize::from(8 - lead - trail);
        out.extend_from_slice(&x.to_le_bytes()[..len]);
        prev = v.to_bits();
    }
}

fn get_xor_values(r: &mut Reader<'_>, n: usize, vs: &mut Vec<f64>) -> Result<(), ChunkError> {
    let tags = r.take(n)?;
    let mut prev = 0u64;
    for &tag in tags {
        let (lead, trail) = (tag >> 4, tag & 0x0F);
        if lead + trail > 8 {
            return Err(corrupt(format!("invalid XOR tag {tag:#04x}")));
        }
        let len = usize::from(8 - lead - trail);
        let mut raw = [0u8; 8];
        raw[..len].copy_from_slice(r.take(len)?);
        let x = if len == 0 {
            0
        } else {
            u64::from_le_bytes(raw) << (8 * u32::from(trail))
        };
        prev ^= x;
        vs.push(f64::from_bits(prev));
    }
    Ok(())
}

// ---- integer streams ----

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn byte_len(z: u64) -> usize {
    ((64 - z.leading_zeros() as usize).div_ceil(8)).max(1)
}

/// Full size of a zigzag varint, for header fields not worth estimating better.
fn varint_bits(v: i64) -> u64 {
    8 * u64::from((64 - zigzag(v).leading_zeros()).div_ceil(7).max(1))
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

fn put_ints(out: &mut Vec<u8>, ints: &[i64], planes: bool) {
    if !planes {
        for &x in ints {
            put_zigzag(out, x);
        }
        return;
    }
    let width = ints.iter().map(|&x| byte_len(zigzag(x))).max().unwrap_or(1);
    out.push(width as u8);
    for p in 0..width {
        out.extend(ints.iter().map(|&x| (zigzag(x) >> (8 * p)) as u8));
    }
}

/// Estimated compressed size of an integer stream in its cheaper layout.
#[derive(Clone, Copy, Debug)]
struct IntCost {
    bits: u64,
    planes: bool,
}

impl IntCost {
    fn of(ints: &[i64]) -> IntCost {
        let mut varint = ByteEntropy::default();
        for &x in ints {
            let mut z = zigzag(x);
            while z >= 0x80 {
                varint.add(z as u8 | 0x80);
                z >>= 7;
            }
            varint.add(z as u8);
        }
        let varint = varint.bits();

        // Each plane is estimated on its own: high planes are runs of few distinct bytes,
        // which zstd also shortens with matches, so pooling them with the low plane's
        // statistics would overstate their cost.
        let width = ints.iter().map(|&x| byte_len(zigzag(x))).max().unwrap_or(1);
        let mut planes = 8u64;
        for p in 0..width {
            let mut plane = ByteEntropy::default();
            for &x in ints {
                plane.add((zigzag(x) >> (8 * p)) as u8);
            }
            // Even a constant plane costs a match and its length.
            planes += plane.bits().max(24);
        }
        IntCost {
            bits: varint.min(planes),
            planes: planes < varint,
        }
    }
}

/// Empirical order-0 entropy of a byte stream: roughly what zstd's literal coding makes of
/// bytes that hold no repeats. Comparing magnitudes instead would, for example, pick
/// delta-of-delta for random counter increments, whose wider spread compresses worse.
struct ByteEntropy {
    counts: [u32; 256],
    total: u32,
}

impl Default for ByteEntropy {
    fn default() -> Self {
        ByteEntropy {
            counts: [0; 256],
            total: 0,
        }
    }
}

impl ByteEntropy {
    #[inline]
    fn add(&mut self, b: u8) {
        self.counts[usize::from(b)] += 1;
        self.total += 1;
    }

    fn bits(&self) -> u64 {
        let n = f64::from(self.total);
        let entropy: f64 = self
            .counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| f64::from(c) * (n / f64::from(c)).log2())
            .sum();
        entropy.ceil() as u64
    }
}

/// Reads an integer stream written by [`put_ints`].
enum IntReader<'a> {
    Varint,
    Planes {
        data: &'a [u8],
        count: usize,
        width: usize,
        next: usize,
    },
}

impl<'a> IntReader<'a> {
    fn open(r: &mut Reader<'a>, planes: bool, count: usize) -> Result<Self, ChunkError> {
        if !planes {
            return Ok(IntReader::Varint);
        }
        let width = usize::from(r.byte()?);
        if !(1..=8).contains(&width) {
            return Err(corrupt(format!("integer plane width {width}")));
        }
        let len = count
            .checked_mul(width)
            .ok_or(ChunkError::Truncated("packed chunk"))?;
        Ok(IntReader::Planes {
            data: r.take(len)?,
            count,
            width,
            next: 0,
        })
    }

    #[inline]
    fn next(&mut self, r: &mut Reader<'a>) -> Result<i64, ChunkError> {
        match self {
            IntReader::Varint => r.zigzag(),
            IntReader::Planes {
                data,
                count,
                width,
                next,
            } => {
                let i = *next;
                if i >= *count {
                    return Err(corrupt("integer stream overrun"));
                }
                *next += 1;
                let mut z = 0u64;
                for p in 0..*width {
                    z |= u64::from(data[p * *count + i]) << (8 * p);
                }
                Ok(unzigzag(z))
            }
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn byte(&mut self) -> Result<u8, ChunkError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(ChunkError::Truncated("packed chunk"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ChunkError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.data.len())
            .ok_or(ChunkError::Truncated("packed chunk"))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn skip(&mut self, len: usize) -> Result<(), ChunkError> {
        self.take(len).map(|_| ())
    }

    fn u64_le(&mut self) -> Result<u64, ChunkError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }

    #[inline]
    fn uvarint(&mut self) -> Result<u64, ChunkError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(corrupt("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(corrupt("varint longer than 10 bytes"))
    }

    #[inline]
    fn zigzag(&mut self) -> Result<i64, ChunkError> {
        self.uvarint().map(unzigzag)
    }
}

fn corrupt(what: impl Into<String>) -> ChunkError {
    ChunkError::Corrupt(what.into())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{samples, STALE_NAN};
    use super::*;
    use proptest::prelude::*;

    fn round_trip(ts: &[i64], vs: &[f64]) -> Vec<u8> {
        let mut out = vec![0xAB];
        encode(ts, vs, &mut out);
        out.push(0xCD);
        let (mut dts, mut dvs) = (vec![7], vec![7.0]);
        let used = decode(&out[1..], &mut dts, &mut dvs).expect("decodes");
        assert_eq!(used, out.len() - 2);
        assert_eq!(&dts[1..], ts);
        assert_eq!(dvs.len(), vs.len() + 1);
        for (i, (a, b)) in dvs[1..].iter().zip(vs).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "value {i}: {a} vs {b}");
        }
        out[1..out.len() - 1].to_vec()
    }

    /// Timestamp and value mode bytes of a chunk.
    fn modes_of(chunk: &[u8]) -> (u8, u8) {
        let mut r = Reader {
            data: chunk,
            pos: 0,
        };
        let n = r.uvarint().unwrap() as usize;
        let ts_mode = get_times(&mut r, n, &mut Vec::new()).unwrap();
        (ts_mode, r.byte().unwrap())
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(round_trip(&[], &[]), vec![0]);
        round_trip(&[i64::MIN], &[f64::from_bits(STALE_NAN)]);
        round_trip(&[-1], &[-0.0]);
        round_trip(&[i64::MAX], &[0.25]);
    }

    #[test]
    fn picks_the_expected_modes() {
        let mut seed = 7u64;
        let mut jitter = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 60) as i64 % 6
        };
        let ts: Vec<i64> = (0..100).map(|i| 1_000 + i * 15_000 + jitter()).collect();
        let counter: Vec<f64> = (0..100).map(|i| (i * 37 + i % 3) as f64).collect();
        let (ts_mode, v_mode) = modes_of(&round_trip(&ts, &counter));
        assert_eq!(ts_mode & TS_GRID, TS_GRID);
        assert_eq!(v_mode & (VAL_XOR | VAL_SCALE_MASK | VAL_EXCEPTIONS), 0);

        let exact: Vec<i64> = (0..100).map(|i| i * 10_000).collect();
        let gauge: Vec<f64> = (0..100).map(|i| (i % 13) as f64 * 0.25 - 1.5).collect();
        let (_, v_mode) = modes_of(&round_trip(&exact, &gauge));
        assert_eq!(v_mode & (VAL_XOR | VAL_SCALE_MASK), 2);

        let walk: Vec<f64> = (0..100i64)
            .map(|i| (100_000 + (i * 7919 % 601) - 300) as f64 / 100.0)
            .collect();
        let (_, v_mode) = modes_of(&round_trip(&exact, &walk));
        assert_eq!(v_mode & (VAL_XOR | VAL_PLANES), VAL_PLANES);

        let mut stale = counter.clone();
        stale[40] = f64::from_bits(STALE_NAN);
        stale[99] = -0.0;
        let (_, v_mode) = modes_of(&round_trip(&ts, &stale));
        assert_eq!(v_mode & (VAL_EXCEPTIONS | VAL_XOR), VAL_EXCEPTIONS);

        let floats: Vec<f64> = (0..100).map(|i| (i as f64).sqrt()).collect();
        let (_, v_mode) = modes_of(&round_trip(&ts, &floats));
        assert_eq!(v_mode, VAL_XOR);
    }

    #[test]
    fn truncation_is_an_error_and_appends_nothing() {
        let ts: Vec<i64> = (0..60).map(|i| i * 10_000 + i % 3).collect();
        let mut vs: Vec<f64> = (0..60).map(|i| i as f64 * 1.5).collect();
        vs[10] = f64::NAN;
        let chunk = round_trip(&ts, &vs);
        for cut in 0..chunk.len() {
            let (mut a, mut b) = (vec![1], vec![2.0]);
            assert!(decode(&chunk[..cut], &mut a, &mut b).is_err(), "cut {cut}");
            assert_eq!((a.len(), b.len()), (1, 1));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn round_trips_bit_exactly((ts, vs) in samples(300)) {
            round_trip(&ts, &vs);
        }

        #[test]
        fn concatenated_chunks_decode_in_sequence(
            a in samples(50),
            b in samples(50),
        ) {
            let mut out = Vec::new();
            encode(&a.0, &a.1, &mut out);
            encode(&b.0, &b.1, &mut out);
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            let used = decode(&out, &mut ts, &mut vs).unwrap();
            let used2 = decode(&out[used..], &mut ts, &mut vs).unwrap();
            prop_assert_eq!(used + used2, out.len());
            let want_ts: Vec<i64> = a.0.iter().chain(&b.0).copied().collect();
            prop_assert_eq!(ts, want_ts);
            let want_vs: Vec<u64> = a.1.iter().chain(&b.1).map(|v| v.to_bits()).collect();
            let got_vs: Vec<u64> = vs.iter().map(|v| v.to_bits()).collect();
            prop_assert_eq!(got_vs, want_vs);
        }

        #[test]
        fn arbitrary_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            match decode(&bytes, &mut ts, &mut vs) {
                Ok(used) => {
                    prop_assert!(used <= bytes.len());
                    prop_assert_eq!(ts.len(), vs.len());
                }
                Err(_) => prop_assert!(ts.is_empty() && vs.is_empty()),
            }
        }

        #[test]
        fn corrupted_chunks_do_not_panic(
            (ts, vs) in samples(100),
            flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = Vec::new();
            encode(&ts, &vs, &mut bytes);
            for (at, x) in flips {
                let i = at % bytes.len();
                bytes[i] ^= x;
            }
            let (mut dts, mut dvs) = (Vec::new(), Vec::new());
            if decode(&bytes, &mut dts, &mut dvs).is_ok() {
                prop_assert_eq!(dts.len(), dvs.len());
            }
        }
    }
}
