//! Turnstile and door relays: LCUS USB boards and Modbus RTU modules.
//!
//! [`RelayDriver`] speaks either protocol on a port, and [`ReopeningRelay`] opens that port
//! again after an unplug; [`RelayWorker`] runs either on a thread so a
//! gate lane never waits for a pulse; [`RelaySimulator`] records every byte a board receives.

mod driver;
pub mod lcus;
pub mod modbus;
mod reopening;
mod sim;
mod worker;

use std::time::Duration;

use thiserror::Error;

pub use driver::RelayDriver;
pub use reopening::ReopeningRelay;
pub use sim::{EchoFault, RelaySimulator};
pub use worker::{RelayCommand, RelayOutcome, RelayWorker};

/// Default length of an unlock pulse.
pub const DEFAULT_PULSE: Duration = Duration::from_millis(200);

/// A relay board that opens gates.
pub trait GateRelay {
    /// Opens `channel` (from 1) for `duration`, then closes it again.
    fn pulse(&mut self, channel: u8, duration: Duration) -> Result<(), RelayError>;
    /// Opens `channel` until [`close`](Self::close) (emergency release).
    fn hold_open(&mut self, channel: u8) -> Result<(), RelayError>;
    /// Closes `channel`.
    fn close(&mut self, channel: u8) -> Result<(), RelayError>;
    /// Closes every channel (on start and after a crash).
    fn close_all(&mut self) -> Result<(), RelayError>;
}

/// The wire protocol of a relay board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayProtocol {
    /// LCUS `A0 CH OP SUM` boards.
    Lcus,
    /// Modbus RTU module at `address` (1 and 0xFF are common defaults).
    Modbus {
        /// Module address.
        address: u8,
    },
}

/// Which relay state opens the gate; depends on the NO/NC wiring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Polarity {
    /// Wired to the normally-open contact: energising the relay opens the gate.
    #[default]
    NormallyOpen,
    /// Wired to the normally-closed contact: releasing the relay opens the gate.
    NormallyClosed,
}

impl Polarity {
    /// Whether the relay coil is energised when the gate should be `open`.
    pub fn energised(self, open: bool) -> bool {
        match self {
            Self::NormallyOpen => open,
            Self::NormallyClosed => !open,
        }
    }
}

/// How to talk to a relay board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelaySettings {
    /// Wire protocol.
    pub protocol: RelayProtocol,
    /// Line speed; boards ship at 9600.
    pub baud: u32,
    /// NO/NC wiring.
    pub polarity: Polarity,
    /// Channels on the board, all driven closed on start.
    pub channels: u8,
    /// How long to wait for a Modbus echo.
    pub echo_timeout: Duration,
    /// Extra attempts after a missing or wrong Modbus echo.
    pub echo_retries: u8,
}

impl RelaySettings {
    /// Settings for a one-channel board at 9600 baud, normally-open wiring.
    pub fn new(protocol: RelayProtocol) -> Self {
        Self {
            protocol,
            baud: 9600,
            polarity: Polarity::NormallyOpen,
            channels: 1,
            echo_timeout: Duration::from_millis(200),
            echo_retries: 2,
        }
    }
}

/// A relay frame that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RelayFrameError {
    /// Wrong number of bytes for the frame type.
    #[error("frame of {0} bytes has the wrong length")]
    Length(usize),
    /// LCUS frame not starting with 0xA0.
    #[error("frame starts with {0:#04x} instead of 0xA0")]
    BadStart(u8),
    /// Checksum (LCUS sum or Modbus CRC) mismatch.
    #[error("frame checksum mismatch")]
    Checksum,
    /// A switch value other than on/off.
    #[error("switch value {0:#06x} is neither on nor off")]
    BadValue(u16),
    /// A Modbus function relay modules do not use here.
    #[error("unsupported Modbus function {0:#04x}")]
    UnsupportedFunction(u8),
}

/// Anything that can go wrong switching a relay.
#[derive(Debug, Error)]
pub enum RelayError {
    /// Opening the serial port failed.
    #[error("cannot open relay port: {0}")]
    Open(#[from] serialport::Error),
    /// The port failed while writing or reading.
    #[error("relay port failed: {0}")]
    Io(#[from] std::io::Error),
    /// Channel 0 or above the board's channel count.
    #[error("relay channel {channel} does not exist (board has {channels})")]
    InvalidChannel {
        /// Requested channel.
        channel: u8,
        /// Channels on the board.
        channels: u8,
    },
    /// The Modbus module never echoed the write.
    #[error("relay module did not echo the command after {attempts} attempts")]
    EchoMissing {
        /// Attempts made.
        attempts: u8,
    },
    /// The module answered something other than the exact echo.
    #[error("relay module answered {received:02X?} instead of echoing {sent:02X?}")]
    EchoMismatch {
        /// Frame sent.
        sent: Vec<u8>,
        /// Bytes received.
        received: Vec<u8>,
    },
    /// The Modbus module refused the write.
    #[error("relay module refused the write with Modbus exception {0:#04x}")]
    Exception(u8),
    /// The relay worker thread is gone.
    #[error("relay worker has stopped")]
    WorkerStopped,
    /// An LCUS board never answers, so its relay states cannot be read back.
    #[error("LCUS relay boards do not report their state")]
    NoReadBack,
    /// The module's answer to a state read is not a valid frame.
    #[error("relay module answered {received:02X?}: {error}")]
    BadAnswer {
        /// Bytes received.
        received: Vec<u8>,
        /// What is wrong with them.
        error: RelayFrameError,
    },
}

impl RelayError {
    /// Whether the relay surely did not switch: the command never reached the board, or
    /// the board refused it. A missing or garbled echo leaves that open (the write may
    /// have taken effect and only its echo been lost).
    pub fn surely_not_switched(&self) -> bool {
        match self {
            Self::Open(_)
            | Self::Io(_)
            | Self::InvalidChannel { .. }
            | Self::Exception(_)
            | Self::WorkerStopped
            | Self::NoReadBack => true,
            Self::EchoMissing { .. } | Self::EchoMismatch { .. } | Self::BadAnswer { .. } => false,
        }
    }
}
