//! Rust source reduced to its code: comments, strings and char literals blanked out, so that a
//! path in a doc link or a message is not read as a reference.

/// `src` with every comment, string and char literal replaced by spaces (newlines kept).
pub fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        let end = match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len()),
            '/' if c.get(i + 1) == Some(&'*') => block_comment_end(&c, i),
            '"' => string_end(&c, i + 1),
            'r' | 'b' if !(i > 0 && is_ident(c[i - 1])) && raw_string_hashes(&c, i).is_some() => raw_string_end(&c, i),
            '\'' => char_literal_end(&c, i),
            _ => i,
        };
        if end == i {
            out.push(c[i]);
            i += 1;
        } else {
            out.extend(c[i..end].iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }));
            i = end;
        }
    }
    out
}

pub fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// End (exclusive) of the block comment starting at `i`; block comments nest.
fn block_comment_end(c: &[char], i: usize) -> usize {
    let (mut depth, mut j) = (0, i);
    while j < c.len() {
        if c[j] == '/' && c.get(j + 1) == Some(&'*') {
            depth += 1;
            j += 2;
        } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return j;
            }
        } else {
            j += 1;
        }
    }
    c.len()
}

/// End (exclusive) of a string whose contents start at `j`.
fn string_end(c: &[char], mut j: usize) -> usize {
    while j < c.len() {
        match c[j] {
            '\\' => j += 2,
            '"' => return j + 1,
            _ => j += 1,
        }
    }
    c.len()
}

/// The number of `#` of the raw string (`r#"…"#`, `br"…"`) starting at `i`, if one does.
fn raw_string_hashes(c: &[char], i: usize) -> Option<usize> {
    let r = if c[i] == 'b' { i + 1 } else { i };
    if c.get(r) != Some(&'r') {
        return None;
    }
    let hashes = c[r + 1..].iter().take_while(|&&ch| ch == '#').count();
    (c.get(r + 1 + hashes) == Some(&'"')).then_some(hashes)
}

fn raw_string_end(c: &[char], i: usize) -> usize {
    let hashes = raw_string_hashes(c, i).expect("a raw string starts here");
    let open = c[i..].iter().position(|&ch| ch == '"').unwrap() + i;
    let mut j = open + 1;
    while j < c.len() {
        if c[j] == '"' && c[j + 1..].iter().take(hashes).filter(|&&ch| ch == '#').count() == hashes {
            return j + 1 + hashes;
        }
        j += 1;
    }
    c.len()
}

/// End (exclusive) of the char literal at `i`, or `i` for a lifetime (`'a`), which stays.
fn char_literal_end(c: &[char], i: usize) -> usize {
    if c.get(i + 1) == Some(&'\\') {
        // '\n', '\'', '\u{1F600}': the escape, then up to the closing quote.
        return (i + 3..c.len()).find(|&j| c[j] == '\'').map_or(c.len(), |j| j + 1);
    }
    if c.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    i
}
