//! Contact channels: text chat, audio, video.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Chat,
    Audio,
    Video,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Chat, Channel::Audio, Channel::Video];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Chat => "chat",
            Channel::Audio => "audio",
            Channel::Video => "video",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Channel::Chat => 1,
            Channel::Audio => 2,
            Channel::Video => 4,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel {0:?}: expected chat, audio or video")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;
    fn from_str(text: &str) -> Result<Self, UnknownChannel> {
        match text {
            "chat" => Ok(Channel::Chat),
            "audio" => Ok(Channel::Audio),
            "video" => Ok(Channel::Video),
            other => Err(UnknownChannel(other.chars().take(32).collect())),
        }
    }
}

/// A set of channels, serialized as a list (`["chat","video"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(from = "Vec<Channel>", into = "Vec<Channel>")]
pub struct ChannelSet(u8);

impl ChannelSet {
    pub const ALL: ChannelSet = ChannelSet(7);
    pub const NONE: ChannelSet = ChannelSet(0);

    pub fn contains(self, channel: Channel) -> bool {
        self.0 & channel.bit() != 0
    }

    pub fn with(self, channel: Channel) -> Self {
        ChannelSet(self.0 | channel.bit())
    }

    pub fn intersect(self, other: ChannelSet) -> Self {
        ChannelSet(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Channel> {
        Channel::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// A compact form for storage and tokens: `c`, `a`, `v` letters.
    pub fn to_letters(self) -> String {
        self.iter()
            .map(|c| match c {
                Channel::Chat => 'c',
                Channel::Audio => 'a',
                Channel::Video => 'v',
            })
            .collect()
    }

    pub fn from_letters(text: &str) -> Option<Self> {
        let mut set = ChannelSet::NONE;
        for ch in text.chars() {
            let channel = match ch {
                'c' => Channel::Chat,
                'a' => Channel::Audio,
                'v' => Channel::Video,
                _ => return None,
            };
            if set.contains(channel) {
                return None;
            }
            set = set.with(channel);
        }
        Some(set)
    }
}

impl FromStr for ChannelSet {
    type Err = UnknownChannel;
    /// Parses `chat,audio,video` (any order, any subset, not empty).
    fn from_str(text: &str) -> Result<Self, UnknownChannel> {
        let mut set = ChannelSet::NONE;
        for part in text.split(',') {
            set = set.with(part.trim().parse()?);
        }
        Ok(set)
    }
}

impl From<Vec<Channel>> for ChannelSet {
    fn from(list: Vec<Channel>) -> Self {
        list.into_iter().fold(ChannelSet::NONE, ChannelSet::with)
    }
}

impl From<ChannelSet> for Vec<Channel> {
    fn from(set: ChannelSet) -> Self {
        set.iter().collect()
    }
}

impl fmt::Display for ChannelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Channel::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_letters() {
        let set: ChannelSet = "video, chat".parse().expect("valid list");
        assert_eq!(set.to_string(), "chat,video");
        assert_eq!(set.to_letters(), "cv");
        assert_eq!(ChannelSet::from_letters("cv"), Some(set));
        assert_eq!(ChannelSet::from_letters("cc"), None);
        assert_eq!(ChannelSet::from_letters("x"), None);
        assert!("chat,fax".parse::<ChannelSet>().is_err());
        assert_eq!(
            serde_json::to_string(&set).ok().as_deref(),
            Some(r#"["chat","video"]"#)
        );
    }
}
