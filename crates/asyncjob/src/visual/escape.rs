//! Writing arbitrary text (step names, job names, ids, error messages) safely into DOT, JSON and
//! Mermaid.
//!
//! * DOT: a quoted string, with `"` → `\"`, `\` → `\\`, line breaks → `\n` (a line break in a
//!   Graphviz label or tooltip), `&` → `&amp;` (Graphviz reads HTML entities in plain strings),
//!   and other control characters → U+FFFD (they are not allowed in the SVG Graphviz writes).
//! * JSON: a string escaped as RFC 8259 says, control characters as `\u00XX`.
//! * Mermaid: there is no escaping in a Gantt chart, so characters that end a section name or
//!   start a comment are replaced, see [`mermaid_text`].

use std::fmt::Write as _;

/// How many characters of a name a DOT label or a Mermaid section shows; tooltips, the trace
/// and snapshots keep the whole name.
pub(crate) const LABEL_CHARS: usize = 64;

/// The first `max` characters of `text`, with `…` in place of the rest if it is longer.
pub(crate) fn shorten(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text.into(),
        Some((cut, _)) => {
            let head = text[..cut].char_indices().nth(max.saturating_sub(1));
            let cut = head.map_or(cut, |(i, _)| i);
            format!("{}…", &text[..cut]).into()
        }
    }
}

/// Appends `text` to `out` as a DOT double-quoted string (quotes included).
pub(crate) fn dot_quoted(out: &mut String, text: &str) {
    out.push('"');
    dot_escape_into(out, text);
    out.push('"');
}

/// Appends `text` escaped for the inside of a DOT double-quoted string.
pub(crate) fn dot_escape_into(out: &mut String, text: &str) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '&' => out.push_str("&amp;"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                // CR LF and a lone CR are one line break each.
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Appends `text` to `out` as a JSON string (quotes included).
pub(crate) fn json_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            // JSON allows U+2028 and U+2029 raw, JavaScript source did not: escape them too.
            c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `text` made safe for a Mermaid Gantt `title` or `section` line, at most `max` characters.
///
/// Mermaid has no escape for these lines, so:
///
/// * `:` `;` `#` `%` `<` `>` and `` ` `` are replaced with look-alikes found in common fonts
///   (DejaVu, the Windows and macOS fallbacks): `∶` (U+2236 RATIO), `,`, `♯` (U+266F), `٪`
///   (U+066A), `‹` `›` (U+2039, U+203A) and `ˋ` (U+02CB). `:`, `;` and `#` end a section name
///   in older Mermaid versions, `%%` starts a comment, `<` and `>` may be read as HTML, and
///   three backticks would close the Markdown code block around the chart;
/// * line breaks and other control characters become spaces;
/// * leading and trailing white space is trimmed, and a name longer than `max` characters is
///   cut with `…`;
/// * what is left empty becomes `fallback`.
pub(crate) fn mermaid_text(text: &str, max: usize, fallback: &str) -> String {
    let replaced: String = text
        .chars()
        .map(|c| match c {
            ':' => '\u{2236}',
            ';' => ',',
            '#' => '\u{266F}',
            '%' => '\u{066A}',
            '<' => '\u{2039}',
            '>' => '\u{203A}',
            '`' => '\u{02CB}',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let trimmed = replaced.trim();
    if trimmed.is_empty() {
        return fallback.to_owned();
    }
    shorten(trimmed, max).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_counts_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("ééééé", 4), "ééé…");
        assert_eq!(shorten("", 1), "");
    }

    #[test]
    fn dot_escapes() {
        let mut out = String::new();
        dot_quoted(&mut out, "a\"b\\c\nd\r\ne\rf\tg\u{1}h&i");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\ne\\nf g\u{FFFD}h&amp;i\"");
    }

    #[test]
    fn json_escapes() {
        let mut out = String::new();
        json_quoted(&mut out, "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{2028}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\\u2028é\"");
    }

    #[test]
    fn mermaid_replaces_what_breaks_a_line() {
        assert_eq!(
            mermaid_text(" a:b;c#d%%e<f>g```\nh ", 64, "x"),
            "a\u{2236}b,c\u{266F}d\u{066A}\u{066A}e\u{2039}f\u{203A}g\u{02CB}\u{02CB}\u{02CB} h"
        );
        assert_eq!(mermaid_text("\n\t", 64, "fallback"), "fallback");
        assert_eq!(mermaid_text("abcdef", 4, "x"), "abc…");
    }
}
