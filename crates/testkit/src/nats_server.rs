//! A private nats-server with JetStream for tests that kill, restart or wipe NATS.
//!
//! Such tests must not touch the shared server on port 4222 (other tests rely on it), so each
//! starts its own `nats-server -js` on a free loopback port with a temporary store directory.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::FixtureError;
use crate::ports::try_free_port;

/// How long a started server gets to answer with JetStream enabled (recovering a store with
/// many messages after a kill takes a moment).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a fresh port is tried when the server cannot keep the one it was given.
const PORT_ATTEMPTS: u32 = 3;

/// How much of the server's log an error message quotes.
const LOG_TAIL_BYTES: u64 = 4096;

/// A `nats-server -js` process of the test's own, on `127.0.0.1:<free port>` with its store in a
/// temporary directory.
///
/// The process is killed (SIGKILL) when the fixture is dropped, and the directory removed.
pub struct OwnNatsServer {
    binary: PathBuf,
    port: u16,
    // Holds `store/` and `nats-server.log`; only kept so that it is removed on drop.
    _dir: tempfile::TempDir,
    store: PathBuf,
    log: PathBuf,
    process: Option<Child>,
}

impl OwnNatsServer {
    /// Starts a private nats-server with JetStream and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// When there is no `nats-server` binary or it does not come up: the test cannot run without
    /// it, and the message says why. Use [`OwnNatsServer::try_start`] to handle that.
    pub async fn start() -> OwnNatsServer {
        match Self::try_start().await {
            Ok(server) => server,
            Err(error) => panic!("could not start a private nats-server: {error}"),
        }
    }

    /// Like [`OwnNatsServer::start`], but returns the error instead of panicking.
    pub async fn try_start() -> Result<OwnNatsServer, FixtureError> {
        let binary = find_binary().ok_or(FixtureError::NatsServerMissing)?;
        let dir = tempfile::Builder::new()
            .prefix("chain-nats-")
            .tempdir()
            .map_err(|e| FixtureError::io("creating a temporary directory for nats-server", e))?;
        let store = dir.path().join("store");
        std::fs::create_dir(&store)
            .map_err(|e| FixtureError::io(format!("creating {}", store.display()), e))?;
        let log = dir.path().join("nats-server.log");
        let mut server = OwnNatsServer {
            binary,
            port: 0,
            _dir: dir,
            store,
            log,
            process: None,
        };
        // The free port is released before the server binds it, so another process may take it
        // in between; the server then exits at once and a fresh port is tried.
        let mut attempt = 1;
        loop {
            server.port = try_free_port()?;
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                Err(FixtureError::NatsServerExited { .. }) if attempt < PORT_ATTEMPTS => {
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The URL clients connect to, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on; it stays the same across [`OwnNatsServer::restart`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory (`-sd`); it survives [`OwnNatsServer::kill`] and
    /// [`OwnNatsServer::restart`] unless [`OwnNatsServer::wipe_store`] empties it.
    pub fn store_dir(&self) -> &Path {
        &self.store
    }

    /// Whether the server process is running (it may have been killed, or died on its own).
    pub fn is_running(&mut self) -> bool {
        matches!(self.process.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Kills the server with SIGKILL (no clean shutdown, as in a crash) and reaps it.
    ///
    /// Killing a server that is not running does nothing.
    pub fn kill(&mut self) -> Result<(), FixtureError> {
        let Some(mut process) = self.process.take() else {
            return Ok(());
        };
        // `kill` fails when the process has already exited; `wait` then still reaps it.
        let _ = process.kill();
        process.wait().map_err(|e| {
            FixtureError::io(format!("reaping nats-server on port {}", self.port), e)
        })?;
        Ok(())
    }

    /// Starts the server again on the same port with the same store directory, killing it first
    /// if it is still running, and waits until it accepts connections.
    pub async fn restart(&mut self) -> Result<(), FixtureError> {
        self.kill()?;
        self.spawn_and_wait().await
    }

    /// Deletes everything in the store directory, as if the server's disk had been lost.
    ///
    /// Call it while the server is killed: a running server keeps its streams in memory and would
    /// write them back.
    pub fn wipe_store(&self) -> Result<(), FixtureError> {
        let entries = std::fs::read_dir(&self.store)
            .map_err(|e| FixtureError::io(format!("listing {}", self.store.display()), e))?;
        for entry in entries {
            let path = entry
                .map_err(|e| FixtureError::io(format!("listing {}", self.store.display()), e))?
                .path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| FixtureError::io(format!("removing {}", path.display()), e))?;
        }
        Ok(())
    }

    /// The last few KiB of the server's log (stdout and stderr of every start), for messages.
    pub fn log_tail(&self) -> String {
        read_tail(&self.log)
    }

    async fn spawn_and_wait(&mut self) -> Result<(), FixtureError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| FixtureError::io(format!("opening {}", self.log.display()), e))?;
        let log_for_stderr = log
            .try_clone()
            .map_err(|e| FixtureError::io(format!("opening {}", self.log.display()), e))?;
        let process = Command::new(&self.binary)
            .arg("-js")
            .args(["-a", "127.0.0.1"])
            .args(["-p", &self.port.to_string()])
            .arg("-sd")
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .map_err(|e| FixtureError::io(format!("starting {}", self.binary.display()), e))?;
        self.process = Some(process);
        match self.wait_ready().await {
            Ok(()) => Ok(()),
            Err(error) => {
                // A server that did not come up must not linger past the failed start.
                let _ = self.kill();
                Err(error)
            }
        }
    }

    /// Waits until the server greets a client with an INFO line that says JetStream is on.
    async fn wait_ready(&mut self) -> Result<(), FixtureError> {
        let started = Instant::now();
        loop {
            if let Some(process) = self.process.as_mut()
                && let Ok(Some(status)) = process.try_wait()
            {
                self.process = None;
                return Err(FixtureError::NatsServerExited {
                    port: self.port,
                    status,
                    log_tail: self.log_tail(),
                });
            }
            if greets_with_jetstream(self.port).await {
                return Ok(());
            }
            if started.elapsed() >= READY_TIMEOUT {
                return Err(FixtureError::NatsServerNotReady {
                    port: self.port,
                    waited: started.elapsed(),
                    log_tail: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for OwnNatsServer {
    fn drop(&mut self) {
        if let Err(error) = self.kill() {
            eprintln!("chain-testkit: {error}");
        }
    }
}

async fn greets_with_jetstream(port: u16) -> bool {
    let greeting = async {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).await.ok()?;
        Some(line)
    };
    match tokio::time::timeout(Duration::from_secs(1), greeting).await {
        Ok(Some(line)) => line.starts_with("INFO ") && line.contains("\"jetstream\":true"),
        _ => false,
    }
}

/// `NATS_SERVER_BIN`, else `nats-server` in `PATH`, else the places Debian and manual installs
/// put it (`/usr/sbin` is not in a normal user's `PATH`).
fn find_binary() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("NATS_SERVER_BIN") {
        let explicit = PathBuf::from(explicit);
        return explicit.is_file().then_some(explicit);
    }
    let in_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let fixed = ["/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"].map(PathBuf::from);
    in_path
        .into_iter()
        .chain(fixed)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

fn read_tail(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::from("(no log)");
    };
    let length = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file
        .seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)))
        .is_err()
    {
        return String::from("(log unreadable)");
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::from("(log unreadable)");
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
