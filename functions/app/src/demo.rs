//! The demo advisors `livecard up` seeds on first start.

use livecard_core::advisor::{Advisor, AdvisorInput};
use livecard_core::channel::ChannelSet;

pub fn advisors() -> Vec<Advisor> {
    let make =
        |id: &str, name: &str, title: &str, languages: &[&str], topics: &[&str], capacity| {
            AdvisorInput {
                id: id.into(),
                display_name: name.into(),
                title: title.into(),
                photo_url: None,
                languages: languages.iter().map(|s| (*s).to_owned()).collect(),
                topics: topics.iter().map(|s| (*s).to_owned()).collect(),
                channels: ChannelSet::ALL,
                capacity,
                identities: Default::default(),
            }
        };
    [
        make(
            "anna-schmidt",
            "Anna Schmidt",
            "Billing specialist",
            &["de", "en"],
            &["billing", "contracts"],
            3,
        ),
        make(
            "ben-okafor",
            "Ben Okafor",
            "Sales advisor",
            &["en"],
            &["sales"],
            2,
        ),
        make(
            "clara-weiss",
            "Clara Weiß",
            "Technical support",
            &["de"],
            &["support", "installation"],
            4,
        ),
    ]
    .into_iter()
    .filter_map(|input| input.validate().ok())
    .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn all_demo_advisors_are_valid() {
        assert_eq!(super::advisors().len(), 3);
    }
}
