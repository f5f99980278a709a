//! Lambda bench: cold start and warm handler latency, under a Lambda
//! runtime API on loopback (`livecard_lambda::emulator`), against the
//! embedded DynamoDB-compatible server. Prints one JSON line per figure.
//!
//! - Cold start: process spawn to the first handled invocation, for
//!   `livecard-http` (a card page), `livecard-ws` (a `$connect`) and a
//!   hello-world `lambda_runtime` binary built the same way, interleaved in
//!   the same run; the ratio is to hello-world. Beside them the SDK floor
//!   (`lambda-sdk-floor`): a secret read at the cold start and one item
//!   written per invocation through the AWS SDK, nothing of livecard.
//! - Warm latency: invoke to response, one process, for the card page and
//!   for a chat message (`$default`: stored, acknowledged to the sender,
//!   pushed to the advisor's connection).

use anyhow::{Context, bail};
use clap::Parser;
use livecard_app::secrets::SecretsDocument;
use livecard_app::system::{OsRandom, SystemClock};
use livecard_app::{App, Config};
use livecard_bench::percentile;
use livecard_core::advisor::AdvisorInput;
use livecard_core::card::CardRequest;
use livecard_core::channel::{Channel, ChannelSet};
use livecard_core::presence::PresenceState;
use livecard_lambda::emulator::aws::AwsEndpoints;
use livecard_lambda::emulator::events;
use livecard_lambda::emulator::runtime::{Outcome, RuntimeApi};
use livecard_store::dynamo::{DynamoStore, local_client};
use livecard_store::embedded::EmbeddedDynamo;
use livecard_store::prelude::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

#[derive(Parser, Debug)]
struct Args {
    /// Where the release binaries are (livecard-http, livecard-ws,
    /// lambda-hello, lambda-sdk-floor, lambda-http-peer).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Cold starts per function.
    #[arg(long, default_value_t = 30)]
    cold: usize,
    /// Warm invocations per handler.
    #[arg(long, default_value_t = 2000)]
    warm: usize,
    /// A command to run the functions under, for profiling (for example
    /// `strace -f -tt -o /tmp/trace`); the figures it gives are not the
    /// bench's.
    #[arg(long)]
    wrap: Option<String>,
}

const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:livecard";
const PUBLIC_URL: &str = "https://contact.example.com";

struct Env {
    db: String,
    aws: AwsEndpoints,
}

fn spawn(
    env: &Env,
    binary: &PathBuf,
    runtime: &RuntimeApi,
    wrap: Option<&str>,
) -> anyhow::Result<Child> {
    let mut command = match wrap.map(|w| w.split_whitespace().collect::<Vec<_>>()) {
        Some(words) if !words.is_empty() => {
            let mut command = Command::new(words[0]);
            command.args(&words[1..]).arg(binary);
            command
        }
        _ => Command::new(binary),
    };
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime.endpoint())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_DYNAMODB", &env.db)
        .env(
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            env.aws.secrets_endpoint(),
        )
        .env("LIVECARD_TABLE", "livecard")
        .env("LIVECARD_PUBLIC_URL", PUBLIC_URL)
        .env(
            "LIVECARD_WS_URL",
            "wss://abc.execute-api.us-east-1.amazonaws.com/live",
        )
        .env("LIVECARD_WS_CALLBACK_URL", env.aws.management_endpoint())
        .env("LIVECARD_SECRETS_ARN", SECRET_ARN)
        .env(
            "AWS_LAMBDA_LOG_LEVEL",
            std::env::var("BENCH_FUNCTION_LOG").unwrap_or_else(|_| "error".into()),
        )
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))
}

async fn invoke(runtime: &RuntimeApi, event: Value) -> anyhow::Result<Value> {
    match runtime.invoke_within(event, Duration::from_secs(30)).await {
        Some(Outcome::Response(value)) => Ok(value),
        Some(Outcome::Error(err)) => bail!("the function failed: {err}"),
        None => bail!("the function did not answer in 30 s"),
    }
}

fn percentile_of(values: &[f64], p: f64) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return 0.0;
    }
    (percentile(&values, p) * 100.0).round() / 100.0
}

/// Minor page faults and CPU time (ms, all threads) of a live process.
fn process_stats(pid: u32) -> Option<(f64, f64)> {
    // minflt is field 10.
    let [minflt] = livecard_bench::proc_stat_fields(pid, [10])?;
    // Nanoseconds on a CPU, per thread.
    let mut cpu_ns = 0.0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        let text = std::fs::read_to_string(path).ok()?;
        cpu_ns += text.split_whitespace().next()?.parse::<f64>().ok()?;
    }
    Some((minflt, cpu_ns / 1e6))
}

fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    json!({
        "n": ms.len(),
        "p50_ms": (percentile(&ms, 50.0) * 100.0).round() / 100.0,
        "p99_ms": (percentile(&ms, 99.0) * 100.0).round() / 100.0,
        "max_ms": (percentile(&ms, 100.0) * 100.0).round() / 100.0,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = EmbeddedDynamo::start(None).await?;
    let store = DynamoStore::new(local_client(server.endpoint()), "livecard");
    store.ensure_table().await?;
    let document = SecretsDocument::generate(&OsRandom);
    let aws = AwsEndpoints::start().await?;
    aws.put_secret(SECRET_ARN, &serde_json::to_string(&document)?);
    let seed = App::new(
        store,
        Arc::new(SystemClock),
        Arc::new(OsRandom),
        Config::new(PUBLIC_URL),
        document.into_secrets()?,
    );
    let anna = AdvisorInput {
        id: "anna".into(),
        display_name: "Anna Schmidt".into(),
        title: "Sales".into(),
        photo_url: None,
        languages: vec!["en".into()],
        topics: vec!["sales".into()],
        channels: ChannelSet::ALL,
        capacity: 2,
        identities: Default::default(),
    }
    .validate()?;
    seed.save_advisor(&anna)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let now = seed.now();
    let update = seed.config.presence.manual_update(
        vec![(Channel::Chat, PresenceState::Available)],
        now,
        now + livecard_core::presence::MAX_MANUAL_MS,
    )?;
    seed.set_presence(&anna.id, &update)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // Anna's console is open for the whole measurement.
    livecard_store::AdvisorStore::heartbeat(&seed.store, &anna.id, u64::MAX / 2).await?;
    let card = seed
        .create_card(CardRequest {
            advisor: anna.id.clone(),
            campaign: None,
            channels: None,
            expires_in_ms: None,
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let card_path = card
        .url
        .strip_prefix(PUBLIC_URL)
        .context("card url")?
        .to_owned();
    let env = Env {
        db: server.endpoint().to_owned(),
        aws,
    };
    let card_event = || events::http("GET", &card_path, &[("accept-language", "en")], &[], None);

    // Cold starts, interleaved so that the machine's noise hits all alike.
    let functions = [
        ("hello-world", "lambda-hello"),
        ("sdk-floor", "lambda-sdk-floor"),
        ("livecard-http", "livecard-http"),
        ("livecard-http-on-lambda_http", "lambda-http-peer"),
        ("livecard-ws", "livecard-ws"),
    ];
    let mut cold: Vec<Vec<f64>> = vec![Vec::new(); functions.len()];
    // Page faults and CPU time up to the first answer (from /proc).
    let mut faults: Vec<Vec<f64>> = vec![Vec::new(); functions.len()];
    let mut cpu_ms: Vec<Vec<f64>> = vec![Vec::new(); functions.len()];
    for round in 0..args.cold {
        for (i, (_, binary)) in functions.iter().enumerate() {
            let runtime = RuntimeApi::start().await?;
            let event = match *binary {
                "livecard-ws" => events::ws_connect(&format!("cold-{round}"), &[], &[]),
                "livecard-http" | "lambda-http-peer" => card_event(),
                _ => json!({"hello": "world"}),
            };
            let started = Instant::now();
            let mut child = spawn(
                &env,
                &args.bin_dir.join(binary),
                &runtime,
                args.wrap.as_deref(),
            )?;
            let out = invoke(&runtime, event).await?;
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            if out["statusCode"] != 200 {
                bail!("{binary} answered {out}");
            }
            cold[i].push(elapsed);
            if args.wrap.is_none()
                && let Some((minflt, cpu)) = child.id().and_then(process_stats)
            {
                faults[i].push(minflt);
                cpu_ms[i].push(cpu);
            }
            let _ = child.kill().await;
        }
    }
    // The same malformed event (a field of the wrong type) to both HTTP
    // adapters: livecard's answers it, lambda_http fails the invocation
    // (API Gateway then answers 502 with no reason).
    for binary in ["livecard-http", "lambda-http-peer"] {
        let runtime = RuntimeApi::start().await?;
        let mut child = spawn(&env, &args.bin_dir.join(binary), &runtime, None)?;
        let mut event = card_event();
        event["requestContext"]["http"]["sourceIp"] = json!(12345);
        let answer = match runtime.invoke_within(event, Duration::from_secs(30)).await {
            Some(Outcome::Response(value)) => {
                json!({"status": value["statusCode"], "body": value["body"]})
            }
            Some(Outcome::Error(err)) => json!({"invocation_error": err}),
            None => json!("no answer in 30 s"),
        };
        println!(
            "{}",
            json!({"bench": "malformed_event", "function": binary, "answer": answer})
        );
        let _ = child.kill().await;
    }
    let hello = summary(cold[0].clone());
    for (i, (name, _)) in functions.iter().enumerate() {
        let s = summary(cold[i].clone());
        let ratio = s["p50_ms"].as_f64().unwrap_or(0.0) / hello["p50_ms"].as_f64().unwrap_or(1.0);
        println!(
            "{}",
            json!({"bench": "cold_start", "function": name, "stats": s,
                   "p50_ratio_to_hello_world": (ratio * 100.0).round() / 100.0,
                   "page_faults_p50": percentile_of(&faults[i], 50.0),
                   "cpu_ms_p50": percentile_of(&cpu_ms[i], 50.0)})
        );
    }

    // Warm: the card page.
    let runtime = RuntimeApi::start().await?;
    let _http = spawn(&env, &args.bin_dir.join("livecard-http"), &runtime, None)?;
    invoke(&runtime, card_event()).await?;
    let mut ms = Vec::with_capacity(args.warm);
    for _ in 0..args.warm {
        let started = Instant::now();
        let out = invoke(&runtime, card_event()).await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if out["statusCode"] != 200 {
            bail!("card page answered {}", out["statusCode"]);
        }
    }
    println!(
        "{}",
        json!({"bench": "warm", "handler": "card_page", "stats": summary(ms)})
    );

    // Warm: a chat message in a connected session.
    let contact = http::Request::builder()
        .method("POST")
        .uri("/api/v1/contacts")
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(json!({"topic": "sales"}).to_string()))?;
    let response = seed.handle(contact).await;
    let answer: Value = serde_json::from_slice(response.body())?;
    let session = answer["session"].as_str().context("session")?.to_owned();
    let token = answer["token"].as_str().context("token")?.to_owned();
    // The visitor's socket joins first (that rings Anna), as the pages do.
    let mut visitor = livecard_app::contact::Connection::new("V0", None, seed.now());
    seed.ws_message(
        &mut visitor,
        &json!({"v":1,"type":"join","session":session,"token":token}).to_string(),
    )
    .await;
    let mut advisor =
        livecard_app::contact::Connection::new("A1", Some(anna.id.clone()), seed.now());
    seed.ws_message(
        &mut advisor,
        &json!({"v":1,"type":"accept","session":session}).to_string(),
    )
    .await;
    // The advisor's console is a connection the pushes reach.
    seed.store
        .subscribe("A1", "advisor:anna", seed.now() + 3_600_000)
        .await?;
    let runtime = RuntimeApi::start().await?;
    let _ws = spawn(&env, &args.bin_dir.join("livecard-ws"), &runtime, None)?;
    invoke(&runtime, events::ws_connect("V1", &[], &[])).await?;
    let join = json!({"v":1,"type":"join","session":session,"token":token});
    invoke(&runtime, events::ws_message("V1", &join.to_string())).await?;
    let mut ms = Vec::with_capacity(args.warm);
    for n in 0..args.warm {
        // Within the per-connection rate (20/s): the bench measures latency.
        let chat = json!({"v":1,"type":"chat","session":session,"id":format!("m{n}"),"text":"Hello, a question about the offer"});
        let started = Instant::now();
        invoke(&runtime, events::ws_message("V1", &chat.to_string())).await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let acks = env
        .aws
        .posted_to("V1")
        .iter()
        .filter(|m| m["type"] == "ack")
        .count();
    let pushed = env
        .aws
        .posted_to("A1")
        .iter()
        .filter(|m| m["type"] == "chat")
        .count();
    println!(
        "{}",
        json!({"bench": "warm", "handler": "chat_message", "stats": summary(ms),
               "acks": acks, "pushed_to_advisor": pushed})
    );
    Ok(())
}
