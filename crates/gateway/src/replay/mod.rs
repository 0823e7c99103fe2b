//! Replaying a recorded day (DESIGN.md §12, `feedgate replay`): the pieces that make a
//! recording look like a live broker to the normal gateway, so the dashboard and every client
//! endpoint show that day through the normal decode path. The recorded day's wall clock
//! ([`clock`]), the frames on time ([`feed`]), the broker's ticker socket serving them on
//! loopback ([`ticker`]) and its REST API answered locally ([`broker`]). Wiring them to a
//! gateway is the binary's job.

pub mod broker;
pub mod clock;
pub mod feed;
pub mod ticker;
