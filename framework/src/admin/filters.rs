//! The change list's filters (Django's `list_filter` and `date_hierarchy`): what each one
//! reads from the query string, the condition it adds, and the links it shows. A value a
//! filter cannot read (a tampered link) is ignored, never handed to the database.

use chrono::{Datelike, NaiveDate};
use sea_orm::Value;
use sea_orm::sea_query::{ColumnType, Condition, ExprTrait};
use serde::Serialize;

use super::display;
use super::meta::Meta;
use super::query::{col, date_value};

/// The query parameters the change list understands, in a fixed order, from which every link
/// of the page is made (what the list does not understand is dropped from them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub(crate) fn set(&mut self, key: &str, value: &str) {
        self.0.retain(|(k, _)| k != key);
        if !value.is_empty() {
            self.0.push((key.to_owned(), value.to_owned()));
            self.0.sort();
        }
    }

    /// These parameters with `changes` made (`("p", "")` removes `p`).
    pub(crate) fn with(&self, changes: &[(&str, &str)]) -> Params {
        let mut out = self.clone();
        for (k, v) in changes {
            out.set(k, v);
        }
        out
    }

    /// `?a=1&b=2`, or `?` alone for none (a link that clears every parameter).
    pub(crate) fn query_string(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            s.append_pair(k, v);
        }
        format!("?{}", s.finish())
    }

    /// What follows a URL to carry these parameters: `?a=1`, or nothing when there are none
    /// (a redirect to `list/?` would be a different URL from `list/` for no reason).
    pub(crate) fn suffix(&self) -> String {
        if self.0.is_empty() { String::new() } else { self.query_string() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every pair, for hidden inputs.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// One link of a filter.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Choice {
    pub(crate) label: String,
    pub(crate) query: String,
    pub(crate) selected: bool,
}

/// One filter of the sidebar.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FilterView {
    pub(crate) title: String,
    pub(crate) choices: Vec<Choice>,
}

/// A filter, resolved when the site is built.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    /// A boolean column: yes, no (and unknown when nullable).
    Bool { column: String, nullable: bool },
    /// An enum column: one link per choice.
    Choices { column: String, choices: Vec<(String, String)> },
    /// A foreign key: one link per related row.
    Related { column: String, nullable: bool },
    /// A date or timestamp: today, past 7 days, this month, this year.
    Date { column: String, ty: ColumnType, nullable: bool },
}

impl Filter {
    pub(crate) fn column(&self) -> &str {
        match self {
            Filter::Bool { column, .. }
            | Filter::Choices { column, .. }
            | Filter::Related { column, .. }
            | Filter::Date { column, .. } => column,
        }
    }

    /// The parameters this filter reads.
    pub(crate) fn keys(&self) -> Vec<String> {
        let c = self.column();
        match self {
            Filter::Date { .. } => vec![format!("{c}__gte"), format!("{c}__lt"), format!("{c}__isnull")],
            _ => vec![format!("{c}__exact"), format!("{c}__isnull")],
        }
    }

    /// The condition the request's parameters ask for, if they are readable.
    pub(crate) fn condition(
        &self,
        meta: &Meta,
        params: &Params,
        to_value: &dyn Fn(&str) -> Option<Value>,
    ) -> Option<Condition> {
        let c = self.column();
        let column = col(&meta.table, c);
        if let Some(isnull) = params.get(&format!("{c}__isnull")) {
            return match isnull {
                "True" | "1" => Some(Condition::all().add(column.is_null())),
                "False" | "0" => Some(Condition::all().add(column.is_not_null())),
                _ => None,
            };
        }
        match self {
            Filter::Bool { .. } => match params.get(&format!("{c}__exact"))? {
                "1" | "True" => Some(Condition::all().add(column.eq(true))),
                "0" | "False" => Some(Condition::all().add(column.eq(false))),
                _ => None,
            },
            Filter::Choices { choices, .. } => {
                let raw = params.get(&format!("{c}__exact"))?;
                choices.iter().any(|(v, _)| v == raw).then_some(())?;
                Some(Condition::all().add(column.eq(to_value(raw)?)))
            }
            Filter::Related { .. } => {
                let raw = params.get(&format!("{c}__exact"))?;
                let ty = meta.column(c).map(|m| m.ty.clone())?;
                let key = display::parse_key(&ty, raw)?;
                Some(Condition::all().add(column.eq(key)))
            }
            Filter::Date { ty, .. } => {
                let from = params.get(&format!("{c}__gte")).and_then(parse_date);
                let to = params.get(&format!("{c}__lt")).and_then(parse_date);
                if from.is_none() && to.is_none() {
                    return None;
                }
                let mut cond = Condition::all();
                if let Some(from) = from {
                    cond = cond.add(column.clone().gte(date_value(ty, from)));
                }
                if let Some(to) = to {
                    cond = cond.add(column.lt(date_value(ty, to)));
                }
                Some(cond)
            }
        }
    }

    /// The filter's links: "All" and each choice, the current one selected. `related` gives a
    /// foreign key's rows as (key, name).
    pub(crate) fn view(
        &self,
        title: &str,
        params: &Params,
        related: &[(String, String)],
        today: NaiveDate,
    ) -> FilterView {
        let c = self.column();
        let base = params.with(&[("p", "")]);
        let mut cleared = base.clone();
        for key in self.keys() {
            cleared.set(&key, "");
        }
        let exact = format!("{c}__exact");
        let isnull = format!("{c}__isnull");
        let current_exact = params.get(&exact);
        let current_null = params.get(&isnull);
        let mut choices = vec![Choice {
            label: if matches!(self, Filter::Date { .. }) { "Any date" } else { "All" }.to_owned(),
            query: cleared.query_string(),
            selected: self.keys().iter().all(|k| params.get(k).is_none()),
        }];
        let link = |label: &str, set: &[(&str, &str)], selected: bool| Choice {
            label: label.to_owned(),
            query: cleared.with(set).query_string(),
            selected,
        };
        match self {
            Filter::Bool { nullable, .. } => {
                choices.push(link("Yes", &[(&exact, "1")], current_exact == Some("1")));
                choices.push(link("No", &[(&exact, "0")], current_exact == Some("0")));
                if *nullable {
                    choices.push(link("Unknown", &[(&isnull, "True")], current_null == Some("True")));
                }
            }
            Filter::Choices { choices: options, .. } => {
                for (value, label) in options {
                    choices.push(link(label, &[(&exact, value)], current_exact == Some(value.as_str())));
                }
            }
            Filter::Related { nullable, .. } => {
                for (key, name) in related {
                    choices.push(link(name, &[(&exact, key)], current_exact == Some(key.as_str())));
                }
                if *nullable {
                    choices.push(link("None", &[(&isnull, "True")], current_null == Some("True")));
                }
            }
            Filter::Date { nullable, .. } => {
                let gte = format!("{c}__gte");
                let lt = format!("{c}__lt");
                let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
                let tomorrow = today.succ_opt().unwrap_or(today);
                let month_start = today.with_day(1).unwrap_or(today);
                let next_month = add_months(month_start, 1);
                let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
                let next_year = NaiveDate::from_ymd_opt(today.year() + 1, 1, 1).unwrap_or(today);
                let ranges = [
                    ("Today", today, tomorrow),
                    ("Past 7 days", today - chrono::Days::new(7), tomorrow),
                    ("This month", month_start, next_month),
                    ("This year", year_start, next_year),
                ];
                for (label, from, to) in ranges {
                    let (from, to) = (day(from), day(to));
                    let selected = params.get(&gte) == Some(from.as_str()) && params.get(&lt) == Some(to.as_str());
                    choices.push(link(label, &[(&gte, &from), (&lt, &to)], selected));
                }
                if *nullable {
                    choices.push(link("No date", &[(&isnull, "True")], current_null == Some("True")));
                    choices.push(link("Has date", &[(&isnull, "False")], current_null == Some("False")));
                }
            }
        }
        FilterView { title: title.to_owned(), choices }
    }
}

/// `2026-03-04`, within the years a date column can hold.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    (1..=9999).contains(&date.year()).then_some(date)
}

/// The first day of the month `n` months after `date`'s.
pub(crate) fn add_months(date: NaiveDate, n: u32) -> NaiveDate {
    date.checked_add_months(chrono::Months::new(n)).unwrap_or(date)
}

/// The date hierarchy's selection read from the parameters: a year, a month of it, a day of
/// that; a part that does not read as one (or makes no date) ends the selection there.
pub(crate) fn hierarchy_selection(column: &str, params: &Params) -> (Option<i32>, Option<u32>, Option<u32>) {
    let year =
        params.get(&format!("{column}__year")).and_then(|y| y.parse::<i32>().ok()).filter(|y| (1..=9999).contains(y));
    let month = year.and(
        params.get(&format!("{column}__month")).and_then(|m| m.parse::<u32>().ok()).filter(|m| (1..=12).contains(m)),
    );
    let day = match (year, month) {
        (Some(y), Some(m)) => params
            .get(&format!("{column}__day"))
            .and_then(|d| d.parse::<u32>().ok())
            .filter(|d| NaiveDate::from_ymd_opt(y, m, *d).is_some()),
        _ => None,
    };
    (year, month, day)
}

/// The range of dates a hierarchy selection covers: [from, to).
pub(crate) fn hierarchy_range(
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
) -> Option<(NaiveDate, NaiveDate)> {
    let year = year?;
    match (month, day) {
        (Some(m), Some(d)) => {
            let from = NaiveDate::from_ymd_opt(year, m, d)?;
            Some((from, from.succ_opt()?))
        }
        (Some(m), None) => {
            let from = NaiveDate::from_ymd_opt(year, m, 1)?;
            Some((from, add_months(from, 1)))
        }
        _ => Some((NaiveDate::from_ymd_opt(year, 1, 1)?, NaiveDate::from_ymd_opt(year + 1, 1, 1)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        for (k, v) in pairs {
            p.set(k, v);
        }
        p
    }

    #[test]
    fn hierarchy_reads_only_real_dates() {
        let p = params(&[("d__year", "2026"), ("d__month", "2"), ("d__day", "30")]);
        assert_eq!(hierarchy_selection("d", &p), (Some(2026), Some(2), None));
        let p = params(&[("d__year", "x"), ("d__month", "2")]);
        assert_eq!(hierarchy_selection("d", &p), (None, None, None));
        let (from, to) = hierarchy_range(Some(2026), Some(12), None).unwrap();
        assert_eq!((from.to_string(), to.to_string()), ("2026-12-01".into(), "2027-01-01".into()));
    }

    #[test]
    fn links_keep_other_parameters_and_drop_the_page() {
        let p = params(&[("q", "ada"), ("p", "3"), ("flag__exact", "1")]);
        let view = Filter::Bool { column: "flag".into(), nullable: false }.view(
            "Flag",
            &p,
            &[],
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        );
        assert_eq!(view.choices[0].query, "?q=ada");
        assert!(view.choices[1].selected);
        assert_eq!(view.choices[2].query, "?flag__exact=0&q=ada");
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(Params::default().suffix(), "");
        assert_eq!(p.suffix(), "?flag__exact=1&p=3&q=ada");
    }
}
