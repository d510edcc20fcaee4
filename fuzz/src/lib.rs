//! What the fuzz targets share: the decoder harness, which reads a fuzz input as an HTTP
//! request in the form of the SDK wire captures (`tests/sdk/wire/*.http`), so the captures
//! are the seed corpus as they are and libFuzzer mutates real requests:
//!
//! ```text
//! METHOD PATH?QUERY            first line (a trailing " HTTP/1.1" is ignored)
//! Name: value                  headers: Content-Type, Content-Encoding, Authorization read
//! X-Fuzz-Gzip: 1               harness only: gzip the body and send it as Content-Encoding: gzip
//!                              (libFuzzer's mutations of a compressed body rarely survive
//!                              the CRC; this reaches the decoders behind decompression)
//!                              an empty line ends the head; the rest is the body, as sent
//! ```

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use vendorwall::event::Caps;
use vendorwall::protocol::{FailedRecord, HttpRequest, Method, Outcome, RequestLimits, Special, routes_for, wire};
use vendorwall::vendor::Vendor;

/// Small limits, so inputs of a few kilobytes reach every limit.
pub const LIMITS: RequestLimits = RequestLimits::new(256 << 10, 64, CAPS.max_properties);

pub const CAPS: Caps = Caps {
    max_depth: 10,
    max_properties: 64,
    max_string_bytes: 4096,
};

/// One request as the harness reads it from fuzz input.
pub struct Request<'a> {
    pub method: Method,
    pub path: Cow<'a, str>,
    pub query: Cow<'a, str>,
    pub content_type: Option<Cow<'a, str>>,
    pub content_encoding: Option<Cow<'a, str>>,
    pub authorization: Option<Cow<'a, str>>,
    pub gzip: bool,
    pub body: &'a [u8],
}

/// Reads `data` as a request (see the module's documentation). Never fails: whatever the
/// bytes, some request comes out, so every input exercises a decoder.
pub fn read_request(data: &[u8]) -> Request<'_> {
    let (head, body) = match memfind(data, b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &data[data.len()..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let mut words = first.splitn(3, |&b| b == b' ');
    let method = match words.next().unwrap_or_default() {
        b"GET" => Method::Get,
        b"POST" => Method::Post,
        b"OPTIONS" => Method::Options,
        _ => Method::Other,
    };
    let target = words.next().unwrap_or_default();
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (target, &target[target.len()..]),
    };
    let mut req = Request {
        method,
        path: String::from_utf8_lossy(path),
        query: String::from_utf8_lossy(query),
        content_type: None,
        content_encoding: None,
        authorization: None,
        gzip: false,
        body,
    };
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
        let value = &line[colon + 1..];
        let value = String::from_utf8_lossy(value.strip_prefix(b" ").unwrap_or(value));
        match name.as_str() {
            "content-type" => req.content_type = Some(value),
            "content-encoding" => req.content_encoding = Some(value),
            "authorization" => req.authorization = Some(value),
            "x-fuzz-gzip" => req.gzip = true,
            _ => {}
        }
    }
    req
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes `data` (a request, see [`read_request`]) with `vendor`'s decoder on the route its
/// path names, or on one of the vendor's routes picked by the path's length when it names
/// none, and answers it. Panics when an accepted record breaks the limits.
pub fn decode(vendor: Vendor, data: &[u8]) {
    let r = read_request(data);
    let protocol = vendor.protocol();
    let routes = protocol.routes();
    let route = routes_for(&r.path)
        .into_iter()
        .find(|(v, _)| *v == vendor)
        .map(|(_, route)| route)
        .unwrap_or(routes[r.path.len() % routes.len()]);

    let gzipped;
    let (body, encoding) = if r.gzip {
        gzipped = wire::gzip(r.body);
        (&gzipped[..], Some("gzip"))
    } else {
        (r.body, r.content_encoding.as_deref())
    };
    let req = HttpRequest {
        method: r.method,
        path: &r.path,
        query: &r.query,
        content_type: r.content_type.as_deref(),
        content_encoding: encoding,
        authorization: r.authorization.as_deref(),
        body,
        client_ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))),
        received_at_ms: 1_795_000_000_000,
    };

    // What the gateway does before reading a body it refuses as too large.
    let early = protocol.early_reply(route, &req);
    protocol.answer(&early, &Outcome::Busy);

    match protocol.decode(route, &req, &LIMITS, &CAPS) {
        Ok(inbound) => {
            assert!(
                inbound.records.len() <= LIMITS.max_records,
                "{} records accepted past the limit of {}",
                inbound.records.len(),
                LIMITS.max_records
            );
            let mut accepted = 0;
            let mut failed = Vec::new();
            for (index, record) in inbound.records.iter().enumerate() {
                match record {
                    Ok(record) => {
                        if let Err(e) = CAPS.check("properties", &record.event.properties) {
                            panic!("record {index} accepted past the caps: {e:?}");
                        }
                        accepted += 1;
                    }
                    Err(refused) => failed.push(FailedRecord {
                        index,
                        insert_id: refused.insert_id.clone(),
                        error: refused.error.clone(),
                    }),
                }
            }
            let outcome = match &inbound.special {
                Some(Special::Flags { .. }) => Outcome::Flags(protocol.no_flags()),
                _ => Outcome::Accepted { accepted, failed },
            };
            for outcome in [outcome, Outcome::Unauthorized, Outcome::Busy] {
                protocol.answer(&inbound.reply, &outcome);
            }
        }
        Err(e) => {
            protocol.answer(&early, &Outcome::Malformed(e));
        }
    }
}
