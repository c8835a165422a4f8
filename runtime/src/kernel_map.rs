//! A kernel map, reached from userland through the bpf syscall: lent to NF
//! libraries over the C ABI as bytes, and read and written by `galette map`
//! through its pin in bpffs.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nf_std::abi::GaletteRawMap;

/// `BPF_MAP_LOOKUP_ELEM`, `BPF_MAP_UPDATE_ELEM`, `BPF_MAP_DELETE_ELEM`,
/// `BPF_MAP_GET_NEXT_KEY`, `BPF_OBJ_GET`.
const LOOKUP: i64 = 1;
const UPDATE: i64 = 2;
const DELETE: i64 = 3;
const NEXT_KEY: i64 = 4;
const OBJ_GET: i64 = 7;

/// The part of `union bpf_attr` the element commands use.
#[repr(C)]
#[derive(Default)]
struct ElementAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// A kernel map by file descriptor, with the sizes of its keys and values.
/// For a per-CPU map, `value_size` is the size of one CPU's value, and
/// lookups and updates carry one (8-byte aligned) value per possible CPU.
#[derive(Debug)]
pub struct KernelMap {
    fd: OwnedFd,
    key_size: usize,
    value_size: usize,
    per_cpu: bool,
}

impl KernelMap {
    pub fn new(fd: OwnedFd, key_size: usize, value_size: usize) -> KernelMap {
        KernelMap { fd, key_size, value_size, per_cpu: false }
    }

    /// The map aya loaded as `map`, through a duplicate of its fd (so it
    /// outlives nothing of aya's), or `None` for a kind galette never reads
    /// this way.
    pub fn duplicate(map: &aya::maps::Map, key_size: usize, value_size: usize) -> Option<KernelMap> {
        use aya::maps::Map;
        use std::os::fd::AsFd;
        let (data, per_cpu) = match map {
            Map::Array(data) | Map::HashMap(data) | Map::LruHashMap(data) | Map::LpmTrie(data) => (data, false),
            Map::PerCpuArray(data) | Map::PerCpuHashMap(data) => (data, true),
            _ => return None,
        };
        let fd = data.fd().as_fd().try_clone_to_owned().ok()?;
        Some(KernelMap { fd, key_size, value_size, per_cpu })
    }

    /// The same map, marked per-CPU.
    pub fn per_cpu(mut self) -> KernelMap {
        self.per_cpu = true;
        self
    }

    /// The bytes a lookup writes: one value, or one 8-byte aligned value per
    /// possible CPU for a per-CPU map (the kernel writes them all).
    pub fn value_buffer_len(&self) -> usize {
        if self.per_cpu { self.value_size.div_ceil(8) * 8 * possible_cpus() } else { self.value_size }
    }

    pub fn is_per_cpu(&self) -> bool {
        self.per_cpu
    }

    fn call(&self, command: i64, key: &[u8], value: u64) -> io::Result<()> {
        if key.len() != self.key_size {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let attr = ElementAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            key: key.as_ptr() as u64,
            value,
            ..ElementAttr::default()
        };
        // SAFETY: `attr` is a valid bpf_attr prefix of the size passed; the
        // key and value buffers it points to are valid for the call.
        let result = unsafe {
            libc::syscall(libc::SYS_bpf, command, &attr as *const ElementAttr, std::mem::size_of::<ElementAttr>())
        };
        if result < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Opens the map pinned at `path` (in a bpffs mount).
    pub fn open_pinned(path: &std::path::Path, key_size: usize, value_size: usize) -> io::Result<KernelMap> {
        #[repr(C)]
        #[derive(Default)]
        struct ObjGetAttr {
            pathname: u64,
            bpf_fd: u32,
            file_flags: u32,
        }
        let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let attr = ObjGetAttr { pathname: path.as_ptr() as u64, ..ObjGetAttr::default() };
        // SAFETY: `attr` is a valid bpf_attr prefix for BPF_OBJ_GET; the path
        // outlives the call.
        let fd = unsafe {
            libc::syscall(libc::SYS_bpf, OBJ_GET, &attr as *const ObjGetAttr, std::mem::size_of::<ObjGetAttr>())
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the syscall returned a new fd that nothing else owns.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
        Ok(KernelMap::new(fd, key_size, value_size))
    }

    /// Every key of the map, in the kernel's order (at most `limit`).
    pub fn keys(&self, limit: usize) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut previous: Option<Vec<u8>> = None;
        while keys.len() < limit {
            let mut next = vec![0u8; self.key_size];
            // A null key asks for the first one.
            let key = previous.as_ref().map_or(0, |key| key.as_ptr() as u64);
            let attr = ElementAttr {
                map_fd: self.fd.as_raw_fd() as u32,
                key,
                value: next.as_mut_ptr() as u64,
                ..ElementAttr::default()
            };
            // SAFETY: as in `call`; `next` holds `key_size` bytes.
            let result = unsafe {
                libc::syscall(libc::SYS_bpf, NEXT_KEY, &attr as *const ElementAttr, std::mem::size_of::<ElementAttr>())
            };
            if result < 0 {
                break;
            }
            keys.push(next.clone());
            previous = Some(next);
        }
        keys
    }

    pub fn key_size(&self) -> usize {
        self.key_size
    }

    pub fn value_size(&self) -> usize {
        self.value_size
    }

    /// Copies the value of `key` into `value`, which must be
    /// [`value_buffer_len`](Self::value_buffer_len) bytes (anything else is
    /// refused: the kernel would write past a shorter buffer).
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> bool {
        value.len() == self.value_buffer_len() && self.call(LOOKUP, key, value.as_mut_ptr() as u64).is_ok()
    }

    pub fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        if value.len() != self.value_buffer_len() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.call(UPDATE, key, value.as_ptr() as u64)
    }

    pub fn delete(&self, key: &[u8]) -> io::Result<()> {
        self.call(DELETE, key, 0)
    }

    /// This map as a library sees it.
    ///
    /// # Safety
    /// The map must stay where it is and outlive every library it is lent
    /// to: the library keeps the pointer.
    pub unsafe fn lend(&self) -> GaletteRawMap {
        GaletteRawMap { context: self as *const KernelMap as *const c_void, lookup, update, delete }
    }
}

fn errno(error: io::Error) -> i32 {
    error.raw_os_error().unwrap_or(libc::EIO)
}

unsafe extern "C" fn lookup(
    context: *const c_void,
    key: *const u8,
    key_len: usize,
    value: *mut u8,
    value_len: usize,
) -> bool {
    // SAFETY: the context is the `KernelMap` of `lend`; the library passes
    // buffers valid for their lengths.
    let (map, key, value) = unsafe {
        (
            &*(context as *const KernelMap),
            std::slice::from_raw_parts(key, key_len),
            std::slice::from_raw_parts_mut(value, value_len),
        )
    };
    map.lookup(key, value)
}

unsafe extern "C" fn update(
    context: *const c_void,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> i32 {
    // SAFETY: as in `lookup`.
    let (map, key, value) = unsafe {
        (
            &*(context as *const KernelMap),
            std::slice::from_raw_parts(key, key_len),
            std::slice::from_raw_parts(value, value_len),
        )
    };
    map.update(key, value).map_or_else(errno, |()| 0)
}

unsafe extern "C" fn delete(context: *const c_void, key: *const u8, key_len: usize) -> i32 {
    // SAFETY: as in `lookup`.
    let (map, key) = unsafe { (&*(context as *const KernelMap), std::slice::from_raw_parts(key, key_len)) };
    map.delete(key).map_or_else(errno, |()| 0)
}

/// The number of possible CPUs, as per-CPU maps count them.
pub fn possible_cpus() -> usize {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    // "0-3" or "0" or "0-3,5": the highest index plus one.
    text.trim()
        .split(',')
        .filter_map(|range| range.rsplit('-').next()?.parse::<usize>().ok())
        .max()
        .map_or(1, |highest| highest + 1)
}
