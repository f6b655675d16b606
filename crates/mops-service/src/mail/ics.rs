//! A minimal iCalendar (RFC 5545) writer for invitations: one VEVENT per
//! seminar or panel slot.
//!
//! Times are written in UTC (`…Z`, RFC 5545 3.3.5 form 2). A UTC time names
//! one instant without a VTIMEZONE, and every calendar shows it in its own
//! zone, which is Europe/Stockholm for the people invited: 13.00 in Stockholm
//! is `110000Z` in summer and `120000Z` in winter. `TZID=Europe/Stockholm`
//! would need a VTIMEZONE with the zone's rules spelled out, which a client
//! may or may not prefer over its own tz database; UTC leaves no room for that.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Event {
    /// Appended to the calendar's uid, so each event has a stable UID and a
    /// re-sent invitation updates rather than duplicates it.
    pub uid_suffix: String,
    pub summary: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location: Option<String>,
}

/// `t` in the basic UTC form, `20100427T110000Z`.
fn stamp(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second())
}

/// Escapes TEXT values (RFC 5545 3.3.11).
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace('\n', "\\n")
}

/// `line` folded as [`push_folded`] writes it, without the final CRLF.
#[cfg(test)]
fn fold(line: &str) -> String {
    let mut out = String::new();
    push_folded(&mut out, line);
    out.truncate(out.len() - 2);
    out
}

/// Writes `line` to `out`, folded at 75 octets (RFC 5545 3.1), never inside
/// a UTF-8 character, and ends it with CRLF.
fn push_folded(out: &mut String, line: &str) {
    if line.len() <= 75 {
        out.push_str(line);
        out.push_str("\r\n");
        return;
    }
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

/// An event with the lines that are the same in every mail written: all but
/// its `UID` (which names the mail) and `DTSTAMP` (when the mail was queued).
/// A call's seminars are prepared once for all its invitations.
#[derive(Debug, Clone)]
pub struct Prepared {
    uid_suffix: String,
    /// `DTSTART` to `END:VEVENT`, folded, each line ending in CRLF.
    rest: String,
}

impl From<Event> for Prepared {
    fn from(e: Event) -> Self {
        let mut rest = String::with_capacity(256);
        push_folded(&mut rest, &format!("DTSTART:{}", stamp(e.starts_at)));
        push_folded(&mut rest, &format!("DTEND:{}", stamp(e.ends_at)));
        push_folded(&mut rest, &format!("SUMMARY:{}", escape(&e.summary)));
        if let Some(location) = &e.location {
            push_folded(&mut rest, &format!("LOCATION:{}", escape(location)));
        }
        push_folded(&mut rest, "END:VEVENT");
        Self { uid_suffix: e.uid_suffix, rest }
    }
}

/// A VCALENDAR with METHOD:PUBLISH holding `events`. `uid` (the mail's
/// outbox id) makes the UIDs unique and stable. `created` is when the mail
/// was queued: the `DTSTAMP` of every event (RFC 5545 3.8.7.2, the time the
/// object was created), so the same mail always yields the same calendar.
pub fn calendar<'a>(uid: &str, created: DateTime<Utc>, events: impl IntoIterator<Item = &'a Prepared>) -> String {
    let mut out = String::with_capacity(1024);
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Samhällskontraktet//MOPS//SV",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        push_folded(&mut out, line);
    }
    let created = stamp(created);
    for e in events {
        push_folded(&mut out, "BEGIN:VEVENT");
        push_folded(&mut out, &format!("UID:{}-{}@mops.samhallskontraktet", e.uid_suffix, uid));
        push_folded(&mut out, &format!("DTSTAMP:{created}"));
        out.push_str(&e.rest);
    }
    push_folded(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_long_lines_at_75_octets() {
        let long = format!("SUMMARY:{}", "å".repeat(60));
        let folded = fold(&long);
        assert!(folded.split("\r\n").all(|l| l.len() <= 75), "{folded}");
        assert_eq!(folded.replace("\r\n ", ""), long);
    }

    #[test]
    fn the_stamp_is_when_the_mail_was_queued_not_when_the_event_starts() {
        let created = DateTime::parse_from_rfc3339("2010-04-21T06:30:15Z").unwrap().to_utc();
        let starts_at = DateTime::parse_from_rfc3339("2010-04-27T11:00:00Z").unwrap().to_utc();
        let event = Event {
            uid_suffix: "seminar-1".into(),
            summary: "Seminarium".into(),
            starts_at,
            ends_at: starts_at + chrono::Duration::hours(2),
            location: None,
        };
        let ics = calendar("row", created, &[Prepared::from(event)]);
        assert!(ics.contains("\r\nDTSTAMP:20100421T063015Z\r\n"), "{ics}");
        assert!(ics.contains("\r\nDTSTART:20100427T110000Z\r\n"), "{ics}");
        assert!(ics.contains("\r\nDTEND:20100427T130000Z\r\n"), "{ics}");
    }

    #[test]
    fn escapes_text() {
        assert_eq!(escape("a, b; c\\d\ne"), "a\\, b\\; c\\\\d\\ne");
    }
}
