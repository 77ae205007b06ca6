//! rvs's firewall-mark classifier.
//!
//! IPVS fwmark services match packets that netfilter marked earlier (`iptables -t mangle
//! ... -j MARK`). rvs's data plane runs in XDP, before netfilter, so marks come from rvs's
//! own rules instead: `MARK PROTO DST[/PLEN] [PORTS]`, first match in insertion order.
//! The text form is what `--add-fwmark-rule` takes and what `-S` prints, e.g.
//! `10 tcp 198.18.0.100 80,443,8000-8080`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::addr::Protocol;

/// One classifier rule: traffic to `addr/plen` with a matching protocol and destination
/// port gets `mark`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FwmarkRule {
    /// The mark given (1..=u32::MAX).
    pub mark: u32,
    /// Protocol to match; `None` = any of TCP, UDP, SCTP.
    pub proto: Option<Protocol>,
    /// Destination network address.
    pub addr: IpAddr,
    /// Destination prefix length (32/128 = one address).
    pub plen: u8,
    /// Inclusive destination port ranges; empty = every port.
    pub ports: Vec<(u16, u16)>,
}

impl FwmarkRule {
    /// Whether a packet to `daddr:dport` over `proto` matches this rule.
    pub fn matches(&self, proto: Protocol, daddr: &IpAddr, dport: u16) -> bool {
        if self.proto.is_some_and(|p| p != proto) {
            return false;
        }
        let in_net = match (self.addr, daddr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = if self.plen == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.plen.min(32)))
                };
                u32::from(n) & m == u32::from(*a) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = if self.plen == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.plen.min(128)))
                };
                u128::from(n) & m == u128::from(*a) & m
            }
            _ => false,
        };
        in_net
            && (self.ports.is_empty()
                || self
                    .ports
                    .iter()
                    .any(|&(lo, hi)| (lo..=hi).contains(&dport)))
    }
}

/// Why a fwmark rule text was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FwmarkRuleError {
    /// Wrong number of words.
    #[error("fwmark rule needs MARK PROTO DST[/PLEN] [PORTS]")]
    Arity,
    /// Mark not in 1..=4294967295.
    #[error("invalid fwmark value `{0}' specified")]
    Mark(String),
    /// Protocol not tcp, udp, sctp or any.
    #[error("invalid protocol `{0}' in fwmark rule")]
    Proto(String),
    /// Bad address or prefix.
    #[error("invalid destination `{0}' in fwmark rule")]
    Dst(String),
    /// Bad port list.
    #[error("invalid port list `{0}' in fwmark rule")]
    Ports(String),
}

impl FwmarkRule {
    /// Parse the rule from its words (`["10", "tcp", "198.18.0.100", "80,443"]`).
    pub fn from_words(words: &[&str]) -> Result<Self, FwmarkRuleError> {
        if !(3..=4).contains(&words.len()) {
            return Err(FwmarkRuleError::Arity);
        }
        let mark = words[0]
            .parse::<u32>()
            .ok()
            .filter(|&m| m != 0)
            .ok_or_else(|| FwmarkRuleError::Mark(words[0].to_string()))?;
        let proto = match words[1] {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "sctp" => Some(Protocol::Sctp),
            "any" => None,
            p => return Err(FwmarkRuleError::Proto(p.to_string())),
        };
        let dst_err = || FwmarkRuleError::Dst(words[2].to_string());
        let (a, p) = match words[2].split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (words[2], None),
        };
        let addr: IpAddr = a.parse().map_err(|_| dst_err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let plen = match p {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(dst_err)?,
            None => max,
        };
        let mut ports = Vec::new();
        if let Some(list) = words.get(3) {
            let perr = || FwmarkRuleError::Ports(list.to_string());
            for part in list.split(',') {
                let (lo, hi) = match part.split_once('-') {
                    Some((lo, hi)) => (lo, hi),
                    None => (part, part),
                };
                let lo = lo.parse::<u16>().map_err(|_| perr())?;
                let hi = hi.parse::<u16>().map_err(|_| perr())?;
                if lo > hi {
                    return Err(perr());
                }
                ports.push((lo, hi));
            }
        }
        Ok(FwmarkRule {
            mark,
            proto,
            addr,
            plen,
            ports,
        })
    }
}

impl FromStr for FwmarkRule {
    type Err = FwmarkRuleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = s.split_whitespace().collect();
        FwmarkRule::from_words(&words)
    }
}

impl fmt::Display for FwmarkRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = self.proto.map_or("any", Protocol::lower_name);
        write!(f, "{} {proto} {}", self.mark, self.addr)?;
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.plen != max {
            write!(f, "/{}", self.plen)?;
        }
        for (i, (lo, hi)) in self.ports.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { "," })?;
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// The ordered rule list; the first matching rule gives the mark.
#[derive(Clone, Debug, Default)]
pub struct Classifier {
    rules: Vec<FwmarkRule>,
}

impl Classifier {
    /// The mark for a packet, 0 when no rule matches.
    pub fn classify(&self, proto: Protocol, daddr: &IpAddr, dport: u16) -> u32 {
        self.rules
            .iter()
            .find(|r| r.matches(proto, daddr, dport))
            .map_or(0, |r| r.mark)
    }

    /// Append a rule; `false` if an identical rule exists.
    pub fn add(&mut self, rule: FwmarkRule) -> bool {
        if self.rules.contains(&rule) {
            return false;
        }
        self.rules.push(rule);
        true
    }

    /// Remove an identical rule; `false` if there was none.
    pub fn remove(&mut self, rule: &FwmarkRule) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r != rule);
        self.rules.len() != before
    }

    /// Remove every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// Rules in match order.
    pub fn rules(&self) -> &[FwmarkRule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_print_match() {
        let r: FwmarkRule = "10 tcp 198.18.0.100 80,443,8000-8080".parse().unwrap();
        assert_eq!(r.to_string(), "10 tcp 198.18.0.100 80,443,8000-8080");
        let vip: IpAddr = "198.18.0.100".parse().unwrap();
        assert!(r.matches(Protocol::Tcp, &vip, 443));
        assert!(r.matches(Protocol::Tcp, &vip, 8080));
        assert!(!r.matches(Protocol::Udp, &vip, 443));
        assert!(!r.matches(Protocol::Tcp, &vip, 8081));
        let n: FwmarkRule = "7 any 198.18.0.0/24".parse().unwrap();
        assert_eq!(n.to_string(), "7 any 198.18.0.0/24");
        assert!(n.matches(Protocol::Sctp, &vip, 1));
        let v6: FwmarkRule = "3 udp fd00::/64 53".parse().unwrap();
        assert!(v6.matches(Protocol::Udp, &"fd00::5".parse().unwrap(), 53));
        assert!(!v6.matches(Protocol::Udp, &vip, 53));
    }

    #[test]
    fn rejects_bad_rules() {
        assert!("0 tcp 1.2.3.4".parse::<FwmarkRule>().is_err());
        assert!("1 icmp 1.2.3.4".parse::<FwmarkRule>().is_err());
        assert!("1 tcp 1.2.3.4/33".parse::<FwmarkRule>().is_err());
        assert!("1 tcp 1.2.3.4 90-80".parse::<FwmarkRule>().is_err());
        assert!("1 tcp".parse::<FwmarkRule>().is_err());
    }
}
