//! Keyset paging of the API's listings: `limit` rows after the `after` cursor, answered as
//! `{items, next}`. Each listing has a concrete page type of its own (made by [`listing!`])
//! so the OpenAPI document describes its rows exactly.

use serde::{Deserialize, Serialize};

/// Keyset paging of a listing: `limit` rows after the `after` key.
#[derive(Debug, Deserialize, Default)]
pub struct PageQuery {
    /// Rows per page.
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    /// The page size, 1 to 500 (default 50).
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, 500) as usize
    }
}

/// One page of a listing and the cursor of the next (none at the end).
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass as `after` for the next page.
    pub next: Option<String>,
}

/// Pages rows already ordered by a unique key (small per-tenant tables).
pub fn page_by<T>(rows: Vec<T>, q: &PageQuery, key: impl Fn(&T) -> String) -> Page<T> {
    let items = rows.into_iter().filter(|r| q.after.as_deref().is_none_or(|a| key(r).as_str() > a)).collect();
    page_of(items, q.limit(), key)
}

/// The page of rows read after the cursor, up to one more than `limit` (the extra row only
/// says that a next page exists).
pub fn page_of<T>(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(&key)
    } else {
        None
    };
    Page { items, next }
}

/// A concrete page type of a listing (`{items, next}` of one row type), for its schema:
/// `listing!(/** doc */ UserPage of pbx_store::User);`.
macro_rules! listing {
    ($(#[doc = $doc:literal])* $name:ident of $item:ty) => {
        $(#[doc = $doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// The rows of this page.
            pub items: Vec<$item>,
            /// Pass as `after` to get the next page; null on the last page.
            #[schema(required = true)]
            pub next: Option<String>,
        }

        impl From<$crate::web::paging::Page<$item>> for $name {
            fn from(p: $crate::web::paging::Page<$item>) -> $name {
                $name { items: p.items, next: p.next }
            }
        }
    };
}
pub(crate) use listing;
