//! Connection slots: the process-wide cap (`FEEDGATE_MAX_CONNECTIONS`) and the per-peer cap
//! (`FEEDGATE_MAX_CONNECTIONS_PER_IP`). A [`Slot`] is held for a connection's whole life (an
//! upgraded WebSocket included) and frees itself when dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Full {
    Total,
    PerIp,
}

#[derive(Debug)]
pub(super) struct ConnSlots {
    max: usize,
    /// 0 = no per-peer cap.
    per_ip: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    open: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl ConnSlots {
    pub(super) fn new(max: usize, per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            per_ip,
            state: Mutex::default(),
        })
    }

    pub(super) fn max(&self) -> usize {
        self.max
    }

    /// Takes a slot for a connection from `ip` (`None`: exempt from the per-peer cap).
    pub(super) fn acquire(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Slot, Full> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.open >= self.max {
            return Err(Full::Total);
        }
        let ip = ip.filter(|_| self.per_ip > 0);
        if let Some(ip) = ip {
            let n = st.by_ip.entry(ip).or_default();
            if *n >= self.per_ip {
                return Err(Full::PerIp);
            }
            *n += 1;
        }
        st.open += 1;
        Ok(Slot {
            slots: self.clone(),
            ip,
        })
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
    }

    fn release(&self, ip: Option<IpAddr>) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.open = st.open.saturating_sub(1);
        if let Some(ip) = ip
            && let Some(n) = st.by_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                st.by_ip.remove(&ip);
            }
        }
    }
}

/// One open connection's place under the caps.
#[derive(Debug)]
pub(super) struct Slot {
    slots: Arc<ConnSlots>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_total_and_per_peer_and_frees_on_drop() {
        let slots = ConnSlots::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = slots.acquire(Some(a)).unwrap();
        let _a2 = slots.acquire(Some(a)).unwrap();
        assert_eq!(slots.acquire(Some(a)).unwrap_err(), Full::PerIp);
        let b1 = slots.acquire(Some(b)).unwrap();
        assert_eq!(slots.acquire(None).unwrap_err(), Full::Total);
        assert_eq!(slots.open(), 3);
        drop(a1);
        let _a3 = slots.acquire(Some(a)).unwrap();
        drop(b1);
        assert!(
            slots.acquire(None).is_ok(),
            "exempt peers only count in the total"
        );
        assert_eq!(slots.open(), 2, "the exempt slot was dropped at once");
    }

    #[test]
    fn no_per_peer_cap_when_zero() {
        let slots = ConnSlots::new(10, 0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..10).map(|_| slots.acquire(Some(a)).unwrap()).collect();
        assert_eq!(slots.acquire(Some(a)).unwrap_err(), Full::Total);
        drop(held);
        assert!(slots.state.lock().unwrap().by_ip.is_empty());
    }
}
