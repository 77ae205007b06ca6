//! XDP attach modes.

use std::fmt;
use std::str::FromStr;

/// How an XDP program is attached to an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum XdpMode {
    /// Native (driver) mode if the driver supports it, else generic.
    #[default]
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode, which every interface supports.
    Generic,
}

impl XdpMode {
    /// The modes to try, in order.
    pub(crate) fn candidates(self) -> &'static [XdpMode] {
        match self {
            XdpMode::Auto => &[XdpMode::Native, XdpMode::Generic],
            XdpMode::Native => &[XdpMode::Native],
            XdpMode::Generic => &[XdpMode::Generic],
        }
    }

    /// aya's attach mode.
    pub(crate) fn aya(self) -> aya::programs::XdpMode {
        match self {
            XdpMode::Auto => aya::programs::XdpMode::Default,
            XdpMode::Native => aya::programs::XdpMode::Driver,
            XdpMode::Generic => aya::programs::XdpMode::Skb,
        }
    }

    /// The kernel's XDP_FLAGS_* for this mode.
    pub(crate) fn flags(self) -> u32 {
        match self {
            XdpMode::Auto => 0,
            XdpMode::Native => crate::sys::XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => crate::sys::XDP_FLAGS_SKB_MODE,
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Auto => "auto",
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        })
    }
}

/// An XDP mode that is not `auto`, `native` or `generic`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid XDP mode `{0}' (expected auto, native or generic)")]
pub struct BadXdpMode(pub String);

impl FromStr for XdpMode {
    type Err = BadXdpMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(XdpMode::Auto),
            "native" | "drv" | "driver" => Ok(XdpMode::Native),
            "generic" | "skb" => Ok(XdpMode::Generic),
            _ => Err(BadXdpMode(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_round_trip() {
        for m in [XdpMode::Auto, XdpMode::Native, XdpMode::Generic] {
            assert_eq!(m.to_string().parse::<XdpMode>(), Ok(m));
        }
        assert!("fast".parse::<XdpMode>().is_err());
    }
}
