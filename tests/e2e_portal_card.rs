//! End to end in real headless Chromium: the portal shows the demo advisors
//! and live presence, an advisor signs in and goes busy, card links made
//! with the CLI open, and bad links get the neutral page. axe-core finds no
//! accessibility violations on the portal and the card page.

mod support;

use livecard_core::card::{CardClaims, Keyring};
use livecard_core::channel::ChannelSet;
use livecard_core::ids::{AdvisorId, CardId};
use support::{Driver, Livecard, axe_violations, text_of, wait_until};

const NEUTRAL_TITLE: &str = "This link does not work";

/// A token signed with the server's own current key but already expired.
fn expired_link(server: &Livecard) -> String {
    use base64::Engine;
    let secrets: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(server.data_dir.join("secrets.json")).expect("secrets"),
    )
    .expect("json");
    let kid = secrets["card_signing_key"]
        .as_str()
        .expect("kid")
        .to_owned();
    let key = base64::engine::general_purpose::STANDARD
        .decode(secrets["card_keys"][&kid].as_str().expect("key"))
        .expect("base64");
    let ring = Keyring::new(&kid, vec![(kid.clone(), key)]).expect("keyring");
    let claims = CardClaims {
        card_id: CardId::from_bytes([42; 16]),
        advisor: AdvisorId::parse("anna-schmidt").expect("id"),
        campaign: None,
        channels: ChannelSet::ALL,
        expires_at_s: 1_600_000_000,
    };
    format!("{}/c/{}", server.url, ring.sign(&claims))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_presence_card_links_and_accessibility() {
    portal_scenario(Livecard::start("e2e-portal")).await;
}

/// The same on the edge host (the Worker under workerd).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Worker built; scripts/test-worker.sh runs it"]
async fn on_the_worker_portal_presence_card_links_and_accessibility() {
    portal_scenario(Livecard::start_edge("e2e-portal-edge", &[])).await;
}

async fn portal_scenario(server: Livecard) {
    let mut driver = Driver::start().await;
    let visitor = driver.browser().await;
    let advisor = driver.browser().await;

    // The portal lists the demo advisors.
    visitor
        .goto(&format!("{}/?lang=en", server.url))
        .await
        .expect("portal");
    wait_until(
        &visitor,
        "document.querySelectorAll('li.advisor').length === 3",
        "three demo advisors",
    )
    .await;
    for name in ["Anna Schmidt", "Ben Okafor", "Clara Weiß"] {
        let names = text_of(&visitor, "ul.advisors").await;
        assert!(names.contains(name), "{name} missing from the portal");
    }
    let violations = axe_violations(&visitor).await;
    assert!(violations.is_empty(), "axe on the portal: {violations:#?}");
    let ben_chat =
        "document.querySelector('[data-advisor=\"ben-okafor\"] [data-channel=\"chat\"]')";
    // Ben's state is available (seeded), but his console is not open:
    // nobody could answer, so the portal says offline.
    wait_until(
        &visitor,
        &format!("{ben_chat}.dataset.state === 'offline'"),
        "Ben offline without a console",
    )
    .await;

    // Ben signs in with his link: his console is open, and he shows
    // available; then he sets himself busy.
    advisor
        .goto(server.signin_link("Ben Okafor"))
        .await
        .expect("sign-in page");
    wait_until(
        &advisor,
        "document.getElementById('signin') !== null",
        "sign-in button",
    )
    .await;
    advisor
        .execute(
            "document.getElementById('signin').click(); return true;",
            vec![],
        )
        .await
        .expect("click sign in");
    wait_until(
        &advisor,
        "document.body.dataset.page === 'me'",
        "the advisor page",
    )
    .await;
    wait_until(
        &visitor,
        &format!("{ben_chat}.dataset.state === 'available'"),
        "Ben available once his console is open",
    )
    .await;
    let until = text_of(&advisor, "#presence-until").await;
    assert!(
        until.starts_with("Your state lasts until") && until.contains("left"),
        "the console shows how long the state lasts: {until}"
    );
    advisor
        .execute(
            "document.querySelector('[data-set-all=\"busy\"]').click(); return true;",
            vec![],
        )
        .await
        .expect("click busy");
    wait_until(
        &advisor,
        "document.getElementById('me-status').textContent.length > 0",
        "saved",
    )
    .await;
    assert_eq!(text_of(&advisor, "#me-status").await, "Saved.");

    // The visitor's portal shows it without a reload.
    visitor
        .execute("window.__sameDocument = true; return true;", vec![])
        .await
        .expect("mark document");
    wait_until(
        &visitor,
        &format!("{ben_chat}.dataset.state === 'busy'"),
        "Ben busy on the portal",
    )
    .await;
    assert_eq!(
        visitor
            .execute("return window.__sameDocument === true;", vec![])
            .await
            .expect("js"),
        serde_json::Value::Bool(true),
        "the portal reloaded"
    );
    assert!(
        text_of(
            &visitor,
            "[data-advisor=\"ben-okafor\"] [data-channel=\"chat\"]"
        )
        .await
        .contains("Busy")
    );

    // A card link created with the CLI opens the card page.
    let created = server
        .cli(&[
            "card",
            "create",
            "--advisor",
            "anna-schmidt",
            "--campaign",
            "e2e",
            "--expires",
            "30d",
            "--json",
        ])
        .expect("card create");
    let card: serde_json::Value = serde_json::from_str(&created).expect("one JSON object");
    let link = card["url"].as_str().expect("url").to_owned();
    visitor.goto(&link).await.expect("card page");
    wait_until(
        &visitor,
        "document.body.dataset.page === 'card'",
        "the card page",
    )
    .await;
    assert_eq!(text_of(&visitor, "h1").await, "Anna Schmidt");
    wait_until(
        &visitor,
        "document.querySelectorAll('button[data-start]:not([disabled])').length === 3 && window.livecard.instances.length === 1",
        "the chat widget took over the card's buttons",
    )
    .await;
    assert_eq!(
        visitor
            .execute(
                "return document.querySelectorAll('button[data-start]').length;",
                vec![]
            )
            .await
            .expect("js"),
        serde_json::json!(3)
    );
    let violations = axe_violations(&visitor).await;
    assert!(
        violations.is_empty(),
        "axe on the card page: {violations:#?}"
    );
    let banner_shown = "return !!document.getElementById('consent') && !document.getElementById('consent').hidden;";
    assert_eq!(
        visitor.execute(banner_shown, vec![]).await.expect("js"),
        serde_json::json!(false),
        "no consent banner while no destination needs consent"
    );

    // A destination that needs consent: the card page asks, accessibly, and
    // remembers the answer. (Declined here: nothing is ever sent.)
    let secret = std::env::temp_dir().join(format!("livecard-e2e-ga4-{}", std::process::id()));
    std::fs::write(&secret, "e2e-api-secret").expect("secret file");
    server
        .cli(&[
            "destination",
            "set",
            "ga4",
            "--kind",
            "ga4",
            "--measurement-id",
            "G-E2ETEST1",
            "--api-secret-file",
            secret.to_str().expect("utf-8"),
            "--eu",
        ])
        .expect("destination set");
    let _ = std::fs::remove_file(&secret);
    // The handlers reuse the destinations they read for up to 10 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        visitor.goto(&link).await.expect("card page");
        wait_until(
            &visitor,
            "document.body.dataset.page === 'card'",
            "the card page",
        )
        .await;
        if visitor.execute(banner_shown, vec![]).await.expect("js") == serde_json::json!(true) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the consent banner did not show"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let violations = axe_violations(&visitor).await;
    assert!(
        violations.is_empty(),
        "axe on the card page with the consent banner: {violations:#?}"
    );
    visitor
        .find(fantoccini::Locator::Css("#consent [data-consent='denied']"))
        .await
        .expect("the decline button")
        .click()
        .await
        .expect("click");
    wait_until(
        &visitor,
        "document.getElementById('consent').hidden && localStorage.getItem('livecard.consent') === 'denied'",
        "the banner closes and the answer is kept",
    )
    .await;
    visitor.refresh().await.expect("reload");
    wait_until(
        &visitor,
        "document.body.dataset.page === 'card'",
        "the card page",
    )
    .await;
    assert_eq!(
        visitor.execute(banner_shown, vec![]).await.expect("js"),
        serde_json::json!(false),
        "a decision is not asked for again"
    );
    server
        .cli(&["destination", "delete", "ga4"])
        .expect("destination delete");

    // The same link with one character changed.
    let mut bytes = link.clone().into_bytes();
    let i = bytes.len() - 3;
    bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
    let changed = String::from_utf8(bytes).expect("ascii");
    // An expired link, signed with the server's real key.
    let expired = expired_link(&server);
    for bad in [&changed, &expired] {
        visitor.goto(bad).await.expect("bad link");
        wait_until(
            &visitor,
            "document.body.dataset.page === 'error'",
            "the neutral page",
        )
        .await;
        assert_eq!(text_of(&visitor, "h1").await, NEUTRAL_TITLE, "{bad}");
    }
    let violations = axe_violations(&visitor).await;
    assert!(
        violations.is_empty(),
        "axe on the error page: {violations:#?}"
    );

    // A revoked link.
    let id = card["id"].as_str().expect("id");
    server.cli(&["card", "revoke", id]).expect("card revoke");
    visitor.goto(&link).await.expect("revoked link");
    wait_until(
        &visitor,
        "document.body.dataset.page === 'error'",
        "the neutral page",
    )
    .await;
    assert_eq!(text_of(&visitor, "h1").await, NEUTRAL_TITLE);

    // German, through the visible switch.
    visitor
        .goto(&format!("{}/", server.url))
        .await
        .expect("portal");
    visitor
        .execute(
            "document.querySelector('a[hreflang=\"de\"]').click(); return true;",
            vec![],
        )
        .await
        .expect("switch");
    wait_until(&visitor, "document.documentElement.lang === 'de'", "German").await;
    assert_eq!(text_of(&visitor, "h1").await, "Sprechen Sie live mit uns");
    let violations = axe_violations(&visitor).await;
    assert!(
        violations.is_empty(),
        "axe on the German portal: {violations:#?}"
    );

    visitor.close().await.ok();
    advisor.close().await.ok();
    server.stop();
}

/// Counts the pixels of a PNG that are (nearly) `rgb`.
fn pixels_of(png_bytes: &[u8], rgb: (u8, u8, u8)) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let step = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| {
            p.len() >= 3
                && p[0].abs_diff(rgb.0) < 8
                && p[1].abs_diff(rgb.1) < 8
                && p[2].abs_diff(rgb.2) < 8
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_signs_admins_in_and_draws_accessible_charts() {
    let server = Livecard::start("e2e-reports");
    let key = std::fs::read_to_string(server.data_dir.join("admin.key"))
        .expect("admin key")
        .trim()
        .to_owned();
    // Data to draw: a card opened, a contact that nobody took.
    let (_, link) = server.card_links[0].clone();
    support::http_get(&link, "");
    let mut driver = Driver::start().await;
    let admin = driver.browser().await;
    admin
        .goto(&format!("{}/reports?lang=en", server.url))
        .await
        .expect("reports");
    wait_until(
        &admin,
        "!!document.querySelector('#admin-key')",
        "the sign-in form",
    )
    .await;
    let violations = axe_violations(&admin).await;
    assert!(violations.is_empty(), "axe on the sign-in: {violations:#?}");
    let sign_in = |key: String| {
        let admin = admin.clone();
        async move {
            let field = admin
                .find(fantoccini::Locator::Css("#admin-key"))
                .await
                .expect("key field");
            field.send_keys(&key).await.expect("type");
            field.send_keys("\u{E007}").await.expect("enter");
        }
    };
    sign_in("lck_not-a-key".into()).await;
    wait_until(
        &admin,
        "(document.querySelector('[role=alert]')||{}).textContent?.includes('not an admin key')",
        "the refusal",
    )
    .await;
    sign_in(key).await;
    wait_until(
        &admin,
        "document.querySelectorAll('svg[role=img]').length === 5",
        "five charts",
    )
    .await;
    // The card view reaches the funnel once the local host wrote it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let opened = "(document.querySelector('#report-funnel tbody td')||{}).textContent === '1'";
    while !support::run(&admin, &format!("return {opened};"))
        .await
        .as_bool()
        .unwrap_or(false)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the card view is not in the funnel: {}",
            text_of(&admin, "#report-funnel").await
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        admin.refresh().await.expect("reload");
    }
    let violations = axe_violations(&admin).await;
    assert!(
        violations.is_empty(),
        "axe on the reports page: {violations:#?}"
    );
    // The funnel's chart is drawn: its bars are on the screenshot.
    let chart = admin
        .find(fantoccini::Locator::Css("#report-funnel figure"))
        .await
        .expect("funnel chart");
    let shot = chart.screenshot().await.expect("screenshot");
    let out = support::repo_root().join("target/screenshots");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("reports-funnel.png"), &shot);
    let page = admin.screenshot().await.expect("page screenshot");
    let _ = std::fs::write(out.join("reports.png"), &page);
    assert!(
        pixels_of(&shot, (86, 180, 233)) > 200,
        "the cards-opened bar (sky blue) is drawn"
    );
    let heat = admin
        .find(fantoccini::Locator::Css("#report-hours figure"))
        .await
        .expect("heatmap")
        .screenshot()
        .await
        .expect("screenshot");
    assert!(
        pixels_of(&heat, (255, 255, 255)) > 1000,
        "the heatmap is drawn"
    );
    // CSV downloads use the same sign-in.
    let csv = support::run(
        &admin,
        "return fetch(document.querySelector('#report-funnel a[download]').href).then(r => r.text())",
    )
    .await;
    assert!(
        csv.as_str()
            .unwrap_or("")
            .starts_with("campaign,cards_opened"),
        "{csv}"
    );
    // Signing out ends it.
    admin
        .find(fantoccini::Locator::Css(".report-signout button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("click");
    wait_until(
        &admin,
        "!!document.querySelector('#admin-key')",
        "signed out",
    )
    .await;
    admin.close().await.ok();
    server.stop();
}
