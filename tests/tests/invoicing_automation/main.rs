//! Invoicing without a modal per deal (issue 23), over HTTP against both simulators: the deal's
//! invoice figures written back to the deal fields an admin mapped.

mod support;
mod write_back;
