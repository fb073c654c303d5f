//! Running one sysfs operation per device on threads, answers in input order.
//!
//! A write to `sriov_numvfs` blocks in the PF driver (i40e takes seconds to
//! create or remove VFs), and a VF driver's probe is its own work (a mailbox
//! exchange with the PF, firmware commands); the kernel does different devices
//! independently, so doing them at the same time saves the sum of the waits.
//! Threads are scoped ([`std::thread::scope`]): nothing outlives the call.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A value with how long producing it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed<T> {
    /// The value.
    pub value: T,
    /// How long producing it took (for a batch item: that item's own operation,
    /// not the batch).
    pub took: std::time::Duration,
}

impl<T> Timed<T> {
    /// Runs `f` and times it.
    pub(crate) fn run(f: impl FnOnce() -> T) -> Self {
        let t = Instant::now();
        let value = f();
        Self {
            value,
            took: t.elapsed(),
        }
    }
}

/// The text of a panic payload: `panic!("...")` gives a `&str` or a `String`.
pub(crate) fn payload_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

fn panicked<R>(what: String, payload: String, took: Duration) -> Timed<Result<R>> {
    Timed {
        value: Err(Error::WorkerPanicked { what, payload }),
        took,
    }
}

/// `f` on a worker thread, timed; a panic in it becomes
/// [`Error::WorkerPanicked`] for that item (described by `what`).
fn guarded<T, R>(
    item: &T,
    what: &impl Fn(&T) -> String,
    f: &impl Fn(&T) -> Result<R>,
) -> Timed<Result<R>> {
    let t = Instant::now();
    match catch_unwind(AssertUnwindSafe(|| f(item))) {
        Ok(value) => Timed {
            value,
            took: t.elapsed(),
        },
        Err(p) => panicked(what(item), payload_text(p.as_ref()), t.elapsed()),
    }
}

/// `f` for every item, a thread each (none for a single item); one answer per
/// item, in input order.
pub(crate) fn each<T: Sync, R: Send>(
    items: &[T],
    what: impl Fn(&T) -> String + Sync,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Vec<Timed<Result<R>>> {
    if items.len() < 2 {
        return items.iter().map(|i| Timed::run(|| f(i))).collect();
    }
    let (what, f) = (&what, &f);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .iter()
            .map(|item| (item, s.spawn(move || guarded(item, what, f))))
            .collect();
        handles
            .into_iter()
            .map(|(item, h)| {
                h.join().unwrap_or_else(|p| {
                    panicked(what(item), payload_text(p.as_ref()), Duration::ZERO)
                })
            })
            .collect()
    })
}

/// `f` for every item on at most `threads` threads (at least 1; none for 0 or
/// 1 item, or 1 thread), which take the items in turn; one answer per item, in
/// input order.
pub(crate) fn pool<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    what: impl Fn(&T) -> String + Sync,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Vec<Timed<Result<R>>> {
    let threads = threads.max(1).min(items.len());
    if threads < 2 {
        return items.iter().map(|i| Timed::run(|| f(i))).collect();
    }
    let (what, f) = (&what, &f);
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Timed<Result<R>>>>> =
        items.iter().map(|_| Mutex::new(None)).collect();
    let died: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let (Some(item), Some(slot)) = (items.get(i), slots.get(i)) else {
                        break;
                    };
                    let answer = guarded(item, what, f);
                    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(answer);
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().err().map(|p| payload_text(p.as_ref())))
            .collect()
    });
    // Each item's panic is caught where it happens; a worker that still died
    // (outside any item) leaves the items it had taken unanswered.
    let payload = died
        .first()
        .cloned()
        .unwrap_or_else(|| "the worker stopped before answering".to_string());
    items
        .iter()
        .zip(slots)
        .map(|(item, slot)| {
            slot.into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .unwrap_or_else(|| panicked(what(item), payload.clone(), Duration::ZERO))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(i: &u32) -> Result<u32> {
        match *i {
            3 => panic!("item {i} broke"),
            5 => std::panic::panic_any(7u8),
            7 => panic!("static text"),
            9 => Err(Error::WorkerPanicked {
                what: "not really".into(),
                payload: String::new(),
            }),
            _ => Ok(i * 10),
        }
    }

    fn check(out: &[Timed<Result<u32>>], n: u32) {
        assert_eq!(out.len(), n as usize);
        for (i, t) in (0..n).zip(out) {
            match (i, &t.value) {
                (3, Err(Error::WorkerPanicked { what, payload })) => {
                    assert_eq!(what, "doing 3");
                    assert_eq!(payload, "item 3 broke");
                }
                (5, Err(Error::WorkerPanicked { payload, .. })) => {
                    assert_eq!(payload, "non-string panic payload");
                }
                (7, Err(Error::WorkerPanicked { payload, .. })) => {
                    assert_eq!(payload, "static text");
                }
                (9, Err(Error::WorkerPanicked { what, .. })) => assert_eq!(what, "not really"),
                (i, Ok(v)) => assert_eq!(*v, i * 10),
                (i, other) => panic!("{i}: {other:?}"),
            }
        }
    }

    #[test]
    fn each_answers_in_order_and_turns_panics_into_errors() {
        let items: Vec<u32> = (0..12).collect();
        check(&each(&items, |i| format!("doing {i}"), work), 12);
        // One item: no thread, its own answer.
        let one = each(&[4u32], |i| format!("doing {i}"), work);
        assert_eq!(one[0].value.as_ref().unwrap(), &40);
        assert!(each(&[] as &[u32], |_| String::new(), work).is_empty());
    }

    #[test]
    fn pool_answers_in_order_on_few_threads_and_turns_panics_into_errors() {
        let items: Vec<u32> = (0..20).collect();
        for threads in [2, 3, 8, 64] {
            check(&pool(&items, threads, |i| format!("doing {i}"), work), 20);
        }
        // 0 or 1 thread: done in turn on the caller's thread.
        let calm: Vec<u32> = vec![0, 1, 2, 4];
        for threads in [0, 1] {
            let out = pool(&calm, threads, |i| format!("doing {i}"), work);
            let v: Vec<u32> = out.into_iter().map(|t| t.value.unwrap()).collect();
            assert_eq!(v, [0, 10, 20, 40]);
        }
    }

    #[test]
    fn pool_runs_at_most_the_given_number_at_a_time() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u32> = (0..24).collect();
        let out = pool(
            &items,
            3,
            |_| String::new(),
            |i| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(*i)
            },
        );
        assert_eq!(out.len(), 24);
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(out.iter().all(|t| t.took >= Duration::from_millis(2)));
    }

    #[test]
    fn payload_texts() {
        assert_eq!(payload_text(&"a"), "a");
        assert_eq!(payload_text(&String::from("b")), "b");
        assert_eq!(payload_text(&1u32), "non-string panic payload");
    }
}
