//! SAM frame codec: `AA AA AA 96 69 | LEN(2, BE) | body... | CHK`, with an incremental decoder.

use thiserror::Error;

/// The five bytes that open every SAM frame, in both directions.
pub const PREAMBLE: [u8; 5] = [0xAA, 0xAA, 0xAA, 0x96, 0x69];

/// Largest LEN accepted: text + photo + fingerprint (256 + 1024 + 1024 bytes plus headers)
/// fits with room to spare; anything bigger is line noise that would otherwise stall the decoder.
pub const MAX_LEN: usize = 4096;

/// Smallest LEN of any frame: a request's CMD PARA plus CHK.
const MIN_LEN: usize = 3;

/// Bytes before the body: preamble plus the two LEN bytes.
const HEADER_LEN: usize = PREAMBLE.len() + 2;

/// A malformed frame found on the line; the decoder has already resynchronised past it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// LEN is smaller than any valid frame.
    #[error("frame length {0} is below the minimum of {MIN_LEN}")]
    TooShort(usize),
    /// LEN is larger than [`MAX_LEN`].
    #[error("frame length {0} exceeds the limit of {MAX_LEN}")]
    Oversized(usize),
    /// The XOR checksum does not match the frame's bytes.
    #[error("checksum mismatch: frame says {stated:#04x}, bytes give {computed:#04x}")]
    Checksum {
        /// Checksum carried by the frame.
        stated: u8,
        /// Checksum computed over the received bytes.
        computed: u8,
    },
    /// A response body too short to carry SW1 SW2 SW3.
    #[error("response body of {0} bytes has no status word")]
    MissingStatus(usize),
    /// A request body too short to carry CMD PARA.
    #[error("request body of {0} bytes has no command")]
    MissingCommand(usize),
}

/// XOR of `bytes`: the SAM checksum when given everything between preamble and CHK.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// Wraps `body` (CMD PARA DATA or SW1 SW2 SW3 DATA) in preamble, LEN and CHK.
pub fn encode_frame(body: &[u8]) -> Result<Vec<u8>, FrameError> {
    let len = body.len() + 1;
    if len > MAX_LEN {
        return Err(FrameError::Oversized(len));
    }
    // MAX_LEN < 65536, so the length fits LEN's two bytes.
    let len_bytes = (len as u16).to_be_bytes();
    let mut frame = Vec::with_capacity(HEADER_LEN + body.len() + 1);
    frame.extend_from_slice(&PREAMBLE);
    frame.extend_from_slice(&len_bytes);
    frame.extend_from_slice(body);
    let chk = checksum(&frame[PREAMBLE.len()..]);
    frame.push(chk);
    Ok(frame)
}

/// A command sent to the SAM module (CMD, PARA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Command {
    /// Command byte.
    pub cmd: u8,
    /// Parameter byte.
    pub para: u8,
}

impl Command {
    /// Reset the SAM module.
    pub const RESET: Self = Self { cmd: 0x10, para: 0xFF };
    /// Ask for the SAM module's status.
    pub const SAM_STATUS: Self = Self { cmd: 0x11, para: 0xFF };
    /// Ask for the SAM module's id.
    pub const SAM_ID: Self = Self { cmd: 0x12, para: 0xFF };
    /// Look for a card in the field.
    pub const FIND_CARD: Self = Self { cmd: 0x20, para: 0x01 };
    /// Select the card found.
    pub const SELECT_CARD: Self = Self { cmd: 0x20, para: 0x02 };
    /// Read the text block and the WLT photo.
    pub const READ_TEXT_PHOTO: Self = Self { cmd: 0x30, para: 0x01 };
    /// Read the text block, the WLT photo and fingerprint data.
    pub const READ_TEXT_PHOTO_FINGERPRINT: Self = Self { cmd: 0x30, para: 0x10 };

    /// The full request frame for this command, without data.
    pub fn encode(self) -> Vec<u8> {
        let mut frame = PREAMBLE.to_vec();
        frame.extend_from_slice(&[0x00, 0x03, self.cmd, self.para]);
        frame.push(checksum(&frame[PREAMBLE.len()..]));
        frame
    }
}

/// A decoded request frame (what the reader receives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// CMD and PARA.
    pub command: Command,
    /// Bytes after PARA.
    pub data: Vec<u8>,
}

impl Request {
    /// Interprets a frame body as CMD PARA DATA.
    pub fn from_body(body: &[u8]) -> Result<Self, FrameError> {
        match body {
            [cmd, para, data @ ..] => {
                Ok(Self { command: Command { cmd: *cmd, para: *para }, data: data.to_vec() })
            }
            _ => Err(FrameError::MissingCommand(body.len())),
        }
    }
}

/// A decoded response frame (what the host receives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// SW1, SW2, SW3; SW3 carries the status code.
    pub status_word: [u8; 3],
    /// Bytes after the status word.
    pub data: Vec<u8>,
}

impl Response {
    /// Interprets a frame body as SW1 SW2 SW3 DATA.
    pub fn from_body(body: &[u8]) -> Result<Self, FrameError> {
        match body {
            [sw1, sw2, sw3, data @ ..] => {
                Ok(Self { status_word: [*sw1, *sw2, *sw3], data: data.to_vec() })
            }
            _ => Err(FrameError::MissingStatus(body.len())),
        }
    }

    /// The status code (SW3).
    pub fn sw3(&self) -> u8 {
        self.status_word[2]
    }

    /// The full response frame, with SW1 = SW2 = 00 as readers send them.
    pub fn encode(sw3: u8, data: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut body = Vec::with_capacity(3 + data.len());
        body.extend_from_slice(&[0x00, 0x00, sw3]);
        body.extend_from_slice(data);
        encode_frame(&body)
    }
}

/// Incremental frame decoder: feed bytes as they arrive, take complete frame bodies out.
///
/// Garbage before a preamble is skipped; after a malformed frame the decoder drops one byte and
/// searches for the next preamble, so one bad frame never poisons the stream.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends freshly read bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Forgets buffered bytes (e.g. stale answers before a new request).
    pub fn clear(&mut self) {
        self.buffer.clear();
    }

    /// The next complete frame's body (between LEN and CHK), an error for a malformed frame,
    /// or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        self.skip_to_preamble();
        if self.buffer.len() < HEADER_LEN {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([self.buffer[5], self.buffer[6]]));
        if len < MIN_LEN {
            return Some(Err(self.reject(FrameError::TooShort(len))));
        }
        if len > MAX_LEN {
            return Some(Err(self.reject(FrameError::Oversized(len))));
        }
        let frame_len = HEADER_LEN + len;
        if self.buffer.len() < frame_len {
            return None;
        }
        let stated = self.buffer[frame_len - 1];
        let computed = checksum(&self.buffer[PREAMBLE.len()..frame_len - 1]);
        if stated != computed {
            return Some(Err(self.reject(FrameError::Checksum { stated, computed })));
        }
        let body = self.buffer[HEADER_LEN..frame_len - 1].to_vec();
        self.buffer.drain(..frame_len);
        Some(Ok(body))
    }

    /// Drops bytes up to the first (possibly partial, at the end) preamble.
    fn skip_to_preamble(&mut self) {
        let start = self
            .buffer
            .windows(PREAMBLE.len())
            .position(|window| window == PREAMBLE)
            .unwrap_or_else(|| self.partial_preamble_start());
        self.buffer.drain(..start);
    }

    /// Where a preamble cut short by the end of the buffer begins (the buffer length if none).
    fn partial_preamble_start(&self) -> usize {
        let keep = (1..PREAMBLE.len())
            .rev()
            .find(|&n| {
                self.buffer.len() >= n && self.buffer[self.buffer.len() - n..] == PREAMBLE[..n]
            })
            .unwrap_or(0);
        self.buffer.len() - keep
    }

    /// Drops the first byte of a bad frame so the next search starts past its preamble.
    fn reject(&mut self, error: FrameError) -> FrameError {
        self.buffer.drain(..1);
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_match_the_documented_frames() {
        assert_eq!(
            Command::SAM_STATUS.encode(),
            [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x11, 0xFF, 0xED]
        );
        assert_eq!(
            Command::FIND_CARD.encode(),
            [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x01, 0x22]
        );
        assert_eq!(
            Command::SELECT_CARD.encode(),
            [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x02, 0x21]
        );
        assert_eq!(
            Command::READ_TEXT_PHOTO.encode(),
            [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x30, 0x01, 0x32]
        );
    }

    #[test]
    fn responses_match_the_documented_frames() {
        assert_eq!(
            Response::encode(0x9F, &[0, 0, 0, 0]).unwrap(),
            [
                0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x08, 0x00, 0x00, 0x9F, 0x00, 0x00, 0x00, 0x00,
                0x97
            ]
        );
        assert_eq!(
            Response::encode(0x41, &[]).unwrap(),
            [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x04, 0x00, 0x00, 0x41, 0x45]
        );
        let select = Response::encode(0x90, &[0; 8]).unwrap();
        assert_eq!(select[5..10], [0x00, 0x0C, 0x00, 0x00, 0x90]);
        assert_eq!(select.last(), Some(&0x9C));
    }

    #[test]
    fn decodes_after_garbage_and_across_split_reads() {
        let frame = Response::encode(0x9F, &[0, 0, 0, 0]).unwrap();
        let mut decoder = FrameDecoder::new();
        decoder.push(&[0x00, 0xAA, 0x13, 0xAA, 0xAA]);
        assert_eq!(decoder.next_frame(), None);
        for chunk in frame.chunks(3) {
            assert_eq!(decoder.next_frame(), None);
            decoder.push(chunk);
        }
        let body = decoder.next_frame().expect("complete frame").expect("valid frame");
        assert_eq!(Response::from_body(&body).map(|r| r.sw3()), Ok(0x9F));
        assert_eq!(decoder.next_frame(), None);
    }

    #[test]
    fn bad_checksum_is_reported_then_next_frame_decodes() {
        let mut corrupt = Response::encode(0x90, &[1, 2, 3]).unwrap();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xFF;
        let mut decoder = FrameDecoder::new();
        decoder.push(&corrupt);
        decoder.push(&Response::encode(0x80, &[]).unwrap());
        assert!(matches!(decoder.next_frame(), Some(Err(FrameError::Checksum { .. }))));
        let body = decoder.next_frame().expect("second frame").expect("valid");
        assert_eq!(Response::from_body(&body).map(|r| r.sw3()), Ok(0x80));
    }

    #[test]
    fn oversized_and_undersized_lengths_are_typed_errors() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&[0xAA, 0xAA, 0xAA, 0x96, 0x69, 0xFF, 0xFF, 0x00]);
        assert_eq!(decoder.next_frame(), Some(Err(FrameError::Oversized(0xFFFF))));
        decoder.clear();
        decoder.push(&[0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x01, 0x00]);
        assert_eq!(decoder.next_frame(), Some(Err(FrameError::TooShort(1))));
    }

    #[test]
    fn truncated_bodies_are_typed_errors() {
        assert_eq!(Response::from_body(&[0x00, 0x00]), Err(FrameError::MissingStatus(2)));
        assert_eq!(Request::from_body(&[0x20]), Err(FrameError::MissingCommand(1)));
        assert_eq!(encode_frame(&[0; MAX_LEN]), Err(FrameError::Oversized(MAX_LEN + 1)));
    }
}
