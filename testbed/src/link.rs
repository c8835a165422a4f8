//! Reading the state of a network interface inside a namespace, from the
//! output of `ip link show`.
//!
//! `ip -n NS` is used rather than `/sys/class/net`: sysfs shows the
//! interfaces of the namespace it was mounted in, not of the caller's.

use std::ffi::CString;
use std::io;

use crate::command;
use crate::frame::MacAddr;

/// The identity of a network interface inside its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index; only meaningful inside the interface's namespace.
    pub ifindex: u32,
    /// Hardware address.
    pub mac: MacAddr,
}

/// Looks up the index and MAC address of `ifname` in namespace `ns`.
pub fn link_info(ns: &str, ifname: &str) -> io::Result<LinkInfo> {
    let output = command::run("ip", &["-n", ns, "-o", "link", "show", "dev", ifname])?;
    parse_link_info(&output).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected `ip link show` output for {ifname} in {ns}: {output:?}"),
        )
    })
}

/// Parses a one-line (`-o`) `ip link show` record such as
/// `2: veth0@if2: <BROADCAST,...> mtu 1500 ... link/ether 22:42:28:b9:35:3e brd ...`.
fn parse_link_info(output: &str) -> Option<LinkInfo> {
    let (index, rest) = output.split_once(':')?;
    let ifindex = index.trim().parse().ok()?;
    let mut words = rest.split_whitespace();
    words.find(|word| *word == "link/ether")?;
    let mac = parse_mac(words.next()?)?;
    Some(LinkInfo { ifindex, mac })
}

/// Parses `aa:bb:cc:dd:ee:ff`.
fn parse_mac(text: &str) -> Option<MacAddr> {
    let mut mac = [0u8; 6];
    let mut octets = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(octets.next()?, 16).ok()?;
    }
    octets.next().is_none().then_some(mac)
}

/// Resolves `ifname` to its index in the calling thread's network
/// namespace (call it inside [`run_in_netns`](crate::run_in_netns)).
pub(crate) fn interface_index(ifname: &str) -> io::Result<u32> {
    let name = CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("interface name {ifname:?} contains NUL")))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        let error = io::Error::last_os_error();
        // The kernel says ENODEV, which std leaves uncategorised; callers
        // are better served by the kind that means "no such thing".
        let kind = match error.raw_os_error() {
            Some(libc::ENODEV) => io::ErrorKind::NotFound,
            _ => error.kind(),
        };
        return Err(io::Error::new(kind, format!("interface {ifname}: {error}")));
    }
    Ok(ifindex)
}

/// Whether any XDP program (native, generic or offloaded, by link or by
/// netlink) is attached to `ifname` in namespace `ns`.
pub fn xdp_program_attached(ns: &str, ifname: &str) -> io::Result<bool> {
    let output = command::run("ip", &["-n", ns, "-d", "link", "show", "dev", ifname])?;
    Ok(shows_xdp_program(&output))
}

/// Looks for the attachment markers `ip -d link show` prints: a mode word
/// (`xdp`, `xdpgeneric`, `xdpoffload`, `xdpmulti`) right after the MTU on
/// the first line, and a `prog/xdp...` line naming the program.
fn shows_xdp_program(output: &str) -> bool {
    output
        .split_whitespace()
        .any(|word| matches!(word, "xdp" | "xdpgeneric" | "xdpoffload" | "xdpmulti") || word.starts_with("prog/xdp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_index_and_mac_of_a_veth() {
        let line = "2: veth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue \
                    state UP mode DEFAULT group default qlen 1000\\    link/ether \
                    22:42:28:b9:35:3e brd ff:ff:ff:ff:ff:ff link-netns gal-exp-b\n";
        assert_eq!(parse_link_info(line), Some(LinkInfo { ifindex: 2, mac: [0x22, 0x42, 0x28, 0xb9, 0x35, 0x3e] }));
    }

    #[test]
    fn rejects_links_without_an_ethernet_address() {
        let line = "1: lo: <LOOPBACK> mtu 65536 qdisc noop state DOWN\\    link/loopback \
                    00:00:00:00:00:00 brd 00:00:00:00:00:00\n";
        assert_eq!(parse_link_info(line), None);
    }

    #[test]
    fn rejects_malformed_macs() {
        assert_eq!(parse_mac("22:42:28:b9:35"), None);
        assert_eq!(parse_mac("22:42:28:b9:35:3e:01"), None);
        assert_eq!(parse_mac("22:42:28:b9:35:zz"), None);
    }

    #[test]
    fn recognises_xdp_markers_only() {
        let without = "2: veth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue \
                       state UP mode DEFAULT group default qlen 1000\n    link/ether \
                       22:42:28:b9:35:3e brd ff:ff:ff:ff:ff:ff link-netns gal-x-b";
        assert!(!shows_xdp_program(without));
        assert!(!shows_xdp_program(&without.replace("gal-x-b", "xdp-lab")));
        assert!(shows_xdp_program(&without.replace("mtu 1500", "mtu 1500 xdp")));
        assert!(shows_xdp_program(&format!(
            "{without}\n    prog/xdp id 42 name galette_pass tag 3b185187f1855c4c jited"
        )));
    }
}
