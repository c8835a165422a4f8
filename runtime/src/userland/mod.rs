//! The userland tier: AF_XDP worker threads that run the userland instances
//! of a chain, fed by the XDP part's upcalls.
//!
//! Each worker has one socket bound to each RX queue of each interface the
//! chain is attached to; the workers' sockets on a queue share that queue's
//! UMEM (see `pool`). The sockets go into the chain's XSKMAP, `MAX_WORKERS`
//! slots per interface (`queue * workers + worker` within them), and the XDP
//! part spreads a packet's upcall over the sockets of the queue it came in
//! on (the kernel delivers only to a socket bound to the packet's own
//! interface and queue). Each worker runs a packet through the userland
//! instances to completion, then sends it out of its socket on the
//! interface the chain's route names, or frees its frame.

mod library;
mod pool;
mod route;
mod worker;

use std::collections::HashMap;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use aya::Ebpf;
use aya::maps::HashMap as KernelHashMap;
use aya::maps::{Array, XskMap};
use galette_bundle::{Bundle, CONFIG_MAP, CONFIG_WORKERS, MAX_WORKERS, Placement, XSK_BASES_MAP, XSKS_MAP, xsk_slot};

pub use route::UserlandCounters;
pub use worker::WorkerMode;

use crate::RunError;
use crate::attach::Attachment;
use crate::kernel_map::KernelMap;
use library::NfLibrary;
use pool::{Pool, WorkerSocket};

/// The running workers of a chain.
pub struct UserlandTier {
    shared: Arc<worker::Shared>,
    threads: Vec<JoinHandle<()>>,
    /// What was started, for the start-up message.
    summary: String,
}

impl UserlandTier {
    /// Loads the bundle's userland libraries, lends them the chain's maps,
    /// creates the sockets on every attached interface, registers them in
    /// the XSKMAP and starts one thread per worker.
    pub fn start(
        bundle: &Bundle,
        ebpf: &mut Ebpf,
        attachments: &[Attachment],
        workers: u32,
        mode: WorkerMode,
    ) -> Result<UserlandTier, RunError> {
        if workers == 0 || workers > MAX_WORKERS {
            return Err(RunError::Userland(format!("--workers must be between 1 and {MAX_WORKERS}")));
        }
        let routes = route::routes(&bundle.resolved);
        let (libraries, counters) = load_libraries(bundle, ebpf)?;
        let interfaces = interface_slots(attachments)?;

        // By worker, its socket on each pool (each queue of each interface,
        // by pool index).
        let mut sockets: Vec<Vec<WorkerSocket>> = (0..workers).map(|_| Vec::new()).collect();
        let mut pools = Vec::new();
        let mut layout = worker::PoolLayout::default();
        let mut placed = Vec::new();
        for (slot, interface) in interfaces.iter().enumerate() {
            let queues = pool::rx_queue_count(interface);
            if queues * workers > MAX_WORKERS {
                return Err(RunError::Userland(format!(
                    "{interface} has {queues} RX queues: {workers} workers need {} sockets there, more than {MAX_WORKERS}; use fewer workers, or fewer queues (`ethtool -L {interface} combined N`)",
                    queues * workers
                )));
            }
            layout.add_interface(queues as usize);
            placed.push(format!("{interface} ({queues} RX queue{})", if queues == 1 { "" } else { "s" }));
            for queue in 0..queues {
                let (pool, queue_sockets) = Pool::create(interface, queue, workers)?;
                register_sockets(ebpf, slot as u32, queue * workers, interface, &queue_sockets)?;
                for (worker_sockets, socket) in sockets.iter_mut().zip(queue_sockets) {
                    worker_sockets.push(socket);
                }
                pools.push(pool);
            }
            register_interface(ebpf, slot as u32, interface)?;
        }
        set_workers(ebpf, workers)?;

        let shared = Arc::new(worker::Shared {
            pools,
            layout,
            libraries,
            routes,
            counters,
            stop: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        });
        let threads = sockets
            .into_iter()
            .enumerate()
            .map(|(index, worker_sockets)| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("galette-worker-{index}"))
                    .spawn(move || worker::run(shared, worker_sockets, mode))
                    .map_err(|err| RunError::Userland(format!("cannot start a worker thread: {err}")))
            })
            .collect::<Result<_, _>>()?;
        let summary = format!(
            "{workers} worker{} ({}), a socket each on {}",
            if workers == 1 { "" } else { "s" },
            mode.name(),
            placed.join(", ")
        );
        Ok(UserlandTier { shared, threads, summary })
    }

    /// What runs: workers, mode, interfaces and their queues.
    pub fn summary(&self) -> &str {
        &self.summary
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
    /// them), then accounts for the frames of every interface's UMEM:
    /// `(accounted, total)`, the free ones plus those the kernel still
    /// holds. Every frame is one or the other, so the two are equal unless a
    /// frame was lost.
    pub fn stop(mut self) -> (u64, u64) {
        self.stop_workers();
        self.shared
            .pools
            .iter()
            .map(Pool::accounting)
            .fold((0, 0), |(accounted, total), (a, t)| (accounted + a, total + t))
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

/// The interfaces sockets are needed on, by interface slot: the role's index
/// for a chain with roles (where the routes' `Out(role)` finds it), else the
/// one interface.
fn interface_slots(attachments: &[Attachment]) -> Result<Vec<&str>, RunError> {
    let mut slots: Vec<Option<&str>> = vec![None; attachments.len()];
    for (index, attachment) in attachments.iter().enumerate() {
        let slot = attachment.role.map_or(index, |role| role as usize);
        match slots.get_mut(slot) {
            Some(entry @ None) => *entry = Some(&attachment.interface),
            _ => return Err(RunError::Userland(format!("interface role {slot} is attached twice or out of range"))),
        }
    }
    Ok(slots.into_iter().flatten().collect())
}

/// Loads the library of each userland instance (by manifest index) and
/// lends it the chain maps it binds; makes its counters.
fn load_libraries(
    bundle: &Bundle,
    ebpf: &Ebpf,
) -> Result<(Vec<Option<NfLibrary>>, Vec<Option<UserlandCounters>>), RunError> {
    let maps = kernel_maps(bundle, ebpf)?;
    let mut libraries = Vec::new();
    let mut counters = Vec::new();
    for instance in &bundle.manifest.instances {
        if instance.placement != Placement::Userland {
            libraries.push(None);
            counters.push(None);
            continue;
        }
        let path = instance
            .library
            .as_deref()
            .ok_or_else(|| RunError::Userland(format!("`{}` has no library in the manifest", instance.name)))?;
        bundle.artifact(path)?; // Checked again just before loading.
        let lent: Vec<_> = instance
            .maps
            .iter()
            .map(|name| {
                maps.get(name).map(|map| map.lend()).ok_or_else(|| {
                    RunError::Userland(format!(
                        "`{}` binds `{name}`, which the XDP object does not have",
                        instance.name
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let library = NfLibrary::load(&bundle.dir.join(path), instance.ports.len(), &lent).map_err(|reason| {
            RunError::Userland(format!("cannot load the library of `{}`: {reason}", instance.name))
        })?;
        libraries.push(Some(library));
        counters.push(Some(UserlandCounters::new(instance.ports.len())));
    }
    Ok((libraries, counters))
}

/// Puts the workers' sockets on one queue of the interface of `slot` in the
/// chain's XSKMAP, from `first` on within the interface's slots.
fn register_sockets(
    ebpf: &mut Ebpf,
    slot: u32,
    first: u32,
    interface: &str,
    sockets: &[WorkerSocket],
) -> Result<(), RunError> {
    let map =
        ebpf.map_mut(XSKS_MAP).ok_or_else(|| RunError::Userland(format!("the object has no map `{XSKS_MAP}`")))?;
    let mut xsks = XskMap::try_from(map).map_err(|err| RunError::Userland(err.to_string()))?;
    for (worker, socket) in sockets.iter().enumerate() {
        // SAFETY: the socket outlives its entry: the workers own the sockets
        // and stop after the chain is detached.
        let fd = unsafe { BorrowedFd::borrow_raw(pool::raw_fd(&socket.rx)) };
        xsks.set(xsk_slot(slot, first + worker as u32), fd, 0).map_err(|err| {
            RunError::Userland(format!("cannot register worker {worker}'s socket on {interface}: {err}"))
        })?;
    }
    Ok(())
}

/// Records where the sockets of the interface of `slot` start in the XSKMAP,
/// under the interface's index (what an upcall looks its sockets up by).
fn register_interface(ebpf: &mut Ebpf, slot: u32, interface: &str) -> Result<(), RunError> {
    let ifindex = crate::interface::interface_index(interface)?;
    let map = ebpf
        .map_mut(XSK_BASES_MAP)
        .ok_or_else(|| RunError::Userland(format!("the object has no map `{XSK_BASES_MAP}`")))?;
    let mut bases: KernelHashMap<_, u32, u32> =
        KernelHashMap::try_from(map).map_err(|err| RunError::Userland(err.to_string()))?;
    bases
        .insert(ifindex, xsk_slot(slot, 0), 0)
        .map_err(|err| RunError::Userland(format!("cannot register the sockets of {interface}: {err}")))
}

/// Tells the XDP part how many sockets each queue has.
fn set_workers(ebpf: &mut Ebpf, workers: u32) -> Result<(), RunError> {
    let map =
        ebpf.map_mut(CONFIG_MAP).ok_or_else(|| RunError::Userland(format!("the object has no map `{CONFIG_MAP}`")))?;
    let mut config: Array<_, u32> = Array::try_from(map).map_err(|err| RunError::Userland(err.to_string()))?;
    config.set(CONFIG_WORKERS, workers, 0).map_err(|err| RunError::Userland(err.to_string()))
}

/// Every chain map of the bundle, opened by fd for the libraries. Leaked:
/// libraries keep pointers to them for the life of the process.
fn kernel_maps(bundle: &Bundle, ebpf: &Ebpf) -> Result<HashMap<String, &'static KernelMap>, RunError> {
    let mut maps = HashMap::new();
    for entry in &bundle.manifest.maps {
        // galettec refuses per-CPU maps for userland NFs, so none is lent.
        if entry.kind.is_per_cpu() {
            continue;
        }
        let Some(map) = ebpf.map(&entry.name) else { continue };
        let fd = map_fd(map).ok_or_else(|| RunError::Userland(format!("cannot reach the map `{}`", entry.name)))?;
        let kernel: &'static KernelMap =
            Box::leak(Box::new(KernelMap::new(fd, entry.key_size as usize, entry.value_size as usize)));
        maps.insert(entry.name.clone(), kernel);
    }
    Ok(maps)
}

/// A duplicate of a map's fd.
fn map_fd(map: &aya::maps::Map) -> Option<std::os::fd::OwnedFd> {
    use aya::maps::Map;
    use std::os::fd::AsFd;
    let data = match map {
        Map::Array(data)
        | Map::HashMap(data)
        | Map::LruHashMap(data)
        | Map::LpmTrie(data)
        | Map::PerCpuArray(data)
        | Map::PerCpuHashMap(data) => data,
        _ => return None,
    };
    data.fd().as_fd().try_clone_to_owned().ok()
}
