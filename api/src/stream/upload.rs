//! Request bodies streamed into the engine as an `AsyncRead`, with one courtesy: when the engine
//! stops reading early (it refused the upload), the rest of the body is read and discarded before
//! the error is answered. A client still writing its upload would otherwise hit a broken pipe
//! and never see the error message (the docker CLI prints `write: broken pipe`).

use std::pin::Pin;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::io::StreamReader;

/// Chunks buffered between the connection and the engine.
const BUFFERED_CHUNKS: usize = 8;

/// The pump that feeds an upload to its reader; await [`Upload::finish`] before answering.
pub struct Upload {
    pump: JoinHandle<u64>,
}

impl Upload {
    /// Wait until the whole request body has been read (fed to the reader, or discarded once
    /// the reader was dropped). Returns how many bytes were discarded.
    pub async fn finish(self) -> u64 {
        self.pump.await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "upload pump task failed");
            0
        })
    }
}

/// Split `body` into a reader for the engine and the [`Upload`] that drains what it leaves.
pub fn stream_body(body: Body) -> (Pin<Box<dyn AsyncRead + Send>>, Upload) {
    let (tx, mut rx) = mpsc::channel::<std::io::Result<Bytes>>(BUFFERED_CHUNKS);
    let pump = tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut sink = Some(tx);
        let mut discarded = 0u64;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => match &sink {
                    Some(tx) => {
                        let len = bytes.len() as u64;
                        if tx.send(Ok(bytes)).await.is_err() {
                            // The reader is gone: from here on, drain.
                            sink = None;
                            discarded += len;
                        }
                    }
                    None => discarded += bytes.len() as u64,
                },
                Err(e) => {
                    if let Some(tx) = &sink {
                        let _ = tx.send(Err(std::io::Error::other(e))).await;
                    }
                    break;
                }
            }
        }
        discarded
    });
    let chunks = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (Box::pin(StreamReader::new(chunks)), Upload { pump })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reader_sees_the_whole_body() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"world")),
        ];
        let (mut reader, upload) = stream_body(Body::from_stream(futures::stream::iter(chunks)));
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "hello world");
        drop(reader);
        assert_eq!(upload.finish().await, 0);
    }

    #[tokio::test]
    async fn what_the_reader_leaves_is_drained() {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            (0..100).map(|_| Ok(Bytes::from(vec![0u8; 1000]))).collect();
        let (mut reader, upload) = stream_body(Body::from_stream(futures::stream::iter(chunks)));
        let mut first = [0u8; 10];
        reader.read_exact(&mut first).await.unwrap();
        drop(reader);
        let discarded = upload.finish().await;
        assert!(
            discarded > 0 && discarded < 100_000,
            "discarded {discarded}"
        );
    }
}
