//! Registry notes on a port card: boilerplate summarised in one line (the whole note with
//! `--wide`), and a note about one port of a range kept for that port.

use crate::port::PortRange;

/// Longer than this, or more lines than [`MAX_LINES`], a note is summarised.
const MAX_CHARS: usize = 240;
const MAX_LINES: usize = 3;

/// What to show of a note on the card of `port`, for an entry covering `range`: `None` when
/// the note is about other ports of the range only.
pub fn shown(note: &str, port: u16, range: Option<PortRange>, wide: bool) -> Option<String> {
    let note = note.trim();
    if note.is_empty() {
        return None;
    }
    if let Some(r) = range.filter(|r| !r.is_single()) {
        let named = named(note, r);
        if !named.is_empty() && !named.iter().any(|n| n.contains(port)) {
            return None;
        }
    }
    if wide {
        return Some(note.to_string());
    }
    let lines: Vec<&str> = note
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.iter().any(|l| l.contains("TXT keys")) {
        return Some("defines DNS-SD TXT keys (--wide lists them)".to_string());
    }
    let flat = lines.join(" ");
    if lines.len() <= MAX_LINES && flat.chars().count() <= MAX_CHARS {
        return Some(lines.join("\n"));
    }
    let first = flat
        .split_inclusive(". ")
        .next()
        .unwrap_or(&flat)
        .trim_end();
    Some(format!(
        "{} (--wide shows the whole note)",
        crate::render::sanitize::ellipsize(first, 160)
    ))
}

/// The ports and sub-ranges of `range` that the note names on their own (`port 6003`,
/// `ports 33436-33534`); the whole range itself does not count.
fn named(note: &str, range: PortRange) -> Vec<PortRange> {
    let bytes = note.as_bytes();
    let mut numbers: Vec<(usize, usize, u16)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if let Ok(n) = note[start..i].parse::<u16>() {
                numbers.push((start, i, n));
            }
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    let mut k = 0;
    while k < numbers.len() {
        let (_, end, a) = numbers[k];
        let joined = numbers
            .get(k + 1)
            .filter(|(s, _, _)| note[end..*s].trim() == "-")
            .map(|&(_, _, b)| b);
        let named = match joined {
            Some(b) => {
                k += 1;
                PortRange { start: a, end: b }
            }
            None => PortRange::single(a),
        };
        k += 1;
        if named != range && range.contains(named.start) {
            out.push(named);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(a: u16, b: u16) -> Option<PortRange> {
        Some(PortRange { start: a, end: b })
    }

    #[test]
    fn notes_are_summarised_unless_wide() {
        assert_eq!(
            shown("short note", 1, None, false).as_deref(),
            Some("short note")
        );
        let txt = "Defined TXT keys: u=<username> p=<password> path=<path>";
        assert_eq!(
            shown(txt, 1, None, false).as_deref(),
            Some("defines DNS-SD TXT keys (--wide lists them)")
        );
        assert_eq!(shown(txt, 1, None, true).as_deref(), Some(txt));
        let long = "First sentence here. Then a second paragraph\n\nthat goes on\nand on\nand on.";
        let s = shown(long, 1, None, false).expect("shown");
        assert_eq!(s, "First sentence here. (--wide shows the whole note)");
        assert_eq!(shown(long, 1, None, true).as_deref(), Some(long));
    }

    #[test]
    fn a_note_about_one_port_of_a_range_stays_on_that_port() {
        let note = "Port 6005 is used for the frobnicator";
        assert!(shown(note, 6005, range(6000, 6010), false).is_some());
        assert_eq!(shown(note, 6003, range(6000, 6010), false), None);
        // A note naming no port of the range is shown on every port.
        assert!(shown("a general note", 6003, range(6000, 6010), false).is_some());
        // The range's own bounds are not a port of their own.
        assert!(shown("ports 6000-6010", 6003, range(6000, 6010), false).is_some());
        let sub = "Known Unauthorized Use on ports 33436-33534";
        assert!(shown(sub, 33500, range(33436, 33655), false).is_some());
        assert_eq!(shown(sub, 33600, range(33436, 33655), false), None);
        let two = "Unauthorized Use Known on ports 8616 and 8617";
        assert!(shown(two, 8617, range(8616, 8664), false).is_some());
        assert!(shown(two, 8616, range(8616, 8664), false).is_some());
        assert_eq!(shown(two, 8620, range(8616, 8664), false), None);
    }
}
