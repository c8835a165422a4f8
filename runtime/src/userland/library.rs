//! A userland NF library, loaded with libloading and called through the C
//! ABI of `nf_std::abi` only.

use std::path::Path;

use libloading::Library;
use nf_std::abi::{ABI_VERSION, GaletteFrame, GaletteRawMap};

use super::LibraryError;

/// `galette_packet`.
type PacketFn = unsafe extern "C" fn(*mut GaletteFrame) -> i32;

/// A loaded, initialised NF library.
pub struct NfLibrary {
    packet: PacketFn,
    /// Keeps the code `packet` points into loaded.
    _library: Library,
}

impl NfLibrary {
    /// Loads the library at `path`, checks its ABI version, port count and
    /// map count against what the manifest says, and hands it its maps.
    pub fn load(path: &Path, ports: usize, maps: &[GaletteRawMap]) -> Result<NfLibrary, LibraryError> {
        // SAFETY: a library galettec generated; its initialisers do nothing
        // but what Rust's runtime does.
        let library = unsafe { Library::new(path) }.map_err(LibraryError::Open)?;
        let number = |symbol: &'static str| -> Result<u32, LibraryError> {
            // SAFETY: by the ABI, these symbols are `extern "C" fn() -> u32`.
            let function = unsafe { library.get::<extern "C" fn() -> u32>(symbol.as_bytes()) }
                .map_err(|source| LibraryError::Symbol { symbol, source })?;
            Ok(function())
        };
        let version = number("galette_abi_version")?;
        if version != ABI_VERSION {
            return Err(LibraryError::AbiVersion { found: version, expected: ABI_VERSION });
        }
        let (found_ports, found_maps) = (number("galette_ports")? as usize, number("galette_map_count")? as usize);
        if found_ports != ports || found_maps != maps.len() {
            return Err(LibraryError::Shape { found_ports, found_maps, ports, maps: maps.len() });
        }
        // SAFETY: the signatures of `galette_init` and `galette_packet` in
        // nf_std::abi.
        let (init, packet) = unsafe {
            let init = *library
                .get::<unsafe extern "C" fn(*const GaletteRawMap, usize) -> i32>(b"galette_init")
                .map_err(|source| LibraryError::Symbol { symbol: "galette_init", source })?;
            let packet = *library
                .get::<PacketFn>(b"galette_packet")
                .map_err(|source| LibraryError::Symbol { symbol: "galette_packet", source })?;
            (init, packet)
        };
        // SAFETY: `maps` is valid for its length, and each map it describes
        // outlives the library (see `program::LibraryInstance`).
        let status = unsafe { init(maps.as_ptr(), maps.len()) };
        if status != 0 {
            return Err(LibraryError::Init(std::io::Error::from_raw_os_error(status)));
        }
        Ok(NfLibrary { packet, _library: library })
    }

    /// Runs the NF on `frame`: the port it chose, or a negative
    /// `nf_std::abi::PACKET_*` code.
    pub fn packet(&self, frame: &mut GaletteFrame) -> i32 {
        // SAFETY: `frame` describes a buffer exclusively lent for the call.
        unsafe { (self.packet)(frame) }
    }
}
