//! Keys and values of chain maps as text, for `galette map`: what `dump`
//! prints is what `set` and `load` read.
//!
//! The manifest names each map's key and value types as the chain declares
//! them. Integers (`u8` to `u128`, `i8` to `i128`) are decimal numbers,
//! `Ipv4Prefix` and `Ipv6Prefix` are prefixes (`198.18.0.0/15`,
//! `2001:db8::/32`; an address alone is its full-length prefix), the
//! connections of `std.conntrack_out`/`_in` (`ConnKey`, `ConnEntry`) read as
//! in [`conntrack`], and any other type, a struct of the NF's, is its bytes
//! in hex (`0x0a0b...`). Hex
//! bytes are accepted for every type: they are the bytes as stored. A type
//! whose size does not match what the object declares is shown as hex too,
//! since its bytes cannot be what the name says.

use std::net::{Ipv4Addr, Ipv6Addr};

mod conntrack;

/// How the bytes of one key or value read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextForm {
    /// An unsigned integer of this many bytes, in the host's byte order (as
    /// the NF stores it).
    Unsigned { bytes: usize },
    /// A signed integer of this many bytes, in the host's byte order.
    Signed { bytes: usize },
    /// `nf_std::maps::Ipv4Prefix`: a `u32` prefix length in the host's byte
    /// order, then the address in network order.
    Ipv4Prefix,
    /// `nf_std::maps::Ipv6Prefix`: the same with a 16-byte address.
    Ipv6Prefix,
    /// `nf_std::conntrack::ConnKey`: a connection, from the inside.
    Connection,
    /// `nf_std::conntrack::ConnEntry`: what is known of a connection.
    ConnectionEntry,
    /// Any other type: its bytes, as `0x` and two hex digits each.
    Hex { type_name: String, bytes: usize },
}

/// Why a text is not a key or value of its map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("not hex bytes")]
    NotHex,
    #[error("{found} bytes, the map wants {expected}")]
    WrongLength { found: usize, expected: usize },
    #[error("not a number (a `{type_name}` is a decimal number, or 0x-hex bytes)")]
    NotANumber { type_name: String },
    #[error("{text} does not fit in a `{type_name}`")]
    OutOfRange { text: String, type_name: String },
    #[error("not an IPv{version} prefix (such as {example}) or address")]
    NotAPrefix { version: u8, example: &'static str },
    #[error("a prefix of {length} bits is longer than the address")]
    PrefixTooLong { length: u32 },
    #[error("not a connection (such as tcp:198.18.0.2:40000->198.19.0.2:80 or icmp:198.18.0.2#7->198.19.0.2)")]
    NotAConnection { text: String },
    #[error("not a connection entry (such as established,age=12.5s,idle=0.3s,out=12,in=10)")]
    NotAConnectionEntry { text: String },
    #[error("a `{type_name}` is written as 0x-hex bytes ({bytes} of them)")]
    HexOnly { type_name: String, bytes: usize },
}

impl TextForm {
    /// The form of a key or value of type `type_name` that the object
    /// declares `size` bytes long.
    pub fn of(type_name: &str, size: usize) -> TextForm {
        let form = match type_name {
            "u8" => TextForm::Unsigned { bytes: 1 },
            "u16" => TextForm::Unsigned { bytes: 2 },
            "u32" => TextForm::Unsigned { bytes: 4 },
            "u64" => TextForm::Unsigned { bytes: 8 },
            "u128" => TextForm::Unsigned { bytes: 16 },
            "i8" => TextForm::Signed { bytes: 1 },
            "i16" => TextForm::Signed { bytes: 2 },
            "i32" => TextForm::Signed { bytes: 4 },
            "i64" => TextForm::Signed { bytes: 8 },
            "i128" => TextForm::Signed { bytes: 16 },
            "Ipv4Prefix" => TextForm::Ipv4Prefix,
            "Ipv6Prefix" => TextForm::Ipv6Prefix,
            "ConnKey" => TextForm::Connection,
            "ConnEntry" => TextForm::ConnectionEntry,
            _ => TextForm::Hex { type_name: type_name.to_owned(), bytes: size },
        };
        if form.size() == size { form } else { TextForm::Hex { type_name: type_name.to_owned(), bytes: size } }
    }

    /// How many bytes a key or value of this form has.
    pub fn size(&self) -> usize {
        match self {
            TextForm::Unsigned { bytes } | TextForm::Signed { bytes } | TextForm::Hex { bytes, .. } => *bytes,
            TextForm::Ipv4Prefix => 4 + 4,
            TextForm::Ipv6Prefix => 4 + 16,
            TextForm::Connection => conntrack::KEY_SIZE,
            TextForm::ConnectionEntry => conntrack::ENTRY_SIZE,
        }
    }

    /// `bytes` as text. Bytes of the wrong length (which a map of this form
    /// never returns) are shown as hex rather than misread.
    pub fn format(&self, bytes: &[u8]) -> String {
        if bytes.len() != self.size() {
            return hex(bytes);
        }
        match self {
            TextForm::Unsigned { .. } => unsigned(bytes).to_string(),
            TextForm::Signed { .. } => signed(bytes).to_string(),
            TextForm::Ipv4Prefix => {
                let address: [u8; 4] = bytes[4..].try_into().expect("checked length");
                format!("{}/{}", Ipv4Addr::from(address), prefix_length(bytes))
            }
            TextForm::Ipv6Prefix => {
                let address: [u8; 16] = bytes[4..].try_into().expect("checked length");
                format!("{}/{}", Ipv6Addr::from(address), prefix_length(bytes))
            }
            TextForm::Connection => conntrack::format_key(bytes),
            TextForm::ConnectionEntry => conntrack::format_entry(bytes, conntrack::now_ns()),
            TextForm::Hex { .. } => hex(bytes),
        }
    }

    /// The bytes `text` stands for.
    pub fn parse(&self, text: &str) -> Result<Vec<u8>, TextError> {
        if let Some(digits) = text.strip_prefix("0x") {
            let bytes = parse_hex(digits)?;
            return if bytes.len() == self.size() {
                Ok(bytes)
            } else {
                Err(TextError::WrongLength { found: bytes.len(), expected: self.size() })
            };
        }
        match self {
            TextForm::Unsigned { bytes } => {
                let type_name = format!("u{}", bytes * 8);
                let number: u128 = text.parse().map_err(|_| {
                    if text.starts_with('-') && text[1..].parse::<u128>().is_ok() {
                        TextError::OutOfRange { text: text.to_owned(), type_name: type_name.clone() }
                    } else {
                        TextError::NotANumber { type_name: type_name.clone() }
                    }
                })?;
                unsigned_bytes(number, *bytes).ok_or(TextError::OutOfRange { text: text.to_owned(), type_name })
            }
            TextForm::Signed { bytes } => {
                let type_name = format!("i{}", bytes * 8);
                let number: i128 = text.parse().map_err(|_| {
                    if text.trim_start_matches('-').parse::<u128>().is_ok() {
                        TextError::OutOfRange { text: text.to_owned(), type_name: type_name.clone() }
                    } else {
                        TextError::NotANumber { type_name: type_name.clone() }
                    }
                })?;
                signed_bytes(number, *bytes).ok_or(TextError::OutOfRange { text: text.to_owned(), type_name })
            }
            TextForm::Ipv4Prefix => {
                let not_prefix = TextError::NotAPrefix { version: 4, example: "198.18.0.0/15" };
                let (address, length) = split_prefix(text, 32).ok_or(not_prefix.clone())?;
                let address: Ipv4Addr = address.parse().map_err(|_| not_prefix)?;
                Ok(prefix_bytes(length?, &address.octets()))
            }
            TextForm::Ipv6Prefix => {
                let not_prefix = TextError::NotAPrefix { version: 6, example: "2001:db8::/32" };
                let (address, length) = split_prefix(text, 128).ok_or(not_prefix.clone())?;
                let address: Ipv6Addr = address.parse().map_err(|_| not_prefix)?;
                Ok(prefix_bytes(length?, &address.octets()))
            }
            TextForm::Connection => conntrack::parse_key(text),
            TextForm::ConnectionEntry => conntrack::parse_entry(text, conntrack::now_ns()),
            TextForm::Hex { type_name, bytes } => {
                Err(TextError::HexOnly { type_name: type_name.clone(), bytes: *bytes })
            }
        }
    }
}

/// `ADDRESS/LENGTH` or `ADDRESS` (then the full `bits`): the address, and
/// the length or why it is not one. `None` when the length is no number.
fn split_prefix(text: &str, bits: u32) -> Option<(&str, Result<u32, TextError>)> {
    match text.split_once('/') {
        None => Some((text, Ok(bits))),
        Some((address, length)) => {
            let length: u32 = length.parse().ok()?;
            Some((address, if length > bits { Err(TextError::PrefixTooLong { length }) } else { Ok(length) }))
        }
    }
}

/// An LPM key: the prefix length in host order, then the address.
fn prefix_bytes(length: u32, address: &[u8]) -> Vec<u8> {
    let mut bytes = length.to_ne_bytes().to_vec();
    bytes.extend_from_slice(address);
    bytes
}

fn prefix_length(bytes: &[u8]) -> u32 {
    u32::from_ne_bytes(bytes[..4].try_into().expect("a prefix key starts with its length"))
}

/// The unsigned integer in `bytes` (1, 2, 4, 8 or 16 of them), host order.
fn unsigned(bytes: &[u8]) -> u128 {
    match bytes.len() {
        1 => u128::from(bytes[0]),
        2 => u128::from(u16::from_ne_bytes(bytes.try_into().expect("2 bytes"))),
        4 => u128::from(u32::from_ne_bytes(bytes.try_into().expect("4 bytes"))),
        8 => u128::from(u64::from_ne_bytes(bytes.try_into().expect("8 bytes"))),
        _ => u128::from_ne_bytes(bytes.try_into().expect("16 bytes")),
    }
}

fn signed(bytes: &[u8]) -> i128 {
    match bytes.len() {
        1 => i128::from(bytes[0] as i8),
        2 => i128::from(i16::from_ne_bytes(bytes.try_into().expect("2 bytes"))),
        4 => i128::from(i32::from_ne_bytes(bytes.try_into().expect("4 bytes"))),
        8 => i128::from(i64::from_ne_bytes(bytes.try_into().expect("8 bytes"))),
        _ => i128::from_ne_bytes(bytes.try_into().expect("16 bytes")),
    }
}

/// `number` as `size` bytes in host order, if it fits.
fn unsigned_bytes(number: u128, size: usize) -> Option<Vec<u8>> {
    Some(match size {
        1 => u8::try_from(number).ok()?.to_ne_bytes().to_vec(),
        2 => u16::try_from(number).ok()?.to_ne_bytes().to_vec(),
        4 => u32::try_from(number).ok()?.to_ne_bytes().to_vec(),
        8 => u64::try_from(number).ok()?.to_ne_bytes().to_vec(),
        16 => number.to_ne_bytes().to_vec(),
        _ => return None,
    })
}

fn signed_bytes(number: i128, size: usize) -> Option<Vec<u8>> {
    Some(match size {
        1 => i8::try_from(number).ok()?.to_ne_bytes().to_vec(),
        2 => i16::try_from(number).ok()?.to_ne_bytes().to_vec(),
        4 => i32::try_from(number).ok()?.to_ne_bytes().to_vec(),
        8 => i64::try_from(number).ok()?.to_ne_bytes().to_vec(),
        16 => number.to_ne_bytes().to_vec(),
        _ => return None,
    })
}

fn parse_hex(digits: &str) -> Result<Vec<u8>, TextError> {
    if !digits.len().is_multiple_of(2) || !digits.is_ascii() {
        return Err(TextError::NotHex);
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| TextError::NotHex))
        .collect()
}

/// `0x` and two hex digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("0x{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(form: &TextForm, text: &str) {
        let bytes = form.parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(form.format(&bytes), text, "{form:?}");
    }

    #[test]
    fn prefixes_read_and_print_as_prefixes() {
        let v4 = TextForm::of("Ipv4Prefix", 8);
        assert_eq!(v4, TextForm::Ipv4Prefix);
        let bytes = v4.parse("198.18.0.0/15").unwrap();
        assert_eq!(&bytes[..4], &15u32.to_ne_bytes());
        assert_eq!(&bytes[4..], &[198, 18, 0, 0]);
        round_trip(&v4, "198.18.0.0/15");
        assert_eq!(v4.format(&v4.parse("198.18.0.1").unwrap()), "198.18.0.1/32", "an address is a /32");
        let v6 = TextForm::of("Ipv6Prefix", 20);
        round_trip(&v6, "2001:db8::/32");
        round_trip(&v6, "fe80::/10");
        assert_eq!(v6.format(&v6.parse("::1").unwrap()), "::1/128");
    }

    #[test]
    fn integers_read_and_print_as_numbers() {
        let byte = TextForm::of("u8", 1);
        round_trip(&byte, "255");
        assert_eq!(byte.parse("256"), Err(TextError::OutOfRange { text: "256".into(), type_name: "u8".into() }));
        assert!(matches!(byte.parse("-1"), Err(TextError::OutOfRange { .. })));
        let word = TextForm::of("u32", 4);
        assert_eq!(word.parse("1000").unwrap(), 1000u32.to_ne_bytes());
        round_trip(&TextForm::of("u64", 8), "18446744073709551615");
        round_trip(&TextForm::of("u128", 16), "340282366920938463463374607431768211455");
        round_trip(&TextForm::of("u16", 2), "65535");
        let small = TextForm::of("i8", 1);
        round_trip(&small, "-128");
        assert!(matches!(small.parse("128"), Err(TextError::OutOfRange { .. })));
        round_trip(&TextForm::of("i64", 8), "-9000000000");
        round_trip(&TextForm::of("i32", 4), "-7");
        round_trip(&TextForm::of("i16", 2), "300");
        assert!(matches!(word.parse("ten"), Err(TextError::NotANumber { .. })));
    }

    #[test]
    fn other_types_are_hex_bytes() {
        let key = TextForm::of("SourceKey", 8);
        assert_eq!(key, TextForm::Hex { type_name: "SourceKey".into(), bytes: 8 });
        round_trip(&key, "0x0102030405060708");
        assert_eq!(key.parse("7"), Err(TextError::HexOnly { type_name: "SourceKey".into(), bytes: 8 }));
        assert_eq!(key.parse("0x0102"), Err(TextError::WrongLength { found: 2, expected: 8 }));
        assert_eq!(key.parse("0x0g"), Err(TextError::NotHex));
        assert_eq!(key.parse("0x012"), Err(TextError::NotHex));
        assert_eq!(key.parse("0xé1"), Err(TextError::NotHex));
    }

    #[test]
    fn hex_bytes_are_accepted_for_every_type() {
        assert_eq!(TextForm::of("u16", 2).parse("0x0a0b").unwrap(), [10, 11]);
        assert_eq!(TextForm::Ipv4Prefix.parse("0x0800000a00000000").unwrap().len(), 8);
    }

    #[test]
    fn a_type_whose_size_does_not_match_the_object_is_hex() {
        assert_eq!(TextForm::of("u32", 8), TextForm::Hex { type_name: "u32".into(), bytes: 8 });
        assert_eq!(TextForm::of("Ipv4Prefix", 20), TextForm::Hex { type_name: "Ipv4Prefix".into(), bytes: 20 });
        assert_eq!(TextForm::of("u32", 4).format(&[1, 2]), "0x0102", "bytes of the wrong length stay hex");
    }

    #[test]
    fn bad_prefixes_are_explained() {
        let v4 = TextForm::Ipv4Prefix;
        assert_eq!(v4.parse("198.18.0.0/40"), Err(TextError::PrefixTooLong { length: 40 }));
        assert_eq!(v4.parse("2001:db8::/32"), Err(TextError::NotAPrefix { version: 4, example: "198.18.0.0/15" }));
        assert!(matches!(v4.parse("198.18.0.0/x"), Err(TextError::NotAPrefix { .. })));
        assert!(matches!(TextForm::Ipv6Prefix.parse("198.18.0.0/15"), Err(TextError::NotAPrefix { version: 6, .. })));
        assert_eq!(
            v4.parse("198.18.0.0/40").unwrap_err().to_string(),
            "a prefix of 40 bits is longer than the address"
        );
    }
}
