//! ID-card parse time once the bytes are in: frame decode + text/photo parse of a full
//! 1295-byte read answer. Target: ≤ 1 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::hint::black_box;
use std::time::{Duration, Instant};

use expo_hardware::idcard::frame::{FrameDecoder, Response};
use expo_hardware::idcard::{sample_resident_card, IdCard};

fn main() {
    let data = sample_resident_card().to_read_data().expect("sample card encodes");
    let frame = Response::encode(0x90, &data).expect("frame fits");
    assert_eq!(frame.len(), 1295, "a text+photo answer is 1295 bytes");
    let mut samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let started = Instant::now();
            let mut decoder = FrameDecoder::new();
            // Real answers arrive in USB-CDC sized pieces.
            for chunk in black_box(&frame).chunks(64) {
                decoder.push(chunk);
            }
            let body = decoder.next_frame().expect("one frame").expect("valid frame");
            let response = Response::from_body(&body).expect("status word");
            let card = IdCard::from_read_data(&response.data).expect("card parses");
            black_box(card);
            started.elapsed()
        })
        .collect();
    samples.sort_unstable();
    let median = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    println!("idcard parse (1295-byte answer, 64-byte reads): median {median:?}, p99 {p99:?} (target <= 1 ms)");
}
