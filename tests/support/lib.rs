//! Test support: moto server, simulators, fixtures.

pub mod moto;
