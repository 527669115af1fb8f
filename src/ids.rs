//! Newtypes for the ids that cross module lines. Never pass bare strings or integers.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! int_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

macro_rules! str_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

int_id!(
    /// A visit: one lawyer, one booth, one time slot.
    VisitId
);
int_id!(
    /// A lawyer account.
    LawyerId
);
int_id!(
    /// A staff (admin listener) account.
    AdminId
);
int_id!(
    /// A detainee (the lawyer sees only the facility-internal reference, R-PRIV-4).
    DetaineeId
);
int_id!(
    /// A criminal case of a detainee.
    CaseId
);
int_id!(
    /// A lawyer acting for a detainee in a case (the firm letter and authority belong to it).
    EngagementId
);
int_id!(
    /// An uploaded document of an engagement.
    DocumentId
);
str_id!(
    /// A detention facility, e.g. `demo-facility`. Appears in booth certificates.
    FacilityId
);
str_id!(
    /// A booth terminal, unique across facilities, e.g. `demo-booth-1`. Appears in booth certificates.
    BoothId
);

/// Which side of a visit a participant is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The defence lawyer (browser).
    Lawyer,
    /// The detainee's booth terminal (kiosk, identified by its certificate).
    Booth,
    /// The lawyer's assistant, approved for the case (R-VERIFY-4).
    Assistant,
    /// An interpreter, approved for the case (R-VERIFY-4).
    Interpreter,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Lawyer => "lawyer",
            Role::Booth => "booth",
            Role::Assistant => "assistant",
            Role::Interpreter => "interpreter",
        }
    }
}

/// Who a participant is, independent of the visit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ParticipantId {
    Lawyer(LawyerId),
    Booth(BoothId),
    /// An assistant's account (a lawyer-side account of kind `assistant`).
    Assistant(LawyerId),
    /// An interpreter's account (a lawyer-side account of kind `interpreter`).
    Interpreter(LawyerId),
}

impl ParticipantId {
    pub fn role(&self) -> Role {
        match self {
            ParticipantId::Lawyer(_) => Role::Lawyer,
            ParticipantId::Booth(_) => Role::Booth,
            ParticipantId::Assistant(_) => Role::Assistant,
            ParticipantId::Interpreter(_) => Role::Interpreter,
        }
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParticipantId::Lawyer(id) => write!(f, "lawyer:{id}"),
            ParticipantId::Booth(id) => write!(f, "booth:{id}"),
            ParticipantId::Assistant(id) => write!(f, "assistant:{id}"),
            ParticipantId::Interpreter(id) => write!(f, "interpreter:{id}"),
        }
    }
}
