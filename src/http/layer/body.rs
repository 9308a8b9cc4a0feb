//! The fields of a login body, read the way handlers read them.
//!
//! A handler decides how to read its body, not the client's
//! `Content-Type`: the demo server parses every body as JSON, a form
//! handler may ignore the header, and `serde_json` accepts any nesting
//! depth below a field it skips. So the layer does not trust the header
//! either:
//!
//! * a body that starts with `{` and parses as a JSON object gives its
//!   top-level string fields, whatever the content type says (values it
//!   skips may nest to any depth: they are skipped without recursion);
//! * a `multipart/form-data` body gives its text parts;
//! * any other body is read as `application/x-www-form-urlencoded`.
//!
//! Only when the username the handler reports differs from the one read
//! here does the layer check it after the handler ran (see
//! [`AxesReport`](crate::AxesReport)).

use std::fmt;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The top-level string fields of `body`, in order (a repeated name keeps
/// every value; readers take the last).
pub(crate) async fn fields(content_type: Option<&str>, body: &Bytes) -> Vec<(String, String)> {
    if let Some(boundary) = content_type.and_then(multipart_boundary) {
        return multipart_fields(body.clone(), boundary).await;
    }
    if starts_like_json(body) {
        if let Some(fields) = json_fields(body) {
            return fields;
        }
    }
    form_urlencoded::parse(body).into_owned().collect()
}

/// The boundary of a `multipart/form-data` content type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let head = content_type.trim_start().get(..10)?;
    if !head.eq_ignore_ascii_case("multipart/") {
        return None;
    }
    let mime: mime::Mime = content_type.parse().ok()?;
    (mime.type_() == mime::MULTIPART && mime.subtype() == mime::FORM_DATA)
        .then(|| mime.get_param(mime::BOUNDARY).map(|b| b.to_string()))
        .flatten()
}

fn starts_like_json(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

/// The top-level string fields of a JSON object; `None` when `body` is not one.
fn json_fields(body: &[u8]) -> Option<Vec<(String, String)>> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let fields = TopLevelStrings.deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(fields)
}

/// Reads a JSON object's top-level string fields and skips every other
/// value with [`IgnoredAny`], which `serde_json` skips iteratively: no
/// depth limit decides what is seen.
struct TopLevelStrings;

impl<'de> DeserializeSeed<'de> for TopLevelStrings {
    type Value = Vec<(String, String)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevelStrings {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Some(value) = map.next_value_seed(StringOrSkip)? {
                fields.push((key, value));
            }
        }
        Ok(fields)
    }
}

/// A string value, or `None` for any other value (skipped whole).
struct StringOrSkip;

impl<'de> DeserializeSeed<'de> for StringOrSkip {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringOrSkip {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Some(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Some(value))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// The text parts of a `multipart/form-data` body (parts with a file name
/// are skipped); what could be read before a malformed part.
async fn multipart_fields(body: Bytes, boundary: String) -> Vec<(String, String)> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        if field.file_name().is_some() {
            continue;
        }
        match field.text().await {
            Ok(text) => fields.push((name, text)),
            Err(_) => break,
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(content_type: Option<&str>, body: &str) -> Vec<(String, String)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(fields(content_type, &Bytes::from(body.to_owned())))
    }

    fn username(content_type: Option<&str>, body: &str) -> Option<String> {
        read(content_type, body)
            .into_iter()
            .rev()
            .find(|(k, _)| k == "username")
            .map(|(_, v)| v)
    }

    #[test]
    fn json_is_read_whatever_the_content_type() {
        let body = r#"{"username":"alice","password":"x"}"#;
        for content_type in [
            Some("application/json"),
            Some("Application/JSON; charset=UTF-8"),
            Some("application/vnd.api+json"),
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/octet-stream"),
            None,
        ] {
            assert_eq!(
                username(content_type, body).as_deref(),
                Some("alice"),
                "{content_type:?}"
            );
        }
        assert_eq!(
            username(None, " \n\t{\"username\" : \"alice\"}\n").as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn only_top_level_strings_count_and_the_last_repeat_wins() {
        assert_eq!(username(None, r#"{"username":5}"#), None);
        assert_eq!(username(None, r#"{"user":{"username":"alice"}}"#), None);
        assert_eq!(
            username(None, r#"{"username":"mallory","username":"alice"}"#).as_deref(),
            Some("alice")
        );
        assert_eq!(username(None, r#"["alice"]"#), None);
    }

    #[test]
    fn nesting_depth_never_hides_the_username() {
        let deep = format!(
            r#"{{"x":{}1{},"username":"alice"}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(
            username(Some("application/json"), &deep).as_deref(),
            Some("alice")
        );
        let deep_maps = format!(
            r#"{{"username":"alice","x":{}1{}}}"#,
            r#"{"a":"#.repeat(5_000),
            "}".repeat(5_000)
        );
        assert_eq!(username(None, &deep_maps).as_deref(), Some("alice"));
    }

    #[test]
    fn forms_are_read_whatever_the_content_type() {
        let body = "username=mallory&password=x&username=al%20ice";
        for content_type in [
            Some("application/x-www-form-urlencoded"),
            Some("APPLICATION/X-WWW-FORM-URLENCODED; charset=utf-8"),
            Some("text/plain"),
            Some("application/json"),
            None,
        ] {
            assert_eq!(
                username(content_type, body).as_deref(),
                Some("al ice"),
                "{content_type:?}"
            );
        }
        assert_eq!(username(None, "username=al+ice").as_deref(), Some("al ice"));
    }

    #[test]
    fn multipart_text_parts_are_read() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n\r\n\
                    username=bob\r\n--XyZ--\r\n";
        let content_type = "multipart/form-data; boundary=XyZ";
        assert_eq!(username(Some(content_type), body).as_deref(), Some("alice"));
        assert_eq!(
            username(Some("Multipart/Form-Data; boundary=\"XyZ\""), body).as_deref(),
            Some("alice")
        );
        // A body cut short keeps what came before.
        assert_eq!(
            username(Some(content_type), &body[..80]).as_deref(),
            Some("alice")
        );
    }
}
