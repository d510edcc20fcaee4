//! The ledger's binary forms (`vendorwall::ledger::codec`): arbitrary bytes decode to a value
//! or an error, never a panic; and exposures and batches built from the input survive
//! encode → decode unchanged.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use vendorwall::ledger::codec::{EntryCode, batch_entries, decode_meta, encode_batch, encode_meta};
use vendorwall::ledger::{Exposure, LinkedId};

fn exposure(u: &mut Unstructured<'_>) -> Result<Exposure> {
    Ok(Exposure {
        source: u.arbitrary()?,
        subject_digest: u.arbitrary()?,
        subject_sealed: u.arbitrary()?,
        vendor_id: u.arbitrary()?,
        key_version: u.arbitrary()?,
        sent: u.arbitrary()?,
        pseudonymised: u.arbitrary()?,
        held_back: u.arbitrary()?,
        fields: u.arbitrary()?,
        event_time_ms: u.arbitrary()?,
        linked: u
            .arbitrary_iter::<(String, Option<String>)>()?
            .map(|l| l.map(|(digest, sealed)| LinkedId { digest, sealed }))
            .collect::<Result<_>>()?,
        contact_sealed: u.arbitrary()?,
        ..Exposure::default()
    })
}

fn entries(u: &mut Unstructured<'_>) -> Result<Vec<EntryCode>> {
    u.arbitrary_iter::<(u32, u32, u32, u32, u32, i64)>()?
        .map(|e| {
            e.map(|(subject, catset, fieldset, source, key_version, event_ms)| EntryCode {
                subject,
                catset,
                fieldset,
                source,
                key_version,
                event_ms,
            })
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        // Bytes as stored: an outbox row's meta (binary, or the JSON of earlier versions).
        0 => {
            if let Ok(x) = decode_meta(rest) {
                // What decodes encodes back to something that decodes to the same.
                assert_eq!(decode_meta(&encode_meta(&x)).ok(), Some(x));
            }
        }
        // Bytes as stored: a ledger batch body.
        1 => {
            if let Ok(e) = batch_entries(1_795_000_000_000, rest) {
                assert_eq!(
                    batch_entries(1_795_000_000_000, &encode_batch(1_795_000_000_000, &e)).ok(),
                    Some(e)
                );
            }
        }
        2 => {
            let Ok(x) = exposure(&mut Unstructured::new(rest)) else {
                return;
            };
            assert_eq!(decode_meta(&encode_meta(&x)).ok(), Some(x));
        }
        _ => {
            let mut u = Unstructured::new(rest);
            let (Ok(at), Ok(e)) = (u.arbitrary::<i64>(), entries(&mut u)) else {
                return;
            };
            assert_eq!(batch_entries(at, &encode_batch(at, &e)).ok(), Some(e));
        }
    }
});
