//! Generator parameters as text: what `--param NAME=VALUE` sets and `sim list` shows.
//!
//! Every field of a generator's parameter struct is a parameter, named as in the
//! struct (and its JSON). The text of a value follows the field's type: a count or a
//! size is a number (`4096`, `0x1000`, `64K`, read by `units::parse_size`), a switch is
//! `true` or `false`, a choice is its name (`lifo`), and a size distribution is one or
//! more ranges `MIN-MAX`, each sampled log-uniformly, weighted with `W:` when there are
//! several: `128-1K`, `25:16-32+75:33-512`. Going through the struct's own serde form
//! keeps this in step with the structs: a new field is a new parameter, with no list
//! to update.

use super::{GenError, GeneratorParams, SizeBucket, SizeDist};
use serde_json::{Map, Value};
use std::fmt;

impl fmt::Display for SizeDist {
    /// `MIN-MAX` for one range, `W:MIN-MAX+...` for several.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = self.buckets.len() == 1;
        for (i, b) in self.buckets.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            if !one {
                write!(f, "{}:", b.weight)?;
            }
            write!(f, "{}-{}", b.min, b.max)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for SizeDist {
    type Err = String;

    fn from_str(text: &str) -> Result<SizeDist, String> {
        let mut buckets = Vec::new();
        for part in text.split('+').map(str::trim) {
            let (weight, range) = match part.split_once(':') {
                Some((w, r)) => (
                    w.trim()
                        .parse::<u32>()
                        .map_err(|_| format!("`{w}` is not a weight"))?,
                    r,
                ),
                None => (1, part),
            };
            let (min, max) = match range.split_once('-') {
                Some((a, b)) => (a, b),
                None => (range, range),
            };
            let size = |t: &str| units::parse_size(t).map_err(|e| e.to_string());
            buckets.push(SizeBucket {
                weight,
                min: size(min)?,
                max: size(max)?,
            });
        }
        Ok(SizeDist { buckets })
    }
}

/// The text of a parameter's value.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) => serde_json::from_value::<SizeDist>(v.clone())
            .map(|d| d.to_string())
            .unwrap_or_else(|_| v.to_string()),
        other => other.to_string(),
    }
}

impl GeneratorParams {
    /// The fields of the parameters as a JSON object (without the `generator` tag).
    fn fields(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut m)) => {
                m.remove("generator");
                m
            }
            _ => Map::new(),
        }
    }

    /// Every parameter with its value as text, in the struct's field order.
    pub fn settings(&self) -> Vec<(String, String)> {
        self.fields()
            .iter()
            .map(|(k, v)| (k.clone(), text_of(v)))
            .collect()
    }

    /// Sets parameter `name` from `value`, read by the type of the field. The
    /// generator checks ranges when it runs.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), GenError> {
        let generator = self.name();
        let mut fields = self.fields();
        let Some(old) = fields.get(name) else {
            return Err(GenError::UnknownParam {
                generator,
                param: name.to_string(),
                known: fields.keys().cloned().collect(),
            });
        };
        let bad = |expected: &str| GenError::BadValue {
            generator,
            param: name.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        };
        let new = match old {
            Value::Number(_) => {
                let n = units::parse_size(value).map_err(|_| bad("a number such as 600 or 64K"))?;
                Value::from(n)
            }
            Value::Bool(_) => match value {
                "true" | "yes" | "on" => Value::Bool(true),
                "false" | "no" | "off" => Value::Bool(false),
                _ => return Err(bad("true or false")),
            },
            Value::String(_) => Value::String(value.to_string()),
            Value::Array(_) => {
                let d: SizeDist = value.parse().map_err(|e: String| {
                    bad(&format!(
                        "size ranges such as 128-1K or 1:16-32+3:33-512 ({e})"
                    ))
                })?;
                serde_json::to_value(d).map_err(|e| bad(&e.to_string()))?
            }
            _ => return Err(bad("a value of the field's type")),
        };
        fields.insert(name.to_string(), new);
        fields.insert(
            "generator".to_string(),
            Value::String(generator.to_string()),
        );
        *self = serde_json::from_value(Value::Object(fields)).map_err(|e| {
            // A choice that is not one of the field's names.
            let msg = e.to_string();
            let expected = msg
                .split_once("expected ")
                .map_or("one of the field's values".to_string(), |(_, x)| {
                    format!("one of {x}")
                });
            bad(&expected)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_reads_back_what_it_prints() {
        for g in crate::GENERATORS {
            let p = GeneratorParams::defaults(g.name).unwrap();
            let mut q = p.clone();
            for (k, v) in p.settings() {
                q.set(&k, &v)
                    .unwrap_or_else(|e| panic!("{}: {k}={v}: {e}", g.name));
            }
            assert_eq!(p, q, "{}", g.name);
            assert!(p.settings().iter().any(|(k, _)| k == "ops"), "{}", g.name);
        }
    }

    #[test]
    fn values_are_read_by_the_field_type() {
        let mut p = GeneratorParams::defaults("swiss-cheese").unwrap();
        p.set("keep_every", "3").unwrap();
        p.set("big_sizes", "128-1K").unwrap();
        p.set("trim", "false").unwrap();
        let GeneratorParams::SwissCheese(s) = &p else {
            panic!()
        };
        assert_eq!(s.keep_every, 3);
        assert_eq!(s.big_sizes, SizeDist::log_uniform(128, 1024));
        assert!(!s.trim);
        let d: SizeDist = "25:16-32+75:33-512".parse().unwrap();
        assert_eq!(d.to_string(), "25:16-32+75:33-512");
        let e = p.set("keep_evry", "3").unwrap_err().to_string();
        assert!(
            e.contains("no parameter `keep_evry`") && e.contains("keep_every"),
            "{e}"
        );
        let e = p.set("trim", "maybe").unwrap_err().to_string();
        assert!(e.contains("true or false"), "{e}");
        let e = p.set("keep_every", "lots").unwrap_err().to_string();
        assert!(e.contains("`lots`"), "{e}");
        let mut r = GeneratorParams::defaults("ramp").unwrap();
        let e = r.set("free_order", "sideways").unwrap_err().to_string();
        assert!(e.contains("`sideways`"), "{e}");
    }
}
