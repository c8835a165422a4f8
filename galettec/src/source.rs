//! Source files: reading them through one small interface, and the table of
//! files that diagnostics point into.

use std::io;
use std::path::{Path, PathBuf};

use galette_grammar::FileId;

/// How the front end reads files. The compiler uses the file system; tests
/// hand in files from memory.
pub trait SourceReader {
    fn read(&self, path: &Path) -> io::Result<String>;
}

/// Reads from the file system.
pub struct FileSystem;

impl SourceReader for FileSystem {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
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
}

/// `path` as shown to the user: relative to the current directory when it is
/// inside it, as written otherwise.
pub fn display_path(path: &Path) -> String {
    let path = normalize(path);
    let relative = std::env::current_dir().ok().and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_owned));
    relative.unwrap_or(path).display().to_string()
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
}

/// One file that diagnostics can point into.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown to the user.
    pub name: String,
    pub text: String,
}

/// Every file read while compiling one chain; a [`FileId`] indexes it.
#[derive(Debug, Clone, Default)]
pub struct SourceFiles {
    files: Vec<SourceFile>,
}

impl SourceFiles {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile { name: name.into(), text: text.into() });
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
}
