// Pins: methods taking `self`, `&self` and `&mut self`.
#[derive(Debug)]
struct Counter {
    n: u64,
}

impl Counter {
    #[dapple::traced(name = "get", ret)]
    fn get(&self) -> u64 {
        self.n
    }

    #[dapple::traced(name = "bump", args(by))]
    fn bump(&mut self, by: u64) {
        self.n += by;
    }

    #[dapple::traced(name = "into_inner", args(all))]
    fn into_inner(self) -> u64 {
        self.n
    }
}

fn main() {
    let spans = dapple::MemorySink::install();
    let mut counter = Counter { n: 1 };
    counter.bump(2);
    assert_eq!(counter.get(), 3);
    assert_eq!(counter.into_inner(), 3);
    assert_eq!(spans.spans().len(), 3);
}
