//! AF_XDP sockets behind a small trait, so the worker loop can be driven by a fake port in
//! tests.
//!
//! [`XdpPort`] is one AF_XDP socket bound to one (interface, rx queue), with its own UMEM
//! (the `xdp` 0.8 crate has no shared UMEM). Frames are received into UMEM chunks that
//! keep [`UMEM_HEADROOM`] bytes free before the packet, so the engine can push tunnel
//! headers at the front without copying; see `docs/dataplane.md`.

use std::io;
use std::os::fd::RawFd;

use rvs_core::engine::HEADROOM;
use xdp::slab::{HeapSlab, Slab};
use xdp::socket::{XdpSocket, XdpSocketBuilder};
use xdp::umem::{FrameSize, UmemCfgBuilder};
use xdp::{
    CompletionRing, Packet, RingConfigBuilder, RxRing, Umem, WakableFillRing, WakableTxRing,
};

/// A frame buffer owned by a port: a received frame, or one allocated for sending.
pub trait XskBuf {
    /// The whole buffer (headroom and tailroom included) and where the frame lies in it:
    /// `(buffer, start, len)`.
    fn buffer(&mut self) -> (&mut [u8], usize, usize);
    /// The frame's bytes.
    fn bytes(&mut self) -> &[u8] {
        let (b, s, l) = self.buffer();
        &b[s..s + l]
    }
    /// Say where the frame lies after it was rewritten (it may have grown at the front).
    fn set_frame(&mut self, start: usize, len: usize);
}

/// One AF_XDP socket (or a fake of one): batched receive, queued transmit, completion.
pub trait XskPort {
    /// The port's frame buffer.
    type Buf: XskBuf;
    /// Move up to about `max` received frames into `out`; returns how many.
    fn recv(&mut self, out: &mut Vec<Self::Buf>, max: usize) -> usize;
    /// Queue one of this port's buffers for transmission as it is (no copy).
    /// `Err(buf)` when the transmit queue is full; the caller then releases it.
    fn send(&mut self, buf: Self::Buf) -> Result<(), Self::Buf>;
    /// Queue a copy of `bytes` for transmission (a frame from another port, or a held
    /// one). `false` when no buffer or queue room is left.
    fn send_copy(&mut self, bytes: &[u8]) -> bool;
    /// Give a buffer back without sending it.
    fn release(&mut self, buf: Self::Buf);
    /// Hand the queued frames to the kernel and wake it. Returns `(submitted, dropped)`:
    /// frames the transmit ring had no room for are given back to the UMEM and counted
    /// as dropped.
    fn flush(&mut self) -> io::Result<(usize, usize)>;
    /// Reap transmit completions and refill the receive (fill) ring.
    fn complete(&mut self) -> io::Result<()>;
    /// The descriptor to poll for received frames; `None` for ports without one.
    fn fd(&self) -> Option<RawFd>;
}

/// Headroom the UMEM keeps before every received frame (on top of the kernel's
/// `XDP_PACKET_HEADROOM`, which the `xdp` crate does not let us write into).
pub const UMEM_HEADROOM: usize = HEADROOM;

/// How an [`XdpPort`] is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    /// Let the kernel pick: zero-copy when the driver supports it, else copy.
    Auto,
    /// Force copy mode (needed with generic XDP; veth offers nothing else).
    Copy,
}

/// Errors opening an [`XdpPort`].
#[derive(thiserror::Error, Debug)]
pub enum XskError {
    /// `frames` must be a power of two of at least 64.
    #[error("frames per socket must be a power of two >= 64, got {0}")]
    Frames(u32),
    /// Mapping the UMEM failed.
    #[error("mapping the UMEM: {0}")]
    Umem(#[source] io::Error),
    /// A ring or UMEM configuration the `xdp` crate refused.
    #[error("AF_XDP configuration: {0}")]
    Config(String),
    /// Creating, configuring or binding the socket failed.
    #[error("AF_XDP socket on ifindex {ifindex} queue {queue}: {source}")]
    Socket {
        /// Interface index.
        ifindex: u32,
        /// Rx queue.
        queue: u32,
        /// What failed.
        #[source]
        source: xdp::socket::SocketError,
    },
}

/// A buffer of an [`XdpPort`]: a UMEM chunk. While the worker holds it, the packet spans
/// the whole chunk and `start`/`len` say where the frame is.
pub struct XdpBuf {
    pkt: Packet,
    start: usize,
    len: usize,
}

impl XskBuf for XdpBuf {
    fn buffer(&mut self) -> (&mut [u8], usize, usize) {
        (&mut self.pkt[..], self.start, self.len)
    }

    fn set_frame(&mut self, start: usize, len: usize) {
        self.start = start;
        self.len = len;
    }
}

/// One AF_XDP socket with its own UMEM, bound to (ifindex, queue).
///
/// Field order is drop order: the rings are unmapped and the socket closed before the
/// UMEM is unmapped.
pub struct XdpPort {
    fill: WakableFillRing,
    rx: RxRing,
    completion: CompletionRing,
    tx: WakableTxRing,
    socket: XdpSocket,
    rx_slab: HeapSlab,
    tx_slab: HeapSlab,
    /// Chunks handed to the kernel through the fill ring and not yet received back.
    in_kernel: usize,
    fill_count: usize,
    /// Bytes a packet can span in a chunk (chunk size minus the kernel's headroom).
    capacity: usize,
    zero_copy: bool,
    ifindex: u32,
    queue: u32,
    umem: Umem,
}

// SAFETY: an XdpPort exclusively owns its UMEM mapping, its ring mappings and its socket;
// the raw pointers inside (`Packet`s in the slabs, ring pointers) point only into those
// mappings and never escape the port except as `XdpBuf`s that the owning thread gives
// back to this same port. Moving the whole port to another thread (once, at start) moves
// all of it together.
unsafe impl Send for XdpPort {}

const SOL_XDP: libc::c_int = 283;
const XDP_OPTIONS: libc::c_int = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;

impl XdpPort {
    /// Open an AF_XDP socket on `(ifindex, queue)` with `frames` UMEM chunks of 4 KiB.
    /// Half of the chunks feed the fill ring; the other half are for frames copied in
    /// from other ports and in flight on the transmit ring.
    pub fn open(ifindex: u32, queue: u32, frames: u32, mode: BindMode) -> Result<Self, XskError> {
        if frames < 64 || !frames.is_power_of_two() {
            return Err(XskError::Frames(frames));
        }
        let sock_err = |source| XskError::Socket {
            ifindex,
            queue,
            source,
        };
        let cfg = UmemCfgBuilder {
            frame_size: FrameSize::FourK,
            head_room: UMEM_HEADROOM as u32,
            frame_count: frames,
            ..Default::default()
        }
        .build()
        .map_err(|e| XskError::Config(e.to_string()))?;
        let mut umem = Umem::map(cfg).map_err(XskError::Umem)?;
        let half = frames / 2;
        let rings = RingConfigBuilder {
            rx_count: half,
            tx_count: half,
            fill_count: half,
            completion_count: half,
        }
        .build()
        .map_err(|e| XskError::Config(e.to_string()))?;
        let mut builder = XdpSocketBuilder::new().map_err(sock_err)?;
        let (rings, mut flags) = builder
            .build_wakable_rings(&umem, rings)
            .map_err(sock_err)?;
        if mode == BindMode::Copy {
            flags.force_copy();
        }
        let socket = builder
            .bind(xdp::nic::NicIndex(ifindex), queue, flags)
            .map_err(sock_err)?;
        let zero_copy = zero_copy(socket.raw_fd());
        let (Some(rx), Some(tx)) = (rings.rx_ring, rings.tx_ring) else {
            return Err(XskError::Config("rx and tx rings not created".into()));
        };
        // SAFETY: the packet is freed right away and never outlives the UMEM.
        let capacity = match unsafe { umem.alloc() } {
            Some(p) => {
                let c = p.capacity();
                umem.free_packet(p);
                c
            }
            None => return Err(XskError::Config("empty UMEM".into())),
        };
        let mut port = XdpPort {
            fill: rings.fill_ring,
            rx,
            completion: rings.completion_ring,
            tx,
            socket,
            rx_slab: HeapSlab::with_capacity(64),
            tx_slab: HeapSlab::with_capacity(half as usize),
            in_kernel: 0,
            fill_count: half as usize,
            capacity,
            zero_copy,
            ifindex,
            queue,
            umem,
        };
        port.refill(true);
        Ok(port)
    }

    /// Whether the kernel bound the socket in zero-copy mode.
    pub fn is_zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// The interface index and queue this socket is bound to.
    pub fn binding(&self) -> (u32, u32) {
        (self.ifindex, self.queue)
    }

    /// The kernel's counters of this socket.
    pub fn kernel_stats(&self) -> Option<KernelStats> {
        kernel_stats(self.raw_fd())
    }

    /// The socket descriptor (for the XSKMAP).
    pub fn raw_fd(&self) -> RawFd {
        self.socket.raw_fd()
    }

    /// Give free chunks to the kernel, keeping at most `fill_count` there and a quarter
    /// of the UMEM free for transmit copies.
    fn refill(&mut self, wake: bool) {
        let room = self.fill_count.saturating_sub(self.in_kernel);
        let spare = self.umem.allocatable().saturating_sub(self.fill_count / 2);
        let n = room.min(spare);
        if n == 0 {
            return;
        }
        // Wake the driver only when it may have run dry (zero-copy drivers with
        // need_wakeup); in copy mode the kernel fills from the receive path anyway.
        let wake = wake || self.in_kernel == 0;
        // SAFETY: the UMEM outlives the socket (field order), so the chunks stay valid
        // while the kernel owns them.
        match unsafe { self.fill.enqueue(&mut self.umem, n, wake) } {
            Ok(q) => self.in_kernel += q,
            Err(e) => tracing::debug!("fill ring wakeup: {e}"),
        }
    }
}

impl XdpPort {
    /// Make the kernel transmit what is on the TX ring.
    ///
    /// In copy mode every kick (`sendto`) transmits at most the socket's TX budget (32
    /// frames by default, `TX_BATCH_SIZE` in net/xdp/xsk.c) and answers `EAGAIN` while
    /// descriptors remain or while the completion ring is full. A single kick per batch
    /// of 64 therefore left half of every batch behind, the ring filled up and frames were
    /// dropped as `tx_failed`; so kick until the ring is drained, reaping completions in
    /// between. Bounded: a ring's worth of budgets plus one. `ENOBUFS` (no socket memory
    /// left) ends the round; the frames stay on the ring for the next flush or poll().
    /// (`xdp` 0.8 does not expose the ring's need_wakeup flag, so zero-copy drivers are
    /// kicked too; that is harmless.)
    fn kick(&mut self) -> io::Result<()> {
        let max = self.fill_count / 32 + 2;
        for _ in 0..max {
            // SAFETY: a zero-length sendto on our own socket; no buffers are passed.
            let r = unsafe {
                libc::sendto(
                    self.socket.raw_fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::EINTR) => {
                    // Budget used up, completion ring full, or one frame dropped by the
                    // device: free the completed chunks and go on.
                    self.completion.dequeue(&mut self.umem, 64);
                }
                Some(libc::ENOBUFS) => return Ok(()),
                _ => return Err(e),
            }
        }
        Ok(())
    }
}

/// Ask the kernel whether the socket runs in zero-copy mode (`XDP_OPTIONS`).
fn zero_copy(fd: RawFd) -> bool {
    let mut opts: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `opts`, which is that large.
    let r = unsafe {
        libc::getsockopt(
            fd,
            SOL_XDP,
            XDP_OPTIONS,
            (&mut opts as *mut u32).cast(),
            &mut len,
        )
    };
    r == 0 && opts & XDP_OPTIONS_ZEROCOPY != 0
}

impl XskPort for XdpPort {
    type Buf = XdpBuf;

    fn recv(&mut self, out: &mut Vec<XdpBuf>, max: usize) -> usize {
        let mut got = 0;
        while got < max {
            // SAFETY: received packets point into our UMEM, which outlives them: they are
            // always sent or freed back to this port.
            let n = unsafe { self.rx.recv(&self.umem, &mut self.rx_slab) };
            if n == 0 {
                break;
            }
            self.in_kernel = self.in_kernel.saturating_sub(n);
            while let Some(mut pkt) = self.rx_slab.pop_back() {
                let len = pkt.len();
                // Open the packet up to the whole chunk: head to 0, tail to capacity.
                let grown = self.capacity >= UMEM_HEADROOM + len
                    && pkt.adjust_head(-(UMEM_HEADROOM as i32)).is_ok()
                    && pkt
                        .adjust_tail((self.capacity - UMEM_HEADROOM - len) as i32)
                        .is_ok();
                if !grown {
                    self.umem.free_packet(pkt);
                    continue;
                }
                out.push(XdpBuf {
                    pkt,
                    start: UMEM_HEADROOM,
                    len,
                });
                got += 1;
            }
        }
        got
    }

    fn send(&mut self, mut buf: XdpBuf) -> Result<(), XdpBuf> {
        if self.tx_slab.available() == 0 || buf.start + buf.len > self.capacity {
            return Err(buf);
        }
        // The packet spans the chunk; narrow it to the frame.
        let tail_cut = self.capacity - buf.start - buf.len;
        if buf.pkt.adjust_head(buf.start as i32).is_err()
            || buf.pkt.adjust_tail(-(tail_cut as i32)).is_err()
        {
            return Err(buf);
        }
        // Cannot fail: room was checked above.
        if let Some(pkt) = self.tx_slab.push_front(buf.pkt) {
            self.umem.free_packet(pkt);
        }
        Ok(())
    }

    fn send_copy(&mut self, bytes: &[u8]) -> bool {
        if self.tx_slab.available() == 0 {
            return false;
        }
        // SAFETY: the packet is queued on this port's TX ring or freed back to the UMEM.
        let Some(mut pkt) = (unsafe { self.umem.alloc() }) else {
            return false;
        };
        if pkt.append(bytes).is_err() {
            self.umem.free_packet(pkt);
            return false;
        }
        if let Some(pkt) = self.tx_slab.push_front(pkt) {
            self.umem.free_packet(pkt);
            return false;
        }
        true
    }

    fn release(&mut self, buf: XdpBuf) {
        self.umem.free_packet(buf.pkt);
    }

    fn flush(&mut self) -> io::Result<(usize, usize)> {
        if self.tx_slab.is_empty() {
            return Ok((0, 0));
        }
        let queued = self.tx_slab.len();
        // SAFETY: the queued packets point into our UMEM, which outlives the socket.
        unsafe { self.tx.send(&mut self.tx_slab, false) }?;
        let mut r = self.kick();
        if r.is_ok() && !self.tx_slab.is_empty() {
            // The ring was full; the kicks above drained it, so try the rest once more.
            // SAFETY: as above.
            unsafe { self.tx.send(&mut self.tx_slab, false) }?;
            r = self.kick();
        }
        let mut dropped = 0;
        while let Some(pkt) = self.tx_slab.pop_back() {
            self.umem.free_packet(pkt);
            dropped += 1;
        }
        r.map(|()| (queued - dropped, dropped))
    }

    fn complete(&mut self) -> io::Result<()> {
        // Bounded: at most one ring's worth per call.
        let mut n = 0;
        while n < self.fill_count {
            let c = self.completion.dequeue(&mut self.umem, 64);
            if c == 0 {
                break;
            }
            n += c;
        }
        self.refill(false);
        Ok(())
    }

    fn fd(&self) -> Option<RawFd> {
        Some(self.socket.raw_fd())
    }
}

/// The kernel's counters of an AF_XDP socket (`getsockopt(SOL_XDP, XDP_STATISTICS)`):
/// frames it dropped before userspace saw them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Frames dropped for reasons other than a full ring or an empty fill ring.
    pub rx_dropped: u64,
    /// Frames dropped because the RX ring was full (the worker fell behind).
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived.
    pub rx_fill_ring_empty: u64,
    /// Invalid RX descriptors.
    pub rx_invalid_descs: u64,
    /// Invalid TX descriptors.
    pub tx_invalid_descs: u64,
}

impl KernelStats {
    /// Add `o` to these counters.
    pub fn add(&mut self, o: &KernelStats) {
        self.rx_dropped += o.rx_dropped;
        self.rx_ring_full += o.rx_ring_full;
        self.rx_fill_ring_empty += o.rx_fill_ring_empty;
        self.rx_invalid_descs += o.rx_invalid_descs;
        self.tx_invalid_descs += o.tx_invalid_descs;
    }
}

/// Read the kernel's counters of the AF_XDP socket `fd`; `None` if the call fails.
pub fn kernel_stats(fd: RawFd) -> Option<KernelStats> {
    // SAFETY: xdp_statistics is plain data; getsockopt writes at most `len` bytes into it.
    let mut st: libc::xdp_statistics = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::xdp_statistics>() as libc::socklen_t;
    // SAFETY: `st` and `len` are valid for writes; a bad fd only makes the call fail.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            libc::XDP_STATISTICS,
            (&mut st as *mut libc::xdp_statistics).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(KernelStats {
        rx_dropped: st.rx_dropped,
        rx_ring_full: st.rx_ring_full,
        rx_fill_ring_empty: st.rx_fill_ring_empty_descs,
        rx_invalid_descs: st.rx_invalid_descs,
        tx_invalid_descs: st.tx_invalid_descs,
    })
}
