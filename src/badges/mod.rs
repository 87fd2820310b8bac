//! Badges: templates, PDF rendering, printers and the persistent print queue.
