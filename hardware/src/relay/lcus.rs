//! LCUS USB relay boards (CH340): `A0 CH OP SUM`, 9600 8N1, no answer.

use super::RelayFrameError;

/// First byte of every LCUS frame.
pub const START: u8 = 0xA0;

/// The 4-byte frame switching `channel` (1-based) on or off.
pub fn encode(channel: u8, energise: bool) -> [u8; 4] {
    let op = u8::from(energise);
    [START, channel, op, START.wrapping_add(channel).wrapping_add(op)]
}

/// Parses a 4-byte LCUS frame into (channel, energise).
pub fn decode(frame: &[u8]) -> Result<(u8, bool), RelayFrameError> {
    let [start, channel, op, sum] = *frame else {
        return Err(RelayFrameError::Length(frame.len()));
    };
    if start != START {
        return Err(RelayFrameError::BadStart(start));
    }
    let expected = START.wrapping_add(channel).wrapping_add(op);
    if sum != expected {
        return Err(RelayFrameError::Checksum);
    }
    match op {
        0 => Ok((channel, false)),
        1 => Ok((channel, true)),
        other => Err(RelayFrameError::BadValue(u16::from(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_documented_frames() {
        assert_eq!(encode(1, true), [0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!(encode(1, false), [0xA0, 0x01, 0x00, 0xA1]);
        assert_eq!(decode(&[0xA0, 0x02, 0x01, 0xA3]), Ok((2, true)));
        assert_eq!(decode(&[0xA0, 0x02, 0x01, 0xA4]), Err(RelayFrameError::Checksum));
        assert_eq!(decode(&[0xA1, 0x02, 0x01, 0xA4]), Err(RelayFrameError::BadStart(0xA1)));
        assert_eq!(decode(&[0xA0, 0x02]), Err(RelayFrameError::Length(2)));
    }
}
