//! `GET /c/{token}`: a live business card.

use super::PageCtx;
use super::portal::{avatar, languages_line, presence_list};
use crate::api::advisors::PublicAdvisor;
use livecard_core::card::CardClaims;
use maud::html;

pub fn render(
    ctx: &PageCtx,
    advisor: &PublicAdvisor,
    claims: &CardClaims,
    token: &str,
    view: Option<String>,
) -> crate::Response {
    let t = ctx.t();
    let channels = claims.channels.intersect(advisor.channels);
    let mut data = vec![("advisor", advisor.id.to_string())];
    data.extend(view.map(|v| ("view", v)));
    ctx.page(
        http::StatusCode::OK,
        &advisor.display_name,
        "card",
        &data,
        html! {
            article.card data-advisor=(advisor.id.as_str()) data-status=(advisor.status.as_str()) {
                (avatar(advisor))
                div.details {
                    h1 { (advisor.display_name) }
                    @if !advisor.title.is_empty() { p.title { (advisor.title) } }
                    @if !advisor.languages.is_empty() {
                        p.meta { (t.speaks) ": " (languages_line(ctx.lang, advisor)) }
                    }
                    (presence_list(ctx, advisor, channels))
                    div.actions {
                        @for channel in channels.iter() {
                            button type="button" data-start=(channel.as_str()) disabled {
                                (t.start(channel))
                            }
                        }
                    }
                }
            }
            div #contact {}
            script src="/widget.js" data-card=(token) data-mount="#contact" data-lang=(ctx.lang.code()) defer {}
        },
    )
}
