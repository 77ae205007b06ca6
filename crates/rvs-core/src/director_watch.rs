//! Watching the connection table from outside the engine (the XDP fast path): a log of
//! the connections that were created, changed state or were deleted, so a watcher can
//! follow the table by its changes instead of rescanning it, and a generation number that
//! moves with every command, after which it rescans.

use super::Director;
use crate::conn::ConnId;

/// The most changes kept between two [`Director::take_conn_changes`]; more are lost and
/// reported lost (the watcher then rescans the table).
pub const MAX_CONN_CHANGES: usize = 1 << 20;

impl Director {
    /// Start (`true`) or stop logging connection changes. Off by default: then nothing is
    /// logged and nothing costs.
    pub fn watch_conns(&mut self, on: bool) {
        self.conn_watch = on.then(Vec::new);
        self.conn_watch_lost = false;
    }

    /// Move the connections created, changed in state or deleted since the last call into
    /// `out` (cleared first; a connection may appear more than once, a deleted one's
    /// handle no longer resolves). Returns `true` when some changes were lost because the
    /// log was full: the caller must look at the whole table.
    pub fn take_conn_changes(&mut self, out: &mut Vec<ConnId>) -> bool {
        out.clear();
        if let Some(log) = &mut self.conn_watch {
            std::mem::swap(log, out);
            // The log starts small again after a burst (the caller keeps `out`'s memory).
            if log.capacity() > 4096 {
                *log = Vec::new();
            }
        }
        std::mem::take(&mut self.conn_watch_lost)
    }

    /// A number that grows with every command applied (services, dests, timeouts, fwmark
    /// rules): what a connection's forwarding looks like may have changed.
    pub fn config_generation(&self) -> u64 {
        self.config_gen
    }

    /// Log one change of a (non-template) connection.
    #[inline(always)]
    pub(super) fn note_conn(&mut self, id: ConnId) {
        if let Some(log) = &mut self.conn_watch {
            if log.len() < MAX_CONN_CHANGES {
                log.push(id);
            } else {
                self.conn_watch_lost = true;
            }
        }
    }
}
