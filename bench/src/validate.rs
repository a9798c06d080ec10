//! Checking a report: the JSON Schema of `bench/schema.json` and well-formed SVG plots.
//!
//! The validator implements the part of JSON Schema (draft 2020-12) that `bench/schema.json`
//! uses: `type`, `enum`, `const`, `minimum`, `exclusiveMinimum`, `maximum`, `minLength`,
//! `minItems`, `uniqueItems`, `items`, `properties`, `required`, `additionalProperties`,
//! `propertyNames`, and local `$ref` to `#/$defs/NAME`; the annotations `$schema`, `$id`,
//! `$comment`, `title`, `description`, `format`, `examples`, `default` are accepted and not
//! checked. Any other keyword is reported as an error, so the schema cannot quietly rely on
//! something this validator does not check.

use std::path::Path;

use serde_json::Value;

/// The schema every `--json` report follows (the text of `bench/schema.json`).
pub const SCHEMA: &str = include_str!("../schema.json");

/// Check `report` against [`SCHEMA`]; returns every violation (empty when valid).
pub fn validate_report(report: &Value) -> Vec<String> {
    match serde_json::from_str::<Value>(SCHEMA) {
        Ok(schema) => validate(&schema, report),
        Err(e) => vec![format!("bench/schema.json is not valid JSON: {e}")],
    }
}

/// Check `instance` against `schema`; returns every violation, each starting with the JSON
/// pointer of the offending value.
pub fn validate(schema: &Value, instance: &Value) -> Vec<String> {
    let mut v = Validator {
        root: schema,
        errors: Vec::new(),
    };
    v.check(schema, instance, "", 0);
    v.errors
}

struct Validator<'s> {
    root: &'s Value,
    errors: Vec<String>,
}

const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "format",
    "examples",
    "default",
    "$defs",
];

fn type_matches(name: &str, value: &Value) -> Option<bool> {
    Some(match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => return None,
    })
}

impl<'s> Validator<'s> {
    fn error(&mut self, path: &str, message: String) {
        let at = if path.is_empty() { "/" } else { path };
        self.errors.push(format!("{at}: {message}"));
    }

    fn check(&mut self, schema: &'s Value, value: &Value, path: &str, depth: usize) {
        if depth > 64 {
            self.error(path, "schema nesting too deep (a $ref loop?)".into());
            return;
        }
        let obj = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return self.error(path, "no value is allowed here".into()),
            Value::Object(o) => o,
            _ => return self.error(path, "schema is neither an object nor a boolean".into()),
        };
        for (key, arg) in obj {
            match key.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "$ref" => self.check_ref(arg, value, path, depth),
                "type" => self.check_type(arg, value, path),
                "enum" => {
                    let options = arg.as_array().map(Vec::as_slice).unwrap_or_default();
                    if !options.contains(value) {
                        self.error(path, format!("{value} is not one of {arg}"));
                    }
                }
                "const" => {
                    if arg != value {
                        self.error(path, format!("{value} is not {arg}"));
                    }
                }
                "minimum" | "exclusiveMinimum" | "maximum" => {
                    if let (Some(limit), Some(n)) = (arg.as_f64(), value.as_f64()) {
                        let ok = match key.as_str() {
                            "minimum" => n >= limit,
                            "exclusiveMinimum" => n > limit,
                            _ => n <= limit,
                        };
                        if !ok {
                            self.error(path, format!("{n} violates {key} {limit}"));
                        }
                    }
                }
                "minLength" => {
                    if let (Some(min), Some(s)) = (arg.as_u64(), value.as_str()) {
                        if (s.chars().count() as u64) < min {
                            self.error(path, format!("string shorter than {min}"));
                        }
                    }
                }
                "minItems" => {
                    if let (Some(min), Some(a)) = (arg.as_u64(), value.as_array()) {
                        if (a.len() as u64) < min {
                            self.error(path, format!("{} item(s), fewer than {min}", a.len()));
                        }
                    }
                }
                "uniqueItems" => {
                    if let (Some(true), Some(a)) = (arg.as_bool(), value.as_array()) {
                        for (i, item) in a.iter().enumerate() {
                            if a[..i].contains(item) {
                                self.error(
                                    &format!("{path}/{i}"),
                                    format!("duplicate item {item}"),
                                );
                            }
                        }
                    }
                }
                "items" => {
                    if let Some(a) = value.as_array() {
                        for (i, item) in a.iter().enumerate() {
                            self.check(arg, item, &format!("{path}/{i}"), depth + 1);
                        }
                    }
                }
                "required" => {
                    if let Some(o) = value.as_object() {
                        for name in arg.as_array().map(Vec::as_slice).unwrap_or_default() {
                            let name = name.as_str().unwrap_or_default();
                            if !o.contains_key(name) {
                                self.error(path, format!("missing required property {name:?}"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let (Some(props), Some(o)) = (arg.as_object(), value.as_object()) {
                        for (name, sub) in props {
                            if let Some(v) = o.get(name) {
                                self.check(sub, v, &format!("{path}/{name}"), depth + 1);
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(o) = value.as_object() {
                        let declared = obj.get("properties").and_then(Value::as_object);
                        for (name, v) in o {
                            if declared.is_some_and(|d| d.contains_key(name)) {
                                continue;
                            }
                            if arg == &Value::Bool(false) {
                                self.error(path, format!("unexpected property {name:?}"));
                            } else {
                                self.check(arg, v, &format!("{path}/{name}"), depth + 1);
                            }
                        }
                    }
                }
                "propertyNames" => {
                    if let Some(o) = value.as_object() {
                        for name in o.keys() {
                            self.check(arg, &Value::String(name.clone()), path, depth + 1);
                        }
                    }
                }
                other => self.error(
                    path,
                    format!("schema keyword {other:?} is not supported by this validator"),
                ),
            }
        }
    }

    fn check_ref(&mut self, arg: &Value, value: &Value, path: &str, depth: usize) {
        let target = arg
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .and_then(|name| self.root.get("$defs")?.get(name));
        match target {
            Some(sub) => self.check(sub, value, path, depth + 1),
            None => self.error(path, format!("unresolvable $ref {arg} (only #/$defs/NAME)")),
        }
    }

    fn check_type(&mut self, arg: &Value, value: &Value, path: &str) {
        let names: Vec<&str> = match arg {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let mut any = false;
        for name in &names {
            match type_matches(name, value) {
                Some(true) => any = true,
                Some(false) => {}
                None => return self.error(path, format!("unknown type {name:?} in schema")),
            }
        }
        if !any {
            self.error(path, format!("{value} is not of type {arg}"));
        }
    }
}

/// Check that `path` is a well-formed XML document whose root element is `<svg>`.
pub fn check_svg(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc = roxmltree::Document::parse(&text)
        .map_err(|e| format!("{} is not well-formed XML: {e}", path.display()))?;
    let root = doc.root_element().tag_name().name();
    if root != "svg" {
        return Err(format!(
            "{}: root element is <{root}>, not <svg>",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_schema_itself_only_uses_supported_keywords() {
        let schema: Value = serde_json::from_str(SCHEMA).expect("schema.json parses");
        // Validating anything walks the whole schema only along the value's shape, so walk every
        // definition with a value of each kind and look for "not supported" errors.
        let mut errors = Vec::new();
        for def in schema["$defs"].as_object().unwrap().values() {
            for sample in [json!({}), json!([]), json!("x"), json!(1), json!(null)] {
                errors.extend(validate_with_root(&schema, def, &sample));
            }
        }
        errors.extend(validate(&schema, &json!({})));
        let unsupported: Vec<_> = errors
            .iter()
            .filter(|e| e.contains("not supported"))
            .collect();
        assert!(unsupported.is_empty(), "{unsupported:?}");
    }

    fn validate_with_root(root: &Value, schema: &Value, instance: &Value) -> Vec<String> {
        let mut v = Validator {
            root,
            errors: Vec::new(),
        };
        v.check(schema, instance, "", 0);
        v.errors
    }

    #[test]
    fn catches_what_it_should() {
        let schema = json!({
            "type": "object",
            "required": ["a", "b"],
            "additionalProperties": false,
            "properties": {
                "a": {"type": "integer", "minimum": 1},
                "b": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/name"}},
                "c": {"type": ["string", "null"]}
            },
            "$defs": {"name": {"enum": ["vfs", "overlay2"]}}
        });
        assert!(validate(&schema, &json!({"a": 2, "b": ["vfs"], "c": null})).is_empty());
        let errors = validate(&schema, &json!({"a": 0.5, "b": ["aufs"], "d": 1}));
        let text = errors.join("\n");
        assert!(text.contains("/a: 0.5 is not of type"), "{text}");
        assert!(text.contains("/a: 0.5 violates minimum"), "{text}");
        assert!(text.contains("/b/0: \"aufs\" is not one of"), "{text}");
        assert!(text.contains("unexpected property \"d\""), "{text}");
        let errors = validate(&schema, &json!({"b": []}));
        assert!(errors
            .iter()
            .any(|e| e.contains("missing required property \"a\"")));
        assert!(errors.iter().any(|e| e.contains("fewer than 1")));
    }

    #[test]
    fn unknown_keywords_are_errors() {
        let errors = validate(&json!({"pattern": "^a"}), &json!("b"));
        assert!(errors[0].contains("not supported"), "{errors:?}");
    }

    #[test]
    fn svg_check() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.svg");
        std::fs::write(
            &good,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><text>a &lt; b</text></svg>"#,
        )
        .unwrap();
        assert!(check_svg(&good).is_ok());
        let bad = dir.path().join("bad.svg");
        std::fs::write(&bad, "<svg><text>a < b</text></svg>").unwrap();
        assert!(check_svg(&bad).is_err());
        let html = dir.path().join("x.svg");
        std::fs::write(&html, "<html/>").unwrap();
        assert!(check_svg(&html).unwrap_err().contains("not <svg>"));
    }
}
