//! The one sanitizer for text whoport did not write: process names, command lines, paths,
//! registry and services text. Nothing it returns can move the cursor, change colours,
//! reorder text or hide characters.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Is `c` something a terminal would act on, or that would hide or reorder text?
fn is_dangerous(c: char) -> bool {
    c.is_control() // C0, DEL and C1 controls (ESC, CSI, OSC, CR, LF...)
        || matches!(c,
            '\u{061C}'                // Arabic letter mark
            | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM/RLM
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}'              // zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
        )
}

/// Escapes every dangerous character: `\n`, `\r`, `\t`, `\e` for the usual ones, `\xNN` for
/// other C0/DEL, `\u{NNNN}` for the rest. Safe text is returned as is, without copying.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !is_dangerous(c) {
            out.push(c);
            continue;
        }
        let _ = match c {
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            '\t' => write!(out, "\\t"),
            '\u{1b}' => write!(out, "\\e"),
            c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
            c => write!(out, "\\u{{{:04x}}}", c as u32),
        };
    }
    Cow::Owned(out)
}

/// Display width of already sanitized text in terminal columns (wide characters count two).
pub fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// Already sanitized text shortened to at most `max` columns, ending in `…` when it was cut:
/// the one truncation for every cell and line whoport shortens.
pub fn ellipsize(text: &str, max: usize) -> Cow<'_, str> {
    if width(text) <= max {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    Cow::Owned(out)
}

/// Sanitizes multi-line text line by line, keeping the line breaks (for registry notes).
pub fn sanitize_lines(text: &str) -> String {
    text.lines()
        .map(|l| sanitize(l.trim()).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sanitizes bytes that may not be UTF-8: invalid sequences become `\xNN`.
pub fn sanitize_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&sanitize(chunk.valid()));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsis_counts_columns() {
        assert_eq!(ellipsize("short", 10), "short");
        assert_eq!(ellipsize("exactly10!", 10), "exactly10!");
        assert_eq!(ellipsize("a longer command line", 10), "a longer …");
        assert_eq!(width(&ellipsize("a longer command line", 10)), 10);
        // Wide characters take two columns each.
        assert_eq!(ellipsize("日本語のテキスト", 7), "日本語…");
        assert_eq!(ellipsize("abc", 1), "…");
    }

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        let cases = [
            ("nginx", "nginx"),
            ("evil\u{1b}[2J", "evil\\e[2J"),
            ("two\nlines\r", "two\\nlines\\r"),
            ("tab\there", "tab\\there"),
            ("bell\u{7}", "bell\\x07"),
            ("del\u{7f}", "del\\x7f"),
            ("c1\u{9b}31m", "c1\\u{009b}31m"),
            ("osc\u{1b}]0;title\u{7}", "osc\\e]0;title\\x07"),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            ("zero\u{200b}width", "zero\\u{200b}width"),
            ("isolate\u{2066}x\u{2069}", "isolate\\u{2066}x\\u{2069}"),
            ("bom\u{feff}", "bom\\u{feff}"),
            ("café ünïcode 日本", "café ünïcode 日本"),
            ("(paren", "(paren"),
        ];
        for (input, want) in cases {
            let got = sanitize(input);
            assert_eq!(got, want, "{input:?}");
            assert!(!got.chars().any(is_dangerous));
        }
    }

    #[test]
    fn borrows_safe_text() {
        assert!(matches!(sanitize("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn lines_keep_breaks_but_nothing_else() {
        assert_eq!(sanitize_lines("a\u{1b}\n  b  \n"), "a\\e\nb");
    }

    #[test]
    fn invalid_utf8_is_escaped() {
        assert_eq!(sanitize_bytes(b"ok\xff\xfe\x1b"), "ok\\xff\\xfe\\e");
    }
}
