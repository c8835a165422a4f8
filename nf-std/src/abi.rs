//! The C ABI between the runtime and a userland NF library.
//!
//! galettec builds each userland instance into a shared library (a cdylib)
//! exporting the functions below with the C calling convention, so the
//! runtime never depends on the Rust ABI of the compiler that built the NF.
//! The types here are the one definition both sides use.
//!
//! ```text
//! u32 galette_abi_version(void);
//! u32 galette_ports(void);
//! u32 galette_map_count(void);
//! i32 galette_init(const GaletteRawMap *maps, usize count);   // 0, or an errno
//! i32 galette_packet(GaletteFrame *frame);                    // a port, or < 0
//! ```

use core::ffi::c_void;

/// The version of this ABI; a library of another version is refused.
pub const ABI_VERSION: u32 = 1;

/// `galette_packet`'s result when the NF panicked: the packet is aborted and
/// the library stays usable.
pub const PACKET_PANICKED: i32 = -1;
/// `galette_packet`'s result when the frame description is inconsistent.
pub const PACKET_INVALID_FRAME: i32 = -2;
/// `galette_packet`'s result before a successful `galette_init`.
pub const PACKET_NOT_INITIALISED: i32 = -3;

/// A frame in a buffer, with room around it. The NF may move `start` and
/// change `len` (head and tail adjustment) within the buffer.
#[repr(C)]
#[derive(Debug)]
pub struct GaletteFrame {
    pub buffer: *mut u8,
    pub buffer_len: usize,
    /// Offset of the frame's first byte in the buffer.
    pub start: usize,
    pub len: usize,
}

/// A map, as the runtime lends it to a library: functions over bytes, with
/// an opaque context. Keys and values have the sizes of the map's types.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GaletteRawMap {
    pub context: *const c_void,
    /// Copies the value of `key` into `value`; false if there is none.
    pub lookup: unsafe extern "C" fn(
        context: *const c_void,
        key: *const u8,
        key_len: usize,
        value: *mut u8,
        value_len: usize,
    ) -> bool,
    /// Sets `key` to `value`: 0, or a positive errno.
    pub update: unsafe extern "C" fn(
        context: *const c_void,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
    ) -> i32,
    /// Removes `key`: 0, or a positive errno.
    pub delete: unsafe extern "C" fn(context: *const c_void, key: *const u8, key_len: usize) -> i32,
}

/// A [`GaletteRawMap`] as the NF's maps see it.
#[cfg(not(target_arch = "bpf"))]
#[derive(Debug, Clone, Copy)]
pub struct AbiMap(pub GaletteRawMap);

// SAFETY: the runtime hands out maps whose functions may be called from any
// worker thread at once (they are kernel map syscalls).
#[cfg(not(target_arch = "bpf"))]
unsafe impl Send for AbiMap {}
// SAFETY: as for Send.
#[cfg(not(target_arch = "bpf"))]
unsafe impl Sync for AbiMap {}

#[cfg(not(target_arch = "bpf"))]
impl crate::maps::RawMap for AbiMap {
    fn lookup(&self, key: &[u8], value: &mut [u8]) -> bool {
        // SAFETY: the slices are valid for their lengths during the call.
        unsafe { (self.0.lookup)(self.0.context, key.as_ptr(), key.len(), value.as_mut_ptr(), value.len()) }
    }

    fn update(&self, key: &[u8], value: &[u8]) -> Result<(), crate::maps::MapError> {
        // SAFETY: as in `lookup`.
        let errno = unsafe { (self.0.update)(self.0.context, key.as_ptr(), key.len(), value.as_ptr(), value.len()) };
        if errno == 0 { Ok(()) } else { Err(crate::maps::MapError { errno }) }
    }

    fn delete(&self, key: &[u8]) -> Result<(), crate::maps::MapError> {
        // SAFETY: as in `lookup`.
        let errno = unsafe { (self.0.delete)(self.0.context, key.as_ptr(), key.len()) };
        if errno == 0 { Ok(()) } else { Err(crate::maps::MapError { errno }) }
    }
}
