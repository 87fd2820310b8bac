//! Access rules: the pure decision engine for turnstile gates.
