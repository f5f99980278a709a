//! The connectors service as it runs on AWS (`livecard-connectors`, or its
//! container image when `LIVECARD_CONNECTORS_IMAGE` names one): against a
//! DynamoDB-compatible store, Secrets Manager and API Gateway's Management
//! API on loopback (the Lambda emulator's), with container-style
//! credentials from its environment, and Kamailio with a SIPp phone as the
//! company's phone system. A call on the advisor's desk phone turns audio
//! and video busy in the store, and the advisor's open console (a
//! connection subscribed in the store) is pushed the change; `/healthz`,
//! `/metrics` and the health check say so; SIGTERM stops it cleanly. A
//! service with nothing configured refuses to start with a clear error.

use livecard_core::advisor::Identities;
use livecard_core::channel::Channel;
use livecard_core::ids::AdvisorId;
use livecard_core::presence::{PresenceSource, PresenceState, Rule};
use livecard_lambda::emulator::aws::AwsEndpoints;
use livecard_local::testkit::kamailio::{Kamailio, call, phone};
use livecard_local::testkit::{advisor, local_app};
use livecard_store::prelude::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_livecard-connectors");
const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:livecard";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The service, as a process or as its container (host network: every
/// address is loopback).
struct Service {
    child: Child,
    container: Option<String>,
}

impl Service {
    fn start(env: &[(&str, String)]) -> Self {
        match std::env::var("LIVECARD_CONNECTORS_IMAGE") {
            Ok(image) if !image.is_empty() => {
                let name = format!("livecard-connectors-test-{}", std::process::id());
                let mut command = Command::new("podman");
                command.args([
                    "run",
                    "--rm",
                    "--name",
                    &name,
                    "--runtime",
                    "runc",
                    "--network",
                    "host",
                    "--ulimit",
                    "nofile=4096:4096",
                    "--ulimit",
                    "nproc=4096:4096",
                ]);
                for (k, v) in env {
                    command.arg("-e").arg(format!("{k}={v}"));
                }
                let child = command
                    .arg(image)
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("podman runs");
                Self {
                    child,
                    container: Some(name),
                }
            }
            _ => {
                let child = Command::new(BIN)
                    .env_clear()
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("livecard-connectors runs");
                Self {
                    child,
                    container: None,
                }
            }
        }
    }

    /// SIGTERM (as ECS stops a task); the exit status.
    fn stop(mut self) -> bool {
        match &self.container {
            Some(name) => {
                let stopped = Command::new("podman")
                    .args(["stop", "--time", "10", name])
                    .status()
                    .is_ok_and(|s| s.success());
                let _ = self.child.wait();
                stopped
            }
            None => {
                let _ = Command::new("kill")
                    .args(["-TERM", &self.child.id().to_string()])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        return status.success();
                    }
                    if Instant::now() > deadline {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(name) = &self.container {
            let _ = Command::new("podman").args(["rm", "-f", name]).output();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn healthcheck(http: &str) -> bool {
    let mut command = match std::env::var("LIVECARD_CONNECTORS_IMAGE") {
        // The image's own health check command, run in the container.
        Ok(image) if !image.is_empty() => {
            let mut c = Command::new("podman");
            c.args([
                "exec",
                &format!("livecard-connectors-test-{}", std::process::id()),
            ]);
            c.arg("/livecard-connectors");
            c
        }
        _ => Command::new(BIN),
    };
    command
        .args(["healthcheck", "--addr", http])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_writes_a_phone_call_into_the_store_and_pushes_it_to_the_console() {
    let pbx = Kamailio::start("connectors-service");
    let (db, app) = local_app().await;
    let id = AdvisorId::parse("anna").expect("id");
    let identities = Identities {
        sip: Some("400".into()),
        ..Identities::default()
    };
    app.save_advisor(&advisor("anna", identities))
        .await
        .expect("advisor");
    // Anna's console is open (its heartbeat) and subscribed for her pushes.
    app.store
        .heartbeat(&id, u64::MAX / 2)
        .await
        .expect("heartbeat");
    app.store
        .put_connection("console-1", "{}", u64::MAX / 2)
        .await
        .expect("connection");
    app.store
        .subscribe("console-1", "advisor:anna", u64::MAX / 2)
        .await
        .expect("subscription");
    let aws = AwsEndpoints::start().await.expect("aws endpoints");
    let document =
        livecard_app::secrets::SecretsDocument::generate(&livecard_app::system::OsRandom);
    aws.put_secret(
        SECRET_ARN,
        &serde_json::to_string(&document).expect("secrets"),
    );
    let http = format!("127.0.0.1:{}", free_port());
    let env = |extra: &[(&'static str, String)]| {
        let mut env: Vec<(&'static str, String)> = vec![
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "livecard-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "livecard-test".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_ENDPOINT_URL_DYNAMODB", db.endpoint().to_owned()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws.secrets_endpoint()),
            ("LIVECARD_TABLE", "livecard".into()),
            ("LIVECARD_PUBLIC_URL", "https://contact.example.com".into()),
            ("LIVECARD_WS_URL", "wss://ws.example.com/live".into()),
            ("LIVECARD_WS_CALLBACK_URL", aws.management_endpoint()),
            ("LIVECARD_SECRETS_ARN", SECRET_ARN.into()),
            ("LIVECARD_CONNECTORS_HTTP", http.clone()),
            ("RUST_LOG", "warn".into()),
        ];
        env.extend(extra.iter().cloned());
        env
    };

    // Nothing configured: a clear refusal, not a service that does nothing.
    let output = Command::new(BIN)
        .env_clear()
        .envs(env(&[]).iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("no connector is configured"), "{said}");

    let service = Service::start(&env(&[
        ("LIVECARD_SIP_SERVER", format!("127.0.0.1:{}", pbx.port)),
        ("LIVECARD_SIP_DOMAIN", "127.0.0.1".into()),
        ("LIVECARD_SIP_BIND", "127.0.0.1:0".into()),
    ]));
    let client = reqwest::Client::new();
    let get = async |path: &str| -> Option<String> {
        let response = client
            .get(format!("http://{http}{path}"))
            .send()
            .await
            .ok()?;
        response.status().is_success().then_some(())?;
        response.text().await.ok()
    };
    // Up once the SIP subscription is: the health says so.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(body) = get("/healthz").await {
            let health: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            if health["connectors"]["sip"]["ok"] == true {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the service never came up\n{}",
            pbx.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthcheck(&http), "the health check command passes");
    let metrics = get("/metrics").await.expect("metrics");
    assert!(
        metrics.contains("livecard_connector_up{connector=\"sip\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("livecard_connector_advisors{connector=\"sip\"} 1"),
        "{metrics}"
    );

    // Anna's desk phone takes a call.
    let _phone = phone(&pbx, "400");
    let _caller = call(&pbx, "400", 3000);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let record = app
            .store
            .get_advisor(&id)
            .await
            .expect("get")
            .expect("anna");
        let d = record.presence.decide(
            Channel::Video,
            record.advisor.channels,
            &app.config.presence,
            app.now(),
        );
        if d.state == PresenceState::Busy
            && d.rule == Rule::OnCall
            && d.source == Some(PresenceSource::SipDialog)
        {
            break;
        }
        assert!(Instant::now() < deadline, "not busy: {d:?}\n{}", pbx.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The console was pushed the change through the Management API.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pushed = aws.posted_to("console-1");
        if pushed
            .iter()
            .any(|m| m["type"] == "presence" && m["presence"]["video"] == "busy")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no push: {pushed:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(service.stop(), "SIGTERM stops the service cleanly");
    assert!(
        !healthcheck(&http),
        "the health check fails once it is gone"
    );
}
