//! Instants are stored in UTC and shown in Europe/Stockholm time, the time
//! every deadline of the organisation is announced in.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;

/// `2010-08-31 23:59`, in Stockholm's local time (CET or CEST).
pub fn stockholm(instant: DateTime<Utc>) -> String {
    instant.with_timezone(&Stockholm).format("%Y-%m-%d %H:%M").to_string()
}

/// The instant of a Stockholm wall-clock time. For a time that does not exist
/// (the spring-forward hour) or exists twice (autumn), the earlier instant.
pub fn from_stockholm(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    Stockholm.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn shows_summer_and_winter_time() {
        let summer = NaiveDate::from_ymd_opt(2010, 8, 31).unwrap().and_hms_opt(23, 59, 0).unwrap();
        let instant = from_stockholm(summer).unwrap();
        assert_eq!(instant.to_rfc3339(), "2010-08-31T21:59:00+00:00");
        assert_eq!(stockholm(instant), "2010-08-31 23:59");
        let winter = NaiveDate::from_ymd_opt(2010, 2, 19).unwrap().and_hms_opt(9, 0, 0).unwrap();
        assert_eq!(from_stockholm(winter).unwrap().to_rfc3339(), "2010-02-19T08:00:00+00:00");
    }
}
