//! [`Search`]: what a page of the admin is asked for in its query string —
//! the IP and username to find, the filters (locked now, reason, a date
//! range), the order and the page — and the links that keep it.

use std::cmp::Ordering;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::PAGE_ROWS;
use crate::store::AttemptFilter;

/// The search of a page, from its query string.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct Search {
    #[serde(default)]
    pub(super) ip: String,
    #[serde(default)]
    pub(super) username: String,
    /// What the last action did, shown above the table.
    #[serde(default)]
    pub(super) message: String,
    /// The page of the listing, from 1.
    #[serde(default)]
    pub(super) page: Option<usize>,
    /// The column to order by (its key), and `asc` or `desc`.
    #[serde(default)]
    pub(super) sort: String,
    #[serde(default)]
    pub(super) dir: String,
    /// `yes` for records locked out now, `no` for the others.
    #[serde(default)]
    pub(super) locked: String,
    /// A lockout reason ([`LockoutReason::as_str`](crate::LockoutReason::as_str)).
    #[serde(default)]
    pub(super) reason: String,
    /// The first and last day shown (`YYYY-MM-DD`, UTC), inclusive.
    #[serde(default)]
    pub(super) from: String,
    #[serde(default)]
    pub(super) to: String,
}

/// The days a search keeps, as times: from the start of `from`, to the
/// end of `to`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Days {
    from: Option<SystemTime>,
    until: Option<SystemTime>,
}

impl Days {
    /// Whether `at` falls within the days.
    pub(super) fn contain(&self, at: SystemTime) -> bool {
        self.from.is_none_or(|from| at >= from) && self.until.is_none_or(|until| at < until)
    }
}

impl Search {
    /// The page shown, from 1.
    pub(super) fn page(&self) -> usize {
        self.page.unwrap_or(1).max(1)
    }

    /// The rows of `items` on the page shown.
    pub(super) fn paged<'i, T>(&self, items: &'i [T]) -> &'i [T] {
        let start = (self.page() - 1).saturating_mul(PAGE_ROWS).min(items.len());
        &items[start..(start + PAGE_ROWS).min(items.len())]
    }

    /// The store filter, or why the search is not one.
    pub(super) fn filter(&self) -> Result<AttemptFilter, String> {
        let ip = match self.ip.trim() {
            "" => None,
            text => Some(
                text.parse::<IpAddr>()
                    .map_err(|_| format!("`{text}` is not an IP address"))?,
            ),
        };
        // Exactly as typed: the engine refuses white space it would not
        // count, and a username of only white space.
        let username = Some(self.username.as_str())
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        Ok(AttemptFilter::of(ip, username))
    }

    /// The date range, or why it is not one.
    pub(super) fn days(&self) -> Result<Days, String> {
        let day = |text: &str, field: &str| -> Result<Option<SystemTime>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            humantime::parse_rfc3339(&format!("{text}T00:00:00Z"))
                .map(Some)
                .map_err(|_| format!("`{text}` is not a day (YYYY-MM-DD) for `{field}`"))
        };
        Ok(Days {
            from: day(&self.from, "from")?,
            until: day(&self.to, "to")?.map(|to| to + Duration::from_secs(86_400)),
        })
    }

    /// Whether rows are ordered last to first.
    pub(super) fn descending(&self) -> bool {
        self.dir != "asc"
    }

    /// Orders `items` by the column whose key is `sort`, when one of
    /// `orders` is; the store's order (newest first) otherwise.
    pub(super) fn sort<T>(&self, items: &mut [T], orders: &[(&str, Order<T>)]) {
        let Some((_, order)) = orders.iter().find(|(key, _)| *key == self.sort) else {
            return;
        };
        items.sort_by(|a, b| {
            let ordering = order(a, b);
            if self.descending() {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }

    /// The query string of this search with `page`, and ordered by `sort`
    /// in `dir` when given.
    pub(super) fn query(&self, page: usize, sort: Option<(&str, &str)>) -> String {
        let (sort, dir) = sort.unwrap_or((&self.sort, &self.dir));
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("ip", self.ip.as_str()),
            ("username", &self.username),
            ("locked", &self.locked),
            ("reason", &self.reason),
            ("from", &self.from),
            ("to", &self.to),
            ("sort", sort),
            ("dir", dir),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        query.finish()
    }
}

/// How two rows compare by a column.
pub(super) type Order<T> = fn(&T, &T) -> Ordering;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_inclusive_and_bad_days_say_which_field() {
        let search = Search {
            from: "2026-12-01".into(),
            to: "2026-12-02".into(),
            ..Search::default()
        };
        let days = search.days().unwrap();
        let at = |text: &str| humantime::parse_rfc3339(text).unwrap();
        assert!(!days.contain(at("2026-11-30T23:59:59Z")));
        assert!(days.contain(at("2026-12-01T00:00:00Z")));
        assert!(days.contain(at("2026-12-02T23:59:59Z")));
        assert!(!days.contain(at("2026-12-03T00:00:00Z")));
        let bad = Search {
            to: "yesterday".into(),
            ..Search::default()
        };
        assert!(bad.days().unwrap_err().contains("`to`"));
    }

    #[test]
    fn sorting_by_a_known_column_only() {
        let orders: [(&str, Order<u32>); 1] = [("n", |a, b| a.cmp(b))];
        let mut items = [2, 3, 1];
        let search = |sort: &str, dir: &str| Search {
            sort: sort.into(),
            dir: dir.into(),
            ..Search::default()
        };
        search("n", "asc").sort(&mut items, &orders);
        assert_eq!(items, [1, 2, 3]);
        search("n", "desc").sort(&mut items, &orders);
        assert_eq!(items, [3, 2, 1]);
        search("other", "asc").sort(&mut items, &orders);
        assert_eq!(items, [3, 2, 1], "an unknown column keeps the order");
    }
}
