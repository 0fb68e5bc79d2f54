//! Sorting and filtering a console list, the same way on every list page: the `sort` and
//! `order` query parameters pick a column (a page names its sortable columns by key, one
//! per heading, `""` for one that does not sort), and drop-downs above the table filter
//! by state, zone and account. Filters the list command takes are passed to it; a state
//! filter it does not take is applied here. Sorted or filtered here, the whole list (up
//! to [`SORT_MAX`] rows) is fetched, then sorted, filtered and paged on this side.

use std::collections::HashMap;

use stratus_ui::{Field, Table};

use super::show::{plain, text};
use super::{query_string, Session, PAGE_SIZE};

/// Up to this many rows are sorted as one list (past it, the first so many).
pub(crate) const SORT_MAX: i64 = 500;

/// A list page's arrangement as its query asks for it.
pub(crate) struct Arrange {
    path: &'static str,
    keys: &'static [&'static str],
    /// The sort key asked for (one of `keys`), and whether descending.
    pub sort: Option<&'static str>,
    pub descending: bool,
    page: i64,
    /// A state to keep, applied here (the list command has no `state` filter).
    local_state: Option<String>,
}

/// Which filters a list offers.
#[derive(Default)]
pub(crate) struct Filters {
    /// The states offered; empty: no state filter.
    pub states: &'static [&'static str],
    /// Whether the list command filters by `state` itself (else it is done here).
    pub state_param: bool,
    pub zone: bool,
    /// Admins only: an account, as `domainid` + `account`.
    pub account: bool,
}

/// The page's items, arranged: those of the page, and the total to page over.
pub(crate) struct Arranged<T> {
    pub items: Vec<T>,
    pub total: i64,
}

impl Arrange {
    pub fn new(
        path: &'static str,
        keys: &'static [&'static str],
        q: &HashMap<String, String>,
    ) -> Arrange {
        Arrange {
            path,
            keys,
            sort: q
                .get("sort")
                .and_then(|k| keys.iter().find(|x| !x.is_empty() && *x == k).copied()),
            descending: q.get("order").is_some_and(|o| o == "desc"),
            page: q
                .get("page")
                .and_then(|p| p.parse::<i64>().ok())
                .unwrap_or(1)
                .max(1),
            local_state: None,
        }
    }

    /// Whether rows are arranged here (then the whole list is fetched).
    fn local(&self) -> bool {
        self.sort.is_some() || self.local_state.is_some()
    }

    /// The list command's parameters: `params` (paging, keyword, …) with the filters
    /// the command takes; the filter fields to show above the table.
    pub async fn filters(
        &mut self,
        s: &Session,
        q: &HashMap<String, String>,
        f: &Filters,
        params: &mut Vec<(&'static str, String)>,
    ) -> Vec<Field> {
        let get = |k: &str| q.get(k).cloned().unwrap_or_default();
        let mut fields = vec![];
        if !f.states.is_empty() {
            let mut states = vec![(String::new(), "Any state".to_string())];
            states.extend(f.states.iter().map(|st| (st.to_string(), st.to_string())));
            let state = get("state");
            if !state.is_empty() && states.iter().any(|(v, _)| *v == state) {
                if f.state_param {
                    params.push(("state", state.clone()));
                } else {
                    self.local_state = Some(state.clone());
                }
            }
            fields.push(Field::select("state", "State", state, states));
        }
        if f.zone {
            let mut zones = vec![(String::new(), "Any zone".to_string())];
            zones.extend(
                s.list_of::<stratus_api::types::ZoneResponse>("listZones", &all_rows(&[]))
                    .await
                    .map(|(_, z)| z)
                    .unwrap_or_default()
                    .iter()
                    .map(|z| (plain(&z.id), text(&z.name))),
            );
            let zone = get("zoneid");
            if !zone.is_empty() && zones.iter().any(|(v, _)| *v == zone) {
                params.push(("zoneid", zone.clone()));
            }
            fields.push(Field::select("zoneid", "Zone", zone, zones));
        }
        if f.account && s.is_admin() {
            // An account is a name in a domain: the value is `DOMAINID/NAME`.
            let mut accounts = vec![(String::new(), "Any account".to_string())];
            accounts.extend(
                s.list_of::<stratus_api::types::AccountResponse>(
                    "listAccounts",
                    &all_rows(&[("listall", "true".into())]),
                )
                .await
                .map(|(_, a)| a)
                .unwrap_or_default()
                .iter()
                .map(|a| {
                    (
                        format!("{}/{}", plain(&a.domainid), plain(&a.name)),
                        format!("{} ({})", text(&a.name), text(&a.domain)),
                    )
                }),
            );
            let account = get("account");
            if !account.is_empty() && accounts.iter().any(|(v, _)| *v == account) {
                if let Some((domain, name)) = account.split_once('/') {
                    params.push(("domainid", domain.to_string()));
                    params.push(("account", name.to_string()));
                }
            }
            fields.push(Field::select("account", "Account", account, accounts));
        }
        if self.local() {
            params.retain(|(k, _)| *k != "page" && *k != "pagesize");
            params.push(("page", "1".into()));
            params.push(("pagesize", SORT_MAX.to_string()));
        }
        fields
    }

    /// Filters (state, here), sorts and pages what the list command answered.
    /// `key(item, sort key)` is the item's value for a key (compared case-blind);
    /// `state(item)` its state.
    pub fn apply<T>(
        &self,
        total: i64,
        mut items: Vec<T>,
        key: impl Fn(&T, &str) -> String,
        state: impl Fn(&T) -> String,
    ) -> Arranged<T> {
        if !self.local() {
            return Arranged { items, total };
        }
        if let Some(want) = &self.local_state {
            items.retain(|i| state(i).eq_ignore_ascii_case(want));
        }
        if let Some(k) = self.sort {
            items.sort_by_cached_key(|i| key(i, k).to_lowercase());
            if self.descending {
                items.reverse();
            }
        }
        let total = if self.local_state.is_some() {
            items.len() as i64
        } else {
            total
        };
        let from = ((self.page - 1) * PAGE_SIZE) as usize;
        Arranged {
            items: items
                .into_iter()
                .skip(from)
                .take(PAGE_SIZE as usize)
                .collect(),
            total,
        }
    }

    /// Sort links on the table's headings, the sorted one marked, and the filters.
    pub fn decorate(&self, table: &mut Table, q: &HashMap<String, String>, filters: Vec<Field>) {
        table.sort_links = self
            .keys
            .iter()
            .map(|key| {
                if key.is_empty() {
                    return None;
                }
                let order = if self.sort == Some(*key) && !self.descending {
                    "desc"
                } else {
                    "asc"
                };
                let mut pairs: Vec<(&str, String)> = q
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "sort" | "order" | "page"))
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect();
                pairs.sort();
                pairs.push(("sort", key.to_string()));
                pairs.push(("order", order.to_string()));
                Some(format!("{}{}", self.path, query_string(&pairs)))
            })
            .collect();
        table.sorted = self
            .sort
            .and_then(|k| self.keys.iter().position(|x| *x == k))
            .map(|i| {
                (
                    i,
                    if self.descending {
                        "descending"
                    } else {
                        "ascending"
                    },
                )
            });
        if !filters.is_empty() {
            table.filters = filters;
            table.filter_action = self.path.into();
            // Filtering keeps the sort.
            if let Some(k) = self.sort {
                table.filter_keep = vec![
                    ("sort".into(), k.into()),
                    (
                        "order".into(),
                        if self.descending { "desc" } else { "asc" }.into(),
                    ),
                ];
            }
        }
    }
}

/// Parameters for a drop-down's choices: every row (up to 500).
pub(crate) fn all_rows<'a>(extra: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
    let mut v = vec![("page", "1".to_string()), ("pagesize", "500".to_string())];
    v.extend(extra.iter().cloned());
    v
}

/// A sort key that orders numbers by value: an IPv4 address, or a byte count.
pub(crate) fn numeric_key(n: Option<f64>) -> String {
    format!("{:020.3}", n.unwrap_or(0.0).max(0.0))
}

/// An IPv4 address's sort key (by number); anything else as it is.
pub(crate) fn address_key(a: &str) -> String {
    a.parse::<std::net::Ipv4Addr>()
        .map(|ip| format!("{:010}", u32::from(ip)))
        .unwrap_or_else(|_| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEYS: &[&str] = &["name", "", "state"];

    #[test]
    fn sorts_filters_and_pages_here_when_asked() {
        let items: Vec<(String, String)> = (0..120)
            .map(|i| {
                (
                    format!("vm-{i:03}"),
                    if i % 2 == 0 { "Up" } else { "Down" }.into(),
                )
            })
            .collect();
        let mut a = Arrange::new(
            "/console/x",
            KEYS,
            &q(&[("sort", "name"), ("order", "desc"), ("page", "2")]),
        );
        a.local_state = Some("up".into());
        let out = a.apply(120, items.clone(), |i, _| i.0.clone(), |i| i.1.clone());
        assert_eq!(out.total, 60, "the state filter counts what it kept");
        assert_eq!(out.items.len(), 10);
        assert_eq!(
            out.items[0].0, "vm-018",
            "page 2 of 60 even rows, descending"
        );
        // An unknown or unsortable key: the list command's order and page, untouched.
        let a = Arrange::new("/console/x", KEYS, &q(&[("sort", "")]));
        assert!(a.sort.is_none());
        let out = a.apply(500, items, |i, _| i.0.clone(), |i| i.1.clone());
        assert_eq!((out.total, out.items.len()), (500, 120));
    }

    #[test]
    fn headings_link_to_their_sort_and_keep_the_filters() {
        let query = q(&[("sort", "name"), ("zoneid", "z1"), ("page", "3")]);
        let a = Arrange::new("/console/x", KEYS, &query);
        let mut t = Table::new("list", &["Name", "Address", "State"], vec![], "none");
        a.decorate(&mut t, &query, vec![]);
        assert_eq!(
            t.sort_links,
            vec![
                Some("/console/x?zoneid=z1&sort=name&order=desc".to_string()),
                None,
                Some("/console/x?zoneid=z1&sort=state&order=asc".to_string()),
            ]
        );
        assert_eq!(t.sorted, Some((0, "ascending")));
        // Filtering keeps the sort.
        let mut t = Table::new("list", &["Name", "Address", "State"], vec![], "none");
        a.decorate(
            &mut t,
            &query,
            vec![Field::select("state", "State", "", vec![])],
        );
        assert_eq!(
            t.filter_keep,
            vec![
                ("sort".to_string(), "name".to_string()),
                ("order".to_string(), "asc".to_string())
            ]
        );
        assert!(address_key("10.0.0.9") < address_key("10.0.0.10"));
        assert!(numeric_key(Some(512.0)) < numeric_key(Some(1536.0)));
    }
}
