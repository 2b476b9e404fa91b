//! RESP: the streaming request parser and the RESP2/RESP3 reply encoder.
//!
//! ## Requests
//! A request is either a RESP array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`)
//! or an *inline command*: one line of words separated by spaces, ended by
//! `\n` (an `\r` before it is dropped), with `"..."` (C escapes) and `'...'`
//! quoting as `redis-cli` and `telnet` users send. Empty requests (`*0`,
//! `*-1`, blank lines) are skipped, as Redis does.
//!
//! [`RequestParser`] consumes bytes from the front of a buffer as the parts
//! of a request complete and keeps its progress between calls, so a request
//! split at any byte parses exactly as if it came in one piece, and a large
//! request arriving slowly is scanned once. It never panics; every limit
//! ([`ParseLimits`]) is checked before memory is committed to it. A
//! [`ParseError`] means the byte stream cannot be trusted any more: the
//! connection replies with the error and closes.
//!
//! ## Replies
//! [`encode`] writes a [`Reply`] as RESP2 (the default) or RESP3 (after
//! `HELLO 3`), which differ only in nil (`$-1`/`*-1` vs `_`) and maps (flat
//! arrays vs `%`).

use bytes::{Buf, BufMut, BytesMut};

use crate::ops::Reply;

/// Limits on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most bytes of one request (headers and arguments).
    pub max_request: usize,
    /// Most arguments in one request.
    pub max_args: usize,
    /// Longest bulk string argument.
    pub max_bulk: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_request: 512 * 1024 * 1024,
            max_args: 1024 * 1024,
            max_bulk: 512 * 1024 * 1024,
        }
    }
}

/// Longest inline command line (Redis: 64 KiB).
pub const MAX_INLINE: usize = 64 * 1024;
/// Longest `*N` / `$N` header line, CRLF excluded.
const MAX_HEADER: usize = 32;

/// A request that cannot be parsed or exceeds a limit; the connection
/// replies `-ERR <message>` and closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn perr<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(format!("Protocol error: {}", msg.into())))
}

/// Where a multibulk request is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// At the start of a request.
    Start,
    /// Inside `*N`: `remaining` arguments to go; `bulk` is the length of the
    /// argument whose `$len` header was read.
    Array {
        remaining: usize,
        bulk: Option<usize>,
    },
}

/// The streaming request parser of one connection.
#[derive(Debug, Clone)]
pub struct RequestParser {
    limits: ParseLimits,
    state: State,
    args: Vec<Vec<u8>>,
    /// Bytes of the current request consumed so far.
    size: usize,
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: ParseLimits) -> Self {
        Self {
            limits,
            state: State::Start,
            args: Vec::new(),
            size: 0,
        }
    }

    /// How many more bytes the request in progress certainly needs (a hint
    /// for reserving buffer room); 0 if unknown.
    pub fn wanted(&self) -> usize {
        match self.state {
            State::Array {
                bulk: Some(len), ..
            } => len + 2,
            _ => 0,
        }
    }

    /// Parses the next complete request from the front of `buf`, consuming
    /// its bytes. `Ok(None)`: more bytes are needed (what was complete is
    /// consumed and remembered).
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Vec<u8>>>, ParseError> {
        loop {
            match self.state {
                State::Start => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if first == b'*' {
                        let Some(n) = self.header(buf, b'*')? else {
                            return Ok(None);
                        };
                        if n <= 0 {
                            self.reset();
                            continue;
                        }
                        let n = n as usize;
                        if n > self.limits.max_args {
                            return perr(format!(
                                "too many arguments ({n}, the limit is {})",
                                self.limits.max_args
                            ));
                        }
                        // Reserve modestly: the count is not yet backed by bytes.
                        self.args = Vec::with_capacity(n.min(1024));
                        self.state = State::Array {
                            remaining: n,
                            bulk: None,
                        };
                    } else {
                        let Some(args) = self.inline(buf)? else {
                            return Ok(None);
                        };
                        self.reset();
                        if args.is_empty() {
                            continue;
                        }
                        return Ok(Some(args));
                    }
                }
                State::Array {
                    remaining,
                    bulk: None,
                } => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if first != b'$' {
                        return perr(format!("expected '$', got '{}'", printable(first)));
                    }
                    let Some(len) = self.header(buf, b'$')? else {
                        return Ok(None);
                    };
                    if len < 0 || len as u64 > self.limits.max_bulk as u64 {
                        return perr(format!(
                            "invalid bulk length {len} (the limit is {})",
                            self.limits.max_bulk
                        ));
                    }
                    let len = len as usize;
                    self.grow(len + 2)?;
                    self.state = State::Array {
                        remaining,
                        bulk: Some(len),
                    };
                }
                State::Array {
                    remaining,
                    bulk: Some(len),
                } => {
                    if buf.len() < len + 2 {
                        return Ok(None);
                    }
                    if &buf[len..len + 2] != b"\r\n" {
                        return perr("bulk string not followed by CRLF");
                    }
                    let arg = buf.split_to(len).to_vec();
                    buf.advance(2);
                    self.args.push(arg);
                    if remaining == 1 {
                        let args = std::mem::take(&mut self.args);
                        self.reset();
                        return Ok(Some(args));
                    }
                    self.state = State::Array {
                        remaining: remaining - 1,
                        bulk: None,
                    };
                }
            }
        }
    }

    fn reset(&mut self) {
        self.state = State::Start;
        self.args = Vec::new();
        self.size = 0;
    }

    /// Counts `n` more bytes against the request size limit.
    fn grow(&mut self, n: usize) -> Result<(), ParseError> {
        self.size = self.size.saturating_add(n);
        if self.size > self.limits.max_request {
            return perr(format!(
                "request larger than the limit of {} bytes",
                self.limits.max_request
            ));
        }
        Ok(())
    }

    /// Reads a `<kind><integer>\r\n` header line; `None` if incomplete.
    fn header(&mut self, buf: &mut BytesMut, kind: u8) -> Result<Option<i64>, ParseError> {
        let window = &buf[..buf.len().min(MAX_HEADER + 2)];
        let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
            if buf.len() >= MAX_HEADER + 2 {
                return perr(format!("{} header too long", printable(kind)));
            }
            return Ok(None);
        };
        let Some(n) = parse_int(&buf[1..end]) else {
            return perr(if kind == b'*' {
                "invalid multibulk length"
            } else {
                "invalid bulk length"
            });
        };
        self.grow(end + 2)?;
        buf.advance(end + 2);
        Ok(Some(n))
    }

    /// Reads an inline command line; `None` if incomplete.
    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Vec<u8>>>, ParseError> {
        let window = &buf[..buf.len().min(MAX_INLINE + 1)];
        let Some(nl) = window.iter().position(|&b| b == b'\n') else {
            if buf.len() > MAX_INLINE {
                return perr("too big inline request");
            }
            return Ok(None);
        };
        let mut line = &buf[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        let args = split_args(line)?;
        if args.len() > self.limits.max_args {
            return perr("too many arguments");
        }
        self.grow(nl + 1)?;
        buf.advance(nl + 1);
        Ok(Some(args))
    }
}

fn printable(b: u8) -> String {
    if b.is_ascii_graphic() {
        (b as char).to_string()
    } else {
        format!("\\x{b:02x}")
    }
}

/// Strict decimal integer (optional `-`), as in RESP headers.
fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = v * 10 + i64::from(d - b'0');
    }
    Some(if neg { -v } else { v })
}

/// Splits an inline command line like Redis's `sdssplitargs`: words
/// separated by whitespace, `"..."` with `\n \r \t \b \a \\ \" \xHH`
/// escapes, `'...'` with `\'`. A closing quote must be followed by a space
/// or the end.
pub fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, ParseError> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == n {
            return Ok(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i == n {
                    return perr("unbalanced quotes in request");
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3]))
                {
                    cur.push(h * 16 + l);
                    i += 4;
                    continue;
                }
                if c == b'\\' && i + 1 < n {
                    cur.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return perr("unbalanced quotes in request");
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                    i += 1;
                }
            } else if in_sq {
                if i == n {
                    return perr("unbalanced quotes in request");
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 2;
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return perr("unbalanced quotes in request");
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                    i += 1;
                }
            } else {
                if i == n {
                    break;
                }
                match line[i] {
                    c if c.is_ascii_whitespace() => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        args.push(cur);
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The protocol version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2 (the default).
    #[default]
    Resp2,
    /// RESP3 (after `HELLO 3`).
    Resp3,
}

/// Appends `reply` to `out` in `proto`.
pub fn encode(reply: &Reply, proto: Protocol, out: &mut BytesMut) {
    match reply {
        Reply::Nil => match proto {
            Protocol::Resp2 => out.put_slice(b"$-1\r\n"),
            Protocol::Resp3 => out.put_slice(b"_\r\n"),
        },
        Reply::NilArray => match proto {
            Protocol::Resp2 => out.put_slice(b"*-1\r\n"),
            Protocol::Resp3 => out.put_slice(b"_\r\n"),
        },
        Reply::Int(n) => line(out, b':', n.to_string().as_bytes()),
        Reply::Simple(s) => line(out, b'+', clean(s).as_bytes()),
        Reply::Error(s) => line(out, b'-', clean(s).as_bytes()),
        Reply::Bulk(b) => {
            line(out, b'$', b.len().to_string().as_bytes());
            out.put_slice(b);
            out.put_slice(b"\r\n");
        }
        Reply::Array(items) => {
            line(out, b'*', items.len().to_string().as_bytes());
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Map(pairs) => {
            match proto {
                Protocol::Resp2 => line(out, b'*', (pairs.len() * 2).to_string().as_bytes()),
                Protocol::Resp3 => line(out, b'%', pairs.len().to_string().as_bytes()),
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
    }
}

fn line(out: &mut BytesMut, kind: u8, body: &[u8]) {
    out.reserve(body.len() + 3);
    out.put_u8(kind);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

/// Simple strings and errors must not contain CR or LF.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\r', '\n']) {
        s.replace(['\r', '\n'], " ").into()
    } else {
        s.into()
    }
}

/// Parses everything in `input` as a connection would: all requests up to
/// the first error. For fuzzing and tests.
pub fn parse_all(input: &[u8], limits: ParseLimits) -> (Vec<Vec<Vec<u8>>>, Option<ParseError>) {
    let mut parser = RequestParser::new(limits);
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    loop {
        match parser.parse(&mut buf) {
            Ok(Some(args)) => out.push(args),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Parses `input` fed in two pieces split at `at`, as a connection receiving
/// it in two reads would. The result must equal [`parse_all`]'s.
pub fn parse_split(
    input: &[u8],
    at: usize,
    limits: ParseLimits,
) -> (Vec<Vec<Vec<u8>>>, Option<ParseError>) {
    let at = at.min(input.len());
    let mut parser = RequestParser::new(limits);
    let mut buf = BytesMut::from(&input[..at]);
    let mut out = Vec::new();
    let mut fed_rest = false;
    loop {
        match parser.parse(&mut buf) {
            Ok(Some(args)) => out.push(args),
            Ok(None) if !fed_rest => {
                buf.extend_from_slice(&input[at..]);
                fed_rest = true;
            }
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// The fuzz check: parsing never panics, and splitting the input at any
/// byte gives the same requests and the same error.
pub fn fuzz_check(input: &[u8]) {
    let limits = ParseLimits {
        max_request: 4096,
        max_args: 64,
        max_bulk: 1024,
    };
    let whole = parse_all(input, limits);
    for at in 0..=input.len() {
        let split = parse_split(input, at, limits);
        assert_eq!(split, whole, "split at {at} differs");
    }
    // Every reply encodes without panicking, in both protocols.
    let mut out = BytesMut::new();
    for args in &whole.0 {
        let reply = Reply::Array(args.iter().cloned().map(Reply::Bulk).collect());
        encode(&reply, Protocol::Resp2, &mut out);
        encode(&reply, Protocol::Resp3, &mut out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn all(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<ParseError>) {
        parse_all(input, ParseLimits::default())
    }

    #[test]
    fn multibulk_and_inline() {
        let (reqs, err) = all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\\n\" 'it\\'s'\n");
        assert_eq!(err, None);
        assert_eq!(
            reqs,
            vec![
                args(&["GET", "k"]),
                args(&["PING"]),
                args(&["set", "a", "b c\n", "it's"])
            ]
        );
    }

    #[test]
    fn empty_requests_are_skipped() {
        let (reqs, err) = all(b"*0\r\n*-1\r\n\r\n   \n*1\r\n$0\r\n\r\n");
        assert_eq!(err, None);
        assert_eq!(reqs, vec![vec![Vec::<u8>::new()]]);
    }

    #[test]
    fn incomplete_waits() {
        for input in [
            &b"*2\r\n$3\r\nGET\r\n$1\r\nk"[..],
            b"*2\r",
            b"*2\r\n$3\r\nGE",
            b"PING",
        ] {
            assert_eq!(all(input), (vec![], None), "{input:?}");
        }
    }

    #[test]
    fn errors() {
        let cases: &[&[u8]] = &[
            b"*2\r\n+GET\r\n",
            b"*x\r\n",
            b"*1\r\n$-5\r\n",
            b"*1\r\n$3\r\nGETX\r\n",
            b"*99999999999999999999\r\n",
            b"*1\r\n$1099511627776\r\n",
            b"set a \"b\n",
            b"set a \"b\"c\n",
        ];
        for input in cases {
            let (_, err) = all(input);
            assert!(err.is_some(), "{input:?}");
            assert!(err.unwrap().0.starts_with("Protocol error"));
        }
        let limits = ParseLimits {
            max_request: 100,
            max_args: 2,
            max_bulk: 10,
        };
        assert!(parse_all(b"*3\r\n", limits).1.is_some());
        assert!(parse_all(b"*1\r\n$11\r\n", limits).1.is_some());
        assert!(
            parse_all(b"*2\r\n$10\r\n0123456789\r\n$10\r\n", limits)
                .1
                .is_none()
        );
        let big = format!(
            "*2\r\n$10\r\n{}\r\n$10\r\n{}\r\n",
            "a".repeat(10),
            "b".repeat(10)
        );
        assert!(
            parse_all(
                big.as_bytes(),
                ParseLimits {
                    max_request: 30,
                    ..limits
                }
            )
            .1
            .is_some()
        );
        assert!(all(&vec![b'a'; MAX_INLINE + 1]).1.is_some());
        assert!(all(&[b'*'; 40]).1.is_some());
    }

    #[test]
    fn split_anywhere_is_the_same() {
        let inputs: &[&[u8]] = &[
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
            b"*1\r\n$3\r\nGETX\r\n",
            b"set a \"b c\" d\r\nget a\n",
        ];
        for input in inputs {
            fuzz_check(input);
        }
    }

    #[test]
    fn encodes_both_protocols() {
        let reply = Reply::Array(vec![
            Reply::Nil,
            Reply::Int(-3),
            Reply::bulk("hi"),
            Reply::ok(),
            Reply::error("ERR x\ny"),
            Reply::Map(vec![(Reply::bulk("k"), Reply::Int(1))]),
            Reply::NilArray,
        ]);
        let mut out = BytesMut::new();
        encode(&reply, Protocol::Resp2, &mut out);
        assert_eq!(
            &out[..],
            b"*7\r\n$-1\r\n:-3\r\n$2\r\nhi\r\n+OK\r\n-ERR x y\r\n*2\r\n$1\r\nk\r\n:1\r\n*-1\r\n"
        );
        let mut out = BytesMut::new();
        encode(&reply, Protocol::Resp3, &mut out);
        assert_eq!(
            &out[..],
            b"*7\r\n_\r\n:-3\r\n$2\r\nhi\r\n+OK\r\n-ERR x y\r\n%1\r\n$1\r\nk\r\n:1\r\n_\r\n"
        );
    }
}
