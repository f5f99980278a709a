//! Error pages. Every bad card link gets the same neutral page, whatever was
//! wrong with it, so that the page is no oracle for forgers.

use super::PageCtx;
use http::StatusCode;
use maud::html;

/// A short page with a heading, a sentence and, optionally, the way back to
/// the portal.
pub fn notice(
    ctx: &PageCtx,
    status: StatusCode,
    title: &str,
    text: &str,
    back: bool,
) -> crate::Response {
    let t = ctx.t();
    ctx.page(
        status,
        title,
        "error",
        &[],
        html! {
            section.notice {
                h1 { (title) }
                p { (text) }
                @if back { p { a.button href="/" { (t.to_portal) } } }
            }
        },
    )
}

pub fn invalid_link(ctx: &PageCtx) -> crate::Response {
    let t = ctx.t();
    notice(
        ctx,
        StatusCode::NOT_FOUND,
        t.invalid_title,
        t.invalid_text,
        true,
    )
}

pub fn not_found(ctx: &PageCtx) -> crate::Response {
    let t = ctx.t();
    notice(
        ctx,
        StatusCode::NOT_FOUND,
        t.not_found_title,
        t.not_found_text,
        true,
    )
}

pub fn unavailable(ctx: &PageCtx) -> crate::Response {
    notice(
        ctx,
        StatusCode::SERVICE_UNAVAILABLE,
        "livecard",
        ctx.t().error_text,
        false,
    )
}
