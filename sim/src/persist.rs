//! `--state FILE`: atomic snapshots (write a temporary file, then rename) after changes, and on shutdown.

use crate::sim::Sim;
use crate::store::Snapshot;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Reads a snapshot; a missing file means a fresh start.
pub fn load(path: &Path) -> Result<Option<Snapshot>, String> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => Ok(None),
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            format!(
                "state file {} is not a simulator snapshot: {e}",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read state file {}: {e}", path.display())),
    }
}

/// Writes the current state atomically.
pub fn save(sim: &Sim, path: &Path) -> std::io::Result<()> {
    let snapshot = sim.snapshot();
    let bytes = serde_json::to_vec(&snapshot).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Saves after changes, at most every 100 ms, until the task is aborted (the server flushes once more on shutdown).
pub async fn run(sim: Arc<Sim>, path: PathBuf) {
    loop {
        sim.changed.notified().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if sim.take_dirty() {
            let (s, p) = (sim.clone(), path.clone());
            match tokio::task::spawn_blocking(move || save(&s, &p)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!(
                    "largek8s-sim: saving state to {} failed: {e}",
                    path.display()
                ),
                Err(e) => eprintln!("largek8s-sim: state saver stopped: {e}"),
            }
        }
    }
}
