//! Layout of the per-instance counters the XDP programs keep.
//!
//! The counters are one per-CPU array map of `u64`. Instance `i` owns
//! [`slots_per_instance`] consecutive slots starting at `i * slots_per_instance`:
//! the first counts packets that reached the instance, the next ones count
//! packets that left by each port, in port order, and the last counts tail
//! calls out of the instance that failed (the packet was then dropped).

/// Name of the per-CPU array map holding the counters.
pub const STATS_MAP: &str = "GALETTE_STATS";

/// One counter of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsSlot {
    /// Packets that reached the instance.
    Received,
    /// Packets that left by the port with this index.
    Port(u32),
    /// Tail calls to the next instance that failed.
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
}
