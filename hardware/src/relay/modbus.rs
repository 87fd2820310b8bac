//! Modbus RTU relay modules: function 05 (write single coil) with CRC-16/Modbus.

use super::RelayFrameError;

/// Function code of "read coils": asks for relay states and changes nothing.
pub const READ_COILS: u8 = 0x01;
/// Length of a read-coils request.
pub const READ_COILS_LEN: usize = 8;
/// Length of the answer to a read-coils request for up to 8 coils.
pub const COIL_STATUS_LEN: usize = 6;
/// Function code of "write single coil".
pub const WRITE_SINGLE_COIL: u8 = 0x05;
/// Length of a write-single-coil request and of its echo.
pub const WRITE_COIL_LEN: usize = 8;
/// Length of an exception answer: address, function | 0x80, code, CRC.
pub const EXCEPTION_LEN: usize = 5;

/// CRC-16/Modbus (reflected poly 0xA001, init 0xFFFF).
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0xFFFF_u16, |crc, &byte| {
        (0..8).fold(crc ^ u16::from(byte), |crc, _| {
            if crc & 1 == 1 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            }
        })
    })
}

/// Appends the CRC low byte first, as Modbus RTU sends it.
fn with_crc<const N: usize, const M: usize>(payload: [u8; N]) -> [u8; M] {
    let mut frame = [0u8; M];
    frame[..N].copy_from_slice(&payload);
    frame[N..].copy_from_slice(&crc16(&payload).to_le_bytes());
    frame
}

/// The 8-byte request setting `coil` (0-based) of the module at `address`.
pub fn encode_write_coil(address: u8, coil: u16, on: bool) -> [u8; WRITE_COIL_LEN] {
    let [coil_hi, coil_lo] = coil.to_be_bytes();
    let value = if on { 0xFF } else { 0x00 };
    with_crc([address, WRITE_SINGLE_COIL, coil_hi, coil_lo, value, 0x00])
}

/// The 8-byte request for the state of `count` coils from `first` (0-based).
pub fn encode_read_coils(address: u8, first: u16, count: u16) -> [u8; READ_COILS_LEN] {
    let [first_hi, first_lo] = first.to_be_bytes();
    let [count_hi, count_lo] = count.to_be_bytes();
    with_crc([address, READ_COILS, first_hi, first_lo, count_hi, count_lo])
}

/// A module's answer to a read of up to 8 coils: their states as one byte, coil 0 in bit 0.
pub fn encode_coil_status(address: u8, states: u8) -> [u8; COIL_STATUS_LEN] {
    with_crc([address, READ_COILS, 1, states])
}

/// The states byte of a read-coils answer from `address`.
pub fn decode_coil_status(address: u8, frame: &[u8]) -> Result<u8, RelayFrameError> {
    let [from, function, 1, states, crc_lo, crc_hi] = *frame else {
        return Err(RelayFrameError::Length(frame.len()));
    };
    if crc16(&[from, function, 1, states]).to_le_bytes() != [crc_lo, crc_hi] {
        return Err(RelayFrameError::Checksum);
    }
    if from != address || function != READ_COILS {
        return Err(RelayFrameError::UnsupportedFunction(function));
    }
    Ok(states)
}

/// The exception answer a module sends when it refuses a write (used by the simulator).
pub fn encode_exception(address: u8, function: u8, code: u8) -> [u8; EXCEPTION_LEN] {
    with_crc([address, function | 0x80, code])
}

/// A decoded Modbus frame of the kinds relay modules exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModbusFrame {
    /// Write single coil (request, or its echo).
    WriteCoil {
        /// Module address.
        address: u8,
        /// Coil number, 0-based.
        coil: u16,
        /// Requested state.
        on: bool,
    },
    /// Read coils (request).
    ReadCoils {
        /// Module address.
        address: u8,
        /// First coil, 0-based.
        first: u16,
        /// How many coils.
        count: u16,
    },
    /// The module refused a request.
    Exception {
        /// Module address.
        address: u8,
        /// Function that failed.
        function: u8,
        /// Modbus exception code.
        code: u8,
    },
}

/// How many bytes a frame with this function code spans.
pub fn frame_len(function: u8) -> Result<usize, RelayFrameError> {
    match function {
        WRITE_SINGLE_COIL => Ok(WRITE_COIL_LEN),
        READ_COILS => Ok(READ_COILS_LEN),
        f if f & 0x80 != 0 => Ok(EXCEPTION_LEN),
        other => Err(RelayFrameError::UnsupportedFunction(other)),
    }
}

/// Decodes one complete frame (exactly its bytes).
pub fn decode(frame: &[u8]) -> Result<ModbusFrame, RelayFrameError> {
    let [_, function, ..] = *frame else {
        return Err(RelayFrameError::Length(frame.len()));
    };
    let expected_len = frame_len(function)?;
    if frame.len() != expected_len {
        return Err(RelayFrameError::Length(frame.len()));
    }
    let (payload, crc) = frame.split_at(expected_len - 2);
    if crc16(payload).to_le_bytes() != [crc[0], crc[1]] {
        return Err(RelayFrameError::Checksum);
    }
    match *payload {
        [address, WRITE_SINGLE_COIL, coil_hi, coil_lo, value_hi, value_lo] => {
            let coil = u16::from_be_bytes([coil_hi, coil_lo]);
            match [value_hi, value_lo] {
                [0xFF, 0x00] => Ok(ModbusFrame::WriteCoil { address, coil, on: true }),
                [0x00, 0x00] => Ok(ModbusFrame::WriteCoil { address, coil, on: false }),
                value => Err(RelayFrameError::BadValue(u16::from_be_bytes(value))),
            }
        }
        [address, READ_COILS, first_hi, first_lo, count_hi, count_lo] => {
            Ok(ModbusFrame::ReadCoils {
                address,
                first: u16::from_be_bytes([first_hi, first_lo]),
                count: u16::from_be_bytes([count_hi, count_lo]),
            })
        }
        [address, function, code] => {
            Ok(ModbusFrame::Exception { address, function: function & 0x7F, code })
        }
        _ => Err(RelayFrameError::Length(frame.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_documented_frames() {
        assert_eq!(encode_write_coil(1, 0, true), [0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A]);
        assert_eq!(
            encode_write_coil(1, 0, false),
            [0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xCD, 0xCA]
        );
        assert_eq!(
            encode_write_coil(0xFF, 0, true),
            [0xFF, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x99, 0xE4]
        );
        // The documented write-multiple-coils frame checks out with the same CRC.
        assert_eq!(
            crc16(&[0x01, 0x0F, 0x00, 0x00, 0x00, 0x08, 0x01, 0xFF]).to_le_bytes(),
            [0xBE, 0xD5]
        );
    }

    #[test]
    fn decodes_requests_and_exceptions() {
        assert_eq!(
            decode(&encode_write_coil(3, 7, true)),
            Ok(ModbusFrame::WriteCoil { address: 3, coil: 7, on: true })
        );
        assert_eq!(
            decode(&encode_exception(1, 0x05, 0x02)),
            Ok(ModbusFrame::Exception { address: 1, function: 0x05, code: 0x02 })
        );
        let mut corrupt = encode_write_coil(1, 0, true);
        corrupt[7] ^= 1;
        assert_eq!(decode(&corrupt), Err(RelayFrameError::Checksum));
        assert_eq!(decode(&corrupt[..5]), Err(RelayFrameError::Length(5)));
        assert_eq!(decode(&[0x01, 0x03, 0, 0]), Err(RelayFrameError::UnsupportedFunction(0x03)));
    }

    #[test]
    fn reads_coils_without_writing_any() {
        // The read of coil 0 of module 1 that Modbus references document.
        assert_eq!(encode_read_coils(1, 0, 1), [0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0xFD, 0xCA]);
        assert_eq!(
            decode(&encode_read_coils(0xFF, 0, 8)),
            Ok(ModbusFrame::ReadCoils { address: 0xFF, first: 0, count: 8 })
        );
        assert_eq!(decode_coil_status(1, &encode_coil_status(1, 0b10)), Ok(0b10));
        let mut corrupt = encode_coil_status(1, 1);
        corrupt[3] ^= 1;
        assert_eq!(decode_coil_status(1, &corrupt), Err(RelayFrameError::Checksum));
        assert!(decode_coil_status(2, &encode_coil_status(1, 1)).is_err(), "another module");
        assert_eq!(decode_coil_status(1, &[1, 1, 1]), Err(RelayFrameError::Length(3)));
    }
}
