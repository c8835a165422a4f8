//! A userland NF library, loaded with libloading and called through the C
//! ABI of `nf_std::abi` only.

use std::path::Path;

use libloading::Library;
use nf_std::abi::{ABI_VERSION, GaletteFrame, GaletteRawMap};

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
    pub fn load(path: &Path, ports: usize, maps: &[GaletteRawMap]) -> Result<NfLibrary, String> {
        // SAFETY: a library galettec generated; its initialisers do nothing
        // but what Rust's runtime does.
        let library = unsafe { Library::new(path) }.map_err(|err| err.to_string())?;
        let number = |name: &[u8]| -> Result<u32, String> {
            // SAFETY: by the ABI, these symbols are `extern "C" fn() -> u32`.
            let function = unsafe { library.get::<extern "C" fn() -> u32>(name) }.map_err(|err| err.to_string())?;
            Ok(function())
        };
        let version = number(b"galette_abi_version")?;
        if version != ABI_VERSION {
            return Err(format!("it has ABI version {version}, this runtime speaks {ABI_VERSION}"));
        }
        let (found_ports, found_maps) = (number(b"galette_ports")? as usize, number(b"galette_map_count")? as usize);
        if found_ports != ports || found_maps != maps.len() {
            return Err(format!(
                "it has {found_ports} ports and {found_maps} maps, the manifest says {ports} and {}",
                maps.len()
            ));
        }
        // SAFETY: the signatures of `galette_init` and `galette_packet` in
        // nf_std::abi.
        let (init, packet) = unsafe {
            let init = *library
                .get::<unsafe extern "C" fn(*const GaletteRawMap, usize) -> i32>(b"galette_init")
                .map_err(|err| err.to_string())?;
            let packet = *library.get::<PacketFn>(b"galette_packet").map_err(|err| err.to_string())?;
            (init, packet)
        };
        // SAFETY: `maps` is valid for its length, and each map it describes
        // lives for the rest of the process (KernelMap::lend).
        let status = unsafe { init(maps.as_ptr(), maps.len()) };
        if status != 0 {
            return Err(format!("its initialisation failed: {}", std::io::Error::from_raw_os_error(status)));
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
