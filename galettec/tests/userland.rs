//! The userland tier's libraries, as galettec builds them: loaded here the
//! way the runtime loads them (libloading, C ABI), and driven with real
//! frames and a real map.

use std::ffi::c_void;
use std::path::{Path, PathBuf};

use galette_bundle::{Bundle, Placement};
use galettec::{CompileOptions, compile_chain};
use libloading::{Library, Symbol};
use nf_std::abi::{ABI_VERSION, GaletteFrame, GaletteRawMap, PACKET_NOT_INITIALISED, PACKET_PANICKED};
use nf_std::maps::{MapKind, MemoryMap, RawMap};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// One userland library, with its C functions.
struct NfLibrary {
    library: Library,
}

impl NfLibrary {
    fn open(path: &Path) -> NfLibrary {
        // SAFETY: a library galettec built, whose initialisers do nothing.
        NfLibrary { library: unsafe { Library::new(path) }.unwrap() }
    }

    fn number(&self, name: &[u8]) -> u32 {
        // SAFETY: these symbols are `extern "C" fn() -> u32` by the ABI.
        let function: Symbol<'_, extern "C" fn() -> u32> = unsafe { self.library.get(name) }.unwrap();
        function()
    }

    fn init(&self, maps: &[GaletteRawMap]) -> i32 {
        // SAFETY: the signature of `galette_init` in nf_std::abi.
        let init: Symbol<'_, unsafe extern "C" fn(*const GaletteRawMap, usize) -> i32> =
            unsafe { self.library.get(b"galette_init") }.unwrap();
        // SAFETY: `maps` is valid for its length; the maps outlive the test.
        unsafe { init(maps.as_ptr(), maps.len()) }
    }

    /// Runs the NF on `frame`, placed after 8 bytes of headroom.
    fn packet(&self, frame: &[u8]) -> (i32, Vec<u8>) {
        let mut buffer = vec![0u8; 8 + frame.len()];
        buffer[8..].copy_from_slice(frame);
        let mut description =
            GaletteFrame { buffer: buffer.as_mut_ptr(), buffer_len: buffer.len(), start: 8, len: frame.len() };
        // SAFETY: the signature of `galette_packet` in nf_std::abi.
        let packet: Symbol<'_, unsafe extern "C" fn(*mut GaletteFrame) -> i32> =
            unsafe { self.library.get(b"galette_packet") }.unwrap();
        // SAFETY: the description matches `buffer`, which outlives the call.
        let port = unsafe { packet(&mut description) };
        (port, buffer[description.start..description.start + description.len].to_vec())
    }
}

/// A map lent over the C ABI, backed by memory.
fn lend(map: &'static MemoryMap) -> GaletteRawMap {
    unsafe extern "C" fn lookup(
        context: *const c_void,
        key: *const u8,
        key_len: usize,
        value: *mut u8,
        value_len: usize,
    ) -> bool {
        // SAFETY: the context is the MemoryMap below; the buffers are valid.
        let (map, key, value) = unsafe {
            (
                &*(context as *const MemoryMap),
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
                &*(context as *const MemoryMap),
                std::slice::from_raw_parts(key, key_len),
                std::slice::from_raw_parts(value, value_len),
            )
        };
        map.update(key, value).map_or_else(|error| error.errno, |()| 0)
    }
    unsafe extern "C" fn delete(context: *const c_void, key: *const u8, key_len: usize) -> i32 {
        // SAFETY: as in `lookup`.
        let (map, key) = unsafe { (&*(context as *const MemoryMap), std::slice::from_raw_parts(key, key_len)) };
        map.delete(key).map_or_else(|error| error.errno, |()| 0)
    }
    GaletteRawMap { context: map as *const MemoryMap as *const c_void, lookup, update, delete }
}

fn frame(first_byte: u8) -> Vec<u8> {
    let mut frame = vec![0u8; 60];
    frame[0] = first_byte;
    frame[6] = 0xaa;
    frame
}

#[test]
fn userland_instances_become_libraries_with_the_c_abi() {
    let out = tempfile::tempdir().unwrap();
    let bundle_dir = out.path().join("bundle");
    compile_chain(&project_root().join("tests/userland/two_tier.gal"), &bundle_dir, &CompileOptions::from_env())
        .unwrap();
    let bundle = Bundle::open(&bundle_dir).unwrap();
    let placements: Vec<_> =
        bundle.manifest.instances.iter().map(|i| (i.name.as_str(), i.placement, i.library.as_deref())).collect();
    assert_eq!(
        placements,
        [
            ("ip", Placement::Xdp, None),
            ("tally", Placement::Xdp, None),
            ("flaky", Placement::Userland, Some("flaky.so")),
            ("swap", Placement::Userland, Some("swap.so")),
        ]
    );

    // std.macswap, built for userland: no maps, one port.
    let library = |instance: usize| bundle_dir.join(bundle.library_path(&bundle.manifest.instances[instance]).unwrap());
    let swap = NfLibrary::open(&library(3));
    assert_eq!(swap.number(b"galette_abi_version"), ABI_VERSION);
    assert_eq!((swap.number(b"galette_ports"), swap.number(b"galette_map_count")), (1, 0));
    assert_eq!(swap.packet(&frame(2)).0, PACKET_NOT_INITIALISED, "no packet before init");
    assert_eq!(swap.init(&[]), 0);
    let (port, swapped) = swap.packet(&frame(2));
    assert_eq!(port, 0);
    assert_eq!((swapped[0], swapped[6]), (0xaa, 2), "the MAC addresses were swapped");

    // The fixture `flaky`: a map, two ports, and a panic on 0xff.
    let flaky = NfLibrary::open(&library(2));
    assert_eq!((flaky.number(b"galette_ports"), flaky.number(b"galette_map_count")), (2, 1));
    let seen: &'static MemoryMap = Box::leak(Box::new(MemoryMap::new(MapKind::Hash, 256, 4, 8)));
    assert_ne!(flaky.init(&[]), 0, "the map count is checked");
    assert_eq!(flaky.init(&[lend(seen)]), 0);
    assert_eq!(flaky.packet(&frame(2)).0, 0, "even");
    assert_eq!(flaky.packet(&frame(3)).0, 1, "odd");
    assert_eq!(flaky.packet(&frame(2)).0, 0);
    let mut count = [0u8; 8];
    assert!(seen.lookup(&2u32.to_ne_bytes(), &mut count));
    assert_eq!(u64::from_ne_bytes(count), 2, "the NF wrote the map it was lent");
    assert_eq!(flaky.packet(&frame(0xff)).0, PACKET_PANICKED, "a panic is caught at the C boundary");
    assert_eq!(flaky.packet(&frame(4)).0, 0, "and the library still works");
}
