//! What feedgate says about itself: the market-hours scheduler task, the status monitor that
//! combines feed, market, auth and fallback into what clients are told, the health document
//! and its verdict, the view types clients read, Prometheus telemetry, and the log-once record of
//! limit refusals; in a cluster, the leader's status shared with the other nodes.

pub mod follower;
pub mod health;
pub mod limits;
pub mod monitor;
pub mod schedule;
pub mod sections;
pub mod shared;
pub mod shared_io;
pub mod telemetry;
pub mod verdict;
pub mod view;
