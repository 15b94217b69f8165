//! The instances table's order and filter: the columns that sort, how two
//! instances compare by each, and what the filter text matches.

use super::super::lowercase;
use super::super::table::Column;
use crate::live::Stamped;
use crate::model::Instance;

/// The instance table's columns that sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Col {
    Status,
    Address,
    Instance,
    Version,
    Layout,
    Ttl,
}

impl Column for Col {
    const ALL: &'static [Self] = &[
        Col::Status,
        Col::Address,
        Col::Instance,
        Col::Version,
        Col::Layout,
        Col::Ttl,
    ];
    fn name(self) -> &'static str {
        match self {
            Col::Status => "status",
            Col::Address => "address",
            Col::Instance => "instance",
            Col::Version => "version",
            Col::Layout => "layout",
            Col::Ttl => "ttl",
        }
    }
}

/// The order `column` puts two instances in (ascending).
pub(super) fn compare(column: Col, a: &Stamped<Instance>, b: &Stamped<Instance>) -> std::cmp::Ordering {
    let (x, y) = (&a.value, &b.value);
    match column {
        // Out of service first: declared, unparsed, then by the TTL left.
        Col::Status => {
            let rank = |i: &Instance| u8::from(i.declared.is_none()) * 2 + u8::from(i.error.is_none());
            rank(x).cmp(&rank(y)).then(x.ttl.cmp(&y.ttl))
        }
        Col::Address => x.address.cmp(&y.address),
        Col::Instance => x.id.cmp(&y.id),
        Col::Version => x.version.cmp(&y.version),
        Col::Layout => x.layout.as_str().cmp(y.layout.as_str()),
        Col::Ttl => x.ttl.cmp(&y.ttl),
    }
}

pub(super) fn matches(instance: &Instance, query: &str) -> bool {
    query.is_empty()
        || lowercase(&instance.id).contains(query)
        || instance.address.as_deref().is_some_and(|a| a.contains(query))
        || instance
            .version
            .as_deref()
            .is_some_and(|v| lowercase(v).contains(query))
        || instance
            .metadata
            .iter()
            .any(|(k, v)| lowercase(k).contains(query) || lowercase(v).contains(query))
}
