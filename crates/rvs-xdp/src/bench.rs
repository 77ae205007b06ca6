//! The live benchmark's XDP traffic generator and sink (`bpf/rvs_bench.c`); rvsd never
//! loads them.
//!
//! - [`Generator`]: sends a template UDP/IPv4 frame out of an interface at the rate the
//!   kernel can take it, through `BPF_PROG_RUN` in live-frames mode
//!   (`BPF_F_TEST_XDP_LIVE_FRAMES`): no socket, no skb, no qdisc on the sending side, so
//!   the generator is not what limits a forwarding benchmark. Each frame gets the next of
//!   `flows` source ports.
//! - [`Sink`]: counts and drops, in XDP, the UDP datagrams to one port arriving at an
//!   interface, so the receiving end costs as little as the sending one.

use std::time::Duration;

use aya::maps::PerCpuArray;
use aya::programs::{TestRun as _, TestRunAttrs, TestRunOptions, Xdp};
use aya::{Ebpf, EbpfLoader};

use crate::error::XdpError;
use crate::sys;

/// Frames the kernel handles per batch in live-frames mode.
pub const BATCH: u32 = 64;

/// Bytes of the template header the generator writes into every frame (Ethernet, IPv4
/// without options, UDP).
pub const HDR_LEN: usize = 42;

/// `struct xdp_md` as `BPF_PROG_RUN` takes it: no metadata (`data` 0), `data_end` the
/// frame's length, the ingress interface; queue 0.
fn xdp_md(len: usize, ifindex: u32) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[4..8].copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    b[12..16].copy_from_slice(&ifindex.to_ne_bytes());
    b
}

fn xdp_prog<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp, XdpError> {
    ebpf.program_mut(name)
        .ok_or(XdpError::Missing(name))?
        .try_into()
        .map_err(|source| XdpError::Program {
            what: format!("{name} is not an XDP program"),
            source,
        })
}

fn load(name: &'static str, loader: &mut EbpfLoader<'_>) -> Result<Ebpf, XdpError> {
    let mut ebpf = loader.load(crate::RVS_BENCH_OBJ)?;
    xdp_prog(&mut ebpf, name)?
        .load()
        .map_err(|source| XdpError::Program {
            what: format!("loading {name}"),
            source,
        })?;
    Ok(ebpf)
}

/// The XDP traffic generator.
pub struct Generator {
    ebpf: Ebpf,
    ifindex: u32,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("ifindex", &self.ifindex)
            .finish()
    }
}

impl Generator {
    /// A generator sending `frame` (Ethernet/IPv4/UDP, IP header without options, no UDP
    /// checksum, at least [`HDR_LEN`] bytes) out of `ifname` (in this process's network
    /// namespace), from source ports `base_port .. base_port + flows`.
    pub fn new(ifname: &str, frame: &[u8], base_port: u16, flows: u16) -> Result<Self, XdpError> {
        let ifindex = sys::ifindex(ifname)?;
        let hdr: [u8; HDR_LEN] = frame
            .get(..HDR_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(XdpError::Missing("a frame of 42 bytes or more"))?;
        let ebpf = load(
            "rvs_gen",
            EbpfLoader::new()
                .override_global("gen_hdr", &hdr, true)
                .override_global("gen_base_port", &base_port, true)
                .override_global("gen_flows", &flows.max(1), true),
        )?;
        Ok(Generator { ebpf, ifindex })
    }

    /// Send `count` frames (`frame` with the template header written again for each), in
    /// batches of [`BATCH`]; returns the time the kernel took. Frames a full receiver
    /// drops are not reported: count them where they arrive.
    pub fn send(&mut self, frame: &[u8], count: u32) -> Result<Duration, XdpError> {
        let ctx = xdp_md(frame.len(), self.ifindex);
        let prog = xdp_prog(&mut self.ebpf, "rvs_gen")?;
        let r = prog
            .test_run(TestRunOptions {
                data_in: Some(frame),
                ctx_in: Some(&ctx),
                repeat: count.max(1),
                attrs: TestRunAttrs::new().xdp_live_frames(BATCH),
                ..TestRunOptions::default()
            })
            .map_err(|source| XdpError::Program {
                what: "running rvs_gen (live frames)".into(),
                source,
            })?;
        Ok(r.duration)
    }
}

/// Attach `prog` of `ebpf` to `ifindex`, native mode first, replacing any XDP program.
fn attach(ebpf: &mut Ebpf, prog: &'static str, ifname: &str) -> Result<(), XdpError> {
    let ifindex = sys::ifindex(ifname)?;
    sys::clear_xdp(ifindex)?;
    let p = xdp_prog(ebpf, prog)?;
    let mut last = String::new();
    for m in [aya::programs::XdpMode::Driver, aya::programs::XdpMode::Skb] {
        match p.attach_to_if_index(ifindex, m) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(XdpError::Attach {
        ifname: ifname.to_string(),
        mode: crate::XdpMode::Auto,
        reason: last,
    })
}

/// The XDP wire: every IP frame arriving at one interface leaves by another with the
/// given MACs, through `bpf_redirect` (the cheapest XDP forwarding); attached while it
/// lives.
pub struct Wire {
    _ebpf: Ebpf,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire").finish()
    }
}

impl Wire {
    /// Attach to `ifname`, forwarding to `out` with source MAC `smac` and destination
    /// MAC `dmac`.
    pub fn attach(ifname: &str, out: &str, smac: [u8; 6], dmac: [u8; 6]) -> Result<Self, XdpError> {
        let out_index = sys::ifindex(out)?;
        let mut ebpf = load(
            "rvs_wire",
            EbpfLoader::new()
                .override_global("wire_ifindex", &out_index, true)
                .override_global("wire_dmac", &dmac, true)
                .override_global("wire_smac", &smac, true),
        )?;
        attach(&mut ebpf, "rvs_wire", ifname)?;
        Ok(Wire { _ebpf: ebpf })
    }
}

/// The counting sink: attached while it lives.
pub struct Sink {
    ebpf: Ebpf,
    ifname: String,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("ifname", &self.ifname)
            .finish()
    }
}

impl Sink {
    /// Attach to `ifname` in native mode (generic if the driver has none), replacing any
    /// XDP program there, counting UDP to `port`.
    pub fn attach(ifname: &str, port: u16) -> Result<Self, XdpError> {
        let mut ebpf = load(
            "rvs_sink",
            EbpfLoader::new().override_global("sink_port", &port, true),
        )?;
        attach(&mut ebpf, "rvs_sink", ifname)?;
        Ok(Sink {
            ebpf,
            ifname: ifname.to_string(),
        })
    }

    /// `(packets, bytes)` counted so far, summed over CPUs.
    pub fn count(&self) -> Result<(u64, u64), XdpError> {
        let map = self
            .ebpf
            .map("rvs_sink_count")
            .ok_or(XdpError::Missing("map rvs_sink_count"))?;
        let arr: PerCpuArray<_, [u64; 2]> =
            PerCpuArray::try_from(map).map_err(|source| XdpError::Map {
                map: "rvs_sink_count",
                source,
            })?;
        let v = arr.get(&0, 0).map_err(|source| XdpError::Map {
            map: "rvs_sink_count",
            source,
        })?;
        Ok(v.iter().fold((0, 0), |a, c| (a.0 + c[0], a.1 + c[1])))
    }
}
