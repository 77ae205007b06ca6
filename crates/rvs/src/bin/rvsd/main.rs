//! rvsd, the director daemon.

fn main() {}
