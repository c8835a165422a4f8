use serde::{Deserialize, Serialize};

use crate::Platform;

/// The bundle format this build writes and accepts. Bump it whenever a change
/// to [`Manifest`] or to the artifacts would make an old runtime misread a new
/// bundle, or the reverse.
pub const FORMAT_VERSION: u32 = 6;

/// The manifest's file name inside a bundle directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Where the chain's eBPF object lives inside a bundle directory.
pub const XDP_OBJECT: &str = "xdp/chain.o";

/// `manifest.json`: everything the runtime needs to know about a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// The chain's name, from its `chain` header.
    pub chain: String,
    /// The `galettec` version that wrote the bundle.
    pub compiler_version: String,
    /// The platforms the bundle's native parts (the userland libraries) are
    /// built for, each with its own copy of every library. The runtime
    /// refuses a bundle without its own; the eBPF object serves them all.
    pub platforms: Vec<Platform>,
    /// The chain's XDP part, if it has one.
    pub xdp: Option<XdpPart>,
    /// The chain's interface roles (`iface NAME`), in declaration order; the
    /// runtime maps each to an interface (`--iface ROLE=IF`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Every NF instance of the chain, in the order of their stats slots.
    pub instances: Vec<Instance>,
    /// The chain's maps (those some NF binds).
    #[serde(default)]
    pub maps: Vec<MapEntry>,
    /// Every file of the bundle other than the manifest, with its hash.
    pub artifacts: Vec<Artifact>,
}

/// The XDP part of a chain: one eBPF object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XdpPart {
    /// Path of the object, relative to the bundle directory.
    pub object: String,
    /// The program the runtime attaches to the interface: the first segment
    /// of the chain, which starts where `rx` leads.
    pub entry_program: String,
    /// Where `rx` leads.
    pub entry: PortAction,
    /// Where `rx.ROLE` leads, for chains that say it per role (then one per
    /// role). Packets that arrive on a role's interface enter at the
    /// entry's program, which starts there; without role entries every
    /// interface gets `entry_program`.
    #[serde(default)]
    pub role_entries: Vec<RoleEntry>,
    /// The most ports any instance has: fixes the layout of the counters
    /// (see [`crate::stats_index`]).
    pub max_ports: u32,
}

/// Where an NF instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// In the kernel's XDP fast path, as eBPF.
    Xdp,
    /// In a userland worker thread fed by AF_XDP.
    Userland,
}

/// One NF instance of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// The instance's name in the chain (`nf NAME = ...`).
    pub name: String,
    /// Where its code came from, as written in the chain (`std.macswap`).
    pub source: String,
    pub placement: Placement,
    /// Why the compiler placed it there, in words for the user.
    pub reason: String,
    /// For an XDP instance that starts a segment entered by a tail call (a
    /// split, see `docs/architecture.md`), that segment's program, which the
    /// runtime puts in the program array at the instance's index. `None`
    /// for an instance fused into the program of the NF before it.
    pub program: Option<String>,
    /// The shared library that runs it, for a userland instance: its file
    /// name (`NAME.so`), exporting the C ABI of `nf_std::abi`. Each platform
    /// has its own build of it, at [`Platform::library_path`]
    /// (`user/aarch64-linux/NAME.so`).
    #[serde(default)]
    pub library: Option<String>,
    /// Its ports, in the order of the NF's `Action` variants.
    pub ports: Vec<Port>,
    /// The chain maps bound to its map fields, in the order of the NF's
    /// `#[maps]` fields (what a userland library's `galette_init` takes).
    #[serde(default)]
    pub maps: Vec<String>,
}

/// A port of an instance and where it leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    pub name: String,
    pub action: PortAction,
}

/// Where a packet leaving by a port goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "target")]
pub enum PortAction {
    /// Back out of the interface it arrived on.
    Tx,
    /// Up to the host's network stack.
    Pass,
    /// Dropped.
    Drop,
    /// Dropped and counted as an error.
    Abort,
    /// On to another instance, by name.
    Instance(String),
    /// Out of the interface of an interface role, by name.
    Redirect(String),
}

/// Where packets arriving on one interface role go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleEntry {
    pub role: String,
    /// The entry program attached to the role's interface, which starts
    /// where `action` leads. Named here so that the runtime need not know how the
    /// compiler names programs.
    pub program: String,
    pub action: PortAction,
}

/// A chain map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapEntry {
    /// The map's name in the chain, and in the eBPF object.
    pub name: String,
    pub kind: MapKind,
    /// The key and value types as the chain declares them (`Ipv4Prefix`,
    /// `u8`, `SourceKey`): what lets `galette map` read and write entries
    /// as numbers and prefixes rather than bytes.
    pub key_type: String,
    pub value_type: String,
    /// Sizes in bytes of a key and a value, as the object declares them.
    pub key_size: u32,
    pub value_size: u32,
    pub capacity: u32,
    /// Where the runtime pins it, relative to the bpffs mount
    /// (`galette/CHAIN/MAP`), so its contents outlive a reload.
    pub pin_name: String,
}

/// The kinds of chain map, each a kernel map type; written as in the chain
/// (`lru_hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapKind {
    Array,
    Hash,
    LruHash,
    LpmTrie,
    PercpuArray,
    PercpuHash,
}

impl MapKind {
    pub const ALL: [MapKind; 6] =
        [MapKind::Array, MapKind::Hash, MapKind::LruHash, MapKind::LpmTrie, MapKind::PercpuArray, MapKind::PercpuHash];

    /// The kind as the chain writes it.
    pub fn name(self) -> &'static str {
        match self {
            MapKind::Array => "array",
            MapKind::Hash => "hash",
            MapKind::LruHash => "lru_hash",
            MapKind::LpmTrie => "lpm_trie",
            MapKind::PercpuArray => "percpu_array",
            MapKind::PercpuHash => "percpu_hash",
        }
    }

    pub fn from_name(name: &str) -> Option<MapKind> {
        MapKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The nf-std type an NF's field of this kind has (`nf_std::maps::LruHash`).
    pub fn rust_type(self) -> &'static str {
        match self {
            MapKind::Array => "Array",
            MapKind::Hash => "Hash",
            MapKind::LruHash => "LruHash",
            MapKind::LpmTrie => "LpmTrie",
            MapKind::PercpuArray => "PercpuArray",
            MapKind::PercpuHash => "PercpuHash",
        }
    }

    pub fn from_rust_type(name: &str) -> Option<MapKind> {
        MapKind::ALL.into_iter().find(|kind| kind.rust_type() == name)
    }

    /// Whether the kind is indexed by position (its key is always `u32`).
    pub fn is_array(self) -> bool {
        matches!(self, MapKind::Array | MapKind::PercpuArray)
    }

    /// Whether each CPU has its own value of every key.
    pub fn is_per_cpu(self) -> bool {
        matches!(self, MapKind::PercpuArray | MapKind::PercpuHash)
    }
}

impl std::fmt::Display for MapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A file of the bundle and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Path relative to the bundle directory, with `/` separators.
    pub path: String,
    pub sha256: String,
    /// The platform it is built for; none for what every platform uses
    /// (the eBPF object). A device needs only its own platform's artifacts
    /// and the shared ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Artifact {
    /// Whether a device of `platform` needs it: it is shared, or that
    /// platform's.
    pub fn is_for(&self, platform: Platform) -> bool {
        self.platform.is_none_or(|own| own == platform)
    }
}
