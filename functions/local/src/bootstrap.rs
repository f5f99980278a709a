//! First start and every start of `livecard up`: seed the demo advisors,
//! create the first admin key, and gather the links to print. Sign-in
//! links (each one signs an advisor in) are made and printed at the first
//! start, and later only when a person reads the output (a terminal), never
//! into a service's log at every restart.

use crate::datadir::DataDir;
use anyhow::anyhow;
use livecard_app::demo;
use livecard_core::card::CardRequest;
use livecard_core::presence::PresenceState;
use livecard_store::PageRequest;
use livecard_store::prelude::*;
use std::fmt::Write;

pub struct Summary {
    pub cards: Vec<(String, String)>,
    pub signins: Vec<(String, String)>,
}

impl Summary {
    pub fn render(&self, public_url: &str, data: &DataDir) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "  portal:     {public_url}/");
        let _ = writeln!(out, "  data:       {}", data.path.display());
        let _ = writeln!(
            out,
            "  admin key:  {} (the CLI reads it from there)",
            data.admin_key_path().display()
        );
        if !self.cards.is_empty() {
            let _ = writeln!(out, "card links:");
            for (name, url) in &self.cards {
                let _ = writeln!(out, "  {name:<20} {url}");
            }
        }
        if self.signins.is_empty() {
            let _ = writeln!(
                out,
                "advisor sign-in links: `livecard advisor signin-link <id>` makes one (they are printed at the first start, and to a terminal, only)"
            );
        } else {
            let _ = writeln!(out, "advisor sign-in links (single use, valid 15 minutes):");
            for (name, url) in &self.signins {
                let _ = writeln!(out, "  {name:<20} {url}");
            }
        }
        out
    }
}

fn err(e: livecard_app::http_util::ApiError) -> anyhow::Error {
    anyhow!("{}", e.message)
}

pub async fn prepare(
    app: &crate::LocalApp,
    data: &DataDir,
    first_start: bool,
    signin_links: bool,
) -> anyhow::Result<Summary> {
    if first_start || data.read_admin_key().is_none() {
        let key = app
            .create_api_key("first admin key (livecard up)")
            .await
            .map_err(err)?;
        data.write_admin_key(&key)?;
    }
    if first_start {
        for advisor in demo::advisors() {
            app.save_advisor(&advisor).await.map_err(err)?;
            let states = advisor
                .channels
                .iter()
                .map(|c| (c, PresenceState::Available))
                .collect();
            let now = app.now();
            let update = app
                .config
                .presence
                // As if each had set it in the console: it lasts a week, and
                // shows once their console is open (sign-in links below).
                .manual_update(states, now, now + livecard_core::presence::MAX_MANUAL_MS)
                .map_err(|e| anyhow!("{e}"))?;
            app.set_presence(&advisor.id, &update).await.map_err(err)?;
        }
    }
    // One live card link per demo advisor that still exists: the newest
    // unrevoked, unexpired one, or a new one.
    let existing = app.store.list_cards(&PageRequest::first(100)).await?;
    let now = app.now();
    let mut summary = Summary {
        cards: Vec::new(),
        signins: Vec::new(),
    };
    for advisor in demo::advisors() {
        let Some(record) = app.store.get_advisor(&advisor.id).await? else {
            continue;
        };
        let name = record.advisor.display_name.clone();
        let live = existing.items.iter().find(|c| {
            c.claims.advisor == advisor.id && c.revoked_at.is_none() && c.expires_at_ms() > now
        });
        let url = match live {
            Some(card) => app.card_url(card),
            None => {
                let request = CardRequest {
                    advisor: advisor.id.clone(),
                    campaign: Some("demo".into()),
                    channels: None,
                    expires_in_ms: None,
                };
                app.create_card(request).await.map_err(err)?.url
            }
        };
        summary.cards.push((name.clone(), url));
        if signin_links {
            let (signin, _) = app.create_signin_link(&advisor.id).await.map_err(err)?;
            summary.signins.push((name, signin));
        }
    }
    Ok(summary)
}
