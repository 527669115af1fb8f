fn main() { println!("confer-loadtest: not yet implemented (issue 7)"); }
