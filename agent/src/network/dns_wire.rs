//! The DNS wire format (RFC 1035), as much as the embedded responder needs: read a query's
//! header and single question, write a reply with A records or an error code.

use std::net::Ipv4Addr;

/// Record type A.
pub(crate) const TYPE_A: u16 = 1;
/// Record type ANY (answered with the A records).
pub(crate) const TYPE_ANY: u16 = 255;
/// Class IN.
pub(crate) const CLASS_IN: u16 = 1;

/// Response codes.
pub(crate) const NOERROR: u8 = 0;
pub(crate) const FORMERR: u8 = 1;
pub(crate) const SERVFAIL: u8 = 2;
pub(crate) const NXDOMAIN: u8 = 3;
pub(crate) const NOTIMP: u8 = 4;
pub(crate) const REFUSED: u8 = 5;

/// Seconds a client may cache an answer (short: containers come and go).
const TTL: u32 = 60;
const HEADER: usize = 12;
const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;

/// Why a packet is not a query we can answer.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("DNS packet shorter than its header ({0} bytes)")]
    Short(usize),
    #[error("DNS packet is a response, not a query")]
    NotAQuery,
    #[error("DNS query has {0} questions (1 expected)")]
    QuestionCount(u16),
    #[error("DNS question name is malformed at byte {0}")]
    BadName(usize),
    #[error("DNS question ends early")]
    Truncated,
}

/// A query's id, flags and its question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Query {
    pub id: u16,
    pub flags: u16,
    /// Lower case, without the trailing dot (`web`, `web.example.`-> `web.example`).
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// The question section as received (echoed in the reply).
    question: Vec<u8>,
}

impl Query {
    /// The query's opcode (0 = standard query).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]))
}

/// Parse a query with exactly one question (compression pointers are not allowed there).
pub(crate) fn parse_query(buf: &[u8]) -> Result<Query, WireError> {
    if buf.len() < HEADER {
        return Err(WireError::Short(buf.len()));
    }
    let id = u16_at(buf, 0).ok_or(WireError::Truncated)?;
    let flags = u16_at(buf, 2).ok_or(WireError::Truncated)?;
    if flags & FLAG_QR != 0 {
        return Err(WireError::NotAQuery);
    }
    let qdcount = u16_at(buf, 4).ok_or(WireError::Truncated)?;
    if qdcount != 1 {
        return Err(WireError::QuestionCount(qdcount));
    }
    let mut at = HEADER;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = *buf.get(at).ok_or(WireError::Truncated)? as usize;
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            return Err(WireError::BadName(at));
        }
        let label = buf.get(at + 1..at + 1 + len).ok_or(WireError::Truncated)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += 1 + len;
        if at - HEADER > 255 {
            return Err(WireError::BadName(at));
        }
    }
    let qtype = u16_at(buf, at).ok_or(WireError::Truncated)?;
    let qclass = u16_at(buf, at + 2).ok_or(WireError::Truncated)?;
    at += 4;
    Ok(Query {
        id,
        flags,
        name: labels.join("."),
        qtype,
        qclass,
        question: buf[HEADER..at].to_vec(),
    })
}

fn header(id: u16, query_flags: u16, rcode: u8, qd: u16, an: u16) -> Vec<u8> {
    let flags = FLAG_QR
        | (query_flags & 0x7800) // opcode
        | FLAG_AA
        | (query_flags & FLAG_RD)
        | FLAG_RA
        | u16::from(rcode & 0x0f);
    let mut out = Vec::with_capacity(64);
    for v in [id, flags, qd, an, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// The reply to `q`: `rcode` and one A record per address (name compressed to the question's).
pub(crate) fn reply(q: &Query, rcode: u8, addresses: &[Ipv4Addr]) -> Vec<u8> {
    let count = u16::try_from(addresses.len()).unwrap_or(u16::MAX);
    let mut out = header(q.id, q.flags, rcode, 1, count);
    out.extend_from_slice(&q.question);
    for ip in addresses.iter().take(usize::from(count)) {
        out.extend_from_slice(&[0xc0, HEADER as u8]); // pointer to the question's name
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// A bare error reply (no question) to a packet whose header could be read; `None` when not
/// even that (or when it is itself a response: never answer those).
pub(crate) fn error_reply(buf: &[u8], rcode: u8) -> Option<Vec<u8>> {
    let id = u16_at(buf, 0)?;
    let flags = u16_at(buf, 2)?;
    if buf.len() < HEADER || flags & FLAG_QR != 0 {
        return None;
    }
    Some(header(id, flags, rcode, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as `nslookup`/glibc send it.
    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [id, FLAG_RD, 1, 0, 0, 0] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        for label in name.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out
    }

    #[test]
    fn a_query_parses_and_the_reply_carries_the_address() {
        let packet = query(0x1234, "Web.", TYPE_A);
        let q = parse_query(&packet).unwrap();
        assert_eq!(
            (q.id, q.name.as_str(), q.qtype, q.qclass),
            (0x1234, "web", 1, 1)
        );
        assert_eq!(q.opcode(), 0);
        let r = reply(&q, NOERROR, &[Ipv4Addr::new(10, 9, 0, 2)]);
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        let flags = u16::from_be_bytes([r[2], r[3]]);
        assert!(flags & FLAG_QR != 0 && flags & FLAG_RD != 0 && flags & 0x0f == 0);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(
            &r[12..12 + packet.len() - 12],
            &packet[12..],
            "question echoed"
        );
        assert_eq!(&r[r.len() - 4..], &[10, 9, 0, 2]);
        assert_eq!(&r[r.len() - 16..r.len() - 14], &[0xc0, 12]);
    }

    #[test]
    fn empty_and_error_replies() {
        let q = parse_query(&query(7, "web.example.org", 28)).unwrap();
        assert_eq!(q.name, "web.example.org");
        let r = reply(&q, NXDOMAIN, &[]);
        assert_eq!(r[3] & 0x0f, NXDOMAIN);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
        let e = error_reply(&query(9, "x", 1)[..12], FORMERR).unwrap();
        assert_eq!((e.len(), e[3] & 0x0f), (12, FORMERR));
    }

    #[test]
    fn malformed_packets_are_refused() {
        assert_eq!(parse_query(&[0; 5]), Err(WireError::Short(5)));
        let mut p = query(1, "web", TYPE_A);
        p.truncate(p.len() - 3);
        assert_eq!(parse_query(&p), Err(WireError::Truncated));
        let mut p = query(1, "web", TYPE_A);
        p[5] = 2;
        assert_eq!(parse_query(&p), Err(WireError::QuestionCount(2)));
        let mut p = query(1, "web", TYPE_A);
        p[12] = 0xc0;
        assert!(matches!(parse_query(&p), Err(WireError::BadName(12))));
        let mut p = query(1, "web", TYPE_A);
        p[2] |= 0x80;
        assert_eq!(parse_query(&p), Err(WireError::NotAQuery));
        assert!(error_reply(&p, FORMERR).is_none());
    }
}
