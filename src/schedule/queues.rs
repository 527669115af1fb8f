//! What the queues look like, the fourth part of the [`Scheduler`]: a lawyer's own
//! requests with queue positions, a facility's open requests for staff with deadlines and
//! escalations (R-ARRANGE-1), and the public waiting-area display of tickets and times
//! (R-BOOK-4), which never names anyone (R-PRIV-4).
//!
//! Does not: change anything (read-only), or take the decision locks.

use std::collections::HashMap;

use chrono::Utc;

use super::service::{ScheduleError, Scheduler, LIST_WINDOW};
use super::views::{
    queue_display, queue_order, request_view, waiting, QueueDisplay, RequestView, StaffQueue,
    StaffRequestView,
};
use super::{Escalation, RequestId};
use crate::ids::{FacilityId, LawyerId};

impl Scheduler {
    /// A lawyer's own requests of the last [`LIST_WINDOW`], with queue positions.
    pub async fn lawyer_requests(
        &self,
        lawyer: LawyerId,
    ) -> Result<Vec<RequestView>, ScheduleError> {
        let store = &self.inner.store;
        let now = Utc::now();
        let rows = store.requests_for_lawyer(lawyer, now - LIST_WINDOW).await?;
        let mut orders: HashMap<FacilityId, Vec<RequestId>> = HashMap::new();
        let mut views = Vec::new();
        for r in &rows {
            if !orders.contains_key(&r.facility) && waiting(r, now) {
                let open = store.open_requests(&r.facility, now).await?;
                orders.insert(r.facility.clone(), queue_order(&open, now));
            }
            let order = orders.get(&r.facility).map(Vec::as_slice).unwrap_or(&[]);
            views.push(request_view(r, order, now));
        }
        Ok(views)
    }

    /// A facility's open requests for staff, with deadlines and escalations.
    pub async fn staff_queue(&self, f: &FacilityId) -> Result<StaffQueue, ScheduleError> {
        let store = &self.inner.store;
        let now = Utc::now();
        if store.facility_calendar(f).await?.is_none() {
            return Err(ScheduleError::NotFound("That facility"));
        }
        let open = store.open_requests(f, now).await?;
        let order = queue_order(&open, now);
        let escalated = open.iter().filter(|r| r.escalation.is_some()).count();
        let breached = open
            .iter()
            .filter(|r| r.escalation.as_deref() == Some(Escalation::Breached.as_str()))
            .count();
        Ok(StaffQueue {
            facility: f.clone(),
            requests: open
                .iter()
                .map(|r| StaffRequestView {
                    request: request_view(r, &order, now),
                    lawyer_id: r.lawyer,
                })
                .collect(),
            escalated,
            breached,
        })
    }

    /// The public queue display of a facility: tickets and times, no names (R-BOOK-4,
    /// R-PRIV-4).
    pub async fn queue_display(&self, f: &FacilityId) -> Result<QueueDisplay, ScheduleError> {
        let store = &self.inner.store;
        let now = Utc::now();
        let cal = store
            .facility_calendar(f)
            .await?
            .ok_or(ScheduleError::NotFound("That facility"))?;
        let open = store.open_requests(f, now).await?;
        Ok(queue_display(f, cal.name, &open, now))
    }
}
