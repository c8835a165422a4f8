//! What a rendered diagnostic shows of a very long source line: a window
//! around its labels, as rustc does, instead of the whole line.
//!
//! codespan-reporting prints every labelled line whole. For one diagnostic,
//! [`Excerpts`] is a copy of the files it points into in which each long
//! labelled line is cut to the labels plus some context, marked with `...` at
//! the cuts; the diagnostic's spans are moved to match, and the column
//! numbers it prints are still those of the original line.

use std::ops::Range;

use codespan_reporting::files::{Error, Files};
use galette_grammar::{Diagnostic, Label, Span};

use crate::source::SourceFiles;

/// A line longer than this (in characters) is cut around its labels.
const LONG_LINE: usize = 160;
/// Characters kept on each side of the labels of a cut line.
const CONTEXT: usize = 40;
/// What marks a cut.
const CUT: &str = "...";

/// The files one diagnostic points into, with its long lines cut.
pub struct Excerpts {
    files: Vec<Excerpt>,
}

struct Excerpt {
    name: String,
    text: String,
    line_starts: Vec<usize>,
    /// The kept parts of the original text: `(original range, offset in
    /// text)`, in order.
    kept: Vec<(Range<usize>, usize)>,
    /// Per line of `text` that was cut at its start: the original column of
    /// the first character after the cut mark, minus the mark's length.
    column_shift: Vec<(usize, isize)>,
}

impl Excerpts {
    /// The excerpts of `files` for `diagnostic`, and the diagnostic with its
    /// spans moved into them.
    pub fn new(files: &SourceFiles, diagnostic: &Diagnostic) -> (Excerpts, Diagnostic) {
        let labels: Vec<&Label> = std::iter::once(&diagnostic.primary).chain(&diagnostic.secondary).collect();
        let excerpts: Vec<Excerpt> = files
            .iter()
            .enumerate()
            .map(|(id, file)| {
                let spans: Vec<Span> = labels.iter().filter(|label| label.file == id).map(|label| label.span).collect();
                if spans.is_empty() {
                    // Never shown: only the files with labels are read.
                    Excerpt::whole(file.name.clone(), String::new())
                } else {
                    Excerpt::cut(file.name.clone(), &file.text, &spans)
                }
            })
            .collect();
        let mut moved = diagnostic.clone();
        for label in std::iter::once(&mut moved.primary).chain(&mut moved.secondary) {
            if let Some(excerpt) = excerpts.get(label.file) {
                label.span = Span::new(excerpt.map(label.span.start), excerpt.map(label.span.end));
            }
        }
        (Excerpts { files: excerpts }, moved)
    }

    fn get(&self, id: usize) -> Result<&Excerpt, Error> {
        self.files.get(id).ok_or(Error::FileMissing)
    }
}

impl Excerpt {
    fn whole(name: String, text: String) -> Excerpt {
        let kept = vec![(0..text.len(), 0)];
        let line_starts = codespan_reporting::files::line_starts(&text).collect();
        Excerpt { name, text, line_starts, kept, column_shift: Vec::new() }
    }

    /// `text` with every long line that holds a boundary of `spans` cut.
    fn cut(name: String, text: &str, spans: &[Span]) -> Excerpt {
        let mut out = String::with_capacity(text.len().min(64 * 1024));
        let mut kept = Vec::new();
        let mut column_shift = Vec::new();
        let mut line_start = 0;
        for line in text.split_inclusive('\n') {
            let range = line_start..line_start + line.len();
            line_start = range.end;
            let window = window(text, range.clone(), spans);
            let Some((from, to)) = window else {
                kept.push((range.clone(), out.len()));
                out.push_str(line);
                continue;
            };
            if from > range.start {
                let column = text[range.start..from].chars().count() as isize;
                column_shift.push((out.len(), column - CUT.chars().count() as isize));
                out.push_str(CUT);
            }
            kept.push((from..to, out.len()));
            out.push_str(&text[from..to]);
            if to < range.end {
                out.push_str(CUT);
                if text[range.clone()].ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        let line_starts = codespan_reporting::files::line_starts(&out).collect();
        Excerpt { name, text: out, line_starts, kept, column_shift }
    }

    /// Where the original offset `offset` is in the excerpt.
    fn map(&self, offset: usize) -> usize {
        let index = self.kept.partition_point(|(range, _)| range.end < offset);
        match self.kept.get(index) {
            Some((range, at)) => at + offset.saturating_sub(range.start).min(range.len()),
            None => self.text.len(),
        }
    }
}

/// The part of the line `line` of `text` to keep, if it is long and holds a
/// label boundary: `CONTEXT` characters around the boundaries, on character
/// boundaries.
fn window(text: &str, line: Range<usize>, spans: &[Span]) -> Option<(usize, usize)> {
    let content = text[line.clone()].trim_end_matches(['\n', '\r']);
    if content.chars().count() <= LONG_LINE {
        return None;
    }
    let content_end = line.start + content.len();
    let points: Vec<usize> = spans
        .iter()
        .filter(|span| span.start <= content_end && span.end >= line.start)
        .flat_map(|span| [span.start, span.end].map(|point| point.clamp(line.start, content_end)))
        .collect();
    let (first, last) = (*points.iter().min()?, *points.iter().max()?);
    let before =
        text[line.start..first].char_indices().rev().nth(CONTEXT - 1).map_or(line.start, |(i, _)| line.start + i);
    let after = text[last..content_end].char_indices().nth(CONTEXT).map_or(content_end, |(i, _)| last + i);
    // Keep the line's end (its newline) out of the window: it is added back.
    Some((before, after.min(content_end)))
}

impl<'a> Files<'a> for Excerpts {
    type FileId = usize;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: usize) -> Result<&'a str, Error> {
        Ok(&self.get(id)?.name)
    }

    fn source(&'a self, id: usize) -> Result<&'a str, Error> {
        Ok(&self.get(id)?.text)
    }

    fn line_index(&'a self, id: usize, byte_index: usize) -> Result<usize, Error> {
        let starts = &self.get(id)?.line_starts;
        Ok(starts.binary_search(&byte_index).unwrap_or_else(|next| next - 1))
    }

    fn line_range(&'a self, id: usize, line_index: usize) -> Result<Range<usize>, Error> {
        let excerpt = self.get(id)?;
        let start = *excerpt
            .line_starts
            .get(line_index)
            .ok_or(Error::LineTooLarge { given: line_index, max: excerpt.line_starts.len().saturating_sub(1) })?;
        let end = excerpt.line_starts.get(line_index + 1).copied().unwrap_or(excerpt.text.len());
        Ok(start..end)
    }

    /// The column in the original line, not in the cut one.
    fn column_number(&'a self, id: usize, line_index: usize, byte_index: usize) -> Result<usize, Error> {
        let excerpt = self.get(id)?;
        let range = self.line_range(id, line_index)?;
        let column = codespan_reporting::files::column_index(&excerpt.text, range.clone(), byte_index) as isize;
        let shift = excerpt.column_shift.iter().find(|(start, _)| *start == range.start).map_or(0, |(_, shift)| *shift);
        Ok((column + shift).max(0) as usize + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excerpt_of(text: &str, span: Span) -> (String, Span) {
        let mut files = SourceFiles::default();
        files.add("f", text);
        let diagnostic = Diagnostic::error("E0102", "m", 0, span, "here");
        let (excerpts, moved) = Excerpts::new(&files, &diagnostic);
        (excerpts.files[0].text.clone(), moved.primary.span)
    }

    #[test]
    fn short_lines_are_kept_whole() {
        let text = "chain c\nrx -> tx\n";
        assert_eq!(excerpt_of(text, Span::new(8, 10)), (text.to_owned(), Span::new(8, 10)));
    }

    #[test]
    fn a_long_line_is_cut_around_the_label() {
        let line = format!("{}TARGET{}", "a".repeat(1000), "b".repeat(2000));
        let text = format!("chain c\n{line}\nrx -> tx\n");
        let start = 8 + 1000;
        let (excerpt, span) = excerpt_of(&text, Span::new(start, start + 6));
        assert_eq!(&excerpt[span.start..span.end], "TARGET");
        let cut_line = excerpt.lines().nth(1).unwrap();
        assert!(cut_line.starts_with("...") && cut_line.ends_with("..."), "{cut_line}");
        assert!(cut_line.len() < 100, "{} characters", cut_line.len());
        assert!(excerpt.ends_with("\nrx -> tx\n"));
    }

    #[test]
    fn columns_are_those_of_the_original_line() {
        let line = format!("{}é{}X", "a".repeat(500), "b".repeat(499));
        let text = format!("{line}\n");
        let at = text.find('X').unwrap();
        let mut files = SourceFiles::default();
        files.add("f", text.as_str());
        let diagnostic = Diagnostic::error("E0102", "m", 0, Span::new(at, at + 1), "here");
        let (excerpts, moved) = Excerpts::new(&files, &diagnostic);
        let location = excerpts.location(0, moved.primary.span.start).unwrap();
        assert_eq!((location.line_number, location.column_number), (1, 1001));
    }
}
