//! Fitting a table into a terminal: columns that must never break (PID, port, address,
//! protocol...) keep their width; process, command, executable and unit cells give up
//! columns, shortened with an ellipsis, until the table fits.

use crate::render::sanitize::{ellipsize, width};

/// The width each column may take, `None` for "as wide as its content": `natural` are the
/// columns' content widths (header included), `shrinkable` says which may be shortened and
/// `floor` how far, `frame` is what borders and padding take, `total` the terminal's width.
pub fn budgets(
    natural: &[usize],
    shrinkable: &[bool],
    floor: &[usize],
    frame: usize,
    total: usize,
) -> Vec<Option<usize>> {
    let n = natural.len();
    let mut w = natural.to_vec();
    loop {
        let used: usize = w.iter().sum::<usize>() + frame;
        if used <= total {
            break;
        }
        // The widest column that may still give up a column.
        let Some(i) = (0..n)
            .filter(|&i| shrinkable[i] && w[i] > floor[i])
            .max_by_key(|&i| w[i])
        else {
            break;
        };
        w[i] -= 1;
    }
    w.iter()
        .zip(natural)
        .map(|(&got, &want)| (got < want).then_some(got))
        .collect()
}

/// Columns a table takes with these widths and budgets, plus `frame`.
pub fn used(natural: &[usize], budgets: &[Option<usize>], frame: usize) -> usize {
    natural
        .iter()
        .zip(budgets)
        .map(|(&n, b)| b.unwrap_or(n))
        .sum::<usize>()
        + frame
}

/// Every line of `text` shortened to `max` columns with an ellipsis.
pub fn lines(text: &str, max: usize) -> String {
    text.lines()
        .map(|l| ellipsize(l, max).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The narrowest terminal text is wrapped on: below it, each line is written whole, as in a
/// pipe (the terminal breaks it where it must).
pub const MIN_WRAP: usize = 30;

/// The terminal's width to wrap text at: `None` in a pipe, or on a terminal narrower than
/// [`MIN_WRAP`].
pub fn wrap_width(out: &crate::config::Output) -> Option<usize> {
    out.width.map(usize::from).filter(|&cols| cols >= MIN_WRAP)
}

/// `text` in lines of at most `max` columns, broken between words; the lines after the
/// first start with `indent` spaces. A word is never broken (a command to paste, a path, an
/// escaped name): one longer than a line has a line of its own, wider than `max`.
pub fn wrap(text: &str, max: usize, indent: usize) -> Vec<String> {
    wrap_after(text, max, 0, indent)
}

/// [`wrap`] for text written after `first` columns of its first line (a label the caller
/// writes, painted or not): that line holds `first` columns less.
pub fn wrap_after(text: &str, max: usize, first: usize, indent: usize) -> Vec<String> {
    let max = max.max(indent + 10);
    // A label that leaves less than ten columns: the text starts on the next line.
    if first + 10 > max {
        let pad = " ".repeat(indent);
        let mut lines = wrap_after(text, max, indent, indent);
        if let Some(head) = lines.first_mut() {
            head.insert_str(0, &pad);
        }
        lines.insert(0, String::new());
        return lines;
    }
    fill(words(text).map(|w| (w, width(w))), max, first, indent)
}

/// Words (each as written, with the columns it shows) in lines of at most `max` columns, the
/// first holding `first` columns less, broken between words; the lines after the first start
/// with `indent` spaces. An empty word is one more space of a run ([`words`]), kept unless a
/// line breaks there; no line ends with a space.
fn fill<'a>(
    words: impl IntoIterator<Item = (&'a str, usize)>,
    max: usize,
    first: usize,
    indent: usize,
) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let (mut line, mut used) = (String::new(), 0);
    for (word, shown) in words {
        let room = if lines.is_empty() {
            max - first
        } else {
            max - indent
        };
        if word.is_empty() {
            if used > 0 && used + 1 < room {
                line.push(' ');
                used += 1;
            }
            continue;
        }
        if used > 0 && used + 1 + shown > room {
            lines.push(std::mem::take(&mut line));
            used = 0;
        }
        if used > 0 {
            line.push(' ');
            used += 1;
        }
        line.push_str(word);
        used += shown;
    }
    if used > 0 || lines.is_empty() {
        lines.push(line);
    }
    let pad = " ".repeat(indent);
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let l = l.trim_end_matches(' ');
            if i == 0 {
                l.to_string()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect()
}

/// Words as they are written (each may be painted) with the columns each takes, in lines of
/// at most `max` columns, broken between words; the lines after the first start with
/// `indent` spaces. A word is never broken: one longer than a line has a line of its own.
pub fn wrap_words(words: &[(String, usize)], max: usize, indent: usize) -> Vec<String> {
    let max = max.max(indent + 10);
    fill(
        words.iter().map(|(w, shown)| (w.as_str(), *shown)),
        max,
        0,
        indent,
    )
}

/// The words of `text` as wrapping breaks it: between spaces, tabs and line breaks, where a
/// run of them gives an empty word for each one after the first, so that a run of spaces is
/// kept where no line breaks (a process's name may hold one). Other spaces (no-break ones,
/// ideographic) are part of a word.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.trim_matches([' ', '\t', '\n', '\r'])
        .split([' ', '\t', '\n', '\r'])
}

/// `text` as written after `first` columns of a line: on a terminal (`out.width`), wrapped
/// at its width, the lines after the first indented by `indent`; in a pipe, one line.
pub fn for_output(
    out: &crate::config::Output,
    text: &str,
    first: usize,
    indent: usize,
) -> Vec<String> {
    on_terminal(out, text, |cols| wrap_after(text, cols, first, indent))
}

/// `text` as written with `margin` columns before each of its lines: on a terminal
/// ([`wrap_width`]), wrapped at its width less the margin, the lines after the first indented
/// by `indent` more; in a pipe, one line.
pub fn within(
    out: &crate::config::Output,
    text: &str,
    margin: usize,
    indent: usize,
) -> Vec<String> {
    on_terminal(out, text, |cols| {
        wrap(text, cols.saturating_sub(margin), indent)
    })
}

/// `text` wrapped by `wrap` at the terminal's width ([`wrap_width`]), or one line.
fn on_terminal(
    out: &crate::config::Output,
    text: &str,
    wrap: impl FnOnce(usize) -> Vec<String>,
) -> Vec<String> {
    wrap_width(out).map_or_else(|| vec![text.to_string()], wrap)
}

/// Writes `label` (as given: it may be painted; `shown` is how many columns it takes) and
/// `text` after it, [`for_output`]: one line in a pipe, wrapped on a terminal with the lines
/// after the first indented by `indent`.
pub fn write_after(
    w: &mut dyn std::io::Write,
    out: &crate::config::Output,
    (label, shown): (&str, usize),
    text: &str,
    indent: usize,
) -> std::io::Result<()> {
    let mut lines = for_output(out, text, shown, indent).into_iter();
    match lines.next().unwrap_or_default() {
        first if first.is_empty() => writeln!(w, "{}", label.trim_end())?,
        first => writeln!(w, "{label}{first}")?,
    }
    for line in lines {
        writeln!(w, "{line}")?;
    }
    Ok(())
}

/// The widest line of `text`, in columns.
pub fn widest(text: &str) -> usize {
    text.lines().map(width).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painted_words_wrap_by_the_columns_they_show() {
        // Each word painted: its escape sequences take no column.
        let bold = |w: &str| (format!("\u{1b}[1m{w}\u{1b}[0m"), w.len());
        let words: Vec<(String, usize)> = ["aaaa", "bbbb", "cccc", "dddd", "eeee"]
            .into_iter()
            .map(bold)
            .collect();
        let lines = wrap_words(&words, 14, 4);
        let shown: Vec<String> = lines
            .iter()
            .map(|l| l.replace("\u{1b}[1m", "").replace("\u{1b}[0m", ""))
            .collect();
        assert_eq!(shown, vec!["aaaa bbbb cccc", "    dddd eeee"], "{lines:?}");
        // A word wider than a line is never broken, and an empty list is one empty line.
        let long = ("x".repeat(40), 40);
        let lines = wrap_words(&[("a".into(), 1), long.clone(), ("b".into(), 1)], 20, 2);
        assert_eq!(
            lines,
            vec!["a".to_string(), format!("  {}", long.0), "  b".into()]
        );
        assert_eq!(wrap_words(&[], 20, 2), vec![String::new()]);
    }

    #[test]
    fn a_run_of_spaces_stays_whole_where_no_line_breaks() {
        // A process named "a  b" (two spaces), or with a no-break or an ideographic space.
        let name = "a  b\u{a0}c\u{3000}d (pid 7)";
        assert_eq!(wrap(name, 40, 4), vec![name.to_string()]);
        let painted: Vec<(String, usize)> =
            words(name).map(|w| (w.to_string(), width(w))).collect();
        assert_eq!(wrap_words(&painted, 40, 4), vec![name.to_string()]);
        // Where a line breaks inside the run, no line ends with a space, and none starts
        // with more than its indent.
        let text = format!("{}     {}", "x".repeat(18), "y".repeat(18));
        for lines in [
            wrap(&text, 20, 2),
            wrap_words(
                &words(&text)
                    .map(|w| (w.to_string(), width(w)))
                    .collect::<Vec<_>>(),
                20,
                2,
            ),
        ] {
            assert_eq!(
                lines,
                vec!["x".repeat(18), format!("  {}", "y".repeat(18))],
                "{lines:?}"
            );
        }
    }

    #[test]
    fn wrapped_lines_fit_and_keep_every_word() {
        let text = "3 processes live in other network namespaces: their sockets are not \
                    listed here (nsenter -n -t PID whoport)";
        let lines = wrap(text, 40, 6);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| width(l) <= 40), "{lines:?}");
        assert!(
            lines[1..].iter().all(|l| l.starts_with("      ")),
            "{lines:?}"
        );
        let joined: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
        assert_eq!(joined, text.split_whitespace().collect::<Vec<_>>());
        // A word longer than a line is never broken: a line of its own.
        let long = "x".repeat(100);
        let lines = wrap(&format!("a {long} b"), 40, 6);
        assert_eq!(
            lines,
            vec!["a".to_string(), format!("      {long}"), "      b".into()]
        );
        let command = "sysctl -w net.ipv4.ip_local_reserved_ports=49123";
        let lines = wrap(command, 31, 2);
        assert!(
            lines
                .iter()
                .any(|l| l.trim() == "net.ipv4.ip_local_reserved_ports=49123"),
            "{lines:?}"
        );
    }

    #[test]
    fn text_after_a_label_fits_beside_it_or_starts_below_it() {
        let text = "move it out of 32768-60999, or reserve it (keeping what is reserved)";
        // Beside a label of 11 columns: the first line holds 11 fewer.
        let lines = wrap_after(text, 40, 11, 8);
        assert!(lines.len() > 1);
        assert!(width(&lines[0]) <= 29, "{lines:?}");
        assert!(lines[1..]
            .iter()
            .all(|l| width(l) <= 40 && l.starts_with("        ")));
        let words: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
        assert_eq!(words, text.split_whitespace().collect::<Vec<_>>());
        // A label that leaves less than ten columns: nothing beside it, the text below.
        let lines = wrap_after(text, 40, 35, 4);
        assert_eq!(lines[0], "");
        assert!(lines[1..]
            .iter()
            .all(|l| width(l) <= 40 && l.starts_with("    ")));
        let words: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
        assert_eq!(words, text.split_whitespace().collect::<Vec<_>>());
        // A terminal narrower than MIN_WRAP is written to as a pipe is.
        let on = |width| crate::config::Output {
            json: false,
            pretty_json: false,
            color: false,
            width,
        };
        assert_eq!(wrap_width(&on(Some(29))), None);
        assert_eq!(wrap_width(&on(Some(30))), Some(30));
        assert_eq!(wrap_width(&on(None)), None);
        assert_eq!(
            for_output(&on(Some(12)), text, 0, 2),
            vec![text.to_string()]
        );
    }

    #[test]
    fn only_shrinkable_columns_give_way() {
        // Fits: nothing changes.
        assert_eq!(
            budgets(&[3, 10], &[false, true], &[3, 8], 7, 80),
            vec![None, None]
        );
        // 5 + 60 + 40 + 10 = 115 columns in 80: the two long ones shrink, the widest
        // first, until 35 columns are given up.
        let b = budgets(&[5, 60, 40], &[false, true, true], &[4, 8, 8], 10, 80);
        assert_eq!(b[0], None);
        assert_eq!(used(&[5, 60, 40], &b, 10), 80);
        let (x, y) = (b[1].unwrap_or(60), b[2].unwrap_or(40));
        assert!(x.abs_diff(y) <= 1 && x + y == 65, "{b:?}");
        // Never below the floor: the table is then wider than the terminal, unbroken.
        let b = budgets(&[50, 30], &[false, true], &[3, 8], 7, 40);
        assert_eq!(b, vec![None, Some(8)]);
        assert_eq!(used(&[50, 30], &b, 7), 65);
    }

    #[test]
    fn lines_are_shortened_one_by_one() {
        assert_eq!(lines("short\na much longer line", 8), "short\na much …");
        assert_eq!(widest("ab\nabcd"), 4);
    }
}
