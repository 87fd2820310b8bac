//! QR decoding from still images and camera frames, plus a generator of camera-like test frames.

pub mod corpus;
mod decode;

pub use decode::{
    decode_bytes, decode_file, decode_frame, decode_image, decode_with, locate_code, Decoder,
    LocatedCode, QrError,
};
