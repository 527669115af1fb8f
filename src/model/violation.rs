//! The violation categories (R-CONDUCT-1): [`Category`], its stored code and its words.
//! Re-exported as `admin::violations::Category`; used by the violation routes and by the
//! report outbox, which states the category in words to each recipient (R-CONDUCT-2).
//!
//! Plain data only: does not record, stop or report anything (that is `admin::violations`
//! and `admin::outbox`).

/// A violation category: exactly the conduct R-CONDUCT-1 names, plus `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    UnapprovedPerson,
    CommunicationDevice,
    RelayingToOutsiders,
    ProhibitedItems,
    Other,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::UnapprovedPerson,
        Category::CommunicationDevice,
        Category::RelayingToOutsiders,
        Category::ProhibitedItems,
        Category::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Category::UnapprovedPerson => "unapproved_person",
            Category::CommunicationDevice => "communication_device",
            Category::RelayingToOutsiders => "relaying_to_outsiders",
            Category::ProhibitedItems => "prohibited_items",
            Category::Other => "other",
        }
    }

    /// The category in words, as the reports state it.
    pub fn describe(self) -> &'static str {
        match self {
            Category::UnapprovedPerson => "an unapproved person was present",
            Category::CommunicationDevice => "a communication device was given to the detainee",
            Category::RelayingToOutsiders => "the visit was relayed to outsiders",
            Category::ProhibitedItems => "prohibited items were passed",
            Category::Other => "another serious violation",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.code() == s)
    }
}
