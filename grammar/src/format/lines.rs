//! The output, line by line: where lines start, how they are indented, and
//! the comments that end them, which line up at the end.

/// One output line.
#[derive(Debug, Default)]
struct Line {
    indent: usize,
    /// A blank line comes before this one.
    blank_before: bool,
    text: String,
    /// Whether a token is on the line; a line of a comment has none.
    has_code: bool,
    /// Where the comments that end the line start in `text`, when the line
    /// has code before them and they fit on it: such comments line up with
    /// those of the lines around.
    trailing_from: Option<usize>,
}

/// Collects the output lines.
#[derive(Debug, Default)]
pub(super) struct LineWriter {
    lines: Vec<Line>,
}

impl LineWriter {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Starts a new line, after a blank one if `blank_before` (never at the
    /// start of the file).
    pub fn start_line(&mut self, indent: usize, blank_before: bool) {
        let blank_before = blank_before && !self.lines.is_empty();
        self.lines.push(Line { indent, blank_before, ..Line::default() });
    }

    /// Appends a token, after `spaces` spaces unless it starts the line.
    pub fn push_code(&mut self, spaces: usize, text: &str) {
        let line = self.current_line();
        push_spaced(line, spaces, text);
        line.has_code = true;
        line.trailing_from = None;
    }

    /// Appends a comment, after `spaces` spaces unless it starts the line.
    /// The second and further lines of a block comment are kept as written,
    /// each on a line of its own; what follows the comment goes on its last
    /// line.
    pub fn push_comment(&mut self, spaces: usize, text: &str) {
        let mut comment_lines = text.split('\n');
        let first = comment_lines.next().unwrap_or("");
        let line = self.current_line();
        let mut start = line.text.len();
        if !line.text.is_empty() {
            start += spaces;
        }
        push_spaced(line, spaces, first);
        let mut rest = comment_lines.peekable();
        if rest.peek().is_some() {
            // A comment over several lines cannot move right without
            // breaking the look of its later lines.
            line.trailing_from = None;
        } else if line.has_code && line.trailing_from.is_none() {
            line.trailing_from = Some(start);
        }
        for text in rest {
            self.lines.push(Line { text: text.to_owned(), ..Line::default() });
        }
    }

    /// The indentation of the line being written.
    pub fn indent(&self) -> usize {
        self.lines.last().map_or(0, |line| line.indent)
    }

    /// The index of the line being written.
    pub fn line_index(&self) -> usize {
        self.lines.len().saturating_sub(1)
    }

    /// The width of line `index` in characters, indentation included.
    pub fn width(&self, index: usize) -> usize {
        self.lines.get(index).map_or(0, |line| line.indent + line.text.chars().count())
    }

    /// The text: trailing comments lined up, every line without trailing
    /// whitespace and ended by `\n`.
    pub fn finish(mut self) -> String {
        align_trailing_comments(&mut self.lines);
        let mut out = String::new();
        for line in &self.lines {
            if line.blank_before {
                out.push('\n');
            }
            let text = line.text.trim_end();
            if !text.is_empty() {
                out.extend(std::iter::repeat_n(' ', line.indent));
                out.push_str(text);
            }
            out.push('\n');
        }
        out
    }

    fn current_line(&mut self) -> &mut Line {
        if self.lines.is_empty() {
            self.lines.push(Line::default());
        }
        let last = self.lines.len() - 1;
        &mut self.lines[last]
    }
}

fn push_spaced(line: &mut Line, spaces: usize, text: &str) {
    if !line.text.is_empty() {
        line.text.extend(std::iter::repeat_n(' ', spaces));
    }
    line.text.push_str(text);
}

/// Lines up the comments that end consecutive lines (no blank line between
/// them, each with code before its comment) one space after the longest
/// code among them.
fn align_trailing_comments(lines: &mut [Line]) {
    let mut start = 0;
    while start < lines.len() {
        let mut end = start;
        while end < lines.len() && lines[end].trailing_from.is_some() && (end == start || !lines[end].blank_before) {
            end += 1;
        }
        if end == start {
            start += 1;
            continue;
        }
        let run = &mut lines[start..end];
        let code_width = |line: &Line| line.indent + code_part(line).chars().count();
        let column = run.iter().map(code_width).max().unwrap_or(0) + 1;
        for line in run {
            let width = code_width(line);
            let comment = line.text.get(line.trailing_from.unwrap_or(0)..).unwrap_or("").to_owned();
            let mut text = code_part(line).to_owned();
            text.extend(std::iter::repeat_n(' ', column - width));
            text.push_str(&comment);
            line.trailing_from = Some(text.len() - comment.len());
            line.text = text;
        }
        start = end;
    }
}

/// The text of a line before its trailing comments.
fn code_part(line: &Line) -> &str {
    line.text.get(..line.trailing_from.unwrap_or(line.text.len())).unwrap_or(&line.text).trim_end()
}
