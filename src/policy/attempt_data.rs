//! The request data stored on an attempt record, as django-axes stores
//! `get_data` / `post_data`: `key=value` lines, secrets masked, bounded.

use std::collections::hash_map::{Entry, HashMap};

use crate::config::AxesConfig;

/// What a masked value is replaced with (django-axes' 20 asterisks).
pub const MASK: &str = "********************";

/// The longest stored data, in bytes (cut on a character boundary).
pub const MAX_DATA_BYTES: usize = 1024;

/// Serialises `pairs` as django-axes does: one `key=value` line per key, in
/// the order keys first appear, the last value of a repeated key; values of
/// the password field, `password` and `sensitive_parameters` masked; cut to
/// [`MAX_DATA_BYTES`]; NUL bytes written as `0x00`.
///
/// The cost is linear in the size of `pairs`: a body of many distinct
/// fields costs what reading it costs.
///
/// ```
/// let config = axes::AxesConfig::default();
/// let data = axes::policy::cleansed_data(&config, [("username", "alice"), ("password", "secret"), ("next", "/a\0")]);
/// assert_eq!(data, "username=********************\npassword=********************\nnext=/a0x00");
/// ```
pub fn cleansed_data<'a, I>(config: &AxesConfig, pairs: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let masked = |key: &str| {
        key == "password"
            || key == config.password_form_field
            || config.sensitive_parameters.iter().any(|p| p == key)
    };
    // Each key's position, so that a repeat replaces its value in place.
    let mut positions: HashMap<&str, usize> = HashMap::new();
    let mut entries: Vec<(&str, &str)> = Vec::new();
    for (key, value) in pairs {
        match positions.entry(key) {
            Entry::Occupied(position) => entries[*position.get()].1 = value,
            Entry::Vacant(slot) => {
                slot.insert(entries.len());
                entries.push((key, value));
            }
        }
    }
    let mut text = String::new();
    for (index, (key, value)) in entries.iter().enumerate() {
        if text.len() > MAX_DATA_BYTES {
            break;
        }
        if index > 0 {
            text.push('\n');
        }
        text.push_str(key);
        text.push('=');
        text.push_str(if masked(key) { MASK } else { value });
    }
    let text = crate::identity::truncate_bytes(text, MAX_DATA_BYTES);
    text.replace('\0', "0x00")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_configured_fields_exactly() {
        let config = AxesConfig {
            sensitive_parameters: vec!["other".into()],
            password_form_field: "username".into(),
            ..AxesConfig::default()
        };
        let data = cleansed_data(
            &config,
            [
                ("username", "u"),
                ("password", "p"),
                ("other", "o"),
                ("Other", "x"),
            ],
        );
        assert_eq!(
            data,
            "username=********************\npassword=********************\nother=********************\nOther=x"
        );
    }

    #[test]
    fn repeated_keys_keep_the_last_value_in_first_position() {
        let config = AxesConfig {
            sensitive_parameters: Vec::new(),
            ..AxesConfig::default()
        };
        let data = cleansed_data(&config, [("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(data, "a=3\nb=2");
    }

    #[test]
    fn data_is_bounded() {
        let config = AxesConfig::default();
        let long = "x".repeat(65_536);
        assert_eq!(
            cleansed_data(&config, [("field", long.as_str())]).len(),
            MAX_DATA_BYTES
        );
        let wide = "é".repeat(65_536);
        let data = cleansed_data(&config, [("field", wide.as_str())]);
        assert!(data.len() <= MAX_DATA_BYTES && data.len() > MAX_DATA_BYTES - 4);
    }
}
