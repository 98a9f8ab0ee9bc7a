//! A TOML document as a tree in which every key and value keeps its byte span, so the
//! loader can name the line of a semantic error ("not a duration") and not only of a
//! syntax error. Built on `toml::Spanned`, which the `toml` deserializer fills in.

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

/// The private key under which `toml` hands a datetime to `deserialize_any`.
const DATETIME_FIELD: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = toml::Spanned::<Val>::deserialize(d)?;
        let span = s.span();
        Ok(Node { span, val: s.into_inner() })
    }
}

impl<'de> Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val, E> {
        Ok(Val::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val, E> {
        Ok(Val::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val, E> {
        i64::try_from(v).map(Val::Int).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val, E> {
        Ok(Val::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val, E> {
        Ok(Val::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Val, E> {
        Ok(Val::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(Val::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<toml::Spanned<String>>()? {
            let span = k.span();
            let v = map.next_value::<Node>()?;
            entries.push((Key { name: k.into_inner(), span }, v));
        }
        Ok(Val::Table(entries))
    }
}

/// Parses TOML text into a spanned tree; the error is `(byte offset, message)`.
pub(crate) fn parse(text: &str) -> Result<Node, (Option<usize>, String)> {
    toml::from_str::<Node>(text).map_err(|e| {
        // A datetime reaches `deserialize_any` as a private one-key map whose key cannot be
        // spanned; say what the user wrote instead of leaking that detail.
        let msg = if e.message().contains(DATETIME_FIELD) {
            "dates and times are not used in scenario files (durations are strings like \"3s\")".to_owned()
        } else {
            e.message().to_owned()
        };
        (e.span().map(|s| s.start), msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_keys_and_values_in_nested_tables_and_arrays() {
        let text = "a = 1\n[t]\nb = \"x\"\n[[f]]\nc = 2\n[[f]]\nd = [1, 2]\n";
        let root = parse(text).expect("valid toml");
        let Val::Table(top) = &root.val else { panic!("root is a table") };
        let names: Vec<_> = top.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["a", "t", "f"]);
        let (_, f) = &top[2];
        let Val::Array(items) = &f.val else { panic!("f is an array") };
        let Val::Table(second) = &items[1].val else { panic!("table") };
        let (dk, dv) = &second[0];
        assert_eq!(&text[dk.span.clone()], "d");
        assert_eq!(&text[dv.span.clone()], "[1, 2]");
    }

    #[test]
    fn datetimes_are_rejected_with_a_plain_message() {
        let (at, msg) = parse("a = 1\nb = 1979-05-27\n").expect_err("datetimes are not scenario values");
        assert_eq!(at, Some(10), "{msg}");
        assert!(msg.starts_with("dates and times are not used"), "{msg}");
    }

    #[test]
    fn syntax_errors_carry_an_offset() {
        let (at, msg) = parse("a = \n").expect_err("invalid");
        assert!(at.is_some(), "{msg}");
    }
}
