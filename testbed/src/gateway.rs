//! Three namespaces in a line, for a bump-in-the-wire gateway: a client and
//! a server in one subnet, and between them a gateway namespace whose two
//! interfaces (`lan` towards the client, `wan` towards the server) carry no
//! address: only what the gateway's XDP program forwards crosses it.

use std::io;
use std::net::Ipv4Addr;

use crate::command;
use crate::link::link_info;
use crate::netns::{NetworkNamespace, unique_namespace_prefix};
use crate::veth::VethSide;

/// The client, gateway and server namespaces; dropping it deletes them all.
#[derive(Debug)]
pub struct GatewayTopology {
    client: VethSide,
    server: VethSide,
    gateway: NetworkNamespace,
}

impl GatewayTopology {
    /// The gateway's interface towards the client.
    pub const LAN: &str = "lan0";
    /// The gateway's interface towards the server.
    pub const WAN: &str = "wan0";
    pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
    pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);

    /// Creates `gal-{tag}-{pid}-{n}-client`, `-gateway` and `-server`.
    pub fn create(tag: &str) -> io::Result<GatewayTopology> {
        let prefix = unique_namespace_prefix(tag)?;
        let client = NetworkNamespace::create(&format!("{prefix}-client"))?;
        let gateway = NetworkNamespace::create(&format!("{prefix}-gateway"))?;
        let server = NetworkNamespace::create(&format!("{prefix}-server"))?;
        let (ns_c, ns_g, ns_s) = (client.name(), gateway.name(), server.name());
        command::run(
            "ip",
            &["-n", ns_g, "link", "add", Self::LAN, "type", "veth", "peer", "name", "eth0", "netns", ns_c],
        )?;
        command::run(
            "ip",
            &["-n", ns_g, "link", "add", Self::WAN, "type", "veth", "peer", "name", "eth0", "netns", ns_s],
        )?;
        for interface in [Self::LAN, Self::WAN, "lo"] {
            command::run("ip", &["-n", ns_g, "link", "set", "dev", interface, "up"])?;
        }
        for (ns, ip) in [(ns_c, Self::CLIENT_IP), (ns_s, Self::SERVER_IP)] {
            command::run("ip", &["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
            command::run("ip", &["-n", ns, "link", "set", "dev", "eth0", "up"])?;
            command::run("ip", &["-n", ns, "link", "set", "dev", "lo", "up"])?;
        }
        let client_link = link_info(ns_c, "eth0")?;
        let server_link = link_info(ns_s, "eth0")?;
        Ok(GatewayTopology {
            client: VethSide::new(client, "eth0", Self::CLIENT_IP, client_link),
            server: VethSide::new(server, "eth0", Self::SERVER_IP, server_link),
            gateway,
        })
    }

    /// Turns off TX checksum offload (and with it segmentation offload) on
    /// the client's and the server's interface, for TCP through the gateway:
    /// a locally generated segment otherwise leaves with a partial checksum,
    /// which XDP forwarding does not complete, so the peer drops it.
    pub fn disable_tx_offload(&self) -> io::Result<()> {
        for side in [&self.client, &self.server] {
            command::run("ip", &["netns", "exec", side.namespace(), "ethtool", "-K", side.interface(), "tx", "off"])?;
        }
        Ok(())
    }

    /// Gives the client one more address in its subnet, to send from as
    /// another host would.
    pub fn add_client_address(&self, ip: Ipv4Addr) -> io::Result<()> {
        command::run(
            "ip",
            &["-n", self.client.namespace(), "addr", "add", &format!("{ip}/24"), "dev", self.client.interface()],
        )?;
        Ok(())
    }

    /// The client's end: `eth0` in the client namespace.
    pub fn client(&self) -> &VethSide {
        &self.client
    }

    /// The server's end: `eth0` in the server namespace.
    pub fn server(&self) -> &VethSide {
        &self.server
    }

    /// The gateway's namespace, holding [`LAN`](Self::LAN) and
    /// [`WAN`](Self::WAN).
    pub fn gateway_namespace(&self) -> &str {
        self.gateway.name()
    }
}
