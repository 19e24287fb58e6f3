//! Any bytes as a KDC proxy request body ([MS-KKDCP] §2.2.2): the decoder never panics; what it
//! accepts has a realm of printable ASCII and a `kerb-message` that is a sub-slice of the input
//! whose 4-byte length is exact and which starts with an AS-REQ or TGS-REQ tag; and it
//! re-encodes to a message that decodes to the same request.
#![no_main]
use epa_server::internal::{KdcRequestKind, decode_request, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = decode_request(data) else {
        return;
    };
    assert!(!request.realm.is_empty());
    assert!(request.realm.bytes().all(|b| b.is_ascii_graphic()));
    let start = request.framed.as_ptr() as usize - data.as_ptr() as usize;
    assert!(start + request.framed.len() <= data.len());
    let (len, message) = request.framed.split_at(4);
    assert_eq!(
        u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize,
        message.len()
    );
    let tag = match request.kind {
        KdcRequestKind::AsReq => 0x6a,
        KdcRequestKind::TgsReq => 0x6c,
    };
    assert_eq!(message[0], tag);
    let again = encode(request.framed, Some(request.realm)).expect("re-encodes");
    assert_eq!(decode_request(&again).expect("decodes again"), request);
});
