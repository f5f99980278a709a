//! The frame every page shares: language switch, skip link, assets.

use crate::assets::{css_url, js_url};
use crate::http_util::{html, query, set_cookie};
use crate::i18n::{Lang, Texts};
use crate::{Request, Response};
use http::StatusCode;
use livecard_core::presence::PresenceState;
use maud::{DOCTYPE, Markup, html};

/// What a page needs to know about the request.
pub struct PageCtx {
    pub lang: Lang,
    remember_lang: bool,
    path: String,
    other_params: Vec<(String, String)>,
    secure: bool,
    pub poll_ms: u64,
}

impl PageCtx {
    pub fn new(request: &Request, secure: bool, poll_ms: u64) -> Self {
        let (lang, remember_lang) = Lang::choose(request);
        let other_params = query(request)
            .into_iter()
            .filter(|(k, _)| k != "lang")
            .collect();
        Self {
            lang,
            remember_lang,
            path: request.uri().path().to_owned(),
            other_params,
            secure,
            poll_ms,
        }
    }

    pub fn t(&self) -> &'static Texts {
        self.lang.t()
    }

    /// This page's URL in another language.
    fn switch_url(&self, lang: Lang) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.other_params {
            query.append_pair(k, v);
        }
        query.append_pair("lang", lang.code());
        format!("{}?{}", self.path, query.finish())
    }

    /// Renders a full page.
    pub fn page(
        &self,
        status: StatusCode,
        title: &str,
        kind: &str,
        data: &[(&str, String)],
        main: Markup,
    ) -> Response {
        let t = self.t();
        let state_label = |s| t.state(s);
        let markup = html! {
            (DOCTYPE)
            html lang=(self.lang.code()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="referrer" content="same-origin";
                    title { (title) " · livecard" }
                    link rel="stylesheet" href=(css_url());
                    script src=(js_url()) defer {}
                }
                body data-page=(kind) data-poll-ms=(self.poll_ms)
                    data-l-available=(state_label(PresenceState::Available))
                    data-l-busy=(state_label(PresenceState::Busy))
                    data-l-away=(state_label(PresenceState::Away))
                    data-l-offline=(state_label(PresenceState::Offline))
                    data-l-saved=(t.me_saved) data-l-failed=(t.me_failed)
                    data-l-until=(t.me_until) data-l-no-state=(t.me_no_state) {
                    a.skip href="#main" { (t.skip_to_content) }
                    header.top {
                        a.brand href={ "/?lang=" (self.lang.code()) } { "livecard" }
                        nav aria-label=(t.language) {
                            ul.langs {
                                @for lang in Lang::ALL {
                                    li {
                                        @if lang == self.lang {
                                            a href=(self.switch_url(lang)) lang=(lang.code()) hreflang=(lang.code()) aria-current="true" { (lang.name()) }
                                        } @else {
                                            a href=(self.switch_url(lang)) lang=(lang.code()) hreflang=(lang.code()) { (lang.name()) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    main #main data-extra=(data_json(data)) { (main) }
                    @if data.iter().any(|(k, _)| *k == "view") {
                        section #consent .consent role="region" aria-labelledby="consent-title" hidden {
                            h2 #consent-title { (t.consent_title) }
                            p { (t.consent_text) }
                            div.consent-actions {
                                button type="button" data-consent="granted" { (t.consent_accept) }
                                button type="button" data-consent="denied" { (t.consent_decline) }
                            }
                        }
                    }
                }
            }
        };
        let mut response = html(status, markup);
        let cookie = self
            .remember_lang
            .then(|| set_cookie("lang", self.lang.code(), 31_536_000, true, self.secure))
            .flatten();
        if let Some(cookie) = cookie {
            response
                .headers_mut()
                .append(http::header::SET_COOKIE, cookie);
        }
        response
    }
}

fn data_json(data: &[(&str, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// A language code's name in the page's language.
pub fn language_name(lang: Lang, code: &str) -> String {
    let names: &[(&str, &str, &str)] = &[
        ("de", "German", "Deutsch"),
        ("en", "English", "Englisch"),
        ("fr", "French", "Französisch"),
        ("es", "Spanish", "Spanisch"),
        ("it", "Italian", "Italienisch"),
        ("nl", "Dutch", "Niederländisch"),
        ("pl", "Polish", "Polnisch"),
        ("tr", "Turkish", "Türkisch"),
    ];
    match names.iter().find(|(c, _, _)| *c == code) {
        Some((_, en, de)) => (if lang == Lang::De { *de } else { *en }).to_owned(),
        None => code.to_uppercase(),
    }
}
