//! Writing arbitrary text (step names, job names, ids, error messages) safely into HTML and
//! inline SVG.
//!
//! Every piece of text that comes from the job goes through [`escape_into`], in text content and
//! in attribute values alike (attributes are always double-quoted): `&` `<` `>` `"` `'` become
//! character references, so no text can end an element, an attribute or a comment, or open a
//! tag; control characters other than line breaks and tabs become U+FFFD (HTML forbids most of
//! them, and NUL would be dropped). Nothing from the job is ever written into the page's
//! `<script>` or `<style>`, whose contents HTML does not escape.

use std::fmt::Write as _;

/// Appends `text` to `out`, escaped for HTML text and double-quoted attribute values.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            '\r' => out.push('\n'),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// `text`, escaped as [`escape_into`] does.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// The first `max` characters of `text`, with `…` in place of the rest if it is longer.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let kept: String = text.chars().take(max.saturating_sub(1)).collect();
            format!("{kept}…")
        }
    }
}

/// A coordinate for SVG: two decimals, no exponent, finite (a non-finite number is 0).
pub(crate) fn num(out: &mut String, value: f64) {
    let value = if value.is_finite() { value } else { 0.0 };
    let rounded = (value * 100.0).round() / 100.0;
    // `-0` reads badly.
    let rounded = if rounded == 0.0 { 0.0 } else { rounded };
    let _ = write!(out, "{rounded}");
}

/// The CSS class of a state: `st-` and its name, spaces as dashes (`st-awaiting-permit`).
pub(crate) fn state_class(state: asyncjob::StepState) -> String {
    format!("st-{}", state.as_str().replace(' ', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_ends_or_opens_markup() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(
            escape("a\u{0}b\u{1b}c\r\nd\te"),
            "a\u{FFFD}b\u{FFFD}c\n\nd\te"
        );
        assert_eq!(escape("<!-- -->"), "&lt;!-- --&gt;");
        assert_eq!(escape("ok ünïcødé 🦀"), "ok ünïcødé 🦀");
    }

    #[test]
    fn shortens_by_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("ééééé", 4), "ééé…");
    }

    #[test]
    fn numbers_are_plain() {
        let mut out = String::new();
        for value in [1.0, 2.345, -0.001, f64::NAN, f64::INFINITY, 1e20] {
            num(&mut out, value);
            out.push(' ');
        }
        assert_eq!(out, "1 2.35 0 0 0 100000000000000000000 ");
    }
}
