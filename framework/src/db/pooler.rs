//! `DATABASE_POOLER = "transaction"`: PostgreSQL behind a pooler in transaction mode (PgBouncer
//! before 1.21, or any pooler that lends a server connection one transaction at a time).
//!
//! sqlx, under sea-orm, prepares every statement under a name of its connection's own
//! (`sqlx_s_1`, `sqlx_s_2`, …) and prepares it and runs it in two round trips. Through such a
//! pooler the two may reach different server connections, where another client's `sqlx_s_1`
//! already exists or this one's does not. Django's answer for the same poolers is to stop using
//! server-side state (DISABLE_SERVER_SIDE_CURSORS); sqlx has no such switch, so this module
//! keeps server-side statements out of the way on the wire instead.
//!
//! It is a relay on the loopback interface between the pool and the pooler: each connection
//! sqlx opens to it is a connection to the pooler, byte for byte, except that named statements
//! never reach the server. A `Parse` of a named statement is sent as the unnamed statement (and
//! remembered); a `Bind` or `Describe` of it (or of the unnamed statement, which another
//! client may have replaced on that server connection) is preceded by a fresh `Parse` of the
//! unnamed statement in the same message batch, whose `ParseComplete` the relay keeps from the
//! client; a `Close` of it closes the unnamed one. Every batch then carries what it needs and ends at
//! its `Sync`, which is where a transaction-mode pooler may switch server connections. The
//! cost is one more parse per statement run, on the server, in the same round trip.
//!
//! The hop to the relay is plain TCP on the loopback; so is the relay's own hop to the pooler,
//! which therefore belongs on a private network (PgBouncer beside the function, or in its VPC).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};

/// The relays' messages (the frontend's `Parse`, `Bind`, …) as PostgreSQL's protocol names them.
const PARSE: u8 = b'P';
const BIND: u8 = b'B';
const DESCRIBE: u8 = b'D';
const CLOSE: u8 = b'C';
const SYNC: u8 = b'S';
const QUERY: u8 = b'Q';
const TERMINATE: u8 = b'X';
/// The backend's answers the relay reads.
const PARSE_COMPLETE: u8 = b'1';
const ERROR_RESPONSE: u8 = b'E';
const READY_FOR_QUERY: u8 = b'Z';

/// A message larger than this is refused rather than buffered (PostgreSQL's own limit on a
/// query's text is 1 GB).
const MAX_MESSAGE: usize = 1 << 30;

/// Starts a relay to the pooler at `upstream` (`host:port`) on a free loopback port, and
/// returns that port's address. It serves until the runtime it was started on stops; a
/// connection to the pooler that takes longer than `connect_timeout` is given up.
pub(crate) async fn start(upstream: String, connect_timeout: std::time::Duration) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let client = match listener.accept().await {
                Ok((client, _)) => client,
                Err(e) => {
                    // Out of file descriptors, say: the pool's connect fails and says so.
                    eprintln!("database pooler relay: could not accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Err(e) = relay(client, &upstream, connect_timeout).await {
                    eprintln!("database pooler relay: a connection to {upstream} ended: {e}");
                }
            });
        }
    });
    Ok(addr)
}

/// What the backend will answer, in the order the frontend's messages were sent: for each
/// `Parse`, whether its `ParseComplete` is the relay's own (to be kept from the client); and
/// each `Sync` (or simple query), which ends a batch with `ReadyForQuery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    ParseComplete { ours: bool },
    Ready,
}

type Expectations = Arc<Mutex<VecDeque<Expect>>>;

async fn relay(client: TcpStream, upstream: &str, connect_timeout: std::time::Duration) -> std::io::Result<()> {
    let server = tokio::time::timeout(connect_timeout, TcpStream::connect(upstream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the pooler did not answer"))??;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let expect: Expectations = Arc::default();
    let to_server = frontend(BufReader::new(client_read), BufWriter::new(server_write), expect.clone());
    let to_client = backend(BufReader::new(server_read), BufWriter::new(client_write), expect);
    // Either side closing ends the connection.
    tokio::select! {
        r = to_server => r,
        r = to_client => r,
    }
}

/// Reads one length-prefixed body (the length counts itself).
async fn read_body<R: AsyncRead + Unpin>(from: &mut R) -> std::io::Result<Vec<u8>> {
    let len = from.read_i32().await?;
    let len = usize::try_from(len)
        .ok()
        .filter(|n| (4..=MAX_MESSAGE).contains(n))
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a message of length {len}")))?;
    let mut body = vec![0; len - 4];
    from.read_exact(&mut body).await?;
    Ok(body)
}

async fn write_message<W: AsyncWrite + Unpin>(to: &mut W, kind: u8, body: &[u8]) -> std::io::Result<()> {
    let len = i32::try_from(body.len() + 4)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "a message too long to send"))?;
    to.write_u8(kind).await?;
    to.write_i32(len).await?;
    to.write_all(body).await
}

/// The next typed message from `from` (`None` once the peer has closed), after flushing what
/// was written to `to` when nothing more is waiting to be read: a batch goes out whole, and
/// nothing waits in the buffer while the relay waits for the peer.
async fn next_message<R, W>(from: &mut BufReader<R>, to: &mut W) -> std::io::Result<Option<(u8, Vec<u8>)>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if from.buffer().is_empty() {
        to.flush().await?;
    }
    let kind = match from.read_u8().await {
        Ok(kind) => kind,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some((kind, read_body(from).await?)))
}

/// The text of a NUL-terminated string at the start of `bytes`, and what follows it.
fn cstr(bytes: &[u8]) -> std::io::Result<(&[u8], &[u8])> {
    let end = bytes
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "a string without its end"))?;
    Ok((&bytes[..end], &bytes[end + 1..]))
}

/// The statements the client prepared, by name (the unnamed one under the empty name): the
/// `Parse` body that makes each the unnamed statement.
type Prepared = HashMap<Vec<u8>, Vec<u8>>;

/// The client's messages, on their way to the pooler.
async fn frontend<R, W>(mut from: BufReader<R>, mut to: W, expect: Expectations) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // The startup message has no type byte; what follows (authentication, then queries) does.
    let startup = read_body(&mut from).await?;
    let len = i32::try_from(startup.len() + 4).unwrap_or(i32::MAX);
    to.write_i32(len).await?;
    to.write_all(&startup).await?;
    to.flush().await?;

    let mut prepared = Prepared::new();
    // The statement the message just before parsed, if it was a `Parse`: the server's unnamed
    // statement is then already that one.
    let mut just_parsed: Option<Vec<u8>> = None;
    while let Some((kind, body)) = next_message(&mut from, &mut to).await? {
        let was_parsed = just_parsed.take();
        match kind {
            PARSE => {
                let (name, rest) = cstr(&body)?;
                let unnamed = [&[0u8][..], rest].concat();
                prepared.insert(name.to_vec(), unnamed.clone());
                just_parsed = Some(name.to_vec());
                push(&expect, Expect::ParseComplete { ours: false });
                write_message(&mut to, PARSE, &unnamed).await?;
            }
            BIND => {
                let (portal, rest) = cstr(&body)?;
                let (statement, params) = cstr(rest)?;
                // A name the client never prepared goes on as it is: the server says it does
                // not exist, rather than running whatever its unnamed statement holds.
                if !prepared.contains_key(statement) {
                    write_message(&mut to, BIND, &body).await?;
                    continue;
                }
                reparse(&mut to, &prepared, statement, was_parsed.as_deref(), &expect).await?;
                let bind = [portal, &[0u8, 0u8][..], params].concat();
                write_message(&mut to, BIND, &bind).await?;
            }
            DESCRIBE | CLOSE if body.first() == Some(&b'S') => {
                let (statement, _) = cstr(&body[1..])?;
                if kind == CLOSE {
                    prepared.remove(statement);
                    write_message(&mut to, kind, b"S\0").await?;
                    continue;
                }
                if !prepared.contains_key(statement) {
                    write_message(&mut to, kind, &body).await?;
                    continue;
                }
                reparse(&mut to, &prepared, statement, was_parsed.as_deref(), &expect).await?;
                write_message(&mut to, kind, b"S\0").await?;
            }
            SYNC | QUERY => {
                push(&expect, Expect::Ready);
                write_message(&mut to, kind, &body).await?;
            }
            TERMINATE => {
                write_message(&mut to, kind, &body).await?;
                to.flush().await?;
                return Ok(());
            }
            _ => write_message(&mut to, kind, &body).await?,
        }
    }
    Ok(())
}

/// Makes `statement` the unnamed statement again, unless the message just before did.
async fn reparse<W: AsyncWrite + Unpin>(
    to: &mut W,
    prepared: &Prepared,
    statement: &[u8],
    was_parsed: Option<&[u8]>,
    expect: &Expectations,
) -> std::io::Result<()> {
    if was_parsed == Some(statement) {
        return Ok(());
    }
    // The unnamed statement too: the pooler may have lent this batch a server connection whose
    // unnamed statement another client left there.
    if let Some(parse) = prepared.get(statement) {
        push(expect, Expect::ParseComplete { ours: true });
        write_message(to, PARSE, parse).await?;
    }
    Ok(())
}

fn push(expect: &Expectations, e: Expect) {
    expect.lock().unwrap_or_else(|p| p.into_inner()).push_back(e);
}

/// The pooler's answers, on their way to the client, less the relay's own `ParseComplete`s.
async fn backend<R, W>(mut from: BufReader<R>, mut to: W, expect: Expectations) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while let Some((kind, body)) = next_message(&mut from, &mut to).await? {
        if answered(&expect, kind) {
            write_message(&mut to, kind, &body).await?;
        }
    }
    Ok(())
}

/// Notes the backend's message `kind` against what was expected, and says whether it goes on
/// to the client (not when it answers a parse of the relay's own).
fn answered(expect: &Expectations, kind: u8) -> bool {
    let mut pending = expect.lock().unwrap_or_else(|p| p.into_inner());
    match kind {
        PARSE_COMPLETE => {
            if let Some(Expect::ParseComplete { ours }) = pending.front().copied() {
                pending.pop_front();
                return !ours;
            }
        }
        // After an error the server skips the batch's messages up to its Sync: the parses
        // among them are answered by nothing.
        ERROR_RESPONSE => {
            while let Some(Expect::ParseComplete { .. }) = pending.front() {
                pending.pop_front();
            }
        }
        READY_FOR_QUERY => {
            while let Some(e) = pending.pop_front() {
                if e == Expect::Ready {
                    break;
                }
            }
        }
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::cstr;

    #[test]
    fn strings_end_at_their_nul() {
        assert_eq!(cstr(b"sqlx_s_1\0SELECT 1\0").unwrap(), (&b"sqlx_s_1"[..], &b"SELECT 1\0"[..]));
        assert_eq!(cstr(b"\0rest").unwrap(), (&b""[..], &b"rest"[..]));
        assert!(cstr(b"no end").is_err());
    }
}
