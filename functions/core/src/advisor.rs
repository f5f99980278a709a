//! Advisors: the employees that visitors reach.

use crate::channel::ChannelSet;
use crate::ids::{AdvisorId, InvalidId};
use serde::{Deserialize, Serialize};

/// A validated advisor profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisor {
    pub id: AdvisorId,
    pub display_name: String,
    pub title: String,
    /// `https://…` or a path on this site; `None` shows initials.
    pub photo_url: Option<String>,
    /// Primary language subtags, lower case (`de`, `en`).
    pub languages: Vec<String>,
    /// Topic slugs (`billing`, `sales`).
    pub topics: Vec<String>,
    /// The channels this advisor offers at all.
    pub channels: ChannelSet,
    /// How many contact sessions they take at once.
    pub capacity: u16,
    /// Who they are in the company's other systems, for presence sync;
    /// never shown to visitors.
    #[serde(default, skip_serializing_if = "Identities::is_empty")]
    pub identities: Identities,
}

/// An advisor's identity in each system presence is read from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identities {
    /// Microsoft Teams: the Entra user id (a GUID) or the user principal
    /// name (`anna@example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams: Option<String>,
    /// XMPP: the bare JID (`anna@example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmpp: Option<String>,
    /// The phone system: an extension (`2041`) or a SIP URI
    /// (`sip:2041@pbx.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<String>,
}

impl Identities {
    pub fn is_empty(&self) -> bool {
        self.teams.is_none() && self.xmpp.is_none() && self.sip.is_none()
    }

    /// Checks and normalises each identity (a GUID and a domain in lower
    /// case); an empty one is none.
    pub fn validate(self) -> Result<Self, InvalidAdvisor> {
        fn clean(value: Option<String>) -> Option<String> {
            value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        }
        fn plain(v: &str, max: usize) -> bool {
            v.len() <= max && !v.chars().any(|c| c.is_control() || c.is_whitespace())
        }
        fn user_at_domain(v: &str) -> Option<String> {
            let (user, domain) = v.rsplit_once('@')?;
            let domain_ok = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            (!user.is_empty() && domain_ok && !user.contains(['/', '@', '"', '<', '>']))
                .then(|| format!("{user}@{}", domain.to_ascii_lowercase()))
        }
        let teams = match clean(self.teams) {
            None => None,
            Some(v) if is_guid(&v) => Some(v.to_ascii_lowercase()),
            Some(v) => Some(
                user_at_domain(&v)
                    .filter(|u| plain(u, 113))
                    .ok_or(InvalidAdvisor::Identity(
                        "teams must be an Entra user id (a GUID) or a user principal name (name@domain), at most 113 characters",
                    ))?,
            ),
        };
        let xmpp = match clean(self.xmpp) {
            None => None,
            Some(v) => Some(user_at_domain(&v).filter(|u| plain(u, 256)).ok_or(
                InvalidAdvisor::Identity(
                    "xmpp must be a bare JID (name@domain, no resource), at most 256 characters",
                ),
            )?),
        };
        let sip = match clean(self.sip) {
            None => None,
            Some(v) => {
                let extension = !v.is_empty()
                    && v.len() <= 32
                    && v.bytes().all(|b| b.is_ascii_digit() || b"+*#".contains(&b));
                let uri = ["sip:", "sips:"].iter().any(|scheme| {
                    v.strip_prefix(scheme)
                        .and_then(user_at_domain)
                        .is_some_and(|u| plain(&u, 128))
                });
                if !(extension || uri) {
                    return Err(InvalidAdvisor::Identity(
                        "sip must be an extension (digits, +, *, #; at most 32) or a SIP URI (sip:2041@pbx.example.com)",
                    ));
                }
                Some(v)
            }
        };
        Ok(Self { teams, xmpp, sip })
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal.
fn is_guid(v: &str) -> bool {
    let groups: Vec<&str> = v.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An advisor as an admin submits it; [`AdvisorInput::validate`] turns it
/// into an [`Advisor`] or says what is wrong.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdvisorInput {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub photo_url: Option<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default = "all_channels")]
    pub channels: ChannelSet,
    #[serde(default = "default_capacity")]
    pub capacity: u16,
    #[serde(default)]
    pub identities: Identities,
}

fn all_channels() -> ChannelSet {
    ChannelSet::ALL
}

fn default_capacity() -> u16 {
    3
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAdvisor {
    #[error(transparent)]
    Id(#[from] InvalidId),
    #[error("display_name must be 1 to 80 characters without control characters")]
    DisplayName,
    #[error("title must be at most 120 characters without control characters")]
    Title,
    #[error(
        "photo_url must be an https:// URL or a path starting with '/', at most 512 characters"
    )]
    PhotoUrl,
    #[error("languages must be at most 8 language codes of 2 or 3 lower-case letters")]
    Languages,
    #[error("topics must be at most 16 slugs of 1 to 32 characters (a-z, 0-9, '-')")]
    Topics,
    #[error("channels must name at least one of chat, audio, video")]
    Channels,
    #[error("capacity must be between 1 and 50")]
    Capacity,
    #[error("{0}")]
    Identity(&'static str),
}

pub const MAX_LANGUAGES: usize = 8;
pub const MAX_TOPICS: usize = 16;

fn plain_text(text: &str, min: usize, max: usize) -> bool {
    let count = text.chars().count();
    count >= min && count <= max && !text.chars().any(char::is_control)
}

/// A language code as used in filters and profiles (`de`, `en`, `fil`).
pub fn valid_language(code: &str) -> bool {
    (2..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase())
}

/// A topic slug as used in filters and profiles.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 32
        && topic
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl AdvisorInput {
    pub fn validate(self) -> Result<Advisor, InvalidAdvisor> {
        let id = AdvisorId::parse(&self.id)?;
        let display_name = self.display_name.trim().to_owned();
        if !plain_text(&display_name, 1, 80) {
            return Err(InvalidAdvisor::DisplayName);
        }
        let title = self.title.trim().to_owned();
        if !plain_text(&title, 0, 120) {
            return Err(InvalidAdvisor::Title);
        }
        let photo_url = match self.photo_url.map(|u| u.trim().to_owned()) {
            None => None,
            Some(url) if url.is_empty() => None,
            Some(url) => {
                let shape_ok = (url.starts_with("https://") && url.len() > 8)
                    || (url.starts_with('/') && !url.starts_with("//"));
                if !shape_ok
                    || url.len() > 512
                    || url
                        .chars()
                        // A backslash is a slash to browsers: a path that
                        // starts with a slash and a backslash is another site.
                        .any(|c| c.is_control() || c.is_whitespace() || c == '"' || c == '\\')
                {
                    return Err(InvalidAdvisor::PhotoUrl);
                }
                Some(url)
            }
        };
        let mut languages = self.languages;
        languages.sort();
        languages.dedup();
        if languages.len() > MAX_LANGUAGES || !languages.iter().all(|l| valid_language(l)) {
            return Err(InvalidAdvisor::Languages);
        }
        let mut topics = self.topics;
        topics.sort();
        topics.dedup();
        if topics.len() > MAX_TOPICS || !topics.iter().all(|t| valid_topic(t)) {
            return Err(InvalidAdvisor::Topics);
        }
        if self.channels.is_empty() {
            return Err(InvalidAdvisor::Channels);
        }
        if !(1..=50).contains(&self.capacity) {
            return Err(InvalidAdvisor::Capacity);
        }
        Ok(Advisor {
            id,
            display_name,
            title,
            photo_url,
            languages,
            topics,
            channels: self.channels,
            capacity: self.capacity,
            identities: self.identities.validate()?,
        })
    }
}

impl Advisor {
    /// Up to two initials for the avatar shown when there is no photo.
    pub fn initials(&self) -> String {
        self.display_name
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .take(2)
            .flat_map(char::to_uppercase)
            .collect()
    }

    /// Does this advisor match a portal filter? Empty filters match everyone.
    pub fn matches(&self, topic: Option<&str>, language: Option<&str>) -> bool {
        topic.is_none_or(|t| self.topics.iter().any(|x| x == t))
            && language.is_none_or(|l| self.languages.iter().any(|x| x == l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AdvisorInput {
        AdvisorInput {
            id: "anna".into(),
            display_name: "  Anna Schmidt ".into(),
            title: "Billing".into(),
            photo_url: None,
            languages: vec!["en".into(), "de".into(), "de".into()],
            topics: vec!["billing".into()],
            channels: ChannelSet::ALL,
            capacity: 2,
            identities: Identities::default(),
        }
    }

    #[test]
    fn identities_are_checked_and_normalised() {
        let with = |teams: &str, xmpp: &str, sip: &str| {
            AdvisorInput {
                identities: Identities {
                    teams: Some(teams.into()),
                    xmpp: Some(xmpp.into()),
                    sip: Some(sip.into()),
                },
                ..input()
            }
            .validate()
        };
        let ok = with(
            "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
            "anna@Example.COM",
            "sip:2041@pbx.example.com",
        )
        .expect("valid");
        assert_eq!(
            ok.identities.teams.as_deref(),
            Some("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
        );
        assert_eq!(ok.identities.xmpp.as_deref(), Some("anna@example.com"));
        assert!(
            with("anna@example.com", " ", "2041").is_ok(),
            "a UPN, none, an extension"
        );
        for (teams, xmpp, sip) in [
            ("not an id", "anna@example.com", "2041"),
            ("anna@example.com", "anna@example.com/phone", "2041"),
            ("anna@example.com", "anna@example.com", "tel:2041"),
            ("anna@example.com", "anna@exa mple.com", "2041"),
        ] {
            assert!(
                matches!(with(teams, xmpp, sip), Err(InvalidAdvisor::Identity(_))),
                "{teams} {xmpp} {sip}"
            );
        }
    }

    #[test]
    fn validates_and_normalises() {
        let advisor = input().validate().expect("valid");
        assert_eq!(advisor.display_name, "Anna Schmidt");
        assert_eq!(advisor.languages, vec!["de", "en"]);
        assert_eq!(advisor.initials(), "AS");
        assert!(advisor.matches(Some("billing"), Some("de")));
        assert!(!advisor.matches(Some("sales"), None));
    }

    #[test]
    fn refuses_bad_fields() {
        type Mutation = fn(&mut AdvisorInput);
        let cases: Vec<(Mutation, InvalidAdvisor)> = vec![
            (|a| a.display_name = "".into(), InvalidAdvisor::DisplayName),
            (
                |a| a.display_name = "x\u{7}".into(),
                InvalidAdvisor::DisplayName,
            ),
            (|a| a.title = "t".repeat(121), InvalidAdvisor::Title),
            (
                |a| a.photo_url = Some("javascript:alert(1)".into()),
                InvalidAdvisor::PhotoUrl,
            ),
            (
                |a| a.photo_url = Some("//evil.example/x.png".into()),
                InvalidAdvisor::PhotoUrl,
            ),
            (
                |a| a.photo_url = Some("/\\evil.example/x.png".into()),
                InvalidAdvisor::PhotoUrl,
            ),
            (
                |a| a.photo_url = Some("https://ok.example\\@evil.example/x.png".into()),
                InvalidAdvisor::PhotoUrl,
            ),
            (
                |a| a.photo_url = Some("https://x/\" onload=\"".into()),
                InvalidAdvisor::PhotoUrl,
            ),
            (
                |a| a.languages = vec!["DE".into()],
                InvalidAdvisor::Languages,
            ),
            (|a| a.topics = vec!["a b".into()], InvalidAdvisor::Topics),
            (|a| a.channels = ChannelSet::NONE, InvalidAdvisor::Channels),
            (|a| a.capacity = 0, InvalidAdvisor::Capacity),
        ];
        for (mutate, expected) in cases {
            let mut a = input();
            mutate(&mut a);
            assert_eq!(a.validate(), Err(expected));
        }
    }
}
