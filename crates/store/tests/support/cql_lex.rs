//! A CQL tokenizer: enough of the lexical grammar for schema text and the
//! statements a store prepares.

/// A CQL token. Unquoted identifiers and keywords are lower-cased (CQL is
/// case-insensitive for them); quoted identifiers keep their case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    /// `?` (None) or `:name`.
    Marker(Option<String>),
    Sym(String),
}

impl Tok {
    pub fn sym(s: &str) -> Tok {
        Tok::Sym(s.to_owned())
    }
}

pub fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if (c == '-' && next == Some('-')) || (c == '/' && next == Some('/')) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            toks.push(Tok::Ident(word.to_ascii_lowercase()));
        } else if c == '"' {
            let (s, end) = quoted(&chars, i, '"')?;
            toks.push(Tok::Ident(s));
            i = end;
        } else if c == '\'' {
            let (s, end) = quoted(&chars, i, '\'')?;
            toks.push(Tok::Str(s));
            i = end;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            toks.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c == '?' {
            toks.push(Tok::Marker(None));
            i += 1;
        } else if c == ':' && next.is_some_and(|n| n.is_ascii_alphabetic() || n == '_') {
            let start = i + 1;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            toks.push(Tok::Marker(Some(name.to_ascii_lowercase())));
        } else if matches!(
            (c, next),
            ('<', Some('=')) | ('>', Some('=')) | ('!', Some('='))
        ) {
            toks.push(Tok::Sym(format!("{c}=")));
            i += 2;
        } else if "(),;.=<>*+-{}[]:".contains(c) {
            toks.push(Tok::Sym(c.to_string()));
            i += 1;
        } else {
            return Err(format!("unexpected character {c:?} at {i}"));
        }
    }
    Ok(toks)
}

fn quoted(chars: &[char], start: usize, q: char) -> Result<(String, usize), String> {
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(format!("unterminated {q}-quoted text")),
            Some(&c) if c == q => {
                if chars.get(i + 1) == Some(&q) {
                    s.push(q);
                    i += 2;
                } else {
                    return Ok((s, i + 1));
                }
            }
            Some(&c) => {
                s.push(c);
                i += 1;
            }
        }
    }
}

/// A cursor over tokens with the small helpers a recursive-descent parser needs.
pub struct Cursor<'a> {
    pub toks: &'a [Tok],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(toks: &'a [Tok]) -> Self {
        Cursor { toks, pos: 0 }
    }

    pub fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len() || self.peek() == Some(&Tok::sym(";"))
    }

    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(n)) if n == kw)
    }

    pub fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.is_kw(kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub fn kw(&mut self, kw: &str) -> Result<(), String> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(format!(
                "expected {} , found {:?}",
                kw.to_uppercase(),
                self.peek()
            ))
        }
    }

    pub fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if x == s)
    }

    pub fn eat_sym(&mut self, s: &str) -> bool {
        let hit = self.is_sym(s);
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub fn sym(&mut self, s: &str) -> Result<(), String> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(format!("expected {s:?}, found {:?}", self.peek()))
        }
    }

    pub fn ident(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Ident(n)) => {
                self.pos += 1;
                Ok(n.clone())
            }
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    /// Skips a balanced `(..)`, `{..}` or `[..]` group starting at the cursor.
    pub fn skip_group(&mut self) -> Result<(), String> {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => return Err("unbalanced brackets".into()),
                Some(Tok::Sym(s)) if "({[".contains(s.as_str()) => depth += 1,
                Some(Tok::Sym(s)) if ")}]".contains(s.as_str()) => depth -= 1,
                _ => {}
            }
            self.pos += 1;
            if depth == 0 {
                return Ok(());
            }
        }
    }
}
