//! HTTP: the Tower [`layer`](crate::layer) and the [`AxesReport`]
//! extractor handlers report with, the lockout responses and the
//! trusted-device cookie, and the [`admin`](crate::admin) web UI — the top
//! of the crate, over the engine.

pub mod admin;
mod cookie;
pub mod layer;
mod ratelimit;
pub(crate) mod report;
pub(crate) mod response;

pub use report::{AxesRefusal, AxesReport, MissingAxesLayer};
pub use response::{LockoutCallable, LockoutContext, LockoutTemplate};
