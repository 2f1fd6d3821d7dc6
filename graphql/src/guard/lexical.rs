//! A single pass over the query text, before it is parsed: the parser recurses on
//! nesting and allocates per token, so both are bounded here first.

/// What the scan counted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shape {
    pub tokens: usize,
    /// Deepest nesting of `{`, `[` and `(`.
    pub nesting: usize,
}

/// Counts tokens and bracket nesting, giving up as soon as either passes its bound,
/// so the scan's cost is linear in the text and stops early on hostile input.
pub fn scan(query: &str, max_tokens: usize, max_nesting: usize) -> Shape {
    let bytes = query.as_bytes();
    let mut shape = Shape::default();
    let mut open = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' => i = skip_string(bytes, i),
            b'{' | b'[' | b'(' => {
                open += 1;
                shape.nesting = shape.nesting.max(open);
                i += 1;
            }
            b'}' | b']' | b')' => {
                open = open.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            _ if is_word(b) => {
                while i < bytes.len() && is_word(bytes[i]) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
        shape.tokens += 1;
        if shape.tokens > max_tokens || shape.nesting > max_nesting {
            break;
        }
    }
    shape
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'.')
}

/// The index just past the string starting at `start` (a `"…"` or a `"""…"""` block).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    if bytes[start..].starts_with(b"\"\"\"") {
        let mut i = start + 3;
        while i < bytes.len() {
            if bytes[i] == b'\\' && bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                return i + 3;
            } else {
                i += 1;
            }
        }
        return i;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_and_nesting_are_counted_outside_strings_and_comments() {
        let s = scan("{ me { role } } # { { {\n", 100, 100);
        assert_eq!(s, Shape { tokens: 6, nesting: 2 });
        let s = scan(r#"{ search(text: "{{{ \" [[[") { a } }"#, 100, 100);
        assert_eq!(s.nesting, 2);
        let s = scan("{ a(x: \"\"\" {{{{ \"\"\") }", 100, 100);
        assert_eq!(s.nesting, 2);
        assert_eq!(scan("{ ...F }", 100, 100).tokens, 4);
    }

    #[test]
    fn the_scan_stops_at_the_first_bound_passed() {
        let deep = "{a".repeat(100_000);
        let s = scan(&deep, 1_000_000, 32);
        assert_eq!(s.nesting, 33);
        let wide = "a ".repeat(100_000);
        assert_eq!(scan(&wide, 500, 32).tokens, 501);
    }

    proptest! {
        #[test]
        fn any_text_is_scanned_without_panicking(text in ".{0,300}") {
            let s = scan(&text, usize::MAX, usize::MAX);
            prop_assert!(s.tokens <= text.len());
        }

        #[test]
        fn nesting_of_balanced_braces_is_their_depth(depth in 1usize..200) {
            let q = format!("{}{}", "{a".repeat(depth), "}".repeat(depth));
            prop_assert_eq!(scan(&q, usize::MAX, usize::MAX).nesting, depth);
        }
    }
}
