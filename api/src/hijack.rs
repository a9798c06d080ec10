//! Connection hijacking for `attach`: answer `101 UPGRADED`, then the connection is a raw
//! bidirectional byte pipe: container output goes out framed (see [`crate::stream::mux`]), and
//! what the client writes is the container's stdin.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use strata_agent::containers::handles::Attachment;
use strata_agent::model::StdStream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::stream::detach::{DetachScanner, Scanned, DEFAULT_DETACH_KEYS};
use crate::stream::mux::Framing;

/// Size of one stdin read.
const STDIN_CHUNK: usize = 32 * 1024;

/// Whether the client asked to upgrade the connection (`Connection: Upgrade` + `Upgrade: tcp`).
pub fn wants_upgrade(req: &Request) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has_token(header::CONNECTION, "upgrade") && req.headers().contains_key(header::UPGRADE)
}

/// Hijack the connection of `req` and pipe `attachment` through it. Returns the `101` response;
/// the piping runs in a task once hyper hands the connection over.
pub fn upgrade_and_pipe(req: &mut Request, attachment: Attachment, id: String) -> Response {
    upgrade_and_pipe_detachable(req, attachment, id, DEFAULT_DETACH_KEYS.to_vec())
}

/// [`upgrade_and_pipe`] with the detach sequence `detach_keys` (used only with a tty, as
/// Docker; empty: never detach).
pub fn upgrade_and_pipe_detachable(
    req: &mut Request,
    attachment: Attachment,
    id: String,
    detach_keys: Vec<u8>,
) -> Response {
    let framing = Framing::for_tty(attachment.tty);
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                pipe_detachable(TokioIo::new(upgraded), attachment, framing, detach_keys).await;
                tracing::debug!(container = %id, "attach connection finished");
            }
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "attach: connection upgrade failed")
            }
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(framing.content_type()),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    response
}

/// For clients that did not ask for an upgrade: a plain 200 whose streamed body is the output
/// (no stdin), framed the same way.
pub fn output_only_response(attachment: Attachment) -> Response {
    let framing = Framing::for_tty(attachment.tty);
    let output = tokio_stream_of(attachment.output)
        .filter_map(move |(stream, bytes)| {
            let frame = framing.encode(stream, &bytes);
            async move { (!frame.is_empty()).then_some(Ok::<_, std::convert::Infallible>(frame)) }
        })
        .boxed();
    let mut response = Response::new(Body::from_stream(output));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(framing.content_type()),
    );
    response
}

fn tokio_stream_of(
    mut rx: mpsc::Receiver<(StdStream, Bytes)>,
) -> impl futures::Stream<Item = (StdStream, Bytes)> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Pump output to the client until the container's output ends, feeding what the client sends
/// into stdin meanwhile; then close our write side. With a tty, the default detach keys
/// (`ctrl-p,ctrl-q`) end the client's stdin.
pub async fn pipe<IO>(io: IO, attachment: Attachment, framing: Framing)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    pipe_detachable(io, attachment, framing, DEFAULT_DETACH_KEYS.to_vec()).await
}

/// [`pipe`] with the detach sequence `detach_keys`. Typing it ends the client's stdin as if it
/// had closed it, without passing the sequence on; with a tty the engine then ends the
/// attachment and leaves the container's stdin open (Docker's detach). Without a tty the keys
/// are ordinary input, as with Docker.
pub async fn pipe_detachable<IO>(
    io: IO,
    attachment: Attachment,
    framing: Framing,
    detach_keys: Vec<u8>,
) where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let keys = if attachment.tty {
        detach_keys
    } else {
        Vec::new()
    };
    let Attachment { output, input, .. } = attachment;
    let (reader, mut writer) = tokio::io::split(io);
    let stdin_task = input.map(|tx| tokio::spawn(copy_stdin(reader, tx, DetachScanner::new(keys))));

    let mut output = output;
    while let Some((stream, bytes)) = output.recv().await {
        let frame = framing.encode(stream, &bytes);
        if frame.is_empty() {
            continue;
        }
        if let Err(e) = write_frame(&mut writer, &frame).await {
            tracing::debug!(error = %e, "attach: client went away");
            break;
        }
    }
    if let Err(e) = writer.shutdown().await {
        tracing::debug!(error = %e, "attach: closing the write side");
    }
    // Output is over (the container is gone, or the client is): stop reading its stdin.
    if let Some(task) = stdin_task {
        task.abort();
    }
}

async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) -> std::io::Result<()> {
    writer.write_all(frame).await?;
    writer.flush().await
}

/// Copy the client's bytes into the container's stdin until the client closes its write side
/// or types the detach sequence (then dropping the sender ends its stdin) or the container stops
/// taking input.
async fn copy_stdin<R: AsyncRead + Unpin>(
    mut reader: R,
    tx: mpsc::Sender<Bytes>,
    mut detach: DetachScanner,
) {
    let mut buf = vec![0u8; STDIN_CHUNK];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => {
                let held = detach.finish();
                if !held.is_empty() {
                    let _ = tx.send(Bytes::from(held)).await;
                }
                break;
            }
            Ok(n) => {
                let (data, detached) = match detach.feed(&buf[..n]) {
                    Scanned::Pass(data) => (data, false),
                    Scanned::Detach(data) => (data, true),
                };
                if !data.is_empty() && tx.send(Bytes::from(data)).await.is_err() {
                    break;
                }
                if detached {
                    tracing::debug!("attach: the client typed the detach keys");
                    break;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "attach: reading stdin from the client");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::mux::decode_frames;

    #[tokio::test]
    async fn pipe_multiplexes_output_feeds_stdin_and_closes() {
        let (out_tx, out_rx) = mpsc::channel(8);
        let (in_tx, mut in_rx) = mpsc::channel(8);
        let attachment = Attachment {
            tty: false,
            output: out_rx,
            input: Some(in_tx),
        };
        let (client, server) = tokio::io::duplex(1024);
        let pump = tokio::spawn(pipe(server, attachment, Framing::Multiplexed));
        let (mut client_rd, mut client_wr) = tokio::io::split(client);

        client_wr.write_all(b"hello\n").await.unwrap();
        assert_eq!(&in_rx.recv().await.unwrap()[..], b"hello\n");
        client_wr.shutdown().await.unwrap();
        assert!(
            in_rx.recv().await.is_none(),
            "stdin closes when the client half-closes"
        );

        out_tx
            .send((StdStream::Stdout, Bytes::from_static(b"out\n")))
            .await
            .unwrap();
        out_tx
            .send((StdStream::Stderr, Bytes::from_static(b"err\n")))
            .await
            .unwrap();
        drop(out_tx);
        let mut wire = Vec::new();
        client_rd.read_to_end(&mut wire).await.unwrap();
        pump.await.unwrap();
        let (frames, used) = decode_frames(&wire);
        assert_eq!(used, wire.len());
        assert_eq!(frames, vec![(1, b"out\n".to_vec()), (2, b"err\n".to_vec())]);
    }

    #[tokio::test]
    async fn tty_output_is_raw() {
        let (out_tx, out_rx) = mpsc::channel(8);
        let attachment = Attachment {
            tty: true,
            output: out_rx,
            input: None,
        };
        let (mut client, server) = tokio::io::duplex(1024);
        let pump = tokio::spawn(pipe(server, attachment, Framing::Raw));
        out_tx
            .send((StdStream::Stdout, Bytes::from_static(b"a")))
            .await
            .unwrap();
        out_tx
            .send((StdStream::Stderr, Bytes::from_static(b"b")))
            .await
            .unwrap();
        drop(out_tx);
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).await.unwrap();
        pump.await.unwrap();
        assert_eq!(wire, b"ab");
    }
}
