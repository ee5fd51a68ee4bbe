//! Varint and fixed-width helpers for the WAL and block formats. Decoding is
//! bounds-checked everywhere: corrupt input yields an error, never a panic.

pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub &'static str);

/// A read cursor over a byte slice.
#[derive(Clone)]
pub struct Decbuf<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Decbuf<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Decbuf { data, pos: 0 }
    }

    pub fn at(data: &'a [u8], pos: usize) -> Result<Self, DecodeError> {
        if pos > data.len() {
            return Err(DecodeError("offset beyond end"));
        }
        Ok(Decbuf { data, pos })
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self
                .data
                .get(self.pos)
                .ok_or(DecodeError("truncated varint"))?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(DecodeError("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(DecodeError("varint overflows 64 bits"));
            }
        }
    }

    pub fn varint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A length read from the data, checked against what is left so a corrupt length
    /// cannot make the caller allocate gigabytes.
    pub fn len_prefix(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let n = self.uvarint()?;
        if n > (self.remaining() / min_item_bytes.max(1)) as u64 {
            return Err(DecodeError("length exceeds remaining data"));
        }
        Ok(n as usize)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(DecodeError("truncated byte"))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError("length overflow"))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(DecodeError("truncated bytes"))?;
        self.pos = end;
        Ok(s)
    }

    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.len_prefix(1)?;
        let b = self.bytes(n)?;
        std::str::from_utf8(b).map_err(|_| DecodeError("invalid UTF-8 string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_roundtrip(u in any::<u64>(), i in any::<i64>(), s in ".{0,20}") {
            let mut out = Vec::new();
            put_uvarint(&mut out, u);
            put_varint(&mut out, i);
            put_str(&mut out, &s);
            let mut d = Decbuf::new(&out);
            prop_assert_eq!(d.uvarint().unwrap(), u);
            prop_assert_eq!(d.varint().unwrap(), i);
            prop_assert_eq!(d.str().unwrap(), s.as_str());
            prop_assert!(d.is_empty());
        }

        #[test]
        fn garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut d = Decbuf::new(&data);
            while !d.is_empty() {
                if d.uvarint().is_err() || d.str().is_err() { break; }
            }
        }
    }
}
