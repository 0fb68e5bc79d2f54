//! CloudStack's XML written straight from a response type's `Serialize`, so a page of
//! 500 rows is not first built as a tree of `serde_json::Value` (a map, a key string and a
//! value per field) only to be walked once and dropped.
//!
//! It writes exactly what the `Value` path (`super::xml_element`) writes for the same
//! value: a struct or map is its fields as child elements, a sequence repeats its
//! element's name, `None` and unit are an empty element, numbers and booleans are their
//! JSON text, strings are escaped text. Names pass through [`super::xml_name`] and text
//! through [`super::xml_text`], so nothing a caller stored becomes markup. Fields come in
//! the type's declaration order, as CloudStack's own serializer writes them (the `Value`
//! path, a sorted map, wrote them alphabetically; XML clients read elements by name).

use std::fmt;

use serde::ser::{self, Serialize};

use super::{xml_name, xml_text};

#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Error {}
impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

type Result<T = ()> = std::result::Result<T, Error>;

/// Writes `value` as the element(s) `name`: one element, or one per item of a sequence.
pub fn element<T: Serialize + ?Sized>(name: &str, value: &T, out: &mut String) -> Result {
    value.serialize(Element { name, out })
}

/// The element `name` holding whatever is serialised into it.
struct Element<'a> {
    name: &'a str,
    out: &'a mut String,
}

impl Element<'_> {
    fn open(&mut self) {
        self.out.push('<');
        self.out.push_str(&xml_name(self.name));
        self.out.push('>');
    }
    fn close(&mut self) {
        self.out.push_str("</");
        self.out.push_str(&xml_name(self.name));
        self.out.push('>');
    }
    fn text(mut self, s: &str) -> Result {
        self.open();
        self.out.push_str(&xml_text(s));
        self.close();
        Ok(())
    }
    fn empty(mut self) -> Result {
        self.open();
        self.close();
        Ok(())
    }
}

/// Children of an element being written (fields of a struct or entries of a map); the
/// element is closed when they end. `wrapper` is the enum variant's element of a struct
/// or newtype variant, closed first.
pub struct Children<'a> {
    name: &'a str,
    wrapper: Option<&'static str>,
    out: &'a mut String,
    key: Option<String>,
}

impl Children<'_> {
    fn finish(self) -> Result {
        if let Some(v) = self.wrapper {
            Element {
                name: v,
                out: &mut *self.out,
            }
            .close();
        }
        Element {
            name: self.name,
            out: self.out,
        }
        .close();
        Ok(())
    }
}

/// Items of a sequence, each written as its own element of the sequence's name.
pub struct Items<'a> {
    name: &'a str,
    out: &'a mut String,
}

impl<'a> ser::Serializer for Element<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Items<'a>;
    type SerializeTuple = Items<'a>;
    type SerializeTupleStruct = Items<'a>;
    type SerializeTupleVariant = Items<'a>;
    type SerializeMap = Children<'a>;
    type SerializeStruct = Children<'a>;
    type SerializeStructVariant = Children<'a>;

    fn serialize_bool(self, v: bool) -> Result {
        self.text(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.text(&v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.text(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.text(&v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result {
        self.text(&v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result {
        // JSON's text of the number (`1.0`, not `1`); JSON has no NaN or infinity, and
        // serde_json makes them null, an empty element.
        if v.is_finite() {
            let s = serde_json::to_string(&v).map_err(|e| Error(e.to_string()))?;
            self.text(&s)
        } else {
            self.empty()
        }
    }
    fn serialize_char(self, v: char) -> Result {
        self.text(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        self.text(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        // As serde_json: an array of numbers.
        for b in v {
            Element {
                name: self.name,
                out: &mut *self.out,
            }
            .serialize_u8(*b)?;
        }
        Ok(())
    }
    fn serialize_none(self) -> Result {
        self.empty()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.empty()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        self.empty()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.open();
        element(variant, value, self.out)?;
        self.close();
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Items<'a>> {
        Ok(Items {
            name: self.name,
            out: self.out,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Items<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Items<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Items<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(mut self, _: Option<usize>) -> Result<Children<'a>> {
        self.open();
        Ok(Children {
            name: self.name,
            wrapper: None,
            out: self.out,
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Children<'a>> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Children<'a>> {
        self.open();
        Element {
            name: variant,
            out: &mut *self.out,
        }
        .open();
        Ok(Children {
            name: self.name,
            wrapper: Some(variant),
            out: self.out,
            key: None,
        })
    }
}

/// Every kind of sequence (serde has four traits for them) writes each item the same way.
macro_rules! items {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Items<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
                element(self.name, value, self.out)
            }
            fn end(self) -> Result {
                Ok(())
            }
        }
    )*};
}
items!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Children<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        // serde_json's map keys: strings, and numbers, booleans and chars as their text.
        let k = match serde_json::to_value(key).map_err(|e| Error(e.to_string()))? {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        self.key = Some(k);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error("a map value without its key".into()))?;
        element(&key, value, self.out)
    }
    fn end(self) -> Result {
        self.finish()
    }
}
/// A struct's fields and a struct variant's are the element's children alike.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Children<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result {
                element(key, value, self.out)
            }
            fn end(self) -> Result {
                self.finish()
            }
        }
    )*};
}
fields!(SerializeStruct, SerializeStructVariant);
