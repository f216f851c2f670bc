//! 3. Limits that hold under concurrency.
