//! What answers on a serial port, for `expo-kiosk doctor`: a SAM ID-card reader answers a
//! status request, a Modbus relay module answers a read of its first relay. Both questions
//! change nothing on any device (no relay is switched, no card is read); a device that stays
//! silent (a scanner waiting for a code, an LCUS relay board, which never answers) is
//! reported as such.

use std::time::Duration;

use crate::idcard::{IdCardError, SamReader, DEFAULT_BAUD};
use crate::relay::{RelayDriver, RelayError, RelayProtocol, RelaySettings};

/// Modbus addresses relay modules ship with.
pub const MODBUS_ADDRESSES: [u8; 2] = [1, 0xFF];
/// Line speed Modbus relay modules ship at.
pub const MODBUS_BAUD: u32 = 9600;

/// What a port turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PortAnswer {
    /// A SAM module answered the status request (115200 baud).
    IdCardReader,
    /// A Modbus relay module answered at `address` (9600 baud).
    ModbusRelay {
        /// The module's address.
        address: u8,
    },
    /// Nothing answered: a scanner, an LCUS relay board, or a device at another line speed.
    Silent,
}

/// Asks the device at `path` what it is, waiting `timeout` for each answer.
///
/// Fails only when the port cannot be opened (absent, busy, no permission).
pub fn identify(path: &str, timeout: Duration) -> Result<PortAnswer, serialport::Error> {
    match SamReader::open(path, DEFAULT_BAUD, timeout).and_then(|mut reader| reader.sam_status()) {
        // Any well-formed answer, even a failure status, comes from a SAM module.
        Ok(()) | Err(IdCardError::Status(_)) => return Ok(PortAnswer::IdCardReader),
        Err(IdCardError::Open(error)) => return Err(error),
        Err(_) => {}
    }
    for address in MODBUS_ADDRESSES {
        let settings = RelaySettings {
            baud: MODBUS_BAUD,
            echo_timeout: timeout,
            echo_retries: 0,
            ..RelaySettings::new(RelayProtocol::Modbus { address })
        };
        match RelayDriver::open_as_is(path, settings).and_then(|mut relay| relay.read_energised(1))
        {
            Ok(_) | Err(RelayError::Exception(_)) => {
                return Ok(PortAnswer::ModbusRelay { address })
            }
            Err(RelayError::Open(error)) => return Err(error),
            Err(_) => {}
        }
    }
    Ok(PortAnswer::Silent)
}
