//! The `sim` command.

fn main() {
    println!("brkmap: under construction");
}
