//! A TOML document as a tree in which every key and value keeps its byte span, so the
//! loader can name the line of a semantic error ("not a duration") and not only of a
//! syntax error. The `toml` deserializer supplies the spans (see below).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::ops::Range;

/// One TOML value and where it is in the source text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub span: Range<usize>,
    pub val: Val,
}

/// A table key and where it is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Key {
    pub name: String,
    pub span: Range<usize>,
}

/// A TOML value whose children are [`Node`]s.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    /// Entries in source order.
    Table(Vec<(Key, Node)>),
}

impl Val {
    /// What the user would call this kind of value, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a float",
            Val::Bool(_) => "a boolean",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
        }
    }
}

// `toml` hands out spans through serde_spanned's private struct protocol: asked for a
// struct with these names, it visits a map of start, end and value. It does so only where
// it knows a span; elsewhere (implicit tables such as `workload` in `[[workload.x]]`, and
// their keys) it falls back to the plain value. `toml::Spanned` fails on that fallback, so
// this module speaks the protocol itself and accepts both forms.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const START_FIELD: &str = "$__serde_spanned_private_start";
const END_FIELD: &str = "$__serde_spanned_private_end";
const VALUE_FIELD: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[START_FIELD, END_FIELD, VALUE_FIELD];
/// Marks a span `toml` did not provide; [`fill_spans`] replaces it.
const NO_SPAN: Range<usize> = usize::MAX..usize::MAX;
/// The private key under which `toml` hands a datetime to `deserialize_any`.
const DATETIME_FIELD: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, NodeVisitor)
    }
}

/// The inner value of a spanned node: always the plain form.
struct Plain(Val);

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor).map(|n| Plain(n.val))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            name: v.to_owned(),
            span: NO_SPAN,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let (span, name) = read_spanned::<A, String>(&mut map)?;
        Ok(Key { name, span })
    }
}

/// Reads the start, end and value of serde_spanned's protocol map.
fn read_spanned<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
) -> Result<(Range<usize>, T), A::Error> {
    expect_key(map, START_FIELD)?;
    let start: usize = map.next_value()?;
    expect_key(map, END_FIELD)?;
    let end: usize = map.next_value()?;
    expect_key(map, VALUE_FIELD)?;
    let value: T = map.next_value()?;
    Ok((start..end, value))
}

fn expect_key<'de, A: MapAccess<'de>>(map: &mut A, field: &str) -> Result<(), A::Error> {
    match map.next_key::<Key>()? {
        Some(k) if k.name == field => Ok(()),
        _ => Err(de::Error::custom("malformed span information")),
    }
}

struct NodeVisitor;

fn plain(val: Val) -> Node {
    Node { span: NO_SPAN, val }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(plain(Val::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(plain(Val::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v)
            .map(|i| plain(Val::Int(i)))
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(plain(Val::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(plain(Val::Str(v.to_owned())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(plain(Val::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Key>()? {
            if k.name == START_FIELD && entries.is_empty() {
                // The spanned form: start, end, then the value itself.
                let start: usize = map.next_value()?;
                expect_key(&mut map, END_FIELD)?;
                let end: usize = map.next_value()?;
                expect_key(&mut map, VALUE_FIELD)?;
                let val = map.next_value::<Plain>()?.0;
                return Ok(Node {
                    span: start..end,
                    val,
                });
            }
            if k.name == DATETIME_FIELD {
                return Err(de::Error::custom(DATETIME_FIELD));
            }
            let v = map.next_value::<Node>()?;
            entries.push((k, v));
        }
        Ok(plain(Val::Table(entries)))
    }
}

/// Gives every node and key without a span one from nearby: an implicit table takes its
/// first key's span, anything else its parent's.
fn fill_spans(node: &mut Node, parent: &Range<usize>) {
    if node.span == NO_SPAN {
        node.span = match &node.val {
            Val::Table(entries) => entries
                .iter()
                .map(|(k, _)| k.span.clone())
                .find(|s| *s != NO_SPAN),
            _ => None,
        }
        .unwrap_or_else(|| parent.clone());
    }
    let here = node.span.clone();
    match &mut node.val {
        Val::Array(items) => items.iter_mut().for_each(|n| fill_spans(n, &here)),
        Val::Table(entries) => {
            for (k, v) in entries {
                fill_spans(v, &here);
                if k.span == NO_SPAN {
                    k.span = v.span.clone();
                }
            }
        }
        _ => {}
    }
}

/// Parses TOML text into a spanned tree; the error is `(byte offset, message)`.
pub(crate) fn parse(text: &str) -> Result<Node, (Option<usize>, String)> {
    let mut root = toml::from_str::<Node>(text).map_err(|e| {
        // A datetime reaches `deserialize_any` as a private one-key map whose key cannot be
        // spanned; say what the user wrote instead of leaking that detail.
        let msg = if e.message().contains(DATETIME_FIELD) {
            "dates and times are not used in scenario files (durations are strings like \"3s\")"
                .to_owned()
        } else {
            e.message().to_owned()
        };
        (e.span().map(|s| s.start), msg)
    })?;
    fill_spans(&mut root, &(0..0));
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_keys_and_values_in_nested_tables_and_arrays() {
        let text = "a = 1\n[t]\nb = \"x\"\n[[f]]\nc = 2\n[[f]]\nd = [1, 2]\n";
        let root = parse(text).expect("valid toml");
        let Val::Table(top) = &root.val else {
            panic!("root is a table")
        };
        let names: Vec<_> = top.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["a", "t", "f"]);
        let (_, f) = &top[2];
        let Val::Array(items) = &f.val else {
            panic!("f is an array")
        };
        let Val::Table(second) = &items[1].val else {
            panic!("table")
        };
        let (dk, dv) = &second[0];
        assert_eq!(&text[dk.span.clone()], "d");
        assert_eq!(&text[dv.span.clone()], "[1, 2]");
    }

    #[test]
    fn datetimes_are_rejected_with_a_plain_message() {
        let (at, msg) =
            parse("a = 1\nb = 1979-05-27\n").expect_err("datetimes are not scenario values");
        assert_eq!(at, Some(10), "{msg}");
        assert!(msg.starts_with("dates and times are not used"), "{msg}");
    }

    #[test]
    fn implicit_tables_get_the_span_of_their_first_key() {
        let text = "a = 1\n\n[[w.x]]\nb = 2\n";
        let root = parse(text).expect("valid toml");
        let Val::Table(top) = &root.val else {
            panic!("table")
        };
        let (wk, w) = &top[1];
        assert_eq!(wk.name, "w");
        // Both on the `[[w.x]]` header line (bytes 7..14).
        assert!((7..14).contains(&w.span.start), "{:?}", w.span);
        assert!((7..14).contains(&wk.span.start), "{:?}", wk.span);
    }

    #[test]
    fn syntax_errors_carry_an_offset() {
        let (at, msg) = parse("a = \n").expect_err("invalid");
        assert!(at.is_some(), "{msg}");
    }
}
