//! Device drivers and simulators for expo-kiosk.
