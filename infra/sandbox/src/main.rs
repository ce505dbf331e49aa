//! `cargo run -p sandbox`: serves both simulators on local ports (see `--help`).
fn main() {}
