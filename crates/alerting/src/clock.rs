//! Wall-clock time derived from tokio's clock, so that the dispatcher's
//! timers and the timestamps it records move together; with
//! `tokio::time::pause` a test advances both at once.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::alert::add_dur;

/// Maps tokio instants to UTC instants from a fixed origin.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin_wall: DateTime<Utc>,
    origin: Instant,
}

impl Clock {
    /// A clock reading the system time now.
    pub fn system() -> Clock {
        Clock::starting_at(Utc::now())
    }

    /// A clock that reads `wall` at the current tokio instant (tests pick a
    /// fixed wall time; a paused tokio clock then drives it).
    pub fn starting_at(wall: DateTime<Utc>) -> Clock {
        Clock {
            origin_wall: wall,
            origin: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.at(Instant::now())
    }

    /// The wall time of a tokio instant.
    pub fn at(&self, i: Instant) -> DateTime<Utc> {
        add_dur(self.origin_wall, i.saturating_duration_since(self.origin))
    }
}

/// Unix milliseconds, the form persisted records use.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_ms`]; out-of-range values clamp to the epoch.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
