//! Two network namespaces joined by one veth pair: the smallest real
//! network a test can send frames across.

use std::io;
use std::net::Ipv4Addr;

use crate::command;
use crate::frame::{MacAddr, UdpFrame};
use crate::link::{LinkInfo, link_info};
use crate::netns::{NetworkNamespace, unique_namespace_prefix};

/// One end of a [`VethPair`]: a namespace and the veth interface in it.
#[derive(Debug)]
pub struct VethSide {
    namespace: NetworkNamespace,
    interface: &'static str,
    ip: Ipv4Addr,
    link: LinkInfo,
}

impl VethSide {
    /// One end of a link in `namespace`, owning the namespace.
    pub(crate) fn new(namespace: NetworkNamespace, interface: &'static str, ip: Ipv4Addr, link: LinkInfo) -> VethSide {
        VethSide { namespace, interface, ip, link }
    }

    /// Name of the namespace this end lives in.
    pub fn namespace(&self) -> &str {
        self.namespace.name()
    }

    /// Name of the veth interface inside the namespace.
    pub fn interface(&self) -> &str {
        self.interface
    }

    /// IPv4 address configured on the interface (prefix length
    /// [`VethPair::PREFIX_LEN`]).
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// A UDP frame from this side to `to` (both ends' MAC and IPv4
    /// addresses), from `src_port` to the discard port 9.
    pub fn udp_frame_to(&self, to: &VethSide, src_port: u16, payload: Vec<u8>) -> UdpFrame {
        UdpFrame {
            src_mac: self.mac(),
            dst_mac: to.mac(),
            src_ip: self.ip(),
            dst_ip: to.ip(),
            src_port,
            dst_port: 9,
            payload,
        }
    }

    /// MAC address of the interface.
    pub fn mac(&self) -> MacAddr {
        self.link.mac
    }

    /// Interface index, valid inside [`namespace`](Self::namespace).
    pub fn ifindex(&self) -> u32 {
        self.link.ifindex
    }
}

/// Two fresh network namespaces joined by a veth pair, removed again when
/// the guard is dropped (deleting the namespaces destroys the veth).
///
/// Side A is `veth0` with [`VethPair::IP_A`], side B is `veth1` with
/// [`VethPair::IP_B`]; both interfaces and both loopbacks are up.
#[derive(Debug)]
pub struct VethPair {
    a: VethSide,
    b: VethSide,
}

impl VethPair {
    /// Interface name on side A.
    pub const INTERFACE_A: &str = "veth0";
    /// Interface name on side B.
    pub const INTERFACE_B: &str = "veth1";
    /// Address of side A (from 198.18.0.0/15, the benchmarking range).
    pub const IP_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    /// Address of side B.
    pub const IP_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    /// Prefix length of both addresses.
    pub const PREFIX_LEN: u8 = 24;

    /// Creates namespaces `gal-{tag}-{pid}-{counter}-a` and `...-b` and the
    /// veth pair between them. `tag` (ASCII letters, digits, `-`, `_`) says
    /// who made them.
    ///
    /// If any step fails, whatever was created is removed before the error
    /// (which names the failing command and its stderr) is returned.
    pub fn create(tag: &str) -> io::Result<VethPair> {
        VethPair::create_with_queues(tag, 1)
    }

    /// Like [`create`](Self::create), with `queues` RX and TX queues on each
    /// end, as a multi-queue NIC has: frames spread over the queues by flow.
    pub fn create_with_queues(tag: &str, queues: u32) -> io::Result<VethPair> {
        let prefix = unique_namespace_prefix(tag)?;
        let queues = queues.to_string();
        // Guards first: an early return below drops them, deleting the
        // namespaces and with them anything configured inside.
        let namespace_a = NetworkNamespace::create(&format!("{prefix}-a"))?;
        let namespace_b = NetworkNamespace::create(&format!("{prefix}-b"))?;
        let (ns_a, ns_b) = (namespace_a.name(), namespace_b.name());

        // Creating the pair inside A with the peer placed straight into B
        // lets the interface names be fixed: they never meet the root
        // namespace, where other tests' pairs would clash with them.
        command::run(
            "ip",
            &[
                "-n",
                ns_a,
                "link",
                "add",
                Self::INTERFACE_A,
                "numtxqueues",
                &queues,
                "numrxqueues",
                &queues,
                "type",
                "veth",
                "peer",
                "name",
                Self::INTERFACE_B,
                "numtxqueues",
                &queues,
                "numrxqueues",
                &queues,
                "netns",
                ns_b,
            ],
        )?;
        configure_side(ns_a, Self::INTERFACE_A, Self::IP_A)?;
        configure_side(ns_b, Self::INTERFACE_B, Self::IP_B)?;

        let link_a = link_info(ns_a, Self::INTERFACE_A)?;
        let link_b = link_info(ns_b, Self::INTERFACE_B)?;
        Ok(VethPair {
            a: VethSide { namespace: namespace_a, interface: Self::INTERFACE_A, ip: Self::IP_A, link: link_a },
            b: VethSide { namespace: namespace_b, interface: Self::INTERFACE_B, ip: Self::IP_B, link: link_b },
        })
    }

    /// Side A: `veth0`, [`IP_A`](Self::IP_A).
    pub fn a(&self) -> &VethSide {
        &self.a
    }

    /// Side B: `veth1`, [`IP_B`](Self::IP_B).
    pub fn b(&self) -> &VethSide {
        &self.b
    }

    /// Turns off TX checksum offload on both interfaces.
    ///
    /// With it on, locally generated TCP frames leave with only a partial
    /// checksum, which is lost when XDP redirects or retransmits them; TCP
    /// through an XDP program then fails silently.
    pub fn disable_tx_offload(&self) -> io::Result<()> {
        for side in [&self.a, &self.b] {
            command::run("ip", &["netns", "exec", side.namespace(), "ethtool", "-K", side.interface, "tx", "off"])?;
        }
        Ok(())
    }

    /// Deletes both namespaces now, reporting the first failure (dropping
    /// the pair does the same but has to ignore errors). Both deletions are
    /// attempted either way.
    pub fn cleanup(self) -> io::Result<()> {
        let deleted_a = self.a.namespace.delete();
        let deleted_b = self.b.namespace.delete();
        deleted_a.and(deleted_b)
    }
}

/// Gives `interface` in `ns` its address and brings it and loopback up.
fn configure_side(ns: &str, interface: &str, ip: Ipv4Addr) -> io::Result<()> {
    let address = format!("{ip}/{}", VethPair::PREFIX_LEN);
    command::run("ip", &["-n", ns, "addr", "add", &address, "dev", interface])?;
    command::run("ip", &["-n", ns, "link", "set", "dev", interface, "up"])?;
    command::run("ip", &["-n", ns, "link", "set", "dev", "lo", "up"])?;
    Ok(())
}
