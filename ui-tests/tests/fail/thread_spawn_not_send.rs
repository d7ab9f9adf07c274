// Pins: a non-`Send` closure given to a rewritten `std::thread::spawn` gets rustc's own error.
#[dapple::traced]
fn f() {
    let rc = std::rc::Rc::new(1);
    std::thread::spawn(move || drop(rc)).join().unwrap();
}

fn main() {
    f();
}
