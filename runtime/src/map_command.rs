//! `galette map`: list, read and write the maps of a running chain through
//! their pins, for example to load ACL prefixes from a file.
//!
//! Keys and values are text in the forms of `map_text` (numbers, prefixes,
//! hex bytes, as the map's declared types say). `dump` prints `KEY VALUE`
//! lines, the lines `load` reads, so a dump can be loaded again.

use std::path::{Path, PathBuf};

use galette_bundle::{Bundle, MapEntry};

use crate::kernel_map::KernelMap;
use crate::map_text::{TextError, TextForm};
use crate::pins::pin_path;

/// What `galette map` can get wrong, in the user's terms.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("the chain has no map `{name}` (its maps: {known})")]
    NoSuchMap { name: String, known: String },
    #[error("cannot open {} (is the chain running, or was it run with --keep-maps?)", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("`{0}` is per-CPU; galette map writes only maps with one value per key")]
    PerCpu(String),
    #[error("key {text:?}")]
    Key { text: String, source: TextError },
    #[error("value {text:?}")]
    Value { text: String, source: TextError },
    #[error("cannot write `{map}`")]
    Write { map: String, source: std::io::Error },
    #[error("cannot read {} for `{map}`", path.display())]
    ReadFile { path: PathBuf, map: String, source: std::io::Error },
    #[error("line {line}: expected `KEY VALUE`, found {text:?}")]
    LineShape { line: usize, text: String },
    #[error("line {line}")]
    Line { line: usize, source: Box<MapError> },
}

/// A chain map opened through its pin, with the text forms of its keys and
/// values.
#[derive(Debug)]
pub struct PinnedMap {
    pub entry: MapEntry,
    map: KernelMap,
    key: TextForm,
    value: TextForm,
}

impl PinnedMap {
    /// Opens the pinned map `name` of `bundle`'s chain.
    pub fn open(bundle: &Bundle, bpffs: &Path, name: &str) -> Result<PinnedMap, MapError> {
        let entry = bundle.manifest.maps.iter().find(|map| map.name == name).cloned().ok_or_else(|| {
            let names: Vec<&str> = bundle.manifest.maps.iter().map(|map| map.name.as_str()).collect();
            MapError::NoSuchMap {
                name: name.to_owned(),
                known: if names.is_empty() { "none".into() } else { names.join(", ") },
            }
        })?;
        let path = pin_path(bpffs, &entry.pin_name);
        let map = KernelMap::open_pinned(&path, entry.key_size as usize, entry.value_size as usize)
            .map_err(|source| MapError::Open { path, source })?;
        let map = if entry.kind.is_per_cpu() { map.per_cpu() } else { map };
        let key = TextForm::of(&entry.key_type, entry.key_size as usize);
        let value = TextForm::of(&entry.value_type, entry.value_size as usize);
        Ok(PinnedMap { entry, map, key, value })
    }

    /// Every entry (at most `limit`), one `KEY VALUE` line each. A per-CPU
    /// map has one value per CPU on each line, after a comment saying so.
    pub fn dump(&self, limit: usize) -> String {
        let mut out = String::new();
        if self.map.is_per_cpu() {
            out.push_str(&format!(
                "# {} is per-CPU: KEY, then its value on each of the {} CPUs\n",
                self.entry.name,
                crate::kernel_map::possible_cpus()
            ));
        }
        for key in self.map.keys(limit) {
            let mut value = vec![0u8; self.map.value_buffer_len()];
            // A key deleted since it was listed is skipped.
            if !self.map.lookup(&key, &mut value) {
                continue;
            }
            let shown = if self.map.is_per_cpu() {
                let stride = self.map.value_size().div_ceil(8) * 8;
                value
                    .chunks(stride)
                    .map(|cpu| self.value.format(&cpu[..self.map.value_size()]))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                self.value.format(&value)
            };
            out.push_str(&format!("{} {shown}\n", self.key.format(&key)));
        }
        out
    }

    /// Sets `key` to `value`, each read in its text form.
    pub fn set(&self, key: &str, value: &str) -> Result<(), MapError> {
        if self.map.is_per_cpu() {
            return Err(MapError::PerCpu(self.entry.name.clone()));
        }
        let key_bytes = self.key.parse(key).map_err(|source| MapError::Key { text: key.to_owned(), source })?;
        let value_bytes =
            self.value.parse(value).map_err(|source| MapError::Value { text: value.to_owned(), source })?;
        self.map
            .update(&key_bytes, &value_bytes)
            .map_err(|source| MapError::Write { map: self.entry.name.clone(), source })
    }

    /// Sets the entries of `KEY VALUE` lines (blank lines and `#` comments
    /// skipped); returns how many.
    pub fn load(&self, text: &str) -> Result<usize, MapError> {
        let mut loaded = 0;
        for (number, key, value) in entry_lines(text)? {
            self.set(key, value).map_err(|source| MapError::Line { line: number, source: Box::new(source) })?;
            loaded += 1;
        }
        Ok(loaded)
    }

    /// Makes the map hold exactly the entries of `text` (`KEY VALUE` lines,
    /// as [`PinnedMap::load`] reads): sets those that are missing or
    /// different and deletes the others. Every line is read before anything
    /// is written, so text with a bad line changes nothing.
    pub fn replace(&self, text: &str) -> Result<MapChange, MapError> {
        if self.map.is_per_cpu() {
            return Err(MapError::PerCpu(self.entry.name.clone()));
        }
        let mut wanted: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (number, key, value) in entry_lines(text)? {
            let line_error = |source| MapError::Line { line: number, source: Box::new(source) };
            let key =
                self.key.parse(key).map_err(|source| line_error(MapError::Key { text: key.to_owned(), source }))?;
            let value = self
                .value
                .parse(value)
                .map_err(|source| line_error(MapError::Value { text: value.to_owned(), source }))?;
            wanted.retain(|(existing, _)| *existing != key);
            wanted.push((key, value));
        }
        let write_error = |source| MapError::Write { map: self.entry.name.clone(), source };
        let mut change = MapChange::default();
        let mut current = vec![0u8; self.map.value_buffer_len()];
        for (key, value) in &wanted {
            if self.map.lookup(key, &mut current) && current == *value {
                continue;
            }
            self.map.update(key, value).map_err(write_error)?;
            change.set += 1;
        }
        for key in self.map.keys(self.entry.capacity as usize) {
            if !wanted.iter().any(|(kept, _)| *kept == key) {
                self.map.delete(&key).map_err(write_error)?;
                change.deleted += 1;
            }
        }
        Ok(change)
    }
}

/// What [`PinnedMap::replace`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapChange {
    pub set: usize,
    pub deleted: usize,
}

/// The `KEY VALUE` lines of `text` with their line numbers, blank lines and
/// `#` comments skipped.
fn entry_lines(text: &str) -> Result<Vec<(usize, &str, &str)>, MapError> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(key), Some(value), None) = (words.next(), words.next(), words.next()) else {
            return Err(MapError::LineShape { line: number, text: line.to_owned() });
        };
        entries.push((number, key, value));
    }
    Ok(entries)
}

/// One line per map: name, kind, types and sizes, capacity, pin and whether
/// it is there.
pub fn list(bundle: &Bundle, bpffs: &Path) -> String {
    bundle
        .manifest
        .maps
        .iter()
        .map(|map| {
            let path = pin_path(bpffs, &map.pin_name);
            let state = if path.exists() { "pinned" } else { "not pinned" };
            format!(
                "{}  {}<{}, {}>  key {} B, value {} B, {} entries  {} ({state})\n",
                map.name,
                map.kind,
                map.key_type,
                map.value_type,
                map.key_size,
                map.value_size,
                map.capacity,
                path.display()
            )
        })
        .collect()
}

/// `galette run --load MAP=FILE`: entries to load into a chain map before
/// the chain is attached, so that no packet ever meets it empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapFile {
    pub map: String,
    pub path: PathBuf,
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
    pub fn read(&self) -> Result<MapContents, MapError> {
        let text = std::fs::read_to_string(&self.path).map_err(|source| MapError::ReadFile {
            path: self.path.clone(),
            map: self.map.clone(),
            source,
        })?;
        Ok(MapContents { map: self.map.clone(), text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_files_are_map_equals_path() {
        let file: MapFile = "acl_v4=examples/security/acl_v4.txt".parse().unwrap();
        assert_eq!(file, MapFile { map: "acl_v4".into(), path: "examples/security/acl_v4.txt".into() });
        assert!("acl_v4".parse::<MapFile>().is_err());
        assert!("=x".parse::<MapFile>().is_err());
        assert!("x=".parse::<MapFile>().is_err());
    }

    #[test]
    fn a_bad_line_is_named_with_its_cause() {
        let error = MapError::Line {
            line: 2,
            source: Box::new(MapError::Key {
                text: "198.18.0.0/40".into(),
                source: TextError::PrefixTooLong { length: 40 },
            }),
        };
        assert_eq!(
            galette_bundle::error_chain(&error),
            "line 2: key \"198.18.0.0/40\": a prefix of 40 bits is longer than the address"
        );
    }
}
