//! Continuous polling for the registration desk: reads cards on a thread, reports over a channel.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{IdCard, IdCardError, IdCardReader, SamReader};

/// What the polling thread reports.
#[derive(Debug)]
pub enum CardEvent {
    /// A card was placed and read; reported once per placement.
    Card(Box<IdCard>),
    /// A read attempt failed for a reason other than "no card" (reported once per streak).
    Error(IdCardError),
    /// The reader's port is gone; the poller keeps trying to reopen it.
    Disconnected(String),
    /// The port is back after a [`CardEvent::Disconnected`].
    Reconnected,
}

/// A thread that polls an ID-card reader; dropping it stops the thread.
pub struct CardPoller {
    events: Receiver<CardEvent>,
    // Dropping this sender wakes the thread from its wait and tells it to stop.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CardPoller {
    /// Polls the SAM reader at `path` every `interval`, reopening the port after an unplug.
    pub fn open(
        path: &str,
        baud: u32,
        timeout: Duration,
        interval: Duration,
    ) -> std::io::Result<Self> {
        let path = path.to_owned();
        Self::spawn(move || SamReader::open(&path, baud, timeout), interval)
    }

    /// Polls readers produced by `connect` every `interval`; `connect` is called again after the
    /// reader reports a disconnect.
    pub fn spawn<R, F>(connect: F, interval: Duration) -> std::io::Result<Self>
    where
        R: IdCardReader,
        F: FnMut() -> Result<R, IdCardError> + Send + 'static,
    {
        let (event_tx, events) = mpsc::channel();
        let (stop, stop_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("idcard-poller".into())
            .spawn(move || poll_loop(connect, interval, &event_tx, &stop_rx))?;
        Ok(Self { events, stop: Some(stop), thread: Some(thread) })
    }

    /// The channel on which cards and errors arrive.
    pub fn events(&self) -> &Receiver<CardEvent> {
        &self.events
    }
}

impl Drop for CardPoller {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("ID-card polling thread panicked");
            }
        }
    }
}

/// Connection and de-duplication state of the polling loop.
struct PollState<R> {
    reader: Option<R>,
    /// The last card reported and still on the reader (cleared when a poll finds no card).
    card_on_reader: Option<IdCard>,
    /// Text of the last error reported, to report a failing streak only once.
    last_error: Option<String>,
    was_connected: bool,
}

fn poll_loop<R, F>(
    mut connect: F,
    interval: Duration,
    events: &Sender<CardEvent>,
    stop: &Receiver<()>,
) where
    R: IdCardReader,
    F: FnMut() -> Result<R, IdCardError>,
{
    let mut state =
        PollState { reader: None, card_on_reader: None, last_error: None, was_connected: false };
    loop {
        let event = poll_once(&mut connect, &mut state);
        if let Some(event) = event {
            if events.send(event).is_err() {
                return; // Nobody listens any more.
            }
        }
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => continue,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// One poll: (re)connect if needed, read, and decide what (if anything) to report.
fn poll_once<R, F>(connect: &mut F, state: &mut PollState<R>) -> Option<CardEvent>
where
    R: IdCardReader,
    F: FnMut() -> Result<R, IdCardError>,
{
    let reader = match &mut state.reader {
        Some(reader) => reader,
        None => match connect() {
            Ok(reader) => {
                let reconnected = state.was_connected;
                state.was_connected = true;
                state.last_error = None;
                let reader = state.reader.insert(reader);
                if reconnected {
                    return Some(CardEvent::Reconnected);
                }
                reader
            }
            Err(error) => {
                return report_once(state, error, |e| CardEvent::Disconnected(e.to_string()))
            }
        },
    };
    match reader.read_card() {
        Ok(card) => {
            state.last_error = None;
            let already_reported =
                state.card_on_reader.as_ref().is_some_and(|known| known.document == card.document);
            if already_reported {
                return None;
            }
            state.card_on_reader = Some(card.clone());
            Some(CardEvent::Card(Box::new(card)))
        }
        Err(error) if error.is_no_card() => {
            state.card_on_reader = None;
            state.last_error = None;
            None
        }
        Err(error) if error.is_disconnect() => {
            state.reader = None;
            state.card_on_reader = None;
            let reason = error.to_string();
            state.last_error = Some(reason.clone());
            Some(CardEvent::Disconnected(reason))
        }
        Err(error) => report_once(state, error, CardEvent::Error),
    }
}

/// Reports `error` unless the same error was the last thing reported.
fn report_once<R>(
    state: &mut PollState<R>,
    error: IdCardError,
    into_event: impl FnOnce(IdCardError) -> CardEvent,
) -> Option<CardEvent> {
    let text = error.to_string();
    if state.last_error.as_deref() == Some(text.as_str()) {
        return None;
    }
    state.last_error = Some(text);
    Some(into_event(error))
}
