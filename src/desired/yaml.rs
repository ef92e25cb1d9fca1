//! A YAML document as a tree whose every node knows its line and column, so that validation can
//! name the exact place of every problem. serde_yaml keeps positions only for its own errors;
//! this tree is built from yaml-rust2's marked parser events. Aliases are expanded, within a
//! bound, so that a small file cannot become a huge one.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The most nodes a document may hold once its aliases are expanded.
pub const MAX_NODES: usize = 200_000;
/// The most aliases a document may use.
pub const MAX_ALIASES: usize = 100;
/// The deepest a document may nest. yaml-rust2 stops flow collections (`[[[`) at 256 by itself;
/// block collections (`- - -`) it nests without end, and a tree that deep overflows the stack
/// when it is walked or dropped.
pub const MAX_DEPTH: usize = 256;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        Pos {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
    /// A scalar and whether it was quoted (a quoted `"0123"` is a string, a plain `0123` is not).
    Scalar {
        value: String,
        quoted: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

impl Node {
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
    pub fn is_quoted(&self) -> bool {
        matches!(self.kind, Kind::Scalar { quoted: true, .. })
    }
    /// A plain `null`, `~` or empty value.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, quoted: false } if value.is_empty() || value == "~" || value == "null")
    }
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Map(_) => "a mapping",
            Kind::Seq(_) => "a list",
            Kind::Scalar { .. } => "a scalar",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Parses one document; an empty document is `None`.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // The events are pulled one at a time rather than through `Parser::load`, which recurses
    // once per nesting level (a deep block sequence overflowed the stack) and asserts on what
    // follows a document. The first document is the desired state, as before.
    while b.error.is_none() {
        let (ev, mark) = parser.next_token().map_err(|e| YamlError {
            pos: (*e.marker()).into(),
            message: e.info().to_owned(),
        })?;
        match ev {
            Event::StreamEnd => break,
            Event::DocumentEnd => {
                // One document a file: a second one would otherwise go unread, and what it
                // declares unmanaged, without a word.
                if let Some(pos) = next_document(&mut parser) {
                    b.fail(pos, ONE_DOCUMENT.into());
                }
                break;
            }
            ev => b.on_event(ev, mark),
        }
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(b.root)
}

/// What a desired-state file with a second document is told.
const ONE_DOCUMENT: &str =
    "a desired-state file holds one YAML document; found another here (split a desired state over several files in a directory)";

/// Where the next document starts, if the stream has one more.
fn next_document(parser: &mut Parser<std::str::Chars<'_>>) -> Option<Pos> {
    match parser.next_token() {
        Ok((Event::DocumentStart, mark)) => Some(mark.into()),
        _ => None,
    }
}

/// Where the second document of `text` starts, if it has more than one: for files read with
/// serde (the settings file), which would otherwise read the first and drop the rest.
pub fn second_document(text: &str) -> Option<Pos> {
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_token() {
            Ok((Event::DocumentEnd, _)) => return next_document(&mut parser),
            Ok((Event::StreamEnd, _)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

enum Open {
    Map(Vec<(Node, Node)>, Option<Node>, Pos, usize),
    Seq(Vec<Node>, Pos, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    aliases: usize,
    error: Option<YamlError>,
}

fn count(n: &Node) -> usize {
    match &n.kind {
        Kind::Scalar { .. } => 1,
        Kind::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Kind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
    }
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError { pos, message });
        }
    }

    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(items, _, _)) => items.push(node),
            Some(Open::Map(entries, key, _, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    /// An alias: the anchored node again, counted against the limits.
    fn alias(&mut self, id: usize, pos: Pos) {
        self.aliases += 1;
        if self.aliases > MAX_ALIASES {
            return self.fail(
                pos,
                format!("more than {MAX_ALIASES} aliases; write the values out"),
            );
        }
        let Some(node) = self.anchors.get(&id).cloned() else {
            return self.fail(pos, "alias to an unknown anchor".into());
        };
        self.nodes += count(&node);
        if self.nodes > MAX_NODES {
            return self.fail(
                pos,
                format!("aliases expand the document past {MAX_NODES} nodes"),
            );
        }
        self.push(Node { pos, ..node }, 0);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = Pos::from(mark);
        match ev {
            Event::Scalar(value, style, anchor, _) => {
                self.nodes += 1;
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push(
                    Node {
                        kind: Kind::Scalar { value, quoted },
                        pos,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                return self.fail(
                    pos,
                    format!("the document nests deeper than {MAX_DEPTH} levels"),
                );
            }
            Event::SequenceStart(anchor, _) => {
                self.nodes += 1;
                self.stack.push(Open::Seq(Vec::new(), pos, anchor));
            }
            Event::MappingStart(anchor, _) => {
                self.nodes += 1;
                self.stack.push(Open::Map(Vec::new(), None, pos, anchor));
            }
            Event::SequenceEnd => {
                if let Some(Open::Seq(items, pos, anchor)) = self.stack.pop() {
                    self.push(
                        Node {
                            kind: Kind::Seq(items),
                            pos,
                        },
                        anchor,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Open::Map(entries, _, pos, anchor)) = self.stack.pop() {
                    // The parser marks a block mapping where it recognised it, after its first
                    // key; the first key is where a reader looks.
                    let pos = entries.first().map_or(pos, |(k, _)| k.pos);
                    self.push(
                        Node {
                            kind: Kind::Map(entries),
                            pos,
                        },
                        anchor,
                    );
                }
            }
            Event::Alias(id) => return self.alias(id, pos),
            _ => {}
        }
        if self.nodes > MAX_NODES {
            self.fail(pos, format!("the document has more than {MAX_NODES} nodes"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_where_they_are_and_whether_they_were_quoted() {
        let root = parse("version: 1\naccounts:\n  - id: \"012345678901\"\n    n: 12\n")
            .unwrap()
            .unwrap();
        let Kind::Map(entries) = &root.kind else {
            panic!()
        };
        let (_, accounts) = &entries[1];
        let Kind::Seq(items) = &accounts.kind else {
            panic!()
        };
        let Kind::Map(fields) = &items[0].kind else {
            panic!()
        };
        assert_eq!(fields[0].1.pos, Pos { line: 3, col: 9 });
        assert_eq!(items[0].pos, Pos { line: 3, col: 5 });
        assert!(fields[0].1.is_quoted());
        assert!(!fields[1].1.is_quoted());
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            doc += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            );
        }
        let err = parse(&doc).unwrap_err();
        assert!(
            err.message.contains("past 200000 nodes") || err.message.contains("aliases"),
            "{err:?}"
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
    }
}
