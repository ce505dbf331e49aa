//! Outbound calls: the one HTTPS stack ([`outbound`]), the QuickBooks Online and Pipedrive API
//! clients ([`quickbooks`], [`pipedrive`]) and the app secret's reader ([`app_secret`]).
//! With the `aws` feature, the AWS SDK's configuration and its HTTP connector over the same stack.

pub mod app_secret;
pub mod aws;
pub mod outbound;
pub mod pipedrive;
pub mod quickbooks;
