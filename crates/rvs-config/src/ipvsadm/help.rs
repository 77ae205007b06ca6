//! `ipvsadm -h`: the usage text of ipvsadm 1.31 as Debian builds it, captured from
//! `/usr/sbin/ipvsadm -h` (run under rvs-ipvsemu, which proves it byte for byte). Only the
//! program name in the `Usage:` lines depends on argv\[0\]; the scheduler and persistence
//! engine lists are the ones compiled into that binary.

/// The first line of `-h` (and the whole of `-v`).
pub const VERSION_LINE: &str = "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)";

/// The `Usage:` lines, each printed as `  <argv0> <line>`.
const USAGE: [&str; 13] = [
    "-A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]",
    "-D virtual-service",
    "-C",
    "-R",
    "-S [-n]",
    "-a|e virtual-service -r server-address [options]",
    "-d virtual-service -r server-address",
    "-L|l [virtual-service] [options]",
    "-Z [virtual-service]",
    "--set tcp tcpfin udp",
    "--start-daemon {master|backup} [daemon-options]",
    "--stop-daemon {master|backup}",
    "-h",
];

/// Everything after the usage lines (begins with the blank line that ends them).
const REST: &str = concat!(
    "\n",
    "Commands:\n",
    "Either long or short options are allowed.\n",
    "  --add-service     -A        add virtual service with options\n",
    "  --edit-service    -E        edit virtual service with options\n",
    "  --delete-service  -D        delete virtual service\n",
    "  --clear           -C        clear the whole table\n",
    "  --restore         -R        restore rules from stdin\n",
    "  --save            -S        save rules to stdout\n",
    "  --add-server      -a        add real server with options\n",
    "  --edit-server     -e        edit real server with options\n",
    "  --delete-server   -d        delete real server\n",
    "  --list            -L|-l     list the table\n",
    "  --zero            -Z        zero counters in a service or all services\n",
    "  --set tcp tcpfin udp        set connection timeout values\n",
    "  --start-daemon              start connection sync daemon\n",
    "  --stop-daemon               stop connection sync daemon\n",
    "  --help            -h        display this help message\n",
    "\n",
    "virtual-service:\n",
    "  --tcp-service|-t  service-address   service-address is host[:port]\n",
    "  --udp-service|-u  service-address   service-address is host[:port]\n",
    "  --sctp-service    service-address   service-address is host[:port]\n",
    "  --fwmark-service|-f fwmark          fwmark is an integer greater than zero\n",
    "\n",
    "Options:\n",
    "  --ipv6         -6                   fwmark entry uses IPv6\n",
    "  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,\n",
    "                                      the default scheduler is wlc.\n",
    "  --pe            engine              alternate persistence engine may be sip,\n",
    "                                      not set by default.\n",
    "  --persistent   -p [timeout]         persistent service\n",
    "  --netmask      -M netmask           persistent granularity mask\n",
    "  --real-server  -r server-address    server-address is host (and port)\n",
    "  --gatewaying   -g                   gatewaying (direct routing) (default)\n",
    "  --ipip         -i                   ipip encapsulation (tunneling)\n",
    "  --masquerading -m                   masquerading (NAT)\n",
    "  --tun-type      type                one of ipip|gue|gre,\n",
    "                                      the default tunnel type is ipip.\n",
    "  --tun-port      port                tunnel destination port\n",
    "  --tun-nocsum                        tunnel encapsulation without checksum\n",
    "  --tun-csum                          tunnel encapsulation with checksum\n",
    "  --tun-remcsum                       tunnel encapsulation with remote checksum\n",
    "  --weight       -w weight            capacity of real server\n",
    "  --u-threshold  -x uthreshold        upper threshold of connections\n",
    "  --l-threshold  -y lthreshold        lower threshold of connections\n",
    "  --connection   -c                   output of current IPVS connections\n",
    "  --timeout                           output of timeout (tcp tcpfin udp)\n",
    "  --daemon                            output of daemon information\n",
    "  --stats                             output of statistics information\n",
    "  --rate                              output of rate information\n",
    "  --exact                             expand numbers (display exact values)\n",
    "  --thresholds                        output of thresholds information\n",
    "  --persistent-conn                   output of persistent connection info\n",
    "  --tun-info                          output of tunnel information\n",
    "  --nosort                            disable sorting output of service/server entries\n",
    "  --sort                              does nothing, for backwards compatibility\n",
    "  --ops          -o                   one-packet scheduling\n",
    "  --numeric      -n                   numeric output of addresses and ports\n",
    "  --sched-flags  -b flags             scheduler flags (comma-separated)\n",
    "Daemon Options:\n",
    "  --syncid sid                        syncid for connection sync (default=255)\n",
    "  --sync-maxlen length                Max sync message length (default=1472)\n",
    "  --mcast-interface interface         multicast interface for connection sync\n",
    "  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)\n",
    "  --mcast-port port                   UDP port (default=8848)\n",
    "  --mcast-ttl ttl                     Multicast TTL (default=1)\n",
);

/// ipvsadm's full `-h`/`--help` text (stdout, exit 0) for a program invoked as `argv0`.
pub fn help_text(argv0: &str) -> String {
    let mut s = String::with_capacity(4800);
    s.push_str(VERSION_LINE);
    s.push_str("\nUsage:\n");
    for line in USAGE {
        s.push_str("  ");
        s.push_str(argv0);
        s.push(' ');
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(REST);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_name_appears_in_every_usage_line_only() {
        let t = help_text("/sbin/ipvsadm");
        assert!(t.starts_with(
            "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\nUsage:\n"
        ));
        assert_eq!(t.matches("/sbin/ipvsadm ").count(), USAGE.len());
        assert!(t.contains("  /sbin/ipvsadm -h\n\nCommands:\n"));
        assert!(t.ends_with("  --mcast-ttl ttl                     Multicast TTL (default=1)\n"));
        assert_eq!(help_text("ipvsadm").len(), 4645);
    }
}
