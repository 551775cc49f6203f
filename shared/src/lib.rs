//! The support-ticket API's one crate, shared by every Lambda function.
//!
//! # Layout
//!
//! Each layer uses only the layers below it (`tests/layers.rs` fails when a module imports
//! from a layer above its own):
//!
//! ```text
//! 4  http/ event.rs logging.rs   the edges: lambda_http (API functions), lambda_runtime
//!    memory.rs                   (event functions), log output, the process's startup pages
//! 3  service/                    the operations, a file per use case; every authorization
//!                                decision is made here
//! 2  input/ view.rs store/       request JSON -> commands; domain -> the contract's JSON;
//!    files.rs cursor.rs          DynamoDB (never sees a caller); S3; list cursors;
//!    idempotency.rs config.rs    Idempotency-Key records; environment -> settings;
//!    outbound.rs tls.rs          EventBridge, SQS and webhook HTTP (feature `events`); the
//!                                roots the SDK clients trust
//! 1  error.rs                    ApiError: what callers branch on, and its status code
//! 0  domain/                     tickets, threads, attachments, callers, ids, the rules and
//!                                the service levels: pure (no AWS, no HTTP, no JSON values)
//! ```
//!
//! A function's `main` builds its state once at cold start (`http::Api::from_env` or
//! `service::App::from_env`) and serves: its handler reads the request (`http`, `input`), calls
//! one operation (`service`) and shapes the answer (`http::Reply`).

pub mod domain;

pub mod error;

pub mod config;
pub mod cursor;
#[cfg(feature = "files")]
pub mod files;
pub mod idempotency;
pub mod input;
#[cfg(feature = "events")]
pub mod outbound;
pub mod store;
pub mod view;

pub mod service;

pub mod event;
pub mod http;
pub mod logging;
pub mod memory;
pub mod tls;

pub use error::ApiError;

/// Every binary that links this crate allocates with mimalloc: a warm request makes thousands
/// of small allocations (most in the AWS SDK), and glibc's malloc spent a fifth of a request's
/// instructions on them (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
pub use service::App;
