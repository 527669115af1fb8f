//! Batched UDP I/O for the media socket(s): `recvmmsg(2)` and `sendmmsg(2)`.
//!
//! One system call moves up to [`BATCH`] datagrams instead of one, which is where the media
//! path spent much of its kernel time (the load test's profile: `sendto` alone was 22 % of the
//! server's CPU at 50 visits). Neither std, tokio nor socket2 offers these calls, and the
//! crates that do (quinn-udp) need a newer compiler than the workspace declares, so this
//! module makes the two calls itself through `libc`. Apart from one `mallopt` at start-up
//! (`main.rs`), it is the only `unsafe` code in confer: every pointer handed to the kernel
//! points into a local array or a caller's buffer that outlives the call, and every length
//! comes from that array or buffer.
//!
//! Both calls are non-blocking (`MSG_DONTWAIT`); readiness is tokio's business (`socket.rs`).

use std::io;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams moved by one system call at most.
pub const BATCH: usize = 32;

/// Largest datagram we read; WebRTC keeps datagrams under the path MTU.
pub const RECV_BUF: usize = 2048;

/// Receive buffers for one `recvmmsg` call and what it reported.
pub struct RecvBatch {
    bufs: Box<[[u8; RECV_BUF]]>,
    lens: [usize; BATCH],
    sources: [Option<SocketAddr>; BATCH],
    filled: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: vec![[0u8; RECV_BUF]; BATCH].into_boxed_slice(),
            lens: [0; BATCH],
            sources: [None; BATCH],
            filled: 0,
        }
    }
}

impl RecvBatch {
    /// [`Self::datagrams_mut`], read-only (tests).
    #[cfg(test)]
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        (0..self.filled).filter_map(|i| {
            let source = self.sources[i]?;
            Some((source, self.bufs[i].get(..self.lens[i])?))
        })
    }

    /// The datagrams of the last call: (source, contents), writable: the media fast path
    /// opens an SRTP packet in place. Truncated datagrams (larger than [`RECV_BUF`]) and ones
    /// from an address family we do not know are left out.
    pub fn datagrams_mut(&mut self) -> impl Iterator<Item = (SocketAddr, &mut [u8])> + '_ {
        let (lens, sources) = (&self.lens, &self.sources);
        self.bufs[..self.filled]
            .iter_mut()
            .enumerate()
            .filter_map(move |(i, buf)| Some((sources[i]?, buf.get_mut(..lens[i])?)))
    }

    /// How many datagrams the last call read (including any left out by [`Self::datagrams_mut`]).
    pub(crate) fn len(&self) -> usize {
        self.filled
    }
}

/// The address the kernel wrote at `storage` (`len` bytes of it).
///
/// # Safety
/// `storage` points at a `sockaddr_storage` of which at least the first `len` bytes are
/// initialised (what `recvmmsg` reports in `msg_namelen`).
unsafe fn storage_to_addr(
    storage: *const libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    let len = len as usize;
    if len < size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY (all reads): the caller guarantees `len` initialised bytes, and each read is of
    // at most `len` bytes; read_unaligned copies without forming a reference.
    let family = unsafe { std::ptr::read_unaligned(storage.cast::<libc::sa_family_t>()) };
    match i32::from(family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            let a = unsafe { std::ptr::read_unaligned(storage.cast::<libc::sockaddr_in>()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            let a = unsafe { std::ptr::read_unaligned(storage.cast::<libc::sockaddr_in6>()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Write `addr` as a C socket address at `storage`; returns its length.
fn addr_to_storage(
    addr: &SocketAddr,
    storage: &mut MaybeUninit<libc::sockaddr_storage>,
) -> libc::socklen_t {
    let ptr = storage.as_mut_ptr();
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in; the whole
            // struct is written, so the kernel reads only initialised bytes.
            unsafe { std::ptr::write(ptr.cast::<libc::sockaddr_in>(), sin) };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: all-zero is a valid sockaddr_in6 (it has private padding fields on
            // some platforms, so it is built from zero and then filled in).
            let mut sin6: libc::sockaddr_in6 = unsafe { zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write(ptr.cast::<libc::sockaddr_in6>(), sin6) };
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Read up to [`BATCH`] waiting datagrams without blocking. `Ok(0)` never happens: nothing
/// waiting is `Err(WouldBlock)`.
/// An IPv4 media socket sends with the don't-fragment bit and ignores the path MTU the kernel
/// may have learned (`IP_MTU_DISCOVER` = `IP_PMTUDISC_PROBE`, as QUIC stacks do). The bit is
/// what Linux's default already sets on UDP; the difference is the IP identification field:
/// with the default, every datagram draws a fresh one from the kernel's shared, hashed
/// generator (`__ip_select_ident`, 1.6 % of the media thread in the load test's profile),
/// with this it is 0, which RFC 6864 allows for datagrams that are never fragmented. WebRTC
/// keeps its datagrams far below any path MTU (str0m writes at most 1150 bytes), so no
/// datagram that went out before goes out differently now.
pub fn set_df_without_pmtu(fd: RawFd) -> io::Result<()> {
    let value: libc::c_int = libc::IP_PMTUDISC_PROBE;
    // SAFETY: `value` is a local c_int that outlives the call, and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What [`set_df_without_pmtu`] set, read back (tests).
#[cfg(test)]
pub(crate) fn df_mode(fd: RawFd) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = -1;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are locals that outlive the call; `len` is `value`'s size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

pub fn recv_batch(fd: RawFd, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.filled = 0;
    // The kernel writes the source addresses; only the headers need zeroing (4 KiB of address
    // storage per call is not cleared for nothing).
    let mut names = [const { MaybeUninit::<libc::sockaddr_storage>::uninit() }; BATCH];
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    for (i, buf) in batch.bufs.iter_mut().enumerate().take(BATCH) {
        iovs[i] = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: RECV_BUF,
        };
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_name = names[i].as_mut_ptr().cast();
        hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr.msg_iov = &mut iovs[i];
        hdr.msg_iovlen = 1;
    }
    let wanted = batch.bufs.len().min(BATCH);
    // SAFETY: `msgs[..wanted]` point at `names`, `iovs` and `batch.bufs`, all alive and
    // unaliased for the duration of the call, with their true sizes.
    let n = unsafe {
        libc::recvmmsg(
            fd,
            msgs.as_mut_ptr(),
            wanted as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    for i in 0..n {
        let hdr = &msgs[i].msg_hdr;
        let truncated = hdr.msg_flags & libc::MSG_TRUNC != 0;
        batch.lens[i] = msgs[i].msg_len as usize;
        batch.sources[i] = if truncated {
            None
        } else {
            // SAFETY: the kernel wrote `msg_namelen` bytes of this address.
            unsafe { storage_to_addr(names[i].as_ptr(), hdr.msg_namelen) }
        };
    }
    batch.filled = n;
    Ok(n)
}

/// Send every datagram in `out` without blocking, [`BATCH`] per call. A datagram the kernel
/// refuses (a full socket buffer, an unreachable destination) is dropped, as the network
/// would drop it, and the rest still go. Returns how many were dropped.
pub fn send_batch<'a, I>(fd: RawFd, out: I) -> u64
where
    I: ExactSizeIterator<Item = (SocketAddr, &'a [u8])>,
{
    let mut dropped = 0u64;
    let mut names = [const { MaybeUninit::<libc::sockaddr_storage>::uninit() }; BATCH];
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    let mut out = out.peekable();
    while out.peek().is_some() {
        let mut count = 0;
        while count < BATCH {
            let Some((destination, contents)) = out.next() else {
                break;
            };
            let namelen = addr_to_storage(&destination, &mut names[count]);
            iovs[count] = libc::iovec {
                iov_base: contents.as_ptr() as *mut libc::c_void,
                iov_len: contents.len(),
            };
            // SAFETY: all-zero is a valid msghdr.
            msgs[count] = unsafe { zeroed() };
            let hdr = &mut msgs[count].msg_hdr;
            hdr.msg_name = names[count].as_mut_ptr().cast();
            hdr.msg_namelen = namelen;
            hdr.msg_iov = &mut iovs[count];
            hdr.msg_iovlen = 1;
            count += 1;
        }
        let mut sent = 0;
        while sent < count {
            // SAFETY: `msgs[sent..count]` point at `names`, `iovs` and the callers' buffers
            // (borrowed for 'a), all alive for the duration of the call; the kernel only
            // reads the buffers.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs[sent..].as_mut_ptr(),
                    (count - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    // The socket buffer is full: what is left of this batch is dropped.
                    dropped += (count - sent) as u64;
                    sent = count;
                }
                _ => {
                    // This one datagram was refused; the others may still go.
                    tracing::trace!(error = %err, "media datagram dropped on send");
                    dropped += 1;
                    sent += 1;
                }
            }
        }
    }
    dropped
}
