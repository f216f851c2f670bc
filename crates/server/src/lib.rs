//! HTTP front doors of tokenbridge: thin protocol adapters over the engine.

pub mod demo_idp;
