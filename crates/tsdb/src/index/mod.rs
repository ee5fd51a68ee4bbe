//! Postings lists and matcher evaluation, shared by the head and by blocks.
//!
//! A postings list is the sorted list of series references that carry one label pair.
//! A selector is answered by intersecting the lists its matchers select and subtracting
//! the lists of matchers that also select series lacking the label, the way Prometheus
//! defines matcher semantics (a missing label equals the empty string).

pub mod postings;

pub use postings::{intersect, postings_for_matchers, subtract, union_sorted, PostingsSource};
