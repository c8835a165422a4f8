//! How a measured `f64` is written in `results.json` so that the file reads
//! back to the run that wrote it.
//!
//! JSON has no number for NaN or the infinities, and serde_json writes them
//! as `null`, which no `f64` reads back. Here a finite value is a JSON
//! number, and one that is not is a string saying which: `"NaN"`, `"inf"`
//! or `"-inf"` (a measurement that failed, or a ratio over zero). `null`
//! still reads as NaN, a value that was not measured: files written before
//! this encoding have it there.
//!
//! Used with `#[serde(with = "crate::json_number")]` on an `f64` field, and
//! `crate::json_number::optional` on an `Option<f64>` one (where `null` is
//! `None`).

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

const NAN: &str = "NaN";
const INFINITY: &str = "inf";
const NEG_INFINITY: &str = "-inf";

pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    match non_finite_name(*value) {
        Some(name) => serializer.serialize_str(name),
        None => serializer.serialize_f64(*value),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_any(NumberVisitor)
}

/// The same for an `Option<f64>`: `None` is `null`.
pub mod optional {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => super::serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
        deserializer.deserialize_option(OptionalVisitor)
    }

    struct OptionalVisitor;

    impl<'de> Visitor<'de> for OptionalVisitor {
        type Value = Option<f64>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("null, a number, or \"NaN\", \"inf\" or \"-inf\"")
        }

        fn visit_none<E: de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<f64>, D::Error> {
            super::deserialize(deserializer).map(Some)
        }
    }
}

/// What a value that is not finite is written as, or `None` for a number.
fn non_finite_name(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some(NAN)
    } else if value == f64::INFINITY {
        Some(INFINITY)
    } else if value == f64::NEG_INFINITY {
        Some(NEG_INFINITY)
    } else {
        None
    }
}

struct NumberVisitor;

impl<'de> Visitor<'de> for NumberVisitor {
    type Value = f64;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a number, or \"NaN\", \"inf\" or \"-inf\"")
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
        Ok(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
        Ok(value as f64)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
        Ok(value as f64)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<f64, E> {
        match text {
            NAN => Ok(f64::NAN),
            INFINITY => Ok(f64::INFINITY),
            NEG_INFINITY => Ok(f64::NEG_INFINITY),
            _ => Err(E::invalid_value(de::Unexpected::Str(text), &self)),
        }
    }

    /// `null`: not measured, in a file from before this encoding.
    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }

    fn visit_none<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Point {
        #[serde(with = "super")]
        value: f64,
        #[serde(with = "super::optional")]
        target: Option<f64>,
    }

    fn read(json: &str) -> Result<Point, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn non_finite_values_are_named_and_read_back() {
        for (value, written) in [(f64::NAN, "\"NaN\""), (f64::INFINITY, "\"inf\""), (f64::NEG_INFINITY, "\"-inf\"")] {
            let json = serde_json::to_string(&Point { value, target: Some(value) }).unwrap();
            assert_eq!(json, format!("{{\"value\":{written},\"target\":{written}}}"));
            let back = read(&json).unwrap();
            assert_eq!(back.value.to_bits(), value.to_bits());
            assert_eq!(back.target.map(f64::to_bits), Some(value.to_bits()));
        }
    }

    #[test]
    fn numbers_stay_numbers_and_null_is_what_it_always_meant() {
        let json = serde_json::to_string(&Point { value: 2.5, target: None }).unwrap();
        assert_eq!(json, r#"{"value":2.5,"target":null}"#);
        let back = read(&json).unwrap();
        assert_eq!((back.value, back.target), (2.5, None));
        assert_eq!(read(r#"{"value":3,"target":7}"#).unwrap().target, Some(7.0), "integers are numbers");
        assert!(read(r#"{"value":null,"target":null}"#).unwrap().value.is_nan(), "an old file's null");
        let error = read(r#"{"value":"lots","target":null}"#).unwrap_err().to_string();
        assert!(error.contains("\"NaN\", \"inf\" or \"-inf\""), "{error}");
    }
}
