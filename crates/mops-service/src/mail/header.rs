//! The headers of a mail that need encoding, `Subject` and `To`, written
//! byte for byte as lettre encodes them: a subject's words of printable
//! ASCII as they are, folded before 76 characters, and runs of words holding
//! anything else as RFC 2047 encoded-words (`=?utf-8?b?…?=`, base64), split
//! to fit the line; a recipient's display name as it is, quoted, quoted with
//! escapes, or as encoded-words, whichever can carry it first.
//!
//! Why not call lettre: its `Headers` format the values through `fmt::Write`
//! a few bytes at a time, the base64 through `Display`, and work out each
//! header's raw text too; the mail benchmark found the two headers costing
//! about 11 000 instructions of every mail, a fifth of writing it. The
//! rules below are lettre 0.11's (`HeaderValueEncoder`, `Mailbox::encode`)
//! and email-encoding 0.4's (`EmailWriter`, `FoldingEmailWriter`,
//! `quoted_string::encode`, `rfc2047::encode`); the tests compare the two on
//! fixed and random input (lettre stays the reference).

use base64::Engine as _;

/// The longest line the encoder aims for, without its CRLF.
const MAX_LINE_LEN: usize = 76;
const ENCODED_START: &str = "=?utf-8?b?";
const ENCODED_END: &str = "?=";

/// Appends `name: value` and CRLF to `out`, `value` encoded as lettre
/// encodes a text header's value.
pub fn write_text_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    let mut w = Writer { out, line_len: name.len() + 2, spaces: 0, can_go_to_new_line_now: false };
    // Words (each with the spaces after it) that need encoding wait here
    // until a word that needs none, or the end, comes.
    let mut pending: Option<(usize, usize)> = None;
    let mut at = 0;
    for word in value.split_inclusive(' ') {
        let range = (at, at + word.len());
        at = range.1;
        if word.bytes().all(allowed) {
            if let Some((start, end)) = pending.take() {
                w.encode_words(&value[start..end]);
            }
            w.write_folding(word);
        } else {
            pending = Some(pending.map_or(range, |(start, _)| (start, range.1)));
        }
    }
    if let Some((start, end)) = pending {
        w.encode_words(&value[start..end]);
    }
    w.write_spaces();
    w.out.extend_from_slice(b"\r\n");
}

/// Appends `name: ` and one mailbox (`Anna Björk <anna@example.se>`) and
/// CRLF to `out`, as lettre encodes a mailbox header (`To`): the display
/// name as it is, quoted, quoted with escapes, or as encoded-words, whichever
/// is the first that can carry it (email-encoding's `quoted_string`).
pub fn write_mailbox_header(out: &mut Vec<u8>, name: &str, display_name: Option<&str>, address: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    let mut w = Writer { out, line_len: name.len() + 2, spaces: 0, can_go_to_new_line_now: false };
    if let Some(display_name) = display_name {
        w.display_name(display_name);
        w.spaces += 1;
        w.write("<");
    }
    w.write(address);
    if display_name.is_some() {
        w.write(">");
    }
    w.write_spaces();
    w.out.extend_from_slice(b"\r\n");
}

/// Bytes a header may carry as they are (lettre's `allowed_char`).
fn allowed(b: u8) -> bool {
    matches!(b, 1..=9 | 11 | 12 | 14..=127)
}

/// email-encoding's `EmailWriter`: the output, the length of its last line,
/// and spaces held back until something follows them (they may become the
/// fold).
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    line_len: usize,
    spaces: usize,
    can_go_to_new_line_now: bool,
}

impl Writer<'_> {
    fn new_line(&mut self) {
        self.out.extend_from_slice(b"\r\n");
        self.line_len = 0;
        self.can_go_to_new_line_now = false;
    }

    fn write_spaces(&mut self) {
        self.out.resize(self.out.len() + self.spaces, b' ');
        self.line_len += self.spaces;
        self.spaces = 0;
    }

    /// `EmailWriter::write_str`: the held spaces, then `s` but its trailing
    /// spaces, which are held.
    fn write(&mut self, s: &str) {
        self.write_spaces();
        let kept = s.trim_end_matches(' ');
        self.spaces += s.len() - kept.len();
        if !kept.is_empty() {
            self.out.extend_from_slice(kept.as_bytes());
            self.line_len += kept.len();
            self.can_go_to_new_line_now = true;
        }
    }

    /// `FoldingEmailWriter::write_str`: a new line before a word that would
    /// not fit, where a held space can become the fold.
    fn write_folding(&mut self, mut s: &str) {
        while !s.is_empty() {
            if let Some(rest) = s.strip_prefix(' ') {
                self.spaces += 1;
                s = rest;
                continue;
            }
            let (start, end) = s.find(' ').map_or((s, ""), |i| s.split_at(i));
            if self.can_go_to_new_line_now
                && self.spaces >= 1
                && self.line_len + self.spaces + start.len() > MAX_LINE_LEN
            {
                self.new_line();
            }
            self.write(start);
            s = end;
        }
    }

    /// email-encoding's `quoted_string::encode`.
    fn display_name(&mut self, value: &str) {
        let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        let quoted = |b: u8| plain(b) || b == b' ';
        let escaped = |b: u8| quoted(b) || matches!(b, b'\\' | b'"');
        let bytes = value.as_bytes();
        if bytes.iter().all(|&b| plain(b)) {
            self.write(value);
        } else if bytes.iter().all(|&b| quoted(b)) {
            self.write("\"");
            self.write_folding(value);
            self.write("\"");
        } else if bytes.iter().all(|&b| escaped(b)) {
            self.write("\"");
            for &b in bytes {
                match b {
                    b'\\' => self.write_folding("\\\\"),
                    b'"' => self.write_folding("\\\""),
                    b' ' => self.spaces += 1,
                    _ => self.write_folding(std::str::from_utf8(std::slice::from_ref(&b)).expect("ASCII")),
                }
            }
            self.write("\"");
        } else {
            self.rfc2047(value);
        }
    }

    /// lettre's `flush_encode_buf`: `words` but their trailing spaces as
    /// encoded-words, then those spaces held.
    fn encode_words(&mut self, words: &str) {
        let text = words.trim_end_matches(' ');
        self.rfc2047(text);
        self.spaces += words.len() - text.len();
    }

    /// email-encoding's `rfc2047::encode`: as many whole characters per
    /// encoded-word as fit on the line, a new line when none does.
    fn rfc2047(&mut self, mut s: &str) {
        let mut wrote = false;
        let mut base64 = [0u8; MAX_LINE_LEN];
        while !s.is_empty() {
            let room =
                MAX_LINE_LEN.saturating_sub(ENCODED_START.len() + ENCODED_END.len() + self.line_len + "\r\n".len());
            let mut take = (room / 4 * 3).min(s.len());
            while !s.is_char_boundary(take) {
                take -= 1;
            }
            if take == 0 {
                if wrote || self.spaces >= 1 {
                    // No room left on this line: a new one, after a space
                    // that says the header goes on.
                    self.new_line();
                    if self.spaces == 0 {
                        self.spaces = 1;
                    }
                    continue;
                }
                // A new line would need a space, which would change the
                // text: the first character goes here however long it makes
                // the line.
                take = s.chars().next().map_or(0, char::len_utf8);
            }
            let (word, rest) = s.split_at(take);
            self.write(ENCODED_START);
            // At most 45 bytes go in one encoded-word (60 in base64), so
            // the buffer on the stack always holds them.
            let engine = &base64::engine::general_purpose::STANDARD;
            match engine.encode_slice(word, &mut base64) {
                Ok(n) => self.write(std::str::from_utf8(&base64[..n]).expect("base64 is ASCII")),
                Err(_) => self.write(&engine.encode(word)),
            }
            self.write(ENCODED_END);
            s = rest;
            wrote = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use lettre::message::header::{Headers, Subject, To};
    use lettre::message::{Mailbox, Mailboxes};

    use super::{write_mailbox_header, write_text_header};

    fn lettres(value: &str) -> String {
        let mut headers = Headers::new();
        headers.set(Subject::from(value.to_owned()));
        headers.to_string()
    }

    /// What `write` appends to an empty buffer, as text.
    fn written(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).expect("the header is ASCII")
    }

    fn ours(value: &str) -> String {
        written(|out| write_text_header(out, "Subject", value))
    }

    /// The inputs of [`crate::mail::random_inputs`] made of text `pieces`.
    fn random_texts<'a>(seed: u64, max_pieces: u64, pieces: &'a [&'a [u8]]) -> impl Iterator<Item = String> + 'a {
        crate::mail::random_inputs(seed, 20_000, max_pieces, pieces)
            .map(|input| String::from_utf8(input).expect("pieces of text join into text"))
    }

    #[test]
    fn subjects_are_written_as_lettre_writes_them() {
        let long_word = "Samhällskontraktet".repeat(8);
        let long_ascii = "a".repeat(120);
        for value in [
            "",
            " ",
            "   ",
            "Plain ASCII",
            "Din idé har kommit in",
            "Inbjudan till seminarieserien: Grön omsorg",
            "Beslut om finansiering: ”Hundar som främjar aktivitet och integritet i demensvården”",
            "Ärende MOPS-2010-7 – beviljat 350 000 kr",
            "trailing space ",
            "trailing åäö  ",
            "  leading spaces and åäö",
            "two  spaces  between ö and  ä",
            "ascii words first and then a very long tail of words åäö åäö åäö åäö åäö åäö åäö åäö",
            "emoji 😀 and € and \u{10ffff}",
            "control \u{1} and tab\tand CR\r LF\n",
            "Your idea was received – thank you!",
            long_word.as_str(),
            long_ascii.as_str(),
        ] {
            assert_eq!(ours(value), lettres(value), "{value:?}");
        }
    }

    fn lettres_to(name: Option<&str>, address: &str) -> String {
        let mailbox = Mailbox::new(name.map(str::to_owned), address.parse().expect("an address"));
        let mut headers = Headers::new();
        headers.set(To::from(Mailboxes::from(mailbox)));
        headers.to_string()
    }

    fn our_to(name: Option<&str>, address: &str) -> String {
        written(|out| write_mailbox_header(out, "To", name, address))
    }

    #[test]
    fn recipients_are_written_as_lettre_writes_them() {
        let long_name = "Anna-Karin Björklund Andersson ".repeat(4);
        let long_plain = "A".repeat(90);
        for name in [
            None,
            Some(""),
            Some(" "),
            Some("Anna"),
            Some("Anna Nilsson"),
            Some("Anna Björk"),
            Some("Ögon, \"Örjan\" & co"),
            Some("Karin \"KL\" Lindqvist"),
            Some("back\\slash and \"quote\""),
            Some("tab\there"),
            Some("dot.name_with-marks"),
            Some("  two  spaces  "),
            Some(long_name.as_str()),
            Some(long_plain.as_str()),
        ] {
            for address in ["anna.nilsson@mdh.example", "a-very-long-local-part.for-folding@eskilstuna.example"] {
                assert_eq!(our_to(name, address), lettres_to(name, address), "{name:?} {address:?}");
            }
        }
    }

    #[test]
    fn random_recipients_are_written_as_lettre_writes_them() {
        let pieces = ["a", "Anna", " ", "  ", "-", ".", "_", "\"", "\\", "ö", "Å", ",", "&", "\t", "😀", "Lindqvist"]
            .map(str::as_bytes);
        let addresses = ["anna@mdh.example", "anna.karin.bjorklund.andersson@vasteras.example"];
        for (name, address) in random_texts(0x9e37_79b9_7f4a_7c15, 30, &pieces).zip(addresses.iter().cycle()) {
            let ours = our_to(Some(&name), address);
            assert_eq!(ours, lettres_to(Some(&name), address), "{name:?}");
            one_header(&ours);
        }
    }

    #[test]
    fn random_subjects_are_written_as_lettre_writes_them() {
        let pieces = [
            "a",
            "word",
            " ",
            "  ",
            "å",
            "Ä",
            "é",
            "–",
            "”",
            "😀",
            ":",
            "\t",
            "\u{1}",
            "\r",
            "\n",
            "=?",
            "MOPS-2010-7",
            "seminarieserien",
        ]
        .map(str::as_bytes);
        for value in random_texts(0x2545_f491_4f6c_dd1d, 60, &pieces) {
            let written = ours(&value);
            assert_eq!(written, lettres(&value), "{value:?}");
            one_header(&written);
        }
    }

    #[test]
    fn a_line_break_in_a_name_stays_inside_its_header() {
        // lettre's own `To` cannot be compared here: formatting such a name
        // fails inside lettre (a panic in `Headers::set`).
        for name in ["Anna\r\nBcc: eve@example.org", "Anna\nX: y", "Anna\r"] {
            let written = our_to(Some(name), "anna@mdh.example");
            one_header(&written);
            assert!(written.contains("=?utf-8?b?"), "{written:?}");
        }
    }

    /// `header` is one header, whatever its value held: every line break in
    /// it but the last is a fold (followed by a space), so no text can start
    /// a header of its own.
    fn one_header(header: &str) {
        let body = header.strip_suffix("\r\n").expect("a header ends with CRLF");
        assert!(!body.contains('\r') || body.split("\r\n").skip(1).all(|line| line.starts_with(' ')), "{header:?}");
        assert_eq!(body.matches('\r').count(), body.matches("\r\n").count(), "a bare CR: {header:?}");
        assert_eq!(body.matches('\n').count(), body.matches("\r\n").count(), "a bare LF: {header:?}");
    }
}
