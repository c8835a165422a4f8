//! `galette map`: list, read and write the maps of a running chain through
//! their pins, for example to load ACL prefixes from a file.
//!
//! Keys and values are written as the map's bytes allow: an IPv4 or IPv6
//! prefix (`198.18.0.0/15`) for a prefix key, an address, a decimal number
//! (stored little-endian in the key's or value's size), or hex bytes
//! (`0x0a0b`).

use std::net::IpAddr;

use galette_bundle::{Bundle, MapEntry};

use crate::RunError;
use crate::kernel_map::KernelMap;
use crate::pins::pin_path;

/// Opens the pinned map `name` of `bundle`'s chain.
pub fn open(bundle: &Bundle, bpffs: &std::path::Path, name: &str) -> Result<(MapEntry, KernelMap), RunError> {
    let entry = bundle.manifest.maps.iter().find(|map| map.name == name).cloned().ok_or_else(|| {
        let names: Vec<&str> = bundle.manifest.maps.iter().map(|map| map.name.as_str()).collect();
        RunError::Map(format!(
            "the chain has no map `{name}` (its maps: {})",
            if names.is_empty() { "none".into() } else { names.join(", ") }
        ))
    })?;
    let path = pin_path(bpffs, &entry.pin_name);
    let map = KernelMap::open_pinned(&path, entry.key_size as usize, entry.value_size as usize).map_err(|err| {
        RunError::Map(format!(
            "cannot open {} ({err}); is the chain running (or run with --keep-maps)?",
            path.display()
        ))
    })?;
    let map = if entry.kind.is_per_cpu() { map.per_cpu() } else { map };
    Ok((entry, map))
}

/// One line per map: name, kind, sizes, capacity, pin and whether it is there.
pub fn list(bundle: &Bundle, bpffs: &std::path::Path) -> String {
    bundle
        .manifest
        .maps
        .iter()
        .map(|map| {
            let path = pin_path(bpffs, &map.pin_name);
            let state = if path.exists() { "pinned" } else { "not pinned" };
            format!(
                "{}  {}  key {} B, value {} B, {} entries  {} ({state})\n",
                map.name,
                map.kind,
                map.key_size,
                map.value_size,
                map.capacity,
                path.display()
            )
        })
        .collect()
}

/// Every entry, `key => value` in hex (a per-CPU value as one value per CPU).
pub fn dump(map: &KernelMap, limit: usize) -> String {
    let mut out = String::new();
    for key in map.keys(limit) {
        let mut value = vec![0u8; map.value_buffer_len()];
        if !map.lookup(&key, &mut value) {
            continue;
        }
        let shown = if map.is_per_cpu() {
            let stride = map.value_size().div_ceil(8) * 8;
            value.chunks(stride).map(|cpu| hex(&cpu[..map.value_size()])).collect::<Vec<_>>().join(" ")
        } else {
            hex(&value)
        };
        out.push_str(&format!("{} => {shown}\n", hex(&key)));
    }
    out
}

/// Sets `key` to `value`, parsed for the map's sizes.
pub fn set(entry: &MapEntry, map: &KernelMap, key: &str, value: &str) -> Result<(), RunError> {
    if map.is_per_cpu() {
        return Err(RunError::Map(format!(
            "`{}` is per-CPU; galette map writes only maps with one value per key",
            entry.name
        )));
    }
    let key = parse(key, entry.key_size as usize, entry.kind.name())
        .map_err(|reason| RunError::Map(format!("key {key:?}: {reason}")))?;
    let value = parse(value, entry.value_size as usize, "")
        .map_err(|reason| RunError::Map(format!("value {value:?}: {reason}")))?;
    map.update(&key, &value).map_err(|err| RunError::Map(format!("cannot write `{}`: {err}", entry.name)))
}

/// `galette run --load MAP=FILE`: entries to load into a chain map before
/// the chain is attached, so that no packet ever meets it empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapFile {
    pub map: String,
    pub path: std::path::PathBuf,
}

impl std::str::FromStr for MapFile {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            Some((map, path)) if !map.is_empty() && !path.is_empty() => {
                Ok(MapFile { map: map.to_owned(), path: path.into() })
            }
            _ => Err(format!("expected MAP=FILE, found {text:?}")),
        }
    }
}

/// A [`MapFile`]'s map and the text of its file.
#[derive(Debug, Clone)]
pub struct MapContents {
    pub map: String,
    pub text: String,
}

impl MapFile {
    /// Reads the file (before anything is attached, so that a missing one
    /// costs nothing).
    pub fn read(&self) -> Result<MapContents, RunError> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|err| RunError::Map(format!("cannot read {} for `{}`: {err}", self.path.display(), self.map)))?;
        Ok(MapContents { map: self.map.clone(), text })
    }
}

/// Loads `KEY VALUE` lines (blank lines and `#` comments skipped).
pub fn load(entry: &MapEntry, map: &KernelMap, text: &str) -> Result<usize, RunError> {
    let mut loaded = 0;
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(key), Some(value), None) = (words.next(), words.next(), words.next()) else {
            return Err(RunError::Map(format!("line {}: expected `KEY VALUE`, found {line:?}", number + 1)));
        };
        set(entry, map, key, value).map_err(|err| RunError::Map(format!("line {}: {err}", number + 1)))?;
        loaded += 1;
    }
    Ok(loaded)
}

/// The bytes of `text` for a key or value of `size` bytes.
fn parse(text: &str, size: usize, kind: &str) -> Result<Vec<u8>, String> {
    if let Some(hex_digits) = text.strip_prefix("0x") {
        let bytes = (0..hex_digits.len())
            .step_by(2)
            .map(|i| hex_digits.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or("not hex bytes")?;
        return if bytes.len() == size {
            Ok(bytes)
        } else {
            Err(format!("{} bytes, the map wants {size}", bytes.len()))
        };
    }
    let (address, prefix_len) = match text.split_once('/') {
        Some((address, len)) => (address, Some(len.parse::<u32>().map_err(|_| "a prefix length is a number")?)),
        None => (text, None),
    };
    if let Ok(address) = address.parse::<IpAddr>() {
        let octets = match address {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let full = octets.len() as u32 * 8;
        // An LPM key is a host-order prefix length, then the address.
        let bytes = if kind == "lpm_trie" {
            let len = prefix_len.unwrap_or(full);
            if len > full {
                return Err(format!("a prefix of {len} bits is longer than the address"));
            }
            let mut bytes = len.to_ne_bytes().to_vec();
            bytes.extend(octets);
            bytes
        } else {
            if prefix_len.is_some() {
                return Err("a prefix only fits an lpm_trie key".into());
            }
            octets
        };
        return if bytes.len() == size {
            Ok(bytes)
        } else {
            Err(format!("an address of {} bytes, the map wants {size}", bytes.len()))
        };
    }
    let number: u128 = text.parse().map_err(|_| "not a number, an address, a prefix or 0x-hex")?;
    let bytes = number.to_le_bytes();
    if size > bytes.len() || bytes[size..].iter().any(|&byte| byte != 0) {
        return Err(format!("{number} does not fit in {size} bytes"));
    }
    Ok(bytes[..size].to_vec())
}

fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("0x{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_parse_for_their_sizes() {
        let prefix = parse("198.18.0.0/15", 8, "lpm_trie").unwrap();
        assert_eq!(&prefix[..4], &15u32.to_ne_bytes());
        assert_eq!(&prefix[4..], &[198, 18, 0, 0]);
        assert_eq!(parse("198.18.0.1", 8, "lpm_trie").unwrap()[..4], 32u32.to_ne_bytes());
        assert_eq!(parse("7", 8, "").unwrap(), [7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse("0x0a0b", 2, "").unwrap(), [10, 11]);
        assert!(parse("256", 1, "").is_err());
        assert!(parse("0x0a", 2, "").is_err());
        assert!(parse("198.18.0.0/40", 8, "lpm_trie").is_err());
        assert!(parse("10.0.0.0/8", 4, "hash").is_err());
        assert!(parse("ten", 4, "").is_err());
    }

    #[test]
    fn map_files_are_map_equals_path() {
        let file: MapFile = "acl_v4=examples/security/acl_v4.txt".parse().unwrap();
        assert_eq!(file, MapFile { map: "acl_v4".into(), path: "examples/security/acl_v4.txt".into() });
        assert!("acl_v4".parse::<MapFile>().is_err());
        assert!("=x".parse::<MapFile>().is_err());
        assert!("x=".parse::<MapFile>().is_err());
    }

    #[test]
    fn bytes_print_as_hex() {
        assert_eq!(hex(&[0, 171]), "0x00ab");
    }
}
