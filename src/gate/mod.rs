//! The headless gate process: lanes, relays and the entry log.
