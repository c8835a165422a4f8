//! The guest's initramfs: the cached userland, the kernel modules, the
//! caller's payload and a generated /init, as one uncompressed newc cpio
//! (the kernel unpacks it into its rootfs; no compression crate needed).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::cpio::CpioWriter;

/// Where /init finds the modules inside the guest.
pub const GUEST_MODULES_DIR: &str = "lib/modules/galette";

/// One node of the guest's tree, keyed by its path (no leading `/`).
enum Node {
    Directory(u32),
    HostFile { path: PathBuf, mode: u32 },
    Bytes { data: Vec<u8>, mode: u32 },
    Symlink(String),
    CharDevice { major: u32, minor: u32 },
}

/// The tree being assembled; a BTreeMap writes parents before children
/// (a parent's path is a prefix of its children's).
#[derive(Default)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    /// Everything under `root` on the host, as it is (symlinks kept).
    pub fn add_host_tree(&mut self, root: &Path) -> Result<(), String> {
        self.add_host_dir(root, "")
    }

    fn add_host_dir(&mut self, dir: &Path, prefix: &str) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))? {
            let entry = entry.map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
            let path = entry.path();
            let name = entry.file_name().into_string().map_err(|name| format!("non-UTF-8 file name {name:?}"))?;
            let guest = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let meta =
                std::fs::symlink_metadata(&path).map_err(|err| format!("cannot stat {}: {err}", path.display()))?;
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                self.nodes.insert(guest.clone(), Node::Directory(mode));
                self.add_host_dir(&path, &guest)?;
            } else if meta.is_symlink() {
                let target =
                    std::fs::read_link(&path).map_err(|err| format!("cannot read link {}: {err}", path.display()))?;
                let target = target.to_str().ok_or_else(|| format!("non-UTF-8 link {}", path.display()))?;
                self.nodes.insert(guest, Node::Symlink(target.to_owned()));
            } else if meta.is_file() {
                self.nodes.insert(guest, Node::HostFile { path, mode });
            }
        }
        Ok(())
    }

    /// A host file at `guest_path` (leading `/` optional), parents created.
    pub fn add_file(&mut self, guest_path: &str, host: &Path, mode: u32) -> Result<(), String> {
        let name = self.prepare(guest_path)?;
        self.nodes.insert(name, Node::HostFile { path: host.to_owned(), mode });
        Ok(())
    }

    pub fn add_bytes(&mut self, guest_path: &str, data: Vec<u8>, mode: u32) -> Result<(), String> {
        let name = self.prepare(guest_path)?;
        self.nodes.insert(name, Node::Bytes { data, mode });
        Ok(())
    }

    /// A directory, unless something is there already (e.g. from the userland).
    pub fn add_directory(&mut self, guest_path: &str) -> Result<(), String> {
        let name = self.prepare(guest_path)?;
        self.nodes.entry(name).or_insert(Node::Directory(0o755));
        Ok(())
    }

    /// A symlink, unless something is there already.
    pub fn add_symlink(&mut self, guest_path: &str, target: &str) -> Result<(), String> {
        let name = self.prepare(guest_path)?;
        self.nodes.entry(name).or_insert_with(|| Node::Symlink(target.to_owned()));
        Ok(())
    }

    pub fn add_char_device(&mut self, guest_path: &str, major: u32, minor: u32) -> Result<(), String> {
        let name = self.prepare(guest_path)?;
        self.nodes.insert(name, Node::CharDevice { major, minor });
        Ok(())
    }

    /// The normalized name, with its parent directories added.
    fn prepare(&mut self, guest_path: &str) -> Result<String, String> {
        let name = guest_path.trim_start_matches('/').trim_end_matches('/');
        if name.is_empty() || name.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(format!("bad guest path {guest_path:?}"));
        }
        let mut parent = String::new();
        for part in name.split('/').take(name.split('/').count() - 1) {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            match self.nodes.get(&parent) {
                None => {
                    self.nodes.insert(parent.clone(), Node::Directory(0o755));
                }
                Some(Node::Directory(_)) => {}
                Some(_) => return Err(format!("{guest_path}: /{parent} is not a directory in the guest")),
            }
        }
        Ok(name.to_owned())
    }

    /// Writes the archive to `out`; returns its size in bytes.
    pub fn write(&self, out: &Path) -> Result<u64, String> {
        let error = |err: std::io::Error| format!("cannot write {}: {err}", out.display());
        let file = File::create(out).map_err(error)?;
        let mut writer = CpioWriter::new(BufWriter::with_capacity(1 << 20, file));
        for (name, node) in &self.nodes {
            match node {
                Node::Directory(mode) => writer.directory(name, *mode).map_err(error)?,
                Node::HostFile { path, mode } => {
                    let data = std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                    writer.file(name, *mode, &data).map_err(error)?;
                }
                Node::Bytes { data, mode } => writer.file(name, *mode, data).map_err(error)?,
                Node::Symlink(target) => writer.symlink(name, target).map_err(error)?,
                Node::CharDevice { major, minor } => writer.char_device(name, 0o600, *major, *minor).map_err(error)?,
            }
        }
        let (_, size) = writer.finish().map_err(error)?;
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_created_and_checked() {
        let mut tree = Tree::default();
        tree.add_bytes("/payload/bin/tool", b"x".to_vec(), 0o755).unwrap();
        assert!(tree.nodes.contains_key("payload") && tree.nodes.contains_key("payload/bin"));
        tree.add_symlink("lib", "usr/lib").unwrap();
        assert!(tree.add_bytes("lib/x", Vec::new(), 0o644).is_err());
        assert!(tree.add_bytes("a/../b", Vec::new(), 0o644).is_err());
    }
}
