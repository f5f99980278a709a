//! The advisor's pages: sign-in and a minimal presence page (`/me`).

use super::PageCtx;
use super::errors::notice;
use crate::api::advisors::PublicAdvisor;
use http::StatusCode;
use livecard_core::presence::PresenceState;
use maud::html;

const STATES: [PresenceState; 4] = [
    PresenceState::Available,
    PresenceState::Busy,
    PresenceState::Away,
    PresenceState::Offline,
];

pub fn signin(ctx: &PageCtx, token: &str) -> crate::Response {
    let t = ctx.t();
    ctx.page(
        StatusCode::OK,
        t.signin_title,
        "signin",
        &[],
        html! {
            section.notice {
                h1 { (t.signin_title) }
                p { (t.signin_text) }
                form method="post" action="/signin" {
                    input type="hidden" name="token" value=(token);
                    button #signin type="submit" { (t.signin_button) }
                }
            }
        },
    )
}

pub fn signin_failed(ctx: &PageCtx) -> crate::Response {
    let t = ctx.t();
    notice(
        ctx,
        StatusCode::BAD_REQUEST,
        t.signin_title,
        t.signin_failed,
        false,
    )
}

pub fn signed_out(ctx: &PageCtx, status: StatusCode) -> crate::Response {
    let t = ctx.t();
    notice(ctx, status, t.signin_title, t.signed_out, true)
}

/// The advisor's manual state as the console shows it: per channel, and
/// until when it lasts (the earliest of its channels), with the time left
/// spelled out for this instant.
pub struct ManualState {
    pub states: Vec<(livecard_core::channel::Channel, PresenceState)>,
    pub until: Option<(u64, String, String)>,
}

pub fn me(ctx: &PageCtx, advisor: &PublicAdvisor, manual: &ManualState) -> crate::Response {
    let t = ctx.t();
    let set = |channel| {
        manual
            .states
            .iter()
            .find(|(c, _)| *c == channel)
            .map(|(_, s)| *s)
    };
    ctx.page(
        StatusCode::OK,
        t.me_title,
        "me",
        &[("advisor", advisor.id.to_string())],
        html! {
            h1 { (t.me_title) }
            p.lead { (advisor.display_name) }
            p { (t.me_intro) }
            div.quick role="group" aria-label=(t.me_all) {
                @for state in STATES {
                    button type="button" data-set-all=(state.as_str()) { (t.state(state)) }
                }
            }
            form #presence-form {
                @for channel in advisor.channels.iter() {
                    @let current = set(channel).unwrap_or(advisor.presence.get(channel));
                    div {
                        label for={ "presence-" (channel.as_str()) } { (t.channel(channel)) }
                        select id={ "presence-" (channel.as_str()) } name=(channel.as_str()) {
                            @for state in STATES {
                                option value=(state.as_str()) selected[state == current] { (t.state(state)) }
                            }
                        }
                    }
                }
                button type="submit" { (t.me_save) }
            }
            @match &manual.until {
                Some((ms, until, left)) => {
                    p #presence-until data-until=(ms) {
                        (t.me_until.replace("{until}", until).replace("{left}", left))
                    }
                }
                None => { p #presence-until { (t.me_no_state) } }
            }
            p #me-status role="status" aria-live="polite" {}
            div #console {
                p #ring-alert .ring-alert role="alert" {}
                section aria-labelledby="rings-title" {
                    h2 #rings-title { (t.console_rings) }
                    ul #rings .rings {}
                }
                section aria-labelledby="chats-title" {
                    h2 #chats-title { (t.console_chats) }
                    div #chats .chats {}
                }
                section aria-labelledby="inbox-title" {
                    h2 #inbox-title { (t.console_inbox) }
                    ul #inbox .inbox {}
                }
            }
            link rel="stylesheet" href="/widget.css";
            script src="/call.js" defer {}
            script src=(crate::assets::console_js_url()) defer {}
            form method="post" action="/signout" {
                button.secondary type="submit" { (t.me_signout) }
            }
        },
    )
}
