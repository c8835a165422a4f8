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

mod error;
mod library;
mod pool;
mod route;
mod worker;

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use aya::Ebpf;
use aya::maps::HashMap as KernelHashMap;
use aya::maps::{Array, XskMap};
use galette_bundle::{Bundle, CONFIG_MAP, CONFIG_WORKERS, MAX_WORKERS, Placement, XSK_BASES_MAP, XSKS_MAP, xsk_slot};

pub use error::{LibraryError, UserlandError};
pub use route::UserlandCounters;
pub use worker::WorkerMode;

use crate::attach::Attachment;
use crate::error::ObjectError;
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
    ) -> Result<UserlandTier, UserlandError> {
        if workers == 0 || workers > MAX_WORKERS {
            return Err(UserlandError::WorkerCount(workers));
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
                return Err(UserlandError::TooManySockets { interface: (*interface).to_owned(), queues, workers });
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
                    .map_err(UserlandError::Thread)
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

    /// The counters of every userland instance, by manifest index (`None`
    /// for XDP instances), shared with the workers that count.
    pub fn counters(&self) -> Arc<Vec<Option<UserlandCounters>>> {
        Arc::clone(&self.shared.counters)
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
fn interface_slots(attachments: &[Attachment]) -> Result<Vec<&str>, UserlandError> {
    let mut slots: Vec<Option<&str>> = vec![None; attachments.len()];
    for (index, attachment) in attachments.iter().enumerate() {
        let slot = attachment.role.map_or(index, |role| role as usize);
        match slots.get_mut(slot) {
            Some(entry @ None) => *entry = Some(&attachment.interface),
            _ => return Err(UserlandError::InterfaceSlot(slot)),
        }
    }
    Ok(slots.into_iter().flatten().collect())
}

/// The libraries of the userland instances and their counters, by
/// manifest index (`None` for XDP instances).
type Libraries = (Vec<Option<NfLibrary>>, Arc<Vec<Option<UserlandCounters>>>);

/// Loads the library of each userland instance (by manifest index) and
/// lends it the chain maps it binds; makes its counters.
fn load_libraries(bundle: &Bundle, ebpf: &Ebpf) -> Result<Libraries, UserlandError> {
    let maps = kernel_maps(bundle, ebpf)?;
    let mut libraries = Vec::new();
    let mut counters = Vec::new();
    for ((instance, placement), bindings) in
        bundle.manifest.instances.iter().zip(&bundle.resolved.placements).zip(&bundle.resolved.bindings)
    {
        // A userland instance has a library: the bundle was resolved.
        let (Placement::Userland, Some(path)) = (placement, instance.library.as_deref()) else {
            libraries.push(None);
            counters.push(None);
            continue;
        };
        // Checked again just before loading.
        bundle.artifact(path).map_err(|source| UserlandError::Artifact { instance: instance.name.clone(), source })?;
        let lent: Vec<_> = bindings
            .iter()
            .map(|&map| {
                maps[map].map(KernelMap::lend).ok_or_else(|| UserlandError::MissingMap {
                    instance: instance.name.clone(),
                    map: bundle.manifest.maps[map].name.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        let library = NfLibrary::load(&bundle.dir.join(path), instance.ports.len(), &lent)
            .map_err(|source| UserlandError::Library { instance: instance.name.clone(), source })?;
        libraries.push(Some(library));
        counters.push(Some(UserlandCounters::new(instance.ports.len())));
    }
    Ok((libraries, Arc::new(counters)))
}

/// Puts the workers' sockets on one queue of the interface of `slot` in the
/// chain's XSKMAP, from `first` on within the interface's slots.
fn register_sockets(
    ebpf: &mut Ebpf,
    slot: u32,
    first: u32,
    interface: &str,
    sockets: &[WorkerSocket],
) -> Result<(), UserlandError> {
    let map = ebpf.map_mut(XSKS_MAP).ok_or(ObjectError::NoMap(XSKS_MAP))?;
    let mut xsks = XskMap::try_from(map).map_err(|source| ObjectError::FillMap { map: XSKS_MAP, source })?;
    for (worker, socket) in sockets.iter().enumerate() {
        // SAFETY: the socket outlives its entry: the workers own the sockets
        // and stop after the chain is detached.
        let fd = unsafe { BorrowedFd::borrow_raw(pool::raw_fd(&socket.rx)) };
        xsks.set(xsk_slot(slot, first + worker as u32), fd, 0).map_err(|source| UserlandError::RegisterSocket {
            worker,
            interface: interface.to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// Records where the sockets of the interface of `slot` start in the XSKMAP,
/// under the interface's index (what an upcall looks its sockets up by).
fn register_interface(ebpf: &mut Ebpf, slot: u32, interface: &str) -> Result<(), UserlandError> {
    let ifindex = crate::interface::interface_index(interface)
        .map_err(|_| UserlandError::NoSuchInterface(interface.to_owned()))?;
    let map = ebpf.map_mut(XSK_BASES_MAP).ok_or(ObjectError::NoMap(XSK_BASES_MAP))?;
    let mut bases: KernelHashMap<_, u32, u32> =
        KernelHashMap::try_from(map).map_err(|source| ObjectError::FillMap { map: XSK_BASES_MAP, source })?;
    bases
        .insert(ifindex, xsk_slot(slot, 0), 0)
        .map_err(|source| UserlandError::RegisterInterface { interface: interface.to_owned(), source })
}

/// Tells the XDP part how many sockets each queue has.
fn set_workers(ebpf: &mut Ebpf, workers: u32) -> Result<(), UserlandError> {
    let map = ebpf.map_mut(CONFIG_MAP).ok_or(ObjectError::NoMap(CONFIG_MAP))?;
    let mut config: Array<_, u32> =
        Array::try_from(map).map_err(|source| ObjectError::FillMap { map: CONFIG_MAP, source })?;
    config.set(CONFIG_WORKERS, workers, 0).map_err(UserlandError::WorkerConfig)
}

/// Every chain map of the bundle by manifest index, opened by fd for the
/// libraries (`None` for those the object lacks, and for per-CPU maps:
/// galettec refuses those for userland NFs, so none is lent). Leaked:
/// libraries keep pointers to them for the life of the process.
fn kernel_maps(bundle: &Bundle, ebpf: &Ebpf) -> Result<Vec<Option<&'static KernelMap>>, UserlandError> {
    let mut maps = Vec::new();
    for entry in &bundle.manifest.maps {
        let map = match ebpf.map(&entry.name) {
            Some(map) if !entry.kind.is_per_cpu() => map,
            _ => {
                maps.push(None);
                continue;
            }
        };
        let kernel = KernelMap::duplicate(map, entry.key_size as usize, entry.value_size as usize)
            .ok_or_else(|| UserlandError::MapFd(entry.name.clone()))?;
        maps.push(Some(&*Box::leak(Box::new(kernel))));
    }
    Ok(maps)
}
