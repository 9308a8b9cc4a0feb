//! How the built-in stores keep times, for stores of your own: milliseconds
//! since the epoch, and a counter's failure times as text.

use std::time::SystemTime;

pub use crate::clock::{from_millis, to_millis};

use super::error::StoreError;

/// Failure times as SQL stores keep them: milliseconds, comma-separated.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use axes::store::codec::{decode_times, encode_times};
/// let times = [SystemTime::UNIX_EPOCH + Duration::from_millis(5), SystemTime::UNIX_EPOCH + Duration::from_millis(7)];
/// assert_eq!(encode_times(&times), "5,7");
/// assert_eq!(decode_times("5,7").unwrap(), times);
/// ```
pub fn encode_times(times: &[SystemTime]) -> String {
    let mut text = String::with_capacity(times.len() * 14);
    for (i, time) in times.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&to_millis(*time).to_string());
    }
    text
}

/// The inverse of [`encode_times`].
pub fn decode_times(text: &str) -> Result<Vec<SystemTime>, StoreError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|part| {
            part.parse::<i64>()
                .map(from_millis)
                .map_err(|_| StoreError::InvalidData(format!("`{part}` is not a failure time")))
        })
        .collect()
}
