//! The request data stored on an attempt record, as django-axes stores
//! `get_data` / `post_data`: `key=value` lines, secrets masked, bounded.

use crate::config::AxesConfig;

/// What a masked value is replaced with (django-axes' 20 asterisks).
pub const MASK: &str = "********************";

/// The longest stored data, in characters, before NUL bytes are spelled out.
pub const MAX_DATA_CHARS: usize = 1024;

/// Serialises `pairs` as django-axes does: one `key=value` line per key, in
/// the order keys first appear, the last value of a repeated key; values of
/// the password field, `password` and `sensitive_parameters` masked; cut to
/// [`MAX_DATA_CHARS`] characters; NUL bytes written as `0x00`.
///
/// ```
/// let config = axes::AxesConfig::default();
/// let data = axes::cleansed_data(&config, [("username", "alice"), ("password", "secret"), ("next", "/a\0")]);
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
    let mut entries: Vec<(&str, &str)> = Vec::new();
    for (key, value) in pairs {
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key, value)),
        }
    }
    let text = entries
        .iter()
        .map(|(key, value)| {
            let value = if masked(key) { MASK } else { value };
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = crate::client::truncate_chars(text, MAX_DATA_CHARS);
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
            cleansed_data(&config, [("field", long.as_str())])
                .chars()
                .count(),
            1024
        );
    }
}
