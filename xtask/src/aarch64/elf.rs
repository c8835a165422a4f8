//! Just enough of ELF64 little-endian to find sections by name or type: the
//! `.modinfo` of a kernel module and the `.gnu.version_r` of a program. Hand
//! written because the host has no kmod/readelf for arm64 files and the xtask
//! keeps its dependencies to std + libc.

/// One section header, with the fields the callers need.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    pub name: u32,
    pub kind: u32,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
}

/// The sections of an ELF64 LE file, and the file itself.
pub struct Elf<'a> {
    pub data: &'a [u8],
    pub sections: Vec<Section>,
    shstrndx: usize,
}

pub fn u16_at(data: &[u8], at: usize) -> Result<u16, String> {
    data.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or_else(|| truncated(at))
}

pub fn u32_at(data: &[u8], at: usize) -> Result<u32, String> {
    data.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap())).ok_or_else(|| truncated(at))
}

pub fn u64_at(data: &[u8], at: usize) -> Result<u64, String> {
    data.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap())).ok_or_else(|| truncated(at))
}

fn truncated(at: usize) -> String {
    format!("ELF file truncated (reading at offset {at})")
}

impl<'a> Elf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self, String> {
        if data.len() < 64 || &data[..4] != b"\x7fELF" {
            return Err("not an ELF file".to_owned());
        }
        // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian: x86_64 and aarch64.
        if data[4] != 2 || data[5] != 1 {
            return Err("not a 64-bit little-endian ELF file".to_owned());
        }
        let shoff = u64_at(data, 0x28)? as usize;
        let shentsize = u16_at(data, 0x3a)? as usize;
        let shnum = u16_at(data, 0x3c)? as usize;
        let shstrndx = u16_at(data, 0x3e)? as usize;
        if shnum > 0 && shentsize < 64 {
            return Err(format!("ELF section header size {shentsize} is too small"));
        }
        let sections = (0..shnum)
            .map(|index| {
                let at = shoff + index * shentsize;
                Ok(Section {
                    name: u32_at(data, at)?,
                    kind: u32_at(data, at + 4)?,
                    offset: u64_at(data, at + 24)?,
                    size: u64_at(data, at + 32)?,
                    link: u32_at(data, at + 40)?,
                    info: u32_at(data, at + 44)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Elf { data, sections, shstrndx })
    }

    /// The bytes of a section (empty for SHT_NOBITS, type 8).
    pub fn contents(&self, section: &Section) -> Result<&'a [u8], String> {
        if section.kind == 8 {
            return Ok(&[]);
        }
        let start = section.offset as usize;
        let end = start.checked_add(section.size as usize).ok_or_else(|| truncated(start))?;
        self.data.get(start..end).ok_or_else(|| truncated(start))
    }

    /// A NUL-terminated string at `offset` in the string table `table`.
    pub fn string(&self, table: &Section, offset: u32) -> Result<&'a str, String> {
        let bytes = self.contents(table)?;
        let rest = bytes.get(offset as usize..).ok_or_else(|| format!("string offset {offset} outside its table"))?;
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).map_err(|_| format!("string at {offset} is not UTF-8"))
    }

    pub fn section_by_name(&self, name: &str) -> Result<Option<&Section>, String> {
        let Some(names) = self.sections.get(self.shstrndx) else { return Ok(None) };
        for section in &self.sections {
            if self.string(names, section.name)? == name {
                return Ok(Some(section));
            }
        }
        Ok(None)
    }
}

/// Builds small ELF64 LE files for tests: the named sections (name, type,
/// link, info, contents) after a null section, plus `.shstrtab`.
#[cfg(test)]
pub fn test_elf(sections: &[(&str, u32, u32, u32, &[u8])]) -> Vec<u8> {
    let mut names = vec![0u8];
    let mut name_offsets = Vec::new();
    for (name, ..) in sections {
        name_offsets.push(names.len() as u32);
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let shstrtab_name = names.len() as u32;
    names.extend_from_slice(b".shstrtab\0");
    let mut data = vec![0u8; 64];
    data[..6].copy_from_slice(b"\x7fELF\x02\x01");
    let mut headers = vec![[0u8; 64]];
    let mut add = |data: &mut Vec<u8>, name: u32, kind: u32, link: u32, info: u32, bytes: &[u8]| {
        let mut header = [0u8; 64];
        header[0..4].copy_from_slice(&name.to_le_bytes());
        header[4..8].copy_from_slice(&kind.to_le_bytes());
        header[24..32].copy_from_slice(&(data.len() as u64).to_le_bytes());
        header[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        header[40..44].copy_from_slice(&link.to_le_bytes());
        header[44..48].copy_from_slice(&info.to_le_bytes());
        data.extend_from_slice(bytes);
        headers.push(header);
    };
    for ((_, kind, link, info, bytes), name) in sections.iter().zip(&name_offsets) {
        add(&mut data, *name, *kind, *link, *info, bytes);
    }
    add(&mut data, shstrtab_name, 3, 0, 0, &names);
    let shoff = data.len() as u64;
    for header in &headers {
        data.extend_from_slice(header);
    }
    data[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
    data[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
    data[0x3c..0x3e].copy_from_slice(&(headers.len() as u16).to_le_bytes());
    data[0x3e..0x40].copy_from_slice(&((headers.len() - 1) as u16).to_le_bytes());
    data
}
