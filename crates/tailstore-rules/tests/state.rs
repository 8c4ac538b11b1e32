//! The state machine against the oracle: random sequences of evaluations,
//! and the edge cases of `for`, reset and `keep_firing_for` by hand.

use proptest::prelude::*;
use tailstore_rules::{AlertState, Evaluator, NoData, Transition, Truth};

use crate::oracle::{episodes, Ep};

/// The episodes the evaluator produces for the same sequence.
fn run(evals: &[(u64, Truth)], for_s: u64, keep_s: u64, no_data: NoData) -> Vec<Ep> {
    let mut ev = Evaluator::new(for_s, keep_s, no_data);
    let mut out: Vec<Ep> = Vec::new();
    let mut open: Option<Ep> = None;
    for &(t, truth) in evals {
        for e in ev.step(t, truth, Some(1.0)) {
            assert_eq!(e.at, t);
            match e.transition {
                Transition::Pending => {
                    assert!(open.is_none(), "pending twice at {t}");
                    open = Some((t, None, None));
                }
                Transition::Firing => {
                    let o = open.as_mut().expect("firing follows pending");
                    o.1 = Some(t);
                }
                Transition::Resolved | Transition::Reset => {
                    let mut o = open.take().expect("an end follows pending");
                    assert_eq!(o.1.is_some(), e.transition == Transition::Resolved);
                    o.2 = Some(t);
                    out.push(o);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // The readable state agrees with the open episode.
        let want = match open {
            None => AlertState::Inactive,
            Some((_, None, _)) => AlertState::Pending,
            Some((_, Some(_), _)) => AlertState::Firing,
        };
        assert_eq!(ev.state(), want, "at {t}");
    }
    out.extend(open);
    out
}

fn truth() -> impl Strategy<Value = Truth> {
    prop_oneof![4 => Just(Truth::True), 3 => Just(Truth::False), 1 => Just(Truth::NoData)]
}

fn policy() -> impl Strategy<Value = NoData> {
    prop_oneof![Just(NoData::Ok), Just(NoData::Alerting), Just(NoData::KeepState)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Random gaps (evaluations need not be evenly spaced), truths, `for`,
    /// `keep_firing_for` and no-data policies: the evaluator's episodes are
    /// the oracle's.
    #[test]
    fn evaluator_matches_the_oracle(
        steps in prop::collection::vec((1u64..=90, truth()), 0..120),
        for_s in prop_oneof![Just(0u64), 1u64..=400],
        keep_s in prop_oneof![Just(0u64), 1u64..=400],
        no_data in policy(),
    ) {
        let mut t = 1_000;
        let evals: Vec<(u64, Truth)> = steps.iter().map(|&(gap, b)| { t += gap; (t, b) }).collect();
        prop_assert_eq!(run(&evals, for_s, keep_s, no_data), episodes(&evals, for_s, keep_s, no_data));
    }
}

fn seq(bits: &str) -> Vec<(u64, Truth)> {
    bits.chars()
        .enumerate()
        .map(|(i, c)| {
            let t = match c {
                '1' => Truth::True,
                '0' => Truth::False,
                _ => Truth::NoData,
            };
            (60 * i as u64, t)
        })
        .collect()
}

#[test]
fn for_zero_fires_at_once_and_for_is_inclusive() {
    assert_eq!(run(&seq("0110"), 0, 0, NoData::Ok), [(60, Some(60), Some(180))]);
    // for = 2m: pending at 60, true at 120 and 180: fires at 180 (t - p = for).
    assert_eq!(run(&seq("01110"), 120, 0, NoData::Ok), [(60, Some(180), Some(240))]);
    // One evaluation short: resets at the false one, never fired.
    assert_eq!(run(&seq("0110"), 120, 0, NoData::Ok), [(60, None, Some(180))]);
    // Still pending at the end: no end.
    assert_eq!(run(&seq("011"), 120, 0, NoData::Ok), [(60, None, None)]);
}

#[test]
fn keep_firing_for_rides_out_short_gaps() {
    // Fires at 60 (for 0); false at 120 and 180 (2 min < 3 min): stays
    // firing; true at 240 starts over; false 300..: resolved at 480.
    assert_eq!(run(&seq("01001000000"), 0, 180, NoData::Ok), [(60, Some(60), Some(480))]);
    // keep_firing_for 0: each gap resolves.
    assert_eq!(
        run(&seq("01001000000"), 0, 0, NoData::Ok),
        [(60, Some(60), Some(120)), (240, Some(240), Some(300))]
    );
}

#[test]
fn no_data_policies() {
    // ok: no data resets a pending alert; alerting: it counts as true;
    // keep_state: it is skipped (the run of trues goes on past it).
    assert_eq!(run(&seq("11n11"), 180, 0, NoData::Ok), [(0, None, Some(120)), (180, None, None)]);
    assert_eq!(run(&seq("11n11"), 180, 0, NoData::Alerting), [(0, Some(180), None)]);
    assert_eq!(run(&seq("11n11"), 180, 0, NoData::KeepState), [(0, Some(180), None)]);
    assert_eq!(run(&seq("1nnn0"), 0, 0, NoData::KeepState), [(0, Some(0), Some(240))]);
}
