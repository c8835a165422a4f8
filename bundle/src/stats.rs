//! Layout of the per-instance counters the XDP programs keep.
//!
//! The counters are one per-CPU array map whose value is an array of
//! [`stats_slots`] `u64`s: a program looks its CPU's value up once per
//! packet and counts in it at constant offsets. Instance `i` owns
//! [`slots_per_instance`] consecutive slots starting at `i * slots_per_instance`:
//! the first counts packets that reached the instance (userland instances
//! only, see [`StatsSlot::Received`]), the next ones count packets that left
//! by each port, in port order, and the last counts packets the instance
//! lost: a failed tail call into the next segment in XDP, a panic in
//! userland.
//! After every instance's slots come the chain's own drops, one slot per
//! [`DropReason`] ([`drop_index`]): packets the fast path dropped although
//! no port led to `drop`, because it could not deliver them where a port
//! led.
//!
//! The map has two entries: the XDP programs count in
//! [`STATS_XDP_ENTRY`]; the runtime mirrors its userland instances'
//! counters into [`STATS_MIRROR_ENTRY`] for readers in other processes
//! (`galette stats`). An instance runs in one tier, so a reader sums both.

/// Name of the per-CPU array map holding the counters.
pub const STATS_MAP: &str = "GALETTE_STATS";

/// The entry the XDP programs count in.
pub const STATS_XDP_ENTRY: u32 = 0;

/// The entry the runtime writes the userland instances' counters into.
pub const STATS_MIRROR_ENTRY: u32 = 1;

/// How many entries the stats map has.
pub const STATS_ENTRIES: u32 = 2;

/// How many `u64` slots one entry of the stats map holds for a chain of
/// `instances` instances whose widest NF has `max_ports` ports (at least
/// one: a map value cannot be empty).
pub const fn stats_slots(instances: u32, max_ports: u32) -> u32 {
    drop_index(DropReason::ALL[0], instances, max_ports) + DropReason::ALL.len() as u32
}

/// Why the fast path dropped a packet that a port sent elsewhere. The values
/// are part of the bundle format (the shared eBPF crate counts by them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum DropReason {
    /// An upcall found no userland workers (the chain's userland tier is
    /// not running).
    NoWorkers = 0,
    /// An upcall found no AF_XDP socket for the interface and queue the
    /// packet came in on, or the redirect into it failed.
    NoSocket = 1,
    /// An upcall found no room in front of the frame for its metadata.
    NoMetadataRoom = 2,
    /// A redirect found no interface for its role.
    NoInterface = 3,
}

impl DropReason {
    pub const ALL: [DropReason; 4] =
        [DropReason::NoWorkers, DropReason::NoSocket, DropReason::NoMetadataRoom, DropReason::NoInterface];

    /// Its name in `galette stats` and in the metrics' `reason` label.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::NoWorkers => "no_workers",
            DropReason::NoSocket => "no_socket",
            DropReason::NoMetadataRoom => "no_metadata_room",
            DropReason::NoInterface => "no_interface",
        }
    }
}

/// The index in the stats map of the chain's drops for `reason`.
pub const fn drop_index(reason: DropReason, instances: u32, max_ports: u32) -> u32 {
    instances * slots_per_instance(max_ports) + reason as u32
}

/// One counter of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsSlot {
    /// Packets that reached the instance. Only userland instances count
    /// here: every packet that reaches an XDP instance leaves by exactly one
    /// of its ports (an eBPF NF cannot fail to return), so readers take the
    /// sum of the ports, and the fast path saves one count per NF.
    Received,
    /// Packets that left by the port with this index.
    Port(u32),
    /// In XDP, tail calls out of the instance into a split segment that
    /// failed; in userland, the NF's panics. Either way the packet was lost.
    MissedTailCall,
}

/// How many slots each instance owns in a chain whose widest NF has
/// `max_ports` ports.
pub const fn slots_per_instance(max_ports: u32) -> u32 {
    2 + max_ports
}

/// The index in the stats map of `slot` of instance `instance`.
pub const fn stats_index(instance: u32, slot: StatsSlot, max_ports: u32) -> u32 {
    let offset = match slot {
        StatsSlot::Received => 0,
        StatsSlot::Port(port) => 1 + port,
        StatsSlot::MissedTailCall => 1 + max_ports,
    };
    instance * slots_per_instance(max_ports) + offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_own_disjoint_slots() {
        assert_eq!(stats_index(0, StatsSlot::Received, 2), 0);
        assert_eq!(stats_index(0, StatsSlot::Port(1), 2), 2);
        assert_eq!(stats_index(0, StatsSlot::MissedTailCall, 2), 3);
        assert_eq!(stats_index(1, StatsSlot::Received, 2), 4);
    }

    #[test]
    fn the_chains_drops_follow_every_instance() {
        assert_eq!(drop_index(DropReason::NoWorkers, 2, 2), 8);
        assert_eq!(drop_index(DropReason::NoInterface, 2, 2), 11);
        assert_eq!(stats_slots(2, 2), 12);
        assert_eq!(stats_slots(0, 0), 4, "a chain without instances still counts its drops");
        let names: std::collections::BTreeSet<&str> = DropReason::ALL.iter().map(|reason| reason.name()).collect();
        assert_eq!(names.len(), DropReason::ALL.len());
        for (value, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, value, "ALL is in value order");
        }
    }
}
