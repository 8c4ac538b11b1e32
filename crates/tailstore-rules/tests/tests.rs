//! Behaviour tests of the rule engine: rule files, the state machine against
//! an oracle, backtests and SLOs over generated traffic with known episodes.

#[cfg(feature = "real-alertmanager")]
mod alertmanager_real;
mod backtest;
mod live;
mod oracle;
mod state;
mod yaml;
