//! The `resume` request of a reconnecting `/ws/market` client (DESIGN.md §12): the symbols it
//! had, with the last `seq` it saw of each, subscribed again and replayed by the hub from where
//! the client stopped. Only a client that takes every tick (throttle 0) can be given "every
//! tick it missed"; a throttled one is subscribed with snapshots and told so. The reply may
//! wait for the recording to be read (a gap older than the hub's ring).

use super::ClientConn;
use crate::hub::ResumeItem;
use crate::json::messages::to_text;
use crate::json::request::{CandleRequest, ErrorCode, RequestId};
use crate::model::tick::Mode;
use serde_json::json;

impl ClientConn {
    /// Serves `resume`; `Some` ends the connection (the hub has stopped).
    pub(super) async fn on_resume(
        &mut self,
        epoch: u64,
        seq: Vec<(String, u64)>,
        mode: Mode,
        id: &RequestId,
    ) -> Option<super::End> {
        if seq.len() > self.ctx.limits.max_symbols {
            let msg = format!(
                "{} symbols in one request; at most {} per connection",
                seq.len(),
                self.ctx.limits.max_symbols
            );
            self.error(ErrorCode::TooManySymbols, &msg, id);
            return None;
        }
        if !self.throttle.is_zero() {
            let reply = json!({
                "type": "resume",
                "complete": false,
                "epoch": self.ctx.hub.epoch(),
                "reason": "resume replays every tick only to a client with throttle_ms 0 (send {\"action\":\"options\",\"throttle_ms\":0} first); subscribed with snapshots instead",
            });
            self.push(to_text(&reply));
            let symbols: Vec<String> = seq.into_iter().map(|(s, _)| s).collect();
            return self
                .on_subscribe(&symbols, mode, CandleRequest::Keep, id)
                .await;
        }
        let items = self.resolve_resume(seq, mode, id);
        if items.is_empty() {
            return None;
        }
        let outbox = self.outbox.clone();
        match self.ctx.hub.resume(self.id, outbox, items, epoch).await {
            Ok(report) => {
                tracing::debug!(
                    client = self.id,
                    replayed = report.replayed,
                    from_recording = report.from_recording,
                    complete = report.complete,
                    "client resumed"
                );
                None
            }
            Err(_) => Some(super::End::Shutdown),
        }
    }

    /// The instruments to resume, within the connection's symbol limit; unknown symbols and
    /// those past the limit are reported in one `error`.
    fn resolve_resume(
        &mut self,
        seq: Vec<(String, u64)>,
        mode: Mode,
        id: &RequestId,
    ) -> Vec<ResumeItem> {
        let registry = self.ctx.registry.borrow().clone();
        let mut items: Vec<ResumeItem> = Vec::new();
        let mut refused = Vec::new();
        for (symbol, after) in seq {
            let inst = match registry.resolve(&symbol) {
                Ok(i) => i.clone(),
                Err(e) => {
                    refused.push(format!("{symbol}: {e}"));
                    continue;
                }
            };
            if items.iter().any(|i| i.inst.token == inst.token) {
                continue;
            }
            let is_new = !self.subs.contains_key(&inst.token);
            if is_new && self.subs.len() >= self.ctx.limits.max_symbols {
                refused.push(format!("{symbol}: symbol limit reached"));
                continue;
            }
            self.subs.insert(inst.token, mode);
            items.push(ResumeItem { inst, mode, after });
        }
        if !refused.is_empty() {
            let msg = format!("not resumed: {}", refused.join("; "));
            self.error(ErrorCode::BadRequest, &msg, id);
        }
        items
    }
}
