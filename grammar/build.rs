fn main() {
    // Generates the parser from src/parser.lalrpop into OUT_DIR.
    lalrpop::process_src().expect("src/parser.lalrpop is a valid LALRPOP grammar");
}
