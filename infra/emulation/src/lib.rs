//! What the functions run on outside AWS, shared by the benchmarks (`infra/bench`) and the
//! deploy rehearsal (`infra/rehearsal`):
//! - [`runtime_api`]: the Lambda Runtime API on loopback, one server per function instance;
//! - [`moto`]: moto's server (DynamoDB, Secrets Manager, SQS, IAM, STS) for one run, from
//!   `tests/world/moto_server.py`, optionally with IAM enforcement and its audit log.

pub mod moto;
pub mod runtime_api;
