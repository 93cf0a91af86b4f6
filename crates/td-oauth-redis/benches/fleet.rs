//! Placeholder until the fleet benchmark lands.
fn main() {}
