//! The small writers the reports share: CSV for Swedish Excel, plain-text
//! tables, and escaping for XML, HTML and Markdown.

use mops_core::Sek;

/// The byte-order mark that makes Excel read a CSV file as UTF-8.
pub const BOM: &str = "\u{feff}";

/// One CSV cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text: quoted when needed, and protected against being read as a
    /// formula.
    Text(String),
    /// A number or a date written as is (`350000`, `350000,50`, `2010-10-05`).
    Plain(String),
    Empty,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Self {
        Self::Text(s.into())
    }

    pub fn kronor(amount: Sek) -> Self {
        Self::Plain(kronor_plain(amount))
    }

    pub fn count(n: impl std::fmt::Display) -> Self {
        Self::Plain(n.to_string())
    }

    pub fn opt_text(s: Option<&str>) -> Self {
        s.map_or(Self::Empty, Self::text)
    }
}

/// CSV as Excel with Swedish settings opens it: UTF-8 with a BOM, `;`
/// between cells, CRLF after each row, `"` around cells that need it.
///
/// A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
/// return gets a leading `'` so that Excel shows it instead of running it as
/// a formula ("CSV injection"); titles come from applicants.
pub fn csv(header: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = String::from(BOM);
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = String>| {
        let joined: Vec<String> = cells.collect();
        out.push_str(&joined.join(";"));
        out.push_str("\r\n");
    };
    line(&mut out, &mut header.iter().map(|h| quote((*h).to_owned())));
    for row in rows {
        line(
            &mut out,
            &mut row.iter().map(|c| match c {
                Cell::Text(s) => {
                    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.clone() };
                    quote(s)
                }
                Cell::Plain(s) => quote(s.clone()),
                Cell::Empty => String::new(),
            }),
        );
    }
    out
}

fn quote(s: String) -> String {
    if s.contains([';', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// An amount in kronor as a plain number for a spreadsheet: `350000`, or
/// `350000,50` when there are öre (a decimal comma, no grouping).
pub fn kronor_plain(amount: Sek) -> String {
    let ore = amount.ore();
    if ore % 100 == 0 { (ore / 100).to_string() } else { format!("{},{:02}", ore / 100, ore % 100) }
}

/// A share in whole percent, Swedish style: `38 %`.
pub fn percent(part: u32, whole: u32) -> String {
    if whole == 0 {
        return "–".into();
    }
    format!("{} %", (f64::from(part) * 100.0 / f64::from(whole)).round() as u32)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A plain-text table: columns padded to their widest cell, two spaces
/// between them, a rule under the header.
pub fn table(header: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(n) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let mut line = String::new();
        for (i, cell) in cells.enumerate().take(n) {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i > 0 {
                line.push_str("  ");
            }
            match align.get(i).copied().unwrap_or(Align::Left) {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                }
                Align::Right => {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
            }
        }
        line.trim_end().to_owned() + "\n"
    };
    let mut out = render(&mut header.iter().copied());
    let total: usize = widths.iter().sum::<usize>() + 2 * n.saturating_sub(1);
    out.push_str(&"─".repeat(total));
    out.push('\n');
    for row in rows {
        out.push_str(&render(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Escapes text for XML content and attribute values (both quotes too).
/// Line breaks and tabs become character references so attribute values
/// keep them; characters XML 1.0 does not allow are dropped.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || matches!(c, '\u{fffe}' | '\u{ffff}') => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML content and attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for Markdown so that what a person wrote is shown as written
/// (no emphasis, links, HTML or headings); line breaks continue the list
/// item they are in.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '\r' => {}
            '\n' => out.push_str("\n  "),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kronor_are_plain_numbers_with_a_decimal_comma() {
        assert_eq!(kronor_plain(Sek::from_kronor(350_000).unwrap()), "350000");
        assert_eq!(kronor_plain(Sek::from_ore(35_000_050).unwrap()), "350000,50");
        assert_eq!(kronor_plain(Sek::from_ore(7).unwrap()), "0,07");
    }

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let out = csv(
            &["A", "B"],
            &[vec![Cell::text("a;b"), Cell::text("say \"hi\"")], vec![Cell::text("=1+1"), Cell::Plain("2,5".into())]],
        );
        assert_eq!(out, "\u{feff}A;B\r\n\"a;b\";\"say \"\"hi\"\"\"\r\n'=1+1;2,5\r\n");
    }

    #[test]
    fn escapes() {
        assert_eq!(xml("a<b & \"c\"\n"), "a&lt;b &amp; &quot;c&quot;&#10;");
        assert_eq!(html("<i>'x'</i>"), "&lt;i&gt;&#39;x&#39;&lt;/i&gt;");
        assert_eq!(markdown("*a* [b](c) # d"), "\\*a\\* \\[b\\](c) \\# d");
        assert_eq!(percent(10, 26), "38 %");
    }
}
