//! Reads one Rust source file far enough to find what it refers to inside its crate: every `use` tree and every
//! path in code that starts with `crate::`, `super::` or `self::`, with the line it is on and the inline modules
//! (`mod tests { … }`) it sits in, which `super` and `self` are relative to. Comments, string and character
//! literals are skipped first, so a path in a doc comment or a message is not a reference.

/// One piece of source text, comments and whitespace removed.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// An identifier, keyword or number.
    Word(String),
    /// The contents of a string literal, escapes left as written (only `#[path = "…"]` reads it).
    Str(String),
    /// `::`
    PathSep,
    Punct(char),
}

struct Lexeme {
    token: Token,
    line: usize,
}

/// A path that starts with `crate`, `self` or `super`, as written (`self` and `super` not yet resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub line: usize,
    /// The inline modules the path is written in, outermost first (empty at the top of the file).
    pub inline: Vec<String>,
    pub segments: Vec<String>,
}

/// What a file says about the crate's shape and its own dependencies.
#[derive(Debug, Default)]
pub struct Scan {
    pub references: Vec<Reference>,
    /// `#[path = "…"] mod name;` at the top of the file: (name, the path as written).
    pub path_modules: Vec<(String, String)>,
}

pub fn scan(source: &str) -> Scan {
    Parser {
        lexemes: lex(source),
        position: 0,
        inline: Vec::new(),
        depth: 0,
        scan: Scan::default(),
    }
    .run()
}

fn lex(source: &str) -> Vec<Lexeme> {
    let chars: Vec<char> = source.chars().collect();
    let mut lexemes = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let start_line = line;
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let token = if c == '\n' {
            line += 1;
            i += 1;
            None
        } else if c.is_whitespace() {
            i += 1;
            None
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            None
        } else if c == '/' && next == Some('*') {
            i = skip_block_comment(&chars, i, &mut line);
            None
        } else if c == '"' {
            let (end, text) = string(&chars, i, &mut line);
            i = end;
            Some(Token::Str(text))
        } else if c == '\'' {
            i = skip_char_or_lifetime(&chars, i);
            None
        } else if c == ':' && next == Some(':') {
            i += 2;
            Some(Token::PathSep)
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            word_or_literal(&chars, &mut i, word, &mut line)
        } else {
            i += 1;
            Some(Token::Punct(c))
        };
        if let Some(token) = token {
            lexemes.push(Lexeme {
                token,
                line: start_line,
            });
        }
    }
    lexemes
}

/// A word just read may be the prefix of a literal (`b"…"`, `r#"…"#`, `b'x'`) or of a raw identifier
/// (`r#type`); `i` is just past the word.
fn word_or_literal(chars: &[char], i: &mut usize, word: String, line: &mut usize) -> Option<Token> {
    let next = chars.get(*i).copied();
    let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
    if matches!(word.as_str(), "b" | "c") && next == Some('"') {
        let (end, text) = string(chars, *i, line);
        *i = end;
        return Some(Token::Str(text));
    }
    if word == "b" && next == Some('\'') {
        *i = skip_char_or_lifetime(chars, *i);
        return None;
    }
    if raw_prefix && matches!(next, Some('"' | '#')) {
        let hashes = chars[*i..].iter().take_while(|&&c| c == '#').count();
        if chars.get(*i + hashes) == Some(&'"') {
            let (end, text) = raw_string(chars, *i + hashes + 1, hashes, line);
            *i = end;
            return Some(Token::Str(text));
        }
        if word == "r" && hashes == 1 {
            // A raw identifier: `r#type` is the word `type`.
            let start = *i + 1;
            *i = start;
            while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
                *i += 1;
            }
            return Some(Token::Word(chars[start..*i].iter().collect()));
        }
    }
    Some(Token::Word(word))
}

/// Block comments nest in Rust.
fn skip_block_comment(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1).copied()) {
            ('/', Some('*')) => {
                depth += 1;
                i += 2;
            }
            ('*', Some('/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            (c, _) => {
                if c == '\n' {
                    *line += 1;
                }
                i += 1;
            }
        }
    }
    i
}

/// `open` is the opening quote; returns the index past the closing one and the text between.
fn string(chars: &[char], open: usize, line: &mut usize) -> (usize, String) {
    let mut i = open + 1;
    let mut text = String::new();
    while i < chars.len() && chars[i] != '"' {
        let step = if chars[i] == '\\' { 2 } else { 1 };
        for &c in chars.iter().skip(i).take(step) {
            if c == '\n' {
                *line += 1;
            }
            text.push(c);
        }
        i += step;
    }
    (i + 1, text)
}

/// `start` is just past the opening quote; the string ends at a quote followed by `hashes` hashes.
fn raw_string(chars: &[char], start: usize, hashes: usize, line: &mut usize) -> (usize, String) {
    let mut i = start;
    while i < chars.len() {
        let closes = chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#'));
        if closes {
            return (i + 1 + hashes, chars[start..i].iter().collect());
        }
        if chars[i] == '\n' {
            *line += 1;
        }
        i += 1;
    }
    (i, chars[start..].iter().collect())
}

/// At a `'`: a character literal (`'x'`, `'\''`, `'\u{1F600}'`) is skipped whole; a lifetime or label
/// (`'a`, `'static`) only loses its quote. Neither holds a path.
fn skip_char_or_lifetime(chars: &[char], quote: usize) -> usize {
    if chars.get(quote + 1) == Some(&'\\') {
        let mut i = quote + 3;
        while i < chars.len() && chars[i] != '\'' {
            i += 1;
        }
        i + 1
    } else if chars.get(quote + 2) == Some(&'\'') {
        quote + 3
    } else {
        quote + 1
    }
}

struct Parser {
    lexemes: Vec<Lexeme>,
    position: usize,
    /// Open inline modules: name and the brace depth inside their block.
    inline: Vec<(String, usize)>,
    depth: usize,
    scan: Scan,
}

impl Parser {
    fn token(&self, offset: isize) -> Option<&Token> {
        let index = self.position.checked_add_signed(offset)?;
        self.lexemes.get(index).map(|lexeme| &lexeme.token)
    }

    fn word(&self, offset: isize) -> Option<&str> {
        match self.token(offset) {
            Some(Token::Word(word)) => Some(word),
            _ => None,
        }
    }

    fn line(&self) -> usize {
        let last = self.lexemes.len().saturating_sub(1);
        self.lexemes
            .get(self.position.min(last))
            .map_or(0, |lexeme| lexeme.line)
    }

    fn run(mut self) -> Scan {
        let mut pending_path: Option<String> = None;
        let mut pending_inline: Option<String> = None;
        while let Some(token) = self.token(0).cloned() {
            match token {
                Token::Punct('#') => {
                    if let Some(path) = self.path_attribute() {
                        pending_path = Some(path);
                    }
                }
                Token::Punct('{') => {
                    self.depth += 1;
                    if let Some(name) = pending_inline.take() {
                        self.inline.push((name, self.depth));
                    }
                    pending_path = None;
                }
                Token::Punct('}') => {
                    if self
                        .inline
                        .last()
                        .is_some_and(|(_, depth)| *depth == self.depth)
                    {
                        self.inline.pop();
                    }
                    self.depth = self.depth.saturating_sub(1);
                    pending_path = None;
                }
                Token::Punct(';') => pending_path = None,
                Token::Word(word) if word == "mod" => {
                    if let Some(name) = self.word(1).map(str::to_owned) {
                        match self.token(2) {
                            Some(Token::Punct('{')) => pending_inline = Some(name),
                            Some(Token::Punct(';')) if self.inline.is_empty() => {
                                if let Some(path) = pending_path.take() {
                                    self.scan.path_modules.push((name, path));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                // `use<'a>` is a precise-capturing bound, not an import.
                Token::Word(word) if word == "use" && self.token(1) != Some(&Token::Punct('<')) => {
                    self.position += 1;
                    self.use_tree(Vec::new());
                    continue;
                }
                Token::Word(word) if is_path_start(&word) && self.starts_code_path() => {
                    self.code_path();
                    continue;
                }
                _ => {}
            }
            self.position += 1;
        }
        self.scan
    }

    /// At `#`: `#[path = "…"]` gives the path; the position stays on `#` either way.
    fn path_attribute(&self) -> Option<String> {
        let shape_matches = self.token(1) == Some(&Token::Punct('['))
            && self.word(2) == Some("path")
            && self.token(3) == Some(&Token::Punct('='))
            && self.token(5) == Some(&Token::Punct(']'));
        match self.token(4) {
            Some(Token::Str(path)) if shape_matches => Some(path.clone()),
            _ => None,
        }
    }

    /// At `crate`, `self` or `super`: whether a path in code starts here. Not in the middle of a path
    /// (`super::super`), not `$crate` in a macro, and only when a `::` follows (`pub(crate)`, `self.field` are
    /// no paths). A visibility (`pub(in crate::a)`) reads as a path, but it names an ancestor, which never counts.
    fn starts_code_path(&self) -> bool {
        self.token(1) == Some(&Token::PathSep)
            && self.token(-1) != Some(&Token::PathSep)
            && self.token(-1) != Some(&Token::Punct('$'))
    }

    fn code_path(&mut self) {
        let line = self.line();
        let mut segments = Vec::new();
        while let Some(word) = self.word(0).map(str::to_owned) {
            segments.push(word);
            self.position += 1;
            if self.token(0) == Some(&Token::PathSep) && self.word(1).is_some() {
                self.position += 1;
            } else {
                break;
            }
        }
        self.push_reference(line, segments);
    }

    /// Reads one use tree after `prefix` and records each leaf path; stops before the `,`, `}` or `;` that
    /// ends it.
    fn use_tree(&mut self, mut path: Vec<String>) {
        while let Some(token) = self.token(0).cloned() {
            match token {
                Token::PathSep if path.is_empty() => {
                    // `use ::name`: an external crate.
                    path.push("::".to_owned());
                    self.position += 1;
                }
                Token::PathSep => self.position += 1,
                Token::Word(word) if word == "as" => {
                    self.push_reference(self.line(), path);
                    self.position += 2;
                    return;
                }
                Token::Word(word) => {
                    path.push(word);
                    self.position += 1;
                }
                Token::Punct('*') => {
                    self.push_reference(self.line(), path);
                    self.position += 1;
                    return;
                }
                Token::Punct('{') => {
                    self.position += 1;
                    while let Some(token) = self.token(0) {
                        match token {
                            Token::Punct('}') => break,
                            Token::Punct(',') => self.position += 1,
                            _ => self.use_tree(path.clone()),
                        }
                    }
                    self.position += 1;
                    return;
                }
                _ => break,
            }
        }
        let last = self.position.saturating_sub(1);
        let line = self.lexemes.get(last).map_or(0, |lexeme| lexeme.line);
        self.push_reference(line, path);
    }

    fn push_reference(&mut self, line: usize, segments: Vec<String>) {
        if segments.first().is_some_and(|first| is_path_start(first)) {
            self.scan.references.push(Reference {
                line,
                inline: self.inline.iter().map(|(name, _)| name.clone()).collect(),
                segments,
            });
        }
    }
}

fn is_path_start(word: &str) -> bool {
    matches!(word, "crate" | "self" | "super")
}

/// Where `segments`, written inside `module`, points: an absolute module path (empty for the crate root)
/// that may go on into items. None when it climbs above the crate root.
pub fn resolve(module: &[String], segments: &[String]) -> Option<Vec<String>> {
    let mut path = module.to_vec();
    for (index, segment) in segments.iter().enumerate() {
        match segment.as_str() {
            "crate" if index == 0 => path.clear(),
            "self" => {}
            "super" => {
                path.pop()?;
            }
            _ => path.push(segment.clone()),
        }
    }
    Some(path)
}
