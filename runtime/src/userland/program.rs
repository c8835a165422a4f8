//! One version of a chain's userland part, and the versions the workers may
//! meet while a live reload is under way.
//!
//! Each load of the chain's XDP object has a generation (0, then one more
//! per reload) that its upcalls write into the frame's metadata. A worker
//! runs each frame through the userland program of that generation, so a
//! frame sent up by the old chain finishes in the old chain even when it is
//! taken off the ring after the switch. Two versions are kept: the running
//! one and the one before it; a reload adds the new one *before* its switch
//! (a frame of the new generation can come at once) and drops the oldest.

use std::path::Path;
use std::sync::{Arc, RwLock};

use aya::Ebpf;
use galette_bundle::{Bundle, MapEntry, Placement};

use super::error::UserlandError;
use super::library::NfLibrary;
use super::route::{self, Route, UserlandCounters};
use crate::kernel_map::KernelMap;

/// The userland instances of one generation of the chain.
pub struct UserlandProgram {
    pub generation: u16,
    /// The instances whose library was the previous version's, reused.
    pub reused: Vec<String>,
    /// By manifest instance: the library of each userland instance.
    pub libraries: Vec<Option<LoadedLibrary>>,
    pub routes: Vec<Option<Vec<Route>>>,
    /// Shared with whoever reads the counters (see `crate::counters`).
    pub counters: Arc<Vec<Option<UserlandCounters>>>,
}

/// A loaded NF library and what it was loaded from: a reload reuses it for
/// the same instance when the new bundle has the same library bound to the
/// same kernel maps.
pub struct LoadedLibrary {
    /// The instance it runs. Only that instance reuses it: two instances of
    /// one NF may have byte-identical libraries (they are stripped), but
    /// each keeps its own copy, statics included.
    pub instance: String,
    /// The SHA-256 of the library file, from the manifest.
    pub sha256: String,
    /// The chain maps it was lent, by name.
    pub maps: Vec<String>,
    pub library: Arc<LibraryInstance>,
}

/// A library and the maps lent to it, which live exactly as long: when the
/// last generation using it goes, both go (the library first).
pub struct LibraryInstance {
    library: NfLibrary,
    /// Never changed after the library got pointers to its elements: the
    /// vector's buffer does not move, even when the vector does.
    _maps: Vec<KernelMap>,
}

impl LibraryInstance {
    /// See [`NfLibrary::packet`].
    pub fn packet(&self, frame: &mut nf_std::abi::GaletteFrame) -> i32 {
        self.library.packet(frame)
    }
}

impl UserlandProgram {
    /// Loads the userland part of `bundle` as generation `generation`, its
    /// maps lent from `ebpf` (the object of the same generation). A library
    /// `previous` has loaded from the same file, bound to the same maps, all
    /// of them in `kept_maps` (the same kernel maps in both objects), is
    /// reused instead of loaded again.
    pub fn load(
        bundle: &Bundle,
        ebpf: &Ebpf,
        generation: u16,
        previous: Option<&UserlandProgram>,
        kept_maps: &[String],
    ) -> Result<UserlandProgram, UserlandError> {
        let mut libraries = Vec::new();
        let mut counters = Vec::new();
        let mut reused = Vec::new();
        for ((instance, placement), bindings) in
            bundle.manifest.instances.iter().zip(&bundle.resolved.placements).zip(&bundle.resolved.bindings)
        {
            // A userland instance has a library: the bundle was resolved.
            let (Placement::Userland, Some(path)) = (placement, bundle.library_path(instance)) else {
                libraries.push(None);
                counters.push(None);
                continue;
            };
            let sha256 = bundle
                .manifest
                .artifacts
                .iter()
                .find(|artifact| artifact.path == path)
                .map(|artifact| artifact.sha256.clone())
                .unwrap_or_default();
            let map_names: Vec<String> = bindings.iter().map(|&map| bundle.manifest.maps[map].name.clone()).collect();
            let reusable = previous.into_iter().flat_map(|program| program.libraries.iter().flatten()).find(|loaded| {
                loaded.sha256 == sha256
                    && loaded.instance == instance.name
                    && loaded.maps == map_names
                    && map_names.iter().all(|map| kept_maps.contains(map))
            });
            let library = match reusable {
                Some(loaded) => {
                    reused.push(instance.name.clone());
                    Arc::clone(&loaded.library)
                }
                None => {
                    // Checked again just before loading.
                    let bytes = bundle
                        .artifact(&path)
                        .map_err(|source| UserlandError::Artifact { instance: instance.name.clone(), source })?;
                    let maps = bindings
                        .iter()
                        .map(|&map| lendable_map(&bundle.manifest.maps[map], ebpf, &instance.name))
                        .collect::<Result<Vec<_>, _>>()?;
                    // SAFETY: the vector is not changed again, and the instance
                    // holds it until after its library is gone.
                    let lent: Vec<_> = maps.iter().map(|map| unsafe { map.lend() }).collect();
                    let library = load_private_copy(&bytes, instance.ports.len(), &lent)
                        .map_err(|source| UserlandError::Library { instance: instance.name.clone(), source })?;
                    Arc::new(LibraryInstance { library, _maps: maps })
                }
            };
            libraries.push(Some(LoadedLibrary { instance: instance.name.clone(), sha256, maps: map_names, library }));
            counters.push(Some(UserlandCounters::new(instance.ports.len())));
        }
        Ok(UserlandProgram {
            generation,
            reused,
            libraries,
            routes: route::routes(&bundle.resolved),
            counters: Arc::new(counters),
        })
    }
}

/// Loads a library from a copy of its bytes of its own. The dynamic loader
/// hands out an already loaded object again for the same file (by path or
/// by inode), and an NF library takes its maps once: each instance of a
/// library that a reload loads anew needs a file no other instance came
/// from. The copy is removed once loaded; the mapping stays.
fn load_private_copy(
    bytes: &[u8],
    ports: usize,
    maps: &[nf_std::abi::GaletteRawMap],
) -> Result<NfLibrary, super::LibraryError> {
    let copy = tempfile::Builder::new()
        .prefix("galette-nf-")
        .suffix(".so")
        .tempfile()
        .and_then(|mut file| {
            std::io::Write::write_all(&mut file, bytes)?;
            Ok(file)
        })
        .map_err(super::LibraryError::Copy)?;
    NfLibrary::load(Path::new(copy.path()), ports, maps)
}

/// The chain map `entry`, opened by a file descriptor of its own, to lend
/// to `instance`'s library. Per-CPU maps are never lent: galettec refuses
/// them for userland NFs.
fn lendable_map(entry: &MapEntry, ebpf: &Ebpf, instance: &str) -> Result<KernelMap, UserlandError> {
    let missing = || UserlandError::MissingMap { instance: instance.to_owned(), map: entry.name.clone() };
    let map = ebpf.map(&entry.name).filter(|_| !entry.kind.is_per_cpu()).ok_or_else(missing)?;
    let kernel = KernelMap::duplicate(map, entry.key_size as usize, entry.value_size as usize)
        .ok_or_else(|| UserlandError::MapFd(entry.name.clone()))?;
    Ok(kernel)
}

/// The versions of the userland part workers may meet, newest last.
pub struct Programs {
    versions: RwLock<Arc<Vec<Arc<UserlandProgram>>>>,
}

/// How many versions are kept: the running one and the one before it.
const KEPT_VERSIONS: usize = 2;

impl Programs {
    pub fn new(first: UserlandProgram) -> Programs {
        Programs { versions: RwLock::new(Arc::new(vec![Arc::new(first)])) }
    }

    /// The versions now, for one round of a worker.
    pub fn snapshot(&self) -> Arc<Vec<Arc<UserlandProgram>>> {
        Arc::clone(&self.versions.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The newest version.
    pub fn newest(&self) -> Arc<UserlandProgram> {
        Arc::clone(self.snapshot().last().expect("there is always a version"))
    }

    /// Adds `program` as the newest version (before its reload switches).
    pub fn add(&self, program: UserlandProgram) {
        self.update(|versions| versions.push(Arc::new(program)));
    }

    /// Drops the versions beyond the newest [`KEPT_VERSIONS`] (once a
    /// reload has switched: a reload that fails keeps all it had).
    pub fn trim(&self) {
        self.update(|versions| {
            let excess = versions.len().saturating_sub(KEPT_VERSIONS);
            versions.drain(..excess);
        });
    }

    /// Removes the version of `generation` (a reload that did not switch).
    pub fn remove(&self, generation: u16) {
        self.update(|versions| {
            if versions.len() > 1 {
                versions.retain(|program| program.generation != generation);
            }
        });
    }

    fn update(&self, change: impl FnOnce(&mut Vec<Arc<UserlandProgram>>)) {
        let mut guard = self.versions.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut versions: Vec<Arc<UserlandProgram>> = guard.as_ref().clone();
        change(&mut versions);
        *guard = Arc::new(versions);
    }
}

/// The version of `generation` among `versions`, if it is still kept.
pub fn of_generation(versions: &[Arc<UserlandProgram>], generation: u16) -> Option<&UserlandProgram> {
    versions.iter().rev().find(|program| program.generation == generation).map(Arc::as_ref)
}
