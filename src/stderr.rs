//! Lines for standard error that never panic: a closed or full stderr loses the line, never
//! the run or its exit status (`eprintln!` panics when the write fails).

use std::io::Write;

/// Writes one line to standard error; a failed write is ignored.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_line_never_panics() {
        super::line(format_args!("whoport: test line {}", 1));
    }
}
