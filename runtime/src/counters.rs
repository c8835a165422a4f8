//! Reading a chain's counters at the moment they are asked for: the XDP
//! instances' from the per-CPU stats map, the userland instances' from the
//! workers' atomics. The reader only holds a file descriptor and shared
//! atomics, so the metrics thread can read at scrape time while the main
//! thread runs the chain; `galette stats`, in another process, reads the
//! pinned map, where the running chain mirrors its userland counters.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use galette_bundle::{
    Bundle, Manifest, Placement, STATS_MAP, STATS_MIRROR_ENTRY, STATS_XDP_ENTRY, StatsSlot, stats_index, stats_slots,
};

use crate::kernel_map::KernelMap;
use crate::pins::{pin_path, stats_pin_name};
use crate::stats::{DropCounter, InstanceCounters, Reading, read_counters, read_drops};
use crate::userland::UserlandCounters;

/// Why the counters could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("the object has no map `{STATS_MAP}`")]
    NoStatsMap,
    #[error("cannot open {} (is the chain running?)", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("the stats map has no entry {0}; is it this bundle's chain?")]
    NoEntry(u32),
    #[error("the stats map has no slot {0}; is it this bundle's chain?")]
    NoSlot(u32),
    #[error("cannot write the userland counters into the stats map")]
    Write(#[source] std::io::Error),
}

/// Where a chain's counters are, and how to read them.
#[derive(Debug)]
pub struct ChainCounters {
    manifest: Manifest,
    /// The per-CPU stats map (`u32` entry to one array of `u64` slots per
    /// CPU, see `galette_bundle::stats_slots`).
    stats: KernelMap,
    /// By manifest index, the userland instances' counters, when this
    /// process runs the chain's workers.
    userland: Option<Arc<Vec<Option<UserlandCounters>>>>,
    /// By manifest index, what the chains before a reload counted (see
    /// [`ChainCounters::carry_over`]); empty when nothing was carried over.
    base: Vec<Option<InstanceCounters>>,
    /// The same for the chain's drops, by reason.
    drops_base: Vec<DropCounter>,
}

impl ChainCounters {
    /// The counters of a chain this process loaded, whose stats map aya
    /// holds as `stats`.
    pub fn new(
        manifest: &Manifest,
        stats: &aya::maps::Map,
        userland: Option<Arc<Vec<Option<UserlandCounters>>>>,
    ) -> Result<ChainCounters, StatsError> {
        let stats = KernelMap::duplicate(stats, 4, value_size(manifest))
            .filter(KernelMap::is_per_cpu)
            .ok_or(StatsError::NoStatsMap)?;
        Ok(ChainCounters { manifest: manifest.clone(), stats, userland, base: Vec::new(), drops_base: Vec::new() })
    }

    /// The counters of the chain running from `bundle` in another process,
    /// through the stats map's pin under `bpffs`.
    pub fn open_pinned(bundle: &Bundle, bpffs: &Path) -> Result<ChainCounters, StatsError> {
        let path = pin_path(bpffs, &stats_pin_name(&bundle.manifest.chain));
        let stats = KernelMap::open_pinned(&path, 4, value_size(&bundle.manifest))
            .map_err(|source| StatsError::Open { path, source })?
            .per_cpu();
        Ok(ChainCounters {
            manifest: bundle.manifest.clone(),
            stats,
            userland: None,
            base: Vec::new(),
            drops_base: Vec::new(),
        })
    }

    /// The chain's name.
    pub fn chain(&self) -> &str {
        &self.manifest.chain
    }

    /// Every instance's counters, now.
    pub fn read(&self) -> Result<Vec<InstanceCounters>, StatsError> {
        Ok(self.reading()?.instances)
    }

    /// Every instance's counters and the chain's drops, now.
    pub fn reading(&self) -> Result<Reading, StatsError> {
        let sums = self.sums()?;
        let mut drops = read_drops(&self.manifest, slot_in(&sums))?;
        for drop in &mut drops {
            drop.packets +=
                self.drops_base.iter().filter(|base| base.reason == drop.reason).map(|base| base.packets).sum::<u64>();
        }
        Ok(Reading { instances: self.with_base(self.read_own(&sums)?), drops })
    }

    /// What this chain's instances themselves counted, from the stats map's
    /// `sums`.
    fn read_own(&self, sums: &[u64]) -> Result<Vec<InstanceCounters>, StatsError> {
        let mut counters = read_counters(&self.manifest, slot_in(sums))?;
        if let Some(userland) = &self.userland {
            for ((counter, instance), live) in counters.iter_mut().zip(&self.manifest.instances).zip(userland.iter()) {
                if let (Placement::Userland, Some(live)) = (instance.placement, live) {
                    let ports: Vec<&str> = instance.ports.iter().map(|port| port.name.as_str()).collect();
                    *counter = live.snapshot(&instance.name, &ports);
                }
            }
        }
        Ok(counters)
    }

    /// Copies the userland instances' counters into the stats map's mirror
    /// entry (`galette_bundle::STATS_MIRROR_ENTRY`, which no XDP program
    /// writes), as the first CPU's, so that `galette stats` reading the
    /// pinned map from another process sees both tiers.
    pub fn mirror_userland(&self) -> Result<(), StatsError> {
        let Some(userland) = &self.userland else { return Ok(()) };
        let max_ports = self.manifest.xdp.as_ref().map_or(0, |xdp| xdp.max_ports);
        // One value per possible CPU, the counts on the first.
        let mut per_cpu = vec![0u8; self.stats.value_buffer_len()];
        let mut write = |slot: StatsSlot, index: usize, count: u64| {
            let at = stats_index(index as u32, slot, max_ports) as usize * 8;
            if let Some(bytes) = per_cpu.get_mut(at..at + 8) {
                bytes.copy_from_slice(&count.to_ne_bytes());
            }
        };
        for (index, live) in userland.iter().enumerate() {
            let Some(live) = live else { continue };
            // What chains before a reload counted, so that `galette stats`
            // sees the same totals as `galette run`.
            let base = self.base.get(index).and_then(Option::as_ref);
            let base_port = |port: usize| base.and_then(|base| base.ports.get(port)).map_or(0, |port| port.packets);
            write(
                StatsSlot::Received,
                index,
                live.received.load(Ordering::Relaxed) + base.map_or(0, |base| base.received),
            );
            write(
                StatsSlot::MissedTailCall,
                index,
                live.panicked.load(Ordering::Relaxed) + base.map_or(0, |base| base.aborted),
            );
            for (port, count) in live.ports.iter().enumerate() {
                write(StatsSlot::Port(port as u32), index, count.load(Ordering::Relaxed) + base_port(port));
            }
        }
        self.stats.update(&STATS_MIRROR_ENTRY.to_ne_bytes(), &per_cpu).map_err(StatsError::Write)
    }

    /// Makes this chain's counters go on from those of `old`, the chain a
    /// reload just replaced: each instance that `old` has too, by name and
    /// with the same ports, whichever tier either runs it in, starts at
    /// `old`'s final counts. Called once the old chain has stopped counting
    /// (after the switch and a short settle), so its counts are final and
    /// consistent. The counts are kept here, added when read, and not
    /// written into the new stats map, which the new chain is already
    /// counting in. With `stats_map_kept` (the new chain counts in the old
    /// one's stats map), the XDP instances need none.
    pub fn carry_over(&mut self, old: &ChainCounters, stats_map_kept: bool) -> Result<(), StatsError> {
        let Reading { instances: before, drops } = old.reading()?;
        // In a kept stats map the new chain counts on from the old drops.
        self.drops_base = if stats_map_kept { Vec::new() } else { drops };
        self.base = self
            .manifest
            .instances
            .iter()
            .map(|instance| {
                if stats_map_kept && instance.placement == Placement::Xdp {
                    return None;
                }
                before
                    .iter()
                    .find(|counted| {
                        counted.name == instance.name
                            && counted.ports.iter().map(|p| &p.name).eq(instance.ports.iter().map(|p| &p.name))
                    })
                    .cloned()
            })
            .collect();
        Ok(())
    }

    /// `counters` plus what earlier chains counted (see [`carry_over`](Self::carry_over)).
    fn with_base(&self, mut counters: Vec<InstanceCounters>) -> Vec<InstanceCounters> {
        for (counter, base) in counters.iter_mut().zip(&self.base) {
            let Some(base) = base else { continue };
            counter.received += base.received;
            counter.aborted += base.aborted;
            for (port, before) in counter.ports.iter_mut().zip(&base.ports) {
                port.packets += before.packets;
            }
        }
        counters
    }

    /// Every slot of the stats map, summed over CPUs and over its two
    /// entries (an instance counts in one: the XDP entry or, for a userland
    /// instance, the mirror).
    fn sums(&self) -> Result<Vec<u64>, StatsError> {
        let slots = self.stats.value_size() / 8;
        let stride = self.stats.value_size().div_ceil(8) * 8;
        let mut sums = vec![0u64; slots];
        for entry in [STATS_XDP_ENTRY, STATS_MIRROR_ENTRY] {
            let mut per_cpu = vec![0u8; self.stats.value_buffer_len()];
            if !self.stats.lookup(&entry.to_ne_bytes(), &mut per_cpu) {
                return Err(StatsError::NoEntry(entry));
            }
            for cpu in per_cpu.chunks_exact(stride) {
                for (sum, slot) in sums.iter_mut().zip(cpu.chunks_exact(8)) {
                    *sum += u64::from_ne_bytes(slot.try_into().expect("8-byte chunks"));
                }
            }
        }
        Ok(sums)
    }
}

/// Reads slot `index` of the summed stats `sums`, or says it has none.
fn slot_in(sums: &[u64]) -> impl Fn(u32) -> Result<u64, StatsError> + '_ {
    |index| sums.get(index as usize).copied().ok_or(StatsError::NoSlot(index))
}

/// The size of one CPU's value of the stats map of `manifest`'s chain.
fn value_size(manifest: &Manifest) -> usize {
    let max_ports = manifest.xdp.as_ref().map_or(0, |xdp| xdp.max_ports);
    stats_slots(manifest.instances.len() as u32, max_ports) as usize * 8
}

/// The counters of the chain this process runs, across reloads: readers
/// (the metrics thread) hold this, and a reload swaps what is behind it.
#[derive(Debug)]
pub struct LiveCounters {
    /// A reload never changes the chain's name.
    chain: String,
    current: RwLock<Arc<ChainCounters>>,
}

impl LiveCounters {
    pub fn new(counters: ChainCounters) -> LiveCounters {
        LiveCounters { chain: counters.manifest.chain.clone(), current: RwLock::new(Arc::new(counters)) }
    }

    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// The counters of the chain running now.
    pub fn current(&self) -> Arc<ChainCounters> {
        // A reader that panicked cannot leave the Arc half-written.
        Arc::clone(&self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Every instance's counters, now.
    pub fn read(&self) -> Result<Vec<InstanceCounters>, StatsError> {
        self.current().read()
    }

    /// Every instance's counters and the chain's drops, now.
    pub fn reading(&self) -> Result<Reading, StatsError> {
        self.current().reading()
    }

    /// See [`ChainCounters::mirror_userland`].
    pub fn mirror_userland(&self) -> Result<(), StatsError> {
        self.current().mirror_userland()
    }

    /// From now on, the counters of the chain a reload switched to.
    pub(crate) fn replace(&self, counters: ChainCounters) {
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(counters);
    }
}
