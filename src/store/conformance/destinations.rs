//! [`DestinationStore`](crate::store::DestinationStore): the kill switch's states and drop
//! counts.

use super::{Make, keyed};
use crate::store::DestinationState;

pub(crate) fn destination_state_and_drop_counts(make: Make) {
    let b = make();
    let s = keyed(&*b);
    assert!(s.destination_statuses().unwrap().is_empty());
    s.set_destination_state("mp", DestinationState::Suspended, 10).unwrap();
    s.add_dropped("mp", 3).unwrap();
    s.set_destination_state("mp", DestinationState::Dropping, 20).unwrap();
    s.add_dropped("mp", 2).unwrap();
    let st = &s.destination_statuses().unwrap()[0];
    assert_eq!(
        (st.state, st.dropped, st.updated_at_ms),
        (DestinationState::Dropping, 5, 20)
    );
    // Back to active: the count of what was dropped stays.
    s.set_destination_state("mp", DestinationState::Active, 30).unwrap();
    let st = &s.destination_statuses().unwrap()[0];
    assert_eq!(
        (st.state, st.dropped, st.updated_at_ms),
        (DestinationState::Active, 5, 30)
    );
}

/// A drop counted for a destination whose state was never set records it as dropping;
/// statuses come back by name.
pub(crate) fn dropping_a_destination_never_seen_creates_it(make: Make) {
    let b = make();
    let s = keyed(&*b);
    s.add_dropped("zeta", 4).unwrap();
    s.set_destination_state("alpha", DestinationState::Suspended, 1)
        .unwrap();
    let st = s.destination_statuses().unwrap();
    let seen: Vec<(&str, DestinationState, u64)> = st.iter().map(|s| (s.name.as_str(), s.state, s.dropped)).collect();
    assert_eq!(
        seen,
        [
            ("alpha", DestinationState::Suspended, 0),
            ("zeta", DestinationState::Dropping, 4)
        ]
    );
    // Seen by another open of the same store (the CLI beside `serve`).
    let other = b.open(None, None).unwrap();
    assert_eq!(other.destination_statuses().unwrap(), st);
}
