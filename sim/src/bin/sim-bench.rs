//! Prints how many simple authenticated ARM GETs per second the simulator serves on loopback.
//!
//! Run with `cargo run --release -p largek8s-sim --bin sim-bench -- --seconds 5 --connections 32`. The simulator runs
//! in-process with throttling off (the point is the server's own cost) and the client shares the machine, so the
//! figure is a lower bound.

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use largek8s_sim::config::{Seed, ThrottleModel};
use largek8s_sim::{start, Config};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// How long to measure.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
}

async fn token(base: &str, config: &Config) -> Result<String, Box<dyn std::error::Error>> {
    let addr = base.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut send, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
        config.client_id, config.client_secret
    );
    let req = hyper::Request::post(format!("/{}/oauth2/v2.0/token", config.tenant))
        .header("host", addr)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form)))?;
    let body = send
        .send_request(req)
        .await?
        .into_body()
        .collect()
        .await?
        .to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["access_token"].as_str().ok_or("no token")?.to_string())
}

async fn worker(
    addr: String,
    path: String,
    auth: String,
    until: Instant,
    done: Arc<AtomicU64>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(&addr).await?;
    stream.set_nodelay(true)?;
    let (mut send, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    while Instant::now() < until {
        let req = hyper::Request::get(path.as_str())
            .header("host", addr.as_str())
            .header("authorization", auth.as_str())
            .body(Full::new(Bytes::new()))?;
        let resp = send.send_request(req).await?;
        if resp.status() != 200 {
            return Err(format!("unexpected status {}", resp.status()).into());
        }
        resp.into_body().collect().await?;
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = Config {
        throttle: ThrottleModel::Off,
        seed: Some(Seed::Demo),
        token_lifetime: 86_400.0,
        ..Config::default()
    };
    let running = start(config.clone()).await?;
    let auth = format!("Bearer {}", token(&running.base_url, &config).await?);
    let addr = running.base_url.trim_start_matches("http://").to_string();
    let path = format!(
        "/subscriptions/{}/resourceGroups/largek8s-demo?api-version=2021-04-01",
        config.subscription
    );
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(args.seconds);
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            tokio::spawn(worker(
                addr.clone(),
                path.clone(),
                auth.clone(),
                until,
                done.clone(),
            ))
        })
        .collect();
    for w in workers {
        if let Err(e) = w.await? {
            eprintln!("sim-bench: worker failed: {e}");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "sim-bench: {n} GETs in {elapsed:.2} s over {} connections = {:.0} GETs/s",
        args.connections,
        n as f64 / elapsed
    );
    running.stop().await;
    Ok(())
}
