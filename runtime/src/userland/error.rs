//! Why the userland tier did not start.

use galette_bundle::{BundleError, MAX_WORKERS};

use crate::error::ObjectError;

#[derive(Debug, thiserror::Error)]
pub enum UserlandError {
    #[error("--workers must be between 1 and {MAX_WORKERS}, not {0}")]
    WorkerCount(u32),
    #[error(
        "{interface} has {queues} RX queues: {workers} workers need {} sockets there, more than {MAX_WORKERS}; use fewer workers, or fewer queues (`ethtool -L {interface} combined N`)",
        queues * workers
    )]
    TooManySockets { interface: String, queues: u32, workers: u32 },
    #[error("interface role {0} is attached twice or out of range")]
    InterfaceSlot(usize),
    #[error("`{instance}`'s library")]
    Artifact { instance: String, source: BundleError },
    #[error("cannot load the library of `{instance}`")]
    Library { instance: String, source: LibraryError },
    #[error("`{instance}` binds `{map}`, which the XDP object does not have")]
    MissingMap { instance: String, map: String },
    #[error("cannot reach the map `{0}`")]
    MapFd(String),
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error("cannot register worker {worker}'s socket on {interface}")]
    RegisterSocket { worker: usize, interface: String, source: aya::maps::MapError },
    #[error("cannot register the sockets of {interface}")]
    RegisterInterface { interface: String, source: aya::maps::MapError },
    #[error("cannot tell the XDP part how many workers there are")]
    WorkerConfig(#[source] aya::maps::MapError),
    #[error("no network interface named `{0}`")]
    NoSuchInterface(String),
    #[error("cannot configure the UMEM")]
    UmemConfig(#[source] xsk_rs::config::UmemConfigBuilderError),
    #[error("cannot create the UMEM for {interface} queue {queue}")]
    Umem { interface: String, queue: u32, source: xsk_rs::umem::UmemCreateError },
    #[error("the first AF_XDP socket on {interface} queue {queue} has no fill ring")]
    NoFillRing { interface: String, queue: u32 },
    #[error("cannot create an AF_XDP socket on {interface} queue {queue}")]
    Socket { interface: String, queue: u32, source: xsk_rs::socket::SocketCreateError },
    #[error("cannot start a worker thread")]
    Thread(#[source] std::io::Error),
}

/// Why an NF library could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("cannot open it")]
    Open(#[source] libloading::Error),
    #[error("cannot make the private copy it is loaded from")]
    Copy(#[source] std::io::Error),
    #[error("it has no `{symbol}`")]
    Symbol { symbol: &'static str, source: libloading::Error },
    #[error("it has ABI version {found}, this runtime speaks {expected}")]
    AbiVersion { found: u32, expected: u32 },
    #[error("it has {found_ports} ports and {found_maps} maps, the manifest says {ports} and {maps}")]
    Shape { found_ports: usize, found_maps: usize, ports: usize, maps: usize },
    #[error("its initialisation failed")]
    Init(#[source] std::io::Error),
}
