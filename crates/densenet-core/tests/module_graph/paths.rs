//! The paths one file's code names: every `use` tree expanded to its paths, and every path
//! expression (`crate::Error::Internal(..)`, `super::sync_bn::bn_backward(..)`), each with the
//! inline modules (`mod tests { .. }`) it sits in.

use super::source::is_ident;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

fn tokens(code: &str) -> Vec<Tok> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if is_ident(ch) {
            let end = (i..c.len()).find(|&j| !is_ident(c[j])).unwrap_or(c.len());
            let word: String = c[i..end].iter().collect();
            // A number (1e5, 0u8) is not a name.
            out.push(if ch.is_ascii_digit() { Tok::Other } else { Tok::Ident(word) });
            i = end;
            continue;
        }
        i += 1;
        out.push(match ch {
            ':' if c.get(i) == Some(&':') => {
                i += 1;
                Tok::PathSep
            }
            '{' => Tok::Open,
            '}' => Tok::Close,
            ',' => Tok::Comma,
            ';' => Tok::Semi,
            '*' => Tok::Star,
            _ if ch.is_whitespace() => continue,
            _ => Tok::Other,
        });
    }
    out
}

/// A path as written (`["super", "context", "two_mut"]`), inside inline modules `scope`.
#[derive(Debug, Clone)]
pub struct Reference {
    pub scope: Vec<String>,
    pub path: Vec<String>,
}

/// What a file's code names.
#[derive(Debug, Default)]
pub struct Scan {
    pub references: Vec<Reference>,
    /// Names the file's top-level `use`s bring in (`Error`, or `Alias` of `use a::B as Alias`),
    /// with their paths as written: the file's re-exports.
    pub imports: Vec<(String, Vec<String>)>,
}

pub fn scan(code: &str) -> Scan {
    let t = tokens(code);
    let mut out = Scan::default();
    // Per open brace: the inline module it opens, if it does.
    let mut braces: Vec<Option<String>> = Vec::new();
    let scope = |braces: &[Option<String>]| braces.iter().flatten().cloned().collect::<Vec<_>>();
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Tok::Ident(w) if w == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Open)) = (t.get(i + 1), t.get(i + 2)) {
                    braces.push(Some(name.clone()));
                    i += 3;
                    continue;
                }
            }
            Tok::Ident(w) if w == "use" => {
                let mut trees = Vec::new();
                i = use_tree(&t, i + 1, Vec::new(), &mut trees);
                for (mut path, alias) in trees {
                    if path.last().is_some_and(|s| s == "self") {
                        path.pop();
                    }
                    let name = alias.or_else(|| path.last().cloned()).filter(|n| n != "*" && n != "_");
                    if let (Some(name), true) = (name, braces.is_empty()) {
                        out.imports.push((name, path.clone()));
                    }
                    out.references.push(Reference { scope: scope(&braces), path });
                }
                continue;
            }
            Tok::Ident(_) if i == 0 || t[i - 1] != Tok::PathSep => {
                let (path, end) = path_at(&t, i);
                if path.len() > 1 {
                    out.references.push(Reference { scope: scope(&braces), path });
                }
                i = end;
                continue;
            }
            Tok::Open => braces.push(None),
            Tok::Close => {
                braces.pop();
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The path `a::b::c` starting at token `i`, and the token after it.
fn path_at(t: &[Tok], mut i: usize) -> (Vec<String>, usize) {
    let mut path = Vec::new();
    while let Some(Tok::Ident(w)) = t.get(i) {
        path.push(w.clone());
        i += 1;
        if t.get(i) != Some(&Tok::PathSep) {
            break;
        }
        i += 1;
    }
    (path, i)
}

/// Expands the use tree at token `i` (after `use`, or inside a `{ .. }` group, below `prefix`)
/// into (path, alias) pairs; returns the token after it.
fn use_tree(t: &[Tok], mut i: usize, mut path: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) -> usize {
    loop {
        match t.get(i) {
            Some(Tok::PathSep) => i += 1,
            Some(Tok::Ident(w)) if w != "as" => {
                path.push(w.clone());
                i += 1;
                if t.get(i) != Some(&Tok::PathSep) {
                    break;
                }
                i += 1;
            }
            Some(Tok::Star) => {
                path.push("*".into());
                i += 1;
                break;
            }
            Some(Tok::Open) => {
                i += 1;
                while !matches!(t.get(i), Some(Tok::Close) | None) {
                    let next = use_tree(t, i, path.clone(), out);
                    // Past the item, its comma, or a token no use tree has.
                    i = if t.get(next) == Some(&Tok::Comma) || next == i { next + 1 } else { next };
                }
                return skip_semi(t, i + 1);
            }
            _ => break,
        }
    }
    let mut alias = None;
    if let (Some(Tok::Ident(w)), Some(Tok::Ident(name))) = (t.get(i), t.get(i + 1)) {
        if w == "as" {
            alias = Some(name.clone());
            i += 2;
        }
    }
    out.push((path, alias));
    skip_semi(t, i)
}

fn skip_semi(t: &[Tok], i: usize) -> usize {
    if t.get(i) == Some(&Tok::Semi) {
        i + 1
    } else {
        i
    }
}
