//! What the company's systems say, in livecard's signals: the mapping
//! tables of `docs/presence.md`, one pure function per system, used by the
//! connectors (and by anything else that bridges the same systems).

use super::Signal;
use crate::channel::Channel;

/// One system's word on each channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signals {
    pub chat: Signal,
    pub audio: Signal,
    pub video: Signal,
}

impl Signals {
    /// The same signal on every channel.
    pub const fn all(signal: Signal) -> Self {
        Self {
            chat: signal,
            audio: signal,
            video: signal,
        }
    }

    /// On a call: audio and video are taken, chat is as `chat` says.
    pub const fn on_call(chat: Signal) -> Self {
        Self {
            chat,
            audio: Signal::OnCall,
            video: Signal::OnCall,
        }
    }

    /// As the states of a presence update.
    pub fn states(&self) -> Vec<(Channel, Signal)> {
        vec![
            (Channel::Chat, self.chat),
            (Channel::Audio, self.audio),
            (Channel::Video, self.video),
        ]
    }
}

/// Microsoft Teams (Graph `presence`): `availability` and `activity`,
/// compared without regard to case (Graph's newer pages spell them in
/// camelCase) and read as open sets: an unknown value says nothing.
pub fn teams(availability: &str, activity: &str) -> Signals {
    let availability = availability.to_ascii_lowercase();
    let activity = activity.to_ascii_lowercase();
    // Activities that decide whatever the availability says.
    match activity.as_str() {
        "inacall" | "inaconferencecall" => {
            // Chat stays as the availability would have it, short of the
            // call itself: a call is no reason to refuse a chat.
            let chat = match availability.as_str() {
                "donotdisturb" => Signal::DoNotDisturb,
                _ => Signal::Available,
            };
            return Signals::on_call(chat);
        }
        "inameeting" | "presenting" | "urgentinterruptionsonly" | "focusing" => {
            return Signals::all(
                if availability == "donotdisturb" || activity == "presenting" {
                    Signal::DoNotDisturb
                } else {
                    Signal::Busy
                },
            );
        }
        "outofoffice" | "offwork" => return Signals::all(Signal::Offline),
        _ => {}
    }
    Signals::all(match availability.as_str() {
        "available" if activity == "inactive" => Signal::Away,
        "available" => Signal::Available,
        "availableidle" | "away" | "berightback" => Signal::Away,
        "busy" | "busyidle" => Signal::Busy,
        "donotdisturb" => Signal::DoNotDisturb,
        "offline" => Signal::Offline,
        // PresenceUnknown, and whatever Graph adds later.
        _ => Signal::None,
    })
}

/// One connected resource of an XMPP account, as its last presence said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmppResource<'a> {
    /// `<show/>`: none, `chat`, `away`, `xa`, `dnd`.
    pub show: Option<&'a str>,
    /// XEP-0108 user activity `talking/on_the_phone`.
    pub on_the_phone: bool,
}

/// An XMPP account: every available resource counts, the busiest wins (as
/// Teams combines its sessions); no resource at all is offline.
pub fn xmpp(resources: &[XmppResource<'_>]) -> Signals {
    let mut chat: Option<Signal> = None;
    let mut phone = false;
    for resource in resources {
        let signal = match resource.show.map(str::trim) {
            None | Some("") | Some("chat") => Signal::Available,
            Some("away") | Some("xa") => Signal::Away,
            Some("dnd") => Signal::DoNotDisturb,
            // Not in the XMPP core: says nothing.
            Some(_) => Signal::None,
        };
        phone |= resource.on_the_phone;
        chat = Some(match chat {
            Some(best) if best.rank() >= signal.rank() => best,
            _ => signal,
        });
    }
    let chat = chat.unwrap_or(Signal::Offline);
    if phone {
        Signals::on_call(chat)
    } else {
        Signals::all(chat)
    }
}

/// A phone (SIP dialog event package, RFC 4235): any dialog `early`
/// (ringing) or `confirmed` (talking) is a call; none is nothing to say,
/// so the other sources decide.
pub fn sip_dialogs<'a>(states: impl IntoIterator<Item = &'a str>) -> Signals {
    let in_call = states.into_iter().any(|s| {
        matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "early" | "confirmed"
        )
    });
    Signals {
        chat: Signal::None,
        audio: if in_call {
            Signal::OnCall
        } else {
            Signal::None
        },
        video: if in_call {
            Signal::OnCall
        } else {
            Signal::None
        },
    }
}

/// A presence document of the phone system (PIDF, RFC 3863, with RPID
/// activities, RFC 4480), as the SIP watcher read it: the `basic` status of
/// each tuple (`open`, `closed`) and the activities of its persons and
/// tuples (local names such as `on-the-phone`, `busy`, `away`).
///
/// No tuple and no activity says nothing (the other sources decide). Any
/// open tuple is available, only closed ones offline; then the busiest
/// activity wins: `dnd` (not in RPID, sent by many phones) is do not
/// disturb; `busy`, `meeting`, `appointment`, `presentation`,
/// `performance` are busy; `away`, `vacation`, `holiday`, meals,
/// `sleeping`, `travel`, `in-transit`, `steering` away;
/// `permanent-absence` offline; `on-the-phone` a call. Other activities
/// (`working`, `unknown`, …) keep the basic status.
pub fn sip_presence<'a>(
    basic: impl IntoIterator<Item = &'a str>,
    activities: impl IntoIterator<Item = &'a str>,
) -> Signals {
    let mut said = false;
    let mut open = false;
    for b in basic {
        said = true;
        open |= b.trim().eq_ignore_ascii_case("open");
    }
    let mut absent = false;
    let mut phone = false;
    let mut busiest: Option<Signal> = None;
    for activity in activities {
        said = true;
        let implied = match activity.trim().to_ascii_lowercase().as_str() {
            "on-the-phone" => {
                phone = true;
                continue;
            }
            "permanent-absence" => {
                absent = true;
                continue;
            }
            "dnd" | "do-not-disturb" => Signal::DoNotDisturb,
            "busy" | "meeting" | "appointment" | "presentation" | "performance" => Signal::Busy,
            "away" | "vacation" | "holiday" | "meal" | "breakfast" | "lunch" | "dinner"
            | "sleeping" | "travel" | "in-transit" | "steering" => Signal::Away,
            _ => continue,
        };
        busiest = Some(match busiest {
            Some(b) if b.rank() >= implied.rank() => b,
            _ => implied,
        });
    }
    // Activities qualify an open status; a closed one stays offline.
    let signal = if open && !absent {
        busiest.unwrap_or(Signal::Available)
    } else {
        Signal::Offline
    };
    if !said {
        return Signals::all(Signal::None);
    }
    if phone {
        Signals::on_call(signal)
    } else {
        Signals::all(signal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Signal::*;

    #[test]
    fn teams_table() {
        let cases = [
            ("Available", "Available", (Available, Available)),
            ("Available", "Inactive", (Away, Away)),
            ("AvailableIdle", "Available", (Away, Away)),
            ("Away", "Away", (Away, Away)),
            ("BeRightBack", "BeRightBack", (Away, Away)),
            ("Busy", "Busy", (Busy, Busy)),
            ("Busy", "InACall", (Available, OnCall)),
            ("Busy", "InAConferenceCall", (Available, OnCall)),
            ("DoNotDisturb", "InACall", (DoNotDisturb, OnCall)),
            ("Busy", "InAMeeting", (Busy, Busy)),
            ("DoNotDisturb", "Presenting", (DoNotDisturb, DoNotDisturb)),
            ("DoNotDisturb", "DoNotDisturb", (DoNotDisturb, DoNotDisturb)),
            ("Offline", "OffWork", (Offline, Offline)),
            ("Offline", "Offline", (Offline, Offline)),
            ("Available", "OutOfOffice", (Offline, Offline)),
            ("PresenceUnknown", "PresenceUnknown", (None, None)),
            ("somethingNew", "", (None, None)),
            // Graph's camelCase spelling.
            ("busy", "inACall", (Available, OnCall)),
        ];
        for (availability, activity, (chat, audio)) in cases {
            let s = teams(availability, activity);
            assert_eq!(
                (s.chat, s.audio),
                (chat, audio),
                "{availability}/{activity}"
            );
            assert_eq!(s.audio, s.video, "{availability}/{activity}");
        }
    }

    #[test]
    fn xmpp_resources_combine_busiest_wins() {
        let r = |show, on_the_phone| XmppResource { show, on_the_phone };
        assert_eq!(xmpp(&[]), Signals::all(Offline));
        assert_eq!(xmpp(&[r(Option::None, false)]), Signals::all(Available));
        assert_eq!(xmpp(&[r(Some("chat"), false)]), Signals::all(Available));
        assert_eq!(xmpp(&[r(Some("xa"), false)]), Signals::all(Away));
        assert_eq!(
            xmpp(&[r(Some("away"), false), r(Option::None, false)]),
            Signals::all(Available),
            "the phone away, the desktop available"
        );
        assert_eq!(
            xmpp(&[r(Option::None, false), r(Some("dnd"), false)]),
            Signals::all(DoNotDisturb)
        );
        assert_eq!(
            xmpp(&[r(Option::None, false), r(Some("away"), true)]),
            Signals::on_call(Available),
            "XEP-0108 on the phone on any resource"
        );
        assert_eq!(xmpp(&[r(Some("sleeping"), false)]), Signals::all(None));
    }

    #[test]
    fn sip_presence_table() {
        let p = |basic: &[&'static str], activities: &[&'static str]| {
            sip_presence(basic.iter().copied(), activities.iter().copied())
        };
        assert_eq!(p(&[], &[]), Signals::all(None), "an empty document");
        assert_eq!(p(&["open"], &[]), Signals::all(Available));
        assert_eq!(p(&["closed"], &[]), Signals::all(Offline));
        assert_eq!(
            p(&["closed", "Open"], &[]),
            Signals::all(Available),
            "any open tuple"
        );
        assert_eq!(p(&["open"], &["away"]), Signals::all(Away));
        assert_eq!(p(&["open"], &["vacation"]), Signals::all(Away));
        assert_eq!(p(&["open"], &["meeting"]), Signals::all(Busy));
        assert_eq!(p(&["open"], &["away", "busy"]), Signals::all(Busy));
        assert_eq!(p(&["open"], &["dnd", "busy"]), Signals::all(DoNotDisturb));
        assert_eq!(p(&["open"], &["working"]), Signals::all(Available));
        assert_eq!(p(&["closed"], &["busy"]), Signals::all(Offline));
        assert_eq!(p(&["open"], &["permanent-absence"]), Signals::all(Offline));
        assert_eq!(
            p(&["open"], &["on-the-phone"]),
            Signals::on_call(Available),
            "chat stays with the status"
        );
        assert_eq!(
            p(&[], &["on-the-phone"]),
            Signals::on_call(Offline),
            "no open tuple"
        );
    }

    #[test]
    fn sip_dialogs_early_or_confirmed_are_a_call() {
        assert_eq!(sip_dialogs(["confirmed"]).audio, OnCall);
        assert_eq!(sip_dialogs(["terminated", "Early"]).video, OnCall);
        assert_eq!(sip_dialogs(["trying"]).audio, None);
        assert_eq!(sip_dialogs([]), Signals::all(None));
        assert_eq!(
            sip_dialogs(["confirmed"]).chat,
            None,
            "chat is not the phone's"
        );
    }
}
