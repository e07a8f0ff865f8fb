//! The event loop. `run_until` and `step` both go through one function, `step_to_next`.

use super::limits::{LimitExceeded, Limits};
use super::queue::EventQueue;
use super::time::{SimDuration, SimTime};

/// What the engine hands a world: the clock and the means to schedule events.
pub struct Scheduler<E> {
    now: SimTime,
    queue: EventQueue<E>,
    events_processed: u64,
    max_events: u64,
    max_pending: u64,
}

impl<E> Scheduler<E> {
    pub fn new(limits: &Limits) -> Self {
        Scheduler { now: SimTime::ZERO, queue: EventQueue::new(), events_processed: 0, max_events: limits.max_events, max_pending: limits.max_pending_events }
    }
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }
    /// Schedules `event` after `delay` from now.
    #[inline]
    pub fn after(&mut self, delay: SimDuration, event: E) {
        self.queue.push(self.now + delay, event);
    }
    /// Schedules `event` after `delay` on FIFO lane `lane` (constant delay per lane).
    #[inline]
    pub fn after_fifo(&mut self, lane: usize, delay: SimDuration, event: E) {
        self.queue.push_fifo(lane, self.now + delay, event);
    }
    /// Schedules `event` at an absolute time; a time in the past is clamped to now so that time
    /// never goes backwards.
    #[inline]
    pub fn at(&mut self, time: SimTime, event: E) {
        let t = if time < self.now { self.now } else { time };
        self.queue.push(t, event);
    }
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }
    pub fn pending(&self) -> usize {
        self.queue.len()
    }
}

/// A model driven by the engine.
pub trait World {
    type Event;
    type Error: From<LimitExceeded>;
    fn handle(&mut self, event: Self::Event, sched: &mut Scheduler<Self::Event>) -> Result<(), Self::Error>;
}

/// Why a `run_until` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The next event is past the horizon (the clock is set to the horizon).
    Horizon,
    /// No events are left.
    Drained,
}

/// Processes the next event if it is due at or before `horizon`.
fn step_to_next<W: World>(world: &mut W, sched: &mut Scheduler<W::Event>, horizon: SimTime) -> Result<Option<Stop>, W::Error> {
    match sched.queue.peek_time() {
        None => return Ok(Some(Stop::Drained)),
        Some(t) if t > horizon => {
            sched.now = horizon;
            return Ok(Some(Stop::Horizon));
        }
        Some(_) => {}
    }
    let (time, event) = sched.queue.pop().expect("peeked");
    debug_assert!(time >= sched.now, "time went backwards");
    sched.now = time;
    sched.events_processed += 1;
    if sched.events_processed > sched.max_events {
        return Err(LimitExceeded { what: "events processed", value: sched.max_events, setting: "limits.max_events", at: time.to_string() }.into());
    }
    world.handle(event, sched)?;
    if sched.queue.len() as u64 > sched.max_pending {
        return Err(LimitExceeded { what: "pending events", value: sched.max_pending, setting: "limits.max_pending_events", at: time.to_string() }.into());
    }
    Ok(None)
}

/// Processes one event (any time). Returns false when no event is left.
pub fn step<W: World>(world: &mut W, sched: &mut Scheduler<W::Event>) -> Result<bool, W::Error> {
    Ok(step_to_next(world, sched, SimTime::MAX)?.is_none())
}

/// Runs every event due at or before `horizon`.
pub fn run_until<W: World>(world: &mut W, sched: &mut Scheduler<W::Event>, horizon: SimTime) -> Result<Stop, W::Error> {
    loop {
        if let Some(stop) = step_to_next(world, sched, horizon)? {
            return Ok(stop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pinger {
        seen: Vec<(u64, u32)>,
    }
    impl World for Pinger {
        type Event = u32;
        type Error = LimitExceeded;
        fn handle(&mut self, ev: u32, s: &mut Scheduler<u32>) -> Result<(), LimitExceeded> {
            self.seen.push((s.now().0, ev));
            if ev < 5 {
                s.after(SimDuration(10), ev + 1);
                s.after(SimDuration(10), ev + 100);
            }
            Ok(())
        }
    }

    #[test]
    fn time_is_monotonic_and_horizon_stops() {
        let mut w = Pinger { seen: vec![] };
        let mut s = Scheduler::new(&Limits::default());
        s.at(SimTime(0), 0);
        let stop = run_until(&mut w, &mut s, SimTime(30)).unwrap();
        assert_eq!(stop, Stop::Horizon);
        assert!(w.seen.windows(2).all(|p| p[0].0 <= p[1].0));
        assert_eq!(w.seen.last().unwrap().0, 30);
        assert_eq!(s.now(), SimTime(30));
    }

    #[test]
    fn event_limit_names_setting() {
        let mut w = Pinger { seen: vec![] };
        let mut s = Scheduler::new(&Limits { max_events: 3, ..Limits::default() });
        s.at(SimTime(0), 0);
        let err = run_until(&mut w, &mut s, SimTime::MAX).unwrap_err();
        assert!(err.to_string().contains("limits.max_events"), "{err}");
    }
}
