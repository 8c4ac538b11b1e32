//! Canonical LEB128 varints, the integer encoding of records, payloads and
//! index files (see `docs/FORMAT.md`): every value has exactly one accepted
//! encoding, so a non-canonical or over-long one is corruption.

/// Defines `put` and `get` of canonical LEB128 varints of the unsigned type
/// `$t`, whose last byte (at bit `$last_shift`) may carry at most `$last_max`.
macro_rules! leb128 {
    ($put:ident, $get:ident, $t:ty, $last_shift:literal, $last_max:literal, $what:literal) => {
        #[doc = concat!("Appends `v` as a canonical LEB128 varint (", $what, ").")]
        #[inline]
        pub(crate) fn $put(out: &mut Vec<u8>, mut v: $t) {
            while v >= 0x80 {
                out.push(((v & 0x7f) as u8) | 0x80);
                v >>= 7;
            }
            out.push((v & 0x7f) as u8);
        }

        #[doc = concat!("Reads a LEB128 varint (", $what, ") at `*pos`, advancing it.")]
        ///
        /// Returns `None` on a truncated, non-canonical (a redundant final
        /// zero byte) or over-long (past the type's bits) encoding, so every
        /// value has exactly one accepted encoding.
        #[inline]
        pub(crate) fn $get(bytes: &[u8], pos: &mut usize) -> Option<$t> {
            let mut v: $t = 0;
            let mut shift = 0u32;
            loop {
                let b = *bytes.get(*pos)?;
                *pos += 1;
                let low = <$t>::from(b & 0x7f);
                if shift == $last_shift && low > $last_max {
                    return None;
                }
                v |= low << shift;
                if b & 0x80 == 0 {
                    // Canonical encodings only: a final zero byte after a
                    // continuation is an over-long encoding of a smaller number.
                    if b == 0 && shift > 0 {
                        return None;
                    }
                    return Some(v);
                }
                shift += 7;
                if shift > $last_shift {
                    return None;
                }
            }
        }
    };
}

leb128!(put_varint, get_varint, u64, 63, 1, "a `u64`, up to 10 bytes");
leb128!(put_varint128, get_varint128, u128, 126, 3, "a `u128`, up to 19 bytes");

/// Bytes of `v` as a LEB128 varint.
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip_and_rejects() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut p = 0;
            assert_eq!(get_varint(&b, &mut p), Some(v));
            assert_eq!(p, b.len());
            let mut p = 0;
            assert_eq!(get_varint(&b[..b.len() - 1], &mut p), None);
        }
        let mut p = 0;
        assert_eq!(get_varint(&[0xff; 11], &mut p), None);
        let mut p = 0;
        assert_eq!(get_varint(&[0x88, 0x00], &mut p), None, "non-canonical 8");
        let mut p = 0;
        // 10th byte may only carry one bit.
        assert_eq!(
            get_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], &mut p),
            None
        );
    }

    #[test]
    fn varint128_roundtrip_and_rejects() {
        for v in [0u128, 1, 127, 128, u128::from(u64::MAX), u128::MAX] {
            let mut b = Vec::new();
            put_varint128(&mut b, v);
            let mut p = 0;
            assert_eq!(get_varint128(&b, &mut p), Some(v));
            assert_eq!(p, b.len());
        }
        let mut p = 0;
        assert_eq!(get_varint128(&[0x81, 0x00], &mut p), None);
    }

    #[test]
    fn varint_lengths_match_the_encoding() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX >> 1, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(varint_len(v), b.len(), "{v}");
        }
    }
}
