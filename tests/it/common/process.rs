//! The crate's examples as processes, for the tests that drive them over
//! real sockets: start one, read the address it listens on, talk raw
//! HTTP/1.1 to it, and kill it (`SIGKILL`) when it is dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// The example `name` that `cargo test` built beside the test binary.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        binary.exists(),
        "{} is missing: run the whole suite with `cargo test --all-features`, which builds the examples",
        binary.display()
    );
    binary
}

/// A running example, killed when dropped.
pub struct Process {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Process {
    /// Starts the example `name` on an ephemeral port with the variables
    /// `env`, and waits for its `listening on ADDR` line.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Self {
        Self::start_in(&[], name, env)
    }

    /// [`start`](Self::start) under the command `wrapper` (its program and
    /// arguments, the example's path after them), if not empty.
    pub fn start_in(wrapper: &[&str], name: &str, env: &[(&str, &str)]) -> Self {
        let binary = example_binary(name);
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        // A group of its own, killed whole: a wrapper (`faketime`) that forks
        // the example must not leave it running.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        // Its log goes to a file of its own, told when it fails to start.
        let log = tempfile::tempfile().expect("a log file");
        let mut child = command
            .env("AXES_BIND", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log.try_clone().expect("the log file twice"))
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("readiness line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                panic!(
                    "{name}: unexpected first line {line:?} ({status}); its log:\n{}",
                    read_all(log)
                )
            })
            .parse()
            .expect("an address");
        Self { child, addr }
    }
}

/// What was written to `file`, from its start.
fn read_all(mut file: std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut text);
    text
}

impl Drop for Process {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a raw exchange got back.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends the raw HTTP/1.1 `request` (which asks for `connection: close`)
/// to `addr`, from the loopback address `from` when given. `None` when the
/// connection failed or the server went away before answering.
pub async fn exchange(addr: SocketAddr, from: Option<&str>, request: &str) -> Option<Answer> {
    let socket = TcpSocket::new_v4().ok()?;
    if let Some(from) = from {
        socket.bind(SocketAddr::new(from.parse().ok()?, 0)).ok()?;
    }
    let mut stream = socket.connect(addr).await.ok()?;
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    let status = answer.get(9..12)?.parse().ok()?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    Some(Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// A `POST` of `body` as `content_type` to `path`, closing the connection.
pub fn post_request(path: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: example\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// POSTs a JSON body; the status, or `None` when the server went away.
pub async fn post_to(addr: SocketAddr, from: &str, path: &str, body: &str) -> Option<u16> {
    let request = post_request(path, "application/json", body);
    Some(exchange(addr, Some(from), &request).await?.status)
}

/// The demo server (`examples/json_login.rs`), killed (`SIGKILL`) when
/// dropped.
pub struct Demo(Process);

impl std::ops::Deref for Demo {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.0
    }
}

impl Demo {
    /// The demo on `database_url` with the policy of the file at
    /// `config_path`, and the users alice and bob.
    pub fn start(database_url: &str, config_path: &std::path::Path) -> Self {
        Self::start_with(database_url, config_path, &[])
    }

    /// [`start`](Self::start) with more environment variables.
    pub fn start_with(
        database_url: &str,
        config_path: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_in(&[], database_url, config_path, env)
    }

    /// [`start_with`](Self::start_with), run under the command `wrapper`
    /// (such as `faketime +10m`).
    pub fn start_in(
        wrapper: &[&str],
        database_url: &str,
        config_path: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Self {
        let config = config_path.to_str().expect("a UTF-8 path");
        let mut all = vec![
            ("AXES_DATABASE_URL", database_url),
            ("AXES_CONFIG", config),
            ("AXES_DEMO_USERS", "alice:wonderland,bob:builder"),
        ];
        all.extend_from_slice(env);
        Self(Process::start_in(wrapper, "json_login", &all))
    }

    /// POSTs a JSON body to `path` from the loopback address `from`;
    /// returns the status.
    pub async fn post(&self, from: &str, path: &str, body: &str) -> u16 {
        post_to(self.addr, from, path, body)
            .await
            .expect("the demo answers")
    }
}
