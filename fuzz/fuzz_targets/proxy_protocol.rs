//! Any bytes as the start of a connection from a peer in `[listener] proxy_protocol_from`
//! (proxy-protocol.txt v1 and v2): the header reader never panics and never waits on bytes in
//! memory; what it accepts is exactly the header's bytes — the rest (the TLS stream) is left
//! whole — within its bounds (v1 ≤ 107 bytes ending in CRLF, v2 ≤ 16 + 512); the result does
//! not depend on how the bytes are split into segments; and an accepted header is also what
//! the unlisted-peer check recognises as one. The first byte picks the segment size.
#![no_main]
use epa_server::server::proxy_protocol::{
    ChunkedBytes, ProxyHeader, ProxyHeaderError, V1_MAX, V2_MAX_PAYLOAD, V2_SIGNATURE, Version,
    looks_like_header, read_header,
};
use libfuzzer_sys::fuzz_target;
use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Polls once: bytes in memory are always ready, so the reader must finish.
fn now<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the reader waited on bytes in memory"),
    }
}

fn read(input: &[u8], chunk: usize) -> (Result<ProxyHeader, ProxyHeaderError>, Vec<u8>) {
    let mut source = ChunkedBytes::new(input.to_vec(), chunk);
    let got = now(read_header(&mut source));
    (got, source.rest().to_vec())
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 32) + 1;
    let (got, rest) = read(input, chunk);
    let (whole, whole_rest) = read(input, 1 << 16);
    assert_eq!(format!("{got:?}"), format!("{whole:?}"), "chunk {chunk}");
    let Ok(header) = got else {
        return;
    };
    assert_eq!(rest, whole_rest);
    assert_eq!(&input[header.length..], &rest[..], "exactly the header was taken");
    let bytes = &input[..header.length];
    match header.version {
        Version::V1 => {
            assert!(header.length <= V1_MAX);
            assert!(bytes.starts_with(b"PROXY ") && bytes.ends_with(b"\r\n"));
            assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
        }
        Version::V2 => {
            assert!(header.length <= 16 + V2_MAX_PAYLOAD);
            assert!(bytes.starts_with(&V2_SIGNATURE));
            let announced = u16::from_be_bytes([bytes[14], bytes[15]]);
            assert_eq!(usize::from(announced) + 16, header.length);
        }
    }
    let mut source = ChunkedBytes::new(input.to_vec(), 1 << 16);
    assert!(now(looks_like_header(&mut source)).expect("in memory"));
});
