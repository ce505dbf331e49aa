//! Invoicing without a modal per deal (issue 23), over HTTP against both simulators: the deal's
//! invoice figures written back to the deal fields an admin mapped, and the invoice a rule
//! prepared created with one click in the panel.

mod prepared;
mod rule_actions;
mod support;
mod write_back;
