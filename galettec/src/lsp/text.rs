//! Positions in a document as LSP counts them (line, UTF-16 code unit) and
//! as the compiler does (byte offset).

use galette_grammar::Span;
use lsp_types::{Position, Range};

/// A text with the byte offset of each line's start.
#[derive(Debug, Clone)]
pub struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        LineIndex { line_starts }
    }

    /// The position of byte `offset` of `text` (clamped to the text, and
    /// to a character boundary).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let column: usize = text[self.line_starts[line]..offset].chars().map(char::len_utf16).sum();
        Position { line: line as u32, character: column as u32 }
    }

    /// The byte offset of `position` in `text`; a column past the end of
    /// its line is the line's end, a line past the end is the text's end.
    pub fn offset(&self, text: &str, position: Position) -> usize {
        let Some(&start) = self.line_starts.get(position.line as usize) else { return text.len() };
        let line_end = self.line_starts.get(position.line as usize + 1).map_or(text.len(), |next| next - 1);
        let mut units = 0;
        for (at, character) in text[start..line_end].char_indices() {
            if units >= position.character as usize {
                return start + at;
            }
            units += character.len_utf16();
        }
        line_end
    }

    pub fn range(&self, text: &str, span: Span) -> Range {
        Range { start: self.position(text, span.start), end: self.position(text, span.end) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_and_offsets_count_bytes() {
        let text = "chain c\n// café 𝄞\nrx -> tx\n";
        let lines = LineIndex::new(text);
        let rx = text.find("rx").unwrap();
        assert_eq!(lines.position(text, rx), Position { line: 2, character: 0 });
        let clef = text.find('𝄞').unwrap();
        assert_eq!(lines.position(text, clef), Position { line: 1, character: 8 });
        assert_eq!(
            lines.position(text, clef + 4),
            Position { line: 1, character: 10 },
            "a surrogate pair is two units"
        );
        assert_eq!(lines.offset(text, Position { line: 1, character: 10 }), clef + 4);
        assert_eq!(lines.offset(text, Position { line: 2, character: 0 }), rx);
        assert_eq!(lines.offset(text, Position { line: 0, character: 99 }), 7, "past the end of the line");
        assert_eq!(lines.offset(text, Position { line: 9, character: 0 }), text.len());
        assert_eq!(lines.position(text, text.len()), Position { line: 3, character: 0 });
    }
}
