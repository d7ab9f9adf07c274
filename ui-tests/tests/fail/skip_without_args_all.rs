// Pins: `skip` without `args(all)` is refused.
#[dapple::traced(args(user), skip(password))]
fn login(user: &str, password: &str) -> bool {
    user != password
}

fn main() {
    login("ada", "secret");
}
