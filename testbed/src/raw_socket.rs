//! Sending and receiving whole Ethernet frames on one interface inside a
//! namespace, with an AF_PACKET socket.

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::link::interface_index;
use crate::netns::run_in_netns;

/// An AF_PACKET raw socket bound to one interface, seeing every frame that
/// arrives on it (all EtherTypes) and sending frames out of it unchanged.
#[derive(Debug)]
pub struct RawSocket {
    fd: OwnedFd,
}

impl RawSocket {
    /// Opens a raw socket on `ifname` in network namespace `ns`.
    pub fn open(ns: &str, ifname: &str) -> io::Result<RawSocket> {
        let fd = run_in_netns(ns, || open_bound_socket(ifname))?
            .map_err(|error| io::Error::new(error.kind(), format!("in namespace {ns}: {error}")))?;
        Ok(RawSocket { fd })
    }

    /// Sends `frame` (starting with its Ethernet header) out of the
    /// interface. The kernel adds nothing: no padding, no checksums.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: the pointer and length describe `frame`, which the kernel
        // only reads.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        if sent as usize != frame.len() {
            return Err(io::Error::other(format!("sent {sent} of {} frame bytes", frame.len())));
        }
        Ok(())
    }

    /// Lets the kernel queue up to `bytes` of received frames for this
    /// socket (as root, past `net.core.rmem_max`): a reader that falls
    /// behind for a moment under a steady stream then loses nothing.
    pub fn set_receive_buffer(&self, bytes: usize) -> io::Result<()> {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: the option value is one c_int, as its length says.
        let set = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&raw const value).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if set != 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Waits up to `timeout` for a frame that arrived on the interface,
    /// copies it into `buf` and returns its length, or `None` if none came.
    ///
    /// Frames the interface sent are skipped: a packet socket also sees its
    /// interface's outgoing traffic (the kernel's, and other sockets' sends;
    /// only its own sends are kept from it). A frame longer than `buf` is
    /// consumed and reported as an error (65536 bytes hold any frame, GSO
    /// super-frames included).
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(remaining) = deadline.checked_duration_since(Instant::now()) else {
                return Ok(None);
            };
            // Not readable means the wait timed out or a signal cut it
            // short; the deadline check above tells which.
            if !self.wait_readable(remaining)? {
                continue;
            }
            match self.receive_waiting(buf)? {
                Some(ReceivedFrame { len, outgoing: false }) => return Ok(Some(len)),
                Some(ReceivedFrame { outgoing: true, .. }) | None => continue,
            }
        }
    }

    /// Like [`recv`](Self::recv), but also drops arrived frames for which
    /// `wanted` returns false, until one matches or `timeout` ends. Handy to
    /// pass over the kernel's own chatter (IPv6 router solicitations, MLD
    /// reports) when looking for a frame a test sent.
    pub fn recv_matching(
        &self,
        buf: &mut [u8],
        timeout: Duration,
        mut wanted: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<Option<usize>> {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.recv(buf, remaining)? {
                None => return Ok(None),
                Some(len) if wanted(&buf[..len]) => return Ok(Some(len)),
                Some(_) => continue,
            }
        }
    }

    /// Waits up to `timeout` for the socket to become readable; false if it
    /// did not (the time ran out or a signal interrupted the wait).
    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut poll_fd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // Rounded up, so a sub-millisecond remainder still waits rather
        // than spinning.
        let timeout_ms = libc::c_int::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX);
        // SAFETY: `poll_fd` is one valid pollfd, as the count says.
        let ready = unsafe { libc::poll(&mut poll_fd, 1, timeout_ms) };
        match ready {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => Ok(false),
            -1 => Err(io::Error::last_os_error()),
            0 => Ok(false),
            _ => Ok(true),
        }
    }

    /// Takes one waiting frame off the socket without blocking; `None` if
    /// there was none after all.
    fn receive_waiting(&self, buf: &mut [u8]) -> io::Result<Option<ReceivedFrame>> {
        // SAFETY: sockaddr_ll is plain data for which all zeroes is valid.
        let mut source: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut source_len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // MSG_TRUNC makes the kernel return the frame's full length even
        // when it did not fit, so truncation can be noticed.
        // SAFETY: `buf` and `source` are valid for writes of the lengths
        // given, and `source_len` holds the size of `source`.
        let received = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                (&raw mut source).cast(),
                &mut source_len,
            )
        };
        if received < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(error),
            };
        }
        let len = received as usize;
        if len > buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("received a {len}-byte frame, larger than the {}-byte buffer", buf.len()),
            ));
        }
        Ok(Some(ReceivedFrame { len, outgoing: source.sll_pkttype == libc::PACKET_OUTGOING }))
    }
}

impl AsFd for RawSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// What [`RawSocket::receive_waiting`] learnt about one frame.
struct ReceivedFrame {
    len: usize,
    /// The interface sent this frame rather than received it.
    outgoing: bool,
}

/// Creates an AF_PACKET socket bound to `ifname` in the calling thread's
/// namespace.
fn open_bound_socket(ifname: &str) -> io::Result<OwnedFd> {
    // Protocol 0 means the socket receives nothing until bound; binding then
    // sets ETH_P_ALL and the interface together. Opening with ETH_P_ALL
    // directly would queue frames from every interface in the namespace
    // until the bind.
    // SAFETY: plain socket creation; the result is checked below.
    let raw_fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw_fd < 0 {
        let error = io::Error::last_os_error();
        return Err(io::Error::new(error.kind(), format!("AF_PACKET socket: {error}")));
    }
    // SAFETY: `raw_fd` is a new file descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw_fd) };

    let ifindex = interface_index(ifname)?;
    // SAFETY: sockaddr_ll is plain data for which all zeroes is valid.
    let mut address: libc::sockaddr_ll = unsafe { mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    address.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: `address` is a valid sockaddr_ll and the length is its size.
    let bound = unsafe {
        libc::bind(fd.as_raw_fd(), (&raw const address).cast(), mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t)
    };
    if bound != 0 {
        let error = io::Error::last_os_error();
        return Err(io::Error::new(error.kind(), format!("binding AF_PACKET socket to {ifname}: {error}")));
    }
    Ok(fd)
}
