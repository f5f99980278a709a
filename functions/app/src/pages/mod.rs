//! The HTML pages: server-rendered (maud escapes every value), small, with
//! one stylesheet and one script from our own origin (no inline code, so the
//! Content-Security-Policy can forbid it).

pub mod advisor;
pub mod card;
pub mod errors;
pub(crate) mod handlers;
pub mod layout;
pub mod portal;

pub use layout::PageCtx;
