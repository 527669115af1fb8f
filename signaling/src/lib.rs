//! confer's signalling wire protocol. (Being written; see issue 2.)
