//! The advisor's pages: sign-in and the console (`/me`): presence, the
//! conversation list, the open conversation and the visitor's context.

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

/// The console; `keep_days`: how long identity images are kept, when the
/// deployment keeps them at all.
pub fn me(
    ctx: &PageCtx,
    advisor: &PublicAdvisor,
    manual: &ManualState,
    keep_days: Option<u64>,
) -> crate::Response {
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
        &std::iter::once(("advisor", advisor.id.to_string()))
            .chain(keep_days.map(|d| ("identity_keep_days", d.to_string())))
            .collect::<Vec<_>>(),
        html! {
            // The bar: who, presence (and how long a set state lasts),
            // notifications, sign-out.
            div.console-bar {
                div.console-who {
                    h1 { (t.me_title) }
                    p.lead { (advisor.display_name) }
                }
                div.quick role="group" aria-label=(t.me_all) {
                    @for state in STATES {
                        button type="button" data-set-all=(state.as_str()) { (t.state(state)) }
                    }
                }
                details.per-channel {
                    summary { (t.console_per_channel) }
                    p.note { (t.me_intro) }
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
                }
                div.console-status {
                    @match &manual.until {
                        Some((ms, until, left)) => {
                            p #presence-until data-until=(ms) {
                                (t.me_until.replace("{until}", until).replace("{left}", left))
                            }
                        }
                        None => { p #presence-until { (t.me_no_state) } }
                    }
                    p #me-status role="status" aria-live="polite" {}
                }
                button.secondary #notify type="button" hidden { (t.console_notify) }
                form.signout method="post" action="/signout" {
                    button.secondary type="submit" { (t.me_signout) }
                }
            }
            div #console .console {
                nav.console-list aria-labelledby="list-title" {
                    h2 #list-title .visually-hidden { (t.console_list) }
                    p #ring-alert .ring-alert role="alert" {}
                    section aria-labelledby="rings-title" {
                        h3 #rings-title { (t.console_rings) }
                        ul #rings .rings {}
                    }
                    section aria-labelledby="active-title" {
                        h3 #active-title { (t.console_active) }
                        ul #active .convs {}
                    }
                    section aria-labelledby="queued-title" {
                        h3 #queued-title { (t.console_queued) }
                        ul #queued .convs {}
                    }
                    section aria-labelledby="recent-title" {
                        h3 #recent-title { (t.console_recent) }
                        ul #recent .convs {}
                    }
                    section aria-labelledby="inbox-title" {
                        h3 #inbox-title { (t.console_inbox) }
                        ul #inbox .inbox {}
                    }
                }
                section.console-main aria-labelledby="conversation-title" {
                    h2 #conversation-title .visually-hidden { (t.console_conversation) }
                    p #conversation-empty .note { (t.console_open_hint) }
                    div #chats .chats {}
                }
                aside.console-side aria-labelledby="context-title" {
                    h2 #context-title { (t.console_context) }
                    div #context aria-live="polite" {
                        p.note { (t.console_context_hint) }
                    }
                    details #replies-manager {
                        summary { (t.console_replies) }
                        p.note { (t.console_replies_hint) }
                        ul #replies .replies {}
                        form #reply-form {
                            div {
                                label for="reply-scope" { (t.console_reply_scope) }
                                select #reply-scope name="scope" {
                                    option value="mine" { (t.console_reply_mine) }
                                    option value="shared" { (t.console_reply_shared) }
                                }
                            }
                            div {
                                label for="reply-shortcut" { (t.console_reply_shortcut) }
                                input #reply-shortcut name="shortcut" required maxlength="32" pattern="[a-z0-9-]{1,32}" autocomplete="off";
                            }
                            div {
                                label for="reply-text" { (t.console_reply_text) }
                                textarea #reply-text name="text" required maxlength="2000" rows="3" {}
                            }
                            button type="submit" { (t.console_reply_save) }
                            p #reply-status role="status" {}
                        }
                    }
                    details.shortcuts {
                        summary { (t.console_shortcuts) }
                        dl {
                            @for (keys, what) in t.console_keys {
                                dt { kbd { (keys) } }
                                dd { (what) }
                            }
                        }
                    }
                }
            }
            link rel="stylesheet" href="/widget.css";
            script src="/call.js" defer {}
            script src=(crate::assets::console_js_url()) defer {}
        },
    )
}
