//! A minimal WebSocket client for the load generator: the HTTP upgrade, masked text frames out,
//! unmasked frames in, parsed in place from one reusable buffer. The harness must cost less CPU
//! than the gateway it measures on the same two cores; a general client (tungstenite) allocates
//! per message and validates UTF-8, which at a million messages a second is a core of its own.
//! Not a general client: no TLS, no extensions, no fragmented messages (the gateway sends every
//! message in one frame), and the handshake's accept key is not verified.

use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest frame accepted from the gateway (its messages are a few KiB at most).
const MAX_FRAME: usize = 16 << 20;

pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;

/// One connected WebSocket.
#[derive(Debug)]
pub struct WsConn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl WsConn {
    /// Connects and upgrades `ws://addr{path}`; `buf_size` is the initial read buffer (it grows
    /// for a larger frame).
    pub async fn connect(addr: SocketAddr, path: &str, buf_size: usize) -> io::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: ZmVlZGdhdGUtYmVuY2gtMQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut buf = vec![0u8; buf_size.max(1024)];
        let mut end = 0;
        let head_len = loop {
            if end == buf.len() {
                return Err(bad("upgrade response too long"));
            }
            let n = stream.read(&mut buf[end..]).await?;
            if n == 0 {
                return Err(bad("connection closed during the upgrade"));
            }
            end += n;
            if let Some(i) = memchr::memmem::find(&buf[..end], b"\r\n\r\n") {
                break i + 4;
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            let line = String::from_utf8_lossy(&buf[..head_len.min(80)]).into_owned();
            return Err(bad(format!("upgrade refused: {line}")));
        }
        Ok(Self {
            stream,
            buf,
            start: head_len,
            end,
        })
    }

    /// Sends one masked text frame.
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send_frame(OP_TEXT, text.as_bytes()).await
    }

    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        // Clients must mask; a fixed key is enough for a benchmark on loopback.
        const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&KEY);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
        self.stream.write_all(&frame).await
    }

    /// Reads once from the socket (waiting if nothing is buffered) and hands every complete
    /// frame to `on_frame(opcode, payload)`. Answers pings. `Ok(false)`: the peer closed.
    pub async fn read_frames(&mut self, mut on_frame: impl FnMut(u8, &[u8])) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            // Make room: move the partial frame to the front, grow if it alone fills the buffer.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                let grown = self.buf.len() * 2;
                self.buf.resize(grown, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Ok(false);
        }
        self.end += n;
        let mut pings: Vec<Vec<u8>> = Vec::new();
        let mut open = true;
        while let Some((opcode, range, next)) = parse_header(&self.buf[self.start..self.end])? {
            let payload = &self.buf[self.start + range.0..self.start + range.1];
            match opcode {
                OP_PING => pings.push(payload.to_vec()),
                OP_CLOSE => open = false,
                _ => {}
            }
            on_frame(opcode, payload);
            self.start += next;
        }
        for p in pings {
            self.send_frame(0xA, &p).await?;
        }
        Ok(open)
    }

    /// Sends a close frame (best effort).
    pub async fn close(&mut self) {
        let _ = self.send_frame(OP_CLOSE, &1000u16.to_be_bytes()).await;
    }
}

/// Parses one frame header at the start of `b`: `(opcode, payload range, frame length)`, or
/// `None` when the frame is not complete yet.
#[allow(clippy::type_complexity)]
fn parse_header(b: &[u8]) -> io::Result<Option<(u8, (usize, usize), usize)>> {
    if b.len() < 2 {
        return Ok(None);
    }
    let opcode = b[0] & 0x0f;
    if b[1] & 0x80 != 0 {
        return Err(bad("the server masked a frame"));
    }
    let (len, header) = match b[1] & 0x7f {
        126 if b.len() < 4 => return Ok(None),
        126 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
        127 if b.len() < 10 => return Ok(None),
        127 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&b[2..10]);
            let len = usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX);
            (len, 10)
        }
        n => (usize::from(n), 2),
    };
    if len > MAX_FRAME {
        return Err(bad(format!("frame of {len} bytes")));
    }
    if b.len() < header + len {
        return Ok(None);
    }
    Ok(Some((opcode, (header, header + len), header + len)))
}

/// A well-behaved `/ws/market` client of `addr` until its connection ends: throttle 0, `symbols`
/// in quote mode, every text frame handed to `on_text` with the instant its read began; `Err`
/// says why it ended (it never ends otherwise).
pub async fn watch_quotes(
    addr: SocketAddr,
    symbols: &[String],
    mut on_text: impl FnMut(&[u8], std::time::Instant),
) -> io::Result<()> {
    let mut ws = WsConn::connect(addr, "/ws/market", 64 * 1024).await?;
    ws.send_text(r#"{"action":"options","throttle_ms":0}"#)
        .await?;
    let list = serde_json::to_string(symbols).unwrap_or_default();
    ws.send_text(&format!(
        r#"{{"action":"subscribe","symbols":{list},"mode":"quote"}}"#
    ))
    .await?;
    loop {
        let mut at: Option<std::time::Instant> = None;
        let mut closed = false;
        let open = ws
            .read_frames(|opcode, payload| {
                let at = *at.get_or_insert_with(std::time::Instant::now);
                match opcode {
                    OP_CLOSE => closed = true,
                    OP_TEXT => on_text(payload, at),
                    _ => {}
                }
            })
            .await?;
        if !open || closed {
            return Err(io::Error::other("closed by the gateway"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_each_length_form() {
        assert_eq!(parse_header(&[0x81]).unwrap(), None);
        assert_eq!(
            parse_header(&[0x81, 3, b'a', b'b', b'c', 0x81]).unwrap(),
            Some((OP_TEXT, (2, 5), 5))
        );
        assert_eq!(parse_header(&[0x81, 3, b'a']).unwrap(), None, "incomplete");
        let mut long = vec![0x82, 126, 0x01, 0x00];
        long.extend(std::iter::repeat_n(0u8, 256));
        assert_eq!(parse_header(&long).unwrap(), Some((0x2, (4, 260), 260)));
        assert!(parse_header(&[0x81, 0x83, 0, 0, 0, 0]).is_err(), "masked");
        let huge = [0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0];
        assert!(parse_header(&huge).is_err());
    }
}
