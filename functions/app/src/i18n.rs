//! German and English. The language is chosen by `?lang=`, then the `lang`
//! cookie (set when `?lang=` is used), then `Accept-Language`, then English.

use crate::Request;
use crate::http_util::{cookie, query, query_param};
use livecard_core::channel::Channel;
use livecard_core::presence::PresenceState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The language's name in itself, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::De => "Deutsch",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            _ => None,
        }
    }

    /// The language for a request, and whether it came from `?lang=` (then
    /// the choice is remembered in a cookie).
    pub fn choose(request: &Request) -> (Lang, bool) {
        if let Some(lang) = query_param(&query(request), "lang").and_then(Lang::parse) {
            return (lang, true);
        }
        if let Some(lang) = cookie(request, "lang").and_then(Lang::parse) {
            return (lang, false);
        }
        let header = request
            .headers()
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        (from_accept_language(header).unwrap_or(Lang::En), false)
    }

    pub fn t(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
        }
    }
}

/// The best of our languages for an `Accept-Language` header.
pub fn from_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(Lang, f32)> = None;
    for part in header.split(',').take(20) {
        let mut pieces = part.split(';');
        let Some(lang) = pieces.next().and_then(Lang::parse) else {
            continue;
        };
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((lang, q));
        }
    }
    best.map(|(lang, _)| lang)
}

/// Every text the pages show.
pub struct Texts {
    pub skip_to_content: &'static str,
    pub consent_title: &'static str,
    pub consent_text: &'static str,
    pub consent_accept: &'static str,
    pub consent_decline: &'static str,
    pub language: &'static str,
    pub portal_title: &'static str,
    pub portal_intro: &'static str,
    pub filter_topic: &'static str,
    pub filter_language: &'static str,
    pub filter_any: &'static str,
    pub filter_apply: &'static str,
    pub nobody_matches: &'static str,
    pub speaks: &'static str,
    pub topics: &'static str,
    pub presence_label: &'static str,
    pub portal_chat: &'static str,
    pub portal_chat_intro: &'static str,
    pub console_title: &'static str,
    pub console_list: &'static str,
    pub console_rings: &'static str,
    pub console_active: &'static str,
    pub console_queued: &'static str,
    pub console_recent: &'static str,
    pub console_inbox: &'static str,
    pub console_conversation: &'static str,
    pub console_open_hint: &'static str,
    pub console_context: &'static str,
    pub console_context_hint: &'static str,
    pub console_replies: &'static str,
    pub console_replies_hint: &'static str,
    pub console_reply_scope: &'static str,
    pub console_reply_mine: &'static str,
    pub console_reply_shared: &'static str,
    pub console_reply_shortcut: &'static str,
    pub console_reply_text: &'static str,
    pub console_reply_save: &'static str,
    pub console_notify: &'static str,
    pub console_per_channel: &'static str,
    pub console_shortcuts: &'static str,
    /// The console's keyboard shortcuts: keys, what they do.
    pub console_keys: &'static [(&'static str, &'static str)],
    pub open_card: &'static str,
    pub invalid_title: &'static str,
    pub invalid_text: &'static str,
    pub to_portal: &'static str,
    pub not_found_title: &'static str,
    pub not_found_text: &'static str,
    pub signin_title: &'static str,
    pub signin_text: &'static str,
    pub signin_button: &'static str,
    pub signin_failed: &'static str,
    pub me_title: &'static str,
    pub me_intro: &'static str,
    pub me_all: &'static str,
    pub me_save: &'static str,
    pub me_saved: &'static str,
    pub me_failed: &'static str,
    /// "Your state lasts until {until} ({left} left)."
    pub me_until: &'static str,
    /// No manual state is set.
    pub me_no_state: &'static str,
    pub me_signout: &'static str,
    pub signed_out: &'static str,
    pub error_text: &'static str,
}

impl Texts {
    pub fn state(&self, state: PresenceState) -> &'static str {
        let de = std::ptr::eq(self, &DE);
        match (state, de) {
            (PresenceState::Available, false) => "Available",
            (PresenceState::Busy, false) => "Busy",
            (PresenceState::Away, false) => "Away",
            (PresenceState::Offline, false) => "Offline",
            (PresenceState::Available, true) => "Verfügbar",
            (PresenceState::Busy, true) => "Beschäftigt",
            (PresenceState::Away, true) => "Abwesend",
            (PresenceState::Offline, true) => "Offline",
        }
    }

    pub fn channel(&self, channel: Channel) -> &'static str {
        let de = std::ptr::eq(self, &DE);
        match (channel, de) {
            (Channel::Chat, _) => "Chat",
            (Channel::Audio, false) => "Audio call",
            (Channel::Video, false) => "Video call",
            (Channel::Audio, true) => "Anruf",
            (Channel::Video, true) => "Videoanruf",
        }
    }

    pub fn start(&self, channel: Channel) -> &'static str {
        let de = std::ptr::eq(self, &DE);
        match (channel, de) {
            (Channel::Chat, false) => "Start chat",
            (Channel::Audio, false) => "Call",
            (Channel::Video, false) => "Start video call",
            (Channel::Chat, true) => "Chat starten",
            (Channel::Audio, true) => "Anrufen",
            (Channel::Video, true) => "Videoanruf starten",
        }
    }
}

pub static EN: Texts = Texts {
    skip_to_content: "Skip to content",
    consent_title: "Web analytics",
    consent_text: "May we count this visit and your contact in our web analytics? We never send what you write, your name or your e-mail address. Chat and calls work either way.",
    consent_accept: "Allow analytics",
    consent_decline: "Decline",
    language: "Language",
    portal_title: "Talk to us live",
    portal_intro: "Choose a person and see at once who is available, by chat, phone or video.",
    filter_topic: "Topic",
    filter_language: "Language",
    filter_any: "Any",
    filter_apply: "Show",
    nobody_matches: "Nobody matches this choice. Try another topic or language.",
    speaks: "Speaks",
    topics: "Topics",
    presence_label: "Availability",
    portal_chat: "Start a chat",
    portal_chat_intro: "Or let us find the right person for you: we connect you with whoever matches your choice above and is free.",
    console_title: "Console",
    console_list: "Conversations",
    console_rings: "Ringing",
    console_active: "Active",
    console_queued: "Waiting for your topics",
    console_recent: "Recent",
    console_inbox: "Messages left for you",
    console_conversation: "Conversation",
    console_open_hint: "Choose a conversation from the list. New requests ring here, with a sound and, if you allow it, a desktop notification.",
    console_context: "Visitor",
    console_context_hint: "Open a conversation to see where the visitor came from and their earlier contacts.",
    console_replies: "Saved replies",
    console_replies_hint: "Type / in a message to insert one.",
    console_reply_scope: "For",
    console_reply_mine: "Only me",
    console_reply_shared: "The whole team",
    console_reply_shortcut: "Shortcut",
    console_reply_text: "Text",
    console_reply_save: "Save reply",
    console_notify: "Turn on desktop notifications",
    console_per_channel: "Per channel",
    console_shortcuts: "Keyboard shortcuts",
    console_keys: &[
        ("Alt+A", "Accept the request that rings longest"),
        ("Alt+D", "Decline it"),
        ("Alt+N", "Next conversation"),
        ("Alt+P", "Previous conversation"),
        ("Enter", "Send (Shift+Enter: new line)"),
        ("/", "Saved reply (then Tab or Enter)"),
    ],
    open_card: "Open card",
    invalid_title: "This link does not work",
    invalid_text: "The link may be mistyped, expired or withdrawn. You can still reach us through our contact page.",
    to_portal: "Go to the contact page",
    not_found_title: "Page not found",
    not_found_text: "There is nothing at this address.",
    signin_title: "Advisor sign-in",
    signin_text: "Sign in to set your availability. The link works once and for a short time.",
    signin_button: "Sign in",
    signin_failed: "This sign-in link is no longer valid. Ask for a new one.",
    me_title: "Your availability",
    me_intro: "While this page is open you can be reached. Close it and audio and video turn offline after a minute; the state you set lasts until the end of the working day.",
    me_all: "All channels",
    me_save: "Save",
    me_saved: "Saved.",
    me_failed: "Could not save. Check your connection and try again.",
    me_until: "Your state lasts until {until} ({left} left).",
    me_no_state: "You have set no state; your availability follows your other systems, if any.",
    me_signout: "Sign out",
    signed_out: "You are signed out.",
    error_text: "Something went wrong on our side. Please try again in a moment.",
};

pub static DE: Texts = Texts {
    skip_to_content: "Zum Inhalt springen",
    consent_title: "Web-Statistik",
    consent_text: "Dürfen wir diesen Besuch und Ihre Kontaktaufnahme in unserer Web-Statistik zählen? Was Sie schreiben, Ihr Name und Ihre E-Mail-Adresse werden nie übermittelt. Chat und Anrufe funktionieren in beiden Fällen.",
    consent_accept: "Statistik erlauben",
    consent_decline: "Ablehnen",
    language: "Sprache",
    portal_title: "Sprechen Sie live mit uns",
    portal_intro: "Wählen Sie eine Person und sehen Sie sofort, wer per Chat, Telefon oder Video erreichbar ist.",
    filter_topic: "Thema",
    filter_language: "Sprache",
    filter_any: "Alle",
    filter_apply: "Anzeigen",
    nobody_matches: "Niemand passt zu dieser Auswahl. Versuchen Sie ein anderes Thema oder eine andere Sprache.",
    speaks: "Spricht",
    topics: "Themen",
    presence_label: "Erreichbarkeit",
    portal_chat: "Chat starten",
    portal_chat_intro: "Oder wir finden die passende Person für Sie: Wir verbinden Sie mit jemandem, der zu Ihrer Auswahl oben passt und frei ist.",
    console_title: "Konsole",
    console_list: "Gespräche",
    console_rings: "Eingehend",
    console_active: "Aktiv",
    console_queued: "Wartend in Ihren Themen",
    console_recent: "Zuletzt",
    console_inbox: "Nachrichten für Sie",
    console_conversation: "Gespräch",
    console_open_hint: "Wählen Sie ein Gespräch aus der Liste. Neue Anfragen klingeln hier, mit Ton und, wenn Sie es erlauben, einer Desktop-Benachrichtigung.",
    console_context: "Besucher",
    console_context_hint: "Öffnen Sie ein Gespräch, um zu sehen, woher der Besucher kommt und welche Kontakte es zuvor gab.",
    console_replies: "Textbausteine",
    console_replies_hint: "Tippen Sie / in einer Nachricht, um einen einzufügen.",
    console_reply_scope: "Für",
    console_reply_mine: "Nur mich",
    console_reply_shared: "Das ganze Team",
    console_reply_shortcut: "Kürzel",
    console_reply_text: "Text",
    console_reply_save: "Baustein speichern",
    console_notify: "Desktop-Benachrichtigungen einschalten",
    console_per_channel: "Je Kanal",
    console_shortcuts: "Tastenkürzel",
    console_keys: &[
        ("Alt+A", "Die am längsten klingelnde Anfrage annehmen"),
        ("Alt+D", "Sie ablehnen"),
        ("Alt+N", "Nächstes Gespräch"),
        ("Alt+P", "Voriges Gespräch"),
        ("Enter", "Senden (Umschalt+Enter: neue Zeile)"),
        ("/", "Textbaustein (dann Tab oder Enter)"),
    ],
    open_card: "Karte öffnen",
    invalid_title: "Dieser Link funktioniert nicht",
    invalid_text: "Der Link ist vielleicht falsch geschrieben, abgelaufen oder zurückgezogen. Über unsere Kontaktseite erreichen Sie uns trotzdem.",
    to_portal: "Zur Kontaktseite",
    not_found_title: "Seite nicht gefunden",
    not_found_text: "Unter dieser Adresse gibt es nichts.",
    signin_title: "Anmeldung für Beraterinnen und Berater",
    signin_text: "Melden Sie sich an, um Ihre Erreichbarkeit zu setzen. Der Link gilt einmal und nur kurz.",
    signin_button: "Anmelden",
    signin_failed: "Dieser Anmeldelink ist nicht mehr gültig. Fordern Sie einen neuen an.",
    me_title: "Ihre Erreichbarkeit",
    me_intro: "Solange diese Seite offen ist, sind Sie erreichbar. Schließen Sie sie, gehen Audio und Video nach einer Minute auf offline; der gesetzte Status gilt bis zum Ende des Arbeitstags.",
    me_all: "Alle Kanäle",
    me_save: "Speichern",
    me_saved: "Gespeichert.",
    me_failed: "Speichern fehlgeschlagen. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
    me_until: "Ihr Status gilt bis {until} (noch {left}).",
    me_no_state: "Sie haben keinen Status gesetzt; Ihre Erreichbarkeit folgt Ihren anderen Systemen, falls vorhanden.",
    me_signout: "Abmelden",
    signed_out: "Sie sind abgemeldet.",
    error_text: "Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es gleich noch einmal.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported() {
        assert_eq!(
            from_accept_language("de-DE,de;q=0.9,en;q=0.8"),
            Some(Lang::De)
        );
        assert_eq!(
            from_accept_language("fr-FR, en;q=0.5, de;q=0.4"),
            Some(Lang::En)
        );
        assert_eq!(from_accept_language("fr"), None);
        assert_eq!(from_accept_language("de;q=0, en;q=0.1"), Some(Lang::En));
        assert_eq!(Lang::De.t().state(PresenceState::Busy), "Beschäftigt");
        assert_eq!(Lang::En.t().channel(Channel::Video), "Video call");
    }
}
