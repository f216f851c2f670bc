//! 11. Smaller holes.
