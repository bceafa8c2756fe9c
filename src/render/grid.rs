//! A table written line by line, for listings of any length: the caller measures its rows
//! in a first pass and hands each row over once, so nothing but one row is held at a time.
//! It draws what comfy-table draws for whoport's look (rounded borders, a double rule under
//! the header, dotted rules between cells; or no borders at all), without holding the table.

use std::fmt::Write as _;
use std::io::{self, Write};

use crossterm::style::{Attribute, Color, Stylize};

use crate::render::sanitize::width;

/// The text of one cell and how it is styled when colour is on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text {
    pub text: String,
    pub fg: Option<Color>,
    pub bold: bool,
}

impl Text {
    pub fn plain(text: impl Into<String>) -> Text {
        Text {
            text: text.into(),
            ..Text::default()
        }
    }

    /// `text` with a style, which only shows when colour is on.
    pub fn styled(text: impl Into<String>, bold: bool, fg: Option<Color>) -> Text {
        Text {
            text: text.into(),
            fg,
            bold,
        }
    }
}

/// Column widths at least as wide as every cell line seen by [`Widths::measure`].
#[derive(Debug, Clone)]
pub struct Widths(Vec<usize>);

impl Widths {
    pub fn new(n: usize) -> Widths {
        Widths(vec![0; n])
    }

    /// Widens column `i` to the widest line of `text` (lines split at `\n`, as drawn).
    pub fn measure(&mut self, i: usize, text: &str) {
        let widest = text.split('\n').map(width).max().unwrap_or(0);
        if let Some(w) = self.0.get_mut(i) {
            *w = (*w).max(widest);
        }
    }

    /// Sets column `i` to exactly `width`.
    pub fn set(&mut self, i: usize, width: usize) {
        if let Some(w) = self.0.get_mut(i) {
            *w = width;
        }
    }

    pub fn get(&self, i: usize) -> usize {
        self.0.get(i).copied().unwrap_or(0)
    }
}

/// The frame of a table: boxed (rounded corners, a space each side of every cell) or bare
/// (no borders, one space between cells).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Boxed,
    Bare,
}

/// A table's drawing: its frame, content widths and whether styles are written.
pub struct Grid {
    frame: Frame,
    /// Content width of each column (at least 1).
    widths: Vec<usize>,
    color: bool,
    line: String,
}

impl Grid {
    pub fn new(frame: Frame, widths: &Widths, color: bool) -> Grid {
        if color {
            // crossterm drops styles under NO_COLOR on its own: the run has decided already.
            crossterm::style::force_color_output(true);
        }
        Grid {
            frame,
            widths: widths.0.iter().map(|&w| w.max(1)).collect(),
            color,
            line: String::new(),
        }
    }

    fn padding(&self, i: usize) -> (usize, usize) {
        match self.frame {
            Frame::Boxed => (1, 1),
            Frame::Bare if i + 1 == self.widths.len() => (0, 0),
            Frame::Bare => (0, 1),
        }
    }

    fn rule(&mut self, w: &mut dyn Write, ends: [char; 3], fill: char) -> io::Result<()> {
        if self.frame == Frame::Bare {
            return Ok(());
        }
        self.line.clear();
        self.line.push(ends[0]);
        for i in 0..self.widths.len() {
            if i > 0 {
                self.line.push(ends[1]);
            }
            let (l, r) = self.padding(i);
            for _ in 0..self.widths[i] + l + r {
                self.line.push(fill);
            }
        }
        self.line.push(ends[2]);
        writeln!(w, "{}", self.line)
    }

    /// The top border and the header row with the rule under it.
    pub fn header(&mut self, w: &mut dyn Write, cells: &[Text]) -> io::Result<()> {
        self.rule(w, ['╭', '┬', '╮'], '─')?;
        self.row(w, cells)?;
        self.rule(w, ['╞', '╪', '╡'], '═')
    }

    /// One row: as many lines as its tallest cell.
    pub fn row(&mut self, w: &mut dyn Write, cells: &[Text]) -> io::Result<()> {
        let height = cells
            .iter()
            .map(|c| c.text.split('\n').count())
            .max()
            .unwrap_or(0);
        for n in 0..height {
            self.line.clear();
            if self.frame == Frame::Boxed {
                self.line.push('│');
            }
            for (i, cell) in cells.iter().enumerate().take(self.widths.len()) {
                if i > 0 && self.frame == Frame::Boxed {
                    self.line.push('┆');
                }
                let (l, r) = self.padding(i);
                match cell.text.split('\n').nth(n) {
                    Some(text) => {
                        let fill = self.widths[i].saturating_sub(width(text));
                        let padded = format!("{}{text}{}", " ".repeat(l), " ".repeat(fill + r));
                        self.push_styled(padded, cell);
                    }
                    None => {
                        let blank = self.widths[i] + l + r;
                        self.line.extend(std::iter::repeat_n(' ', blank));
                    }
                }
            }
            if self.frame == Frame::Boxed {
                self.line.push('│');
            }
            writeln!(w, "{}", self.line)?;
        }
        Ok(())
    }

    fn push_styled(&mut self, padded: String, cell: &Text) {
        if !self.color || (cell.fg.is_none() && !cell.bold) {
            self.line.push_str(&padded);
            return;
        }
        let mut styled = padded.stylize();
        if let Some(fg) = cell.fg {
            styled = styled.with(fg);
        }
        if cell.bold {
            styled = styled.attribute(Attribute::Bold);
        }
        let _ = write!(self.line, "{styled}");
    }

    /// The bottom border.
    pub fn end(&mut self, w: &mut dyn Write) -> io::Result<()> {
        self.rule(w, ['╰', '┴', '╯'], '─')
    }
}
