//! The newest glibc symbol version a program or library needs, read from its
//! `.gnu.version_r` (the version-needs table the dynamic loader checks). A
//! binary for a Raspberry Pi OS 11 device must need at most GLIBC_2.31.

use super::elf::{Elf, u16_at, u32_at};

/// SHT_GNU_verneed.
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;

/// The highest `GLIBC_X.Y` that `elf` (an ELF64 LE file's bytes) needs, or
/// `None` when it needs no versioned glibc symbol (static, or no libc).
/// `GLIBC_2.2.5` counts as (2, 2); `GLIBC_PRIVATE` is ignored.
pub fn highest_glibc_version(elf: &[u8]) -> Result<Option<(u32, u32)>, String> {
    let elf = Elf::parse(elf)?;
    let mut highest = None;
    for name in needed_versions(&elf)? {
        if let Some(version) = parse_glibc_version(name) {
            highest = highest.max(Some(version));
        }
    }
    Ok(highest)
}

/// Every version name in the version-needs table (all needed files).
fn needed_versions<'a>(elf: &Elf<'a>) -> Result<Vec<&'a str>, String> {
    let mut names = Vec::new();
    for section in elf.sections.iter().filter(|section| section.kind == SHT_GNU_VERNEED) {
        let strings = elf
            .sections
            .get(section.link as usize)
            .ok_or_else(|| format!(".gnu.version_r links to a missing section {}", section.link))?;
        let table = elf.contents(section)?;
        // Elf64_Verneed { vn_version: u16, vn_cnt: u16, vn_file: u32, vn_aux: u32, vn_next: u32 },
        // each followed (at vn_aux) by vn_cnt Elf64_Vernaux { hash: u32, flags: u16,
        // other: u16, name: u32, next: u32 }; sh_info says how many Verneed there are.
        let mut need = 0usize;
        for _ in 0..section.info {
            let count = u16_at(table, need + 2)?;
            let mut aux = need + u32_at(table, need + 8)? as usize;
            for _ in 0..count {
                names.push(elf.string(strings, u32_at(table, aux + 8)?)?);
                aux += u32_at(table, aux + 12)? as usize;
            }
            let next = u32_at(table, need + 12)? as usize;
            if next == 0 {
                break;
            }
            need += next;
        }
    }
    Ok(names)
}

/// `GLIBC_2.30` → (2, 30); `GLIBC_2.2.5` → (2, 2); anything else → None.
fn parse_glibc_version(name: &str) -> Option<(u32, u32)> {
    let mut parts = name.strip_prefix("GLIBC_")?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names() {
        assert_eq!(parse_glibc_version("GLIBC_2.30"), Some((2, 30)));
        assert_eq!(parse_glibc_version("GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(parse_glibc_version("GLIBC_PRIVATE"), None);
        assert_eq!(parse_glibc_version("GCC_3.0"), None);
    }

    /// The highest GLIBC_ version `objdump -T` lists, if that objdump exists.
    fn objdump_highest(objdump: &str, path: &str) -> Option<(u32, u32)> {
        let output = std::process::Command::new(objdump).arg("-T").arg(path).output().ok()?;
        String::from_utf8_lossy(&output.stdout)
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .filter_map(parse_glibc_version)
            .max()
    }

    #[test]
    fn host_ls_needs_a_glibc() {
        // Debian 12's /bin/ls needs GLIBC_2.34 (its libc is 2.36).
        let data = std::fs::read("/bin/ls").unwrap();
        let highest = highest_glibc_version(&data).unwrap().unwrap();
        assert!(highest >= (2, 17), "{highest:?}");
        if let Some(expected) = objdump_highest("objdump", "/bin/ls") {
            assert_eq!(highest, expected);
        }
    }

    /// A version-needs table: libc.so.6 with GLIBC_2.17, GLIBC_2.28 and
    /// GLIBC_PRIVATE, then libm.so.6 with GLIBC_2.29 (so two Verneed entries).
    #[test]
    fn synthetic_verneed() {
        let strings = b"\0libc.so.6\0GLIBC_2.17\0GLIBC_2.28\0GLIBC_PRIVATE\0libm.so.6\0GLIBC_2.29\0";
        let offset = |name: &str| {
            let pattern = format!("\0{name}\0");
            strings.windows(pattern.len()).position(|window| window == pattern.as_bytes()).unwrap() as u32 + 1
        };
        let mut table = Vec::new();
        let verneed = |table: &mut Vec<u8>, count: u16, file: u32, next: u32| {
            table.extend_from_slice(&1u16.to_le_bytes());
            table.extend_from_slice(&count.to_le_bytes());
            table.extend_from_slice(&file.to_le_bytes());
            table.extend_from_slice(&16u32.to_le_bytes());
            table.extend_from_slice(&next.to_le_bytes());
        };
        let vernaux = |table: &mut Vec<u8>, name: u32, last: bool| {
            table.extend_from_slice(&[0; 8]);
            table.extend_from_slice(&name.to_le_bytes());
            table.extend_from_slice(&(if last { 0u32 } else { 16 }).to_le_bytes());
        };
        verneed(&mut table, 3, offset("libc.so.6"), 64);
        vernaux(&mut table, offset("GLIBC_2.17"), false);
        vernaux(&mut table, offset("GLIBC_2.28"), false);
        vernaux(&mut table, offset("GLIBC_PRIVATE"), true);
        verneed(&mut table, 1, offset("libm.so.6"), 0);
        vernaux(&mut table, offset("GLIBC_2.29"), true);
        // Section 1 is .dynstr, section 2 .gnu.version_r (linked to 1, 2 entries).
        let elf = crate::aarch64::elf::test_elf(&[
            (".dynstr", 3, 0, 0, strings),
            (".gnu.version_r", SHT_GNU_VERNEED, 1, 2, &table),
        ]);
        assert_eq!(highest_glibc_version(&elf).unwrap(), Some((2, 29)));
        let without = crate::aarch64::elf::test_elf(&[(".dynstr", 3, 0, 0, strings)]);
        assert_eq!(highest_glibc_version(&without).unwrap(), None);
    }

    #[test]
    fn rejects_non_elf() {
        assert!(highest_glibc_version(b"#!/bin/sh\n").is_err());
    }
}
