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

/// The widest line of `text`, in columns.
pub fn widest(text: &str) -> usize {
    text.lines().map(width).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
