//! Pagination (Django's `django.core.paginator`): a [`Paginator`] over a count of items, usable
//! on its own, and the [`Page`] it hands templates as `page_obj`.

use serde::Serialize;

use crate::error::{Error, Result};

/// Splits `count` items into pages of `per_page`.
///
/// ```
/// use djambda::views::Paginator;
///
/// let p = Paginator::new(12, 5);
/// assert_eq!(p.num_pages(), 3);
/// let last = p.page(Some("last")).unwrap();
/// assert_eq!((last.number, last.start_index, last.end_index), (3, 11, 12));
/// assert!(p.page(Some("4")).is_err() && p.page(Some("two")).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Paginator {
    /// How many items in all.
    pub count: u64,
    /// Items per page (at least 1).
    pub per_page: u64,
}

/// One page's place among the pages (Django's `Page`, without the items, which the view
/// passes as `object_list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Page {
    /// 1-based page number.
    pub number: u64,
    /// How many pages there are (at least 1: an empty list has one empty page).
    pub num_pages: u64,
    /// How many items in all.
    pub count: u64,
    /// Whether a next page exists.
    pub has_next: bool,
    /// Whether a previous page exists.
    pub has_previous: bool,
    /// Whether there is more than one page.
    pub has_other_pages: bool,
    /// The next page's number.
    pub next_page_number: Option<u64>,
    /// The previous page's number.
    pub previous_page_number: Option<u64>,
    /// 1-based index of the page's first item (0 when there are none).
    pub start_index: u64,
    /// 1-based index of the page's last item.
    pub end_index: u64,
}

impl Paginator {
    /// A paginator for `count` items, `per_page` to a page.
    pub fn new(count: u64, per_page: u64) -> Self {
        Paginator { count, per_page: per_page.max(1) }
    }

    /// How many pages (at least 1).
    pub fn num_pages(&self) -> u64 {
        self.count.div_ceil(self.per_page).max(1)
    }

    /// The page a `?page=` value names: a number, `last`, or nothing for the first. Anything
    /// else, or a page past the end, is a 404 as Django's `ListView` answers.
    pub fn page(&self, raw: Option<&str>) -> Result<Page> {
        let num_pages = self.num_pages();
        let number = match raw.map(str::trim) {
            None | Some("") => 1,
            Some("last") => num_pages,
            Some(text) => match text.parse::<u64>() {
                Ok(n) if (1..=num_pages).contains(&n) => n,
                Ok(_) => return Err(Error::not_found(format!("Invalid page ({text}): That page contains no results"))),
                Err(_) => {
                    return Err(Error::not_found(format!("Invalid page ({text}): That page number is not an integer")));
                }
            },
        };
        let start = (number - 1) * self.per_page;
        let end = (start + self.per_page).min(self.count);
        Ok(Page {
            number,
            num_pages,
            count: self.count,
            has_next: number < num_pages,
            has_previous: number > 1,
            has_other_pages: num_pages > 1,
            next_page_number: (number < num_pages).then_some(number + 1),
            previous_page_number: (number > 1).then(|| number - 1),
            start_index: if self.count == 0 { 0 } else { start + 1 },
            end_index: end,
        })
    }
}

impl Page {
    /// How many items to skip to reach this page.
    pub fn offset(&self, per_page: u64) -> u64 {
        (self.number - 1) * per_page.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_have_one_empty_page() {
        let p = Paginator::new(0, 10);
        assert_eq!(p.num_pages(), 1);
        let page = p.page(None).unwrap();
        assert_eq!((page.start_index, page.end_index, page.has_next), (0, 0, false));
        assert!(p.page(Some("2")).is_err());
    }

    #[test]
    fn neighbours_and_indexes() {
        let p = Paginator::new(23, 10);
        let middle = p.page(Some("2")).unwrap();
        assert_eq!((middle.previous_page_number, middle.next_page_number), (Some(1), Some(3)));
        assert_eq!((middle.start_index, middle.end_index), (11, 20));
        assert_eq!(p.page(Some("0")).unwrap_err().status(), http::StatusCode::NOT_FOUND);
        assert_eq!(middle.offset(10), 10);
    }
}
