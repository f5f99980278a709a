//! Error pages. Every bad card link gets the same neutral page, whatever was
//! wrong with it, so that the page is no oracle for forgers.

use super::PageCtx;
use http::StatusCode;
use maud::html;

pub fn invalid_link(ctx: &PageCtx) -> crate::Response {
    let t = ctx.t();
    ctx.page(
        StatusCode::NOT_FOUND,
        t.invalid_title,
        "error",
        &[],
        html! {
            section.notice {
                h1 { (t.invalid_title) }
                p { (t.invalid_text) }
                p { a.button href="/" { (t.to_portal) } }
            }
        },
    )
}

pub fn not_found(ctx: &PageCtx) -> crate::Response {
    let t = ctx.t();
    ctx.page(
        StatusCode::NOT_FOUND,
        t.not_found_title,
        "error",
        &[],
        html! {
            section.notice {
                h1 { (t.not_found_title) }
                p { (t.not_found_text) }
                p { a.button href="/" { (t.to_portal) } }
            }
        },
    )
}

pub fn unavailable(ctx: &PageCtx) -> crate::Response {
    let t = ctx.t();
    ctx.page(
        StatusCode::SERVICE_UNAVAILABLE,
        "livecard",
        "error",
        &[],
        html! {
            section.notice {
                h1 { "livecard" }
                p { (t.error_text) }
            }
        },
    )
}
