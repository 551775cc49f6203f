//! The support-ticket domain: model, input parsing, identity, storage and the HTTP edge,
//! shared by every Lambda function of the API.

pub mod auth;
pub mod config;
pub mod cursor;
pub mod error;
#[cfg(feature = "files")]
#[cfg(feature = "files")]
pub mod files;
pub mod http;
pub mod idempotency;
pub mod input;
#[cfg(feature = "local-auth")]
pub mod local_auth;
pub mod logging;
pub mod model;
pub mod service;
pub mod sla;
pub mod store;
#[cfg(feature = "files")]
pub mod tickets;

pub use error::ApiError;
pub use service::App;
