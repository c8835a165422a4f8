//! Source files: reading them through one small interface, and the table of
//! files that diagnostics point into.

use std::io;
use std::path::{Path, PathBuf};

use galette_grammar::FileId;

/// How the front end reads files. The compiler uses the file system; tests
/// hand in files from memory.
pub trait SourceReader {
    fn read(&self, path: &Path) -> io::Result<String>;

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

    fn subdirectories(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = self.memory.subdirectories(path)?;
        names.extend(FileSystem.subdirectories(path).unwrap_or_default());
        names.sort();
        names.dedup();
        Ok(names)
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

    #[test]
    fn memory_lists_the_directories_that_hold_files() {
        let memory =
            InMemory::default().with("std/acl/Cargo.toml", "").with("std/ttl/src/lib.rs", "").with("std/x", "");
        assert_eq!(memory.subdirectories(Path::new("std")).unwrap(), ["acl", "ttl"]);
    }
}
