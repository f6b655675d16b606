//! A minimal iCalendar (RFC 5545) writer for invitations: one VEVENT per
//! seminar or panel slot, times in UTC (`…Z`), so every calendar shows them
//! in its own time zone: Europe/Stockholm for the people invited.

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

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes TEXT values (RFC 5545 3.3.11).
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace('\n', "\\n")
}

/// Folds a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3);
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
    out
}

/// A VCALENDAR with METHOD:PUBLISH holding `events`. `uid` (the mail's
/// outbox id) makes the UIDs unique and stable.
pub fn calendar(uid: &str, events: impl IntoIterator<Item = Event>) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Samhällskontraktet//MOPS//SV".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
    ];
    for e in events {
        lines.push("BEGIN:VEVENT".to_owned());
        lines.push(format!("UID:{}-{}@mops.samhallskontraktet", e.uid_suffix, uid));
        lines.push(format!("DTSTAMP:{}", stamp(e.starts_at)));
        lines.push(format!("DTSTART:{}", stamp(e.starts_at)));
        lines.push(format!("DTEND:{}", stamp(e.ends_at)));
        lines.push(format!("SUMMARY:{}", escape(&e.summary)));
        if let Some(location) = &e.location {
            lines.push(format!("LOCATION:{}", escape(location)));
        }
        lines.push("END:VEVENT".to_owned());
    }
    lines.push("END:VCALENDAR".to_owned());
    lines.iter().map(|l| fold(l)).collect::<Vec<_>>().join("\r\n") + "\r\n"
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
    fn escapes_text() {
        assert_eq!(escape("a, b; c\\d\ne"), "a\\, b\\; c\\\\d\\ne");
    }
}
