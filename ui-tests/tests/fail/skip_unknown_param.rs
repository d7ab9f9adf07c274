// Pins: `skip` naming a parameter the fn does not have points at that name.
#[dapple::traced(args(all), skip(pasword))]
fn login(user: &str, password: &str) -> bool {
    user != password
}

fn main() {
    login("ada", "secret");
}
