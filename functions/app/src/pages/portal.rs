//! `GET /`: the contact portal, every advisor with live presence.

use super::PageCtx;
use super::layout::language_name;
use crate::api::advisors::{Filter, PublicAdvisor};
use crate::i18n::Lang;
use livecard_core::channel::{Channel, ChannelSet};
use maud::{Markup, html};

/// The avatar: the photo when there is one, otherwise initials.
pub fn avatar(advisor: &PublicAdvisor) -> Markup {
    let initials: String = advisor
        .display_name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    html! {
        @if let Some(url) = &advisor.photo_url {
            img.avatar src=(url) alt="" width="72" height="72";
        } @else {
            span.avatar aria-hidden="true" { (initials) }
        }
    }
}

/// The presence list of an advisor for the given channels.
pub fn presence_list(ctx: &PageCtx, advisor: &PublicAdvisor, channels: ChannelSet) -> Markup {
    let t = ctx.t();
    html! {
        ul.presence aria-label=(t.presence_label) {
            @for channel in channels.iter() {
                @let state = advisor.presence.get(channel);
                li data-channel=(channel.as_str()) data-state=(state.as_str()) {
                    span.dot aria-hidden="true" {}
                    span.channel { (t.channel(channel)) ": " }
                    span.state { (t.state(state)) }
                }
            }
        }
    }
}

pub fn languages_line(lang: Lang, advisor: &PublicAdvisor) -> String {
    advisor
        .languages
        .iter()
        .map(|code| language_name(lang, code))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn render(
    ctx: &PageCtx,
    advisors: &[PublicAdvisor],
    everyone: &[PublicAdvisor],
    filter: &Filter,
    view: Option<String>,
) -> crate::Response {
    let t = ctx.t();
    let mut topics: Vec<&str> = everyone
        .iter()
        .flat_map(|a| a.topics.iter().map(String::as_str))
        .collect();
    topics.sort_unstable();
    topics.dedup();
    let mut languages: Vec<&str> = everyone
        .iter()
        .flat_map(|a| a.languages.iter().map(String::as_str))
        .collect();
    languages.sort_unstable();
    languages.dedup();
    let mut data = vec![
        ("topic", filter.topic.clone().unwrap_or_default()),
        ("language", filter.language.clone().unwrap_or_default()),
    ];
    data.extend(view.map(|v| ("view", v)));
    ctx.page(
        http::StatusCode::OK,
        t.portal_title,
        "portal",
        &data,
        html! {
            h1 { (t.portal_title) }
            p.lead { (t.portal_intro) }
            form.filters method="get" action="/" {
                input type="hidden" name="lang" value=(ctx.lang.code());
                div {
                    label for="filter-topic" { (t.filter_topic) }
                    select #filter-topic name="topic" {
                        option value="" { (t.filter_any) }
                        @for topic in &topics {
                            option value=(topic) selected[filter.topic.as_deref() == Some(*topic)] { (topic) }
                        }
                    }
                }
                div {
                    label for="filter-language" { (t.filter_language) }
                    select #filter-language name="language" {
                        option value="" { (t.filter_any) }
                        @for code in &languages {
                            option value=(code) selected[filter.language.as_deref() == Some(*code)] { (language_name(ctx.lang, code)) }
                        }
                    }
                }
                button type="submit" { (t.filter_apply) }
            }
            section.start-chat {
                p { (t.portal_chat_intro) }
                div.actions {
                    button type="button" data-start="chat" disabled { (t.portal_chat) }
                    button type="button" data-start="audio" disabled { (t.start(Channel::Audio)) }
                    button type="button" data-start="video" disabled { (t.start(Channel::Video)) }
                }
                div #contact {}
                script src="/widget.js" data-origin="portal" data-mount="#contact" data-lang=(ctx.lang.code())
                    data-topic=[filter.topic.as_deref()] defer {}
            }
            @if advisors.is_empty() {
                p.empty { (t.nobody_matches) }
            }
            ul.advisors {
                @for advisor in advisors {
                    li.advisor data-advisor=(advisor.id.as_str()) data-status=(advisor.status.as_str()) {
                        (avatar(advisor))
                        div.details {
                            h2 { (advisor.display_name) }
                            @if !advisor.title.is_empty() { p.title { (advisor.title) } }
                            @if !advisor.languages.is_empty() {
                                p.meta { (t.speaks) ": " (languages_line(ctx.lang, advisor)) }
                            }
                            @if !advisor.topics.is_empty() {
                                p.meta { (t.topics) ": " (advisor.topics.join(", ")) }
                            }
                            (presence_list(ctx, advisor, advisor.channels))
                        }
                    }
                }
            }
        },
    )
}
