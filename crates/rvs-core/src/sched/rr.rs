//! The `rr` scheduler (kernel `ip_vs_rr.c`).
//!
//! The state is a cursor on the dest that was chosen last (or on the list head). A pick
//! walks forward from the cursor, wrapping over the head once, and takes the first dest
//! that is not OVERLOAD and has a positive weight; the dest under the cursor is checked
//! last. Newly added dests (inserted at the head) are therefore reached when the walk
//! wraps. When the dest under the cursor is deleted the cursor steps back to the dest
//! before it (or to the head), as the kernel's `del_dest` hook does.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `rr` scheduler.
#[derive(Debug, Default)]
pub struct Rr {
    /// List position of the dest chosen last; `None` = the list head.
    cursor: Option<usize>,
}

impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn init(&mut self, _view: SchedView<'_>) {
        self.cursor = None;
    }

    fn add_dest(&mut self, _view: SchedView<'_>, pos: usize) {
        // The new dest sits at `pos`; everything from there on moved one place down,
        // and the cursor must keep pointing at the same dest.
        if let Some(c) = self.cursor
            && c >= pos
        {
            self.cursor = Some(c + 1);
        }
    }

    fn del_dest(&mut self, _view: SchedView<'_>, pos: usize, _removed: DestId) {
        self.cursor = match self.cursor {
            // Cursor on the removed dest: move to its predecessor (the head if none).
            Some(c) if c == pos => c.checked_sub(1),
            Some(c) if c > pos => Some(c - 1),
            other => other,
        };
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        _req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        let n = view.len();
        // A cursor beyond the list cannot happen with the fixups above; treat it as head.
        let start = self.cursor.filter(|&c| c < n);
        // From the head: one pass over the list. From a dest: the dests after it, then
        // (second pass) the dests from the first up to and including it.
        let first = start.map_or(0, |c| c + 1);
        for k in 0..n {
            let i = (first + k) % n;
            let (id, d) = view.at(i);
            if d.is_eligible() {
                self.cursor = Some(i);
                return Some(id);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::command::ServiceConfig;
    use crate::sched::testutil::Fixture;

    fn some(v: &[u8]) -> Vec<Option<u8>> {
        v.iter().map(|&x| Some(x)).collect()
    }

    #[test]
    fn cycles_in_list_order_newest_first() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.add(3, 1);
        // List order: 3, 2, 1.
        assert_eq!(f.picks(7), some(&[3, 2, 1, 3, 2, 1, 3]));
    }

    #[test]
    fn weights_are_ignored_except_zero() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 100);
        f.add(2, 0);
        f.add(3, 1);
        assert_eq!(f.picks(4), some(&[3, 1, 3, 1]));
    }

    #[test]
    fn empty_all_zero_and_all_overloaded_give_none() {
        let mut f = Fixture::new("rr", 0);
        assert_eq!(f.pick(), None);
        f.add(1, 0);
        f.add(2, 0);
        assert_eq!(f.pick(), None);
        f.edit(1, 1);
        f.edit(2, 1);
        f.dest_mut(1).overload = true;
        f.dest_mut(2).overload = true;
        assert_eq!(f.pick(), None);
        f.dest_mut(1).overload = false;
        assert_eq!(f.picks(2), some(&[1, 1]));
    }

    #[test]
    fn overloaded_dest_skipped_then_back() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.add(3, 1);
        assert_eq!(f.pick(), Some(3));
        f.dest_mut(2).overload = true;
        assert_eq!(f.picks(3), some(&[1, 3, 1]));
        f.dest_mut(2).overload = false;
        // Cursor on 1 (the tail): wrap to 3, then 2 is back.
        assert_eq!(f.picks(3), some(&[3, 2, 1]));
    }

    #[test]
    fn only_the_last_chosen_is_eligible_it_is_chosen_again() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.add(3, 1);
        assert_eq!(f.picks(2), some(&[3, 2]));
        f.dest_mut(1).overload = true;
        f.dest_mut(3).overload = true;
        assert_eq!(f.picks(2), some(&[2, 2]));
    }

    #[test]
    fn new_dest_at_head_is_reached_when_the_walk_wraps() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        // List 2, 1.
        assert_eq!(f.pick(), Some(2));
        f.add(3, 1);
        // List 3, 2, 1; cursor still on 2.
        assert_eq!(f.picks(4), some(&[1, 3, 2, 1]));
    }

    #[test]
    fn add_while_cursor_at_head_starts_with_new_dest() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.add(3, 1);
        assert_eq!(f.picks(3), some(&[3, 2, 1]));
        f.add(4, 1);
        // Cursor on 1 (the tail): the walk wraps to the new head first.
        assert_eq!(f.picks(4), some(&[4, 3, 2, 1]));
    }

    #[test]
    fn deleting_the_cursor_dest_moves_cursor_to_previous() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.add(3, 1);
        f.add(4, 1);
        // List 4, 3, 2, 1.
        assert_eq!(f.picks(3), some(&[4, 3, 2]));
        f.del(2);
        // Cursor moved back to 3: next is the dest after 3, i.e. 1.
        assert_eq!(f.picks(3), some(&[1, 4, 3]));
    }

    #[test]
    fn deleting_the_head_cursor_dest_moves_cursor_to_head() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.add(3, 1);
        assert_eq!(f.pick(), Some(3));
        f.del(3);
        assert_eq!(f.picks(3), some(&[2, 1, 2]));
    }

    #[test]
    fn deleting_other_dests_keeps_the_cursor_on_its_dest() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.add(3, 1);
        f.add(4, 1);
        // List 4, 3, 2, 1.
        assert_eq!(f.picks(2), some(&[4, 3]));
        f.del(4); // before the cursor
        assert_eq!(f.pick(), Some(2));
        f.del(1); // after the cursor
        assert_eq!(f.picks(3), some(&[3, 2, 3]));
        f.del(3);
        f.del(2);
        assert_eq!(f.pick(), None);
        f.add(5, 1);
        assert_eq!(f.picks(2), some(&[5, 5]));
    }

    #[test]
    fn edit_to_weight_zero_quiesces_and_keeps_position() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.add(3, 1);
        assert_eq!(f.picks(2), some(&[3, 2]));
        f.edit(1, 0);
        assert_eq!(f.picks(3), some(&[3, 2, 3]));
        f.edit(1, 5);
        assert_eq!(f.picks(2), some(&[2, 1]));
    }

    #[test]
    fn switching_to_rr_with_edit_service_starts_at_head() {
        let mut f = Fixture::new("wlc", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.add(3, 1);
        let mut cfg = ServiceConfig::new(f.key);
        cfg.scheduler = "rr".into();
        f.table.edit_service(&cfg, &f.settings).unwrap();
        assert_eq!(f.picks(4), some(&[3, 2, 1, 3]));
        // Same scheduler again: state kept.
        f.table.edit_service(&cfg, &f.settings).unwrap();
        assert_eq!(f.pick(), Some(2));
    }

    /// One step of a random run: add, delete, edit, toggle OVERLOAD on a dest, or pick.
    #[derive(Clone, Debug)]
    enum Op {
        Add(u8, i32),
        Del(u8),
        Edit(u8, i32),
        Overload(u8),
        Pick,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u8..7, 0i32..3).prop_map(|(n, w)| Op::Add(n, w)),
            (1u8..7).prop_map(Op::Del),
            (1u8..7, 0i32..3).prop_map(|(n, w)| Op::Edit(n, w)),
            (1u8..7).prop_map(Op::Overload),
            Just(Op::Pick),
            Just(Op::Pick),
        ]
    }

    proptest! {
        /// Under any sequence of list changes rr only returns eligible dests, returns
        /// Some whenever one is eligible, and with a stable list of n eligible dests
        /// every n consecutive picks visit each exactly once.
        #[test]
        fn eligible_only_and_fair(ops in proptest::collection::vec(op(), 0..40)) {
            let mut f = Fixture::new("rr", 0);
            let mut live: Vec<u8> = Vec::new();
            for op in ops {
                match op {
                    Op::Add(n, w) if !live.contains(&n) => {
                        f.add(n, w);
                        live.push(n);
                    }
                    Op::Del(n) if live.contains(&n) => {
                        f.del(n);
                        live.retain(|&x| x != n);
                    }
                    Op::Edit(n, w) if live.contains(&n) => f.edit(n, w),
                    Op::Overload(n) if live.contains(&n) => {
                        let d = f.dest_mut(n);
                        d.overload = !d.overload;
                    }
                    _ => {
                        let eligible: Vec<u8> = live
                            .iter()
                            .copied()
                            .filter(|&n| f.dest_mut(n).is_eligible())
                            .collect();
                        match f.pick() {
                            Some(p) => prop_assert!(eligible.contains(&p)),
                            None => prop_assert!(eligible.is_empty()),
                        }
                    }
                }
            }
            let eligible: Vec<u8> = live
                .iter()
                .copied()
                .filter(|&n| f.dest_mut(n).is_eligible())
                .collect();
            let mut got: Vec<u8> = f.picks(eligible.len()).into_iter().flatten().collect();
            got.sort_unstable();
            let mut want = eligible;
            want.sort_unstable();
            prop_assert_eq!(got, want);
        }
    }
}
