//! Unit tests of the worker and the coordinator over a scripted server
//! (`polygon::fake`) on paused tokio time: a wait of a minute costs no real time, and
//! what a test asserts does not depend on the machine's speed.

mod coordinator;
mod kit;
mod pacing;
mod worker;
