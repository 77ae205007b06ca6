//! The old IPVS sockopt ABI (`include/uapi/linux/ip_vs.h`), x86_64 layout: option numbers,
//! argument lengths and the byte offsets of every struct field the emulator reads or writes.
//!
//! Host-order fields are little-endian (x86_64); addresses, ports and the netmask are in
//! network order, as the kernel keeps them.

/// `IP_VS_BASE_CTL`: 64 + 1024 + 64.
pub const BASE_CTL: i32 = 64 + 1024 + 64;

/// `IP_VS_SO_SET_ADD`.
pub const SET_ADD: i32 = BASE_CTL + 2;
/// `IP_VS_SO_SET_EDIT`.
pub const SET_EDIT: i32 = BASE_CTL + 3;
/// `IP_VS_SO_SET_DEL`.
pub const SET_DEL: i32 = BASE_CTL + 4;
/// `IP_VS_SO_SET_FLUSH`.
pub const SET_FLUSH: i32 = BASE_CTL + 5;
/// `IP_VS_SO_SET_ADDDEST`.
pub const SET_ADDDEST: i32 = BASE_CTL + 7;
/// `IP_VS_SO_SET_DELDEST`.
pub const SET_DELDEST: i32 = BASE_CTL + 8;
/// `IP_VS_SO_SET_EDITDEST`.
pub const SET_EDITDEST: i32 = BASE_CTL + 9;
/// `IP_VS_SO_SET_TIMEOUT`.
pub const SET_TIMEOUT: i32 = BASE_CTL + 10;
/// `IP_VS_SO_SET_STARTDAEMON`.
pub const SET_STARTDAEMON: i32 = BASE_CTL + 11;
/// `IP_VS_SO_SET_STOPDAEMON`.
pub const SET_STOPDAEMON: i32 = BASE_CTL + 12;
/// `IP_VS_SO_SET_ZERO` (= `IP_VS_SO_SET_MAX`).
pub const SET_ZERO: i32 = BASE_CTL + 15;
/// `IP_VS_SO_SET_MAX`.
pub const SET_MAX: i32 = SET_ZERO;

/// `IP_VS_SO_GET_VERSION`.
pub const GET_VERSION: i32 = BASE_CTL;
/// `IP_VS_SO_GET_INFO`.
pub const GET_INFO: i32 = BASE_CTL + 1;
/// `IP_VS_SO_GET_SERVICES`.
pub const GET_SERVICES: i32 = BASE_CTL + 2;
/// `IP_VS_SO_GET_SERVICE`.
pub const GET_SERVICE: i32 = BASE_CTL + 3;
/// `IP_VS_SO_GET_DESTS`.
pub const GET_DESTS: i32 = BASE_CTL + 4;
/// `IP_VS_SO_GET_TIMEOUT`.
pub const GET_TIMEOUT: i32 = BASE_CTL + 6;
/// `IP_VS_SO_GET_DAEMON` (= `IP_VS_SO_GET_MAX`).
pub const GET_DAEMON: i32 = BASE_CTL + 7;
/// `IP_VS_SO_GET_MAX`.
pub const GET_MAX: i32 = GET_DAEMON;

/// Whether `(level, optname)` is an IPVS socket option (level `SOL_IP` = 0).
pub fn is_ipvs_opt(level: i32, optname: i32) -> bool {
    level == 0 && (BASE_CTL..=SET_MAX.max(GET_MAX)).contains(&optname)
}

/// `sizeof(struct ip_vs_service_user)`: protocol u16 @0, addr @4, port @8, fwmark @12,
/// sched_name[16] @16, flags @32, timeout @36, netmask @40.
pub const SERVICE_ARG_LEN: usize = 44;
/// `sizeof(struct ip_vs_dest_user)`: addr @0, port @4, conn_flags @8, weight @12,
/// u_threshold @16, l_threshold @20.
pub const DEST_ARG_LEN: usize = 24;
/// A service followed by a dest: the argument of the dest commands.
pub const SVCDEST_ARG_LEN: usize = SERVICE_ARG_LEN + DEST_ARG_LEN;
/// `sizeof(struct ip_vs_timeout_user)`: three ints.
pub const TIMEOUT_ARG_LEN: usize = 12;
/// `sizeof(struct ip_vs_daemon_user)`: state @0, mcast_ifn[16] @4, syncid @20.
pub const DAEMON_ARG_LEN: usize = 24;

/// The kernel's `set_arglen[]`: the exact length each SET command must pass.
pub fn set_arglen(cmd: i32) -> usize {
    match cmd {
        SET_ADD | SET_EDIT | SET_DEL | SET_ZERO => SERVICE_ARG_LEN,
        SET_ADDDEST | SET_DELDEST | SET_EDITDEST => SVCDEST_ARG_LEN,
        SET_TIMEOUT => TIMEOUT_ARG_LEN,
        SET_STARTDAEMON | SET_STOPDAEMON => DAEMON_ARG_LEN,
        _ => 0,
    }
}

/// `sizeof(struct ip_vs_getinfo)`: version, size, num_services.
pub const GETINFO_LEN: usize = 12;
/// `sizeof(struct ip_vs_stats_user)`: conns @0, inpkts @4, outpkts @8, inbytes @16,
/// outbytes @24, cps @32, inpps @36, outpps @40, inbps @44, outbps @48 (+4 padding).
pub const STATS_LEN: usize = 56;
/// `sizeof(struct ip_vs_service_entry)`: the service fields as in
/// [`SERVICE_ARG_LEN`], num_dests @44, stats @48.
pub const SERVICE_ENTRY_LEN: usize = 48 + STATS_LEN;
/// `sizeof(struct ip_vs_get_services)`: num_services @0, entries from @8.
pub const GET_SERVICES_LEN: usize = 8;
/// `sizeof(struct ip_vs_dest_entry)`: addr @0, port @4, conn_flags @8, weight @12,
/// u_threshold @16, l_threshold @20, activeconns @24, inactconns @28, persistconns @32,
/// stats @40.
pub const DEST_ENTRY_LEN: usize = 40 + STATS_LEN;
/// `sizeof(struct ip_vs_get_dests)`: protocol @0, addr @4, port @8, fwmark @12,
/// num_dests @16, entries from @24.
pub const GET_DESTS_LEN: usize = 24;
/// Two `ip_vs_daemon_user`: master and backup.
pub const GET_DAEMON_LEN: usize = 2 * DAEMON_ARG_LEN;
/// The buffer `IP_VS_SO_GET_VERSION` needs.
pub const GET_VERSION_LEN: usize = 64;

/// The kernel's `get_arglen[]`: the least length each GET command must pass (and the
/// number of bytes it reads from the caller).
pub fn get_arglen(cmd: i32) -> usize {
    match cmd {
        GET_VERSION => GET_VERSION_LEN,
        GET_INFO => GETINFO_LEN,
        GET_SERVICES => GET_SERVICES_LEN,
        GET_SERVICE => SERVICE_ENTRY_LEN,
        GET_DESTS => GET_DESTS_LEN,
        GET_TIMEOUT => TIMEOUT_ARG_LEN,
        GET_DAEMON => GET_DAEMON_LEN,
        _ => 0,
    }
}

/// A little-endian u16 at `off` (0 when out of range).
pub fn u16_at(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

/// A little-endian u32 at `off` (0 when out of range).
pub fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// A big-endian (network order) u16 at `off`.
pub fn be16_at(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]))
}

/// A big-endian (network order) u32 at `off`.
pub fn be32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// A NUL-terminated string in the `len` bytes at `off` (lossy UTF-8).
pub fn cstr_at(b: &[u8], off: usize, len: usize) -> String {
    let s = b.get(off..(off + len).min(b.len())).unwrap_or(&[]);
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

/// Writes fields into a zeroed buffer at fixed offsets.
pub struct Writer<'a>(pub &'a mut [u8]);

impl Writer<'_> {
    fn put(&mut self, off: usize, v: &[u8]) {
        if let Some(d) = self.0.get_mut(off..off + v.len()) {
            d.copy_from_slice(v);
        }
    }

    /// Host-order u16.
    pub fn u16(&mut self, off: usize, v: u16) {
        self.put(off, &v.to_le_bytes());
    }

    /// Host-order u32.
    pub fn u32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_le_bytes());
    }

    /// Host-order u64.
    pub fn u64(&mut self, off: usize, v: u64) {
        self.put(off, &v.to_le_bytes());
    }

    /// Network-order u16.
    pub fn be16(&mut self, off: usize, v: u16) {
        self.put(off, &v.to_be_bytes());
    }

    /// Network-order u32.
    pub fn be32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_be_bytes());
    }

    /// A string into a `len`-byte char array, always NUL-terminated (`strlcpy`).
    pub fn cstr(&mut self, off: usize, len: usize, s: &str) {
        let n = s.len().min(len.saturating_sub(1));
        self.put(off, &s.as_bytes()[..n]);
        self.put(off + n, &[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_numbers_match_the_uapi_header() {
        assert_eq!(BASE_CTL, 1152);
        assert_eq!((SET_ADD, SET_ADDDEST, SET_ZERO), (1154, 1159, 1167));
        assert_eq!((GET_INFO, GET_SERVICES, GET_DAEMON), (1153, 1154, 1159));
        assert!(is_ipvs_opt(0, 1153) && is_ipvs_opt(0, 1167));
        assert!(!is_ipvs_opt(0, 1168) && !is_ipvs_opt(1, 1153) && !is_ipvs_opt(0, 1151));
    }

    #[test]
    fn struct_sizes_follow_x86_64_alignment() {
        // ip_vs_service_entry: 48 bytes of fields, then the 8-aligned stats (56 bytes).
        assert_eq!(SERVICE_ENTRY_LEN, 104);
        assert_eq!(DEST_ENTRY_LEN, 96);
        assert_eq!(set_arglen(SET_ADDDEST), 68);
        assert_eq!(get_arglen(GET_SERVICE), 104);
    }

    #[test]
    fn readers_and_writer_round_trip() {
        let mut b = [0u8; 32];
        let mut w = Writer(&mut b);
        w.u16(0, 6);
        w.be32(4, 0xC0A8_0A64);
        w.be16(8, 80);
        w.cstr(16, 16, "wlc");
        assert_eq!(u16_at(&b, 0), 6);
        assert_eq!(b[4..8], [192, 168, 10, 100]);
        assert_eq!(be32_at(&b, 4), 0xC0A8_0A64);
        assert_eq!(be16_at(&b, 8), 80);
        assert_eq!(cstr_at(&b, 16, 16), "wlc");
        assert_eq!(u32_at(&b, 30), 0, "out of range reads as 0");
    }
}
