//! Keeps the message of a panic so that the spans it unwinds can carry it.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Chains a hook before the current panic hook that remembers each panic's
/// message on its thread. The previous hook still runs, so panics print as
/// before.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = match info.payload_as_str() {
                Some(text) => text.to_owned(),
                None => "panic with a non-string payload".to_owned(),
            };
            let _ = MESSAGE.try_with(|slot| *slot.borrow_mut() = Some(message));
            previous(info);
        }));
    });
}

/// The message of the panic unwinding this thread, as far as it is known.
pub(crate) fn current_message() -> String {
    MESSAGE
        .try_with(|slot| slot.borrow().clone())
        .ok()
        .flatten()
        .map_or_else(|| "panicked".to_owned(), |m| format!("panicked: {m}"))
}
