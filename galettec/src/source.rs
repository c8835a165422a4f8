//! Source files: reading them through one small interface, and the table of
//! files that diagnostics point into.

use std::io;
use std::path::{Path, PathBuf};

use galette_grammar::{Diagnostic, FileId, Span};

/// How the front end reads files. The compiler uses the file system; tests
/// hand in files from memory.
pub trait SourceReader {
    fn read(&self, path: &Path) -> io::Result<String>;

    /// The file's bytes, UTF-8 or not: the `.gal` file is read this way so
    /// that a file that is not UTF-8 gets a diagnostic at its first bad byte
    /// (see [`decode`]).
    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.read(path).map(String::into_bytes)
    }

    /// The names of the directories in `path`, sorted: how the checker lists
    /// the standard NFs to suggest one. A reader that cannot list says so.
    fn subdirectories(&self, path: &Path) -> io::Result<Vec<String>> {
        let _ = path;
        Err(io::Error::new(io::ErrorKind::Unsupported, "this reader cannot list directories"))
    }
}

/// Reads from the file system.
pub struct FileSystem;

impl SourceReader for FileSystem {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn subdirectories(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Files held in memory, by path: for tests.
#[derive(Default)]
pub struct InMemory {
    files: Vec<(PathBuf, String)>,
}

impl InMemory {
    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.files.push((path.into(), text.into()));
        self
    }
}

impl SourceReader for InMemory {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.files
            .iter()
            .find(|(known, _)| known == path)
            .map(|(_, text)| text.clone())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file in memory"))
    }

    fn subdirectories(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = self
            .files
            .iter()
            .filter_map(|(file, _)| {
                let mut rest = file.strip_prefix(path).ok()?.components();
                let first = rest.next()?;
                // A directory holds something: a file directly in `path` is not one.
                rest.next().map(|_| first.as_os_str().to_string_lossy().into_owned())
            })
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// `path` as shown to the user: relative to the current directory, with
/// `..` when it is beside it (`../stdlib-nfs/acl/src/lib.rs`), as written
/// when the two share nothing but the root.
pub fn display_path(path: &Path) -> String {
    let path = normalize(path);
    let relative = std::env::current_dir().ok().and_then(|cwd| relative_to(&path, &cwd));
    relative.unwrap_or(path).display().to_string()
}

/// `path` relative to the directory `base`, both absolute; `None` when they
/// have no common directory but the root, or either is relative.
fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    if !path.is_absolute() || !base.is_absolute() {
        return None;
    }
    let (path_parts, base_parts): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let common = path_parts.iter().zip(&base_parts).take_while(|(a, b)| a == b).count();
    // The root alone is no common directory: /usr/lib is clearer than ../../usr/lib.
    if common <= 1 {
        return None;
    }
    let mut relative = PathBuf::new();
    for _ in common..base_parts.len() {
        relative.push("..");
    }
    relative.extend(&path_parts[common..]);
    Some(relative)
}

/// `a/b/../c` → `a/c`, without touching the file system (so it works for
/// paths that do not exist, and keeps symlinks as written).
pub fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if normal.file_name().is_some() => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// Files from memory in front of the file system: checks a chain that is not
/// on disk against NF crates that are (editors, tests, benchmarks).
#[derive(Default)]
pub struct Overlay {
    pub memory: InMemory,
}

impl SourceReader for Overlay {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.memory.read(path).or_else(|_| FileSystem.read(path))
    }

    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.memory.read_bytes(path).or_else(|_| FileSystem.read_bytes(path))
    }

    fn subdirectories(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = self.memory.subdirectories(path)?;
        names.extend(FileSystem.subdirectories(path).unwrap_or_default());
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// A source file's bytes as text. A file that is not UTF-8 is `E0007` at its
/// first bad byte, returned with the file's text with every bad sequence
/// replaced by U+FFFD, so that the diagnostic can show the line it is on.
pub fn decode(bytes: Vec<u8>, file: FileId) -> Result<String, (String, Diagnostic)> {
    let error = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(error) => error,
    };
    let bad_at = error.utf8_error().valid_up_to();
    let bad_bytes = error.utf8_error().error_len().unwrap_or(error.as_bytes().len() - bad_at);
    let shown: Vec<String> =
        error.as_bytes()[bad_at..bad_at + bad_bytes].iter().map(|b| format!("0x{b:02x}")).collect();
    let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
    // The text before the bad byte is unchanged, and U+FFFD takes its place.
    let span = Span::new(bad_at, bad_at + char::REPLACEMENT_CHARACTER.len_utf8());
    let diagnostic = Diagnostic::error(
        "E0007",
        "the file is not valid UTF-8",
        file,
        span,
        format!("{} is not UTF-8 here", shown.join(" ")),
    )
    .with_help("save the file as UTF-8 (a `.gal` file is UTF-8 text)");
    Err((text, diagnostic))
}

/// One file that diagnostics can point into.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown to the user.
    pub name: String,
    /// The path it was read from, when it was read from one (an editor
    /// turns it into a link).
    pub path: Option<PathBuf>,
    pub text: String,
}

/// Every file read while compiling one chain; a [`FileId`] indexes it.
#[derive(Debug, Clone, Default)]
pub struct SourceFiles {
    files: Vec<SourceFile>,
}

impl SourceFiles {
    /// Adds a file known by a name only.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile { name: name.into(), path: None, text: text.into() });
        self.files.len() - 1
    }

    /// Adds a file read from `path`, shown as [`display_path`] shows it.
    pub fn add_read(&mut self, path: &Path, text: impl Into<String>) -> FileId {
        self.add_as(display_path(path), path, text)
    }

    /// Adds a file read from `path`, shown as `name`.
    pub fn add_as(&mut self, name: impl Into<String>, path: &Path, text: impl Into<String>) -> FileId {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        self.files.push(SourceFile { name: name.into(), path: Some(path), text: text.into() });
        self.files.len() - 1
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_dots_lexically() {
        assert_eq!(normalize(Path::new("tests/d/../../examples/nfs")), PathBuf::from("examples/nfs"));
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }

    #[test]
    fn paths_are_shown_relative_to_the_current_directory() {
        let relative = |path: &str, base: &str| relative_to(Path::new(path), Path::new(base));
        assert_eq!(relative("/work/main/nfs/a/src/lib.rs", "/work/main"), Some(PathBuf::from("nfs/a/src/lib.rs")));
        assert_eq!(
            relative("/work/main/stdlib-nfs/acl", "/work/main/examples"),
            Some(PathBuf::from("../stdlib-nfs/acl"))
        );
        assert_eq!(relative("/usr/lib/x", "/work/main"), None);
        assert_eq!(relative("nfs/a", "/work/main"), None);
    }

    #[test]
    fn text_that_is_not_utf8_is_e0007_at_its_first_bad_byte() {
        assert_eq!(decode(b"chain c\n".to_vec(), 0).unwrap(), "chain c\n");
        let (text, diagnostic) = decode(b"chain c\nrx -> \xff\xfe tx\n".to_vec(), 0).unwrap_err();
        assert_eq!(diagnostic.code, "E0007");
        assert_eq!(&text[diagnostic.primary.span.start..diagnostic.primary.span.end], "\u{fffd}");
        assert_eq!(diagnostic.primary.span.start, 14);
        assert_eq!(diagnostic.primary.message, "0xff is not UTF-8 here");
        let (_, truncated) = decode(b"chain \xe2\x82".to_vec(), 0).unwrap_err();
        assert_eq!(truncated.primary.message, "0xe2 0x82 is not UTF-8 here");
    }

    #[test]
    fn memory_lists_the_directories_that_hold_files() {
        let memory =
            InMemory::default().with("std/acl/Cargo.toml", "").with("std/ttl/src/lib.rs", "").with("std/x", "");
        assert_eq!(memory.subdirectories(Path::new("std")).unwrap(), ["acl", "ttl"]);
    }
}
