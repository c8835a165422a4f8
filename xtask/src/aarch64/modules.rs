//! Kernel modules the guest loads with busybox `insmod`, in dependency
//! order. Debian's kernel .deb has no modules.dep (depmod runs in its
//! postinst) and the host has no kmod, so the order comes from each .ko's
//! `.modinfo` section (`depends=a,b`), read here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::elf::Elf;

/// The `depends=` list of a module's `.modinfo` bytes (NUL-separated
/// `key=value` strings). Names use underscores, as the kernel does.
pub fn modinfo_depends(modinfo: &[u8]) -> Vec<String> {
    modinfo
        .split(|&byte| byte == 0)
        .filter_map(|entry| entry.strip_prefix(b"depends="))
        .flat_map(|list| String::from_utf8_lossy(list).split(',').map(str::to_owned).collect::<Vec<_>>())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The depends of the module file at `path`.
fn depends_of_file(path: &Path) -> Result<Vec<String>, String> {
    let data = std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let elf = Elf::parse(&data).map_err(|err| format!("{}: {err}", path.display()))?;
    let section = elf
        .section_by_name(".modinfo")
        .map_err(|err| format!("{}: {err}", path.display()))?
        .ok_or_else(|| format!("{} has no .modinfo section", path.display()))?;
    Ok(modinfo_depends(elf.contents(section)?))
}

/// The .ko files for `wanted` and everything they depend on, dependencies
/// first. `modules_dir` is `lib/modules/<version>`; modules built into the
/// kernel (listed in its `modules.builtin`) need no file and are skipped.
pub fn resolve_load_order(modules_dir: &Path, wanted: &[&str]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    collect_ko_files(&modules_dir.join("kernel"), &mut files)?;
    let builtin = std::fs::read_to_string(modules_dir.join("modules.builtin")).unwrap_or_default();
    let builtin: BTreeSet<String> = builtin.lines().filter_map(|line| file_module_name(Path::new(line))).collect();
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    for name in wanted {
        visit(&normalize(name), &files, &builtin, &mut seen, &mut order, 0)?;
    }
    Ok(order)
}

fn visit(
    name: &str,
    files: &[PathBuf],
    builtin: &BTreeSet<String>,
    seen: &mut BTreeSet<String>,
    order: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<(), String> {
    if depth > 32 {
        return Err(format!("module dependencies too deep at {name} (a cycle?)"));
    }
    if !seen.insert(name.to_owned()) {
        return Ok(());
    }
    let Some(file) = files.iter().find(|file| file_module_name(file).as_deref() == Some(name)) else {
        if builtin.contains(name) {
            return Ok(());
        }
        return Err(format!("no kernel module {name} (neither a .ko file nor built in)"));
    };
    for dependency in depends_of_file(file)? {
        visit(&normalize(&dependency), files, builtin, seen, order, depth + 1)?;
    }
    order.push(file.clone());
    Ok(())
}

/// Module names compare with `-` and `_` equal: the file is `virtio-rng.ko`,
/// the module (and depends=) say `virtio_rng`.
fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// `kernel/drivers/net/veth.ko` → `veth`.
fn file_module_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?.strip_suffix(".ko")?;
    Some(normalize(name))
}

fn collect_ko_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|err| format!("cannot stat {}: {err}", path.display()))?;
        if kind.is_dir() {
            collect_ko_files(&path, files)?;
        } else if path.extension().is_some_and(|extension| extension == "ko") {
            files.push(path);
        }
    }
    files.sort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_list() {
        let modinfo = b"license=GPL\0depends=virtio_pci_modern_dev,virtio_pci_legacy_dev\0retpoline=Y\0intree=Y\0";
        assert_eq!(modinfo_depends(modinfo), ["virtio_pci_modern_dev", "virtio_pci_legacy_dev"]);
    }

    #[test]
    fn empty_depends() {
        assert!(modinfo_depends(b"alias=rtnl-link-veth\0depends=\0name=veth\0").is_empty());
        assert!(modinfo_depends(b"name=veth\0").is_empty());
    }

    /// A fake module tree: virtio_pci depends on two helpers, virtio-rng
    /// (dash in the file name) on the built-in virtio.
    #[test]
    fn load_order_from_modinfo() {
        let dir = std::env::temp_dir().join(format!("galette-modules-test-{}", std::process::id()));
        let kernel = dir.join("kernel/drivers");
        std::fs::create_dir_all(kernel.join("virtio")).unwrap();
        std::fs::create_dir_all(kernel.join("char/hw_random")).unwrap();
        let module = |path: &Path, modinfo: &[u8]| {
            std::fs::write(path, crate::aarch64::elf::test_elf(&[(".modinfo", 1, 0, 0, modinfo)])).unwrap();
        };
        module(&kernel.join("virtio/virtio_pci.ko"), b"depends=virtio_pci_modern_dev,virtio_pci_legacy_dev\0");
        module(&kernel.join("virtio/virtio_pci_modern_dev.ko"), b"depends=\0");
        module(&kernel.join("virtio/virtio_pci_legacy_dev.ko"), b"name=virtio_pci_legacy_dev\0");
        module(&kernel.join("char/hw_random/virtio-rng.ko"), b"depends=virtio\0");
        std::fs::write(dir.join("modules.builtin"), "kernel/drivers/virtio/virtio.ko\n").unwrap();
        let order = resolve_load_order(&dir, &["virtio_pci", "virtio-rng", "virtio_pci_modern_dev"]);
        let missing = resolve_load_order(&dir, &["veth"]);
        std::fs::remove_dir_all(&dir).unwrap();
        let names: Vec<String> =
            order.unwrap().iter().map(|path| path.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["virtio_pci_modern_dev.ko", "virtio_pci_legacy_dev.ko", "virtio_pci.ko", "virtio-rng.ko"]);
        assert!(missing.unwrap_err().contains("no kernel module veth"));
    }

    #[test]
    fn names_with_dashes() {
        assert_eq!(file_module_name(Path::new("kernel/drivers/char/hw_random/virtio-rng.ko")).unwrap(), "virtio_rng");
        assert_eq!(normalize("virtio-rng"), "virtio_rng");
    }
}
