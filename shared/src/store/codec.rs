//! Values to and from DynamoDB items, straight between serde and the SDK's `AttributeValue`.
//!
//! The format is serde_dynamo's (what every stored item was written with): structs and maps
//! as `M`, sequences as `L`, numbers as `N`, unit variants as `S`, other variants as a
//! one-entry `M`, `None` and `()` as `NULL`; reading also takes `SS`, `NS` and `BS` as
//! sequences. serde_dynamo goes through an item type of its own, which costs every attribute
//! a second hash-map insert each way (a sixth of update-status's warm request: a page of
//! threads read, the ticket written); this writes the SDK's map once and reads it by moving
//! out of it. serde_dynamo stays for the stream's images, which arrive in its type.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::{self, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

use super::Item;

/// What could not be written or read; the callers wrap it in an internal error.
#[derive(Debug)]
pub(crate) struct CodecError(String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

impl ser::Error for CodecError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CodecError(msg.to_string())
    }
}

impl de::Error for CodecError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CodecError(msg.to_string())
    }
}

type Result<T> = std::result::Result<T, CodecError>;

/// A value as an item, without its top-level `NULL` attributes (an absent attribute is what
/// `if_not_exists` and `attribute_not_exists` test for); nested ones are kept.
pub(crate) fn to_item<T: Serialize + ?Sized>(value: &T) -> Result<Item> {
    match value.serialize(Serializer { top: true })? {
        AttributeValue::M(item) => Ok(item),
        _ => Err(CodecError("an item must be a struct or a map".into())),
    }
}

/// An item as a value, moving its strings out.
pub(crate) fn from_item<T: de::DeserializeOwned>(item: Item) -> Result<T> {
    T::deserialize(Deserializer(AttributeValue::M(item)))
}

/// Writes one `AttributeValue`; `top` (the item itself) leaves out its `NULL` members.
struct Serializer {
    top: bool,
}

const NESTED: Serializer = Serializer { top: false };

fn number(v: impl ToString) -> Result<AttributeValue> {
    Ok(AttributeValue::N(v.to_string()))
}

impl ser::Serializer for Serializer {
    type Ok = AttributeValue;
    type Error = CodecError;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Variant<Seq>;
    type SerializeMap = Map;
    type SerializeStruct = Map;
    type SerializeStructVariant = Variant<Map>;

    fn serialize_bool(self, v: bool) -> Result<AttributeValue> {
        Ok(AttributeValue::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_i16(self, v: i16) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_i32(self, v: i32) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_i64(self, v: i64) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_i128(self, v: i128) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_u8(self, v: u8) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_u16(self, v: u16) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_u32(self, v: u32) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_u64(self, v: u64) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_u128(self, v: u128) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_f32(self, v: f32) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_f64(self, v: f64) -> Result<AttributeValue> {
        number(v)
    }
    fn serialize_char(self, v: char) -> Result<AttributeValue> {
        Ok(AttributeValue::S(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<AttributeValue> {
        Ok(AttributeValue::S(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<AttributeValue> {
        Ok(AttributeValue::B(Blob::new(v)))
    }
    fn serialize_none(self) -> Result<AttributeValue> {
        Ok(AttributeValue::Null(true))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<AttributeValue> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<AttributeValue> {
        Ok(AttributeValue::Null(true))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<AttributeValue> {
        Ok(AttributeValue::Null(true))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<AttributeValue> {
        Ok(AttributeValue::S(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<AttributeValue> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _enum: &'static str,
        _index: u32,
        name: &'static str,
        value: &T,
    ) -> Result<AttributeValue> {
        Ok(variant(name, value.serialize(NESTED)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq> {
        Ok(Seq(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq> {
        Ok(Seq(Vec::with_capacity(len)))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq> {
        Ok(Seq(Vec::with_capacity(len)))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Seq>> {
        Ok(Variant(variant, Seq(Vec::with_capacity(len))))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Map> {
        Ok(Map::new(len.unwrap_or(0), self.top))
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Map> {
        Ok(Map::new(len, self.top))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Map>> {
        Ok(Variant(variant, Map::new(len, false)))
    }
}

struct Seq(Vec<AttributeValue>);

impl Seq {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.0.push(value.serialize(NESTED)?);
        Ok(())
    }
}

/// Sequences, tuples and tuple structs: all a list.
macro_rules! list {
    ($($trait:ident $method:ident;)*) => {$(
        impl ser::$trait for Seq {
            type Ok = AttributeValue;
            type Error = CodecError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.push(value)
            }
            fn end(self) -> Result<AttributeValue> {
                Ok(AttributeValue::L(self.0))
            }
        }
    )*};
}

list! {
    SerializeSeq serialize_element;
    SerializeTuple serialize_element;
    SerializeTupleStruct serialize_field;
}

struct Map {
    item: Item,
    key: Option<String>,
    skip_nulls: bool,
}

impl Map {
    fn new(len: usize, skip_nulls: bool) -> Self {
        Map {
            item: HashMap::with_capacity(len),
            key: None,
            skip_nulls,
        }
    }

    fn insert<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<()> {
        let value = value.serialize(NESTED)?;
        if !(self.skip_nulls && value.is_null()) {
            self.item.insert(key, value);
        }
        Ok(())
    }
}

impl ser::SerializeMap for Map {
    type Ok = AttributeValue;
    type Error = CodecError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        match key.serialize(NESTED)? {
            AttributeValue::S(key) | AttributeValue::N(key) => {
                self.key = Some(key);
                Ok(())
            }
            _ => Err(CodecError("a map's keys must be strings".into())),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| CodecError("a map value without its key".into()))?;
        self.insert(key, value)
    }
    fn end(self) -> Result<AttributeValue> {
        Ok(AttributeValue::M(self.item))
    }
}

impl ser::SerializeStruct for Map {
    type Ok = AttributeValue;
    type Error = CodecError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<AttributeValue> {
        Ok(AttributeValue::M(self.item))
    }
}

/// A variant with data: a one-entry map from its name to its value.
fn variant(name: &'static str, value: AttributeValue) -> AttributeValue {
    AttributeValue::M(HashMap::from([(name.to_owned(), value)]))
}

/// A tuple or struct variant, its fields gathered before `variant` wraps them.
struct Variant<T>(&'static str, T);

impl ser::SerializeTupleVariant for Variant<Seq> {
    type Ok = AttributeValue;
    type Error = CodecError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.1.push(value)
    }
    fn end(self) -> Result<AttributeValue> {
        Ok(variant(self.0, AttributeValue::L(self.1 .0)))
    }
}

impl ser::SerializeStructVariant for Variant<Map> {
    type Ok = AttributeValue;
    type Error = CodecError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.1.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<AttributeValue> {
        Ok(variant(self.0, AttributeValue::M(self.1.item)))
    }
}

/// Reads one `AttributeValue`, consuming it.
struct Deserializer(AttributeValue);

impl<'de> IntoDeserializer<'de, CodecError> for Deserializer {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

fn unexpected(v: &AttributeValue, wanted: &str) -> CodecError {
    let kind = match v {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::B(_) => "B",
        AttributeValue::M(_) => "M",
        AttributeValue::L(_) => "L",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        _ => "an unknown type",
    };
    CodecError(format!("expected {wanted}, found {kind}"))
}

/// A number attribute read as the type asked for: `N` parsed, anything else refused.
macro_rules! numbers {
    ($($method:ident $visit:ident $ty:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            match self.0 {
                AttributeValue::N(n) => visitor.$visit(n.parse::<$ty>().map_err(|e| {
                    CodecError(format!("{n:?} as {}: {e}", stringify!($ty)))
                })?),
                other => Err(unexpected(&other, "N")),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Deserializer {
    type Error = CodecError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            AttributeValue::S(s) => visitor.visit_string(s),
            // In serde_dynamo's order: a signed integer, an unsigned one, a float.
            AttributeValue::N(n) => {
                if let Ok(v) = n.parse::<i64>() {
                    visitor.visit_i64(v)
                } else if let Ok(v) = n.parse::<u64>() {
                    visitor.visit_u64(v)
                } else {
                    let v = n
                        .parse::<f64>()
                        .map_err(|e| CodecError(format!("{n:?} as a number: {e}")))?;
                    visitor.visit_f64(v)
                }
            }
            AttributeValue::Bool(b) => visitor.visit_bool(b),
            AttributeValue::Null(_) => visitor.visit_unit(),
            AttributeValue::B(b) => visitor.visit_byte_buf(b.into_inner()),
            AttributeValue::M(m) => visitor.visit_map(de::value::MapDeserializer::new(
                m.into_iter().map(|(k, v)| (k, Deserializer(v))),
            )),
            AttributeValue::L(l) => visitor.visit_seq(de::value::SeqDeserializer::new(
                l.into_iter().map(Deserializer),
            )),
            AttributeValue::Ss(l) => visitor.visit_seq(de::value::SeqDeserializer::new(
                l.into_iter().map(|s| Deserializer(AttributeValue::S(s))),
            )),
            AttributeValue::Ns(l) => visitor.visit_seq(de::value::SeqDeserializer::new(
                l.into_iter().map(|n| Deserializer(AttributeValue::N(n))),
            )),
            AttributeValue::Bs(l) => visitor.visit_seq(de::value::SeqDeserializer::new(
                l.into_iter().map(|b| Deserializer(AttributeValue::B(b))),
            )),
            other => Err(unexpected(&other, "a known attribute type")),
        }
    }

    numbers! {
        deserialize_i8 visit_i8 i8;
        deserialize_i16 visit_i16 i16;
        deserialize_i32 visit_i32 i32;
        deserialize_i64 visit_i64 i64;
        deserialize_i128 visit_i128 i128;
        deserialize_u8 visit_u8 u8;
        deserialize_u16 visit_u16 u16;
        deserialize_u32 visit_u32 u32;
        deserialize_u64 visit_u64 u64;
        deserialize_u128 visit_u128 u128;
        deserialize_f32 visit_f32 f32;
        deserialize_f64 visit_f64 f64;
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            AttributeValue::Null(_) => visitor.visit_none(),
            other => visitor.visit_some(Deserializer(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.0 {
            AttributeValue::S(variant) => visitor.visit_enum(variant.into_deserializer()),
            AttributeValue::M(m) if m.len() == 1 => {
                let (variant, value) = m.into_iter().next().expect("one entry");
                visitor.visit_enum(de::value::MapAccessDeserializer::new(
                    de::value::MapDeserializer::new(std::iter::once((
                        variant,
                        Deserializer(value),
                    ))),
                ))
            }
            other => Err(unexpected(&other, "S or a one-entry M for an enum")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map
        struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{at, ticket};
    use crate::domain::ids::UserId;
    use crate::domain::kinds::{Category, Priority, Rating, Status, ThreadType};
    use crate::domain::ticket::{Deletion, Satisfaction, Thread, Ticket};
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    const NOON: &str = "2026-11-27T12:00:00.000Z";

    fn reference<T: Serialize>(value: &T) -> Item {
        let mut item: Item = serde_dynamo::to_item(value).unwrap();
        item.retain(|_, v| !v.is_null());
        item
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    enum Shape {
        Plain,
        Wrapped(String),
        Pair(u8, i64),
        Fields { at: Option<String>, n: u32 },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Everything {
        text: String,
        small: u8,
        big: u64,
        negative: i64,
        ratio: f64,
        flag: bool,
        missing: Option<String>,
        present: Option<u32>,
        nested_none: Vec<Option<String>>,
        tags: Vec<String>,
        shapes: Vec<Shape>,
        counts: BTreeMap<String, u32>,
        #[serde(with = "serde_bytes_vec")]
        bytes: Vec<u8>,
        tuple: (String, u16),
        inner: Inner,
        #[serde(default)]
        defaulted: u32,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        name: Option<String>,
        kind: ThreadType,
        unit: (),
    }

    mod serde_bytes_vec {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
        pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Vec<u8>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                    Ok(v)
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    fn everything() -> Everything {
        Everything {
            text: "héllo \"quoted\"".into(),
            small: 7,
            big: u64::MAX,
            negative: -42,
            ratio: 0.25,
            flag: true,
            missing: None,
            present: Some(3),
            nested_none: vec![None, Some("x".into())],
            tags: vec!["a".into(), "b".into()],
            shapes: vec![
                Shape::Plain,
                Shape::Wrapped("w".into()),
                Shape::Pair(1, -2),
                Shape::Fields { at: None, n: 9 },
            ],
            counts: BTreeMap::from([("open".into(), 2), ("closed".into(), 5)]),
            bytes: vec![0, 1, 255],
            tuple: ("t".into(), 65535),
            inner: Inner {
                name: None,
                kind: ThreadType::System,
                unit: (),
            },
            defaulted: 0,
        }
    }

    #[test]
    fn writes_what_serde_dynamo_writes_without_top_level_nulls() {
        let value = everything();
        let item = to_item(&value).unwrap();
        assert_eq!(item, reference(&value));
        assert!(!item.contains_key("missing"));
        // Nested NULLs stay, as serde_dynamo writes them.
        assert_eq!(
            item["inner"].as_m().unwrap()["name"],
            AttributeValue::Null(true)
        );
        assert_eq!(item["big"], AttributeValue::N(u64::MAX.to_string()));
    }

    #[test]
    fn reads_what_serde_dynamo_writes_and_what_it_writes_itself() {
        let value = everything();
        let ours: Everything = from_item(to_item(&value).unwrap()).unwrap();
        assert_eq!(ours, value);
        let theirs: Everything = from_item(serde_dynamo::to_item(&value).unwrap()).unwrap();
        assert_eq!(theirs, value);
    }

    #[test]
    fn stored_domain_values_match_serde_dynamo_both_ways() {
        let author = UserId::parse("user-1").unwrap();
        let thread = Thread::new(&author, "hi".into(), ThreadType::User, false, &at(NOON));
        let item = to_item(&thread).unwrap();
        assert_eq!(item, reference(&thread));
        assert_eq!(from_item::<Thread>(item).unwrap(), thread);

        let bare = ticket(Status::Open);
        let mut full = ticket(Status::Resolved);
        full.assigned_to = Some(author.clone());
        full.tags = vec!["vpn".into(), "login".into()];
        full.escalated_at = Some(at(NOON));
        full.sla_paused_since = Some(at(NOON));
        full.satisfaction = Some(Satisfaction {
            rating: Rating::Good,
            comment: Some("thanks".into()),
            rated_at: at(NOON),
            rated_priority: Priority::High,
            rated_category: Category::Billing,
            rated_assignee: Some(author.clone()),
        });
        full.deletion = Some(Deletion {
            deleted_at: at(NOON),
            deleted_by: author,
            purge_after: at(NOON),
        });
        for t in [bare, full] {
            let item = to_item(&t).unwrap();
            assert_eq!(item, reference(&t));
            assert_eq!(from_item::<Ticket>(item).unwrap(), t);
            let theirs: Ticket = serde_dynamo::from_item(reference(&t)).unwrap();
            assert_eq!(theirs, t);
        }
    }

    #[test]
    fn reads_untyped_values_as_serde_dynamo_does() {
        let item = || {
            Item::from([
                ("negative".into(), AttributeValue::N("-5".into())),
                ("big".into(), AttributeValue::N(u64::MAX.to_string())),
                ("half".into(), AttributeValue::N("0.5".into())),
                ("none".into(), AttributeValue::Null(true)),
                ("flag".into(), AttributeValue::Bool(false)),
                (
                    "list".into(),
                    AttributeValue::L(vec![
                        AttributeValue::S("x".into()),
                        AttributeValue::N("7".into()),
                    ]),
                ),
                ("set".into(), AttributeValue::Ss(vec!["a".into()])),
            ])
        };
        let ours: serde_json::Value = from_item(item()).unwrap();
        let theirs: serde_json::Value = serde_dynamo::from_item(item()).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours["big"], serde_json::json!(u64::MAX));
        assert_eq!(ours["negative"], serde_json::json!(-5));
    }

    #[test]
    fn reads_sets_as_sequences_and_refuses_the_wrong_type() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Sets {
            names: Vec<String>,
            numbers: Vec<u32>,
        }
        let item = Item::from([
            (
                "names".into(),
                AttributeValue::Ss(vec!["a".into(), "b".into()]),
            ),
            (
                "numbers".into(),
                AttributeValue::Ns(vec!["1".into(), "2".into()]),
            ),
        ]);
        let sets: Sets = from_item(item).unwrap();
        assert_eq!(sets.numbers, vec![1, 2]);
        assert_eq!(sets.names, vec!["a", "b"]);

        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Count {
            n: u32,
        }
        let wrong = Item::from([("n".into(), AttributeValue::S("7".into()))]);
        let err = from_item::<Count>(wrong).unwrap_err().to_string();
        assert!(err.contains("expected N, found S"), "{err}");
        let too_big = Item::from([("n".into(), AttributeValue::N("5000000000".into()))]);
        assert!(from_item::<Count>(too_big).is_err());
        assert!(to_item(&7u32).is_err());
    }
}
