//! A kernel map, reached from userland through the bpf syscall, lent to NF
//! libraries over the C ABI as bytes.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nf_std::abi::GaletteRawMap;

/// `BPF_MAP_LOOKUP_ELEM`, `BPF_MAP_UPDATE_ELEM`, `BPF_MAP_DELETE_ELEM`.
const LOOKUP: i64 = 1;
const UPDATE: i64 = 2;
const DELETE: i64 = 3;

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
#[derive(Debug)]
pub struct KernelMap {
    fd: OwnedFd,
    key_size: usize,
    value_size: usize,
}

impl KernelMap {
    pub fn new(fd: OwnedFd, key_size: usize, value_size: usize) -> KernelMap {
        KernelMap { fd, key_size, value_size }
    }

    fn call(&self, command: i64, key: &[u8], value: u64) -> io::Result<()> {
        if key.len() != self.key_size {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let attr = ElementAttr { map_fd: self.fd.as_raw_fd() as u32, key: key.as_ptr() as u64, value, ..ElementAttr::default() };
        // SAFETY: `attr` is a valid bpf_attr prefix of the size passed; the
        // key and value buffers it points to are valid for the call.
        let result = unsafe { libc::syscall(libc::SYS_bpf, command, &attr as *const ElementAttr, std::mem::size_of::<ElementAttr>()) };
        if result < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> bool {
        value.len() == self.value_size && self.call(LOOKUP, key, value.as_mut_ptr() as u64).is_ok()
    }

    pub fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        if value.len() != self.value_size {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.call(UPDATE, key, value.as_ptr() as u64)
    }

    pub fn delete(&self, key: &[u8]) -> io::Result<()> {
        self.call(DELETE, key, 0)
    }

    /// This map as a library sees it. The map must outlive every library
    /// it is lent to, hence `'static`.
    pub fn lend(&'static self) -> GaletteRawMap {
        GaletteRawMap { context: self as *const KernelMap as *const c_void, lookup, update, delete }
    }
}

fn errno(error: io::Error) -> i32 {
    error.raw_os_error().unwrap_or(libc::EIO)
}

unsafe extern "C" fn lookup(context: *const c_void, key: *const u8, key_len: usize, value: *mut u8, value_len: usize) -> bool {
    // SAFETY: the context is the `KernelMap` of `lend`; the library passes
    // buffers valid for their lengths.
    let (map, key, value) = unsafe {
        (&*(context as *const KernelMap), std::slice::from_raw_parts(key, key_len), std::slice::from_raw_parts_mut(value, value_len))
    };
    map.lookup(key, value)
}

unsafe extern "C" fn update(context: *const c_void, key: *const u8, key_len: usize, value: *const u8, value_len: usize) -> i32 {
    // SAFETY: as in `lookup`.
    let (map, key, value) = unsafe {
        (&*(context as *const KernelMap), std::slice::from_raw_parts(key, key_len), std::slice::from_raw_parts(value, value_len))
    };
    map.update(key, value).map_or_else(errno, |()| 0)
}

unsafe extern "C" fn delete(context: *const c_void, key: *const u8, key_len: usize) -> i32 {
    // SAFETY: as in `lookup`.
    let (map, key) = unsafe { (&*(context as *const KernelMap), std::slice::from_raw_parts(key, key_len)) };
    map.delete(key).map_or_else(errno, |()| 0)
}
