//! A bounded reader of NDR 1.0 little-endian octet streams (C706 §14, MS-RPCE §2.2.5): the
//! primitives, alignment, and the conformant (varying) arrays the logon information uses.
//!
//! Alignment is relative to the start of the stream (the byte after the type-serialisation
//! header, itself 16 bytes long, so either origin gives the same alignment). No read allocates:
//! arrays are handed back as slices, after their length was checked against what remains.

use super::PacError;

/// A cursor over one NDR stream.
pub(super) struct Ndr<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Ndr<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub(super) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Skips the padding up to a multiple of `n` (a power of two).
    pub(super) fn align(&mut self, n: usize, what: &'static str) -> Result<(), PacError> {
        let pad = (n - self.pos % n) % n;
        self.take(pad, what).map(|_| ())
    }

    /// The next `n` bytes.
    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], PacError> {
        if n > self.remaining() {
            return Err(PacError::Truncated {
                what,
                offset: self.pos,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(super) fn u16(&mut self, what: &'static str) -> Result<u16, PacError> {
        self.align(2, what)?;
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(super) fn u32(&mut self, what: &'static str) -> Result<u32, PacError> {
        self.align(4, what)?;
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A 32-bit count, as a `usize` checked to fit `elem` bytes each in what remains (so that
    /// nothing proportional to it is allocated or looped over before the bytes are there).
    pub(super) fn count(&mut self, elem: usize, what: &'static str) -> Result<usize, PacError> {
        let offset = self.pos;
        let count = self.u32(what)?;
        let count = usize::try_from(count).map_err(|_| PacError::Truncated { what, offset })?;
        if count.checked_mul(elem).is_none_or(|n| n > self.remaining()) {
            return Err(PacError::Truncated { what, offset });
        }
        Ok(count)
    }

    /// A unique pointer's referent ID: whether the referent follows (deferred).
    pub(super) fn pointer(&mut self, what: &'static str) -> Result<bool, PacError> {
        Ok(self.u32(what)? != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_skips_to_the_next_multiple() {
        // C706 §14.2.2: a primitive of size n starts at a multiple of n from the stream start.
        for (pos, n, after) in [(1, 4, 4), (3, 4, 4), (2, 4, 4), (4, 4, 4), (1, 2, 2)] {
            let buf = [0u8; 8];
            let mut r = Ndr::new(&buf);
            assert!(r.take(pos, "t").is_ok());
            assert!(r.align(n, "t").is_ok());
            assert_eq!(r.remaining(), 8 - after, "pos {pos}, n {n}");
        }
    }

    #[test]
    fn take_and_count_may_reach_the_end_exactly() {
        let buf = [1u8, 2, 3, 4];
        let mut r = Ndr::new(&buf);
        assert_eq!(r.take(4, "t"), Ok(&buf[..]));
        assert_eq!(r.remaining(), 0);
        let mut r = Ndr::new(&buf);
        assert_eq!(
            r.take(5, "t"),
            Err(PacError::Truncated {
                what: "t",
                offset: 0
            })
        );
        // A count of 2 eight-byte elements with exactly 16 bytes after it, then one short.
        let mut stream = vec![2, 0, 0, 0];
        stream.extend([0; 16]);
        assert_eq!(Ndr::new(&stream).count(8, "c"), Ok(2));
        stream.pop();
        assert_eq!(
            Ndr::new(&stream).count(8, "c"),
            Err(PacError::Truncated {
                what: "c",
                offset: 0
            })
        );
    }
}
