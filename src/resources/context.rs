//! What every resource gets from the configured provider: the ARM client, StopProvider's cancellation, and
//! facts about the cloud.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::arm::client::ArmClient;
use crate::arm::retry::Ctx;
use crate::tf::diagnostics::Diagnostic;

/// Why there is no ARM client to work with.
#[derive(Debug, Clone)]
pub enum Unconfigured {
    /// ConfigureProvider has not run, or its values were still unknown.
    NotYet,
    /// ConfigureProvider failed; its diagnostics were already shown.
    Failed,
}

#[derive(Clone)]
pub struct Context {
    arm: Result<ArmClient, Unconfigured>,
    stop: CancellationToken,
    /// True on Azure's public cloud, where Basic load balancers were retired on 2025-09-30.
    pub public_cloud: bool,
}

impl Context {
    pub fn new(
        arm: Result<ArmClient, Unconfigured>,
        stop: CancellationToken,
        public_cloud: bool,
    ) -> Self {
        Context {
            arm,
            stop,
            public_cloud,
        }
    }

    /// The ARM client, or a diagnostic saying why there is none.
    pub fn arm(&self) -> Result<&ArmClient, Diagnostic> {
        self.arm.as_ref().map_err(|why| match why {
            Unconfigured::NotYet => Diagnostic::error(
                "Provider configuration not yet known",
                "The largek8s provider block depends on values that are known only after apply (for example \
                 an ARM ID of a resource not yet created). Apply those first, e.g. with -target, or set them \
                 directly.",
            ),
            Unconfigured::Failed => Diagnostic::error(
                "Provider configuration failed",
                "The largek8s provider could not be configured; see the error reported for the provider block.",
            ),
        })
    }

    /// A bound for one operation: `timeout` from now, ended early by StopProvider.
    pub fn operation(&self, timeout: Duration) -> Ctx {
        Ctx::new(self.stop.clone(), timeout)
    }

    pub fn stop_token(&self) -> &CancellationToken {
        &self.stop
    }
}
