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
mod program;
mod route;
mod worker;

use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use aya::Ebpf;
use aya::maps::HashMap as KernelHashMap;
use aya::maps::{Array, XskMap};
use galette_bundle::{
    Bundle, CONFIG_GENERATION, CONFIG_MAP, CONFIG_WORKERS, MAX_WORKERS, XSK_BASES_MAP, XSKS_MAP, xsk_slot,
};

pub use error::{LibraryError, UserlandError};
pub use route::UserlandCounters;
pub use worker::WorkerMode;

use crate::attach::Attachment;
use crate::error::ObjectError;
use pool::{Pool, WorkerSocket};
use program::{Programs, UserlandProgram};

/// The running workers of a chain.
pub struct UserlandTier {
    shared: Arc<worker::Shared>,
    threads: Vec<JoinHandle<()>>,
    /// Every worker socket, with where it goes in an XSKMAP, so that a
    /// reload can register the same sockets in the new object's.
    sockets: Vec<RegisteredSocket>,
    /// The interfaces, by interface slot.
    interfaces: Vec<String>,
    workers: u32,
    /// What was started, for the start-up message.
    summary: String,
}

/// The new generation's userland part, ready in the workers.
pub struct PreparedReload {
    pub counters: Arc<Vec<Option<UserlandCounters>>>,
    /// The instances whose library was the running generation's, reused.
    pub reused: Vec<String>,
}

/// A worker's socket on one queue of one interface.
#[derive(Debug, Clone, Copy)]
struct RegisteredSocket {
    /// The interface's slot, and the socket's index among its slots.
    slot: u32,
    index: u32,
    /// Valid as long as the workers run: they own the sockets.
    fd: RawFd,
}

impl UserlandTier {
    /// Loads the bundle's userland libraries as generation `generation`,
    /// lends them the chain's maps, creates the sockets on every attached
    /// interface, registers them in the XSKMAP and starts one thread per
    /// worker.
    pub fn start(
        bundle: &Bundle,
        ebpf: &mut Ebpf,
        attachments: &[Attachment],
        workers: u32,
        mode: WorkerMode,
        generation: u16,
    ) -> Result<UserlandTier, UserlandError> {
        if workers == 0 || workers > MAX_WORKERS {
            return Err(UserlandError::WorkerCount(workers));
        }
        let program = UserlandProgram::load(bundle, ebpf, generation, None, &[])?;
        let interfaces = interface_slots(attachments)?;

        // By worker, its socket on each pool (each queue of each interface,
        // by pool index).
        let mut sockets: Vec<Vec<WorkerSocket>> = (0..workers).map(|_| Vec::new()).collect();
        let mut registered = Vec::new();
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
                for (worker, socket) in queue_sockets.iter().enumerate() {
                    let index = queue * workers + worker as u32;
                    registered.push(RegisteredSocket { slot: slot as u32, index, fd: pool::raw_fd(&socket.rx) });
                }
                for (worker_sockets, socket) in sockets.iter_mut().zip(queue_sockets) {
                    worker_sockets.push(socket);
                }
                pools.push(pool);
            }
        }
        let interfaces: Vec<String> = interfaces.into_iter().map(str::to_owned).collect();
        // The fill rings are full before any upcall can come: the kernel drops
        // a frame redirected into a socket with no fill frame, and a reload
        // that adds this tier switches before the workers first run.
        for pool in &pools {
            pool.recycle();
        }
        register(ebpf, &registered, &interfaces, workers, generation)?;

        let shared = Arc::new(worker::Shared {
            pools,
            layout,
            programs: Programs::new(program),
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
        Ok(UserlandTier { shared, threads, sockets: registered, interfaces, workers, summary })
    }

    /// For a live reload to `bundle`, whose object `ebpf` is loaded beside
    /// the running one as generation `generation`: registers the same
    /// sockets in its XSKMAP, loads its userland libraries (reusing those
    /// that did not change, see [`UserlandProgram::load`]) and adds it as
    /// the newest version the workers know, before the switch, so that the
    /// first upcall of the new chain finds it. Returns its counters and
    /// the instances whose library was reused.
    pub fn prepare_reload(
        &self,
        bundle: &Bundle,
        ebpf: &mut Ebpf,
        generation: u16,
        kept_maps: &[String],
    ) -> Result<PreparedReload, UserlandError> {
        register(ebpf, &self.sockets, &self.interfaces, self.workers, generation)?;
        let program = UserlandProgram::load(bundle, ebpf, generation, Some(&self.shared.programs.newest()), kept_maps)?;
        let prepared = PreparedReload { counters: Arc::clone(&program.counters), reused: program.reused.clone() };
        self.shared.programs.add(program);
        Ok(prepared)
    }

    /// After a reload switched: forgets all versions but the new one and
    /// the one before it.
    pub fn commit_reload(&self) {
        self.shared.programs.trim();
    }

    /// Forgets the version of `generation`: its reload did not switch.
    pub fn abandon_reload(&self, generation: u16) {
        self.shared.programs.remove(generation);
    }

    /// What runs: workers, mode, interfaces and their queues.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The counters of every userland instance of the newest version, by
    /// manifest index (`None` for XDP instances), shared with the workers
    /// that count.
    pub fn counters(&self) -> Arc<Vec<Option<UserlandCounters>>> {
        Arc::clone(&self.shared.programs.newest().counters)
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

/// Tells the XDP object `ebpf` about the workers: their sockets in its
/// XSKMAP, where each interface's sockets start, how many there are per
/// queue, and the object's generation.
fn register(
    ebpf: &mut Ebpf,
    sockets: &[RegisteredSocket],
    interfaces: &[String],
    workers: u32,
    generation: u16,
) -> Result<(), UserlandError> {
    let map = ebpf.map_mut(XSKS_MAP).ok_or(ObjectError::NoMap(XSKS_MAP))?;
    let mut xsks = XskMap::try_from(map).map_err(|source| ObjectError::FillMap { map: XSKS_MAP, source })?;
    for socket in sockets {
        // SAFETY: the socket outlives its entry: the workers own the sockets
        // and stop after the chain is detached.
        let fd = unsafe { BorrowedFd::borrow_raw(socket.fd) };
        xsks.set(xsk_slot(socket.slot, socket.index), fd, 0).map_err(|source| UserlandError::RegisterSocket {
            worker: (socket.index % workers) as usize,
            interface: interfaces[socket.slot as usize].clone(),
            source,
        })?;
    }
    for (slot, interface) in interfaces.iter().enumerate() {
        register_interface(ebpf, slot as u32, interface)?;
    }
    set_config(ebpf, workers, generation)
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

/// Tells the XDP part how many sockets each queue has, and its generation.
fn set_config(ebpf: &mut Ebpf, workers: u32, generation: u16) -> Result<(), UserlandError> {
    let map = ebpf.map_mut(CONFIG_MAP).ok_or(ObjectError::NoMap(CONFIG_MAP))?;
    let mut config: Array<_, u32> =
        Array::try_from(map).map_err(|source| ObjectError::FillMap { map: CONFIG_MAP, source })?;
    config.set(CONFIG_WORKERS, workers, 0).map_err(UserlandError::WorkerConfig)?;
    config.set(CONFIG_GENERATION, u32::from(generation), 0).map_err(UserlandError::WorkerConfig)
}
