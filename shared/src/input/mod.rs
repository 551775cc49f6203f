//! Requests as they arrive (JSON bodies, query strings) turned into the domain's commands,
//! every problem named with its field, all at once. No knowledge of HTTP or of storage.

mod bodies;
mod fields;
mod metrics;
mod queries;

pub use bodies::*;
pub use fields::*;
pub use metrics::*;
pub use queries::*;

#[cfg(test)]
mod tests;
