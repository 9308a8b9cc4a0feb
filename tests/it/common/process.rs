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
        let mut child = Command::new(example_binary(name))
            .envs(env.iter().copied())
            .env("AXES_BIND", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("readiness line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"))
            .parse()
            .expect("an address");
        Self { child, addr }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
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
