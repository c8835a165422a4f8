//! An interface's receive processing (its NAPI poll) moved onto CPUs of
//! its own: threaded NAPI, found and pinned.
//!
//! On veth the receiver has no interrupt of its own: frames sent into one
//! end are received by the peer's NAPI poll, which runs as a softirq on the
//! CPU that sent them. An XDP program on the receiving end then spends the
//! sender's CPU time, and a slow receiver slows its sender down instead of
//! losing frames, as a real device would. With threaded NAPI
//! (`/sys/class/net/IF/threaded`, Documentation/ABI/testing/sysfs-class-net)
//! the poll runs in a kernel thread (`napi/IF-ID`) instead, which can be
//! pinned to other CPUs like any thread.
//!
//! veth has NAPI only while XDP or GRO is on; with GRO on it keeps it while
//! XDP programs come and go, so the thread (and its pinning) stays. The
//! thread is found through the kernel's `netdev` generic netlink family
//! (`napi-get`, Linux 6.8 and later), which names each NAPI instance's
//! thread: thread names are no guide, every namespace may have a `veth0`.
//!
//! The thread keeps the ordinary priority: it shares its CPUs fairly with
//! the threads there (the DUT's userland workers), where a softirq on a
//! real device would preempt them. A real-time priority would keep that
//! precedence, but also starve those threads whenever the receive
//! processing is saturated, which a softirq does not (the kernel then
//! hands the work to ksoftirqd, an ordinary thread): measured, the AF_PACKET
//! forwarder fell from 780 to 35 kpps. docs/benchmarks.md says what the fair
//! share costs the expensive-NF experiment (latency, not throughput).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::command;
use crate::cpu::{set_thread_affinity, thread_affinity};
use crate::link::interface_index;
use crate::netns::run_in_netns;

/// One NAPI instance of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NapiInstance {
    /// The kernel's NAPI id.
    pub id: u32,
    /// The process id of its kernel thread, while NAPI is threaded.
    pub thread: Option<u32>,
}

/// Makes the receive processing of `ifname` in namespace `ns` run in NAPI
/// threads pinned to `cpus`, and returns the threads' process ids.
///
/// Turns GRO on (so that veth keeps NAPI, and the threads, without an XDP
/// program), turns threaded NAPI on, and pins every thread of the
/// interface. Fails, saying why, when the kernel cannot: no NAPI, no
/// threaded mode, no `netdev` netlink family, or no thread to be found.
pub fn thread_receive_processing(ns: &str, ifname: &str, cpus: &[usize]) -> io::Result<Vec<u32>> {
    command::run("ip", &["netns", "exec", ns, "ethtool", "-K", ifname, "gro", "on"])?;
    // sysfs shows the interfaces of the namespace it is mounted in, so it is
    // written from a process `ip netns exec` gave the namespace's own sysfs.
    // The interface name is passed as an argument, never spliced into the
    // script.
    command::run("ip", &["netns", "exec", ns, "sh", "-c", "echo 1 > \"/sys/class/net/$0/threaded\"", ifname]).map_err(
        |error| {
            io::Error::new(
                error.kind(),
                format!("cannot turn threaded NAPI on for {ifname} in {ns} (the kernel needs NAPI on it): {error}"),
            )
        },
    )?;
    let instances = napi_instances(ns, ifname)?;
    if instances.is_empty() {
        return Err(io::Error::other(format!("{ifname} in {ns} has no NAPI instance although GRO is on")));
    }
    let mut threads = Vec::with_capacity(instances.len());
    for instance in instances {
        let thread = instance.thread.ok_or_else(|| {
            io::Error::other(format!(
                "NAPI {} of {ifname} in {ns} has no thread although threaded NAPI is on",
                instance.id
            ))
        })?;
        set_thread_affinity(thread, cpus)?;
        let pinned = thread_affinity(thread)?;
        if pinned != cpus {
            return Err(io::Error::other(format!(
                "NAPI thread {thread} of {ifname} runs on CPUs {pinned:?} after being pinned to {cpus:?}"
            )));
        }
        threads.push(thread);
    }
    Ok(threads)
}

/// The NAPI instances of `ifname` in namespace `ns`, as the kernel's
/// `netdev` netlink family lists them.
pub fn napi_instances(ns: &str, ifname: &str) -> io::Result<Vec<NapiInstance>> {
    run_in_netns(ns, || -> io::Result<Vec<NapiInstance>> {
        let ifindex = interface_index(ifname)?;
        let mut netlink = GenericNetlink::open()?;
        let family = netlink.family_id(NETDEV_FAMILY)?;
        let replies = netlink.request(
            family,
            NETDEV_CMD_NAPI_GET,
            NLM_F_DUMP,
            &[(NETDEV_A_NAPI_IFINDEX, &ifindex.to_ne_bytes())],
        )?;
        Ok(replies.iter().filter_map(|reply| napi_instance(reply)).collect())
    })?
    .map_err(|error| io::Error::new(error.kind(), format!("listing the NAPI instances of {ifname} in {ns}: {error}")))
}

/// A `napi-get` reply's attributes as a [`NapiInstance`]; `None` without an id.
fn napi_instance(attributes: &[u8]) -> Option<NapiInstance> {
    let mut id = None;
    let mut thread = None;
    for (kind, value) in Attributes(attributes) {
        match kind {
            NETDEV_A_NAPI_ID => id = read_u32(value),
            NETDEV_A_NAPI_PID => thread = read_u32(value).filter(|&pid| pid != 0),
            _ => {}
        }
    }
    Some(NapiInstance { id: id?, thread })
}

fn read_u32(value: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(value.get(..4)?.try_into().ok()?))
}

fn read_u16(value: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(value.get(..2)?.try_into().ok()?))
}

/// Netlink and generic netlink numbers (include/uapi/linux/netlink.h,
/// genetlink.h, netdev.h).
const NETLINK_GENERIC: libc::c_int = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_MULTI: u16 = 0x2;
const NLM_F_DUMP: u16 = 0x300;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NETDEV_FAMILY: &str = "netdev";
const NETDEV_CMD_NAPI_GET: u8 = 11;
const NETDEV_A_NAPI_IFINDEX: u16 = 1;
const NETDEV_A_NAPI_ID: u16 = 2;
const NETDEV_A_NAPI_PID: u16 = 4;
/// `struct nlmsghdr` and `struct genlmsghdr`.
const NLMSG_HEADER: usize = 16;
const GENL_HEADER: usize = 4;
/// The attribute type's flag bits (NLA_F_NESTED, NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// A generic netlink socket in the calling thread's network namespace.
struct GenericNetlink {
    socket: OwnedFd,
    sequence: u32,
}

impl GenericNetlink {
    fn open() -> io::Result<GenericNetlink> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_GENERIC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor that nothing else owns.
        Ok(GenericNetlink { socket: unsafe { OwnedFd::from_raw_fd(fd) }, sequence: 0 })
    }

    /// The id of generic netlink family `name`.
    fn family_id(&mut self, name: &str) -> io::Result<u16> {
        let mut name_bytes = name.as_bytes().to_vec();
        name_bytes.push(0);
        let replies = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0, &[(CTRL_ATTR_FAMILY_NAME, &name_bytes)]);
        let replies = replies.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("this kernel has no `{name}` netlink family (Linux 6.8 or later has it): {error}"),
            )
        })?;
        replies
            .iter()
            .flat_map(|reply| Attributes(reply))
            .find_map(|(kind, value)| if kind == CTRL_ATTR_FAMILY_ID { read_u16(value) } else { None })
            .ok_or_else(|| io::Error::other(format!("the kernel's answer for family `{name}` has no id")))
    }

    /// Sends one request and returns the attributes of every reply: one for
    /// a plain request, all of them up to the end of a dump.
    fn request(
        &mut self,
        family: u16,
        command: u8,
        flags: u16,
        attributes: &[(u16, &[u8])],
    ) -> io::Result<Vec<Vec<u8>>> {
        self.sequence = self.sequence.wrapping_add(1);
        let message = encode_request(family, NLM_F_REQUEST | flags, self.sequence, command, attributes);
        // SAFETY: sends `message.len()` bytes from a live buffer; the kernel
        // is the default destination of an unbound netlink socket.
        let sent = unsafe { libc::send(self.socket.as_raw_fd(), message.as_ptr().cast(), message.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut replies = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: receives into a live buffer of the length given.
            let received = unsafe { libc::recv(self.socket.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len(), 0) };
            if received < 0 {
                return Err(io::Error::last_os_error());
            }
            for message in Messages(&buffer[..received as usize]) {
                if message.sequence != self.sequence {
                    continue;
                }
                match message.kind {
                    NLMSG_DONE => return Ok(replies),
                    NLMSG_ERROR => {
                        let code = message.payload.get(..4).and_then(read_u32).map_or(0, |code| code as i32);
                        if code != 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                        return Ok(replies);
                    }
                    _ => {
                        replies.push(message.payload.get(GENL_HEADER..).unwrap_or_default().to_vec());
                        if !dump && message.flags & NLM_F_MULTI == 0 {
                            return Ok(replies);
                        }
                    }
                }
            }
        }
    }
}

/// A generic netlink request: the netlink header, the generic netlink
/// header (`command`, version 1) and each attribute, padded to 4 bytes.
fn encode_request(family: u16, flags: u16, sequence: u32, command: u8, attributes: &[(u16, &[u8])]) -> Vec<u8> {
    let mut message = vec![0u8; NLMSG_HEADER];
    message.extend_from_slice(&[command, 1, 0, 0]);
    for (kind, value) in attributes {
        let length = (4 + value.len()) as u16;
        message.extend_from_slice(&length.to_ne_bytes());
        message.extend_from_slice(&kind.to_ne_bytes());
        message.extend_from_slice(value);
        message.resize(message.len().next_multiple_of(4), 0);
    }
    let length = message.len() as u32;
    message[0..4].copy_from_slice(&length.to_ne_bytes());
    message[4..6].copy_from_slice(&family.to_ne_bytes());
    message[6..8].copy_from_slice(&flags.to_ne_bytes());
    message[8..12].copy_from_slice(&sequence.to_ne_bytes());
    // The port id stays 0: the message is for the kernel.
    message
}

/// One netlink message of a received buffer.
struct Message<'a> {
    kind: u16,
    flags: u16,
    sequence: u32,
    /// What follows the netlink header.
    payload: &'a [u8],
}

/// The netlink messages in a received buffer; a truncated one ends it.
struct Messages<'a>(&'a [u8]);

impl<'a> Iterator for Messages<'a> {
    type Item = Message<'a>;

    fn next(&mut self) -> Option<Message<'a>> {
        let header = self.0.get(..NLMSG_HEADER)?;
        let length = read_u32(header)? as usize;
        if length < NLMSG_HEADER || length > self.0.len() {
            self.0 = &[];
            return None;
        }
        let message = Message {
            kind: read_u16(&header[4..])?,
            flags: read_u16(&header[6..])?,
            sequence: read_u32(&header[8..])?,
            payload: &self.0[NLMSG_HEADER..length],
        };
        self.0 = self.0.get(length.next_multiple_of(4)..).unwrap_or_default();
        Some(message)
    }
}

/// The (type, value) attributes in a netlink payload; a truncated one ends it.
struct Attributes<'a>(&'a [u8]);

impl<'a> Iterator for Attributes<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let length = read_u16(self.0)? as usize;
        let kind = read_u16(self.0.get(2..)?)? & NLA_TYPE_MASK;
        if length < 4 || length > self.0.len() {
            self.0 = &[];
            return None;
        }
        let value = &self.0[4..length];
        self.0 = self.0.get(length.next_multiple_of(4)..).unwrap_or_default();
        Some((kind, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut bytes = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(value);
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        bytes
    }

    #[test]
    fn a_request_is_headers_then_padded_attributes() {
        let message = encode_request(20, NLM_F_REQUEST | NLM_F_DUMP, 7, NETDEV_CMD_NAPI_GET, &[(1, b"abcde")]);
        assert_eq!(message.len(), 16 + 4 + 12);
        assert_eq!(read_u32(&message), Some(32));
        assert_eq!(read_u16(&message[4..]), Some(20));
        assert_eq!(read_u16(&message[6..]), Some(0x301));
        assert_eq!(read_u32(&message[8..]), Some(7));
        assert_eq!(&message[16..20], &[NETDEV_CMD_NAPI_GET, 1, 0, 0]);
        assert_eq!(&message[20..32], &attribute(1, b"abcde")[..]);
    }

    #[test]
    fn a_napi_reply_gives_its_id_and_thread() {
        let mut reply = attribute(NETDEV_A_NAPI_IFINDEX, &2u32.to_ne_bytes());
        reply.extend(attribute(NETDEV_A_NAPI_ID, &1445u32.to_ne_bytes()));
        reply.extend(attribute(NETDEV_A_NAPI_PID, &3276u32.to_ne_bytes()));
        assert_eq!(napi_instance(&reply), Some(NapiInstance { id: 1445, thread: Some(3276) }));
        let unthreaded = attribute(NETDEV_A_NAPI_ID, &9u32.to_ne_bytes());
        assert_eq!(napi_instance(&unthreaded), Some(NapiInstance { id: 9, thread: None }));
        assert_eq!(napi_instance(&attribute(NETDEV_A_NAPI_PID, &1u32.to_ne_bytes())), None, "no id");
    }

    #[test]
    fn truncated_input_ends_the_iteration_without_panicking() {
        let mut bytes = attribute(2, &[1, 2, 3, 4]);
        bytes.extend_from_slice(&[200, 0, 2, 0, 1]);
        let kinds: Vec<u16> = Attributes(&bytes).map(|(kind, _)| kind).collect();
        assert_eq!(kinds, [2]);
        let mut message = encode_request(20, 0, 1, 0, &[]);
        message.truncate(10);
        assert_eq!(Messages(&message).count(), 0);
        assert_eq!(Attributes(&[0, 0, 0, 0]).count(), 0, "a zero length would never advance");
    }

    #[test]
    fn attribute_types_lose_their_flag_bits() {
        let nested = attribute(0x8000 | 4, &[0; 4]);
        assert_eq!(Attributes(&nested).next().map(|(kind, _)| kind), Some(4));
    }
}
