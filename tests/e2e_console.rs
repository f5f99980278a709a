//! The advisor console in three real headless Chromium instances (one
//! advisor, two visitors): ringing with a blinking title and a desktop
//! notification whose click accepts, accepting from the keyboard, two
//! conversations with unread counts and switching between them, a saved
//! reply inserted with `/`, the visitor's context with an earlier contact
//! and its transcript, recent conversations; axe-core in every state, and
//! the three panes at 1280×800 and two on a tablet, with screenshots.

mod support;

use fantoccini::Client;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::{Value, json};
use support::{
    Driver, Livecard, axe_violations, run, say, sign_in, start_chat_from_card, text_of,
    wait_for_message, wait_until,
};

/// Keys pressed together, as a user would (Alt+A, …).
async fn press(browser: &Client, keys: &[char]) {
    let mut actions = KeyActions::new("keyboard".to_owned());
    for key in keys {
        actions = actions.then(KeyAction::Down { value: *key });
    }
    for key in keys.iter().rev() {
        actions = actions.then(KeyAction::Up { value: *key });
    }
    browser
        .perform_actions(actions)
        .await
        .expect("keys pressed");
}

async fn session_of(visitor: &Client) -> String {
    let value = run(visitor, "return window.livecard.instances[0].session;").await;
    value.as_str().expect("the visitor's session").to_owned()
}

async fn no_axe_violations(browser: &Client, state: &str) {
    let violations = axe_violations(browser).await;
    assert!(
        violations.is_empty(),
        "axe on the console ({state}): {violations:#?}"
    );
}

/// The layout at one viewport: where each pane is, and whether the page
/// scrolls sideways; a screenshot is kept in `target/screenshots/`.
async fn layout(browser: &Client, width: u32, height: u32, name: &str) -> Value {
    // The window includes the browser's own frame: size it so that the
    // page itself gets width × height.
    browser
        .set_window_size(width, height)
        .await
        .expect("window size");
    let frame = run(
        browser,
        "return [outerWidth - innerWidth, outerHeight - innerHeight];",
    )
    .await;
    let extra = |i: usize| u32::try_from(frame[i].as_u64().unwrap_or(0)).unwrap_or(0);
    browser
        .set_window_size(width + extra(0), height + extra(1))
        .await
        .expect("window size");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let shot = browser.screenshot().await.expect("screenshot");
    // A PNG of the viewport: its header says its size.
    assert_eq!(&shot[1..4], b"PNG", "a PNG");
    let w = u32::from_be_bytes([shot[16], shot[17], shot[18], shot[19]]);
    let h = u32::from_be_bytes([shot[20], shot[21], shot[22], shot[23]]);
    let dir = support::repo_root().join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("console-{name}.png")), &shot).expect("screenshot kept");
    let mut geometry = run(
        browser,
        "const r = s => { const e = document.querySelector(s); if (!e) return null; const b = e.getBoundingClientRect(); return { left: b.left, right: b.right, top: b.top, bottom: b.bottom, width: b.width, height: b.height }; };
         return { vw: innerWidth, vh: innerHeight, sideways: document.documentElement.scrollWidth > innerWidth, tall: document.documentElement.scrollHeight > innerHeight,
                  list: r('.console-list'), main: r('.console-main'), side: r('.console-side'), composer: r('.chat:not([hidden]) .lcw-form') };",
    )
    .await;
    geometry["shot"] = json!([w, h]);
    assert_eq!(
        (geometry["vw"].as_u64(), geometry["vh"].as_u64()),
        (Some(u64::from(width)), Some(u64::from(height))),
        "the page gets {width}×{height}: {geometry}"
    );
    geometry
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut at = v;
    for p in path {
        at = &at[*p];
    }
    at.as_f64().unwrap_or_else(|| panic!("{path:?} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_rings_switches_conversations_inserts_replies_and_shows_context() {
    let server = Livecard::start("e2e-console");
    let mut driver = Driver::start().await;
    // Anna has allowed desktop notifications for livecard in her browser.
    let advisor = driver
        .browser_with_prefs(
            &["--use-fake-ui-for-media-stream"],
            Some(json!({ "profile.default_content_setting_values.notifications": 1 })),
        )
        .await;
    let first = driver.browser().await;
    // The second visitor's downloads land in a folder of the test's.
    let downloads = support::temp_dir("e2e-console-downloads");
    let second = driver
        .browser_with_prefs(
            &["--use-fake-ui-for-media-stream"],
            Some(json!({
                "download.default_directory": downloads.to_string_lossy(),
                "download.prompt_for_download": false,
            })),
        )
        .await;
    sign_in(&advisor, server.signin_link("Anna Schmidt")).await;
    assert_eq!(
        run(&advisor, "return Notification.permission;").await,
        "granted"
    );
    assert_eq!(
        run(
            &advisor,
            "return getComputedStyle(document.getElementById('notify')).display;"
        )
        .await,
        "none",
        "no need to ask when allowed"
    );
    let empty = layout(&advisor, 1280, 800, "empty").await;
    assert_eq!(empty["sideways"], false, "{empty}");
    no_axe_violations(&advisor, "empty").await;

    // A visitor's request rings: the alert, the title blinking, and a
    // desktop notification; clicking the notification accepts.
    start_chat_from_card(&first, &server, "Anna Schmidt").await;
    wait_until(
        &advisor,
        "document.querySelectorAll('#rings .ring').length === 1",
        "a ring",
    )
    .await;
    wait_until(
        &advisor,
        "document.title.startsWith('🔔 New request (1)')",
        "the title says a request rings",
    )
    .await;
    wait_until(
        &advisor,
        "!document.title.startsWith('🔔')",
        "the title blinks",
    )
    .await;
    let note = run(
        &advisor,
        "const n = window.livecardConsole.notification(document.querySelector('#rings .ring').dataset.session); return n && { title: n.title, body: n.body };",
    )
    .await;
    assert_eq!(note["title"], "New request", "{note}");
    assert!(
        note["body"]
            .as_str()
            .is_some_and(|b| b.contains("business card")),
        "{note}"
    );
    no_axe_violations(&advisor, "ringing").await;
    let one = session_of(&first).await;
    run(
        &advisor,
        &format!(
            "window.livecardConsole.notification({one:?}).dispatchEvent(new Event('click')); return true;"
        ),
    )
    .await;
    wait_until(
        &first,
        "document.querySelector('.lcw').dataset.state === 'connected'",
        "the first visitor is connected",
    )
    .await;
    wait_until(
        &advisor,
        &format!("window.livecardConsole.selected === {one:?} && document.querySelectorAll('#rings .ring').length === 0"),
        "the accepted conversation is open",
    )
    .await;
    assert!(
        !run(&advisor, "return document.title;")
            .await
            .as_str()
            .unwrap_or_default()
            .contains("New request"),
        "the title stops blinking"
    );

    // A second request; Anna accepts it from the keyboard (Alt+A).
    start_chat_from_card(&second, &server, "Anna Schmidt").await;
    wait_until(
        &advisor,
        "document.querySelectorAll('#rings .ring').length === 1",
        "a second ring",
    )
    .await;
    let two = session_of(&second).await;
    press(&advisor, &[Key::Alt.into(), 'a']).await;
    wait_until(
        &second,
        "document.querySelector('.lcw').dataset.state === 'connected'",
        "the second visitor is connected",
    )
    .await;
    wait_until(
        &advisor,
        &format!("window.livecardConsole.selected === {two:?}"),
        "the second conversation is open",
    )
    .await;
    assert_eq!(
        run(
            &advisor,
            "return document.querySelectorAll('#active [data-open]').length;"
        )
        .await,
        json!(2)
    );

    // The first visitor writes while the second conversation is open: an
    // unread count on the first, in the list and the title.
    say(&first, ".lcw-form", "Are you there?").await;
    say(&first, ".lcw-form", "I have a question about the offer.").await;
    wait_until(
        &advisor,
        &format!("window.livecardConsole.unread({one:?}) === 2"),
        "two unread",
    )
    .await;
    assert_eq!(
        text_of(&advisor, &format!("#active [data-open={one:?}] .unread")).await,
        "2"
    );
    assert!(
        run(&advisor, "return document.title;")
            .await
            .as_str()
            .is_some_and(|t| t.starts_with("(2) ")),
        "the title counts unread messages"
    );
    let two_panes = layout(&advisor, 1280, 800, "two-conversations").await;
    no_axe_violations(&advisor, "two conversations").await;

    // Alt+N goes to the next conversation (the first), which is then read.
    press(&advisor, &[Key::Alt.into(), 'n']).await;
    wait_until(
        &advisor,
        &format!("window.livecardConsole.selected === {one:?} && window.livecardConsole.unread({one:?}) === 0"),
        "switched to the first, read",
    )
    .await;
    assert_eq!(
        run(&advisor, &format!("return document.querySelector('.chat[data-session={one:?}]').hidden === false && document.querySelector('.chat[data-session={two:?}]').hidden;")).await,
        Value::Bool(true),
        "only the open conversation is shown"
    );

    // A saved reply, made in the side panel, inserted with "/" and Enter.
    run(&advisor, "document.getElementById('replies-manager').open = true; const f = document.getElementById('reply-form'); f.elements.shortcut.value = 'offer'; f.elements.text.value = 'Our offer is valid until Friday.'; f.requestSubmit(); return true;").await;
    wait_until(
        &advisor,
        "document.querySelector('[data-reply=\"mine/offer\"]') !== null",
        "the reply is listed",
    )
    .await;
    no_axe_violations(&advisor, "saved replies").await;
    let composer = advisor
        .find(fantoccini::Locator::Css(&format!(
            ".chat[data-session={one:?}] .lcw-form textarea"
        )))
        .await
        .expect("the composer");
    composer.click().await.expect("focus the composer");
    composer.send_keys("/of").await.expect("type /of");
    wait_until(
        &advisor,
        &format!("!document.getElementById('picker-{one}').hidden"),
        "the reply picker",
    )
    .await;
    composer
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .expect("pick");
    assert_eq!(
        run(
            &advisor,
            &format!(
                "return document.querySelector('.chat[data-session={one:?}] .lcw-form textarea').value;"
            )
        )
        .await,
        "Our offer is valid until Friday."
    );
    composer
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .expect("send");
    wait_for_message(&first, "#contact", "Our offer is valid until Friday.").await;

    // A reload of the console brings both conversations back, with their
    // transcripts, each message once.
    advisor.refresh().await.expect("reload the console");
    wait_until(
        &advisor,
        &format!("document.querySelectorAll('#active [data-open]').length === 2 && window.livecardConsole.replaying === 0 && Array.from(document.querySelectorAll('.chat[data-session={one:?}] .lcw-text')).filter(e => e.textContent === 'Our offer is valid until Friday.').length === 1"),
        "both conversations after a reload",
    )
    .await;
    // So does a console that knows nothing of them (another browser, its
    // storage cleared): the server lists the advisor's conversations.
    run(&advisor, "localStorage.clear(); return true;").await;
    advisor.refresh().await.expect("reload with nothing stored");
    wait_until(
        &advisor,
        &format!("document.querySelectorAll('#active [data-open]').length === 2 && window.livecardConsole.replaying === 0 && Array.from(document.querySelectorAll('.chat[data-session={one:?}] .lcw-text')).filter(e => e.textContent === 'Our offer is valid until Friday.').length === 1 && document.querySelectorAll('#recent [data-open]').length === 0"),
        "both conversations in a console that stored nothing",
    )
    .await;
    run(
        &advisor,
        &format!("document.querySelector('#active [data-open={one:?}]').click(); return true;"),
    )
    .await;

    // The context: where the first visitor came from.
    let context = text_of(&advisor, "#context").await;
    assert!(context.contains("from the business card"), "{context}");
    assert!(context.contains("No earlier contacts."), "{context}");

    // Anna ends the second conversation: it moves to Recent. Its visitor
    // comes back; the new conversation lists the earlier contact, and its
    // transcript opens on demand.
    say(
        &advisor,
        &format!(".chat[data-session={two:?}] .lcw-form"),
        "Glad I could help.",
    )
    .await;
    wait_for_message(&second, "#contact", "Glad I could help.").await;
    run(&advisor, &format!("document.querySelector('.chat[data-session={two:?}] [data-hangup]').click(); return true;")).await;
    wait_until(
        &advisor,
        &format!("document.querySelector('#recent [data-open={two:?}]') !== null"),
        "the ended conversation is under Recent",
    )
    .await;
    wait_until(
        &second,
        "document.querySelector('.lcw').dataset.state === 'ended'",
        "ended for the visitor",
    )
    .await;
    run(
        &second,
        "document.querySelector('.lcw-choices button').click(); return true;",
    )
    .await;
    wait_until(
        &advisor,
        "document.querySelectorAll('#rings .ring').length === 1",
        "the returning visitor rings",
    )
    .await;
    run(
        &advisor,
        "document.querySelector('[data-accept]').click(); return true;",
    )
    .await;
    let three = {
        wait_until(
            &second,
            "document.querySelector('.lcw').dataset.state === 'connected'",
            "the returning visitor is connected",
        )
        .await;
        session_of(&second).await
    };
    wait_until(
        &advisor,
        &format!("window.livecardConsole.selected === {three:?} && document.querySelector('#context [data-earlier={two:?}]') !== null"),
        "the earlier contact in the context",
    )
    .await;
    run(
        &advisor,
        &format!(
            "document.querySelector('#context [data-transcript={two:?}]').click(); return true;"
        ),
    )
    .await;
    wait_until(
        &advisor,
        &format!("document.querySelector('#context [data-earlier={two:?}] ol') !== null && document.querySelector('#context [data-earlier={two:?}] ol').textContent.includes('Glad I could help.')"),
        "the earlier transcript",
    )
    .await;
    no_axe_violations(&advisor, "context with an earlier contact").await;

    // The three panes side by side at 1280×800, inside the window, the
    // composer visible without scrolling.
    let wide = layout(&advisor, 1280, 800, "desktop").await;
    assert_eq!(wide["vw"], 1280, "{wide}");
    assert_eq!(wide["sideways"], false, "{wide}");
    assert_eq!(wide["tall"], false, "the console fits the window: {wide}");
    assert!(
        num(&wide, &["list", "right"]) <= num(&wide, &["main", "left"]),
        "{wide}"
    );
    assert!(
        num(&wide, &["main", "right"]) <= num(&wide, &["side", "left"]),
        "{wide}"
    );
    assert!(num(&wide, &["side", "right"]) <= 1280.0, "{wide}");
    assert!(num(&wide, &["main", "width"]) >= 500.0, "{wide}");
    assert!(num(&wide, &["composer", "bottom"]) <= 800.0, "{wide}");
    assert_eq!(wide["shot"], json!([1280, 800]), "{wide}");
    assert_eq!(two_panes["sideways"], false, "{two_panes}");
    // A tablet (1024×768 landscape): the list and the conversation side by
    // side, the context below them; portrait (768×1024) too.
    for (w, h, name) in [
        (1024u32, 768u32, "tablet-landscape"),
        (768, 1024, "tablet-portrait"),
    ] {
        let tablet = layout(&advisor, w, h, name).await;
        assert_eq!(tablet["sideways"], false, "{name}: {tablet}");
        assert!(
            num(&tablet, &["list", "right"]) <= num(&tablet, &["main", "left"]),
            "{name}: {tablet}"
        );
        assert!(
            num(&tablet, &["side", "top"]) >= num(&tablet, &["main", "bottom"]),
            "{name}: {tablet}"
        );
        assert!(
            num(&tablet, &["composer", "bottom"]) <= f64::from(h),
            "{name}: {tablet}"
        );
        no_axe_violations(&advisor, name).await;
    }

    // Anna ends the conversation; the visitor keeps the transcript (as a
    // web page, their message escaped) and rates the contact.
    say(&second, ".lcw-form", "<b>bold?</b> thanks").await;
    wait_for_message(
        &advisor,
        &format!(".chat[data-session={three:?}]"),
        "<b>bold?</b> thanks",
    )
    .await;
    run(&advisor, &format!("document.querySelector('.chat[data-session={three:?}] [data-hangup]').click(); return true;")).await;
    wait_until(
        &second,
        "document.querySelector('.lcw').dataset.state === 'ended' && document.querySelector('.lcw-after [data-rate=\"4\"]') !== null",
        "the visitor is offered the transcript and a rating",
    )
    .await;
    let violations = axe_violations(&second).await;
    assert!(
        violations.is_empty(),
        "axe on the ended chat: {violations:#?}"
    );
    run(
        &second,
        "document.querySelector('.lcw-after [data-transcript=\"html\"]').click(); return true;",
    )
    .await;
    let file = downloads.join(format!("livecard-{three}.html"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the transcript was not downloaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let page = std::fs::read_to_string(&file).expect("the transcript");
    assert!(page.contains("Conversation with Anna Schmidt"), "{page}");
    assert!(page.contains("&lt;b&gt;bold?&lt;/b&gt; thanks"), "{page}");
    assert!(!page.contains("<b>bold"), "{page}");
    run(
        &second,
        "document.querySelector('.lcw-after [data-rate=\"4\"]').click(); return true;",
    )
    .await;
    wait_until(
        &second,
        "document.querySelector('.lcw-rate').textContent === 'Thank you for your rating.'",
        "the rating is thanked for",
    )
    .await;

    drop(driver);
    server.stop();
}

/// An advisor who has not decided about notifications is asked politely:
/// a button, never a prompt on load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_asked_for_with_a_button() {
    let server = Livecard::start("e2e-console-ask");
    let mut driver = Driver::start().await;
    let advisor = driver.browser().await;
    sign_in(&advisor, server.signin_link("Anna Schmidt")).await;
    assert_eq!(
        run(&advisor, "return Notification.permission;").await,
        "default"
    );
    assert_eq!(
        run(
            &advisor,
            "return getComputedStyle(document.getElementById('notify')).display !== 'none';"
        )
        .await,
        Value::Bool(true),
        "the button is shown"
    );
    assert_eq!(
        text_of(&advisor, "#notify").await,
        "Turn on desktop notifications"
    );
    drop(driver);
    server.stop();
}
