//! Nothing here: the tests in `tests/` drive the functions' handlers (see Cargo.toml).
