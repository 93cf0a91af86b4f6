//! Just enough DER to tell key formats apart and re-wrap SEC1 keys as PKCS#8.
//!
//! The crypto backends parse the keys themselves; this reader only looks at the outer structure so that a
//! public key, an encrypted key or a truncated file gets an error that names the problem, instead of the
//! backend's generic "invalid encoding".

/// DER tags used by the key formats.
pub(crate) mod tag {
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const SEQUENCE: u8 = 0x30;
    /// `[0]` constructed: the curve parameters inside a SEC1 `ECPrivateKey`.
    pub(crate) const CONTEXT_0: u8 = 0xa0;
    /// `[1]` constructed: the public key inside a SEC1 `ECPrivateKey`.
    pub(crate) const CONTEXT_1: u8 = 0xa1;
}

/// Why a DER structure could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DerError {
    /// The input ends before an element does: a truncated key.
    Truncated,
    /// Bytes that are not valid DER.
    Invalid,
    /// An element other than the one the format requires.
    UnexpectedTag,
}

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    pub(crate) tag: u8,
    pub(crate) content: &'a [u8],
}

/// A cursor over a sequence of DER elements.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, without consuming it.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next element, whatever its tag.
    pub(crate) fn read_any(&mut self) -> Result<Element<'a>, DerError> {
        let (&tag, after_tag) = self.rest.split_first().ok_or(DerError::Truncated)?;
        // Multi-byte tags never occur in the key formats.
        if tag & 0x1f == 0x1f {
            return Err(DerError::Invalid);
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError::Truncated)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            // Indefinite lengths are BER, and no key is 4 GiB.
            if count == 0 || count > 4 {
                return Err(DerError::Invalid);
            }
            let (bytes, rest) = split_at_checked(after_len, count)?;
            after_len = rest;
            if bytes[0] == 0 {
                return Err(DerError::Invalid);
            }
            let len = bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(DerError::Invalid);
            }
            len
        };
        let (content, rest) = split_at_checked(after_len, len)?;
        self.rest = rest;
        Ok(Element { tag, content })
    }

    /// Reads the next element and checks its tag.
    pub(crate) fn read(&mut self, expected: u8) -> Result<&'a [u8], DerError> {
        let element = self.read_any()?;
        if element.tag == expected { Ok(element.content) } else { Err(DerError::UnexpectedTag) }
    }

    /// Reads a small non-negative INTEGER such as a version number.
    pub(crate) fn read_small_uint(&mut self) -> Result<u8, DerError> {
        match self.read(tag::INTEGER)? {
            [value] if *value < 0x80 => Ok(*value),
            _ => Err(DerError::Invalid),
        }
    }
}

fn split_at_checked(input: &[u8], at: usize) -> Result<(&[u8], &[u8]), DerError> {
    input.split_at_checked(at).ok_or(DerError::Truncated)
}

/// Reads `input` as exactly one element with tag `expected`, and returns its content.
pub(crate) fn read_single(input: &[u8], expected: u8) -> Result<&[u8], DerError> {
    let mut reader = Reader::new(input);
    let content = reader.read(expected)?;
    if reader.is_empty() { Ok(content) } else { Err(DerError::Invalid) }
}

/// Appends one DER element to `out`.
pub(crate) fn write(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// Bit length of a DER INTEGER's content, read as unsigned.
pub(crate) fn unsigned_bit_len(integer: &[u8]) -> usize {
    let significant = match integer.iter().position(|&b| b != 0) {
        Some(start) => &integer[start..],
        None => return 0,
    };
    significant.len() * 8 - significant[0].leading_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let mut out = Vec::new();
            write(&mut out, tag::OCTET_STRING, &content);
            assert_eq!(read_single(&out, tag::OCTET_STRING).unwrap(), &content[..]);
        }
    }

    #[test]
    fn refuses_truncated_and_non_minimal_input() {
        assert_eq!(Reader::new(&[0x30, 0x05, 0x01]).read_any().unwrap_err(), DerError::Truncated);
        assert_eq!(Reader::new(&[0x30]).read_any().unwrap_err(), DerError::Truncated);
        // Long form for a length that fits the short form.
        assert_eq!(Reader::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).read_any().unwrap_err(), DerError::Invalid);
        // Indefinite length.
        assert_eq!(Reader::new(&[0x30, 0x80, 0, 0]).read_any().unwrap_err(), DerError::Invalid);
    }

    #[test]
    fn counts_integer_bits() {
        assert_eq!(unsigned_bit_len(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(unsigned_bit_len(&[0x01]), 1);
        assert_eq!(unsigned_bit_len(&[0x00]), 0);
    }
}
