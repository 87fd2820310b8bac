//! expo-kiosk library.
