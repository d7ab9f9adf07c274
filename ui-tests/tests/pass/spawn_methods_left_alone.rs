// Pins: `spawn` methods whose argument is neither a future nor a closure
// taking no arguments compile exactly as written.
struct Pool;

impl Pool {
    /// Takes a number: passes through unchanged.
    fn spawn(&self, workers: u32) -> u32 {
        workers
    }

    /// Takes a closure with an argument: its type comes from this signature.
    fn spawn_blocking<F: FnOnce(&Pool) -> u32>(&self, job: F) -> u32 {
        job(self)
    }

    /// Takes a boxed closure with an argument.
    fn spawn_local(&self, job: Box<dyn FnOnce(u32) -> u32>) -> u32 {
        job(1)
    }
}

struct Config(u32);

impl From<u32> for Config {
    fn from(n: u32) -> Config {
        Config(n)
    }
}

struct Launcher;

impl Launcher {
    fn spawn(&self, config: Config) -> u32 {
        config.0
    }
}

#[dapple::traced]
fn launch(pool: &Pool, n: u32) -> u32 {
    let status = std::process::Command::new("true").spawn().unwrap().wait().unwrap();
    assert!(status.success());
    pool.spawn(n)
        + pool.spawn(7)
        + pool.spawn_blocking(|p| p.spawn(1))
        + pool.spawn_local(Box::new(|x| x + 1))
        + Launcher.spawn(n.into())
}

fn main() {
    assert_eq!(launch(&Pool, 2), 2 + 7 + 1 + 2 + 2);
}
