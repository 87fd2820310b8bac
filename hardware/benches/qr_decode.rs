//! QR decoder comparison on a generated camera-like corpus (1280 × 720).
//!
//! Writes the corpus as PNG files plus `manifest.tsv` (file, expected text) so
//! `benches/zxing_cpp_bench.py` can decode the very same frames, then prints success rate and
//! median / p90 ms per frame for each engine. Settings: `QR_CORPUS_SIZE` (default 300),
//! `QR_CORPUS_SEED` (default 2024), `QR_CORPUS_DIR` (default `$TMPDIR/expo-qr-corpus`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use expo_hardware::qr::corpus::{self, CorpusFrame};
use expo_hardware::qr::{decode_with, Decoder};
use image::GrayImage;

/// An engine under test: one of ours, or rqrr (quirc's algorithm) as the comparison point.
#[derive(Debug, Clone, Copy)]
enum Engine {
    Rqrr,
    Rxing(Decoder),
}

impl Engine {
    fn decode(self, frame: &GrayImage) -> Option<String> {
        match self {
            Self::Rqrr => rqrr::PreparedImage::prepare(frame.clone())
                .detect_grids()
                .into_iter()
                .find_map(|grid| grid.decode().ok().map(|(_, text)| text)),
            Self::Rxing(decoder) => decode_with(decoder, frame),
        }
    }

    fn name(self) -> String {
        match self {
            Self::Rqrr => "rqrr".into(),
            Self::Rxing(decoder) => format!("rxing {decoder:?}"),
        }
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> std::io::Result<()> {
    let size = env_or("QR_CORPUS_SIZE", 300_usize);
    let seed = env_or("QR_CORPUS_SEED", 2024_u64);
    let dir = std::env::var_os("QR_CORPUS_DIR")
        .map_or_else(|| std::env::temp_dir().join("expo-qr-corpus"), PathBuf::from);
    let generated_at = Instant::now();
    let frames = corpus::generate(seed, size);
    println!("generated {} frames (seed {seed}) in {:.1?}", frames.len(), generated_at.elapsed());
    write_corpus(&dir, &frames)?;
    println!("corpus written to {}", dir.display());

    println!(
        "{:<24} {:>8} {:>10} {:>10}   by module size 2-3 / 3-5 / 5-7 px",
        "decoder", "success", "median ms", "p90 ms"
    );
    let engines = [
        Engine::Rqrr,
        Engine::Rxing(Decoder::GlobalHistogram),
        Engine::Rxing(Decoder::Hybrid),
        Engine::Rxing(Decoder::HybridTryHarder),
        Engine::Rxing(Decoder::HalfSize),
        Engine::Rxing(Decoder::Combined),
    ];
    for engine in engines {
        report(engine, &frames);
    }
    Ok(())
}

fn write_corpus(dir: &std::path::Path, frames: &[CorpusFrame]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut manifest = std::fs::File::create(dir.join("manifest.tsv"))?;
    for (index, frame) in frames.iter().enumerate() {
        let name = format!("frame-{index:04}.png");
        frame.image.save(dir.join(&name)).map_err(std::io::Error::other)?;
        let p = &frame.params;
        writeln!(
            manifest,
            "{name}\t{}\t{:.2}\t{:.1}\t{:.2}\t{:.1}",
            frame.text, p.module_px, p.tilt_deg, p.blur_sigma, p.noise_sigma
        )?;
    }
    Ok(())
}

fn report(engine: Engine, frames: &[CorpusFrame]) {
    let mut times = Vec::with_capacity(frames.len());
    let mut buckets = [(0_usize, 0_usize); 3];
    for frame in frames {
        let started = Instant::now();
        let decoded = engine.decode(&frame.image);
        times.push(started.elapsed());
        let bucket = match frame.params.module_px {
            m if m < 3.0 => 0,
            m if m < 5.0 => 1,
            _ => 2,
        };
        buckets[bucket].1 += 1;
        if decoded.as_ref() == Some(&frame.text) {
            buckets[bucket].0 += 1;
        }
    }
    let successes: usize = buckets.iter().map(|b| b.0).sum();
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let by_size: Vec<String> = buckets.iter().map(|(ok, n)| format!("{ok}/{n}")).collect();
    println!(
        "{:<24} {:>7.1}% {:>10.1} {:>10.1}   {}",
        engine.name(),
        100.0 * successes as f64 / frames.len().max(1) as f64,
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        by_size.join(" / ")
    );
}
