//! Quoted-printable encoding (RFC 2045, section 6.7) of a mail's text parts,
//! byte for byte as the `quoted_printable` crate's `encode` (which lettre
//! uses) writes it.
//!
//! Why not call that crate: it builds its output a `char` at a time, and the
//! mail benchmark found it taking about 6 % of the worker's CPU, the largest
//! single piece of building a mail. This is the same algorithm over bytes:
//! runs that need no escaping are found eight bytes at a time and copied as
//! slices, and a bare LF is taken as a line break, so the text need not be
//! rewritten with CRLFs first. The tests compare the two on every kind of
//! input (the crate stays as a dev-dependency for that).

/// Longest encoded line, without its CRLF.
const LIMIT: usize = 76;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Bytes written as they are: printable ASCII and tab, except `=`.
fn literal(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=b'<' | b'>'..=b'~')
}

/// Whether all eight bytes of `w` are printable ASCII other than `=` (a
/// tab, though literal, answers no; the caller then looks byte by byte).
fn all_printable(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below 0x20, a byte above 0x7E, a byte equal to `=`.
    let below = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let above = (w.wrapping_add(ONES) | w) & HIGH;
    let eq = w ^ (ONES * u64::from(b'='));
    let equals = eq.wrapping_sub(ONES) & !eq & HIGH;
    below | above | equals == 0
}

/// Encodes `input` as text: a CRLF, or a LF alone, is a line break (written
/// CRLF), every other byte outside printable ASCII is escaped, lines are
/// wrapped with soft breaks at 76 characters, and a space or tab before a
/// line break is escaped. The same as the crate's `encode` of the input
/// with each lone LF made a CRLF.
pub fn encode(input: &[u8]) -> Vec<u8> {
    encode_into(input, Vec::with_capacity(input.len() + input.len() / 4 + 8))
}

/// [`encode`], appending to `out` (which ends at the start of a line, or is
/// empty) and returning it: the worker encodes a part straight into its
/// message.
pub fn encode_into(input: &[u8], mut out: Vec<u8>) -> Vec<u8> {
    out.reserve(input.len() + input.len() / 4 + 8);
    let mut out = Line { out, on_line: 0, backup: 0 };
    let mut was_cr = false;
    let mut i = 0;
    while i < input.len() {
        let byte = input[i];
        i += 1;
        if was_cr {
            was_cr = false;
            if byte == b'\n' {
                out.escape_trailing_blank();
                out.out.extend_from_slice(b"\r\n");
                out.on_line = 0;
                continue;
            }
            // The CR held back before was not part of a line break.
            out.append(*b"=0D");
        }
        if byte == b'\r' {
            was_cr = true;
            continue;
        }
        if byte == b'\n' {
            // A lone LF: a line break too.
            out.escape_trailing_blank();
            out.out.extend_from_slice(b"\r\n");
            out.on_line = 0;
            continue;
        }
        if LIMIT - out.on_line >= 3 && literal(byte) {
            // A run of literal bytes, up to two short of the line's end.
            let start = i - 1;
            let stop = input.len().min(start + LIMIT - out.on_line - 2);
            let mut end = i;
            while end + 8 <= stop
                && all_printable(u64::from_le_bytes(input[end..end + 8].try_into().expect("eight bytes")))
            {
                end += 8;
            }
            while end < stop && literal(input[end]) {
                end += 1;
            }
            out.out.extend_from_slice(&input[start..end]);
            out.on_line += end - start;
            out.backup = out.out.len();
            i = end;
            continue;
        }
        match byte {
            b'=' => out.append(*b"=3D"),
            b'\t' | b' '..=b'~' => out.append([byte]),
            _ => out.append([b'=', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0x0f)]]),
        }
    }
    if was_cr {
        out.append(*b"=0D");
    } else {
        out.escape_trailing_blank();
    }
    out.out
}

/// The output and where its current line stands.
struct Line {
    out: Vec<u8>,
    /// Characters on the current line.
    on_line: usize,
    /// Where the last thing appended starts: a soft break that no longer
    /// fits at the end goes there.
    backup: usize,
}

impl Line {
    /// Appends one character or escape, breaking the line first if it would
    /// not fit. Its length is known at compile time, so the copy is a store
    /// or two rather than a call.
    #[inline]
    fn append<const N: usize>(&mut self, piece: [u8; N]) {
        if self.on_line + N > LIMIT {
            if self.on_line == LIMIT {
                // No room even for the `=` of a soft break: it goes before
                // the last thing appended.
                self.on_line = self.out.len() - self.backup;
                self.out.splice(self.backup..self.backup, *b"=\r\n");
            } else {
                self.out.extend_from_slice(b"=\r\n");
                self.on_line = 0;
            }
        }
        self.out.extend_from_slice(&piece);
        self.on_line += N;
        self.backup = self.out.len() - N;
    }

    /// A space or tab must not end an encoded line: it is escaped instead.
    fn escape_trailing_blank(&mut self) {
        let escaped = match self.out.last() {
            Some(b' ') => *b"=20",
            Some(b'\t') => *b"=09",
            _ => return,
        };
        self.out.pop();
        self.on_line -= 1;
        self.append(escaped);
    }
}

#[cfg(test)]
mod tests {
    use super::{encode, encode_into};

    /// `input` with each LF not after a CR made a CRLF.
    fn crlf(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        for (i, &b) in input.iter().enumerate() {
            if b == b'\n' && (i == 0 || input[i - 1] != b'\r') {
                out.push(b'\r');
            }
            out.push(b);
        }
        out
    }

    fn same_as_the_crate(input: &[u8]) {
        let ours = String::from_utf8(encode(input)).expect("the output is ASCII");
        let theirs = String::from_utf8(quoted_printable::encode(crlf(input))).expect("the output is ASCII");
        assert_eq!(ours, theirs, "input: {:?}", String::from_utf8_lossy(input));
        // Appended to a part's head, as the worker writes it.
        let head = b"Content-Transfer-Encoding: quoted-printable\r\n\r\n";
        let appended = encode_into(input, head.to_vec());
        assert_eq!(&appended[..head.len()], head);
        assert_eq!(&appended[head.len()..], ours.as_bytes(), "input: {:?}", String::from_utf8_lossy(input));
    }

    #[test]
    fn eight_bytes_are_printable_only_if_each_is() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = b;
                let printable = (b' '..=b'~').contains(&b) && b != b'=';
                assert_eq!(super::all_printable(u64::from_le_bytes(word)), printable, "byte {b:#04x} at {at}");
            }
        }
    }

    #[test]
    fn encodes_as_the_quoted_printable_crate_does() {
        let long = "a".repeat(200);
        let spaces = " ".repeat(80);
        for input in [
            "",
            "Hej Anna,\r\n\r\nDin idé – välkommen.\r\nMvh\r\n",
            "åäö ÅÄÖ é – ” €",
            "a=b == =\r\n=",
            "trailing space \r\nand tab\t\r\nand at the end ",
            "tab at the end\t",
            "lone CR\rand lone LF\nand CR at the end\r",
            "\r\r\n\n\r",
            "Hej Anna,\n\nDin idé – välkommen. \nMvh\t\n",
            "\n\n\r\n\n",
            long.as_str(),
            spaces.as_str(),
            "<p style=\"margin:0 0 16px 0;color:#1a1a1a;\">Har du frågor? Kontakta processledaren på karin@example.se.</p>\r\n",
        ] {
            same_as_the_crate(input.as_bytes());
        }
        // Every position of a escaped or blank character near the soft break.
        for n in 60..80 {
            for tail in ["å", "=", " ", "\t", "é\r\n", " \r\n", "x\r\n", "\u{20ac}"] {
                same_as_the_crate(format!("{}{tail}{}", "x".repeat(n), "y".repeat(n)).as_bytes());
                same_as_the_crate(format!("{}{tail}", "ä".repeat(n / 2)).as_bytes());
            }
        }
    }

    #[test]
    fn encodes_random_text_as_the_quoted_printable_crate_does() {
        let pieces: [&[u8]; 14] = [
            b"a",
            b"word ",
            b" ",
            b"\t",
            b"=",
            b"\r\n",
            b"\r",
            b"\n",
            "å".as_bytes(),
            "”".as_bytes(),
            b".",
            b"~",
            &[0x00],
            &[0xff],
        ];
        for input in crate::mail::random_inputs(0x9e37_79b9_7f4a_7c15, 20_000, 300, &pieces) {
            same_as_the_crate(&input);
        }
    }
}
