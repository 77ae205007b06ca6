//! Name lookups ipvsadm does while parsing: host names (`gethostbyname`) and service names
//! (`getservbyname`, `/etc/services`).
//!
//! Parsing stays free of I/O: the caller hands in a [`Resolver`]. [`Services::builtin`]
//! knows a few dozen common service names (as Debian's netbase spells them) and resolves no
//! host names; [`Services::parse`] reads the text of an `/etc/services` file the caller
//! loaded.

use rvs_core::Protocol;
use std::net::Ipv4Addr;

/// Name lookups used by the ipvsadm parser.
pub trait Resolver {
    /// `gethostbyname(name)` for IPv4: the first address, or `None` when the name does not
    /// resolve. Called only for words that are not numeric addresses.
    fn host_v4(&self, name: &str) -> Option<Ipv4Addr>;

    /// `getservbyname(name, proto)`: the port of a named service for that protocol.
    fn service_port(&self, name: &str, proto: Protocol) -> Option<u16>;
}

/// One `/etc/services` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ServiceEntry {
    name: String,
    aliases: Vec<String>,
    port: u16,
    proto: Protocol,
}

/// A service-name table in `/etc/services` form. Resolves no host names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Services {
    entries: Vec<ServiceEntry>,
}

/// Common entries of Debian's netbase `/etc/services`.
const BUILTIN: &str = "\
ftp-data 20/tcp
ftp 21/tcp
ssh 22/tcp
telnet 23/tcp
smtp 25/tcp mail
domain 53/tcp
domain 53/udp
bootps 67/udp
bootpc 68/udp
tftp 69/udp
http 80/tcp www
kerberos 88/tcp kerberos5 krb5 kerberos-sec
kerberos 88/udp kerberos5 krb5 kerberos-sec
pop3 110/tcp pop-3
sunrpc 111/tcp portmapper
sunrpc 111/udp portmapper
auth 113/tcp authentication tap ident
nntp 119/tcp readnews untp
ntp 123/udp
netbios-ns 137/udp
imap2 143/tcp imap
snmp 161/tcp
snmp 161/udp
bgp 179/tcp
ldap 389/tcp
ldap 389/udp
https 443/tcp
https 443/udp
microsoft-ds 445/tcp
isakmp 500/udp
syslog 514/udp
submission 587/tcp
ldaps 636/tcp
ldaps 636/udp
rsync 873/tcp
imaps 993/tcp
pop3s 995/tcp
openvpn 1194/tcp
openvpn 1194/udp
ms-sql-s 1433/tcp
radius 1812/tcp
radius 1812/udp
radius-acct 1813/tcp radacct
radius-acct 1813/udp radacct
nfs 2049/tcp
nfs 2049/udp
mysql 3306/tcp
svn 3690/tcp subversion
sip 5060/tcp
sip 5060/udp
xmpp-client 5222/tcp jabber-client
mdns 5353/udp
postgresql 5432/tcp postgres
amqp 5672/tcp
amqp 5672/sctp
redis 6379/tcp
http-alt 8080/tcp webcache
git 9418/tcp
webmin 10000/tcp
zabbix-agent 10050/tcp
";

impl Services {
    /// The built-in table of common service names (`http`, `https`, `domain`, `ssh`, ...).
    pub fn builtin() -> Self {
        Services::parse(BUILTIN)
    }

    /// Parse `/etc/services` text: `name port/proto [aliases...] [# comment]`. Lines that
    /// do not fit, and protocols other than tcp/udp/sctp, are skipped like libc does.
    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(pp)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            let proto = match proto {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => continue,
            };
            entries.push(ServiceEntry {
                name: name.to_string(),
                aliases: words.map(str::to_string).collect(),
                port,
                proto,
            });
        }
        Services { entries }
    }

    /// `getservbyport(port, proto)`: the official name of the first matching entry.
    pub fn name_of(&self, port: u16, proto: Protocol) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.port == port && e.proto == proto)
            .map(|e| e.name.as_str())
    }
}

impl Resolver for Services {
    fn host_v4(&self, _name: &str) -> Option<Ipv4Addr> {
        None
    }

    fn service_port(&self, name: &str, proto: Protocol) -> Option<u16> {
        self.entries
            .iter()
            .find(|e| e.proto == proto && (e.name == name || e.aliases.iter().any(|a| a == name)))
            .map(|e| e.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_and_aliases() {
        let s = Services::builtin();
        assert_eq!(s.service_port("http", Protocol::Tcp), Some(80));
        assert_eq!(s.service_port("www", Protocol::Tcp), Some(80));
        assert_eq!(s.service_port("http", Protocol::Udp), None);
        assert_eq!(s.service_port("domain", Protocol::Udp), Some(53));
        assert_eq!(s.service_port("amqp", Protocol::Sctp), Some(5672));
        assert_eq!(s.service_port("nope", Protocol::Tcp), None);
        assert_eq!(s.name_of(443, Protocol::Tcp), Some("https"));
        assert_eq!(s.host_v4("localhost"), None);
    }

    #[test]
    fn parses_services_text() {
        let s = Services::parse("# c\nfoo\t1234/tcp bar # x\nbad 99999/tcp\nx 5/icmp\n");
        assert_eq!(s.service_port("bar", Protocol::Tcp), Some(1234));
        assert_eq!(s.service_port("bad", Protocol::Tcp), None);
        assert_eq!(s.entries.len(), 1);
    }
}
