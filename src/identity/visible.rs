//! [`visible`]: a client-chosen string made safe for a terminal, a log or
//! a line of text.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with everything that could rewrite what a reader sees made
/// visible: control characters (a newline or tab that forges a row, an
/// escape sequence that clears or recolours a terminal), Unicode line and
/// paragraph separators, the bidirectional and zero-width format
/// characters, and the backslash, so an escape cannot be faked. `\n`,
/// `\r`, `\t` and `\\` keep their usual names; the rest read `\u{…}`, as
/// Rust writes them. What `axes` prints for humans (the command line's
/// tables) goes through it; `--json` escapes as JSON does.
///
/// ```
/// use axes::identity::visible;
/// assert_eq!(visible("alice"), "alice");
/// assert_eq!(visible("mallory\n10.66.66.66\tforged"), r"mallory\n10.66.66.66\tforged");
/// assert_eq!(visible("\u{1b}[2J\u{202e}x"), r"\u{1b}[2J\u{202e}x");
/// assert_eq!(visible(r"a\nb"), r"a\\nb");
/// ```
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `c` is one [`visible`] rewrites.
fn hidden(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(
            c,
            '\u{061c}'                  // Arabic letter mark
                | '\u{200b}'..='\u{200f}' // zero-width spaces and joiners, LRM, RLM
                | '\u{2028}'..='\u{202e}' // line and paragraph separators, bidi embeddings
                | '\u{2060}'..='\u{2069}' // word joiner, invisible operators, bidi isolates
                | '\u{feff}'              // zero-width no-break space
        )
}
