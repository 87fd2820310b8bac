//! Relay board simulators that record every frame received and echo like real Modbus modules.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::modbus::{self, ModbusFrame};
use super::{lcus, RelayProtocol};
use crate::pty::PtySimulator;
use crate::serial;

/// A fault to inject into the next Modbus echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoFault {
    /// Stay silent (the write still takes effect, as when the echo is lost on the line).
    Drop,
    /// Answer with one byte flipped.
    Corrupt,
    /// Refuse with this Modbus exception code (the write does not take effect).
    Exception(u8),
}

#[derive(Debug, Default)]
struct BoardState {
    received: Vec<Vec<u8>>,
    energised: Vec<bool>,
    faults: Vec<EchoFault>,
    buffer: Vec<u8>,
}

/// A simulated relay board; clones share state.
#[derive(Debug, Clone)]
pub struct RelaySimulator {
    protocol: RelayProtocol,
    state: Arc<Mutex<BoardState>>,
}

impl RelaySimulator {
    /// A board with `channels` relays, all released, speaking `protocol`.
    pub fn new(protocol: RelayProtocol, channels: u8) -> Self {
        let state =
            BoardState { energised: vec![false; usize::from(channels)], ..BoardState::default() };
        Self { protocol, state: Arc::new(Mutex::new(state)) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every valid frame received so far, byte for byte.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.state().received.clone()
    }

    /// Whether relay `channel` (from 1) is energised now.
    pub fn is_energised(&self, channel: u8) -> bool {
        let index = usize::from(channel).wrapping_sub(1);
        self.state().energised.get(index).copied().unwrap_or(false)
    }

    /// Applies `fault` to the next Modbus echo (call repeatedly to queue several).
    pub fn inject_fault(&self, fault: EchoFault) {
        self.state().faults.push(fault);
    }

    /// Feeds bytes from the line; returns what the board sends back.
    pub fn feed(&self, bytes: &[u8]) -> Vec<u8> {
        let mut state = self.state();
        state.buffer.extend_from_slice(bytes);
        let mut reply = Vec::new();
        loop {
            let consumed = match self.protocol {
                RelayProtocol::Lcus => take_lcus(&mut state),
                RelayProtocol::Modbus { address } => take_modbus(&mut state, address, &mut reply),
            };
            if !consumed {
                return reply;
            }
        }
    }

    /// Serves the board on `port` until `stop` turns true or the port fails.
    pub fn serve<P: Read + Write>(&self, mut port: P, stop: &AtomicBool) {
        let mut chunk = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            let read = match port.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if serial::is_timeout(&e) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "relay simulator port closed");
                    return;
                }
            };
            let reply = self.feed(&chunk[..read]);
            if !reply.is_empty() {
                if let Err(e) = port.write_all(&reply) {
                    tracing::debug!(error = %e, "relay simulator could not answer");
                    return;
                }
            }
        }
    }

    /// Runs the board on a new pseudo-terminal; the driver opens the returned handle's path.
    pub fn spawn_on_pty(&self) -> Result<PtySimulator, serialport::Error> {
        let simulator = self.clone();
        PtySimulator::spawn("relay-simulator", move |port, stop| simulator.serve(port, &stop))
    }
}

/// Sets relay `channel` (from 1) if the board has it.
fn energise(state: &mut BoardState, channel: usize, on: bool) {
    if let Some(relay) = channel.checked_sub(1).and_then(|index| state.energised.get_mut(index)) {
        *relay = on;
    }
}

/// Consumes one LCUS frame (or one byte of noise); false when more bytes are needed.
fn take_lcus(state: &mut BoardState) -> bool {
    let Some(frame) = state.buffer.get(..4).map(<[u8]>::to_vec) else {
        return false;
    };
    match lcus::decode(&frame) {
        Ok((channel, on)) => {
            energise(state, usize::from(channel), on);
            state.received.push(frame);
            state.buffer.drain(..4);
        }
        // Not a frame here: slide one byte and look again, as the board's parser does.
        Err(_) => {
            state.buffer.drain(..1);
        }
    }
    true
}

/// Consumes one Modbus frame (or one byte of noise), answering into `reply`.
fn take_modbus(state: &mut BoardState, address: u8, reply: &mut Vec<u8>) -> bool {
    let Some(&function) = state.buffer.get(1) else {
        return false;
    };
    let Ok(len) = modbus::frame_len(function) else {
        state.buffer.drain(..1);
        return true;
    };
    let Some(frame) = state.buffer.get(..len).map(<[u8]>::to_vec) else {
        return false;
    };
    match modbus::decode(&frame) {
        Ok(ModbusFrame::WriteCoil { address: to, coil, on }) => {
            state.buffer.drain(..len);
            // Modules ignore frames for other addresses; 0 is broadcast and never answered.
            if to != address && to != 0 {
                return true;
            }
            state.received.push(frame.clone());
            let fault = (!state.faults.is_empty()).then(|| state.faults.remove(0));
            if !matches!(fault, Some(EchoFault::Exception(_))) {
                energise(state, usize::from(coil) + 1, on);
            }
            if to == 0 {
                return true;
            }
            match fault {
                None => reply.extend_from_slice(&frame),
                Some(EchoFault::Drop) => {}
                Some(EchoFault::Corrupt) => {
                    let mut garbled = frame;
                    garbled[4] ^= 0x0F;
                    reply.extend_from_slice(&garbled);
                }
                Some(EchoFault::Exception(code)) => reply.extend_from_slice(
                    &modbus::encode_exception(address, modbus::WRITE_SINGLE_COIL, code),
                ),
            }
        }
        Ok(ModbusFrame::ReadCoils { address: to, first, count }) => {
            state.buffer.drain(..len);
            if to == address {
                state.received.push(frame);
                let states = (0..count.min(8)).fold(0u8, |bits, offset| {
                    let on = state.energised.get(usize::from(first + offset)).copied();
                    bits | (u8::from(on.unwrap_or(false)) << offset)
                });
                reply.extend_from_slice(&modbus::encode_coil_status(address, states));
            }
        }
        Ok(ModbusFrame::Exception { .. }) | Err(_) => {
            state.buffer.drain(..1);
        }
    }
    true
}
