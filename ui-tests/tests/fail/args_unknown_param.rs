// Pins: `args` naming a parameter the fn does not have points at that name.
#[dapple::traced(args(user, pasword))]
fn login(user: &str, password: &str) -> bool {
    user != password
}

fn main() {
    login("ada", "secret");
}
