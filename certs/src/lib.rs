//! Development CA and certificate tooling. (Being written; see issue 2.)
