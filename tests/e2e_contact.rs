//! End to end in two real headless Chromium instances: a visitor starts a
//! chat from a card link, the advisor console rings and accepts, both chat
//! (an XSS payload stays text), a reload keeps the transcript without
//! duplicates, messages sent while the socket is cut arrive after the
//! reconnect, a decline offers a colleague or an offline message, and the
//! widget on a demo site of another origin opens a chat.

mod support;

use fantoccini::Client;
use serde_json::Value;
use support::{
    Driver, Livecard, axe_violations, run, say, sign_in, start_chat_from_card, wait_for_message,
    wait_until,
};

const XSS: &str = "<img src=x onerror=\"window.__pwned=1\"><b>bold?</b>";

/// The texts of the chat messages under `root`, in order.
async fn messages(browser: &Client, root: &str) -> Vec<String> {
    let value = browser
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0] + ' .lcw-msg .lcw-text')).map(e => e.textContent);",
            vec![Value::from(root)],
        )
        .await
        .expect("messages");
    serde_json::from_value(value).expect("strings")
}

/// The advisor accepts the ring; the visitor's widget shows it connected.
async fn accept_and_wait_connected(advisor: &Client, visitor: &Client, what: &str) {
    run(
        advisor,
        "document.querySelector('[data-accept]').click(); return true;",
    )
    .await;
    wait_until(
        visitor,
        "document.querySelector('.lcw').dataset.state === 'connected'",
        what,
    )
    .await;
}

async fn wait_for_one_ring(advisor: &Client) {
    wait_until(
        advisor,
        "document.querySelectorAll('#rings .ring').length === 1",
        "a ring",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_chat_console_reload_reconnect_decline_and_widget() {
    contact_scenario(Livecard::start("e2e-contact")).await;
}

/// The same on the edge host: the Worker under workerd, signaling on
/// Durable Objects, the store over `fetch`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Worker built; scripts/test-worker.sh runs it"]
async fn on_the_worker_card_chat_console_reload_reconnect_decline_and_widget() {
    contact_scenario(Livecard::start_edge("e2e-contact-edge", &[])).await;
}

async fn contact_scenario(server: Livecard) {
    let mut driver = Driver::start().await;
    let visitor = driver.browser().await;
    let advisor = driver.browser().await;

    sign_in(&advisor, server.signin_link("Anna Schmidt")).await;

    // The visitor opens Anna's card and starts a chat.
    start_chat_from_card(&visitor, &server, "Anna Schmidt").await;
    wait_until(
        &visitor,
        "document.querySelector('.lcw').dataset.state === 'ringing'",
        "ringing",
    )
    .await;

    // The console rings, visibly; Anna accepts.
    wait_for_one_ring(&advisor).await;
    let alert = run(
        &advisor,
        "return document.getElementById('ring-alert').textContent;",
    )
    .await;
    assert!(
        alert.as_str().is_some_and(|a| a.contains("New request")),
        "{alert}"
    );
    accept_and_wait_connected(&advisor, &visitor, "connected (visitor)").await;
    wait_until(
        &advisor,
        "document.querySelectorAll('#chats .chat[data-state=\"connected\"]').length === 1",
        "connected (console)",
    )
    .await;
    assert_eq!(
        run(
            &advisor,
            "return document.querySelectorAll('#rings .ring').length;"
        )
        .await,
        Value::from(0),
        "the ring stopped"
    );

    // Both chat; the XSS payload is shown as text.
    say(&visitor, ".lcw-form", XSS).await;
    wait_for_message(&advisor, "#chats", XSS).await;
    say(&advisor, "#chats .lcw-form", "Hello, how can I help?").await;
    wait_for_message(&visitor, "#contact", "Hello, how can I help?").await;
    for browser in [&visitor, &advisor] {
        let pwned = run(browser, "return window.__pwned === 1 || document.querySelector('.lcw-log img, .lcw-log b') !== null;").await;
        assert_eq!(
            pwned,
            Value::from(false),
            "chat text must never become markup"
        );
    }

    // A reload keeps the transcript, each message once.
    visitor.refresh().await.expect("reload");
    wait_for_message(&visitor, "#contact", "Hello, how can I help?").await;
    wait_until(
        &visitor,
        "document.querySelector('.lcw').dataset.state === 'connected'",
        "connected after reload",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        messages(&visitor, "#contact").await,
        vec![XSS.to_owned(), "Hello, how can I help?".to_owned()]
    );

    // The socket is cut; what both send meanwhile arrives after the reconnect.
    run(
        &visitor,
        "window.livecard.instances[0].ws.close(); return true;",
    )
    .await;
    say(&advisor, "#chats .lcw-form", "Are you still there?").await;
    say(&visitor, ".lcw-form", "Sent while offline").await;
    wait_for_message(&visitor, "#contact", "Are you still there?").await;
    wait_for_message(&advisor, "#chats", "Sent while offline").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let seen = messages(&visitor, "#contact").await;
    assert_eq!(seen.len(), 4, "no duplicates after the reconnect: {seen:?}");
    assert_eq!(messages(&advisor, "#chats").await.len(), 4);
    let violations = axe_violations(&visitor).await;
    assert!(
        violations.is_empty(),
        "axe on the card chat: {violations:#?}"
    );

    // Anna ends the chat; the visitor starts another, which she declines:
    // the visitor is offered a colleague or an offline message.
    run(&advisor, "document.querySelector('#chats .chat[data-state=\"connected\"] [data-hangup]').click(); return true;").await;
    wait_until(
        &visitor,
        "document.querySelector('.lcw').dataset.state === 'ended'",
        "ended",
    )
    .await;
    run(
        &visitor,
        "document.querySelector('.lcw-choices button').click(); return true;",
    )
    .await;
    wait_until(
        &advisor,
        "document.querySelectorAll('#rings .ring').length === 1",
        "a second ring",
    )
    .await;
    run(
        &advisor,
        "document.querySelector('[data-decline]').click(); return true;",
    )
    .await;
    wait_until(
        &visitor,
        "Array.from(document.querySelectorAll('.lcw-choices button')).map(b => b.textContent).join('|') === 'Talk to a colleague|Leave a message'",
        "a colleague or an offline message offered",
    )
    .await;
    // The visitor leaves a message; it lands in Anna's inbox.
    run(&visitor, "Array.from(document.querySelectorAll('.lcw-choices button')).find(b => b.textContent === 'Leave a message').click(); return true;").await;
    visitor
        .execute(
            "const f = document.querySelector('.lcw-offline'); f.elements.name.value = 'Eve Example'; f.elements.email.value = 'eve@example.com'; f.elements.text.value = 'Please call me back'; f.requestSubmit(); return true;",
            vec![],
        )
        .await
        .expect("offline form");
    wait_until(
        &visitor,
        "document.querySelector('.lcw-status').textContent.startsWith('Thank you')",
        "message sent",
    )
    .await;
    advisor.refresh().await.expect("reload console");
    wait_until(
        &advisor,
        "document.getElementById('inbox').textContent.includes('Please call me back')",
        "the inbox shows the message",
    )
    .await;

    // The widget on another origin: Ben (sales) signs in; the demo site's
    // widget shows him, opens a chat in place, and he answers.
    sign_in(&advisor, server.signin_link("Ben Okafor")).await;
    // Another site, not only another port: cookies are per host, so the
    // demo is opened as `localhost` while livecard is `127.0.0.1`.
    let demo = server
        .demo_url
        .clone()
        .expect("the demo site URL")
        .replace("127.0.0.1", "localhost");
    visitor.goto(&demo).await.expect("demo site");
    wait_until(&visitor, "document.querySelector('.lcw-launch') && document.querySelector('.lcw-launch').textContent.includes('Ben Okafor')", "the widget shows Ben").await;
    run(&visitor, "document.querySelector('.lcw-launch').focus(); document.querySelector('.lcw-launch').click(); return true;").await;
    wait_until(
        &advisor,
        "document.querySelectorAll('#rings .ring').length === 1",
        "Ben's console rings",
    )
    .await;
    accept_and_wait_connected(&advisor, &visitor, "widget connected").await;
    say(&visitor, ".lcw-form", "Hi from the shop").await;
    wait_for_message(&advisor, "#chats", "Hi from the shop").await;
    let violations = axe_violations(&visitor).await;
    assert!(violations.is_empty(), "axe on the widget: {violations:#?}");
    let cookies = visitor.get_all_cookies().await.expect("cookies");
    assert!(
        cookies.is_empty(),
        "the widget sets no cookies: {cookies:?}"
    );

    drop(driver);
    server.stop();
}

/// A deploy restarts every Durable Object and drops every socket: here
/// the whole edge host stops mid-chat (wrangler, workerd and the store) and
/// starts again on the same data and port. Both sides reconnect by
/// themselves and resume; what each sent while it was down arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Worker built; scripts/test-worker.sh runs it"]
async fn on_the_worker_a_restart_mid_chat_loses_nothing() {
    let dir = support::temp_dir("e2e-restart-edge");
    let port = support::free_port();
    let server = Livecard::start_edge_in(dir.to_path_buf(), port, &[]);
    let mut driver = Driver::start().await;
    let visitor = driver.browser().await;
    let advisor = driver.browser().await;
    sign_in(&advisor, server.signin_link("Anna Schmidt")).await;
    start_chat_from_card(&visitor, &server, "Anna Schmidt").await;
    wait_for_one_ring(&advisor).await;
    accept_and_wait_connected(&advisor, &visitor, "connected (visitor)").await;
    say(&visitor, ".lcw-form", "Before the deploy").await;
    wait_for_message(&advisor, "#chats", "Before the deploy").await;

    // The deploy: everything stops; both sides write meanwhile.
    server.stop();
    say(&visitor, ".lcw-form", "Written during the deploy").await;
    say(
        &advisor,
        "#chats .lcw-form",
        "Also written during the deploy",
    )
    .await;
    let server = Livecard::start_edge_in(dir.to_path_buf(), port, &[]);

    for (browser, root) in [(&visitor, "#contact"), (&advisor, "#chats")] {
        wait_for_message(browser, root, "Written during the deploy").await;
        wait_for_message(browser, root, "Also written during the deploy").await;
    }
    say(&advisor, "#chats .lcw-form", "After the deploy").await;
    wait_for_message(&visitor, "#contact", "After the deploy").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for (browser, root) in [(&visitor, "#contact"), (&advisor, "#chats")] {
        let mut seen = messages(browser, root).await;
        seen.sort();
        assert_eq!(
            seen,
            vec![
                "After the deploy",
                "Also written during the deploy",
                "Before the deploy",
                "Written during the deploy"
            ],
            "each message once in {root}"
        );
    }
    server.stop();
}

/// A ring nobody answers ends at its deadline with no request in flight:
/// the visitor's connection object wakes by its alarm, runs the sweep, and
/// the console's ring stops. (The cron trigger alone would be up to a
/// minute late; the bound below tells them apart.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Worker built; scripts/test-worker.sh runs it"]
async fn on_the_worker_an_unanswered_ring_ends_at_its_deadline_by_an_alarm() {
    let server = Livecard::start_edge("e2e-ring-edge", &[]);
    let mut driver = Driver::start().await;
    let visitor = driver.browser().await;
    let advisor = driver.browser().await;
    sign_in(&advisor, server.signin_link("Anna Schmidt")).await;
    start_chat_from_card(&visitor, &server, "Anna Schmidt").await;
    wait_for_one_ring(&advisor).await;
    let rung = std::time::Instant::now();
    // Nobody touches either page from here.
    let ring_ms = livecard_core::session::SessionPolicy::default().ring_ms;
    let bound = std::time::Duration::from_millis(ring_ms + 5_000);
    loop {
        let rings = run(
            &advisor,
            "return document.querySelectorAll('#rings .ring').length;",
        )
        .await;
        if rings == 0 {
            break;
        }
        assert!(
            rung.elapsed() < bound,
            "the ring was still on {bound:?} after it started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        rung.elapsed() >= std::time::Duration::from_millis(ring_ms - 1_000),
        "the ring ended before its deadline ({:?})",
        rung.elapsed()
    );
    server.stop();
}
