//! The go-plugin host side of Terraform, seen from the plugin: handshake, AutoMTLS, the gRPC server with
//! the controller, stdio, broker and health services, and logging. Knows nothing of Azure.

pub mod convert;
pub mod handshake;
pub mod logging;
pub mod proto;
pub mod service;
pub mod tls;
pub mod transport;

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::tf::provider::Provider;
use handshake::{HandshakeConfig, Security};
use proto::goplugin as gp;

/// gRPC messages are raised from 4 MiB to 256 MiB both ways: a 2,000-node pool's state is several MiB.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// How long in-flight replies get to drain after Shutdown before the process exits.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(100);

/// Why serving failed before or while it ran.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("could not create the plugin socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsSetupError),
    #[error("the gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// How we were started.
pub enum Mode {
    /// By Terraform, after a successful handshake.
    Terraform(HandshakeConfig),
    /// By hand with `--debug`: plaintext, and a `TF_REATTACH_PROVIDERS` line for the user.
    Debug { socket_dir: Option<String> },
}

/// Serves `provider` until Terraform asks us to shut down (or, in debug mode, until Ctrl-C).
pub async fn serve<P: Provider>(provider: P, mode: Mode) -> Result<(), ServeError> {
    let (socket_dir, security, debug) = match mode {
        Mode::Terraform(cfg) => (cfg.socket_dir, cfg.security, false),
        Mode::Debug { socket_dir } => (socket_dir, Security::Plaintext, true),
    };
    let (socket, listener) = transport::PluginSocket::bind(socket_dir.as_deref())?;
    let (tls_config, cert_der) = match security {
        Security::Plaintext => (None, Vec::new()),
        Security::MutualTls { client_cert_der } => {
            let identity = tls::generate_identity()?;
            let config = tls::server_config(&identity, client_cert_der)?;
            (Some(config), identity.cert_der.to_vec())
        }
    };

    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    watch_signals(shutdown_tx.clone(), debug)?;

    let provider = Arc::new(provider);
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let provider_service = proto::tfplugin6::provider_server::ProviderServer::new(
        service::ProviderService::new(provider),
    )
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);

    let router = tonic::transport::Server::builder()
        .add_service(provider_service)
        .add_service(gp::grpc_controller_server::GrpcControllerServer::new(
            Controller {
                shutdown: shutdown_tx.clone(),
            },
        ))
        .add_service(gp::grpc_stdio_server::GrpcStdioServer::new(Stdio {
            shutdown: shutdown_rx.clone(),
        }))
        .add_service(gp::grpc_broker_server::GrpcBrokerServer::new(Broker {
            shutdown: shutdown_rx.clone(),
        }))
        .add_service(health_service);

    let address = socket.path().display().to_string();
    let mut stdout = std::io::stdout().lock();
    if debug {
        writeln!(stdout, "{}", reattach_line(&address))?;
    } else {
        writeln!(
            stdout,
            "{}",
            handshake::handshake_line("unix", &address, &cert_der)
        )?;
    }
    stdout.flush()?;
    drop(stdout);
    logging::debug("plugin serving", &[("address", &address)]);

    let incoming = transport::incoming(listener, tls_config);
    let mut stop_rx = shutdown_rx.clone();
    let server = router.serve_with_incoming_shutdown(incoming, async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result?,
        _ = shutdown_rx.wait_for(|stop| *stop) => {
            // Let the Shutdown reply (and any other) drain, but never wait on a connection Terraform keeps open.
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await;
        }
    }
    socket.remove();
    Ok(())
}

/// SIGINT is Terraform's to handle (it sends StopProvider), so the plugin ignores it unless run by hand;
/// SIGTERM always shuts down cleanly. The handlers are installed before this returns, so before the handshake
/// line: a signal that arrives right after it must not meet the default action.
fn watch_signals(shutdown: watch::Sender<bool>, debug: bool) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => {
                    if debug {
                        let _ = shutdown.send(true);
                        return;
                    }
                    logging::debug("ignoring SIGINT; Terraform stops the provider through StopProvider", &[]);
                }
                _ = terminate.recv() => {
                    let _ = shutdown.send(true);
                    return;
                }
            }
        }
    });
    Ok(())
}

fn reattach_line(address: &str) -> String {
    let config = serde_json::json!({
        "registry.terraform.io/largek8s/largek8s": {
            "Protocol": "grpc",
            "ProtocolVersion": handshake::APP_PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "unix", "String": address },
        }
    });
    format!(
        "Provider started. To attach Terraform to it, run in your shell:\n\n\tTF_REATTACH_PROVIDERS='{config}'\n"
    )
}

struct Controller {
    shutdown: watch::Sender<bool>,
}

#[tonic::async_trait]
impl gp::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _request: Request<gp::Empty>) -> Result<Response<gp::Empty>, Status> {
        logging::debug("shutdown requested by Terraform", &[]);
        let _ = self.shutdown.send(true);
        Ok(Response::new(gp::Empty {}))
    }
}

type IdleStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// A stream that yields nothing and ends when shutdown begins. Ending it matters: an open stream keeps its
/// connection busy, and graceful shutdown would wait for it while Terraform waits for us to exit.
fn idle_until_shutdown<T: Send + 'static>(mut shutdown: watch::Receiver<bool>) -> IdleStream<T> {
    Box::pin(
        futures_util::stream::once(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .filter_map(|()| std::future::ready(None)),
    )
}

/// We never write to stdout after the handshake, and logs go to stderr, so the stream stays empty.
struct Stdio {
    shutdown: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl gp::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = IdleStream<gp::StdioData>;

    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(idle_until_shutdown(self.shutdown.clone())))
    }
}

/// Terraform providers open no brokered connections; the stream is accepted and stays idle.
struct Broker {
    shutdown: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl gp::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = IdleStream<gp::ConnInfo>;

    async fn start_stream(
        &self,
        _request: Request<tonic::Streaming<gp::ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        Ok(Response::new(idle_until_shutdown(self.shutdown.clone())))
    }
}
