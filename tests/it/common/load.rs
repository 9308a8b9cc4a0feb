//! Real traffic against a server process: keep-alive connections from one
//! loopback address, some of them cut mid-request as clients do when they
//! give up, time out or close at the end of a run (as wrk does).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// What a load got back.
#[derive(Debug, Default)]
pub struct Load {
    /// Answers, by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests abandoned mid-way on purpose.
    pub abandoned: u64,
}

impl Load {
    fn merge(&mut self, other: Load) {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.abandoned += other.abandoned;
    }

    /// How many answers there were.
    pub fn answered(&self) -> u64 {
        self.statuses.values().sum()
    }
}

/// A JSON POST to `/login` of `body`, kept alive.
pub fn login_request(body: &str) -> String {
    format!(
        "POST /login HTTP/1.1\r\nhost: load\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Opens a connection to `addr` from the loopback address `from`.
pub async fn connect(addr: SocketAddr, from: &str) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(from.parse().ok()?, 0)).ok()?;
    socket.connect(addr).await.ok()
}

/// Reads one HTTP/1.1 answer (with a `content-length`); its status.
pub async fn read_answer(reader: &mut BufReader<TcpStream>) -> Option<u16> {
    let mut line = String::new();
    reader.read_line(&mut line).await.ok()?;
    let status = line.get(9..12)?.parse().ok()?;
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(status)
}

/// `connections` keep-alive connections from `from` POST `request` to
/// `addr` for `duration`. Every `abandon_every`-th request of a connection
/// is cut: its body half sent, or sent whole and the connection closed at
/// once, a millisecond or two milliseconds later, before the answer; the
/// connection is then opened again. When the time is up, every connection
/// sends one last request and closes at once.
pub async fn hammer(
    addr: SocketAddr,
    from: &str,
    request: &str,
    connections: usize,
    duration: Duration,
    abandon_every: u64,
) -> Load {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let (from, request) = (from.to_owned(), request.to_owned());
            tokio::spawn(async move {
                let mut load = Load::default();
                let mut sent = c as u64;
                'connection: while Instant::now() < deadline {
                    let Some(stream) = connect(addr, &from).await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let mut reader = BufReader::new(stream);
                    while Instant::now() < deadline {
                        sent += 1;
                        if sent.is_multiple_of(abandon_every) {
                            // Cut in the body, or after the request at one
                            // of a few delays: before, during or after the
                            // server's store calls.
                            let (cut, after) = match (sent / abandon_every) % 4 {
                                0 => (request.len() - 10, 0),
                                n => (request.len(), n - 1),
                            };
                            let _ = reader.get_mut().write_all(&request.as_bytes()[..cut]).await;
                            if after > 0 {
                                tokio::time::sleep(Duration::from_millis(after)).await;
                            }
                            load.abandoned += 1;
                            continue 'connection;
                        }
                        if reader
                            .get_mut()
                            .write_all(request.as_bytes())
                            .await
                            .is_err()
                        {
                            continue 'connection;
                        }
                        match read_answer(&mut reader).await {
                            Some(status) => *load.statuses.entry(status).or_default() += 1,
                            None => continue 'connection,
                        }
                    }
                    // Time is up: one last request, and away.
                    let _ = reader.get_mut().write_all(request.as_bytes()).await;
                    load.abandoned += 1;
                }
                load
            })
        })
        .collect();
    let mut total = Load::default();
    for task in tasks {
        total.merge(task.await.expect("a load task"));
    }
    total
}

/// One request from `from` on a connection of its own; its status and how
/// long the answer took, or `None` when none came within `limit`.
pub async fn timed(
    addr: SocketAddr,
    from: &str,
    request: &str,
    limit: Duration,
) -> Option<(u16, Duration)> {
    let started = Instant::now();
    let answered = tokio::time::timeout(limit, async {
        let mut reader = BufReader::new(connect(addr, from).await?);
        reader.get_mut().write_all(request.as_bytes()).await.ok()?;
        read_answer(&mut reader).await
    })
    .await
    .ok()
    .flatten()?;
    Some((answered, started.elapsed()))
}
