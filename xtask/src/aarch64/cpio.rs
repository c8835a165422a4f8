//! A writer for the "newc" cpio format (SVR4 without CRC, magic 070701),
//! which is what the kernel unpacks as an initramfs. The host has no `cpio`,
//! and the format is small: a 110-byte ASCII-hex header, the NUL-terminated
//! name padded to 4 bytes, then the data padded to 4 bytes. Every entry is
//! owned by root, whoever builds it (the guest runs as root anyway).

use std::io::{self, Write};

const MAGIC: &[u8; 6] = b"070701";
const TRAILER: &str = "TRAILER!!!";

/// File type bits of `c_mode` (as in `st_mode`).
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// Writes entries in the order given: a directory must come before what it
/// holds. Call [`CpioWriter::finish`] to write the trailer.
pub struct CpioWriter<W: Write> {
    out: W,
    next_inode: u32,
    written: u64,
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        CpioWriter { out, next_inode: 1, written: 0 }
    }

    /// `name` is relative to the archive's root, e.g. `bin/sh` (no leading `/`).
    pub fn directory(&mut self, name: &str, permissions: u32) -> io::Result<()> {
        self.entry(name, S_IFDIR | (permissions & 0o7777), 2, (0, 0), &[])
    }

    pub fn file(&mut self, name: &str, permissions: u32, data: &[u8]) -> io::Result<()> {
        self.entry(name, S_IFREG | (permissions & 0o7777), 1, (0, 0), data)
    }

    /// A symlink's data is its target.
    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.entry(name, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes())
    }

    /// A character device node, e.g. `dev/console` (5, 1): the kernel opens it
    /// for init's stdin/stdout/stderr before /init could mount devtmpfs.
    pub fn char_device(&mut self, name: &str, permissions: u32, major: u32, minor: u32) -> io::Result<()> {
        self.entry(name, S_IFCHR | (permissions & 0o7777), 1, (major, minor), &[])
    }

    /// Writes the trailer and returns the output and the archive's size.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.header(TRAILER, 0, 0, 0, (0, 0), 0)?;
        self.out.flush()?;
        Ok((self.out, self.written))
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) -> io::Result<()> {
        if name.is_empty() || name.starts_with('/') || name == TRAILER {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad cpio entry name {name:?}")));
        }
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{name} is larger than 4 GiB")))?;
        let inode = self.next_inode;
        self.next_inode += 1;
        self.header(name, inode, mode, nlink, rdev, size)?;
        self.write_padded(data)
    }

    fn header(&mut self, name: &str, inode: u32, mode: u32, nlink: u32, rdev: (u32, u32), size: u32) -> io::Result<()> {
        let name_size = name.len() as u32 + 1;
        // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check;
        // mtime 0 keeps archives of the same inputs identical.
        let fields = [inode, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, name_size, 0];
        let mut header = Vec::with_capacity(110 + name.len() + 4);
        header.extend_from_slice(MAGIC);
        for field in fields {
            header.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        header.extend_from_slice(name.as_bytes());
        header.push(0);
        self.write_padded(&header)
    }

    fn write_padded(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        let padding = padding(bytes.len());
        self.out.write_all(&[0; 3][..padding])?;
        self.written += (bytes.len() + padding) as u64;
        Ok(())
    }
}

/// Bytes of zeros that bring `len` to a multiple of 4.
fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed entry: (name, mode, nlink, rdev, data).
    type Parsed = (String, u32, u32, (u32, u32), Vec<u8>);

    /// Reads an archive back, checking the magic and the 4-byte alignment.
    fn parse(mut archive: &[u8]) -> Vec<Parsed> {
        let total = archive.len();
        let mut entries = Vec::new();
        loop {
            assert_eq!((total - archive.len()) % 4, 0, "header not aligned");
            assert_eq!(&archive[..6], MAGIC);
            let field = |index: usize| {
                let text = std::str::from_utf8(&archive[6 + index * 8..14 + index * 8]).unwrap();
                u32::from_str_radix(text, 16).unwrap()
            };
            let (mode, nlink, size, rdev, name_size) = (field(1), field(4), field(6), (field(9), field(10)), field(11));
            let name = std::str::from_utf8(&archive[110..110 + name_size as usize - 1]).unwrap().to_owned();
            assert_eq!(archive[110 + name_size as usize - 1], 0);
            let data_start = 110 + name_size as usize + padding(110 + name_size as usize);
            let data = archive[data_start..data_start + size as usize].to_vec();
            archive = &archive[data_start + size as usize + padding(size as usize)..];
            if name == TRAILER {
                assert!(archive.is_empty());
                return entries;
            }
            entries.push((name, mode, nlink, rdev, data));
        }
    }

    #[test]
    fn round_trip() {
        let mut writer = CpioWriter::new(Vec::new());
        writer.directory("bin", 0o755).unwrap();
        writer.file("bin/busybox", 0o755, b"\x7fELF12345").unwrap();
        writer.symlink("bin/sh", "busybox").unwrap();
        writer.char_device("dev/console", 0o600, 5, 1).unwrap();
        writer.file("init", 0o755, b"").unwrap();
        let (archive, size) = writer.finish().unwrap();
        assert_eq!(size as usize, archive.len());
        assert_eq!(archive.len() % 4, 0);
        let entries = parse(&archive);
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[0], ("bin".to_owned(), 0o040_755, 2, (0, 0), vec![]));
        assert_eq!(entries[1], ("bin/busybox".to_owned(), 0o100_755, 1, (0, 0), b"\x7fELF12345".to_vec()));
        assert_eq!(entries[2], ("bin/sh".to_owned(), 0o120_777, 1, (0, 0), b"busybox".to_vec()));
        assert_eq!(entries[3], ("dev/console".to_owned(), 0o020_600, 1, (5, 1), vec![]));
        assert_eq!(entries[4].0, "init");
    }

    #[test]
    fn header_is_newc() {
        let mut writer = CpioWriter::new(Vec::new());
        writer.file("a", 0o644, b"xyz").unwrap();
        let (archive, _) = writer.finish().unwrap();
        // 110 header + "a\0" = 112 (aligned), then 3 bytes of data + 1 padding.
        assert_eq!(&archive[..14], b"07070100000001");
        assert_eq!(&archive[110..112], b"a\0");
        assert_eq!(&archive[112..116], b"xyz\0");
        assert_eq!(&archive[116..122], MAGIC);
    }

    #[test]
    fn rejects_absolute_names() {
        let mut writer = CpioWriter::new(Vec::new());
        assert!(writer.file("/init", 0o755, b"").is_err());
    }
}
