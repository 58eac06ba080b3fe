//! The pool's serde format: every value at its full width, little-endian,
//! in field order, with nothing to describe it.
//!
//! A `u64` is always 8 bytes, an `i32` 4, a `bool` or an `Option`'s tag 1;
//! a string, byte string, sequence or map is a `u64` count and then its
//! elements (so a `Vec<T>` reads as a `usize` and that many `T`s); an
//! enum is its `u32` variant index and then its fields;
//! structs and tuples are their fields, one after another. The reader
//! must know the type (there are no field names or type tags), which both
//! ends of a pool do: they are the same program.
//!
//! Why not a varint format such as postcard: a tiny task's item and
//! result are one integer each, and a varint costs a loop with a branch
//! per byte on both ends, four times per task; here each is one load or
//! one store. The bytes are a little larger, which a pipe does not mind.
//!
//! Bad bytes are an [`Error`], never a panic, and never a large
//! allocation: a count is only a hint (serde's collections reserve at
//! most about a megabyte from it), the elements must be there.
//!
//! ```
//! use process_pool::codec;
//!
//! let mut out = Vec::new();
//! codec::append(&(7u64, Some("seven"), vec![1u16, 2]), &mut out)?;
//! assert_eq!(out.len(), 8 + (1 + 8 + 5) + (8 + 2 * 2));
//! let (back, rest): ((u64, Option<String>, Vec<u16>), _) = codec::take(&out)?;
//! assert_eq!(back, (7, Some("seven".into()), vec![1, 2]));
//! assert!(rest.is_empty());
//! # Ok::<(), codec::Error>(())
//! ```

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use serde::{Deserialize, Deserializer, Serializer};

/// What can go wrong encoding or decoding a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes ended inside a value.
    #[error("the bytes end inside a value")]
    Eof,
    /// A whole value decoded, and bytes were left after it.
    #[error("{0} bytes left after the value")]
    Trailing(usize),
    /// A `bool` or an `Option` tag that is neither 0 nor 1.
    #[error("byte {0} is not a bool or an Option tag (0 or 1)")]
    BadTag(u8),
    /// A `char` that is not a Unicode scalar value.
    #[error("{0:#x} is not a char")]
    BadChar(u32),
    /// A string that is not UTF-8.
    #[error("a string that is not UTF-8")]
    BadUtf8,
    /// A count larger than this machine's `usize`.
    #[error("a count of {0} does not fit this machine")]
    TooLong(u64),
    /// The type asks for something this format cannot give: a
    /// self-describing value (`deserialize_any`), or skipping an unknown one.
    #[error("the format has no type information: cannot {0}")]
    Unsupported(&'static str),
    /// A type's own `Serialize` or `Deserialize` refused the value.
    #[error("{0}")]
    Custom(String),
}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

impl de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// Appends the encoding of `value` to `out`. On error `out` may hold a
/// part of it: truncate it back.
#[inline]
pub fn append<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    value.serialize(&mut Encoder::new(out))
}

/// Appends one value after another to a `Vec`, as [`append`] does, for a
/// loop that appends a value per pass: the length written so far stays in
/// a register between them, and the `Vec` has it back when this is
/// dropped. Keep the loop free of calls that are not inlined and take the
/// appender, or it lives in memory again.
pub(crate) struct Appender<'a>(Encoder<'a>);

impl<'a> Appender<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Appender(Encoder::new(out))
    }

    /// Appends the encoding of `value`. On error a part of it may be
    /// there: [`truncate`](Self::truncate) back.
    #[inline(always)]
    pub fn append<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(&mut self.0)
    }

    /// The bytes in the `Vec`, these appended included.
    pub fn len(&self) -> usize {
        self.0.len
    }

    /// Drops the bytes from `len` on (nothing if there are fewer).
    pub fn truncate(&mut self, len: usize) {
        self.0.len = self.0.len.min(len);
    }
}

/// Decodes one `T` from the front of `bytes`; returns it and the bytes
/// after it.
#[inline]
pub fn take<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<(T, &'de [u8])> {
    let mut decoder = Decoder { rest: bytes };
    let value = T::deserialize(&mut decoder)?;
    Ok((value, decoder.rest))
}

/// Decodes `bytes` as exactly one `T`: bytes left over are an error.
pub fn decode<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    match take(bytes)? {
        (value, []) => Ok(value),
        (_, rest) => Err(Error::Trailing(rest.len())),
    }
}

/// Writes into the `Vec` it borrows. The length written so far lives
/// here, not in the `Vec` (which gets it back on drop): a store of the
/// bytes cannot change it, so a sequence's loop keeps it in a register
/// rather than reloading it from the `Vec` after every element.
struct Encoder<'a> {
    vec: &'a mut Vec<u8>,
    /// The `Vec`'s buffer and capacity, as of the last growth.
    ptr: *mut u8,
    cap: usize,
    /// Bytes written (initialised) from `ptr` on.
    len: usize,
}

impl<'a> Encoder<'a> {
    fn new(vec: &'a mut Vec<u8>) -> Self {
        Encoder {
            ptr: vec.as_mut_ptr(),
            cap: vec.capacity(),
            len: vec.len(),
            vec,
        }
    }

    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        if self.cap - self.len < bytes.len() {
            (self.ptr, self.cap) = grow(self.vec, self.len, bytes.len());
        }
        // SAFETY: `ptr` is the `Vec`'s buffer with room for `cap` bytes,
        // and `len + bytes.len() <= cap` (grown above if not). `bytes` is
        // not in that buffer: the `Vec` is borrowed mutably here.
        unsafe {
            self.ptr
                .add(self.len)
                .copy_from_nonoverlapping(bytes.as_ptr(), bytes.len());
        }
        self.len += bytes.len();
    }

    fn count(&mut self, n: usize) {
        self.put(&(n as u64).to_le_bytes());
    }

    /// Overwrites bytes already written, from `at` on.
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        assert!(at + bytes.len() <= self.len, "patching bytes not written");
        // SAFETY: within the `len` bytes written (checked above).
        unsafe {
            self.ptr
                .add(at)
                .copy_from_nonoverlapping(bytes.as_ptr(), bytes.len());
        }
    }
}

impl Drop for Encoder<'_> {
    fn drop(&mut self) {
        // SAFETY: the first `len` bytes of the buffer are initialised (the
        // `Vec`'s own up to its length, then those `put` wrote), and
        // `len <= cap`.
        unsafe { self.vec.set_len(self.len) };
    }
}

/// Grows `vec`, of which `len` bytes are written, to room for `more`;
/// its buffer and capacity after. Out of line, and given the `Vec`, not
/// the [`Encoder`], so the encoder's fields stay in registers.
#[cold]
#[inline(never)]
fn grow(vec: &mut Vec<u8>, len: usize, more: usize) -> (*mut u8, usize) {
    // SAFETY: the first `len` bytes are initialised and within capacity
    // (the encoder's invariant).
    unsafe { vec.set_len(len) };
    vec.reserve(more);
    (vec.as_mut_ptr(), vec.capacity())
}

macro_rules! put_le {
    ($($method:ident: $ty:ty),*) => {$(
        #[inline(always)]
        fn $method(self, v: $ty) -> Result<()> {
            self.put(&v.to_le_bytes());
            Ok(())
        }
    )*};
}

impl<'a, 'b> Serializer for &'b mut Encoder<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Counted<'a, 'b>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Counted<'a, 'b>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    put_le!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128, serialize_f32: f32, serialize_f64: f64);

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.serialize_u8(v as u8)
    }
    fn serialize_char(self, v: char) -> Result<()> {
        self.serialize_u32(v as u32)
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        self.serialize_bytes(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        self.count(v.len());
        self.put(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<()> {
        self.serialize_u8(0)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        self.serialize_u8(1)?;
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<()> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<()> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> Result<()> {
        self.serialize_u32(index)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<()> {
        self.serialize_u32(index)?;
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Counted<'a, 'b>> {
        Counted::start(self, len)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self> {
        self.serialize_u32(index)?;
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Counted<'a, 'b>> {
        Counted::start(self, len)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self> {
        self.serialize_tuple_variant(name, index, variant, len)
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// A sequence or map: its count first. When the length is not known up
/// front (an iterator of unknown size), the count is written as a
/// placeholder and filled in at the end.
pub struct Counted<'a, 'b> {
    encoder: &'b mut Encoder<'a>,
    /// Where the placeholder count is, if the length was not known.
    patch: Option<usize>,
    elements: usize,
}

impl<'a, 'b> Counted<'a, 'b> {
    fn start(encoder: &'b mut Encoder<'a>, len: Option<usize>) -> Result<Self> {
        let patch = match len {
            Some(n) => {
                encoder.count(n);
                None
            }
            None => {
                encoder.count(0);
                Some(encoder.len - 8)
            }
        };
        Ok(Counted {
            encoder,
            patch,
            elements: 0,
        })
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.elements += 1;
        value.serialize(&mut *self.encoder)
    }

    fn finish(self) -> Result<()> {
        if let Some(at) = self.patch {
            let n = self.elements as u64;
            self.encoder.patch(at, &n.to_le_bytes());
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Counted<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeMap for Counted<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.element(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(&mut *self.encoder)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

/// Tuples, structs and the fields of variants: the fields, nothing more.
macro_rules! fields {
    ($($trait:ident :: $method:ident($($name:ident)?)),*) => {$(
        impl ser::$trait for &mut Encoder<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($name: &'static str,)?
                value: &T,
            ) -> Result<()> {
                $(let _ = $name;)?
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<()> {
                Ok(())
            }
        }
    )*};
}

fields!(
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    SerializeStruct::serialize_field(key),
    SerializeStructVariant::serialize_field(key)
);

/// Reads from the front of the bytes it borrows.
struct Decoder<'de> {
    rest: &'de [u8],
}

impl<'de> Decoder<'de> {
    #[inline(always)]
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>().ok_or(Error::Eof)?;
        self.rest = rest;
        Ok(*head)
    }

    fn count(&mut self) -> Result<usize> {
        let n = u64::from_le_bytes(self.array()?);
        usize::try_from(n).map_err(|_| Error::TooLong(n))
    }

    fn bytes(&mut self) -> Result<&'de [u8]> {
        let n = self.count()?;
        let (head, rest) = self.rest.split_at_checked(n).ok_or(Error::Eof)?;
        self.rest = rest;
        Ok(head)
    }

    /// A `bool` or an `Option` tag.
    fn flag(&mut self) -> Result<bool> {
        match self.array::<1>()? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(Error::BadTag(b)),
        }
    }
}

macro_rules! take_le {
    ($($method:ident => $visit:ident($ty:ty)),*) => {$(
        #[inline(always)]
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            visitor.$visit(<$ty>::from_le_bytes(self.array()?))
        }
    )*};
}

impl<'de> Deserializer<'de> for &mut Decoder<'de> {
    type Error = Error;

    take_le!(deserialize_i8 => visit_i8(i8), deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32), deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128), deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16), deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64), deserialize_u128 => visit_u128(u128),
        deserialize_f32 => visit_f32(f32), deserialize_f64 => visit_f64(f64));

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Error::Unsupported("decode a self-describing value"))
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Error::Unsupported("skip a value of unknown type"))
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Error::Unsupported("decode a field name"))
    }
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_bool(self.flag()?)
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let n = u32::from_le_bytes(self.array()?);
        visitor.visit_char(char::from_u32(n).ok_or(Error::BadChar(n))?)
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let s = std::str::from_utf8(self.bytes()?).map_err(|_| Error::BadUtf8)?;
        visitor.visit_borrowed_str(s)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_bytes(self.bytes()?)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.flag()? {
            false => visitor.visit_none(),
            true => visitor.visit_some(self),
        }
    }
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let left = self.count()?;
        visitor.visit_seq(Elements {
            decoder: self,
            left,
        })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        visitor.visit_seq(Elements {
            decoder: self,
            left: len,
        })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_tuple(len, visitor)
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let left = self.count()?;
        visitor.visit_map(Elements {
            decoder: self,
            left,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_tuple(fields.len(), visitor)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_enum(self)
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The elements of a sequence, tuple or map, `left` of them still to come.
struct Elements<'a, 'de> {
    decoder: &'a mut Decoder<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Error;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.decoder).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = Error;
    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        de::SeqAccess::next_element_seed(self, seed)
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value> {
        seed.deserialize(&mut *self.decoder)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Decoder<'de> {
    type Error = Error;
    type Variant = Self;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self)> {
        let index = u32::from_le_bytes(self.array()?);
        let value = seed.deserialize(index.into_deserializer())?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Decoder<'de> {
    type Error = Error;
    fn unit_variant(self) -> Result<()> {
        Ok(())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_tuple(len, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_tuple(fields.len(), visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Dot,
        Circle(f64),
        Rect { w: u32, h: u32 },
        Path(Vec<(i16, i16)>, bool),
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Everything {
        small: (i8, u8, i16, u16, i32, u32, i64, u64, i128, u128),
        floats: (f32, f64),
        text: (char, String, Option<String>, Option<()>),
        bytes: serde_bytes_like::Bytes,
        shapes: Vec<Shape>,
        map: BTreeMap<String, Vec<u64>>,
        unit: (),
        nested: Option<Box<Everything>>,
    }

    /// A byte string the serde way, without pulling in `serde_bytes`.
    mod serde_bytes_like {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        #[derive(Debug, PartialEq)]
        pub struct Bytes(pub Vec<u8>);

        impl Serialize for Bytes {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for Bytes {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Bytes;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("bytes")
                    }
                    fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                        Ok(Bytes(v.to_vec()))
                    }
                }
                d.deserialize_bytes(V)
            }
        }
    }

    fn everything(depth: u32) -> Everything {
        Everything {
            small: (-1, 2, -3, 4, -5, 6, i64::MIN, u64::MAX, -7, u128::MAX),
            floats: (1.5, -0.0),
            text: ('ß', "héllo".into(), Some(String::new()), None),
            bytes: serde_bytes_like::Bytes(vec![0, 255, 7]),
            shapes: vec![
                Shape::Dot,
                Shape::Circle(2.5),
                Shape::Rect { w: 3, h: 4 },
                Shape::Path(vec![(1, -1), (i16::MAX, i16::MIN)], true),
            ],
            map: [("a".to_string(), vec![1]), ("b".into(), vec![])].into(),
            unit: (),
            nested: (depth > 0).then(|| Box::new(everything(depth - 1))),
        }
    }

    #[test]
    fn every_kind_of_value_comes_back_as_it_went() {
        let value = everything(2);
        let mut out = vec![0xaa];
        append(&value, &mut out).unwrap();
        assert_eq!(out[0], 0xaa, "appended after what was there");
        assert_eq!(decode::<Everything>(&out[1..]).unwrap(), value);
    }

    #[test]
    fn integers_are_fixed_width_little_endian() {
        let mut out = Vec::new();
        append(&(1u64, -2i32, 3u8, true, 'A', "hi"), &mut out).unwrap();
        let want: Vec<u8> = [&1u64.to_le_bytes()[..], &(-2i32).to_le_bytes(), &[3, 1]]
            .concat()
            .into_iter()
            .chain(65u32.to_le_bytes())
            .chain(2u64.to_le_bytes())
            .chain(*b"hi")
            .collect();
        assert_eq!(out, want);
    }

    #[test]
    fn a_sequence_of_unknown_length_gets_its_count_afterwards() {
        struct Evens(u64);
        impl Serialize for Evens {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq((0..self.0).filter(|x| x % 2 == 0))
            }
        }
        let mut out = Vec::new();
        append(&(Evens(9), 5u8), &mut out).unwrap();
        let back: (Vec<u64>, u8) = decode(&out).unwrap();
        assert_eq!(back, (vec![0, 2, 4, 6, 8], 5));
    }

    #[test]
    fn take_returns_what_follows_and_decode_refuses_it() {
        let mut out = Vec::new();
        append(&7u32, &mut out).unwrap();
        append(&"next", &mut out).unwrap();
        let (seven, rest) = take::<u32>(&out).unwrap();
        assert_eq!((seven, take::<&str>(rest).unwrap().0), (7, "next"));
        assert_eq!(decode::<u32>(&out), Err(Error::Trailing(8 + 4)));
    }

    #[test]
    fn bad_bytes_are_errors_that_say_what_was_wrong() {
        assert_eq!(decode::<u64>(&[1, 2, 3]), Err(Error::Eof));
        assert_eq!(decode::<bool>(&[2]), Err(Error::BadTag(2)));
        assert_eq!(decode::<Option<u8>>(&[7, 0]), Err(Error::BadTag(7)));
        assert_eq!(
            decode::<char>(&[0, 0xd8, 0, 0]),
            Err(Error::BadChar(0xd800))
        );
        assert_eq!(
            decode::<String>(&[2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe]),
            Err(Error::BadUtf8)
        );
        // A count of 2^56 with one byte behind it: no huge allocation.
        let huge = [0, 0, 0, 0, 0, 0, 0, 1, 7];
        assert_eq!(decode::<Vec<u8>>(&huge), Err(Error::Eof));
        assert_eq!(decode::<Vec<()>>(&[0; 8]), Ok(vec![]));
        assert!(matches!(
            decode::<serde_json_like::Any>(&[0]),
            Err(Error::Unsupported(_))
        ));
        assert_eq!(
            Error::BadTag(2).to_string(),
            "byte 2 is not a bool or an Option tag (0 or 1)"
        );
    }

    /// A type that asks for a self-describing format.
    mod serde_json_like {
        pub struct Any;
        impl<'de> serde::Deserialize<'de> for Any {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                serde::de::IgnoredAny::deserialize(d).map(|_| Any)
            }
        }
    }

    #[test]
    fn no_prefix_of_a_valid_encoding_and_no_garbage_panics() {
        let mut out = Vec::new();
        append(&everything(1), &mut out).unwrap();
        for end in 0..out.len() {
            assert!(decode::<Everything>(&out[..end]).is_err(), "prefix {end}");
        }
        // Every single-byte corruption decodes to something or to an error.
        for at in 0..out.len() {
            let mut bad = out.clone();
            bad[at] ^= 0x5a;
            let _ = decode::<Everything>(&bad);
        }
    }
}
