//! The userland tier: AF_XDP worker threads that run the userland instances
//! of a chain, fed by the XDP part's upcalls.
//!
//! One UMEM is shared by `workers` sockets bound to the interface's queue 0;
//! each socket's fd goes into the chain's XSKMAP, and the XDP part spreads
//! upcalls over them at random. Each worker runs a packet through the
//! userland instances to completion, then sends it out of its socket or
//! frees its frame.

mod library;
mod route;
mod worker;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aya::Ebpf;
use aya::maps::{Array, XskMap};
use galette_bundle::{Bundle, CONFIG_MAP, CONFIG_WORKERS, MAX_WORKERS, Placement, XSKS_MAP};
use xsk_rs::config::{LibxdpFlags, QueueSize, SocketConfig, UmemConfig};
use xsk_rs::{Socket, Umem};

pub use route::UserlandCounters;
pub use worker::WorkerMode;

use crate::RunError;
use crate::kernel_map::KernelMap;
use library::NfLibrary;

/// UMEM frames: twice a ring's size, so the fill ring never runs dry while
/// the RX and TX rings hold frames.
const FRAMES: u32 = 4096;
const RING_SIZE: u32 = 2048;

/// The running workers of a chain.
pub struct UserlandTier {
    shared: Arc<worker::Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl UserlandTier {
    /// Loads the bundle's userland libraries, lends them the chain's maps,
    /// creates the sockets on `interface`, registers them in the XSKMAP and
    /// starts one thread per worker.
    pub fn start(bundle: &Bundle, ebpf: &mut Ebpf, interface: &str, workers: u32, mode: WorkerMode) -> Result<UserlandTier, RunError> {
        let manifest = &bundle.manifest;
        if workers == 0 || workers > MAX_WORKERS {
            return Err(RunError::Userland(format!("--workers must be between 1 and {MAX_WORKERS}")));
        }
        let routes = route::routes(manifest).map_err(|reason| RunError::Userland(format!("invalid manifest: {reason}")))?;
        let maps = kernel_maps(bundle, ebpf)?;
        let mut libraries = Vec::new();
        let mut counters = Vec::new();
        for instance in &manifest.instances {
            if instance.placement != Placement::Userland {
                libraries.push(None);
                counters.push(None);
                continue;
            }
            let path = instance.library.as_deref().ok_or_else(|| RunError::Userland(format!("`{}` has no library in the manifest", instance.name)))?;
            bundle.artifact(path)?; // Checked again just before loading.
            let lent: Vec<_> = instance
                .maps
                .iter()
                .map(|name| maps.get(name).map(|map| map.lend()).ok_or_else(|| RunError::Userland(format!("`{}` binds `{name}`, which the XDP object does not have", instance.name))))
                .collect::<Result<_, _>>()?;
            let library = NfLibrary::load(&bundle.dir.join(path), instance.ports.len(), &lent)
                .map_err(|reason| RunError::Userland(format!("cannot load the library of `{}`: {reason}", instance.name)))?;
            libraries.push(Some(library));
            counters.push(Some(UserlandCounters::new(instance.ports.len())));
        }

        let ring = QueueSize::new(RING_SIZE).expect("a power of two");
        let umem_config = UmemConfig::builder().fill_queue_size(ring).comp_queue_size(ring).build().map_err(|err| RunError::Userland(err.to_string()))?;
        let (umem, frames) = Umem::new(umem_config, NonZeroU32::new(FRAMES).expect("non-zero"), false)
            .map_err(|err| RunError::Userland(format!("cannot create the UMEM: {err}")))?;
        let socket_config = SocketConfig::builder()
            .rx_queue_size(ring)
            .tx_queue_size(ring)
            // The chain's own XDP program redirects to the sockets; libxdp
            // must not load one of its own.
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .build();
        let interface_name = interface.parse().map_err(|_| RunError::NoSuchInterface(interface.to_owned()))?;
        let mut sockets = Vec::new();
        let mut rings = None;
        for _ in 0..workers {
            let (tx, rx, fill_and_completion) = create_socket(socket_config, &umem, &interface_name)?;
            if rings.is_none() {
                rings = fill_and_completion;
            }
            sockets.push((tx, rx));
        }
        let (fill, completion) = rings.ok_or_else(|| RunError::Userland("the first AF_XDP socket has no fill ring".into()))?;
        register_sockets(ebpf, &sockets, workers)?;

        let shared = Arc::new(worker::Shared {
            umem,
            fill_fd: worker::raw_fd(&sockets[0].1),
            rings: Mutex::new(worker::Rings { fill, completion, free: frames }),
            libraries,
            routes,
            counters,
            stop: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            kernel_frames: AtomicI64::new(0),
        });
        let threads = sockets
            .into_iter()
            .enumerate()
            .map(|(index, (tx, rx))| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("galette-worker-{index}"))
                    .spawn(move || worker::run(shared, rx, tx, mode))
                    .map_err(|err| RunError::Userland(format!("cannot start a worker thread: {err}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(UserlandTier { shared, threads })
    }

    /// The counters of userland instance `index` (a manifest index).
    pub fn counters(&self, index: usize) -> Option<&UserlandCounters> {
        self.shared.counters.get(index)?.as_ref()
    }

    /// Packets userland dropped after `pass`, `abort` or a panic.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Stops the workers and waits for them (their sockets close with
    /// them), then accounts for the UMEM's frames: `(accounted, total)`, the
    /// free ones plus those the kernel still holds. Every frame is one or the
    /// other, so the two are equal unless a frame was lost.
    pub fn stop(mut self) -> (u64, u64) {
        self.stop_workers();
        let free = self.shared.rings.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).free.len() as i64;
        let accounted = free + self.shared.kernel_frames.load(Ordering::Relaxed);
        (accounted.max(0) as u64, u64::from(FRAMES))
    }

    fn stop_workers(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for UserlandTier {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

type SocketParts = (xsk_rs::TxQueue, xsk_rs::RxQueue, Option<(xsk_rs::FillQueue, xsk_rs::CompQueue)>);

/// Binds an AF_XDP socket to queue 0. Binding right after a socket on the
/// same queue closed can fail with EBUSY for a few milliseconds: retried.
fn create_socket(config: SocketConfig, umem: &Umem, interface: &xsk_rs::config::Interface) -> Result<SocketParts, RunError> {
    let mut last_error = String::new();
    for _ in 0..50 {
        // SAFETY: every socket on this UMEM is created here, with the
        // prog-load flag inhibited as sharing requires.
        match unsafe { Socket::new(config, umem, interface, 0) } {
            Ok(parts) => return Ok(parts),
            Err(err) => last_error = std::error::Error::source(&err).map_or_else(|| err.to_string(), |source| format!("{err}: {source}")),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(RunError::Userland(format!("cannot create an AF_XDP socket: {last_error}")))
}

/// Puts the sockets in the chain's XSKMAP and their number in its config.
fn register_sockets(ebpf: &mut Ebpf, sockets: &[(xsk_rs::TxQueue, xsk_rs::RxQueue)], workers: u32) -> Result<(), RunError> {
    let map = ebpf.map_mut(XSKS_MAP).ok_or_else(|| RunError::Userland(format!("the object has no map `{XSKS_MAP}`")))?;
    let mut xsks = XskMap::try_from(map).map_err(|err| RunError::Userland(err.to_string()))?;
    for (index, (_, rx)) in sockets.iter().enumerate() {
        // SAFETY: the socket outlives its entry: the workers own the sockets
        // and stop after the chain is detached.
        let fd = unsafe { BorrowedFd::borrow_raw(worker::raw_fd(rx)) };
        xsks.set(index as u32, fd, 0).map_err(|err| RunError::Userland(format!("cannot register worker socket {index}: {err}")))?;
    }
    let map = ebpf.map_mut(CONFIG_MAP).ok_or_else(|| RunError::Userland(format!("the object has no map `{CONFIG_MAP}`")))?;
    let mut config: Array<_, u32> = Array::try_from(map).map_err(|err| RunError::Userland(err.to_string()))?;
    config.set(CONFIG_WORKERS, workers, 0).map_err(|err| RunError::Userland(err.to_string()))
}

/// Every chain map of the bundle, opened by fd for the libraries. Leaked:
/// libraries keep pointers to them for the life of the process.
fn kernel_maps(bundle: &Bundle, ebpf: &Ebpf) -> Result<HashMap<String, &'static KernelMap>, RunError> {
    let mut maps = HashMap::new();
    for entry in &bundle.manifest.maps {
        // galettec refuses per-CPU maps for userland NFs, so none is lent.
        if entry.kind.starts_with("percpu") {
            continue;
        }
        let Some(map) = ebpf.map(&entry.name) else { continue };
        let fd = map_fd(map).ok_or_else(|| RunError::Userland(format!("cannot reach the map `{}`", entry.name)))?;
        let kernel: &'static KernelMap = Box::leak(Box::new(KernelMap::new(fd, entry.key_size as usize, entry.value_size as usize)));
        maps.insert(entry.name.clone(), kernel);
    }
    Ok(maps)
}

/// A duplicate of a map's fd.
fn map_fd(map: &aya::maps::Map) -> Option<std::os::fd::OwnedFd> {
    use aya::maps::Map;
    use std::os::fd::AsFd;
    let data = match map {
        Map::Array(data) | Map::HashMap(data) | Map::LruHashMap(data) | Map::LpmTrie(data) | Map::PerCpuArray(data) | Map::PerCpuHashMap(data) => data,
        _ => return None,
    };
    data.fd().as_fd().try_clone_to_owned().ok()
}
