use super::retry::{Answer, Next, Verdict, next_attempt, verdict};
use super::*;
use crate::channel::Channel;
use crate::ids::EventId;

const NOW: UnixMillis = 1_795_392_000_000;

fn ga4() -> Target {
    Target::Ga4(ga4::Ga4 {
        measurement_id: "G-TEST1234".into(),
        api_secret: Secret("s3cr3t-api-value".into()),
        eu: true,
        endpoint: None,
        ad_consent: false,
        advisors: false,
    })
}

fn matomo(token: bool) -> Target {
    Target::Matomo(matomo::Matomo {
        url: "https://matomo.example.com".into(),
        site_id: 3,
        token_auth: token.then(|| Secret("0123456789abcdef0123456789abcdef".into())),
        cookieless: false,
        dimensions: [("event_id".to_owned(), 4), ("entry".to_owned(), 2)].into(),
        advisors: false,
    })
}

fn webhook() -> Target {
    Target::Webhook(hooks::Webhook {
        url: "https://crm.example.com/hooks/livecard".into(),
        secrets: vec![
            Secret(crate::webhook::encode_secret(&[1; 32])),
            Secret(crate::webhook::encode_secret(&[2; 32])),
        ],
        events: None,
    })
}

fn job(n: u8, name: EventName, client: &str) -> Job {
    let mut event = Event::new(
        EventId::from_bytes([n; 16]),
        name,
        NOW - 60_000 + u64::from(n),
    );
    event.channel = Some(Channel::Video);
    event.session = Some("s1".into());
    event = event
        .with_prop("wait_ms", 4_200)
        .with_prop("talk_ms", 65_000);
    Job {
        event,
        subject: Subject {
            ga_client_id: Some(client.into()),
            ga_session_id: Some("1795391000".into()),
            matomo_visitor: Some("0123456789abcdef".into()),
            entry: Some(Origin::Card),
            topic: Some("sales".into()),
        },
    }
}

#[test]
fn only_customer_facing_events_leave_and_only_with_consent() {
    let granted = Consent {
        analytics: true,
        ga_client_id: Some("123.456".into()),
        ..Consent::default()
    };
    let denied = Consent::default();
    for name in FORWARDED {
        assert!(forwarded(name));
        assert!(ga4().wants(name, &granted));
        assert!(!ga4().wants(name, &denied), "no GA4 without consent");
        assert!(matomo(false).wants(name, &granted));
        assert!(
            !matomo(false).wants(name, &denied),
            "no Matomo without consent"
        );
        assert!(webhook().wants(name, &denied), "the company's own systems");
    }
    let no_client = Consent {
        analytics: true,
        ..Consent::default()
    };
    assert!(
        !ga4().wants(EventName::Accepted, &no_client),
        "GA4 needs the page's client id"
    );
    for internal in [
        EventName::PresenceChanged,
        EventName::Routed,
        EventName::Ringing,
        EventName::Declined,
        EventName::IcePath,
        EventName::ChatMessage,
        EventName::CardCreated,
    ] {
        assert!(!forwarded(internal));
        assert!(!webhook().wants(internal, &granted));
    }
    let Target::Matomo(mut cookieless) = matomo(false) else {
        unreachable!()
    };
    cookieless.cookieless = true;
    assert!(Target::Matomo(cookieless).wants(EventName::Accepted, &denied));
}

#[test]
fn consent_from_a_page_is_checked_and_ids_without_consent_are_dropped() {
    let denied = Consent {
        analytics: false,
        ga_client_id: Some("123.456".into()),
        ..Consent::default()
    };
    assert_eq!(denied.checked(), Ok(Consent::default()));
    let bad = Consent {
        analytics: true,
        ga_client_id: Some("<script>".into()),
        ..Consent::default()
    };
    assert_eq!(
        bad.checked().expect_err("bad id").field,
        "consent.ga_client_id"
    );
    let bad = Consent {
        analytics: true,
        matomo_visitor: Some("xyz".into()),
        ..Consent::default()
    };
    assert_eq!(
        bad.checked().expect_err("bad id").field,
        "consent.matomo_visitor"
    );
}

#[test]
fn bad_destination_settings_name_their_field() {
    let Target::Ga4(good) = ga4() else {
        unreachable!()
    };
    let cases: Vec<(Target, &str)> = vec![
        (
            Target::Ga4(ga4::Ga4 {
                measurement_id: "UA-1".into(),
                ..good.clone()
            }),
            "measurement_id",
        ),
        (
            Target::Ga4(ga4::Ga4 {
                api_secret: Secret("a b".into()),
                ..good.clone()
            }),
            "api_secret",
        ),
        (
            Target::Ga4(ga4::Ga4 {
                endpoint: Some("ftp://x".into()),
                ..good.clone()
            }),
            "endpoint",
        ),
        (
            Target::Ga4(ga4::Ga4 {
                endpoint: Some("http://ga.example".into()),
                ..good
            }),
            "endpoint",
        ),
    ];
    for (target, field) in cases {
        assert_eq!(target.check().expect_err(field).field, field);
    }
    let Target::Matomo(m) = matomo(true) else {
        unreachable!()
    };
    let bad = Target::Matomo(matomo::Matomo {
        site_id: 0,
        ..m.clone()
    });
    assert_eq!(bad.check().expect_err("site").field, "site_id");
    let bad = Target::Matomo(matomo::Matomo {
        url: "not a url".into(),
        ..m.clone()
    });
    assert_eq!(bad.check().expect_err("url").field, "url");
    let bad = Target::Matomo(matomo::Matomo {
        dimensions: [("email".to_owned(), 1)].into(),
        ..m
    });
    assert_eq!(bad.check().expect_err("dims").field, "dimensions");
    let Target::Webhook(w) = webhook() else {
        unreachable!()
    };
    let bad = Target::Webhook(hooks::Webhook {
        secrets: vec![Secret("whsec_c2hvcnQ=".into())],
        ..w.clone()
    });
    assert_eq!(bad.check().expect_err("secret").field, "secrets");
    let bad = Target::Webhook(hooks::Webhook {
        events: Some(vec![EventName::IcePath]),
        ..w.clone()
    });
    assert_eq!(bad.check().expect_err("events").field, "events");
    let bad = Target::Webhook(hooks::Webhook {
        url: "https://user:pw@crm.example.com/".into(),
        ..w
    });
    assert_eq!(bad.check().expect_err("creds").field, "url");
    assert!(ga4().check().is_ok() && matomo(true).check().is_ok() && webhook().check().is_ok());
    assert!(
        !format!("{:?}", ga4()).contains("s3cr3t"),
        "secrets never printed"
    );
    assert!(
        !serde_json::to_string(&ga4().redacted())
            .expect("json")
            .contains("s3cr3t")
    );
}

#[test]
fn ga4_batches_hold_one_client_at_most_25_events_and_pass_validation() {
    let jobs: Vec<Job> = (0..60)
        .map(|n| {
            job(
                n,
                FORWARDED[n as usize % FORWARDED.len()],
                if n % 3 == 0 { "1.1" } else { "2.2" },
            )
        })
        .collect();
    let refs: Vec<&Job> = jobs.iter().collect();
    let planned = plan(&ga4(), &refs, NOW, "https://contact.example.com");
    assert!(planned.unmappable.is_empty(), "{:?}", planned.unmappable);
    let carried: usize = planned.requests.iter().map(|(_, ids)| ids.len()).sum();
    assert_eq!(carried, 60);
    for (request, ids) in &planned.requests {
        assert!(ids.len() <= ga4::MAX_EVENTS);
        assert!(request.url.starts_with(
            "https://region1.google-analytics.com/mp/collect?measurement_id=G-TEST1234&api_secret="
        ));
        assert_eq!(
            ga4::validate(&request.body),
            vec![],
            "{}",
            String::from_utf8_lossy(&request.body)
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
        let client = body["client_id"].as_str().expect("client");
        assert!(
            ids.iter()
                .all(|i| jobs[*i].subject.ga_client_id.as_deref() == Some(client))
        );
        assert_eq!(body["consent"]["ad_user_data"], "DENIED");
        assert!(body.get("ip_override").is_none());
        let first = &body["events"][0];
        assert!(first["name"].as_str().expect("name").starts_with("lc_"));
        assert_eq!(
            first["params"]["lc_event_id"],
            jobs[ids[0]].event.id.as_str()
        );
        assert_eq!(first["timestamp_micros"], jobs[ids[0]].event.at * 1000);
    }
    let mut unmapped = job(1, EventName::IcePath, "1.1");
    unmapped.subject.ga_client_id = Some("1.1".into());
    let planned = plan(&ga4(), &[&unmapped], NOW, "");
    assert_eq!(planned.unmappable.len(), 1, "dead-lettered with its reason");
}

#[test]
fn the_ga4_validator_catches_what_ga4_would_drop() {
    let bad = serde_json::json!({
        "client_id": "1.1",
        "ip_override": "1.2.3.4",
        "events": [{"name": "page_view", "params": {"session_id": "1", "engagement_time_msec": 1,
            "ga_thing": "x", "long": "y".repeat(101), "this_parameter_name_is_much_longer_than_forty": 1}},
            {"name": "9bad", "params": {}}]
    });
    let codes: Vec<&str> = ga4::validate(&serde_json::to_vec(&bad).expect("json"))
        .iter()
        .map(|m| m.validation_code)
        .collect();
    for code in [
        "NAME_RESERVED",
        "NAME_INVALID",
        "VALUE_OUT_OF_BOUNDS",
        "VALUE_INVALID",
        "VALUE_REQUIRED",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
}

#[test]
fn matomo_hits_carry_cdt_visitor_and_the_token_only_when_late() {
    let jobs: Vec<Job> = (0..150).map(|n| job(n, EventName::Accepted, "x")).collect();
    let refs: Vec<&Job> = jobs.iter().collect();
    let planned = plan(&matomo(true), &refs, NOW, "https://contact.example.com");
    assert_eq!(planned.requests.len(), 2, "100 hits per bulk request");
    let (request, ids) = &planned.requests[0];
    assert_eq!(ids.len(), 100);
    assert_eq!(request.url, "https://matomo.example.com/matomo.php");
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
    assert!(
        body.get("token_auth").is_none(),
        "recent hits need no token"
    );
    let hit = body["requests"][0].as_str().expect("hit");
    for part in [
        "idsite=3",
        "rec=1",
        "apiv=1",
        "send_image=0",
        "_id=0123456789abcdef",
        "e_c=livecard",
        "e_a=contact_accept",
        "e_n=video",
        "e_v=4",
        "dimension4=",
        "dimension2=card",
    ] {
        assert!(hit.contains(part), "{part} in {hit}");
    }
    assert!(hit.contains(&format!("cdt={}", jobs[0].event.at / 1000)));
    assert!(!hit.contains("cip="), "never an IP");
    let mut late = job(1, EventName::Accepted, "x");
    late.event.at = NOW - 23 * 3_600_000 - 1;
    let body: serde_json::Value =
        serde_json::from_slice(&plan_body(&matomo(true), &late)).expect("json");
    assert_eq!(body["token_auth"], "0123456789abcdef0123456789abcdef");
    assert_eq!(matomo(false).max_age_ms(), matomo::MAX_AGE_WITHOUT_TOKEN_MS);
}

fn plan_body(target: &Target, job: &Job) -> Vec<u8> {
    plan(target, &[job], NOW, "https://c.example").requests[0]
        .0
        .body
        .clone()
}

#[test]
fn webhooks_are_signed_with_every_secret() {
    let j = job(7, EventName::SessionEnded, "x");
    let planned = plan(&webhook(), &[&j], NOW, "");
    let (request, _) = &planned.requests[0];
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .expect(name)
    };
    let id = header("webhook-id");
    let ts = header("webhook-timestamp");
    let sig = header("webhook-signature");
    assert_eq!(sig.split(' ').count(), 2, "both secrets sign");
    for key in [[1u8; 32], [2u8; 32]] {
        assert_eq!(
            crate::webhook::verify(&key, Some(&id), Some(&ts), Some(&sig), &request.body, NOW),
            Ok(())
        );
    }
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
    assert_eq!(body["type"], "livecard.session.ended");
    assert_eq!(body["data"]["event_id"], j.event.id.as_str());
    assert_eq!(body["data"]["talk_ms"], 65_000);
}

#[test]
fn answers_are_read_per_destination() {
    let ok = |status, body: &'static [u8]| Answer {
        status: Some(status),
        retry_after: None,
        body,
    };
    assert_eq!(verdict(&ga4(), 3, ok(204, b""), NOW), Verdict::Acknowledged);
    assert!(matches!(
        verdict(&ga4(), 3, ok(503, b""), NOW),
        Verdict::Retry { .. }
    ));
    let timeout = Answer {
        status: None,
        retry_after: None,
        body: b"",
    };
    assert!(matches!(
        verdict(&matomo(false), 3, timeout, NOW),
        Verdict::Retry { .. }
    ));
    assert_eq!(
        verdict(
            &matomo(false),
            2,
            ok(200, br#"{"status":"success","tracked":2,"invalid":0}"#),
            NOW
        ),
        Verdict::Acknowledged
    );
    assert!(matches!(
        verdict(&matomo(false), 2, ok(200, br#"{"status":"success","tracked":1,"invalid":1,"invalid_indices":[1]}"#), NOW),
        Verdict::Partly { refused, .. } if refused == vec![1]
    ));
    assert!(matches!(
        verdict(
            &matomo(false),
            2,
            ok(200, br#"{"status":"success","tracked":1,"invalid":1}"#),
            NOW
        ),
        Verdict::Refused { .. }
    ));
    assert!(matches!(
        verdict(&matomo(false), 2, ok(400, b""), NOW),
        Verdict::Refused { .. }
    ));
    assert!(matches!(
        verdict(&matomo(false), 2, ok(503, b""), NOW),
        Verdict::Pause {
            for_ms: Some(_),
            ..
        }
    ));
    assert!(matches!(
        verdict(&webhook(), 1, ok(410, b""), NOW),
        Verdict::Disable { .. }
    ));
    assert!(matches!(
        verdict(&webhook(), 1, ok(302, b""), NOW),
        Verdict::Retry { .. }
    ));
    let later = Answer {
        status: Some(429),
        retry_after: Some("120"),
        body: b"",
    };
    assert_eq!(
        verdict(&webhook(), 1, later, NOW),
        Verdict::Retry {
            status: "HTTP 429".into(),
            after_ms: Some(120_000)
        }
    );
    assert_eq!(
        retry::retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777_000),
        Some(0)
    );
    assert_eq!(
        retry::retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", 784_111_777_000),
        Some(10_000)
    );
}

#[test]
fn retries_back_off_with_jitter_and_stop_at_the_destinations_cut_off() {
    let at = NOW;
    let mut last = 0;
    for attempt in 1..=8 {
        let Next::At(next) = next_attempt(&ga4(), at, attempt, 42, None, NOW) else {
            panic!("still in time")
        };
        assert!(next > NOW);
        if attempt > 2 {
            assert!(next - NOW >= last / 2, "grows");
        }
        last = next - NOW;
    }
    assert_eq!(
        next_attempt(&ga4(), at, 1, 42, None, NOW),
        next_attempt(&ga4(), at, 1, 42, None, NOW),
        "pure"
    );
    // Retry-After wins when longer.
    assert_eq!(
        next_attempt(&ga4(), at, 1, 42, Some(600_000), NOW),
        Next::At(NOW + 600_000)
    );
    // GA4: 72 hours; Matomo without a token: 24 hours.
    assert_eq!(
        next_attempt(&ga4(), NOW - 71 * 3_600_000, 3, 1, None, NOW),
        Next::Expired
    );
    assert_eq!(
        next_attempt(&matomo(false), NOW - 23 * 3_600_000, 3, 1, None, NOW),
        Next::Expired
    );
    assert!(matches!(
        next_attempt(&matomo(true), NOW - 23 * 3_600_000, 3, 1, None, NOW),
        Next::At(_)
    ));
    // Webhooks: the schedule, then the dead-letter list.
    let Next::At(first) = next_attempt(&webhook(), NOW, 1, 7, None, NOW) else {
        panic!()
    };
    assert!((4_500..=5_500).contains(&(first - NOW)));
    let mut t = NOW;
    let mut n = 1;
    while let Next::At(next) = next_attempt(&webhook(), NOW, n, 7, None, t) {
        t = next;
        n += 1;
    }
    assert_eq!(n, 8, "seven retries");
    assert!(
        (20 * 3_600_000..26 * 3_600_000).contains(&(t - NOW)),
        "about a day: {}",
        (t - NOW) / 3_600_000
    );
}
