//! `rvs bench xdp-gen` and `rvs bench xdp-sink`: the two ends of the packets/s
//! measurement ([`super::pps`]), both in XDP so neither limits what the director in
//! between can forward.
//!
//! - `xdp-gen` sends a 60-byte UDP/IPv4 frame out of a veth with `BPF_PROG_RUN` in
//!   live-frames mode ([`rvs_xdp::bench::Generator`]), one source port per flow in turn,
//!   for a warm-up and then the measured seconds; prints `sent N pps P` for the latter.
//! - `xdp-sink` counts and drops the UDP datagrams to a port arriving at an interface
//!   ([`rvs_xdp::bench::Sink`]) and rewrites `--out` every 50 ms with
//!   `packets bytes monotonic_ns`, until killed.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// Frames per `BPF_PROG_RUN` call.
const CHUNK: u32 = 1 << 15;

/// `rvs bench xdp-gen` arguments.
#[derive(clap::Args, Debug)]
pub struct XdpGenArgs {
    /// Interface to send out of (a veth: the frames arrive at its peer).
    #[arg(long)]
    pub dev: String,
    /// Destination MAC (the director's interface), `aa:bb:cc:dd:ee:ff`.
    #[arg(long)]
    pub dst_mac: String,
    /// Source address.
    #[arg(long)]
    pub src: Ipv4Addr,
    /// Destination address.
    #[arg(long)]
    pub dst: Ipv4Addr,
    /// Destination port.
    #[arg(long, default_value_t = 9000)]
    pub port: u16,
    /// First source port.
    #[arg(long, default_value_t = 10_000)]
    pub base_port: u16,
    /// Flows (source ports base_port .. base_port + flows, in turn).
    #[arg(long, default_value_t = 64)]
    pub flows: u16,
    /// UDP payload bytes (18: a 60-byte frame).
    #[arg(long, default_value_t = 18)]
    pub payload: usize,
    /// Seconds sent before the measurement (connections set up, flows installed).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
}

/// `rvs bench xdp-wire` arguments.
#[derive(clap::Args, Debug)]
pub struct XdpWireArgs {
    /// Interface frames arrive at.
    #[arg(long)]
    pub dev: String,
    /// Interface they leave by (its MAC becomes their source).
    #[arg(long)]
    pub out_dev: String,
    /// Their new destination MAC.
    #[arg(long)]
    pub dst_mac: String,
}

/// `rvs bench xdp-sink` arguments.
#[derive(clap::Args, Debug)]
pub struct XdpSinkArgs {
    /// Interface to count on.
    #[arg(long)]
    pub dev: String,
    /// UDP destination port counted (and dropped).
    #[arg(long, default_value_t = 9000)]
    pub port: u16,
    /// File rewritten every 50 ms with `packets bytes monotonic_ns`.
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let v: Vec<u8> = s
        .trim()
        .split(':')
        .map(|x| u8::from_str_radix(x, 16))
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad MAC address {s:?}"))?;
    v.try_into()
        .map_err(|_| anyhow::anyhow!("bad MAC address {s:?}"))
}

/// Ethernet/IPv4/UDP (no UDP checksum), from `sport`; the generator rewrites the port.
pub fn frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: usize,
) -> Vec<u8> {
    let data: Vec<u8> = (0..payload).map(|i| b'a' + (i % 26) as u8).collect();
    let mut f = Vec::with_capacity(42 + payload);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend(super::udpconns::ipv4_udp(
        src, sport, dst, dport, &data, false,
    ));
    f
}

/// Runs the generator; returns `(frames sent in the measured seconds, per second)`.
pub fn gen_main(a: &XdpGenArgs) -> Result<(u64, f64)> {
    if a.seconds <= 0.0 {
        bail!("--seconds must be positive");
    }
    let f = frame(
        mac_of(&a.dev)?,
        parse_mac(&a.dst_mac)?,
        a.src,
        a.dst,
        a.base_port,
        a.port,
        a.payload,
    );
    let mut g = rvs_xdp::bench::Generator::new(&a.dev, &f, a.base_port, a.flows)
        .context("loading the XDP generator")?;
    let warm = Instant::now();
    while warm.elapsed().as_secs_f64() < a.warmup {
        g.send(&f, CHUNK)?;
    }
    let t0 = Instant::now();
    let mut sent = 0u64;
    while t0.elapsed().as_secs_f64() < a.seconds {
        g.send(&f, CHUNK)?;
        sent += u64::from(CHUNK);
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok((sent, sent as f64 / secs))
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn mac_of(dev: &str) -> Result<[u8; 6]> {
    let m = std::fs::read_to_string(format!("/sys/class/net/{dev}/address"))
        .with_context(|| format!("no interface {dev}"))?;
    parse_mac(&m)
}

/// Runs the XDP wire until killed.
pub fn wire_main(a: &XdpWireArgs) -> Result<()> {
    let _w = rvs_xdp::bench::Wire::attach(
        &a.dev,
        &a.out_dev,
        mac_of(&a.out_dev)?,
        parse_mac(&a.dst_mac)?,
    )
    .context("attaching the XDP wire")?;
    println!("attached");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Runs the sink until killed.
pub fn sink_main(a: &XdpSinkArgs) -> Result<()> {
    let s = rvs_xdp::bench::Sink::attach(&a.dev, a.port).context("attaching the XDP sink")?;
    let tmp = a.out.with_extension("tmp");
    loop {
        let (p, b) = s.count()?;
        std::fs::write(&tmp, format!("{p} {b} {}\n", monotonic_ns()))
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads a sink's file: `(packets, monotonic ns)`.
pub fn read_sink(path: &std::path::Path) -> Result<(u64, u64)> {
    let t = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Vec<u64> = t
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    match v[..] {
        [p, _, ns] => Ok((p, ns)),
        _ => bail!("bad sink file {}: {t:?}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_frame_is_a_valid_60_byte_udp_datagram() {
        let f = frame(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            "198.18.20.2".parse().unwrap(),
            "198.18.20.100".parse().unwrap(),
            10_000,
            9000,
            18,
        );
        assert_eq!(f.len(), 60);
        let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("not IPv4")
        };
        let h = ip.header().to_header();
        assert_eq!(h.calc_header_checksum(), h.header_checksum);
        let Some(etherparse::TransportSlice::Udp(u)) = p.transport else {
            panic!("not UDP")
        };
        assert_eq!((u.source_port(), u.destination_port()), (10_000, 9000));
        assert_eq!(u.payload().len(), 18);
        assert_eq!(parse_mac("02:00:00:00:00:0a").unwrap(), [2, 0, 0, 0, 0, 10]);
        assert!(parse_mac("02:00").is_err());
    }
}
