//! Replacing a running chain with a new bundle, live.
//!
//! The new chain is loaded and completely wired beside the old one (its
//! instance programs, program array, action table, device map, entry
//! programs and counters), with the maps it shares with the old chain opened
//! from their pins rather than created. Only then is the program behind each
//! attached link swapped, one atomic `BPF_LINK_UPDATE` per link: every packet
//! runs wholly in the old chain or wholly in the new one. Anything that fails
//! before the switch leaves the old chain exactly as it was, still attached
//! and still forwarding; the new object is simply dropped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use galette_bundle::{Bundle, Manifest, MapEntry, Placement, STATS_MAP};

use crate::RunError;
use crate::counters::{ChainCounters, StatsError};
use crate::loader::{RunningChain, fill_devices, load_entry_programs, load_object, program_fd};
use crate::pins::{PinError, map_data};
use crate::userland::UserlandTier;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReloadReport {
    /// The digests of the bundle that ran before and of the one that runs now.
    pub from_digest: String,
    pub to_digest: String,
    /// The chain's maps: those of the same shape in both bundles, which are
    /// the same kernel maps before and after (their contents stay); those
    /// that are new or changed shape (created empty); those the new bundle
    /// no longer has (unpinned after the switch).
    pub kept: Vec<String>,
    pub created: Vec<String>,
    pub removed: Vec<String>,
    /// Whether the instances' counters are the same kernel map as before
    /// (the new chain has the same instances and ports in the same order),
    /// or were copied by instance name into a new one.
    pub counters_kept: bool,
    /// From the start of the reload to the last link switched.
    pub switch_after: Duration,
    /// Whether the userland tier was started or stopped.
    pub userland: UserlandChange,
    /// The userland instances whose library (the same file, bound to kept
    /// maps) was not loaded again.
    pub reused_libraries: Vec<String>,
    /// What went wrong after the switch, when the new chain already ran (a
    /// map that could not be pinned, so `galette map` cannot reach it).
    pub warnings: Vec<String>,
}

/// Why a reload was refused; the running chain is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReloadRefusal {
    #[error("the bundle is the chain `{new}`, but this process runs `{running}`")]
    OtherChain { running: String, new: String },
    #[error("{}", roles_differ(.running, .new))]
    OtherRoles { running: Vec<String>, new: Vec<String> },
    #[error("the bundle has no XDP part")]
    NoXdpPart,
    #[error("the new chain could not be loaded")]
    Load(#[source] Box<RunError>),
    #[error("the kernel refused to switch `{interface}` to the new chain")]
    Switch { interface: String, source: std::io::Error },
}

/// How long a reload's loading stays in the idle class before it is
/// raised to nice 10, so that a core kept busy (a worker polling, a
/// saturated fast path) cannot hold a reload back for ever.
const IDLE_LOAD: Duration = Duration::from_secs(2);

/// Runs `work` with this thread in the `SCHED_IDLE` class, and after
/// [`IDLE_LOAD`] at nice 10 if it has not finished, then puts its
/// scheduling back as it was. Loading the new chain is CPU work (most of it
/// the kernel verifier, in the system call) on the same cores as the fast
/// path and the workers; an idle-class thread gives way at once to any
/// other that wakes, where a nice one may finish its time slice first.
/// Measured with the DUT's receive processing an ordinary thread on the
/// loader's core (docs/benchmarks.md, "Live reload"): at nice 10, 50
/// reloads cost 320,496 frames at 500 kpps; in the idle class, none more
/// than without reloads.
fn with_lower_priority<T>(work: impl FnOnce() -> T) -> T {
    in_idle_class_for(IDLE_LOAD, work)
}

/// [`with_lower_priority`], with `idle` for [`IDLE_LOAD`].
fn in_idle_class_for<T>(idle: Duration, work: impl FnOnce() -> T) -> T {
    // SAFETY: plain syscalls on this thread's own scheduling; failing to
    // change it only costs the fast path and the workers time.
    let thread = unsafe { libc::syscall(libc::SYS_gettid) } as libc::pid_t;
    // SAFETY: as above; errno is cleared first, since -1 is a valid nice value.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, thread as libc::id_t)
    };
    // SAFETY: as above.
    let policy = unsafe { libc::sched_getscheduler(thread) };
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: as above; the kernel writes one sched_param.
    let got_param = unsafe { libc::sched_getparam(thread, &mut param) } == 0;
    let ordinary = libc::sched_param { sched_priority: 0 };
    // SAFETY: as above.
    unsafe { libc::sched_setscheduler(thread, libc::SCHED_IDLE, &ordinary) };
    let finished = (std::sync::Mutex::new(false), std::sync::Condvar::new());
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            let (lock, wake) = &finished;
            let guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let (done, _) =
                wake.wait_timeout_while(guard, idle, |done| !*done).unwrap_or_else(|poisoned| poisoned.into_inner());
            if !*done {
                // SAFETY: the loading thread's own scheduling, by its id;
                // it is still running `work`, which this scope outlives.
                unsafe {
                    libc::sched_setscheduler(thread, libc::SCHED_OTHER, &ordinary);
                    libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, (nice + 10).min(19));
                }
            }
        });
        let result = work();
        let (lock, wake) = &finished;
        *lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = true;
        wake.notify_one();
        result
    });
    if policy >= 0 && got_param {
        // SAFETY: as above; root may leave the idle class again.
        unsafe {
            libc::sched_setscheduler(thread, policy, &param);
            libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, nice);
        }
    }
    result
}

/// Why two lists of interface roles do not fit, in words.
fn roles_differ(running: &[String], new: &[String]) -> String {
    let list = |roles: &[String]| {
        if roles.is_empty() {
            "no interface roles".to_owned()
        } else {
            format!("the interface roles {}", roles.join(", "))
        }
    };
    let mut sorted = (running.to_vec(), new.to_vec());
    sorted.0.sort();
    sorted.1.sort();
    if sorted.0 == sorted.1 {
        format!(
            "the bundle's chain declares its interface roles in another order ({}) than the running one ({}): declare them in the running order",
            new.join(", "),
            running.join(", ")
        )
    } else {
        format!("the bundle's chain has {}, the running one {}", list(new), list(running))
    }
}

impl RunningChain {
    /// Replaces the running chain with `bundle`. On any error the running
    /// chain is exactly as it was and traffic never stopped.
    pub fn reload(&mut self, bundle: Bundle) -> Result<ReloadReport, RunError> {
        let started = Instant::now();
        self.check_reloadable(&bundle).map_err(RunError::Reload)?;
        let plan = MapPlan::between(&self.bundle.manifest, &bundle.manifest);
        let generation = self.generation.wrapping_add(1);
        // Loading (the kernel verifier above all) takes tens of milliseconds of
        // CPU: done at a lower priority, so that the workers forwarding the
        // running chain's traffic get the cores first.
        let loaded = match with_lower_priority(|| self.load_beside(&bundle, &plan, generation)) {
            Ok(loaded) => loaded,
            Err(error) => {
                self.abandon(generation);
                return Err(RunError::Reload(error.into_refusal()));
            }
        };
        if let Err(refusal) = self.switch(&loaded) {
            self.abandon(generation);
            return Err(RunError::Reload(refusal));
        }
        let switch_after = started.elapsed();

        // The new chain runs. What follows only tidies up after the old one.
        let Loaded { ebpf, mut counters, tier } = loaded;
        let old = std::mem::replace(&mut self.ebpf, ebpf);
        self.generation = generation;
        // The old chain's counts are final once its last packets are through
        // (XDP programs run to completion; the workers finish what the old
        // chain sent up in well under this).
        std::thread::sleep(COUNTERS_SETTLE);
        let carried = counters.carry_over(&self.counters.current(), plan.counters_kept);
        self.counters.replace(counters);
        let mut reused_libraries = Vec::new();
        let userland = match tier {
            TierChange::NoTier => UserlandChange::Unchanged,
            TierChange::Kept { reused } => {
                if let Some(tier) = &self.userland {
                    tier.commit_reload();
                }
                reused_libraries = reused;
                UserlandChange::Unchanged
            }
            TierChange::Started(tier) => {
                self.userland = Some(tier);
                UserlandChange::Started
            }
            TierChange::Stopped => {
                // Frames the old chain sent up a moment ago are still on the
                // rings: they finish before the workers go.
                std::thread::sleep(STOP_GRACE);
                let accounting = self.userland.take().map(UserlandTier::stop).unwrap_or_default();
                self.retired_frames.push(accounting);
                UserlandChange::Stopped { accounted: accounting.0, total: accounting.1 }
            }
        };
        let mut warnings = self.pins.after_reload(
            &self.ebpf,
            &bundle.manifest,
            &self.bpffs,
            &plan.removed_pins,
            &plan.created,
            !plan.counters_kept,
        );
        // Its programs are unloaded; the maps the new chain kept live on in it.
        drop(old);
        if let Err(error) = carried {
            warnings.push(format!("the counters start again from zero: {}", galette_bundle::error_chain(&error)));
        }
        let report = ReloadReport {
            from_digest: std::mem::take(&mut self.bundle.digest),
            to_digest: bundle.digest.clone(),
            kept: plan.kept,
            created: plan.created,
            removed: plan.removed,
            counters_kept: plan.counters_kept,
            switch_after,
            userland,
            reused_libraries,
            warnings,
        };
        self.bundle = bundle;
        Ok(report)
    }

    /// The refusals that need no loading: the bundle must be this chain, on
    /// the same interface roles.
    fn check_reloadable(&self, bundle: &Bundle) -> Result<(), ReloadRefusal> {
        let (running, new) = (&self.bundle.manifest, &bundle.manifest);
        if running.chain != new.chain {
            return Err(ReloadRefusal::OtherChain { running: running.chain.clone(), new: new.chain.clone() });
        }
        if running.roles != new.roles {
            return Err(ReloadRefusal::OtherRoles { running: running.roles.clone(), new: new.roles.clone() });
        }
        if new.xdp.is_none() {
            return Err(ReloadRefusal::NoXdpPart);
        }
        Ok(())
    }

    /// Loads and wires `bundle` beside the running chain as generation
    /// `generation`, attached nowhere. Its userland part, if it has one, is
    /// ready in the workers (started, if the running chain has none).
    fn load_beside(&self, bundle: &Bundle, plan: &MapPlan, generation: u16) -> Result<Loaded, RunError> {
        let mut kept: Vec<String> = plan.kept.clone();
        if plan.counters_kept {
            kept.push(STATS_MAP.to_owned());
        }
        // Staged from the running object's own maps, not taken from the
        // chain's pins, which anyone with root could have removed or replaced.
        let staged = StagedPins::stage(&self.ebpf, &kept, &self.bpffs, &bundle.manifest.chain, generation)?;
        let reuse = staged.paths.clone();
        let mut ebpf = load_object(bundle, &reuse)?;
        drop(staged);
        fill_devices(&mut ebpf, &self.attachments)?;
        let has_userland = bundle.resolved.placements.contains(&Placement::Userland);
        let (tier, userland_counters) = match (&self.userland, has_userland) {
            (Some(tier), true) => {
                let prepared = tier.prepare_reload(bundle, &mut ebpf, generation, &plan.kept)?;
                (TierChange::Kept { reused: prepared.reused }, Some(prepared.counters))
            }
            (None, true) => {
                let (workers, mode) = (self.workers.count, self.workers.mode);
                let tier = UserlandTier::start(bundle, &mut ebpf, &self.attachments, workers, mode, generation)?;
                let counters = tier.counters();
                (TierChange::Started(tier), Some(counters))
            }
            (Some(_), false) => (TierChange::Stopped, None),
            (None, false) => (TierChange::NoTier, None),
        };
        load_entry_programs(&mut ebpf, &self.attachments)?;
        let stats = ebpf.map(STATS_MAP).ok_or(StatsError::NoStatsMap)?;
        let counters = ChainCounters::new(&bundle.manifest, stats, userland_counters)?;
        Ok(Loaded { ebpf, counters, tier })
    }

    /// Forgets what a reload that did not switch prepared in the workers.
    /// (A tier it started stops with the `Loaded` that held it.)
    fn abandon(&self, generation: u16) {
        if let Some(tier) = &self.userland {
            tier.abandon_reload(generation);
        }
    }

    /// Moves every link to the new chain's program. Should the kernel refuse
    /// one, the links already moved are moved back: all run the old chain.
    fn switch(&self, loaded: &Loaded) -> Result<(), ReloadRefusal> {
        let program = |ebpf, attachment: &crate::attach::Attachment| {
            program_fd(ebpf, &attachment.program).expect("the entry programs of both chains are loaded")
        };
        for (index, (link, attachment)) in self.links.iter().zip(&self.attachments).enumerate() {
            let (old, new) = (program(&self.ebpf, attachment), program(&loaded.ebpf, attachment));
            if let Err(source) = link.replace(old, new) {
                for (moved, attachment) in self.links[..index].iter().zip(&self.attachments) {
                    // Back to a program the link ran a moment ago: the kernel
                    // has no reason to refuse it.
                    let _ = moved.replace(program(&loaded.ebpf, attachment), program(&self.ebpf, attachment));
                }
                return Err(ReloadRefusal::Switch { interface: attachment.interface.clone(), source });
            }
        }
        Ok(())
    }
}

impl RunError {
    /// A loading error during a reload, as the refusal it is.
    fn into_refusal(self) -> ReloadRefusal {
        match self {
            RunError::Reload(refusal) => refusal,
            other => ReloadRefusal::Load(Box::new(other)),
        }
    }
}

/// Pins of some of the running chain's maps in a directory of one reload's
/// own, made from the running object's maps themselves: the new object,
/// told to open them (`map_pin_path`), then shares exactly those kernel maps.
/// Removed when dropped, once the new object holds the maps.
struct StagedPins {
    dir: PathBuf,
    paths: Vec<(String, PathBuf)>,
}

impl StagedPins {
    fn stage(
        ebpf: &aya::Ebpf,
        maps: &[String],
        bpffs: &std::path::Path,
        chain: &str,
        generation: u16,
    ) -> Result<StagedPins, RunError> {
        // bpffs refuses names with a dot; a chain's name has no `-`, so this
        // directory is never a chain's.
        let dir = bpffs.join(format!("galette/reload-{chain}-{}-{generation}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|source| PinError::CreateDir { path: dir.clone(), source })?;
        let mut staged = StagedPins { dir, paths: Vec::new() };
        for name in maps {
            let path = staged.dir.join(name);
            let map = ebpf.map(name).and_then(map_data).ok_or_else(|| PinError::Unpinnable(name.clone()))?;
            map.pin(&path).map_err(|source| PinError::Pin { map: name.clone(), path: path.clone(), source })?;
            staged.paths.push((name.clone(), path));
        }
        Ok(staged)
    }
}

impl Drop for StagedPins {
    fn drop(&mut self) {
        for (_, path) in &self.paths {
            let _ = std::fs::remove_file(path);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The new chain, loaded and wired, not attached.
struct Loaded {
    ebpf: aya::Ebpf,
    counters: ChainCounters,
    tier: TierChange,
}

/// What a reload does to the userland tier.
enum TierChange {
    /// Neither chain has one.
    NoTier,
    /// Both have one: the workers and their sockets stay, and know the new
    /// chain's userland part already; these instances' libraries were reused.
    Kept { reused: Vec<String> },
    /// Only the new chain has one: started for it, before the switch.
    Started(UserlandTier),
    /// Only the old chain had one: stopped after the switch.
    Stopped,
}

/// How long after the switch the old chain's counters are read, to start the
/// new chain's at them.
const COUNTERS_SETTLE: Duration = Duration::from_millis(20);

/// How long the workers of a tier a reload removes go on after the switch,
/// for the frames the old chain sent up just before it.
const STOP_GRACE: Duration = Duration::from_millis(50);

/// What a reload did to the userland tier, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "tier")]
pub enum UserlandChange {
    Unchanged,
    Started,
    /// Stopped, with the frame accounting of its UMEMs (see
    /// `UserlandTier::stop`).
    Stopped {
        accounted: u64,
        total: u64,
    },
}

/// Which of the chain's maps a reload keeps, creates and removes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MapPlan {
    kept: Vec<String>,
    created: Vec<String>,
    removed: Vec<String>,
    /// The pins of the old chain's maps that the new chain does not keep:
    /// removed ones, and changed ones (the new map takes the pin).
    removed_pins: Vec<String>,
    counters_kept: bool,
}

impl MapPlan {
    fn between(running: &Manifest, new: &Manifest) -> MapPlan {
        let mut plan = MapPlan {
            kept: Vec::new(),
            created: Vec::new(),
            removed: Vec::new(),
            removed_pins: Vec::new(),
            counters_kept: same_counter_layout(running, new),
        };
        for map in &new.maps {
            match running.maps.iter().find(|old| old.name == map.name) {
                Some(old) if same_shape(old, map) => plan.kept.push(map.name.clone()),
                Some(old) => {
                    plan.created.push(map.name.clone());
                    plan.removed_pins.push(old.pin_name.clone());
                }
                None => plan.created.push(map.name.clone()),
            }
        }
        for old in running.maps.iter().filter(|old| !new.maps.iter().any(|map| map.name == old.name)) {
            plan.removed.push(old.name.clone());
            plan.removed_pins.push(old.pin_name.clone());
        }
        plan
    }
}

/// Whether two maps of the same name hold the same things: then the new chain
/// uses the kernel map the old one filled.
fn same_shape(old: &MapEntry, new: &MapEntry) -> bool {
    old.kind == new.kind
        && old.key_type == new.key_type
        && old.value_type == new.value_type
        && old.key_size == new.key_size
        && old.value_size == new.value_size
        && old.capacity == new.capacity
        && old.pin_name == new.pin_name
}

/// Whether the stats map means the same in both chains: the same instances,
/// with the same ports, at the same indices, in the same tier (an XDP
/// instance counts in the XDP entry, a userland one in the mirror, which the
/// new chain's runtime rewrites), and the same slots per instance.
fn same_counter_layout(running: &Manifest, new: &Manifest) -> bool {
    let max_ports = |manifest: &Manifest| manifest.xdp.as_ref().map(|xdp| xdp.max_ports);
    let shape = |manifest: &Manifest| -> Vec<(String, Placement, Vec<String>)> {
        manifest
            .instances
            .iter()
            .map(|instance| {
                (
                    instance.name.clone(),
                    instance.placement,
                    instance.ports.iter().map(|port| port.name.clone()).collect(),
                )
            })
            .collect()
    };
    max_ports(running) == max_ports(new) && shape(running) == shape(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use galette_bundle::MapKind;

    fn map(name: &str, kind: MapKind, value_type: &str, capacity: u32) -> MapEntry {
        MapEntry {
            name: name.into(),
            kind,
            key_type: "u32".into(),
            value_type: value_type.into(),
            key_size: 4,
            value_size: if value_type == "u64" { 8 } else { 4 },
            capacity,
            pin_name: format!("galette/c/{name}"),
        }
    }

    fn plan(running: Vec<MapEntry>, new: Vec<MapEntry>) -> MapPlan {
        let manifest = |maps| Manifest { xdp: None, maps, ..galette_bundle::testing::manifest("c", vec![]) };
        MapPlan::between(&manifest(running), &manifest(new))
    }

    #[test]
    fn maps_of_the_same_shape_are_kept_and_the_others_created_or_removed() {
        let plan = plan(
            vec![
                map("acl", MapKind::Hash, "u32", 16),
                map("hits", MapKind::Array, "u64", 4),
                map("old", MapKind::Hash, "u32", 16),
            ],
            vec![
                map("acl", MapKind::Hash, "u32", 16),
                map("hits", MapKind::Array, "u64", 8),
                map("new", MapKind::Hash, "u32", 1),
            ],
        );
        assert_eq!(plan.kept, ["acl"]);
        assert_eq!(plan.created, ["hits", "new"], "a changed capacity is a new map");
        assert_eq!(plan.removed, ["old"]);
        assert_eq!(plan.removed_pins, ["galette/c/hits", "galette/c/old"]);
    }

    #[test]
    fn other_roles_are_named_and_another_order_is_said_to_be_one() {
        let roles = |names: &[&str]| names.iter().map(|name| name.to_string()).collect::<Vec<_>>();
        assert_eq!(
            roles_differ(&roles(&["lan", "wan"]), &roles(&[])),
            "the bundle's chain has no interface roles, the running one the interface roles lan, wan"
        );
        assert!(roles_differ(&roles(&["lan", "wan"]), &roles(&["wan", "lan"])).contains("in another order"));
    }

    #[test]
    fn loading_runs_in_the_idle_class_then_at_nice_10_and_scheduling_comes_back() {
        let policy = || unsafe { libc::sched_getscheduler(0) };
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::syscall(libc::SYS_gettid) as libc::id_t) };
        let (policy_before, nice_before) = (policy(), nice());
        let quick = in_idle_class_for(Duration::from_secs(5), policy);
        assert_eq!(quick, libc::SCHED_IDLE);
        let slow = in_idle_class_for(Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_millis(300));
            (policy(), nice())
        });
        assert_eq!(slow, (libc::SCHED_OTHER, (nice_before + 10).min(19)), "raised after its idle time");
        assert_eq!((policy(), nice()), (policy_before, nice_before), "put back");
    }

    #[test]
    fn counters_are_kept_only_for_the_same_instances_ports_and_tiers() {
        use galette_bundle::{Placement, PortAction, testing};
        let chain = |placement| {
            testing::manifest(
                "c",
                vec![
                    testing::instance("a", Placement::Xdp, vec![PortAction::Instance("b".into())]),
                    testing::instance("b", placement, vec![PortAction::Tx]),
                ],
            )
        };
        assert!(same_counter_layout(&chain(Placement::Xdp), &chain(Placement::Xdp)));
        assert!(!same_counter_layout(&chain(Placement::Xdp), &chain(Placement::Userland)), "b changes tier");
        let mut renamed = chain(Placement::Xdp);
        renamed.instances[1].ports[0].name = "other".into();
        assert!(!same_counter_layout(&chain(Placement::Xdp), &renamed));
    }

    #[test]
    fn a_change_of_kind_or_type_is_a_new_map() {
        let kind = plan(vec![map("m", MapKind::Hash, "u32", 16)], vec![map("m", MapKind::LruHash, "u32", 16)]);
        assert_eq!((kind.kept.len(), kind.created.as_slice()), (0, ["m".to_owned()].as_slice()));
        let mut renamed_type = map("m", MapKind::Hash, "u32", 16);
        renamed_type.value_type = "Ipv4Addr".into();
        let value = plan(vec![map("m", MapKind::Hash, "u32", 16)], vec![renamed_type]);
        assert_eq!(value.created, ["m"]);
    }
}
