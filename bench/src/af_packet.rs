//! The AF_PACKET baseline: a userland macswap reflector on a raw packet
//! socket, as a program would be written without XDP. Runs as its own
//! process (`galette-bench af-packet-forward IF`) so its CPU time is its own.

use std::io;

use crate::frame::{MARK, MARK_OFFSET};

/// Frames read and written per system call.
const BATCH: usize = 64;
const FRAME_ROOM: usize = 2048;

/// Reflects every benchmark frame that arrives on `interface`, forever (the
/// benchmark stops it with a signal).
pub fn forward(interface: &str) -> io::Result<()> {
    let socket = PacketSocket::open(interface)?;
    let mut buffers = vec![[0u8; FRAME_ROOM]; BATCH];
    loop {
        let lengths = socket.receive(&mut buffers)?;
        let mut out = Vec::with_capacity(lengths.len());
        for (buffer, &len) in buffers.iter_mut().zip(&lengths) {
            if len >= MARK_OFFSET + 4 && buffer[MARK_OFFSET..MARK_OFFSET + 4] == MARK {
                let (dst, src) = buffer.split_at_mut(6);
                dst.swap_with_slice(&mut src[..6]);
                out.push(len);
            } else {
                out.push(0);
            }
        }
        socket.send(&buffers, &out)?;
    }
}

/// A raw AF_PACKET socket bound to one interface.
struct PacketSocket {
    fd: i32,
}

impl PacketSocket {
    fn open(interface: &str) -> io::Result<PacketSocket> {
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2).
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(protocol)) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = PacketSocket { fd };
        let name = std::ffi::CString::new(interface)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?;
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a zeroed sockaddr_ll is valid; the fields are set below.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = protocol;
        address.sll_ifindex = ifindex as i32;
        // SAFETY: the address is a live sockaddr_ll of the size given.
        if unsafe {
            libc::bind(
                fd,
                &address as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        // Send straight to the driver, as fast forwarders do; and do not read
        // back our own frames.
        socket.set_option(libc::PACKET_QDISC_BYPASS, 1)?;
        socket.set_option(libc::PACKET_IGNORE_OUTGOING, 1)?;
        Ok(socket)
    }

    fn set_option(&self, option: i32, value: i32) -> io::Result<()> {
        // SAFETY: an int option of the right size.
        let result = unsafe {
            libc::setsockopt(self.fd, libc::SOL_PACKET, option, &value as *const i32 as *const libc::c_void, 4)
        };
        if result < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Blocks for at least one frame, then takes up to a batch.
    fn receive(&self, buffers: &mut [[u8; FRAME_ROOM]]) -> io::Result<Vec<usize>> {
        let mut iovecs: Vec<libc::iovec> = buffers
            .iter_mut()
            .map(|buffer| libc::iovec { iov_base: buffer.as_mut_ptr().cast(), iov_len: FRAME_ROOM })
            .collect();
        let mut messages = messages(&mut iovecs);
        // SAFETY: the messages and their buffers live across the call.
        let count = unsafe {
            libc::recvmmsg(
                self.fd,
                messages.as_mut_ptr(),
                messages.len() as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if count < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(messages[..count as usize].iter().map(|message| message.msg_len as usize).collect())
    }

    /// Sends the frames whose length is not 0.
    fn send(&self, buffers: &[[u8; FRAME_ROOM]], lengths: &[usize]) -> io::Result<()> {
        let mut iovecs: Vec<libc::iovec> = buffers
            .iter()
            .zip(lengths)
            .filter(|(_, len)| **len > 0)
            .map(|(buffer, &len)| libc::iovec { iov_base: buffer.as_ptr() as *mut libc::c_void, iov_len: len })
            .collect();
        if iovecs.is_empty() {
            return Ok(());
        }
        let mut messages = messages(&mut iovecs);
        // A frame the device cannot take now is lost, like on a real link.
        // SAFETY: the messages and their buffers live across the call.
        unsafe { libc::sendmmsg(self.fd, messages.as_mut_ptr(), messages.len() as u32, 0) };
        Ok(())
    }
}

/// One message per buffer, for recvmmsg and sendmmsg; they point into
/// `iovecs`, which must outlive them.
fn messages(iovecs: &mut [libc::iovec]) -> Vec<libc::mmsghdr> {
    iovecs
        .iter_mut()
        .map(|iovec| {
            // SAFETY: a zeroed mmsghdr is valid (no name, no control data).
            let mut message: libc::mmsghdr = unsafe { std::mem::zeroed() };
            message.msg_hdr.msg_iov = iovec;
            message.msg_hdr.msg_iovlen = 1;
            message
        })
        .collect()
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        // SAFETY: our own fd, closed once.
        unsafe { libc::close(self.fd) };
    }
}
